//! Gathering a GetImages answer over several pages: at most `max_items` samples, asked for in
//! pages of at most 100 (the service's largest), as the AWS CLI's `--max-items` does; and the
//! page of a request that its plan alone gives (the sample times, no media).

use crate::error::ImagesError;
use crate::request::{ImagesRequest, Limits};
use crate::sample::{Image, ImagesPage};

/// The largest page asked for.
const PAGE_SIZE: u64 = 100;

/// The requests of a paged GetImages answer, sans-IO: ask [`next_request`](Self::next_request),
/// answer it (from the service, a server, or media), [`push`](Self::push) the page, until
/// there is no next request; [`finish`](Self::finish) gives the images and the token to
/// resume after them.
///
/// ```
/// use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, Limits, Paging};
/// let request = ImagesRequest::new(ImageSelector::ServerTimestamp, 0, 1000, 200, ImageFormat::Png);
/// let mut paging = Paging::new(&request, Some(4));
/// while let Some(r) = paging.next_request() {
///     paging.push(r.plan_page(&Limits::default())?);
/// }
/// let page = paging.finish();
/// assert_eq!(page.images.iter().map(|i| i.timestamp_ms).collect::<Vec<_>>(), [0, 200, 400, 600]);
/// assert!(page.next_token.is_some()); // 800 and 1000 follow
/// # Ok::<(), kvs_images::ImagesError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Paging {
    request: ImagesRequest,
    max_items: Option<u64>,
    images: Vec<Image>,
    token: Option<String>,
    last_page: bool,
}

impl Paging {
    /// Pages of `request` (from its `next_token` on), until `max_items` samples (all without).
    #[must_use]
    pub fn new(request: &ImagesRequest, max_items: Option<u64>) -> Self {
        Paging {
            request: request.clone(),
            max_items,
            images: Vec::new(),
            token: request.next_token.clone(),
            last_page: false,
        }
    }

    /// The request for the next page, of `min(samples still wanted, 100)` samples; `None` when
    /// the last page has been pushed or `max_items` samples have been.
    #[must_use]
    pub fn next_request(&self) -> Option<ImagesRequest> {
        if self.last_page {
            return None;
        }
        let have = u64::try_from(self.images.len()).unwrap_or(u64::MAX);
        let size = self.max_items.map_or(PAGE_SIZE, |m| m.saturating_sub(have).min(PAGE_SIZE));
        if size == 0 {
            return None;
        }
        let size = i64::try_from(size).unwrap_or(100);
        Some(self.request.clone().max_results(size).next_token(self.token.clone()))
    }

    /// The answer to the last [`next_request`](Self::next_request).
    pub fn push(&mut self, page: ImagesPage) {
        self.images.extend(page.images);
        self.token = page.next_token;
        if self.token.is_none() {
            self.last_page = true;
        }
    }

    /// The images gathered and the token to resume after them (`None` after the last page).
    #[must_use]
    pub fn finish(self) -> ImagesPage {
        ImagesPage { images: self.images, next_token: self.token }
    }
}

impl ImagesRequest {
    /// This request's page from its plan alone: each image a placeholder with its sample time
    /// (no error, no content), and the next token (the pages do not depend on the media).
    ///
    /// # Errors
    ///
    /// The request errors of [`ImagesRequest::plan`].
    pub fn plan_page(&self, limits: &Limits) -> Result<ImagesPage, ImagesError> {
        let plan = self.plan(limits)?;
        let images = plan
            .page()
            .map(|i| Image {
                timestamp_ms: plan.sample_time(i),
                error: None,
                content: None,
                frame_timestamp_ms: None,
                detail: None,
            })
            .collect();
        Ok(ImagesPage { images, next_token: plan.next_token() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::request::{ImageFormat, ImageSelector};

    fn request(end: i64) -> ImagesRequest {
        ImagesRequest::new(ImageSelector::ProducerTimestamp, 0, end, 200, ImageFormat::Jpeg)
    }

    fn times(page: &ImagesPage) -> Vec<i64> {
        page.images.iter().map(|i| i.timestamp_ms).collect()
    }

    #[test]
    fn plan_page_gives_the_sample_times_and_token() {
        let page = request(1000).max_results(2).plan_page(&Limits::default()).unwrap();
        assert_eq!(times(&page), [0, 200]);
        assert!(page.images.iter().all(|i| i.error.is_none() && i.content.is_none()));
        let next = request(1000).next_token(page.next_token).plan_page(&Limits::default()).unwrap();
        assert_eq!(times(&next), [400, 600, 800, 1000]);
        assert_eq!(next.next_token, None);
        assert!(request(-1).plan_page(&Limits::default()).is_err());
    }

    #[test]
    fn pages_of_at_most_100_up_to_max_items() {
        // 251 samples (0..=50 s every 200 ms), at most 230 of them.
        let mut paging = Paging::new(&request(50_000), Some(230));
        let mut sizes = Vec::new();
        while let Some(r) = paging.next_request() {
            sizes.push(r.max_results.unwrap());
            paging.push(r.plan_page(&Limits::default()).unwrap());
        }
        assert_eq!(sizes, [100, 100, 30]);
        let page = paging.finish();
        assert_eq!(page.images.len(), 230);
        assert_eq!(page.images.last().unwrap().timestamp_ms, 229 * 200);
        // The token resumes at sample 230.
        let rest = request(50_000).next_token(page.next_token).plan_page(&Limits::default()).unwrap();
        assert_eq!(rest.images.first().unwrap().timestamp_ms, 230 * 200);
    }

    #[test]
    fn every_page_without_max_items_and_none_with_zero() {
        let mut paging = Paging::new(&request(50_000), None);
        let mut calls = 0;
        while let Some(r) = paging.next_request() {
            calls += 1;
            paging.push(r.plan_page(&Limits::default()).unwrap());
        }
        assert_eq!(calls, 3);
        let page = paging.finish();
        assert_eq!((page.images.len(), page.next_token), (251, None));

        let with_token = request(50_000).next_token(Some("t".into()));
        let paging = Paging::new(&with_token, Some(0));
        assert!(paging.next_request().is_none());
        assert_eq!(paging.finish(), ImagesPage { images: Vec::new(), next_token: Some("t".into()) });
    }
}
