//! Word-at-a-time helpers of the scanner: eight bytes read as one `u64` to skip digits and
//! plain string bytes, compare and hash keys, and the exact fast path for plain decimals.
//! Each answers for the bytes it is given only; none reads past the slice.

/// Byte classes for the string fast path: 0 = plain ASCII, 1 = needs a look.
pub(super) static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || i >= 0x80;
        i += 1;
    }
    t
};

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Slots of the extracted-string cache (direct-mapped by key hash).
pub(super) const CACHE_SLOTS: usize = 256;

/// Exact powers of ten as f64 (10^22 is the largest exactly representable one).
pub(super) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Eight bytes at `i`, little-endian, when there are eight.
#[inline]
pub(super) fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The high bit of each byte of `w` that is not an ASCII digit.
#[inline]
pub(super) fn non_digits(w: u64) -> u64 {
    let t = w ^ (ONES * u64::from(b'0'));
    // Per byte: 0..=9 stays below 0x80 after adding 0x76, anything else reaches it or
    // already had its high bit; no byte carries into the next.
    ((t & !HIGHS).wrapping_add(ONES * 0x76) | t) & HIGHS
}

/// Whether two byte strings are equal, a word at a time (keys are short; this avoids a
/// call to `memcmp`).
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while let (Some(x), Some(y)) = (word(a, i), word(b, i)) {
        if x != y {
            return false;
        }
        i += 8;
    }
    // At most seven bytes left: a loop, not a call.
    a.iter().skip(i).zip(b.iter().skip(i)).all(|(x, y)| x == y)
}

/// The exact value of a plain decimal (`-?digits(.digits)?`, at most 19 digits, the
/// integer of its digits below 2^53 and at most 22 of them after the point), or `None`
/// for anything else (then the general parser decides). Exact because the integer and the
/// power of ten are both exact in f64 and IEEE division rounds correctly.
#[inline]
pub(super) fn fast_f64(text: &[u8]) -> Option<f64> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mut m: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                // m holds at most 18 digits here: `m * 10 + 9` stays below 10^19
                count += 1;
                if count > 19 {
                    return None;
                }
                m = m * 10 + u64::from(c - b'0');
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b'.' => frac = Some(0),
            _ => return None,
        }
    }
    if m >= 1 << 53 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // m < 2^53: exact
    let v = m as f64 / POW10.get(frac.unwrap_or(0)).copied()?;
    Some(if neg { -v } else { v })
}

/// A fast hash of a key's raw bytes, a word at a time (keys are short).
#[inline]
pub(super) fn key_hash(raw: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = raw.len() as u64;
    let mut chunks = raw.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    if let Some(dst) = w.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K)
}

/// Whether any byte of `w` is a quote, a backslash, below 0x20 or at least 0x80.
#[inline]
pub(super) fn has_special(w: u64) -> bool {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (quote | backslash | control | (w & HIGHS)) != 0
}
