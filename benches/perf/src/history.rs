//! A journal of any length, written with the format crate directly (no selfheal run per
//! transaction): the history a bot restarting every 5 seconds leaves when each blocked
//! run commits a transaction — a `heal` that changed nothing and recorded a critical,
//! about 1.3 KB each, chained from genesis, one file per transaction.

use journal_format as jf;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `n` transactions into `root`'s journal directory (which must be empty), the
/// newest committed `gap_s` seconds apart ending at `end` (epoch seconds).
pub fn write(root: &Path, n: u64, end: i64, gap_s: i64) -> std::io::Result<()> {
    let dir = root.join("logs/backups/journal");
    std::fs::create_dir_all(&dir)?;
    let mac = jf::Mac::Sha256;
    let (mut seq, mut prev) = (0u64, jf::Digest::GENESIS);
    for txn in 1..=n {
        let at = end - gap_s * i64::try_from(n - txn).unwrap_or(0);
        let ts = chrono::DateTime::from_timestamp(at, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut bytes = Vec::with_capacity(1400);
        for body in bodies(txn) {
            seq += 1;
            let r = jf::Record {
                v: jf::VERSION,
                seq,
                txn,
                ts: ts.clone(),
                prev,
                body,
            };
            let line = jf::encode(&r, &mac).map_err(std::io::Error::other)?;
            prev = line.tag;
            bytes.extend_from_slice(&line.bytes);
        }
        let path = dir.join(jf::file_name(txn));
        std::fs::write(&path, bytes)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
}

fn bodies(txn: u64) -> Vec<jf::Body> {
    let summary = json!({
        "salvage": [], "healed": [], "failed": [],
        "critical": [{"code": "DUPLICATE_INSTANCE", "path": null,
                      "evidence": "another bot instance is running in this root"}],
        "stats": {"files_created": 0, "files_repaired": 0, "directories_created": 0,
                  "heartbeats_reset": 0, "locks_cleared": 0, "orphans_killed": 0},
        "health_score": 0, "status": "critical", "start_allowed": false,
        "alerts_suppressed": 1, "known_files": ["logs/positions_futures.json"],
        "duration_ms": 31, "disk_free": 52_000_000_000u64 - txn, "backups_bytes": 1_300 * txn,
        "note": "x".repeat(700),
    });
    vec![
        jf::Body::Header(jf::Header {
            magic: jf::MAGIC.into(),
            tool: "selfheal-perf".into(),
            mac: jf::MacKind::Sha256,
        }),
        jf::Body::Begin(jf::Begin {
            command: "heal".into(),
            mode: Some("real".into()),
            pid: 4242,
            plan: Vec::new(),
        }),
        jf::Body::Commit(jf::Commit { summary }),
    ]
}
