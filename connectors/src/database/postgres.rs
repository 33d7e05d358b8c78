//! PostgreSQL: connecting, describing the result, the extraction SQL and
//! error codes.
//!
//! Types, decided from the result's type OIDs before any row is read:
//!
//! | PostgreSQL                      | Arrow                                  |
//! |---------------------------------|----------------------------------------|
//! | `int2`, `int4`, `int8`          | Int16, Int32, Int64                    |
//! | `float4`, `float8`              | Float32, Float64                       |
//! | `numeric(p,s)`, p ≤ 38          | Decimal128(p, s) (`NaN` → null)        |
//! | other `numeric` (unconstrained, p > 38, or an expression) | Utf8, exact text |
//! | `text`, `varchar`, `bpchar`, `name` | Utf8 (`char(n)` keeps its padding) |
//! | `bool`                          | Boolean                                |
//! | `date`                          | Date32 (`±infinity` → null)            |
//! | `timestamp`                     | Timestamp(µs) (`±infinity` → null)     |
//! | `timestamptz`                   | Timestamp(µs, "UTC")                   |
//! | `time`                          | Time64(µs)                             |
//! | `uuid`                          | Utf8, canonical text                   |
//! | `bytea`                         | Binary                                 |
//! | anything else (`json`, `jsonb`, `interval`, arrays, enums, …) | Utf8 via a `::text` cast |
//!
//! A numeric's declared precision is looked up in `pg_attribute` for
//! columns that come straight from a table (custom queries included).

use super::engine::Dialect;
use super::types::{Kind, Wire};
use super::{
    Bind, CursorChoice, CursorUse, ErrorContext, Failure, Plan, PlannedColumn, RawRow, Settings,
    Watermark, choose_cursor,
};
use crate::SourceError;
use sqlx::error::DatabaseError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, Postgres};
use sqlx::{Column, ConnectOptions, Executor, Row, Statement, TypeInfo};

impl RawRow for PgRow {
    fn raw(&self, index: usize) -> Result<Option<&[u8]>, sqlx::Error> {
        self.try_get_unchecked::<Option<&[u8]>, _>(index)
    }
}

/// Postgres's side of the shared extraction (`engine.rs`).
pub(super) struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = Postgres;

    async fn connect(settings: &Settings) -> Result<PgConnection, SourceError> {
        let mut options: PgConnectOptions =
            settings.url.parse().map_err(|e| settings.errors.map(e))?;
        if let Some(password) = settings.password() {
            options = options.password(password);
        }
        let options = options.disable_statement_logging();
        settings.connect_within(options.connect()).await
    }

    async fn plan(
        conn: &mut PgConnection,
        settings: &Settings,
        watermark: Option<&Watermark>,
    ) -> Result<Plan, SourceError> {
        let errors = &settings.errors;
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| errors.map(e))?;
        let base = settings.base_sql(quote_identifier);
        let described = describe(conn, &base).await.map_err(|e| errors.map(e))?;
        if described.is_empty() {
            return Err(errors.refused("the table or query has no columns".into()));
        }
        let mut columns = Vec::with_capacity(described.len());
        for column in described {
            let declared = match (column.oid, column.origin) {
                (Some(NUMERIC), Some((table, attribute))) => {
                    declared_numeric(conn, table, attribute)
                        .await
                        .map_err(|e| errors.map(e))?
                }
                _ => None,
            };
            columns.push(planned_column(
                column.name,
                column.type_name,
                column.oid,
                declared,
            ));
        }
        let cursor = match &settings.incremental {
            Some(incremental) => Some(choose_cursor(&columns, incremental, errors)?),
            None => None,
        };
        let (sql, binds) = extraction_sql(&base, &columns, cursor.as_ref(), watermark);
        Ok(Plan {
            columns,
            sql,
            binds,
            cursor,
        })
    }
}

pub(super) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

struct Described {
    name: String,
    type_name: String,
    oid: Option<u32>,
    /// The table and attribute number the column comes from, if any.
    origin: Option<(Oid, i16)>,
}

async fn describe(conn: &mut PgConnection, sql: &str) -> Result<Vec<Described>, sqlx::Error> {
    let statement = conn.prepare(sql).await?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| Described {
            name: c.name().to_string(),
            type_name: c.type_info().name().to_string(),
            oid: c.type_info().oid().map(|oid| oid.0),
            origin: c.relation_id().zip(c.relation_attribute_no()),
        })
        .collect())
}

/// `(precision, scale)` of a table column declared `numeric(p,s)`.
async fn declared_numeric(
    conn: &mut PgConnection,
    table: Oid,
    attribute: i16,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let typmod: Option<i32> = sqlx::query_scalar(
        "SELECT atttypmod FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attnum = $2",
    )
    .bind(table)
    .bind(attribute)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(typmod.and_then(numeric_precision_scale))
}

/// Decodes a numeric typmod: `((precision << 16) | scale) + 4`, the scale
/// an 11-bit signed number (negative scales exist since PostgreSQL 15);
/// -1 for an unconstrained numeric.
fn numeric_precision_scale(typmod: i32) -> Option<(i64, i64)> {
    if typmod < 4 {
        return None;
    }
    let packed = typmod - 4;
    let precision = (packed >> 16) & 0xffff;
    let scale = ((packed & 0x7ff) ^ 1024) - 1024;
    Some((precision as i64, scale as i64))
}

const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const NAME: u32 = 19;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIME: u32 = 1083;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;
const UUID: u32 = 2950;

fn planned_column(
    name: String,
    type_name: String,
    oid: Option<u32>,
    declared_numeric: Option<(i64, i64)>,
) -> PlannedColumn {
    let plain = |cast: &str| CursorUse::Plain(cast.to_string());
    let (kind, wire, cursor_use) = match oid {
        Some(BOOL) => (Kind::Boolean, Wire::PgBool, CursorUse::No),
        Some(INT2) => (Kind::Int16, Wire::PgInt, plain("int2")),
        Some(INT4) => (Kind::Int32, Wire::PgInt, plain("int4")),
        Some(INT8) => (Kind::Int64, Wire::PgInt, plain("int8")),
        Some(FLOAT4) => (Kind::Float32, Wire::PgFloat4, CursorUse::No),
        Some(FLOAT8) => (Kind::Float64, Wire::PgFloat8, CursorUse::No),
        Some(NUMERIC) => match declared_numeric.and_then(|(p, s)| Kind::decimal(p, s)) {
            Some(kind) => (kind, Wire::PgNumericText, plain("numeric")),
            None => (Kind::Utf8, Wire::PgNumericText, CursorUse::No),
        },
        Some(TEXT | VARCHAR | BPCHAR | NAME) => (Kind::Utf8, Wire::PgText, CursorUse::No),
        Some(DATE) => (Kind::Date32, Wire::PgDate, plain("date")),
        Some(TIMESTAMP) => (
            Kind::Timestamp { utc: false },
            Wire::PgTimestamp,
            CursorUse::Timestamp {
                cast: "timestamp".into(),
                utc: false,
            },
        ),
        Some(TIMESTAMPTZ) => (
            Kind::Timestamp { utc: true },
            Wire::PgTimestamp,
            CursorUse::Timestamp {
                cast: "timestamptz".into(),
                utc: true,
            },
        ),
        Some(TIME) => (Kind::Time64, Wire::PgTime, CursorUse::No),
        Some(UUID) => (Kind::Utf8, Wire::PgUuid, CursorUse::No),
        Some(BYTEA) => (Kind::Binary, Wire::PgBytes, CursorUse::No),
        _ => (Kind::Utf8, Wire::PgCastText, CursorUse::No),
    };
    PlannedColumn {
        name,
        source_type: type_name.to_ascii_lowercase(),
        kind,
        wire,
        cursor_use,
    }
}

/// `SELECT src."c1", src."c2"::text, … FROM (<base>) AS src("c1", "c2", …)`
/// plus the incremental filter and order. Positional aliases make any
/// column name (duplicates included) addressable.
fn extraction_sql(
    base: &str,
    columns: &[PlannedColumn],
    cursor: Option<&CursorChoice>,
    watermark: Option<&Watermark>,
) -> (String, Vec<Bind>) {
    let alias = |index: usize| format!("\"c{}\"", index + 1);
    let select: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| match c.wire {
            Wire::PgNumericText | Wire::PgCastText => format!("src.{}::text", alias(i)),
            _ => format!("src.{}", alias(i)),
        })
        .collect();
    let aliases: Vec<String> = (0..columns.len()).map(alias).collect();
    let mut sql = format!(
        "SELECT {} FROM (\n{base}\n) AS src({})",
        select.join(", "),
        aliases.join(", ")
    );
    let mut binds = Vec::new();
    if let Some(choice) = cursor {
        let column = format!("src.{}", alias(choice.index));
        match watermark {
            Some(watermark) => {
                binds.push(Bind::Text(watermark.cursor.clone()));
                sql += &format!(
                    " WHERE {column} >= CAST(${} AS {})",
                    binds.len(),
                    choice.cast
                );
            }
            None => sql += &format!(" WHERE {column} IS NOT NULL"),
        }
        if let Some(bound) = choice.upper_bound {
            binds.push(Bind::Float(bound.seconds_from_utc_now as f64));
            let now = if bound.utc {
                "now()"
            } else {
                "(now() AT TIME ZONE 'UTC')"
            };
            sql += &format!(
                " AND {column} <= {now} + make_interval(secs => ${})",
                binds.len()
            );
        }
        sql += &format!(" ORDER BY {column}");
    }
    (sql, binds)
}

/// Reports a server error by its SQLSTATE. The server's text is kept only
/// where it names SQL objects (classes 28, 42): data errors (class 22)
/// and raised exceptions can quote values.
pub(super) fn classify(error: &dyn DatabaseError, ctx: &ErrorContext) -> Failure {
    let code = error.code().map(|c| c.into_owned()).unwrap_or_default();
    let message = error.message();
    let class = code.get(..2).unwrap_or_default();
    match (class, code.as_str()) {
        (_, "08P01") => Failure::Refused(
            "protocol violation (SQLSTATE 08P01): a custom query cannot use $1 parameters".into(),
        ),
        ("08", _) => Failure::Unreachable(format!("connection failure (SQLSTATE {code})")),
        (_, "53300") => Failure::Unreachable("too many connections (SQLSTATE 53300)".into()),
        ("53" | "58", _) => Failure::Unreachable(format!(
            "the server is short of resources (SQLSTATE {code})"
        )),
        (_, "57P01" | "57P02" | "57P03" | "57P05") => Failure::Unreachable(format!(
            "the server is shutting down, restarting or not accepting connections \
             (SQLSTATE {code})"
        )),
        (_, "57014") => Failure::Unreachable(
            "the query was cancelled (statement timeout?) (SQLSTATE 57014)".into(),
        ),
        (_, "40001" | "40P01" | "55P03") => Failure::Unreachable(format!(
            "a concurrent transaction got in the way; try again (SQLSTATE {code})"
        )),
        ("28", _) => Failure::Refused(format!(
            "authentication failed for user {}: {message} (SQLSTATE {code}); check the user, \
             its password and the server's pg_hba.conf",
            ctx.user
        )),
        (_, "3D000") => Failure::Refused(format!("database {} does not exist", ctx.database)),
        (_, "42P01") => Failure::Refused(format!(
            "table not found, or not visible to user {}: {message} (SQLSTATE 42P01)",
            ctx.user
        )),
        (_, "42501") => Failure::Refused(format!(
            "permission denied for user {}: {message} (SQLSTATE 42501)",
            ctx.user
        )),
        (_, "25006") => Failure::Refused(format!(
            "the query tried to write, and extractions run read-only: {message} \
             (SQLSTATE 25006)"
        )),
        ("42", _) => Failure::Refused(format!("the SQL was refused: {message} (SQLSTATE {code})")),
        ("22", _) => Failure::Refused(format!(
            "the server could not convert a value of the data, the query or the saved \
             watermark (SQLSTATE {code}); the value is not shown"
        )),
        _ => Failure::Refused(format!(
            "the server refused the extraction (SQLSTATE {code})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{self, config, ids, run, table_source, unique_name};
    use super::super::{DatabaseConfig, Engine, IncrementalConfig};
    use super::*;
    use crate::ExtractContext;
    use arrow::array::{
        Array, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
        Float64Array, Int16Array, Int32Array, Int64Array, StringArray, Time64MicrosecondArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, TimeUnit};

    const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// An administrator connection for fixtures, or `None` (with a note,
    /// or a failure under CI=true) when the server is not there.
    async fn admin() -> Option<PgConnection> {
        match <PgConnection as sqlx::Connection>::connect(URL).await {
            Ok(conn) => Some(conn),
            Err(e) => {
                test_support::server_unavailable("PostgreSQL at 127.0.0.1:5432", &e);
                None
            }
        }
    }

    async fn exec(conn: &mut PgConnection, sql: &str) {
        sqlx::raw_sql(sql)
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{sql}"));
    }

    fn incremental(cursor: &str, lag: Option<&str>, time_zone: Option<&str>) -> IncrementalConfig {
        IncrementalConfig {
            cursor: cursor.into(),
            primary_key: vec!["id".into()],
            lag: lag.map(String::from),
            time_zone: time_zone.map(String::from),
        }
    }

    #[test]
    fn numeric_typmods_decode() {
        // numeric(12,3): ((12 << 16) | 3) + 4.
        assert_eq!(numeric_precision_scale((12 << 16 | 3) + 4), Some((12, 3)));
        assert_eq!(numeric_precision_scale(-1), None);
        // numeric(5,-2) (PostgreSQL 15): the scale is 11-bit signed.
        assert_eq!(
            numeric_precision_scale((5 << 16 | (0x7ff & -2i32)) + 4),
            Some((5, -2))
        );
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[tokio::test]
    async fn every_type_round_trips_into_its_arrow_type() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_pg_types");
        exec(&mut admin, &format!(
            "CREATE TABLE {t} (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, dec numeric(12,3),
              big numeric(50,2), free numeric, txt text, vc varchar(20), ch char(4), flag bool,
              d date, ts timestamp, tstz timestamptz, tm time, id uuid, js json, jb jsonb,
              raw bytea, iv interval, arr int4[], ip inet);
             INSERT INTO {t} VALUES (-32768, 2147483647, -9223372036854775808, 1.5, -2.25,
              -12345.678, 123456789012345678901234567890123456789012345.67, 3.14159,
              'Conceição do Araguaia', 'ação', 'ab', true, '2024-02-29',
              '2024-02-29 13:05:09.123456', '2024-02-29 13:05:09.5-03', '23:59:58.25',
              'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{{\"a\": [1, 2]}}', '{{\"b\": 1}}',
              '\\x00ff10', '1 day 2 hours', '{{1,2}}', '10.0.0.1');
             INSERT INTO {t} DEFAULT VALUES;
             INSERT INTO {t} (dec, free, d, ts, tstz) VALUES ('NaN', 'NaN', 'infinity', '-infinity', 'infinity');"
        )).await;
        let got = run(&table_source(URL, &t), Engine::Postgres, None).await;
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
        assert!(got.error.is_none(), "{:?}", got.error);
        let all = got.all();
        assert_eq!(all.num_rows(), 3);

        let expected_types = [
            ("i2", DataType::Int16),
            ("i4", DataType::Int32),
            ("i8", DataType::Int64),
            ("f4", DataType::Float32),
            ("f8", DataType::Float64),
            ("dec", DataType::Decimal128(12, 3)),
            ("big", DataType::Utf8),
            ("free", DataType::Utf8),
            ("txt", DataType::Utf8),
            ("ch", DataType::Utf8),
            ("flag", DataType::Boolean),
            ("d", DataType::Date32),
            ("ts", DataType::Timestamp(TimeUnit::Microsecond, None)),
            (
                "tstz",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            ("tm", DataType::Time64(TimeUnit::Microsecond)),
            ("id", DataType::Utf8),
            ("js", DataType::Utf8),
            ("jb", DataType::Utf8),
            ("raw", DataType::Binary),
            ("iv", DataType::Utf8),
            ("arr", DataType::Utf8),
            ("ip", DataType::Utf8),
        ];
        for (name, data_type) in expected_types {
            let column = all.column_by_name(name).unwrap();
            assert_eq!(column.data_type(), &data_type, "column {name}");
            assert!(column.is_null(1), "column {name} keeps the NULL of row 2");
        }
        let col = |name: &str| all.column_by_name(name).unwrap().clone();
        let text = |name: &str| {
            col(name)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_string()
        };
        assert_eq!(
            col("i2")
                .as_any()
                .downcast_ref::<Int16Array>()
                .unwrap()
                .value(0),
            i16::MIN
        );
        assert_eq!(
            col("i4")
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            i32::MAX
        );
        assert_eq!(
            col("i8")
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            i64::MIN
        );
        assert_eq!(
            col("f4")
                .as_any()
                .downcast_ref::<Float32Array>()
                .unwrap()
                .value(0),
            1.5
        );
        assert_eq!(
            col("f8")
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0),
            -2.25
        );
        let dec = col("dec");
        let dec = dec.as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(dec.value(0), -12_345_678);
        assert!(dec.is_null(2), "NaN has no Decimal128: null");
        assert_eq!(
            text("big"),
            "123456789012345678901234567890123456789012345.67"
        );
        assert_eq!(text("free"), "3.14159");
        assert_eq!(text("txt"), "Conceição do Araguaia");
        assert_eq!(text("vc"), "ação");
        assert_eq!(text("ch"), "ab  ");
        assert!(
            col("flag")
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .value(0)
        );
        let d = col("d");
        let d = d.as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(d.value(0), 19_782, "2024-02-29");
        assert!(d.is_null(2), "infinity: null");
        let ts = col("ts");
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), 1_709_211_909_123_456);
        assert!(ts.is_null(2));
        let tstz = col("tstz");
        let tstz = tstz
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(
            tstz.value(0),
            1_709_222_709_500_000,
            "13:05:09.5-03 is 16:05:09.5 UTC"
        );
        let tm = col("tm");
        assert_eq!(
            tm.as_any()
                .downcast_ref::<Time64MicrosecondArray>()
                .unwrap()
                .value(0),
            (23 * 3600 + 59 * 60 + 58) * 1_000_000 + 250_000
        );
        assert_eq!(text("id"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(text("js"), "{\"a\": [1, 2]}");
        assert_eq!(text("jb"), "{\"b\": 1}");
        assert_eq!(
            col("raw")
                .as_any()
                .downcast_ref::<BinaryArray>()
                .unwrap()
                .value(0),
            &[0, 255, 16]
        );
        assert_eq!(text("iv"), "1 day 02:00:00");
        assert_eq!(text("arr"), "{1,2}");
        assert_eq!(text("ip"), "10.0.0.1/32");
    }

    #[tokio::test]
    async fn custom_queries_keep_declared_decimals_and_read_expressions_as_text() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_pg_query");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (valor numeric(10,2), n int4);
             INSERT INTO {t} VALUES (12.50, 1), (NULL, 2);"
            ),
        )
        .await;
        let mut source = config(URL);
        source.query = Some(format!(
            "SELECT valor, valor * 3 AS triplo, n, n FROM {t} ORDER BY n;"
        ));
        let got = run(&source, Engine::Postgres, None).await;
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
        assert!(got.error.is_none(), "{:?}", got.error);
        let all = got.all();
        let schema = all.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["valor", "triplo", "n", "n_2"]);
        assert_eq!(all.column(0).data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(
            all.column(0)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0),
            1250
        );
        assert_eq!(all.column(1).data_type(), &DataType::Utf8);
        assert_eq!(all.column(1).as_string::<i32>().value(0), "37.50");
    }

    #[tokio::test]
    async fn a_large_table_streams_in_bounded_batches() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_pg_big");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id int8 PRIMARY KEY, nome text, valor numeric(10,2));
             INSERT INTO {t} SELECT g, 'nome ' || g, g / 100.0 FROM generate_series(1, 200000) g;"
            ),
        )
        .await;
        let mut source = table_source(URL, &t);
        source.chunk_rows = Some(30_000);
        let got = run(&source, Engine::Postgres, None).await;
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
        assert!(got.error.is_none(), "{:?}", got.error);
        assert_eq!(got.batches.len(), 7, "200000 rows in batches of 30000");
        let mut next_row = 1;
        for batch in &got.batches {
            assert!(batch.batch.num_rows() <= 30_000);
            assert_eq!(batch.first_row, next_row);
            next_row += batch.batch.num_rows() as u64;
        }
        let ids = ids(&got);
        assert_eq!(ids.len(), 200_000);
        assert_eq!(ids.first(), Some(&1));
        assert_eq!(ids.last(), Some(&200_000));
        assert!(
            ids.windows(2).all(|w| w[0] + 1 == w[1]),
            "every row exactly once"
        );
        assert_eq!(got.watermark, None, "a full extraction has no watermark");
    }

    #[tokio::test]
    async fn incremental_runs_take_every_row_exactly_once() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_pg_incr");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id int4, atualizado timestamptz);
             INSERT INTO {t} VALUES (1, '2024-01-01 10:00:00+00'), (2, '2024-01-01 11:00:00+00'),
                                    (3, '2024-01-01 11:00:00+00'), (99, NULL);"
            ),
        )
        .await;
        let mut source = table_source(URL, &t);
        source.incremental = Some(incremental("atualizado", None, None));
        let first = run(&source, Engine::Postgres, None).await;
        assert!(first.error.is_none(), "{:?}", first.error);
        assert_eq!(
            ids(&first),
            [1, 2, 3],
            "rows with a NULL cursor are not taken"
        );
        let w1 = first
            .watermark
            .clone()
            .expect("a watermark after a complete run");
        assert!(w1.contains("2024-01-01 11:00:00"), "{w1}");

        // Committed late at the same cursor value, and a newer one.
        exec(&mut admin, &format!(
            "INSERT INTO {t} VALUES (4, '2024-01-01 11:00:00+00'), (5, '2024-01-01 12:00:00+00');"
        )).await;
        let second = run(&source, Engine::Postgres, Some(w1.clone())).await;
        assert_eq!(ids(&second), [4, 5]);
        // A run whose commit failed is repeated from the old watermark.
        let again = run(&source, Engine::Postgres, Some(w1)).await;
        assert_eq!(ids(&again), [4, 5]);
        let w2 = second.watermark.clone().unwrap();
        let third = run(&source, Engine::Postgres, Some(w2.clone())).await;
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
        assert_eq!(third.rows(), 0);
        assert!(third.error.is_none(), "{:?}", third.error);
        assert_eq!(
            third.watermark,
            Some(w2),
            "nothing new: the watermark stays"
        );
    }

    #[tokio::test]
    async fn lag_leaves_recent_rows_for_the_next_run() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_pg_lag");
        // `local` is wall-clock time at UTC-3, as a Brazilian application
        // would write it.
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id int4, em timestamptz, local timestamp);
             INSERT INTO {t} VALUES
               (1, now() - interval '1 hour', (now() AT TIME ZONE 'UTC') - interval '4 hours'),
               (2, now(), (now() AT TIME ZONE 'UTC') - interval '3 hours');"
            ),
        )
        .await;
        let mut source = table_source(URL, &t);
        source.incremental = Some(incremental("em", Some("10m"), None));
        let instants = run(&source, Engine::Postgres, None).await;
        assert_eq!(ids(&instants), [1]);

        source.incremental = Some(incremental("local", Some("10m"), Some("-03:00")));
        let local = run(&source, Engine::Postgres, None).await;
        assert_eq!(ids(&local), [1]);
        // Read as UTC, the same wall-clock values look three hours old.
        source.incremental = Some(incremental("local", Some("10m"), Some("UTC")));
        let misread = run(&source, Engine::Postgres, None).await;
        assert_eq!(ids(&misread), [1, 2]);

        source.incremental = Some(incremental("local", Some("10m"), None));
        let error = source.healthcheck(Engine::Postgres).await.unwrap_err();
        assert!(
            error.to_string().contains("incremental.time_zone"),
            "{error}"
        );
        source.incremental = Some(incremental("id", Some("10m"), None));
        let error = source.healthcheck(Engine::Postgres).await.unwrap_err();
        assert!(error.to_string().contains("timestamp cursors"), "{error}");
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
    }

    #[tokio::test]
    async fn custom_queries_cannot_chain_statements_or_write() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_pg_ro");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id int4);
             INSERT INTO {t} VALUES (1);
             CREATE FUNCTION {t}_grava() RETURNS int4 LANGUAGE sql AS
               $$ INSERT INTO {t} VALUES (2) RETURNING 2 $$;"
            ),
        )
        .await;
        let mut source = config(URL);
        source.query = Some(format!("SELECT 1; DELETE FROM {t}"));
        let error = source
            .extract(Engine::Postgres, &ExtractContext::default())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, SourceError::Config(_)) && error.to_string().contains("';'"),
            "{error}"
        );
        source.query = Some(format!("DELETE FROM {t}"));
        let error = source.healthcheck(Engine::Postgres).await.unwrap_err();
        assert!(matches!(error, SourceError::Config(_)), "{error}");

        source.query = Some(format!(
            "WITH d AS (DELETE FROM {t} RETURNING id) SELECT * FROM d"
        ));
        let error = source.healthcheck(Engine::Postgres).await.unwrap_err();
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");

        source.query = Some(format!("SELECT {t}_grava() AS n"));
        let got = run(&source, Engine::Postgres, None).await;
        let error = got.error.expect("a writing function fails");
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("read-only"), "{error}");
        assert_eq!(got.watermark, None);

        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(&mut admin)
            .await
            .unwrap();
        exec(
            &mut admin,
            &format!("DROP FUNCTION {t}_grava(); DROP TABLE {t}"),
        )
        .await;
        assert_eq!(count, 1, "nothing was written or deleted");
    }

    #[tokio::test]
    async fn a_hostile_table_name_is_quoted_and_executes_nothing() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let victim = unique_name("lagoa_pg_victim");
        exec(&mut admin, &format!("CREATE TABLE {victim} (id int4)")).await;
        let hostile = format!("x\"; DROP TABLE {victim}; --");
        assert!(
            table_source(URL, &hostile)
                .problems(Engine::Postgres)
                .is_empty()
        );
        let error = table_source(URL, &hostile)
            .healthcheck(Engine::Postgres)
            .await
            .unwrap_err();
        let message = error.to_string();
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(&victim)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        exec(&mut admin, &format!("DROP TABLE IF EXISTS {victim}")).await;
        assert!(matches!(error, SourceError::Refused { .. }), "{message}");
        assert!(message.contains("table not found"), "{message}");
        assert_eq!(
            exists.as_deref(),
            Some(victim.as_str()),
            "the victim table survives"
        );
    }

    #[tokio::test]
    async fn refusals_and_unreachable_servers_are_told_apart_without_secrets() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let role = unique_name("lagoa_pg_role");
        let secret = format!("S3gr3do-{role}");
        exec(
            &mut admin,
            &format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{secret}'; GRANT pg_read_all_data TO {role};"
            ),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let right = dir.path().join("right");
        let wrong = dir.path().join("wrong");
        std::fs::write(&right, format!("{secret}\n")).unwrap();
        std::fs::write(&wrong, format!("not-{secret}")).unwrap();
        let with = |user: &str, file: &std::path::Path, table: &str| {
            let mut c = config(&format!("postgres://{user}@127.0.0.1:5432/test"));
            c.password_file = Some(file.to_path_buf());
            c.table = Some(table.into());
            c
        };
        let check_clean = |error: &SourceError| {
            let text = format!("{error} {error:?}");
            assert!(!text.contains(&secret), "the password leaked: {text}");
        };

        let good = with(&role, &right, "pg_catalog.pg_class");
        assert!(!format!("{good:?}").contains(&secret));
        good.healthcheck(Engine::Postgres)
            .await
            .expect("the role can read");

        let missing = with(&role, &right, "saude.nao_existe");
        let error = missing.healthcheck(Engine::Postgres).await.unwrap_err();
        check_clean(&error);
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("saude.nao_existe"), "{error}");

        // This server's pg_hba.conf trusts 127.0.0.1, so it may accept a
        // wrong password; a role that does not exist is refused either way.
        match with(&role, &wrong, "pg_catalog.pg_class")
            .healthcheck(Engine::Postgres)
            .await
        {
            Ok(()) => eprintln!("note: the server trusts 127.0.0.1; wrong passwords are accepted"),
            Err(error) => {
                check_clean(&error);
                assert!(matches!(error, SourceError::Refused { .. }), "{error}");
            }
        }
        let error = with("lagoa_no_such_role", &right, "pg_class")
            .healthcheck(Engine::Postgres)
            .await
            .unwrap_err();
        check_clean(&error);
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(
            error.to_string().contains("authentication failed"),
            "{error}"
        );

        let mut no_db = with(&role, &right, "pg_class");
        no_db.url = "postgres://postgres@127.0.0.1:5432/lagoa_no_such_db".into();
        let error = no_db.healthcheck(Engine::Postgres).await.unwrap_err();
        assert!(
            matches!(error, SourceError::Refused { .. })
                && error.to_string().contains("does not exist"),
            "{error}"
        );

        let port = test_support::free_port();
        let closed = with(&role, &right, "pg_class");
        let closed = DatabaseConfig {
            url: format!("postgres://{role}@127.0.0.1:{port}/test"),
            ..closed
        };
        let error = closed.healthcheck(Engine::Postgres).await.unwrap_err();
        check_clean(&error);
        assert!(matches!(error, SourceError::Unreachable { .. }), "{error}");
        assert!(
            error.to_string().contains(&format!("127.0.0.1:{port}")),
            "{error}"
        );

        exec(&mut admin, &format!("DROP ROLE {role}")).await;
    }
}
