//! An import (`crate::ops::jsonl::import`, unchanged) in a session: each line's item is recorded
//! once the import says every line up to it is in. When an import stops, the lines read after
//! the last complete one are recorded as of unknown outcome (some may be in: the primary
//! decides), since the import does not say which of them were written; so are they when the
//! import's future is dropped part-way (Ctrl-C, a caller's timeout).

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex};

use crate::aws::json::Item;
use crate::aws::key::KeySchema;
use crate::ops::jsonl::{self, ImportError, ImportReport};
use crate::publish::writer::Writer;
use crate::regional::session::{Expect, Session};

/// Imports `input` through `writer` as `jsonl::import` does, recording each line in `session`.
pub async fn import(
    writer: &Writer,
    session: &Session,
    input: impl BufRead,
    skip_lines: usize,
    progress: impl Fn(&ImportReport),
) -> Result<ImportReport, ImportError> {
    let pending = Arc::new(Mutex::new(VecDeque::new()));
    let recording = Recording {
        input,
        schema: writer.schema().clone(),
        skip_lines,
        lines: 0,
        pending: pending.clone(),
    };
    // Dropped part-way (the future with it): every line read and not settled is unknown.
    let unsettled = Unsettled {
        session,
        pending: &pending,
    };
    let result = jsonl::import(writer, recording, skip_lines, |report| {
        settle(session, &pending, report.complete_through, false);
        progress(report);
    })
    .await;
    match &result {
        Ok(report) => settle(session, &pending, report.complete_through, false),
        Err(error) => {
            settle(session, &pending, error.report.complete_through, false);
            settle(session, &pending, usize::MAX, true);
        }
    }
    drop(unsettled);
    result
}

/// Lines read and not yet settled: (line number, key attributes, what the line's put expects).
type Pending = Arc<Mutex<VecDeque<(usize, Item, Expect)>>>;

/// Records the pending lines up to `through` (as unknown when `unknown`).
fn settle(session: &Session, pending: &Pending, through: usize, unknown: bool) {
    let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
    while pending.front().is_some_and(|(line, _, _)| *line <= through) {
        if let Some((_, key, expect)) = pending.pop_front() {
            session.record(key, if unknown { Expect::Unknown } else { expect });
        }
    }
}

/// Settles every pending line as unknown when dropped.
struct Unsettled<'a> {
    session: &'a Session,
    pending: &'a Pending,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        settle(self.session, self.pending, usize::MAX, true);
    }
}

/// The import's input, noting the key and expectation of each line it hands out.
struct Recording<R> {
    input: R,
    schema: KeySchema,
    skip_lines: usize,
    /// Lines handed out so far.
    lines: usize,
    pending: Pending,
}

impl<R: BufRead> Recording<R> {
    fn note(&mut self, text: &str) {
        let number = self.lines;
        if number <= self.skip_lines || text.trim().is_empty() {
            return;
        }
        // A line that does not parse, or has no key, is the import's to refuse.
        let Ok(item) = jsonl::parse_line(text.trim_end_matches(['\n', '\r'])) else {
            return;
        };
        let Ok(key) = self.schema.key_of_item(&item) else {
            return;
        };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.push_back((number, key.to_attributes(), Expect::of(Some(&item))));
    }
}

impl<R: BufRead> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl<R: BufRead> BufRead for Recording<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.input.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.input.consume(amount);
    }

    /// What `lines()` calls for each line: one line handed out, noted.
    fn read_line(&mut self, buf: &mut String) -> io::Result<usize> {
        let start = buf.len();
        let result = self.input.read_line(buf);
        match &result {
            Ok(0) => {}
            Ok(_) => {
                self.lines += 1;
                let text = buf[start..].to_owned();
                self.note(&text);
            }
            // `lines()` counts a line it cannot read as a line.
            Err(_) => self.lines += 1,
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::aws::key::ScalarType;
    use crate::regional::session::Limits;

    #[test]
    fn lines_are_noted_with_their_numbers_and_settled_in_order() {
        let text = "skipped\n{\"id\":{\"S\":\"a\"},\"v\":{\"N\":\"1\"}}\n\nnot json\n{\"Item\":{\"id\":{\"S\":\"b\"}}}\r\n{\"id\":{\"S\":\"a\"},\"v\":{\"N\":\"2\"}}";
        let pending = Pending::default();
        let mut recording = Recording {
            input: io::Cursor::new(text),
            schema: KeySchema::hash_only("id", ScalarType::S),
            skip_lines: 1,
            lines: 0,
            pending: pending.clone(),
        };
        let lines: Vec<String> = (&mut recording).lines().map(|l| l.unwrap()).collect();
        assert_eq!(lines.len(), 6);
        let numbers: Vec<usize> = pending.lock().unwrap().iter().map(|p| p.0).collect();
        assert_eq!(numbers, [2, 5, 6]);

        let session = Session::new("t", Limits::default());
        let key = |id: &str| HashMap::from([("id".to_owned(), AttributeValue::S(id.into()))]);
        let v = |n: &str| {
            let mut item = key("a");
            item.insert("v".into(), AttributeValue::N(n.into()));
            Expect::of(Some(&item))
        };
        settle(&session, &pending, 5, false);
        assert_eq!(session.expected(&key("a")), Some(v("1")));
        // The import stopped after line 5: line 6 may or may not be in.
        settle(&session, &pending, usize::MAX, true);
        assert_eq!(session.expected(&key("a")), Some(Expect::Unknown));
        assert_eq!(
            session.expected(&key("b")),
            Some(Expect::of(Some(&key("b"))))
        );
        assert!(pending.lock().unwrap().is_empty());
    }

    #[test]
    fn lines_read_and_not_settled_are_unknown_when_the_import_is_dropped() {
        let session = Session::new("t", Limits::default());
        let key = |id: &str| HashMap::from([("id".to_owned(), AttributeValue::S(id.into()))]);
        let pending = Pending::default();
        pending
            .lock()
            .unwrap()
            .push_back((7, key("a"), Expect::Absent));
        drop(Unsettled {
            session: &session,
            pending: &pending,
        });
        assert_eq!(session.expected(&key("a")), Some(Expect::Unknown));
    }
}
