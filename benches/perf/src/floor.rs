//! The floors: minimal programs doing the unavoidable part of each job, run as whole
//! processes in the same run as selfheal so every figure is a ratio on the same machine.
//!
//! - `validate FILE...`: read each file and validate it with serde_json into
//!   `serde::de::IgnoredAny` (no tree);
//! - `backup FILE DIR`: read, SHA-256, zstd at selfheal's level, write and fsync;
//! - `restore OBJECT SHA256 OUT`: read the zstd object, decompress, check SHA-256, write and
//!   fsync.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// selfheal's backup zstd level (`store::ZSTD_LEVEL`).
pub const ZSTD_LEVEL: i32 = 3;

pub fn validate(files: &[String]) -> Result<(), String> {
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| format!("{f}: {e}"))?;
    }
    Ok(())
}

pub fn backup(file: &str, dir: &str) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let sha = hex(&Sha256::digest(&bytes));
    let compressed = zstd::bulk::compress(&bytes, ZSTD_LEVEL).map_err(|e| e.to_string())?;
    write_sync(&Path::new(dir).join(format!("{sha}.zst")), &compressed)
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
