//! Unit tests of the journal reader: clean journals, torn tails, damage before a good
//! line, strays, temp files and the key ring, on real files in a temp dir.
#![allow(clippy::disallowed_methods)] // damages journals in a temp dir, not a live state root

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A state root whose journal holds `n` committed transactions written by real heals
/// (`--init`, then a heal of an emptied portfolio each), optionally keyed with `key`.
struct Healed {
    dir: tempfile::TempDir,
    config: Option<PathBuf>,
}

const PORTFOLIO: &str = "logs/portfolio_futures.json";

impl Healed {
    fn new(n: usize, key: Option<&[u8]>) -> Healed {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = key.map(|key| {
            let key_path = dir.path().join("journal.key");
            std::fs::write(&key_path, key).expect("write key");
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod key");
            let config = dir.path().join("selfheal.json");
            let text = serde_json::json!({ "journal_key_file": key_path });
            std::fs::write(&config, text.to_string()).expect("write config");
            config
        });
        let h = Healed { dir, config };
        h.heal(true);
        for _ in 1..n {
            std::fs::write(h.root().join(PORTFOLIO), "").expect("empty the portfolio");
            h.heal(false);
        }
        h
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn heal(&self, init: bool) {
        let opts = crate::Options {
            root: self.root(),
            config: self.config.clone(),
            mode: Some(crate::Mode::Paper),
            init,
            ..crate::Options::default()
        };
        let report = crate::heal(&opts).expect("heal");
        assert!(report.transaction.is_some(), "the heal committed");
    }

    fn file(&self, txn: u64) -> PathBuf {
        self.root()
            .join(journal_dir().as_path())
            .join(jf::file_name(txn))
    }

    /// Scans the journal with `keys`: what it found, and per file handed over whether
    /// its tags were verified.
    fn scan(&self, keys: Keys<'_>) -> (Scanned, Vec<(u64, bool)>) {
        let root = Root::open(&self.root()).expect("open root");
        let mut seen = Vec::new();
        let scanned = scan(&root, keys, &mut |_, txn, _, verified| {
            seen.push((txn, verified));
        })
        .expect("scan");
        (scanned, seen)
    }
}

/// The lines of `path`, each with its newline.
fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .expect("journal file")
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// The problem of a scan as (file name, line, why); fails when there is none.
fn corrupt(s: &Scanned) -> (String, Option<u64>, String) {
    match &s.problem {
        Some(Problem::Corrupt {
            file, line, why, ..
        }) => (file.file_name().to_string(), *line, why.clone()),
        other => panic!("expected a Corrupt problem, got {other:?}"),
    }
}

#[test]
fn a_clean_journal_is_read_whole_and_trusted() {
    let h = Healed::new(3, None);
    let (s, seen) = h.scan(Keys::own(&Mac::Sha256));
    assert!(s.problem.is_none(), "{:?}", s.problem);
    assert_eq!(s.ids, vec![1, 2, 3]);
    assert_eq!(s.trusted, 3);
    assert_eq!(s.files.len(), 3);
    assert!(s
        .files
        .iter()
        .all(|(_, f)| f.torn.is_none() && f.records > 0));
    assert!(s.unverified.is_empty());
    assert_eq!(seen, vec![(1, true), (2, true), (3, true)]);
}

#[test]
fn a_torn_last_line_is_a_torn_tail_not_damage() {
    let h = Healed::new(2, None);
    let newest = h.file(2);
    let whole = std::fs::read(&newest).expect("file").len() as u64;
    // Half of a record, no newline: what a crash mid-append leaves.
    let half: Vec<u8> = lines(&h.file(1))[1].iter().take(40).copied().collect();
    let mut f = std::fs::File::options()
        .append(true)
        .open(&newest)
        .expect("open");
    std::io::Write::write_all(&mut f, &half).expect("append");
    let (s, _) = h.scan(Keys::own(&Mac::Sha256));
    assert!(s.problem.is_none(), "{:?}", s.problem);
    assert_eq!(s.trusted, 2);
    let last = s.files.last().map(|(_, f)| f.torn);
    assert_eq!(last, Some(Some((whole, half.len() as u64))));
}

#[test]
fn a_bad_line_followed_by_a_good_one_is_corruption() {
    // (transaction whose file is damaged, 1-based line): the oldest file's second line,
    // and a line inside the newest file, before its last.
    for (txn, line) in [(1u64, 2usize), (2, 2)] {
        let h = Healed::new(2, None);
        let path = h.file(txn);
        let mut all = lines(&path);
        assert!(all.len() > line, "a good line follows line {line}");
        all[line - 1][20] ^= 0x01;
        std::fs::write(&path, all.concat()).expect("damage");
        let (s, _) = h.scan(Keys::own(&Mac::Sha256));
        let (file, at, _) = corrupt(&s);
        assert_eq!(file, jf::file_name(txn), "txn {txn}");
        assert_eq!(at, Some(line as u64), "txn {txn}");
        assert_eq!(
            s.trusted,
            usize::try_from(txn - 1).expect("small"),
            "txn {txn}"
        );
    }
}

#[test]
fn writer_temp_files_are_tolerated_and_strays_are_findings() {
    let h = Healed::new(1, None);
    let dir = h.root().join(journal_dir().as_path());
    std::fs::write(dir.join(format!("{}rekey.1", crate::fsx::TMP_PREFIX)), "x").expect("temp file");
    let (s, _) = h.scan(Keys::own(&Mac::Sha256));
    assert!(s.problem.is_none(), "{:?}", s.problem);
    assert_eq!(s.ids, vec![1]);
    // (entry, words of the finding)
    let strays: [(&str, bool, &str); 3] = [
        (
            "notes.txt",
            false,
            "the file \"notes.txt\" is not a journal file",
        ),
        ("txn-1.jsonl", false, "is not a journal file"),
        (
            "backup",
            true,
            "the directory \"backup\" is not a journal file",
        ),
    ];
    for (name, is_dir, words) in strays {
        let h = Healed::new(1, None);
        let dir = h.root().join(journal_dir().as_path());
        if is_dir {
            std::fs::create_dir(dir.join(name)).expect("mkdir");
        } else {
            std::fs::write(dir.join(name), "").expect("stray");
        }
        let (s, _) = h.scan(Keys::own(&Mac::Sha256));
        let (file, _, why) = corrupt(&s);
        assert_eq!(file, name);
        assert!(why.contains(words), "{name}: {why}");
        assert_eq!(
            s.trusted, 1,
            "{name}: the transactions themselves are sound"
        );
    }
}

#[test]
fn a_directory_with_a_transaction_name_is_not_read() {
    let h = Healed::new(1, None);
    std::fs::create_dir(h.file(2)).expect("mkdir");
    let (s, _) = h.scan(Keys::own(&Mac::Sha256));
    let (file, _, why) = corrupt(&s);
    assert_eq!(file, jf::file_name(2));
    assert!(why.contains("not a regular file"), "{why}");
    assert_eq!(s.ids, vec![1, 2]);
}

#[test]
fn a_keyed_journal_is_verified_by_the_key_that_wrote_it() {
    let key = b"0123456789abcdef0123456789abcdef".as_slice();
    let h = Healed::new(2, Some(key));
    let right = Mac::HmacSha256(key.to_vec());
    let wrong = Mac::HmacSha256(b"another key entirely, 32 bytes!!".to_vec());
    // The configured key verifies it.
    let (s, seen) = h.scan(Keys::own(&right));
    assert!(s.problem.is_none(), "{:?}", s.problem);
    assert_eq!(seen, vec![(1, true), (2, true)]);
    // An earlier key of the ring verifies it too.
    let ring = [right.clone()];
    let (s, seen) = h.scan(Keys {
        own: &wrong,
        old: &ring,
    });
    assert!(s.problem.is_none(), "{:?}", s.problem);
    assert_eq!(seen, vec![(1, true), (2, true)]);
    // No key that verifies it: read without its tags, and a checksum mismatch.
    let (s, seen) = h.scan(Keys::own(&wrong));
    assert_eq!(seen, vec![(1, false), (2, false)]);
    let (_, _, why) = corrupt(&s);
    assert!(why.contains("checksum mismatch"), "{why}");
    // No key configured at all: refused, naming the setting.
    let (s, _) = h.scan(Keys::own(&Mac::Sha256));
    let (file, line, why) = corrupt(&s);
    assert_eq!((file.as_str(), line), (jf::file_name(1).as_str(), Some(1)));
    assert!(why.contains("no journal_key_file is configured"), "{why}");
}

#[test]
fn the_tag_algorithm_a_file_declares_is_checked_against_the_configuration() {
    let key = Mac::HmacSha256(b"k".to_vec());
    // (declared, configured, keyed files seen before, accepted algorithm or refusal)
    type Row<'a> = (
        Option<MacKind>,
        &'a Mac,
        bool,
        std::result::Result<MacKind, &'a str>,
    );
    let table: [Row<'_>; 6] = [
        (
            Some(MacKind::Sha256),
            &Mac::Sha256,
            false,
            Ok(MacKind::Sha256),
        ),
        (Some(MacKind::Sha256), &key, false, Ok(MacKind::Sha256)),
        (Some(MacKind::Sha256), &key, true, Err("downgrade")),
        (
            Some(MacKind::HmacSha256),
            &Mac::Sha256,
            false,
            Err("no journal_key_file"),
        ),
        (
            Some(MacKind::HmacSha256),
            &key,
            false,
            Ok(MacKind::HmacSha256),
        ),
        (None, &key, false, Ok(MacKind::HmacSha256)),
    ];
    for (i, (declared, want, keyed_before, expect)) in table.into_iter().enumerate() {
        let mut keyed = keyed_before;
        let got = file_mac(declared, want, &mut keyed);
        match expect {
            Ok(kind) => {
                assert!(
                    matches!(&got, Ok(m) if m.kind() == kind),
                    "row {i}: {got:?}"
                );
                let now_keyed = keyed_before || declared == Some(MacKind::HmacSha256);
                assert_eq!(keyed, now_keyed, "row {i}");
            }
            Err(words) => {
                assert!(
                    matches!(got, Err(why) if why.contains(words)),
                    "row {i}: {got:?}"
                );
            }
        }
    }
}
