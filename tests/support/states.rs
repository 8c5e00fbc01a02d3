//! The state trees several test modules start from, built inline through the one
//! [`Fixture`]: the crash matrix's damaged root of ten operations, a root of four managed
//! files with a history of heals (and the journal rewritten with valid tags, as someone
//! with write access but no key could), a large salvaged positions file. Each builder
//! asserts that the runs it makes succeed, so a test starts from exactly the state named.

use super::journal::journal_files;
use super::{code, copy_tree, stderr, Fixture};
use journal_format::{self as jf, Mac};

/// `secs` seconds ago, as a journal timestamp.
pub fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A damaged root: an empty positions file (0640, old), a portfolio missing a required key
/// (via config), a stale unheld lock file of a file selfheal does not manage, missing
/// directories, an untouched file; the bot's own lock files of the two managed files it
/// rewrites exist, as a bot that locks them leaves them. Returns the config path.
pub fn damaged(f: &Fixture) -> std::path::PathBuf {
    f.mkdir("logs");
    f.write("logs/positions_futures.json", "");
    f.chmod("logs/positions_futures.json", 0o640);
    f.age("logs/positions_futures.json", 86_400);
    f.write(
        "logs/portfolio_futures.json",
        "{\n  \"realized_pnl\": -3.519194,\n  \"snapshots\": [{\"amount\": 100.10}]\n}\n",
    );
    f.age("logs/portfolio_futures.json", 3_600);
    f.write("logs/orders_futures.json.lock", "");
    f.age("logs/orders_futures.json.lock", 3_600);
    f.write("logs/positions_futures.json.lock", "");
    f.write("logs/portfolio_futures.json.lock", "");
    f.write("logs/notes.txt", "not managed\n");
    f.age("logs/notes.txt", 7_200);
    let config = f.dir.path().join("selfheal.json");
    std::fs::write(&config, DAMAGED_CONFIG).expect("write config");
    config
}

const DAMAGED_CONFIG: &str = r#"{
  "files": [
    {"path": "logs/positions_futures.json", "role": "positions",
     "required_keys": {"open_positions": [], "closed_positions": []},
     "default": {"open_positions": [], "closed_positions": []},
     "record_arrays": ["open_positions", "closed_positions"]},
    {"path": "logs/portfolio_futures.json", "role": "portfolio",
     "required_keys": {"used_margin": 0.0},
     "default": {"used_margin": 0.0, "snapshots": []},
     "record_arrays": ["snapshots"]},
    {"path": "state/bot_state.json", "role": "json",
     "default": {"streak": 0}}
  ]
}"#;

pub fn heal_with(f: &Fixture, config: &std::path::Path) -> serde_json::Value {
    let (rc, v) = f.json(&["--config", config.to_str().expect("utf8"), "heal"]);
    assert_eq!(rc, 0, "{v}");
    v
}

/// Four managed JSON files (`state/a.json` to `state/d.json`), retention by hand only.
pub const FOUR_FILES: &str = r#"{
  "files": [
    {"path": "state/a.json", "role": "json", "default": {"a": []}},
    {"path": "state/b.json", "role": "json", "default": {"b": []}},
    {"path": "state/c.json", "role": "json", "default": {"c": []}},
    {"path": "state/d.json", "role": "json", "default": {"d": []}}
  ],
  "retention": {"keep": 200, "older_than": "30d", "warn_size": "1GiB", "auto": false}
}"#;

/// A root whose config (inside it, so copies carry it) manages four JSON files.
pub fn root_with(config: &str) -> Fixture {
    let f = Fixture::with_root();
    f.write("config/selfheal.json", config);
    f
}

pub fn heal(f: &Fixture) -> u64 {
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v["transaction"].as_u64().expect("transaction")
}

/// Empties `state/d.json` and heals it: one more committed transaction (a heal that
/// repairs nothing and decides as the one before writes none).
pub fn heal_one_more(f: &Fixture) -> u64 {
    if f.path("state/d.json").exists() {
        f.write("state/d.json", "");
    }
    heal(f)
}

pub fn rollback(f: &Fixture, id: u64) {
    let out = f.run(&["rollback", &id.to_string()]);
    assert_eq!(code(&out), 0, "rollback {id}: {}", stderr(&out));
}

pub fn prune(f: &Fixture, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["prune"];
    all.extend_from_slice(args);
    let (rc, v) = f.json(&all);
    assert_eq!(rc, 0, "{v}");
    v
}

pub fn verify_ok(f: &Fixture) -> serde_json::Value {
    let (rc, v) = f.json(&["journal", "verify"]);
    assert_eq!(rc, 0, "{v}");
    v
}

pub fn copy_of(f: &Fixture) -> Fixture {
    let g = Fixture::new();
    copy_tree(&f.root(), &g.root());
    g
}

/// Sets the `ts` of every record of `txns` and re-chains the whole journal with valid tags
/// (what the journal would hold had those transactions run at `ts`).
pub fn retime(f: &Fixture, txns: &[u64], ts: &str) {
    rewrite_all(f, |txn, r| {
        if txns.contains(&txn) {
            r.ts = ts.to_string();
        }
    });
}

/// Applies `edit` to every record (with its transaction id) and re-chains the whole
/// journal with valid tags, as someone with write access but no key could.
pub fn rewrite_all(f: &Fixture, edit: impl Fn(u64, &mut jf::Record)) {
    let mut prev = jf::Digest::GENESIS;
    for name in journal_files(f) {
        let txn = jf::parse_file_name(&name).expect("txn file");
        let path = f.path(&format!("logs/backups/journal/{name}"));
        let decoded = jf::decode_file(
            &std::fs::read(&path).expect("read"),
            &Mac::Sha256,
            Some(txn),
        );
        assert!(decoded.error.is_none(), "{name}: {:?}", decoded.error);
        let mut out = Vec::new();
        for e in decoded.entries {
            let mut r = e.record;
            if prev == jf::Digest::GENESIS && r.seq != 1 {
                prev = r.prev;
            }
            edit(txn, &mut r);
            if let jf::Body::Checkpoint(c) = &mut r.body {
                c.hash = checkpoint_hash(f, c.through_txn).unwrap_or(c.hash);
            }
            r.prev = prev;
            let line = jf::encode(&r, &Mac::Sha256).expect("encode");
            prev = line.tag;
            out.extend_from_slice(&line.bytes);
        }
        std::fs::write(&path, out).expect("write journal");
    }
}

/// The tag of the last record of `txn`, when its file is present.
fn checkpoint_hash(f: &Fixture, txn: u64) -> Option<jf::Digest> {
    let bytes =
        std::fs::read(f.path(&format!("logs/backups/journal/{}", jf::file_name(txn)))).ok()?;
    jf::decode_file(&bytes, &Mac::Sha256, Some(txn))
        .entries
        .last()
        .map(|e| e.tag)
}

fn record(i: usize) -> String {
    format!("{{\"symbol\": \"BTC-USDT\", \"direction\": \"LONG\", \"strategy\": \"s{i}\", \"entry_price\": 100.10, \"size\": 35.19194, \"leverage\": 2, \"order_id\": \"o{i}\"}}")
}

/// A positions file of about 3 MB, cut inside its last closed record, healed in paper mode
/// (salvaged). Returns the truncated bytes, the salvaged bytes and the heal's id.
pub fn salvaged(f: &Fixture) -> (Vec<u8>, Vec<u8>, u64) {
    let closed: Vec<String> = (2..20_000).map(record).collect();
    let doc = format!(
        "{{\"open_positions\": [{}, {}], \"closed_positions\": [{}]}}",
        record(0),
        record(1),
        closed.join(", ")
    );
    let truncated = doc.as_bytes()[..doc.len() - 50].to_vec();
    f.write("logs/positions_futures.json", &truncated);
    f.write(
        "logs/portfolio_futures.json",
        "{\"open_positions_count\": 2}",
    );
    let (rc, v) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    let id = v["transaction"].as_u64().expect("a heal transaction");
    let salvaged = f.read("logs/positions_futures.json");
    assert_ne!(salvaged, truncated, "the heal salvaged the file");
    (truncated, salvaged, id)
}

/// A root managing `config`'s files whose journal reaches back two days: its first heal
/// (which created the files) moved back, then the files removed so the next run creates
/// them again.
pub fn root_with_history(config: &str) -> Fixture {
    let f = root_with(config);
    let first = heal(&f);
    retime(&f, &[first], &ago(2 * 24 * 3600));
    verify_ok(&f);
    for name in ["a", "b", "c", "d"] {
        std::fs::remove_file(f.path(&format!("state/{name}.json"))).expect("remove");
    }
    f
}
