//! Pagination the way Bitbucket needs it: follow `next` verbatim (cursors are opaque), only on
//! the configured origin, deduplicate by a key, stop at an empty page even if `next` is present,
//! fail on a `next` already seen or past a bounded page count.

use std::collections::HashSet;

use futures::{Stream, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::{ApiClient, ApiError};

/// One page. Only `values` is dependable; `size`, `page` and `previous` may be absent.
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub values: Vec<T>,
    /// The next page, when there is one.
    #[serde(default)]
    pub next: Option<String>,
    /// The total number of items of the listing, when Bitbucket counts them.
    #[serde(default)]
    pub size: Option<u64>,
}

/// Query parameters for a listing.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PageQuery<'a> {
    /// Page size to ask (Bitbucket's documented maximum is 100).
    pub pagelen: Option<u32>,
    /// `fields=` trimming; keep `next` in a restrictive list.
    pub fields: Option<&'a str>,
    /// `sort=`, e.g. `-updated_on` for a stable order.
    pub sort: Option<&'a str>,
    /// `q=` filter (BBQL).
    pub q: Option<&'a str>,
    /// `role=` for repository listings.
    pub role: Option<&'a str>,
}

impl<'a> PageQuery<'a> {
    /// No parameters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `pagelen=`.
    #[must_use]
    pub fn pagelen(mut self, pagelen: u32) -> Self {
        self.pagelen = Some(pagelen);
        self
    }

    /// `fields=`.
    #[must_use]
    pub fn fields(mut self, fields: &'a str) -> Self {
        self.fields = Some(fields);
        self
    }

    /// `sort=`.
    #[must_use]
    pub fn sort(mut self, sort: &'a str) -> Self {
        self.sort = Some(sort);
        self
    }

    /// `q=`.
    #[must_use]
    pub fn q(mut self, q: &'a str) -> Self {
        self.q = Some(q);
        self
    }

    /// `role=`.
    #[must_use]
    pub fn role(mut self, role: &'a str) -> Self {
        self.role = Some(role);
        self
    }

    fn apply(&self, mut url: Url) -> Url {
        {
            let mut pairs = url.query_pairs_mut();
            let all = [
                ("pagelen", self.pagelen.map(|p| p.to_string())),
                ("fields", self.fields.map(str::to_owned)),
                ("sort", self.sort.map(str::to_owned)),
                ("q", self.q.map(str::to_owned)),
                ("role", self.role.map(str::to_owned)),
            ];
            for (name, value) in all {
                if let Some(value) = value {
                    pairs.append_pair(name, &value);
                }
            }
        }
        url
    }
}

enum Cursor {
    /// The first request, and the same without `pagelen` should that be refused.
    First(Url, Option<Url>),
    Next(Url),
    Done,
}

struct Walk {
    cursor: Cursor,
    seen_links: HashSet<String>,
    pages: usize,
}

/// The page to fetch after `page` (the `pages`-th of its listing), if any: `next` verbatim,
/// on the API's origin (`check_origin`), never one seen before, within `max_pages`. An empty
/// page ends the listing even with a `next` (some endpoints send one on a last, empty page).
pub(crate) fn next_page<T>(
    page: &Page<T>,
    seen_links: &mut HashSet<String>,
    pages: usize,
    max_pages: usize,
    check_origin: impl Fn(&Url) -> Result<(), ApiError>,
) -> Result<Option<Url>, ApiError> {
    let Some(next) = page.next.as_ref().filter(|_| !page.values.is_empty()) else {
        return Ok(None);
    };
    let next = Url::parse(next).map_err(|e| ApiError::Malformed {
        status: 200,
        content_type: "next link".to_owned(),
        excerpt: e.to_string(),
    })?;
    check_origin(&next)?;
    if !seen_links.insert(next.to_string()) {
        return Err(ApiError::PageLoop {
            url: format!("{}{}", next.origin().ascii_serialization(), next.path()),
        });
    }
    if pages >= max_pages {
        return Err(ApiError::TooManyPages { max: max_pages });
    }
    Ok(Some(next))
}

impl ApiClient {
    /// The listing at `url` as a stream of pages (their `values`), following `next` verbatim,
    /// only on the configured origin, ending at an empty page, failing on a `next` already seen
    /// or past the page bound. If the first page is refused with 400 while `pagelen` was asked,
    /// it is asked again without (some endpoints cap page sizes below 100).
    pub fn pages<'a, T: DeserializeOwned + 'a>(
        &'a self,
        url: Url,
        query: &PageQuery<'_>,
    ) -> impl Stream<Item = Result<Page<T>, ApiError>> + 'a {
        let fallback = query.pagelen.map(|_| {
            PageQuery {
                pagelen: None,
                ..query.clone()
            }
            .apply(url.clone())
        });
        let walk = Walk {
            cursor: Cursor::First(query.apply(url), fallback),
            seen_links: HashSet::new(),
            pages: 0,
        };
        futures::stream::try_unfold(walk, move |mut walk| async move {
            let page: Page<T> = match std::mem::replace(&mut walk.cursor, Cursor::Done) {
                Cursor::Done => return Ok(None),
                Cursor::First(url, fallback) => match (self.get_json(url).await, fallback) {
                    (Err(ApiError::BadRequest { .. }), Some(without)) => {
                        self.get_json(without).await?
                    }
                    (result, _) => result?,
                },
                Cursor::Next(url) => self.get_json(url).await?,
            };
            walk.pages += 1;
            if let Some(next) = next_page(
                &page,
                &mut walk.seen_links,
                walk.pages,
                self.config().max_pages,
                |url| self.check_origin(url),
            )? {
                walk.cursor = Cursor::Next(next);
            }
            Ok(Some((page, walk)))
        })
    }

    /// Every item of the listing at `url` (see [`pages`](Self::pages)), deduplicated by `key`:
    /// Bitbucket's order is not stable across pages, so items can repeat.
    ///
    /// # Errors
    /// [`ApiError`], including [`ApiError::ForeignOrigin`], [`ApiError::PageLoop`] and
    /// [`ApiError::TooManyPages`].
    pub async fn all_pages<T: DeserializeOwned>(
        &self,
        url: Url,
        query: &PageQuery<'_>,
        key: impl Fn(&T) -> String,
    ) -> Result<Vec<T>, ApiError> {
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        let mut pages = std::pin::pin!(self.pages::<T>(url, query));
        while let Some(page) = pages.try_next().await? {
            items.extend(
                page.values
                    .into_iter()
                    .filter(|item| seen.insert(key(item))),
            );
        }
        Ok(items)
    }
}
