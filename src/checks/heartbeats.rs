//! Stale heartbeats: the JSON heartbeats `*.json` in `heartbeats.json_dir`
//! (`{"component", "last_heartbeat_ts": epoch, "last_heartbeat_dt": "YYYY-MM-DD HH:MM:SS UTC",
//! ...}`) and the plain files of `heartbeats.plain_files`: ISO-8601 text as the reference
//! bot writes it (`2026-12-05T07:21:25.512345`, no zone meaning UTC; a `Z` or an offset is
//! read too) or an epoch number (integer or with a fraction).
//!
//! One older than `heartbeats.stale_after`, or dated further in the future than
//! `heartbeats.max_clock_skew` (it would look fresh until that date), is reset to now at
//! startup when no bot keeps running. A fresh one is never rewritten. A reset keeps the
//! format found: a JSON heartbeat keeps every byte except the two timestamp values (text
//! substitution; a missing one is inserted), unless it is not a JSON object at all, when a
//! fresh heartbeat is written; a plain one is written as it was (ISO text as naive UTC with
//! microseconds, like Python's `datetime.utcnow().isoformat()`; an epoch as an epoch).
//!
//! An unreadable heartbeat falls back to its mtime before it is called stale. It is always
//! reported (the bot's own startup check breaks on a `.bot_heartbeat` that is not ISO
//! text), counted stale only when its mtime is stale too, and at startup rewritten with the
//! current time (ISO for a plain file) whatever its mtime. How stale a heartbeat was is
//! always reported, never hidden; `watch` (or a running bot) only reports. A heartbeat
//! directory that cannot be reached without crossing an untrusted symlink is reported
//! (UNCHECKED_PATH), never skipped silently.

use super::{scan, unchecked, Bots, Ctx, Phase, Planned};
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Entry, Kind};
use crate::jsondoc;
use crate::paths::RelPath;
use crate::plan::{observe, Effect, HealKind, Observed, Op};
use std::ops::Range;

const TS_KEY: &str = "last_heartbeat_ts";
const DT_KEY: &str = "last_heartbeat_dt";
const DT_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// ISO-8601 as Python's `datetime.isoformat()` writes a naive time with microseconds.
const ISO_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A JSON object with the two timestamp members.
    Json,
    /// A plain file, written in this style.
    Plain(Style),
}

/// How a plain heartbeat writes its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// ISO-8601 text, naive UTC (what the reference bot writes; also the style of a new or
    /// unreadable file).
    Iso,
    /// An integer epoch.
    Epoch,
    /// An epoch with a fraction.
    EpochFraction,
}

/// A heartbeat as read, with its age, whether stale or not (the predictions read these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAge {
    /// The file.
    pub path: RelPath,
    /// The component it stands for.
    pub component: String,
    /// Seconds since its last beat (negative when it lies in the future).
    pub age_s: i64,
}

/// What a heartbeat file says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reading {
    /// The last beat, epoch seconds.
    At(i64),
    /// No usable time in it.
    Unreadable(String),
}

/// What a heartbeat's age means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Fresh (within the clock skew if in the future).
    Fresh,
    /// Older than the stale threshold.
    Stale(i64),
    /// Dated further in the future than the allowed clock skew (seconds ahead).
    Future(i64),
}

/// Plans the reset (or the report) of every stale, future-dated or unreadable heartbeat.
///
/// # Errors
/// I/O errors while listing or reading.
pub fn plan(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let dir = &ctx.layout.heartbeat_dir;
    if reachable_dir(ctx, dir, p)? {
        // Not only regular files: a symlink, FIFO or directory named like a heartbeat is
        // a heartbeat nobody can read, a failed heal like any other (`plan_one`).
        for (rel, _) in scan(ctx.root, dir, ".json", "heartbeat", p)? {
            plan_one(ctx, p, &rel, false)?;
        }
    }
    for rel in &ctx.layout.heartbeat_plain {
        plan_one(ctx, p, rel, true)?;
    }
    Ok(())
}

/// Whether the heartbeat directory can be listed; one that exists but lies behind a
/// symlink selfheal does not trust (or is not a directory) is reported as UNCHECKED_PATH.
fn reachable_dir(ctx: &Ctx<'_>, dir: &RelPath, p: &mut Planned) -> Result<bool> {
    let why = match ctx.root.entry(dir)? {
        Entry::Present(st) if st.kind == Kind::Dir => return Ok(true),
        Entry::Absent => return Ok(false),
        Entry::Present(st) if st.kind == Kind::Symlink => {
            "is a symlink the configuration does not trust (not followed)"
        }
        Entry::Present(_) => "is not a directory",
        Entry::Unreachable => "lies behind a symlink or a non-directory (not followed)",
    };
    unchecked(p, dir.as_str(), &format!("heartbeat directory {dir} {why}"));
    Ok(false)
}

fn plan_one(ctx: &Ctx<'_>, p: &mut Planned, rel: &RelPath, plain: bool) -> Result<()> {
    let before = observe(ctx.root, rel, ctx.layout.max_file_size)?;
    if let Some(why) = &before.untouchable {
        p.fail(
            HealKind::StaleHeartbeat,
            Some(rel.as_str()),
            format!("it {why}"),
        );
        return Ok(());
    }
    if before.stat.is_some_and(|s| s.kind == Kind::Dir) {
        p.fail(
            HealKind::StaleHeartbeat,
            Some(rel.as_str()),
            "it is a directory, not a file",
        );
        return Ok(());
    }
    let (Some(bytes), Some(stat)) = (before.bytes.clone(), before.stat) else {
        return Ok(()); // absent
    };
    let (reading, component, format) = if plain {
        let (reading, style) = read_plain(&bytes);
        (reading, None, Format::Plain(style.unwrap_or(Style::Iso)))
    } else {
        let (reading, component) = read_json(&bytes);
        (reading, component, Format::Json)
    };
    let component = component.unwrap_or_else(|| stem(rel));
    let beat = Beat {
        rel,
        component: &component,
        stale: i64::try_from(ctx.layout.heartbeat_stale.as_secs()).unwrap_or(i64::MAX),
        skew: i64::try_from(ctx.layout.heartbeat_max_skew.as_secs()).unwrap_or(i64::MAX),
        format,
    };
    // An unreadable heartbeat is as old as its mtime says.
    let at = match reading {
        Reading::At(ts) => ts,
        Reading::Unreadable(_) => stat.mtime_sec,
    };
    let age = ctx.now.saturating_sub(at);
    p.heartbeat_ages.push(HeartbeatAge {
        path: rel.clone(),
        component: component.clone(),
        age_s: age,
    });
    let verdict = beat.verdict(age);
    match reading {
        Reading::At(_) if verdict == Verdict::Fresh => {}
        Reading::At(_) => beat.stale(ctx, p, before, verdict),
        Reading::Unreadable(why) => beat.unreadable(ctx, p, before, &why, verdict),
    }
    Ok(())
}

/// One heartbeat that needs attention.
struct Beat<'a> {
    rel: &'a RelPath,
    component: &'a str,
    stale: i64,
    skew: i64,
    format: Format,
}

impl Beat<'_> {
    fn verdict(&self, age: i64) -> Verdict {
        if age > self.stale {
            Verdict::Stale(age)
        } else if age < 0 && age.saturating_neg() > self.skew {
            Verdict::Future(age.saturating_neg())
        } else {
            Verdict::Fresh
        }
    }

    /// How the heartbeat's time is off, in words, and the evidence.
    fn off(&self, verdict: Verdict) -> (String, &'static str) {
        match verdict {
            Verdict::Stale(age) => (
                format!("was {age} s old (stale after {} s)", self.stale),
                "stale",
            ),
            Verdict::Future(ahead) => (
                format!(
                    "is dated {ahead} s in the future (more than the allowed clock skew of {} s: it would look fresh until then)",
                    self.skew
                ),
                "in the future",
            ),
            Verdict::Fresh => (String::new(), "fresh"),
        }
    }

    fn stale(&self, ctx: &Ctx<'_>, p: &mut Planned, before: Observed, verdict: Verdict) {
        let (rel, comp) = (self.rel, self.component);
        let (off, evidence) = self.off(verdict);
        let seen = format!("heartbeat {comp} ({rel}) {off}");
        let age = age_of(verdict);
        if !may_reset(ctx, p) {
            p.stale_heartbeats += 1;
            p.findings.push(finding(
                rel,
                format!("{seen}; not reset {}", kept_because(ctx)),
                evidence,
                age,
            ));
            return;
        }
        p.findings
            .push(finding(rel, format!("{seen}; reset to now"), evidence, age));
        let message = match verdict {
            Verdict::Future(ahead) => {
                format!("Reset future-dated heartbeat: {comp} ({rel}, {ahead} s ahead)")
            }
            _ => format!("Reset stale heartbeat: {comp} ({rel}, stale for {age} s)"),
        };
        p.push(Op {
            heal: HealKind::StaleHeartbeat,
            message,
            reason: format!("heartbeat {off}"),
            path: Some(rel.clone()),
            action: reset(ctx, &before, comp, self.format),
            before,
        });
    }

    fn unreadable(&self, ctx: &Ctx<'_>, p: &mut Planned, b: Observed, why: &str, v: Verdict) {
        let (rel, comp) = (self.rel, self.component);
        let by_mtime = match v {
            Verdict::Fresh => "its mtime is recent, so it is not counted stale".to_string(),
            other => format!("by its mtime it {}", self.off(other).0),
        };
        let seen = format!("heartbeat {comp} ({rel}) is unreadable ({why}); {by_mtime}");
        if !may_reset(ctx, p) {
            if v != Verdict::Fresh {
                p.stale_heartbeats += 1;
            }
            p.findings.push(finding(
                rel,
                format!("{seen}; not rewritten {}", kept_because(ctx)),
                "unreadable",
                age_of(v),
            ));
            return;
        }
        p.findings.push(finding(
            rel,
            format!("{seen}; rewritten with the current time"),
            "unreadable",
            age_of(v),
        ));
        // An unreadable plain heartbeat is rewritten as ISO text, what the bot reads.
        let format = match self.format {
            Format::Plain(_) => Format::Plain(Style::Iso),
            Format::Json => Format::Json,
        };
        p.push(Op {
            heal: HealKind::StaleHeartbeat,
            message: format!("Repaired unreadable heartbeat: {comp} ({rel}: {why})"),
            reason: format!("heartbeat has no usable time: {why}"),
            path: Some(rel.clone()),
            action: reset(ctx, &b, comp, format),
            before: b,
        });
    }
}

/// The age a finding records (negative: in the future).
fn age_of(verdict: Verdict) -> i64 {
    match verdict {
        Verdict::Stale(age) => age,
        Verdict::Future(ahead) => ahead.saturating_neg(),
        Verdict::Fresh => 0,
    }
}

/// Why a heartbeat is left as it is: `watch` only reports; at startup a bot keeps running.
fn kept_because(ctx: &Ctx<'_>) -> &'static str {
    match ctx.phase {
        Phase::Watch => "(watch only reports)",
        Phase::Startup => "while the bot runs",
    }
}

fn may_reset(ctx: &Ctx<'_>, p: &Planned) -> bool {
    ctx.phase == Phase::Startup && p.bots != Bots::Running
}

fn finding(rel: &RelPath, message: String, evidence: &str, age: i64) -> Finding {
    Finding::new(
        code::STALE_HEARTBEAT,
        Level::High,
        Some(rel.as_str()),
        message,
        evidence.to_string(),
    )
    .with_details(serde_json::json!({"file": rel.as_str(), "age_s": age}))
}

/// The component name a file stands for when it does not say: its name without the
/// extension and leading dots (`bot_cycle.json` -> `bot_cycle`, `.bot_heartbeat` ->
/// `bot_heartbeat`).
fn stem(rel: &RelPath) -> String {
    let name = rel.file_name().trim_start_matches('.');
    name.strip_suffix(".json").unwrap_or(name).to_string()
}

fn reset(ctx: &Ctx<'_>, before: &Observed, component: &str, format: Format) -> Effect {
    let old = before.bytes.as_deref().map_or(&[][..], Vec::as_slice);
    let bytes = match format {
        Format::Plain(style) => reset_plain(old, style, now_precise(ctx.now)),
        Format::Json => reset_json(old, component, ctx.now),
    };
    Effect::WriteFile {
        bytes: crate::content::Content::new(bytes),
        mode: before.stat.map_or(0o644, |s| s.mode),
        owner: None,
        mtime: None,
    }
}

/// `now` (epoch seconds) with the current sub-second part.
fn now_precise(now: i64) -> chrono::DateTime<chrono::Utc> {
    let micros = chrono::Utc::now().timestamp_subsec_micros();
    chrono::DateTime::from_timestamp(now, micros.saturating_mul(1000)).unwrap_or_default()
}

/// A plain heartbeat saying `now` in `style`, ending with a newline when `old` did.
fn reset_plain(old: &[u8], style: Style, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let mut text = match style {
        Style::Iso => now.naive_utc().format(ISO_FORMAT).to_string(),
        Style::Epoch => now.timestamp().to_string(),
        Style::EpochFraction => format!("{}.{:06}", now.timestamp(), now.timestamp_subsec_micros()),
    };
    if old.ends_with(b"\n") {
        text.push('\n');
    }
    text.into_bytes()
}

/// The time of a plain heartbeat and the style it is written in (`None`: unreadable).
fn read_plain(bytes: &[u8]) -> (Reading, Option<Style>) {
    let text = String::from_utf8_lossy(bytes);
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return (Reading::At(n), Some(Style::Epoch));
    }
    let numeric = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match t.parse::<f64>() {
        #[allow(clippy::cast_possible_truncation)]
        Ok(f) if numeric && f.is_finite() && f.abs() < 1e15 => {
            (Reading::At(f.floor() as i64), Some(Style::EpochFraction))
        }
        _ => match read_iso(t) {
            Some(ts) => (Reading::At(ts), Some(Style::Iso)),
            None => (
                Reading::Unreadable(format!("neither ISO-8601 text nor an epoch: {:?}", clip(t))),
                None,
            ),
        },
    }
}

/// Epoch seconds of ISO-8601 text: naive (UTC, as the reference bot writes it; `T` or a
/// space between date and time, with or without a fraction) or with `Z` / an offset.
fn read_iso(t: &str) -> Option<i64> {
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(t, format) {
            return Some(naive.and_utc().timestamp());
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(aware) = chrono::DateTime::parse_from_str(t, format) {
            return Some(aware.timestamp());
        }
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp())
}

/// The time and the component of a JSON heartbeat.
fn read_json(bytes: &[u8]) -> (Reading, Option<String>) {
    // Python's NaN/Infinity/-Infinity (the writer's dialect) read as null: a valid
    // heartbeat whose timestamp is one of them has no usable timestamp.
    let doc: serde_json::Value = match serde_json::from_slice(&crate::pyjson::nulled(bytes)) {
        Ok(v) => v,
        Err(e) => return (Reading::Unreadable(format!("not valid JSON: {e}")), None),
    };
    let Some(obj) = doc.as_object() else {
        return (Reading::Unreadable("not a JSON object".into()), None);
    };
    let component = obj
        .get("component")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let ts = obj.get(TS_KEY).and_then(|v| {
        v.as_i64().or_else(|| {
            #[allow(clippy::cast_possible_truncation)]
            v.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        })
    });
    let dt = || {
        let text = obj.get(DT_KEY)?.as_str()?;
        let naive = chrono::NaiveDateTime::parse_from_str(text.trim_end_matches(" UTC"), DT_FORMAT);
        Some(naive.ok()?.and_utc().timestamp())
    };
    let reading = match ts.or_else(dt) {
        Some(t) => Reading::At(t),
        None => Reading::Unreadable(format!("no usable {TS_KEY} or {DT_KEY}")),
    };
    (reading, component)
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// `"YYYY-MM-DD HH:MM:SS UTC"` for `now`.
fn dt_text(now: i64) -> String {
    chrono::DateTime::from_timestamp(now, 0)
        .map(|t| format!("{} UTC", t.format(DT_FORMAT)))
        .unwrap_or_default()
}

/// The heartbeat with both timestamps set to `now`: the old bytes with only the two values
/// replaced (or inserted), or a fresh heartbeat when the old bytes are not a JSON object
/// with at least one member.
fn reset_json(old: &[u8], component: &str, now: i64) -> Vec<u8> {
    let dt = dt_text(now);
    let members = [
        (TS_KEY.to_string(), now.to_string()),
        (
            DT_KEY.to_string(),
            serde_json::Value::from(dt.as_str()).to_string(),
        ),
    ];
    replace_members(old, &members).unwrap_or_else(|| {
        let fresh = serde_json::json!({
            "component": component,
            TS_KEY: now,
            DT_KEY: dt,
            "metadata": {},
        });
        let mut bytes = serde_json::to_vec_pretty(&fresh).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    })
}

/// Replaces the values of the top-level `members` of a JSON object (value given as JSON
/// text), inserting the missing ones at the end; every other byte is kept.
fn replace_members(bytes: &[u8], members: &[(String, String)]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let spans = top_level_spans(text)?;
    if spans.is_empty() {
        return None;
    }
    let mut edits: Vec<(Range<usize>, &str)> = spans
        .iter()
        .filter_map(|(k, r)| {
            let (_, v) = members.iter().find(|(mk, _)| mk == k)?;
            Some((r.clone(), v.as_str()))
        })
        .collect();
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = bytes.to_vec();
    for (r, v) in edits {
        out.get(r.clone())?;
        out.splice(r, v.bytes());
    }
    let missing: Vec<(String, String)> = members
        .iter()
        .filter(|(k, _)| !spans.iter().any(|(sk, _)| sk == k))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Some(out);
    }
    jsondoc::insert_keys(&out, &missing)
}

/// The top-level members of a JSON object text (Python's dialect) with the byte range of
/// each value, or `None` if the text is not exactly one JSON object.
fn top_level_spans(text: &str) -> Option<Vec<(String, Range<usize>)>> {
    crate::pyjson::members(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn json_reset_keeps_every_other_byte() {
        let old = "{\n  \"component\": \"bot_cycle\",\n  \"last_heartbeat_ts\": 1600000000,\n  \"last_heartbeat_dt\": \"2020-09-13 12:26:40 UTC\",\n  \"metadata\": {\"open_positions\": 2, \"x\": [1.50, 2]}\n}\n";
        let out = reset_json(old.as_bytes(), "bot_cycle", NOW);
        let want = old
            .replace("1600000000", "1700000000")
            .replace("2020-09-13 12:26:40 UTC", "2023-11-14 22:13:20 UTC");
        assert_eq!(String::from_utf8_lossy(&out), want);
    }

    #[test]
    fn json_reset_inserts_missing_and_replaces_garbage() {
        let out = reset_json(b"{\"component\":\"a\",\"metadata\":{}}", "a", NOW);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"component\":\"a\",\"metadata\":{},\"last_heartbeat_ts\":1700000000,\"last_heartbeat_dt\":\"2023-11-14 22:13:20 UTC\"}"
        );
        for garbage in [
            &b"\x00\xffzz"[..],
            b"",
            b"[1]",
            b"{}",
            b"{\"a\":1",
            b"{\"a\":1}x",
        ] {
            let out = reset_json(garbage, "comp", NOW);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
            assert_eq!(v["component"], "comp", "input {garbage:?}");
            assert_eq!(v[TS_KEY], NOW);
            assert_eq!(v[DT_KEY], "2023-11-14 22:13:20 UTC");
        }
    }

    /// Python's NaN/Infinity/-Infinity are values: a heartbeat holding them is read and
    /// reset like any other, every other byte kept; a non-finite timestamp is unusable.
    #[test]
    fn python_non_finite_numbers() {
        let old = "{\"component\": \"bot_cycle\", \"last_heartbeat_ts\": 1600000000, \"last_heartbeat_dt\": \"2020-09-13 12:26:40 UTC\", \"metadata\": {\"score\": NaN, \"r\": [-Infinity]}}";
        let (r, c) = read_json(old.as_bytes());
        assert_eq!(
            (r, c.as_deref()),
            (Reading::At(1_600_000_000), Some("bot_cycle"))
        );
        let out = reset_json(old.as_bytes(), "bot_cycle", NOW);
        let want = old
            .replace("1600000000", "1700000000")
            .replace("2020-09-13 12:26:40 UTC", "2023-11-14 22:13:20 UTC");
        assert_eq!(String::from_utf8_lossy(&out), want);
        let (r, _) = read_json(b"{\"last_heartbeat_ts\": NaN}");
        assert!(matches!(r, Reading::Unreadable(_)));
        let (r, _) = read_json(b"{\"last_heartbeat_ts\": Infinity, \"last_heartbeat_dt\": \"2023-11-14 22:13:20 UTC\"}");
        assert_eq!(r, Reading::At(NOW));
    }

    #[test]
    fn plain_readings() {
        type Read = (Reading, Option<Style>);
        let at = |style| (Reading::At(NOW), Some(style));
        let cases: &[(&[u8], Read)] = &[
            (b"1700000000\n", at(Style::Epoch)),
            (b"1700000000.9", at(Style::EpochFraction)),
            (b"2023-11-14T22:13:20.512345", at(Style::Iso)),
            (b"2023-11-14T22:13:20", at(Style::Iso)),
            (b"2023-11-14 22:13:20.5\n", at(Style::Iso)),
            (b"2023-11-14T22:13:20Z", at(Style::Iso)),
            (b"2023-11-14T22:13:20.000001+00:00", at(Style::Iso)),
            (b"2023-11-14T23:13:20+01:00", at(Style::Iso)),
            (b"2023-11-14T15:13:20-0700", at(Style::Iso)),
        ];
        for (bytes, want) in cases {
            assert_eq!(read_plain(bytes), *want, "input {bytes:?}");
        }
        for bad in [
            &b"soon"[..],
            b"",
            b"inf",
            b"NaN",
            b"-1e400",
            b"2023-11-14",
            b"2023-13-14T22:13:20",
            b"\xff\xfe",
            b"2023-11-14T22:13:20 garbage",
        ] {
            let (r, style) = read_plain(bad);
            assert!(
                matches!(r, Reading::Unreadable(_)) && style.is_none(),
                "input {bad:?}"
            );
        }
    }

    #[test]
    fn plain_resets_keep_the_style_found() {
        let now = chrono::DateTime::from_timestamp(NOW, 512_345_000).unwrap_or_default();
        let cases: &[(&[u8], Style, &str)] = &[
            (
                b"2020-01-01T00:00:00.1",
                Style::Iso,
                "2023-11-14T22:13:20.512345",
            ),
            (b"", Style::Iso, "2023-11-14T22:13:20.512345"),
            (b"1600000000\n", Style::Epoch, "1700000000\n"),
            (b"1600000000.25", Style::EpochFraction, "1700000000.512345"),
        ];
        for (old, style, want) in cases {
            let out = reset_plain(old, *style, now);
            assert_eq!(String::from_utf8_lossy(&out), *want, "old {old:?}");
            assert_eq!(read_plain(&out).0, Reading::At(NOW));
        }
        // A whole second still carries six digits of fraction.
        let whole = chrono::DateTime::from_timestamp(NOW, 0).unwrap_or_default();
        assert_eq!(
            reset_plain(b"", Style::Iso, whole),
            b"2023-11-14T22:13:20.000000"
        );
    }

    #[test]
    fn readings() {
        let (r, c) = read_json(b"{\"component\":\"x\",\"last_heartbeat_ts\":1700000000}");
        assert_eq!((r, c.as_deref()), (Reading::At(NOW), Some("x")));
        let (r, _) = read_json(b"{\"last_heartbeat_dt\":\"2023-11-14 22:13:20 UTC\"}");
        assert_eq!(r, Reading::At(NOW));
        let (r, _) = read_json(b"{\"last_heartbeat_ts\":\"x\"}");
        assert!(matches!(r, Reading::Unreadable(_)));
        assert_eq!(
            stem(&RelPath::new("logs/.bot_heartbeat").unwrap_or_else(|e| panic!("{e}"))),
            "bot_heartbeat"
        );
    }
}
