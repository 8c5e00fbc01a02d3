//! Key rotation vectors: journals whose key changes at a `rekey` transaction (SPEC.md,
//! "Key rotation"). Every directory under `vectors/rekey/` is one journal, read once per
//! key ring `vectors/rekey/MANIFEST.json` lists (the reader's key first, then older
//! keys), and each read gives the outcome stated there: which transactions verified,
//! which were read without their tags, how many records chained, and the first error.
//! `UPDATE_VECTORS=1` rewrites the files from the builders below; without it the committed
//! files must equal the builders' output.

#![allow(clippy::disallowed_methods)] // writes vectors under UPDATE_VECTORS, never a state root

use journal_format::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const TS: &str = "2026-11-27T12:00:00.000Z";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/rekey")
}

/// The keys the vectors use, by name.
fn key(name: &str) -> Mac {
    Mac::HmacSha256(name.as_bytes().to_vec())
}

/// Writes transactions one after another, each with its own mac, chaining every record.
#[derive(Default)]
struct History {
    seq: u64,
    prev: Digest,
    files: BTreeMap<u64, Vec<Vec<u8>>>,
}

impl History {
    fn txn(&mut self, txn: u64, mac: &Mac, bodies: Vec<Body>) {
        let mut lines = Vec::new();
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
            let line = encode(&r, mac).expect("encodable");
            self.prev = line.tag;
            lines.push(line.bytes);
        }
        self.files.insert(txn, lines);
    }

    fn journal(&self) -> BTreeMap<String, Vec<u8>> {
        self.files
            .iter()
            .map(|(t, lines)| (file_name(*t), lines.concat()))
            .collect()
    }
}

fn header(mac: &Mac) -> Body {
    Body::Header(Header {
        magic: MAGIC.into(),
        tool: "selfheal 0.1.0".into(),
        mac: mac.kind(),
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

fn commit(summary: Value) -> Body {
    Body::Commit(Commit { summary })
}

/// A committed heal creating `state/d<txn>`, with `extra` records before its commit.
fn heal(txn: u64, mac: &Mac, extra: Vec<Body>) -> Vec<Body> {
    let path = format!("state/d{txn}");
    let mut bodies = vec![
        header(mac),
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
    bodies.push(commit(json!({"healed": 1})));
    bodies
}

/// The rotation transaction: tagged with `new`, naming `key_id` (normally `new`'s) and the
/// key of the records before.
fn rekey(new: &Mac, key_id: String, previous: String) -> Vec<Body> {
    let summary = json!({"rekey": {"key_id": key_id, "previous": previous}});
    vec![
        header(new),
        begin("rekey", Vec::new()),
        Body::Rekey(Rekey { key_id, previous }),
        commit(summary),
    ]
}

/// Heals 1-2 under `vector-key`, rekey 3 to `vector-key-2`, heal 4 under it.
fn rekeyed() -> History {
    let (k1, k2) = (key("vector-key"), key("vector-key-2"));
    let mut h = History::default();
    h.txn(1, &k1, heal(1, &k1, Vec::new()));
    h.txn(2, &k1, heal(2, &k1, Vec::new()));
    h.txn(3, &k2, rekey(&k2, k2.key_id(), k1.key_id()));
    h.txn(4, &k2, heal(4, &k2, Vec::new()));
    h
}

/// Heal 1 unkeyed, rekey 2 to `vector-key-2`, heal 3 under it.
fn from_unkeyed() -> History {
    let k2 = key("vector-key-2");
    let mut h = History::default();
    h.txn(1, &Mac::Sha256, heal(1, &Mac::Sha256, Vec::new()));
    h.txn(2, &k2, rekey(&k2, k2.key_id(), Mac::Sha256.key_id()));
    h.txn(3, &k2, heal(3, &k2, Vec::new()));
    h
}

/// Heals 1-2 under `vector-key`, then a rotation to `vector-key-2` written by someone who
/// holds neither key: tagged with another key, naming the real new key's id.
fn forged() -> History {
    let (k1, k2, other) = (key("vector-key"), key("vector-key-2"), key("attacker"));
    let mut h = History::default();
    h.txn(1, &k1, heal(1, &k1, Vec::new()));
    h.txn(2, &k1, heal(2, &k1, Vec::new()));
    h.txn(3, &other, rekey(&other, k2.key_id(), k1.key_id()));
    h
}

/// A rotation whose record names a key id other than its own file's key.
fn wrong_key_id() -> History {
    let (k1, k2) = (key("vector-key"), key("vector-key-2"));
    let mut h = History::default();
    h.txn(1, &k1, heal(1, &k1, Vec::new()));
    h.txn(
        2,
        &k2,
        rekey(&k2, key("vector-key-3").key_id(), k1.key_id()),
    );
    h
}

/// A heal carrying a rekey record: only a `rekey` transaction may.
fn stray_rekey() -> History {
    let k2 = key("vector-key-2");
    let mut h = History::default();
    let stray = Body::Rekey(Rekey {
        key_id: k2.key_id(),
        previous: k2.key_id(),
    });
    h.txn(1, &k2, heal(1, &k2, vec![stray]));
    h
}

/// `rekeyed` with line 2 (`begin`: its pid) of transaction 2 edited after it was tagged.
fn edited_before() -> BTreeMap<String, Vec<u8>> {
    let mut h = rekeyed();
    let lines = h.files.get_mut(&2).expect("txn 2");
    let text = String::from_utf8(lines[1].clone()).expect("utf8");
    lines[1] = text.replace("\"pid\":4242", "\"pid\":4343").into_bytes();
    h.journal()
}

/// `rekeyed` with the last record of transaction 2 gone.
fn record_lost_before() -> BTreeMap<String, Vec<u8>> {
    let mut h = rekeyed();
    h.files.get_mut(&2).expect("txn 2").pop();
    h.journal()
}

fn builders() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    BTreeMap::from([
        ("rekeyed", rekeyed().journal()),
        ("rekeyed-from-unkeyed", from_unkeyed().journal()),
        ("rekey-forged", forged().journal()),
        ("rekey-wrong-key-id", wrong_key_id().journal()),
        ("rekey-outside-rekey-transaction", stray_rekey().journal()),
        ("rekeyed-edited-before", edited_before()),
        ("rekeyed-record-lost-before", record_lost_before()),
    ])
}

/// Reads a journal with `ring` by the reader rules (section 7, rules 1-7) and describes the
/// outcome in the manifest's terms.
fn outcome(files: &BTreeMap<String, Vec<u8>>, ring: &[Mac]) -> Value {
    let mut decoded = Vec::new();
    for (name, bytes) in files {
        let txn = parse_file_name(name).expect("txn file name");
        let (d, used) = match declared_mac(bytes) {
            Some(MacKind::HmacSha256) => decode_file_with_ring(bytes, ring, Some(txn)),
            _ => (decode_file(bytes, &Mac::Sha256, Some(txn)), None),
        };
        let mac = match declared_mac(bytes) {
            Some(MacKind::HmacSha256) => used.and_then(|i| ring.get(i)),
            _ => Some(&Mac::Sha256),
        };
        if let Some(e) = d.error {
            let kind = match e.kind {
                ErrorKind::ChecksumMismatch => "checksum_mismatch",
                _ => "decode",
            };
            return result(&decoded, 0, Some((name.clone(), kind, e.line)));
        }
        decoded.push((name.clone(), txn, mac, d.entries));
    }
    let keyed: Vec<(Option<&Mac>, &[Entry])> = decoded
        .iter()
        .map(|(_, _, mac, entries)| (*mac, entries.as_slice()))
        .collect();
    if let Err(e) = check_keys(&keyed) {
        let (index, kind) = match e {
            KeyError::Unverified { index } => (index, "unverified"),
            KeyError::WrongKeyId { index, .. } => (index, "wrong_key_id"),
        };
        let (name, _, _, entries) = &decoded[index];
        let line = match kind {
            "unverified" => 1,
            _ => entries
                .iter()
                .find(|x| matches!(x.record.body, Body::Rekey(_)))
                .map_or(0, |x| x.line),
        };
        let name = name.clone();
        decoded.truncate(index);
        return result(&decoded, 0, Some((name, kind, line)));
    }
    let mut chain = Chain::new();
    let mut records = 0;
    for (name, _, _, entries) in &decoded {
        let plain: Vec<Record> = entries.iter().map(|e| e.record.clone()).collect();
        if let Err(e) = view(&plain) {
            let line = entries
                .iter()
                .find(|x| x.record.seq == e.seq)
                .map_or(0, |x| x.line);
            return result(&decoded, records, Some((name.clone(), "grammar", line)));
        }
        for entry in entries {
            if let Err(e) = chain.push(entry) {
                let kind = match e {
                    ChainError::Sequence { .. } => "sequence",
                    ChainError::BrokenLink { .. } => "broken_link",
                    ChainError::Unanchored { .. } => "unanchored",
                };
                return result(&decoded, records, Some((name.clone(), kind, entry.line)));
            }
            records += 1;
        }
    }
    result(&decoded, records, None)
}

type Decoded<'a> = (String, u64, Option<&'a Mac>, Vec<Entry>);

fn result(decoded: &[Decoded<'_>], records: usize, error: Option<(String, &str, u64)>) -> Value {
    let txns = |verified: bool| -> Vec<u64> {
        decoded
            .iter()
            .filter(|(_, _, mac, _)| mac.is_some() == verified)
            .map(|(_, t, _, _)| *t)
            .collect()
    };
    let error = error.map(|(file, kind, line)| json!({"kind": kind, "file": file, "line": line}));
    json!({"verified": txns(true), "unverified": txns(false), "records": records, "error": error})
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
fn committed_rekey_journals_match_their_builders() {
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
fn every_rekey_journal_reads_to_its_manifest_outcome_with_each_ring() {
    let manifest = manifest();
    let mut reads = 0;
    for (name, entry) in &manifest {
        let files = read_journal(name);
        for read in entry["reads"].as_array().expect("reads") {
            let ring: Vec<Mac> = read["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| key(k.as_str().expect("key name")))
                .collect();
            let mut want = read.clone();
            want.as_object_mut().expect("object").remove("keys");
            assert_eq!(
                outcome(&files, &ring),
                want,
                "{name} read with {}",
                read["keys"]
            );
            reads += 1;
        }
    }
    for entry in std::fs::read_dir(dir()).expect("rekey dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            name == "MANIFEST.json" || manifest.contains_key(&name),
            "{name} has no MANIFEST.json entry"
        );
    }
    assert!(reads >= 10, "{reads} reads");
}

#[test]
fn key_ids_are_the_documented_hmac_prefix() {
    // SPEC.md, "Key rotation": the first 16 hex digits of HMAC-SHA256(key, label).
    let k = key("vector-key");
    assert_eq!(k.key_id(), k.tag(KEY_ID_LABEL).to_hex()[..16]);
    assert_eq!(KEY_ID_LABEL, b"selfheal-journal-key-id");
}
