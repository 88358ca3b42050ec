//! `wisp bench load`: many editors typing at once, each with a `wisp` of its own, all sharing one
//! llama-server (`-np` slots, one per editor) through `model.remote` — and, for comparison, each
//! with its own embedded model. Every editor replays typing sessions from the repository's history
//! at a human pace for the run's duration. Reported: latency percentiles over all editors'
//! suggested keystrokes, errors (the target is none), and each process's resident memory at the
//! start and the end of the run (it should stay flat).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::history::{self, Session};
use crate::process::{RssSampler, WorkDir};
use crate::stats::percentile;
use crate::wisp_run::{self, WispMode};
use crate::{llama_run, ReplayOptions, RunStats};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub wisp_binary: PathBuf,
    pub repo: PathBuf,
    pub model_path: PathBuf,
    /// Simulated editors (one `wisp` each).
    pub editors: usize,
    /// How long each editor types.
    pub duration: Duration,
    /// The shared llama-server; None skips the remote run.
    pub llama_server: Option<PathBuf>,
    /// Also run every editor on its own embedded model.
    pub embedded: bool,
    /// CPU threads of llama-server, and of each embedded model.
    pub threads: usize,
    pub seed: u64,
    pub extensions: Vec<String>,
}

/// Keystrokes a human typist makes per second in the replayed sessions (their pauses included):
/// turns a duration into a keystroke budget.
const KEYSTROKES_PER_SECOND: f64 = 4.5;

/// How long an editor waits at the end of a session for the answers still pending before it
/// cancels them and opens the next file, as a developer who pauses and moves on.
const SESSION_GRACE: Duration = Duration::from_secs(5);

/// Context cells per llama-server slot (`-c` is split evenly between the slots).
const CONTEXT_PER_SLOT: usize = 2048;

/// The figures of one backend's run.
#[derive(Debug, Clone)]
pub struct LoadRun {
    pub label: String,
    pub editors: Vec<RunStats>,
    /// llama-server's resident memory (remote runs).
    pub server_rss: Vec<(Duration, u64)>,
}

impl LoadRun {
    fn latencies(&self) -> Vec<f64> {
        let mut all: Vec<f64> =
            self.editors.iter().flat_map(|stats| stats.latencies_ms.iter().flatten().copied()).collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

/// Mean of the samples in the first and in the last `window` of a series (bytes).
pub fn start_and_end(series: &[(Duration, u64)], window: Duration) -> Option<(f64, f64)> {
    let end = series.last()?.0;
    let mean = |samples: Vec<u64>| {
        (!samples.is_empty()).then(|| samples.iter().sum::<u64>() as f64 / samples.len() as f64)
    };
    // Skip the first seconds: the model and the first prompts are still being loaded.
    let settle = Duration::from_secs(5).min(end / 4);
    let first = mean(
        series.iter().filter(|(at, _)| *at >= settle && *at < settle + window).map(|(_, b)| *b).collect(),
    )?;
    let last = mean(series.iter().filter(|(at, _)| *at + window > end).map(|(_, b)| *b).collect())?;
    Some((first, last))
}

pub fn run(options: &LoadOptions, out: &mut dyn std::io::Write) -> anyhow::Result<Vec<LoadRun>> {
    if options.editors == 0 {
        bail!("--editors is 0: nothing to simulate");
    }
    if options.llama_server.is_none() && !options.embedded {
        bail!("nothing to run: give --llama-server for the shared backend, or --embedded");
    }
    let repo = options
        .repo
        .canonicalize()
        .with_context(|| format!("repository {} not found", options.repo.display()))?;
    let keystrokes = ((options.duration.as_secs_f64() * KEYSTROKES_PER_SECOND) as usize).max(10);
    let sessions: Vec<Vec<Session>> = (0..options.editors)
        .map(|editor| {
            history::build_sessions(&repo, &options.extensions, options.seed + editor as u64, keystrokes)
        })
        .collect::<anyhow::Result<_>>()?;
    let work_dir = WorkDir::create("load")?;
    writeln!(
        out,
        "{} editors, {keystrokes} keystrokes each (about {:.0} s of typing), logs in {}",
        options.editors,
        options.duration.as_secs_f64(),
        work_dir.path().display()
    )?;
    let mut runs = Vec::new();
    if let Some(binary) = &options.llama_server {
        writeln!(out, "running {} editors on one llama-server…", options.editors)?;
        runs.push(remote_run(options, binary, &repo, &sessions, work_dir.path())?);
        print_run(runs.last().expect("just pushed"), out)?;
    }
    if options.embedded {
        writeln!(out, "running {} editors, each with its own model…", options.editors)?;
        let (editors, _) = editors_run(options, &repo, &sessions, work_dir.path(), WispMode::Default, None)?;
        runs.push(LoadRun { label: "embedded (a model per editor)".into(), editors, server_rss: Vec::new() });
        print_run(runs.last().expect("just pushed"), out)?;
    }
    Ok(runs)
}

fn remote_run(
    options: &LoadOptions,
    binary: &Path,
    repo: &Path,
    sessions: &[Vec<Session>],
    work_dir: &Path,
) -> anyhow::Result<LoadRun> {
    let (server, port) = llama_run::start_server(
        binary,
        &options.model_path,
        options.threads,
        CONTEXT_PER_SLOT * options.editors,
        options.editors,
        &[],
        &work_dir.join("llama-server.log"),
    )?;
    let sampler = RssSampler::start(server.id());
    let url = format!("http://127.0.0.1:{port}");
    let (editors, _) = editors_run(options, repo, sessions, work_dir, WispMode::Remote, Some(url))?;
    let (_, server_rss) = sampler.finish_with_series();
    Ok(LoadRun { label: "remote (one shared llama-server)".into(), editors, server_rss })
}

/// Every editor's replay, side by side, one thread each.
fn editors_run(
    options: &LoadOptions,
    repo: &Path,
    sessions: &[Vec<Session>],
    work_dir: &Path,
    mode: WispMode,
    remote_url: Option<String>,
) -> anyhow::Result<(Vec<RunStats>, Duration)> {
    let started = Instant::now();
    let results: Vec<anyhow::Result<RunStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .iter()
            .enumerate()
            .map(|(editor, sessions)| {
                let replay = ReplayOptions {
                    wisp_binary: options.wisp_binary.clone(),
                    repo: repo.to_path_buf(),
                    max_keystrokes: usize::MAX,
                    seed: options.seed + editor as u64,
                    threads: options.threads,
                    model_path: options.model_path.clone(),
                    llama_server: None,
                    before: None,
                    remote_url: remote_url.clone(),
                    log_suffix: format!("-{editor}"),
                    extensions: options.extensions.clone(),
                    session_grace: Some(SESSION_GRACE),
                };
                scope.spawn(move || {
                    let mut notes = Vec::new();
                    wisp_run::replay(&replay, repo, sessions, mode, work_dir, &mut notes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| bail!("an editor thread panicked")))
            .collect()
    });
    let editors = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok((editors, started.elapsed()))
}

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1024.0 * 1024.0))
}

fn print_run(run: &LoadRun, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let latencies = run.latencies();
    let keystrokes: usize = run.editors.iter().map(|stats| stats.keystrokes).sum();
    let suggested: usize = run.editors.iter().map(|stats| stats.suggested).sum();
    let errors: usize = run.editors.iter().map(|stats| stats.errors).sum();
    let unanswered: u64 = run.editors.iter().filter_map(|stats| stats.unanswered).sum();
    let fmt = |value: Option<f64>| value.map_or("—".to_owned(), |ms| format!("{ms:.0} ms"));
    writeln!(out, "{}:", run.label)?;
    writeln!(
        out,
        "  keystrokes {keystrokes}, suggested {suggested} ({:.1}%), errors {errors}, \
         unanswered by the model {unanswered} (backend down or behind: no suggestion, status warning)",
        100.0 * suggested as f64 / keystrokes.max(1) as f64
    )?;
    writeln!(
        out,
        "  latency p50 {}, p95 {}, p99 {} (suggested keystrokes of all editors)",
        fmt(percentile(&latencies, 50.0)),
        fmt(percentile(&latencies, 95.0)),
        fmt(percentile(&latencies, 99.0))
    )?;
    let window = Duration::from_secs(30);
    let growth: Vec<(f64, f64)> =
        run.editors.iter().filter_map(|stats| start_and_end(&stats.rss_series, window)).collect();
    if !growth.is_empty() {
        let n = growth.len() as f64;
        let (first, last) =
            growth.iter().fold((0.0, 0.0), |(a, b), (first, last)| (a + first / n, b + last / n));
        let worst = growth.iter().map(|(first, last)| last / first).fold(0.0, f64::max);
        writeln!(
            out,
            "  wisp resident memory, mean of the editors: {} after start, {} at the end ({:+.1}%); worst editor {:+.1}%",
            mib(first),
            mib(last),
            100.0 * (last / first - 1.0),
            100.0 * (worst - 1.0)
        )?;
    }
    if let Some((first, last)) = start_and_end(&run.server_rss, window) {
        writeln!(
            out,
            "  llama-server resident memory: {} → {} ({:+.1}%)",
            mib(first),
            mib(last),
            100.0 * (last / first - 1.0)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_compared_between_the_settled_start_and_the_end() {
        let series: Vec<(Duration, u64)> =
            (0..100).map(|second| (Duration::from_secs(second), 100 + second)).collect();
        let (first, last) = start_and_end(&series, Duration::from_secs(10)).unwrap();
        // Seconds 5..15 after start, 90..99 at the end.
        assert_eq!((first, last), (109.5, 194.5));
        assert_eq!(start_and_end(&[], Duration::from_secs(10)), None);
    }
}
