//! Anchors: the places where the scanner can be sure of its context again after damage.
//!
//! An anchor is the header of a record array, `"KEY"` ws `:` ws `[` with KEY one of the
//! shape's record arrays, whose opening quote is not escaped and is preceded (after
//! whitespace) by `{` (a document starts here) or `,` (the middle of a top-level object).
//! Anchors are found from their `[`: every `[` (found with `memchr`, one pass over the
//! input for all keys at once) is read backwards, `:` and a key before it, and the answer
//! is cached, so that asking for the next anchor from positions that only move forward
//! costs linear time over the whole input. An anchor is a heuristic: a record that itself
//! contains `"KEY": [` looks the same.

use super::lex::{at, is_ws};

/// What precedes an anchor's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnchorKind {
    /// `{` at this index: a document starts with this key.
    Doc { brace: usize },
    /// `,` at this index: a key in the middle of a top-level object.
    Mid { comma: usize },
}

/// One verified record-array header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// Index of the key in the shape's record arrays.
    pub key: usize,
    /// Index of the key's opening quote.
    pub quote: usize,
    pub kind: AnchorKind,
}

impl Anchor {
    /// The first byte that belongs to the anchor (its `{` or `,`).
    pub(crate) fn start(self) -> usize {
        match self.kind {
            AnchorKind::Doc { brace } => brace,
            AnchorKind::Mid { comma } => comma,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Cached {
    from: usize,
    found: Option<Anchor>,
}

/// Finds record-array headers in one input.
pub(crate) struct Anchors<'a> {
    buf: &'a [u8],
    /// Each key as JSON text (`"KEY"`, as `serde_json` writes it).
    needles: Vec<Vec<u8>>,
    cache: Option<Cached>,
}

impl<'a> Anchors<'a> {
    pub(crate) fn new(buf: &'a [u8], keys: &[String]) -> Self {
        let needles = keys
            .iter()
            .map(|k| serde_json::to_string(k).unwrap_or_default().into_bytes())
            .collect();
        Anchors {
            buf,
            needles,
            cache: None,
        }
    }

    /// The first anchor whose quote is at or after `from`.
    pub(crate) fn next(&mut self, from: usize) -> Option<Anchor> {
        if let Some(c) = self.cache {
            if c.from <= from && c.found.is_none_or(|a| a.quote >= from) {
                return c.found;
            }
        }
        let found = self.search(from);
        self.cache = Some(Cached { from, found });
        found
    }

    /// Anchors do not overlap (a key's text holds no unescaped quote), so the first `[`
    /// at or after `from` that ends one whose quote is at or after `from` ends the first.
    fn search(&self, from: usize) -> Option<Anchor> {
        let mut pos = from;
        loop {
            let bracket = pos + memchr::memchr(b'[', self.buf.get(pos..)?)?;
            match self.ending_at(bracket) {
                Some(anchor) if anchor.quote >= from => return Some(anchor),
                _ => pos = bracket + 1,
            }
        }
    }

    /// The anchor whose `[` is at `bracket`: `"KEY"` ws `:` ws `[`, the key's quote
    /// preceded (after whitespace) by `{` or `,`; the one starting first if several keys
    /// fit.
    fn ending_at(&self, bracket: usize) -> Option<Anchor> {
        let colon = self.previous_significant(bracket)?;
        if at(self.buf, colon)? != b':' {
            return None;
        }
        let close = self.previous_significant(colon)?;
        if at(self.buf, close)? != b'"' {
            return None;
        }
        let end = close + 1;
        let mut best: Option<Anchor> = None;
        for (key, needle) in self.needles.iter().enumerate() {
            let Some(quote) = end.checked_sub(needle.len()) else {
                continue;
            };
            if self.buf.get(quote..end) != Some(needle.as_slice()) {
                continue;
            }
            let Some(before) = self.previous_significant(quote) else {
                continue;
            };
            let kind = match at(self.buf, before) {
                Some(b'{') => AnchorKind::Doc { brace: before },
                Some(b',') => AnchorKind::Mid { comma: before },
                _ => continue,
            };
            if best.is_none_or(|b| quote < b.quote) {
                best = Some(Anchor { key, quote, kind });
            }
        }
        best
    }

    /// The index of the last non-whitespace byte before `pos`.
    fn previous_significant(&self, pos: usize) -> Option<usize> {
        let head = self.buf.get(..pos)?;
        head.iter().rposition(|&b| !is_ws(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["open_positions".into(), "closed_positions".into()]
    }

    #[test]
    fn finds_headers_in_order() {
        let buf =
            br#"xx{"open_positions": [1], "a": {"closed_positions" : 3}, "closed_positions":[]}"#;
        let mut anchors = Anchors::new(buf, &keys());
        let first = anchors.next(0);
        assert!(matches!(
            first,
            Some(Anchor {
                key: 0,
                quote: 3,
                kind: AnchorKind::Doc { brace: 2 }
            })
        ));
        let second = anchors.next(4);
        assert!(matches!(
            second,
            Some(Anchor {
                key: 1,
                kind: AnchorKind::Mid { .. },
                ..
            })
        ));
        assert_eq!(anchors.next(second.map_or(0, |a| a.quote) + 1), None);
    }

    /// The search of the previous version: each key's text found with `memmem`, then
    /// checked forwards (`:` and `[` after it, `{` or `,` before it).
    fn by_needles(buf: &[u8], keys: &[String], from: usize) -> Option<Anchor> {
        let mut best: Option<Anchor> = None;
        for (key, k) in keys.iter().enumerate() {
            let needle = serde_json::to_string(k).unwrap_or_default().into_bytes();
            let finder = memchr::memmem::Finder::new(&needle);
            let mut pos = from;
            let found = loop {
                let Some(hit) = buf.get(pos..).and_then(|r| finder.find(r)) else {
                    break None;
                };
                let quote = pos + hit;
                let after = crate::salvage::lex::skip_ws(buf, quote + needle.len());
                let bracket = crate::salvage::lex::skip_ws(buf, after + 1);
                let before = buf
                    .get(..quote)
                    .and_then(|h| h.iter().rposition(|&b| !is_ws(b)));
                let kind = match before.and_then(|b| at(buf, b).map(|c| (b, c))) {
                    Some((b, b'{')) => Some(AnchorKind::Doc { brace: b }),
                    Some((b, b',')) => Some(AnchorKind::Mid { comma: b }),
                    _ => None,
                };
                match kind {
                    Some(kind)
                        if at(buf, after) == Some(b':') && at(buf, bracket) == Some(b'[') =>
                    {
                        break Some(Anchor { key, quote, kind })
                    }
                    _ => pos = quote + 1,
                }
            };
            if let Some(a) = found {
                if best.is_none_or(|b| a.quote < b.quote) {
                    best = Some(a);
                }
            }
        }
        best
    }

    /// From every position of generated JSON-like text (keys, quotes, escapes, brackets,
    /// whitespace) and of the salvage seeds, the next anchor is what the needle search
    /// finds, asked in order (through the cache) and each on its own.
    #[test]
    fn brackets_find_what_the_needles_find() {
        let keys = vec![
            "open_positions".to_string(),
            "closed_positions".to_string(),
            "positions".to_string(),
            "a\"b".to_string(),
            "b".to_string(),
        ];
        let parts: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b" ",
            b"\n",
            b"\"",
            b"\\",
            b"x",
            b"\"open_positions\"",
            b"\"closed_positions\"",
            b"\"positions\"",
            b"\"b\"",
            b"\"a\\\"b\"",
            b"\"open_positions\": [",
            b", \"closed_positions\":[",
            b"1",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut inputs: Vec<Vec<u8>> = (0..400)
            .map(|_| {
                let n = usize::try_from(next() % 40).unwrap_or(0);
                (0..n)
                    .flat_map(|_| {
                        let i = usize::try_from(next()).unwrap_or(0) % parts.len();
                        parts.get(i).copied().unwrap_or_default().iter().copied()
                    })
                    .collect()
            })
            .collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for sub in ["salvage", "salvage_structured"] {
            if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
                inputs.extend(
                    entries
                        .flatten()
                        .filter_map(|e| std::fs::read(e.path()).ok()),
                );
            }
        }
        for buf in &inputs {
            let mut anchors = Anchors::new(buf, &keys);
            let step = (buf.len() / 512).max(1);
            for from in (0..=buf.len()).step_by(step) {
                let want = by_needles(buf, &keys, from);
                assert_eq!(anchors.next(from), want, "from {from} in {buf:?}");
                assert_eq!(Anchors::new(buf, &keys).next(from), want);
            }
        }
    }

    #[test]
    fn rejects_escaped_and_bare_mentions() {
        let cases: &[&[u8]] = &[
            br#"{"s": "x\"open_positions\": [1]"}"#,
            br#"["open_positions", ["#,
            br#"{"open_positions": 5}"#,
        ];
        for buf in cases {
            let mut anchors = Anchors::new(buf, &keys());
            assert_eq!(anchors.next(0), None, "input: {buf:?}");
        }
    }
}
