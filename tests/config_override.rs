//! The configuration: every item of the embedded layout can be overridden and the override
//! is honoured end to end; a bad configuration is exit 16 with a message that leads with the
//! key and names the file, and nothing is written.

use crate::support::procs::{age, bot, bot_as, chmod, get, mode, now, put, selfheal, tempdir, Run};
use serde_json::{json, Value};
use std::path::Path;

fn with_config(root: &Path, config: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--config", config.to_str().expect("utf8 path")];
    all.extend_from_slice(args);
    selfheal(root, &all)
}

fn full_config(shared: &Path) -> Value {
    json!({
        "directories": [
            {"path": "var", "mode": "0755"},
            {"path": "var/cache", "mode": "0750"},
            {"path": "var/hb", "mode": "0700"},
            {"path": "logs", "mode": "0755"},
            {"path": "logs/backups", "mode": "0700"}
        ],
        "files": [
            {
                "path": "var/book.json",
                "role": "positions",
                "required_keys": {"open_positions": [], "closed_positions": []},
                "default": {"open_positions": [], "closed_positions": [], "account": "paper-1"},
                "record_arrays": ["open_positions", "closed_positions"],
                "mode": "0640"
            },
            {
                "path": "shared/extra.json",
                "role": "json",
                "required_keys": {"x": []},
                "default": {"x": []},
                "record_arrays": ["x"],
                "mode": "0600"
            },
            {
                "path": "var/big.json",
                "role": "json",
                "required_keys": {},
                "default": {},
                "record_arrays": [],
                "mode": "0644"
            }
        ],
        "heartbeats": {"json_dir": "var/hb", "plain_files": ["var/.alive"], "stale_after": "2m", "max_clock_skew": "1m"},
        "locks": {"dirs": ["var"], "suffix": ".lck", "stale_after": "1m", "bot_timeout": "2s"},
        "processes": {"interpreters": ["node"], "script": "bot.js", "min_age": "0s", "grace": "2s"},
        "positions": {"identity": ["symbol", "side"], "margin_tolerance": 0.5, "compare_open_positions_count": true},
        "slots": {"infer": false, "suffixes": ["one", "two"], "current_link": null, "known": []},
        "detectors": {
            "STATE_MISMATCH": "high",
            "PARTIAL_FILL": "off",
            "POSITION_CONFLICT": "critical",
            "SLOT_INVALID": "high",
            "SLOT_DIVERGENCE": "critical",
            "SLOT_INACTIVE_NEWER": "off"
        },
        "trading_mode": {"dotenv_fallbacks": ["/nonexistent/selfheal-test/.env"]},
        "retention": {"keep": 7, "older_than": "3d", "warn_size": "10MiB", "auto": false, "max_transactions": 500},
        "trusted_symlinks": [{"link": "shared", "target": shared}],
        "limits": {"max_file_size": "1KiB"},
        "alerts": {"file": "var/alerts.jsonl", "dedupe_window": "5m"},
        "watch": {"full_check_every": 5},
        "journal_key_file": null
    })
}

#[test]
fn every_item_overridden_works_end_to_end() {
    let (root, shared, aux, cfg_dir) = (tempdir(), tempdir(), tempdir(), tempdir());
    let r = root.path();
    let shared_dir = std::fs::canonicalize(shared.path()).expect("canonical");
    let config = full_config(&shared_dir);
    let cfg = put(cfg_dir.path(), "bot.json", config.to_string().as_bytes());
    std::os::unix::fs::symlink(&shared_dir, r.join("shared")).expect("symlink");
    let old = now() - 400;
    let lck = put(r, "var/x.lck", b"");
    age(&lck, 90);
    for other in ["var/y.lock", "logs/z.lock"] {
        age(&put(r, other, b""), 3600);
    }
    put(
        r,
        "var/hb/engine.json",
        format!("{{\"last_heartbeat_ts\": {old}}}").as_bytes(),
    );
    put(r, "var/.alive", old.to_string().as_bytes());
    let ahead = format!("{{\"last_heartbeat_ts\": {}}}", now() + 90);
    put(r, "var/hb/ahead.json", ahead.as_bytes());
    let legacy = format!("{{\"last_heartbeat_ts\": {old}}}");
    put(r, "state/heartbeats/legacy.json", legacy.as_bytes());
    put(r, "logs/.bot_heartbeat", old.to_string().as_bytes());
    chmod(&put(r, "var/alerts.jsonl", b""), 0o666);
    put(r, "var/big.json", &vec![b' '; 2048]);

    let run = with_config(r, &cfg, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // directories and managed files
    assert_eq!(mode(&r.join("var/cache")), 0o750);
    assert_eq!(mode(&r.join("var/book.json")), 0o640);
    let book: Value =
        serde_json::from_slice(&get(r, "var/book.json").expect("book")).expect("json");
    assert_eq!(book["account"], "paper-1");
    assert!(get(r, "logs/positions_futures.json").is_none());
    assert!(
        shared_dir.join("extra.json").exists(),
        "written through the trusted link"
    );
    assert!(run
        .list("failed")
        .iter()
        .any(|f| f.contains("var/big.json") && f.contains("size limit")));
    // locks: only `.lck` in `var`, stale after 1m
    assert!(!lck.exists() && r.join("var/y.lock").exists() && r.join("logs/z.lock").exists());
    // heartbeats: only the configured ones, stale after 2m, at most 1m in the future
    assert_eq!(run.stat("heartbeats_reset"), 3);
    assert_ne!(get(r, "var/hb/ahead.json"), Some(ahead.into_bytes()));
    assert_ne!(get(r, "var/.alive"), Some(old.to_string().into_bytes()));
    assert_eq!(
        get(r, "logs/.bot_heartbeat"),
        Some(old.to_string().into_bytes())
    );
    assert_eq!(
        get(r, "state/heartbeats/legacy.json"),
        Some(legacy.into_bytes())
    );
    // the alert log is a state file too
    assert_eq!(mode(&r.join("var/alerts.jsonl")), 0o644);

    // processes: only the configured interpreter and script make a bot (the stand-in runs
    // under python3 with its first argument set to `node`)
    let js = aux.path().join("node").join("bot.js");
    let py = aux.path().join("run.py");
    let node_bot = bot_as("node", &js, r, &aux.path().join("r1"));
    let _py_bot = bot(&py, r, &aux.path().join("r2"), false);
    let check = with_config(r, &cfg, &["check"]);
    let f = check.findings("BOT_INSTANCE");
    assert_eq!(f.len(), 1, "{}", check.json["findings"]);
    assert!(f[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains(&node_bot.pid().to_string())));

    // `config` prints the effective configuration
    let shown = with_config(r, &cfg, &["config"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.json, config);
}

#[test]
fn config_in_the_root_is_used_and_printed() {
    let root = tempdir();
    let r = root.path();
    put(
        r,
        "config/selfheal.json",
        br#"{"locks": {"stale_after": "10m"}}"#,
    );
    let lock = put(r, "logs/a.lock", b"");
    age(&lock, 400);
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        lock.exists(),
        "400 s is fresh when locks go stale after 10m"
    );
    let shown = selfheal(r, &["config"]);
    assert_eq!(shown.json["locks"]["stale_after"], "10m");
    assert_eq!(
        shown.json["locks"]["suffix"], ".lock",
        "unnamed items keep their default"
    );
    assert_eq!(shown.json["heartbeats"]["stale_after"], "600s");
}

#[test]
fn default_config_is_printed_without_a_file() {
    let root = tempdir();
    let run = selfheal(root.path(), &["config"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["locks"]["stale_after"], "300s");
    assert_eq!(run.json["processes"]["interpreters"], json!(["python"]));
    assert_eq!(run.json["processes"]["script"], "run.py");
    assert_eq!(run.json["processes"]["min_age"], "1h");
    assert_eq!(run.json["processes"]["grace"], "10s");
    assert_eq!(run.json["positions"]["compare_open_positions_count"], false);
    assert_eq!(
        run.json["slots"]["suffixes"],
        json!(["A", "B", "blue", "green"])
    );
    assert_eq!(
        run.json["detectors"],
        json!({
            "STATE_MISMATCH": "critical",
            "PARTIAL_FILL": "critical",
            "POSITION_CONFLICT": "critical",
            "SLOT_INVALID": "critical",
            "SLOT_DIVERGENCE": "critical",
            "SLOT_INACTIVE_NEWER": "high"
        })
    );
    assert_eq!(run.json["files"][0]["path"], "logs/positions_futures.json");
}

#[test]
fn bad_configs_exit_16_naming_the_key() {
    let file = |path: &str| json!({"path": path, "role": "json", "default": {"a": 1}});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"lockz": {}}), "lockz"),
        (json!({"locks": {"stale_after": 5}}), "locks.stale_after"),
        (
            json!({"locks": {"stale_after": "5 parsecs"}}),
            "locks.stale_after",
        ),
        (
            json!({"locks": {"dirs": ["logs/backups"]}}),
            "locks.dirs[0]",
        ),
        (json!({"locks": {"suffix": ""}}), "locks.suffix"),
        (
            json!({"heartbeats": {"stale_after": "0s"}}),
            "heartbeats.stale_after",
        ),
        (
            json!({"directories": [{"path": "logs", "mode": "0999"}]}),
            "directories[0].mode",
        ),
        (
            json!({"directories": [{"path": "logs", "mode": "0777"}]}),
            "directories[0].mode",
        ),
        (
            json!({"directories": [{"path": "../x"}]}),
            "directories[0].path",
        ),
        (
            json!({"alerts": {"file": "/etc/alerts.jsonl"}}),
            "alerts.file",
        ),
        (
            json!({"processes": {"interpreters": []}}),
            "processes.interpreters",
        ),
        (
            json!({"processes": {"interpreters": ["python", ""]}}),
            "processes.interpreters[1]",
        ),
        (json!({"processes": {"script": ""}}), "processes.script"),
        (
            json!({"processes": {"script": "src/run.py"}}),
            "processes.script",
        ),
        (
            json!({"processes": {"patterns": ["python"]}}),
            "processes.patterns",
        ),
        (
            json!({"detectors": {"STATE_MISMATCH": "medium"}}),
            "detectors.STATE_MISMATCH",
        ),
        (json!({"detectors": {"NOPE": "high"}}), "detectors.NOPE"),
        (
            json!({"detectors": {"JOURNAL_INTEGRITY": "off"}}),
            "detectors.JOURNAL_INTEGRITY",
        ),
        (
            json!({"detectors": {"DUPLICATE_INSTANCE": "high"}}),
            "detectors.DUPLICATE_INSTANCE",
        ),
        (
            json!({"detectors": {"LOCK_HELD": null}}),
            "detectors.LOCK_HELD",
        ),
        (
            json!({"detectors": {"DATA_INTEGRITY": "critical"}}),
            "detectors.DATA_INTEGRITY",
        ),
        (json!({"slots": {"suffixes": []}}), "slots.suffixes"),
        (
            json!({"slots": {"suffixes": ["A", "current"]}}),
            "slots.suffixes[1]",
        ),
        (json!({"processes": {"grace": "2d"}}), "processes.grace"),
        (
            json!({"files": [file("a.json"), file("a.json")]}),
            "files[1].path",
        ),
        (
            json!({"files": [{"path": "a.json", "role": "json", "default": {}, "required_keys": {"k": 1}}]}),
            "files[0].required_keys.k",
        ),
        (
            json!({"files": [{"path": "a.json", "role": "json"}]}),
            "files[0].default",
        ),
        (
            json!({"files": [{"path": "a.json", "role": "json", "default": {}, "extra": 1}]}),
            "files[0].extra",
        ),
        (
            json!({"positions": {"margin_tolerance": -1.0}}),
            "positions.margin_tolerance",
        ),
        (json!({"positions": {"identity": []}}), "positions.identity"),
        (json!({"retention": {"keep": "many"}}), "retention.keep"),
        (
            json!({"retention": {"keep": 7, "max_transactions": 3}}),
            "retention.max_transactions",
        ),
        (
            json!({"trusted_symlinks": [{"link": "logs", "target": "relative/dir"}]}),
            "trusted_symlinks[0].target",
        ),
        (
            json!({"limits": {"max_file_size": "0"}}),
            "limits.max_file_size",
        ),
        (json!([1, 2]), "<document>"),
    ];
    let cfg_dir = tempdir();
    for (i, (config, key)) in cases.iter().enumerate() {
        let root = tempdir();
        let cfg = put(
            cfg_dir.path(),
            &format!("c{i}.json"),
            config.to_string().as_bytes(),
        );
        for cmd in ["heal", "config"] {
            let run = with_config(root.path(), &cfg, &[cmd]);
            assert_eq!(run.code, 16, "{config}: {}", run.stderr);
            let msg = run.json["error"].as_str().unwrap_or_default();
            assert!(msg.starts_with(&format!("{key}: ")), "{config}: {msg}");
            assert!(msg.contains(&cfg.display().to_string()), "{config}: {msg}");
        }
        let left = std::fs::read_dir(root.path()).expect("list").count();
        assert_eq!(left, 0, "{config}: a bad config writes nothing");
    }
}

#[test]
fn truncated_config_is_exit_16() {
    let root = tempdir();
    let cfg = put(root.path(), "config/selfheal.json", b"{\"locks\": ");
    let run = selfheal(root.path(), &["heal"]);
    assert_eq!(run.code, 16, "{}", run.stderr);
    assert!(
        run.stderr.contains(&cfg.display().to_string()) || run.stderr.contains("selfheal.json")
    );
}
