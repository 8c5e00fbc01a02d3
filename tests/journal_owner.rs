//! One `sudo selfheal heal` must not lock the bot's user out: run as root, everything
//! selfheal creates under the root takes the owner of the directory it is created in, so a
//! root owned by the bot's user stays the bot's user's (journal, backup objects, torn tails,
//! the index and run record, new state files, created directories, a moved journal). A
//! journal file the user cannot open is a message naming it, its owner and the fix.

use crate::support::journal::{as_user, flip, is_root, JOURNAL};
use crate::support::{chown_tree, code, exact_tree, stderr, Fixture};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const BOT: u32 = 12_345;

/// Every path under `p` not owned by `uid:uid`.
fn not_owned(p: &Path, uid: u32, out: &mut Vec<String>) {
    let under = exact_tree(p).into_keys().map(|rel| p.join(rel));
    for path in std::iter::once(p.to_path_buf()).chain(under) {
        let md = std::fs::symlink_metadata(&path).expect("lstat");
        if (md.uid(), md.gid()) != (uid, uid) {
            out.push(format!("{} ({}:{})", path.display(), md.uid(), md.gid()));
        }
    }
}

/// A root owned by the bot's user, reachable by it, with damage to repair.
fn bot_root() -> Option<Fixture> {
    if !is_root() {
        println!("skipped: the ownership tests need to run as root (euid 0)");
        return None;
    }
    let f = Fixture::with_root();
    std::fs::set_permissions(
        f.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod tmp");
    f.write("logs/portfolio_futures.json", "");
    f.write("logs/positions_futures.json.lock", "");
    f.age("logs/positions_futures.json.lock", 3_600);
    chown_tree(&f.root(), BOT);
    Some(f)
}

#[test]
fn a_run_as_root_leaves_everything_to_the_roots_owner() {
    let Some(f) = bot_root() else { return };
    let Some(_) = as_user(BOT, &f.root(), &[]) else {
        println!("skipped: setpriv is not available");
        return;
    };
    assert_eq!(code(&f.run(&["heal"])), 0);
    // More of what selfheal creates: a repair, a torn tail, a moved journal, the index.
    f.write("logs/portfolio_futures.json", "");
    assert_eq!(code(&f.run(&["heal"])), 0);
    let newest = f.path(&format!("{JOURNAL}/txn-0000000002.jsonl"));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .expect("open");
    std::io::Write::write_all(&mut file, b"{\"torn").expect("tear");
    assert_eq!(code(&f.run(&["heal"])), 0);
    assert!(
        f.path("logs/backups/torn").is_dir(),
        "a torn tail was saved"
    );
    let mut wrong = Vec::new();
    not_owned(&f.root(), BOT, &mut wrong);
    assert!(wrong.is_empty(), "not the root's owner: {wrong:#?}");
    flip(&f, 3, 2);
    assert_eq!(code(&f.run(&["journal", "quarantine"])), 0);
    assert_eq!(code(&f.run(&["heal"])), 0);
    assert_eq!(code(&f.run(&["heal"])), 0);
    for dir in ["logs/backups/quarantine", "logs/backups/meta"] {
        assert!(f.path(dir).is_dir(), "{dir} was created");
    }
    not_owned(&f.root(), BOT, &mut wrong);
    assert!(wrong.is_empty(), "not the root's owner: {wrong:#?}");
    // The bot's user carries on.
    for args in [
        &["heal"][..],
        &["journal", "verify"],
        &["rollback", "2"],
        &["stats"],
    ] {
        let out = as_user(BOT, &f.root(), args)
            .expect("setpriv")
            .output()
            .expect("run");
        assert_eq!(code(&out), 0, "{args:?} as {BOT}: {}", stderr(&out));
    }
}

#[test]
fn a_journal_the_user_cannot_open_names_its_owner_and_the_fix() {
    let Some(f) = bot_root() else { return };
    // What an older selfheal run with sudo left: selfheal's own files owned by root.
    assert_eq!(code(&f.run(&["heal"])), 0);
    chown_tree(&f.path("logs/backups"), 0);
    let Some(mut cmd) = as_user(BOT, &f.root(), &["heal"]) else {
        println!("skipped: setpriv is not available");
        return;
    };
    let out = cmd.output().expect("run");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    let abs = std::fs::canonicalize(f.root()).expect("canonical");
    let fix = format!("sudo chown -R {BOT}:{BOT} {}/logs/backups", abs.display());
    for part in ["permission denied", "belongs to uid 0", fix.as_str()] {
        assert!(stderr(&out).contains(part), "{part}: {}", stderr(&out));
    }
}
