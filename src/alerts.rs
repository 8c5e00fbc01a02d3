//! The operator alert log (`logs/operator_alerts.jsonl` by default): each finding of a heal
//! becomes one JSON line, in the reference bot's shape plus `ts` and `transaction`:
//!
//! `{"level","category","message","details","action_required","timestamp","timestamp_iso","ts","transaction"}`
//!
//! `timestamp` is epoch seconds (float), `timestamp_iso` naive UTC with microseconds (as the
//! reference bot writes it), `ts` RFC 3339 UTC with `Z`, `transaction` the heal's id or
//! null. `details` carries the finding's details plus `path`, `evidence` and `mode`.
//!
//! Invariants: every line is appended with one `write` on an `O_APPEND` descriptor (file
//! mode 0640 when created), through `fsx`; no control character from file content reaches
//! the log (messages and details are cleaned); the same finding (code, level, path,
//! evidence) is not appended again within `alerts.dedupe_window` but counted as suppressed.
//! Recent alerts are found by reading only the log's last [`TAIL_BYTES`]; torn or foreign
//! lines there are skipped, and a log whose last line is torn (no final newline) gets a
//! newline before the first new line, in the same write. This module decides nothing about
//! starting.

use crate::config::Layout;
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Entry, Kind, Root};
use crate::mode::Mode;
use crate::text::{clean, clean_json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::time::Duration;

/// How much of the end of the log is read to find recent alerts.
pub const TAIL_BYTES: u64 = 1 << 20;

/// The mode of a newly created alert log.
pub const LOG_MODE: u32 = 0o640;

/// One line of the log, in key order.
#[derive(Debug, Serialize)]
struct Line<'a> {
    level: Level,
    category: &'a str,
    message: String,
    details: Value,
    action_required: bool,
    timestamp: f64,
    timestamp_iso: String,
    ts: String,
    transaction: Option<u64>,
}

/// What identifies "the same finding" in the log.
type Key = (String, String, String, String);

fn key_of(f: &Finding) -> Key {
    (
        clean(f.code.as_str()),
        f.level.to_string(),
        clean(f.path.as_deref().unwrap_or("")),
        clean(&f.evidence),
    )
}

/// The findings of one run, split into those to append and those suppressed.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    to_append: Vec<Finding>,
    mode: Option<Mode>,
    /// The log does not end with a newline (a torn line).
    torn: bool,
    /// How many were not appended because the same finding was appended within the window.
    pub suppressed: u64,
}

impl Batch {
    /// Decides which of `findings` to append, by the recent lines of the log.
    pub fn prepare(root: &Root, layout: &Layout, findings: &[Finding], mode: Mode) -> Batch {
        Batch::prepare_from(&Recent::read(root, layout), layout, findings, mode)
    }

    /// [`Batch::prepare`] with the log's lines already read (`recent`, as long as the log
    /// has not changed since).
    pub fn prepare_from(
        recent: &Recent,
        layout: &Layout,
        findings: &[Finding],
        mode: Mode,
    ) -> Batch {
        let now = epoch(&chrono::Utc::now());
        let mut seen = recent.keys_within(now, layout.alerts_dedupe);
        let mut batch = Batch {
            mode: Some(mode),
            torn: recent.torn,
            ..Batch::default()
        };
        for f in findings {
            if seen.insert(key_of(f)) {
                batch.to_append.push(f.clone());
            } else {
                batch.suppressed += 1;
            }
        }
        batch
    }

    /// Appends the lines, naming `transaction`; returns how many were written.
    ///
    /// # Errors
    /// I/O errors opening or appending to the log.
    pub fn append(&self, root: &Root, layout: &Layout, transaction: Option<u64>) -> Result<usize> {
        if self.to_append.is_empty() {
            return Ok(0);
        }
        let lines: Vec<Vec<u8>> = self
            .to_append
            .iter()
            .map(|f| render(f, self.mode, transaction, &chrono::Utc::now()))
            .collect();
        let mut log = match root.open_log(&layout.alerts_file, LOG_MODE) {
            Ok(log) => log,
            Err(e) => return Err(to_stderr(&lines, e)),
        };
        for (i, line) in lines.iter().enumerate() {
            let mut line = line.clone();
            if i == 0 && self.torn {
                line.insert(0, b'\n');
            }
            // ORDER: one write per line, so concurrent writers never interleave within a line.
            if let Err(e) = log.append(&line) {
                return Err(to_stderr(lines.get(i..).unwrap_or_default(), e));
            }
        }
        Ok(self.to_append.len())
    }
}

/// Alerts that could not be appended still reach the operator: each line goes to stderr
/// (through the log, at error level); returns `e`.
fn to_stderr(lines: &[Vec<u8>], e: crate::error::Error) -> crate::error::Error {
    for line in lines {
        let text = String::from_utf8_lossy(line);
        tracing::error!(
            "alert not appended to the alert log ({e}): {}",
            text.trim_end()
        );
    }
    e
}

/// The alert log when it is not a file selfheal may append to: a symlink, not a regular
/// file, or a file with more than one name (a hard link to it may lie outside the root).
/// Alerts are then not appended (they go to stderr) and this finding says why.
pub fn inspect(root: &Root, layout: &Layout) -> Option<Finding> {
    let rel = &layout.alerts_file;
    let why = match root.entry(rel) {
        Ok(Entry::Present(st)) if st.kind == Kind::Symlink => "it is a symlink".to_string(),
        Ok(Entry::Present(st)) if st.kind != Kind::File => "it is not a regular file".into(),
        Ok(Entry::Present(st)) if st.nlink > 1 => format!(
            "it has {} hard links: another name for it may lie anywhere, outside the root too",
            st.nlink
        ),
        _ => return None,
    };
    Some(Finding::new(
        code::ALERT_LOG,
        Level::High,
        Some(rel.as_str()),
        format!("the alert log {rel} is not appended to: {why}; alerts go to stderr only until it is a plain file again (remove the other names, or move it aside)"),
        why,
    ))
}

fn epoch(t: &chrono::DateTime<chrono::Utc>) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let secs = t.timestamp() as f64;
    secs + f64::from(t.timestamp_subsec_micros()) / 1e6
}

/// One finding as a complete log line, newline included.
fn render(
    f: &Finding,
    mode: Option<Mode>,
    transaction: Option<u64>,
    now: &chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let mut details = match &f.details {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => Map::from_iter([("value".to_string(), other.clone())]),
    };
    details.insert(
        "path".into(),
        f.path.clone().map_or(Value::Null, Value::String),
    );
    details.insert("evidence".into(), Value::String(f.evidence.clone()));
    if let Some(m) = mode {
        details.insert("mode".into(), Value::String(m.to_string()));
    }
    let mut details = Value::Object(details);
    clean_json(&mut details);
    let line = Line {
        level: f.level,
        category: f.code.as_str(),
        message: clean(&f.message),
        details,
        action_required: f.level >= Level::High,
        timestamp: epoch(now),
        timestamp_iso: now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        ts: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        transaction,
    };
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A line of the log as far as deduplication reads it.
#[derive(Debug, Deserialize)]
struct Seen {
    category: String,
    level: String,
    timestamp: f64,
    #[serde(default)]
    details: SeenDetails,
}

#[derive(Debug, Default, Deserialize)]
struct SeenDetails {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    evidence: Option<String>,
}

/// The alerts found at the end of the log: each one's key and time, and whether the log
/// ends in a torn line.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    lines: Vec<(Key, f64)>,
    torn: bool,
}

impl Recent {
    /// Reads the log's last [`TAIL_BYTES`]: a missing or unreadable log has no recent
    /// alerts (none is suppressed).
    pub fn read(root: &Root, layout: &Layout) -> Recent {
        match root.read_tail(&layout.alerts_file, TAIL_BYTES) {
            Ok(Some((bytes, start))) => Recent {
                torn: bytes.last().is_some_and(|&b| b != b'\n'),
                lines: parse(&bytes, start > 0),
            },
            Ok(None) => Recent::default(),
            Err(e) => {
                tracing::warn!("cannot read recent alerts ({e}); none is suppressed");
                Recent::default()
            }
        }
    }

    /// The keys of the alerts appended within `window` of `now` (epoch seconds).
    fn keys_within(&self, now: f64, window: Duration) -> HashSet<Key> {
        if window.is_zero() {
            return HashSet::new();
        }
        let w = window.as_secs_f64();
        self.lines
            .iter()
            .filter(|(_, at)| (now - at).abs() < w)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Parses log lines (dropping the first when the bytes start mid-line) into keys and
/// times; anything unparsable is skipped.
fn parse(bytes: &[u8], mid_line: bool) -> Vec<(Key, f64)> {
    let mut lines = bytes.split(|&b| b == b'\n');
    if mid_line {
        lines.next();
    }
    lines
        // Other writers' lines may hold Python's NaN/Infinity (read as null here).
        .filter_map(|l| serde_json::from_slice::<Seen>(&crate::pyjson::nulled(l)).ok())
        .map(|s| {
            let key = (
                s.category,
                s.level,
                s.details.path.unwrap_or_default(),
                s.details.evidence.unwrap_or_default(),
            );
            (key, s.timestamp)
        })
        .collect()
}

/// Parses log lines and keeps the keys of those written within `window` of `now`.
#[cfg(test)]
fn keys_within(bytes: &[u8], mid_line: bool, now: f64, window: Duration) -> HashSet<Key> {
    let recent = Recent {
        lines: parse(bytes, mid_line),
        torn: false,
    };
    recent.keys_within(now, window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(evidence: &str) -> Finding {
        Finding::new(
            code::POSITION_CONFLICT,
            Level::Critical,
            Some("logs/p.json"),
            "two \u{1b}[31m positions\nhere",
            evidence,
        )
        .with_details(serde_json::json!({"symbol": "BTC\u{9b}"}))
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-27T18:32:22.123456Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    }

    #[test]
    fn line_has_the_reference_keys_in_order_and_no_control_characters() {
        let line = render(&finding("ev"), Some(Mode::Real), Some(7), &now());
        let text = String::from_utf8(line).unwrap_or_default();
        assert!(text.ends_with('\n'));
        let body = text.trim_end_matches('\n');
        assert!(!body.chars().any(char::is_control), "{body}");
        let v: Map<String, Value> = serde_json::from_str(body).unwrap_or_default();
        let keys: Vec<&str> = v.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "level",
                "category",
                "message",
                "details",
                "action_required",
                "timestamp",
                "timestamp_iso",
                "ts",
                "transaction"
            ]
        );
        assert_eq!(v["timestamp_iso"], "2026-11-27T18:32:22.123456");
        assert_eq!(v["ts"], "2026-11-27T18:32:22.123456Z");
        let ts = v["timestamp"].as_f64().unwrap_or_default();
        assert!((ts - 1_795_804_342.123_456).abs() < 1e-5, "{ts}");
        assert_eq!(v["transaction"], 7);
        assert_eq!(v["details"]["evidence"], "ev");
        assert_eq!(v["details"]["path"], "logs/p.json");
    }

    #[test]
    fn recent_keys_tolerate_torn_and_foreign_lines() {
        let t = epoch(&now());
        let mut log = b"{\"torn\": tr".to_vec();
        log.extend(b"ailing\n");
        log.extend(render(
            &finding("old"),
            None,
            None,
            &(now() - chrono::Duration::hours(2)),
        ));
        log.extend(b"garbage \x00\xff\n{\"level\":\"HIGH\"}\n");
        log.extend(render(&finding("new"), None, None, &now()));
        log.extend(
            b"{\"category\":\"X\",\"level\":\"CRITICAL\",\"timestamp\":1,\"details\":\"s\"}\n",
        );
        log.extend(b"{\"category\":\"POSITION_CONFLICT\",\"lev");
        let keys = keys_within(&log, true, t + 10.0, Duration::from_secs(3600));
        let want: HashSet<Key> = [key_of(&finding("new"))].into_iter().collect();
        assert_eq!(keys, want);
    }
}
