//! A power cut after a command ran with an armed injection keeping its effects: every
//! effect not made durable by a later fsync is reverted, newest first, by the model and
//! assumptions of `crate::fault` (a change to a directory's entries needs an fsync of that
//! directory; data and a truncation need an fsync or fdatasync of the inode; attributes an
//! fsync; a write is lost whole).

#![allow(clippy::disallowed_methods)]

use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One effect of the log.
struct Effect(Value);

impl Effect {
    fn kind(&self) -> &str {
        self.0["e"].as_str().unwrap_or("")
    }

    fn text(&self, key: &str) -> Result<&str, String> {
        self.0[key]
            .as_str()
            .ok_or_else(|| format!("power-cut log: no {key} in {}", self.0))
    }

    fn num(&self, key: &str) -> Result<u64, String> {
        self.0[key]
            .as_u64()
            .ok_or_else(|| format!("power-cut log: no {key} in {}", self.0))
    }

    /// Whether a later effect makes this one durable.
    fn durable(&self, later: &[Effect]) -> bool {
        let mut syncs = later.iter().filter(|l| l.kind() == "synced");
        match self.kind() {
            "created" | "renamed" | "removed" => {
                let dir = self.0["dir"].as_str();
                syncs.any(|s| s.0["dir"].as_str() == dir)
            }
            "wrote" | "truncated" => syncs.any(|s| s.0["ino"] == self.0["ino"]),
            "attrs" | "xattr" => {
                syncs.any(|s| s.0["ino"] == self.0["ino"] && s.0["data_only"] == false)
            }
            _ => true,
        }
    }
}

/// Reverts every effect of `lines` that a power cut could have lost, under `root`, with
/// the stash in `stash`; returns how many were reverted.
///
/// # Errors
/// A log line that does not parse, or an undo that fails.
pub fn drop_unsynced(root: &Path, stash: &Path, lines: &[String]) -> Result<usize, String> {
    let effects = lines
        .iter()
        .map(|l| serde_json::from_str(l).map(Effect))
        .collect::<Result<Vec<Effect>, _>>()
        .map_err(|e| format!("power-cut log: {e}"))?;
    let cut = Cut { root, stash };
    let mut dropped = 0;
    for (i, e) in effects.iter().enumerate().rev() {
        if !e.durable(effects.get(i + 1..).unwrap_or_default()) {
            cut.undo(e)?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

struct Cut<'a> {
    root: &'a Path,
    stash: &'a Path,
}

fn io(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("power cut: {what} {}: {e}", p.display())
}

impl Cut<'_> {
    fn undo(&self, e: &Effect) -> Result<(), String> {
        match e.kind() {
            "created" => self.uncreate(e),
            "renamed" => self.unrename(e),
            "removed" => self.unremove(e),
            "wrote" => {
                if let Some(p) = self.find(e.num("ino")?) {
                    let f = fs::File::options()
                        .write(true)
                        .open(&p)
                        .map_err(|x| io("open", &p, x))?;
                    f.set_len(e.num("size")?).map_err(|x| io("cut", &p, x))?;
                }
                Ok(())
            }
            "truncated" => {
                if let Some(p) = self.find(e.num("ino")?) {
                    let old = fs::read(self.stash.join(e.text("stash")?))
                        .map_err(|x| io("read stash for", &p, x))?;
                    fs::write(&p, old).map_err(|x| io("put back", &p, x))?;
                }
                Ok(())
            }
            "attrs" => self.unattr(e),
            "xattr" => self.unxattr(e),
            "synced" => Ok(()),
            other => Err(format!("power-cut log: unknown effect {other}")),
        }
    }

    fn entry(&self, e: &Effect, key: &str) -> Result<PathBuf, String> {
        Ok(self.root.join(e.text("dir")?).join(e.text(key)?))
    }

    fn uncreate(&self, e: &Effect) -> Result<(), String> {
        let p = self.entry(e, "name")?;
        let gone = if e.0["is_dir"] == true {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        gone.map_err(|x| io("undo the creation of", &p, x))
    }

    fn unrename(&self, e: &Effect) -> Result<(), String> {
        let (from, to) = (self.entry(e, "from")?, self.entry(e, "to")?);
        fs::rename(&to, &from).map_err(|x| io("undo the rename to", &to, x))?;
        if let Some(id) = e.0["stash"].as_str() {
            fs::rename(self.stash.join(id), &to).map_err(|x| io("bring back", &to, x))?;
        }
        Ok(())
    }

    fn unremove(&self, e: &Effect) -> Result<(), String> {
        let p = self.entry(e, "name")?;
        if e.0["is_dir"] == true {
            fs::create_dir(&p).map_err(|x| io("undo the rmdir of", &p, x))?;
            let mode = u32::try_from(e.num("mode")?).unwrap_or(0o700);
            fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                .map_err(|x| io("chmod", &p, x))
        } else {
            let id = e.text("stash")?;
            fs::rename(self.stash.join(id), &p).map_err(|x| io("undo the unlink of", &p, x))
        }
    }

    fn unattr(&self, e: &Effect) -> Result<(), String> {
        let Some(p) = self.find(e.num("ino")?) else {
            return Ok(());
        };
        let uid = u32::try_from(e.num("uid")?).unwrap_or(0);
        let gid = u32::try_from(e.num("gid")?).unwrap_or(0);
        std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).map_err(|x| io("chown", &p, x))?;
        let mode = u32::try_from(e.num("mode")?).unwrap_or(0o600);
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .map_err(|x| io("chmod", &p, x))?;
        if p.is_file() {
            let t = std::time::Duration::new(
                e.num("mtime_sec")?,
                u32::try_from(e.num("mtime_nsec")?).unwrap_or(0),
            );
            let f = fs::File::options()
                .write(true)
                .open(&p)
                .map_err(|x| io("open", &p, x))?;
            f.set_modified(std::time::UNIX_EPOCH + t)
                .map_err(|x| io("set the mtime of", &p, x))?;
        }
        Ok(())
    }

    fn unxattr(&self, e: &Effect) -> Result<(), String> {
        let Some(p) = self.find(e.num("ino")?) else {
            return Ok(());
        };
        let name = e.text("name")?;
        match e.0["old"].as_str() {
            Some(hex) => {
                let old: Vec<u8> = (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                rustix::fs::lsetxattr(&p, name, &old, rustix::fs::XattrFlags::empty())
                    .map_err(|x| io("put back an xattr of", &p, x.into()))
            }
            None => {
                let _ = rustix::fs::lremovexattr(&p, name);
                Ok(())
            }
        }
    }

    /// The path under the root that names inode `ino`, if any still does.
    fn find(&self, ino: u64) -> Option<PathBuf> {
        let mut found = None;
        super::disk::walk(self.root, "", &mut |_, meta, path| {
            if found.is_none() && meta.ino() == ino {
                found = Some(path.to_path_buf());
            }
            found.is_none()
        });
        found
    }
}
