//! Server-side cursors (`DECLARE ... CURSOR FOR`, `FETCH`, `MOVE`,
//! `CLOSE`), as psycopg's named cursors, `pandas.read_sql(chunksize=)`
//! and JDBC tools page through a large answer.
//!
//! A cursor's query starts when it is declared, through the governed path
//! under the same guard and policy as any other statement, and then runs
//! as the client fetches (`lagoa_sql::streamed`: `query.cursor_*` limits,
//! an audit entry when it opens and one when it closes). `FETCH` hands its
//! rows out page by page, in the format the fetching statement asks for
//! (text, or binary for a `BINARY` cursor or a client that binds binary
//! results), each batch encoded as the client reads. Cursors only move
//! forward; one without `WITH HOLD` closes when its transaction ends, as
//! in PostgreSQL.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::Stream;
use lagoa_sql::QueryError;
use lagoa_sql::streamed::Streamed;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Weak};
use tokio::sync::Mutex;

/// Most cursors one connection may hold open at once: each holds a place
/// among the server's running queries until it is closed.
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

/// An open cursor: its query's rows, handed out from the front as they
/// come (`lagoa_sql::streamed`).
pub(crate) struct Cursor {
    rows: Streamed,
    /// Rows taken out of `rows` and not handed out yet: the rest of a
    /// batch a `FETCH` took part of.
    pending: VecDeque<RecordBatch>,
    /// Its query ended with an error, which a `FETCH` already said.
    pub failed: bool,
}

impl Cursor {
    /// The next batch of at most `wanted` rows; `None` after the last.
    pub(crate) async fn next_page(
        &mut self,
        wanted: usize,
    ) -> Option<Result<RecordBatch, QueryError>> {
        let batch = match self.pending.pop_front() {
            // Rows read ahead, unless the query has failed since.
            Some(batch) => match self.rows.fetching() {
                None => batch,
                Some(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            },
            // `next` says a failure itself.
            None => match self.rows.next().await? {
                Ok(batch) => batch,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            },
        };
        if batch.num_rows() <= wanted {
            return Some(Ok(batch));
        }
        self.pending
            .push_front(batch.slice(wanted, batch.num_rows() - wanted));
        Some(Ok(batch.slice(0, wanted)))
    }

    /// Rows ready to hand out, reading ahead until there are at least
    /// `at_least` or the query has no more (kept, in order, for the next
    /// fetch).
    async fn available(&mut self, at_least: usize) -> Result<usize, QueryError> {
        let mut ready: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
        while ready < at_least {
            match self.rows.next().await {
                Some(Ok(batch)) => {
                    ready += batch.num_rows();
                    self.pending.push_back(batch);
                }
                Some(Err(e)) => {
                    self.failed = true;
                    return Err(e);
                }
                None => break,
            }
        }
        Ok(ready)
    }

    /// Skips up to `count` rows (`MOVE`); how many it skipped.
    pub(crate) async fn skip(&mut self, count: Count) -> Result<usize, QueryError> {
        let mut left = wanted(count);
        let mut moved = 0;
        while left > 0 {
            let Some(page) = self.next_page(left).await else {
                break;
            };
            let n = page?.num_rows();
            (moved, left) = (moved + n, left - n);
        }
        Ok(moved)
    }
}

/// Rows a `FETCH` or `MOVE` asks for.
fn wanted(count: Count) -> usize {
    match count {
        Count::All => usize::MAX,
        Count::Rows(n) => n,
    }
}

/// The next `count` rows of `cursor`, page by page as the client reads
/// them (the cursor locked for one page at a time: a response a client
/// leaves half-read holds nothing). One `FETCH` hands out at most `limit`
/// rows: clients that page (`FETCH n`, psycopg's `itersize`, pandas'
/// `chunksize`) never meet it; a `FETCH` asking for more is answered only
/// when no more than `limit` are left (read ahead to know), else refused
/// with nothing taken, since the PostgreSQL protocol's extended form
/// gathers a statement's rows before it sends them. A cursor closed
/// meanwhile ends the pages.
pub(crate) fn pages(
    cursor: Weak<Mutex<Cursor>>,
    count: Count,
    limit: usize,
) -> impl Stream<Item = PgWireResult<RecordBatch>> + Send {
    futures::stream::unfold(
        (cursor, wanted(count).min(limit.saturating_add(1)), true),
        move |(cursor, left, first)| async move {
            if left == 0 {
                return None;
            }
            let shared = cursor.upgrade()?;
            let mut open = shared.lock().await;
            if first && left > limit {
                match open.available(left).await {
                    Ok(ready) if ready > limit => {
                        return Some((Err(too_many(limit)), (cursor, 0, false)));
                    }
                    Ok(_) => {}
                    Err(e) => return Some((Err(user_error(&e)), (cursor, 0, false))),
                }
            }
            match open.next_page(left.min(limit)).await? {
                Ok(batch) => {
                    let n = batch.num_rows();
                    open.rows.handed_out(n);
                    Some((Ok(batch), (cursor, left - n, false)))
                }
                Err(e) => Some((Err(user_error(&e)), (cursor, 0, false))),
            }
        },
    )
}

fn user_error(e: &QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(crate::encode::error_info(e)))
}

fn too_many(limit: usize) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "54000".into(),
        format!(
            "one FETCH hands out at most {limit} rows (query.max_rows) and more are left: \
             fetch in pages (FETCH {limit} FROM ...); nothing was taken from the cursor"
        ),
    )))
}

/// An open cursor and what a `FETCH` needs to know before it locks it.
#[derive(Clone)]
pub(crate) struct Open {
    pub schema: SchemaRef,
    pub binary: bool,
    pub hold: bool,
    pub cursor: Arc<Mutex<Cursor>>,
}

/// A connection's open cursors, by name.
#[derive(Default)]
pub(crate) struct Cursors(BTreeMap<String, Open>);

impl Cursors {
    /// Opens a cursor on `rows` (its columns named `schema`) as the
    /// declaration says; refused when the name is taken or too many are
    /// open (its query is then stopped).
    pub(crate) fn open(
        &mut self,
        declared: &Declare,
        schema: SchemaRef,
        rows: Streamed,
    ) -> Result<(), (&'static str, String)> {
        let name = &declared.name;
        self.admits(name)?;
        let cursor = Cursor {
            rows,
            pending: VecDeque::new(),
            failed: false,
        };
        self.0.insert(
            name.clone(),
            Open {
                schema,
                binary: declared.binary,
                hold: declared.hold,
                cursor: Arc::new(Mutex::new(cursor)),
            },
        );
        Ok(())
    }

    /// Whether a cursor named `name` may open (checked before its query
    /// starts, and again when it opens).
    pub(crate) fn admits(&self, name: &str) -> Result<(), (&'static str, String)> {
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
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Option<Open> {
        self.0.get(name).cloned()
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

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
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

    #[tokio::test]
    async fn a_cursor_hands_out_its_rows_in_order_across_batches() {
        use futures::StreamExt;
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
        let rows = |batches| Streamed::of_batches(schema.clone(), batches);
        let mut open = Cursors::default();
        open.open(
            &declared,
            schema.clone(),
            rows(vec![batch(0, 5), batch(5, 12), batch(12, 20)]),
        )
        .unwrap();
        let cursor = open.get("c").unwrap().cursor;
        async fn values(pages: impl futures::Stream<Item = PgWireResult<RecordBatch>>) -> Vec<i64> {
            pages
                .map(|b| {
                    b.unwrap()
                        .column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .concat()
                .await
        }
        let weak = Arc::downgrade(&cursor);
        let fetch = |count| pages(weak.clone(), count, 100);
        assert_eq!(values(fetch(Count::Rows(3))).await, [0, 1, 2]);
        assert_eq!(values(fetch(Count::Rows(4))).await, [3, 4, 5, 6]);
        assert_eq!(cursor.lock().await.skip(Count::Rows(2)).await.unwrap(), 2);
        // One FETCH gives at most its limit; the rows beyond stay for the next.
        let limited: Vec<_> = pages(weak.clone(), Count::All, 4).collect().await;
        match &limited[..] {
            [Err(PgWireError::UserError(e))] => assert_eq!(e.code, "54000"),
            other => panic!("refused with nothing taken: {other:?}"),
        }
        assert_eq!(
            values(pages(weak.clone(), Count::Rows(3), 4)).await,
            [9, 10, 11]
        );
        // Eight left: within a limit of 8, FETCH ALL answers.
        assert_eq!(
            values(pages(weak.clone(), Count::All, 8)).await,
            (12..20).collect::<Vec<_>>()
        );
        assert!(values(fetch(Count::Rows(1))).await.is_empty());
        assert_eq!(cursor.lock().await.skip(Count::All).await.unwrap(), 0);
        // Closed: a response still holding the cursor ends.
        drop(cursor);
        assert!(open.close(Some("c")));
        assert!(values(fetch(Count::All)).await.is_empty());
        open.open(&declared, schema.clone(), rows(vec![batch(0, 1)]))
            .unwrap();

        assert_eq!(
            open.open(&declared, schema.clone(), rows(vec![]))
                .unwrap_err()
                .0,
            "42P03"
        );
        let held = Declare {
            name: "h".into(),
            hold: true,
            ..declared.clone()
        };
        open.open(&held, schema.clone(), rows(vec![])).unwrap();
        open.end_transaction();
        assert_eq!(open.names(), ["h"]);
        for i in 0..MAX_OPEN - 1 {
            let other = Declare {
                name: format!("x{i}"),
                ..declared.clone()
            };
            open.open(&other, schema.clone(), rows(vec![])).unwrap();
        }
        let one_more = Declare {
            name: "y".into(),
            ..declared
        };
        assert_eq!(
            open.open(&one_more, schema.clone(), rows(vec![]))
                .unwrap_err()
                .0,
            "53400"
        );
    }
}
