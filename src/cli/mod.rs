//! Command-line parsing and dispatch. The only place that reads the process environment
//! (`TRADING_MODE` and what a `.env` may interpolate, `SELFHEAL_ROOT`), prints, and turns
//! outcomes and errors into exit codes. An option is offered only by the commands it acts
//! on (`--mode` where a mode is decided, `--lock-timeout` where selfheal's lock is taken);
//! every write to standard output goes through `output::Out`, so a failed write is reported
//! and a closed pipe ends quietly.

mod exit;
mod generate;
mod human;
mod listing;
mod output;

use clap::{CommandFactory, Parser, Subcommand};
use selfheal::commands;
use selfheal::parse_duration;
use selfheal::Hints;
use selfheal::Mode;
use selfheal::Options;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Repairs a trading bot's state directory, transactionally, and decides whether the
/// trading engine may start.
#[derive(Debug, Parser)]
#[command(name = "selfheal", version = version(), about)]
struct Cli {
    /// The state root (default: the current directory).
    #[arg(long, global = true, env = "SELFHEAL_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// A configuration file (default: config/selfheal.json under the root, if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More output: -v adds the plan (each operation, its path and why), -vv debug logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors, criticals and a refused start.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// `--lock-timeout` before the command, as earlier versions took it: accepted for the
    /// commands that take the lock, a usage error for the others.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, hide = true)]
    lock_timeout: Option<Duration>,
    #[command(subcommand)]
    command: Command,
}

/// `--lock-timeout`, offered by the commands that take selfheal's lock.
#[derive(Debug, clap::Args)]
struct LockArg {
    /// How long to wait for another selfheal holding the lock, e.g. 30s, 500ms [default: 30s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    lock_timeout: Option<Duration>,
}

/// The wait for the lock when no `--lock-timeout` is given.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// `selfheal --version`: the package version, the commit it was built from (`unknown` when
/// built outside a git checkout) and the journal format version it reads and writes.
fn version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (commit {}, journal format {})",
            env!("CARGO_PKG_VERSION"),
            env!("SELFHEAL_GIT_COMMIT"),
            journal_format::VERSION
        )
    })
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Paper,
    Real,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Paper => Mode::Paper,
            ModeArg::Real => Mode::Real,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recover, repair what is safe, detect what is dangerous, decide whether to start.
    Heal {
        /// paper or real (default: TRADING_MODE from the environment, else from the root's
        /// .env, else paper).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Plan and report; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply a lossy or ambiguous salvage even in real mode.
        #[arg(long)]
        accept_loss: bool,
        /// Create the root if it does not exist.
        #[arg(long)]
        init: bool,
        #[command(flatten)]
        lock: LockArg,
    },
    /// The same findings and plan as heal; changes nothing at all.
    Check {
        /// paper or real (default: TRADING_MODE from the environment, else from the root's
        /// .env, else paper).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
    },
    /// Undo a committed transaction, as a new transaction.
    Rollback {
        /// The transaction id.
        id: u64,
        /// Roll back even paths changed since (their current content is backed up first).
        #[arg(long)]
        force: bool,
        /// Show what would be done.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        lock: LockArg,
    },
    /// Run recovery alone.
    Recover {
        /// Close a conflict by accepting the files as they are.
        #[arg(long)]
        keep_current: bool,
        #[command(flatten)]
        lock: LockArg,
    },
    /// Retention: drop old transactions and the backups no kept transaction needs.
    Prune {
        /// Always keep this many newest transactions (default: retention.keep).
        #[arg(long, value_name = "N")]
        keep: Option<u64>,
        /// Only prune transactions older than this, e.g. 30d (default: retention.older_than).
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        older_than: Option<Duration>,
        #[command(flatten)]
        lock: LockArg,
    },
    /// Periodic checks beside a running bot: repairs only under the bot's own file locks,
    /// reports stale heartbeats and long-held locks, never signals a process.
    Watch {
        /// The pause between cycles, e.g. 30s, 200ms, 5m.
        #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
        interval: Duration,
        /// paper or real (default: TRADING_MODE from the environment, else from the root's
        /// .env, else paper).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Stop after N cycles (default: until SIGTERM or SIGINT).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        cycles: Option<u64>,
        #[command(flatten)]
        lock: LockArg,
    },
    /// Acknowledge a recorded critical (a lossy salvage applied in paper mode) so real mode
    /// may start again.
    Ack {
        /// The transaction whose critical is acknowledged.
        id: u64,
        #[command(flatten)]
        lock: LockArg,
    },
    /// Read-only: the salvaged document on stdout, what was kept and lost on stderr.
    Salvage {
        /// The damaged file (`-`: standard input; default: the root's positions file).
        file: Option<PathBuf>,
    },
    /// Healing metrics from the journal.
    Stats {
        /// Also write them to FILE in the Prometheus textfile-collector format (atomically;
        /// a symlink is written through; `-`: standard output). FILE must be a regular file
        /// outside the root.
        #[arg(long, value_name = "FILE")]
        prometheus: Option<PathBuf>,
    },
    /// Audit the journal.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// Print the effective configuration.
    Config,
    /// Shell completions and the manual page, on stdout (for install steps).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: generate::GenerateCommand,
    },
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Every transaction.
    List,
    /// One transaction's operations.
    Show {
        /// The transaction id.
        id: u64,
    },
    /// Verify the chain and every backup object.
    Verify {
        /// An earlier journal key (before `journal rekey`), to verify the records it tags
        /// too (repeatable).
        #[arg(long = "old-key-file", value_name = "FILE")]
        old_key_files: Vec<PathBuf>,
    },
    /// Rotate the journal key: later records are tagged with the key in FILE; then set
    /// journal_key_file to FILE.
    Rekey {
        /// The new key (a file outside the root, readable by its owner only).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
        #[command(flatten)]
        lock: LockArg,
    },
    /// Move a damaged journal aside (under logs/backups/quarantine/) and start a new one
    /// anchored to it; every backup object is kept.
    Quarantine {
        #[command(flatten)]
        lock: LockArg,
    },
}

impl Command {
    /// The command's `--lock-timeout`, or `None` for a command that never takes the lock.
    fn lock(&self) -> Option<&LockArg> {
        match self {
            Command::Heal { lock, .. }
            | Command::Rollback { lock, .. }
            | Command::Recover { lock, .. }
            | Command::Prune { lock, .. }
            | Command::Watch { lock, .. }
            | Command::Ack { lock, .. } => Some(lock),
            Command::Journal { command } => command.lock(),
            Command::Check { .. }
            | Command::Salvage { .. }
            | Command::Stats { .. }
            | Command::Config
            | Command::Generate { .. } => None,
        }
    }

    /// The command as typed, for messages.
    fn name(&self) -> String {
        let name = match self {
            Command::Heal { .. } => "heal",
            Command::Check { .. } => "check",
            Command::Rollback { .. } => "rollback",
            Command::Recover { .. } => "recover",
            Command::Prune { .. } => "prune",
            Command::Watch { .. } => "watch",
            Command::Ack { .. } => "ack",
            Command::Salvage { .. } => "salvage",
            Command::Stats { .. } => "stats",
            Command::Journal { command } => return format!("journal {}", command.name()),
            Command::Config => "config",
            Command::Generate { .. } => "generate",
        };
        name.to_string()
    }
}

impl JournalCommand {
    /// The command's `--lock-timeout`, or `None` for a command that never takes the lock.
    fn lock(&self) -> Option<&LockArg> {
        match self {
            JournalCommand::List | JournalCommand::Show { .. } | JournalCommand::Verify { .. } => {
                None
            }
            JournalCommand::Rekey { lock, .. } | JournalCommand::Quarantine { lock } => Some(lock),
        }
    }

    /// The subcommand as typed, for messages.
    fn name(&self) -> &'static str {
        match self {
            JournalCommand::List => "list",
            JournalCommand::Show { .. } => "show",
            JournalCommand::Verify { .. } => "verify",
            JournalCommand::Rekey { .. } => "rekey",
            JournalCommand::Quarantine { .. } => "quarantine",
        }
    }
}

/// The commands that offer `--lock-timeout` (`heal`, `journal …`), read from the parser
/// itself so the list stays true as commands are added.
fn locking_commands() -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.get_arguments().any(|a| a.get_id() == "lock_timeout") {
                out.push(name.clone());
            }
            walk(sub, &format!("{name} "), out);
        }
    }
    let mut out = Vec::new();
    walk(&<Cli as clap::CommandFactory>::command(), "", &mut out);
    out
}

/// The lock wait: `--lock-timeout` after the command, or before it (as earlier versions
/// took it), only for a command that takes the lock.
fn lock_timeout(cli: &Cli) -> Result<Duration, selfheal::Error> {
    use selfheal::Error;
    match (cli.command.lock(), cli.lock_timeout) {
        (None, Some(_)) => Err(Error::Usage(format!(
            "--lock-timeout applies only to the commands that take selfheal's lock ({}); `{}` never takes it",
            locking_commands().join(", "),
            cli.command.name()
        ))),
        (Some(LockArg { lock_timeout: Some(_) }), Some(_)) => Err(Error::Usage(
            "--lock-timeout is given twice, before and after the command".into(),
        )),
        (Some(arg), before) => Ok(arg.lock_timeout.or(before).unwrap_or(DEFAULT_LOCK_TIMEOUT)),
        (None, None) => Ok(DEFAULT_LOCK_TIMEOUT),
    }
}

/// Parses, runs, prints, exits.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    init_tracing(&cli);
    if let Err(e) = selfheal::install_signal_handlers() {
        tracing::warn!("cannot install signal handlers: {e}");
    }
    let out = output::Out::new(cli.json, cli.quiet, cli.verbose);
    let code = match run(&cli, &out) {
        Ok(code) => code,
        Err(e) => {
            let code = error_code(&cli.command, &e);
            out.error(&e, code);
            code
        }
    };
    ExitCode::from(ended(&out, code))
}

/// The exit code once standard output is flushed: a closed pipe changes nothing (the
/// reader stopped reading; the command's own outcome stands), any other write error is an
/// operational error (8, unless a higher code applies).
fn ended(out: &output::Out, code: u8) -> u8 {
    match out.finish() {
        output::Ended::Written | output::Ended::Closed => code,
        output::Ended::Failed(e) => {
            out.stdout_error(&e);
            exit::highest(code, exit::OPERATIONAL)
        }
    }
}

/// A command line the parser refused (or `--help`, `--version`): clap's text on stderr (help
/// and version on stdout), and with `--json` among the arguments, the error document on
/// stdout too, as for every other failure.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(exit::OK);
    }
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    let out = output::Out::new(json, false, 0);
    let _ = e.print();
    let text = match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "no command given (selfheal --help lists them)".to_string()
        }
        _ => e.render().to_string(),
    };
    out.error_text(&text, exit::USAGE);
    ExitCode::from(exit::USAGE)
}

/// The exit code of a failed command: `prune`, `stats` and `watch` have no "refused" code
/// (the README's table), so what is 4 elsewhere is an operational error for them; `watch` has no
/// lock code either (a busy lock skips a cycle).
fn error_code(command: &Command, e: &selfheal::Error) -> u8 {
    // The commands that take no exclusive lock read under a shared one.
    let reader = command.lock().is_none();
    match (command, exit::of_error(e)) {
        // Readers wait for a writer's lock; their codes have no 32.
        (_, exit::LOCK) if reader => exit::OPERATIONAL,
        (Command::Prune { .. } | Command::Stats { .. }, exit::MUST_NOT_START) => exit::OPERATIONAL,
        (Command::Watch { .. }, exit::MUST_NOT_START | exit::LOCK) => exit::OPERATIONAL,
        (_, code) => code,
    }
}

fn init_tracing(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a terminal: under systemd or a log shipper, escape sequences would
    // land in the log as raw control characters.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

fn options(cli: &Cli) -> Result<Options, selfheal::Error> {
    Ok(Options {
        root: cli.root.clone().unwrap_or_else(|| PathBuf::from(".")),
        config: cli.config.clone(),
        env: selfheal::Environment::from_vars(std::env::vars_os()),
        lock_timeout: lock_timeout(cli)?,
        ..Options::default()
    })
}

fn run(cli: &Cli, out: &output::Out) -> Result<u8, selfheal::Error> {
    let mut opts = options(cli)?;
    match &cli.command {
        Command::Heal {
            mode,
            dry_run,
            accept_loss,
            init,
            lock: _,
        } => {
            opts.mode = mode.map(Mode::from);
            opts.dry_run = *dry_run;
            opts.accept_loss = *accept_loss;
            opts.init = *init;
            out.heal_start(*dry_run);
            let report = commands::heal(&opts)?;
            out.heal(&report);
            Ok(exit::of_heal(&report))
        }
        Command::Check { mode } => {
            opts.mode = mode.map(Mode::from);
            let report = commands::check(&opts)?;
            let verdict = exit::check_verdict(&report);
            out.check(&report, &verdict, &heal_command(&opts, report.mode));
            Ok(exit::of_check(&verdict))
        }
        Command::Rollback {
            id,
            force,
            dry_run,
            lock: _,
        } => {
            opts.dry_run = *dry_run;
            let report = commands::rollback(&opts, *id, *force)?;
            out.rollback(&report);
            Ok(0)
        }
        Command::Recover {
            keep_current,
            lock: _,
        } => {
            let report = commands::recover(&opts, *keep_current)?;
            out.recover(&report);
            Ok(if report.conflict {
                exit::MUST_NOT_START
            } else {
                0
            })
        }
        Command::Prune {
            keep,
            older_than,
            lock: _,
        } => {
            let report = commands::prune(&opts, *keep, *older_than)?;
            out.prune(&report, &Hints::new(&opts.root, opts.config.as_deref()));
            Ok(0)
        }
        Command::Watch {
            interval,
            mode,
            cycles,
            lock: _,
        } => {
            opts.mode = mode.map(Mode::from);
            let w = selfheal::commands::watch::WatchOptions {
                interval: *interval,
                cycles: *cycles,
                notify: notify_target(),
            };
            // A reader that went away, or output that cannot be written, ends the watch.
            let summary = selfheal::commands::watch::watch(&opts, &w, |c| {
                out.watch_cycle(c);
                match out.stdout_failed() {
                    true => std::ops::ControlFlow::Break(()),
                    false => std::ops::ControlFlow::Continue(()),
                }
            })?;
            out.watch_end(&summary);
            Ok(exit::OK)
        }
        Command::Stats { prometheus } => stats(&opts, prometheus.as_deref(), out),
        Command::Ack { id, lock: _ } => {
            let report = commands::ack(&opts, *id)?;
            out.ack(&report);
            Ok(exit::OK)
        }
        Command::Salvage { file } => {
            let s = commands::salvage_file(&opts, file.as_deref())?;
            out.salvage(&s, std::io::IsTerminal::is_terminal(&std::io::stdout()));
            Ok(exit::of_salvage(&s.salvaged.report))
        }
        Command::Journal { command } => journal(&opts, command, out),
        Command::Config => {
            let layout = commands::config(&opts)?;
            out.config(&layout);
            Ok(0)
        }
        Command::Generate { what } => {
            generate::run(what, Cli::command()).map_err(|source| selfheal::Error::Io {
                op: selfheal::IoOp::Write,
                path: PathBuf::from("standard output"),
                source,
            })?;
            Ok(exit::OK)
        }
    }
}

/// The `heal` that applies what `check` found, as a command to paste: the same root,
/// configuration and mode, absolute paths, quoted for a POSIX shell where needed.
fn heal_command(opts: &Options, mode: Mode) -> String {
    let abs = |p: &std::path::Path| {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        shell_word(&p.display().to_string())
    };
    let config = opts
        .config
        .as_deref()
        .map(|c| format!(" --config {}", abs(c)))
        .unwrap_or_default();
    format!(
        "selfheal --root {}{config} heal --mode {mode}",
        abs(&opts.root)
    )
}

/// `word` as one POSIX shell word.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// systemd's notification target, from `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
fn notify_target() -> Option<selfheal::commands::watch::NotifyTarget> {
    let var = |k| std::env::var(k).ok();
    selfheal::commands::watch::NotifyTarget::from_env_values(
        var("NOTIFY_SOCKET").as_deref(),
        var("WATCHDOG_USEC").as_deref(),
        var("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

fn stats(
    opts: &Options,
    prometheus: Option<&std::path::Path>,
    out: &output::Out,
) -> Result<u8, selfheal::Error> {
    let to_stdout = prometheus.is_some_and(|p| p.as_os_str() == "-");
    if to_stdout && out.json {
        return Err(selfheal::Error::Usage(
            "`--prometheus -` and `--json` would both write to standard output".into(),
        ));
    }
    let stats = commands::stats(opts)?;
    if let Some(path) = prometheus {
        let text = commands::prometheus(&stats);
        if to_stdout {
            out.stdout(text.as_bytes());
        } else {
            commands::write_prometheus(opts, path, &text)?;
        }
    }
    // `--prometheus -`: the metrics are the data on standard output, nothing else is.
    if !to_stdout {
        out.stats(&stats, prometheus);
    }
    Ok(if stats.journal_problem.is_some() {
        exit::OPERATIONAL
    } else {
        exit::OK
    })
}

fn journal(
    opts: &Options,
    command: &JournalCommand,
    out: &output::Out,
) -> Result<u8, selfheal::Error> {
    match command {
        JournalCommand::Rekey { new_key_file, .. } => {
            let report = selfheal::commands::rekey(opts, new_key_file)?;
            out.journal_rekey(&report);
            return Ok(exit::OK);
        }
        JournalCommand::Quarantine { .. } => {
            let report = selfheal::commands::quarantine(opts)?;
            out.quarantine(&report, &Hints::new(&opts.root, opts.config.as_deref()));
            return Ok(exit::OK);
        }
        _ => {}
    }
    match command {
        JournalCommand::Verify { old_key_files } => {
            let v = commands::journal::verify(opts, old_key_files)?;
            out.journal_verify(&v);
            Ok(if v.problem.is_some() {
                exit::MUST_NOT_START
            } else {
                exit::OK
            })
        }
        JournalCommand::List => {
            let listed = commands::journal::list(opts)?;
            out.journal_list(&listed);
            Ok(match listed.stopped {
                Some(_) => exit::MUST_NOT_START,
                None => exit::OK,
            })
        }
        JournalCommand::Show { id } => {
            let detail = commands::journal::show(opts, *id)?;
            out.journal_show(&detail);
            Ok(exit::OK)
        }
        JournalCommand::Rekey { .. } | JournalCommand::Quarantine { .. } => Ok(exit::OK),
    }
}
