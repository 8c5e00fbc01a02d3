//! Putting one path back into a recorded state (a file with its bytes from the store, its
//! mode, owner, mtime and extended attributes; a directory; nothing), from whatever it is
//! now: the one way any undo changes the disk.

use crate::error::{Error, Result};
use crate::fsx::{current_owner, Attrs, Replace, Root};
use crate::paths::RelPath;
use crate::plan::Observed;
use crate::store::Store;
use journal_format::{Digest, Meta, Node, Xattrs};

/// The state an undo puts a path back into.
#[derive(Debug, Clone, Copy)]
pub struct Restore<'a> {
    /// The node.
    pub node: &'a Node,
    /// Owner and mtime of a file.
    pub meta: Option<Meta>,
    /// The store object holding a file's bytes (else the node's own digest).
    pub object: Option<Digest>,
    /// A file's extended attributes, exactly (`None`: what a new file gets).
    pub xattrs: Option<&'a Xattrs>,
}

/// Puts `rel` into the state `target` describes (with owner, mtime and extended attributes
/// for a file), from whatever it is now (`now`), taking file bytes from the store.
///
/// # Errors
/// [`Error::ObjectCorrupt`] if the bytes are not in the store intact; I/O errors.
pub fn restore_node(
    root: &Root,
    rel: &RelPath,
    now: &Observed,
    target: &Restore<'_>,
    tmp: &str,
) -> Result<()> {
    match (now.node(), target.node) {
        (Some(Node::Absent), Node::Absent) => Ok(()),
        (Some(Node::File { .. }), Node::Absent) => root.remove_file(rel),
        (Some(Node::Dir { .. }), Node::Absent) => root.rmdir(rel),
        (
            Some(Node::File { sha256, .. }),
            Node::File {
                sha256: want, mode, ..
            },
        ) if sha256 == want => root.set_mode(rel, mode.0),
        (Some(Node::File { .. } | Node::Absent), Node::File { sha256, size, mode }) => {
            let object = target.object.unwrap_or(*sha256);
            let bytes = Store::new(root).get(&object, *size)?;
            let replace = match now.node() {
                Some(Node::Absent) => Replace::NoClobber,
                _ => Replace::Existing,
            };
            let own = current_owner();
            let attrs = Attrs {
                mode: mode.0,
                owner: target.meta.map(|m| (m.uid, m.gid)).filter(|o| *o != own),
                mtime: target.meta.map(|m| (m.mtime_sec, m.mtime_nsec)),
                xattrs: target.xattrs,
            };
            root.write_atomic(rel, &bytes, &attrs, tmp, replace)
        }
        (Some(Node::Absent), Node::Dir { mode }) => root.mkdir(rel, mode.0, tmp),
        (Some(Node::Dir { .. }), Node::Dir { mode }) => root.set_mode(rel, mode.0),
        _ => Err(Error::Refused(format!(
            "cannot turn {rel} from what it is into the recorded state"
        ))),
    }
}
