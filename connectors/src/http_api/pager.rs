//! Where the next page is: page numbers, offsets, cursors or links, and the
//! checks that stop an API that loops or wanders off its host.

use super::fetch::fingerprint;
use super::page::PageSummary;
use super::{HttpApiConfig, PaginationConfig, PaginationKind};
use crate::SourceError;
use std::collections::HashSet;
use url::Url;

/// Where the next page is.
pub(super) struct Pager {
    config: PaginationConfig,
    max_pages: u64,
    /// `offset`: records received so far.
    offset: u64,
    /// Fingerprints of the cursors or links seen.
    seen: HashSet<u64>,
    previous_body: Option<u64>,
}

impl Pager {
    pub(super) fn new(config: &HttpApiConfig) -> Pager {
        Pager {
            config: (*config.pagination).clone(),
            max_pages: config.max_pages,
            offset: 0,
            seen: HashSet::new(),
            previous_body: None,
        }
    }

    pub(super) fn first_url(&self, base: &Url) -> Url {
        self.url_for(base, 1, None)
    }

    /// `base` with the paging parameters of page `number`.
    fn url_for<'a>(&'a self, base: &Url, number: u64, cursor: Option<&str>) -> Url {
        let config = &self.config;
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let size = |param: &'a Option<String>| -> Option<(&'a str, String)> {
            Some((param.as_deref()?, config.page_size?.to_string()))
        };
        match config.kind {
            PaginationKind::Page => {
                if let Some(param) = &config.page_param {
                    let first = config.start_page.unwrap_or(1);
                    let page = first.saturating_add(number.saturating_sub(1));
                    pairs.push((param, page.to_string()));
                }
                pairs.extend(size(&config.size_param));
            }
            PaginationKind::Offset => {
                if let Some(param) = &config.offset_param {
                    pairs.push((param, self.offset.to_string()));
                }
                pairs.extend(size(&config.limit_param));
            }
            PaginationKind::Cursor => {
                if let (Some(param), Some(cursor)) = (&config.cursor_param, cursor) {
                    pairs.push((param, cursor.to_owned()));
                }
            }
            PaginationKind::None | PaginationKind::NextLink => {}
        }
        let mut url = base.clone();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }

    /// After page `number`, fetched from `current`: the next page's URL, or
    /// `None` when this was the last page.
    pub(super) fn next(
        &mut self,
        base: &Url,
        current: &Url,
        number: u64,
        page: &PageSummary,
        shown: &str,
    ) -> Result<Option<Url>, SourceError> {
        let fail = |message: String| SourceError::input(format!("{shown}, page {number}"), message);
        if page.records == 0 {
            return Ok(None);
        }
        let next = match self.config.kind {
            PaginationKind::None => None,
            PaginationKind::Page | PaginationKind::Offset => {
                if self.previous_body == Some(page.body_fingerprint) {
                    return Err(fail(format!(
                        "the API returned the same page twice (pages {} and {number}); \
                         does it read the paging parameters?",
                        number - 1
                    )));
                }
                self.previous_body = Some(page.body_fingerprint);
                self.offset = self.offset.saturating_add(page.records);
                let short = self
                    .config
                    .page_size
                    .is_some_and(|size| page.records < size);
                (!short).then(|| self.url_for(base, number + 1, None))
            }
            PaginationKind::Cursor => match &page.cursor {
                None => None,
                Some(cursor) => {
                    if !self.seen.insert(fingerprint(cursor.as_bytes())) {
                        return Err(fail(format!(
                            "the API returned the same cursor twice (page {number})"
                        )));
                    }
                    Some(self.url_for(base, number + 1, Some(cursor)))
                }
            },
            PaginationKind::NextLink => match &page.next_link {
                None => None,
                Some(link) => Some(self.follow_link(base, current, link, number, shown)?),
            },
        };
        if next.is_some() && number >= self.max_pages {
            return Err(fail(format!(
                "the API still has pages after max_pages = {}; raise max_pages if it is \
                 really that large",
                self.max_pages
            )));
        }
        Ok(next)
    }

    fn follow_link(
        &mut self,
        base: &Url,
        current: &Url,
        link: &str,
        number: u64,
        shown: &str,
    ) -> Result<Url, SourceError> {
        let location = format!("{shown}, page {number}");
        let next = current
            .join(link)
            .map_err(|_| SourceError::input(&location, "the API's next link is not a valid URL"))?;
        if next.origin() != base.origin() {
            return Err(SourceError::Refused {
                source_name: shown.to_owned(),
                message: format!(
                    "the next link of page {number} points to another host, which is not \
                     followed (credentials must not leave the API's host)"
                ),
            });
        }
        self.seen.insert(fingerprint(current.as_str().as_bytes()));
        if !self.seen.insert(fingerprint(next.as_str().as_bytes())) {
            return Err(SourceError::input(
                location,
                format!("the API returned the same next link twice (page {number})"),
            ));
        }
        Ok(next)
    }
}
