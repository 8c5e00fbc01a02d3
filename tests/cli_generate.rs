//! What an install puts beside the binary: `selfheal --version` names the package version,
//! the commit and the journal format; `selfheal generate completions SHELL` and
//! `selfheal generate man` produce scripts and a page that cover every command listed by
//! `--help` (read from the binary, so a new command without completions or a manual entry
//! fails here), and the generator itself stays out of help and completions.

use crate::support::{bin, code, stderr};
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env("SELFHEAL_ROOT", "/nonexistent/selfheal-root")
        .output()
        .expect("run selfheal")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

/// The names under `Commands:` in `selfheal [GROUP] --help`, without `help`.
fn listed(group: &[&str]) -> Vec<String> {
    let mut args = group.to_vec();
    args.push("--help");
    let help = stdout(&run(&args));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command as typed after `selfheal`: `heal`, …, `journal list`.
fn every_command() -> Vec<String> {
    let mut all = Vec::new();
    for name in listed(&[]) {
        let members = listed(&[name.as_str()]);
        if members.is_empty() {
            all.push(name);
        } else {
            all.extend(members.into_iter().map(|m| format!("{name} {m}")));
        }
    }
    all
}

#[test]
fn help_lists_the_commands_and_hides_the_generator() {
    let all = every_command();
    for want in [
        "heal",
        "check",
        "rollback",
        "watch",
        "journal verify",
        "config",
    ] {
        assert!(all.iter().any(|c| c == want), "{want} missing from {all:?}");
    }
    assert!(!all.iter().any(|c| c.starts_with("generate")), "{all:?}");
}

/// The commit recorded by the build: HEAD of this checkout when it is one, else `unknown`.
fn expected_commit() -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    (Path::new(&top).canonicalize().ok()? == dir.canonicalize().ok()?)
        .then(|| git(&["rev-parse", "HEAD"]))
        .flatten()
}

#[test]
fn version_names_package_commit_and_journal_format() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let line = stdout(&out);
        let prefix = format!("selfheal {} (commit ", env!("CARGO_PKG_VERSION"));
        let suffix = format!(", journal format {})\n", journal_format::VERSION);
        let commit = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(&suffix))
            .unwrap_or_else(|| panic!("{line:?}"));
        match expected_commit() {
            Some(head) if std::env::var_os("SELFHEAL_GIT_COMMIT").is_none() => {
                assert_eq!(commit, head)
            }
            _ => assert!(
                commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()),
                "{commit}"
            ),
        }
    }
}

const SHELLS: &[&str] = &["bash", "zsh", "fish", "elvish", "powershell"];

#[test]
fn completions_cover_every_command_for_every_shell() {
    let all = every_command();
    for shell in SHELLS {
        let out = run(&["generate", "completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in &all {
            let last = command.rsplit(' ').next().unwrap_or(command);
            assert!(script.contains(last), "{shell}: {command} missing");
        }
        for flag in ["root", "mode", "lock-timeout", "accept-loss"] {
            assert!(script.contains(flag), "{shell}: {flag} missing");
        }
        assert!(!script.contains("generate"), "{shell} offers the generator");
    }
    let bad = run(&["generate", "completions", "tcsh"]);
    assert_eq!(code(&bad), 16, "{}", stderr(&bad));
}

/// Sources the bash script and asks it to complete `selfheal WORDS…`.
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("selfheal.bash");
    std::fs::write(&file, script).expect("write script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=(selfheal {}); COMP_CWORD={}; _selfheal selfheal '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        quoted.join(" "),
        words.len(),
        words.last().unwrap_or(&""),
        if words.len() > 1 { words[words.len() - 2] } else { "selfheal" },
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_completes_commands_and_subcommands() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("bash is not installed: the bash completion was not exercised");
        return;
    }
    let script = stdout(&run(&["generate", "completions", "bash"]));
    let top = bash_complete(&script, &[""]);
    for name in listed(&[]) {
        assert!(top.contains(&name), "{name} not offered: {top:?}");
    }
    assert!(!top.iter().any(|w| w == "generate"), "{top:?}");
    let journal = bash_complete(&script, &["journal", ""]);
    for name in ["list", "show", "verify"] {
        assert!(journal.contains(&name.to_string()), "{journal:?}");
    }
    let heal = bash_complete(&script, &["heal", "--"]);
    assert!(heal.contains(&"--accept-loss".to_string()), "{heal:?}");
}

#[test]
fn the_manual_documents_every_command_and_exit_code() {
    let out = run(&["generate", "man"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH SELFHEAL 1"), "{page}");
    for command in every_command() {
        assert!(
            page.contains(&format!(".SS \"selfheal {command}\"")),
            "selfheal {command} has no section"
        );
    }
    assert!(page.contains(".SH \"EXIT STATUS\""));
    for exit in ["0", "1", "4", "8", "16", "32"] {
        assert!(
            page.contains(&format!(".TP\n\\fB{exit}\\fR\n")),
            "exit {exit}"
        );
    }
    for name in [
        "SELFHEAL_ROOT",
        "TRADING_MODE",
        "--accept-loss",
        "--lock-timeout",
    ] {
        let roff = name.replace('-', "\\-");
        assert!(page.contains(&roff), "{name} missing");
    }
    assert!(!page.contains("generate"), "the manual shows the generator");
    groff_accepts(&page);
}

/// `groff -ww -z` (all warnings, no output) prints nothing on the page, when groff exists.
fn groff_accepts(page: &str) {
    use std::io::Write;
    let Ok(mut child) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("groff is not installed: the manual page was checked by content only");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("write page");
    let out = child.wait_with_output().expect("groff");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
}
