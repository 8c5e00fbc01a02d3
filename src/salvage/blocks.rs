//! Records of two writers whose 4 KiB blocks alternate in one file, placed by each
//! writer's own record-array headers. Only read when the text rewinds at a 4 KiB boundary
//! and the input is not valid JSON (`scan.rs` then keeps nothing across a boundary).
//! Pure: bytes in, spans out; one pass over the line breaks; never panics.
//!
//! # The model
//!
//! What this module places, it places only under these conditions, each read from the
//! bytes where it can be; a record is otherwise left to the scanner (unplaced):
//!
//! 1. **Alternating blocks.** Block `k` (bytes `4096k..4096(k+1)`) is the same byte range
//!    of version `k mod 2`, up to that version's end; past it, the other version's bytes.
//!    Checked: at least three strong rewinds (64 bytes or more) at boundaries two blocks
//!    apart (`k`, `k+2`, `k+4`: with blocks of 8 KiB or more, consecutive switches rewind
//!    in opposite directions, so never twice in a row), and no strong rewinds at two
//!    consecutive boundaries (blocks smaller than 4 KiB would rewind at every boundary).
//! 2. **Pretty-printed by one writer.** Every value on its own line, indented by depth
//!    times a unit (Python's `json.dump(indent=N)`); the unit is read from the first key
//!    line after the input's `{`. A raw line break is never inside a JSON string, so a line
//!    of `2 * unit` spaces and `{` starts an element of an array at depth 2, a line of
//!    `unit` spaces and `"KEY": [` a member of the top-level object, a line `}` the end of
//!    a document. Every candidate record is checked against it: its members at
//!    `3 * unit`, its `}` alone on a line at `2 * unit`.
//! 3. **The shape.** Each version holds each record array once; no other top-level member
//!    holds an array of objects (so an element at depth 2 is a record of the record array
//!    whose header precedes it last); the record arrays come in the same order in both
//!    versions (read from a version whose headers are all visible, or from the document's
//!    first member).
//!
//! # The rule
//!
//! A record is kept when it lies wholly inside one block and the headers of the version
//! that owns that block prove its array: the last record-array header of that version
//! before the record. A header is *visible* when its whole line lies in a block the
//! version owns; the others are hidden in the other version's blocks, somewhere between
//! the visible ones in the order of the arrays. The record's array is proven when every
//! placement of the hidden headers that fits the order and the version's hidden byte
//! ranges gives the same last header. So a header seen earlier in the same block proves
//! the records after it; a version whose every header is visible has all its records
//! placed; a version whose last header is visible has all the records after it placed.
//! Nothing here measures or bounds how far apart the two versions' headers lie: the
//! versions may differ by any records inserted, removed or moved before or after them
//! (moving the header of the other version by any amount), and a record is never placed
//! by the other version's headers.
//!
//! Where each version ends decides which version owns the bytes of a block past the
//! shorter one's end. Two document ends visible: the first is the shorter version's, in a
//! block of its own (past it, every byte is the longer version's). Fewer: a record is
//! placed only when the headers of both versions give it the same array.
//!
//! # Limits
//!
//! Writers whose blocks come in runs (`AAB…`) rather than alternating break (1) without
//! a sign in the bytes: a record near the headers may then be placed by the other
//! writer's headers. Compact (one-line) JSON, files without three strong rewinds two
//! blocks apart (versions that differ little, or only near the end), and blocks of
//! 8 KiB get no placement here; their records stay unplaced. A version's own text that
//! repeats 64 bytes across a boundary (two identical records) counts as a rewind.

use std::collections::{BTreeMap, HashSet};

use super::evidence::{rewind_len, BLOCK};
use super::lex::{at, is_valid_json, key_name, skip_ws, string_end, value_extent};
use super::lex::{Extent, Span};
use super::scan::{Entry, EntryValue, RecordList, ScanOut};

/// A repeat at least this long counts as a strong rewind: two writers' copies of the
/// same text, never a chance match of field names.
const STRONG: usize = 64;

/// One record placed by its version's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlacedRecord {
    /// 0 for the version of the even blocks, 1 for the odd ones.
    pub version: usize,
    pub array: usize,
    pub span: Span,
}

/// What the blocks proved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub records: Vec<PlacedRecord>,
    /// The key span of a visible header of each record array, if any.
    pub keys: Vec<Option<Span>>,
    /// Who owns each byte of the input.
    pub owners: Owners,
}

/// Which version owns the bytes of a block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Owners {
    /// Each version owns its own blocks (the versions' ends are not both visible).
    #[default]
    ByBlock,
    /// The shorter version (`short`) ends at `end`; past it the longer one owns all.
    Cut { short: usize, end: usize },
}

impl Owners {
    /// The version whose bytes are at `pos`.
    pub(crate) fn of(self, pos: usize) -> usize {
        let class = (pos / BLOCK) % 2;
        match self {
            Owners::Cut { short, end } if class == short && pos > end => 1 - short,
            _ => class,
        }
    }

    /// True if a header of `version` strictly between `a` and `b` may be unseen: some
    /// byte there is not owned by `version`, or the range crosses a block boundary
    /// (`lines` reads no line across one, even between two blocks of one version, as past
    /// the shorter version's end).
    fn hidden_between(self, version: usize, a: usize, b: usize) -> bool {
        if b <= a + 1 {
            return false;
        }
        let (lo, hi) = (a + 1, b - 1);
        if lo / BLOCK != hi / BLOCK {
            return true;
        }
        match self {
            Owners::Cut { short, end } if version == short => {
                hi > end || other_block_in(version, lo, hi)
            }
            Owners::Cut { end, .. } => {
                lo <= hi.min(end) && other_block_in(version, lo, hi.min(end))
            }
            Owners::ByBlock => other_block_in(version, lo, hi),
        }
    }
}

/// True if `lo..=hi` touches a block of the other class (blocks alternate).
fn other_block_in(version: usize, lo: usize, hi: usize) -> bool {
    let (first, last) = (lo / BLOCK, hi / BLOCK);
    last > first || first % 2 != version
}

/// A line of the pretty-printed text that matters here.
#[derive(Debug, Clone, Copy)]
enum Line {
    Header { array: usize, key: Span },
    End(usize),
    Record(Span),
}

/// The visible headers of one version, as (array, key span), in input order.
#[derive(Debug, Clone, Default)]
struct Visible {
    headers: Vec<(usize, Span)>,
    valid: bool,
}

/// Places the records of two alternating writers' blocks; empty unless the model holds.
pub(crate) fn place(buf: &[u8], body: usize, keys: &[String]) -> Placement {
    let none = Placement::default();
    let Some(unit) = indent_unit(buf, body) else {
        return none;
    };
    if keys.is_empty() || !alternates(buf) {
        return none;
    }
    let lines = lines(buf, unit, keys);
    if keys_off_layout(buf, &lines, keys) {
        return none;
    }
    let ends: Vec<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::End(p) => Some(*p),
            _ => None,
        })
        .collect();
    let owners = match ends.as_slice() {
        [a, _] => Owners::Cut {
            short: (a / BLOCK) % 2,
            end: *a,
        },
        [] | [_] => Owners::ByBlock,
        _ => return none,
    };
    let layouts = layouts(&lines, owners, keys.len());
    let Some(rank) = order(&layouts, buf, body, keys) else {
        return none;
    };
    let end = ends.last().copied().unwrap_or(buf.len());
    let judge = Judge {
        layouts: &layouts,
        rank: &rank,
        owners,
        end,
    };
    let records = lines
        .iter()
        .filter_map(|l| match l {
            Line::Record(span) => judge.place(*span),
            _ => None,
        })
        .collect();
    Placement {
        records,
        keys: key_spans(&lines, keys.len()),
        owners,
    }
}

/// The indentation unit: `{`, a line break, then that many spaces before the first key.
fn indent_unit(buf: &[u8], body: usize) -> Option<usize> {
    let brace = skip_ws(buf, body);
    if at(buf, brace)? != b'{' {
        return None;
    }
    let mut p = brace + 1;
    if at(buf, p) == Some(b'\r') {
        p += 1;
    }
    if at(buf, p)? != b'\n' {
        return None;
    }
    let n = spaces(buf, p + 1);
    (n > 0 && at(buf, p + 1 + n) == Some(b'"')).then_some(n)
}

fn spaces(buf: &[u8], from: usize) -> usize {
    buf.get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b' ')
        .count()
}

/// Condition 1: strong rewinds two blocks apart, three in a row, never at consecutive
/// boundaries.
fn alternates(buf: &[u8]) -> bool {
    let strong: Vec<usize> = (1..=buf.len() / BLOCK)
        .filter(|&k| rewind_len(buf, k * BLOCK, STRONG).is_some())
        .collect();
    let consecutive = strong.windows(2).any(|w| matches!(w, [a, b] if b - a == 1));
    let chain = strong
        .windows(3)
        .any(|w| matches!(w, [a, b, c] if b - a == 2 && c - b == 2));
    chain && !consecutive
}

/// Every header, document end and candidate record line, each wholly inside one block
/// (the last block ends with the input).
fn lines(buf: &[u8], unit: usize, keys: &[String]) -> Vec<Line> {
    let mut out = Vec::new();
    for nl in memchr::memchr_iter(b'\n', buf) {
        let block_end = ((nl / BLOCK + 1) * BLOCK).min(buf.len());
        let n = spaces(buf, nl + 1);
        let t = nl + 1 + n;
        if t >= block_end {
            continue;
        }
        let line = match at(buf, t) {
            Some(b'}') if n == 0 => Some(Line::End(t)),
            Some(b'"') if n == unit => header(buf, t, block_end, keys),
            Some(b'{') if n == 2 * unit => record(buf, t, unit, block_end).map(Line::Record),
            _ => None,
        };
        out.extend(line);
    }
    out
}

/// True if a record-array key is used as a member name, its `"KEY"` and `:` inside one
/// block, anywhere but in a header `lines` found (another indent, a tab, a value that is
/// not an array, more on the line, a nested member). The reasoning about hidden headers
/// holds only if every header in a version's own bytes is seen, so then nothing is
/// placed. A key crossing a block boundary is hidden, which that reasoning allows for.
fn keys_off_layout(buf: &[u8], lines: &[Line], keys: &[String]) -> bool {
    let headers: HashSet<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Header { key, .. } => Some(key.start),
            _ => None,
        })
        .collect();
    keys.iter().any(|k| {
        let quoted = format!("\"{k}\"");
        memchr::memmem::find_iter(buf, quoted.as_bytes()).any(|q| {
            let colon = skip_ws(buf, q + quoted.len());
            at(buf, colon) == Some(b':') && q / BLOCK == colon / BLOCK && !headers.contains(&q)
        })
    })
}

/// `"KEY"` ws `:` ws `[` at `t`, KEY a record array, all before `block_end`.
fn header(buf: &[u8], t: usize, block_end: usize, keys: &[String]) -> Option<Line> {
    let key_end = string_end(buf, t, block_end)?;
    let key = Span::new(t, key_end);
    let name = key_name(key.of(buf))?;
    let array = keys.iter().position(|k| *k == name)?;
    let colon = skip_ws(buf, key_end);
    if at(buf, colon)? != b':' {
        return None;
    }
    let bracket = skip_ws(buf, colon + 1);
    (bracket < block_end && at(buf, bracket)? == b'[').then_some(Line::Header { array, key })
}

/// The object at `t` if it closes inside the block, is laid out as a record at depth 2
/// (members at `3 * unit`, `}` alone at `2 * unit`), is valid JSON and is followed by a
/// separator, a line break or the block's end.
fn record(buf: &[u8], t: usize, unit: usize, block_end: usize) -> Option<Span> {
    let Extent::Complete(end) = value_extent(buf, t, block_end) else {
        return None;
    };
    let span = Span::new(t, end);
    let empty = span.len() == 2;
    let laid_out = empty
        || (line_indent_after(buf, t + 1) == Some(3 * unit)
            && line_indent_before(buf, end - 1) == Some(2 * unit));
    let followed = end == block_end || matches!(at(buf, end), Some(b',' | b'\r' | b'\n'));
    (laid_out && followed && is_valid_json(span.of(buf))).then_some(span)
}

/// The indentation of the line that starts right after `pos` (a line break, then spaces).
fn line_indent_after(buf: &[u8], pos: usize) -> Option<usize> {
    let mut p = pos;
    if at(buf, p) == Some(b'\r') {
        p += 1;
    }
    if at(buf, p)? != b'\n' {
        return None;
    }
    Some(spaces(buf, p + 1))
}

/// The indentation before `close` if only spaces separate it from a line break.
fn line_indent_before(buf: &[u8], close: usize) -> Option<usize> {
    let head = buf.get(..close)?;
    let n = head.iter().rev().take_while(|&&b| b == b' ').count();
    let nl = close.checked_sub(n + 1)?;
    (at(buf, nl)? == b'\n').then_some(n)
}

/// Each version's visible headers; a version holding a key twice is not one version.
fn layouts(lines: &[Line], owners: Owners, arrays: usize) -> [Visible; 2] {
    let mut out = [Visible::default(), Visible::default()];
    for l in &mut out {
        l.valid = true;
    }
    for line in lines {
        let Line::Header { array, key } = *line else {
            continue;
        };
        if let Some(l) = out.get_mut(owners.of(key.start)) {
            if l.headers.iter().any(|(a, _)| *a == array) || array >= arrays {
                l.valid = false;
            }
            l.headers.push((array, key));
        }
    }
    out
}

/// The rank of each record array in the order both versions share (condition 3).
fn order(layouts: &[Visible; 2], buf: &[u8], body: usize, keys: &[String]) -> Option<Vec<usize>> {
    let n = keys.len();
    let mut found: Option<Vec<usize>> = None;
    for l in layouts.iter().filter(|l| l.valid && l.headers.len() == n) {
        let mut rank = vec![0; n];
        for (r, (array, _)) in l.headers.iter().enumerate() {
            *rank.get_mut(*array)? = r;
        }
        if found.as_ref().is_some_and(|f| *f != rank) {
            return None;
        }
        found = Some(rank);
    }
    found.or_else(|| first_member_order(buf, body, keys))
}

/// With two record arrays, the one that is the document's first member comes first.
fn first_member_order(buf: &[u8], body: usize, keys: &[String]) -> Option<Vec<usize>> {
    if keys.len() == 1 {
        return Some(vec![0]);
    }
    if keys.len() != 2 {
        return None;
    }
    let q = skip_ws(buf, skip_ws(buf, body) + 1);
    let end = string_end(buf, q, buf.len())?;
    let name = key_name(buf.get(q..end)?)?;
    match keys.iter().position(|k| *k == name)? {
        0 => Some(vec![0, 1]),
        _ => Some(vec![1, 0]),
    }
}

fn key_spans(lines: &[Line], arrays: usize) -> Vec<Option<Span>> {
    let mut out = vec![None; arrays];
    for line in lines {
        if let Line::Header { array, key } = *line {
            if let Some(slot @ None) = out.get_mut(array) {
                *slot = Some(key);
            }
        }
    }
    out
}

/// Decides the array of one candidate record.
struct Judge<'l> {
    layouts: &'l [Visible; 2],
    rank: &'l [usize],
    owners: Owners,
    /// Where the last document ends.
    end: usize,
}

impl Judge<'_> {
    fn place(&self, span: Span) -> Option<PlacedRecord> {
        let version = self.owners.of(span.start);
        let array = match self.owners {
            Owners::Cut { .. } => self.only(version, span.start)?,
            Owners::ByBlock => {
                let mine = self.only(version, span.start)?;
                (self.only(1 - version, span.start)? == mine).then_some(mine)?
            }
        };
        Some(PlacedRecord {
            version,
            array,
            span,
        })
    }

    /// Where `version`'s document ends.
    fn end_of(&self, version: usize) -> usize {
        match self.owners {
            Owners::Cut { short, end } if short == version => end,
            _ => self.end,
        }
    }

    /// The array of a record at `s` in `version`, if its headers prove one.
    fn only(&self, version: usize, s: usize) -> Option<usize> {
        let layout = self.layouts.get(version)?;
        if !layout.valid {
            return None;
        }
        let mut visible: Vec<(usize, usize)> = layout
            .headers
            .iter()
            .map(|(a, k)| (self.rank.get(*a).copied().unwrap_or(usize::MAX), k.start))
            .collect();
        visible.sort_by_key(|&(_, p)| p);
        if visible
            .windows(2)
            .any(|w| matches!(w, [x, y] if x.0 >= y.0))
        {
            return None;
        }
        let before = visible.iter().rev().find(|(_, p)| *p < s).copied();
        let after = visible.iter().find(|(_, p)| *p > s).copied();
        let upper = after.map_or(self.rank.len(), |(r, _)| r);
        let hidden_from = before.map_or(0, |(r, _)| r + 1);
        let gap_before = self
            .owners
            .hidden_between(version, before.map_or(0, |(_, p)| p), s);
        let gap_after =
            self.owners
                .hidden_between(version, s, after.map_or(self.end_of(version), |(_, p)| p));
        let mut ranks = Vec::new();
        if let Some((r, _)) = before {
            if hidden_from >= upper || gap_after {
                ranks.push(r);
            }
        }
        if gap_before {
            ranks.extend((hidden_from..upper).filter(|r| r + 1 == upper || gap_after));
        }
        match ranks.as_slice() {
            [r] => self.rank.iter().position(|x| x == r),
            _ => None,
        }
    }
}

/// Regroups the records of an interleaved input per version: those the scanner kept
/// (after a header in the same block) and those `place` proves; a record kept here
/// leaves the unplaced and repeated lists. Each (version, array) becomes one entry, so
/// that `emit.rs` keeps a record identical across versions once and every copy within
/// one version.
pub(crate) fn apply(buf: &[u8], body: usize, keys: &[String], out: &mut ScanOut) {
    let placement = place(buf, body, keys);
    if placement.records.is_empty() {
        return;
    }
    let mut key_of = placement.keys.clone();
    for e in &out.entries {
        if let EntryValue::Records(list) = &e.value {
            if let Some(slot) = key_of.get_mut(list.array) {
                *slot = Some(e.key);
            }
        }
    }
    let mut lists: BTreeMap<(usize, usize), Vec<Span>> = BTreeMap::new();
    let mut kept: HashSet<Span> = HashSet::new();
    for e in &mut out.entries {
        if let EntryValue::Records(list) = &mut e.value {
            for span in list.records.drain(..) {
                kept.insert(span);
                let version = placement.owners.of(span.start);
                lists.entry((version, list.array)).or_default().push(span);
            }
        }
    }
    for r in &placement.records {
        let renderable = key_of.get(r.array).is_some_and(Option::is_some);
        if renderable && kept.insert(r.span) {
            lists.entry((r.version, r.array)).or_default().push(r.span);
        }
    }
    for ((_, array), mut records) in lists {
        let (Some(Some(key)), Some(name)) = (key_of.get(array), keys.get(array)) else {
            continue;
        };
        records.sort_by_key(|s| s.start);
        out.entries.push(Entry {
            name: name.clone(),
            key: *key,
            value_start: key.end,
            value: EntryValue::Records(RecordList {
                array,
                records,
                lost: 0,
            }),
        });
    }
    out.unplaced.retain(|s| !kept.contains(s));
    out.repeated.retain(|s| !kept.contains(s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salvage::fuzzing::{check_spec, corrupted_bytes, Corruption, Layout};
    use crate::salvage::fuzzing::{Rec, Second, Spec};
    use crate::salvage::{salvage, Outcome, Shape};

    fn recs(from: u32, n: u32) -> Vec<Rec> {
        Rec::series(from, n)
    }

    fn spec(n_open: u32, n_closed: u32, second: Second, pretty: bool) -> Spec {
        Spec {
            open: recs(1, n_open),
            closed: recs(1 + n_open, n_closed),
            layout: Layout {
                pretty,
                ..Layout::default()
            },
            corruption: Corruption::Interleave {
                block: 4096,
                second,
            },
        }
    }

    fn edits(close_first: bool, open_one: bool, edits: u8) -> Second {
        Second {
            close_first,
            open_one,
            layout_bits: 0,
            edits,
        }
    }

    /// Kept records per array, after checking every one against its block's version.
    fn kept(spec: &Spec) -> [usize; 2] {
        if let Err(e) = check_spec(spec) {
            panic!("{e}\nspec: {spec:?}");
        }
        let s = salvage(&corrupted_bytes(spec), &Shape::positions());
        assert_eq!(s.report.outcome, Outcome::Ambiguous);
        assert!(s.report.interleaved);
        let n = |a: usize| s.records.iter().filter(|r| r.array == a).count();
        [n(0), n(1)]
    }

    #[test]
    fn versions_differing_around_the_header() {
        // every kept record is checked against its block's version by `kept`; here, how
        // many there are: (what the second writer did, least kept in open and closed)
        let cases: &[(&str, Second, [usize; 2])] = &[
            ("a new open one first", edits(false, false, 4), [6, 50]),
            (
                "the first open one closed (moved)",
                edits(true, false, 0),
                [6, 50],
            ),
            (
                "one opened before the header, the first closed one dropped after it",
                edits(false, true, 1),
                [6, 1],
            ),
            (
                "a new closed one right after the header",
                edits(false, false, 2),
                [6, 50],
            ),
            (
                "the first closed one dropped",
                edits(false, false, 1),
                [6, 1],
            ),
            (
                "the last closed one moved to the front",
                edits(false, false, 8),
                [6, 1],
            ),
            (
                "new open and closed ones first, the first open one closed",
                edits(true, true, 2 | 4),
                [6, 50],
            ),
        ];
        for (name, second, least) in cases {
            let got = kept(&spec(6, 120, *second, true));
            assert!(
                got[0] >= least[0] && got[1] >= least[1],
                "case: {name}: kept {got:?}"
            );
            // more open records: the headers land in other blocks; still nothing misplaced
            kept(&spec(25, 120, *second, true));
        }
    }

    #[test]
    fn headers_in_the_last_partial_block_are_seen() {
        // the shorter version ends in the last block, which the input does not fill: its
        // closed header there must be seen, or its last open records would be taken for
        // closed ones (the hidden-header reasoning would put the header before them)
        for n in 100..150 {
            let spec = spec(n, 0, edits(false, false, 4), true);
            kept(&spec);
        }
    }

    #[test]
    fn a_record_array_key_off_the_layout_places_nothing() {
        let spec = spec(6, 120, edits(true, false, 4), true);
        let bytes = corrupted_bytes(&spec);
        let arrays = &Shape::positions().record_arrays;
        assert!(!place(&bytes, 0, arrays).records.is_empty());
        // the same header, the same length, off the layout: indented by one space, by a
        // tab, or on the line that closes the array before it
        let header: &[u8] = b"\n  ],\n  \"closed_positions\": [";
        let variants: [&[u8]; 3] = [
            b"\n  ],\n \"closed_positions\":  [",
            b"\n  ],\n\t\"closed_positions\":  [",
            b"\n  ], \"closed_positions\":   [",
        ];
        let Some(i) = memchr::memmem::find(&bytes, header) else {
            panic!("no closed header in the first version");
        };
        for v in variants {
            assert_eq!(v.len(), header.len());
            let mut off = bytes.clone();
            off.splice(i..i + header.len(), v.iter().copied());
            assert!(place(&off, 0, arrays).records.is_empty(), "{v:?}");
        }
    }

    #[test]
    fn compact_text_is_not_placed_by_blocks() {
        let spec = spec(6, 120, edits(true, false, 4), false);
        let bytes = corrupted_bytes(&spec);
        assert!(place(&bytes, 0, &Shape::positions().record_arrays)
            .records
            .is_empty());
        kept(&spec);
    }

    fn judge_of<'l>(layouts: &'l [Visible; 2], rank: &'l [usize]) -> Judge<'l> {
        Judge {
            layouts,
            rank,
            owners: Owners::ByBlock,
            end: 100_000,
        }
    }

    fn visible(headers: &[(usize, usize)]) -> Visible {
        Visible {
            headers: headers
                .iter()
                .map(|&(a, p)| (a, Span::new(p, p + 10)))
                .collect(),
            valid: true,
        }
    }

    #[test]
    fn hidden_headers_leave_records_unplaced() {
        let b = BLOCK;
        // version 0 (even blocks): both headers visible; version 1: only its closed one
        let full = [
            visible(&[(0, 10), (1, 6 * b + 100)]),
            visible(&[(1, 5 * b + 100)]),
        ];
        // version 0 sees only its open header
        let partial = [visible(&[(0, 10)]), visible(&[])];
        let rank = [0, 1];
        let cases: &[(&[Visible; 2], usize, usize, Option<usize>)] = &[
            (&full, 0, 500, Some(0)),
            (&full, 0, 2 * b + 10, Some(0)),
            (&full, 0, 8 * b, Some(1)),
            // before its visible closed header: only the open header can precede
            (&full, 1, b + 100, Some(0)),
            (&full, 1, 5 * b + 500, Some(1)),
            // the closed header may hide in any odd block before the record
            (&partial, 0, 2 * b + 5, None),
            // ... but not in the same block as the open header
            (&partial, 0, 100, Some(0)),
            (&partial, 1, 3 * b, None),
        ];
        for (layouts, version, s, want) in cases {
            let got = judge_of(layouts, &rank).only(*version, *s);
            assert_eq!(got, *want, "version {version} at {s}");
        }
    }

    #[test]
    fn owners_past_the_shorter_end() {
        let b = BLOCK;
        let cut = Owners::Cut {
            short: 1,
            end: 3 * b + 10,
        };
        assert_eq!(cut.of(3 * b + 5), 1);
        assert_eq!(cut.of(3 * b + 11), 0);
        assert_eq!(cut.of(5 * b), 0);
        // past the shorter end every byte is version 0's: inside one block nothing hides,
        // but a header across a block boundary is never read, so it may be unseen
        assert!(!cut.hidden_between(0, 4 * b + 10, 5 * b - 10));
        assert!(cut.hidden_between(0, 4 * b, 6 * b));
        assert!(cut.hidden_between(0, 2 * b, 4 * b));
        assert!(cut.hidden_between(1, b + 1, 3 * b + 100));
        assert!(!cut.hidden_between(1, b + 1, b + 100));
    }

    #[test]
    fn indentation_unit() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"{\n  \"a\": 1}", Some(2)),
            (b"{\r\n    \"a\": 1}", Some(4)),
            (b"{\"a\": 1}", None),
            (b"{\n\"a\": 1}", None),
            (b"[\n  1]", None),
        ];
        for (input, want) in cases {
            assert_eq!(indent_unit(input, 0), *want, "input: {input:?}");
        }
    }
}
