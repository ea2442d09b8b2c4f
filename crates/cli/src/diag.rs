//! Problems found in an input, reported on stderr one line per kind: the first of each kind
//! as it happens (with its byte offset), and at the end one line with the count of each kind
//! that came back. A file with a thousand bad blocks gives two lines, not a thousand.

use kvs_chunk::{Error, Warning};

/// One kind of problem: its first message and how often it came.
struct Kind {
    key: String,
    first_offset: Option<u64>,
    count: u64,
    warning: bool,
}

/// The problems of one input.
pub struct Diagnostics {
    prefix: String,
    kinds: Vec<Kind>,
    /// Whether the reader skips past malformed input (the advice depends on it).
    resync: bool,
    /// Whether the command has `--strict` (else `--resync`) to change that.
    strict_flag: bool,
    /// Resynchronisations: how many, the bytes skipped in all, the first one's offset.
    resyncs: u64,
    skipped: u64,
    first_resync: Option<(u64, u64)>,
}

impl Diagnostics {
    /// Problems of `input` for `command` (`kvs-mkv fragments: FILE: ...`).
    pub fn new(command: &str, input: &str) -> Self {
        let command = if command.is_empty() { "kvs-mkv".to_owned() } else { format!("kvs-mkv {command}") };
        Self {
            prefix: format!("{command}: {}", kvs_mux::text::escape(input)),
            kinds: Vec::new(),
            resync: false,
            strict_flag: false,
            resyncs: 0,
            skipped: 0,
            first_resync: None,
        }
    }

    /// Sets whether the reader skips past malformed input (`fragments`/`events --resync`).
    #[must_use]
    pub fn resyncing(mut self, on: bool) -> Self {
        self.resync = on;
        self
    }

    /// For the commands that skip past malformed input by default and have `--strict`.
    #[must_use]
    pub fn with_strict_flag(mut self, resync: bool) -> Self {
        self.resync = resync;
        self.strict_flag = true;
        self
    }

    /// The reader skipped `skipped` bytes and resumed at `offset`: the line to print now
    /// (the first time), or `None` (counted for [`Diagnostics::summary`]).
    pub fn resynced(&mut self, offset: u64, skipped: u64) -> Option<String> {
        self.resyncs = self.resyncs.saturating_add(1);
        self.skipped = self.skipped.saturating_add(skipped);
        if self.first_resync.is_some() {
            return None;
        }
        self.first_resync = Some((offset, skipped));
        Some(format!(
            "{}: skipped {skipped} byte{} of malformed input; resumed reading at byte offset {offset}",
            self.prefix,
            if skipped == 1 { "" } else { "s" },
        ))
    }

    /// Counts `key`; true when it is the first of its kind (to be printed now).
    fn count(&mut self, key: String, offset: Option<u64>, warning: bool) -> bool {
        if let Some(k) = self.kinds.iter_mut().find(|k| k.key == key) {
            k.count = k.count.saturating_add(1);
            return false;
        }
        self.kinds.push(Kind { key, first_offset: offset, count: 1, warning });
        true
    }

    /// A decoder error: the line to print now (the first of its kind), or `None`.
    pub fn error(&mut self, e: &Error) -> Option<String> {
        let first = self.count(format!("\"{}\"", e.kind_name()), e.offset(), false);
        first.then(|| format!("{}: {}", self.prefix, crate::describe(e, self.resync, self.strict_flag)))
    }

    /// A decoder warning: the line to print now (the first of its kind), or `None`.
    pub fn warning(&mut self, w: &Warning) -> Option<String> {
        let first = self.count(w.kind.name().to_owned(), Some(w.offset), true);
        first.then(|| format!("{}: warning: {}", self.prefix, kvs_mux::text::escape(&w.to_string())))
    }

    /// One line per kind seen more than once: how many in all.
    pub fn summary(&self) -> Vec<String> {
        let resyncs = (self.resyncs > 1).then(|| {
            let first = self.first_resync.map_or(0, |(o, _)| o);
            format!(
                "{}: skipped {} bytes of malformed input in {} places (the first resumed at byte offset {first})",
                self.prefix, self.skipped, self.resyncs
            )
        });
        self.kinds
            .iter()
            .filter(|k| k.count > 1)
            .map(|k| {
                let what = if k.warning { "warnings" } else { "errors" };
                let first =
                    k.first_offset.map_or_else(String::new, |o| format!(", the first at byte offset {o}"));
                format!("{}: {} {what} of the kind {}{first}", self.prefix, k.count, k.key)
            })
            .chain(resyncs)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_chunk::block::BlockError;

    #[test]
    fn one_line_per_kind_then_a_count() {
        let mut d = Diagnostics::new("fragments", "in.mkv");
        let lace = |offset| Error::Block { offset, kind: BlockError::LaceOverflow };
        let first = d.error(&lace(288));
        assert!(first.is_some_and(|l| l.contains("288")));
        for o in 0..28 {
            assert!(d.error(&lace(300 + o)).is_none());
        }
        assert!(d.error(&Error::TimestampOverflow { offset: 5 }).is_some());
        let summary = d.summary();
        assert_eq!(summary.len(), 1);
        let line = summary.first().cloned().unwrap_or_default();
        assert!(line.contains("29 errors"), "{summary:?}");
        assert!(line.contains("byte offset 288"), "{summary:?}");
    }
}
