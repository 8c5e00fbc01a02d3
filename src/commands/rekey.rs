//! Rotating the journal key (`selfheal journal rekey --new-key-file FILE`; SPEC.md, "Key
//! rotation"). Under the lock, after recovery, with a journal that verifies under the
//! configured key, it writes one transaction — `header begin rekey commit`, command
//! `rekey` — tagged with the **new** key and chained to the last record of the old one.
//! The file is written whole (temp file, fsync, rename without replacing, directory
//! fsync), so it is either absent or complete: a crash never leaves half a rotation. From
//! then on the journal is read with the new key; records before the rotation verify with
//! the old key (`journal verify --old-key-file`) and are read without their tags otherwise.
//! Nothing else is changed: the operator then points `journal_key_file` at the new key.

use crate::error::{Error, Result};
use crate::fsx::{Attrs, Replace};
use crate::journal::now_rfc3339;
use crate::paths::RelPath;
use crate::paths::JOURNAL_DIR;
use crate::run::{locked_and_recovered, Options, Session};
use journal_format::{self as jf, Begin, Body, Commit, Header, Mac, MacKind, Record, Rekey};
use serde::Serialize;
use std::path::Path;

/// What `journal rekey` did.
#[derive(Debug, Clone, Serialize)]
pub struct RekeyReport {
    /// The transaction that records the rotation.
    pub transaction: u64,
    /// Key id of the new key (what later records are tagged with).
    pub key_id: String,
    /// Key id of the key the records before are tagged with (`sha256`: unkeyed).
    pub previous: String,
    /// The new key file (absolute).
    pub new_key_file: String,
    /// The configuration file whose `journal_key_file` must now name it (`None`: the
    /// embedded default is in use, so `config/selfheal.json` under the root).
    pub config: Option<String>,
}

/// Rotates the journal to the key in `new_key_file`.
///
/// # Errors
/// [`Error::Usage`] for a new key that is not acceptable (unreadable, empty, readable by
/// others, inside the root, the key in use already); journal problems; I/O errors; the
/// lock timeout.
pub fn rekey(opts: &Options, new_key_file: &Path) -> Result<RekeyReport> {
    let s = Session::open(opts, false)?;
    let new = crate::keyfile::read_key(new_key_file, &opts.root)
        .map(Mac::HmacSha256)
        .map_err(|why| Error::Usage(format!("--new-key-file: {why}")))?;
    let (_lock, journal) = locked_and_recovered(&s, opts)?;
    if let Some(p) = &journal.problem {
        return Err(p.to_error(&s.root));
    }
    let previous = match journal.txns.last() {
        Some(t) if declared(t) == Some(MacKind::Sha256) => Mac::Sha256.key_id(),
        _ => journal.mac().key_id(),
    };
    if new.key_id() == previous {
        return Err(Error::Usage(format!(
            "--new-key-file: the journal is already tagged with this key (key id {previous})"
        )));
    }
    let txn = journal.next_txn();
    let rekey = Rekey {
        key_id: new.key_id(),
        previous,
    };
    let bytes = encode(txn, journal.head(), &new, &rekey)?;
    let path = RelPath::new(JOURNAL_DIR)?.join(&jf::file_name(txn))?;
    let attrs = Attrs {
        mode: 0o600,
        owner: None,
        mtime: None,
        xattrs: None,
    };
    s.root.write_atomic(
        &path,
        &bytes,
        &attrs,
        &format!("{}rekey.{txn}", crate::fsx::TMP_PREFIX),
        Replace::NoClobber,
    )?;
    Ok(RekeyReport {
        transaction: txn,
        key_id: rekey.key_id,
        previous: rekey.previous,
        new_key_file: std::fs::canonicalize(new_key_file)
            .unwrap_or_else(|_| new_key_file.to_path_buf())
            .display()
            .to_string(),
        config: s.layout.source.as_ref().map(|p| p.display().to_string()),
    })
}

/// The tag algorithm a transaction's header declares.
fn declared(t: &crate::journal::TxnFile) -> Option<MacKind> {
    t.entries.first().and_then(|e| match &e.record.body {
        Body::Header(h) => Some(h.mac),
        _ => None,
    })
}

/// The whole rotation transaction, chained after `head`, tagged with `new`.
fn encode(txn: u64, head: (u64, jf::Digest), new: &Mac, rekey: &Rekey) -> Result<Vec<u8>> {
    let bodies = vec![
        Body::Header(Header {
            magic: jf::MAGIC.into(),
            tool: format!("selfheal {}", env!("CARGO_PKG_VERSION")),
            mac: MacKind::HmacSha256,
        }),
        Body::Begin(Begin {
            command: "rekey".into(),
            mode: None,
            pid: std::process::id(),
            plan: Vec::new(),
        }),
        Body::Rekey(rekey.clone()),
        Body::Commit(Commit {
            summary: serde_json::json!({"rekey": {"key_id": rekey.key_id, "previous": rekey.previous}}),
        }),
    ];
    let (mut seq, mut prev) = head;
    let mut bytes = Vec::new();
    for body in bodies {
        seq += 1;
        let record = Record {
            v: jf::VERSION,
            seq,
            txn,
            ts: now_rfc3339(),
            prev,
            body,
        };
        let line = jf::encode(&record, new).map_err(|e| Error::JournalCorrupt {
            file: JOURNAL_DIR.into(),
            why: format!("cannot encode a record: {e}"),
        })?;
        prev = line.tag;
        bytes.extend_from_slice(&line.bytes);
    }
    Ok(bytes)
}
