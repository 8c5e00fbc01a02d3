//! Anchors: the places where the scanner can be sure of its context again after damage.
//!
//! An anchor is the header of a record array, `"KEY"` ws `:` ws `[` with KEY one of the
//! shape's record arrays, whose opening quote is not escaped and is preceded (after
//! whitespace) by `{` (a document starts here) or `,` (the middle of a top-level object).
//! Anchors are found with `memmem` and cached per key, so that asking for the next anchor
//! from positions that only move forward costs linear time over the whole input.
//! An anchor is a heuristic: a record that itself contains `"KEY": [` looks the same.

use memchr::memmem::Finder;

use super::lex::{at, is_ws, skip_ws};

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
    finders: Vec<Finder<'static>>,
    cache: Vec<Option<Cached>>,
}

impl<'a> Anchors<'a> {
    pub(crate) fn new(buf: &'a [u8], keys: &[String]) -> Self {
        let finders: Vec<Finder<'static>> = keys
            .iter()
            .map(|k| {
                let quoted = serde_json::to_string(k).unwrap_or_default();
                Finder::new(quoted.as_bytes()).into_owned()
            })
            .collect();
        let cache = vec![None; finders.len()];
        Anchors {
            buf,
            finders,
            cache,
        }
    }

    /// The first anchor whose quote is at or after `from`.
    pub(crate) fn next(&mut self, from: usize) -> Option<Anchor> {
        let mut best: Option<Anchor> = None;
        for key in 0..self.finders.len() {
            let found = self.next_for(key, from);
            if let Some(a) = found {
                if best.is_none_or(|b| a.quote < b.quote) {
                    best = Some(a);
                }
            }
        }
        best
    }

    fn next_for(&mut self, key: usize, from: usize) -> Option<Anchor> {
        if let Some(Some(c)) = self.cache.get(key) {
            let still_valid = c.from <= from && c.found.is_none_or(|a| a.quote >= from);
            if still_valid {
                return c.found;
            }
        }
        let found = self.search(key, from);
        if let Some(slot) = self.cache.get_mut(key) {
            *slot = Some(Cached { from, found });
        }
        found
    }

    fn search(&self, key: usize, from: usize) -> Option<Anchor> {
        let finder = self.finders.get(key)?;
        let mut pos = from;
        loop {
            let hit = pos + finder.find(self.buf.get(pos..)?)?;
            if let Some(anchor) = self.verify(key, hit, finder.needle().len()) {
                return Some(anchor);
            }
            pos = hit + 1;
        }
    }

    fn verify(&self, key: usize, quote: usize, len: usize) -> Option<Anchor> {
        let after = skip_ws(self.buf, quote + len);
        if at(self.buf, after)? != b':' {
            return None;
        }
        let bracket = skip_ws(self.buf, after + 1);
        if at(self.buf, bracket)? != b'[' {
            return None;
        }
        let before = self.previous_significant(quote)?;
        let kind = match at(self.buf, before)? {
            b'{' => AnchorKind::Doc { brace: before },
            b',' => AnchorKind::Mid { comma: before },
            _ => return None,
        };
        Some(Anchor { key, quote, kind })
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
