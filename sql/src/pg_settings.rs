//! A session's settings as PostgreSQL clients read them: `SHOW name` (the
//! PostgreSQL port answers it), `current_setting(name)` and the
//! `pg_settings` view. The values are PostgreSQL's defaults for what
//! Lagoa reports, the server's start-up parameters, and whatever the
//! client `SET`; they change nothing in what is read.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Settings by lowercase name.
pub type Settings = BTreeMap<String, String>;

/// The setting that names the session's user (PostgreSQL's own name for
/// it), set by the query service for every session.
pub const SESSION_USER: &str = "session_authorization";

/// The version clients parse from `server_version`: PostgreSQL's first.
pub fn server_version() -> String {
    format!("16.0 (lagoa {})", env!("CARGO_PKG_VERSION"))
}

/// What a session's settings are before the client sets any.
pub fn defaults() -> Settings {
    [
        ("server_version", server_version().as_str()),
        ("server_version_num", "160000"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("integer_datetimes", "on"),
        ("search_path", "public"),
        ("is_superuser", "off"),
        ("timezone", "UTC"),
        ("datestyle", "ISO, MDY"),
        ("intervalstyle", "postgres"),
        ("transaction_isolation", "read committed"),
        ("default_transaction_isolation", "read committed"),
        ("transaction_read_only", "on"),
        ("default_transaction_read_only", "on"),
        ("standard_conforming_strings", "on"),
        ("max_identifier_length", "63"),
        ("max_index_keys", "32"),
        ("block_size", "8192"),
        ("lc_collate", "C.UTF-8"),
        ("lc_ctype", "C.UTF-8"),
        ("statement_timeout", "0"),
        ("extra_float_digits", "1"),
        ("application_name", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `current_setting(name [, missing_ok])` over `settings`.
pub(crate) fn current_setting(settings: Arc<Settings>) -> ScalarUDF {
    ScalarUDF::new_from_impl(CurrentSetting {
        signature: Signature::variadic_any(Volatility::Stable),
        settings,
    })
}

#[derive(Debug)]
struct CurrentSetting {
    signature: Signature,
    settings: Arc<Settings>,
}

impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
    }
}

impl Eq for CurrentSetting {}

impl std::hash::Hash for CurrentSetting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.settings.len().hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.is_empty() || args.len() > 2 {
            return exec_err!("current_setting takes a setting's name and, optionally, missing_ok");
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names =
            datafusion::arrow::compute::cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let missing_ok = match args.args.get(1) {
            Some(flag) => {
                let flag =
                    datafusion::arrow::compute::cast(&flag.to_array(rows)?, &DataType::Boolean)?;
                flag.as_boolean().clone()
            }
            None => BooleanArray::from(vec![false; rows]),
        };
        let mut values = Vec::with_capacity(rows);
        for i in 0..rows {
            if names.is_null(i) {
                values.push(None);
                continue;
            }
            let name = names.value(i);
            match self.settings.get(&name.to_ascii_lowercase()) {
                Some(v) => values.push(Some(v.clone())),
                None if missing_ok.is_valid(i) && missing_ok.value(i) => values.push(None),
                None => return exec_err!("unrecognized configuration parameter \"{name}\""),
            }
        }
        if rows == 1 && matches!(args.args[0], ColumnarValue::Scalar(_)) {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                values.pop().flatten(),
            )));
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(values))))
    }
}

/// `pg_settings`: one row per setting, with PostgreSQL's columns.
pub(crate) fn table(settings: &Settings) -> Result<datafusion::datasource::MemTable> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        text("name"),
        text("setting"),
        text("unit"),
        text("category"),
        text("short_desc"),
        text("extra_desc"),
        text("context"),
        text("vartype"),
        text("source"),
        text("min_val"),
        text("max_val"),
        text("enumvals"),
        text("boot_val"),
        text("reset_val"),
        text("sourcefile"),
        Field::new("sourceline", DataType::Int32, true),
        Field::new("pending_restart", DataType::Boolean, true),
    ]));
    let defaults = defaults();
    let n = settings.len();
    let column = |values: Vec<Option<String>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let none = || column(vec![None; n]);
    let names: Vec<Option<String>> = settings.keys().map(|k| Some(k.clone())).collect();
    let values: Vec<Option<String>> = settings.values().map(|v| Some(v.clone())).collect();
    let source: Vec<Option<String>> = settings
        .iter()
        .map(|(k, v)| {
            Some(
                if defaults.get(k) == Some(v) {
                    "default"
                } else {
                    "session"
                }
                .to_owned(),
            )
        })
        .collect();
    let boot: Vec<Option<String>> = settings.keys().map(|k| defaults.get(k).cloned()).collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            column(names),
            column(values),
            none(),
            none(),
            none(),
            none(),
            column(vec![Some("user".to_owned()); n]),
            column(vec![Some("string".to_owned()); n]),
            column(source),
            none(),
            none(),
            none(),
            column(boot.clone()),
            column(boot),
            none(),
            Arc::new(datafusion::arrow::array::Int32Array::from(vec![None; n])),
            Arc::new(BooleanArray::from(vec![Some(false); n])),
        ],
    )?;
    datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])
}
