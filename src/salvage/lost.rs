//! The scanner for damaged regions: between a damage point and the next anchor, nobody
//! knows which array (or which document) the bytes belong to. It never places anything;
//! it only finds the records that survive there, so that the report can count them as
//! *unplaced* instead of silently forgetting them.
//!
//! A candidate record is an object whose `{` follows `,` or `[`, whose `}` is followed
//! by `,` or `]`, that is not inside another open candidate, and that is valid JSON on its
//! own. The scanner starts without knowing whether it is inside a string; when it meets a
//! byte that cannot appear outside a string it assumes it was inside one and resumes after
//! the next quote, which restores the quote parity within one token. One pass, a stack
//! bounded by the region's bracket count, and every byte validated at most once.

use super::lex::{at, is_valid_json, is_ws, skip_ws, string_end, Span};

#[derive(Debug, Clone, Copy)]
struct Frame {
    open: u8,
    pos: usize,
    candidate: bool,
}

/// Scans `[from, until)` and returns the spans of the intact records found there.
pub(crate) fn unplaced_records(buf: &[u8], from: usize, until: usize) -> Vec<Span> {
    let mut scan = LostScan {
        buf,
        until: until.min(buf.len()),
        stack: Vec::new(),
        open_candidates: 0,
        prev: 0,
        found: Vec::new(),
    };
    scan.run(from);
    scan.found
}

struct LostScan<'a> {
    buf: &'a [u8],
    until: usize,
    stack: Vec<Frame>,
    open_candidates: usize,
    /// The last significant byte seen outside strings (0 at the start).
    prev: u8,
    found: Vec<Span>,
}

impl LostScan<'_> {
    fn run(&mut self, from: usize) {
        let mut i = from;
        while i < self.until {
            let Some(b) = at(self.buf, i) else { break };
            i = match b {
                b'"' => self.string(i),
                b'{' | b'[' => self.open(b, i),
                b'}' | b']' => self.close(b, i),
                b':' | b',' => self.mark(b, i),
                b'0'..=b'9'
                | b'-'
                | b'+'
                | b'.'
                | b't'
                | b'r'
                | b'u'
                | b'e'
                | b'E'
                | b'f'
                | b'a'
                | b'l'
                | b's'
                | b'n' => self.mark(b'0', i),
                _ if is_ws(b) => i + 1,
                _ if is_garbage(b) => self.skip_garbage(i),
                _ => self.resync_parity(i),
            };
        }
    }

    fn mark(&mut self, b: u8, i: usize) -> usize {
        self.prev = b;
        i + 1
    }

    fn string(&mut self, i: usize) -> usize {
        self.prev = b'"';
        string_end(self.buf, i, self.until).unwrap_or(self.until)
    }

    /// Bytes that are never JSON text outside a string (controls, non-ASCII): skip the
    /// run; what follows may be a record whose separator the garbage replaced.
    fn skip_garbage(&mut self, i: usize) -> usize {
        self.drop_stack();
        let rest = self.buf.get(i..self.until).unwrap_or_default();
        let run = rest.iter().take_while(|&&b| is_garbage(b)).count();
        self.prev = b',';
        i + run.max(1)
    }

    /// Text that cannot be outside a string: assume we were inside one.
    fn resync_parity(&mut self, i: usize) -> usize {
        self.drop_stack();
        let rest = self.buf.get(i..self.until).unwrap_or_default();
        match memchr::memchr(b'"', rest) {
            Some(off) => {
                self.prev = b'"';
                i + off + 1
            }
            None => self.until,
        }
    }

    fn open(&mut self, b: u8, i: usize) -> usize {
        let candidate = b == b'{' && self.open_candidates == 0 && matches!(self.prev, b',' | b'[');
        if candidate {
            self.open_candidates += 1;
        }
        self.stack.push(Frame {
            open: b,
            pos: i,
            candidate,
        });
        self.prev = b;
        i + 1
    }

    fn close(&mut self, b: u8, i: usize) -> usize {
        self.prev = b;
        let want = if b == b'}' { b'{' } else { b'[' };
        let Some(frame) = self.stack.pop() else {
            return i + 1;
        };
        if frame.open != want {
            self.drop_stack();
            return i + 1;
        }
        if frame.candidate {
            self.open_candidates = self.open_candidates.saturating_sub(1);
            self.finish_candidate(frame.pos, i + 1);
        }
        i + 1
    }

    fn finish_candidate(&mut self, start: usize, end: usize) {
        let next = skip_ws(self.buf, end);
        if !matches!(at(self.buf, next), Some(b',' | b']')) {
            return;
        }
        let span = Span::new(start, end);
        if is_valid_json(span.of(self.buf)) {
            self.found.push(span);
        }
    }

    fn drop_stack(&mut self) {
        self.stack.clear();
        self.open_candidates = 0;
    }
}

fn is_garbage(b: u8) -> bool {
    (b < 0x20 && !is_ws(b)) || b >= 0x7F
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(buf: &str) -> Vec<String> {
        unplaced_records(buf.as_bytes(), 0, buf.len())
            .iter()
            .map(|s| String::from_utf8_lossy(s.of(buf.as_bytes())).into_owned())
            .collect()
    }

    #[test]
    fn finds_records_after_a_cut() {
        let cases: &[(&str, &[&str])] = &[
            // resync inside a record: its nested object is not a record
            (
                r#"e": 1, "v": {"m": 2}}, {"a": 1}, {"b": [{"c": 1}]}]"#,
                &[r#"{"a": 1}"#, r#"{"b": [{"c": 1}]}"#],
            ),
            // parity inverted by a cut inside a string
            (r#"TC-USDT", "size": 1}, {"a": "x"}]"#, &[r#"{"a": "x"}"#]),
            // garbage bytes, then records
            (
                "\u{1}\u{2}, {\"a\": 1},{\"b\":2}]",
                &[r#"{"a": 1}"#, r#"{"b":2}"#],
            ),
            // a record right after garbage that ate its separator
            (
                "\u{1}\u{1}{\"a\": 1}, {\"b\": 2}]",
                &[r#"{"a": 1}"#, r#"{"b": 2}"#],
            ),
            // a record cut at the end is not found
            (r#", {"a": 1}, {"b": 2"#, &[r#"{"a": 1}"#]),
            // invalid record text is not found
            (r#", {"a": 01}, {"b": 2}]"#, &[r#"{"b": 2}"#]),
        ];
        for (input, want) in cases {
            assert_eq!(texts(input), *want, "input: {input}");
        }
    }

    #[test]
    fn deep_nesting_is_linear() {
        let mut input = String::from("[");
        for _ in 0..200_000 {
            input.push_str("{\"a\":[");
        }
        let found = texts(&input);
        assert!(found.is_empty());
    }
}
