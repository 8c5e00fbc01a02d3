//! Measuring whole processes: wall time, CPU time and peak RSS of each run (`wait4` in a
//! small wrapper process gives the child's own resource usage; medians of several runs), peak RSS through a wrapper
//! process too (`getrusage(RUSAGE_CHILDREN)`), and syscall counts under `strace -f -c`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One whole-process run: wall time, CPU time (user + system, from `wait4`) and peak RSS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
    pub rss: u64,
}

/// Runs `cmd` once (stdout discarded); fails on a non-accepted exit code. The command runs
/// under a small wrapper process (`selfheal-perf measured`), which times it and reads its
/// resource usage: Linux carries a process's peak RSS across `exec`, so a child spawned
/// straight from this process (which holds the generated data) would report this
/// process's peak as its own; a child forked by the small wrapper reports only its own.
pub fn time_once(cmd: &mut Command, accept: &[i32]) -> Result<Sample, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let err = tempfile_path("stderr");
    let result = tempfile_path("measured");
    let err_file = std::fs::File::create(&err).map_err(|e| e.to_string())?;
    let mut wrapper = Command::new(me);
    wrapper
        .arg("measured")
        .arg(&result)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapper.env(k, v),
            None => wrapper.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapper.current_dir(dir);
    }
    let status = wrapper
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_file(&err);
    let text = std::fs::read_to_string(&result).unwrap_or_default();
    let _ = std::fs::remove_file(&result);
    let fields: Vec<u64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [code, wall_ns, cpu_us, rss_kb] = fields[..] else {
        return Err(format!("{cmd:?}: the wrapper failed ({status}): {stderr}"));
    };
    let code = i32::try_from(code).unwrap_or(-1);
    if !accept.contains(&code) {
        return Err(format!("{cmd:?} exited {code}: {stderr}"));
    }
    Ok(Sample {
        wall: Duration::from_nanos(wall_ns),
        cpu: Duration::from_micros(cpu_us),
        rss: rss_kb * 1024,
    })
}

/// `measured RESULT PROGRAM ARGS...`: runs PROGRAM with this process's standard streams,
/// and writes `exit_code wall_ns cpu_us peak_rss_kb` to RESULT (exit code 255: killed by a
/// signal).
pub fn measured(args: &[String]) -> Result<(), String> {
    let [result, program, rest @ ..] = args else {
        return Err("measured RESULT PROGRAM ARGS...".into());
    };
    let start = Instant::now();
    let child = Command::new(program)
        .args(rest)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status = 0;
    // SAFETY: wait4 on our own child, writing into a zeroed rusage we own. The `Child` is
    // never waited on afterwards, so it does not race for the status.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::wait4(pid, &mut status, 0, &mut u) != pid {
            return Err(format!("{program}: wait4 failed"));
        }
        u
    };
    let wall = start.elapsed();
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        255
    };
    let us = |t: libc::timeval| {
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
    };
    let line = format!(
        "{code} {} {} {}\n",
        wall.as_nanos(),
        us(usage.ru_utime) + us(usage.ru_stime),
        usage.ru_maxrss
    );
    std::fs::write(result, line).map_err(|e| e.to_string())
}

fn tempfile_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("selfheal-perf-{what}-{}", std::process::id()))
}

/// The medians of `runs` runs (wall and CPU time each on its own) and the largest peak
/// RSS; `prepare` runs before
/// each (not timed) and builds the command.
pub fn median(
    runs: usize,
    mut prepare: impl FnMut(usize) -> Result<Command, String>,
    accept: &[i32],
) -> Result<Sample, String> {
    let mut all = Vec::with_capacity(runs);
    for i in 0..runs {
        let mut cmd = prepare(i)?;
        all.push(time_once(&mut cmd, accept)?);
    }
    if all.is_empty() {
        return Err("no runs".to_string());
    }
    let mid = all.len() / 2;
    let mut pick = |key: fn(&Sample) -> u128| {
        all.sort_by_key(key);
        all.get(mid).copied().unwrap_or_default()
    };
    Ok(Sample {
        wall: pick(|s| s.wall.as_nanos()).wall,
        cpu: pick(|s| s.cpu.as_nanos()).cpu,
        rss: all.iter().map(|s| s.rss).max().unwrap_or(0),
    })
}

/// Counts of syscalls by name under `strace -f -c`, and the command's stdout, or `None`
/// when strace is unavailable.
pub fn syscall_counts(args: &[String], syscalls: &str) -> Option<(Vec<(String, u64)>, String)> {
    let log = tempfile_path("strace");
    let out = Command::new("strace")
        .args(["-f", "-c", "-e", &format!("trace={syscalls}"), "-o"])
        .arg(&log)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
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
    Some((counts, String::from_utf8_lossy(&out.stdout).into_owned()))
}
