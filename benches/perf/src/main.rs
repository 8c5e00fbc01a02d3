//! `selfheal-perf`: selfheal's benchmark suite. `run [--smoke]` generates its own data
//! (seeded), measures every scenario of the performance budget against a floor measured in
//! the same run, and prints a table (also written to `<dir>/results.md`). The other
//! subcommands are the floors and helpers it runs as separate processes.

#![allow(clippy::disallowed_methods)] // the benchmark builds its own fixtures; it is not selfheal

mod floor;
mod gen;
mod history;
mod measure;
mod runner;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("floor") => floor_cmd(&args[1..]),
        Some("gen") => gen_cmd(&args[1..]),
        Some("measured") => measure::measured(&args[1..]),
        _ => Err(
            "usage: selfheal-perf run [--smoke] [--dir DIR] [--only healthy,salvage,syscalls,scaling,startup,watch,journal] | floor ... | gen DIR OPEN CLOSED"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("selfheal-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

fn floor_cmd(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("validate") => floor::validate(&args[1..]),
        Some("backup") if args.len() == 3 => floor::backup(&args[1], &args[2]),
        Some("restore") if args.len() == 4 => floor::restore(&args[1], &args[2], &args[3]),
        _ => Err("floor validate FILE... | backup FILE OUT | restore OBJECT SHA256 OUT".into()),
    }
}

/// `gen DIR OPEN CLOSED`: a healthy root, for profiling by hand.
fn gen_cmd(args: &[String]) -> Result<(), String> {
    let [dir, open, closed] = args else {
        return Err("gen DIR OPEN CLOSED".into());
    };
    let n = |s: &String| s.parse::<usize>().map_err(|e| e.to_string());
    gen::healthy_root(std::path::Path::new(dir), 42, n(open)?, n(closed)?)
        .map_err(|e| e.to_string())
}

fn run(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = me.parent().ok_or("no exe dir")?.to_path_buf();
    let selfheal = bin_dir.join("selfheal");
    if !selfheal.is_file() {
        return Err(format!(
            "{} not found: build it first (cargo build --profile profiling --bins)",
            selfheal.display()
        ));
    }
    let dir = match args.iter().position(|a| a == "--dir") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--dir needs a value")?),
        None => bin_dir
            .join("..")
            .join(if smoke { "perf-smoke" } else { "perf" }),
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let plan = if smoke {
        runner::Plan::smoke()
    } else {
        runner::Plan::full()
    };
    let mut ctx = runner::Ctx {
        me,
        selfheal,
        dir: dir.clone(),
        plan,
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let started = std::time::Instant::now();
    ctx.notes.push(machine());
    let only = only(args)?;
    let wants = |group: &str| only.as_ref().is_none_or(|o| o.iter().any(|g| g == group));
    let healthy = if wants("healthy") {
        ctx.healthy_scenarios()?
    } else {
        ctx.healthy()?
    };
    if wants("salvage") {
        ctx.salvage_scenarios(&healthy)?;
    }
    if wants("syscalls") {
        ctx.syscall_scenarios(&healthy)?;
    }
    if wants("scaling") {
        ctx.scaling_scenarios()?;
    }
    if wants("startup") {
        ctx.startup_scenario()?;
    }
    if wants("watch") {
        ctx.watch_scenario(&healthy)?;
    }
    if wants("journal") {
        ctx.journal_scenario()?;
    }
    ctx.notes.push(format!(
        "suite wall time: {:.0} s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        read_trim("/proc/loadavg")
    ));
    let table = ctx.table();
    println!("{table}");
    std::fs::write(dir.join("results.md"), &table).map_err(|e| e.to_string())?;
    Ok(())
}

/// The scenario groups `--only a,b` selects (`None`: all of them).
fn only(args: &[String]) -> Result<Option<Vec<String>>, String> {
    const GROUPS: [&str; 7] = [
        "healthy", "salvage", "syscalls", "scaling", "startup", "watch", "journal",
    ];
    let Some(i) = args.iter().position(|a| a == "--only") else {
        return Ok(None);
    };
    let list = args.get(i + 1).ok_or("--only needs a value")?;
    let groups: Vec<String> = list.split(',').map(str::to_string).collect();
    if let Some(bad) = groups.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        return Err(format!(
            "--only: unknown group {bad} (groups: {})",
            GROUPS.join(", ")
        ));
    }
    Ok(Some(groups))
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The machine line of the results: cores, CPU model, kernel, date, load at the start.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = read_trim("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "?".into(), |m| m.trim().to_string());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "machine: {cores} cores, {model}, Linux {}; {date}; load average at the start: {}",
        read_trim("/proc/sys/kernel/osrelease"),
        read_trim("/proc/loadavg")
    )
}
