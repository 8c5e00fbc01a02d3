//! The layout as a whole: a configuration giving one path two roles (a managed file that is
//! also a heartbeat, the alert log, a lock file or the configuration itself; a directory
//! inside selfheal's own store; a lock suffix or a heartbeat directory matching state
//! files) is exit 16 naming both entries, for every command, with nothing written; parents
//! the configuration does not list are implied; the embedded default and the reference
//! bot's layout stay valid.

use crate::support::arena::{summary, Arena};
use crate::support::exact_tree;
use crate::support::{code, stderr, DEFAULT_DIRS};
use serde_json::{json, Value};

/// A managed JSON file entry.
fn file(path: &str) -> Value {
    json!({"path": path, "role": "json", "default": {}})
}

fn positions() -> Value {
    json!({
        "path": "logs/positions_futures.json",
        "role": "positions",
        "required_keys": {"open_positions": [], "closed_positions": []},
        "default": {"open_positions": [], "closed_positions": []},
        "record_arrays": ["open_positions", "closed_positions"]
    })
}

/// The default directories plus `extra`.
fn dirs_plus(extra: &str) -> Value {
    let mut d: Vec<Value> = DEFAULT_DIRS.iter().map(|p| json!({"path": p})).collect();
    d.push(json!({"path": "logs/backups", "mode": "0700"}));
    d.push(json!({"path": extra, "mode": "0700"}));
    Value::Array(d)
}

/// A state root with a real positions file (one open position), old enough to look stale
/// to any check that would take it for a lock or a heartbeat.
fn seeded(a: &Arena) {
    let p = a.root().join("logs/positions_futures.json");
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    let doc = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 100.0, "size": 10.0, "leverage": 2, "margin_collateral": 5.0}], "closed_positions": []}"#;
    std::fs::write(&p, doc).expect("write positions");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .expect("open")
        .set_modified(old)
        .expect("age");
    std::fs::create_dir_all(a.root().join("config")).expect("mkdir config");
}

/// One overlap: the configuration, where it is put (`None`: outside the root), and the two
/// entries the refusal must name.
struct Case {
    what: &'static str,
    config: Value,
    inside: Option<&'static str>,
    names: [&'static str; 2],
}

fn cases(aux: &std::path::Path) -> Vec<Case> {
    let target = aux.to_str().expect("utf8").to_string();
    vec![
        Case {
            what: "a lock suffix matching JSON state files",
            config: json!({"locks": {"suffix": ".json"}}),
            inside: None,
            names: ["locks.suffix", "*.json"],
        },
        Case {
            what: "a lock suffix matching a managed file in a lock directory",
            config: json!({"files": [positions(), file("logs/book.dat")], "locks": {"suffix": ".dat"}}),
            inside: None,
            names: ["files[1].path", "locks.dirs[0]"],
        },
        Case {
            what: "a plain heartbeat that is the positions file",
            config: json!({"heartbeats": {"plain_files": ["logs/positions_futures.json"]}}),
            inside: None,
            names: ["files[0].path", "heartbeats.plain_files[0]"],
        },
        Case {
            what: "the heartbeat directory holding the positions file",
            config: json!({"heartbeats": {"json_dir": "logs"}}),
            inside: None,
            names: ["files[0].path", "heartbeats.json_dir"],
        },
        Case {
            what: "the heartbeat directory holding a managed file of any name",
            config: json!({"files": [positions(), file("state/heartbeats/book.txt")]}),
            inside: None,
            names: ["files[1].path", "heartbeats.json_dir"],
        },
        Case {
            what: "the alert log on the positions file",
            config: json!({"alerts": {"file": "logs/positions_futures.json"}}),
            inside: None,
            names: ["files[0].path", "alerts.file"],
        },
        Case {
            what: "the alert log on the configuration file",
            config: json!({"alerts": {"file": "config/selfheal.json"}}),
            inside: Some("config/selfheal.json"),
            names: ["alerts.file", "the configuration file"],
        },
        Case {
            what: "a managed file on the configuration file",
            config: json!({"files": [positions(), file("config/selfheal.json")]}),
            inside: Some("config/selfheal.json"),
            names: ["files[1].path", "the configuration file"],
        },
        Case {
            what: "a lock suffix matching the configuration file",
            config: json!({"locks": {"dirs": ["logs", "state"], "suffix": ".cfg"}}),
            inside: Some("state/selfheal.cfg"),
            names: ["the configuration file", "locks.dirs[1]"],
        },
        Case {
            what: "a directory inside selfheal's journal",
            config: json!({"directories": dirs_plus("logs/backups/journal/x")}),
            inside: None,
            names: ["directories[8].path", "logs/backups/journal/"],
        },
        Case {
            what: "a directory that is selfheal's object store",
            config: json!({"directories": dirs_plus("logs/backups/objects")}),
            inside: None,
            names: ["directories[8].path", "logs/backups/objects/"],
        },
        Case {
            what: "a directory that is a managed file",
            config: json!({"directories": dirs_plus("logs/positions_futures.json")}),
            inside: None,
            names: ["files[0].path", "directories[8].path"],
        },
        Case {
            what: "a managed file that another one needs as its directory",
            config: json!({"files": [positions(), file("data/a"), file("data/a/b.json")]}),
            inside: None,
            names: ["files[1].path", "the parent directory of files[2].path"],
        },
        Case {
            what: "a managed file that is another one's lock file",
            config: json!({"files": [positions(), file("data/x.json"), file("data/x.json.lock")]}),
            inside: None,
            names: ["files[2].path", "the lock file of files[1].path"],
        },
        Case {
            what: "a plain heartbeat taken for a lock file",
            config: json!({"heartbeats": {"plain_files": ["logs/bot.lock"]}}),
            inside: None,
            names: ["heartbeats.plain_files[0]", "locks.dirs[0]"],
        },
        Case {
            what: "a plain heartbeat that is the alert log",
            config: json!({"heartbeats": {"plain_files": ["logs/operator_alerts.jsonl"]}}),
            inside: None,
            names: ["heartbeats.plain_files[0]", "alerts.file"],
        },
        Case {
            what: "the alert log taken for a JSON heartbeat",
            config: json!({"alerts": {"file": "state/heartbeats/alerts.json"}}),
            inside: None,
            names: ["alerts.file", "heartbeats.json_dir"],
        },
        Case {
            what: "a trusted symlink on a managed file",
            config: json!({"trusted_symlinks": [{"link": "logs/positions_futures.json", "target": target}]}),
            inside: None,
            names: ["files[0].path", "trusted_symlinks[0].link"],
        },
        Case {
            what: "a managed file on selfheal's own logs directory",
            config: json!({"files": [positions(), file("logs")]}),
            inside: None,
            names: ["files[1].path", "locks.dirs[0]"],
        },
    ]
}

/// Every command that loads the layout, as run by an operator.
const COMMANDS: [&[&str]; 5] = [
    &["heal", "--mode", "real"],
    &["heal", "--mode", "paper"],
    &["check", "--mode", "real"],
    &["watch", "--cycles", "1", "--interval", "10ms"],
    &["config"],
];

#[test]
fn reliability_config_every_overlap_is_exit_16_naming_both() {
    let _part = summary::Part::start();
    let probe = Arena::new();
    let all = cases(&probe.aux("."));
    let mut runs = 0;
    for case in &all {
        let a = Arena::new();
        seeded(&a);
        let text = case.config.to_string();
        let cfg = match case.inside {
            Some(rel) => {
                let p = a.root().join(rel);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(&p, &text).expect("write config");
                p
            }
            None => a.config(&text),
        };
        let cfg = cfg.to_str().expect("utf8").to_string();
        let before = exact_tree(&a.root());
        for cmd in COMMANDS {
            let mut args = vec!["--config", cfg.as_str()];
            args.extend_from_slice(cmd);
            let out = a.run(&args);
            let err = stderr(&out);
            assert_eq!(code(&out), 16, "{}: {cmd:?}: {err}", case.what);
            for name in case.names {
                assert!(
                    err.contains(name),
                    "{}: {cmd:?} must name {name:?}: {err}",
                    case.what
                );
            }
            runs += 1;
        }
        let after = exact_tree(&a.root());
        assert!(
            before == after,
            "{}: a refused layout writes nothing:\n{}",
            case.what,
            crate::support::diff(&before, &after)
        );
    }
    summary::count("config overlaps refused", all.len() as u64);
    summary::count("overlap runs (exit 16)", runs);
}

#[test]
fn reliability_config_default_and_reference_layouts_are_valid() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let out = a.run(&["config"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The reference bot's layout: its trades file, feature_store locks, the config inside.
    seeded(&a);
    let trades = json!({
        "path": "logs/trades_futures.json",
        "role": "json",
        "default": {"trades": [], "total_trades_count": 0},
        "record_arrays": ["trades"]
    });
    let portfolio = json!({"path": "logs/portfolio_futures.json", "role": "portfolio", "default": {"snapshots": []}});
    let cfg = json!({
        "files": [positions(), portfolio, trades],
        "locks": {"dirs": ["logs", "state", "feature_store"]},
    });
    std::fs::write(a.root().join("config/selfheal.json"), cfg.to_string()).expect("write");
    for cmd in [&["config"][..], &["heal", "--mode", "paper"], &["check"]] {
        let out = a.run(cmd);
        assert_eq!(code(&out), 0, "{cmd:?}: {}", stderr(&out));
    }
    summary::count("valid layouts accepted", 2);
}

#[test]
fn reliability_config_parents_are_implied() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let cfg = json!({
        "files": [positions(), file("books/eu/book.json")],
        "heartbeats": {"plain_files": ["run/hb/.alive"]},
        "alerts": {"file": "var/log/alerts.jsonl"},
    });
    let cfg = a.config(&cfg.to_string());
    let cfg = cfg.to_str().expect("utf8");
    let out = a.run(&["--config", cfg, "heal", "--init"]);
    assert_eq!(
        code(&out),
        0,
        "a managed file's parent is created: {}",
        stderr(&out)
    );
    for dir in ["books", "books/eu", "run", "run/hb", "var", "var/log"] {
        assert!(a.root().join(dir).is_dir(), "{dir} was created");
    }
    assert!(a.root().join("books/eu/book.json").is_file());
    let (rc, v) = a.json(&["--config", cfg, "config"]);
    assert_eq!(rc, 0, "{v}");
    let listed: Vec<&str> = v["directories"]
        .as_array()
        .expect("directories")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert!(
        listed.contains(&"books/eu"),
        "the effective layout lists implied parents: {listed:?}"
    );
    let out = a.run(&["--config", cfg, "heal", "--mode", "real"]);
    assert_eq!(code(&out), 0, "a second heal: {}", stderr(&out));
    summary::count("implied parents created", 6);
}
