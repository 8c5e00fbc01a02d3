//! The reader rules (SPEC.md, "Reader rules"): one file's bytes to records, a torn tail told
//! apart from corruption, and the hash chain checked across files, anchored at genesis or,
//! after a prune, at the newest committed checkpoint.

use crate::frame::{unframe, unframe_unverified, FrameError, Mac};
use crate::hex::Digest;
use crate::path::{validate_rel_path, PathError};
use crate::record::{Body, Checkpoint, MacKind, Record, Rekey, MAGIC, VERSION};
use serde::Deserialize;
use std::fmt;

/// A record that framed, verified and decoded, with where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The decoded record.
    pub record: Record,
    /// Its tag: the `prev` of the next record.
    pub tag: Digest,
    /// 1-based line number in its file.
    pub line: u64,
    /// Byte offset of the line in its file.
    pub offset: u64,
}

/// How a file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a good record.
    Clean,
    /// The final line is incomplete or fails its tag: an interrupted append.
    Torn {
        /// Offset where the torn bytes start (the length of the good prefix).
        offset: u64,
        /// How many bytes are torn.
        len: u64,
    },
}

/// Why a file could not be read past a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// 1-based line number of the bad record.
    pub line: u64,
    /// Its byte offset.
    pub offset: u64,
    /// The `seq` the bad line claims, when it can still be read from the unverified bytes
    /// (a hint for the operator; nothing is trusted from it).
    pub seq: Option<u64>,
    /// What is wrong with it.
    pub kind: ErrorKind,
}

/// What is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not `<body>\t<tag>`, and more lines follow.
    BadFraming,
    /// The tag does not match the body, and more lines follow.
    ChecksumMismatch,
    /// A format version this reader does not know: nothing may be appended.
    UnknownVersion(u64),
    /// The body is not a valid record of this version.
    BadRecord(String),
    /// The record names a path that is not a safe relative path.
    BadPath(String, PathError),
    /// The first record of a file is not a header.
    MissingHeader,
    /// A header with the wrong magic.
    BadMagic,
    /// The file's mac kind is not the one the reader was given.
    MacMismatch,
    /// The record belongs to another transaction than its file.
    WrongTransaction {
        /// The file's transaction.
        expected: u64,
        /// The record's.
        found: u64,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::BadFraming => f.write_str("bad framing"),
            ErrorKind::ChecksumMismatch => f.write_str("checksum mismatch"),
            ErrorKind::UnknownVersion(v) => write!(f, "unknown format version {v}"),
            ErrorKind::BadRecord(why) => write!(f, "bad record: {why}"),
            ErrorKind::BadPath(p, why) => write!(f, "refused path {p:?}: {why}"),
            ErrorKind::MissingHeader => f.write_str("first record is not a header"),
            ErrorKind::BadMagic => f.write_str("header magic is wrong"),
            ErrorKind::MacMismatch => f.write_str("header declares another tag algorithm"),
            ErrorKind::WrongTransaction { expected, found } => {
                write!(f, "record of transaction {found} in the file of {expected}")
            }
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (seq {seq}): {}", self.line, self.kind),
            None => write!(f, "line {}: {}", self.line, self.kind),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Everything a reader learned from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDecode {
    /// The good records, in order, up to the first error.
    pub entries: Vec<Entry>,
    /// How the file ends (meaningful when `error` is none).
    pub tail: Tail,
    /// The first bad record that is not a torn tail.
    pub error: Option<DecodeError>,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: u64,
}

#[derive(Deserialize)]
struct SeqProbe {
    seq: u64,
}

/// The `seq` a line claims, read without trusting it: the body before the last tab (or the
/// whole line when there is none) parsed just far enough to find `seq`.
fn claimed_seq(line: &[u8]) -> Option<u64> {
    let body = match line.iter().rposition(|&b| b == b'\t') {
        Some(tab) => line.get(..tab)?,
        None => line,
    };
    serde_json::from_slice::<SeqProbe>(body).ok().map(|p| p.seq)
}

/// How a file's tags are checked.
#[derive(Clone, Copy)]
enum Check<'a> {
    /// Every tag under this mac.
    Tags(&'a Mac),
    /// Tags read but not checked: a keyed file under a key the reader does not hold.
    Unverified,
}

impl Check<'_> {
    fn unframe<'l>(&self, line: &'l [u8]) -> Result<(&'l [u8], Digest), FrameError> {
        match self {
            Check::Tags(mac) => unframe(line, mac),
            Check::Unverified => unframe_unverified(line),
        }
    }

    fn kind(&self) -> MacKind {
        match self {
            Check::Tags(mac) => mac.kind(),
            Check::Unverified => MacKind::HmacSha256,
        }
    }
}

/// Decodes one transaction file.
///
/// `txn` is the transaction the file is named for, when the caller knows it.
pub fn decode_file(bytes: &[u8], mac: &Mac, txn: Option<u64>) -> FileDecode {
    decode(bytes, Check::Tags(mac), txn)
}

/// Decodes one keyed transaction file without checking its tags (each entry's `tag` is the
/// one written on its line): a file tagged with a key the reader does not hold, acceptable
/// only before a rotation to the reader's key (SPEC.md, "Reader rules", rule 7). Framing,
/// records, paths and the header still follow every other rule.
pub fn decode_file_unverified(bytes: &[u8], txn: Option<u64>) -> FileDecode {
    decode(bytes, Check::Unverified, txn)
}

/// Decodes a keyed file under the first key of `ring` (the reader's own key first, then
/// older ones) that its first line verifies with, returning that key's index; else
/// without checking its tags (`None`). A file whose first line is its only one, or is
/// incomplete, is decoded under `ring[0]` as any file is (rule 1 tells a torn tail apart).
pub fn decode_file_with_ring(
    bytes: &[u8],
    ring: &[Mac],
    txn: Option<u64>,
) -> (FileDecode, Option<usize>) {
    let own = ring.first().unwrap_or(&Mac::Sha256);
    let first = match bytes.iter().position(|&b| b == b'\n') {
        Some(nl) if nl + 1 < bytes.len() => bytes.get(..nl).unwrap_or_default(),
        _ => return (decode_file(bytes, own, txn), Some(0)),
    };
    let keyed = ring
        .iter()
        .enumerate()
        .find(|(_, m)| matches!(m, Mac::HmacSha256(_)) && unframe(first, m).is_ok());
    match keyed {
        Some((i, mac)) => (decode_file(bytes, mac, txn), Some(i)),
        None => (decode_file_unverified(bytes, txn), None),
    }
}

fn decode(bytes: &[u8], check: Check<'_>, txn: Option<u64>) -> FileDecode {
    let mut out = FileDecode {
        entries: Vec::new(),
        tail: Tail::Clean,
        error: None,
    };
    let mut offset = 0usize;
    let mut line_no = 0u64;
    let mut expected_txn = txn;
    while offset < bytes.len() {
        line_no += 1;
        let rest = bytes.get(offset..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            out.tail = torn(offset, rest.len());
            return out;
        };
        let line = rest.get(..nl).unwrap_or_default();
        let is_final = offset + nl + 1 == bytes.len();
        let at = |kind| DecodeError {
            line: line_no,
            offset: offset as u64,
            seq: claimed_seq(line),
            kind,
        };
        let body = match check.unframe(line) {
            Ok((body, tag)) => (body, tag),
            Err(_) if is_final => {
                out.tail = torn(offset, rest.len());
                return out;
            }
            Err(e) => {
                out.error = Some(at(match e {
                    FrameError::BadFraming => ErrorKind::BadFraming,
                    FrameError::ChecksumMismatch => ErrorKind::ChecksumMismatch,
                }));
                return out;
            }
        };
        match decode_body(
            body.0,
            check.kind(),
            out.entries.is_empty(),
            &mut expected_txn,
        ) {
            Ok(record) => out.entries.push(Entry {
                record,
                tag: body.1,
                line: line_no,
                offset: offset as u64,
            }),
            Err(kind) => {
                out.error = Some(at(kind));
                return out;
            }
        }
        offset += nl + 1;
    }
    out
}

fn torn(offset: usize, len: usize) -> Tail {
    Tail::Torn {
        offset: offset as u64,
        len: len as u64,
    }
}

fn decode_body(
    body: &[u8],
    kind: MacKind,
    first: bool,
    expected_txn: &mut Option<u64>,
) -> Result<Record, ErrorKind> {
    let probe: VersionProbe =
        serde_json::from_slice(body).map_err(|e| ErrorKind::BadRecord(e.to_string()))?;
    if probe.v != u64::from(VERSION) {
        return Err(ErrorKind::UnknownVersion(probe.v));
    }
    let record: Record =
        serde_json::from_slice(body).map_err(|e| ErrorKind::BadRecord(e.to_string()))?;
    for path in record.paths() {
        validate_rel_path(path).map_err(|why| ErrorKind::BadPath(path.to_string(), why))?;
    }
    match (&record.body, first) {
        (Body::Header(h), true) => {
            if h.magic != MAGIC {
                return Err(ErrorKind::BadMagic);
            }
            if h.mac != kind {
                return Err(ErrorKind::MacMismatch);
            }
        }
        (_, true) => return Err(ErrorKind::MissingHeader),
        (Body::Header(_), false) => {
            return Err(ErrorKind::BadRecord("a second header".into()));
        }
        _ => {}
    }
    match *expected_txn {
        Some(expected) if expected != record.txn => Err(ErrorKind::WrongTransaction {
            expected,
            found: record.txn,
        }),
        _ => {
            *expected_txn = Some(record.txn);
            Ok(record)
        }
    }
}

/// Why the chain across records broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// A record's `seq` is not the one after the previous record: a record was lost or moved.
    Sequence {
        /// The seq that should come next.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// A record's `prev` is not the previous record's tag: a record was edited or replaced.
    BrokenLink {
        /// The seq of the record whose `prev` is wrong.
        seq: u64,
    },
    /// The first record of the chain neither starts the journal (seq 1, genesis `prev`) nor
    /// continues from the newest committed checkpoint: records before it were lost.
    Unanchored {
        /// The seq the chain starts at.
        first_seq: u64,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::Sequence { expected, found } => write!(
                f,
                "record seq {found} where seq {expected} was expected (a record was lost or moved)"
            ),
            ChainError::BrokenLink { seq } => write!(
                f,
                "record seq {seq} does not chain to the record before it (edited or replaced)"
            ),
            ChainError::Unanchored { first_seq } => write!(
                f,
                "the journal starts at seq {first_seq}, which neither starts the journal nor \
                 continues from the newest committed checkpoint (records before it were lost)"
            ),
        }
    }
}

impl std::error::Error for ChainError {}

/// The hash chain across every record of a journal, fed in order (SPEC.md, "Reader rules",
/// rule 5).
#[derive(Debug, Clone, Default)]
pub struct Chain {
    last: Option<(u64, Digest)>,
    anchor: Option<(u64, Digest)>,
}

impl Chain {
    /// A chain that starts the journal: its first record must have seq 1 and a genesis `prev`.
    pub fn new() -> Chain {
        Chain::default()
    }

    /// A chain that continues from a checkpoint: its first record must have the seq after
    /// `checkpoint.seq` and `checkpoint.hash` as its `prev`.
    pub fn anchored(checkpoint: &Checkpoint) -> Chain {
        Chain {
            last: None,
            anchor: Some((checkpoint.seq, checkpoint.hash)),
        }
    }

    /// Checks that `entry` follows the records fed so far, then takes it in.
    ///
    /// # Errors
    /// [`ChainError`] when `seq` or `prev` do not follow.
    pub fn push(&mut self, entry: &Entry) -> Result<(), ChainError> {
        let r = &entry.record;
        match (self.last, self.anchor) {
            (None, None) if r.seq == 1 && r.prev == Digest::GENESIS => {}
            (None, None) if r.seq == 1 => return Err(ChainError::BrokenLink { seq: 1 }),
            (None, Some((seq, hash))) if r.seq == seq.saturating_add(1) && r.prev == hash => {}
            (None, _) => return Err(ChainError::Unanchored { first_seq: r.seq }),
            (Some((seq, tag)), _) => {
                let expected = seq.saturating_add(1);
                if r.seq != expected {
                    return Err(ChainError::Sequence {
                        expected,
                        found: r.seq,
                    });
                }
                if r.prev != tag {
                    return Err(ChainError::BrokenLink { seq: r.seq });
                }
            }
        }
        self.last = Some((r.seq, entry.tag));
        Ok(())
    }

    /// The last record taken in: its seq and tag (what the next record chains to).
    pub fn head(&self) -> Option<(u64, Digest)> {
        self.last.or(self.anchor)
    }

    /// Continues a chain from a known head (used when only the newest file is read).
    pub fn resume(seq: u64, tag: Digest) -> Chain {
        Chain {
            last: Some((seq, tag)),
            anchor: None,
        }
    }
}

/// The anchor of a journal's chain: the checkpoint with the highest `through_txn` among
/// the *committed prune* transactions of `files` (one slice of entries per transaction
/// file, in any order). Files of transactions up to its `through_txn` are pruned leftovers,
/// outside the chain (SPEC.md, "Reader rules", rule 5). `None`: the chain starts at genesis.
pub fn prune_anchor<'a>(files: impl IntoIterator<Item = &'a [Entry]>) -> Option<Checkpoint> {
    files
        .into_iter()
        .filter(|entries| is_committed_prune(entries))
        .flat_map(|entries| entries.iter())
        .filter_map(|e| match &e.record.body {
            Body::Checkpoint(c) => Some(*c),
            _ => None,
        })
        .max_by_key(|c| c.through_txn)
}

fn is_committed_prune(entries: &[Entry]) -> bool {
    let prune = entries
        .iter()
        .any(|e| matches!(&e.record.body, Body::Begin(b) if b.command == "prune"));
    prune
        && entries
            .iter()
            .any(|e| matches!(e.record.body, Body::Commit(_)))
}

#[derive(Deserialize)]
struct HeaderProbe {
    data: MacProbe,
}

#[derive(Deserialize)]
struct MacProbe {
    mac: crate::record::MacKind,
}

/// The `rekey` record of a committed `rekey` transaction, if `entries` are one.
pub fn committed_rekey(entries: &[Entry]) -> Option<&Rekey> {
    let committed = entries
        .iter()
        .any(|e| matches!(e.record.body, Body::Commit(_)));
    let rekey = entries.iter().find_map(|e| match &e.record.body {
        Body::Rekey(k) => Some(k),
        _ => None,
    });
    rekey.filter(|_| committed)
}

/// Why the keys of a journal's files break SPEC.md's reader rule 7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The file at `index` verifies with no key the reader holds, and no later file that
    /// does verify holds a committed `rekey`: damage, or the wrong key.
    Unverified {
        /// Index of the file in the slice given.
        index: usize,
    },
    /// The `rekey` of the file at `index` names a key id that is not the one of the key its
    /// own file (`key_id`) or the file before it (`previous`) is tagged with.
    WrongKeyId {
        /// Index of the file in the slice given.
        index: usize,
        /// The key id the record names.
        named: String,
        /// The key id of the key that tags the file it describes.
        actual: String,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Unverified { .. } => f.write_str(
                "the file's tags verify with no key held, and no later verified file rotates the journal key to one",
            ),
            KeyError::WrongKeyId { named, actual, .. } => write!(
                f,
                "the rekey record names key id {named}, but the file is tagged with key id {actual}"
            ),
        }
    }
}

/// Checks the keys of a journal's files, in id order, each with the mac that verified it
/// (`None`: read without its tags) — SPEC.md, "Reader rules", rule 7: every file read
/// without its tags comes before a verified file holding a committed `rekey`, and every
/// verified `rekey` names its own file's key and the key of the verified file before it.
///
/// # Errors
/// The first [`KeyError`].
pub fn check_keys(files: &[(Option<&Mac>, &[Entry])]) -> Result<(), KeyError> {
    for (index, (mac, entries)) in files.iter().enumerate() {
        let (Some(mac), Some(k)) = (
            mac,
            entries.iter().find_map(|e| match &e.record.body {
                Body::Rekey(k) => Some(k),
                _ => None,
            }),
        ) else {
            continue;
        };
        let wrong = |named: &str, actual: String| KeyError::WrongKeyId {
            index,
            named: named.to_string(),
            actual,
        };
        if k.key_id != mac.key_id() {
            return Err(wrong(&k.key_id, mac.key_id()));
        }
        let before = index.checked_sub(1).and_then(|i| files.get(i));
        if let Some((Some(prev), _)) = before {
            if k.previous != prev.key_id() {
                return Err(wrong(&k.previous, prev.key_id()));
            }
        }
    }
    let rotated_to = files
        .iter()
        .rposition(|(mac, entries)| mac.is_some() && committed_rekey(entries).is_some());
    match files
        .iter()
        .enumerate()
        .position(|(i, (mac, _))| mac.is_none() && rotated_to.is_none_or(|r| i > r))
    {
        Some(index) => Err(KeyError::Unverified { index }),
        None => Ok(()),
    }
}

/// The tag algorithm the file's first line declares, read without verifying anything, so a
/// reader can pick the [`Mac`] to verify the file with. `None` if the first line does not
/// say (the file is then checked with the reader's default and fails as it should).
pub fn declared_mac(bytes: &[u8]) -> Option<crate::record::MacKind> {
    let line = bytes.split(|&b| b == b'\n').next()?;
    let tab = line.iter().rposition(|&b| b == b'\t')?;
    let body = line.get(..tab)?;
    serde_json::from_slice::<HeaderProbe>(body)
        .ok()
        .map(|h| h.data.mac)
}
