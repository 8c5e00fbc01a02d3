//! The engine's side of the journal: reading every transaction file under
//! `logs/backups/journal/`, checking each against the reader rules and the chain, cutting a
//! torn tail (after saving it aside), and appending records for a new transaction. Encoding,
//! framing and the rules themselves live in `journal-format` (see its SPEC.md); this module
//! adds only file handling.

use crate::error::{Error, Result};
use crate::fsx::{AppendFile, Kind, Read_, Root};
use crate::paths::RelPath;
use journal_format::{
    self as jf, Body, Chain, Digest, Entry, Header, Mac, MacKind, Record, Tail, TxnState,
};

/// The directory of selfheal's own state (backups, journal, torn tails).
pub const BACKUPS_DIR: &str = "logs/backups";
/// The journal directory.
pub const JOURNAL_DIR: &str = "logs/backups/journal";
/// Where torn journal tails are saved.
pub const TORN_DIR: &str = "logs/backups/torn";

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
        /// What failed, naming the record.
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
            Problem::Corrupt { file, why } => Error::JournalCorrupt {
                file: root.display(file),
                why: why.clone(),
            },
            Problem::Version { file, version } => Error::JournalVersion {
                file: root.display(file),
                version: *version,
                known: jf::VERSION,
            },
        }
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Problem::Corrupt { file, why } => format!("{file}: {why}"),
            Problem::Version { file, version } => format!(
                "{file}: format version {version} is unknown to this selfheal (knows {})",
                jf::VERSION
            ),
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
    chain: Chain,
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
    let key = std::fs::read(path).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        key: "journal_key_file".into(),
        why: format!("cannot read the key: {e}"),
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
    /// Reads and checks every transaction file. Damage is recorded in `problem`, not
    /// returned as an error, so read-only commands can still show what is there.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load(root: &Root, mac: Mac) -> Result<Journal> {
        let dir = journal_dir();
        let mut j = Journal {
            txns: Vec::new(),
            problem: None,
            torn: None,
            strays: Vec::new(),
            chain: Chain::new(),
            mac,
        };
        let mut ids = Vec::new();
        for e in root.list(Some(&dir))? {
            match jf::parse_file_name(&e.name) {
                Some(t) if e.kind == Kind::File => ids.push(t),
                _ if e.name.starts_with(crate::fsx::TMP_PREFIX) => {}
                _ => j.strays.push(e.name),
            }
        }
        ids.sort_unstable();
        let count = ids.len();
        let mut keyed_seen = false;
        for (i, txn) in ids.into_iter().enumerate() {
            let path = dir.join(&jf::file_name(txn))?;
            let bytes = match root.read(&path, u64::MAX)? {
                Read_::File(b, _) => b,
                _ => continue,
            };
            let last = i + 1 == count;
            if !j.take_file(txn, path, &bytes, last, &mut keyed_seen) {
                break;
            }
        }
        if j.problem.is_none() {
            if let Err(e) = j.chain.finish() {
                j.problem = Some(Problem::Corrupt {
                    file: dir,
                    why: e.to_string(),
                });
            }
        }
        Ok(j)
    }

    /// Decodes one file into the journal; returns false once a problem stops the walk.
    fn take_file(
        &mut self,
        txn: u64,
        path: RelPath,
        bytes: &[u8],
        last: bool,
        keyed: &mut bool,
    ) -> bool {
        let mac = match (jf::declared_mac(bytes), &self.mac) {
            (Some(MacKind::Sha256), Mac::HmacSha256(_)) if *keyed => {
                return self.fail(
                    path,
                    "an unkeyed file follows keyed ones (downgrade)".into(),
                );
            }
            (Some(MacKind::Sha256), _) => Mac::Sha256,
            (Some(MacKind::HmacSha256), Mac::Sha256) => {
                return self.fail(
                    path,
                    "the journal is keyed but no journal_key_file is configured".into(),
                );
            }
            (Some(MacKind::HmacSha256), m) => {
                *keyed = true;
                m.clone()
            }
            (None, m) => m.clone(),
        };
        let decoded = jf::decode_file(bytes, &mac, Some(txn));
        if let Some(err) = decoded.error {
            if let jf::ErrorKind::UnknownVersion(v) = err.kind {
                self.problem = Some(Problem::Version {
                    file: path,
                    version: v,
                });
                return false;
            }
            return self.fail(path, err.to_string());
        }
        for entry in &decoded.entries {
            if let Err(e) = self.chain.push(entry) {
                return self.fail(path, format!("line {}: {e}", entry.line));
            }
        }
        let records: Vec<Record> = decoded.entries.iter().map(|e| e.record.clone()).collect();
        if let Err(e) = jf::view(&records) {
            return self.fail(path, e.to_string());
        }
        if let Tail::Torn { offset, len } = decoded.tail {
            if !last {
                return self.fail(
                    path,
                    format!("torn record at byte {offset} in a file that is not the newest"),
                );
            }
            self.torn = Some(Torn {
                file: path.clone(),
                offset,
                len,
                saved_to: None,
            });
        }
        let file = TxnFile {
            txn,
            path,
            entries: decoded.entries,
            tail: decoded.tail,
        };
        if !last && file.state() == TxnState::Unfinished {
            let p = file.path.clone();
            self.txns.push(file);
            return self.fail(p, "an unfinished transaction is followed by another".into());
        }
        self.txns.push(file);
        true
    }

    fn fail(&mut self, file: RelPath, why: String) -> bool {
        self.problem = Some(Problem::Corrupt { file, why });
        false
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
            }),
        }
    }
}

/// Appends the records of one transaction.
#[derive(Debug)]
pub struct Writer {
    file: AppendFile,
    txn: u64,
    head: (u64, Digest),
    mac: Mac,
    entries: Vec<Entry>,
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

    /// Appends records with one write and at most one fsync.
    ///
    /// # Errors
    /// I/O errors naming the journal file.
    pub fn append_many(&mut self, bodies: Vec<Body>, sync: bool) -> Result<()> {
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
        if sync {
            self.file.append_sync(&bytes)?;
        } else {
            self.file.append(&bytes)?;
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
