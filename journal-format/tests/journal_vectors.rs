//! Multi-file journal vectors: pruned journals, interrupted prunes, and the gaps that are
//! corruption. Every directory under `vectors/journals/` is one journal (`txn-*.jsonl`
//! files) and decodes to the outcome `vectors/journals/MANIFEST.json` gives for it, read by
//! the rules of SPEC.md ("Reader rules", rule 5): the chain starts at genesis or continues
//! from the newest committed checkpoint, and files up to that checkpoint's `through_txn` are
//! pruned leftovers outside the chain. `UPDATE_VECTORS=1` rewrites the files from the
//! builders below; without it the committed files must equal the builders' output.

#![allow(clippy::disallowed_methods)] // writes vectors under UPDATE_VECTORS, never a state root

use journal_format::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const TS: &str = "2026-11-27T12:00:00.000Z";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/journals")
}

/// Writes transactions one after another, chaining every record across files.
#[derive(Default)]
struct History {
    seq: u64,
    prev: Digest,
    files: BTreeMap<u64, Vec<u8>>,
    last: BTreeMap<u64, (u64, Digest)>,
}

impl History {
    fn txn(&mut self, txn: u64, bodies: Vec<Body>) {
        let mut bytes = Vec::new();
        for body in bodies {
            self.seq += 1;
            let r = Record {
                v: VERSION,
                seq: self.seq,
                txn,
                ts: TS.into(),
                prev: self.prev,
                body,
            };
            let line = encode(&r, &Mac::Sha256).expect("encodable");
            self.prev = line.tag;
            bytes.extend_from_slice(&line.bytes);
        }
        self.files.insert(txn, bytes);
        self.last.insert(txn, (self.seq, self.prev));
    }

    fn checkpoint(&self, through_txn: u64) -> Body {
        let (seq, hash) = self.last[&through_txn];
        Body::Checkpoint(Checkpoint {
            through_txn,
            seq,
            hash,
        })
    }

    fn subset(&self, txns: &[u64]) -> BTreeMap<String, Vec<u8>> {
        txns.iter()
            .map(|t| (file_name(*t), self.files[t].clone()))
            .collect()
    }
}

fn header() -> Body {
    Body::Header(Header {
        magic: MAGIC.into(),
        tool: "selfheal 0.1.0".into(),
        mac: MacKind::Sha256,
    })
}

fn begin(command: &str, plan: Vec<PlanEntry>) -> Body {
    Body::Begin(Begin {
        command: command.into(),
        mode: None,
        pid: 4242,
        plan,
    })
}

fn commit() -> Body {
    Body::Commit(Commit { summary: json!({}) })
}

/// A committed heal creating `state/d<txn>`, optionally with an extra record before commit.
fn heal(txn: u64, extra: Option<Body>) -> Vec<Body> {
    let path = format!("state/d{txn}");
    let mut bodies = vec![
        header(),
        begin(
            "heal",
            vec![PlanEntry {
                op: 0,
                kind: OpKind::CreateDir,
                heal: "missing_directory".into(),
                path: Some(path.clone()),
                reason: "directory is missing".into(),
            }],
        ),
        Body::Intent(Intent {
            op: 0,
            kind: OpKind::CreateDir,
            path: Some(path),
            before: Node::Absent,
            after: Node::Dir { mode: Mode(0o755) },
            object: None,
            meta: None,
            process: None,
            bot_lock: None,
            xattrs: None,
        }),
    ];
    bodies.extend(extra);
    bodies.push(Body::Done(Done { op: 0 }));
    bodies.push(commit());
    bodies
}

fn prune(h: &History, through: u64, end: Body) -> Vec<Body> {
    vec![
        header(),
        begin("prune", Vec::new()),
        h.checkpoint(through),
        end,
    ]
}

/// Heals 1-3, prune 4 (through 2), heal 5, prune 6 (through 4).
fn full() -> History {
    let mut h = History::default();
    for t in 1..=3 {
        h.txn(t, heal(t, None));
    }
    h.txn(4, prune(&h, 2, commit()));
    h.txn(5, heal(5, None));
    h.txn(6, prune(&h, 4, commit()));
    h
}

/// Heals 1-3, then a prune (through 2) that was aborted.
fn aborted() -> History {
    let mut h = History::default();
    for t in 1..=3 {
        h.txn(t, heal(t, None));
    }
    let abort = Body::Abort(Abort {
        reason: "rolled back after an interrupted run".into(),
        ops: Vec::new(),
    });
    h.txn(4, prune(&h, 2, abort));
    h
}

/// Heal 1, then heal 2 carrying a checkpoint: only a prune may.
fn stray_checkpoint() -> History {
    let mut h = History::default();
    h.txn(1, heal(1, None));
    let c = h.checkpoint(1);
    h.txn(2, heal(2, Some(c)));
    h
}

fn builders() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let (f, a, s) = (full(), aborted(), stray_checkpoint());
    BTreeMap::from([
        ("unpruned", f.subset(&[1, 2, 3])),
        ("pruned", f.subset(&[3, 4])),
        ("pruned-interrupted", f.subset(&[1, 2, 3, 4])),
        ("pruned-partly-removed", f.subset(&[2, 3, 4])),
        ("pruned-leftover-with-gap", f.subset(&[1, 3, 4])),
        ("pruned-twice", f.subset(&[5, 6])),
        ("pruned-twice-interrupted", f.subset(&[3, 4, 5, 6])),
        ("gap-without-checkpoint", f.subset(&[1, 3])),
        ("pruned-first-kept-missing", f.subset(&[3, 4, 6])),
        ("pruned-by-aborted-prune", a.subset(&[3, 4])),
        ("checkpoint-outside-prune", s.subset(&[1, 2])),
    ])
}

/// Reads a journal directory by the reader rules and describes the outcome in the
/// manifest's terms: files read, leftovers outside the chain, chained records, first error.
fn outcome(files: &BTreeMap<String, Vec<u8>>) -> Value {
    let mut decoded = Vec::new();
    for (name, bytes) in files {
        let txn = parse_file_name(name).expect("txn file name");
        let d = decode_file(bytes, &Mac::Sha256, Some(txn));
        if let Some(e) = d.error {
            return result(files.len(), 0, 0, Some((name, "decode", e.line)));
        }
        decoded.push((name, txn, d.entries));
    }
    let anchor = prune_anchor(decoded.iter().map(|(_, _, e)| e.as_slice()));
    let mut chain = anchor.as_ref().map_or_else(Chain::new, Chain::anchored);
    let (mut pruned, mut records) = (0, 0);
    for (name, txn, entries) in &decoded {
        let plain: Vec<Record> = entries.iter().map(|e| e.record.clone()).collect();
        if let Err(e) = view(&plain) {
            let line = entries
                .iter()
                .find(|x| x.record.seq == e.seq)
                .map(|x| x.line);
            return result(
                files.len(),
                pruned,
                records,
                Some((name, "grammar", line.unwrap_or(0))),
            );
        }
        if anchor.is_some_and(|c| *txn <= c.through_txn) {
            pruned += 1;
            continue;
        }
        for entry in entries {
            if let Err(e) = chain.push(entry) {
                let kind = match e {
                    ChainError::Sequence { .. } => "sequence",
                    ChainError::BrokenLink { .. } => "broken_link",
                    ChainError::Unanchored { .. } => "unanchored",
                };
                return result(files.len(), pruned, records, Some((name, kind, entry.line)));
            }
            records += 1;
        }
    }
    result(files.len(), pruned, records, None)
}

fn result(
    files: usize,
    pruned: usize,
    records: usize,
    error: Option<(&String, &str, u64)>,
) -> Value {
    let error = error.map(|(file, kind, line)| json!({"kind": kind, "file": file, "line": line}));
    json!({"files": files, "pruned": pruned, "records": records, "error": error})
}

fn read_journal(name: &str) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir().join(name))
        .expect("journal dir")
        .map(|e| {
            let e = e.expect("entry");
            let bytes = std::fs::read(e.path()).expect("read");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

fn manifest() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.json")).expect("MANIFEST.json");
    serde_json::from_str(&text).expect("MANIFEST.json parses")
}

#[test]
fn committed_journals_match_their_builders() {
    let update = std::env::var_os("UPDATE_VECTORS").is_some();
    for (name, files) in builders() {
        if update {
            let d = dir().join(name);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("mkdir");
            for (file, bytes) in &files {
                std::fs::write(d.join(file), bytes).expect("write vector");
            }
        }
        assert!(
            read_journal(name) == files,
            "{name} differs from its builder (UPDATE_VECTORS=1 to rewrite)"
        );
    }
}

#[test]
fn every_journal_decodes_to_its_manifest_outcome() {
    let manifest = manifest();
    for entry in std::fs::read_dir(dir()).expect("journals dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name == "MANIFEST.json" {
            continue;
        }
        let expected = manifest
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no MANIFEST.json entry"));
        assert_eq!(&outcome(&read_journal(&name)), expected, "journal {name}");
    }
    for name in manifest.keys() {
        assert!(
            dir().join(name).is_dir(),
            "MANIFEST.json names missing {name}"
        );
    }
}
