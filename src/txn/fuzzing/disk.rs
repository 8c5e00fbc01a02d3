//! The engine fuzz target's side of the disk: its scratch directory, snapshots of a root
//! (what the model compares), copies of a root (where rollbacks are tried), the seed state
//! root, and everything the bot or an operator does to the state between commands. These
//! are test artefacts and the outside world selfheal shares the root with, so they use
//! `std::fs` directly, never `fsx`.

#![allow(clippy::disallowed_methods)]

use super::script::{Damage, Seed, DIRS, FILES, LOCKS, MODES};
use crate::fsx::TMP_PREFIX;
use crate::paths::BACKUPS_DIR;
use crate::salvage::fuzzing::{render, Layout, Rec};
use crate::store::sha256;
use journal_format::Digest;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The alert log: selfheal appends to it outside transactions, so only its mode is state.
pub const ALERT_LOG: &str = "logs/operator_alerts.jsonl";

/// What a path of the state is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File {
        /// SHA-256 of its bytes.
        sha: Digest,
        /// Its length.
        size: u64,
        /// Permission bits.
        mode: u32,
    },
    /// The alert log: appended to outside transactions, so its content is not compared
    /// ([`same`]), only kept for recovery's decisions.
    Log {
        /// SHA-256 of its bytes.
        sha: Digest,
        /// Its length.
        size: u64,
        /// Permission bits.
        mode: u32,
    },
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// Anything else (a symlink, a FIFO).
    Other,
}

/// The state of a root: every path but selfheal's own trees and temp files.
pub type Tree = BTreeMap<String, Node>;

/// Whether two states of a path are the same, as the model compares them (the alert log
/// by its mode alone).
pub fn same(a: Option<&Node>, b: Option<&Node>) -> bool {
    match (a, b) {
        (Some(Node::Log { mode: x, .. }), Some(Node::Log { mode: y, .. })) => x == y,
        _ => a == b,
    }
}

/// The journal's node for a state, `None` for what no operation can act on.
pub fn journal_node(n: Option<&Node>) -> Option<journal_format::Node> {
    use journal_format::{Node as J, Perms};
    Some(match n {
        None => J::Absent,
        Some(Node::File { sha, size, mode } | Node::Log { sha, size, mode }) => J::File {
            sha256: *sha,
            size: *size,
            mode: Perms(*mode),
        },
        Some(Node::Dir { mode }) => J::Dir { mode: Perms(*mode) },
        Some(Node::Other) => return None,
    })
}

/// A scratch directory, removed when dropped.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// A new scratch directory, in memory (`/dev/shm`) where there is one.
    ///
    /// # Errors
    /// When none can be created.
    pub fn new() -> Result<Scratch, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let name = format!(
            "selfheal-engine-fuzz.{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = base.join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("scratch {}: {e}", dir.display()))?;
        Ok(Scratch { dir })
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    /// Removes the directory, unless `SELFHEAL_ENGINE_FUZZ_KEEP` is set (to look at a
    /// finding's root and journal; the path is printed).
    fn drop(&mut self) {
        if std::env::var_os("SELFHEAL_ENGINE_FUZZ_KEEP").is_some() {
            eprintln!("engine fuzz: kept {}", self.dir.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Writes a file of the scratch directory (the configuration).
///
/// # Errors
/// The failure, in words.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
}

/// Creates the empty directory `path`, removing what was there.
///
/// # Errors
/// The failure, in words.
pub fn fresh_dir(path: &Path) -> Result<(), String> {
    remove_tree(path);
    fs::create_dir(path).map_err(|e| format!("mkdir {}: {e}", path.display()))
}

/// Removes the tree `path`, if there is one.
pub fn remove_tree(path: &Path) {
    let _ = fs::remove_dir_all(path);
}

/// Whether `rel` is in one of selfheal's own trees under `logs/backups/`: never state.
fn own(rel: &str) -> bool {
    crate::paths::OWN_DIRS
        .iter()
        .any(|o| rel == *o || rel.strip_prefix(o).is_some_and(|r| r.starts_with('/')))
}

/// The state of `root`, and the temp files selfheal left in it (anywhere).
pub fn snapshot(root: &Path) -> (Tree, Vec<String>) {
    let mut tree = Tree::new();
    let mut temps = Vec::new();
    walk(root, "", &mut |rel, meta, path| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if name.starts_with(TMP_PREFIX) {
            temps.push(rel.to_string());
            return false;
        }
        if own(rel) {
            return false;
        }
        let mode = meta.mode() & 0o7777;
        let node = if meta.file_type().is_dir() {
            Node::Dir { mode }
        } else if !meta.file_type().is_file() {
            Node::Other
        } else {
            let bytes = fs::read(path).unwrap_or_default();
            let (sha, size) = (sha256(&bytes), bytes.len() as u64);
            if rel == ALERT_LOG {
                Node::Log { sha, size, mode }
            } else {
                Node::File { sha, size, mode }
            }
        };
        tree.insert(rel.to_string(), node);
        true
    });
    (tree, temps)
}

/// Everything under `root`, with content, mode and mtime, for a command that must write
/// nothing at all.
pub fn exact(root: &Path) -> BTreeMap<String, (Option<Digest>, u32, i64, i64)> {
    let mut out = BTreeMap::new();
    walk(root, "", &mut |rel, meta, path| {
        let sha = meta
            .file_type()
            .is_file()
            .then(|| sha256(&fs::read(path).unwrap_or_default()));
        let mtime = if meta.file_type().is_dir() {
            (0, 0)
        } else {
            (meta.mtime(), meta.mtime_nsec())
        };
        out.insert(rel.to_string(), (sha, meta.mode(), mtime.0, mtime.1));
        true
    });
    out
}

/// Calls `f` for every entry under `dir` (relative path, metadata, full path), descending
/// into directories for which `f` returns true (never through a symlink).
pub fn walk(dir: &Path, prefix: &str, f: &mut dyn FnMut(&str, &fs::Metadata, &Path) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if f(&rel, &meta, &path) && meta.file_type().is_dir() {
            walk(&path, &rel, f);
        }
    }
}

/// Copies the tree `from` to `to` (which must not exist): files with their bytes and
/// modes, directories with their modes; anything else is left out.
///
/// # Errors
/// The first failure, in words.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let err = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    fs::create_dir(to).map_err(|e| err("mkdir", to, e))?;
    let mut dirs = vec![(to.to_path_buf(), fs::metadata(from).map(|m| m.mode()))];
    let mut failed = None;
    walk(from, "", &mut |rel, meta, path| {
        let target = to.join(rel);
        let r = if meta.file_type().is_dir() {
            dirs.push((target.clone(), Ok(meta.mode())));
            fs::create_dir(&target).map_err(|e| err("mkdir", &target, e))
        } else if meta.file_type().is_file() {
            fs::copy(path, &target)
                .map(drop)
                .map_err(|e| err("copy", &target, e))
        } else {
            Ok(())
        };
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
        true
    });
    if let Some(e) = failed {
        return Err(e);
    }
    for (dir, mode) in dirs {
        let mode = mode.map_err(|e| err("stat", &dir, e))?;
        set_mode(&dir, mode & 0o7777)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn set_mtime(path: &Path, ago: Duration) {
    if let Ok(f) = fs::File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now() - ago);
    }
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Writes `bytes` to `root/rel` with `mode`, creating its directory.
fn put(root: &Path, rel: &str, bytes: &[u8], mode: u32) -> Result<(), String> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    fs::write(&path, bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
    set_mode(&path, mode)
}

/// A positions file with `open` and `closed` records.
pub fn positions(open: u8, closed: u8, layout: u8, salt: u8) -> Vec<u8> {
    let rec = |id: u32| Rec {
        id,
        symbol: salt.wrapping_add(u8::try_from(id % 256).unwrap_or(0)),
        price: salt.rotate_left(id % 8),
        size: salt ^ u8::try_from(id % 256).unwrap_or(0),
        leverage: 3,
        // No trailing-comma layouts or BOMs here: the bot writes plain JSON.
        extras: salt & 0x1f,
    };
    let open: Vec<Rec> = (0..u32::from(open)).map(rec).collect();
    let closed: Vec<Rec> = (100..100 + u32::from(closed)).map(rec).collect();
    let layout = Layout {
        pretty: layout & 1 == 0,
        crlf: false,
        trailing_commas: false,
        bom: false,
        created_first: layout & 16 != 0,
    };
    render(&open, &closed, layout).bytes
}

fn portfolio(salt: u8) -> Vec<u8> {
    let v = serde_json::json!({
        "total_margin_allocated": 6000.0,
        "available_margin": 6000.0 - f64::from(salt),
        "used_margin": f64::from(salt),
        "unrealized_pnl": 0.0,
        "realized_pnl": f64::from(salt) / 4.0,
        "total_funding_fees": 0.0,
        "total_trading_fees": 0.5,
        "open_positions_count": 0,
        "total_notional_exposure": 0.0,
        "effective_leverage": 0.0,
        "snapshots": [],
        "created_at": "2026-01-01T00:00:00",
    });
    serde_json::to_vec_pretty(&v).unwrap_or_default()
}

fn heartbeat_json(ts: i64) -> Vec<u8> {
    let dt = chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let v = serde_json::json!({
        "component": "engine",
        "last_heartbeat_ts": ts,
        "last_heartbeat_dt": dt,
        "metadata": {"cycle": ts % 97},
    });
    serde_json::to_vec_pretty(&v).unwrap_or_default()
}

/// The content the bot writes to `FILES[file]`.
fn bot_content(file: usize, salt: u8) -> Vec<u8> {
    match FILES.get(file).copied().unwrap_or_default() {
        "logs/positions_futures.json" => positions(salt % 5, salt / 64, salt, salt),
        "logs/portfolio_futures.json" | "logs/backups/portfolio_futures_1.json" => portfolio(salt),
        "logs/.bot_heartbeat" => format!("{}\n", now_s()).into_bytes(),
        "state/heartbeats/engine.json" => heartbeat_json(now_s()),
        "logs/trades_futures.json" => {
            format!("{{\"trades\": [], \"total_trades_count\": {salt}}}").into_bytes()
        }
        _ => format!("{{\"weights\": [{salt}, 1.5]}}").into_bytes(),
    }
}

/// Creates the seed state root at `root`.
///
/// # Errors
/// The first failure, in words.
pub fn seed(root: &Path, s: &Seed) -> Result<(), String> {
    for dir in DIRS {
        if *dir == "data" && s.flags & 16 != 0 {
            continue;
        }
        let p = root.join(dir);
        fs::create_dir_all(&p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        set_mode(&p, 0o755)?;
    }
    let pos_mode = if s.flags & 8 != 0 { 0o666 } else { 0o600 };
    let bytes = positions(s.open, s.closed, s.layout, s.salt);
    put(root, FILES[0], &bytes, pos_mode)?;
    if s.flags & 64 == 0 {
        put(root, FILES[1], &portfolio(s.salt), 0o644)?;
    }
    let stale = if s.flags & 1 != 0 { 86_400 } else { 0 };
    put(
        root,
        FILES[2],
        format!("{}\n", now_s() - stale).as_bytes(),
        0o644,
    )?;
    if s.flags & 2 != 0 {
        put(root, FILES[3], &heartbeat_json(now_s() - 7200), 0o644)?;
    }
    if s.flags & 4 != 0 {
        put(root, LOCKS[2], b"", 0o644)?;
        set_mtime(&root.join(LOCKS[2]), Duration::from_secs(7200));
    }
    if s.flags & 32 != 0 {
        fs::create_dir_all(root.join(BACKUPS_DIR)).map_err(|e| e.to_string())?;
        set_mode(&root.join(BACKUPS_DIR), 0o755)?;
        put(root, FILES[6], &portfolio(s.salt ^ 1), 0o644)?;
    }
    if s.flags & 128 != 0 {
        put(root, FILES[5], &bot_content(5, s.salt), 0o644)?;
    }
    Ok(())
}

/// Whether `rel` names a regular file under `root` (not through a symlink).
fn is_file(root: &Path, rel: &str) -> bool {
    fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_file())
}

/// The bytes of the regular file `rel`, if it is one.
fn read_file(root: &Path, rel: &str) -> Option<Vec<u8>> {
    is_file(root, rel)
        .then(|| fs::read(root.join(rel)).ok())
        .flatten()
}

/// Applies `d` to `root` (`bot_locked`: the bot holds the positions file's lock already);
/// `Ok(false)` when it had nothing to act on.
///
/// # Errors
/// A failure of the outside world's own calls, in words.
pub fn damage(root: &Path, d: &Damage, bot_locked: bool) -> Result<bool, String> {
    match *d {
        Damage::Truncate { file, at } => {
            let rel = FILES[file % FILES.len()];
            let Some(bytes) = read_file(root, rel) else {
                return Ok(false);
            };
            let cut = bytes.len() * usize::from(at) / 256;
            rewrite(root, rel, bytes.get(..cut).unwrap_or_default())
        }
        Damage::Garbage { file, at, seed } => {
            let rel = FILES[file % FILES.len()];
            let Some(mut bytes) = read_file(root, rel) else {
                return Ok(false);
            };
            let start = bytes.len() * usize::from(at) / 256;
            let len = 1 + usize::from(seed % 32);
            for i in 0..len {
                let b = garbage(seed, i);
                match bytes.get_mut(start + i) {
                    Some(x) => *x = b,
                    None => bytes.push(b),
                }
            }
            rewrite(root, rel, &bytes)
        }
        Damage::Delete { file } => {
            let rel = FILES[file % FILES.len()];
            Ok(is_file(root, rel) && fs::remove_file(root.join(rel)).is_ok())
        }
        Damage::StaleLock { lock, content } => {
            let rel = LOCKS[lock % LOCKS.len()];
            let text: &[u8] = match content % 3 {
                0 => b"",
                1 => b"999999999\n",
                _ => b"locked by cron\n",
            };
            if !root.join(rel).parent().is_some_and(Path::is_dir) {
                return Ok(false);
            }
            put(root, rel, text, 0o644)?;
            set_mtime(&root.join(rel), Duration::from_secs(3600));
            Ok(true)
        }
        Damage::StaleHeartbeat { which, how } => stale_heartbeat(root, which, how),
        Damage::Chmod { target, mode } => {
            let all: Vec<&str> = FILES.iter().chain(DIRS).copied().collect();
            let rel = all[target % all.len()];
            let path = root.join(rel);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                return Ok(false);
            };
            let mode = MODES[usize::from(mode) % MODES.len()];
            // Directories keep the owner's search bit, as any operator's chmod would.
            let mode = if meta.is_dir() { mode | 0o700 } else { mode };
            set_mode(&path, mode)?;
            Ok(true)
        }
        Damage::BotWrite { file, salt } => bot_write(root, file % FILES.len(), salt, bot_locked),
        Damage::RemoveDir { dir } => {
            let rel = DIRS[dir % DIRS.len()];
            Ok(fs::remove_dir(root.join(rel)).is_ok())
        }
    }
}

fn garbage(seed: u8, i: usize) -> u8 {
    const POOL: &[u8] = b"\0\xff{}[]\",:x9 \n";
    let k = usize::from(seed).wrapping_mul(31).wrapping_add(i * 7);
    POOL[k % POOL.len()]
}

/// Rewrites a file in place (keeping its inode and mode), as a crashing writer would.
fn rewrite(root: &Path, rel: &str, bytes: &[u8]) -> Result<bool, String> {
    let path = root.join(rel);
    let mut f = fs::File::options()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(true)
}

fn stale_heartbeat(root: &Path, which: u8, how: u8) -> Result<bool, String> {
    let ago = if how & 1 != 0 { 86_400 } else { 3_600 };
    let (rel, bytes) = if which & 1 == 0 {
        let text = match how % 4 {
            3 => "2026-01-01T00:00:00.123456\n".to_string(),
            _ => format!("{}\n", now_s() - ago),
        };
        (FILES[2], text.into_bytes())
    } else {
        (FILES[3], heartbeat_json(now_s() - ago))
    };
    if !root.join(rel).parent().is_some_and(Path::is_dir) {
        return Ok(false);
    }
    let mode = fs::metadata(root.join(rel)).map_or(0o644, |m| m.mode() & 0o7777);
    put(root, rel, &bytes, mode)?;
    Ok(true)
}

/// The bot's own write of `FILES[file]`: the positions file under `flock(LOCK_EX)` on its
/// lock file, through a temp file, fsync and rename, mode 0600; the portfolio after a copy
/// of the old one into `logs/backups/`, temp and rename; a heartbeat through temp and
/// rename; the others the same.
fn bot_write(root: &Path, file: usize, salt: u8, bot_locked: bool) -> Result<bool, String> {
    let rel = FILES[file];
    let path = root.join(rel);
    let Some(dir) = path.parent().filter(|d| d.is_dir()) else {
        return Ok(false);
    };
    let bytes = bot_content(file, salt);
    let _guard = if file == 0 {
        let lock = root.join(LOCKS[0]);
        let f = fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(|e| format!("open {}: {e}", lock.display()))?;
        // The lock may be this bot's own already (a Hold step): a second open file of the
        // same process would wait for itself, so only a free lock is taken here.
        if f.try_lock().is_err() && !bot_locked {
            return Ok(false);
        }
        Some(f)
    } else {
        None
    };
    if file == 1 && is_file(root, rel) && root.join(BACKUPS_DIR).is_dir() {
        let copy = root.join(FILES[6]);
        fs::copy(&path, &copy).map_err(|e| format!("copy {}: {e}", copy.display()))?;
    }
    let tmp = dir.join(format!(".bot-tmp.{}", std::process::id()));
    let mode = if file == 0 { 0o600 } else { 0o644 };
    {
        let mut f = fs::File::create(&tmp).map_err(|e| format!("create temp: {e}"))?;
        f.write_all(&bytes)
            .map_err(|e| format!("write temp: {e}"))?;
        f.sync_all().map_err(|e| format!("fsync temp: {e}"))?;
    }
    set_mode(&tmp, mode)?;
    fs::rename(&tmp, &path).map_err(|e| format!("rename over {}: {e}", path.display()))?;
    Ok(true)
}

/// A lock file the bot holds.
pub struct Held {
    /// The lock file.
    pub rel: &'static str,
    /// Its inode.
    pub ino: u64,
    _file: fs::File,
}

/// The bot takes `LOCKS[lock]` (creating it, as its lock helper does); `None` when its
/// directory is missing or the lock is taken already.
pub fn hold(root: &Path, lock: usize) -> Option<Held> {
    let rel = LOCKS[lock % LOCKS.len()];
    let path = root.join(rel);
    if !path.parent().is_some_and(Path::is_dir) {
        return None;
    }
    let f = fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .ok()?;
    f.try_lock().ok()?;
    let ino = f.metadata().ok()?.ino();
    Some(Held { rel, ino, _file: f })
}

/// Whether `held` still names the file whose lock is held.
pub fn still_there(root: &Path, held: &Held) -> bool {
    fs::symlink_metadata(root.join(held.rel)).is_ok_and(|m| m.ino() == held.ino)
}
