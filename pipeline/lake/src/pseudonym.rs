//! Pseudonyms of personal values: keyed hashes written beside each personal
//! column at ingest (`<column>__pseudonimo`), encrypted under the dataset's
//! ordinary key. A reader without a grant for a personal column sees its
//! pseudonym in its place: equal values give equal pseudonyms in every
//! dataset of the lake, so joins and distinct counts still work, and without
//! the lake's pseudonym key nobody can compute one from a guessed CPF.
//!
//! - the key is one lake-wide secret (`Lake::secret("pseudonym")`), wrapped
//!   by the key provider like the audit key;
//! - values are normalised first: surrounding spaces go, and a value made
//!   only of digits and the separators `. - / space` keeps only its digits,
//!   so `123.456.789-09` and `12345678909` are the same person;
//! - a pseudonym is `p` followed by 32 hex digits (128 bits of HMAC-SHA256).

use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use std::sync::Arc;

/// Suffix of the column that holds a personal column's pseudonyms.
pub const PSEUDONYM_SUFFIX: &str = "__pseudonimo";

/// The name of the pseudonym column of `column`.
pub fn pseudonym_column(column: &str) -> String {
    format!("{column}{PSEUDONYM_SUFFIX}")
}

/// The lake's pseudonym key.
#[derive(Clone)]
pub struct PseudonymKey(ring::hmac::Key);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// The pseudonym of one value.
    pub fn pseudonym(&self, value: &str) -> String {
        let normalised = normalise(value);
        let tag = ring::hmac::sign(&self.0, normalised.as_bytes());
        format!("p{}", hex::encode(&tag.as_ref()[..16]))
    }

    /// The pseudonyms of a column (any type, through its string form); nulls stay null.
    pub fn pseudonyms(&self, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        let text = cast(column, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8 gives a StringArray");
        let mut out = StringBuilder::with_capacity(text.len(), text.len() * 33);
        for i in 0..text.len() {
            if text.is_null(i) {
                out.append_null();
            } else {
                out.append_value(self.pseudonym(text.value(i)));
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

fn normalise(value: &str) -> String {
    let value = value.trim();
    let only_digits_and_separators = value.chars().any(|c| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '/' | ' '));
    if only_digits_and_separators {
        value.chars().filter(char::is_ascii_digit).collect()
    } else {
        value.to_owned()
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
