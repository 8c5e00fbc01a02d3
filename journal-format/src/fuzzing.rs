//! The property the `journal_decode` fuzz target checks, as a function so that
//! `tests/fuzz_replay.rs` replays the committed seeds on stable. Not part of the format.

use crate::{decode_file, Chain, Mac, Tail};

/// Any bytes: decoding never panics; the good prefix (every byte up to the end of the last
/// good record) decodes again to exactly the same records, with a clean tail and no error;
/// feeding the records to a chain never panics; nor does decoding against a key ring or
/// without tags, nor checking the keys of what that gives.
///
/// # Errors
/// A description of the first broken property.
pub fn check_decode(data: &[u8]) -> Result<(), String> {
    for mac in [Mac::Sha256, Mac::HmacSha256(b"fuzz-key".to_vec())] {
        let full = decode_file(data, &mac, None);
        let mut chain = Chain::new();
        for e in &full.entries {
            let _ = chain.push(e);
        }
        let end = full.entries.last().map_or(0, |e| {
            let start = usize::try_from(e.offset).unwrap_or(usize::MAX);
            let rest = data.get(start..).unwrap_or_default();
            start
                + rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |p| p + 1)
        });
        let prefix = data.get(..end).ok_or("prefix beyond the input")?;
        let again = decode_file(prefix, &mac, None);
        if again.entries != full.entries {
            return Err(format!(
                "the good prefix ({end} bytes) decodes to other records"
            ));
        }
        if again.error.is_some() || again.tail != Tail::Clean {
            return Err(format!(
                "the good prefix ({end} bytes) is not clean: {:?} {:?}",
                again.error, again.tail
            ));
        }
    }
    let ring = [Mac::HmacSha256(b"fuzz-key".to_vec()), Mac::Sha256];
    let (keyed, used) = crate::decode_file_with_ring(data, &ring, None);
    let unverified = crate::decode_file_unverified(data, None);
    let mac = used.and_then(|i| ring.get(i));
    let _ = crate::check_keys(&[(mac, &keyed.entries), (None, &unverified.entries)]);
    Ok(())
}
