//! Audit of the journal: the transaction list, one transaction's operations (with a
//! record-level diff of every JSON file it changed, `jsondiff`), and full verification (the
//! chain, every transaction's grammar, and every backup object a kept transaction names).
//! Read-only: nothing here writes.

use crate::config::{FileRole, Layout};
use crate::error::{Error, Result};
use crate::fsx::{Read_, Root};
use crate::journal::{Journal, Problem, TxnFile};
use crate::jsondiff::{self, DocDiff, Keying};
use crate::paths::RelPath;
use crate::rollback::rolled_back_by;
use crate::store::Store;
use journal_format::{Body, Digest, Intent, Node, TxnState};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One line of `journal list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnSummary {
    /// Transaction id.
    pub id: u64,
    /// When it began (RFC 3339).
    pub time: String,
    /// The command.
    pub command: String,
    /// The mode, if any.
    pub mode: Option<String>,
    /// Number of planned operations.
    pub operations: usize,
    /// `committed`, `aborted` or `unfinished`.
    pub outcome: &'static str,
    /// The transaction it undoes, for a rollback.
    pub rollback_of: Option<u64>,
    /// The rollback that undid it, if one stands.
    pub rolled_back_by: Option<u64>,
}

fn outcome(t: &TxnFile) -> &'static str {
    match t.state() {
        TxnState::Committed => "committed",
        TxnState::Aborted => "aborted",
        TxnState::Unfinished => "unfinished",
    }
}

/// Summarises every transaction that stands, oldest first (pruned leftovers excluded; a
/// rollback whose target was pruned still names it in `rollback_of`).
pub fn list(journal: &Journal) -> Vec<TxnSummary> {
    journal.kept().map(|t| summarize(journal, t)).collect()
}

fn summarize(journal: &Journal, t: &TxnFile) -> TxnSummary {
    let mut s = TxnSummary {
        id: t.txn,
        time: t
            .entries
            .first()
            .map(|e| e.record.ts.clone())
            .unwrap_or_default(),
        command: String::new(),
        mode: None,
        operations: 0,
        outcome: outcome(t),
        rollback_of: None,
        rolled_back_by: rolled_back_by(journal, t.txn),
    };
    for e in &t.entries {
        match &e.record.body {
            Body::Begin(b) => {
                s.command = b.command.clone();
                s.mode = b.mode.clone();
                s.operations = b.plan.len();
            }
            Body::RollbackOf(r) => s.rollback_of = Some(r.txn),
            _ => {}
        }
    }
    s
}

/// One operation in `journal show`.
#[derive(Debug, Clone, Serialize)]
pub struct OpView {
    /// Index.
    pub op: u32,
    /// The heal kind.
    pub heal: String,
    /// The filesystem effect.
    pub kind: String,
    /// The path.
    pub path: Option<String>,
    /// Why.
    pub reason: String,
    /// Before: `{type, sha256, size, mode}`.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// The backup object.
    pub object: Option<String>,
    /// Whether it was applied (`done`).
    pub applied: bool,
    /// For a JSON file whose content changed: what changed, record by record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<ContentDiff>,
}

/// What changed in a JSON file's content.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ContentDiff {
    /// Both sides were found: the diff.
    Diff(DocDiff),
    /// The before side was damaged JSON that a salvage rewrote: what was kept and lost.
    Salvage(SalvageView),
    /// A side's bytes are gone (pruned, or changed since and never backed up).
    Unavailable {
        /// Which side, and why.
        why: String,
    },
}

/// `journal show`: one transaction.
#[derive(Debug, Clone, Serialize)]
pub struct TxnDetail {
    /// The summary line.
    pub summary: TxnSummary,
    /// Every operation.
    pub operations: Vec<OpView>,
    /// The commit summary or abort reason.
    pub result: Option<Value>,
}

/// Describes transaction `id`, with a record-level diff of every JSON file it changed.
///
/// # Errors
/// [`Error::NoSuchTransaction`]; I/O errors reading the store or a file.
pub fn show(root: &Root, layout: &Layout, journal: &Journal, id: u64) -> Result<TxnDetail> {
    let t = journal.find(id).ok_or(Error::NoSuchTransaction(id))?;
    let mut ops: Vec<OpView> = Vec::new();
    let mut result = None;
    for e in &t.entries {
        match &e.record.body {
            Body::Begin(b) => {
                ops = b
                    .plan
                    .iter()
                    .map(|p| OpView {
                        op: p.op,
                        heal: p.heal.clone(),
                        kind: json_text(&p.kind),
                        path: p.path.clone(),
                        reason: p.reason.clone(),
                        before: None,
                        after: None,
                        object: None,
                        applied: false,
                        diff: None,
                    })
                    .collect();
            }
            Body::Intent(i) => {
                if let Some(o) = ops.iter_mut().find(|o| o.op == i.op) {
                    o.before = serde_json::to_value(&i.before).ok();
                    o.after = serde_json::to_value(&i.after).ok();
                    o.object = i.object.map(|d| d.to_hex());
                    o.diff = op_diff(root, layout, i)?;
                }
            }
            Body::Done(d) => {
                if let Some(o) = ops.iter_mut().find(|o| o.op == d.op) {
                    o.applied = true;
                }
            }
            Body::Commit(c) => result = Some(c.summary.clone()),
            Body::Abort(a) => result = serde_json::to_value(a).ok(),
            _ => {}
        }
    }
    Ok(TxnDetail {
        summary: summarize(journal, t),
        operations: ops,
        result,
    })
}

/// The diff of one operation's file content, for a JSON file whose content changed.
fn op_diff(root: &Root, layout: &Layout, i: &Intent) -> Result<Option<ContentDiff>> {
    let Some(path) = i.path.as_deref() else {
        return Ok(None);
    };
    let is_file = |n: &Node| matches!(n, Node::File { .. });
    let json = path.ends_with(".json") || layout.files.iter().any(|f| f.path.as_str() == path);
    if !json || !(is_file(&i.before) || is_file(&i.after)) || digest(&i.before) == digest(&i.after)
    {
        return Ok(None);
    }
    let rel = RelPath::new(path)?;
    let before = match side(root, None, &i.before, i.object, layout.max_file_size)? {
        Ok(b) => b,
        Err(why) => return Ok(Some(unavailable("before", &why))),
    };
    let after = match side(root, Some(&rel), &i.after, None, layout.max_file_size)? {
        Ok(a) => a,
        Err(why) => return Ok(Some(unavailable("after", &why))),
    };
    if let (Some(b), Some(spec)) = (
        before.as_deref(),
        layout.files.iter().find(|f| f.path.as_str() == path),
    ) {
        if !crate::pyjson::is_valid(b) {
            return Ok(Some(ContentDiff::Salvage(salvage_view(
                b,
                spec,
                &layout.config.positions.identity,
            ))));
        }
    }
    let keying = keying(layout, path);
    let d = jsondiff::diff(before.as_deref(), after.as_deref(), &keying);
    Ok(Some(ContentDiff::Diff(d)))
}

/// What a salvage of damaged bytes keeps and loses, for `journal show`.
#[derive(Debug, Clone, Serialize)]
pub struct SalvageView {
    /// The salvage's account.
    pub report: crate::salvage::SalvageReport,
    /// Every record kept: its array, and its identity (positions) or its text.
    pub kept: Vec<(String, String)>,
    /// Every damaged byte range, with the start of its text (escaped).
    pub lost: Vec<(crate::salvage::DamagedRange, String)>,
}

fn salvage_view(before: &[u8], spec: &crate::config::File, identity: &[String]) -> SalvageView {
    let s = crate::salvage::salvage(before, &crate::checks::corrupt::shape_of(spec));
    let kept = s
        .records
        .iter()
        .map(|k| {
            let array = spec.record_arrays.get(k.array).cloned().unwrap_or_default();
            let text = before.get(k.span.clone()).unwrap_or_default();
            (array, record_label(text, identity))
        })
        .collect();
    let lost = s
        .report
        .damaged
        .iter()
        .map(|d| {
            let start = usize::try_from(d.start).unwrap_or(0);
            let end = usize::try_from(d.end).unwrap_or(start).min(start + 160);
            let text = String::from_utf8_lossy(before.get(start..end).unwrap_or_default());
            (*d, crate::text::clean(&text))
        })
        .collect();
    SalvageView {
        report: s.report,
        kept,
        lost,
    }
}

/// `symbol / strategy / direction` of a record when it has them, else its start.
fn record_label(text: &[u8], identity: &[String]) -> String {
    // Read strictly, with Python's NaN/Infinity/-Infinity as the strings of their text.
    let parsed: Option<serde_json::Map<String, Value>> = std::str::from_utf8(text)
        .ok()
        .filter(|t| crate::pyjson::is_valid(t.as_bytes()))
        .and_then(|t| serde_json::from_str(&crate::pyjson::strict(t)).ok());
    let fields: Option<Vec<String>> = parsed.as_ref().and_then(|o| {
        identity
            .iter()
            .map(|f| {
                o.get(f)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            })
            .collect()
    });
    match fields {
        Some(f) => f.join(" / "),
        None => crate::text::clean(&String::from_utf8_lossy(
            text.get(..text.len().min(80)).unwrap_or_default(),
        )),
    }
}

fn unavailable(side: &str, why: &str) -> ContentDiff {
    ContentDiff::Unavailable {
        why: format!("{side} content no longer available: {why}"),
    }
}

fn digest(n: &Node) -> Option<Digest> {
    match n {
        Node::File { sha256, .. } => Some(*sha256),
        _ => None,
    }
}

/// The bytes of one side: none for an absent path; for a file, the current file when it
/// still has that digest (`current`), else the backup object (`object`, or the digest
/// itself: the store is content-addressed). `Err(why)` when neither holds it.
fn side(
    root: &Root,
    current: Option<&RelPath>,
    node: &Node,
    object: Option<Digest>,
    cap: u64,
) -> Result<std::result::Result<Option<Vec<u8>>, String>> {
    let Node::File { sha256, size, .. } = node else {
        return Ok(Ok(None));
    };
    if let Some(rel) = current {
        if let Read_::File(bytes, _) = root.read(rel, cap)? {
            if crate::store::sha256(&bytes) == *sha256 {
                return Ok(Ok(Some(bytes)));
            }
        }
    }
    match Store::new(root).get(&object.unwrap_or(*sha256), *size) {
        Ok(bytes) => Ok(Ok(Some(bytes))),
        Err(Error::ObjectCorrupt { sha256, why }) => {
            Ok(Err(format!("backup object {sha256} is {why}")))
        }
        Err(e) => Err(e),
    }
}

/// How the arrays of `path` are matched: the positions file's record arrays by the
/// configured identity, everything else by value.
fn keying(layout: &Layout, path: &str) -> BTreeMap<String, Keying> {
    let Some(f) = layout
        .files
        .iter()
        .find(|f| f.path.as_str() == path && f.role == FileRole::Positions)
    else {
        return BTreeMap::new();
    };
    let identity = Keying::Identity(layout.config.positions.identity.clone());
    f.record_arrays
        .iter()
        .map(|a| (a.clone(), identity.clone()))
        .collect()
}

fn json_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The record `journal verify` found at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// The journal file, relative to the root.
    pub file: String,
    /// Its 1-based line, when one record is at fault.
    pub line: Option<u64>,
    /// Its `seq`, when known.
    pub seq: Option<u64>,
}

/// The result of `journal verify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Transactions read (pruned leftovers included).
    pub transactions: usize,
    /// Records read.
    pub records: usize,
    /// Backup objects verified.
    pub objects: usize,
    /// The first problem, naming the file and record; `None` when everything verifies.
    pub problem: Option<String>,
    /// Where the first problem is.
    pub bad_record: Option<BadRecord>,
    /// A torn tail (tolerated, reported).
    pub torn_tail: Option<String>,
    /// Transactions up to this id were pruned (the newest committed checkpoint).
    pub pruned_through: Option<u64>,
    /// Files of pruned transactions still present (an interrupted prune; the next prune
    /// removes them). Outside the chain; their objects are not checked.
    pub leftovers: Vec<u64>,
    /// Transactions tagged with an earlier journal key that was not given
    /// (`--old-key-file`): read without their tags, so not verified.
    pub unverified: Option<Unverified>,
}

/// What `journal verify` could not verify: the transactions before a key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unverified {
    /// Their ids.
    pub transactions: Vec<u64>,
    /// Their records.
    pub records: usize,
    /// The key id they are tagged with, as the rotation after them records it.
    pub key_id: Option<String>,
}

/// Verifies the chain and every backup object a remaining transaction names.
///
/// # Errors
/// I/O errors while reading the store.
pub fn verify(root: &Root, journal: &Journal) -> Result<Verification> {
    let mut v = Verification {
        unverified: unverified(journal),
        transactions: journal.txns.len(),
        records: journal.txns.iter().map(|t| t.entries.len()).sum(),
        objects: 0,
        problem: journal.problem.as_ref().map(Problem::describe),
        bad_record: journal.problem.as_ref().map(bad_record),
        torn_tail: journal.torn.as_ref().map(|t| {
            let bytes = crate::text::count(t.len, "torn byte", "torn bytes");
            format!("{}: {bytes} at offset {}", t.file, t.offset)
        }),
        pruned_through: journal.anchor.map(|c| c.through_txn),
        leftovers: journal
            .txns
            .iter()
            .filter(|t| journal.is_leftover(t.txn))
            .map(|t| t.txn)
            .collect(),
    };
    if v.problem.is_some() {
        return Ok(v);
    }
    let store = Store::new(root);
    let mut seen = std::collections::BTreeSet::new();
    for t in journal.kept() {
        for e in &t.entries {
            let Body::Intent(i) = &e.record.body else {
                continue;
            };
            let (Some(obj), Node::File { size, .. }) = (i.object, &i.before) else {
                continue;
            };
            if !seen.insert(obj) {
                continue;
            }
            match store.get(&obj, *size) {
                Ok(_) => v.objects += 1,
                Err(Error::ObjectCorrupt { sha256, why }) => {
                    v.problem = Some(format!(
                        "{} line {} (seq {}): backup object {sha256} is {why}",
                        t.path, e.line, e.record.seq
                    ));
                    v.bad_record = Some(BadRecord {
                        file: t.path.to_string(),
                        line: Some(e.line),
                        seq: Some(e.record.seq),
                    });
                    return Ok(v);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(v)
}

/// The transactions read without their tags (before a key rotation, their key not given).
fn unverified(journal: &Journal) -> Option<Unverified> {
    let txns: Vec<u64> = journal.unverified().map(|t| t.txn).collect();
    let last = *txns.last()?;
    let records = journal.unverified().map(|t| t.entries.len()).sum();
    let key_id = journal
        .txns
        .iter()
        .filter(|t| t.verified && t.txn > last)
        .find_map(|t| journal_format::committed_rekey(&t.entries))
        .map(|k| k.previous.clone());
    Some(Unverified {
        transactions: txns,
        records,
        key_id,
    })
}

fn bad_record(p: &Problem) -> BadRecord {
    match p {
        Problem::Corrupt {
            file, line, seq, ..
        } => BadRecord {
            file: file.to_string(),
            line: *line,
            seq: *seq,
        },
        Problem::Version { file, .. } => BadRecord {
            file: file.to_string(),
            line: None,
            seq: None,
        },
    }
}
