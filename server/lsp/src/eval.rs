//! `wisp eval`: completion quality on real code, with and without repository context.
//!
//! Tasks come from `wisp-eval` (masked spans of a repository's files, fixed seed); each runs
//! through the same pipeline as an editor request — gather, collect context, build the prompt,
//! generate, guard — once per context mode, so the modes are compared on the same tasks in one
//! run. The index is built once; the task's own file is re-indexed without its masked span while
//! the task runs, so the answer never leaks into the context.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use wisp_context::{ContextMode, Workspace};
use wisp_engine::CancelFlag;
use wisp_eval::{Outcome, Task, TaskOptions};
use wisp_syntax::index::index_workspace;
use wisp_syntax::{Document, LanguageRegistry};

use crate::completion;
use crate::config::{CompletionConfig, ModelConfig};
use crate::models;

/// What `wisp eval` runs.
pub struct EvalOptions {
    /// A git repository (tasks from its HEAD commit) ...
    pub repo: Option<PathBuf>,
    /// ... or a plain folder (e.g. a crate's sources under the cargo registry).
    pub dir: Option<PathBuf>,
    pub tasks: TaskOptions,
    pub modes: Vec<ContextMode>,
    pub model: ModelConfig,
    pub completion: CompletionConfig,
    /// Also report the model's perplexity on up to this many source files (0: skip).
    pub perplexity_files: usize,
    /// Print each task's expected text and completion per mode (to stderr).
    pub show: bool,
}

/// Perplexity of the model on source files of the folder, chosen by the seed: the files a
/// completion model should find predictable. Token-weighted over the files.
fn perplexity(
    engine: &dyn wisp_engine::Engine,
    root: &std::path::Path,
    registry: &LanguageRegistry,
    n_files: usize,
    seed: u64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    let mut files = wisp_syntax::index::source_files(root, registry, &mut errors);
    files.retain(|(_, relative)| !wisp_eval::skip::is_skipped_path(relative));
    // A seeded, stable choice: order by a hash of (seed, path).
    let key = |path: &str| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (seed, path).hash(&mut hasher);
        hasher.finish()
    };
    files.sort_by_key(|(_, relative)| key(relative));
    let (mut nll, mut n_tokens, mut n_scored_files) = (0.0f64, 0usize, 0usize);
    for (path, _) in files.iter().take(n_files) {
        let Ok(text) = wisp_syntax::index::read_source(path) else { continue };
        let score = engine.score(&text)?;
        nll += score.negative_log_likelihood;
        n_tokens += score.n_tokens;
        n_scored_files += 1;
    }
    let perplexity = if n_tokens == 0 { 1.0 } else { (nll / n_tokens as f64).exp() };
    writeln!(
        out,
        "perplexity {perplexity:.3} over {n_tokens} tokens of {n_scored_files} files (each up to the context size)"
    )?;
    Ok(())
}

fn mode_name(mode: ContextMode) -> &'static str {
    match mode {
        ContextMode::None => "none",
        ContextMode::File => "file",
        ContextMode::Full => "full",
    }
}

/// Cuts the tasks, indexes the folder, runs every task in every mode and prints the report.
pub fn run(options: &EvalOptions, out: &mut dyn Write) -> anyhow::Result<Vec<wisp_eval::ModeReport>> {
    let (root, tasks) = match (&options.repo, &options.dir) {
        (_, Some(dir)) => (dir.clone(), wisp_eval::tasks_from_dir(dir, &options.tasks)?),
        (Some(repo), None) => (repo.clone(), wisp_eval::tasks_from_repo(repo, &options.tasks)?),
        (None, None) => {
            anyhow::bail!("give --repo DIR (a git repository) or --dir DIR (a folder of sources)")
        }
    };
    if tasks.is_empty() {
        anyhow::bail!(
            "no tasks could be cut from {}: it has no source files with the extensions {:?} outside tests and vendored code",
            root.display(),
            options.tasks.extensions
        );
    }
    let registry = LanguageRegistry::builtin();
    let (mut index, report) = index_workspace(&root, &registry, &mut |_, _| {}, &|| false);
    let stats = index.stats();
    writeln!(
        out,
        "{} tasks from {} (seed {}); index: {} files, {} lines, {} definitions, {:.1} MiB, {:.2} s ({:.0} lines/s)",
        tasks.len(),
        root.display(),
        options.tasks.seed,
        stats.n_files,
        stats.n_lines,
        stats.n_definitions,
        stats.heap_bytes as f64 / (1024.0 * 1024.0),
        report.elapsed.as_secs_f64(),
        stats.n_lines as f64 / report.elapsed.as_secs_f64().max(1e-9)
    )?;
    let loaded = models::load(&options.model).map_err(anyhow::Error::msg)?;
    writeln!(out, "model {} on {}", loaded.engine.model().id, loaded.engine.model().device)?;
    let engine = loaded.engine;
    let modes: Vec<&str> = options.modes.iter().map(|&mode| mode_name(mode)).collect();
    // The task whose file is masked in the index now: (task id, path, original text).
    let mut current: Option<(String, String, String)> = None;
    // Context gathering (tags + retrieval) per run in `full` mode, the mode that does it all.
    let mut context_ms: Vec<f64> = Vec::new();
    let mut run = |task: &Task, mode: &str| -> anyhow::Result<Outcome> {
        let mode: ContextMode = mode.parse().map_err(anyhow::Error::msg)?;
        let language = registry.by_path(std::path::Path::new(&task.path));
        let masked = task.text_without_span();
        if current.as_ref().map(|(id, _, _)| id.as_str()) != Some(task.id.as_str()) {
            // Hide the answer from the index while this task runs; restore the file after it.
            if let Some((_, path, original)) = current.take() {
                if let Some(language) = registry.by_path(std::path::Path::new(&path)) {
                    index.update(&path, &language, &original);
                }
            }
            if let Some(language) = &language {
                index.update(&task.path, language, &masked);
            }
            current = Some((task.id.clone(), task.path.clone(), task.text.clone()));
        }
        let document = Document::new(&masked, language);
        let started = Instant::now();
        let mut gathered =
            completion::gather(&document, task.offset, &task.path, options.completion.max_lines);
        let workspace = Workspace { index: Some(&index), open: &[], recent: &[] };
        gathered.snippets = completion::context(&document, task.offset, &task.path, &workspace, mode);
        if mode == ContextMode::Full {
            context_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let suggestion = completion::suggest(
            engine.as_ref(),
            &gathered,
            &options.completion,
            CancelFlag::new(),
            false,
            &mut |_| {},
        )?;
        let context_tokens =
            suggestion.snippets.iter().map(|snippet| engine.count_tokens(&snippet.text)).sum();
        if options.show {
            eprintln!(
                "{} [{}]\n  expected {:?}\n  got      {:?}",
                task.id,
                mode_name(mode),
                task.expected,
                suggestion.text
            );
        }
        Ok(Outcome { completion: suggestion.text, context_tokens, latency: started.elapsed() })
    };
    let mut last_report = Instant::now();
    let mut progress = |done: usize, total: usize| {
        if last_report.elapsed().as_secs() >= 10 || done == total {
            last_report = Instant::now();
            eprintln!("{done}/{total} runs");
        }
    };
    let reports = wisp_eval::evaluate(&tasks, &modes, &mut run, &mut progress);
    writeln!(out)?;
    wisp_eval::print_report(&reports, out)?;
    context_ms.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        let rank = ((p / 100.0) * context_ms.len() as f64).ceil() as usize;
        context_ms.get(rank.clamp(1, context_ms.len().max(1)) - 1).copied().unwrap_or(0.0)
    };
    writeln!(
        out,
        "context gathering in full mode (tags + retrieval): p50 {:.2} ms, p95 {:.2} ms over {} runs",
        percentile(50.0),
        percentile(95.0),
        context_ms.len()
    )?;
    if options.perplexity_files > 0 {
        perplexity(engine.as_ref(), &root, &registry, options.perplexity_files, options.tasks.seed, out)?;
    }
    Ok(reports)
}
