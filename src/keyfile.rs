//! The journal's HMAC key file (`journal_key_file`): where it is (a relative path is resolved
//! against the directory of the configuration file that names it, see
//! [`crate::config::Layout::journal_key`]), and what makes it acceptable. A key is refused,
//! with a configuration error, when it cannot be read, is not a regular file, is empty, is
//! readable or writable by anyone but its owner (any of the mode bits 0o077), or lies inside
//! the state root (whoever can edit the journal could then read the key). Reads only.

use crate::config::{Layout, MAX_CONFIG_SIZE};
use crate::error::{Error, Result};
use crate::fsx::read_regular;
use journal_format::Mac;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The journal's tag algorithm for `layout`: HMAC-SHA256 under the configured key, else
/// plain SHA-256. `root`: the state root the key must lie outside of.
///
/// # Errors
/// [`Error::Config`] naming `journal_key_file` when the key is not acceptable.
pub fn journal_mac(layout: &Layout, root: &Path) -> Result<Mac> {
    let Some(path) = &layout.journal_key else {
        return Ok(Mac::Sha256);
    };
    let key = read_key(path, root).map_err(|why| Error::Config {
        file: layout
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from("<embedded default>")),
        key: "journal_key_file".into(),
        why,
    })?;
    Ok(Mac::HmacSha256(key))
}

/// Reads a key file and checks it (see the module documentation); the error says why it
/// is refused, naming the file.
///
/// # Errors
/// The reason, in words.
pub fn read_key(path: &Path, root: &Path) -> std::result::Result<Vec<u8>, String> {
    let shown = path.display();
    if let Some(rel) = crate::config::inside_root(root, path) {
        return Err(format!(
            "the key file {shown} lies inside the state root (as {rel}): keep it outside the root, where whoever can edit the journal cannot read it"
        ));
    }
    let key = read_regular(path, MAX_CONFIG_SIZE)
        .map_err(|e| format!("cannot read the key file {shown}: {e}"))?;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the key file {shown}: {e}"))?
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file {shown} has mode {mode:04o}: its group or others may read or change it (run `chmod 600 {shown}`)"
        ));
    }
    if key.is_empty() {
        return Err(format!("the key file {shown} is empty"));
    }
    Ok(key)
}
