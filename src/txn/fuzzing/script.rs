//! The input of the engine fuzz target, decoded from plain bytes: the configuration, a small
//! state root, and a script of steps (selfheal commands, each with an optional fault, and
//! what the bot or an operator does in between). Every input decodes; a read past the end
//! gives zeros, and the script ends with the input.
//!
//! Layout: a header of 6 bytes `[config, open, closed, layout, flags, salt]`, then steps of
//! 4 bytes `[op, a, b, c]` (at most [`MAX_STEPS`]). `op % 16` picks the step:
//!
//! | op | step | a | b, c |
//! |---|---|---|---|
//! | 0 | `heal` | bit 0 real mode, bit 1 `--accept-loss` | fault |
//! | 1 | `check` | bit 0 real mode | |
//! | 2 | `rollback` | bits 0-6 which transaction, bit 7 `--force` | fault |
//! | 3 | `recover` | bit 0 `--keep-current` | fault |
//! | 4 | `prune --older-than 0s` | `--keep` = a % 4 | fault |
//! | 5 | one `watch` cycle | bit 0 real mode | fault |
//! | 6 | `ack` | which transaction | fault |
//! | 7 | truncate a file | which file | b: where (in 256ths) |
//! | 8 | garbage in a file | which file | b: where, c: length and bytes |
//! | 9 | delete a file | which file | |
//! | 10 | a stale lock file | which lock | b: content |
//! | 11 | a stale heartbeat | which heartbeat | b: how |
//! | 12 | chmod | which file or directory | b: mode |
//! | 13 | the bot rewrites a file as it does | which file | b: content |
//! | 14 | the bot takes (and keeps) a lock | which lock | |
//! | 15 | a: bit 0 set: the bot releases its locks; clear: an empty directory is removed | | b: which |
//!
//! A fault is `b % 8`: 0-3 none; 4 a crash at point `k`; 5 a power cut at point `k`; 6 a
//! power cut once the command finished; 7 an I/O error at point `k` (`ENOSPC` when bit 7
//! of `c` is set, else `EIO`), where `k = 1 + c % 128` counts the fault points of the
//! command (see `crate::fault`).

/// Steps after which the rest of an input is ignored.
pub const MAX_STEPS: usize = 20;

/// A decoded input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The configuration every command runs with.
    pub config: Config,
    /// The state root before the first step.
    pub seed: Seed,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The configuration file's retention (everything else is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `retention.keep` (1 to 3).
    pub keep: u64,
    /// `retention.auto`.
    pub auto: bool,
}

/// The state root before the first step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed {
    /// Open positions (0 to 5).
    pub open: u8,
    /// Closed positions (0 to 3).
    pub closed: u8,
    /// The positions file's text layout (`salvage::fuzzing::Layout` bits).
    pub layout: u8,
    /// Bit 0: the plain heartbeat is stale; bit 1: a JSON heartbeat; bit 2: a stale lock;
    /// bit 3: a world-writable positions file; bit 4: `data/` missing; bit 5: a copy of the
    /// portfolio in `logs/backups/` as the bot keeps them; bit 6: no portfolio; bit 7:
    /// another state file of the bot.
    pub flags: u8,
    /// Varies the records.
    pub salt: u8,
}

/// One step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A selfheal command, with a fault.
    Run(Command, Fault),
    /// The state changes under selfheal.
    Damage(Damage),
    /// The bot takes the lock `LOCKS[n]` and keeps it until [`Step::Release`].
    Hold(usize),
    /// The bot releases every lock it holds.
    Release,
}

/// A selfheal command, run as a library call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `heal`.
    Heal {
        /// Real mode (else paper).
        real: bool,
        /// `--accept-loss`.
        accept_loss: bool,
    },
    /// `check`.
    Check {
        /// Real mode (else paper).
        real: bool,
    },
    /// `rollback <txn>`: the `pick`th transaction of the journal (one past the last names
    /// none).
    Rollback {
        /// Which transaction.
        pick: u8,
        /// `--force`.
        force: bool,
    },
    /// `recover`.
    Recover {
        /// `--keep-current`.
        keep_current: bool,
    },
    /// `prune --keep <keep> --older-than 0s`.
    Prune {
        /// Transactions kept.
        keep: u64,
    },
    /// `watch` for one cycle.
    Watch {
        /// Real mode (else paper).
        real: bool,
    },
    /// `ack <txn>`: the `pick`th transaction of the journal.
    Ack {
        /// Which transaction.
        pick: u8,
    },
}

/// A fault injected into a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// None.
    None,
    /// The process dies at point `k`.
    Crash(u64),
    /// The power fails at point `k` (`None`: right after the command).
    PowerCut(Option<u64>),
    /// Point `k` fails with this OS error.
    Errno(u64, i32),
}

/// Something done to the state between commands, by the bot or an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// `FILES[file]` cut to `at`/256 of its length.
    Truncate {
        /// Which file.
        file: usize,
        /// Where.
        at: u8,
    },
    /// Garbage written into `FILES[file]` at `at`/256 of its length.
    Garbage {
        /// Which file.
        file: usize,
        /// Where.
        at: u8,
        /// Length and bytes.
        seed: u8,
    },
    /// `FILES[file]` removed.
    Delete {
        /// Which file.
        file: usize,
    },
    /// `LOCKS[lock]` made a stale lock file.
    StaleLock {
        /// Which lock.
        lock: usize,
        /// Its content: nothing, a dead PID, text.
        content: u8,
    },
    /// A heartbeat made stale or unreadable.
    StaleHeartbeat {
        /// Which one (plain or JSON).
        which: u8,
        /// How.
        how: u8,
    },
    /// `PATHS[target]` given a mode from `MODES`.
    Chmod {
        /// Which path.
        target: usize,
        /// Which mode.
        mode: u8,
    },
    /// The bot rewrites `FILES[file]` as its own code does.
    BotWrite {
        /// Which file.
        file: usize,
        /// Varies the content.
        salt: u8,
    },
    /// `DIRS[dir]` removed if it is empty.
    RemoveDir {
        /// Which directory.
        dir: usize,
    },
}

/// The files the steps write, damage or remove.
pub const FILES: &[&str] = &[
    "logs/positions_futures.json",
    "logs/portfolio_futures.json",
    "logs/.bot_heartbeat",
    "state/heartbeats/engine.json",
    "logs/trades_futures.json",
    "state/strategy.json",
    "logs/backups/portfolio_futures_1.json",
];

/// Lock files: the bot's own beside two state files, and two that nobody uses.
pub const LOCKS: &[&str] = &[
    "logs/positions_futures.json.lock",
    "state/strategy.json.lock",
    "logs/stale.lock",
    "state/old.lock",
];

/// Directories of the layout.
pub const DIRS: &[&str] = &[
    "logs",
    "config",
    "configs",
    "data",
    "feature_store",
    "state",
    "state/heartbeats",
];

/// Modes a chmod step gives (group- or world-writable ones among them).
pub const MODES: &[u32] = &[0o666, 0o644, 0o600, 0o777, 0o755, 0o620, 0o664, 0o700];

/// A cursor over the input.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn left(&self) -> bool {
        self.pos < self.data.len()
    }
}

impl Script {
    /// Decodes `data`.
    pub fn decode(data: &[u8]) -> Script {
        let mut c = Cursor { data, pos: 0 };
        let cfg = c.u8();
        let config = Config {
            keep: 1 + u64::from(cfg % 3),
            auto: cfg & 4 != 0,
        };
        let seed = Seed {
            open: c.u8() % 6,
            closed: c.u8() % 4,
            layout: c.u8(),
            flags: c.u8(),
            salt: c.u8(),
        };
        let mut steps = Vec::new();
        while c.left() && steps.len() < MAX_STEPS {
            let [op, a, b, x] = [c.u8(), c.u8(), c.u8(), c.u8()];
            steps.push(step(op, a, b, x));
        }
        Script {
            config,
            seed,
            steps,
        }
    }
}

fn step(op: u8, a: u8, b: u8, c: u8) -> Step {
    let fault = fault(b, c);
    let pick = |n: usize| usize::from(a) % n;
    match op % 16 {
        0 => Step::Run(
            Command::Heal {
                real: a & 1 != 0,
                accept_loss: a & 2 != 0,
            },
            fault,
        ),
        1 => Step::Run(Command::Check { real: a & 1 != 0 }, Fault::None),
        2 => Step::Run(
            Command::Rollback {
                pick: a & 0x7f,
                force: a & 0x80 != 0,
            },
            fault,
        ),
        3 => Step::Run(
            Command::Recover {
                keep_current: a & 1 != 0,
            },
            fault,
        ),
        4 => Step::Run(
            Command::Prune {
                keep: u64::from(a % 4),
            },
            fault,
        ),
        5 => Step::Run(Command::Watch { real: a & 1 != 0 }, fault),
        6 => Step::Run(Command::Ack { pick: a }, fault),
        7 => Step::Damage(Damage::Truncate {
            file: pick(FILES.len()),
            at: b,
        }),
        8 => Step::Damage(Damage::Garbage {
            file: pick(FILES.len()),
            at: b,
            seed: c,
        }),
        9 => Step::Damage(Damage::Delete {
            file: pick(FILES.len()),
        }),
        10 => Step::Damage(Damage::StaleLock {
            lock: pick(LOCKS.len()),
            content: b,
        }),
        11 => Step::Damage(Damage::StaleHeartbeat { which: a, how: b }),
        12 => Step::Damage(Damage::Chmod {
            target: pick(FILES.len() + DIRS.len()),
            mode: b,
        }),
        13 => Step::Damage(Damage::BotWrite {
            file: pick(FILES.len()),
            salt: b,
        }),
        14 => Step::Hold(pick(LOCKS.len())),
        _ if a & 1 != 0 => Step::Release,
        _ => Step::Damage(Damage::RemoveDir {
            dir: usize::from(b) % DIRS.len(),
        }),
    }
}

fn fault(b: u8, c: u8) -> Fault {
    let k = 1 + u64::from(c % 128);
    match b % 8 {
        4 => Fault::Crash(k),
        5 => Fault::PowerCut(Some(k)),
        6 => Fault::PowerCut(None),
        7 if c & 0x80 != 0 => Fault::Errno(k, 28),
        7 => Fault::Errno(k, 5),
        _ => Fault::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_decodes_and_the_script_ends_with_it() {
        assert!(Script::decode(&[]).steps.is_empty());
        let s = Script::decode(&[4, 1, 1, 0, 0, 0, 0, 3, 4, 10]);
        assert_eq!(
            s.config,
            Config {
                keep: 2,
                auto: true
            }
        );
        assert_eq!(
            s.steps,
            vec![Step::Run(
                Command::Heal {
                    real: true,
                    accept_loss: true
                },
                Fault::Crash(11)
            )]
        );
        let long = vec![0u8; 6 + 4 * (MAX_STEPS + 5)];
        assert_eq!(Script::decode(&long).steps.len(), MAX_STEPS);
    }
}
