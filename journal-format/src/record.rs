//! The record types of the journal and their fields (SPEC.md, "Records").
//!
//! Every line of a journal file carries one [`Record`]: the envelope fields shared by all
//! records (`v`, `seq`, `txn`, `ts`, `prev`) followed by `type` and its `data`. The types
//! here are the whole vocabulary; a reader of version 1 refuses any other `type`.

use crate::hex::Digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Format version written by this crate.
pub const VERSION: u32 = 1;

/// The `magic` of every header record.
pub const MAGIC: &str = "selfheal-journal";

/// One journal record: the envelope plus its typed body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version of this record.
    pub v: u32,
    /// Position in the whole journal, 1 for the first record ever, +1 per record.
    pub seq: u64,
    /// The transaction this record belongs to (also the file it lives in).
    pub txn: u64,
    /// Wall-clock time the record was written, RFC 3339 UTC; informational, order is `seq`.
    pub ts: String,
    /// Hash (or keyed tag) of the previous record; all zeros for `seq` 1.
    pub prev: Digest,
    /// The typed body: serialised as `"type"` and `"data"`.
    #[serde(flatten)]
    pub body: Body,
}

/// The body of a record, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Body {
    /// First record of every transaction file.
    Header(Header),
    /// The whole plan, before anything is touched.
    Begin(Begin),
    /// Marks a transaction that undoes an earlier one.
    RollbackOf(RollbackOf),
    /// One operation is about to change a path; its undo information is durable.
    Intent(Intent),
    /// One operation was applied.
    Done(Done),
    /// The transaction is complete; its changes stand.
    Commit(Commit),
    /// The transaction ended without standing: undone by recovery, or closed by an operator.
    Abort(Abort),
    /// An operator acknowledged a recorded critical of an earlier transaction.
    Ack(Ack),
    /// Older transactions were pruned; this anchors the chain of the ones kept.
    Checkpoint(Checkpoint),
    /// The journal key changes: this transaction's file and every later one are tagged
    /// with the key it names.
    Rekey(Rekey),
    /// A damaged chain was moved aside; this anchors the new chain to what was moved.
    Quarantine(Quarantine),
}

impl Body {
    /// The `type` name as written on disk.
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Header(_) => "header",
            Body::Begin(_) => "begin",
            Body::RollbackOf(_) => "rollback_of",
            Body::Intent(_) => "intent",
            Body::Done(_) => "done",
            Body::Commit(_) => "commit",
            Body::Abort(_) => "abort",
            Body::Ack(_) => "ack",
            Body::Checkpoint(_) => "checkpoint",
            Body::Rekey(_) => "rekey",
            Body::Quarantine(_) => "quarantine",
        }
    }
}

/// `header` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`MAGIC`].
    pub magic: String,
    /// The writing program and its version, e.g. `selfheal 0.1.0`.
    pub tool: String,
    /// How every line's tag in this file is computed.
    pub mac: MacKind,
}

/// How a line's tag is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MacKind {
    /// SHA-256 of the body bytes.
    Sha256,
    /// HMAC-SHA256 of the body bytes under a key kept outside the state root.
    HmacSha256,
}

/// `begin` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Begin {
    /// The command that runs the transaction: `heal`, `rollback`, `recover`, `ack`, `prune`, `watch`.
    pub command: String,
    /// `paper` or `real` where the command has a mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Process id of the writer.
    pub pid: u32,
    /// Every operation the transaction will attempt, in order.
    pub plan: Vec<PlanEntry>,
}

/// `rollback_of` data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackOf {
    /// The committed transaction this one undoes.
    pub txn: u64,
    /// Whether the operator forced it over files changed since.
    pub force: bool,
}

/// One planned operation inside `begin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// Index of the operation, 0-based and dense.
    pub op: u32,
    /// What the operation does to the filesystem.
    pub kind: OpKind,
    /// The heal it serves, e.g. `missing_directory`, `stale_lock`.
    pub heal: String,
    /// The path it touches, relative to the root (none for a process signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Why, in words an operator reads.
    pub reason: String,
}

/// The filesystem effect of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Create a directory that did not exist.
    CreateDir,
    /// Create a file that did not exist.
    CreateFile,
    /// Replace the content of an existing file.
    ReplaceFile,
    /// Remove an existing file (its bytes are in the store first).
    RemoveFile,
    /// Remove an empty directory (only to undo a `create_dir`).
    RemoveDir,
    /// Change the permission bits of a file or directory.
    SetMode,
    /// Signal a process: irreversible, never undone.
    Signal,
}

impl OpKind {
    /// The name the journal writes (`create_dir`, `replace_file`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::CreateDir => "create_dir",
            OpKind::CreateFile => "create_file",
            OpKind::ReplaceFile => "replace_file",
            OpKind::RemoveFile => "remove_file",
            OpKind::RemoveDir => "remove_dir",
            OpKind::SetMode => "set_mode",
            OpKind::Signal => "signal",
        }
    }

    /// Whether recovery and rollback can undo the operation.
    pub fn is_reversible(self) -> bool {
        !matches!(self, OpKind::Signal)
    }
}

/// What a path is, as far as an operation cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Node {
    /// Nothing at the path.
    Absent,
    /// A regular file.
    File {
        /// SHA-256 of its exact bytes.
        sha256: Digest,
        /// Its length in bytes.
        size: u64,
        /// Permission bits.
        mode: Perms,
    },
    /// A directory.
    Dir {
        /// Permission bits.
        mode: Perms,
    },
}

/// Permission bits (`st_mode & 0o7777`), written as an octal string such as `"0644"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perms(pub u32);

impl Serialize for Perms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0 & 0o7777))
    }
}

impl<'de> Deserialize<'de> for Perms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        let valid = text.len() == 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match u32::from_str_radix(&text, 8) {
            Ok(bits) if valid => Ok(Perms(bits)),
            _ => Err(serde::de::Error::custom("expected a 4-digit octal mode")),
        }
    }
}

/// Owner and modification time of a path before the operation, restored by an undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds part.
    pub mtime_nsec: u32,
}

/// The process an irreversible `signal` operation targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// Process id at signal time.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22): pins the process.
    pub start_ticks: u64,
    /// Its command line, for the audit.
    pub cmdline: String,
}

/// `intent` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Index into the plan of `begin`.
    pub op: u32,
    /// Same as the plan entry's kind.
    pub kind: OpKind,
    /// Path relative to the root (none for a signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What the path is now; the operation aborts if it no longer is.
    pub before: Node,
    /// What the path will be once the operation is applied.
    pub after: Node,
    /// The backup object holding the `before` bytes (SHA-256 of the uncompressed bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Digest>,
    /// Owner and mtime of the `before` node, restored by an undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// The process of a `signal` operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRef>,
    /// The bot's lock file (relative to the root) whose flock the writer took before it
    /// re-checked the path against `before`, and holds until the transaction ends: the
    /// bot cannot have written the path between that check and the writer's end
    /// (SPEC.md, "Recovery").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_lock: Option<String>,
    /// Extended attributes of the `before` file (POSIX ACLs included), copied to the new
    /// file and restored by an undo (boxed: most intents have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xattrs: Option<Box<Xattrs>>,
}

/// Extended attributes by name (`user.*`, `security.*`, `system.posix_acl_access`), each
/// value written as lowercase hex.
pub type Xattrs = std::collections::BTreeMap<String, HexBytes>;

/// Bytes written as lowercase hex (an extended attribute's value is binary).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HexBytes(pub Vec<u8>);

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        crate::hex::decode(&text)
            .map(HexBytes)
            .ok_or_else(|| serde::de::Error::custom("expected lowercase hex digits"))
    }
}

/// `done` data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// The operation applied.
    pub op: u32,
}

/// `commit` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// What the transaction found and did, for audit and metrics (an object).
    pub summary: serde_json::Value,
}

/// `abort` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abort {
    /// Why the transaction did not stand, in words.
    pub reason: String,
    /// What became of each operation that had an intent.
    pub ops: Vec<OpOutcome>,
}

/// The fate of one operation of an aborted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpOutcome {
    /// The operation.
    pub op: u32,
    /// What the undo found and did.
    pub outcome: UndoOutcome,
    /// For `kept_current` decided by recovery itself: the backup object holding the bytes
    /// kept (the bot's newer version of a file it rewrote under its lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Digest>,
}

/// What undoing one operation found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoOutcome {
    /// The path matched `after`; the `before` state was restored.
    Restored,
    /// The path matched `before`; nothing to do.
    Unchanged,
    /// The path matched neither side and was kept as it is: an operator accepted it, or
    /// (with `object`) recovery kept the bot's newer version of a file the operation wrote
    /// under the bot's lock.
    KeptCurrent,
    /// The operation cannot be undone (a signal).
    Irreversible,
}

/// `ack` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The transaction whose critical is acknowledged.
    pub txn: u64,
    /// The critical code acknowledged, e.g. `DATA_INTEGRITY`.
    pub code: String,
}

/// `checkpoint` data: the anchor of the first kept record after a prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The newest transaction removed.
    pub through_txn: u64,
    /// `seq` of the last removed record.
    pub seq: u64,
    /// Hash of the last removed record: the `prev` of the first kept record.
    pub hash: Digest,
}

/// `rekey` data: where the journal key changes (SPEC.md, "Key rotation").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekey {
    /// Key id ([`crate::Mac::key_id`]) of the key this transaction's file, and every later
    /// file, is tagged with.
    pub key_id: String,
    /// Key id of the key the records before this transaction are tagged with (`sha256`
    /// for an unkeyed journal).
    pub previous: String,
}

/// `quarantine` data: the first record after `begin` of the transaction that starts a new
/// chain once a damaged one was moved aside (SPEC.md section 10, "Quarantine").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    /// Where the damaged journal directory now is, relative to the root.
    pub moved_to: String,
    /// The newest transaction id among the files moved.
    pub through_txn: u64,
    /// `seq` of the last record of the moved chain that verified (0 when none did).
    pub seq: u64,
    /// That record's tag (all zeros when none did): the `prev` of this transaction's header.
    pub hash: Digest,
    /// The transaction that record belongs to (absent when none verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good_txn: Option<u64>,
    /// The first problem the reader found in the moved chain, as it reported it.
    pub problem: String,
}

impl Quarantine {
    /// The anchor the new chain continues from.
    pub fn anchor(&self) -> Checkpoint {
        Checkpoint {
            through_txn: self.through_txn,
            seq: self.seq,
            hash: self.hash,
        }
    }
}

impl Record {
    /// Every path the record names (plan entries, intent paths, a quarantine's directory).
    pub fn paths(&self) -> Vec<&str> {
        match &self.body {
            Body::Begin(b) => b.plan.iter().filter_map(|p| p.path.as_deref()).collect(),
            Body::Intent(i) => i.path.as_deref().into_iter().collect(),
            Body::Quarantine(q) => vec![q.moved_to.as_str()],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_kind_names_are_the_written_ones() {
        let all = [
            OpKind::CreateDir,
            OpKind::CreateFile,
            OpKind::ReplaceFile,
            OpKind::RemoveFile,
            OpKind::RemoveDir,
            OpKind::SetMode,
            OpKind::Signal,
        ];
        for k in all {
            let written = serde_json::to_value(k).unwrap_or_default();
            assert_eq!(written.as_str(), Some(k.name()), "input: {}", k.name());
        }
    }

    #[test]
    fn mode_text() {
        let m: Perms = serde_json::from_str("\"0644\"").unwrap_or(Perms(0));
        assert_eq!(m, Perms(0o644));
        assert_eq!(
            serde_json::to_string(&Perms(0o700)).ok().as_deref(),
            Some("\"0700\"")
        );
        for bad in ["\"644\"", "\"0648\"", "\"00644\"", "420"] {
            assert!(serde_json::from_str::<Perms>(bad).is_err(), "input: {bad}");
        }
    }

    #[test]
    fn envelope_field_order() {
        let r = Record {
            v: VERSION,
            seq: 1,
            txn: 1,
            ts: "2026-01-01T00:00:00.000Z".into(),
            prev: Digest::GENESIS,
            body: Body::Done(Done { op: 0 }),
        };
        let text = serde_json::to_string(&r).unwrap_or_default();
        assert!(
            text.starts_with("{\"v\":1,\"seq\":1,\"txn\":1,\"ts\":"),
            "{text}"
        );
        assert!(
            text.ends_with("\"type\":\"done\",\"data\":{\"op\":0}}"),
            "{text}"
        );
    }
}
