//! Checks a parsed [`Config`] item by item and converts it into a [`Layout`]. Every refusal
//! is an [`Error::Config`] that names the file and the dotted key (`files[0].mode`) and
//! says what is wrong; nothing is silently corrected.

use super::{
    parse_duration, parse_permissions, parse_size, Config, File, FileRole, Layout, ManagedFile,
};
use crate::error::{Error, Result};
use crate::paths::RelPath;
use crate::paths::BACKUPS_DIR;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest grace period between SIGTERM and SIGKILL: a heal must not hang for long.
const MAX_GRACE: Duration = Duration::from_secs(3600);

/// The longest wait for a bot's lock: a heal must not hang for long.
const MAX_BOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Builds [`Error::Config`]s for one file.
struct Checker {
    file: PathBuf,
}

impl Checker {
    fn bad(&self, key: &str, why: impl Into<String>) -> Error {
        Error::Config {
            file: self.file.clone(),
            key: key.to_string(),
            why: why.into(),
        }
    }

    fn rel(&self, key: &str, p: &str) -> Result<RelPath> {
        RelPath::new(p).map_err(|e| match e {
            Error::Refused(why) => self.bad(key, why),
            e => self.bad(key, e.to_string()),
        })
    }

    /// A relative path that must not lie inside selfheal's own `logs/backups/`.
    fn state_rel(&self, key: &str, p: &str) -> Result<RelPath> {
        let rel = self.rel(key, p)?;
        if rel.starts_with(&RelPath::new(BACKUPS_DIR)?) {
            return Err(self.bad(key, format!("{p:?} is inside selfheal's {BACKUPS_DIR}/")));
        }
        Ok(rel)
    }

    fn dur(&self, key: &str, v: &str) -> Result<Duration> {
        parse_duration(v).map_err(|why| self.bad(key, why))
    }

    fn positive_dur(&self, key: &str, v: &str) -> Result<Duration> {
        let d = self.dur(key, v)?;
        if d.is_zero() {
            return Err(self.bad(key, "must be greater than zero"));
        }
        Ok(d)
    }

    /// An octal mode without the bits selfheal would remove again (`strip`).
    fn mode(&self, key: &str, v: &str, strip: u32) -> Result<u32> {
        let m = parse_permissions(v).map_err(|why| self.bad(key, why))?;
        if m & strip != 0 {
            return Err(self.bad(
                key,
                format!(
                    "{v:?} grants bits {:03o} that selfheal removes as insecure",
                    m & strip
                ),
            ));
        }
        Ok(m)
    }
}

/// Checks and converts `config`, then the layout as a whole (`claims`); `config_file` is the
/// configuration file's path when it lies inside the root.
pub(super) fn layout(
    config: Config,
    source: Option<PathBuf>,
    config_file: Option<RelPath>,
) -> Result<Layout> {
    let c = Checker {
        file: source
            .clone()
            .unwrap_or_else(|| PathBuf::from("<embedded default>")),
    };
    let directories = directories(&c, &config)?;
    let files = files(&c, &config.files)?;
    positions(&c, &config)?;
    processes(&c, &config)?;
    detectors(&c, &config)?;
    dotenv_fallbacks(&c, &config)?;
    locks(&c, &config)?;
    slots(&c, &config)?;
    retention(&c, &config)?;
    watch(&c, &config)?;
    let h = &config.heartbeats;
    let mut layout = Layout {
        heartbeat_dir: c.state_rel("heartbeats.json_dir", &h.json_dir)?,
        heartbeat_plain: rel_list(&c, "heartbeats.plain_files", &h.plain_files)?,
        heartbeat_stale: c.positive_dur("heartbeats.stale_after", &h.stale_after)?,
        heartbeat_max_skew: c.dur("heartbeats.max_clock_skew", &h.max_clock_skew)?,
        lock_dirs: rel_list(&c, "locks.dirs", &config.locks.dirs)?,
        lock_stale: c.positive_dur("locks.stale_after", &config.locks.stale_after)?,
        lock_bot_timeout: bot_timeout(&c, &config.locks.bot_timeout)?,
        process_min_age: c.dur("processes.min_age", &config.processes.min_age)?,
        process_grace: grace(&c, &config.processes.grace)?,
        retention_older_than: c.dur("retention.older_than", &config.retention.older_than)?,
        retention_warn_size: size(&c, "retention.warn_size", &config.retention.warn_size)?,
        max_file_size: size(&c, "limits.max_file_size", &config.limits.max_file_size)?,
        alerts_file: c.state_rel("alerts.file", &config.alerts.file)?,
        alerts_dedupe: c.dur("alerts.dedupe_window", &config.alerts.dedupe_window)?,
        trusted: trusted(&c, &config)?,
        directories,
        files,
        journal_key: key_path(&c, &config, source.as_deref())?,
        source,
        config,
    };
    super::claims::check(&mut layout, config_file).map_err(|(key, why)| c.bad(&key, why))?;
    Ok(layout)
}

/// `journal_key_file`, a relative one resolved against the directory of the configuration
/// file that names it (never against the working directory).
fn key_path(c: &Checker, config: &Config, source: Option<&Path>) -> Result<Option<PathBuf>> {
    let Some(key) = &config.journal_key_file else {
        return Ok(None);
    };
    if key.as_os_str().is_empty() {
        return Err(c.bad("journal_key_file", "must not be empty"));
    }
    if key.is_absolute() {
        return Ok(Some(key.clone()));
    }
    match source.and_then(Path::parent) {
        Some(dir) => Ok(Some(dir.join(key))),
        None => Err(c.bad(
            "journal_key_file",
            format!(
                "{} is relative, and there is no configuration file to resolve it against: give an absolute path",
                key.display()
            ),
        )),
    }
}

fn rel_list(c: &Checker, key: &str, items: &[String]) -> Result<Vec<RelPath>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let k = format!("{key}[{i}]");
        let rel = c.state_rel(&k, p)?;
        if !seen.insert(rel.clone()) {
            return Err(c.bad(&k, format!("{p:?} is listed twice")));
        }
        out.push(rel);
    }
    Ok(out)
}

fn size(c: &Checker, key: &str, v: &str) -> Result<u64> {
    match parse_size(v) {
        Ok(0) => Err(c.bad(key, "must be greater than zero")),
        Ok(n) => Ok(n),
        Err(why) => Err(c.bad(key, why)),
    }
}

/// The bot's lock timeout: at most [`MAX_BOT_TIMEOUT`] (a heal waits this long at most).
fn bot_timeout(c: &Checker, v: &str) -> Result<Duration> {
    let d = c.dur("locks.bot_timeout", v)?;
    if d > MAX_BOT_TIMEOUT {
        return Err(c.bad("locks.bot_timeout", "must be at most 10m"));
    }
    Ok(d)
}

fn grace(c: &Checker, v: &str) -> Result<Duration> {
    let d = c.dur("processes.grace", v)?;
    if d > MAX_GRACE {
        return Err(c.bad("processes.grace", "must be at most 1h"));
    }
    Ok(d)
}

fn directories(c: &Checker, config: &Config) -> Result<Vec<(RelPath, u32)>> {
    let backups = RelPath::new(BACKUPS_DIR)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, d) in config.directories.iter().enumerate() {
        let key = format!("directories[{i}]");
        let path = c.rel(&format!("{key}.path"), &d.path)?;
        // `logs/backups/` itself is shared with the bot (its own rolling backups live
        // there); only what lies below it is selfheal's, owner-only.
        let strip = if path.starts_with(&backups) && path != backups {
            0o077
        } else {
            0o022
        };
        let mode = c.mode(&format!("{key}.mode"), &d.mode, strip)?;
        if !seen.insert(path.clone()) {
            return Err(c.bad(
                &format!("{key}.path"),
                format!("{} is listed twice", d.path),
            ));
        }
        out.push((path, mode));
    }
    Ok(out)
}

fn files(c: &Checker, specs: &[ManagedFile]) -> Result<Vec<File>> {
    let mut out: Vec<File> = Vec::new();
    for (i, f) in specs.iter().enumerate() {
        let key = format!("files[{i}]");
        let file = check_file(c, f, &key)?;
        if out.iter().any(|o| o.path == file.path) {
            return Err(c.bad(
                &format!("{key}.path"),
                format!("{} is listed twice", f.path),
            ));
        }
        let unique_role = matches!(
            f.role,
            FileRole::Positions | FileRole::Portfolio | FileRole::Trades
        );
        if unique_role && out.iter().any(|o| o.role == f.role) {
            return Err(c.bad(&format!("{key}.role"), "only one file may have this role"));
        }
        out.push(file);
    }
    Ok(out)
}

fn check_file(c: &Checker, f: &ManagedFile, key: &str) -> Result<File> {
    let path = c.state_rel(&format!("{key}.path"), &f.path)?;
    let Value::Object(default) = &f.default else {
        return Err(c.bad(&format!("{key}.default"), "must be a JSON object"));
    };
    let mut required = Vec::new();
    for (k, v) in &f.required_keys {
        let rk = format!("{key}.required_keys.{k}");
        if !default.contains_key(k) {
            return Err(c.bad(&rk, "a required key must also be in the default document"));
        }
        let text = serde_json::to_string(v).map_err(|e| c.bad(&rk, e.to_string()))?;
        required.push((k.clone(), text));
    }
    record_arrays(c, f, key, default)?;
    let mut default_bytes = serde_json::to_vec_pretty(&f.default)
        .map_err(|e| c.bad(&format!("{key}.default"), e.to_string()))?;
    default_bytes.push(b'\n');
    Ok(File {
        mode: c.mode(&format!("{key}.mode"), &f.mode, 0o022)?,
        path,
        role: f.role,
        required,
        default_bytes,
        record_arrays: f.record_arrays.clone(),
    })
}

fn record_arrays(
    c: &Checker,
    f: &ManagedFile,
    key: &str,
    default: &serde_json::Map<String, Value>,
) -> Result<()> {
    for (i, a) in f.record_arrays.iter().enumerate() {
        if !matches!(default.get(a), Some(Value::Array(_))) {
            return Err(c.bad(
                &format!("{key}.record_arrays[{i}]"),
                format!("{a:?} must be an array in the default document"),
            ));
        }
    }
    let needed: &[&str] = match f.role {
        FileRole::Positions => &["open_positions", "closed_positions"],
        FileRole::Trades => &["trades"],
        FileRole::Portfolio | FileRole::Json => &[],
    };
    for k in needed {
        if !f.record_arrays.iter().any(|a| a == k) {
            return Err(c.bad(
                &format!("{key}.record_arrays"),
                format!("a {} file needs {k:?}", role_name(f.role)),
            ));
        }
    }
    Ok(())
}

fn role_name(role: FileRole) -> &'static str {
    match role {
        FileRole::Positions => "positions",
        FileRole::Portfolio => "portfolio",
        FileRole::Trades => "trades",
        FileRole::Json => "json",
    }
}

fn positions(c: &Checker, config: &Config) -> Result<()> {
    let p = &config.positions;
    if p.identity.is_empty() {
        return Err(c.bad("positions.identity", "must name at least one field"));
    }
    let mut seen = BTreeSet::new();
    for (i, f) in p.identity.iter().enumerate() {
        let key = format!("positions.identity[{i}]");
        if f.trim().is_empty() {
            return Err(c.bad(&key, "must not be empty"));
        }
        if !seen.insert(f) {
            return Err(c.bad(&key, format!("{f:?} is listed twice")));
        }
    }
    let tol = p.margin_tolerance;
    if !tol.is_finite() || tol < 0.0 {
        return Err(c.bad(
            "positions.margin_tolerance",
            format!("{tol} is not a finite number >= 0"),
        ));
    }
    Ok(())
}

fn processes(c: &Checker, config: &Config) -> Result<()> {
    let p = &config.processes;
    if p.interpreters.is_empty() {
        return Err(c.bad(
            "processes.interpreters",
            "must name at least one interpreter",
        ));
    }
    for (i, name) in p.interpreters.iter().enumerate() {
        file_name(c, &format!("processes.interpreters[{i}]"), name)?;
    }
    file_name(c, "processes.script", &p.script)
}

/// A plain file name: not empty, no `/`, no NUL, not `.` or `..`.
fn file_name(c: &Checker, key: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
        return Err(c.bad(key, format!("{name:?} is not a file name")));
    }
    Ok(())
}

/// Why each non-configurable critical stays critical.
const FIXED: &[(&str, &str)] = &[
    (
        "DATA_INTEGRITY",
        "it stops the bot from resetting a damaged or vanished positions file",
    ),
    (
        "DUPLICATE_INSTANCE",
        "two bots writing the same files lose each other's positions",
    ),
    (
        "LOCK_HELD",
        "a held lock makes the bot read an empty state and save it over the positions",
    ),
    (
        "JOURNAL_INTEGRITY",
        "an untrusted journal or backup could restore the wrong bytes",
    ),
];

/// Fallback `.env` files are outside the root by nature and only read: each must be an
/// absolute path (a relative one would depend on the directory selfheal was started in).
fn dotenv_fallbacks(c: &Checker, config: &Config) -> Result<()> {
    let list = &config.trading_mode.dotenv_fallbacks;
    match list.iter().enumerate().find(|(_, p)| !p.is_absolute()) {
        Some((i, p)) => Err(c.bad(
            &format!("trading_mode.dotenv_fallbacks[{i}]"),
            format!("{} is not an absolute path", p.display()),
        )),
        None => Ok(()),
    }
}

fn detectors(c: &Checker, config: &Config) -> Result<()> {
    let d = &config.detectors;
    let given = [
        d.data_integrity.is_some(),
        d.duplicate_instance.is_some(),
        d.lock_held.is_some(),
        d.journal_integrity.is_some(),
    ];
    match FIXED.iter().zip(given).find(|(_, g)| *g) {
        Some(((code, why), _)) => Err(c.bad(
            &format!("detectors.{code}"),
            format!("{code} cannot be configured: it is always critical, because {why}"),
        )),
        None => Ok(()),
    }
}

/// A lock suffix names lock files only: never a JSON state file (`*.json`, `*.jsonl`),
/// whatever the directory. That it matches no other claimed path in the lock directories
/// is checked with the whole layout (`claims`).
fn locks(c: &Checker, config: &Config) -> Result<()> {
    let s = &config.locks.suffix;
    if s.is_empty() || s.contains('/') || s.chars().any(char::is_control) {
        return Err(c.bad("locks.suffix", format!("{s:?} is not a file name suffix")));
    }
    let json_like = [".json", ".jsonl"]
        .iter()
        .find(|ext| ext.ends_with(s.as_str()) || s.ends_with(*ext));
    if let Some(ext) = json_like {
        return Err(c.bad(
            "locks.suffix",
            format!("{s:?} would match JSON state files (*{ext}): they would be taken for lock files and removed when stale"),
        ));
    }
    Ok(())
}

fn slots(c: &Checker, config: &Config) -> Result<()> {
    let absolute = |key: &str, p: &Path| {
        if p.is_absolute() {
            Ok(())
        } else {
            Err(c.bad(key, format!("{} must be an absolute path", p.display())))
        }
    };
    if let Some(link) = &config.slots.current_link {
        absolute("slots.current_link", link)?;
    }
    for (i, k) in config.slots.known.iter().enumerate() {
        absolute(&format!("slots.known[{i}]"), k)?;
    }
    let suffixes = &config.slots.suffixes;
    if suffixes.is_empty() {
        return Err(c.bad("slots.suffixes", "must name at least one suffix"));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in suffixes.iter().enumerate() {
        let key = format!("slots.suffixes[{i}]");
        file_name(c, &key, s)?;
        if s == "current" {
            return Err(c.bad(&key, "\"current\" names the link, not a slot"));
        }
        if !seen.insert(s) {
            return Err(c.bad(&key, format!("{s:?} is listed twice")));
        }
    }
    Ok(())
}

fn retention(c: &Checker, config: &Config) -> Result<()> {
    let r = &config.retention;
    if r.keep == 0 {
        return Err(c.bad("retention.keep", "must keep at least 1 transaction"));
    }
    if r.max_transactions < r.keep {
        return Err(c.bad(
            "retention.max_transactions",
            format!("must be at least retention.keep ({})", r.keep),
        ));
    }
    if r.max_transactions > journal_format::MAX_TXN {
        return Err(c.bad(
            "retention.max_transactions",
            format!("must be at most {}", journal_format::MAX_TXN),
        ));
    }
    Ok(())
}

fn watch(c: &Checker, config: &Config) -> Result<()> {
    if config.watch.full_check_every == 0 {
        return Err(c.bad(
            "watch.full_check_every",
            "must be at least 1 (1 reads every file every cycle)",
        ));
    }
    Ok(())
}

fn trusted(c: &Checker, config: &Config) -> Result<Vec<(RelPath, PathBuf)>> {
    let mut out: Vec<(RelPath, PathBuf)> = Vec::new();
    for (i, t) in config.trusted_symlinks.iter().enumerate() {
        let key = format!("trusted_symlinks[{i}]");
        let link = c.state_rel(&format!("{key}.link"), &t.link)?;
        if out.iter().any(|(l, _)| *l == link) {
            return Err(c.bad(&format!("{key}.link"), format!("{link} is listed twice")));
        }
        let tk = format!("{key}.target");
        if !t.target.is_absolute() {
            return Err(c.bad(&tk, "must be an absolute path"));
        }
        let target = std::fs::canonicalize(&t.target)
            .map_err(|e| c.bad(&tk, format!("cannot resolve {}: {e}", t.target.display())))?;
        if !target.is_dir() {
            return Err(c.bad(&tk, format!("{} is not a directory", target.display())));
        }
        out.push((link, target));
    }
    Ok(out)
}
