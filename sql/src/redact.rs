//! Error messages without data in them.
//!
//! The engine's errors quote the values they choke on (`Cannot cast
//! string '25784435213' to value of Int32 type`), and those values come
//! from rows: a CPF, a name, a birth date. Any message that leaves the
//! query path — to the audit trail, a log line, an HTTP or PostgreSQL
//! error — goes through [`redact`] first: the class and structure of the
//! error stay (the operation, the types, the column), every literal goes.
//!
//! What counts as a literal: anything in single or double quotes, and
//! every number standing on its own (digits not part of a word such as
//! `Int32` or `c2`), with the separators of dates, times and decimals.
//! Parse positions (`Line: 1, Column: 8`) are kept: they point into the
//! statement, not into data.

/// The message with every quoted string and free-standing number replaced
/// by `…`.
pub fn redact(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // An apostrophe inside a word (`Can't`) opens nothing.
        let apostrophe = c == '\''
            && i.checked_sub(1).is_some_and(|p| chars[p].is_alphabetic())
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        if (c == '\'' && !apostrophe) || c == '"' {
            // A quoted literal, with doubled quotes inside it.
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => break,
                    // An escaped character (`\"` in a value written with
                    // `{:?}`, as Ballista logs errors) is inside it.
                    Some('\\') => j += 2,
                    Some(q) if *q == c => {
                        if chars.get(j + 1) == Some(&c) {
                            j += 2;
                            continue;
                        }
                        // An apostrophe between two letters is inside the
                        // value (`d'Ávila`), not its end.
                        let inside = c == '\''
                            && chars[j - 1].is_alphabetic()
                            && chars.get(j + 1).is_some_and(|n| n.is_alphabetic());
                        if inside {
                            j += 1;
                            continue;
                        }
                        break;
                    }
                    Some(_) => j += 1,
                }
            }
            out.push(c);
            out.push('…');
            if j < chars.len() {
                out.push(c);
            }
            i = j + 1;
            continue;
        }
        let starts_number = c.is_ascii_digit()
            && !i
                .checked_sub(1)
                .is_some_and(|p| chars[p].is_alphanumeric() || chars[p] == '_');
        if starts_number {
            let mut j = i;
            while j < chars.len() {
                let d = chars[j];
                let joins_digits = matches!(d, '.' | ',' | '-' | ':' | '/' | 'T' | 'e' | 'E')
                    && chars.get(j + 1).is_some_and(char::is_ascii_digit)
                    && chars[j - 1].is_ascii_digit();
                if d.is_ascii_digit() || joins_digits {
                    j += 1;
                } else {
                    break;
                }
            }
            // A number glued to letters after it is part of a word (`2nd`).
            let word = chars.get(j).is_some_and(|n| n.is_alphabetic() || *n == '_');
            if word || is_position(&out) {
                out.extend(&chars[i..j]);
            } else {
                out.push('…');
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The number about to be written is a parse position of the statement.
fn is_position(before: &str) -> bool {
    let trimmed = before.trim_end();
    trimmed.ends_with("Line:") || trimmed.ends_with("Column:")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn values_go_and_the_shape_of_the_error_stays() {
        let cases = [
            (
                "Cast error: Cannot cast string '25784435213' to value of Int32 type",
                "Cast error: Cannot cast string '…' to value of Int32 type",
            ),
            (
                "Arrow error: Cast error: Can't cast value 99999999999 to type Int32",
                "Arrow error: Cast error: Can't cast value … to type Int32",
            ),
            (
                "Error parsing timestamp from '2024-13-45': month out of range",
                "Error parsing timestamp from '…': month out of range",
            ),
            (
                "Optimizer rule failed: CAST(Utf8(\"Severina Quitéria\") AS Int32)",
                "Optimizer rule failed: CAST(Utf8(\"…\") AS Int32)",
            ),
            (
                "Divide by zero in Int64(25784435213) / Int64(0)",
                "Divide by zero in Int64(…) / Int64(…)",
            ),
            ("value 2024-01-15 and 12:30:00.5", "value … and …"),
            ("value 1.5e10, next", "value …, next"),
            ("name 'O''Brien' here", "name '…' here"),
            (
                "sql parser error: Expected: end of statement, found: 52998224725 at Line: 1, Column: 30",
                "sql parser error: Expected: end of statement, found: … at Line: 1, Column: 30",
            ),
            (
                "No field named cpf2. Valid fields are obitos.ano, t_1.x",
                "No field named cpf2. Valid fields are obitos.ano, t_1.x",
            ),
            ("unterminated 'Maria", "unterminated '…"),
            ("name 'Maria d'Ávila' here", "name '…' here"),
            (
                r#"error: DataFusionError(Plan("cannot cast \"Severina Quitéria\" to Int32"))"#,
                r#"error: DataFusionError(Plan("…"))"#,
            ),
            (
                r#"Stage 2 has failed 4 times, most recent failure reason: Some(FailedTask { error: "Cast error: Cannot cast string 'Maria d'Ávila' to value" })"#,
                r#"Stage … has failed … times, most recent failure reason: Some(FailedTask { error: "…" })"#,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(redact(raw), expected, "{raw}");
        }
    }
}
