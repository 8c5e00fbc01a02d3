//! Measuring whole processes: wall time (median of several runs), peak RSS of one child
//! (`getrusage(RUSAGE_CHILDREN)` in a wrapper process that has exactly that child), and
//! syscall counts under `strace -f -c`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` once, returning its wall time; fails on a non-accepted exit code.
pub fn time_once(cmd: &mut Command, accept: &[i32]) -> Result<Duration, String> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let took = start.elapsed();
    let code = out.status.code().unwrap_or(-1);
    if !accept.contains(&code) {
        return Err(format!(
            "{cmd:?} exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

/// The median of `runs` timings; `prepare` runs before each (not timed) and builds the
/// command.
pub fn median(
    runs: usize,
    mut prepare: impl FnMut(usize) -> Result<Command, String>,
    accept: &[i32],
) -> Result<Duration, String> {
    let mut all = Vec::with_capacity(runs);
    for i in 0..runs {
        let mut cmd = prepare(i)?;
        all.push(time_once(&mut cmd, accept)?);
    }
    all.sort();
    all.get(all.len() / 2)
        .copied()
        .ok_or_else(|| "no runs".to_string())
}

/// Runs `args` as a child of this process and returns its exit code and peak RSS in bytes.
/// Call it from a fresh process (the `rss` subcommand) so the child is its only one.
pub fn rss_of_child(args: &[String]) -> Result<(i32, u64), String> {
    let (prog, rest) = args.split_first().ok_or("no command")?;
    let status = Command::new(prog)
        .args(rest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{prog}: {e}"))?;
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_CHILDREN covers the
    // children this process has waited for, which is exactly the one above.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) != 0 {
            return Err("getrusage failed".into());
        }
        u
    };
    let kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((status.code().unwrap_or(-1), kib * 1024))
}

/// Peak RSS of `args` measured through this binary's `rss` subcommand.
pub fn peak_rss(me: &Path, args: &[String], accept: &[i32]) -> Result<u64, String> {
    let out = Command::new(me)
        .arg("rss")
        .arg("--")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let code: i32 = it
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or("no exit code")?;
    let rss: u64 = it.next().and_then(|c| c.parse().ok()).ok_or("no rss")?;
    if !accept.contains(&code) {
        return Err(format!("{args:?} exited {code}"));
    }
    Ok(rss)
}

/// Counts of syscalls by name under `strace -f -c`, or `None` when strace is unavailable.
pub fn syscall_counts(args: &[String], syscalls: &str) -> Option<Vec<(String, u64)>> {
    let log = std::env::temp_dir().join(format!("selfheal-perf-strace-{}", std::process::id()));
    let status = Command::new("strace")
        .args(["-f", "-c", "-e", &format!("trace={syscalls}"), "-o"])
        .arg(&log)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let _ = status;
    let text = std::fs::read_to_string(&log).ok()?;
    let _ = std::fs::remove_file(&log);
    let mut counts = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors,] syscall
        if cols.len() >= 5 && cols[0].parse::<f64>().is_ok() {
            let name = cols[cols.len() - 1].to_string();
            if name == "total" {
                continue;
            }
            if let Ok(calls) = cols[3].parse::<u64>() {
                counts.push((name, calls));
            }
        }
    }
    Some(counts)
}
