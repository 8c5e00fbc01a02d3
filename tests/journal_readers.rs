//! Readers see a consistent journal: `journal verify`, `journal list`, `check` and `stats`
//! take selfheal's lock shared, so a prune removing files at the same moment never makes
//! them report a false JOURNAL_INTEGRITY. Rounds are counted, not timed.

use crate::support::journal::{history, repair_once};
use crate::support::{code, stderr};
use std::process::Stdio;

#[test]
fn concurrent_prunes_never_make_readers_report_damage() {
    let f = history(3);
    let mut checked = 0;
    for round in 0..12 {
        for _ in 0..4 {
            repair_once(&f);
        }
        let prune = f
            .cmd(&["prune", "--keep", "1", "--older-than", "0s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prune");
        let readers: Vec<_> = [
            &["journal", "verify"][..],
            &["journal", "list"],
            &["check"],
            &["stats"],
            &["journal", "verify"],
        ]
        .iter()
        .map(|args| {
            let child = f
                .cmd(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("reader");
            (args.to_vec(), child)
        })
        .collect();
        for (args, child) in readers {
            let out = child.wait_with_output().expect("wait");
            assert!(
                code(&out) == 0 || (args == ["check"] && code(&out) == 1),
                "round {round}: {args:?}: {}",
                stderr(&out)
            );
            assert!(
                !stderr(&out).contains("JOURNAL_INTEGRITY"),
                "{}",
                stderr(&out)
            );
            checked += 1;
        }
        let out = prune.wait_with_output().expect("prune");
        assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
    }
    assert_eq!(checked, 60);
}

#[test]
fn check_still_writes_nothing_at_all() {
    let f = history(1);
    let before = crate::support::exact_tree(&f.root());
    assert_eq!(code(&f.run(&["check"])), 0);
    assert_eq!(crate::support::exact_tree(&f.root()), before);
}
