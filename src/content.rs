//! The new bytes of a file an operation writes: one buffer, or a salvage's output kept as
//! pieces of the damaged bytes it was made from ([`crate::salvage::Output`]), so that a
//! salvaged file never costs a second copy of itself. Either way the bytes are written and
//! hashed chunk by chunk, in order, and hashed at most once: the digest is remembered with
//! the bytes (an operation's new bytes are hashed for its intent, its plan and its report).
//! A salvage of a file cut short begins with most of the file itself, which the backup
//! hashes anyway: the two digests share that prefix ([`Hashed`]), hashed once.
//!
//! Invariant: the bytes never change once made; clones share them (and their digest).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use journal_format::Digest;
use sha2::{Digest as _, Sha256};

use crate::salvage::Output;

/// The new bytes of a file (cheap to clone: shared).
#[derive(Clone)]
pub struct Content(Arc<Inner>);

struct Inner {
    bytes: Bytes,
    sha256: OnceLock<Digest>,
}

enum Bytes {
    Whole(Vec<u8>),
    /// `output`'s pieces of `source` (the bytes it was salvaged from), whose digest is
    /// computed once into `hashed` for whoever asks first (`crate::plan::Observed`).
    Pieces {
        source: Arc<Vec<u8>>,
        hashed: Arc<OnceLock<Hashed>>,
        output: Output,
    },
}

/// Hasher states are kept at every multiple of this many bytes of a hashed buffer.
const MARK: usize = 1 << 20;

/// The SHA-256 of a buffer, and the hasher's state after each MiB of it: the digest of
/// other bytes that begin with a prefix of the buffer goes on from the last state within
/// that prefix.
pub struct Hashed {
    digest: Digest,
    marks: Vec<Sha256>,
}

impl Hashed {
    /// Hashes `bytes`, keeping the states.
    pub fn of(bytes: &[u8]) -> Hashed {
        let mut hasher = Sha256::new();
        let mut marks = Vec::new();
        let mut chunks = bytes.chunks_exact(MARK);
        for chunk in chunks.by_ref() {
            hasher.update(chunk);
            marks.push(hasher.clone());
        }
        hasher.update(chunks.remainder());
        Hashed {
            digest: Digest(hasher.finalize().into()),
            marks,
        }
    }

    /// The digest.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The hasher after the first `n` bytes of the buffer, for the largest multiple `n` of
    /// [`MARK`] up to `len` (a fresh hasher and 0 below one).
    fn state_within(&self, len: usize) -> (Sha256, usize) {
        match (len / MARK).checked_sub(1).and_then(|i| self.marks.get(i)) {
            Some(state) => (state.clone(), (len / MARK) * MARK),
            None => (Sha256::new(), 0),
        }
    }
}

impl fmt::Debug for Hashed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hashed")
            .field("marks", &self.marks.len())
            .finish_non_exhaustive()
    }
}

impl Content {
    /// These bytes.
    pub fn new(bytes: Vec<u8>) -> Content {
        Content::make(Bytes::Whole(bytes), OnceLock::new())
    }

    /// These bytes, whose SHA-256 is already proven to be `digest` (bytes a store read
    /// just verified against their object's name): they are not hashed again.
    pub fn with_sha256(bytes: Vec<u8>, digest: Digest) -> Content {
        Content::make(Bytes::Whole(bytes), OnceLock::from(digest))
    }

    /// The document a salvage of `source` emitted as `output` (`output`'s ranges are
    /// ranges of `source`); `hashed` is where the digest of `source` is (or will be) kept.
    pub fn salvaged(
        source: Arc<Vec<u8>>,
        hashed: Arc<OnceLock<Hashed>>,
        output: Output,
    ) -> Content {
        Content::make(
            Bytes::Pieces {
                source,
                hashed,
                output,
            },
            OnceLock::new(),
        )
    }

    fn make(bytes: Bytes, sha256: OnceLock<Digest>) -> Content {
        Content(Arc::new(Inner { bytes, sha256 }))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match &self.0.bytes {
            Bytes::Whole(b) => b.len(),
            Bytes::Pieces { output, .. } => output.len(),
        }
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in order, in chunks (one for a whole buffer).
    pub fn chunks(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.0.bytes {
            Bytes::Whole(b) => Box::new(std::iter::once(b.as_slice())),
            Bytes::Pieces { source, output, .. } => Box::new(output.chunks(source)),
        }
    }

    /// The bytes in one slice: borrowed when they are one buffer, else copied.
    pub fn contiguous(&self) -> Cow<'_, [u8]> {
        match &self.0.bytes {
            Bytes::Whole(b) => Cow::Borrowed(b),
            Bytes::Pieces { source, output, .. } => Cow::Owned(output.to_vec(source)),
        }
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.contiguous().into_owned()
    }

    /// SHA-256 of the bytes, computed on first use (chunk by chunk) and remembered; callers
    /// on two threads wait for one computation. Bytes that begin with at least a MiB of
    /// their source go on from the source's hasher state there (hashing the source if
    /// nobody did yet).
    pub fn sha256(&self) -> Digest {
        *self.0.sha256.get_or_init(|| {
            let (mut hasher, skip) = self.prefix_state();
            let mut skip = skip;
            for chunk in self.chunks() {
                let n = skip.min(chunk.len());
                skip -= n;
                hasher.update(chunk.get(n..).unwrap_or_default());
            }
            Digest(hasher.finalize().into())
        })
    }

    /// A hasher that has seen the first bytes of the content, and how many.
    fn prefix_state(&self) -> (Sha256, usize) {
        let Bytes::Pieces {
            source,
            hashed,
            output,
        } = &self.0.bytes
        else {
            return (Sha256::new(), 0);
        };
        match output.leading_input() {
            Some(prefix) if prefix >= MARK => hashed
                .get_or_init(|| Hashed::of(source))
                .state_within(prefix),
            _ => (Sha256::new(), 0),
        }
    }

    /// True if both are the very same bytes (one made, then cloned).
    pub fn same(&self, other: &Content) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Content {
        Content::new(bytes)
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pieces = match &self.0.bytes {
            Bytes::Whole(_) => 1,
            Bytes::Pieces { output, .. } => output.piece_count(),
        };
        f.debug_struct("Content")
            .field("len", &self.len())
            .field("pieces", &pieces)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salvage::{rebuild, Schema, Skeleton};

    #[test]
    fn pieces_read_hash_and_copy_like_the_bytes() {
        let input = br#"{"open_positions": [{"a": 1}, {"b": 2}], "closed_positions": [{"c"#;
        let source = Arc::new(input.to_vec());
        let rebuilt = rebuild(input, &Schema::positions(), &Skeleton::default());
        let whole = rebuilt.output.to_vec(input);
        let pieces = Content::salvaged(Arc::clone(&source), Arc::default(), rebuilt.output);
        let flat = Content::new(whole.clone());
        assert_eq!(pieces.len(), whole.len());
        assert_eq!(pieces.to_vec(), whole);
        assert_eq!(pieces.chunks().collect::<Vec<_>>().concat(), whole);
        assert_eq!(pieces.sha256(), crate::store::sha256(&whole));
        assert_eq!(pieces.sha256(), flat.sha256());
        assert!(pieces.same(&pieces.clone()) && !pieces.same(&flat));
        let known = Content::with_sha256(b"x".to_vec(), flat.sha256());
        assert_eq!(
            known.sha256(),
            flat.sha256(),
            "a proven digest is taken as is"
        );
        assert!(Content::new(Vec::new()).is_empty());
    }

    /// A salvage of a large file cut short: its digest, going on from the file's hasher
    /// state within the prefix they share (hashed first by either side), is the digest of
    /// its bytes; so is the file's.
    #[test]
    fn a_shared_prefix_is_hashed_once_and_right() {
        let mut text = String::from("{\"open_positions\": [");
        let mut i = 0u64;
        while text.len() < 3 * MARK + 12_345 {
            // distinct records: a text that repeats itself reads as interleaved writers
            let price = i.wrapping_mul(2_654_435_761) % 100_000;
            text.push_str(&format!(
                r#"{{"id": {i}, "entry_price": {price}.10, "size": 2.5}}, "#
            ));
            i += 1;
        }
        text.push_str(r#"{"symbol": "ETH"#);
        let input = text.into_bytes();
        let source = Arc::new(input.clone());
        for source_first in [false, true] {
            let rebuilt = rebuild(&input, &Schema::positions(), &Skeleton::default());
            assert!(rebuilt.output.leading_input().unwrap_or(0) > 3 * MARK);
            let whole = rebuilt.output.to_vec(&input);
            let hashed: Arc<OnceLock<Hashed>> = Arc::default();
            if source_first {
                let digest = hashed.get_or_init(|| Hashed::of(&source)).digest();
                assert_eq!(digest, crate::store::sha256(&input));
            }
            let pieces =
                Content::salvaged(Arc::clone(&source), Arc::clone(&hashed), rebuilt.output);
            assert_eq!(pieces.sha256(), crate::store::sha256(&whole));
            let marks = hashed.get().map_or(0, |h| h.marks.len());
            assert_eq!(marks, 3, "the source was hashed once, with its states");
            assert_eq!(
                hashed.get().map(Hashed::digest),
                Some(crate::store::sha256(&input))
            );
        }
    }
}
