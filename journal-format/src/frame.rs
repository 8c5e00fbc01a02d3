//! Line framing and tags (SPEC.md, "Framing"): `<compact JSON body>\t<64 hex tag>\n`.
//!
//! The tag is SHA-256 of the exact body bytes, or HMAC-SHA256 under the journal key. A body is
//! never re-serialised to be checked: the tag is computed over the bytes as they are on disk.

use crate::hex::Digest;
use crate::record::{MacKind, Record};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

/// The message whose HMAC under a key is that key's id ([`Mac::key_id`]).
pub const KEY_ID_LABEL: &[u8] = b"selfheal-journal-key-id";

/// How tags are computed and checked.
#[derive(Clone)]
pub enum Mac {
    /// Plain SHA-256: detects accidental damage and, through the chain, lost or moved records.
    Sha256,
    /// HMAC-SHA256 under a key kept outside the state root: also detects deliberate edits.
    HmacSha256(Vec<u8>),
}

impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mac::Sha256 => "Mac::Sha256",
            Mac::HmacSha256(_) => "Mac::HmacSha256(<key>)",
        })
    }
}

impl Mac {
    /// The kind a header declares for this mac.
    pub fn kind(&self) -> MacKind {
        match self {
            Mac::Sha256 => MacKind::Sha256,
            Mac::HmacSha256(_) => MacKind::HmacSha256,
        }
    }

    /// What names the key without revealing it (SPEC.md, "Key rotation"): `sha256` for
    /// plain tags, else the first 16 hex digits of HMAC-SHA256 of [`KEY_ID_LABEL`] under
    /// the key.
    pub fn key_id(&self) -> String {
        match self {
            Mac::Sha256 => "sha256".into(),
            Mac::HmacSha256(_) => {
                let mut hex = self.tag(KEY_ID_LABEL).to_hex();
                hex.truncate(16);
                hex
            }
        }
    }

    /// The tag of `body`.
    pub fn tag(&self, body: &[u8]) -> Digest {
        match self {
            Mac::Sha256 => Digest(Sha256::digest(body).into()),
            Mac::HmacSha256(key) => {
                // HMAC accepts keys of any length; new_from_slice cannot fail for it.
                match Hmac::<Sha256>::new_from_slice(key) {
                    Ok(mut m) => {
                        m.update(body);
                        Digest(m.finalize().into_bytes().into())
                    }
                    Err(_) => Digest(Sha256::digest(body).into()),
                }
            }
        }
    }
}

/// An encoded line and its tag (the `prev` of the next record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes to append, ending in `\n`.
    pub bytes: Vec<u8>,
    /// The tag written at the end of the line.
    pub tag: Digest,
}

/// Encodes `record` as one line.
///
/// # Errors
/// Only if serde_json cannot serialise the record (a summary with a non-finite float).
pub fn encode(record: &Record, mac: &Mac) -> Result<Line, serde_json::Error> {
    let mut bytes = serde_json::to_vec(record)?;
    let tag = mac.tag(&bytes);
    bytes.push(b'\t');
    bytes.extend_from_slice(tag.to_hex().as_bytes());
    bytes.push(b'\n');
    Ok(Line { bytes, tag })
}

/// Why one line failed to frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// No tab, or the tag is not 64 lowercase hex digits.
    BadFraming,
    /// The tag does not match the body.
    ChecksumMismatch,
}

/// Splits a line (without its `\n`) into the body and checks its tag.
///
/// # Errors
/// [`FrameError`] when the line is not `<body>\t<tag>` or the tag does not match.
pub fn unframe<'a>(line: &'a [u8], mac: &Mac) -> Result<(&'a [u8], Digest), FrameError> {
    let (body, tag) = unframe_unverified(line)?;
    if mac.tag(body) != tag {
        return Err(FrameError::ChecksumMismatch);
    }
    Ok((body, tag))
}

/// Splits a line (without its `\n`) into the body and its tag **without** checking the
/// tag: for a file tagged with a key the reader does not hold (SPEC.md, "Reader rules",
/// rule 7).
///
/// # Errors
/// [`FrameError::BadFraming`] when the line is not `<body>\t<tag>`.
pub fn unframe_unverified(line: &[u8]) -> Result<(&[u8], Digest), FrameError> {
    let tab = line
        .iter()
        .rposition(|&b| b == b'\t')
        .ok_or(FrameError::BadFraming)?;
    let (body, rest) = line.split_at(tab);
    let tag = rest
        .get(1..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(Digest::from_hex)
        .ok_or(FrameError::BadFraming)?;
    Ok((body, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_differs_from_plain_and_by_key() {
        let body = b"{\"v\":1}";
        let plain = Mac::Sha256.tag(body);
        let k1 = Mac::HmacSha256(b"k1".to_vec()).tag(body);
        let k2 = Mac::HmacSha256(b"k2".to_vec()).tag(body);
        assert_ne!(plain, k1);
        assert_ne!(k1, k2);
    }

    #[test]
    fn key_ids_name_keys() {
        assert_eq!(Mac::Sha256.key_id(), "sha256");
        let k1 = Mac::HmacSha256(b"k1".to_vec()).key_id();
        assert_eq!(k1.len(), 16);
        assert_ne!(k1, Mac::HmacSha256(b"k2".to_vec()).key_id());
        assert_eq!(k1, Mac::HmacSha256(b"k1".to_vec()).key_id());
    }

    #[test]
    fn unframe_rejects() {
        let mac = Mac::Sha256;
        let good = format!("{{}}\t{}", mac.tag(b"{}").to_hex());
        assert!(unframe(good.as_bytes(), &mac).is_ok());
        assert_eq!(unframe(b"{}", &mac), Err(FrameError::BadFraming));
        assert_eq!(unframe(b"{}\tzz", &mac), Err(FrameError::BadFraming));
        let bad = format!("{{ }}\t{}", mac.tag(b"{}").to_hex());
        assert_eq!(
            unframe(bad.as_bytes(), &mac),
            Err(FrameError::ChecksumMismatch)
        );
    }
}
