//! `POST /api/v1/query`: one governed query (the guard, the policy, the
//! limits and the audit entry of `lagoa_sql::QueryService::run`), its
//! result encoded a batch at a time as JSON, NDJSON, CSV or Arrow IPC. A
//! client that disconnects before the answer cancels the query.
//!
//! The purpose of a query on `especial` data comes in the body
//! (`"purpose"`) or in the `Lagoa-Purpose` header (UTF-8).
//! The format comes from `?format=` or the `Accept` header.

use crate::caller::Caller;
use crate::{Api, ApiError};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct QueryBody {
    sql: String,
    #[serde(default)]
    purpose: Option<String>,
    /// A snapshot number or an RFC 3339 time: the data as it was then,
    /// under the policy in force now.
    #[serde(default)]
    as_of: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct FormatParam {
    #[serde(default)]
    format: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Ndjson,
    Csv,
    Arrow,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    fn from_name(name: &str) -> Option<Format> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "json" | "application/json" => Format::Json,
            "ndjson" | "jsonl" | "application/x-ndjson" => Format::Ndjson,
            "csv" | "text/csv" => Format::Csv,
            "arrow" | "ipc" | "application/vnd.apache.arrow.stream" => Format::Arrow,
            _ => return None,
        })
    }

    /// `?format=` first, then the first known type of `Accept`, then JSON.
    fn choose(param: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
        if let Some(name) = param {
            return Format::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "format {name:?} is not one of json, ndjson, csv, arrow"
                ))
            });
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(accept
            .split(',')
            .filter_map(|t| Format::from_name(t.split(';').next().unwrap_or("")))
            .next()
            .unwrap_or(Format::Json))
    }
}

pub(crate) async fn submit(
    State(api): State<Api>,
    Caller(who): Caller,
    Query(param): Query<FormatParam>,
    headers: HeaderMap,
    Json(body): Json<QueryBody>,
) -> Result<Response, ApiError> {
    let format = Format::choose(param.format.as_deref(), &headers)?;
    let header_purpose = headers
        .get("lagoa-purpose")
        .map(|v| {
            String::from_utf8(v.as_bytes().to_vec())
                .map_err(|_| ApiError::bad_request("the Lagoa-Purpose header is not UTF-8"))
        })
        .transpose()?;
    let purpose = body.purpose.or(header_purpose);
    // A client that goes away drops this future, and with it the query.
    let as_of = match body.as_of.as_deref() {
        Some(text) => lagoa_lake::AsOf::parse(text)
            .map_err(|e| ApiError::bad_request(format!("as_of: {e}")))?,
        None => lagoa_lake::AsOf::Latest,
    };
    let request = lagoa_sql::QueryRequest::new(&who, purpose.as_deref(), &body.sql).as_of(as_of);
    let answer = api.queries().run(&request, std::future::pending()).await?;
    let rows = answer.rows;
    let chunks = encode(format, answer.schema, answer.batches);
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert("lagoa-rows", HeaderValue::from(rows as u64));
    if let Ok(v) = HeaderValue::from_str(&answer.datasets.join(",")) {
        headers.insert("lagoa-datasets", v);
    }
    Ok(response)
}

type Chunk = Result<Bytes, std::io::Error>;

/// The result as a stream of byte chunks, one (or two) per batch, encoded
/// as it is sent.
fn encode(
    format: Format,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> futures::stream::BoxStream<'static, Chunk> {
    use futures::StreamExt;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    match format {
        Format::Json => {
            let head = serde_json::json!({
                "columns": schema.fields().iter().map(|f| serde_json::json!({
                    "name": f.name(), "type": f.data_type().to_string()
                })).collect::<Vec<_>>(),
                "row_count": rows,
            })
            .to_string();
            // `{"columns":[...],"row_count":N` then `,"rows":[...]}`.
            let head = format!("{},\"rows\":[", &head[..head.len() - 1]);
            let mut first = true;
            let body = futures::stream::iter(batches).map(move |b| {
                let lines = json_lines(&b)?;
                let mut out = Vec::with_capacity(lines.len());
                for line in lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(line);
                }
                Ok(Bytes::from(out))
            });
            futures::stream::once(async move { Ok(Bytes::from(head)) })
                .chain(body)
                .chain(futures::stream::once(async {
                    Ok(Bytes::from_static(b"]}"))
                }))
                .boxed()
        }
        Format::Ndjson => futures::stream::iter(batches)
            .map(|b| json_lines(&b).map(Bytes::from))
            .boxed(),
        Format::Csv => {
            let header = schema
                .fields()
                .iter()
                .map(|f| csv_field(f.name()))
                .collect::<Vec<_>>()
                .join(",")
                + "\n";
            futures::stream::once(async move { Ok(Bytes::from(header)) })
                .chain(futures::stream::iter(batches).map(|b| {
                    let mut out = Vec::new();
                    let mut writer = arrow::csv::WriterBuilder::new()
                        .with_header(false)
                        .build(&mut out);
                    writer.write(&b).map_err(std::io::Error::other)?;
                    drop(writer);
                    Ok(Bytes::from(out))
                }))
                .boxed()
        }
        Format::Arrow => {
            // The schema message is in the buffer from the start; the
            // buffer is drained after each batch, and after the end marker.
            let writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema.as_ref());
            futures::stream::unfold(Some((writer, batches.into_iter())), |state| async move {
                let (writer, mut batches) = state?;
                let mut writer = match writer {
                    Ok(w) => w,
                    Err(e) => return Some((Err(std::io::Error::other(e)), None)),
                };
                let (written, more) = match batches.next() {
                    Some(b) => (writer.write(&b), true),
                    None => (writer.finish(), false),
                };
                let chunk = written
                    .map(|_| Bytes::from(std::mem::take(writer.get_mut())))
                    .map_err(std::io::Error::other);
                let next = (more && chunk.is_ok()).then_some((Ok(writer), batches));
                Some((chunk, next))
            })
            .boxed()
        }
    }
}

fn json_lines(batch: &RecordBatch) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    let mut writer = arrow::json::LineDelimitedWriter::new(&mut out);
    writer.write(batch).map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)?;
    Ok(out)
}

fn csv_field(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}
