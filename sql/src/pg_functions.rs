//! What PostgreSQL clients ask a server about itself as soon as they
//! connect: `version()` (SQLAlchemy reads "PostgreSQL X.Y" from it),
//! `current_database()`, `current_schema()`, `current_user` and
//! `session_user`. Registered in every governed session; each answers a
//! constant of the session, reads nothing and reveals nothing of the data.
//!
//! PostgreSQL's functions all live in `pg_catalog`, and clients call them
//! so (`pg_catalog.version()`): [`qualify`] makes every function of a
//! session answer to that name too.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The version string clients parse: PostgreSQL's major.minor first.
pub fn version_text() -> String {
    format!(
        "PostgreSQL 16.0 (Lagoa {}) on {}-linux, a governed data lake",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// Makes every scalar function of `ctx` answer to `pg_catalog.<name>` as
/// well, as PostgreSQL's built-in functions do.
pub fn qualify(ctx: &SessionContext) {
    let functions: Vec<_> = ctx.state().scalar_functions().values().cloned().collect();
    for udf in functions {
        let qualified = interned(format!("pg_catalog.{}", udf.name()));
        if udf.aliases().iter().any(|a| a == qualified) {
            continue;
        }
        ctx.register_udf(udf.as_ref().clone().with_aliases([qualified]));
    }
}

/// A qualified function name for the whole process: aliases must be
/// `'static`, and there are as many as there are function names (a few
/// hundred), each made once.
fn interned(name: String) -> &'static str {
    static NAMES: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Registers the functions in `ctx`, answering for `user`.
pub fn register(ctx: &SessionContext, user: &str) {
    for (name, value) in [
        ("version", version_text()),
        ("current_database", "lagoa".to_owned()),
        ("current_schema", "public".to_owned()),
        ("current_user", user.to_owned()),
        ("session_user", user.to_owned()),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(SessionConstant::new(name, value)));
    }
}

/// A function of no arguments answering one text of the session.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionConstant {
    name: &'static str,
    value: String,
    signature: Signature,
}

impl SessionConstant {
    fn new(name: &'static str, value: String) -> Self {
        Self {
            name,
            value,
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for SessionConstant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            self.value.clone(),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_get_a_postgresql_version_and_who_they_are() {
        let ctx = SessionContext::new();
        register(&ctx, "joao");
        qualify(&ctx);
        let text = crate::test_support::answer_text(
            ctx.sql("SELECT pg_catalog.version() AS v, current_user AS u, current_schema() AS s, pg_catalog.current_database() AS d, pg_catalog.lower('A') AS l")
                .await
                .unwrap(),
        )
        .await;
        assert!(text.contains("PostgreSQL 16.0 (Lagoa"), "{text}");
        assert!(text.contains("joao"), "{text}");
        assert!(text.contains("public") && text.contains("lagoa"), "{text}");
        assert!(text.contains("| a "), "{text}");
    }
}
