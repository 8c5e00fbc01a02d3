//! Backup objects (SPEC.md section 2): the two kinds an object file may hold and
//! the rules that tie a delta object to its base. A *full* object is one zstd frame of the
//! content. A *delta* object is a header naming its base (a zstd skippable frame: kind, the
//! base's SHA-256 and size) then one zstd frame compressed with the base's content as its
//! prefix (`zstd --patch-from`). Either way the object's name is the SHA-256 of its
//! content. Compression itself is the writer's business: this module only encodes and
//! checks the header and the limits a reader enforces before decoding anything.

use crate::hex::Digest;

/// The first four bytes of a delta object: the zstd skippable frame magic `0x184D2A5E`
/// (little-endian). A zstd decoder skips the header, so `zstd -d --patch-from=BASE` reads a
/// delta object as it is.
pub const DELTA_MAGIC: [u8; 4] = [0x5E, 0x2A, 0x4D, 0x18];

/// The header's payload length (the skippable frame's size field): kind, base digest,
/// base size.
pub const DELTA_PAYLOAD_LEN: u32 = 1 + 32 + 8;

/// The whole header: magic, size field, payload.
pub const DELTA_HEADER_LEN: usize = 8 + DELTA_PAYLOAD_LEN as usize;

/// The kind byte of a delta whose frame is compressed with the base as its zstd prefix.
pub const DELTA_KIND_PREFIX: u8 = 1;

/// A delta's base is at most this many times its content's size: decoding a delta costs
/// the base and the content in memory, so both stay bounded by the recorded size.
pub const MAX_BASE_RATIO: u64 = 4;

/// A writer stores content as a delta only from this size on (smaller content is stored
/// whole: it costs little, and depends on no other object).
pub const DELTA_MIN: u64 = 1 << 20;

/// What a delta object names: its base object and that object's content size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaHeader {
    /// The SHA-256 of the base's content (the base object's name).
    pub base: Digest,
    /// The base's content size in bytes.
    pub base_size: u64,
}

/// What an object file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind<'a> {
    /// One zstd frame of the content.
    Full(&'a [u8]),
    /// The header, then one zstd frame to decode with the base's content as its prefix.
    Delta(DeltaHeader, &'a [u8]),
}

/// Why an object file is not a well-formed object of its name and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    /// The file starts like a delta but its header is cut short.
    Truncated,
    /// The header's size field is not [`DELTA_PAYLOAD_LEN`].
    BadLength(u32),
    /// The header's kind byte is not one this version knows.
    UnknownKind(u8),
    /// The delta names itself as its base.
    SelfBase,
    /// The base is larger than [`MAX_BASE_RATIO`] times the content.
    BaseTooLarge {
        /// The base size the header declares.
        base_size: u64,
        /// The content size the journal recorded.
        size: u64,
    },
}

impl std::fmt::Display for ObjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectError::Truncated => write!(f, "a delta header cut short"),
            ObjectError::BadLength(n) => write!(
                f,
                "a delta header of {n} bytes where {DELTA_PAYLOAD_LEN} are expected"
            ),
            ObjectError::UnknownKind(k) => write!(f, "a delta of unknown kind {k}"),
            ObjectError::SelfBase => write!(f, "a delta naming itself as its base"),
            ObjectError::BaseTooLarge { base_size, size } => write!(
                f,
                "a delta whose base of {base_size} bytes is over {MAX_BASE_RATIO} times its {size} bytes"
            ),
        }
    }
}

impl std::error::Error for ObjectError {}

impl DeltaHeader {
    /// The header's bytes, as they start a delta object.
    pub fn encode(&self) -> [u8; DELTA_HEADER_LEN] {
        let mut out = [0u8; DELTA_HEADER_LEN];
        let parts: [&[u8]; 5] = [
            &DELTA_MAGIC,
            &DELTA_PAYLOAD_LEN.to_le_bytes(),
            &[DELTA_KIND_PREFIX],
            &self.base.0,
            &self.base_size.to_le_bytes(),
        ];
        let mut at = 0;
        for p in parts {
            if let Some(slot) = out.get_mut(at..at + p.len()) {
                slot.copy_from_slice(p);
            }
            at += p.len();
        }
        out
    }
}

/// Splits an object file into its kind and its zstd frame. A file that does not start with
/// [`DELTA_MAGIC`] is a full object (whether it is a valid zstd frame is the decoder's to
/// say).
///
/// # Errors
/// A malformed delta header.
pub fn parse_object(bytes: &[u8]) -> Result<ObjectKind<'_>, ObjectError> {
    if bytes.get(..4) != Some(&DELTA_MAGIC[..]) {
        return Ok(ObjectKind::Full(bytes));
    }
    let header = bytes
        .get(..DELTA_HEADER_LEN)
        .ok_or(ObjectError::Truncated)?;
    let len = header.get(4..8).ok_or(ObjectError::Truncated)?;
    let len = u32::from_le_bytes(len.try_into().map_err(|_| ObjectError::Truncated)?);
    if len != DELTA_PAYLOAD_LEN {
        return Err(ObjectError::BadLength(len));
    }
    let payload = header.get(8..).ok_or(ObjectError::Truncated)?;
    let (kind, rest) = payload.split_first().ok_or(ObjectError::Truncated)?;
    if *kind != DELTA_KIND_PREFIX {
        return Err(ObjectError::UnknownKind(*kind));
    }
    let (base, size) = rest.split_at(32);
    let base = Digest(base.try_into().map_err(|_| ObjectError::Truncated)?);
    let base_size = u64::from_le_bytes(size.try_into().map_err(|_| ObjectError::Truncated)?);
    let frame = bytes.get(DELTA_HEADER_LEN..).unwrap_or_default();
    Ok(ObjectKind::Delta(DeltaHeader { base, base_size }, frame))
}

/// Checks a delta header against the object's name and recorded content size, before
/// anything is decoded: the base is another object, no larger than [`MAX_BASE_RATIO`]
/// times the content.
///
/// # Errors
/// [`ObjectError::SelfBase`], [`ObjectError::BaseTooLarge`].
pub fn check_delta(header: &DeltaHeader, name: &Digest, size: u64) -> Result<(), ObjectError> {
    if header.base == *name {
        return Err(ObjectError::SelfBase);
    }
    if header.base_size > size.saturating_mul(MAX_BASE_RATIO) {
        return Err(ObjectError::BaseTooLarge {
            base_size: header.base_size,
            size,
        });
    }
    Ok(())
}

/// Whether a writer stores content of `size` bytes as a delta against a base of
/// `base_size` bytes (the reader's limits hold, and the content is large enough to gain).
pub fn delta_worth(size: u64, base_size: u64) -> bool {
    size >= DELTA_MIN && base_size > 0 && base_size <= size.saturating_mul(MAX_BASE_RATIO)
}

/// The zstd window log a delta's frame needs so every byte of the base stays reachable
/// from every byte of the content: the smallest power of two covering both, from 10 to 31
/// (the largest zstd allows). A reader gives the decoder the same limit.
pub fn delta_window_log(size: u64, base_size: u64) -> u32 {
    let span = size.saturating_add(base_size).max(1);
    let log = 64 - (span - 1).leading_zeros();
    log.clamp(10, 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> DeltaHeader {
        DeltaHeader {
            base: Digest([7; 32]),
            base_size: 1234,
        }
    }

    #[test]
    fn header_round_trips() {
        let mut bytes = header().encode().to_vec();
        bytes.extend_from_slice(b"frame");
        assert_eq!(
            parse_object(&bytes),
            Ok(ObjectKind::Delta(header(), &b"frame"[..]))
        );
        assert_eq!(
            parse_object(b"\x28\xb5\x2f\xfd"),
            Ok(ObjectKind::Full(b"\x28\xb5\x2f\xfd"))
        );
        assert_eq!(parse_object(b""), Ok(ObjectKind::Full(b"")));
    }

    #[test]
    fn bad_headers() {
        let good = header().encode();
        assert_eq!(parse_object(&good[..20]), Err(ObjectError::Truncated));
        let mut len = good;
        len[4] = 40;
        assert_eq!(parse_object(&len), Err(ObjectError::BadLength(40)));
        let mut kind = good;
        kind[8] = 2;
        assert_eq!(parse_object(&kind), Err(ObjectError::UnknownKind(2)));
        let h = header();
        assert_eq!(check_delta(&h, &h.base, 1000), Err(ObjectError::SelfBase));
        assert!(matches!(
            check_delta(&h, &Digest([1; 32]), 300),
            Err(ObjectError::BaseTooLarge { .. })
        ));
        assert_eq!(check_delta(&h, &Digest([1; 32]), 309), Ok(()));
    }

    #[test]
    fn windows_cover_base_and_content() {
        assert_eq!(delta_window_log(0, 0), 10);
        assert_eq!(delta_window_log(1 << 20, 1 << 20), 21);
        assert_eq!(delta_window_log((1 << 20) + 1, 1 << 20), 22);
        assert_eq!(delta_window_log(u64::MAX, 1), 31);
        assert!(delta_worth(DELTA_MIN, 1) && !delta_worth(DELTA_MIN - 1, 1));
        assert!(!delta_worth(DELTA_MIN, 4 * DELTA_MIN + 1));
    }
}
