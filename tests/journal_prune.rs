//! Retention: after `prune`, every kept transaction still rolls back bit-exact and
//! `journal verify` passes; the policy (keep N, older than DUR) selects exactly the oldest
//! prefix; backups no kept transaction needs are removed; automatic retention after a heal
//! keeps counters whole; a heal warns when `logs/backups/` is over its size; and a prune
//! killed at any point leaves a journal that verifies and that the next prune finishes.

use crate::support::journal::journal_files;
use crate::support::states::{
    copy_of, heal, heal_one_more, prune, retime, rewrite_all, rollback, root_with, verify_ok,
    FOUR_FILES as CONFIG,
};
#[cfg_attr(not(feature = "fault-injection"), allow(unused_imports))]
use crate::support::{code, diff, stderr, Fixture, Node, Snapshot};
use journal_format as jf;
use std::collections::BTreeSet;

/// Empties `rel` with `bytes` (an "empty" document: 0 bytes, whitespace, `{}` or `null`) and heals it.
fn damage_and_heal(f: &Fixture, rel: &str, bytes: &str) -> (u64, Snapshot) {
    f.write(rel, bytes);
    f.age(rel, 5_000);
    let pre = f.snapshot();
    (heal(f), pre)
}

pub fn objects(f: &Fixture) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for fan in std::fs::read_dir(f.path("logs/backups/objects"))
        .expect("objects")
        .flatten()
    {
        for o in std::fs::read_dir(fan.path()).expect("fan").flatten() {
            let name = o.file_name().to_string_lossy().into_owned();
            out.insert(format!(
                "{}{}",
                fan.file_name().to_string_lossy(),
                name.trim_end_matches(".zst")
            ));
        }
    }
    out
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rolls back `id` in a copy of `f` and checks that only `rel` changed, to exactly `want`.
fn rolls_back_exactly(f: &Fixture, id: u64, rel: &str, want: &Node) {
    let g = copy_of(f);
    let mut expected = g.snapshot();
    expected.insert(rel.to_string(), want.clone());
    rollback(&g, id);
    let now = g.snapshot();
    assert!(
        now == expected,
        "rollback of {id}:\n{}",
        diff(&expected, &now)
    );
    verify_ok(&g);
}

#[test]
fn after_prune_every_kept_transaction_rolls_back_bit_exact_and_verify_passes() {
    let f = root_with(CONFIG);
    heal(&f);
    let (t2, _) = damage_and_heal(&f, "state/d.json", " \n\n");
    let (t3, _) = damage_and_heal(&f, "state/a.json", "");
    let healed_a = f.snapshot()["state/a.json"].clone();
    let (t4, pre4) = damage_and_heal(&f, "state/b.json", "  \n");
    let (t5, pre5) = damage_and_heal(&f, "state/c.json", "null");
    rollback(&f, t3);
    let t6 = t5 + 1;
    let before_prune = f.snapshot();
    assert!(objects(&f).contains(&sha(b" \n\n")));

    let r = prune(&f, &["--keep", "3", "--older-than", "0s"]);
    assert_eq!(r["pruned"]["from_txn"], 1, "{r}");
    assert_eq!(r["pruned"]["through_txn"], t3, "{r}");
    assert_eq!(r["transaction"], t6 + 1, "{r}");
    assert_eq!(r["remaining"], 4, "{r}");
    assert_eq!(
        f.snapshot(),
        before_prune,
        "prune never touches a state file"
    );
    assert_eq!(
        journal_files(&f),
        [t4, t5, t6, t6 + 1].map(jf::file_name).to_vec()
    );
    let objs = objects(&f);
    assert!(
        !objs.contains(&sha(b" \n\n")),
        "txn {t2}'s backup is needed by nobody"
    );
    for kept in [&b"  \n"[..], b"null", b""] {
        assert!(objs.contains(&sha(kept)), "{:?} is still needed", kept);
    }
    let v = verify_ok(&f);
    assert_eq!(v["pruned_through"], t3);
    let list = f.json(&["journal", "list"]).1;
    assert_eq!(list["pruned_through"], t3);
    let ids: Vec<u64> = list["transactions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids, vec![t4, t5, t6, t6 + 1]);
    assert_eq!(list["transactions"][2]["rollback_of"], t3);

    rolls_back_exactly(&f, t4, "state/b.json", &pre4["state/b.json"]);
    rolls_back_exactly(&f, t5, "state/c.json", &pre5["state/c.json"]);
    rolls_back_exactly(&f, t6, "state/a.json", &healed_a);
}

#[test]
fn the_policy_prunes_exactly_the_old_prefix_beyond_keep() {
    let f = root_with(CONFIG);
    for _ in 0..5 {
        heal_one_more(&f);
    }
    let files = journal_files(&f);
    let r = prune(&f, &["--keep", "0", "--older-than", "1h"]);
    assert!(r["transaction"].is_null() && r["pruned"].is_null(), "{r}");
    assert_eq!(
        journal_files(&f),
        files,
        "nothing young is pruned, nothing written"
    );
    retime(&f, &[1, 2, 4], "2020-01-01T00:00:00.000Z");
    verify_ok(&f);
    let r = prune(&f, &["--keep", "0", "--older-than", "30d"]);
    assert_eq!(
        r["pruned"]["through_txn"], 2,
        "stops at the first young one: {r}"
    );
    let r = prune(&f, &["--keep", "2", "--older-than", "0s"]);
    assert_eq!(r["pruned"]["from_txn"], 3, "{r}");
    assert_eq!(
        r["pruned"]["through_txn"], 3,
        "keeps the newest two that are not prunes: {r}"
    );
    verify_ok(&f);
    let files = journal_files(&f);
    let again = prune(&f, &["--keep", "2", "--older-than", "0s"]);
    assert!(again["transaction"].is_null(), "idempotent: {again}");
    assert_eq!(journal_files(&f), files);
    let all = prune(&f, &["--keep", "0", "--older-than", "0s"]);
    assert_eq!(all["remaining"], 1, "only the new prune remains: {all}");
    let files = journal_files(&f);
    let again = prune(&f, &["--keep", "0", "--older-than", "0s"]);
    assert!(
        again["transaction"].is_null(),
        "a prune alone is not pruned: {again}"
    );
    assert_eq!(journal_files(&f), files);
    verify_ok(&f);
}

#[test]
fn an_unacknowledged_lossy_salvage_is_never_pruned() {
    let f = root_with(CONFIG);
    for _ in 0..4 {
        heal_one_more(&f);
    }
    rewrite_all(&f, |txn, r| {
        if let (2, jf::Body::Commit(c)) = (txn, &mut r.body) {
            c.summary["salvage"] =
                serde_json::json!([{"path": "state/a.json", "records_lost": 1, "bytes_lost": 9}]);
        }
    });
    let r = prune(&f, &["--keep", "0", "--older-than", "0s"]);
    assert_eq!(r["pinned"], 2, "{r}");
    assert_eq!(
        r["pruned"]["through_txn"], 1,
        "stops before the pinned one: {r}"
    );
    assert!(journal_files(&f).contains(&jf::file_name(2)));
    verify_ok(&f);
}

#[test]
fn automatic_retention_after_heal_keeps_the_counters_whole() {
    let config = CONFIG.replace(
        r#""keep": 200, "older_than": "30d", "warn_size": "1GiB", "auto": false"#,
        r#""keep": 2, "older_than": "0s", "warn_size": "1GiB", "auto": true"#,
    );
    let f = root_with(&config);
    for _ in 0..5 {
        heal_one_more(&f);
    }
    verify_ok(&f);
    let list = f.json(&["journal", "list"]).1;
    let heals = list["transactions"]
        .as_array()
        .map_or(0, |t| t.iter().filter(|x| x["command"] == "heal").count());
    assert_eq!(heals, 2, "{list}");
    assert!(list["pruned_through"].as_u64().is_some(), "{list}");
    let (rc, stats) = f.json(&["stats"]);
    assert_eq!(rc, 0);
    assert_eq!(stats["runs"], 5, "pruned runs are carried: {stats}");
    assert_eq!(stats["successes"], 5, "{stats}");
}

#[test]
fn heal_warns_when_backups_exceed_the_configured_size() {
    let quiet = root_with(CONFIG);
    let (_, v) = quiet.json(&["heal"]);
    assert!(!v.to_string().contains("BACKUPS_SIZE"), "{v}");
    let f = root_with(&CONFIG.replace(r#""warn_size": "1GiB""#, r#""warn_size": "1""#));
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    let w = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["code"] == "BACKUPS_SIZE"))
        .expect("size warning");
    assert_eq!(w["level"], "HIGH");
    assert!(v["warnings"].to_string().contains("BACKUPS_SIZE"), "{v}");
}

#[cfg(feature = "fault-injection")]
mod crash {
    use super::*;

    #[test]
    fn a_prune_killed_at_any_point_leaves_a_verifiable_journal_the_next_prune_finishes() {
        let template = root_with(CONFIG);
        heal(&template);
        damage_and_heal(&template, "state/d.json", " \n\n");
        damage_and_heal(&template, "state/a.json", "");
        let (last, pre) = damage_and_heal(&template, "state/b.json", "  \n");
        let state = template.snapshot();
        let args = ["prune", "--keep", "1", "--older-than", "0s"];
        let trace = copy_of(&template).fault_points(&args);
        assert!(trace.iter().any(|p| p.contains("Remove")), "{trace:?}");
        for (i, point) in trace.iter().enumerate() {
            let f = copy_of(&template);
            assert_eq!(code(&f.crash_at(&args, i + 1)), -6, "{point}");
            let v = f.run(&["journal", "verify"]);
            assert_eq!(code(&v), 0, "crash at {point}: {}", stderr(&v));
            let again = f.run(&args);
            assert_eq!(code(&again), 0, "prune after {point}: {}", stderr(&again));
            verify_ok(&f);
            let kept: Vec<String> = journal_files(&f);
            assert!(
                kept.contains(&jf::file_name(last)),
                "crash at {point}: {kept:?}"
            );
            assert!(
                !kept.contains(&jf::file_name(1)),
                "crash at {point}: {kept:?}"
            );
            assert!(!objects(&f).contains(&sha(b" \n\n")), "crash at {point}");
            assert_eq!(
                f.snapshot(),
                state,
                "crash at {point}: a state file changed"
            );
            rolls_back_exactly(&f, last, "state/b.json", &pre["state/b.json"]);
        }
        println!("crash matrix (prune): {} crash points covered", trace.len());
    }
}
