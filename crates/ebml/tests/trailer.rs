//! The AWS CLI's JSON response after a GetMedia payload: `Token::Trailer`, and CRC-32 errors
//! that name their element.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use kvs_ebml::{ErrorKind, Options, Token, Tokenizer};

fn tokens(input: &[u8]) -> (Vec<Token>, Vec<kvs_ebml::Error>) {
    let mut t = Tokenizer::new();
    t.feed(Bytes::copy_from_slice(input));
    t.finish();
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    loop {
        match t.next_token() {
            Ok(Some(tok)) => out.push(tok),
            Ok(None) => break,
            Err(e) => {
                errors.push(e);
                if !e.is_recoverable() {
                    break;
                }
            }
        }
    }
    (out, errors)
}

/// EBML header (empty), Segment of unknown size holding one Void.
const DOC: &[u8] = b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF\xEC\x81\x00";
const TRAILER: &[u8] = b"{\n    \"ContentType\": \"video/webm\"\n}\n";

#[test]
fn json_after_the_last_document_is_a_trailer_token() {
    let input = [DOC, TRAILER].concat();
    let (toks, errors) = tokens(&input);
    assert!(errors.is_empty(), "{errors:?}");
    let n = toks.len();
    assert_eq!(toks[n - 2], Token::DocumentEnd { offset: DOC.len() as u64 });
    assert_eq!(toks[n - 1], Token::Trailer { offset: DOC.len() as u64, len: TRAILER.len() as u64 });
    // Without it, the same tokens up to the document's end.
    let (plain, _) = tokens(DOC);
    assert_eq!(&toks[..n - 1], &plain[..]);
}

#[test]
fn json_at_the_start_is_not_a_trailer() {
    let (toks, _) = tokens(TRAILER);
    assert!(!toks.iter().any(|t| matches!(t, Token::Trailer { .. })));
}

#[test]
fn crc_error_displays_the_element_name() {
    // An Info (0x1549A966) of known size whose CRC-32 is wrong.
    let info = b"\x15\x49\xA9\x66\x8B\xBF\x84\xEF\xBE\xAD\xDE\x2A\xD7\xB1\x81\x01";
    let input = [&b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF"[..], info].concat();
    let mut t = Tokenizer::with_options(Options::default().verify_crc(true));
    t.feed(Bytes::from(input));
    t.finish();
    let mut errors = Vec::new();
    loop {
        match t.next_token() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                errors.push(e);
                if !e.is_recoverable() {
                    break;
                }
            }
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0].kind, ErrorKind::CrcMismatch { .. }));
    assert_eq!(errors[0].offset, 10);
    assert_eq!(errors[0].element_name(), Some("Info"));
    assert!(errors[0].to_string().ends_with("at byte offset 10 (element 0x1549A966 Info)"), "{}", errors[0]);
}
