//! Cutting a task set from a list of files: which files take part, and how tasks are spread over
//! files and kinds. Pure: [`crate::git`] and [`crate::dir`] read the files.

use crate::mask::SourceFile;
use crate::rng::SplitMix64;
use crate::skip;
use crate::task::{MaskKind, Task};

/// One file gives at most `n_tasks / TASKS_PER_FILE_DIVISOR` tasks (and at least one), so a few
/// large files cannot dominate the set.
pub const TASKS_PER_FILE_DIVISOR: usize = 20;

/// Default for [`TaskOptions::max_file_bytes`]: larger files are mostly data or generated.
pub const DEFAULT_MAX_FILE_BYTES: usize = 256 * 1024;

/// Default for [`TaskOptions::n_tasks`]: enough for differences of a few points in exact match
/// to show, few enough for a small model on a laptop to finish in minutes per mode.
pub const DEFAULT_N_TASKS: usize = 300;

/// When a task set is filtered ([`tasks_from_files_where`]), a file offers at most this many
/// candidates per round before the next file's turn: enough to find a qualifying line in a file
/// that has some (on the dev set about one candidate in eight uses a name from another file, so
/// eight tries find one two times in three), few enough that a file with none costs little and
/// the set stays spread over files.
pub const CANDIDATES_PER_TURN: usize = 8;

/// Default for [`TaskOptions::extensions`]: the languages Wisp has grammars for.
pub const DEFAULT_EXTENSIONS: &[&str] = &["rs", "py", "ts", "tsx", "js", "jsx", "go"];

/// What task set to cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOptions {
    /// Seed of every random choice: the same seed and files give the same tasks.
    pub seed: u64,
    /// How many tasks to cut; fewer come back when the files run out of qualifying lines.
    pub n_tasks: usize,
    /// File extensions to cut from, without the dot (`"rs"`); empty means every file.
    pub extensions: Vec<String>,
    /// Files larger than this (bytes) are skipped.
    pub max_file_bytes: usize,
}

impl Default for TaskOptions {
    fn default() -> TaskOptions {
        TaskOptions {
            seed: 0,
            n_tasks: DEFAULT_N_TASKS,
            extensions: DEFAULT_EXTENSIONS.iter().map(|&extension| extension.to_owned()).collect(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Cuts tasks from files given directly as `(path, text)`, paths relative and `/`-separated.
///
/// Files that [`skip`] rules out are dropped; the order of `files` does not matter.
pub fn tasks_from_files(files: &[(String, String)], options: &TaskOptions) -> Vec<Task> {
    tasks_from_files_where(files, options, &mut |_| true).tasks
}

/// A task set cut under a filter, and how many candidates the filter saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The tasks the filter kept, at most [`TaskOptions::n_tasks`], in the order they were cut.
    pub tasks: Vec<Task>,
    /// Candidates cut and offered to the filter, kept or not.
    pub n_candidates: usize,
}

/// Cuts tasks as [`tasks_from_files`] does, keeping only candidates for which `keep` says yes,
/// until [`TaskOptions::n_tasks`] are kept or the files run out.
///
/// Candidates are cut in the same order as without a filter (files round-robin, kinds in turn),
/// but in its turn a file offers up to [`CANDIDATES_PER_TURN`] candidates until one is kept; a
/// rejected candidate's lines are not offered again. The per-file cap counts kept tasks. So the
/// same seed, files and filter give the same tasks, and a filter that keeps everything gives
/// exactly the tasks of [`tasks_from_files`].
pub fn tasks_from_files_where(
    files: &[(String, String)],
    options: &TaskOptions,
    keep: &mut dyn FnMut(&Task) -> bool,
) -> Selection {
    let mut files: Vec<(&str, &str)> = files
        .iter()
        .filter(|(path, text)| {
            skip::is_candidate(path, text.len(), &options.extensions, options.max_file_bytes)
                && !text.contains('\0')
                && !skip::is_skipped_text(text)
        })
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    files.sort_unstable();
    files.dedup_by_key(|(path, _)| *path);
    cut_tasks(&files, options, keep)
}

/// Visits the files in an order shuffled by the seed, round-robin, one kept task per file per
/// round, the kinds in turn (falling back to the next kind when a file has no line for the wanted
/// one).
fn cut_tasks(
    files: &[(&str, &str)],
    options: &TaskOptions,
    keep: &mut dyn FnMut(&Task) -> bool,
) -> Selection {
    let mut rng = SplitMix64::new(options.seed);
    let mut sources: Vec<SourceFile<'_>> =
        files.iter().map(|&(path, text)| SourceFile::new(path, text)).collect();
    rng.shuffle(&mut sources);
    let max_tasks_per_file = (options.n_tasks / TASKS_PER_FILE_DIVISOR).max(1);
    let mut selection = Selection { tasks: Vec::with_capacity(options.n_tasks), n_candidates: 0 };
    for _round in 0..max_tasks_per_file {
        let n_before = selection.tasks.len();
        for source in &mut sources {
            if selection.tasks.len() >= options.n_tasks {
                return selection;
            }
            let first_kind = selection.tasks.len() % MaskKind::ALL.len();
            for _candidate in 0..CANDIDATES_PER_TURN {
                let candidate = (0..MaskKind::ALL.len())
                    .map(|turn| MaskKind::ALL[(first_kind + turn) % MaskKind::ALL.len()])
                    .find_map(|kind| source.cut(kind, &mut rng));
                let Some(task) = candidate else { break };
                selection.n_candidates += 1;
                if keep(&task) {
                    selection.tasks.push(task);
                    break;
                }
            }
        }
        if selection.tasks.len() == n_before {
            break;
        }
    }
    selection
}
