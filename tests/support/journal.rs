//! The journal as the tests see it: a history of committed heals, the journal's files,
//! damage to one record, runs under an address-space limit and as another user (through
//! the one clean-environment builder).

use super::{code, stderr, wrapped, Fixture};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const JOURNAL: &str = "logs/backups/journal";

/// A default root healed once (`--init`), then `n` more heals that each repair the emptied
/// portfolio file: `n + 1` committed transactions, ids 1 to `n + 1`.
pub fn history(n: usize) -> Fixture {
    let f = Fixture::new();
    let out = f.run(&["heal", "--init"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for _ in 0..n {
        repair_once(&f);
    }
    assert_eq!(journal_files(&f).len(), n + 1);
    f
}

/// Empties the portfolio file and heals it: one more committed transaction, its id.
pub fn repair_once(f: &Fixture) -> u64 {
    f.write("logs/portfolio_futures.json", "");
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v["transaction"]
        .as_u64()
        .unwrap_or_else(|| panic!("a transaction: {v}"))
}

/// The names in the journal directory, sorted.
pub fn journal_files(f: &Fixture) -> Vec<String> {
    journal_names(&f.root())
}

/// The names of the journal's transaction files under `root`, sorted.
pub fn journal_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(JOURNAL))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn txn_path(f: &Fixture, txn: u64) -> PathBuf {
    f.path(&format!("{JOURNAL}/{}", journal_format::file_name(txn)))
}

/// Flips one bit inside line `line` (1-based) of transaction `txn`'s file, in place.
pub fn flip(f: &Fixture, txn: u64, line: usize) {
    let p = txn_path(f, txn);
    let mut bytes = std::fs::read(&p).expect("read");
    let start = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(line - 1)
        .map(<[u8]>::len)
        .sum::<usize>();
    bytes[start + 20] ^= 0x01;
    let mut file = std::fs::File::options().write(true).open(&p).expect("open");
    std::io::Write::write_all(&mut file, &bytes).expect("write in place");
}

/// `selfheal --root <root> args` under an address-space limit of `bytes`.
pub fn limited(f: &Fixture, bytes: u64, args: &[&str]) -> Output {
    wrapped("prlimit", &[&format!("--as={bytes}")])
        .arg("--root")
        .arg(f.root())
        .args(args)
        .output()
        .expect("prlimit")
}

/// Whether this test process runs as root (the ownership tests need to).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A command running the binary as `uid:gid` (`setpriv`), or `None` when that is not
/// possible here.
pub fn as_user(uid: u32, root: &Path, args: &[&str]) -> Option<Command> {
    let ok = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let mut c = wrapped(
        "setpriv",
        &[
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
        ],
    );
    c.arg("--root").arg(root).args(args);
    Some(c)
}
