//! The SigV4 credential scope of each signed request (access key id, date, region, service),
//! recorded for tests that check which credentials and region a client picked
//! ([`crate::RunningServer::credential_scopes`]). Recorded whether or not the server
//! requires signatures; the signature itself is not checked here.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use axum::http::request::Parts;

/// How many scopes are kept: the latest ones.
pub const MAX_RECORDED_SCOPES: usize = 1024;

/// The `Credential=KEY/DATE/REGION/SERVICE/aws4_request` of a request's `Authorization`
/// header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// The request's path (`/getDataEndpoint`, `/getMedia`, ...).
    pub path: String,
    /// The access key id.
    pub access_key_id: String,
    /// The date, `YYYYMMDD`.
    pub date: String,
    /// The region the request was signed for.
    pub region: String,
    /// The service (`kinesisvideo`).
    pub service: String,
}

/// The latest [`MAX_RECORDED_SCOPES`] scopes.
#[derive(Debug, Default)]
pub(crate) struct ScopeLog(Mutex<VecDeque<CredentialScope>>);

impl ScopeLog {
    /// Records the scope of `parts`, if it is signed with SigV4.
    pub(crate) fn record(&self, parts: &Parts) {
        let Some(scope) = scope_of(parts) else { return };
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() >= MAX_RECORDED_SCOPES {
            log.pop_front();
        }
        log.push_back(scope);
    }

    /// Every scope kept, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<CredentialScope> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }
}

fn scope_of(parts: &Parts) -> Option<CredentialScope> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = rest.split(',').find_map(|p| p.trim().strip_prefix("Credential="))?;
    let mut fields = credential.rsplitn(5, '/');
    let (terminator, service, region, date, key) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    (terminator == "aws4_request").then(|| CredentialScope {
        path: parts.uri.path().to_owned(),
        access_key_id: key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn parts(auth: Option<&str>) -> Parts {
        let mut b = axum::http::Request::builder().uri("/getMedia");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn records_signed_requests_only_and_keeps_the_latest() {
        let log = ScopeLog::default();
        log.record(&parts(None));
        log.record(&parts(Some("Basic abc")));
        log.record(&parts(Some("AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/kinesisvideo/x")));
        assert!(log.snapshot().is_empty());
        for _ in 0..MAX_RECORDED_SCOPES + 3 {
            log.record(&parts(Some(
                "AWS4-HMAC-SHA256 Credential=AKIDA/20260101/eu-west-1/kinesisvideo/aws4_request, \
                 SignedHeaders=host, Signature=00",
            )));
        }
        let got = log.snapshot();
        assert_eq!(got.len(), MAX_RECORDED_SCOPES);
        assert_eq!(got[0].access_key_id, "AKIDA");
        assert_eq!(got[0].region, "eu-west-1");
        assert_eq!(got[0].service, "kinesisvideo");
        assert_eq!(got[0].path, "/getMedia");
    }
}
