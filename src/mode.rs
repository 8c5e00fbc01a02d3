//! The trading mode and where it came from, resolved exactly as the reference bot resolves
//! it: `--mode`, else `TRADING_MODE` from the environment, else `TRADING_MODE` from the
//! root's `.env` (python-dotenv, which never overrides a variable already set), else — when
//! the root has no `.env` — from the first of the bot's fallback `.env` files that exists
//! (`trading_mode.dotenv_fallbacks`; by default the reference bot's own list), else paper.
//! A value means paper iff, lowercased, it equals `paper` (no stripping: `"paper "` is
//! real, `"PAPER"` is paper). Every doubt falls to real, never to paper: a `.env` that
//! cannot be read as a regular UTF-8 file, one python-dotenv would refuse to load, or one
//! whose meaning differs between the python-dotenv versions the bot accepts
//! ([`crate::dotenv::Dialect`]). Only an *explicit* paper mode (`--mode paper`, or a
//! `TRADING_MODE` that resolves to paper) may signal a process.

use crate::dotenv::{self, Dialect, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

/// The file in the root the bot reads `TRADING_MODE` from.
pub const DOTENV: &str = ".env";

/// The largest `.env` read; a larger one is doubt (real).
const MAX_DOTENV: u64 = 1 << 20;

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

/// Where the mode came from (`mode_source` in the JSON report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ModeSource {
    /// `--mode`.
    #[serde(rename = "flag")]
    Flag,
    /// `TRADING_MODE` in the environment.
    #[serde(rename = "env")]
    Env,
    /// `TRADING_MODE` in the root's `.env` (or a `.env` that left a doubt: real).
    #[serde(rename = ".env")]
    DotEnv,
    /// `TRADING_MODE` in a fallback `.env` the bot loads when the root has none.
    #[serde(rename = "fallback .env")]
    FallbackDotEnv,
    /// Nothing set: paper, not explicit.
    #[serde(rename = "default")]
    Default,
}

impl fmt::Display for ModeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModeSource::Flag => "--mode",
            ModeSource::Env => "TRADING_MODE in the environment",
            ModeSource::DotEnv => "TRADING_MODE in the root's .env",
            ModeSource::FallbackDotEnv => "TRADING_MODE in a fallback .env",
            ModeSource::Default => "default: TRADING_MODE is not set",
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
    /// Where it came from.
    pub source: ModeSource,
}

impl ModeChoice {
    /// The mode `--mode` gives.
    pub fn flag(mode: Mode) -> ModeChoice {
        ModeChoice {
            mode,
            explicit: true,
            source: ModeSource::Flag,
        }
    }

    /// The mode a `TRADING_MODE` value gives, the bot's rule: paper iff the value,
    /// lowercased, equals `paper` (a value that is not UTF-8 is real).
    pub fn value(value: &OsStr, source: ModeSource) -> ModeChoice {
        let paper = value.to_str().is_some_and(|v| v.to_lowercase() == "paper");
        ModeChoice {
            mode: if paper { Mode::Paper } else { Mode::Real },
            explicit: true,
            source,
        }
    }

    /// Nothing set: paper, not explicit.
    pub fn default_paper() -> ModeChoice {
        ModeChoice {
            mode: Mode::Paper,
            explicit: false,
            source: ModeSource::Default,
        }
    }

    /// Real because of a doubt about the `.env`.
    fn doubt() -> ModeChoice {
        ModeChoice {
            mode: Mode::Real,
            explicit: true,
            source: ModeSource::DotEnv,
        }
    }

    /// Whether a process may be signalled.
    pub fn may_signal(&self) -> bool {
        self.explicit && self.mode == Mode::Paper
    }
}

/// The process environment as the mode resolution sees it (the CLI passes its own; a
/// library caller passes what the bot will run with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// An environment holding `vars`.
    pub fn from_vars<I, K, V>(vars: I) -> Environment
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }
}

/// The resolved mode, and the doubt that made it real, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The mode.
    pub choice: ModeChoice,
    /// The `.env` consulted, if it was.
    pub dotenv: Option<PathBuf>,
    /// Why the `.env` left a doubt (the mode is then real).
    pub doubt: Option<String>,
}

/// Resolves the mode: `flag`, else `TRADING_MODE` in `env`, else in `<root>/.env`, else
/// paper (not explicit).
pub fn resolve(
    flag: Option<Mode>,
    env: &Environment,
    root: &Path,
    fallbacks: &[PathBuf],
) -> Resolution {
    let plain = |choice| Resolution {
        choice,
        dotenv: None,
        doubt: None,
    };
    if let Some(mode) = flag {
        return plain(ModeChoice::flag(mode));
    }
    if let Some(v) = env.get("TRADING_MODE") {
        return plain(ModeChoice::value(v, ModeSource::Env));
    }
    let path = root.join(DOTENV);
    let (path, read, source) = match read(&path) {
        // The bot loads its first fallback that exists (`Path.exists()`, following links).
        Read::Absent => match fallbacks.iter().find(|p| p.exists()) {
            Some(p) => (p.clone(), read(p), ModeSource::FallbackDotEnv),
            None => return plain(ModeChoice::default_paper()),
        },
        found => (path, found, ModeSource::DotEnv),
    };
    let (choice, doubt) = match read {
        Read::Absent => (
            ModeChoice::doubt(),
            Some("vanished while it was read".into()),
        ),
        Read::Unreadable(why) => (ModeChoice::doubt(), Some(format!("cannot be read ({why})"))),
        Read::Text(text) => from_text(&text, env),
    };
    let choice = match choice.source {
        ModeSource::DotEnv => ModeChoice { source, ..choice },
        _ => choice,
    };
    Resolution {
        choice,
        dotenv: Some(path),
        doubt,
    }
}

/// The mode a `.env` holding `text` gives, with the doubt that made it real, if any.
pub fn from_text(text: &str, env: &Environment) -> (ModeChoice, Option<String>) {
    let look = |k: &str| env.get(k).map(|v| v.to_string_lossy().into_owned());
    let mut seen: Option<ModeChoice> = None;
    for dialect in Dialect::ALL {
        let choice = match dotenv::lookup(text, "TRADING_MODE", &look, dialect) {
            Err(e) => {
                let why = format!("python-dotenv would refuse to load it: {}", e.0);
                return (ModeChoice::doubt(), Some(why));
            }
            Ok(Some(Value::Set(v))) => ModeChoice::value(OsStr::new(&v), ModeSource::DotEnv),
            Ok(Some(Value::Unset) | None) => ModeChoice::default_paper(),
        };
        match seen {
            Some(s) if s != choice => {
                let why = "python-dotenv versions the bot accepts read it differently".into();
                return (ModeChoice::doubt(), Some(why));
            }
            _ => seen = Some(choice),
        }
    }
    (seen.unwrap_or_else(ModeChoice::default_paper), None)
}

enum Read {
    Absent,
    Text(String),
    Unreadable(String),
}

/// Reads the `.env` as the bot would: following a symlink, as UTF-8; anything but a
/// regular file is a doubt (a dangling link, a directory, a FIFO: the bot's behaviour
/// then depends on its version and its fallbacks).
fn read(path: &Path) -> Read {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Absent,
        Err(e) => return Read::Unreadable(e.to_string()),
        Ok(_) => {}
    }
    match crate::fsx::read_regular(path, MAX_DOTENV) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Read::Text(text),
            Err(_) => Read::Unreadable("it is not valid UTF-8".into()),
        },
        Err(e) => Read::Unreadable(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures in a temp dir, not a state root
mod tests {
    use super::*;

    type Row<'a> = (
        Option<Mode>,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
        Mode,
        ModeSource,
        bool,
    );

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn mode_of(flag: Option<Mode>, vars: &[(&str, &str)], dotenv: Option<&str>) -> ModeChoice {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(text) = dotenv {
            std::fs::write(dir.path().join(DOTENV), text).expect("write .env");
        }
        resolve(flag, &env(vars), dir.path(), &[]).choice
    }

    /// The bot's rule, `os.environ.get("TRADING_MODE", "paper").lower() == "paper"`, with
    /// python-dotenv filling the environment from the root's `.env` without overriding.
    #[test]
    fn resolution_table() {
        use Mode::{Paper, Real};
        use ModeSource::{Default, DotEnv, Env, Flag};
        let cases: &[Row<'_>] = &[
            (None, &[], None, Paper, Default, false),
            (None, &[("TRADING_MODE", "paper")], None, Paper, Env, true),
            (None, &[("TRADING_MODE", "PAPER")], None, Paper, Env, true),
            (None, &[("TRADING_MODE", "paper ")], None, Real, Env, true),
            (None, &[("TRADING_MODE", " paper")], None, Real, Env, true),
            (None, &[("TRADING_MODE", "")], None, Real, Env, true),
            (None, &[("TRADING_MODE", "live")], None, Real, Env, true),
            (
                Some(Paper),
                &[("TRADING_MODE", "real")],
                None,
                Paper,
                Flag,
                true,
            ),
            (
                Some(Real),
                &[],
                Some("TRADING_MODE=paper\n"),
                Real,
                Flag,
                true,
            ),
            (None, &[], Some("TRADING_MODE=paper\n"), Paper, DotEnv, true),
            (
                None,
                &[],
                Some("TRADING_MODE=Paper # ok\n"),
                Paper,
                DotEnv,
                true,
            ),
            (
                None,
                &[],
                Some("export TRADING_MODE='paper'\n"),
                Paper,
                DotEnv,
                true,
            ),
            (
                None,
                &[],
                Some("TRADING_MODE=\"paper \"\n"),
                Real,
                DotEnv,
                true,
            ),
            (None, &[], Some("TRADING_MODE=real\n"), Real, DotEnv, true),
            (
                None,
                &[("TRADING_MODE", "real")],
                Some("TRADING_MODE=paper\n"),
                Real,
                Env,
                true,
            ),
            (
                None,
                &[("TRADING_MODE", "paper")],
                Some("TRADING_MODE=real\n"),
                Paper,
                Env,
                true,
            ),
            (None, &[], Some("TRADING_MODE\n"), Paper, Default, false),
            (None, &[], Some("OTHER=1\n"), Paper, Default, false),
            (
                None,
                &[],
                Some("TRADING_MODE=paper\nTRADING_MODE=real\n"),
                Real,
                DotEnv,
                true,
            ),
            // Versions disagree: doubt, real.
            (
                None,
                &[],
                Some("TRADING_MODE= #paper\n"),
                Real,
                DotEnv,
                true,
            ),
            (
                None,
                &[],
                Some("\u{feff}TRADING_MODE=real\n"),
                Real,
                DotEnv,
                true,
            ),
            (
                None,
                &[],
                Some("TRADING_MODE=\"x\\\"\n"),
                Real,
                DotEnv,
                true,
            ),
        ];
        for (flag, vars, dotenv, mode, source, explicit) in cases {
            let got = mode_of(*flag, vars, *dotenv);
            let want = (*mode, *source, *explicit);
            assert_eq!(
                (got.mode, got.source, got.explicit),
                want,
                "{flag:?} {vars:?} {dotenv:?}"
            );
        }
    }

    /// With no `.env` in the root, the bot loads the first of its fallback files that
    /// exists; one in the root wins over every fallback.
    #[test]
    fn fallbacks_when_the_root_has_no_dotenv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("mkdir");
        let missing = dir.path().join("missing.env");
        let real = dir.path().join("real.env");
        let paper = dir.path().join("paper.env");
        std::fs::write(&real, "TRADING_MODE=live\n").expect("write");
        std::fs::write(&paper, "TRADING_MODE=paper\n").expect("write");
        let env = Environment::default();
        let r = resolve(
            None,
            &env,
            &root,
            &[missing.clone(), real.clone(), paper.clone()],
        );
        assert_eq!(
            (r.choice.mode, r.choice.source, r.dotenv.as_deref()),
            (Mode::Real, ModeSource::FallbackDotEnv, Some(real.as_path()))
        );
        let r = resolve(None, &env, &root, &[paper.clone(), real.clone()]);
        assert_eq!((r.choice.mode, r.choice.explicit), (Mode::Paper, true));
        let r = resolve(None, &env, &root, std::slice::from_ref(&missing));
        assert_eq!(r.choice, ModeChoice::default_paper());
        std::fs::write(root.join(DOTENV), "OTHER=1\n").expect("write");
        let r = resolve(None, &env, &root, &[real]);
        assert_eq!(
            r.choice,
            ModeChoice::default_paper(),
            "the root's .env wins"
        );
    }

    #[test]
    fn doubts_fall_to_real() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DOTENV);
        std::fs::write(&path, b"TRADING_MODE=paper\n\xff\n").expect("write");
        let r = resolve(None, &Environment::default(), dir.path(), &[]);
        assert_eq!(
            (r.choice.mode, r.choice.source),
            (Mode::Real, ModeSource::DotEnv)
        );
        assert!(r.doubt.is_some_and(|d| d.contains("UTF-8")));
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &path).expect("symlink");
        let r = resolve(None, &Environment::default(), dir.path(), &[]);
        assert_eq!(r.choice.mode, Mode::Real, "a dangling link is a doubt");
        std::fs::remove_file(&path).expect("rm");
        std::fs::create_dir(&path).expect("mkdir");
        assert_eq!(
            resolve(None, &Environment::default(), dir.path(), &[])
                .choice
                .mode,
            Mode::Real
        );
        let odd = Environment::from_vars([(
            OsString::from("TRADING_MODE"),
            <OsString as std::os::unix::ffi::OsStringExt>::from_vec(b"pap\xffer".to_vec()),
        )]);
        assert_eq!(resolve(None, &odd, dir.path(), &[]).choice.mode, Mode::Real);
        assert!(!ModeChoice::default_paper().may_signal());
        assert!(ModeChoice::flag(Mode::Paper).may_signal());
    }
}
