//! `COPY (SELECT ...) TO STDOUT` and `COPY table TO STDOUT`: an export of
//! a governed query's rows in PostgreSQL's text or CSV format (what
//! psql's `\copy`, `psycopg`'s `cursor.copy()` and ETL tools use). The
//! query runs through the governed path like any other; its audit entry
//! says the rows were exported, and in which format. The port only
//! reads: `COPY ... FROM` and `COPY ... TO 'file'` are refused.

use crate::encode::{formatters, text_options, text_value};
use arrow::array::RecordBatch;
use pgwire::error::PgWireResult;

/// What `COPY ... TO STDOUT` writes, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// The query whose rows are exported.
    pub query: String,
    pub format: CopyFormat,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's text format: tab-separated, `\N` for NULL, backslash
    /// escapes.
    Text { delimiter: char, null: String },
    Csv {
        delimiter: char,
        quote: char,
        escape: char,
        null: String,
        header: bool,
    },
}

impl CopyFormat {
    /// The format's name, for the audit trail.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            CopyFormat::Text { .. } => "text",
            CopyFormat::Csv { .. } => "csv",
        }
    }
}

/// Why a COPY is not taken: the SQLSTATE and the message.
pub(crate) type Refusal = (&'static str, String);

/// The `COPY` statement `sql` is, if it is one.
pub(crate) fn command(sql: &str) -> Option<Result<Copy, Refusal>> {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    let rest = strip_word(sql, "COPY")?;
    Some(parse(rest))
}

fn parse(text: &str) -> Result<Copy, Refusal> {
    let syntax = |m: &str| ("42601", m.to_owned());
    let text = text.trim_start();
    let (query, rest) = if text.starts_with('(') {
        let end =
            closing_paren(text).ok_or_else(|| syntax("COPY (query): unbalanced parentheses"))?;
        (text[1..end].trim().to_owned(), &text[end + 1..])
    } else {
        // A table, and perhaps a list of its columns.
        let end = text
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(text.len());
        let table = &text[..end];
        if table.is_empty() {
            return Err(syntax("COPY needs a table or a (query)"));
        }
        let mut rest = text[end..].trim_start();
        let mut columns = "*".to_owned();
        if rest.starts_with('(') {
            let close = closing_paren(rest)
                .ok_or_else(|| syntax("COPY table (columns): unbalanced parentheses"))?;
            columns = rest[1..close].trim().to_owned();
            rest = &rest[close + 1..];
        }
        (format!("SELECT {columns} FROM {table}"), rest)
    };
    let rest = rest.trim_start();
    if strip_word(rest, "FROM").is_some() {
        return Err((
            "42501",
            "the PostgreSQL port only reads: COPY ... FROM is refused".into(),
        ));
    }
    let rest = strip_word(rest, "TO").ok_or_else(|| syntax("COPY ... TO STDOUT expected"))?;
    let Some(options) = strip_word(rest, "STDOUT") else {
        return Err((
            "42501",
            "COPY writes only to the client here: use COPY ... TO STDOUT (psql: \\copy)".into(),
        ));
    };
    let options = strip_word(options, "WITH").unwrap_or(options).trim();
    let format = if options.starts_with('(') {
        let close =
            closing_paren(options).ok_or_else(|| syntax("COPY options: unbalanced parentheses"))?;
        if !options[close + 1..].trim().is_empty() {
            return Err(syntax("unexpected text after COPY's options"));
        }
        listed_options(&options[1..close])?
    } else {
        legacy_options(options)?
    };
    if query.is_empty() {
        return Err(syntax("COPY (query) needs a query"));
    }
    Ok(Copy { query, format })
}

/// Options as `(FORMAT csv, HEADER, DELIMITER ';', NULL '')`.
fn listed_options(list: &str) -> Result<CopyFormat, Refusal> {
    let mut settings = Settings::default();
    for option in split_options(list) {
        let option = option.trim();
        if option.is_empty() {
            continue;
        }
        let (name, value) = match option.split_once(char::is_whitespace) {
            Some((n, v)) => (n, Some(v.trim())),
            None => (option, None),
        };
        settings.set(&name.to_ascii_lowercase(), value)?;
    }
    settings.format()
}

/// The options of PostgreSQL before 9.0 (`WITH CSV HEADER DELIMITER ';'`),
/// which psql's `\copy` and older tools still write.
fn legacy_options(text: &str) -> Result<CopyFormat, Refusal> {
    let mut settings = Settings::default();
    let words = words(text);
    let mut i = 0;
    while i < words.len() {
        let word = words[i].to_ascii_lowercase();
        let takes_value = matches!(word.as_str(), "delimiter" | "null" | "quote" | "escape");
        if takes_value {
            i += 1;
            if words.get(i).is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
                i += 1;
            }
            let value = words
                .get(i)
                .ok_or_else(|| ("42601", format!("COPY: {word} needs a value")))?;
            settings.set(&word, Some(value))?;
        } else if word == "csv" || word == "binary" {
            settings.set("format", Some(&word))?;
        } else {
            settings.set(&word, None)?;
        }
        i += 1;
    }
    settings.format()
}

#[derive(Default)]
struct Settings {
    csv: bool,
    header: bool,
    delimiter: Option<char>,
    null: Option<String>,
    quote: Option<char>,
    escape: Option<char>,
}

impl Settings {
    fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), Refusal> {
        let text = |v: Option<&str>| -> Result<String, Refusal> {
            let v = v.ok_or_else(|| ("42601", format!("COPY option {name} needs a value")))?;
            Ok(unquote(v))
        };
        let one_char = |v: Option<&str>| -> Result<char, Refusal> {
            let v = text(v)?;
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => Ok(c),
                _ => Err((
                    "22023",
                    format!("COPY {name} must be a single one-byte character"),
                )),
            }
        };
        match name {
            "format" => match text(value)?.to_ascii_lowercase().as_str() {
                "csv" => self.csv = true,
                "text" => self.csv = false,
                "binary" => {
                    return Err((
                        "0A000",
                        "COPY's binary format is not available here: use text or csv".into(),
                    ));
                }
                other => return Err(("22023", format!("COPY format \"{other}\" not recognized"))),
            },
            "header" => {
                self.header = match value.map(|v| unquote(v).to_ascii_lowercase()) {
                    None => true,
                    Some(v) if ["true", "on", "1"].contains(&v.as_str()) => true,
                    Some(v) if ["false", "off", "0"].contains(&v.as_str()) => false,
                    Some(v) => {
                        return Err(("22023", format!("COPY header \"{v}\" is not a boolean")));
                    }
                }
            }
            "delimiter" => self.delimiter = Some(one_char(value)?),
            "null" => self.null = Some(text(value)?),
            "quote" => self.quote = Some(one_char(value)?),
            "escape" => self.escape = Some(one_char(value)?),
            "encoding" => {
                let e = text(value)?.to_ascii_lowercase().replace(['-', '_'], "");
                if e != "utf8" {
                    return Err(("0A000", "COPY writes UTF8 only".into()));
                }
            }
            other => return Err(("42601", format!("COPY option \"{other}\" not recognized"))),
        }
        Ok(())
    }

    fn format(self) -> Result<CopyFormat, Refusal> {
        if !self.csv {
            if self.header || self.quote.is_some() || self.escape.is_some() {
                return Err((
                    "0A000",
                    "COPY HEADER, QUOTE and ESCAPE are available only in CSV mode".into(),
                ));
            }
            return Ok(CopyFormat::Text {
                delimiter: self.delimiter.unwrap_or('\t'),
                null: self.null.unwrap_or_else(|| "\\N".into()),
            });
        }
        let quote = self.quote.unwrap_or('"');
        Ok(CopyFormat::Csv {
            delimiter: self.delimiter.unwrap_or(','),
            quote,
            escape: self.escape.unwrap_or(quote),
            null: self.null.unwrap_or_default(),
            header: self.header,
        })
    }
}

/// The lines of the export: one per row (the CSV header goes with the
/// first, so that the client's row count is the rows').
pub(crate) fn lines(
    format: &CopyFormat,
    names: &[String],
    batches: &[RecordBatch],
) -> PgWireResult<Vec<Vec<u8>>> {
    let options = text_options();
    let mut out = Vec::new();
    let mut header = match format {
        CopyFormat::Csv { header: true, .. } => {
            let cells: Vec<Option<String>> = names.iter().cloned().map(Some).collect();
            Some(line(format, &cells))
        }
        _ => None,
    };
    for batch in batches {
        let formatters = formatters(batch, &options)?;
        for row in 0..batch.num_rows() {
            let cells: Vec<Option<String>> = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(c, f)| text_value(c.as_ref(), row, f))
                .collect();
            let mut bytes = header.take().unwrap_or_default();
            bytes.extend(line(format, &cells));
            out.push(bytes);
        }
    }
    if let Some(h) = header {
        out.push(h);
    }
    Ok(out)
}

fn line(format: &CopyFormat, cells: &[Option<String>]) -> Vec<u8> {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        match format {
            CopyFormat::Text { delimiter, null } => {
                if i > 0 {
                    out.push(*delimiter);
                }
                match cell {
                    None => out.push_str(null),
                    Some(v) => {
                        for c in v.chars() {
                            match c {
                                '\\' => out.push_str("\\\\"),
                                '\n' => out.push_str("\\n"),
                                '\r' => out.push_str("\\r"),
                                '\t' => out.push_str("\\t"),
                                c if c == *delimiter => {
                                    out.push('\\');
                                    out.push(c);
                                }
                                c => out.push(c),
                            }
                        }
                    }
                }
            }
            CopyFormat::Csv {
                delimiter,
                quote,
                escape,
                null,
                ..
            } => {
                if i > 0 {
                    out.push(*delimiter);
                }
                match cell {
                    None => out.push_str(null),
                    Some(v) => {
                        let quoted = v.is_empty() && null.is_empty()
                            || v == null
                            || v.contains([*delimiter, *quote, '\n', '\r'])
                            || v.starts_with("\\.");
                        if quoted {
                            out.push(*quote);
                            for c in v.chars() {
                                if c == *quote || c == *escape {
                                    out.push(*escape);
                                }
                                out.push(c);
                            }
                            out.push(*quote);
                        } else {
                            out.push_str(v);
                        }
                    }
                }
            }
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// `text` without a leading `word` (any case) and the space after it.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let text = text.trim_start();
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word)
        && (rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == '(')))
    .then_some(rest)
}

/// Where the parenthesis opening `text` closes, past quotes and nesting.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

/// Options separated by commas outside quotes.
fn split_options(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in list.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// Words separated by spaces, a quoted string (`'; '`) being one.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let end = if rest.starts_with('\'') {
            let mut end = rest.len();
            let mut chars = rest.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                    } else {
                        end = i + 1;
                        break;
                    }
                }
            }
            end
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    out
}

/// A quoted option value (`';'`, `E'\\t'` with its escapes), or a bare word.
fn unquote(value: &str) -> String {
    let v = value.trim();
    let (escaped, v) = match v.strip_prefix(['E', 'e']) {
        Some(rest) if rest.starts_with('\'') => (true, rest),
        _ => (false, v),
    };
    let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) else {
        return v.to_owned();
    };
    let inner = inner.replace("''", "'");
    if !escaped {
        return inner;
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn csv(header: bool) -> CopyFormat {
        CopyFormat::Csv {
            delimiter: ',',
            quote: '"',
            escape: '"',
            null: String::new(),
            header,
        }
    }

    #[test]
    fn copy_statements_are_read_as_clients_write_them() {
        assert_eq!(
            command(
                "COPY (SELECT a, ')' FROM t WHERE (b > 1)) TO STDOUT WITH (FORMAT csv, HEADER)"
            ),
            Some(Ok(Copy {
                query: "SELECT a, ')' FROM t WHERE (b > 1)".into(),
                format: csv(true),
            }))
        );
        // psql's \copy, and PostgreSQL 8's options.
        assert_eq!(
            command(
                "copy obitos (municipio, ano) to stdout with csv header delimiter as ';' null 'NA';"
            ),
            Some(Ok(Copy {
                query: "SELECT municipio, ano FROM obitos".into(),
                format: CopyFormat::Csv {
                    delimiter: ';',
                    quote: '"',
                    escape: '"',
                    null: "NA".into(),
                    header: true,
                },
            }))
        );
        assert_eq!(
            command("COPY populacao TO STDOUT"),
            Some(Ok(Copy {
                query: "SELECT * FROM populacao".into(),
                format: CopyFormat::Text {
                    delimiter: '\t',
                    null: "\\N".into(),
                },
            }))
        );
        let refused = |sql: &str| command(sql).and_then(Result::err).map(|(code, _)| code);
        assert_eq!(refused("COPY t FROM STDIN"), Some("42501"));
        assert_eq!(refused("COPY t TO '/etc/passwd'"), Some("42501"));
        assert_eq!(refused("COPY t TO PROGRAM 'rm -rf /'"), Some("42501"));
        assert_eq!(
            refused("COPY (SELECT 1) TO STDOUT (FORMAT binary)"),
            Some("0A000")
        );
        assert_eq!(
            refused("COPY (SELECT 1) TO STDOUT (FORMAT xml)"),
            Some("22023")
        );
        assert_eq!(refused("COPY (SELECT 1 TO STDOUT"), Some("42601"));
        assert_eq!(refused("COPY (SELECT 1) TO STDOUT (HEADER)"), Some("0A000"));
        assert_eq!(
            refused("COPY (SELECT 1) TO STDOUT (DELIMITER '||', FORMAT csv)"),
            Some("22023")
        );
        assert_eq!(
            refused("COPY (SELECT 1) TO STDOUT (COMPRESSION gzip)"),
            Some("42601")
        );
        assert_eq!(
            command(r"COPY t TO STDOUT (DELIMITER E'\t', NULL E'\\N')"),
            Some(Ok(Copy {
                query: "SELECT * FROM t".into(),
                format: CopyFormat::Text {
                    delimiter: '\t',
                    null: "\\N".into(),
                },
            }))
        );
        assert_eq!(command("SELECT 1"), None);
        assert_eq!(command("COPYRIGHT"), None);
    }

    #[test]
    fn values_are_escaped_as_postgresql_writes_them() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("texto", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![
                    Some("São Paulo, SP"),
                    Some("a\tb\\c\nd"),
                    Some(""),
                ])),
            ],
        )
        .unwrap();
        let names = ["n".to_owned(), "texto".to_owned()];
        let text = |format: &CopyFormat| -> Vec<String> {
            lines(format, &names, std::slice::from_ref(&batch))
                .unwrap()
                .into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        };
        assert_eq!(
            text(&csv(true)),
            vec![
                "n,texto\n1,\"São Paulo, SP\"\n".to_owned(),
                ",\"a\tb\\c\nd\"\n".to_owned(),
                "3,\"\"\n".to_owned(),
            ]
        );
        assert_eq!(
            text(&CopyFormat::Text {
                delimiter: '\t',
                null: "\\N".into()
            }),
            vec![
                "1\tSão Paulo, SP\n".to_owned(),
                "\\N\ta\\tb\\\\c\\nd\n".to_owned(),
                "3\t\n".to_owned(),
            ]
        );
        // A header with no rows still goes out.
        assert_eq!(
            lines(&csv(true), &names, &[]).unwrap(),
            vec![b"n,texto\n".to_vec()]
        );
    }
}
