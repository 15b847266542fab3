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
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub values: Vec<T>,
    /// The next page, when there is one.
    #[serde(default)]
    pub next: Option<String>,
}

/// Query parameters for a listing.
#[derive(Clone, Debug, Default)]
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

impl PageQuery<'_> {
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

impl ApiClient {
    /// The listing at `url` as a stream of pages (their `values`), following `next` verbatim,
    /// only on the configured origin, ending at an empty page, failing on a `next` already seen
    /// or past the page bound. If the first page is refused with 400 while `pagelen` was asked,
    /// it is asked again without (some endpoints cap page sizes below 100).
    pub fn pages<'a, T: DeserializeOwned + 'a>(
        &'a self,
        url: Url,
        query: &PageQuery<'_>,
    ) -> impl Stream<Item = Result<Vec<T>, ApiError>> + 'a {
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
            // Some endpoints send `next` on a last, empty page: an empty page ends the listing.
            if let Some(next) = page.next.filter(|_| !page.values.is_empty()) {
                let next = Url::parse(&next).map_err(|e| ApiError::Malformed {
                    status: 200,
                    content_type: "next link".to_owned(),
                    excerpt: e.to_string(),
                })?;
                self.check_origin(&next)?;
                if !walk.seen_links.insert(next.to_string()) {
                    return Err(ApiError::PageLoop {
                        url: format!("{}{}", next.origin().ascii_serialization(), next.path()),
                    });
                }
                if walk.pages >= self.config().max_pages {
                    return Err(ApiError::TooManyPages {
                        max: self.config().max_pages,
                    });
                }
                walk.cursor = Cursor::Next(next);
            }
            Ok(Some((page.values, walk)))
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
        while let Some(values) = pages.try_next().await? {
            items.extend(values.into_iter().filter(|item| seen.insert(key(item))));
        }
        Ok(items)
    }
}
