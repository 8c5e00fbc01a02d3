//! Command-line parsing and dispatch. The only place that reads the process environment
//! (`TRADING_MODE`, `SELFHEAL_ROOT`), prints, and turns outcomes and errors into exit codes.

mod exit;
mod human;

use clap::{Parser, Subcommand};
use selfheal::config::parse_duration;
use selfheal::heal::{self, Options};
use selfheal::mode::Mode;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Repairs a trading bot's state directory, transactionally, and decides whether the
/// trading engine may start.
#[derive(Debug, Parser)]
#[command(name = "selfheal", version, about)]
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
    /// More log output (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// How long to wait for another selfheal holding the lock (e.g. 30s, 500ms).
    #[arg(long, global = true, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    lock_timeout: Duration,
    #[command(subcommand)]
    command: Command,
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
        /// paper or real (default: $TRADING_MODE, else paper).
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
    },
    /// The same findings and plan as heal; changes nothing at all.
    Check {
        /// paper or real (default: $TRADING_MODE, else paper).
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
    },
    /// Run recovery alone.
    Recover {
        /// Close a conflict by accepting the files as they are.
        #[arg(long)]
        keep_current: bool,
    },
    /// Retention: drop old transactions and the backups no kept transaction needs.
    Prune {
        /// Always keep this many newest transactions (default: retention.keep).
        #[arg(long, value_name = "N")]
        keep: Option<u64>,
        /// Only prune transactions older than this, e.g. 30d (default: retention.older_than).
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        older_than: Option<Duration>,
    },
    /// Periodic checks beside a running bot: repairs only under the bot's own file locks,
    /// reports stale heartbeats and long-held locks, never signals a process.
    Watch {
        /// The pause between cycles, e.g. 30s, 200ms, 5m.
        #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
        interval: Duration,
        /// paper or real (default: $TRADING_MODE, else paper).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Stop after N cycles (default: until SIGTERM or SIGINT).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        cycles: Option<u64>,
    },
    /// Acknowledge a recorded critical (a lossy salvage applied in paper mode) so real mode
    /// may start again.
    Ack {
        /// The transaction whose critical is acknowledged.
        id: u64,
    },
    /// Read-only: the salvaged document on stdout, what was kept and lost on stderr.
    Salvage {
        /// The damaged file (`-`: standard input; default: the root's positions file).
        file: Option<PathBuf>,
    },
    /// Healing metrics from the journal.
    Stats {
        /// Also write them to FILE in the Prometheus textfile-collector format (atomically).
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
    Verify,
    /// Move a damaged journal aside (under logs/backups/quarantine/) and start a new one
    /// anchored to it; every backup object is kept.
    Quarantine,
}

/// Parses, runs, prints, exits.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit::USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(&cli);
    if let Err(e) = selfheal::lock::install_signal_handlers() {
        tracing::warn!("cannot install signal handlers: {e}");
    }
    let out = human::Out {
        json: cli.json,
        quiet: cli.quiet,
    };
    match run(&cli, &out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            ExitCode::from(error_code(&cli.command, &e))
        }
    }
}

/// The exit code of a failed command: `prune`, `stats` and `watch` have no "refused" code
/// (CONTRACT.md), so what is 4 elsewhere is an operational error for them; `watch` has no
/// lock code either (a busy lock skips a cycle).
fn error_code(command: &Command, e: &selfheal::error::Error) -> u8 {
    let reader = matches!(
        command,
        Command::Check { .. } | Command::Stats { .. } | Command::Journal { .. }
    ) && !matches!(
        command,
        Command::Journal {
            command: JournalCommand::Quarantine
        }
    );
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

fn options(cli: &Cli) -> Options {
    Options {
        root: cli.root.clone().unwrap_or_else(|| PathBuf::from(".")),
        config: cli.config.clone(),
        trading_mode_env: std::env::var("TRADING_MODE").ok(),
        lock_timeout: cli.lock_timeout,
        ..Options::default()
    }
}

fn run(cli: &Cli, out: &human::Out) -> Result<u8, selfheal::error::Error> {
    let mut opts = options(cli);
    match &cli.command {
        Command::Heal {
            mode,
            dry_run,
            accept_loss,
            init,
        } => {
            opts.mode = mode.map(Mode::from);
            opts.dry_run = *dry_run;
            opts.accept_loss = *accept_loss;
            opts.init = *init;
            out.heal_start();
            let report = heal::heal(&opts)?;
            out.heal(&report);
            Ok(exit::of_heal(&report))
        }
        Command::Check { mode } => {
            opts.mode = mode.map(Mode::from);
            let report = heal::check(&opts)?;
            out.check(&report);
            Ok(exit::of_check(&report))
        }
        Command::Rollback { id, force, dry_run } => {
            opts.dry_run = *dry_run;
            let report = heal::rollback(&opts, *id, *force)?;
            out.rollback(&report);
            Ok(0)
        }
        Command::Recover { keep_current } => {
            let report = heal::recover(&opts, *keep_current)?;
            out.recover(&report);
            Ok(if report.conflict {
                exit::MUST_NOT_START
            } else {
                0
            })
        }
        Command::Prune { keep, older_than } => {
            let report = heal::prune(&opts, *keep, *older_than)?;
            out.prune(&report);
            Ok(0)
        }
        Command::Watch {
            interval,
            mode,
            cycles,
        } => {
            opts.mode = mode.map(Mode::from);
            let w = selfheal::watch::WatchOptions {
                interval: *interval,
                cycles: *cycles,
                notify: notify_target(),
            };
            let summary = selfheal::watch::watch(&opts, &w, |c| {
                out.watch_cycle(c);
                std::ops::ControlFlow::Continue(())
            })?;
            out.watch_end(&summary);
            Ok(exit::OK)
        }
        Command::Stats { prometheus } => stats(&opts, prometheus.as_deref(), out),
        Command::Ack { id } => {
            let report = heal::ack(&opts, *id)?;
            out.ack(&report);
            Ok(exit::OK)
        }
        Command::Salvage { file } => {
            let s = heal::salvage_file(&opts, file.as_deref())?;
            out.salvage(&s);
            Ok(exit::of_salvage(&s.salvaged.report))
        }
        Command::Journal { command } => journal(&opts, command, out),
        Command::Config => {
            let layout = selfheal::config::Layout::load(&opts.root, opts.config.as_deref())?;
            out.config(&layout);
            Ok(0)
        }
    }
}

/// systemd's notification target, from `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
fn notify_target() -> Option<selfheal::watch::NotifyTarget> {
    let var = |k| std::env::var(k).ok();
    selfheal::watch::NotifyTarget::from_env_values(
        var("NOTIFY_SOCKET").as_deref(),
        var("WATCHDOG_USEC").as_deref(),
        var("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

fn stats(
    opts: &Options,
    prometheus: Option<&std::path::Path>,
    out: &human::Out,
) -> Result<u8, selfheal::error::Error> {
    let session = heal::Session::open(opts, false)?;
    let _shared = selfheal::lock::acquire_shared(&session.root, opts.lock_timeout)?;
    let journal = selfheal::journal::Journal::load(&session.root, session.mac.clone())?;
    let stats = selfheal::stats::compute(&journal);
    if let Some(path) = prometheus {
        let text = selfheal::stats::prometheus(&stats);
        selfheal::textfile::write_atomic(path, text.as_bytes())?;
    }
    out.stats(&stats, prometheus);
    Ok(if stats.journal_problem.is_some() {
        exit::OPERATIONAL
    } else {
        exit::OK
    })
}

fn journal(
    opts: &Options,
    command: &JournalCommand,
    out: &human::Out,
) -> Result<u8, selfheal::error::Error> {
    if let JournalCommand::Quarantine = command {
        let report = selfheal::quarantine::run(opts)?;
        out.quarantine(&report);
        return Ok(exit::OK);
    }
    let session = heal::Session::open(opts, false)?;
    let _shared = selfheal::lock::acquire_shared(&session.root, opts.lock_timeout)?;
    if let JournalCommand::Verify = command {
        let v = selfheal::audit::verify(&session.root, &session.mac)?;
        out.journal_verify(&v);
        return Ok(if v.problem.is_some() {
            exit::MUST_NOT_START
        } else {
            0
        });
    }
    let journal = selfheal::journal::Journal::load(&session.root, session.mac.clone())?;
    match command {
        JournalCommand::List => {
            let listed = selfheal::audit::list(&journal);
            let unlisted = journal.ids.iter().filter(|id| journal.find(**id).is_none());
            let stopped = journal.problem.as_ref().map(|p| {
                (
                    p,
                    unlisted.count(),
                    selfheal::journal::quarantine_advice(&session.root),
                )
            });
            out.journal_list(&listed, journal.anchor.map(|c| c.through_txn), stopped);
            Ok(match journal.problem {
                Some(_) => exit::MUST_NOT_START,
                None => 0,
            })
        }
        JournalCommand::Show { id } => {
            let detail = selfheal::audit::show(&session.root, &session.layout, &journal, *id)?;
            out.journal_show(&detail);
            Ok(0)
        }
        JournalCommand::Verify | JournalCommand::Quarantine => Ok(0),
    }
}
