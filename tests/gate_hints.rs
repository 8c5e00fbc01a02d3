//! Every command a message suggests runs as printed, from any directory: it names the root
//! (absolute, quoted for the shell) and the mode where it matters. Each test takes a hint
//! the binary printed and runs it verbatim with `sh -c` from another directory.

use crate::support::procs::{put, selfheal, tempdir};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

/// Every `` `selfheal …` `` in `text`.
fn hints(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("selfheal "))
        .map(str::to_string)
        .collect()
}

/// Runs `command` with `sh -c` from `cwd`, with the binary under test first on the PATH.
fn sh(command: &str, cwd: &Path) -> Output {
    let bin = Path::new(crate::support::BIN);
    let dir = bin.parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    crate::support::clean(&mut Command::new("sh"))
        .args(["-c", command])
        .current_dir(cwd)
        .env("PATH", path)
        .output()
        .expect("sh")
}

fn record(i: usize) -> String {
    format!("{{\"symbol\": \"BTC\", \"direction\": \"LONG\", \"strategy\": \"s{i}\", \"entry_price\": 100.5, \"size\": 35.5, \"leverage\": 2}}")
}

#[test]
fn the_real_mode_refusal_of_a_lossy_salvage_names_runnable_commands() {
    let dir = tempdir();
    let root = dir.path().join("my bot's root");
    let open: Vec<String> = (0..2).map(record).collect();
    let closed: Vec<String> = (2..5).map(record).collect();
    let doc = format!(
        "{{\"open_positions\": [{}], \"closed_positions\": [{}]}}",
        open.join(", "),
        closed.join(", ")
    );
    put(
        &root,
        "logs/positions_futures.json",
        &doc.as_bytes()[..doc.len() - 40],
    );
    let real = selfheal(&root, &["heal", "--mode", "real"]);
    assert_eq!(real.code, 4, "{}", real.json);
    let msg = real.findings("DATA_INTEGRITY")[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let found = hints(&msg);
    assert_eq!(found.len(), 2, "{msg}");
    let elsewhere = tempdir();

    let salvage = found
        .iter()
        .find(|h| h.contains(" salvage "))
        .expect("salvage hint");
    let out = sh(salvage, elsewhere.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{salvage}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let salvaged: Value = serde_json::from_slice(&out.stdout).expect("the salvaged document");
    assert_eq!(salvaged["open_positions"].as_array().map(Vec::len), Some(2));

    let accept = found
        .iter()
        .find(|h| h.contains("--accept-loss"))
        .expect("accept hint");
    assert!(accept.contains("--mode real"), "{accept}");
    let out = sh(accept, elsewhere.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{accept}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !elsewhere.path().join("logs").exists(),
        "nothing written where it ran"
    );
}

#[test]
fn the_ack_hint_runs_as_printed() {
    let dir = tempdir();
    let parent = dir.path().join("deploy dir");
    let (blue, green) = (parent.join("bot-blue"), parent.join("bot-green"));
    std::fs::create_dir_all(&blue).expect("mkdir");
    let p = json!({"symbol": "BTC", "direction": "LONG", "strategy": "t", "entry_price": 1.5, "size": 10.0, "leverage": 2, "margin_collateral": 5.0});
    let positions = json!({"open_positions": [p], "closed_positions": []});
    put(
        &green,
        "logs/positions_futures.json",
        positions.to_string().as_bytes(),
    );
    std::os::unix::fs::symlink("bot-blue", parent.join("bot-current")).expect("symlink");

    let real = selfheal(&parent.join("bot-current"), &["heal", "--mode", "real"]);
    assert_eq!(real.code, 4, "{}", real.json);
    let msg = real.findings("SLOT_DIVERGENCE")[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let found = hints(&msg);
    assert_eq!(found.len(), 1, "{msg}");
    assert!(
        found[0].contains("'"),
        "the path with a space is quoted: {}",
        found[0]
    );
    let out = sh(&found[0], tempdir().path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        found[0],
        String::from_utf8_lossy(&out.stderr)
    );
    let started = selfheal(&parent.join("bot-current"), &["heal", "--mode", "real"]);
    assert_eq!(started.code, 0, "{}", started.json);
}

#[test]
fn a_forced_rollback_hint_runs_as_printed() {
    let root = tempdir();
    let r = root.path();
    put(r, "logs/positions_futures.json", b"");
    let heal = selfheal(r, &["heal"]);
    assert_eq!(heal.code, 0, "{}", heal.stderr);
    put(
        r,
        "logs/positions_futures.json",
        b"{\"open_positions\": [], \"closed_positions\": [], \"x\": 1}",
    );
    let refused = selfheal(r, &["rollback", &heal.txn()]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    let found = hints(&refused.stderr);
    assert_eq!(found.len(), 1, "{}", refused.stderr);
    assert!(
        found[0].ends_with(&format!("rollback {} --force", heal.txn())),
        "{}",
        found[0]
    );
    let out = sh(&found[0], tempdir().path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(r.join("logs/positions_futures.json")).expect("read"),
        b""
    );
}
