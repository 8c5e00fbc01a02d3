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
    /// Where the journal holding it was moved aside by a quarantine, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<String>,
}

/// Describes transaction `id`, with a record-level diff of every JSON file it changed.
///
/// # Errors
/// [`Error::NoSuchTransaction`]; I/O errors reading the store or a file.
pub fn show(root: &Root, layout: &Layout, journal: &Journal, id: u64) -> Result<TxnDetail> {
    if let Some(p) = journal.unread_after_damage(id) {
        return Err(Error::JournalCorrupt {
            file: root.display(p.file()),
            why: format!(
                "transaction {id} is at or after the damaged record at {}: its records cannot be trusted; {}",
                p.location(),
                crate::journal::quarantine_advice(root)
            ),
        });
    }
    if let Some(t) = journal.find(id) {
        return detail(root, layout, journal, t, None);
    }
    let old =
        crate::quarantine::find(root, journal.mac(), id)?.ok_or(Error::NoSuchTransaction(id))?;
    let t = old.find(id).ok_or(Error::NoSuchTransaction(id))?;
    let moved = t.path.parent().map(|d| d.to_string());
    detail(root, layout, &old, t, moved)
}

fn detail(
    root: &Root,
    layout: &Layout,
    journal: &Journal,
    t: &TxnFile,
    moved_to: Option<String>,
) -> Result<TxnDetail> {
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
        moved_to,
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

/// A backup object one intent names, and where.
struct ObjectRef {
    object: Digest,
    size: u64,
    line: u64,
    seq: u64,
}

/// Verifies the whole journal — every file by every reader rule, streamed, keeping only a
/// few words per file and the objects it names — then every backup object a remaining
/// transaction names (each decompressed in chunks, never whole), and the run record.
/// Memory stays bounded by one file's records and one object's compressed bytes, whatever
/// the journal's length.
///
/// # Errors
/// I/O errors while reading.
pub fn verify(
    root: &Root,
    mac: &journal_format::Mac,
    old: &[journal_format::Mac],
) -> Result<Verification> {
    let mut refs: Vec<Vec<ObjectRef>> = Vec::new();
    let mut records_of = Vec::new();
    let keys = crate::journal::Keys { own: mac, old };
    let scanned = crate::journal::scan(root, keys, &mut |_, _, d, _| {
        records_of.push(d.entries.len());
        refs.push(d.entries.iter().filter_map(object_ref).collect());
    })?;
    let records = records_of.iter().sum();
    let trusted = &scanned.files[..scanned.trusted.min(scanned.files.len())];
    let a = &scanned.assessment;
    let mut v = Verification {
        unverified: unverified(&scanned, &records_of),
        transactions: scanned.files.len(),
        records,
        objects: 0,
        problem: scanned.problem.as_ref().map(Problem::describe),
        bad_record: scanned.problem.as_ref().map(bad_record),
        torn_tail: None,
        pruned_through: a.anchor.map(|c| c.through_txn),
        leftovers: trusted
            .iter()
            .map(|(_, f)| f.txn)
            .filter(|t| a.is_leftover(*t))
            .collect(),
    };
    if let (None, Some((path, f))) = (&v.problem, trusted.last()) {
        v.torn_tail = f
            .torn
            .map(|(offset, len)| format!("{path}: {len} torn byte(s) at offset {offset}"));
    }
    if v.problem.is_some() {
        return Ok(v);
    }
    verify_objects(root, trusted, &refs, &mut v)?;
    if v.problem.is_none() {
        if let (_, Some(why)) = crate::journal::RunRecord::load(root, mac)? {
            v.problem = Some(format!("{}: {why}", crate::journal::RUNS_FILE));
        }
    }
    Ok(v)
}

fn object_ref(e: &journal_format::Entry) -> Option<ObjectRef> {
    let Body::Intent(i) = &e.record.body else {
        return None;
    };
    let (Some(object), Node::File { size, .. }) = (i.object, &i.before) else {
        return None;
    };
    Some(ObjectRef {
        object,
        size: *size,
        line: e.line,
        seq: e.record.seq,
    })
}

fn verify_objects(
    root: &Root,
    files: &[(RelPath, journal_format::FileSummary)],
    refs: &[Vec<ObjectRef>],
    v: &mut Verification,
) -> Result<()> {
    let store = Store::new(root);
    let mut seen = std::collections::BTreeSet::new();
    for ((path, f), refs) in files.iter().zip(refs) {
        if v.leftovers.contains(&f.txn) {
            continue;
        }
        for r in refs {
            if !seen.insert(r.object) {
                continue;
            }
            match store.verify(&r.object, r.size) {
                Ok(()) => v.objects += 1,
                Err(Error::ObjectCorrupt { sha256, why }) => {
                    v.problem = Some(format!(
                        "{path} line {} (seq {}): backup object {sha256} is {why}",
                        r.line, r.seq
                    ));
                    v.bad_record = Some(BadRecord {
                        file: path.to_string(),
                        line: Some(r.line),
                        seq: Some(r.seq),
                    });
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The transactions read without their tags (before a key rotation, their key not given).
fn unverified(scanned: &crate::journal::Scanned, records_of: &[usize]) -> Option<Unverified> {
    if scanned.unverified.is_empty() {
        return None;
    }
    Some(Unverified {
        transactions: scanned
            .unverified
            .iter()
            .filter_map(|&i| scanned.files.get(i).map(|(_, f)| f.txn))
            .collect(),
        records: scanned
            .unverified
            .iter()
            .filter_map(|&i| records_of.get(i))
            .sum(),
        key_id: scanned.unverified_key_id.clone(),
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
