//! The engine's side of the journal: reading every transaction file under
//! `logs/backups/journal/`, checking each against the reader rules and the chain, cutting a
//! torn tail (after saving it aside), and appending records for a new transaction. Encoding,
//! framing and the rules themselves live in `journal-format` (see its SPEC.md); this module
//! adds only file handling.

use crate::error::{Error, Result};
use crate::fsx::{AppendFile, Kind, Read_, Root};
use crate::paths::RelPath;
use journal_format::{
    self as jf, Body, Chain, Checkpoint, Digest, Entry, FileDecode, Header, Mac, MacKind, Record,
    Tail, TxnState,
};

/// The directory holding selfheal's own state (backups, journal, torn tails) in the
/// subdirectories [`OWN_DIRS`]. It is shared: the bot keeps its own rolling backups in it,
/// which selfheal never changes, counts or reports.
pub const BACKUPS_DIR: &str = "logs/backups";
/// The journal directory.
pub const JOURNAL_DIR: &str = "logs/backups/journal";
/// Where torn journal tails are saved.
pub const TORN_DIR: &str = "logs/backups/torn";
/// selfheal's own subdirectories of [`BACKUPS_DIR`]: everything it owns there.
pub const OWN_DIRS: [&str; 3] = [JOURNAL_DIR, crate::store::OBJECTS_DIR, TORN_DIR];

/// One transaction file, decoded.
#[derive(Debug, Clone)]
pub struct TxnFile {
    /// Transaction id.
    pub txn: u64,
    /// Its path.
    pub path: RelPath,
    /// Its good records.
    pub entries: Vec<Entry>,
    /// How it ends.
    pub tail: Tail,
    /// Whether its tags were verified; `false` for a file tagged with an earlier journal key
    /// that was not given (read without its tags, SPEC.md, "Reader rules", rule 7).
    pub verified: bool,
}

impl TxnFile {
    /// The records without positions.
    pub fn records(&self) -> Vec<Record> {
        self.entries.iter().map(|e| e.record.clone()).collect()
    }

    /// Committed, aborted or unfinished (grammar already checked at load): the last
    /// record decides.
    pub fn state(&self) -> TxnState {
        match self.entries.last().map(|e| &e.record.body) {
            Some(Body::Commit(_)) => TxnState::Committed,
            Some(Body::Abort(_)) => TxnState::Aborted,
            _ => TxnState::Unfinished,
        }
    }

    /// The `begin` record's command, if begun.
    pub fn command(&self) -> Option<&str> {
        self.entries.iter().find_map(|e| match &e.record.body {
            Body::Begin(b) => Some(b.command.as_str()),
            _ => None,
        })
    }
}

/// Why the journal cannot be trusted or extended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Damage that is not a torn tail, a broken chain or grammar: JOURNAL_INTEGRITY.
    Corrupt {
        /// The file.
        file: RelPath,
        /// The 1-based line of the first bad record, when one record is at fault.
        line: Option<u64>,
        /// Its `seq`, when known (for a line failing its tag, the seq it claims).
        seq: Option<u64>,
        /// What failed.
        why: String,
    },
    /// A format version this binary does not know: nothing may be appended.
    Version {
        /// The file.
        file: RelPath,
        /// The version found.
        version: u64,
    },
}

impl Problem {
    /// The error a writing command returns for this problem.
    pub fn to_error(&self, root: &Root) -> Error {
        match self {
            Problem::Corrupt { file, .. } => Error::JournalCorrupt {
                file: root.display(file),
                why: self.what(),
            },
            Problem::Version { file, version } => Error::JournalVersion {
                file: root.display(file),
                version: *version,
                known: jf::VERSION,
            },
        }
    }

    /// What failed, naming the record (without the file).
    fn what(&self) -> String {
        match self {
            Problem::Corrupt { line, seq, why, .. } => match (line, seq) {
                (Some(l), Some(s)) => format!("line {l} (seq {s}): {why}"),
                (Some(l), None) => format!("line {l}: {why}"),
                (None, Some(s)) => format!("seq {s}: {why}"),
                (None, None) => why.clone(),
            },
            Problem::Version { version, .. } => format!(
                "format version {version} is unknown to this selfheal (knows {})",
                jf::VERSION
            ),
        }
    }

    /// One line for reports: the file, then the record and what failed.
    pub fn describe(&self) -> String {
        match self {
            Problem::Corrupt { file, .. } | Problem::Version { file, .. } => {
                format!("{file}: {}", self.what())
            }
        }
    }
}

/// A torn tail found at the end of the newest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The file.
    pub file: RelPath,
    /// Where the torn bytes start.
    pub offset: u64,
    /// How many bytes.
    pub len: u64,
    /// Where they were saved, once saved.
    pub saved_to: Option<RelPath>,
}

/// The whole journal as read from disk.
#[derive(Debug)]
pub struct Journal {
    /// Every transaction file that could be read, oldest first.
    pub txns: Vec<TxnFile>,
    /// The first reason the journal cannot be trusted, if any.
    pub problem: Option<Problem>,
    /// A torn tail on the newest file.
    pub torn: Option<Torn>,
    /// Files whose names are not transaction files (reported, never touched).
    pub strays: Vec<String>,
    /// The newest committed checkpoint: transactions up to its `through_txn` were pruned,
    /// and any of their files still present are leftovers outside the chain.
    pub anchor: Option<Checkpoint>,
    chain: Chain,
    mac: Mac,
    old_macs: Vec<Mac>,
}

fn journal_dir() -> RelPath {
    RelPath::new(JOURNAL_DIR).unwrap_or_else(|_| std::process::abort())
}

/// One file as read in the first pass, with the key that verified it (`None`: read without
/// its tags).
struct Decoded {
    txn: u64,
    path: RelPath,
    file: FileDecode,
    mac: Option<Mac>,
}

impl Journal {
    /// Reads and checks every transaction file. Damage is recorded in `problem`, not
    /// returned as an error, so read-only commands can still show what is there.
    ///
    /// Two passes (SPEC.md, "Reader rules"): every file is decoded first, so the newest
    /// committed checkpoint is known before the chain is walked from it.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load(root: &Root, mac: Mac) -> Result<Journal> {
        Journal::load_with_old_keys(root, mac, Vec::new())
    }

    /// [`Journal::load`], also verifying files tagged with the earlier journal keys `old`
    /// (from before a key rotation); files under a key neither `mac` nor `old` holds are read
    /// without their tags, which rule 7 of SPEC.md allows only before a rotation.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load_with_old_keys(root: &Root, mac: Mac, old: Vec<Mac>) -> Result<Journal> {
        let mut j = Journal {
            txns: Vec::new(),
            problem: None,
            torn: None,
            strays: Vec::new(),
            anchor: None,
            chain: Chain::new(),
            mac,
            old_macs: old,
        };
        let mut decoded = j.decode_all(root)?;
        j.check_rotation(&mut decoded);
        j.anchor = jf::prune_anchor(decoded.iter().map(|d| d.file.entries.as_slice()));
        j.chain = j.anchor.as_ref().map_or_else(Chain::new, Chain::anchored);
        let count = decoded.len();
        for (i, d) in decoded.into_iter().enumerate() {
            if !j.take_file(d, i + 1 == count) {
                break;
            }
        }
        Ok(j)
    }

    /// First pass: decodes every transaction file in id order, up to the first one that
    /// cannot be decoded (recorded as the problem).
    fn decode_all(&mut self, root: &Root) -> Result<Vec<Decoded>> {
        let dir = journal_dir();
        let mut ids = Vec::new();
        for e in root.list(Some(&dir))? {
            match jf::parse_file_name(&e.name) {
                Some(t) => ids.push((t, e.kind)),
                None if e.name.starts_with(crate::fsx::TMP_PREFIX) => {}
                None => self.strays.push(e.name),
            }
        }
        ids.sort_unstable_by_key(|(t, _)| *t);
        let mut keyed = false;
        let mut out = Vec::new();
        for (txn, kind) in ids {
            let path = dir.join(&jf::file_name(txn))?;
            if kind != Kind::File {
                // Not ours: selfheal only ever creates regular files there, and could
                // neither read nor replace it (the next transaction would need its name).
                let why = "not a regular file (a directory, FIFO or symlink has its name)";
                self.fail(path, None, None, why.into());
                break;
            }
            let bytes = match root.read(&path, u64::MAX)? {
                Read_::File(b, _) => b,
                _ => continue,
            };
            let Some(mac) = self.file_mac(&path, &bytes, &mut keyed) else {
                break;
            };
            let (file, mac) = self.decode_keyed(&bytes, mac, txn);
            if let Some(err) = &file.error {
                self.problem = Some(match err.kind {
                    jf::ErrorKind::UnknownVersion(version) => Problem::Version {
                        file: path,
                        version,
                    },
                    _ => Problem::Corrupt {
                        file: path,
                        line: Some(err.line),
                        seq: err.seq,
                        why: err.kind.to_string(),
                    },
                });
                break;
            }
            out.push(Decoded {
                txn,
                path,
                file,
                mac,
            });
        }
        Ok(out)
    }

    /// Decodes one file with `mac` (what its header declares and the configuration allows);
    /// a keyed file whose tags do not verify under the configured key is tried with the
    /// earlier keys, else read without its tags. Returns the key that verified it.
    fn decode_keyed(&self, bytes: &[u8], mac: Mac, txn: u64) -> (FileDecode, Option<Mac>) {
        if mac.kind() != MacKind::HmacSha256 {
            return (jf::decode_file(bytes, &mac, Some(txn)), Some(mac));
        }
        let mut ring = vec![mac];
        ring.extend(self.old_macs.iter().cloned());
        let (file, used) = jf::decode_file_with_ring(bytes, &ring, Some(txn));
        (file, used.and_then(|i| ring.get(i).cloned()))
    }

    /// Rule 7 of SPEC.md: files read without their tags must come before a rotation to a
    /// key that verifies; the first file breaking it is the problem, and nothing from it on
    /// is taken.
    fn check_rotation(&mut self, decoded: &mut Vec<Decoded>) {
        let files: Vec<(Option<&Mac>, &[Entry])> = decoded
            .iter()
            .map(|d| (d.mac.as_ref(), d.file.entries.as_slice()))
            .collect();
        let (index, line, why) = match jf::check_keys(&files) {
            Ok(()) => return,
            Err(jf::KeyError::Unverified { index }) => {
                let why = decoded.get(index).map(|d| self.unverified_why(d));
                (index, Some(1), why.unwrap_or_default())
            }
            Err(e @ jf::KeyError::WrongKeyId { index, .. }) => {
                let line = decoded.get(index).and_then(|d| {
                    d.file.entries.iter().find_map(|x| match x.record.body {
                        Body::Rekey(_) => Some(x.line),
                        _ => None,
                    })
                });
                (index, line, e.to_string())
            }
        };
        let Some(d) = decoded.get(index) else {
            return;
        };
        let seq = d.file.entries.first().map(|e| e.record.seq);
        self.problem = Some(Problem::Corrupt {
            file: d.path.clone(),
            line,
            seq,
            why,
        });
        decoded.truncate(index);
    }

    /// Why a file read without its tags cannot be taken: its first line fails its tag under
    /// the configured key; when the file is itself a rotation, which key it names.
    fn unverified_why(&self, d: &Decoded) -> String {
        match jf::committed_rekey(&d.file.entries) {
            Some(k) => format!(
                "checksum mismatch: transaction {} rotated the journal key to key id {}, but journal_key_file holds key id {} (set journal_key_file to the key selfheal journal rekey was given)",
                d.txn,
                k.key_id,
                self.mac.key_id()
            ),
            None => "checksum mismatch".into(),
        }
    }

    /// The tag algorithm of one file, or `None` (with the problem recorded) when the file's
    /// declaration is not acceptable.
    fn file_mac(&mut self, path: &RelPath, bytes: &[u8], keyed: &mut bool) -> Option<Mac> {
        let why = match (jf::declared_mac(bytes), &self.mac) {
            (Some(MacKind::Sha256), Mac::HmacSha256(_)) if *keyed => {
                "an unkeyed file follows keyed ones (downgrade)"
            }
            (Some(MacKind::Sha256), _) => return Some(Mac::Sha256),
            (Some(MacKind::HmacSha256), Mac::Sha256) => {
                "the journal is keyed but no journal_key_file is configured"
            }
            (Some(MacKind::HmacSha256), m) => {
                *keyed = true;
                return Some(m.clone());
            }
            (None, m) => return Some(m.clone()),
        };
        self.fail(path.clone(), Some(1), None, why.into());
        None
    }

    /// Second pass over one decoded file: grammar, the chain (unless it is a pruned
    /// leftover), tail and unfinished rules. Returns false once a problem stops the walk.
    fn take_file(&mut self, d: Decoded, last: bool) -> bool {
        let Decoded {
            txn,
            path,
            file,
            mac,
        } = d;
        let records: Vec<Record> = file.entries.iter().map(|e| e.record.clone()).collect();
        if let Err(e) = jf::view(&records) {
            let line = file
                .entries
                .iter()
                .find(|x| x.record.seq == e.seq)
                .map(|x| x.line);
            return self.fail(path, line, Some(e.seq), e.why);
        }
        if !self.is_leftover(txn) {
            for entry in &file.entries {
                if let Err(e) = self.chain.push(entry) {
                    return self.fail(
                        path,
                        Some(entry.line),
                        Some(entry.record.seq),
                        e.to_string(),
                    );
                }
            }
        }
        if let Tail::Torn { offset, len } = file.tail {
            if !last {
                let why = format!("torn record at byte {offset} in a file that is not the newest");
                return self.fail(path, None, None, why);
            }
            self.torn = Some(Torn {
                file: path.clone(),
                offset,
                len,
                saved_to: None,
            });
        }
        let t = TxnFile {
            txn,
            path,
            entries: file.entries,
            tail: file.tail,
            verified: mac.is_some(),
        };
        let unfinished = !last && t.state() == TxnState::Unfinished;
        let p = t.path.clone();
        self.txns.push(t);
        if unfinished {
            return self.fail(
                p,
                None,
                None,
                "an unfinished transaction is followed by another".into(),
            );
        }
        true
    }

    fn fail(&mut self, file: RelPath, line: Option<u64>, seq: Option<u64>, why: String) -> bool {
        self.problem = Some(Problem::Corrupt {
            file,
            line,
            seq,
            why,
        });
        false
    }

    /// Whether transaction `txn` was pruned by a committed checkpoint (its file, if still
    /// present, is a leftover of an interrupted prune, outside the chain).
    pub fn is_leftover(&self, txn: u64) -> bool {
        self.anchor.is_some_and(|c| txn <= c.through_txn)
    }

    /// The transactions that stand: every transaction read except pruned leftovers.
    pub fn kept(&self) -> impl Iterator<Item = &TxnFile> {
        self.txns.iter().filter(|t| !self.is_leftover(t.txn))
    }

    /// Forgets transactions up to `checkpoint.through_txn` after a prune removed their
    /// files, and takes the checkpoint as the anchor.
    pub fn forget_pruned(&mut self, checkpoint: Checkpoint) {
        self.txns.retain(|t| t.txn > checkpoint.through_txn);
        self.anchor = Some(checkpoint);
    }

    /// The seq and tag the next record chains to.
    pub fn head(&self) -> (u64, Digest) {
        self.chain.head().unwrap_or((0, Digest::GENESIS))
    }

    /// The id the next transaction gets.
    pub fn next_txn(&self) -> u64 {
        self.txns.last().map_or(1, |t| t.txn + 1)
    }

    /// The transaction `txn`, if present.
    pub fn find(&self, txn: u64) -> Option<&TxnFile> {
        self.txns.iter().find(|t| t.txn == txn)
    }

    /// The newest transaction, if it is unfinished.
    pub fn unfinished(&self) -> Option<&TxnFile> {
        self.txns
            .last()
            .filter(|t| t.state() == TxnState::Unfinished)
    }

    /// The tag algorithm for new records.
    pub fn mac(&self) -> &Mac {
        &self.mac
    }

    /// The transactions read without their tags (tagged with an earlier journal key that
    /// was not given): all older than the newest key rotation.
    pub fn unverified(&self) -> impl Iterator<Item = &TxnFile> {
        self.txns.iter().filter(|t| !t.verified)
    }

    /// Saves a torn tail under `logs/backups/torn/` and cuts it from the journal file, so the
    /// file ends on its last good record again.
    ///
    /// # Errors
    /// I/O errors; the tail stays in place if saving it failed.
    pub fn repair_torn_tail(&mut self, root: &Root) -> Result<()> {
        let Some(torn) = self.torn.as_mut() else {
            return Ok(());
        };
        if torn.saved_to.is_some() {
            return Ok(());
        }
        let bytes = match root.read(&torn.file, u64::MAX)? {
            Read_::File(b, _) => b,
            _ => return Ok(()),
        };
        let start = usize::try_from(torn.offset).unwrap_or(usize::MAX);
        let tail = bytes.get(start..).unwrap_or_default();
        let dir = RelPath::new(TORN_DIR)?;
        root.ensure_dir(&dir, 0o700)?;
        let name = format!("{}.{}.torn", torn.file.file_name(), now_nanos());
        let saved = dir.join(&name)?;
        let mut f = root.create_append(&saved, 0o600)?;
        f.append_sync(tail)?;
        root.sync_dir(&dir)?;
        root.truncate(&torn.file, torn.offset)?;
        torn.saved_to = Some(saved);
        Ok(())
    }

    /// Starts transaction `self.next_txn()`: creates its file and writes the header and
    /// `begin` durably (file and directory).
    ///
    /// # Errors
    /// I/O errors; a journal with a problem is refused.
    pub fn begin(&mut self, root: &Root, begin: jf::Begin) -> Result<Writer> {
        if let Some(p) = &self.problem {
            return Err(p.to_error(root));
        }
        let txn = self.next_txn();
        let path = journal_dir().join(&jf::file_name(txn))?;
        let file = root.create_append(&path, 0o600)?;
        let mut w = Writer {
            file,
            txn,
            head: self.head(),
            mac: self.mac.clone(),
            entries: Vec::new(),
            poisoned: false,
        };
        w.append_many(vec![self.header(), Body::Begin(begin)], true)?;
        root.sync_dir(&journal_dir())?;
        Ok(w)
    }

    /// Opens the unfinished newest transaction to append its `abort`.
    ///
    /// # Errors
    /// I/O errors; refused if the newest transaction is not unfinished.
    pub fn resume_unfinished(&self, root: &Root) -> Result<Writer> {
        let Some(t) = self.unfinished() else {
            return Err(Error::Refused("no unfinished transaction to close".into()));
        };
        let mut w = Writer {
            file: root.open_append(&t.path)?,
            txn: t.txn,
            head: self.head(),
            mac: self.mac.clone(),
            entries: Vec::new(),
            poisoned: false,
        };
        if t.entries.is_empty() {
            // Interrupted before its header was durable: give the file one first.
            w.append(self.header(), true)?;
        }
        Ok(w)
    }

    fn header(&self) -> Body {
        Body::Header(Header {
            magic: jf::MAGIC.into(),
            tool: format!("selfheal {}", env!("CARGO_PKG_VERSION")),
            mac: self.mac.kind(),
        })
    }

    /// Takes in the records a writer appended, so later reads in this process see them.
    pub fn absorb(&mut self, w: Writer) {
        for e in &w.entries {
            // The writer chained them itself; a failure here would be a bug, not damage.
            let _ = self.chain.push(e);
        }
        match self.txns.iter_mut().find(|t| t.txn == w.txn) {
            Some(t) => t.entries.extend(w.entries),
            None => self.txns.push(TxnFile {
                txn: w.txn,
                path: w.file.path().clone(),
                entries: w.entries,
                tail: Tail::Clean,
                verified: true,
            }),
        }
    }
}

/// Appends the records of one transaction. After a failed write or fsync it is poisoned:
/// the file may then hold bytes of records it does not know were written (a record whose
/// fsync failed is still in the page cache, a failed write may have left part of a line),
/// so appending more could chain a record after a lost or torn one. Nothing more is
/// appended; the next run's recovery reads what the file really holds and closes the
/// transaction.
#[derive(Debug)]
pub struct Writer {
    file: AppendFile,
    txn: u64,
    head: (u64, Digest),
    mac: Mac,
    entries: Vec<Entry>,
    poisoned: bool,
}

impl Writer {
    /// The transaction id.
    pub fn txn(&self) -> u64 {
        self.txn
    }

    /// Appends one record; `sync` makes it (and every earlier one) durable.
    ///
    /// # Errors
    /// I/O errors naming the journal file.
    pub fn append(&mut self, body: Body, sync: bool) -> Result<()> {
        self.append_many(vec![body], sync)
    }

    /// Whether an earlier write or fsync failed (nothing more is appended).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Appends records with one write and at most one fsync.
    ///
    /// # Errors
    /// I/O errors naming the journal file; [`Error::Poisoned`] after an earlier one.
    pub fn append_many(&mut self, bodies: Vec<Body>, sync: bool) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let mut bytes = Vec::new();
        let mut new = Vec::new();
        let (mut seq, mut prev) = self.head;
        for body in bodies {
            seq += 1;
            let record = Record {
                v: jf::VERSION,
                seq,
                txn: self.txn,
                ts: now_rfc3339(),
                prev,
                body,
            };
            let line = jf::encode(&record, &self.mac).map_err(|e| Error::JournalCorrupt {
                file: self.file.path().as_path().into(),
                why: format!("cannot encode a record: {e}"),
            })?;
            prev = line.tag;
            bytes.extend_from_slice(&line.bytes);
            new.push(Entry {
                record,
                tag: line.tag,
                line: 0,
                offset: 0,
            });
        }
        let written = if sync {
            self.file.append_sync(&bytes)
        } else {
            self.file.append(&bytes)
        };
        if let Err(e) = written {
            self.poisoned = true;
            return Err(e);
        }
        self.head = (seq, prev);
        self.entries.extend(new);
        Ok(())
    }
}

/// Now as RFC 3339 UTC with milliseconds and `Z`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
