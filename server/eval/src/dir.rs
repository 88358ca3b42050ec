//! Reading the files of a plain directory (no git), honouring `.gitignore` and `.ignore` files.

use std::path::Path;

use anyhow::Context;

use crate::skip;
use crate::task::Task;
use crate::tasks::{tasks_from_files, TaskOptions};

/// Cuts tasks from the files under `dir` (see [`files_from_dir`]).
pub fn tasks_from_dir(dir: &Path, options: &TaskOptions) -> anyhow::Result<Vec<Task>> {
    Ok(tasks_from_files(&files_from_dir(dir, options)?, options))
}

/// The candidate files under `dir` with their text, paths relative to `dir`: hidden files, what
/// `.gitignore` or `.ignore` files under `dir` (or above it) exclude, whether or not `dir` is in a
/// git repository, and files the skip rules rule out are left out.
///
/// Global git excludes are not read, so the task set does not depend on the machine.
pub fn files_from_dir(dir: &Path, options: &TaskOptions) -> anyhow::Result<Vec<(String, String)>> {
    let walk = ignore::WalkBuilder::new(dir).require_git(false).git_global(false).git_exclude(false).build();
    let mut files = Vec::new();
    for entry in walk {
        let entry = entry.with_context(|| format!("walking {}", dir.display()))?;
        if !entry.file_type().is_some_and(|file_type| file_type.is_file()) {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(dir) else { continue };
        // Paths that are not UTF-8 cannot be tasks' paths; skip them.
        let Some(components) =
            relative.components().map(|component| component.as_os_str().to_str()).collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let path = components.join("/");
        let metadata = entry.metadata().with_context(|| format!("reading {}", entry.path().display()))?;
        let n_bytes = usize::try_from(metadata.len()).unwrap_or(usize::MAX);
        if !skip::is_candidate(&path, n_bytes, &options.extensions, options.max_file_bytes) {
            continue;
        }
        let bytes =
            std::fs::read(entry.path()).with_context(|| format!("reading {}", entry.path().display()))?;
        if let Some(text) = skip::usable_text(bytes) {
            files.push((path, text));
        }
    }
    Ok(files)
}
