//! Appending: a new transaction's file with its header and `begin` made durable, an
//! unfinished one resumed to close it, and the records chained by sequence number and tag
//! from the journal's head. A writer whose write or fsync failed appends nothing more.

use super::{journal_dir, now_rfc3339, quarantine_advice, Journal, Source, TxnFile};
use crate::error::{Error, Result};
use crate::fsx::{AppendFile, Root};
use crate::paths::RelPath;
use journal_format::{self as jf, Body, Digest, Entry, Header, Mac, Record, Tail, TxnState};

impl Journal {
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
