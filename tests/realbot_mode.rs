//! The mode is resolved as the reference bot resolves it: `--mode`, else `TRADING_MODE` from
//! the environment, else from the root's `.env` (python-dotenv syntax, never overriding the
//! environment), else paper; paper iff the value lowercased is `paper`, no stripping. Every
//! doubt is real. The expected values of the `.env` rows are what python-dotenv (1.2.1 and
//! 1.2.4) gives for the same bytes.

use crate::support::procs::{put, selfheal_env, tempdir};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// `check --json` on a root holding `dotenv` (if any), with `TRADING_MODE` set to `env`
/// (if any) and `--mode flag` (if any): `(mode, mode_source)`.
fn resolve(flag: Option<&str>, env: Option<&[u8]>, dotenv: Option<&[u8]>) -> (String, String) {
    let root = tempdir();
    if let Some(text) = dotenv {
        put(root.path(), ".env", text);
    }
    let mut cmd = crate::support::bin();
    cmd.arg("--root").arg(root.path()).args(["--json", "check"]);
    if let Some(m) = flag {
        cmd.args(["--mode", m]);
    }
    if let Some(v) = env {
        cmd.env("TRADING_MODE", OsStr::from_bytes(v));
    }
    let out = cmd.output().expect("run selfheal");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (s("mode"), s("mode_source"))
}

type Row<'a> = (
    Option<&'a str>,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    &'a str,
    &'a str,
);

#[test]
fn mode_resolution_table() {
    let rows: &[Row<'_>] = &[
        // Nothing set.
        (None, None, None, "paper", "default"),
        // The environment: case, spaces, empty, not UTF-8.
        (None, Some(b"paper"), None, "paper", "env"),
        (None, Some(b"PAPER"), None, "paper", "env"),
        (None, Some(b"Paper"), None, "paper", "env"),
        (None, Some(b"paper "), None, "real", "env"),
        (None, Some(b" paper"), None, "real", "env"),
        (None, Some(b""), None, "real", "env"),
        (None, Some(b"live"), None, "real", "env"),
        (None, Some(b"pap\xffer"), None, "real", "env"),
        // The flag wins over everything.
        (
            Some("paper"),
            Some(b"real"),
            Some(b"TRADING_MODE=real\n"),
            "paper",
            "flag",
        ),
        (Some("real"), Some(b"paper"), None, "real", "flag"),
        // The environment wins over .env (python-dotenv never overrides).
        (
            None,
            Some(b"real"),
            Some(b"TRADING_MODE=paper\n"),
            "real",
            "env",
        ),
        (
            None,
            Some(b"PAPER"),
            Some(b"TRADING_MODE=real\n"),
            "paper",
            "env",
        ),
        // .env syntax.
        (None, None, Some(b"TRADING_MODE=paper\n"), "paper", ".env"),
        (None, None, Some(b"TRADING_MODE=PAPER"), "paper", ".env"),
        (
            None,
            None,
            Some(b"TRADING_MODE = paper \n"),
            "paper",
            ".env",
        ),
        (
            None,
            None,
            Some(b"export TRADING_MODE=paper\n"),
            "paper",
            ".env",
        ),
        (None, None, Some(b"TRADING_MODE='paper'\n"), "paper", ".env"),
        (
            None,
            None,
            Some(b"TRADING_MODE=\"Paper\"\n"),
            "paper",
            ".env",
        ),
        (
            None,
            None,
            Some(b"TRADING_MODE=\"paper \"\n"),
            "real",
            ".env",
        ),
        (None, None, Some(b"TRADING_MODE=' paper'\n"), "real", ".env"),
        (
            None,
            None,
            Some(b"TRADING_MODE=paper # paper trading\n"),
            "paper",
            ".env",
        ),
        (None, None, Some(b"TRADING_MODE=paper#x\n"), "real", ".env"),
        (
            None,
            None,
            Some(b"# TRADING_MODE=real\nTRADING_MODE=paper\n"),
            "paper",
            ".env",
        ),
        (
            None,
            None,
            Some(b"TRADING_MODE=real # TRADING_MODE=paper\n"),
            "real",
            ".env",
        ),
        (None, None, Some(b"TRADING_MODE=paper\r\n"), "paper", ".env"),
        (None, None, Some(b"TRADING_MODE=\n"), "real", ".env"),
        (None, None, Some(b"TRADING_MODE=live\n"), "real", ".env"),
        // Duplicate keys: the last one wins.
        (
            None,
            None,
            Some(b"TRADING_MODE=real\nTRADING_MODE=paper\n"),
            "paper",
            ".env",
        ),
        (
            None,
            None,
            Some(b"TRADING_MODE=paper\nTRADING_MODE=real\n"),
            "real",
            ".env",
        ),
        // A key without a value sets nothing: the bot's default.
        (None, None, Some(b"TRADING_MODE\n"), "paper", "default"),
        (None, None, Some(b"OTHER=1\n"), "paper", "default"),
        (None, None, Some(b"trading_mode=real\n"), "paper", "default"),
        // A line python-dotenv cannot parse is skipped.
        (
            None,
            None,
            Some(b"TRADING_MODE paper\n"),
            "paper",
            "default",
        ),
        // Interpolation.
        (
            None,
            None,
            Some(b"M=paper\nTRADING_MODE=${M}\n"),
            "paper",
            ".env",
        ),
        (
            None,
            None,
            Some(b"TRADING_MODE=${UNSET_X:-paper}\n"),
            "paper",
            ".env",
        ),
        // Doubts: python-dotenv versions disagree, or the file is not UTF-8.
        (None, None, Some(b"TRADING_MODE= #paper\n"), "real", ".env"),
        (
            None,
            None,
            Some(b"\xef\xbb\xbfTRADING_MODE=real\n"),
            "real",
            ".env",
        ),
        (
            None,
            None,
            Some(b"TRADING_MODE=paper\n\xff\n"),
            "real",
            ".env",
        ),
    ];
    for (flag, env, dotenv, mode, source) in rows {
        let got = resolve(*flag, *env, *dotenv);
        assert_eq!(
            (got.0.as_str(), got.1.as_str()),
            (*mode, *source),
            "flag {flag:?} env {:?} .env {:?}",
            env.map(String::from_utf8_lossy),
            dotenv.map(String::from_utf8_lossy)
        );
    }
}

#[test]
fn dotenv_interpolation_reads_the_environment_first() {
    let root = tempdir();
    put(root.path(), ".env", b"M=real\nTRADING_MODE=${M}\n");
    let run = selfheal_env(root.path(), &["check"], &[("M", "paper")]);
    assert_eq!(
        (&run.json["mode"], &run.json["mode_source"]),
        (&"paper".into(), &".env".into())
    );
    let run = selfheal_env(root.path(), &["check"], &[]);
    assert_eq!(run.json["mode"], "real", "{}", run.json);
}

#[test]
fn an_unreadable_dotenv_is_real_with_a_warning() {
    let root = tempdir();
    std::fs::create_dir(root.path().join(".env")).expect("mkdir");
    let run = selfheal_env(root.path(), &["check"], &[]);
    assert_eq!(
        (&run.json["mode"], &run.json["mode_source"]),
        (&"real".into(), &".env".into())
    );
    let f = run.findings("MODE_UNCERTAIN");
    assert_eq!(f.len(), 1, "{}", run.json);
    assert_eq!(f[0]["level"], "HIGH");
    assert!(f[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("taken as real")));

    std::fs::remove_dir(root.path().join(".env")).expect("rmdir");
    let elsewhere = tempdir();
    std::os::unix::fs::symlink(elsewhere.path().join("gone"), root.path().join(".env"))
        .expect("symlink");
    let dangling = selfheal_env(root.path(), &["check"], &[]);
    assert_eq!(dangling.json["mode"], "real", "{}", dangling.json);
}

#[test]
fn a_dotenv_linked_from_a_shared_directory_is_read_like_the_bot_reads_it() {
    let root = tempdir();
    let shared = tempdir();
    put(shared.path(), "env", b"TRADING_MODE=paper\n");
    std::os::unix::fs::symlink(shared.path().join("env"), root.path().join(".env"))
        .expect("symlink");
    let run = selfheal_env(root.path(), &["check"], &[]);
    assert_eq!(
        (&run.json["mode"], &run.json["mode_source"]),
        (&"paper".into(), &".env".into())
    );
}

#[test]
fn the_human_output_says_where_the_mode_came_from() {
    let root = tempdir();
    put(root.path(), ".env", b"TRADING_MODE=live\n");
    let out = crate::support::bin()
        .arg("--root")
        .arg(root.path())
        .arg("check")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode real (TRADING_MODE in the root's .env)"),
        "{err}"
    );
}

/// With no `.env` in the root, the bot loads the first fallback `.env` that exists (its own
/// list by default, `trading_mode.dotenv_fallbacks` here): selfheal reads the same one.
#[test]
fn a_fallback_dotenv_is_read_when_the_root_has_none() {
    let dir = tempdir();
    let root = dir.path().join("root");
    let fallback = dir.path().join("deploy.env");
    std::fs::create_dir(&root).expect("mkdir root");
    put(dir.path(), "deploy.env", b"export TRADING_MODE='live'\n");
    let config = dir.path().join("selfheal.json");
    let text = serde_json::json!({
        "trading_mode": {"dotenv_fallbacks": [dir.path().join("absent.env"), &fallback]}
    });
    put(dir.path(), "selfheal.json", text.to_string().as_bytes());
    let run = |extra: &[&str]| {
        let out = crate::support::bin()
            .arg("--root")
            .arg(&root)
            .arg("--config")
            .arg(&config)
            .args(["--json", "check"])
            .args(extra)
            .output()
            .expect("run selfheal");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        (v["mode"].to_string(), v["mode_source"].to_string())
    };
    assert_eq!(
        run(&[]),
        ("\"real\"".to_string(), "\"fallback .env\"".to_string())
    );
    put(&root, ".env", b"TRADING_MODE=paper\n");
    assert_eq!(
        run(&[]),
        ("\"paper\"".to_string(), "\".env\"".to_string()),
        "the root's own .env wins over the fallbacks"
    );
}
