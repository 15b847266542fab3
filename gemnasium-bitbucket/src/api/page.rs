//! Pagination the way Bitbucket needs it: follow `next` verbatim (cursors are opaque), only on
//! the configured origin, deduplicate by a key, stop at an empty page even if `next` is present,
//! fail on a `next` already seen or past a bounded page count.

use std::collections::HashSet;

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

impl ApiClient {
    /// Every item of the listing at `url`, following `next`, deduplicated by `key`.
    ///
    /// If the first page is refused with 400 while `pagelen` was asked, it is asked again
    /// without (some endpoints cap page sizes lower than 100).
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
        let first: Page<T> = match self.get_json(query.apply(url.clone())).await {
            Err(ApiError::BadRequest { .. }) if query.pagelen.is_some() => {
                let without = PageQuery {
                    pagelen: None,
                    ..query.clone()
                };
                self.get_json(without.apply(url)).await?
            }
            other => other?,
        };
        let mut seen_keys = HashSet::new();
        let mut seen_links = HashSet::new();
        let mut items = Vec::new();
        let mut page = first;
        let mut pages = 1;
        loop {
            let empty = page.values.is_empty();
            for item in page.values {
                if seen_keys.insert(key(&item)) {
                    items.push(item);
                }
            }
            // Some endpoints send `next` on a last, empty page.
            let Some(next) = page.next.filter(|_| !empty) else {
                break;
            };
            let next = Url::parse(&next).map_err(|e| ApiError::Malformed {
                status: 200,
                content_type: "next link".to_owned(),
                excerpt: e.to_string(),
            })?;
            self.check_origin(&next)?;
            if !seen_links.insert(next.to_string()) {
                return Err(ApiError::PageLoop {
                    url: format!("{}{}", next.origin().ascii_serialization(), next.path()),
                });
            }
            pages += 1;
            if pages > self.config().max_pages {
                return Err(ApiError::TooManyPages {
                    max: self.config().max_pages,
                });
            }
            page = self.get_json(next).await?;
        }
        Ok(items)
    }
}
