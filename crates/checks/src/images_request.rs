//! The check of the `images_request` fuzz target, shared with the stable test
//! `crates/images/tests/fuzz_regressions.rs`: the input becomes a GetImages
//! request (every field, garbage included), `ImagesRequest::plan` validates it against
//! default limits; it must answer (a plan or a typed error) without panicking, and a plan must
//! be coherent: its page lies inside its samples, is no longer than `MaxResults`, sample times
//! run from the start to the end by the interval, and its `NextToken` resumes exactly where the
//! page ended (and only for the same request).

use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, Limits};

/// Reads fields off the front of the input (zeros when it runs out).
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }

    fn i64(&mut self) -> i64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.byte();
        }
        i64::from_le_bytes(v)
    }

    /// Mostly small, meaningful values; sometimes anything.
    fn value(&mut self, around: i64) -> i64 {
        match self.byte() % 4 {
            0 => self.i64(),
            1 => around + i64::from(self.byte() as i8) * 7,
            _ => around + i64::from(u16::from_le_bytes([self.byte(), self.byte()])),
        }
    }

    fn option(&mut self, around: i64) -> Option<i64> {
        (self.byte() & 1 == 1).then(|| self.value(around))
    }
}

/// The check: `data` as a GetImages request, planned; a plan must be coherent (see the module
/// documentation). Panics on a failure.
pub fn check(data: &[u8]) {
    let mut f = Fields(data);
    let selector =
        if f.byte() & 1 == 0 { ImageSelector::ProducerTimestamp } else { ImageSelector::ServerTimestamp };
    let format = if f.byte() & 1 == 0 { ImageFormat::Jpeg } else { ImageFormat::Png };
    let start = f.value(1_700_000_000_000);
    let end = start.saturating_add(f.value(0).saturating_mul(100));
    let interval = f.value(200);
    let mut request = ImagesRequest::new(selector, start, end, interval, format);
    request.width_pixels = f.option(640);
    request.height_pixels = f.option(360);
    request.max_results = f.option(10);
    match f.byte() % 4 {
        0 => {}
        1 => {
            request = request.jpeg_quality(f.byte());
        }
        _ => {
            let key: String = String::from_utf8_lossy(&[f.byte(), f.byte()]).into_owned();
            let value: String = String::from_utf8_lossy(&[f.byte(), f.byte(), f.byte()]).into_owned();
            request.format_config.insert(if f.byte() & 1 == 0 { "JPEGQuality".into() } else { key }, value);
        }
    }
    if f.byte() & 1 == 1 {
        request.next_token = Some(String::from_utf8_lossy(f.0).into_owned());
    }
    let limits = Limits::default();
    let Ok(plan) = request.plan(&limits) else { return };
    let page = plan.page();
    let count = plan.sample_count();
    assert!(page.start <= page.end && page.end <= count, "page {page:?} of {count} samples");
    let max = request.max_results.unwrap_or(limits.max_results);
    assert!(page.len() as i64 <= max, "page of {} with MaxResults {max}", page.len());
    assert_eq!(plan.sample_time(0), start);
    let last = plan.sample_time(count - 1);
    // In i128: `end - interval` overflows i64 for timestamps near i64::MIN (a find of the
    // fuzzer in this check, not in the library).
    assert!(
        last <= end && i128::from(last) > i128::from(end) - i128::from(interval),
        "last sample {last}, end {end}, interval {interval}"
    );
    assert_eq!(plan.remaining_times().count(), count - page.start);
    match plan.next_token() {
        None => assert_eq!(page.end, count),
        Some(token) => {
            assert!(page.end < count);
            let next = request.clone().next_token(Some(token.clone())).plan(&limits).unwrap();
            assert_eq!(next.page().start, page.end, "NextToken resumes where the page ended");
            // Another request must not accept it.
            let mut other = request.clone().next_token(Some(token));
            other.sampling_interval_ms = other.sampling_interval_ms.saturating_add(1);
            if let Ok(p) = other.plan(&limits) {
                panic!("a token accepted by another request: {p:?}");
            }
        }
    }
}
