//! Pseudonyms of personal values: keyed hashes computed when a session
//! serves a personal column to a reader without a grant for its clear value.
//! The reader sees the pseudonym under the column's own name: equal values
//! give equal pseudonyms in every dataset of the lake, so joins and distinct
//! counts still work, and without the lake's pseudonym key nobody can
//! compute one from a guessed CPF.
//!
//! - the key is one lake-wide secret (`Lake::secret("pseudonym")`), wrapped
//!   by the key provider like the audit key;
//! - values are normalised first: surrounding spaces go, and a value made
//!   only of digits and the separators `. - / space` keeps only its digits,
//!   so `123.456.789-09` and `12345678909` are the same person;
//! - a pseudonym is `p` followed by 32 hex digits (128 bits of HMAC-SHA256).
//!
//! Pseudonyms are computed at read time, not stored: a stored pseudonym is
//! 33 random-looking bytes per row that no encoding shrinks (it took more
//! room than every other column together) and costs a keyed hash per row at
//! ingest whether or not anyone reads it. A session applies
//! [`pseudonym_udf`] in the view it serves, above the filters, so only the
//! rows a query keeps are hashed. The function is never registered by name:
//! no query can call it on a value of its choice (that would let anyone
//! hash guessed CPFs and look for them). Files written before this kept a
//! `<column>__pseudonimo` column; readers ignore it.

use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// The lake's pseudonym key.
#[derive(Clone)]
pub struct PseudonymKey(ring::hmac::Key);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

/// Length of a pseudonym: `p` and 32 hex digits.
const PSEUDONYM_LEN: usize = 33;

impl PseudonymKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// The pseudonym of one value.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut out = String::with_capacity(PSEUDONYM_LEN);
        self.pseudonym_into(value, &mut String::new(), &mut out);
        out
    }

    /// The pseudonym of `value` written into `out`, with `scratch` for the
    /// normalised value: no allocation per value once both have grown.
    fn pseudonym_into(&self, value: &str, scratch: &mut String, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = ring::hmac::sign(&self.0, normalise(value, scratch).as_bytes());
        out.clear();
        out.push('p');
        for byte in &tag.as_ref()[..16] {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }

    /// The pseudonyms of a column (any type, through its string form); nulls stay null.
    pub fn pseudonyms(&self, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        let text = cast(column, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ArrowError::CastError("pseudonyms: the column is not text".into()))?;
        let mut out = StringBuilder::with_capacity(text.len(), text.len() * PSEUDONYM_LEN);
        let (mut scratch, mut pseudonym) = (String::new(), String::with_capacity(PSEUDONYM_LEN));
        for i in 0..text.len() {
            if text.is_null(i) {
                out.append_null();
            } else {
                self.pseudonym_into(text.value(i), &mut scratch, &mut pseudonym);
                out.append_value(&pseudonym);
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

/// The value as it is hashed: trimmed, and only its digits when it is a
/// number written with separators. Borrowed when nothing changes. The
/// identity provider's person claims are linked under the same rule
/// (`lagoa_governance::oidc`), so `529.982.247-25` is one person there too.
pub fn normalise<'a>(value: &'a str, scratch: &'a mut String) -> &'a str {
    let value = value.trim();
    let only_digits_and_separators = value.bytes().any(|c| c.is_ascii_digit())
        && value
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'/' | b' '));
    if !only_digits_and_separators || value.bytes().all(|c| c.is_ascii_digit()) {
        return value;
    }
    scratch.clear();
    scratch.extend(value.chars().filter(char::is_ascii_digit));
    scratch
}

/// The pseudonym function a session applies to a personal column it serves
/// pseudonymised (`lagoa_pseudonym(column)`, any type, `Utf8` out). Build
/// the expression with [`ScalarUDF::call`]; never register it in a session
/// that runs analysts' SQL.
pub fn pseudonym_udf(key: Arc<PseudonymKey>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Pseudonymise {
        key,
        signature: Signature::any(1, Volatility::Immutable),
    }))
}

#[derive(Debug)]
struct Pseudonymise {
    key: Arc<PseudonymKey>,
    signature: Signature,
}

/// Two instances are the same function when they hold the same key.
impl PartialEq for Pseudonymise {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.key, &other.key)
    }
}

impl Eq for Pseudonymise {}

impl std::hash::Hash for Pseudonymise {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.key), state);
    }
}

impl ScalarUDFImpl for Pseudonymise {
    fn name(&self) -> &str {
        "lagoa_pseudonym"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return Err(datafusion::error::DataFusionError::Internal(
                "lagoa_pseudonym takes one argument".into(),
            ));
        };
        match value {
            ColumnarValue::Array(array) => Ok(ColumnarValue::Array(self.key.pseudonyms(array)?)),
            ColumnarValue::Scalar(scalar) => {
                let array = scalar.to_array_of_size(1)?;
                let hashed = self.key.pseudonyms(&array)?;
                Ok(ColumnarValue::Scalar(
                    datafusion::common::ScalarValue::try_from_array(&hashed, 0)?,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[test]
    fn equal_people_get_equal_pseudonyms_and_keys_matter() {
        let key = PseudonymKey::new(b"one secret of thirty-two bytes!!");
        let a = key.pseudonym("123.456.789-09");
        assert_eq!(a, key.pseudonym(" 12345678909 "));
        assert_ne!(a, key.pseudonym("12345678908"));
        assert_eq!(a.len(), 33);
        assert!(a.starts_with('p'));
        assert!(!a.contains("12345678909"));
        let other = PseudonymKey::new(b"another secret of 32 bytes......");
        assert_ne!(a, other.pseudonym("12345678909"));
        // Names are not digit strings: kept as they are (only trimmed).
        assert_ne!(key.pseudonym("Maria"), key.pseudonym("maria"));
    }

    #[tokio::test]
    async fn the_function_gives_the_same_pseudonyms_on_columns_and_scalars() {
        use datafusion::prelude::{SessionContext, col, lit};
        let key = Arc::new(PseudonymKey::new(b"one secret of thirty-two bytes!!"));
        let udf = pseudonym_udf(Arc::clone(&key));
        let ctx = SessionContext::new();
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            Some("529.982.247-25"),
            None,
            Some("52998224725"),
        ]));
        let batch = arrow::record_batch::RecordBatch::try_from_iter([("cpf", values)]).unwrap();
        let out = ctx
            .read_batch(batch)
            .unwrap()
            .select(vec![
                udf.call(vec![col("cpf")]).alias("p"),
                udf.call(vec![lit("52998224725")]).alias("s"),
            ])
            .unwrap()
            .collect()
            .await
            .unwrap();
        let expected = key.pseudonym("52998224725");
        for name in ["p", "s"] {
            let column = out[0].column_by_name(name).unwrap();
            let column = cast(column, &DataType::Utf8).unwrap();
            let column = column.as_any().downcast_ref::<StringArray>().unwrap();
            assert_eq!(column.value(0), expected, "{name}");
            assert_eq!(column.value(2), expected, "{name}");
        }
        let p = out[0].column_by_name("p").unwrap();
        assert!(p.is_null(1), "nulls stay null");
        // Not registered: SQL cannot name it.
        let e = ctx.sql("SELECT lagoa_pseudonym('1')").await.unwrap_err();
        assert!(e.to_string().contains("lagoa_pseudonym"), "{e}");
    }

    #[test]
    fn columns_of_any_type_keep_their_nulls() {
        let key = PseudonymKey::new(b"k");
        let column: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None, Some(7)]));
        let out = key.pseudonyms(&column).unwrap();
        let out = out.as_any().downcast_ref::<StringArray>().unwrap();
        assert!(out.is_null(1));
        assert_eq!(out.value(0), out.value(2));
        assert_eq!(out.value(0), key.pseudonym("7"));
    }
}
