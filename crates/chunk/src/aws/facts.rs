//! What the service's tags mean to a fragment: [`AwsFacts`] records the values of the
//! `AWS_KINESISVIDEO_*` tags read in a fragment and makes the events they complete.

use std::collections::VecDeque;

use super::{AwsTag, parse_timestamp_ms, parse_u64, trimmed};
use crate::error::Error;
use crate::event::{ErrorChunk, Event, FragmentMetadata, TagValue};
use crate::ids::{ContinuationToken, ErrorId, FragmentNumber};

/// The service facts of the current fragment, as its `AWS_KINESISVIDEO_*` tags give them,
/// and which of the events they make have been sent.
#[derive(Default)]
pub(crate) struct AwsFacts {
    pub(crate) fragment_number: Option<FragmentNumber>,
    pub(crate) server_ms: Option<i64>,
    pub(crate) producer_ms: Option<i64>,
    pub(crate) millis_behind_now: Option<u64>,
    pub(crate) continuation_token: Option<ContinuationToken>,
    pub(crate) error_id: Option<ErrorId>,
    pub(crate) error_raw_id: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) metadata_sent: bool,
    pub(crate) error_sent: bool,
    pub(crate) end_sent: bool,
    /// The fragment's tags are GetMediaForFragmentList's (`..._SIDE_TIMESTAMP`,
    /// `..._EXCEPTION_...`): that API sends no continuation token, so the fragment is whole
    /// when its document ends cleanly.
    pub(crate) fragment_list: bool,
}

impl AwsFacts {
    /// Records one service tag's value (`offset` is the SimpleTag's, for the error).
    pub(crate) fn record(&mut self, tag: AwsTag, value: &TagValue, offset: u64) -> Result<(), Error> {
        let raw = value.raw().unwrap_or_default();
        let invalid = || Error::InvalidTagValue { tag, offset };
        match tag {
            AwsTag::FragmentNumber => self.fragment_number = Some(FragmentNumber::new(trimmed_text(raw))),
            AwsTag::ServerTimestamp => self.server_ms = Some(parse_timestamp_ms(raw).ok_or_else(invalid)?),
            AwsTag::ProducerTimestamp => {
                self.producer_ms = Some(parse_timestamp_ms(raw).ok_or_else(invalid)?)
            }
            AwsTag::MillisBehindNow => self.millis_behind_now = Some(parse_u64(raw).ok_or_else(invalid)?),
            AwsTag::ContinuationToken => {
                self.continuation_token = Some(ContinuationToken::new(trimmed_text(raw)));
            }
            AwsTag::ErrorId | AwsTag::ExceptionErrorCode => match parse_u64(raw) {
                Some(n) => self.error_id = Some(ErrorId::from_u64(n)),
                None => self.error_raw_id = Some(trimmed_text(raw)),
            },
            AwsTag::ErrorCode | AwsTag::ExceptionMessage => self.error_code = Some(trimmed_text(raw)),
        }
        Ok(())
    }

    /// After a Tags element: queues the `FragmentMetadata` and `ErrorChunk` events the
    /// service's tags have made complete (each once per fragment). Returns whether the
    /// fragment's continuation token has been read (which ends a fragment whose Cluster has
    /// begun).
    pub(crate) fn after_tags<D>(&mut self, queue: &mut VecDeque<Event<D>>) -> bool {
        if !self.metadata_sent
            && (self.fragment_number.is_some() || self.server_ms.is_some() || self.producer_ms.is_some())
        {
            self.metadata_sent = true;
            queue.push_back(Event::FragmentMetadata(FragmentMetadata {
                fragment_number: self.fragment_number.clone(),
                server_timestamp_ms: self.server_ms,
                producer_timestamp_ms: self.producer_ms,
                from_fragment_list: self.fragment_list,
            }));
        }
        if !self.error_sent
            && (self.error_id.is_some() || self.error_raw_id.is_some() || self.error_code.is_some())
        {
            self.error_sent = true;
            queue.push_back(Event::ErrorChunk(ErrorChunk {
                fragment_number: self.fragment_number.clone(),
                id: self.error_id,
                raw_id: self.error_raw_id.clone(),
                code: self.error_code.clone(),
            }));
        }
        self.continuation_token.is_some()
    }
}

/// A service tag's text: [`trimmed`], invalid UTF-8 replaced. (The trim has removed the
/// trailing NULs that a decoder's plain text conversion strips.)
fn trimmed_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(trimmed(raw)).into_owned()
}
