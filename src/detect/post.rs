//! The state the detectors look at: every managed file as it is once the plan was applied,
//! built from what planning already read. A file whose operation was applied (or, for
//! `check` and dry runs, would be) is classified from the operation's new bytes; every other
//! file keeps the classification planning made. Nothing is read from disk here.

use crate::checks::layout::inspect_file;
use crate::checks::{FileView, Planned};
use crate::config::{File, FileRole};
use crate::fsx::Kind;
use crate::jsondoc::{Document, Shape};
use crate::plan::Effect;
use crate::plan::OpResult;
use std::borrow::Cow;

/// Whether a managed file is there after the heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// A regular file that was read (or written by this run).
    Present,
    /// Nothing at the path.
    Absent,
    /// Something that cannot be read as the file (symlink, directory, over the size cap).
    Unreadable(String),
}

/// One managed file after the heal.
#[derive(Debug, Clone)]
pub struct PostFile<'a> {
    /// Its configuration.
    pub spec: &'a File,
    /// Whether it is there.
    pub presence: Presence,
    /// Its classification, when present.
    pub shape: Option<Cow<'a, Shape>>,
    /// Whether this run wrote it (or, for `check`, would).
    pub written: bool,
    /// Whether it was absent before the heal.
    pub was_absent: bool,
    /// Its modification time before the heal (seconds, nanoseconds), when it existed.
    pub mtime_before: Option<(i64, u32)>,
}

impl PostFile<'_> {
    /// The document, when the file is a usable JSON object.
    pub fn document(&self) -> Option<&Document> {
        match self.shape.as_deref() {
            Some(Shape::Object(doc)) => Some(doc),
            _ => None,
        }
    }
}

/// Every managed file after the heal.
#[derive(Debug, Clone, Default)]
pub struct PostState<'a> {
    /// In layout order.
    pub files: Vec<PostFile<'a>>,
}

impl<'a> PostState<'a> {
    /// Builds the post-state from the plan and, for a heal, the operations' results
    /// (`None`: every planned operation counts as applied, as `check` predicts).
    pub fn build(
        planned: &'a Planned,
        results: Option<&[OpResult]>,
        identity: &[String],
    ) -> PostState<'a> {
        let files = planned
            .files
            .iter()
            .map(|view| post_file(planned, view, results, identity))
            .collect();
        PostState { files }
    }

    /// The first managed file with `role`.
    pub fn role(&self, role: FileRole) -> Option<&PostFile<'a>> {
        self.files.iter().find(|f| f.spec.role == role)
    }
}

fn post_file<'a>(
    planned: &'a Planned,
    view: &'a FileView,
    results: Option<&[OpResult]>,
    identity: &[String],
) -> PostFile<'a> {
    let applied = view.op.filter(|&i| match results {
        None => true,
        Some(r) => r.get(i) == Some(&OpResult::Applied),
    });
    let new_bytes = applied
        .and_then(|i| planned.ops.get(i))
        .and_then(|op| match &op.action {
            Effect::WriteFile { bytes, .. } => Some(bytes),
            _ => None,
        });
    let was_absent = view.observed.is_absent();
    let mtime_before = view.observed.stat.map(|s| (s.mtime_sec, s.mtime_nsec));
    if let Some(bytes) = new_bytes {
        // Planning may have classified these very bytes already (a salvage).
        let shape = match &view.written {
            Some((known, shape)) if known.same(bytes) => Cow::Borrowed(shape),
            _ => Cow::Owned(inspect_file(&view.spec, &bytes.contiguous(), identity)),
        };
        return PostFile {
            spec: &view.spec,
            presence: Presence::Present,
            shape: Some(shape),
            written: true,
            was_absent,
            mtime_before,
        };
    }
    let kind = view.observed.stat.map(|s| s.kind);
    let presence = match (&view.observed.untouchable, kind) {
        (Some(why), _) => Presence::Unreadable(why.clone()),
        (None, _) if view.observed.is_absent() => Presence::Absent,
        // A file `watch` did not read again (unchanged since it was) keeps its
        // classification but not its bytes.
        (None, Some(Kind::File)) if view.observed.bytes.is_some() || view.shape.is_some() => {
            Presence::Present
        }
        (None, Some(Kind::Dir)) => Presence::Unreadable("is a directory".into()),
        (None, _) => Presence::Unreadable("could not be read".into()),
    };
    PostFile {
        spec: &view.spec,
        presence,
        shape: view.shape.as_deref().map(Cow::Borrowed),
        written: false,
        was_absent,
        mtime_before,
    }
}
