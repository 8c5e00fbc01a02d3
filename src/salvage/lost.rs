//! The scanner for damaged regions: between a damage point and the next anchor, nobody
//! knows which array (or which document) the bytes belong to. It never places anything;
//! it only finds the records that survive there, so that the report can count them as
//! *unplaced* instead of silently forgetting them.
//!
//! A candidate record is an object whose `{` follows `,` or `[`, whose `}` is followed
//! by `,`, `]`, garbage or the end, that is not inside another open candidate, and that is valid JSON on its
//! own. The scanner starts outside any string; when it meets garbage, or text that cannot
//! be outside a string (so the quote parity is lost), it skips to the next `{` that looks
//! like a record start whatever the parity: after `,`, `[` or garbage and before `"` or
//! `}`. One pass, a stack bounded by the region's bracket count, and every byte validated
//! at most once.

use super::lex::{at, ends_cleanly, is_garbage, is_valid_json, is_ws, skip_ws, string_end, Span};

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
    // garbage just before the region may have replaced a record's separator
    if from
        .checked_sub(1)
        .and_then(|p| at(buf, p))
        .is_some_and(is_garbage)
    {
        scan.prev = b',';
    }
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
                | b'n'
                | b'N'
                | b'I'
                | b'i'
                | b'y' => self.mark(b'0', i),
                _ if is_ws(b) => i + 1,
                _ => self.skip_to_boundary(i),
            };
        }
    }

    fn mark(&mut self, b: u8, i: usize) -> usize {
        self.prev = b;
        i + 1
    }

    /// Skips a string; a string holding bytes no JSON string can hold (controls, invalid
    /// UTF-8) is garbage from its first such byte on, and so may hide a record after it.
    fn string(&mut self, i: usize) -> usize {
        let close = string_end(self.buf, i, self.until);
        let content_end = close.map_or(self.until, |e| e - 1);
        let content = self.buf.get(i + 1..content_end).unwrap_or_default();
        if let Some(bad) = first_invalid(content) {
            return self.skip_to_boundary(i + 1 + bad);
        }
        self.prev = b'"';
        close.unwrap_or(self.until)
    }

    /// After garbage or text that cannot be outside a string, quote parity is unknown:
    /// skip to the next place that looks like a record start whatever the parity, a `{`
    /// after `,`, `[` or garbage and before `"` or `}` (inside a string the quote would
    /// have to be escaped, so this text is rare there).
    fn skip_to_boundary(&mut self, i: usize) -> usize {
        self.drop_stack();
        let mut k = i;
        while let Some(off) = memchr::memchr(b'{', self.buf.get(k..self.until).unwrap_or_default())
        {
            let brace = k + off;
            if self.opens_record(brace) {
                self.prev = b',';
                return brace;
            }
            k = brace + 1;
        }
        self.until
    }

    fn opens_record(&self, brace: usize) -> bool {
        let head = self.buf.get(..brace).unwrap_or_default();
        let before = head.iter().rev().find(|&&b| !is_ws(b)).copied();
        let after = at(self.buf, skip_ws(self.buf, brace + 1));
        let after_separator = matches!(before, Some(b',' | b'[')) || before.is_some_and(is_garbage);
        after_separator && matches!(after, Some(b'"' | b'}'))
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
        if !ends_cleanly(self.buf, end, b']') {
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

/// The first byte of `s` that cannot be inside a JSON string.
fn first_invalid(s: &[u8]) -> Option<usize> {
    let control = s.iter().position(|&b| b < 0x20);
    let utf8 = std::str::from_utf8(s).err().map(|e| e.valid_up_to());
    match (control, utf8) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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
            // garbage that starts inside a string and ends before a record
            ("\"x\u{1}\u{1}: true}, {\"a\": 1}]", &[r#"{"a": 1}"#]),
            // a record followed by the end or by garbage is found
            (", {\"a\": 1}", &[r#"{"a": 1}"#]),
            (", {\"a\": 1}\u{0}", &[r#"{"a": 1}"#]),
            // a record cut at the end is not found
            (r#", {"a": 1}, {"b": 2"#, &[r#"{"a": 1}"#]),
            // invalid record text is not found
            (r#", {"a": 01}, {"b": 2}]"#, &[r#"{"b": 2}"#]),
            // Python's non-finite numbers are values, a cut or misspelt one is not
            (
                r#"5, "e": NaN}, {"a": NaN, "b": [Infinity, -Infinity]}, {"c": -Infinity}]"#,
                &[
                    r#"{"a": NaN, "b": [Infinity, -Infinity]}"#,
                    r#"{"c": -Infinity}"#,
                ],
            ),
            (r#", {"a": nan}, {"b": -Inf"#, &[]),
            (r#", {"a": 1}, {"b": Na"#, &[r#"{"a": 1}"#]),
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
