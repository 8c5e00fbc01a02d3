//! Commit summaries are read fail-closed: a committed heal whose summary lost a decision
//! member (here `known_files`) is a run that may have lost data. Real mode does not start
//! until it is acknowledged, and a positions file that is gone is not re-created in real
//! mode meanwhile; `ack` clears it. Without the typed reading, the same journal let real
//! mode start on an empty positions file.

use crate::support::states::rewrite_all;
use crate::support::{code, stderr, Fixture};

#[test]
fn a_run_summary_missing_a_decision_member_blocks_real_mode_until_acknowledged() {
    let f = Fixture::with_root();
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    assert!(
        f.path("logs/positions_futures.json").is_file(),
        "the heal created the positions file"
    );
    rewrite_all(&f, |_, r| {
        if let journal_format::Body::Commit(c) = &mut r.body {
            c.summary.as_object_mut().map(|o| o.remove("known_files"));
        }
    });
    assert_eq!(code(&f.run(&["journal", "verify"])), 0, "re-chained");
    std::fs::remove_file(f.path("logs/positions_futures.json")).expect("rm");

    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    let critical = v["critical"].to_string();
    assert!(
        critical.contains("commit summary of transaction 1 cannot be read"),
        "{v}"
    );
    assert!(critical.contains("known_files"), "{v}");
    assert!(critical.contains(" ack 1`"), "{v}");
    assert!(
        !f.path("logs/positions_futures.json").exists(),
        "not re-created in real mode: {v}"
    );

    let out = f.run(&["ack", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (rc, v) = f.json(&["heal", "--mode", "real", "--accept-loss"]);
    assert_eq!(rc, 0, "acknowledged, and the empty start accepted: {v}");
    assert!(f.path("logs/positions_futures.json").is_file());
}
