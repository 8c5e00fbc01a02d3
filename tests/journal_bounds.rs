//! Memory stays bounded whatever selfheal reads: a 2 GiB NUL tail after a power loss (a
//! sparse file: fast, no disk), a journal file whose records run past the bound, a backup
//! object of any size or one that decompresses to more than the journal recorded, and a
//! state file of NULs near `limits.max_file_size`. Each runs under an address-space limit
//! (`prlimit --as`). A saved torn tail is bounded too, and retention removes old ones.

use crate::support::journal::{history, journal_files, limited, txn_path};
use crate::support::{code, stderr, Fixture};
use sha2::Digest as _;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn sparse_tail(path: &std::path::Path, len: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    let size = f.metadata().expect("stat").len();
    f.set_len(size + len).expect("sparse tail");
}

#[test]
fn a_two_gib_nul_tail_is_read_and_saved_in_bounded_memory() {
    let f = history(1);
    let newest = txn_path(&f, 2);
    let good = std::fs::metadata(&newest).expect("stat").len();
    sparse_tail(&newest, 2 * GIB);
    let out = limited(&f, 256 * MIB, &["journal", "verify"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2147483648 torn byte(s)"),
        "{}",
        stderr(&out)
    );
    let out = limited(&f, 256 * MIB, &["heal", "--mode", "real"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&newest).expect("stat").len(), good, "cut");
    let torn: Vec<_> = std::fs::read_dir(f.path("logs/backups/torn"))
        .expect("torn")
        .flatten()
        .collect();
    assert_eq!(torn.len(), 1);
    let saved = std::fs::read(torn[0].path()).expect("read");
    assert!(
        saved.len() <= 65_536 + 512,
        "bounded: {} bytes",
        saved.len()
    );
    let nl = saved.iter().position(|&b| b == b'\n').expect("header");
    let header: serde_json::Value = serde_json::from_slice(&saved[..nl]).expect("json");
    assert_eq!(header["len"], 2 * GIB, "{header}");
    assert_eq!(header["saved"], 65_536, "{header}");
    let mut sha = sha2::Sha256::new();
    let zeros = vec![0u8; MIB as usize];
    for _ in 0..2048 {
        sha.update(&zeros);
    }
    let hex: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(header["sha256"], hex.as_str(), "{header}");
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
}

#[test]
fn records_past_the_bound_are_damage_found_in_bounded_memory() {
    let f = history(1);
    let newest = txn_path(&f, 2);
    sparse_tail(&newest, 2 * GIB);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .expect("open");
    std::io::Write::write_all(&mut file, b"\nmore\n").expect("append");
    let out = limited(&f, 256 * MIB, &["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than selfheal ever writes"),
        "{}",
        stderr(&out)
    );
    let out = limited(&f, 256 * MIB, &["heal", "--mode", "real"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

/// A root whose transaction 2 backed up a 256 KiB positions file (a required key was
/// missing): one backup object of that size.
fn big_object() -> Fixture {
    let f = Fixture::new();
    assert_eq!(code(&f.run(&["heal", "--init"])), 0);
    let pad = "x".repeat(256 << 10);
    f.write(
        "logs/positions_futures.json",
        format!("{{\"open_positions\": [], \"pad\": \"{pad}\"}}"),
    );
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["transaction"], 2, "{v}");
    f
}

/// The one backup object of the root, and its path.
fn the_object(f: &Fixture) -> std::path::PathBuf {
    let objects = crate::support::exact_tree(&f.path("logs/backups/objects"));
    let zst: Vec<_> = objects.keys().filter(|k| k.ends_with(".zst")).collect();
    assert_eq!(zst.len(), 1, "{zst:?}");
    f.path("logs/backups/objects").join(zst[0])
}

#[test]
fn a_backup_object_is_read_only_within_its_recorded_size() {
    // A 2 GiB (sparse) object: refused by its size, unread.
    let f = history(1);
    let obj = the_object(&f);
    std::fs::File::create(&obj)
        .and_then(|o| o.set_len(2 * GIB))
        .expect("sparse object");
    let out = limited(&f, 256 * MIB, &["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("larger than any zstd frame"),
        "{}",
        stderr(&out)
    );
    // A small frame that decompresses to 1 GiB: refused by the size it declares...
    let g = big_object();
    let obj = the_object(&g);
    let bomb = {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).expect("encoder");
        enc.include_contentsize(true).expect("flag");
        enc.set_pledged_src_size(Some(GIB)).expect("pledge");
        let zeros = vec![0u8; MIB as usize];
        for _ in 0..1024 {
            std::io::Write::write_all(&mut enc, &zeros).expect("compress");
        }
        enc.finish().expect("finish")
    };
    assert!(bomb.len() < 4 * MIB as usize);
    std::fs::write(&obj, &bomb).expect("bomb");
    let out = limited(&g, 256 * MIB, &["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a frame of 1073741824 bytes"),
        "{}",
        stderr(&out)
    );
    let out = limited(&g, 256 * MIB, &["rollback", "2"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // ...and without a declared size, decompressed only up to the recorded size.
    let h = big_object();
    let obj = the_object(&h);
    let streamed = {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).expect("encoder");
        let zeros = vec![0u8; MIB as usize];
        for _ in 0..1024 {
            std::io::Write::write_all(&mut enc, &zeros).expect("compress");
        }
        enc.finish().expect("finish")
    };
    std::fs::write(&obj, &streamed).expect("bomb");
    let out = limited(&h, 256 * MIB, &["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_state_file_of_nuls_is_salvaged_within_twice_its_size() {
    // A positions file of N NUL bytes: the heal needs about N (the input) and a little,
    // never a second buffer of N for an output of two bytes. The limit leaves less than
    // 2N beyond a small base.
    let n = 256 * MIB;
    let cap = n * 7 / 4 + 64 * MIB;
    for mode in ["real", "paper"] {
        let f = Fixture::with_root();
        f.mkdir("logs");
        std::fs::File::create(f.path("logs/positions_futures.json"))
            .and_then(|o| o.set_len(n))
            .expect("sparse state file");
        let out = limited(&f, cap, &["heal", "--mode", mode]);
        let rc = code(&out);
        assert!(rc == 0 || rc == 4, "{mode}: {rc}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("memory allocation"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn retention_removes_old_torn_tails_and_old_quarantined_journals() {
    let f = history(2);
    f.mkdir("logs/backups/torn");
    let name = "txn-0000000002.jsonl.1000000000000000000.torn";
    f.write(&format!("logs/backups/torn/{name}"), "{}\nold");
    let fresh = format!(
        "txn-0000000002.jsonl.{}.torn",
        chrono::Utc::now().timestamp_nanos_opt().expect("nanos")
    );
    f.write(&format!("logs/backups/torn/{fresh}"), "{}\nnew");
    f.mkdir("logs/backups/quarantine/20200101T000000.000Z");
    f.write(
        "logs/backups/quarantine/20200101T000000.000Z/txn-0000000001.jsonl",
        "damaged\n",
    );
    let (rc, r) = f.json(&["prune"]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["torn_removed"], 1, "{r}");
    assert_eq!(r["quarantines_removed"], 1, "{r}");
    assert!(!f.path(&format!("logs/backups/torn/{name}")).exists());
    assert!(f.path(&format!("logs/backups/torn/{fresh}")).exists());
    assert!(!f
        .path("logs/backups/quarantine/20200101T000000.000Z")
        .exists());
    assert_eq!(journal_files(&f).len(), 3);
}
