//! Rotating the journal key (`journal rekey --new-key-file`): the rotation is one
//! transaction tagged with the new key; until `journal_key_file` names the new key nothing
//! is written; with only the new key `journal verify` verifies from the rotation and names
//! what it could not verify, with both keys it verifies everything; a pre-rotation
//! transaction is not rolled back without its key; edits after the rotation are found; a
//! crash at any point of the rotation leaves the journal wholly under one key.

use crate::support::arena::{summary, Arena};
use crate::support::{code, stderr};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

/// Key files `old.key`, `new.key` and configurations `old.json`, `new.json` naming them
/// (relative to the configuration's directory), in `aux/`.
fn keys(a: &Arena) -> (String, String) {
    for (name, bytes) in [("old.key", "the old key"), ("new.key", "the new key")] {
        let p = a.aux(name);
        std::fs::write(&p, bytes).expect("write key");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let cfg = |name: &str, key: &str| {
        let p = a.aux(name);
        std::fs::write(&p, format!("{{\"journal_key_file\": \"{key}\"}}")).expect("write");
        p.to_str().expect("utf8").to_string()
    };
    (cfg("old.json", "old.key"), cfg("new.json", "new.key"))
}

/// A keyed root with two transactions: a heal creating the layout, a heal removing a stale
/// lock.
fn keyed_history(a: &Arena, old: &str) {
    assert_eq!(code(&a.run(&["--config", old, "heal", "--init"])), 0);
    a.fx.write("logs/engine.json.lock", "");
    a.fx.age("logs/engine.json.lock", 7200);
    let out = a.run(&["--config", old, "heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

fn rekey(a: &Arena, cfg: &str) -> (i32, Value) {
    let key = a.aux("new.key");
    a.json(&[
        "--config",
        cfg,
        "journal",
        "rekey",
        "--new-key-file",
        key.to_str().expect("utf8"),
    ])
}

fn verify(a: &Arena, cfg: &str, old_key: bool) -> (i32, Value) {
    let old = a.aux("old.key");
    let mut args = vec!["--config", cfg, "journal", "verify"];
    if old_key {
        args.extend(["--old-key-file", old.to_str().expect("utf8")]);
    }
    a.json(&args)
}

#[test]
fn reliability_rekey_rotation_verifies_from_the_new_key_on() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let (old, new) = keys(&a);
    keyed_history(&a, &old);
    let (rc, r) = rekey(&a, &old);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["transaction"], 3, "{r}");
    assert_ne!(r["key_id"], r["previous"], "{r}");
    // Still configured with the old key: nothing is written, and the refusal says why.
    let before = crate::support::exact_tree(&a.root().join("logs/backups"));
    let (rc, v) = a.json(&["--config", &old, "heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    let critical = v["critical"].to_string();
    assert!(
        critical.contains("JOURNAL_INTEGRITY") && critical.contains("rotated the journal key"),
        "{critical}"
    );
    let after = crate::support::exact_tree(&a.root().join("logs/backups"));
    assert!(before == after, "nothing is written under the old key");
    // With the new key: new transactions, the rotation and what follows verify.
    let (rc, v) = a.json(&["--config", &new, "heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    let (rc, v) = verify(&a, &new, false);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        v["unverified"]["transactions"],
        serde_json::json!([1, 2]),
        "{v}"
    );
    assert_eq!(v["unverified"]["key_id"], r["previous"], "{v}");
    let out = a.run(&["--config", &new, "journal", "verify"]);
    assert!(
        stderr(&out).contains("not verified: transactions 1-2"),
        "{}",
        stderr(&out)
    );
    // With both keys: everything.
    let (rc, v) = verify(&a, &new, true);
    assert_eq!(rc, 0, "{v}");
    assert!(v["unverified"].is_null(), "{v}");
    // A pre-rotation transaction is not rolled back on records that cannot be verified.
    let out = a.run(&["--config", &new, "rollback", "2"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("earlier journal key"),
        "{}",
        stderr(&out)
    );
    // Retention across the rotation keeps the journal verifiable.
    let out = a.run(&[
        "--config",
        &new,
        "prune",
        "--keep",
        "1",
        "--older-than",
        "0s",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (rc, v) = verify(&a, &new, false);
    assert_eq!(rc, 0, "{v}");
    summary::count("key rotations", 1);
}

#[test]
fn reliability_rekey_edits_are_found_with_the_keys_that_can_find_them() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let (old, new) = keys(&a);
    keyed_history(&a, &old);
    assert_eq!(rekey(&a, &old).0, 0);
    assert_eq!(code(&a.run(&["--config", &new, "heal"])), 0);
    let journal = a.root().join("logs/backups/journal");
    // An edit before the rotation: only the old key can see it.
    let t2 = journal.join("txn-0000000002.jsonl");
    let text = std::fs::read_to_string(&t2).expect("read");
    let pid = text
        .split("\"pid\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("a pid")
        .to_string();
    let edited = text.replacen(&format!("\"pid\":{pid},"), "\"pid\":1,", 1);
    assert_ne!(edited, text);
    std::fs::write(&t2, edited).expect("edit");
    let (rc, v) = verify(&a, &new, false);
    assert_eq!(
        rc, 0,
        "without the old key the edit cannot be seen, only reported unverified: {v}"
    );
    assert_eq!(
        v["unverified"]["transactions"],
        serde_json::json!([1, 2]),
        "{v}"
    );
    let (rc, v) = verify(&a, &new, true);
    assert_eq!(rc, 4, "{v}");
    assert!(v["problem"].to_string().contains("txn-0000000002"), "{v}");
    std::fs::write(&t2, text).expect("restore");
    // An edit after the rotation is found with the new key alone.
    let t4 = journal.join("txn-0000000004.jsonl");
    let mut bytes = std::fs::read(&t4).expect("read");
    let at = bytes.iter().position(|&b| b == b'\n').expect("a line") + 10;
    bytes[at] ^= 0x01;
    std::fs::write(&t4, bytes).expect("flip");
    let (rc, v) = verify(&a, &new, false);
    assert_eq!(rc, 4, "{v}");
    assert!(v["problem"].to_string().contains("txn-0000000004"), "{v}");
    summary::count("edits across a rotation", 2);
}

#[test]
fn reliability_rekey_refuses_unfit_new_keys() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let (old, _) = keys(&a);
    keyed_history(&a, &old);
    let inside = a.root().join("data/new.key");
    std::fs::write(&inside, "inside").expect("write");
    std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let open = a.aux("open.key");
    std::fs::write(&open, "open").expect("write");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let same = a.aux("old.key");
    let empty = a.aux("empty.key");
    std::fs::write(&empty, "").expect("write");
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let journal = a.root().join("logs/backups/journal");
    let before = crate::support::exact_tree(&journal);
    let cases = [
        (inside, "inside the state root"),
        (open, "chmod 600"),
        (same, "already tagged with this key"),
        (empty, "empty"),
        (a.aux("missing.key"), "cannot read"),
    ];
    for (key, needle) in &cases {
        let out = a.run(&[
            "--config",
            &old,
            "journal",
            "rekey",
            "--new-key-file",
            key.to_str().expect("utf8"),
        ]);
        assert_eq!(code(&out), 16, "{needle}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{needle}: {}", stderr(&out));
    }
    assert!(
        crate::support::exact_tree(&journal) == before,
        "nothing written"
    );
    summary::count("unfit new keys refused", cases.len() as u64);
}

/// A crash at every fault point of a rotation leaves the journal verifying under exactly
/// one of the two keys (the rotation is all or nothing).
#[cfg(feature = "fault-injection")]
#[test]
fn reliability_rekey_crash_at_every_point_leaves_one_key() {
    let _part = summary::Part::start();
    let template = Arena::new();
    let (old, _) = keys(&template);
    keyed_history(&template, &old);
    let key = template.aux("new.key");
    let key = key.to_str().expect("utf8").to_string();
    let args = [
        "--config",
        old.as_str(),
        "journal",
        "rekey",
        "--new-key-file",
        key.as_str(),
    ];
    let points = crate::support::arena::trace(&Arena::copy_of(&template), &args);
    assert!(points.len() >= 3, "{points:?}");
    for p in &points {
        let a = Arena::copy_of(&template);
        let (old, new) = keys(&a);
        let args = [
            "--config",
            old.as_str(),
            "journal",
            "rekey",
            "--new-key-file",
        ];
        let key = a.aux("new.key");
        let mut cmd = a.cmd(&args);
        cmd.arg(&key)
            .env("SELFHEAL_FAULT", format!("{}:crash", p.n));
        let out = a.output(&mut cmd);
        assert_ne!(code(&out), 0, "point {p:?} crashed the run");
        let under_old = verify(&a, &old, false).0 == 0;
        let under_new = verify(&a, &new, false).0 == 0;
        assert!(
            under_old != under_new,
            "point {p:?}: the journal verifies under the old key {under_old}, the new {under_new}"
        );
        // The next rotation (if this one did not happen) succeeds.
        if under_old {
            assert_eq!(rekey(&a, &old).0, 0, "point {p:?}: rotating again");
        }
    }
    summary::count("rekey crash points", points.len() as u64);
}
