//! Reading the pretty-printed layout: the indentation unit, the strong rewinds two blocks
//! apart, the lines that are record-array headers, records and document ends (never a line
//! across a block boundary), each version's visible headers and the order of the arrays.

use super::owners::Owners;
use super::{Line, Visible};
use crate::salvage::evidence::{rewind_len, BLOCK};
use crate::salvage::lex::{
    at, is_valid_json, key_name, skip_ws, string_end, value_extent, Extent, Span,
};
use std::collections::HashSet;

/// A repeat at least this long counts as a strong rewind: two writers' copies of the
/// same text, never a chance match of field names.
pub(super) const STRONG: usize = 64;

/// The indentation unit: `{`, a line break, then that many spaces before the first key.
pub(super) fn indent_unit(buf: &[u8], body: usize) -> Option<usize> {
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

pub(super) fn spaces(buf: &[u8], from: usize) -> usize {
    buf.get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b' ')
        .count()
}

/// Condition 1: strong rewinds two blocks apart, three in a row, never at consecutive
/// boundaries.
pub(super) fn alternates(buf: &[u8]) -> bool {
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
pub(super) fn lines(buf: &[u8], unit: usize, keys: &[String]) -> Vec<Line> {
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
pub(super) fn keys_off_layout(buf: &[u8], lines: &[Line], keys: &[String]) -> bool {
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
pub(super) fn header(buf: &[u8], t: usize, block_end: usize, keys: &[String]) -> Option<Line> {
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
pub(super) fn record(buf: &[u8], t: usize, unit: usize, block_end: usize) -> Option<Span> {
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
pub(super) fn line_indent_after(buf: &[u8], pos: usize) -> Option<usize> {
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
pub(super) fn line_indent_before(buf: &[u8], close: usize) -> Option<usize> {
    let head = buf.get(..close)?;
    let n = head.iter().rev().take_while(|&&b| b == b' ').count();
    let nl = close.checked_sub(n + 1)?;
    (at(buf, nl)? == b'\n').then_some(n)
}

/// Each version's visible headers; a version holding a key twice is not one version.
pub(super) fn layouts(lines: &[Line], owners: Owners, arrays: usize) -> [Visible; 2] {
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
pub(super) fn order(
    layouts: &[Visible; 2],
    buf: &[u8],
    body: usize,
    keys: &[String],
) -> Option<Vec<usize>> {
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
pub(super) fn first_member_order(buf: &[u8], body: usize, keys: &[String]) -> Option<Vec<usize>> {
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

pub(super) fn key_spans(lines: &[Line], arrays: usize) -> Vec<Option<Span>> {
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
