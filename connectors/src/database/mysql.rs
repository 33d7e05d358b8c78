//! MySQL and MariaDB: connecting, describing the result, the extraction
//! SQL and error numbers.
//!
//! The session keeps the server's `sql_mode` (the driver's additions are
//! turned off, so `||` means what it means on that server) and sets
//! `time_zone = '+00:00'`, so `TIMESTAMP` values arrive in UTC.
//!
//! Types, decided from the result's column metadata before any row is read:
//!
//! | MySQL / MariaDB                       | Arrow                             |
//! |---------------------------------------|-----------------------------------|
//! | `TINYINT` (`BOOLEAN` = `TINYINT(1)` too) | Int8: `TINYINT(1)` may hold any of -128..127, so it is not forced to Boolean; a contract can declare it boolean |
//! | `SMALLINT`, `MEDIUMINT`, `INT`, `BIGINT` | Int16, Int32, Int32, Int64     |
//! | the same `UNSIGNED`                   | UInt8, UInt16, UInt32, UInt32, UInt64 |
//! | `YEAR`                                | Int16                             |
//! | `DECIMAL(p,s)`, p ≤ 38, of a `table`  | Decimal128(p, s)                  |
//! | other `DECIMAL` (p > 38, custom query: its declaration is unknown) | Utf8, exact text |
//! | `FLOAT`, `DOUBLE`                     | Float32, Float64                  |
//! | `DATE`                                | Date32                            |
//! | `DATETIME`                            | Timestamp(µs)                     |
//! | `TIMESTAMP`                           | Timestamp(µs, "UTC")              |
//! | zero dates (`0000-00-00`, `2024-00-10`) | null                            |
//! | `TIME` (a duration up to ±838 h)      | Utf8 (`-838:59:59`)               |
//! | `BIT(n)`                              | UInt64                            |
//! | `CHAR`, `VARCHAR`, `TEXT`, `ENUM`, `SET`, `JSON` | Utf8                   |
//! | `BINARY`, `VARBINARY`, `BLOB`, `GEOMETRY` (SRID + WKB) | Binary           |
//!
//! The protocol flags text with a binary collation (`utf8mb4_bin`, and
//! MariaDB's `JSON`, a `LONGTEXT … COLLATE utf8mb4_bin`) like a BLOB. For a
//! `table` the catalog's declared type decides (Utf8); in a custom query
//! such a column arrives as Binary unless the query casts it
//! (`CAST(col AS CHAR)`).

use super::engine::Dialect;
use super::types::{Kind, Wire};
use super::{
    Bind, CursorChoice, CursorUse, ErrorContext, Failure, Plan, PlannedColumn, RawRow, Relation,
    Settings, Watermark, choose_cursor,
};
use crate::SourceError;
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{Column, ConnectOptions, Executor, Row, Statement, TypeInfo};
use std::collections::HashMap;

impl RawRow for MySqlRow {
    fn raw(&self, index: usize) -> Result<Option<&[u8]>, sqlx::Error> {
        self.try_get_unchecked::<Option<&[u8]>, _>(index)
    }
}

/// Mysql's side of the shared extraction (`engine.rs`).
pub(super) struct MysqlDialect;

impl Dialect for MysqlDialect {
    type Db = MySql;

    async fn connect(settings: &Settings) -> Result<MySqlConnection, SourceError> {
        let mut options: MySqlConnectOptions =
            settings.url.parse().map_err(|e| settings.errors.map(e))?;
        if let Some(password) = settings.password() {
            options = options.password(password);
        }
        let options = options
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(Some("+00:00".to_string()))
            .charset("utf8mb4")
            .disable_statement_logging();
        settings.connect_within(options.connect()).await
    }

    async fn plan(
        conn: &mut MySqlConnection,
        settings: &Settings,
        watermark: Option<&Watermark>,
    ) -> Result<Plan, SourceError> {
        let errors = &settings.errors;
        conn.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(|e| errors.map(e))?;
        let base = settings.base_sql(quote_identifier);
        let described = describe(conn, &base).await.map_err(|e| errors.map(e))?;
        if described.is_empty() {
            return Err(errors.refused("the table or query has no columns".into()));
        }
        let declared = match &settings.relation {
            Relation::Table { schema, name, .. } => declared_columns(conn, schema.as_deref(), name)
                .await
                .map_err(|e| errors.map(e))?,
            Relation::Query(_) => HashMap::new(),
        };
        let columns: Vec<PlannedColumn> = described
            .into_iter()
            .map(|(name, type_name)| {
                let declared = declared.get(&name);
                planned_column(name, type_name, declared)
            })
            .collect();
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
    format!("`{}`", name.replace('`', "``"))
}

/// The result's (name, type name) pairs, from preparing the statement.
async fn describe(
    conn: &mut MySqlConnection,
    sql: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let statement = conn.prepare(sql).await?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
        .collect())
}

/// What the catalog declares for a table column.
#[derive(Clone, Debug)]
struct Declared {
    /// `DATA_TYPE`: `varchar`, `decimal`, `longtext`, …
    data_type: String,
    precision: Option<i64>,
    scale: Option<i64>,
}

/// The table's columns as the catalog declares them. The protocol's
/// column metadata lacks a decimal's precision and scale (in a form the
/// driver exposes), and flags text with a binary collation (`utf8mb4_bin`,
/// MariaDB's `JSON`) like a BLOB; the catalog tells them apart.
async fn declared_columns(
    conn: &mut MySqlConnection,
    schema: Option<&str>,
    table: &str,
) -> Result<HashMap<String, Declared>, sqlx::Error> {
    let rows: Vec<(String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), \
         CAST(NUMERIC_PRECISION AS SIGNED), CAST(NUMERIC_SCALE AS SIGNED) \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, data_type, precision, scale)| {
            let declared = Declared {
                data_type: data_type.to_ascii_lowercase(),
                precision,
                scale,
            };
            (name, declared)
        })
        .collect())
}

fn is_declared_text(declared: Option<&Declared>) -> bool {
    declared.is_some_and(|d| {
        matches!(
            d.data_type.as_str(),
            "char"
                | "varchar"
                | "tinytext"
                | "text"
                | "mediumtext"
                | "longtext"
                | "json"
                | "enum"
                | "set"
        )
    })
}

fn planned_column(name: String, type_name: String, declared: Option<&Declared>) -> PlannedColumn {
    let declared_decimal = declared.and_then(|d| d.precision.zip(d.scale));
    let plain = |cast: &str| CursorUse::Plain(cast.to_string());
    let signed = Wire::MyInt { signed: true };
    let unsigned = Wire::MyInt { signed: false };
    let (kind, wire, cursor_use) = match type_name.as_str() {
        "BOOLEAN" | "TINYINT" => (Kind::Int8, signed, plain("SIGNED")),
        "TINYINT UNSIGNED" => (Kind::UInt8, unsigned, plain("UNSIGNED")),
        "SMALLINT" => (Kind::Int16, signed, plain("SIGNED")),
        "SMALLINT UNSIGNED" => (Kind::UInt16, unsigned, plain("UNSIGNED")),
        "MEDIUMINT" | "INT" => (Kind::Int32, signed, plain("SIGNED")),
        "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => (Kind::UInt32, unsigned, plain("UNSIGNED")),
        "BIGINT" => (Kind::Int64, signed, plain("SIGNED")),
        "BIGINT UNSIGNED" => (Kind::UInt64, unsigned, plain("UNSIGNED")),
        "YEAR" => (Kind::Int16, unsigned, plain("UNSIGNED")),
        "FLOAT" => (Kind::Float32, Wire::MyFloat, CursorUse::No),
        "DOUBLE" => (Kind::Float64, Wire::MyDouble, CursorUse::No),
        "DECIMAL" => {
            match declared_decimal.and_then(|(p, s)| Kind::decimal(p, s).zip(Some((p, s)))) {
                Some((kind, (p, s))) => (
                    kind,
                    Wire::MyDecimalText,
                    plain(&format!("DECIMAL({p},{s})")),
                ),
                None => (Kind::Utf8, Wire::MyDecimalText, CursorUse::No),
            }
        }
        "DATE" => (Kind::Date32, Wire::MyDateTime, plain("DATE")),
        "DATETIME" => (
            Kind::Timestamp { utc: false },
            Wire::MyDateTime,
            CursorUse::Timestamp {
                cast: "DATETIME(6)".into(),
                utc: false,
            },
        ),
        "TIMESTAMP" => (
            Kind::Timestamp { utc: true },
            Wire::MyDateTime,
            CursorUse::Timestamp {
                cast: "DATETIME(6)".into(),
                utc: true,
            },
        ),
        "TIME" => (Kind::Utf8, Wire::MyTime, CursorUse::No),
        "BIT" => (Kind::UInt64, Wire::MyBit, CursorUse::No),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB"
            if is_declared_text(declared) =>
        {
            (Kind::Utf8, Wire::MyText, CursorUse::No)
        }
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "GEOMETRY" => {
            (Kind::Binary, Wire::MyBytes, CursorUse::No)
        }
        // CHAR, VARCHAR, the TEXTs, ENUM, SET, JSON, NULL.
        _ => (Kind::Utf8, Wire::MyText, CursorUse::No),
    };
    PlannedColumn {
        name,
        source_type: type_name.to_ascii_lowercase(),
        kind,
        wire,
        cursor_use,
    }
}

/// `SELECT * FROM (<base>) AS src` plus the incremental filter and order.
fn extraction_sql(
    base: &str,
    columns: &[PlannedColumn],
    cursor: Option<&CursorChoice>,
    watermark: Option<&Watermark>,
) -> (String, Vec<Bind>) {
    let mut sql = format!("SELECT * FROM (\n{base}\n) AS src");
    let mut binds = Vec::new();
    if let Some(choice) = cursor {
        let column = format!("src.{}", quote_identifier(&columns[choice.index].name));
        match watermark {
            Some(watermark) => {
                binds.push(Bind::Text(watermark.cursor.clone()));
                sql += &format!(" WHERE {column} >= CAST(? AS {})", choice.cast);
            }
            None => sql += &format!(" WHERE {column} IS NOT NULL"),
        }
        if let Some(bound) = choice.upper_bound {
            // The session is at +00:00: TIMESTAMP values compare in UTC.
            binds.push(Bind::Int(bound.seconds_from_utc_now));
            sql += &format!(" AND {column} <= UTC_TIMESTAMP(6) + INTERVAL ? SECOND");
        }
        sql += &format!(" ORDER BY {column}");
    }
    (sql, binds)
}

/// Reports a server error by its number. The server's text is kept only
/// where it names SQL objects; data errors can quote values.
pub(super) fn classify(error: &dyn DatabaseError, ctx: &ErrorContext) -> Failure {
    let Some(mysql) = error.try_downcast_ref::<MySqlDatabaseError>() else {
        return Failure::Refused("the server refused the extraction".into());
    };
    let number = mysql.number();
    let state = mysql.code().unwrap_or("HY000");
    let message = mysql.message();
    match number {
        1040 | 1203 => Failure::Unreachable(format!("too many connections (error {number})")),
        1053 | 1077 | 1152 | 1153 | 1159 | 1160 | 1161 => Failure::Unreachable(format!(
            "the server is shutting down or the network failed (error {number})"
        )),
        1205 | 1213 => Failure::Unreachable(format!(
            "a concurrent transaction got in the way; try again (error {number})"
        )),
        1317 | 1969 | 3024 => Failure::Unreachable(format!(
            "the query was interrupted or timed out (error {number})"
        )),
        _ if number == 1045 || number == 1698 || state.starts_with("28") => {
            Failure::Refused(format!(
                "access denied for user {}: wrong user or password (error {number})",
                ctx.user
            ))
        }
        1044 | 1142 | 1143 | 1227 | 1370 => Failure::Refused(format!(
            "permission denied for user {}: {message} (error {number})",
            ctx.user
        )),
        1049 => Failure::Refused(format!(
            "database {} does not exist (error 1049)",
            ctx.database
        )),
        1146 => Failure::Refused(format!(
            "table not found, or not visible to user {}: {message} (error 1146)",
            ctx.user
        )),
        1792 => Failure::Refused(format!(
            "the query tried to write, and extractions run read-only: {message} (error 1792)"
        )),
        1060 => Failure::Refused(format!(
            "{message} (error 1060): the columns of a custom query must have distinct names; \
             give them aliases"
        )),
        1052 | 1054 | 1064 | 1109 | 1305 | 1582 | 1583 | 1630 => {
            Failure::Refused(format!("the SQL was refused: {message} (error {number})"))
        }
        _ => Failure::Refused(format!(
            "the server refused the extraction (error {number}, SQLSTATE {state})"
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
        Array, AsArray, BinaryArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
        Int8Array, Int16Array, Int32Array, Int64Array, TimestampMicrosecondArray, UInt8Array,
        UInt32Array, UInt64Array,
    };
    use arrow::datatypes::{DataType, TimeUnit};

    const URL: &str = "mysql://root@127.0.0.1:3306/test";

    async fn admin() -> Option<MySqlConnection> {
        match <MySqlConnection as sqlx::Connection>::connect(URL).await {
            Ok(mut conn) => {
                // Fixtures write zero dates and UTC timestamps.
                exec(&mut conn, "SET SESSION sql_mode = '', time_zone = '+00:00'").await;
                Some(conn)
            }
            Err(e) => {
                test_support::server_unavailable("MariaDB/MySQL at 127.0.0.1:3306", &e);
                None
            }
        }
    }

    async fn exec(conn: &mut MySqlConnection, sql: &str) {
        for statement in sql.split(";\n").filter(|s| !s.trim().is_empty()) {
            sqlx::raw_sql(statement)
                .execute(&mut *conn)
                .await
                .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{statement}"));
        }
    }

    #[test]
    fn identifiers_double_their_backticks() {
        assert_eq!(quote_identifier("a`b"), "`a``b`");
    }

    #[tokio::test]
    async fn every_type_round_trips_into_its_arrow_type() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_my_types");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (ti TINYINT, b BOOLEAN, tu TINYINT UNSIGNED, si SMALLINT,
              mi MEDIUMINT, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, y YEAR,
              dec1 DECIMAL(12,3), big DECIMAL(50,2), f FLOAT, db DOUBLE, d DATE, dt DATETIME(6),
              ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(3), bits BIT(12), vc VARCHAR(40),
              vbin VARCHAR(10) COLLATE utf8mb4_bin, ch CHAR(4), tx TEXT, en ENUM('sim','nao'),
              js JSON, bl BLOB, vb VARBINARY(8)) DEFAULT CHARSET=utf8mb4;
             INSERT INTO {t} VALUES (-128, 1, 255, -32768, -8388608, -2147483648, 4294967295,
              -9223372036854775808, 18446744073709551615, 2024, -12345.678,
              123456789012345678901234567890123456789012345.67, 1.5, -2.25, '2024-02-29',
              '2024-02-29 13:05:09.123456', '2024-02-29 16:05:09.500000', '-838:59:59.000',
              b'101', 'Conceição do Araguaia', 'ação', 'ab', 'São João', 'nao',
              '{{\"a\": [1, 2]}}', X'00FF10', X'0102');
             INSERT INTO {t} () VALUES ();
             INSERT INTO {t} (d, dt) VALUES ('0000-00-00', '0000-00-00 00:00:00')"
            ),
        )
        .await;
        let got = run(&table_source(URL, &t), Engine::Mysql, None).await;
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
        assert!(got.error.is_none(), "{:?}", got.error);
        let all = got.all();
        assert_eq!(all.num_rows(), 3);
        let expected_types = [
            ("ti", DataType::Int8),
            ("b", DataType::Int8),
            ("tu", DataType::UInt8),
            ("si", DataType::Int16),
            ("mi", DataType::Int32),
            ("i", DataType::Int32),
            ("iu", DataType::UInt32),
            ("bi", DataType::Int64),
            ("bu", DataType::UInt64),
            ("y", DataType::Int16),
            ("dec1", DataType::Decimal128(12, 3)),
            ("big", DataType::Utf8),
            ("f", DataType::Float32),
            ("db", DataType::Float64),
            ("d", DataType::Date32),
            ("dt", DataType::Timestamp(TimeUnit::Microsecond, None)),
            (
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            ("tm", DataType::Utf8),
            ("bits", DataType::UInt64),
            ("vc", DataType::Utf8),
            ("vbin", DataType::Utf8),
            ("ch", DataType::Utf8),
            ("tx", DataType::Utf8),
            ("en", DataType::Utf8),
            ("js", DataType::Utf8),
            ("bl", DataType::Binary),
            ("vb", DataType::Binary),
        ];
        for (name, data_type) in expected_types {
            let column = all.column_by_name(name).unwrap();
            assert_eq!(column.data_type(), &data_type, "column {name}");
            assert!(column.is_null(1), "column {name} keeps the NULL of row 2");
        }
        let col = |name: &str| all.column_by_name(name).unwrap().clone();
        let text = |name: &str| col(name).as_string::<i32>().value(0).to_string();
        assert_eq!(
            col("ti")
                .as_any()
                .downcast_ref::<Int8Array>()
                .unwrap()
                .value(0),
            -128
        );
        assert_eq!(
            col("b")
                .as_any()
                .downcast_ref::<Int8Array>()
                .unwrap()
                .value(0),
            1
        );
        assert_eq!(
            col("tu")
                .as_any()
                .downcast_ref::<UInt8Array>()
                .unwrap()
                .value(0),
            255
        );
        assert_eq!(
            col("si")
                .as_any()
                .downcast_ref::<Int16Array>()
                .unwrap()
                .value(0),
            i16::MIN
        );
        assert_eq!(
            col("mi")
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            -8_388_608
        );
        assert_eq!(
            col("i")
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            i32::MIN
        );
        assert_eq!(
            col("iu")
                .as_any()
                .downcast_ref::<UInt32Array>()
                .unwrap()
                .value(0),
            u32::MAX
        );
        assert_eq!(
            col("bi")
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            i64::MIN
        );
        assert_eq!(
            col("bu")
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .value(0),
            u64::MAX
        );
        assert_eq!(
            col("y")
                .as_any()
                .downcast_ref::<Int16Array>()
                .unwrap()
                .value(0),
            2024
        );
        assert_eq!(
            col("dec1")
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0),
            -12_345_678
        );
        assert_eq!(
            text("big"),
            "123456789012345678901234567890123456789012345.67"
        );
        assert_eq!(
            col("f")
                .as_any()
                .downcast_ref::<Float32Array>()
                .unwrap()
                .value(0),
            1.5
        );
        assert_eq!(
            col("db")
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0),
            -2.25
        );
        let d = col("d");
        let d = d.as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(d.value(0), 19_782, "2024-02-29");
        assert!(d.is_null(2), "a zero date is null");
        let dt = col("dt");
        let dt = dt
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(dt.value(0), 1_709_211_909_123_456);
        assert!(dt.is_null(2), "a zero date-time is null");
        let ts = col("ts");
        assert_eq!(
            ts.as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap()
                .value(0),
            1_709_222_709_500_000
        );
        assert_eq!(text("tm"), "-838:59:59");
        assert_eq!(
            col("bits")
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .value(0),
            5
        );
        assert_eq!(text("vc"), "Conceição do Araguaia");
        assert_eq!(text("ch"), "ab");
        assert_eq!(text("tx"), "São João");
        assert_eq!(text("en"), "nao");
        assert_eq!(text("js"), "{\"a\": [1, 2]}");
        assert_eq!(
            col("bl")
                .as_any()
                .downcast_ref::<BinaryArray>()
                .unwrap()
                .value(0),
            &[0, 255, 16]
        );
        assert_eq!(text("vbin"), "ação", "a binary collation is still text");
    }

    #[tokio::test]
    async fn a_large_table_streams_in_bounded_batches() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_my_big");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id BIGINT PRIMARY KEY, nome VARCHAR(40), valor DECIMAL(10,2));
             INSERT INTO {t} SELECT seq, CONCAT('nome ', seq), seq / 100 FROM seq_1_to_200000"
            ),
        )
        .await;
        let mut source = table_source(URL, &t);
        source.chunk_rows = Some(30_000);
        let got = run(&source, Engine::Mysql, None).await;
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
        assert!(
            ids.iter().enumerate().all(|(i, id)| *id == i as i64 + 1),
            "every row once"
        );
    }

    #[tokio::test]
    async fn incremental_runs_take_every_row_exactly_once() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_my_incr");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id INT, atualizado DATETIME(6));
             INSERT INTO {t} VALUES (1, '2024-01-01 10:00:00'), (2, '2024-01-01 11:00:00'),
               (3, '2024-01-01 11:00:00'), (98, NULL), (99, '0000-00-00 00:00:00')"
            ),
        )
        .await;
        let mut source = table_source(URL, &t);
        source.incremental = Some(IncrementalConfig {
            cursor: "atualizado".into(),
            primary_key: vec!["id".into()],
            lag: None,
            time_zone: None,
        });
        let first = run(&source, Engine::Mysql, None).await;
        assert!(first.error.is_none(), "{:?}", first.error);
        assert_eq!(
            ids(&first),
            [1, 2, 3],
            "NULL and zero-date cursors are not taken"
        );
        let w1 = first.watermark.clone().unwrap();
        exec(&mut admin, &format!(
            "INSERT INTO {t} VALUES (4, '2024-01-01 11:00:00'), (5, '2024-01-01 11:00:00.000001')"
        )).await;
        let second = run(&source, Engine::Mysql, Some(w1)).await;
        assert_eq!(ids(&second), [4, 5]);
        let w2 = second.watermark.clone().unwrap();
        let third = run(&source, Engine::Mysql, Some(w2.clone())).await;
        assert_eq!(third.rows(), 0);
        assert_eq!(third.watermark, Some(w2));

        // Lag on a DATETIME written at UTC-3: a row written just now waits.
        exec(
            &mut admin,
            &format!("INSERT INTO {t} VALUES (6, UTC_TIMESTAMP(6) - INTERVAL 3 HOUR)"),
        )
        .await;
        source.incremental = Some(IncrementalConfig {
            cursor: "atualizado".into(),
            primary_key: vec!["id".into()],
            lag: Some("10m".into()),
            time_zone: Some("-03:00".into()),
        });
        let lagged = run(&source, Engine::Mysql, None).await;
        exec(&mut admin, &format!("DROP TABLE {t}")).await;
        assert_eq!(ids(&lagged), [1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn custom_queries_cannot_chain_statements_or_write() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let t = unique_name("lagoa_my_ro");
        exec(
            &mut admin,
            &format!(
                "CREATE TABLE {t} (id INT);
             INSERT INTO {t} VALUES (1);
             CREATE FUNCTION {t}_grava() RETURNS INT MODIFIES SQL DATA
               BEGIN INSERT INTO {t} VALUES (2); RETURN 2; END"
            ),
        )
        .await;
        let mut source = config(URL);
        source.query = Some(format!("SELECT 1; DELETE FROM {t}"));
        let error = source
            .extract(Engine::Mysql, &ExtractContext::default())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, SourceError::Config(_)) && error.to_string().contains("';'"),
            "{error}"
        );
        source.query = Some(format!("UPDATE {t} SET id = 3"));
        assert!(matches!(
            source.healthcheck(Engine::Mysql).await,
            Err(SourceError::Config(_))
        ));

        source.query = Some(format!("SELECT {t}_grava() AS n"));
        // MariaDB evaluates the function when preparing: the error may
        // come before the first row or with it.
        let error = match source
            .extract(Engine::Mysql, &ExtractContext::default())
            .await
        {
            Err(error) => error,
            Ok(extraction) => test_support::collect(extraction)
                .await
                .error
                .expect("a writing function fails"),
        };
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("read-only"), "{error}");

        source.query = Some(format!("SELECT id, id FROM {t}"));
        let error = source.healthcheck(Engine::Mysql).await.unwrap_err();
        assert!(error.to_string().contains("distinct names"), "{error}");

        let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&mut admin)
            .await
            .unwrap();
        exec(
            &mut admin,
            &format!("DROP FUNCTION {t}_grava;\nDROP TABLE {t}"),
        )
        .await;
        assert_eq!(count, 1, "nothing was written");
    }

    #[tokio::test]
    async fn a_hostile_table_name_is_quoted_and_executes_nothing() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let victim = unique_name("lagoa_my_victim");
        exec(&mut admin, &format!("CREATE TABLE {victim} (id INT)")).await;
        let hostile = format!("x`; DROP TABLE {victim}; --");
        let error = table_source(URL, &hostile)
            .healthcheck(Engine::Mysql)
            .await
            .unwrap_err();
        let remaining: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        )
        .bind(&victim)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        exec(&mut admin, &format!("DROP TABLE IF EXISTS {victim}")).await;
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("table not found"), "{error}");
        assert_eq!(remaining, 1, "the victim table survives");
    }

    #[tokio::test]
    async fn wrong_passwords_unknown_tables_and_closed_ports_are_told_apart() {
        let Some(mut admin) = admin().await else {
            return;
        };
        let user = unique_name("lagoa_my_user");
        let user = &user[..user.len().min(32)];
        let secret = format!("S3gr3do-{}", std::process::id());
        exec(
            &mut admin,
            &format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}';
             CREATE USER '{user}'@'localhost' IDENTIFIED BY '{secret}';
             GRANT SELECT ON test.* TO '{user}'@'%';
             GRANT SELECT ON test.* TO '{user}'@'localhost'"
            ),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let right = dir.path().join("right");
        let wrong = dir.path().join("wrong");
        std::fs::write(&right, format!("{secret}\n")).unwrap();
        std::fs::write(&wrong, "not-the-password").unwrap();
        let with = |file: &std::path::Path, table: &str| {
            let mut c = config(&format!("mysql://{user}@127.0.0.1:3306/test"));
            c.password_file = Some(file.to_path_buf());
            c.table = Some(table.into());
            c
        };
        let check_clean = |error: &SourceError| {
            let text = format!("{error} {error:?}");
            assert!(!text.contains(&secret), "the password leaked: {text}");
        };
        let t = unique_name("lagoa_my_auth");
        exec(&mut admin, &format!("CREATE TABLE {t} (id INT)")).await;

        let good = with(&right, &t);
        assert!(!format!("{good:?}").contains(&secret));
        let healthy = good.healthcheck(Engine::Mysql).await;

        let wrong_password = with(&wrong, &t).healthcheck(Engine::Mysql).await;
        let missing = with(&right, "nao_existe").healthcheck(Engine::Mysql).await;
        let port = test_support::free_port();
        let closed = DatabaseConfig {
            url: format!("mysql://{user}@127.0.0.1:{port}/test"),
            ..with(&right, &t)
        };
        let unreachable = closed.healthcheck(Engine::Mysql).await;
        exec(
            &mut admin,
            &format!("DROP TABLE {t};\nDROP USER '{user}'@'%';\nDROP USER '{user}'@'localhost'"),
        )
        .await;

        healthy.expect("the user can read");
        let error = wrong_password.unwrap_err();
        check_clean(&error);
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(
            error.to_string().contains("wrong user or password"),
            "{error}"
        );
        let error = missing.unwrap_err();
        check_clean(&error);
        assert!(matches!(error, SourceError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("nao_existe"), "{error}");
        let error = unreachable.unwrap_err();
        check_clean(&error);
        assert!(matches!(error, SourceError::Unreachable { .. }), "{error}");
    }
}
