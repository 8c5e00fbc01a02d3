//! Evidence read from the bytes themselves: whether two writers interleaved blocks
//! (text that rewinds at a 4 KiB boundary), what a damaged range looks like, and cheap
//! fingerprints of records. Pure functions over byte slices; nothing here allocates in
//! proportion to the input except the record fingerprints the caller keeps.

use std::collections::HashSet;

use super::lex::{at, is_ws, skip_ws, string_end};
use super::scan::DamageKind;

/// Block size of the writers whose interleaving `repeats_across_block` looks for.
pub(crate) const BLOCK: usize = 4096;
/// Bytes first compared after a block boundary, how far back they are looked for, and
/// how many earlier occurrences are tried.
const PROBE: usize = 16;
const LOOKBACK: usize = 2 * BLOCK;
const MAX_REWIND_TRIES: usize = 16;

/// True if the text rewinds at any 4 KiB boundary of the input.
pub(crate) fn any_block_rewinds(buf: &[u8]) -> bool {
    (1..=buf.len() / BLOCK).any(|k| rewinds_at(buf, k * BLOCK))
}

/// Two writers interleaving 4 KiB blocks rewind the text at a block boundary: the
/// bytes after a boundary in or just before the damaged region occur shortly before it.
pub(crate) fn repeats_across_block(buf: &[u8], damage: usize, until: usize) -> bool {
    let mut boundary = damage - damage % BLOCK;
    while boundary < until {
        if boundary > 0 && rewinds_at(buf, boundary) {
            return true;
        }
        boundary += BLOCK;
    }
    false
}

/// True if, for some `q` shortly before `boundary`, the text `q..boundary` occurs
/// again right after `boundary`: the second writer's block restarts at `q`.
fn rewinds_at(buf: &[u8], boundary: usize) -> bool {
    rewind_len(buf, boundary, PROBE).is_some()
}

/// How far the text rewinds at `boundary`: the length `boundary - q` (at least
/// `min_len` and 16 bytes, at most 8 KiB) of the nearest varied earlier text
/// `q..boundary` that occurs again right after `boundary`.
pub(crate) fn rewind_len(buf: &[u8], boundary: usize, min_len: usize) -> Option<usize> {
    let probe = buf.get(boundary..boundary + PROBE)?;
    if probe.iter().any(|&b| b < 0x20 && !is_ws(b)) {
        return None;
    }
    let lo = boundary.saturating_sub(LOOKBACK);
    let hi = boundary.checked_sub(min_len.max(PROBE))?;
    // nearest first: field names repeat in every record, and the true rewind is the
    // nearest occurrence that holds
    let window = buf.get(lo..hi + PROBE).unwrap_or_default();
    rfind_all(window, probe)
        .take(MAX_REWIND_TRIES)
        .find_map(|off| {
            let earlier = buf.get(lo + off..boundary).unwrap_or_default();
            let later = buf.get(boundary..boundary + earlier.len());
            let holds = later == Some(earlier) && is_varied(earlier);
            holds.then_some(earlier.len())
        })
}

/// Bytes searched forward at a time by [`rfind_all`].
const RFIND_CHUNK: usize = 1024;

/// The non-overlapping occurrences of `needle` in `hay`, last first: exactly what
/// `memchr::memmem::rfind_iter` yields (each next one ends at or before the start of the
/// previous one), found with the forward searcher, whose SIMD prefilter is several times
/// faster than the reverse one; it runs at every 4 KiB boundary of a damaged input.
fn rfind_all<'h>(hay: &'h [u8], needle: &[u8]) -> impl Iterator<Item = usize> + 'h {
    let finder = memchr::memmem::Finder::new(needle).into_owned();
    let n = needle.len().max(1);
    // Matches must end at or before `end`; every start at or after `searched` was looked
    // at, and those not yet yielded are in `pending` (ascending).
    let mut end = hay.len();
    let mut searched = hay.len();
    let mut pending: Vec<usize> = Vec::new();
    std::iter::from_fn(move || loop {
        while let Some(m) = pending.pop() {
            if m + n <= end {
                end = m;
                return Some(m);
            }
        }
        let hi = end.min(searched + n - 1);
        if searched == 0 || hi < n {
            return None;
        }
        let lo = hi.saturating_sub(RFIND_CHUNK.max(2 * n));
        let region = hay.get(lo..hi)?;
        let mut from = 0;
        while let Some(off) = region.get(from..).and_then(|r| finder.find(r)) {
            pending.push(lo + from + off);
            from += off + 1;
        }
        searched = lo;
    })
}

/// A record's bytes, hashed by their length and a few samples (records are long and
/// hashing all of their bytes would cost as much as the scan), compared in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampled<'a>(pub &'a [u8]);

impl std::hash::Hash for Sampled<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let b = self.0;
        let n = b.len();
        n.hash(state);
        for at in [0, n / 2, n.saturating_sub(32)] {
            b.get(at..(at + 32).min(n)).unwrap_or_default().hash(state);
        }
    }
}

/// The first key of an object's text, raw (quotes included).
pub(crate) fn first_key(record: &[u8]) -> Option<&[u8]> {
    first_key_of(record)
}

pub(crate) fn first_key_of(record: &[u8]) -> Option<&[u8]> {
    if at(record, 0)? != b'{' {
        return None;
    }
    let q = skip_ws(record, 1);
    let end = string_end(record, q, record.len())?;
    record.get(q..end)
}

/// The top-level keys of an object's text (empty if it does not parse).
pub(crate) fn record_keys(record: &[u8]) -> HashSet<String> {
    std::str::from_utf8(record)
        .ok()
        .and_then(|text| crate::pyjson::members(text).ok())
        .map(|m| m.into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default()
}

/// Padding: only NUL and whitespace. Truncated: the input ends in the range, inside a
/// document, and the range holds only text (maybe followed by padding). Else invalid.
pub(crate) fn classify(bytes: &[u8], ends_input_inside_document: bool) -> DamageKind {
    let is_pad = |b: &u8| *b == 0 || is_ws(*b);
    if bytes.iter().all(is_pad) {
        return DamageKind::Padding;
    }
    let text_len = bytes.iter().rposition(|b| !is_pad(b)).map_or(0, |i| i + 1);
    let text = bytes.get(..text_len).unwrap_or_default();
    let controls = text.iter().any(|&b| b < 0x20 && !is_ws(b));
    // a multi-byte character cut by the end is still text
    let bad_utf8 = std::str::from_utf8(text).is_err_and(|e| e.error_len().is_some());
    if ends_input_inside_document && !controls && !bad_utf8 {
        DamageKind::Truncated
    } else {
        DamageKind::Invalid
    }
}

/// Text with at least 10 distinct bytes: a rewind must not be a run like `[[[[` or spaces.
fn is_varied(text: &[u8]) -> bool {
    let mut seen = [false; 256];
    let mut distinct = 0;
    for &b in text {
        if let Some(slot) = seen.get_mut(usize::from(b)) {
            distinct += usize::from(!*slot);
            *slot = true;
        }
    }
    distinct >= 10
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rfind_all` yields what `memchr::memmem::rfind_iter` yields, on text made of few
    /// distinct bytes (many overlapping occurrences), runs and record-like text.
    #[test]
    fn rfind_all_matches_rfind_iter() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let record = br#"{"symbol": "BTC-USDT", "size": 1.5, "strategy": "grid"}, "#;
        let mut hays: Vec<Vec<u8>> = vec![
            vec![b' '; 9000],
            record.iter().copied().cycle().take(8200).collect(),
            Vec::new(),
            b"abc".to_vec(),
        ];
        for alphabet in [2u64, 3, 5] {
            let len = usize::try_from(next() % 5000).unwrap_or(0) + 100;
            hays.push((0..len).map(|_| b'a' + (next() % alphabet) as u8).collect());
        }
        for hay in &hays {
            for needle_len in [1usize, 2, 3, 16] {
                for start in [0usize, 7, hay.len() / 2, hay.len().saturating_sub(16)] {
                    let Some(needle) = hay.get(start..start + needle_len) else {
                        continue;
                    };
                    let want: Vec<usize> = memchr::memmem::rfind_iter(hay, needle).collect();
                    let got: Vec<usize> = rfind_all(hay, needle).collect();
                    assert_eq!(got, want, "needle {needle:?} in {} bytes", hay.len());
                }
            }
            let absent: Vec<usize> = rfind_all(hay, b"\x01\x02").collect();
            assert!(absent.is_empty());
        }
    }
}
