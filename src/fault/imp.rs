//! The `fault-injection` build of the fault points and of the power-cut log (see the
//! parent module for the format and the model). Everything here writes only to the files
//! the test names in the environment, outside the root; a failure to keep the log aborts
//! the process, since a test reading an incomplete log would draw wrong conclusions.

// The power-cut log and its stash are test artefacts outside the root, not state: they are
// written with std::fs directly, never through `fsx`.
#![allow(clippy::disallowed_methods)]

use super::{Effect, Point};
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use serde_json::json;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

static COUNTER: AtomicU64 = AtomicU64::new(0);
static STASHED: AtomicU64 = AtomicU64::new(0);

struct Plan {
    at: Option<(u64, String)>,
    trace: bool,
    log: Option<PathBuf>,
}

fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let at = std::env::var("SELFHEAL_FAULT").ok().and_then(|v| {
            let (n, action) = v.split_once(':')?;
            Some((n.parse().ok()?, action.to_string()))
        });
        let trace = std::env::var_os("SELFHEAL_FAULT_TRACE").is_some();
        let log = std::env::var_os("SELFHEAL_POWERCUT_LOG").map(PathBuf::from);
        Plan { at, trace, log }
    })
}

/// Sleeps `SELFHEAL_FAULT_STALL_RENAME_MS` milliseconds, when it is set.
fn stall() {
    static MS: OnceLock<Option<u64>> = OnceLock::new();
    let ms = MS.get_or_init(|| {
        std::env::var("SELFHEAL_FAULT_STALL_RENAME_MS")
            .ok()?
            .parse()
            .ok()
    });
    if let Some(ms) = ms {
        std::thread::sleep(std::time::Duration::from_millis(*ms));
    }
}

pub(super) fn free_space(real: u64) -> u64 {
    static CAP: OnceLock<Option<u64>> = OnceLock::new();
    let cap = CAP.get_or_init(|| std::env::var("SELFHEAL_FAULT_FREE").ok()?.parse().ok());
    cap.map_or(real, |c| real.min(c))
}

pub(super) fn hit(point: Point, path: &Path) -> io::Result<()> {
    if let Some(result) = local_hit() {
        return result;
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    if point == Point::Rename {
        stall();
    }
    let plan = plan();
    if plan.trace {
        eprintln!("fault-point {n} {point:?} {}", path.display());
    }
    match &plan.at {
        Some((at, action)) if *at == n => fire(n, action),
        _ => Ok(()),
    }
}

fn fire(n: u64, action: &str) -> io::Result<()> {
    let errno = match action {
        "crash" => std::process::abort(),
        "powercut" => {
            log(&json!({ "cut": n }).to_string());
            std::process::abort()
        }
        "eio" => 5,
        "eacces" => 13,
        "enospc" => 28,
        "erofs" => 30,
        _ => return Ok(()),
    };
    Err(io::Error::from_raw_os_error(errno))
}

/// Appends one line to the power-cut log.
pub(super) fn log(line: &str) {
    if local_log(line) {
        return;
    }
    static FILE: OnceLock<Mutex<std::fs::File>> = OnceLock::new();
    let Some(path) = &plan().log else { return };
    let file = FILE.get_or_init(|| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| fatal("open the power-cut log", &e));
        Mutex::new(f)
    });
    let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = f.write_all(format!("{line}\n").as_bytes()) {
        fatal("append to the power-cut log", &e);
    }
}

fn fatal(what: &str, e: &dyn std::fmt::Display) -> ! {
    eprintln!("fault-injection: cannot {what}: {e}");
    std::process::abort()
}

/// Describes `effect` (and stashes what its undo needs) before the call is made.
pub(super) fn prepare(effect: Effect<'_>) -> Option<String> {
    if !local_logging().unwrap_or(plan().log.is_some()) {
        return None;
    }
    let v = match effect {
        Effect::Created {
            dir_path,
            name,
            is_dir,
            ..
        } => json!({"e": "created", "dir": text(dir_path), "name": name, "is_dir": is_dir}),
        Effect::Renamed {
            dir,
            dir_path,
            from,
            to,
        } => {
            let stash = stash_file(dir, to);
            json!({"e": "renamed", "dir": text(dir_path), "from": from, "to": to, "stash": stash})
        }
        Effect::Exchanged {
            dir_path,
            name,
            to_dir_path,
            to_name,
        } => json!({"e": "exchanged", "dir": text(dir_path), "name": name,
                    "to_dir": text(to_dir_path), "to_name": to_name}),
        Effect::Removed {
            dir,
            dir_path,
            name,
            is_dir,
        } => {
            let stash = if is_dir { None } else { stash_file(dir, name) };
            let mode = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_or(0, |st| st.st_mode & 0o7777);
            json!({"e": "removed", "dir": text(dir_path), "name": name, "is_dir": is_dir,
                   "stash": stash, "mode": mode})
        }
        Effect::Wrote { file } => {
            let st = fstat(file);
            json!({"e": "wrote", "ino": st.st_ino, "size": st.st_size})
        }
        Effect::Attrs { file } => {
            let st = fstat(file);
            json!({"e": "attrs", "ino": st.st_ino, "mode": st.st_mode & 0o7777,
                   "uid": st.st_uid, "gid": st.st_gid,
                   "mtime_sec": st.st_mtime, "mtime_nsec": st.st_mtime_nsec})
        }
        Effect::Xattr { file, name } => {
            let st = fstat(file);
            let mut buf = vec![0u8; 1 << 16];
            let old = rustix::fs::fgetxattr(file, name, &mut buf[..])
                .ok()
                .map(|n| hex(buf.get(..n).unwrap_or_default()));
            json!({"e": "xattr", "ino": st.st_ino, "name": name, "old": old})
        }
        Effect::Truncated { dir, name, file } => {
            let st = fstat(file);
            let stash = stash_bytes(dir, name);
            json!({"e": "truncated", "ino": st.st_ino, "stash": stash})
        }
        Effect::Synced {
            file,
            path,
            data_only,
        } => {
            let st = fstat(file);
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            let dir = path.filter(|_| is_dir).map(text);
            json!({"e": "synced", "ino": st.st_ino, "dir": dir, "data_only": data_only})
        }
    };
    Some(v.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn fstat(fd: BorrowedFd<'_>) -> rustix::fs::Stat {
    rustix::fs::fstat(fd).unwrap_or_else(|e| fatal("fstat for the power-cut log", &e))
}

/// The stash directory beside the log (or the one an armed injection names), created on
/// first use.
fn stash_dir() -> (OwnedFd, PathBuf) {
    let dir = match local_stash() {
        Some(dir) => dir,
        None => {
            let Some(log) = &plan().log else {
                fatal("stash", &"no power-cut log");
            };
            let mut dir = log.clone().into_os_string();
            dir.push(".stash");
            PathBuf::from(dir)
        }
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fatal("create the stash", &e));
    let fd = rustix::fs::open(&dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
        .unwrap_or_else(|e| fatal("open the stash", &e));
    (fd, dir)
}

fn stash_name() -> String {
    format!("{}", STASHED.fetch_add(1, Ordering::SeqCst) + 1)
}

/// Keeps the regular file `name` in `dir` (if there is one) as a stash entry: a hard link,
/// so the very inode comes back on undo; a copy with its mode and mtime if linking fails.
fn stash_file(dir: BorrowedFd<'_>, name: &str) -> Option<String> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let (sfd, spath) = stash_dir();
    let id = stash_name();
    if rustix::fs::linkat(dir, name, &sfd, id.as_str(), AtFlags::empty()).is_err() {
        let bytes = read_all(dir, name);
        let target = spath.join(&id);
        std::fs::write(&target, bytes).unwrap_or_else(|e| fatal("copy into the stash", &e));
        let f = std::fs::File::options()
            .write(true)
            .open(&target)
            .unwrap_or_else(|e| fatal("open a stash copy", &e));
        let _ = rustix::fs::fchmod(&f, Mode::from_raw_mode(st.st_mode & 0o7777));
        let mtime = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                u64::try_from(st.st_mtime).unwrap_or(0),
                u32::try_from(st.st_mtime_nsec).unwrap_or(0),
            );
        let _ = f.set_modified(mtime);
    }
    Some(id)
}

/// Keeps the current bytes of `name` in `dir` as a stash entry.
fn stash_bytes(dir: BorrowedFd<'_>, name: &str) -> String {
    let (_, spath) = stash_dir();
    let id = stash_name();
    std::fs::write(spath.join(&id), read_all(dir, name))
        .unwrap_or_else(|e| fatal("write into the stash", &e));
    id
}

fn read_all(dir: BorrowedFd<'_>, name: &str) -> Vec<u8> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| fatal("open a file to stash", &e));
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| fatal("read a file to stash", &e));
    bytes
}

/// An injection armed on this thread (see [`super::Injection`]): it replaces the
/// environment's plan for every point this thread passes until it is disarmed.
struct Armed {
    injection: super::Injection,
    /// Points passed since arming.
    passed: u64,
    /// Whether the fault fired.
    fired: bool,
    /// The effects recorded, when the injection keeps a power-cut log.
    effects: Vec<String>,
}

thread_local! {
    static ARMED: RefCell<Option<Armed>> = const { RefCell::new(None) };
}

pub(super) fn arm(injection: super::Injection) {
    ARMED.with(|a| {
        *a.borrow_mut() = Some(Armed {
            injection,
            passed: 0,
            fired: false,
            effects: Vec::new(),
        });
    });
}

pub(super) fn disarm() -> super::Injected {
    let armed = ARMED.with(|a| a.borrow_mut().take());
    armed.map_or_else(super::Injected::default, |a| super::Injected {
        points: a.passed,
        fired: a.fired,
        effects: a.effects,
    })
}

/// The outcome of a point under an armed injection; `None` when none is armed.
fn local_hit() -> Option<io::Result<()>> {
    ARMED.with(|a| {
        let mut a = a.borrow_mut();
        let a = a.as_mut()?;
        a.passed += 1;
        let fault = a.injection.fault;
        let dead = || io::Error::other("fault injection: the process is gone (simulated crash)");
        if a.fired {
            return Some(match fault {
                super::Fault::Crash | super::Fault::PowerCut => Err(dead()),
                super::Fault::Errno(_) => Ok(()),
            });
        }
        if a.injection.at != Some(a.passed) {
            return Some(Ok(()));
        }
        a.fired = true;
        Some(Err(match fault {
            super::Fault::Crash | super::Fault::PowerCut => dead(),
            super::Fault::Errno(e) => io::Error::from_raw_os_error(e),
        }))
    })
}

/// Whether an armed injection keeps a power-cut log; `None` when none is armed.
fn local_logging() -> Option<bool> {
    ARMED.with(|a| a.borrow().as_ref().map(|a| a.injection.stash.is_some()))
}

fn local_stash() -> Option<PathBuf> {
    ARMED.with(|a| a.borrow().as_ref().and_then(|a| a.injection.stash.clone()))
}

/// Keeps `line` in the armed injection's log; false when none is armed.
fn local_log(line: &str) -> bool {
    ARMED.with(|a| match a.borrow_mut().as_mut() {
        Some(a) => {
            if a.injection.stash.is_some() {
                a.effects.push(line.to_string());
            }
            true
        }
        None => false,
    })
}
