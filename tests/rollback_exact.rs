//! Rollback: a heal undone restores every byte, mode, mtime and the existence of every file;
//! rolling back the rollback re-applies the heal; and every refusal leaves the state as it was.

use crate::support::states::{damaged, heal_with};
use crate::support::{code, diff, stderr, Fixture, Snapshot};
use journal_format::{self as jf, Mac};

fn rollback(
    f: &Fixture,
    config: &std::path::Path,
    id: u64,
    extra: &[&str],
) -> std::process::Output {
    let id = id.to_string();
    let mut args = vec![
        "--config",
        config.to_str().expect("utf8"),
        "rollback",
        id.as_str(),
    ];
    args.extend_from_slice(extra);
    f.run(&args)
}

fn same(a: &Snapshot, b: &Snapshot, what: &str) {
    assert!(a == b, "{what}:\n{}", diff(a, b));
}

#[test]
fn rollback_restores_every_byte_mode_mtime_and_existence_and_can_be_rolled_back() {
    let f = Fixture::with_root();
    let config = damaged(&f);
    let pre = f.snapshot();
    let healed = heal_with(&f, &config);
    assert!(
        healed["actions"].as_array().is_some_and(|a| a.len() >= 10),
        "{healed}"
    );
    let id = healed["transaction"].as_u64().expect("txn");
    let post = f.snapshot();
    assert_ne!(pre, post);
    let out = rollback(&f, &config, id, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    same(
        &pre,
        &f.snapshot(),
        "rollback must restore the pre-heal state exactly",
    );
    let list = f.json(&["journal", "list"]).1;
    let rb = list["transactions"]
        .as_array()
        .and_then(|t| t.last().cloned())
        .expect("rollback txn");
    assert_eq!(rb["rollback_of"], id);
    let rb_id = rb["id"].as_u64().expect("id");
    let out = rollback(&f, &config, rb_id, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    same(
        &post,
        &f.snapshot(),
        "rolling back the rollback must re-apply the heal exactly",
    );
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
}

#[test]
fn rollback_twice_is_refused() {
    let f = Fixture::with_root();
    let config = damaged(&f);
    let id = heal_with(&f, &config)["transaction"].as_u64().expect("txn");
    assert_eq!(code(&rollback(&f, &config, id, &[])), 0);
    let before = f.snapshot();
    let out = rollback(&f, &config, id, &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already rolled back"),
        "{}",
        stderr(&out)
    );
    same(&before, &f.snapshot(), "a refused rollback changes nothing");
}

#[test]
fn rollback_after_a_later_change_is_refused_and_force_backs_up_first() {
    let f = Fixture::with_root();
    let config = damaged(&f);
    let id = heal_with(&f, &config)["transaction"].as_u64().expect("txn");
    f.write(
        "logs/positions_futures.json",
        "{\"open_positions\":[{\"symbol\":\"ETH\"}],\"closed_positions\":[]}",
    );
    let before = f.snapshot();
    let out = rollback(&f, &config, id, &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("logs/positions_futures.json"),
        "{}",
        stderr(&out)
    );
    same(&before, &f.snapshot(), "a refused rollback changes nothing");
    let out = rollback(&f, &config, id, &["--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.read("logs/positions_futures.json"), b"");
    let rb = f.json(&["journal", "list"]).1["transactions"]
        .as_array()
        .and_then(|t| t.last().cloned())
        .expect("txn");
    let rb_id = rb["id"].as_u64().expect("id");
    assert_eq!(
        code(&rollback(&f, &config, rb_id, &[])),
        0,
        "the forced rollback can itself be undone"
    );
    assert_eq!(
        f.read("logs/positions_futures.json"),
        b"{\"open_positions\":[{\"symbol\":\"ETH\"}],\"closed_positions\":[]}".to_vec(),
        "the content overwritten by --force was backed up"
    );
}

#[test]
fn a_forced_rollback_of_a_mode_change_after_the_bot_rewrote_the_file_puts_back_its_bytes() {
    let f = Fixture::with_root();
    let config = damaged(&f);
    let old = b"{\"open_positions\":[],\"closed_positions\":[]}\n".to_vec();
    f.write("logs/positions_futures.json", &old);
    f.chmod("logs/positions_futures.json", 0o666);
    let healed = heal_with(&f, &config);
    let id = healed["transaction"].as_u64().expect("txn");
    let mode = |f: &Fixture| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(f.path("logs/positions_futures.json"))
            .expect("positions")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&f), 0o644, "the heal tightened the mode: {healed}");
    let newer = b"{\"open_positions\":[{\"symbol\":\"ETH\"}],\"closed_positions\":[]}".to_vec();
    f.write("logs/positions_futures.json", &newer);
    let out = rollback(&f, &config, id, &["--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.read("logs/positions_futures.json"), old);
    assert_eq!(mode(&f), 0o666);
    let rb = f.json(&["journal", "list"]).1["transactions"]
        .as_array()
        .and_then(|t| t.last().cloned())
        .expect("txn");
    let rb_id = rb["id"].as_u64().expect("id");
    assert_eq!(code(&rollback(&f, &config, rb_id, &[])), 0);
    assert_eq!(
        f.read("logs/positions_futures.json"),
        newer,
        "the bot's version overwritten by --force was backed up"
    );
}

#[test]
fn a_flipped_byte_in_a_backup_object_is_refused_before_any_change() {
    let f = Fixture::with_root();
    let config = damaged(&f);
    let id = heal_with(&f, &config)["transaction"].as_u64().expect("txn");
    let objects = f.path("logs/backups/objects");
    let obj = std::fs::read_dir(&objects)
        .expect("objects")
        .flatten()
        .flat_map(|fan| std::fs::read_dir(fan.path()).expect("fan").flatten())
        .next()
        .expect("an object");
    let mut bytes = std::fs::read(obj.path()).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(obj.path(), bytes).expect("write");
    let before = f.snapshot();
    let out = rollback(&f, &config, id, &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("backup object"), "{}", stderr(&out));
    same(
        &before,
        &f.snapshot(),
        "nothing may change when a backup fails verification",
    );
    assert_eq!(code(&f.run(&["journal", "verify"])), 4);
}

/// Rewrites transaction `txn`'s journal file with `edit` applied to its records, keeping
/// every tag and the chain valid (as someone with the file, but not selfheal, would).
pub fn rewrite_journal(f: &Fixture, txn: u64, edit: impl Fn(&mut jf::Record)) {
    let path = f.path(&format!("logs/backups/journal/{}", jf::file_name(txn)));
    let bytes = std::fs::read(&path).expect("journal file");
    let decoded = jf::decode_file(&bytes, &Mac::Sha256, Some(txn));
    assert!(decoded.error.is_none());
    let mut prev = decoded
        .entries
        .first()
        .map(|e| e.record.prev)
        .expect("records");
    let mut out = Vec::new();
    for e in decoded.entries {
        let mut r = e.record;
        edit(&mut r);
        r.prev = prev;
        let line = jf::encode(&r, &Mac::Sha256).expect("encode");
        prev = line.tag;
        out.extend_from_slice(&line.bytes);
    }
    std::fs::write(&path, out).expect("write journal");
}

#[test]
fn a_journal_record_naming_a_path_outside_the_root_is_refused() {
    for evil in ["../x", "/tmp/selfheal-evil-target"] {
        let f = Fixture::with_root();
        let config = damaged(&f);
        std::fs::write(f.dir.path().join("x"), "sentinel").expect("sentinel");
        let id = heal_with(&f, &config)["transaction"].as_u64().expect("txn");
        rewrite_journal(&f, id, |r| match &mut r.body {
            jf::Body::Intent(i) if i.path.as_deref() == Some("logs/positions_futures.json") => {
                i.path = Some(evil.to_string());
            }
            jf::Body::Begin(b) => {
                for p in &mut b.plan {
                    if p.path.as_deref() == Some("logs/positions_futures.json") {
                        p.path = Some(evil.to_string());
                    }
                }
            }
            _ => {}
        });
        let before = f.snapshot();
        let out = rollback(&f, &config, id, &[]);
        assert_eq!(code(&out), 4, "{evil}: {}", stderr(&out));
        assert!(stderr(&out).contains("refused path"), "{}", stderr(&out));
        same(&before, &f.snapshot(), "nothing changes");
        assert_eq!(
            std::fs::read(f.dir.path().join("x")).expect("x"),
            b"sentinel"
        );
        assert!(!std::path::Path::new("/tmp/selfheal-evil-target").exists());
        assert_eq!(code(&f.run(&["journal", "verify"])), 4);
    }
}
