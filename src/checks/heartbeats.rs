//! Stale heartbeats: the JSON heartbeats `*.json` in `heartbeats.json_dir`
//! (`{"component", "last_heartbeat_ts": epoch, "last_heartbeat_dt": "YYYY-MM-DD HH:MM:SS UTC",
//! ...}`) and the plain files of `heartbeats.plain_files` (one integer epoch). One older than
//! `heartbeats.stale_after` is reset to now at startup when no bot keeps running; an
//! unreadable one is rewritten the same way. A JSON heartbeat keeps every byte except the
//! two timestamp values (text substitution; a missing one is inserted), unless it is not a
//! JSON object at all, when a fresh heartbeat is written. How stale it was is always
//! reported as a finding, never hidden; `watch` (or a running bot) only reports.

use super::{listable_dir, scan, Bots, Ctx, Phase, Planned};
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::jsondoc;
use crate::paths::RelPath;
use crate::plan::{observe, Action, Observed, Op};
use std::ops::Range;

const TS_KEY: &str = "last_heartbeat_ts";
const DT_KEY: &str = "last_heartbeat_dt";
const DT_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A JSON object with the two timestamp members.
    Json,
    /// One integer epoch.
    Plain,
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

/// Plans the reset (or the report) of every stale or unreadable heartbeat.
///
/// # Errors
/// I/O errors while listing or reading.
pub fn plan(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let dir = &ctx.layout.heartbeat_dir;
    if listable_dir(ctx.root, dir)? {
        // Not only regular files: a symlink, FIFO or directory named like a heartbeat is
        // a heartbeat nobody can read, a failed heal like any other (`plan_one`).
        for (rel, _) in scan(ctx.root, dir, ".json", "heartbeat", p)? {
            plan_one(ctx, p, &rel, Format::Json)?;
        }
    }
    for rel in &ctx.layout.heartbeat_plain {
        plan_one(ctx, p, rel, Format::Plain)?;
    }
    Ok(())
}

fn plan_one(ctx: &Ctx<'_>, p: &mut Planned, rel: &RelPath, format: Format) -> Result<()> {
    let before = observe(ctx.root, rel, ctx.layout.max_file_size)?;
    if let Some(why) = &before.untouchable {
        p.fail("stale_heartbeat", Some(rel.as_str()), format!("it {why}"));
        return Ok(());
    }
    if before.stat.is_some_and(|s| s.kind == crate::fsx::Kind::Dir) {
        p.fail(
            "stale_heartbeat",
            Some(rel.as_str()),
            "it is a directory, not a file",
        );
        return Ok(());
    }
    let Some(bytes) = before.bytes.clone() else {
        return Ok(()); // absent
    };
    let (reading, component) = match format {
        Format::Json => read_json(&bytes),
        Format::Plain => (read_plain(&bytes), None),
    };
    let component = component.unwrap_or_else(|| stem(rel));
    let stale = i64::try_from(ctx.layout.heartbeat_stale.as_secs()).unwrap_or(i64::MAX);
    let beat = Beat {
        rel,
        component: &component,
        stale,
    };
    if let Reading::At(ts) = reading {
        p.heartbeat_ages.push(HeartbeatAge {
            path: rel.clone(),
            component: component.clone(),
            age_s: ctx.now.saturating_sub(ts),
        });
    }
    match reading {
        Reading::At(ts) if ctx.now.saturating_sub(ts) <= stale => {}
        Reading::At(ts) => beat.stale(ctx, p, before, ctx.now.saturating_sub(ts), format),
        Reading::Unreadable(why) => beat.unreadable(ctx, p, before, &why, format),
    }
    Ok(())
}

/// One heartbeat that needs attention.
struct Beat<'a> {
    rel: &'a RelPath,
    component: &'a str,
    stale: i64,
}

impl Beat<'_> {
    fn stale(&self, ctx: &Ctx<'_>, p: &mut Planned, before: Observed, age: i64, format: Format) {
        let (rel, comp) = (self.rel, self.component);
        let seen = format!(
            "heartbeat {comp} ({rel}) was {age} s old (stale after {} s)",
            self.stale
        );
        if !may_reset(ctx, p) {
            p.stale_heartbeats += 1;
            p.findings.push(finding(
                rel,
                format!("{seen}; not reset {}", kept_because(ctx)),
                "stale",
                age,
            ));
            return;
        }
        p.findings
            .push(finding(rel, format!("{seen}; reset to now"), "stale", age));
        p.push(Op {
            heal: "stale_heartbeat",
            message: format!("Reset stale heartbeat: {comp} ({rel}, stale for {age} s)"),
            reason: format!("heartbeat is {age} s old (stale after {} s)", self.stale),
            path: Some(rel.clone()),
            action: reset(ctx, &before, comp, format),
            before,
        });
    }

    fn unreadable(&self, ctx: &Ctx<'_>, p: &mut Planned, before: Observed, why: &str, f: Format) {
        let (rel, comp) = (self.rel, self.component);
        let seen = format!("heartbeat {comp} ({rel}) is unreadable ({why})");
        if !may_reset(ctx, p) {
            p.stale_heartbeats += 1;
            p.findings.push(finding(
                rel,
                format!("{seen}; not rewritten {}", kept_because(ctx)),
                "unreadable",
                0,
            ));
            return;
        }
        p.findings.push(finding(
            rel,
            format!("{seen}; rewritten with the current time"),
            "unreadable",
            0,
        ));
        p.push(Op {
            heal: "stale_heartbeat",
            message: format!("Repaired unreadable heartbeat: {comp} ({rel}: {why})"),
            reason: format!("heartbeat has no usable time: {why}"),
            path: Some(rel.clone()),
            action: reset(ctx, &before, comp, f),
            before,
        });
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

fn reset(ctx: &Ctx<'_>, before: &Observed, component: &str, format: Format) -> Action {
    let old = before.bytes.as_deref().map_or(&[][..], Vec::as_slice);
    let bytes = match format {
        Format::Plain => format!("{}\n", ctx.now).into_bytes(),
        Format::Json => reset_json(old, component, ctx.now),
    };
    Action::WriteFile {
        bytes: crate::content::Content::new(bytes),
        mode: before.stat.map_or(0o644, |s| s.mode),
        owner: None,
        mtime: None,
    }
}

fn read_plain(bytes: &[u8]) -> Reading {
    let text = String::from_utf8_lossy(bytes);
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Reading::At(n);
    }
    match t.parse::<f64>() {
        #[allow(clippy::cast_possible_truncation)]
        Ok(f) if f.is_finite() && f.abs() < 1e15 => Reading::At(f.floor() as i64),
        _ => Reading::Unreadable(format!("not an integer epoch: {:?}", clip(t))),
    }
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
    fn readings() {
        assert_eq!(read_plain(b"1700000000\n"), Reading::At(NOW));
        assert_eq!(read_plain(b"1700000000.9"), Reading::At(NOW));
        assert!(matches!(read_plain(b"soon"), Reading::Unreadable(_)));
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
