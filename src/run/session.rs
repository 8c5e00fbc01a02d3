//! What every command and every pipeline stage shares: the caller's [`Options`], the opened
//! root with its layout ([`Session`]), selfheal's own directories ([`bootstrap`]) and the
//! run's mode ([`mode_of`], [`mode_doubt`]). Invariant: a session's layout and journal tag
//! algorithm are read once, when it opens; the mode is resolved from the options and the
//! root's `.env`, never guessed (an unreadable mode is real, with MODE_UNCERTAIN).

use crate::checks::locks::Known;
use crate::checks::{Ctx, Phase};
use crate::config::Layout;
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Root, TrustedLink};
use crate::hint::Hints;
use crate::journal::Journal;
use crate::mode::{self, Environment, Mode, ModeChoice, Resolution};
use crate::paths::RelPath;
use crate::paths::OBJECTS_DIR;
use crate::paths::{BACKUPS_DIR, JOURNAL_DIR};
use journal_format::Mac;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
/// How a command is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The state root.
    pub root: PathBuf,
    /// An explicit config file.
    pub config: Option<PathBuf>,
    /// `--mode`.
    pub mode: Option<Mode>,
    /// The environment the mode is resolved with (`TRADING_MODE`, and what a `.env` may
    /// interpolate): the CLI passes its own; a library caller passes what the bot runs with.
    pub env: Environment,
    /// Create the root if it is missing.
    pub init: bool,
    /// How long to wait for another selfheal.
    pub lock_timeout: Duration,
    /// Apply a lossy salvage even in real mode.
    pub accept_loss: bool,
    /// `--dry-run`: take selfheal's lock shared, recover, plan, detect and report exactly as
    /// `check` does, and write nothing at all (`heal --dry-run` is `check`).
    pub dry_run: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            root: PathBuf::from("."),
            config: None,
            mode: None,
            env: Environment::default(),
            init: false,
            lock_timeout: Duration::from_secs(30),
            accept_loss: false,
            dry_run: false,
        }
    }
}

/// An opened root with its layout.
pub struct Session {
    /// The root.
    pub root: Root,
    /// The layout.
    pub layout: Layout,
    /// The journal's tag algorithm.
    pub mac: Mac,
    /// Runnable commands for messages.
    pub hints: Hints,
}

impl Session {
    /// Opens the root (creating it with `init`) and loads the layout.
    ///
    /// # Errors
    /// A missing root, an invalid config, an unreadable key file.
    pub fn open(opts: &Options, init: bool) -> Result<Session> {
        let mut root = if init {
            Root::create(&opts.root)?
        } else {
            Root::open(&opts.root)?
        };
        let canonical = root.canonical_path()?;
        crate::paths::refuse_system_root(&canonical)?;
        let hints = Hints::new(&canonical, opts.config.as_deref());
        let layout = Layout::load(&opts.root, opts.config.as_deref())?;
        root.set_trusted(
            layout
                .trusted
                .iter()
                .map(|(link, target)| TrustedLink {
                    link: link.clone(),
                    target: target.clone(),
                })
                .collect(),
        );
        let mac = crate::keyfile::journal_mac(&layout, &opts.root)?;
        Ok(Session {
            root,
            layout,
            mac,
            hints,
        })
    }

    pub(crate) fn ctx<'a>(
        &'a self,
        journal: &'a Journal,
        mode: ModeChoice,
        (phase, accept_loss): (Phase, bool),
        locks: &'a Known,
    ) -> Ctx<'a> {
        Ctx {
            root: &self.root,
            layout: &self.layout,
            hints: &self.hints,
            txn: None,
            mode,
            now: chrono::Utc::now().timestamp(),
            journal,
            phase,
            accept_loss,
            locks,
        }
    }

    /// When a wait for the bot's locks that starts now must end.
    pub(crate) fn bot_lock_deadline(&self) -> Instant {
        Instant::now() + self.layout.lock_bot_timeout
    }
}

/// Creates selfheal's own directories (`logs/`, `logs/backups/` and below) if missing,
/// before the lock and journal can exist; returns the ones that were created.
/// `logs/backups/` is created 0755, as the bot creates it (it keeps its own backups there);
/// selfheal's subdirectories of it are 0700.
///
/// # Errors
/// I/O errors, or one of them existing as something other than a directory.
pub fn bootstrap(root: &Root) -> Result<Vec<RelPath>> {
    let mut created = Vec::new();
    for (dir, mode) in [
        ("logs", 0o755),
        (BACKUPS_DIR, 0o755),
        (JOURNAL_DIR, 0o700),
        (OBJECTS_DIR, 0o700),
    ] {
        let rel = RelPath::new(dir)?;
        // The journal and object directories are selfheal's internals: not reported.
        let made = root
            .ensure_dir(&rel, mode)
            .map_err(|e| root.explain_denied(e))?;
        if made && (dir == "logs" || dir == BACKUPS_DIR) {
            created.push(rel);
        }
    }
    Ok(created)
}

/// The mode of a command run on `s` (see [`mode`]).
pub(crate) fn mode_of(s: &Session, opts: &Options) -> Resolution {
    mode::resolve(
        opts.mode,
        &opts.env,
        s.hints.root(),
        &s.layout.config.trading_mode.dotenv_fallbacks,
    )
}

/// The HIGH finding that says why the mode fell to real, if it did.
pub(crate) fn mode_doubt(s: &Session, r: &Resolution) -> Option<Finding> {
    let why = r.doubt.as_ref()?;
    let path = r
        .dotenv
        .as_ref()
        .map_or_else(|| s.hints.path(mode::DOTENV), |p| p.display().to_string());
    Some(
        Finding::new(
            code::MODE_UNCERTAIN,
            Level::High,
            Some(mode::DOTENV),
            format!("{path} {why}: the mode is taken as real"),
            why.clone(),
        )
        .with_details(json!({"file": path, "mode": "real"})),
    )
}
