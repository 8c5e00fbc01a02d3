//! The rules across a journal's files (SPEC.md, "Reader rules", rules 5, 6 and 8): the
//! anchor and the leftovers, the chain from one file to the next, contiguous transaction
//! ids, and where a torn tail or an unfinished transaction may be. Each file is summarised
//! once it is decoded ([`FileSummary`]), so a reader of a long journal keeps a few words
//! per file, not its records.

use crate::reader::{file_anchor, Chain, ChainError, FileDecode, Tail};
use crate::record::{Checkpoint, Record};
use crate::txn::{view, TxnState};
use crate::Digest;
use std::fmt;

/// The highest transaction id a file name can hold (`txn-` and 10 digits).
pub const MAX_TXN: u64 = 9_999_999_999;

/// The first record of a file: where it must link to the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct First {
    seq: u64,
    prev: Digest,
    tag: Digest,
}

/// What one decoded file contributes to the rules across files.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// The transaction id of its name.
    pub txn: u64,
    /// Good records read.
    pub records: usize,
    first: Option<First>,
    /// The seq and tag of its last good record.
    pub last: Option<(u64, Digest)>,
    /// The first record (line, seq) that does not follow the one before it in this file.
    inner: Option<(u64, u64, ChainError)>,
    /// The first record (line, seq) that breaks the transaction grammar, and why.
    grammar: Option<(Option<u64>, u64, String)>,
    /// Committed, aborted or unfinished.
    pub state: TxnState,
    /// The `begin` record's command, if begun.
    pub command: Option<String>,
    /// The anchor it offers (a committed prune's checkpoint or quarantine's record).
    pub anchor: Option<Checkpoint>,
    /// Its torn tail (offset, length), if any.
    pub torn: Option<(u64, u64)>,
}

impl FileSummary {
    /// Summarises the decoded file of transaction `txn` (decoded without error).
    pub fn of(txn: u64, d: &FileDecode) -> FileSummary {
        let records: Vec<Record> = d.entries.iter().map(|e| e.record.clone()).collect();
        let (grammar, state, command) = match view(&records) {
            Ok(v) => (None, v.state(), v.begin.map(|b| b.command.clone())),
            Err(e) => {
                let line = d
                    .entries
                    .iter()
                    .find(|x| x.record.seq == e.seq)
                    .map(|x| x.line);
                (Some((line, e.seq, e.why)), TxnState::Unfinished, None)
            }
        };
        FileSummary {
            txn,
            records: d.entries.len(),
            first: d.entries.first().map(|e| First {
                seq: e.record.seq,
                prev: e.record.prev,
                tag: e.tag,
            }),
            last: d.entries.last().map(|e| (e.record.seq, e.tag)),
            inner: inner_break(d),
            grammar,
            state,
            command,
            anchor: file_anchor(&d.entries),
            torn: match d.tail {
                Tail::Torn { offset, len } => Some((offset, len)),
                Tail::Clean => None,
            },
        }
    }

    /// Whether it is a prune, or a transaction closed before its `begin` was durable.
    pub fn is_bookkeeping(&self) -> bool {
        matches!(self.command.as_deref(), None | Some("prune"))
    }
}

/// The first record of a file that does not follow the one before it.
fn inner_break(d: &FileDecode) -> Option<(u64, u64, ChainError)> {
    d.entries.windows(2).find_map(|w| {
        let [a, b] = w else { return None };
        let mut c = Chain::resume(a.record.seq, a.tag);
        c.push(b).err().map(|e| (b.line, b.record.seq, e))
    })
}

/// What breaks a rule across files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A transaction breaks the grammar of SPEC.md section 6.
    Grammar(String),
    /// A record does not follow the chain.
    Chain(ChainError),
    /// A transaction id is not the one after the previous file's (a file lost, or added).
    IdGap {
        /// The id the file should have.
        expected: u64,
        /// The id it has.
        found: u64,
    },
    /// A torn tail in a file that is not the newest.
    TornNotNewest {
        /// Where the torn bytes start.
        offset: u64,
    },
    /// An unfinished transaction followed by another.
    UnfinishedNotNewest,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Grammar(why) => f.write_str(why),
            Fault::Chain(e) => e.fmt(f),
            Fault::IdGap { expected, found } => write!(
                f,
                "transaction {found} where transaction {expected} was expected (a file was lost, or one was added)"
            ),
            Fault::TornNotNewest { offset } => write!(
                f,
                "torn record at byte {offset} in a file that is not the newest"
            ),
            Fault::UnfinishedNotNewest => {
                f.write_str("an unfinished transaction is followed by another")
            }
        }
    }
}

/// Where a rule across files breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAt {
    /// The index of the file in the summaries given.
    pub file: usize,
    /// Its transaction id.
    pub txn: u64,
    /// The 1-based line of the record at fault, when one is.
    pub line: Option<u64>,
    /// Its seq, when one record is at fault.
    pub seq: Option<u64>,
    /// What is wrong.
    pub fault: Fault,
}

/// The rules across files, applied to a journal's files in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The anchor: the newest committed checkpoint or quarantine record.
    pub anchor: Option<Checkpoint>,
    /// The first rule broken, in file order.
    pub fault: Option<FaultAt>,
    /// The seq and tag the next record chains to (as far as the chain was followed).
    pub head: Option<(u64, Digest)>,
}

impl Assessment {
    /// Whether the file of `txn` is a leftover outside the chain (SPEC.md rule 5).
    pub fn is_leftover(&self, txn: u64) -> bool {
        self.anchor.is_some_and(|c| txn <= c.through_txn)
    }
}

/// Applies rules 5, 6 and 8 to `files` (summaries in id order).
pub fn assess(files: &[FileSummary]) -> Assessment {
    let anchor = files
        .iter()
        .filter_map(|f| f.anchor)
        .max_by_key(|c| c.through_txn);
    let mut chain = anchor.as_ref().map_or_else(Chain::new, Chain::anchored);
    let mut next_id = anchor.map_or(1, |c| c.through_txn.saturating_add(1));
    let mut out = Assessment {
        anchor,
        fault: None,
        head: None,
    };
    for (i, f) in files.iter().enumerate() {
        let newest = i + 1 == files.len();
        let leftover = out.is_leftover(f.txn);
        if let Some(fault) = check_file(f, newest, leftover, &mut chain, &mut next_id) {
            out.fault = Some(FaultAt { file: i, ..fault });
            break;
        }
    }
    out.head = chain.head();
    out
}

fn check_file(
    f: &FileSummary,
    newest: bool,
    leftover: bool,
    chain: &mut Chain,
    next_id: &mut u64,
) -> Option<FaultAt> {
    let at = |line, seq, fault| FaultAt {
        file: 0,
        txn: f.txn,
        line,
        seq,
        fault,
    };
    if let Some((line, seq, why)) = &f.grammar {
        return Some(at(*line, Some(*seq), Fault::Grammar(why.clone())));
    }
    if !leftover {
        if let Some(first) = f.first {
            if let Err(e) = chain.link(first.seq, first.prev, first.tag) {
                return Some(at(Some(1), Some(first.seq), Fault::Chain(e)));
            }
        }
        if let Some((line, seq, e)) = &f.inner {
            return Some(at(Some(*line), Some(*seq), Fault::Chain(e.clone())));
        }
        if let Some((seq, tag)) = f.last {
            chain.advance(seq, tag);
        }
        if f.txn != *next_id {
            let gap = Fault::IdGap {
                expected: *next_id,
                found: f.txn,
            };
            return Some(at(None, None, gap));
        }
        *next_id = f.txn.saturating_add(1);
    }
    if let (Some((offset, _)), false) = (f.torn, newest) {
        return Some(at(None, None, Fault::TornNotNewest { offset }));
    }
    if f.state == TxnState::Unfinished && !newest {
        return Some(at(None, None, Fault::UnfinishedNotNewest));
    }
    None
}
