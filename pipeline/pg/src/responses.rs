//! What the port sends back besides answers to local commands: result
//! sets (an answer's batches, a cursor's pages), `FETCH`, `MOVE` and
//! `CLOSE`, and errors with their SQLSTATE.

use crate::cursor::{self, Fetch};
use crate::encode::{error_info, fields, rows};
use crate::session::Session;
use arrow::array::RecordBatch;
use futures::StreamExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::error::{ErrorInfo, PgWireResult};
use std::sync::Arc;

/// `FETCH` (rows in `format`, or binary from a `BINARY` cursor; at most
/// `limit` rows) or `MOVE`.
pub(crate) async fn fetch(
    session: &Session,
    fetch: &Fetch,
    format: &Format,
    limit: usize,
) -> PgWireResult<Response> {
    let Some(open) = session.cursors().get(&fetch.name) else {
        return Ok(no_cursor(&fetch.name));
    };
    if open.cursor.lock().await.failed {
        return Ok(error_response(
            "24000",
            format!(
                "cursor \"{}\" stopped with the error reported before: close it and declare it again",
                fetch.name
            ),
        ));
    }
    if fetch.moving {
        let moved = open.cursor.lock().await.skip(fetch.count).await;
        return Ok(match moved {
            Ok(moved) => Response::Execution(Tag::new("MOVE").with_rows(moved)),
            Err(e) => Response::Error(Box::new(error_info(&e))),
        });
    }
    let format = if open.binary {
        &Format::UnifiedBinary
    } else {
        format
    };
    let pages = cursor::pages(Arc::downgrade(&open.cursor), fetch.count, limit);
    rows_response(&open.schema, pages, format, "FETCH")
}

/// `CLOSE name` or `CLOSE ALL`.
pub(crate) fn close(session: &Session, name: Option<&str>) -> Response {
    if session.cursors().close(name) {
        Response::Execution(Tag::new(if name.is_some() {
            "CLOSE CURSOR"
        } else {
            "CLOSE CURSOR ALL"
        }))
    } else {
        no_cursor(name.unwrap_or_default())
    }
}

pub(crate) fn no_cursor(name: &str) -> Response {
    error_response("34000", format!("cursor \"{name}\" does not exist"))
}

pub(crate) fn error_response(code: &str, message: String) -> Response {
    Response::Error(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// Rows of an answer as a result set, its command tag `tag`. Each batch is
/// encoded as the connection sends, so the client reads the first rows
/// while the last are encoded (measured: benches/pg_fetch.py), and a
/// cursor's next batch is computed only as the client reads.
pub(crate) fn rows_response(
    schema: &arrow::datatypes::Schema,
    batches: impl futures::Stream<Item = PgWireResult<RecordBatch>> + Send + 'static,
    format: &Format,
    tag: &str,
) -> PgWireResult<Response> {
    let fields = Arc::new(fields(schema, format)?);
    let encoding = Arc::clone(&fields);
    let rows = batches.flat_map(move |batch| {
        let encoded: Vec<PgWireResult<_>> = match batch {
            Ok(batch) => match rows(&encoding, std::slice::from_ref(&batch)) {
                Ok(rows) => rows.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            },
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(encoded)
    });
    let mut response = QueryResponse::new(fields, rows);
    response.set_command_tag(tag);
    Ok(Response::Query(response))
}
