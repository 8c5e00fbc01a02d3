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
    /// The file's records exceed the bound every writer keeps ([`MAX_RECORDS_BYTES`]).
    TooLarge(u64),
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
            ErrorKind::TooLarge(max) => write!(
                f,
                "the file's records go past {max} bytes, more than selfheal ever writes"
            ),
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
#[derive(Debug, Clone)]
enum Check {
    /// Every tag under this mac.
    Tags(Mac),
    /// Tags read but not checked: a keyed file under a key the reader does not hold.
    Unverified,
}

impl Check {
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

/// The most bytes of records (everything up to and including the last newline) one
/// transaction file may hold (SPEC.md, "Reader rules"). Writers never go past it, so a file
/// whose records would is damage; bytes after the last newline (a torn tail) are not
/// counted and are never buffered.
pub const MAX_RECORDS_BYTES: u64 = 64 << 20;

/// Decodes one transaction file held in memory (see [`Decoder`]).
///
/// `txn` is the transaction the file is named for, when the caller knows it.
pub fn decode_file(bytes: &[u8], mac: &Mac, txn: Option<u64>) -> FileDecode {
    let mut d = Decoder::new(mac.clone(), txn);
    d.feed(bytes);
    d.finish()
}

/// Decodes one keyed transaction file without checking its tags (each entry's `tag` is the
/// one written on its line): a file tagged with a key the reader does not hold, acceptable
/// only before a rotation to the reader's key (SPEC.md, "Reader rules"). Framing, records,
/// paths and the header still follow every other rule.
pub fn decode_file_unverified(bytes: &[u8], txn: Option<u64>) -> FileDecode {
    let mut d = Decoder::unverified(txn);
    d.feed(bytes);
    d.finish()
}

/// Decodes a keyed file under the first key of `ring` (the reader's own key first, then
/// older ones) that its first line verifies with, returning that key's index; else
/// without checking its tags (`None`). See [`key_for`].
pub fn decode_file_with_ring(
    bytes: &[u8],
    ring: &[Mac],
    txn: Option<u64>,
) -> (FileDecode, Option<usize>) {
    match key_for(bytes, ring) {
        Some(i) => (
            decode_file(bytes, ring.get(i).unwrap_or(&Mac::Sha256), txn),
            Some(i),
        ),
        None => (decode_file_unverified(bytes, txn), None),
    }
}

/// Which key of `ring` (the reader's own key first, then older ones) a keyed file is
/// decoded under, from `head`, its first bytes: the first key its first line verifies with;
/// `None` when none does (the file is then read without checking its tags). A file whose
/// first line is its only one, or is incomplete, is decoded under `ring[0]` as any file is
/// (rule 1 tells a torn tail apart).
pub fn key_for(head: &[u8], ring: &[Mac]) -> Option<usize> {
    let first = match head.iter().position(|&b| b == b'\n') {
        Some(nl) if nl + 1 < head.len() => head.get(..nl).unwrap_or_default(),
        _ => return Some(0),
    };
    ring.iter()
        .position(|m| matches!(m, Mac::HmacSha256(_)) && unframe(first, m).is_ok())
}

/// A terminated line whose framing failed: a torn tail if nothing follows it, corruption
/// otherwise.
#[derive(Debug, Clone)]
struct Pending {
    line: u64,
    offset: u64,
    len: u64,
    seq: Option<u64>,
    kind: ErrorKind,
}

/// Decodes one transaction file fed in chunks, with memory bounded by
/// [`MAX_RECORDS_BYTES`] whatever the file's size: a torn tail of any length (a NUL tail
/// after power loss) is counted, never kept. Feeding stops mattering once [`Decoder::done`]
/// is true (an error was found); a caller may stop reading then.
#[derive(Debug)]
pub struct Decoder {
    check: Check,
    expected_txn: Option<u64>,
    out: FileDecode,
    /// Bytes of the current, not yet terminated line (empty once it is over the limit).
    line: Vec<u8>,
    /// Where the current line starts, and how long it is so far.
    line_start: u64,
    line_len: u64,
    line_no: u64,
    pending: Option<Pending>,
    fed: u64,
}

impl Decoder {
    /// A decoder for the file of transaction `txn` (when known), checked with `mac`.
    pub fn new(mac: Mac, txn: Option<u64>) -> Decoder {
        Decoder::checking(Check::Tags(mac), txn)
    }

    /// A decoder that reads tags without checking them: a keyed file under a key the
    /// reader does not hold, acceptable only before a rotation to the reader's key (SPEC.md,
    /// "Reader rules", rule 7).
    pub fn unverified(txn: Option<u64>) -> Decoder {
        Decoder::checking(Check::Unverified, txn)
    }

    fn checking(check: Check, txn: Option<u64>) -> Decoder {
        Decoder {
            check,
            expected_txn: txn,
            out: FileDecode {
                entries: Vec::new(),
                tail: Tail::Clean,
                error: None,
            },
            line: Vec::new(),
            line_start: 0,
            line_len: 0,
            line_no: 0,
            pending: None,
            fed: 0,
        }
    }

    /// Whether an error was found: nothing fed after it matters.
    pub fn done(&self) -> bool {
        self.out.error.is_some()
    }

    /// How many bytes were fed.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Feeds the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() && !self.done() {
            self.resolve_pending();
            if self.done() {
                return;
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let (part, after) = rest.split_at(nl + 1);
                    self.fed += part.len() as u64;
                    self.extend(part.get(..nl).unwrap_or_default());
                    self.end_line();
                    rest = after;
                }
                None => {
                    self.fed += rest.len() as u64;
                    self.extend(rest);
                    rest = &[];
                }
            }
        }
    }

    /// Feeds `n` zero bytes (a hole of a sparse file): no newline, and never buffered past
    /// the limit.
    pub fn feed_zeros(&mut self, n: u64) {
        if n == 0 || self.done() {
            return;
        }
        self.resolve_pending();
        if self.done() {
            return;
        }
        self.fed += n;
        self.line_len = self.line_len.saturating_add(n);
        if self.over_limit() {
            self.line = Vec::new();
        } else {
            let len = usize::try_from(self.line_len).unwrap_or(usize::MAX);
            self.line.resize(len, 0);
        }
    }

    /// Bytes after a failed terminated line make it corruption.
    fn resolve_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.out.error = Some(DecodeError {
                line: p.line,
                offset: p.offset,
                seq: p.seq,
                kind: p.kind,
            });
        }
    }

    fn over_limit(&self) -> bool {
        self.line_start.saturating_add(self.line_len) > MAX_RECORDS_BYTES
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.line_len = self.line_len.saturating_add(bytes.len() as u64);
        if self.over_limit() {
            self.line = Vec::new();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    /// A line ended with its newline.
    fn end_line(&mut self) {
        self.line_no += 1;
        let line = std::mem::take(&mut self.line);
        let (offset, len) = (self.line_start, self.line_len + 1);
        self.line_start = self.line_start.saturating_add(len);
        self.line_len = 0;
        if self.line_start > MAX_RECORDS_BYTES {
            self.out.error = Some(DecodeError {
                line: self.line_no,
                offset,
                seq: None,
                kind: ErrorKind::TooLarge(MAX_RECORDS_BYTES),
            });
            return;
        }
        let seq = || claimed_seq(&line);
        let (body, tag) = match self.check.unframe(&line) {
            Ok(framed) => framed,
            Err(e) => {
                let kind = match e {
                    FrameError::BadFraming => ErrorKind::BadFraming,
                    FrameError::ChecksumMismatch => ErrorKind::ChecksumMismatch,
                };
                self.pending = Some(Pending {
                    line: self.line_no,
                    offset,
                    len,
                    seq: seq(),
                    kind,
                });
                return;
            }
        };
        let first = self.out.entries.is_empty();
        match decode_body(body, self.check.kind(), first, &mut self.expected_txn) {
            Ok(record) => self.out.entries.push(Entry {
                record,
                tag,
                line: self.line_no,
                offset,
            }),
            Err(kind) => {
                self.out.error = Some(DecodeError {
                    line: self.line_no,
                    offset,
                    seq: seq(),
                    kind,
                })
            }
        }
    }

    /// Everything was fed: what the file holds.
    pub fn finish(mut self) -> FileDecode {
        if self.done() {
            return self.out;
        }
        if let Some(p) = self.pending.take() {
            self.out.tail = Tail::Torn {
                offset: p.offset,
                len: p.len + self.line_len,
            };
        } else if self.line_len > 0 {
            self.out.tail = Tail::Torn {
                offset: self.line_start,
                len: self.line_len,
            };
        }
        self.out
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
        self.link(entry.record.seq, entry.record.prev, entry.tag)
    }

    /// Checks that a record with `seq` and `prev` follows the records taken in so far, then
    /// takes it in with its `tag`.
    ///
    /// # Errors
    /// [`ChainError`] when `seq` or `prev` do not follow.
    pub fn link(&mut self, seq: u64, prev: Digest, tag: Digest) -> Result<(), ChainError> {
        match (self.last, self.anchor) {
            (None, None) if seq == 1 && prev == Digest::GENESIS => {}
            (None, None) if seq == 1 => return Err(ChainError::BrokenLink { seq: 1 }),
            (None, Some((s, hash))) if seq == s.saturating_add(1) && prev == hash => {}
            (None, _) => return Err(ChainError::Unanchored { first_seq: seq }),
            (Some((s, t)), _) => {
                let expected = s.saturating_add(1);
                if seq != expected {
                    return Err(ChainError::Sequence {
                        expected,
                        found: seq,
                    });
                }
                if prev != t {
                    return Err(ChainError::BrokenLink { seq });
                }
            }
        }
        self.last = Some((seq, tag));
        Ok(())
    }

    /// Moves the head to a record already checked in order (the rest of a file whose
    /// records were chained to one another when it was read).
    pub fn advance(&mut self, seq: u64, tag: Digest) {
        self.last = Some((seq, tag));
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

/// The anchor of a journal's chain: the newest of the checkpoints of the *committed prune*
/// transactions and the quarantine records of the *committed quarantine* transactions of
/// `files` (one slice of entries per transaction file, in any order), by `through_txn`.
/// Files of transactions up to its `through_txn` are leftovers, outside the chain (SPEC.md,
/// "Reader rules", rule 5). `None`: the chain starts at genesis.
pub fn prune_anchor<'a>(files: impl IntoIterator<Item = &'a [Entry]>) -> Option<Checkpoint> {
    files
        .into_iter()
        .filter_map(file_anchor)
        .max_by_key(|c| c.through_txn)
}

/// The anchor one file offers: its checkpoint or quarantine record, when it is a committed
/// prune or quarantine transaction.
pub fn file_anchor(entries: &[Entry]) -> Option<Checkpoint> {
    let command = entries.iter().find_map(|e| match &e.record.body {
        Body::Begin(b) => Some(b.command.as_str()),
        _ => None,
    })?;
    let committed = entries
        .iter()
        .any(|e| matches!(e.record.body, Body::Commit(_)));
    if !committed {
        return None;
    }
    entries
        .iter()
        .find_map(|e| match (&e.record.body, command) {
            (Body::Checkpoint(c), "prune") => Some(*c),
            (Body::Quarantine(q), "quarantine") => Some(q.anchor()),
            _ => None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, Header, MacKind};

    fn header_line() -> Vec<u8> {
        let r = Record {
            v: VERSION,
            seq: 1,
            txn: 1,
            ts: "2026-01-01T00:00:00.000Z".into(),
            prev: Digest::GENESIS,
            body: Body::Header(Header {
                magic: MAGIC.into(),
                tool: "t".into(),
                mac: MacKind::Sha256,
            }),
        };
        crate::encode(&r, &Mac::Sha256)
            .map(|l| l.bytes)
            .unwrap_or_default()
    }

    #[test]
    fn a_hole_of_any_length_is_a_torn_tail_never_buffered() {
        let mut d = Decoder::new(Mac::Sha256, Some(1));
        let line = header_line();
        d.feed(&line);
        d.feed_zeros(3 << 30);
        assert!(d.line.capacity() <= MAX_RECORDS_BYTES as usize + 1);
        let out = d.finish();
        assert_eq!(out.entries.len(), 1);
        assert!(out.error.is_none());
        assert_eq!(
            out.tail,
            Tail::Torn {
                offset: line.len() as u64,
                len: 3 << 30
            }
        );
    }

    #[test]
    fn records_past_the_bound_are_damage() {
        let mut d = Decoder::new(Mac::Sha256, Some(1));
        d.feed(&header_line());
        d.feed_zeros(MAX_RECORDS_BYTES);
        d.feed(b"\nmore\n");
        let out = d.finish();
        assert!(
            matches!(
                out.error.as_ref().map(|e| &e.kind),
                Some(ErrorKind::TooLarge(_))
            ),
            "{:?}",
            out.error
        );
    }

    #[test]
    fn feeding_in_pieces_decodes_as_feeding_whole() {
        let mut bytes = header_line();
        bytes.extend_from_slice(b"{\"torn");
        let whole = decode_file(&bytes, &Mac::Sha256, Some(1));
        for size in [1, 2, 7, 64] {
            let mut d = Decoder::new(Mac::Sha256, Some(1));
            for chunk in bytes.chunks(size) {
                d.feed(chunk);
            }
            assert_eq!(d.finish(), whole, "pieces of {size}");
        }
    }
}
