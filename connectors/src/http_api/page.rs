//! One page's body: its records flattened into batches, its cursor or next
//! link, and the watermark it raises.

use super::HttpApiConfig;
use super::fetch::{FetchedPage, fingerprint};
use crate::SourceError;
use crate::flatten::{self, RecordBatcher, WalkError};
use crate::formats::SourceBatch;
use serde_json::value::RawValue;

/// Where things are in a page.
pub(super) struct PageSpec {
    record_path: Vec<String>,
    cursor_path: Option<Vec<String>>,
    next_link_path: Option<Vec<String>>,
    cursor_field: Option<String>,
}

impl PageSpec {
    pub(super) fn new(config: &HttpApiConfig) -> Result<PageSpec, SourceError> {
        let path =
            |key: &str, value: &Option<String>| -> Result<Option<Vec<String>>, SourceError> {
                value
                    .as_deref()
                    .map(flatten::parse_path)
                    .transpose()
                    .map_err(|problem| SourceError::Config(vec![format!("{key} {problem}")]))
            };
        Ok(PageSpec {
            record_path: path("record_path", &config.record_path)?.unwrap_or_default(),
            cursor_path: path("pagination.cursor_path", &config.pagination.cursor_path)?,
            next_link_path: path(
                "pagination.next_link_path",
                &config.pagination.next_link_path,
            )?,
            cursor_field: config.incremental.as_ref().map(|i| i.cursor_field.clone()),
        })
    }
}

/// What paging needs to know of a page.
pub(super) struct PageSummary {
    pub(super) records: u64,
    pub(super) cursor: Option<String>,
    pub(super) next_link: Option<String>,
    pub(super) body_fingerprint: u64,
}

pub(super) struct ParsedPage {
    pub(super) batcher: RecordBatcher,
    pub(super) batches: Vec<SourceBatch>,
    pub(super) watermark: Option<String>,
    pub(super) summary: PageSummary,
}

/// Flattens a page's records into `batcher` (full batches come out in
/// `batches`) and finds the next cursor or link. CPU work: runs on a
/// blocking thread.
pub(super) fn parse_page(
    page: &FetchedPage,
    number: u64,
    spec: &PageSpec,
    shown: &str,
    mut batcher: RecordBatcher,
    mut watermark: Option<String>,
) -> Result<ParsedPage, SourceError> {
    let location = format!("{shown}, page {number}");
    let mut batches = Vec::new();
    let mut records = 0u64;
    let walked = {
        let mut sink = |raw: Box<RawValue>| -> Result<(), SourceError> {
            records += 1;
            let reject_at = format!("page {number}, record {records}");
            let fields = match flatten::flatten_record(raw.get()) {
                Ok(fields) => fields,
                Err(reason) => {
                    batcher.reject(reject_at, reason, raw.get().as_bytes());
                    return Ok(());
                }
            };
            let cursor_value = spec.cursor_field.as_deref().and_then(|field| {
                fields
                    .iter()
                    .find(|(path, _)| path == field)
                    .and_then(|(_, value)| value.clone())
            });
            match batcher.push(fields, None) {
                Ok(()) => {
                    if let Some(value) = cursor_value {
                        raise_watermark(&mut watermark, value);
                    }
                }
                Err(reason) => batcher.reject(reject_at, reason, raw.get().as_bytes()),
            }
            if batcher.is_full()
                && let Some(batch) = batcher.take_batch()?
            {
                batches.push(batch);
            }
            Ok(())
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&page.body);
        flatten::walk_records(&mut deserializer, &spec.record_path, None, &mut sink)
            .and_then(|()| deserializer.end().map_err(WalkError::Json))
    };
    match walked {
        Ok(()) => {}
        Err(WalkError::Sink(e)) => return Err(e),
        Err(WalkError::Shape(message)) => return Err(SourceError::input(location, message)),
        Err(WalkError::Json(e)) => {
            return Err(SourceError::input(
                location,
                format!(
                    "the response ({}) is not valid JSON: the fault is at line {}, column {} \
                     (body not shown)",
                    page.content_type,
                    e.line(),
                    e.column()
                ),
            ));
        }
    }
    let find = |key: &str, path: &Option<Vec<String>>| -> Result<Option<String>, SourceError> {
        match path {
            Some(path) => flatten::find_scalar(&page.body, path)
                .map_err(|problem| SourceError::input(&location, format!("{key}: {problem}"))),
            None => Ok(None),
        }
    };
    let cursor = find("pagination.cursor_path", &spec.cursor_path)?;
    let next_link = match &spec.next_link_path {
        Some(_) => find("pagination.next_link_path", &spec.next_link_path)?,
        None => page.link_next.clone(),
    };
    Ok(ParsedPage {
        batcher,
        batches,
        watermark,
        summary: PageSummary {
            records,
            cursor,
            next_link,
            body_fingerprint: fingerprint(&page.body),
        },
    })
}

/// Keeps the highest value: as numbers when both are numbers, else as text.
pub(super) fn raise_watermark(watermark: &mut Option<String>, value: String) {
    let higher = match watermark.as_deref() {
        None => true,
        Some(current) => match (current.parse::<f64>(), value.parse::<f64>()) {
            (Ok(current), Ok(candidate)) => candidate > current,
            _ => value.as_str() > current,
        },
    };
    if higher {
        *watermark = Some(value);
    }
}
