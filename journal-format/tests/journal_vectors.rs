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

    /// Continues the chain from the last record of `txn`, as a quarantine does from the
    /// last record that verified.
    fn rewind(&mut self, txn: u64) {
        (self.seq, self.prev) = self.last[&txn];
    }

    fn quarantine(&self, after: u64, through_txn: u64) -> Body {
        let (seq, hash) = self.last[&after];
        Body::Quarantine(Quarantine {
            moved_to: "logs/backups/quarantine/20261127T120000.000Z".into(),
            through_txn,
            seq,
            hash,
            last_good_txn: Some(after),
            problem: "txn-0000000003.jsonl: line 3: checksum mismatch".into(),
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
            after: Node::Dir { mode: Perms(0o755) },
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

/// Heals 1-3, the file of 3 damaged; quarantine 4 (through 3, anchored at the end of 2)
/// starts a new chain; heal 5 follows it.
fn quarantined() -> History {
    let mut h = History::default();
    for t in 1..=3 {
        h.txn(t, heal(t, None));
    }
    let q = h.quarantine(2, 3);
    h.rewind(2);
    h.txn(
        4,
        vec![header(), begin("quarantine", Vec::new()), q, commit()],
    );
    h.txn(5, heal(5, None));
    h
}

/// Heal 1, then heal 2 carrying a quarantine record: only a quarantine transaction may.
fn stray_quarantine() -> History {
    let mut h = History::default();
    h.txn(1, heal(1, None));
    let q = h.quarantine(1, 1);
    h.txn(2, vec![header(), begin("heal", Vec::new()), q, commit()]);
    h
}

fn with(mut files: BTreeMap<String, Vec<u8>>, name: &str) -> BTreeMap<String, Vec<u8>> {
    files.insert(name.into(), Vec::new());
    files
}

fn builders() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let (f, a, s) = (full(), aborted(), stray_checkpoint());
    let (q, sq) = (quarantined(), stray_quarantine());
    BTreeMap::from([
        ("quarantined", q.subset(&[4, 5])),
        ("quarantine-file-back", q.subset(&[3, 4, 5])),
        ("quarantine-outside-its-transaction", sq.subset(&[1, 2])),
        (
            "id-gap-empty-file",
            with(f.subset(&[1, 2, 3]), "txn-0000000005.jsonl"),
        ),
        (
            "stray-eleven-digits",
            with(f.subset(&[1, 2, 3]), "txn-10000000000.jsonl"),
        ),
        ("stray-name", with(f.subset(&[1, 2, 3]), "notes.txt")),
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
/// A name that is not a transaction file is a stray (rule 8), reported before anything else
/// is read; the rules across files are the crate's own (`assess`).
fn outcome(files: &BTreeMap<String, Vec<u8>>) -> Value {
    if let Some(stray) = files.keys().find(|n| parse_file_name(n).is_none()) {
        return result(files.len(), 0, 0, Some((stray, "stray", None)));
    }
    let mut decoded = Vec::new();
    for (name, bytes) in files {
        let txn = parse_file_name(name).expect("txn file name");
        let d = decode_file(bytes, &Mac::Sha256, Some(txn));
        if let Some(e) = &d.error {
            return result(files.len(), 0, 0, Some((name, "decode", Some(e.line))));
        }
        decoded.push((name, FileSummary::of(txn, &d)));
    }
    let summaries: Vec<FileSummary> = decoded.iter().map(|(_, s)| s.clone()).collect();
    let a = assess(&summaries);
    let upto = a.fault.as_ref().map_or(decoded.len(), |f| f.file);
    let chained = |s: &FileSummary| !a.is_leftover(s.txn);
    let before = &summaries[..upto];
    let pruned = before.iter().filter(|s| !chained(s)).count();
    let mut records: usize = before
        .iter()
        .filter(|s| chained(s))
        .map(|s| s.records)
        .sum();
    let Some(f) = a.fault else {
        return result(files.len(), pruned, records, None);
    };
    let kind = match &f.fault {
        Fault::Grammar(_) => "grammar",
        Fault::Chain(ChainError::Sequence { .. }) => "sequence",
        Fault::Chain(ChainError::BrokenLink { .. }) => "broken_link",
        Fault::Chain(ChainError::Unanchored { .. }) => "unanchored",
        Fault::IdGap { .. } => "id_gap",
        Fault::TornNotNewest { .. } => "torn_not_newest",
        Fault::UnfinishedNotNewest => "unfinished_not_newest",
    };
    if let (Fault::Chain(_), Some(line)) = (&f.fault, f.line) {
        records += usize::try_from(line).unwrap_or(1) - 1;
    }
    result(
        files.len(),
        pruned,
        records,
        Some((decoded[f.file].0, kind, f.line)),
    )
}

fn result(
    files: usize,
    pruned: usize,
    records: usize,
    error: Option<(&String, &str, Option<u64>)>,
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
