//! The integration examples work as documented: `examples/run.py` starts the dummy engine on
//! a healthy root and refuses on a critical one in real mode (paper always starts);
//! `examples/tradingbot.service` runs the reference bot's real entry point (`python3 run.py`
//! in its `-current` checkout), takes the mode from the checkout's `.env` alone, gates each
//! start with `selfheal heal` and stops retrying at a start limit. It is checked by parsing
//! it, by running its commands as systemd would on a deployment laid out like the bot's
//! (a fake bot whose `run.py` imports its `src` package), and with `systemd-analyze verify`
//! when that is installed.

use crate::support::bot::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn run_py(bot: &Bot, trading_mode: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(example("run.py")).current_dir(&bot.root);
    let mut env = vec![("SELFHEAL_BIN", BIN)];
    if let Some(m) = trading_mode {
        env.push(("TRADING_MODE", m));
    }
    clean(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("python3 runs (it is required by these tests)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn critical_bot() -> Bot {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a.clone(), a], &[]);
    bot
}

#[test]
fn run_py_starts_the_engine_on_a_healthy_root() {
    let bot = Bot::new();
    bot.write_state(&[position("BTC-USDT", "trend", "LONG")], &[]);
    let (code, out) = run_py(&bot, Some("real"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("🚀 Starting trading engine"), "{out}");
    assert!(bot.path("engine.started").exists());
}

#[test]
fn run_py_refuses_a_critical_root_in_real_mode() {
    for mode in ["real", "live"] {
        let bot = critical_bot();
        let (code, out) = run_py(&bot, Some(mode));
        assert_eq!(code, 4, "{out}");
        assert!(
            out.contains("⛔ Trading engine NOT started: POSITION_CONFLICT"),
            "{out}"
        );
        assert!(out.contains("🚨 [CRITICAL] POSITION_CONFLICT"), "{out}");
        assert!(!bot.path("engine.started").exists());
    }
}

#[test]
fn run_py_starts_a_critical_root_in_paper_mode() {
    for mode in [Some("paper"), None] {
        let bot = critical_bot();
        let (code, out) = run_py(&bot, mode);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("🚀 Starting trading engine"), "{out}");
        assert!(bot.path("engine.started").exists());
    }
}

#[test]
fn run_py_refuses_in_real_mode_when_selfheal_cannot_decide() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-root");
    let mut cmd = Command::new("python3");
    clean(&mut cmd)
        .arg(example("run.py"))
        .env("SELFHEAL_BIN", BIN)
        .env("SELFHEAL_ROOT", &missing)
        .env("TRADING_MODE", "real");
    let out = cmd.output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("⛔ Trading engine NOT started"), "{text}");
}

#[test]
fn run_py_without_a_report_starts_only_when_the_environment_says_paper() {
    let bot = Bot::new();
    bot.write_state(&[position("BTC-USDT", "trend", "LONG")], &[]);
    for (mode, want) in [
        (Some("paper"), 0),
        (Some("PAPER"), 0),
        (None, 4),
        (Some("real"), 4),
    ] {
        let _ = std::fs::remove_file(bot.path("engine.started"));
        let mut cmd = Command::new("python3");
        clean(&mut cmd)
            .arg(example("run.py"))
            .current_dir(&bot.root)
            .env("SELFHEAL_BIN", bot.dir.path().join("no-such-selfheal"));
        if let Some(m) = mode {
            cmd.env("TRADING_MODE", m);
        }
        let out = cmd.output().expect("python3");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(want), "{mode:?}: {text}");
        assert_eq!(bot.path("engine.started").exists(), want == 0, "{mode:?}");
        assert!(text.contains("cannot run selfheal"), "{text}");
    }
}

/// `[Section]` -> `Key=Value` lines (comments and blanks dropped).
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not Key=Value: {raw}", n + 1));
        assert!(!section.is_empty(), "line {}: key outside a section", n + 1);
        out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    out
}

const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "Unit",
        &[
            "Description",
            "Wants",
            "After",
            "StartLimitIntervalSec",
            "StartLimitBurst",
        ],
    ),
    (
        "Service",
        &[
            "Type",
            "User",
            "WorkingDirectory",
            "EnvironmentFile",
            "ExecStartPre",
            "ExecStart",
            "Restart",
            "RestartSec",
            "TimeoutStartSec",
        ],
    ),
    ("Install", &["WantedBy"]),
];

const UNIT: &str = "tradingbot.service";

/// The unit's `[section] key` values, each key at most once.
struct Unit {
    text: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    fn load() -> Unit {
        let text = std::fs::read_to_string(example(UNIT)).expect("unit");
        let entries = parse_unit(&text);
        Unit { text, entries }
    }

    fn get(&self, section: &str, key: &str) -> String {
        let found: Vec<&String> = self
            .entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v)
            .collect();
        assert_eq!(found.len(), 1, "[{section}] {key}: {found:?}");
        found[0].clone()
    }

    fn secs(&self, section: &str, key: &str) -> u64 {
        let v = self.get(section, key);
        v.parse()
            .unwrap_or_else(|_| panic!("[{section}] {key}={v}: not seconds"))
    }
}

#[test]
fn the_systemd_unit_gates_the_bot() {
    let unit = Unit::load();
    for (section, key, _) in &unit.entries {
        let known = KNOWN_KEYS
            .iter()
            .find(|(s, _)| s == section)
            .unwrap_or_else(|| panic!("unknown section [{section}]"));
        assert!(
            known.1.contains(&key.as_str()),
            "unknown key {section}.{key}"
        );
    }
    let dir = unit.get("Service", "WorkingDirectory");
    assert!(dir.starts_with('/') && dir.ends_with("-current"), "{dir}");
    assert_eq!(
        unit.get("Service", "EnvironmentFile"),
        format!("-{dir}/.env")
    );
    assert_eq!(
        unit.get("Service", "ExecStartPre"),
        format!("/usr/local/bin/selfheal --root {dir} heal"),
        "no '-' prefix, no mode: the .env decides"
    );
    let start = unit.get("Service", "ExecStart");
    let (python, script) = start.split_once(' ').expect("python run.py");
    assert!(
        python.starts_with('/') && python.ends_with("python3"),
        "{start}"
    );
    assert_eq!(
        script, "run.py",
        "the bot's entry point at the checkout root"
    );
    assert!(!unit.text.contains("TRADING_MODE="), "no hard-coded mode");
    assert!(!unit.text.contains("--mode"), "no hard-coded mode");
    let user = unit.get("Service", "User");
    assert!(!user.is_empty() && user != "root", "{user}");
    assert_eq!(unit.get("Service", "Restart"), "on-failure");
    // The start limit must be reachable: the retries of a refused start fall within it.
    let (interval, burst) = (
        unit.secs("Unit", "StartLimitIntervalSec"),
        unit.secs("Unit", "StartLimitBurst"),
    );
    let retry = unit.secs("Service", "RestartSec");
    assert!(burst >= 2 && retry >= 1, "{burst} {retry}");
    assert!(
        burst * (retry + 5) < interval,
        "{burst} x {retry} s vs {interval} s"
    );
    assert!(
        unit.secs("Service", "TimeoutStartSec") > 30,
        "the lock wait fits"
    );
    for said in [
        "systemctl reset-failed tradingbot",
        "ExecStartPre=-",
        "journalctl -u tradingbot",
    ] {
        assert!(unit.text.contains(said), "the comments explain {said}");
    }
    verify_with_systemd(&unit.text);
}

/// A deployment laid out like the reference bot's: `<dir>/trading-bot-A` (the checkout and
/// state root, with `run.py` importing its `src` package), `trading-bot-B`, and
/// `trading-bot-current` linking to A; the unit's paths point into it.
struct Deployment {
    bot: Bot,
    current: PathBuf,
    unit: String,
}

/// The fake bot: `run.py` at the checkout root runs `src.run`, which records the mode it
/// sees and the working directory in `engine.started`, as the engine starting.
const BOT_RUN_PY: &str = "import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'src'))\nfrom src.run import main\nmain()\n";
const BOT_SRC_RUN_PY: &str = "import os\ndef main():\n    with open('engine.started', 'w') as f:\n        f.write(os.environ.get('TRADING_MODE', 'paper') + ' ' + os.getcwd() + '\\n')\n";

impl Deployment {
    fn new(env_file: &str) -> Deployment {
        let bot = Bot::named("trading-bot-A");
        bot.write("run.py", BOT_RUN_PY);
        std::fs::create_dir_all(bot.path("src")).expect("mkdir src");
        bot.write("src/__init__.py", "");
        bot.write("src/run.py", BOT_SRC_RUN_PY);
        bot.write(".env", env_file);
        std::fs::create_dir(bot.dir.path().join("trading-bot-B")).expect("slot B");
        let current = bot.dir.path().join("trading-bot-current");
        std::os::unix::fs::symlink("trading-bot-A", &current).expect("symlink");
        let home = bot.dir.path().to_string_lossy().into_owned();
        let unit = Unit::load()
            .text
            .replace("/usr/local/bin/selfheal", BIN)
            .replace("/home/trader", &home)
            .replace("/usr/bin/python3", &python3());
        Deployment { bot, current, unit }
    }
}

fn python3() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .expect("sh");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// What systemd would do for one start: read EnvironmentFile= (`KEY=VALUE` lines; a `-`
/// prefix lets it be missing), run ExecStartPre= in WorkingDirectory= with that
/// environment, and ExecStart= only if it exited 0. Returns ExecStartPre's exit code.
fn start_as_systemd(d: &Deployment) -> i32 {
    let entries = parse_unit(&d.unit);
    let get = |k: &str| {
        entries
            .iter()
            .find(|(_, key, _)| key == k)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let env_file = get("EnvironmentFile");
    let env_path = env_file.strip_prefix('-').unwrap_or(&env_file);
    let env: Vec<(String, String)> = std::fs::read_to_string(env_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect();
    let run = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let out = clean(&mut Command::new(words[0]))
            .args(&words[1..])
            .current_dir(get("WorkingDirectory"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run a unit command");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), said)
    };
    let (pre, said) = run(&get("ExecStartPre"));
    if pre == 0 {
        let (code, err) = run(&get("ExecStart"));
        assert_eq!(code, 0, "the bot's entry point failed: {err}");
    } else {
        assert!(
            said.contains("selfheal") || said.contains("CRITICAL"),
            "{said}"
        );
    }
    pre
}

fn started(d: &Deployment) -> Option<String> {
    std::fs::read_to_string(d.bot.path("engine.started")).ok()
}

#[test]
fn the_unit_starts_the_reference_bot_as_systemd_would() {
    let d = Deployment::new("TRADING_MODE=real\nBINANCE_API_KEY=x\n");
    d.bot
        .write_state(&[position("BTC-USDT", "trend", "LONG")], &[]);
    assert_eq!(start_as_systemd(&d), 0);
    let line = started(&d).expect("the engine started");
    let current = d.current.canonicalize().expect("current");
    assert_eq!(line, format!("real {}\n", current.display()));
}

#[test]
fn the_unit_refuses_a_critical_root_when_the_env_file_says_real() {
    for mode in ["real", "live"] {
        let d = Deployment::new(&format!("TRADING_MODE={mode}\n"));
        let a = position("BTC-USDT", "trend", "LONG");
        d.bot.write_state(&[a.clone(), a], &[]);
        assert_eq!(start_as_systemd(&d), 4, "{mode}");
        assert_eq!(started(&d), None, "{mode}: the bot did not run");
        let alerts = std::fs::read_to_string(d.bot.path(ALERTS)).expect("alerts");
        assert!(alerts.contains("POSITION_CONFLICT"), "{alerts}");
    }
}

#[test]
fn the_unit_starts_a_critical_root_in_paper_mode() {
    for env_file in ["TRADING_MODE=paper\n", ""] {
        let d = Deployment::new(env_file);
        let a = position("BTC-USDT", "trend", "LONG");
        d.bot.write_state(&[a.clone(), a], &[]);
        assert_eq!(start_as_systemd(&d), 0, "{env_file:?}");
        let line = started(&d).expect("paper always starts");
        assert!(line.starts_with("paper "), "{line}");
    }
}

/// Runs `systemd-analyze verify` on the unit with its paths pointed at a real deployment,
/// when systemd-analyze is installed; it must say nothing about the unit and succeed.
fn verify_with_systemd(text: &str) {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit was checked by parsing only");
        return;
    };
    assert!(probe.status.success());
    let d = Deployment::new("TRADING_MODE=real\n");
    assert!(d.unit.len() > text.len() / 2);
    let unit = d.unit.replace("User=trader", "User=root");
    let path = d.bot.dir.path().join(UNIT);
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let relevant: Vec<&str> = said.lines().filter(|l| l.contains(UNIT)).collect();
    assert!(out.status.success() && relevant.is_empty(), "{said}");
}
