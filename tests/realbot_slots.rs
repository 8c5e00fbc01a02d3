//! A blue/green switch on the reference bot's own state: its sample root is the slot that
//! was active, a fresh slot becomes `<name>-current`. Nothing copies state between slots,
//! so a real-mode start in the empty slot would trade as if the six open positions of the
//! other slot did not exist: SLOT_DIVERGENCE blocks it until an operator acknowledges it.

use crate::support::copy_tree;
use crate::support::procs::{selfheal, snapshot, tempdir, Run};
use std::path::{Path, PathBuf};

/// `trading-bot-A` (the bot's sample, 6 open positions) and an empty `trading-bot-B`,
/// with `trading-bot-current` naming B.
fn switched() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempdir();
    let a = dir.path().join("trading-bot-A");
    let b = dir.path().join("trading-bot-B");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realbot/sample");
    copy_tree(&sample, &a);
    std::fs::create_dir(&b).expect("mkdir slot B");
    std::os::unix::fs::symlink("trading-bot-B", dir.path().join("trading-bot-current"))
        .expect("symlink");
    let current = dir.path().join("trading-bot-current");
    (dir, a, current)
}

fn divergence(run: &Run) -> Vec<(String, u64)> {
    run.findings("SLOT_DIVERGENCE")
        .iter()
        .map(|f| {
            (
                f["level"].as_str().unwrap_or_default().to_string(),
                f["details"]["other_open_positions"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_switch_to_an_empty_slot_beside_the_bots_open_positions_blocks_real_mode() {
    let (_dir, a, current) = switched();
    let before = snapshot(&a);
    let real = selfheal(&current, &["heal", "--mode", "real"]);
    assert_eq!(real.code, 4, "{}", real.json);
    assert_eq!(real.json["start_allowed"], false);
    assert_eq!(
        divergence(&real),
        [("CRITICAL".to_string(), 6)],
        "{}",
        real.json
    );
    let message = real.findings("SLOT_DIVERGENCE")[0]["message"].to_string();
    assert!(message.contains("trading-bot-A"), "{message}");
    assert_eq!(snapshot(&a), before, "the other slot is only read");

    let paper = selfheal(&current, &["heal", "--mode", "paper"]);
    assert_eq!(paper.code, 0, "{}", paper.json);
    assert_eq!(divergence(&paper), [("HIGH".to_string(), 6)]);

    // The operator acknowledges what the real-mode run recorded: real mode may start.
    let txn = real.json["transaction"]
        .as_u64()
        .expect("a transaction")
        .to_string();
    let ack = selfheal(&current, &["ack", &txn]);
    assert_eq!(ack.code, 0, "{}", ack.json);
    let again = selfheal(&current, &["heal", "--mode", "real"]);
    assert_eq!(again.code, 0, "{}", again.json);
    assert!(divergence(&again).is_empty(), "{}", again.json);
    assert_eq!(snapshot(&a), before);
}
