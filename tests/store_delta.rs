//! Delta backup objects: a rollback of a large salvaged file backs up the file it replaces
//! as a small delta against the object it puts back; rolling back the rollback restores it
//! bit-exactly from that delta; `journal verify` decodes deltas end to end, so a damaged
//! delta and a damaged base are both findings (exit 4).

use crate::support::states::salvaged;
use crate::support::{code, stderr, stdout, Fixture};
use sha2::{Digest as _, Sha256};

const POSITIONS: &str = "logs/positions_futures.json";

fn object_path(f: &Fixture, content: &[u8]) -> std::path::PathBuf {
    let hex: String = Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    f.path(&format!(
        "logs/backups/objects/{}/{}.zst",
        &hex[..2],
        &hex[2..]
    ))
}

/// The id of the newest transaction.
fn newest(f: &Fixture) -> u64 {
    let list = f.json(&["journal", "list"]).1;
    list["transactions"]
        .as_array()
        .and_then(|t| t.last())
        .and_then(|t| t["id"].as_u64())
        .expect("a transaction")
}

fn flip_last_byte(path: &std::path::Path) -> Vec<u8> {
    let good = std::fs::read(path).expect("object");
    let mut bad = good.clone();
    if let Some(b) = bad.last_mut() {
        *b ^= 0x55;
    }
    std::fs::write(path, bad).expect("write object");
    good
}

#[test]
fn a_rollback_of_a_large_salvage_writes_a_small_delta_and_its_rollback_restores_from_it() {
    let f = Fixture::with_root();
    let (truncated, salvaged, heal) = salvaged(&f);
    let out = f.run(&["rollback", &heal.to_string()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.read(POSITIONS), truncated, "bit-exact rollback");
    let delta = std::fs::read(object_path(&f, &salvaged)).expect("the salvaged bytes' object");
    assert!(
        delta.starts_with(&journal_format::DELTA_MAGIC),
        "stored as a delta"
    );
    assert!(
        (delta.len() as u64) * 100 < salvaged.len() as u64,
        "a delta of {} bytes for a file of {}",
        delta.len(),
        salvaged.len()
    );
    let rollback = newest(&f);
    let out = f.run(&["rollback", &rollback.to_string()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        f.read(POSITIONS),
        salvaged,
        "rolling back the rollback restores the salvaged bytes from the delta"
    );
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn journal_verify_decodes_deltas_a_damaged_delta_or_base_is_a_finding() {
    let f = Fixture::with_root();
    let (truncated, salvaged, heal) = salvaged(&f);
    let out = f.run(&["rollback", &heal.to_string()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let (delta, base) = (object_path(&f, &salvaged), object_path(&f, &truncated));
    let good = flip_last_byte(&delta);
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "a damaged delta: {}", stdout(&out));
    std::fs::write(&delta, good).expect("restore the delta");
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
    flip_last_byte(&base);
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "a damaged base: {}", stdout(&out));
    // The delta itself is refused with its base: rolling back the rollback changes nothing.
    let out = f.run(&["rollback", &newest(&f).to_string()]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("base object"), "{}", stderr(&out));
    assert_eq!(f.read(POSITIONS), truncated);
}
