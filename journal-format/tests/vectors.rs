//! The format's test vectors: every file in `vectors/` decodes to exactly the outcome its
//! `MANIFEST.json` entry states. `UPDATE_VECTORS=1 cargo test -p journal-format` rewrites the
//! files from the builders below; without it, the committed files must equal the builders'
//! output, so an encoder change that alters bytes on disk cannot go unnoticed.

#![allow(clippy::disallowed_methods)] // the vector files are written only when blessing

use journal_format::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const TS: &str = "2026-11-27T12:00:00.000Z";
const KEY: &[u8] = b"vector-key";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn digest(byte: u8) -> Digest {
    Digest([byte; 32])
}

fn plan() -> Vec<PlanEntry> {
    vec![
        PlanEntry {
            op: 0,
            kind: OpKind::CreateDir,
            heal: "missing_directory".into(),
            path: Some("state/heartbeats".into()),
            reason: "directory is missing".into(),
        },
        PlanEntry {
            op: 1,
            kind: OpKind::ReplaceFile,
            heal: "empty_file".into(),
            path: Some("logs/positions_futures.json".into()),
            reason: "file is empty".into(),
        },
    ]
}

fn bodies() -> Vec<Body> {
    vec![
        Body::Header(Header {
            magic: MAGIC.into(),
            tool: "selfheal 0.1.0".into(),
            mac: MacKind::Sha256,
        }),
        Body::Begin(Begin {
            command: "heal".into(),
            mode: Some("paper".into()),
            pid: 4242,
            plan: plan(),
        }),
        Body::Intent(Intent {
            op: 0,
            kind: OpKind::CreateDir,
            path: Some("state/heartbeats".into()),
            before: Node::Absent,
            after: Node::Dir { mode: Perms(0o755) },
            object: None,
            meta: None,
            process: None,
            bot_lock: None,
            xattrs: None,
        }),
        Body::Intent(Intent {
            op: 1,
            kind: OpKind::ReplaceFile,
            path: Some("logs/positions_futures.json".into()),
            before: Node::File {
                sha256: digest(0x11),
                size: 0,
                mode: Perms(0o644),
            },
            after: Node::File {
                sha256: digest(0x22),
                size: 44,
                mode: Perms(0o644),
            },
            object: Some(digest(0x11)),
            meta: Some(Meta {
                uid: 1000,
                gid: 1000,
                mtime_sec: 1_764_244_800,
                mtime_nsec: 5,
            }),
            process: None,
            bot_lock: None,
            xattrs: None,
        }),
        Body::Done(Done { op: 0 }),
        Body::Done(Done { op: 1 }),
        // Keys in sorted order: the bytes must not depend on whether serde_json's
        // `preserve_order` feature is unified in by another workspace member.
        Body::Commit(Commit {
            summary: json!({"critical": [], "healed": 2}),
        }),
    ]
}

/// Encodes bodies as one transaction starting at genesis; `edit` may alter a record before
/// it is encoded (the chain still follows the encoded tags).
fn encode_all(bodies: Vec<Body>, mac: &Mac, edit: impl Fn(usize, &mut Record)) -> Vec<Vec<u8>> {
    let mut prev = Digest::GENESIS;
    let mut lines = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let mut r = Record {
            v: VERSION,
            seq: i as u64 + 1,
            txn: 1,
            ts: TS.into(),
            prev,
            body,
        };
        edit(i, &mut r);
        let line = encode(&r, mac).expect("encodable");
        prev = line.tag;
        lines.push(line.bytes);
    }
    lines
}

fn plain(lines: Vec<Vec<u8>>) -> Vec<u8> {
    lines.concat()
}

const POSITIONS: &str = "logs/positions_futures.json";

/// One `replace_file` of the positions file, with the intent `edit` makes of it.
fn replace_positions(command: &str, edit: impl Fn(&mut Intent), end: Body) -> Vec<Body> {
    let mut intent = Intent {
        op: 0,
        kind: OpKind::ReplaceFile,
        path: Some(POSITIONS.into()),
        before: Node::File {
            sha256: digest(0x11),
            size: 24,
            mode: Perms(0o640),
        },
        after: Node::File {
            sha256: digest(0x22),
            size: 44,
            mode: Perms(0o640),
        },
        object: Some(digest(0x11)),
        meta: Some(Meta {
            uid: 1000,
            gid: 1000,
            mtime_sec: 1_764_244_800,
            mtime_nsec: 5,
        }),
        process: None,
        bot_lock: None,
        xattrs: None,
    };
    edit(&mut intent);
    vec![
        Body::Header(Header {
            magic: MAGIC.into(),
            tool: "selfheal 0.1.0".into(),
            mac: MacKind::Sha256,
        }),
        Body::Begin(Begin {
            command: command.into(),
            mode: Some("real".into()),
            pid: 4242,
            plan: vec![PlanEntry {
                op: 0,
                kind: OpKind::ReplaceFile,
                heal: "missing_keys".into(),
                path: Some(POSITIONS.into()),
                reason: "required keys are missing".into(),
            }],
        }),
        Body::Intent(intent),
        Body::Done(Done { op: 0 }),
        end,
    ]
}

/// A watch cycle's replace under the bot's lock, interrupted after its `done`, then closed
/// by recovery keeping the bot's newer version (saved as object 0x33).
fn bot_lock_kept() -> Vec<Body> {
    replace_positions(
        "watch",
        |i| i.bot_lock = Some(format!("{POSITIONS}.lock")),
        Body::Abort(Abort {
            reason: "rolled back after an interrupted run; kept the bot's newer version of logs/positions_futures.json".into(),
            ops: vec![OpOutcome {
                op: 0,
                outcome: UndoOutcome::KeptCurrent,
                object: Some(digest(0x33)),
            }],
        }),
    )
}

/// The extended attributes of the vector `intent-xattrs.jsonl`: a POSIX access ACL
/// (`u::rw-,u:1001:rw-,g::r--,m::rw-,o::---`) and a user attribute.
fn vector_xattrs() -> Xattrs {
    let acl: Vec<u8> = [
        &2u32.to_le_bytes()[..],
        &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff],
        &[2, 0, 6, 0, 0xe9, 0x03, 0, 0],
        &[4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff],
        &[0x10, 0, 6, 0, 0xff, 0xff, 0xff, 0xff],
        &[0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
    ]
    .concat();
    let mut x = Xattrs::new();
    x.insert("system.posix_acl_access".into(), HexBytes(acl));
    x.insert("user.origin".into(), HexBytes(b"bot".to_vec()));
    x
}

fn with_xattrs() -> Vec<Body> {
    replace_positions(
        "heal",
        |i| i.xattrs = Some(Box::new(vector_xattrs())),
        Body::Commit(Commit {
            summary: json!({"critical": [], "healed": 1}),
        }),
    )
}

fn builders() -> BTreeMap<&'static str, Vec<u8>> {
    let sha = Mac::Sha256;
    let all = || encode_all(bodies(), &sha, |_, _| {});
    let mut v = BTreeMap::new();
    v.insert("valid.jsonl", plain(all()));
    v.insert("valid-unfinished.jsonl", plain(all()[..3].to_vec()));
    let mut keyed_bodies = bodies();
    if let Some(Body::Header(h)) = keyed_bodies.first_mut() {
        h.mac = MacKind::HmacSha256;
    }
    v.insert(
        "keyed.jsonl",
        plain(encode_all(
            keyed_bodies,
            &Mac::HmacSha256(KEY.to_vec()),
            |_, _| {},
        )),
    );
    let mut torn = plain(all()[..6].to_vec());
    let last = &all()[6];
    torn.extend_from_slice(&last[..last.len() / 2]);
    v.insert("torn-tail.jsonl", torn);
    let mut torn_sum = all();
    if let Some(b) = torn_sum[6].get_mut(10) {
        *b ^= 0x01;
    }
    v.insert("torn-tail-checksum.jsonl", plain(torn_sum));
    let mut nul = plain(all()[..6].to_vec());
    nul.extend_from_slice(&[0u8; 64]);
    v.insert("nul-tail.jsonl", nul);
    let mut flipped = all();
    if let Some(b) = flipped[2].get_mut(40) {
        *b ^= 0x04;
    }
    v.insert("corrupt-middle.jsonl", plain(flipped));
    let mut reordered = all();
    reordered.swap(2, 3);
    v.insert("reordered.jsonl", plain(reordered));
    let mut deleted = all();
    deleted.remove(3);
    v.insert("deleted-record.jsonl", plain(deleted));
    let relinked = encode_all(bodies(), &sha, |i, r| {
        if i == 4 {
            r.prev = digest(0x99);
        }
    });
    v.insert("broken-chain.jsonl", plain(relinked));
    v.insert(
        "unknown-version.jsonl",
        plain(encode_all(bodies(), &sha, |_, r| r.v = 2)),
    );
    for (name, path) in [
        ("bad-path-parent.jsonl", "../x"),
        ("bad-path-absolute.jsonl", "/etc/passwd"),
    ] {
        let lines = encode_all(bodies(), &sha, |i, r| {
            if i == 3 {
                if let Body::Intent(it) = &mut r.body {
                    it.path = Some(path.into());
                }
            }
            if i == 1 {
                if let Body::Begin(b) = &mut r.body {
                    b.plan[1].path = Some(path.into());
                }
            }
        });
        v.insert(name, plain(lines));
    }
    let mut no_header = bodies();
    no_header.remove(0);
    v.insert(
        "missing-header.jsonl",
        plain(encode_all(no_header, &sha, |_, _| {})),
    );
    let mut bad_grammar = bodies();
    bad_grammar.remove(2);
    v.insert(
        "done-without-intent.jsonl",
        plain(encode_all(bad_grammar, &sha, |_, _| {})),
    );
    v.insert(
        "recovered-bot-lock.jsonl",
        plain(encode_all(bot_lock_kept(), &sha, |_, _| {})),
    );
    v.insert(
        "intent-xattrs.jsonl",
        plain(encode_all(with_xattrs(), &sha, |_, _| {})),
    );
    v
}

/// Decodes a vector the way a journal reader does and describes the outcome in the
/// manifest's terms.
fn outcome(bytes: &[u8], key: Option<&str>) -> Value {
    let mac = match key {
        Some(k) => Mac::HmacSha256(k.as_bytes().to_vec()),
        None => Mac::Sha256,
    };
    let file = decode_file(bytes, &mac, None);
    let tail = match file.tail {
        Tail::Clean => json!("clean"),
        Tail::Torn { .. } => json!("torn"),
    };
    let mut error = file.error.as_ref().map(|e| {
        let kind = match &e.kind {
            ErrorKind::BadFraming => "bad_framing",
            ErrorKind::ChecksumMismatch => "checksum_mismatch",
            ErrorKind::UnknownVersion(_) => "unknown_version",
            ErrorKind::BadRecord(_) => "bad_record",
            ErrorKind::BadPath(..) => "bad_path",
            ErrorKind::MissingHeader => "missing_header",
            ErrorKind::BadMagic => "bad_magic",
            ErrorKind::MacMismatch => "mac_mismatch",
            ErrorKind::WrongTransaction { .. } => "wrong_transaction",
            ErrorKind::TooLarge(_) => "too_large",
        };
        json!({"kind": kind, "line": e.line})
    });
    let mut chain = Chain::new();
    let mut good = Vec::new();
    for entry in &file.entries {
        if let Err(e) = chain.push(entry) {
            if error.is_none() {
                let kind = match e {
                    ChainError::Sequence { .. } => "sequence",
                    ChainError::BrokenLink { .. } => "broken_link",
                    ChainError::Unanchored { .. } => "unanchored",
                };
                error = Some(json!({"kind": kind, "line": entry.line}));
            }
            break;
        }
        good.push(entry.record.clone());
    }
    let state = if error.is_some() {
        Value::Null
    } else {
        match view(&good) {
            Ok(v) => json!(match v.state() {
                TxnState::Unfinished => "unfinished",
                TxnState::Committed => "committed",
                TxnState::Aborted => "aborted",
            }),
            Err(e) => {
                let line = good.iter().position(|r| r.seq == e.seq).unwrap_or(0) + 1;
                error = Some(json!({"kind": "grammar", "line": line}));
                Value::Null
            }
        }
    };
    json!({"records": file.entries.len(), "tail": tail, "error": error, "state": state})
}

fn manifest() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.json")).expect("MANIFEST.json");
    serde_json::from_str(&text).expect("MANIFEST.json parses")
}

#[test]
fn committed_vectors_match_their_builders() {
    let update = std::env::var_os("UPDATE_VECTORS").is_some();
    for (name, bytes) in builders() {
        let path = dir().join(name);
        if update {
            std::fs::write(&path, &bytes).expect("write vector");
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(
            on_disk == bytes,
            "{name} differs from its builder (UPDATE_VECTORS=1 to rewrite)"
        );
    }
}

#[test]
fn every_vector_decodes_to_its_manifest_outcome() {
    let manifest = manifest();
    for entry in std::fs::read_dir(dir()).expect("vectors dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        // Directories hold multi-file journals: `tests/journal_vectors.rs`.
        if name == "MANIFEST.json" || dir().join(&name).is_dir() {
            continue;
        }
        let expected = manifest
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no MANIFEST.json entry"));
        let key = expected.get("key").and_then(Value::as_str);
        let bytes = std::fs::read(dir().join(&name)).expect("read vector");
        let mut got = outcome(&bytes, key);
        if let (Some(g), Some(k)) = (got.as_object_mut(), key) {
            g.insert("key".into(), json!(k));
        }
        assert_eq!(&got, expected, "vector {name}");
    }
}

#[test]
fn manifest_names_only_existing_vectors() {
    for name in manifest().keys() {
        assert!(
            dir().join(name).is_file(),
            "MANIFEST.json names missing {name}"
        );
    }
}

/// The intent of the single-transaction vector `name`.
fn intent_of(name: &str) -> Intent {
    let bytes = std::fs::read(dir().join(name)).expect("read");
    let file = decode_file(&bytes, &Mac::Sha256, None);
    file.entries
        .iter()
        .find_map(|e| match &e.record.body {
            Body::Intent(i) => Some(i.clone()),
            _ => None,
        })
        .expect("an intent")
}

#[test]
fn an_intent_under_the_bots_lock_keeps_the_bots_newer_file() {
    let it = intent_of("recovered-bot-lock.jsonl");
    assert_eq!(
        it.bot_lock.as_deref(),
        Some("logs/positions_futures.json.lock")
    );
    let newer = Node::File {
        sha256: digest(0x33),
        size: 50,
        mode: Perms(0o640),
    };
    assert_eq!(decide(&it, &newer), Decision::KeepNewer);
    assert_eq!(decide(&it, &it.after), Decision::Restore);
    assert_eq!(decide(&it, &Node::Absent), Decision::Conflict);
    let mut plain = it.clone();
    plain.bot_lock = None;
    assert_eq!(decide(&plain, &newer), Decision::Conflict);
}

#[test]
fn an_intents_extended_attributes_read_back_exactly() {
    let it = intent_of("intent-xattrs.jsonl");
    assert_eq!(it.xattrs.as_deref(), Some(&vector_xattrs()));
    let text = std::fs::read_to_string(dir().join("intent-xattrs.jsonl")).expect("read");
    assert!(text.contains("\"user.origin\":\"626f74\""), "{text}");
}

#[test]
fn keyed_vector_fails_without_the_key() {
    let bytes = std::fs::read(dir().join("keyed.jsonl")).expect("read");
    let file = decode_file(&bytes, &Mac::Sha256, None);
    assert!(file.entries.is_empty());
    assert!(matches!(
        file.error.map(|e| e.kind),
        Some(ErrorKind::ChecksumMismatch)
    ));
    let wrong = decode_file(&bytes, &Mac::HmacSha256(b"other".to_vec()), None);
    assert!(wrong.entries.is_empty());
}

#[test]
fn every_prefix_of_a_valid_file_is_a_clean_or_torn_prefix() {
    let bytes = std::fs::read(dir().join("valid.jsonl")).expect("read");
    let full = decode_file(&bytes, &Mac::Sha256, None);
    for cut in 0..=bytes.len() {
        let part = decode_file(&bytes[..cut], &Mac::Sha256, None);
        assert!(part.error.is_none(), "cut {cut}: {:?}", part.error);
        assert_eq!(
            part.entries[..],
            full.entries[..part.entries.len()],
            "cut {cut}"
        );
        let whole_lines = bytes[..cut].iter().filter(|&&b| b == b'\n').count();
        assert_eq!(part.entries.len(), whole_lines, "cut {cut}");
        let torn = matches!(part.tail, Tail::Torn { .. });
        assert_eq!(torn, cut > 0 && bytes[cut - 1] != b'\n', "cut {cut}");
    }
}
