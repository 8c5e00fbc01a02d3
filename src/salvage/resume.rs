//! Proof that records after damage still belong to the array the damage started in.
//!
//! After damage inside a record array, the records found before the next anchor are
//! placed back into that array only if the bytes themselves show where they sit: the
//! records form an unbroken chain (`{...}` `,` `{...}` ... `]`, whitespace only between),
//! and what follows the chain's `]` parses as the rest of a top-level object (intact
//! members, then `}` or the `,` of the next record-array header). The caller adds the
//! conditions that depend on the document: no sign of a second version, and every other
//! record array of the shape already seen or starting right after, so that the damage
//! cannot have hidden another record array's header. Everything here only reads bytes.

use super::anchor::{Anchor, AnchorKind};
use super::lex::{at, ends_cleanly, is_valid_json, key_name, skip_ws, string_end};
use super::lex::{value_extent, Extent, Span};

/// One member of the top-level object after the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailMember {
    pub name: String,
    pub key: Span,
    pub value: Span,
}

/// How the rest of the top-level object after the chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TailEnd {
    /// The object's `}` at this index.
    Closed(usize),
    /// The `,` of the anchor that follows.
    Anchor,
}

/// The rest of the top-level object after a chain of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tail {
    /// Index of the first record of the chain in the candidates.
    pub first: usize,
    pub members: Vec<TailMember>,
    pub end: TailEnd,
}

/// Finds the chain at the end of `found` and parses what follows it, up to `anchor`.
pub(crate) fn resume(buf: &[u8], found: &[Span], anchor: Option<Anchor>) -> Option<Tail> {
    let first = chain_start(buf, found)?;
    let last = found.last()?;
    let close = skip_ws(buf, last.end);
    if at(buf, close)? != b']' {
        return None;
    }
    let (members, end) = object_rest(buf, close + 1, anchor)?;
    Some(Tail {
        first,
        members,
        end,
    })
}

/// The index of the first record of the longest suffix of `found` whose records are
/// separated by nothing but whitespace and one comma.
fn chain_start(buf: &[u8], found: &[Span]) -> Option<usize> {
    let mut first = found.len().checked_sub(1)?;
    while let Some(prev) = first.checked_sub(1).and_then(|i| found.get(i)) {
        let next = found.get(first)?;
        let comma = skip_ws(buf, prev.end);
        if at(buf, comma) != Some(b',') || skip_ws(buf, comma + 1) != next.start {
            break;
        }
        first -= 1;
    }
    Some(first)
}

/// Parses `(, "key": value)* }` from `pos`, or up to the anchor's comma.
fn object_rest(
    buf: &[u8],
    mut pos: usize,
    anchor: Option<Anchor>,
) -> Option<(Vec<TailMember>, TailEnd)> {
    let anchor_comma = match anchor.map(|a| a.kind) {
        Some(AnchorKind::Mid { comma }) => Some(comma),
        _ => None,
    };
    let mut members = Vec::new();
    loop {
        let p = skip_ws(buf, pos);
        match at(buf, p)? {
            b'}' => return Some((members, TailEnd::Closed(p))),
            b',' if Some(p) == anchor_comma => return Some((members, TailEnd::Anchor)),
            b',' => {
                let member = member(buf, skip_ws(buf, p + 1))?;
                pos = member.value.end;
                members.push(member);
            }
            _ => return None,
        }
    }
}

fn member(buf: &[u8], key_start: usize) -> Option<TailMember> {
    if at(buf, key_start)? != b'"' {
        return None;
    }
    let key = Span::new(key_start, string_end(buf, key_start, buf.len())?);
    let name = key_name(key.of(buf))?;
    let colon = skip_ws(buf, key.end);
    if at(buf, colon)? != b':' {
        return None;
    }
    let v = skip_ws(buf, colon + 1);
    let Extent::Complete(end) = value_extent(buf, v, buf.len()) else {
        return None;
    };
    let value = Span::new(v, end);
    let intact = ends_cleanly(buf, end, b'}') && is_valid_json(value.of(buf));
    intact.then_some(TailMember { name, key, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salvage::lost::unplaced_records;

    fn run(input: &str) -> Option<(usize, Vec<String>, TailEnd)> {
        let buf = input.as_bytes();
        let found = unplaced_records(buf, 0, buf.len());
        let tail = resume(buf, &found, None)?;
        let names = tail.members.iter().map(|m| m.name.clone()).collect();
        Some((found.len() - tail.first, names, tail.end))
    }

    #[test]
    fn chains_and_tails() {
        type Want<'w> = Option<(usize, &'w [&'w str])>;
        let cases: &[(&str, Want)] = &[
            // the rest of a record, then two records and the end of the document
            (
                r#""x": 1}, {"a": 1}, {"b": 2}], "created_at": "t"}"#,
                Some((2, &["created_at"])),
            ),
            // garbage between records breaks the chain: only the last one is proven
            ("\u{1}, {\"a\": 1}\u{1}, {\"b\": 2}]}", Some((1, &[]))),
            // no closing bracket after the records: nothing is proven
            (r#", {"a": 1}, {"b": 2}"#, None),
            // the records are followed by a record's key: they sat in a nested array
            (
                r#", [{"a": 1}, {"b": 2}], "k": 1}, {"c": 3}]}"#,
                Some((1, &[])),
            ),
            // a damaged member after the chain
            (r#", {"a": 1}], "created_at": "t}"#, None),
        ];
        for (input, want) in cases {
            let got = run(input);
            let got = got.map(|(n, names, _)| (n, names));
            let want = want
                .map(|(n, names)| (n, names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()));
            assert_eq!(got, want, "input: {input}");
        }
    }
}
