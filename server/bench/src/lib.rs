//! `wisp bench replay`: replays typing sessions reconstructed from a git repository's real history
//! against the real `wisp` binary over stdio (with and without reuse of earlier work) and against
//! llama.cpp's `llama-server` given the same prompts, in real time at a human typing pace, and
//! reports latency and cost figures with ratios measured in the same run.
//!
//! Absolute figures on a shared machine are hints; the ratios, measured back to back on the same
//! sessions, model and threads, are the figures to track.

#![deny(clippy::print_stdout)]

pub mod history;
pub mod http;
pub mod llama_run;
pub mod load;
pub mod lsp;
pub mod open;
pub mod pace;
pub mod process;
pub mod report;
pub mod stats;
pub mod text;
pub mod wisp_run;

use std::path::PathBuf;

use anyhow::{bail, Context};

pub use stats::RunStats;

/// What to replay, against what.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The `wisp` executable, driven as `wisp serve`.
    pub wisp_binary: PathBuf,
    /// A local git repository whose history is replayed.
    pub repo: PathBuf,
    /// Stop after this many typed characters in total (e.g. 300).
    pub max_keystrokes: usize,
    /// Seed for the choice of commits and files and for the typing pace.
    pub seed: u64,
    /// CPU threads for both servers.
    pub threads: usize,
    /// The GGUF file, the same for wisp and llama-server.
    pub model_path: PathBuf,
    /// llama-server binary; `None` skips that comparison.
    pub llama_server: Option<PathBuf>,
    /// Another `wisp` binary (an earlier build) replayed with its defaults; `None` skips it.
    pub before: Option<PathBuf>,
    /// The backend of [`wisp_run::WispMode::Remote`] runs.
    pub remote_url: Option<String>,
    /// Appended to log file names (several wisps in one work folder).
    pub log_suffix: String,
    /// File extensions to replay, e.g. `["rs", "py", "ts", "js", "go"]`.
    pub extensions: Vec<String>,
    /// At the end of a session, how long the typist waits for the answers still pending before
    /// moving on, cancelling them as an editor does (`$/cancelRequest`); None waits for every
    /// answer (each keystroke's latency is measured).
    pub session_grace: Option<std::time::Duration>,
}

/// The figures of every run.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub wisp: RunStats,
    pub wisp_no_reuse: RunStats,
    pub llama_server: Option<RunStats>,
    /// The earlier build given by [`ReplayOptions::before`].
    pub before: Option<RunStats>,
    /// Caveats of this run (unavailable figures, measurement asymmetries).
    pub notes: Vec<String>,
}

/// Builds the sessions, replays them against each server in turn, and prints the table to `out`.
pub fn run(options: &ReplayOptions, out: &mut dyn std::io::Write) -> anyhow::Result<ReplayReport> {
    if options.max_keystrokes == 0 {
        bail!("max_keystrokes is 0: nothing to replay");
    }
    if options.threads == 0 {
        bail!("threads is 0: give the servers at least one CPU thread");
    }
    if !options.model_path.is_file() {
        bail!(
            "model file not found at {} — run \"wisp models fetch\" or pass another GGUF",
            options.model_path.display()
        );
    }
    let model_path = options
        .model_path
        .canonicalize()
        .with_context(|| format!("resolving {}", options.model_path.display()))?;
    let repo = options
        .repo
        .canonicalize()
        .with_context(|| format!("repository {} not found", options.repo.display()))?;
    let options = ReplayOptions { model_path, ..options.clone() };

    let sessions = history::build_sessions(&repo, &options.extensions, options.seed, options.max_keystrokes)?;
    let n_keystrokes: usize = sessions.iter().map(history::Session::n_keystrokes).sum();
    let typing: std::time::Duration =
        sessions.iter().flat_map(|session| &session.steps).map(|step| step.delay).sum();
    writeln!(
        out,
        "replaying {n_keystrokes} keystrokes in {} sessions from {} (seed {}, {} threads, model {}), {:.0} s of typing per run",
        sessions.len(),
        repo.display(),
        options.seed,
        options.threads,
        options.model_path.display(),
        typing.as_secs_f64()
    )?;
    for session in &sessions {
        let short = session.commit.get(..10).unwrap_or(&session.commit);
        let cut = if session.complete { "" } else { " (cut short)" };
        writeln!(out, "  {short} {} — {} keystrokes{cut}", session.path, session.n_keystrokes())?;
    }

    let work_dir = process::WorkDir::create("replay")?;
    writeln!(out, "logs in {}", work_dir.path().display())?;
    let mut notes = Vec::new();
    let before = match &options.before {
        Some(binary) => {
            writeln!(out, "running wisp before ({})…", binary.display())?;
            Some(wisp_run::replay(
                &options,
                &repo,
                &sessions,
                wisp_run::WispMode::Before,
                work_dir.path(),
                &mut notes,
            )?)
        }
        None => None,
    };
    writeln!(out, "running wisp…")?;
    let wisp = wisp_run::replay(
        &options,
        &repo,
        &sessions,
        wisp_run::WispMode::Default,
        work_dir.path(),
        &mut notes,
    )?;
    writeln!(out, "running wisp without reuse…")?;
    let wisp_no_reuse = wisp_run::replay(
        &options,
        &repo,
        &sessions,
        wisp_run::WispMode::NoReuse,
        work_dir.path(),
        &mut notes,
    )?;
    let llama_server = match &options.llama_server {
        Some(binary) => {
            writeln!(out, "running llama-server…")?;
            Some(llama_run::replay(&options, binary, &repo, &sessions, work_dir.path(), &mut notes)?)
        }
        None => None,
    };
    writeln!(out)?;
    let report = ReplayReport { wisp, wisp_no_reuse, llama_server, before, notes };
    report::print(&report, out)?;
    Ok(report)
}
