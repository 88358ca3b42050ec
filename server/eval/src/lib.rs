//! Measuring completion quality on real code, for `wisp eval`.
//!
//! A task set is cut from a repository ([`tasks_from_repo`]), a plain directory
//! ([`tasks_from_dir`]) or files given directly ([`tasks_from_files`]): each [`Task`] is a file
//! with a span masked at the cursor. [`evaluate`] runs every task through a caller-supplied runner
//! in each context mode (`none`, `file`, `full`, …) and [`print_report`] prints the modes side by
//! side. Running the model is the caller's business; this crate does everything around it.
//!
//! # Which files take part
//!
//! Files with one of [`TaskOptions::extensions`], no larger than [`TaskOptions::max_file_bytes`],
//! UTF-8 without NUL bytes, and none of:
//!
//! - a directory in [`skip::SKIPPED_DIRECTORIES`] (tests, benches, vendored code, build output;
//!   `examples/` is kept),
//! - a test file name ([`skip::TEST_FILE_NAME_PREFIXES`], [`skip::TEST_FILE_NAME_SUFFIXES`]) or a
//!   minified one ([`skip::MINIFIED_FILE_NAME_MARKER`]),
//! - one of [`skip::GENERATED_MARKERS`] in the first [`skip::GENERATED_HEADER_LINES`] lines,
//! - a line longer than [`skip::MAX_LINE_CHARS`] characters.
//!
//! # Which lines are masked
//!
//! Never the first [`mask::HEADER_LINES`] lines (licence headers), blank lines, comment-only lines
//! or lines with fewer than [`mask::MIN_NON_SPACE_CHARS`] non-space characters, and no line twice.
//!
//! - [`MaskKind::WholeLine`]: the cursor after the indentation; expected is the rest of the line
//!   (no newline).
//! - [`MaskKind::MidLine`]: the cursor at a token boundary inside the line with at least
//!   [`mask::MIN_MID_LINE_REST_CHARS`] characters after it; expected is the rest of the line.
//! - [`MaskKind::MultiLine`]: [`mask::MULTI_LINE_MIN_LINES`] to [`mask::MULTI_LINE_MAX_LINES`]
//!   consecutive non-blank lines from the indentation of the first; expected spans the lines,
//!   without the final newline.
//! - [`MaskKind::MidWord`]: the cursor inside a name of at least [`mask::MID_WORD_MIN_NAME_CHARS`]
//!   characters, after its first, with at least [`mask::MIN_MID_LINE_REST_CHARS`] characters after
//!   it on the line: the user is typing the name. Expected is the rest of the line.
//!
//! # How tasks are spread
//!
//! Files are shuffled by [`TaskOptions::seed`] and visited round-robin, one task per file per
//! round, at most `max(1, n_tasks / `[`TASKS_PER_FILE_DIVISOR`]`)` per file; the kinds take turns,
//! so each is about a quarter of the set. Every choice comes from a SplitMix64 generator seeded with
//! the seed: the same seed and files give the same tasks on every platform.
//!
//! A caller can keep only some tasks ([`tasks_from_files_where`], with the files from
//! [`files_from_dir`] or [`files_from_repo`]): `wisp eval --require cross-file` keeps tasks whose
//! expected text needs a definition from another file, as CrossCodeEval does. Candidates are cut
//! in the same order and the first that pass are kept, so the filtered set is as deterministic.
//!
//! # Scores
//!
//! See [`score()`]: exact match and first-line exact after trimming trailing whitespace of every
//! line, and edit similarity in characters; a completion longer than the expected text is cut to
//! its number of lines first.

#![deny(clippy::print_stdout)]

mod dir;
mod evaluate;
mod git;
pub mod mask;
mod report;
mod rng;
mod score;
pub mod skip;
mod task;
mod tasks;

pub use dir::{files_from_dir, tasks_from_dir};
pub use evaluate::{evaluate, percentile, Guarded, ModeReport, Outcome};
pub use git::{files_from_repo, tasks_from_repo};
pub use report::print_report;
pub use score::{score, Score};
pub use task::{MaskKind, Task};
pub use tasks::{
    tasks_from_files, tasks_from_files_where, Selection, TaskOptions, CANDIDATES_PER_TURN,
    DEFAULT_EXTENSIONS, DEFAULT_MAX_FILE_BYTES, DEFAULT_N_TASKS, TASKS_PER_FILE_DIVISOR,
};
