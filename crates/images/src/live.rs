//! Sampling media as it arrives (a live GetMedia stream), sans I/O: push kvs-chunk
//! [`Fragment`]s (or events, gathered by a [`FragmentAssembler`]) in, take the images whose
//! time has passed out.

use std::collections::VecDeque;

use kvs_chunk::{Event, Fragment, FragmentAssembler};

use crate::error::ImagesError;
use crate::request::{ImageSelector, ImagesRequest, Plan};
use crate::sample::{Image, SampleOptions};
use crate::timeline::{FragmentClock, Timeline, samplable};

/// Samples a stream of fragments as they arrive.
///
/// A sample time is settled once a fragment that starts after it has arrived (fragments
/// come in time order, so nothing later can show that time), or when the stream ends
/// ([`LiveSampler::finish`]). Each settled time gives one [`Image`], in time order. The
/// samplers keeps only the fragments that later samples may still need.
///
/// Pagination does not apply: every sample of the request is produced, from the request's
/// `NextToken` (if any) on.
#[derive(Debug)]
pub struct LiveSampler {
    plan: Plan,
    pending: VecDeque<i64>,
    timeline: Timeline,
    assembler: FragmentAssembler,
    options: SampleOptions,
}

impl LiveSampler {
    /// A sampler for `request`.
    ///
    /// # Errors
    ///
    /// The request errors of [`ImagesRequest::plan`].
    pub fn new(request: &ImagesRequest, options: &SampleOptions) -> Result<Self, ImagesError> {
        let plan = request.plan(&options.limits)?;
        let pending = plan.remaining_times().collect();
        Ok(Self {
            plan,
            pending,
            timeline: Timeline::new(),
            assembler: FragmentAssembler::new(),
            options: *options,
        })
    }

    /// The clock of the sample times.
    #[must_use]
    pub fn selector(&self) -> ImageSelector {
        self.plan.selector
    }

    /// The next sample time not settled yet, epoch ms.
    #[must_use]
    pub fn next_time_ms(&self) -> Option<i64> {
        self.pending.front().copied()
    }

    /// Whether every sample has been produced.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes one kvs-chunk event (gathered into fragments by a [`FragmentAssembler`]);
    /// returns the images it settles.
    pub fn push_event(&mut self, event: Event) -> Vec<Image> {
        match self.assembler.push(event) {
            Some(fragment) => self.push_fragment(&fragment),
            None => Vec::new(),
        }
    }

    /// Drops the fragment whose events were being pushed (it was cut; it comes again).
    pub fn abort_fragment(&mut self) {
        self.assembler.abort();
    }

    /// The options the images are made with.
    #[must_use]
    pub fn options(&self) -> &SampleOptions {
        &self.options
    }

    /// Sets [`SampleOptions::threads`] for the decoding still to come (the images are the
    /// same for every count).
    pub fn set_threads(&mut self, threads: usize) {
        self.options.threads = threads;
    }

    /// Whether [`LiveSampler::push_fragment`] of `fragment` would settle a sample (and so
    /// decode): it has frames and starts after the next sample time. A caller can run the
    /// pushes that decode elsewhere (a thread pool) and the others inline.
    #[must_use]
    pub fn settles(&self, fragment: &Fragment) -> bool {
        match (self.pending.front(), self.horizon_ms(fragment)) {
            (Some(&next), Some(horizon)) => next < horizon,
            _ => false,
        }
    }

    /// Where `fragment` starts on the request's clock, ms: samples before it are settled
    /// by it. `None` for a fragment that cannot be sampled.
    fn horizon_ms(&self, fragment: &Fragment) -> Option<i64> {
        if !samplable(fragment) {
            return None;
        }
        let selector = self.plan.selector;
        fragment
            .frames
            .iter()
            .filter_map(|f| fragment.time_ns(f.timestamp_ns, selector))
            .min()
            .map(|ns| ns.div_euclid(1_000_000))
    }

    /// Takes one whole fragment; returns the images it settles. A fragment without frames
    /// (an in-stream error chunk among them) settles nothing.
    pub fn push_fragment(&mut self, fragment: &Fragment) -> Vec<Image> {
        if !samplable(fragment) {
            return Vec::new();
        }
        let start = self.horizon_ms(fragment);
        self.timeline.push(fragment.clone());
        match start {
            Some(horizon) => self.settle(|t| t < horizon),
            None => Vec::new(),
        }
    }

    /// The stream ended: every sample left is settled with what has arrived.
    pub fn finish(&mut self) -> Vec<Image> {
        if let Some(f) = self.assembler.finish().filter(samplable) {
            self.timeline.push(f);
        }
        self.settle(|_| true)
    }

    fn settle(&mut self, settled: impl Fn(i64) -> bool) -> Vec<Image> {
        let n = self.pending.iter().take_while(|&&t| settled(t)).count();
        let times: Vec<i64> = self.pending.drain(..n).collect();
        let images = if times.is_empty() {
            Vec::new()
        } else {
            self.timeline.sample_with(&self.plan, &times, &self.options)
        };
        self.prune();
        images
    }

    /// Drops fragments that no pending sample can need: the first one goes when the one
    /// after it also ends before the next sample (the one just before is kept, for an open
    /// GOP's leading pictures and for keyframes).
    fn prune(&mut self) {
        let Some(next_ms) = self.pending.front().copied() else {
            self.timeline.drop_front(usize::MAX);
            return;
        };
        let next = next_ms.saturating_mul(1_000_000);
        let selector = self.plan.selector;
        let ends_before = |f: &Fragment| {
            f.frames
                .iter()
                .filter_map(|fr| f.time_ns(fr.timestamp_ns, selector))
                .max()
                .is_some_and(|t| t < next)
        };
        let mut drop = 0usize;
        while self.timeline.fragments().get(drop.saturating_add(1)).is_some_and(ends_before) {
            drop = drop.saturating_add(1);
        }
        self.timeline.drop_front(drop);
    }
}
