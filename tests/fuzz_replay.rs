//! Replays the committed fuzz seeds (`fuzz/seeds/<target>/*`) through the same checks the
//! fuzz targets run, so that every input a fuzzer ever found stays fixed, on stable.

use std::fs;
use std::path::{Path, PathBuf};

#[cfg(feature = "fuzzing")]
use selfheal::salvage::fuzzing::{check_salvage, check_structured};

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, check: fn(&[u8]) -> Result<(), String>) {
    let files = seeds(target);
    assert!(!files.is_empty(), "no seeds for {target}");
    let mut failures = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if let Err(e) = check(&data) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg(feature = "fuzzing")]
#[test]
fn salvage_seeds() {
    replay("salvage", check_salvage);
}

#[cfg(feature = "fuzzing")]
#[test]
fn salvage_structured_seeds() {
    replay("salvage_structured", check_structured);
}

#[test]
fn journal_decode_seeds() {
    replay("journal_decode", journal_format::fuzzing::check_decode);
}

#[cfg(all(feature = "fuzzing", feature = "fault-injection"))]
#[test]
fn engine_seeds() {
    replay("engine", selfheal::fuzzing::check_engine);
}

#[cfg(all(feature = "fuzzing", feature = "fault-injection"))]
#[test]
#[ignore]
fn engine_repro() {
    let dir = std::env::var("ENGINE_REPRO").expect("ENGINE_REPRO");
    for e in fs::read_dir(dir).expect("dir").flatten() {
        let data = fs::read(e.path()).expect("read");
        if let Err(err) = selfheal::fuzzing::check_engine(&data) {
            panic!("{}: {err}", e.path().display());
        }
    }
}
