//! Server-side cursors (`DECLARE ... CURSOR FOR`, `FETCH`, `MOVE`,
//! `CLOSE`), as psycopg's named cursors, `pandas.read_sql(chunksize=)`
//! and JDBC tools page through a large answer.
//!
//! A cursor's query runs once, when it is declared: through the governed
//! path, under the same guard, policy, limits (`query.max_rows`) and with
//! one audit entry, like any other statement. `FETCH` then hands its rows
//! out page by page, in the format the fetching statement asks for (text,
//! or binary for a `BINARY` cursor or a client that binds binary results).
//! Cursors only move forward; one without `WITH HOLD` closes when its
//! transaction ends, as in PostgreSQL.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use std::collections::{BTreeMap, VecDeque};

/// Most cursors one connection may hold open at once: each keeps its
/// answer in memory until it is fetched or closed.
pub(crate) const MAX_OPEN: usize = 8;

/// `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declare {
    pub name: String,
    pub binary: bool,
    pub hold: bool,
    pub query: String,
}

/// How many rows a `FETCH` or `MOVE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Rows(usize),
    All,
}

/// `FETCH [NEXT | FORWARD [n | ALL] | n | ALL] [FROM | IN] name`; `MOVE`
/// when `moving` (the rows are skipped, not sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    pub name: String,
    pub count: Count,
    pub moving: bool,
}

/// A cursor statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Declare(Declare),
    Fetch(Fetch),
    /// `CLOSE name`; `None` for `CLOSE ALL`.
    Close(Option<String>),
}

/// The cursor statement `sql` is, if it is one; `Err` (with what is
/// wrong) for one this server does not take.
pub(crate) fn command(sql: &str) -> Option<Result<Command, Refusal>> {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    let (first, rest) = next_word(sql)?;
    match first.to_ascii_uppercase().as_str() {
        "DECLARE" => Some(declare(rest).map(Command::Declare)),
        "FETCH" => Some(fetch(rest, false).map(Command::Fetch)),
        "MOVE" => Some(fetch(rest, true).map(Command::Fetch)),
        "CLOSE" => Some(match next_word(rest) {
            Some((w, tail)) if w.eq_ignore_ascii_case("ALL") && tail.trim().is_empty() => {
                Ok(Command::Close(None))
            }
            Some(_) => identifier(rest).and_then(|(name, tail)| {
                if tail.trim().is_empty() {
                    Ok(Command::Close(Some(name)))
                } else {
                    Err(format!(
                        "unexpected \"{}\" after the cursor's name",
                        tail.trim()
                    ))
                }
            }),
            None => Err("CLOSE needs a cursor's name or ALL".into()),
        }),
        _ => None,
    }
    .map(|parsed| {
        parsed.map_err(|m| {
            // What PostgreSQL has and this server does not is told apart
            // from what is not SQL at all.
            let code = if m.contains(FORWARD_ONLY) {
                "0A000"
            } else {
                "42601"
            };
            (code, m)
        })
    })
}

/// Why a cursor statement is not taken: the SQLSTATE and the message.
pub(crate) type Refusal = (&'static str, String);

const FORWARD_ONLY: &str = "cursors here only move forward";

fn declare(text: &str) -> Result<Declare, String> {
    let (name, mut rest) = identifier(text)?;
    let (mut binary, mut hold) = (false, false);
    loop {
        let (word, tail) = next_word(rest).ok_or("DECLARE needs CURSOR FOR and a query")?;
        match word.to_ascii_uppercase().as_str() {
            "BINARY" => binary = true,
            "ASENSITIVE" | "INSENSITIVE" => {}
            "NO" => {
                let (s, after) = next_word(tail).ok_or("NO SCROLL")?;
                if !s.eq_ignore_ascii_case("SCROLL") {
                    return Err(format!("unexpected \"{s}\" after NO"));
                }
                rest = after;
                continue;
            }
            "SCROLL" => {
                return Err(format!("{FORWARD_ONLY}: declare it NO SCROLL"));
            }
            "CURSOR" => {}
            "WITH" | "WITHOUT" => {
                let (h, _) = next_word(tail).ok_or("WITH HOLD or WITHOUT HOLD")?;
                if !h.eq_ignore_ascii_case("HOLD") {
                    return Err(format!("unexpected \"{h}\" after {word}"));
                }
                hold = word.eq_ignore_ascii_case("WITH");
                rest = next_word(tail).map_or("", |(_, t)| t);
                continue;
            }
            "FOR" => {
                let query = tail.trim();
                if query.is_empty() {
                    return Err("DECLARE ... FOR needs a query".into());
                }
                return Ok(Declare {
                    name,
                    binary,
                    hold,
                    query: query.to_owned(),
                });
            }
            other => return Err(format!("unexpected \"{other}\" in DECLARE")),
        }
        rest = tail;
    }
}

fn fetch(text: &str, moving: bool) -> Result<Fetch, String> {
    let mut rest = text;
    let mut count = Count::Rows(1);
    if let Some((word, tail)) = next_word(rest) {
        let upper = word.to_ascii_uppercase();
        match upper.as_str() {
            "NEXT" => rest = tail,
            "ALL" => {
                count = Count::All;
                rest = tail;
            }
            "FORWARD" => {
                rest = tail;
                if let Some((n, tail)) = next_word(rest) {
                    if n.eq_ignore_ascii_case("ALL") {
                        count = Count::All;
                        rest = tail;
                    } else if let Ok(n) = n.parse::<usize>() {
                        count = Count::Rows(n);
                        rest = tail;
                    }
                }
            }
            "PRIOR" | "FIRST" | "LAST" | "ABSOLUTE" | "RELATIVE" | "BACKWARD" => {
                return Err(format!("{FORWARD_ONLY}: FETCH {upper} is not available"));
            }
            _ => {
                if let Ok(n) = word.parse::<usize>() {
                    count = Count::Rows(n);
                    rest = tail;
                } else if word.starts_with('-') {
                    return Err(FORWARD_ONLY.into());
                }
            }
        }
    }
    if let Some((word, tail)) = next_word(rest)
        && (word.eq_ignore_ascii_case("FROM") || word.eq_ignore_ascii_case("IN"))
    {
        rest = tail;
    }
    let (name, tail) = identifier(rest)?;
    if !tail.trim().is_empty() {
        return Err(format!(
            "unexpected \"{}\" after the cursor's name",
            tail.trim()
        ));
    }
    Ok(Fetch {
        name,
        count,
        moving,
    })
}

/// The next whitespace-separated word and what follows it.
fn next_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    Some((&text[..end], &text[end..]))
}

/// An identifier (`c1`, folded to lowercase, or `"Quoted ""name"""`) and
/// what follows it.
fn identifier(text: &str) -> Result<(String, &str), String> {
    let text = text.trim_start();
    if let Some(quoted) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if quoted[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    return Ok((name, &quoted[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        return Err("a quoted cursor name without its closing quote".into());
    }
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(text.len());
    if end == 0 {
        return Err("a cursor's name was expected".into());
    }
    Ok((text[..end].to_lowercase(), &text[end..]))
}

/// An open cursor: its query's answer, handed out from the front.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub schema: SchemaRef,
    pub binary: bool,
    pub hold: bool,
    batches: VecDeque<RecordBatch>,
}

impl Cursor {
    pub(crate) fn new(schema: SchemaRef, batches: Vec<RecordBatch>, declared: &Declare) -> Self {
        Cursor {
            schema,
            binary: declared.binary,
            hold: declared.hold,
            batches: batches.into_iter().filter(|b| b.num_rows() > 0).collect(),
        }
    }

    /// The next `count` rows (fewer at the end), taken out of the cursor.
    pub(crate) fn take(&mut self, count: Count) -> Vec<RecordBatch> {
        let mut wanted = match count {
            Count::All => usize::MAX,
            Count::Rows(n) => n,
        };
        let mut taken = Vec::new();
        while wanted > 0 {
            let Some(batch) = self.batches.pop_front() else {
                break;
            };
            if batch.num_rows() <= wanted {
                wanted -= batch.num_rows();
                taken.push(batch);
            } else {
                taken.push(batch.slice(0, wanted));
                self.batches
                    .push_front(batch.slice(wanted, batch.num_rows() - wanted));
                wanted = 0;
            }
        }
        taken
    }
}

/// A connection's open cursors, by name.
#[derive(Debug, Default)]
pub(crate) struct Cursors(BTreeMap<String, Cursor>);

impl Cursors {
    /// Opens `cursor` as `name`; refused when the name is taken or too
    /// many are open.
    pub(crate) fn open(
        &mut self,
        name: &str,
        cursor: Cursor,
    ) -> Result<(), (&'static str, String)> {
        if self.0.contains_key(name) {
            return Err(("42P03", format!("cursor \"{name}\" already exists")));
        }
        if self.0.len() >= MAX_OPEN {
            return Err((
                "53400",
                format!(
                    "at most {MAX_OPEN} cursors may be open on one connection: close one first"
                ),
            ));
        }
        self.0.insert(name.to_owned(), cursor);
        Ok(())
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Cursor> {
        self.0.get_mut(name)
    }

    /// An open cursor's columns and whether it is binary.
    pub(crate) fn shape(&self, name: &str) -> Option<(SchemaRef, bool)> {
        self.0.get(name).map(|c| (c.schema.clone(), c.binary))
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// Closes `name` (`None`: every cursor); false when there was none of that name.
    pub(crate) fn close(&mut self, name: Option<&str>) -> bool {
        match name {
            Some(n) => self.0.remove(n).is_some(),
            None => {
                self.0.clear();
                true
            }
        }
    }

    /// The transaction ended: cursors declared without `WITH HOLD` close.
    pub(crate) fn end_transaction(&mut self) {
        self.0.retain(|_, c| c.hold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    #[test]
    fn cursor_statements_are_read_as_clients_write_them() {
        assert_eq!(
            command(r#"DECLARE "_pg3_1" NO SCROLL CURSOR WITH HOLD FOR SELECT 1"#),
            Some(Ok(Command::Declare(Declare {
                name: "_pg3_1".into(),
                binary: false,
                hold: true,
                query: "SELECT 1".into(),
            })))
        );
        assert_eq!(
            command("declare C1 binary cursor without hold for select a from t where b = $1;"),
            Some(Ok(Command::Declare(Declare {
                name: "c1".into(),
                binary: true,
                hold: false,
                query: "select a from t where b = $1".into(),
            })))
        );
        assert_eq!(
            command(r#"FETCH FORWARD 2000 FROM "c ""x""""#),
            Some(Ok(Command::Fetch(Fetch {
                name: "c \"x\"".into(),
                count: Count::Rows(2000),
                moving: false,
            })))
        );
        assert_eq!(
            command("fetch all in c1"),
            Some(Ok(Command::Fetch(Fetch {
                name: "c1".into(),
                count: Count::All,
                moving: false,
            })))
        );
        assert_eq!(
            command("FETCH c1"),
            Some(Ok(Command::Fetch(Fetch {
                name: "c1".into(),
                count: Count::Rows(1),
                moving: false,
            })))
        );
        assert_eq!(
            command("MOVE 10 c1"),
            Some(Ok(Command::Fetch(Fetch {
                name: "c1".into(),
                count: Count::Rows(10),
                moving: true,
            })))
        );
        assert_eq!(command("CLOSE ALL"), Some(Ok(Command::Close(None))));
        assert_eq!(
            command("close \"C1\""),
            Some(Ok(Command::Close(Some("C1".into()))))
        );
        let refused = |sql: &str| command(sql).and_then(Result::err).map(|(code, _)| code);
        assert_eq!(refused("FETCH PRIOR FROM c1"), Some("0A000"));
        assert_eq!(refused("FETCH -1 FROM c1"), Some("0A000"));
        assert_eq!(
            refused("DECLARE c SCROLL CURSOR FOR SELECT 1"),
            Some("0A000")
        );
        assert_eq!(refused("DECLARE c CURSOR FOR"), Some("42601"));
        assert_eq!(refused("FETCH 1 FROM c extra"), Some("42601"));
        assert_eq!(refused("CLOSE"), Some("42601"));
        assert_eq!(refused("DECLARE \"c CURSOR FOR SELECT 1"), Some("42601"));
        assert_eq!(command("SELECT 1"), None);
    }

    #[test]
    fn a_cursor_hands_out_its_rows_in_order_across_batches() {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("n", arrow::datatypes::DataType::Int64, false),
        ]));
        let batch = |from: i64, to: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(from..to))],
            )
            .unwrap()
        };
        let declared = Declare {
            name: "c".into(),
            binary: false,
            hold: false,
            query: String::new(),
        };
        let mut cursor = Cursor::new(schema.clone(), vec![batch(0, 5), batch(5, 12)], &declared);
        let values = |batches: Vec<RecordBatch>| -> Vec<i64> {
            batches
                .iter()
                .flat_map(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect()
        };
        assert_eq!(values(cursor.take(Count::Rows(3))), vec![0, 1, 2]);
        assert_eq!(values(cursor.take(Count::Rows(4))), vec![3, 4, 5, 6]);
        assert_eq!(values(cursor.take(Count::All)), vec![7, 8, 9, 10, 11]);
        assert!(cursor.take(Count::Rows(1)).is_empty());

        let mut open = Cursors::default();
        open.open("c", Cursor::new(schema.clone(), vec![], &declared))
            .unwrap();
        assert_eq!(
            open.open("c", Cursor::new(schema.clone(), vec![], &declared))
                .unwrap_err()
                .0,
            "42P03"
        );
        let held = Declare {
            hold: true,
            ..declared.clone()
        };
        open.open("h", Cursor::new(schema.clone(), vec![], &held))
            .unwrap();
        open.end_transaction();
        assert_eq!(open.names(), ["h"]);
        for i in 0..MAX_OPEN - 1 {
            open.open(
                &format!("x{i}"),
                Cursor::new(schema.clone(), vec![], &declared),
            )
            .unwrap();
        }
        assert_eq!(
            open.open("y", Cursor::new(schema, vec![], &declared))
                .unwrap_err()
                .0,
            "53400"
        );
    }
}
