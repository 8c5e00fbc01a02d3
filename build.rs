//! Records the commit the binary is built from, for `selfheal --version`, as the
//! compile-time variable `SELFHEAL_GIT_COMMIT`: `$SELFHEAL_GIT_COMMIT` when set (a packager
//! building from a tarball), else `git rev-parse HEAD` when the package is the top of a git
//! work tree, else the `sha1` of `.cargo_vcs_info.json` (what `cargo package` records),
//! else `unknown`. Needs nothing but `git` on PATH, and works without it.

use std::path::{Path, PathBuf};
use std::process::Command;

const VAR: &str = "SELFHEAL_GIT_COMMIT";

fn main() {
    println!("cargo:rerun-if-env-changed={VAR}");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = std::env::var(VAR)
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| from_git(&dir))
        .or_else(|| from_vcs_info(&dir))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env={VAR}={}", commit.trim());
}

/// `git <args>` in `dir`, its trimmed output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// The commit of HEAD when `dir` is the top of its work tree (not a packaged copy under
/// `target/package/` inside another repository). Rebuilds when HEAD or the branch moves.
fn from_git(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let commit = git(dir, &["rev-parse", "HEAD"])?;
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let git_dir = abs(git(dir, &["rev-parse", "--git-dir"])?);
    let common = abs(git(dir, &["rev-parse", "--git-common-dir"])?);
    let mut watch = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(common.join(branch));
    }
    // Only existing files: a missing one would make cargo rerun this script every build.
    for p in watch.iter().filter(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    Some(commit)
}

/// The `"sha1"` member of `.cargo_vcs_info.json`, without a JSON parser.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    if path.is_file() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let text = std::fs::read_to_string(path).ok()?;
    let rest = text.split("\"sha1\"").nth(1)?;
    let value = rest.split('"').nth(1)?;
    value
        .chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| value.to_string())
}
