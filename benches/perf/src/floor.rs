//! The floors: minimal programs doing the unavoidable part of each job, run as whole
//! processes in the same run as selfheal so every figure is a ratio on the same machine.
//!
//! - `validate FILE...`: read each file and validate it with serde_json into
//!   `serde::de::IgnoredAny` (no tree);
//! - `backup FILE OUT`: read FILE, SHA-256 it, compress it with zstd exactly as selfheal's
//!   store does (its level rule `store::zstd_level`, content checksum on), then write the
//!   same uncompressed bytes to OUT, as the repaired file is written, and fsync. The
//!   compressed object is not written: a heal writes it too, so leaving it out keeps the
//!   floor strict (it is about a sixth of the bytes);
//! - `restore OBJECT SHA256 OUT`: read the zstd object, decompress, check SHA-256, write and
//!   fsync.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

pub fn validate(files: &[String]) -> Result<(), String> {
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| format!("{f}: {e}"))?;
    }
    Ok(())
}

pub fn backup(file: &str, out: &str) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let sha = Sha256::digest(&bytes);
    let level = selfheal::zstd_level(bytes.len());
    let mut enc = zstd::bulk::Compressor::new(level).map_err(|e| e.to_string())?;
    enc.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .map_err(|e| e.to_string())?;
    let compressed = enc.compress(&bytes).map_err(|e| e.to_string())?;
    std::hint::black_box((&sha, compressed.len()));
    write_sync(Path::new(out), &bytes)
}

pub fn restore(object: &str, sha: &str, out: &str) -> Result<(), String> {
    let compressed = std::fs::read(object).map_err(|e| format!("{object}: {e}"))?;
    let bytes = zstd::stream::decode_all(&compressed[..]).map_err(|e| e.to_string())?;
    if hex(&Sha256::digest(&bytes)) != sha {
        return Err("checksum mismatch".into());
    }
    write_sync(Path::new(out), &bytes)
}

fn write_sync(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
