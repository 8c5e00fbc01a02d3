//! The engine's side of the journal: reading the transaction files under
//! `logs/backups/journal/` by the reader rules (`journal-format`, its SPEC.md; each file
//! streamed with bounded memory), the index that lets a run read only the newest file
//! (`index`), the facts the startup checks take from the history (`facts`), the run record
//! of runs that wrote no transaction (`runs`), cutting a torn tail after saving a bounded
//! part of it (`torn`), and appending the records of a new transaction. Encoding, framing
//! and the rules themselves live in `journal-format`; this module adds only file handling.

mod facts;
mod index;
pub(crate) mod meta;
mod read;
mod runs;
mod torn;

pub use facts::{decision_key, Decision, Facts, Known};
pub use index::{FULL_VERIFY_S, INDEX_FILE, SETTLE_NS};
pub use meta::META_DIR;
pub use read::{entries_up_to_damage, scan, scan_dir, Keys, OnFile, Scanned};
pub use runs::{RunRecord, RUNS_FILE};
pub use torn::TORN_KEEP;

use crate::error::{Error, Result};
use crate::fsx::{AppendFile, Root};
use crate::paths::RelPath;
use journal_format::{
    self as jf, Body, Checkpoint, Digest, Entry, Header, Mac, Record, Tail, TxnState,
};

/// The directory of selfheal's own state (backups, journal, torn tails).
pub const BACKUPS_DIR: &str = "logs/backups";
/// The journal directory.
pub const JOURNAL_DIR: &str = "logs/backups/journal";
/// Where torn journal tails are saved.
pub const TORN_DIR: &str = "logs/backups/torn";
/// Where damaged journals are moved aside, one directory each.
pub const QUARANTINE_DIR: &str = "logs/backups/quarantine";
/// selfheal's own subdirectories of [`BACKUPS_DIR`]: everything it owns there (the bot
/// keeps its own files beside them).
pub const OWN_DIRS: [&str; 5] = [
    JOURNAL_DIR,
    crate::store::OBJECTS_DIR,
    TORN_DIR,
    META_DIR,
    QUARANTINE_DIR,
];

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
    /// Whether its tags were verified (false: tagged with an earlier journal key that was
    /// not given, read without its tags; only before a key rotation).
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
                why: format!("{}; {}", self.what(), quarantine_advice(root)),
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
        format!("{}: {}", self.file(), self.what())
    }

    /// [`Problem::describe`] and, for damage, how to get out of it.
    pub fn describe_with_advice(&self, root: &Root) -> String {
        match self {
            Problem::Corrupt { .. } => format!("{}; {}", self.describe(), quarantine_advice(root)),
            Problem::Version { .. } => self.describe(),
        }
    }

    /// The file at fault.
    pub fn file(&self) -> &RelPath {
        match self {
            Problem::Corrupt { file, .. } | Problem::Version { file, .. } => file,
        }
    }

    /// Where the problem is, as `file:line` when one line is at fault.
    pub fn location(&self) -> String {
        match self {
            Problem::Corrupt {
                file,
                line: Some(l),
                ..
            } => format!("{file}:line {l}"),
            _ => self.file().to_string(),
        }
    }
}

/// The command that moves a damaged journal aside, for messages.
pub fn quarantine_advice(root: &Root) -> String {
    let abs = root
        .canonical_path()
        .unwrap_or_else(|_| root.path().to_path_buf());
    format!(
        "run `selfheal --root {} journal quarantine` to move the damaged journal aside and start a new one",
        abs.display()
    )
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

/// How a journal was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Every transaction file, by every reader rule.
    Full,
    /// The index and the newest file only (`txns` holds that file alone).
    Index,
}

/// The journal as read from disk.
#[derive(Debug)]
pub struct Journal {
    /// Every transaction file that could be read and trusted, oldest first (with
    /// [`Source::Index`], only the newest).
    pub txns: Vec<TxnFile>,
    /// The first reason the journal cannot be trusted, if any.
    pub problem: Option<Problem>,
    /// A torn tail on the newest file.
    pub torn: Option<Torn>,
    /// The anchor: the newest committed checkpoint or quarantine record. Transactions up to
    /// its `through_txn` are not in the chain, and any of their files still present are
    /// leftovers.
    pub anchor: Option<Checkpoint>,
    /// Every transaction id named in the journal directory, read or not (full reads only).
    pub ids: Vec<u64>,
    /// What the startup checks read from the history.
    pub facts: Facts,
    /// The runs that wrote no transaction.
    pub runs: RunRecord,
    /// Why the run record cannot be read, when it cannot.
    pub runs_damaged: Option<String>,
    /// How it was read.
    pub source: Source,
    head: (u64, Digest),
    newest: Option<u64>,
    journal_bytes: Option<u64>,
    positions: Vec<String>,
    settle: Option<index::Index>,
    mac: Mac,
}

/// Reads the key file and builds the journal's tag algorithm.
///
/// # Errors
/// [`Error::Config`] when a configured key file cannot be read or is empty.
pub fn mac_from_key_file(key_file: Option<&std::path::Path>) -> Result<Mac> {
    let Some(path) = key_file else {
        return Ok(Mac::Sha256);
    };
    let key = crate::config::read_regular(path, crate::config::MAX_CONFIG_SIZE).map_err(|e| {
        Error::Config {
            file: path.to_path_buf(),
            key: "journal_key_file".into(),
            why: format!("cannot read the key: {e}"),
        }
    })?;
    if key.is_empty() {
        return Err(Error::Config {
            file: path.to_path_buf(),
            key: "journal_key_file".into(),
            why: "the key file is empty".into(),
        });
    }
    Ok(Mac::HmacSha256(key))
}

fn journal_dir() -> RelPath {
    RelPath::new(JOURNAL_DIR).unwrap_or_else(|_| std::process::abort())
}

impl Journal {
    /// Reads and checks every transaction file (and the run record). Damage is recorded in
    /// `problem`, not returned as an error, so read-only commands can still show what is
    /// there.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load(root: &Root, mac: Mac) -> Result<Journal> {
        Journal::load_full(root, mac, &[])
    }

    /// [`Journal::load`], also verifying files tagged with the earlier journal keys `old`
    /// (from before a key rotation); files under a key neither `mac` nor `old` holds are read
    /// without their tags, which rule 7 of SPEC.md allows only before a rotation.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load_with_old_keys(root: &Root, mac: Mac, old: &[Mac]) -> Result<Journal> {
        Journal::read_dir(root, &journal_dir(), Keys { own: &mac, old }, &[])
    }

    /// Reads the journal for a run (`heal`, `check`, a `watch` cycle): from its index and
    /// newest file when the index holds (SPEC.md section 11), else in full; `positions` are
    /// the layout's positions files (what the facts track).
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load_for_run(root: &Root, mac: Mac, positions: &[String]) -> Result<Journal> {
        let now = chrono::Utc::now();
        if let Some(mut j) = index::open(root, &mac, positions, now)? {
            (j.runs, j.runs_damaged) = RunRecord::load(root, &mac)?;
            tracing::debug!(
                "journal read from its index and newest file (transaction {})",
                j.next_txn().saturating_sub(1)
            );
            return Ok(j);
        }
        let sig = root
            .dir_signature(&journal_dir())
            .map_err(|e| root.explain_denied(e))?;
        let mut j = Journal::load_full(root, mac, positions)?;
        j.settle = index::prepare(root, &j, sig, now);
        tracing::debug!(
            "journal read in full ({} transaction file(s)){}",
            j.ids.len(),
            if j.settle.is_some() {
                "; an index is due"
            } else {
                ""
            }
        );
        Ok(j)
    }

    /// Reads every transaction file, by every rule, with the facts of `positions`.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load_full(root: &Root, mac: Mac, positions: &[String]) -> Result<Journal> {
        Journal::load_dir(root, &journal_dir(), mac, positions)
    }

    /// Reads the journal directory `dir` (the live one, or one moved aside), read-only.
    ///
    /// # Errors
    /// I/O errors reading the directory or a file.
    pub fn load_dir(root: &Root, dir: &RelPath, mac: Mac, positions: &[String]) -> Result<Journal> {
        Journal::read_dir(root, dir, Keys::own(&mac), positions)
    }

    fn read_dir(
        root: &Root,
        dir: &RelPath,
        keys: Keys<'_>,
        positions: &[String],
    ) -> Result<Journal> {
        let mac = keys.own.clone();
        let mut txns = Vec::new();
        let scanned = read::scan_dir(root, dir, keys, &mut |path, txn, d, verified| {
            txns.push(TxnFile {
                txn,
                path,
                entries: d.entries,
                tail: d.tail,
                verified,
            })
        })?;
        txns.truncate(scanned.trusted);
        let (runs, runs_damaged) = RunRecord::load(root, &mac)?;
        let anchor = scanned.assessment.anchor;
        let leftover = |t: &TxnFile| anchor.is_some_and(|c| t.txn <= c.through_txn);
        let finished = txns
            .iter()
            .filter(|t| !leftover(t) && t.state() != TxnState::Unfinished);
        let facts = Facts::of(finished, positions);
        Ok(Journal {
            torn: scanned.torn(&txns),
            head: scanned.assessment.head.unwrap_or((0, Digest::GENESIS)),
            newest: scanned.ids.last().copied(),
            journal_bytes: None,
            ids: scanned.ids,
            problem: scanned.problem,
            anchor,
            txns,
            facts,
            runs,
            runs_damaged,
            source: Source::Full,
            positions: positions.to_vec(),
            settle: None,
            mac,
        })
    }

    /// Writes the index this run's full read prepared, once the run leaves the journal as
    /// it read it (a run that appended a transaction has changed the directory: its index
    /// would be stale at once). Failing to write it costs only the next run's speed.
    pub fn settle_index(&mut self, root: &Root) {
        let Some(idx) = self.settle.take() else {
            return;
        };
        if let Err(e) = index::write(root, &self.mac, &idx) {
            tracing::warn!(
                "cannot write the journal index: {}",
                crate::engine::error_chain(&e)
            );
        }
    }

    /// The size of `logs/backups/` (for the predictions and the size warning). With its
    /// index, the journal's own subtrees are not walked: they have not changed since the
    /// index recorded their size.
    ///
    /// # Errors
    /// I/O errors listing or reading metadata.
    pub fn backups_size(&self, root: &Root) -> Result<u64> {
        match self.journal_bytes {
            Some(cached) => {
                Ok(cached
                    .saturating_add(crate::prune::own_size(root, &crate::prune::JOURNAL_TREES)?))
            }
            None => crate::prune::backups_size(root),
        }
    }

    /// Whether transaction `txn` is not in the chain: pruned (its file, if still present,
    /// is a leftover of an interrupted prune) or moved aside by a quarantine.
    pub fn is_leftover(&self, txn: u64) -> bool {
        self.anchor.is_some_and(|c| txn <= c.through_txn)
    }

    /// The transactions read without their tags (tagged with an earlier journal key that
    /// was not given): all older than the newest key rotation.
    pub fn unverified(&self) -> impl Iterator<Item = &TxnFile> {
        self.txns.iter().filter(|t| !t.verified)
    }

    /// The transactions that stand: every transaction read except leftovers.
    pub fn kept(&self) -> impl Iterator<Item = &TxnFile> {
        self.txns.iter().filter(|t| !self.is_leftover(t.txn))
    }

    /// Forgets transactions up to `checkpoint.through_txn` after a prune removed their
    /// files, and takes the checkpoint as the anchor.
    pub fn forget_pruned(&mut self, checkpoint: Checkpoint) {
        self.txns.retain(|t| t.txn > checkpoint.through_txn);
        self.ids.retain(|t| *t > checkpoint.through_txn);
        self.anchor = Some(checkpoint);
        self.facts = Facts::of(
            self.txns
                .iter()
                .filter(|t| t.state() != TxnState::Unfinished),
            &self.positions,
        );
    }

    /// The seq and tag the next record chains to.
    pub fn head(&self) -> (u64, Digest) {
        self.head
    }

    /// The id the next transaction gets (it may not fit a file name: [`Journal::begin`]
    /// refuses it then).
    pub fn next_txn(&self) -> u64 {
        match (self.newest, self.anchor) {
            (Some(n), _) => n.saturating_add(1),
            (None, Some(c)) => c.through_txn.saturating_add(1),
            (None, None) => 1,
        }
    }

    /// The transaction `txn`, if present.
    pub fn find(&self, txn: u64) -> Option<&TxnFile> {
        self.txns.iter().find(|t| t.txn == txn)
    }

    /// Why transaction `txn`, whose file is in the journal directory, was not read: it is
    /// at or after the damaged record. `None` when it was read or has no file.
    pub fn unread_after_damage(&self, txn: u64) -> Option<&Problem> {
        let p = self.problem.as_ref()?;
        (self.find(txn).is_none() && self.ids.contains(&txn)).then_some(p)
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

    /// The positions files the facts track.
    pub fn positions(&self) -> &[String] {
        &self.positions
    }

    /// Refuses when the next transaction's id would not fit a file name, before a command
    /// writes anything.
    ///
    /// # Errors
    /// [`Error::IdsExhausted`], naming the way out.
    pub fn check_room(&self, root: &Root) -> Result<()> {
        let txn = self.next_txn();
        if jf::fits(txn) {
            return Ok(());
        }
        Err(Error::IdsExhausted {
            txn,
            max: jf::MAX_TXN,
            fix: quarantine_advice(root),
        })
    }

    /// Starts transaction `self.next_txn()`: creates its file and writes the header and
    /// `begin` durably (file and directory).
    ///
    /// # Errors
    /// I/O errors; a journal with a problem is refused; an id past the last one a file
    /// name holds is refused before anything is written.
    pub fn begin(&mut self, root: &Root, begin: jf::Begin) -> Result<Writer> {
        if let Some(p) = &self.problem {
            return Err(p.to_error(root));
        }
        self.check_room(root)?;
        let txn = self.next_txn();
        let path = journal_dir().join(&jf::file_name(txn))?;
        let file = root
            .create_append(&path, 0o600)
            .map_err(|e| root.explain_denied(e))?;
        let mut w = Writer {
            file,
            txn,
            head: self.head(),
            mac: self.mac.clone(),
            entries: Vec::new(),
            written: 0,
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
        // A lower bound of the records' size: the start of the last one.
        let written = t.entries.last().map_or(0, |e| e.offset);
        let mut w = Writer {
            file: root
                .open_append(&t.path)
                .map_err(|e| root.explain_denied(e))?,
            txn: t.txn,
            head: self.head(),
            mac: self.mac.clone(),
            entries: Vec::new(),
            written,
            poisoned: false,
        };
        if t.entries.is_empty() {
            // Interrupted before its header was durable: give the file one first.
            w.append(self.header(), true)?;
        }
        Ok(w)
    }

    fn header(&self) -> Body {
        Writer::header(&self.mac)
    }

    /// Takes in the records a writer appended, so later reads in this process see them.
    pub fn absorb(&mut self, w: Writer) {
        if let Some(e) = w.entries.last() {
            self.head = (e.record.seq, e.tag);
        }
        self.newest = Some(self.newest.map_or(w.txn, |n| n.max(w.txn)));
        if !self.ids.contains(&w.txn) && self.source == Source::Full {
            self.ids.push(w.txn);
        }
        let i = match self.txns.iter().position(|t| t.txn == w.txn) {
            Some(i) => i,
            None => {
                self.txns.push(TxnFile {
                    txn: w.txn,
                    path: w.file.path().clone(),
                    entries: Vec::new(),
                    tail: Tail::Clean,
                    verified: true,
                });
                self.txns.len() - 1
            }
        };
        if let Some(t) = self.txns.get_mut(i) {
            t.entries.extend(w.entries);
            t.tail = Tail::Clean;
        }
        if let Some(t) = self
            .txns
            .get(i)
            .filter(|t| t.state() != TxnState::Unfinished)
        {
            self.facts.add(t, &self.positions);
        }
        self.settle = None;
        self.journal_bytes = None;
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
    /// Bytes of records in the file so far (a lower bound for a resumed file).
    written: u64,
    poisoned: bool,
}

impl Writer {
    /// Creates the file `path` of transaction `txn` (not yet in any journal directory: the
    /// first transaction of a new chain, prepared before it takes the journal's place),
    /// whose records chain from `head`.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn start(
        root: &Root,
        path: &RelPath,
        txn: u64,
        head: (u64, Digest),
        mac: Mac,
    ) -> Result<Writer> {
        Ok(Writer {
            file: root
                .create_append(path, 0o600)
                .map_err(|e| root.explain_denied(e))?,
            txn,
            head,
            mac,
            entries: Vec::new(),
            written: 0,
            poisoned: false,
        })
    }

    /// The header every transaction file starts with, for a writer of `mac`.
    pub fn header(mac: &Mac) -> Body {
        Body::Header(Header {
            magic: jf::MAGIC.into(),
            tool: format!("selfheal {}", env!("CARGO_PKG_VERSION")),
            mac: mac.kind(),
        })
    }

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
        let total = self.written.saturating_add(bytes.len() as u64);
        if total > jf::MAX_RECORDS_BYTES {
            return Err(Error::Refused(format!(
                "{}: a transaction's records may take at most {} bytes; this one would take {total}",
                self.file.path(),
                jf::MAX_RECORDS_BYTES
            )));
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
        self.written = total;
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
