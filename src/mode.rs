//! The trading mode and where it came from: `--mode`, else `TRADING_MODE` (`paper` is
//! paper, anything else is real), else paper. Only an *explicit* paper mode may signal a
//! process.

use serde::Serialize;
use std::fmt;

/// Paper or real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Paper trading: the engine always starts.
    Paper,
    /// Real money: the engine starts only on a healthy state.
    Real,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Paper => "paper",
            Mode::Real => "real",
        })
    }
}

/// The mode with its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChoice {
    /// The mode.
    pub mode: Mode,
    /// Whether it was given (`--mode` or `TRADING_MODE`) rather than defaulted.
    pub explicit: bool,
}

impl ModeChoice {
    /// Resolves the mode from the flag and the environment value of `TRADING_MODE`.
    pub fn resolve(flag: Option<Mode>, env: Option<&str>) -> ModeChoice {
        match (flag, env) {
            (Some(mode), _) => ModeChoice {
                mode,
                explicit: true,
            },
            (None, Some(v)) => ModeChoice {
                mode: if v.trim() == "paper" {
                    Mode::Paper
                } else {
                    Mode::Real
                },
                explicit: true,
            },
            (None, None) => ModeChoice {
                mode: Mode::Paper,
                explicit: false,
            },
        }
    }

    /// Whether a process may be signalled.
    pub fn may_signal(&self) -> bool {
        self.explicit && self.mode == Mode::Paper
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution() {
        assert_eq!(
            ModeChoice::resolve(None, None),
            ModeChoice {
                mode: Mode::Paper,
                explicit: false
            }
        );
        assert_eq!(ModeChoice::resolve(None, Some("paper")).mode, Mode::Paper);
        assert_eq!(ModeChoice::resolve(None, Some("live")).mode, Mode::Real);
        assert_eq!(ModeChoice::resolve(None, Some("real")).mode, Mode::Real);
        assert_eq!(
            ModeChoice::resolve(Some(Mode::Paper), Some("real")).mode,
            Mode::Paper
        );
        assert!(!ModeChoice::resolve(None, None).may_signal());
        assert!(ModeChoice::resolve(None, Some("paper")).may_signal());
    }
}
