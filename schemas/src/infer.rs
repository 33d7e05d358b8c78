//! Guessing column types from a sample of a CSV file.
//!
//! Municipal extractions are full of codes with leading zeros (IBGE and
//! DATASUS municipality codes, CPF, CNS): a column whose digits start with
//! a zero stays text, so no code loses its zeros.

use arrow::datatypes::{DataType, TimeUnit};
use std::io::Read;

#[derive(Clone, Debug, PartialEq)]
pub struct InferredColumn {
    /// Normalised name (lowercase, `_` for anything else), as SQL will see it.
    pub name: String,
    /// The header as delivered.
    pub original: String,
    pub data_type: DataType,
}

/// A Portuguese letter without its accent, in lower case (`Ã` -> `a`,
/// `ç` -> `c`); any other character as it is.
pub fn without_accent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ã' | 'Á' | 'À' | 'Â' | 'Ã' => 'a',
        'é' | 'ê' | 'É' | 'Ê' => 'e',
        'í' | 'Í' => 'i',
        'ó' | 'ô' | 'õ' | 'Ó' | 'Ô' | 'Õ' => 'o',
        'ú' | 'ü' | 'Ú' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        c => c,
    }
}

/// `Código Município` -> `codigo_municipio`-like: lowercase ASCII letters,
/// digits and `_`, so columns need no quoting in SQL.
pub fn normalize_column_name(header: &str) -> String {
    let mut out = String::new();
    for c in header.trim().chars() {
        let c = without_accent(c);
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("c_{out}")
    } else {
        out
    }
}

/// The most frequent of `,`, `;`, tab and `|` in the header line.
pub fn sniff_delimiter(header_line: &str) -> u8 {
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|d| header_line.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

#[derive(Clone, Copy, PartialEq, PartialOrd, Debug)]
enum Guess {
    Empty,
    Boolean,
    Integer,
    Float,
    /// `14,16`: a number with a decimal comma.
    CommaFloat,
    Date,
    /// `31/12/2023`.
    BrDate,
    Timestamp,
    Text,
}

fn guess(value: &str) -> Guess {
    let v = value.trim();
    if v.is_empty() {
        return Guess::Empty;
    }
    if matches!(v, "true" | "false" | "TRUE" | "FALSE" | "True" | "False") {
        return Guess::Boolean;
    }
    let digits = v.strip_prefix('-').unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Leading zeros mean a code, not a number; so do digit runs as long
        // as identifiers (CPF 11, CNPJ 14, CNS 15 digits).
        if (digits.len() > 1 && digits.starts_with('0')) || digits.len() >= 11 {
            return Guess::Text;
        }
        return Guess::Integer;
    }
    if v.parse::<f64>().is_ok()
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'e' || b == b'E')
    {
        return Guess::Float;
    }
    let b = v.as_bytes();
    let is_date = |b: &[u8]| {
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    };
    if is_date(b) {
        return Guess::Date;
    }
    let is_br_date = b.len() == 10
        && b[2] == b'/'
        && b[5] == b'/'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || i == 5 || c.is_ascii_digit());
    if is_br_date {
        return Guess::BrDate;
    }
    let comma = digits.split_once(',');
    if let Some((int, frac)) = comma
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(int.len() > 1 && int.starts_with('0'))
    {
        return Guess::CommaFloat;
    }
    if b.len() >= 19
        && is_date(&b[..10])
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && b[16] == b':'
    {
        return Guess::Timestamp;
    }
    Guess::Text
}

fn combine(a: Guess, b: Guess) -> Guess {
    use Guess::*;
    match (a, b) {
        (Empty, x) | (x, Empty) => x,
        (x, y) if x == y => x,
        (Integer, Float) | (Float, Integer) => Float,
        (Integer, CommaFloat) | (CommaFloat, Integer) => CommaFloat,
        (Date, Timestamp) | (Timestamp, Date) => Timestamp,
        _ => Text,
    }
}

/// Infers names and types from the header and up to `sample_rows` rows.
pub fn infer_csv_schema(
    input: impl Read,
    delimiter: u8,
    sample_rows: usize,
) -> Result<Vec<InferredColumn>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| format!("reading the header: {e}"))?
        .clone();
    let mut guesses = vec![Guess::Empty; headers.len()];
    for (i, record) in reader.records().take(sample_rows).enumerate() {
        let record = record.map_err(|e| format!("line {}: {}", i + 2, describe_csv_error(&e)))?;
        for (g, value) in guesses.iter_mut().zip(record.iter()) {
            *g = combine(*g, guess(value));
        }
    }
    let mut seen = std::collections::HashSet::new();
    headers
        .iter()
        .zip(guesses)
        .map(|(original, g)| {
            let name = normalize_column_name(original);
            if !seen.insert(name.clone()) {
                return Err(format!(
                    "two columns are both named {name} after normalising the header"
                ));
            }
            let data_type = match g {
                Guess::Boolean => DataType::Boolean,
                Guess::Integer => DataType::Int64,
                Guess::Float | Guess::CommaFloat => DataType::Float64,
                Guess::Date | Guess::BrDate => DataType::Date32,
                Guess::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
                Guess::Empty | Guess::Text => DataType::Utf8,
            };
            Ok(InferredColumn {
                name,
                original: original.to_owned(),
                data_type,
            })
        })
        .collect()
}

/// Drafts contract columns and parse options from delivered text: names
/// normalised, types guessed from the sample (codes with leading zeros stay
/// text), decimal commas and `DD/MM/YYYY` dates recognised. Every column is
/// nullable; the steward tightens the draft.
pub fn infer_columns(
    columns: &[(String, Vec<Option<&str>>)],
) -> (Vec<crate::ColumnSpec>, crate::ParseOptions) {
    let parse = crate::ParseOptions::default();
    let mut comma = false;
    let specs = columns
        .iter()
        .map(|(original, values)| {
            let g = values
                .iter()
                .flatten()
                .filter(|v| !parse.null_values.iter().any(|n| n == v.trim()))
                .fold(Guess::Empty, |g, v| combine(g, guess(v)));
            comma |= g == Guess::CommaFloat;
            let data_type = match g {
                Guess::Boolean => "boolean",
                Guess::Integer => "integer",
                Guess::Float | Guess::CommaFloat => "float",
                Guess::Date | Guess::BrDate => "date",
                Guess::Timestamp => "timestamp",
                Guess::Empty | Guess::Text => "string",
            };
            let name = normalize_column_name(original);
            crate::ColumnSpec {
                source: (name != *original).then(|| original.clone()),
                ..crate::ColumnSpec::new(&name, data_type)
            }
        })
        .collect();
    let parse = if comma {
        crate::ParseOptions {
            decimal: ",".into(),
            ..parse
        }
    } else {
        parse
    };
    (specs, parse)
}

/// CSV errors without the offending values (they may be personal data).
fn describe_csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => {
            "is not valid UTF-8 (Latin-1 files are handled by the contract's encoding option)"
                .into()
        }
        _ => "cannot be parsed as CSV".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_with_leading_zeros_stay_text() {
        let csv = "Código Município,cpf,idade,valor,data,obs\n260545,01234567890,34,12.5,2024-01-31,\n260010,12345678901,7,3,2024-02-01,x\n";
        let cols = infer_csv_schema(csv.as_bytes(), b',', 100).unwrap();
        let types: Vec<(&str, &DataType)> = cols
            .iter()
            .map(|c| (c.name.as_str(), &c.data_type))
            .collect();
        assert_eq!(
            types,
            vec![
                ("codigo_municipio", &DataType::Int64),
                ("cpf", &DataType::Utf8),
                ("idade", &DataType::Int64),
                ("valor", &DataType::Float64),
                ("data", &DataType::Date32),
                ("obs", &DataType::Utf8),
            ]
        );
    }

    #[test]
    fn a_ragged_line_is_named() {
        let err = infer_csv_schema("a,b\n1,2\n3\n".as_bytes(), b',', 100).unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn drafts_brazilian_columns() {
        let cols = vec![
            (
                "Valor Pago".to_string(),
                vec![Some("14,16"), Some("3"), Some("--")],
            ),
            ("DTOBITO".to_string(), vec![Some("31/12/2023"), None]),
            (
                "CODMUNRES".to_string(),
                vec![Some("120040"), Some("012345")],
            ),
        ];
        let (specs, parse) = infer_columns(&cols);
        let got: Vec<(&str, &str, Option<&str>)> = specs
            .iter()
            .map(|c| (c.name.as_str(), c.data_type.as_str(), c.source.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("valor_pago", "float", Some("Valor Pago")),
                ("dtobito", "date", Some("DTOBITO")),
                ("codmunres", "string", Some("CODMUNRES")),
            ]
        );
        assert_eq!(parse.decimal, ",");
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(sniff_delimiter("a;b;c"), b';');
        assert_eq!(sniff_delimiter("a,b"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
    }
}
