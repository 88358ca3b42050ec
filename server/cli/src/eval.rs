//! `wisp eval`: completion quality on real code, with and without repository context.
//!
//! Tasks come from `wisp-eval` (masked spans of a repository's files, fixed seed); each runs
//! through the same pipeline as an editor request — gather, collect context, build the prompt,
//! generate, guard — once per context mode, so the modes are compared on the same tasks in one
//! run. The index is built once; the task's own file is re-indexed without its masked span while
//! the task runs, so the answer never leaks into the context.
//!
//! `--require cross-file` keeps only tasks whose expected text uses a name that another file of
//! the folder defines and the task's own file does not ([`wisp_context::cross_file_names`]), as
//! CrossCodeEval builds its benchmark: the tasks repository context exists for. For every task
//! with such names, the report says whether `full` mode's retrieval collected a definition of one
//! and whether it made it into the prompt, and the exact match of each mode with and without it —
//! so a miss can be told apart as retrieval's or the model's.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wisp_context::{ContextMode, Snippet, Workspace};
use wisp_engine::CancelFlag;
use wisp_eval::{Outcome, Selection, Task, TaskOptions};
use wisp_syntax::index::{index_workspace, WorkspaceIndex};
use wisp_syntax::tags::FileTags;
use wisp_syntax::{Document, LanguageRegistry};

use wisp_complete::completion;
use wisp_complete::config::{CompletionConfig, GuideSetting, ModelConfig};
use wisp_complete::models;

/// What `wisp eval` runs.
pub struct EvalOptions {
    /// A git repository (tasks from its HEAD commit) ...
    pub repo: Option<PathBuf>,
    /// ... or a plain folder (e.g. a crate's sources under the cargo registry).
    pub dir: Option<PathBuf>,
    pub tasks: TaskOptions,
    /// Keep only the tasks that meet this (all tasks when `None`).
    pub require: Option<Requirement>,
    pub modes: Vec<ContextMode>,
    pub model: ModelConfig,
    pub completion: CompletionConfig,
    /// Also report the model's perplexity on up to this many source files (0: skip).
    pub perplexity_files: usize,
    /// Print each task's expected text and completion per mode (to stderr).
    pub show: bool,
    /// Also report each mode without the filters (`wisp_guard::FILTERS` but the suffix overlap,
    /// as before they came), from the same generations.
    pub compare_filters: bool,
    /// Decoding variants to compare: each context mode runs once per variant (see
    /// [`Variant`]). Empty: the completion settings as they are.
    pub variants: Vec<Variant>,
}

/// A decoding variant of the completion settings: switches joined by `+` (`mask+cand`), or
/// `plain` for the settings as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The name as given, shown after the context mode (`full+mask+cand`); empty for `plain`.
    pub name: String,
    pub guide: Option<GuideSetting>,
    pub candidates: Option<bool>,
    pub token_healing: Option<bool>,
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(text: &str) -> Result<Variant, String> {
        let mut variant = Variant { name: String::new(), guide: None, candidates: None, token_healing: None };
        if text == "plain" {
            return Ok(variant);
        }
        for switch in text.split('+') {
            match switch {
                "mask" => variant.guide = Some(GuideSetting::Mask),
                "bias" => variant.guide = Some(GuideSetting::Bias),
                "unguided" => variant.guide = Some(GuideSetting::Off),
                "cand" => variant.candidates = Some(true),
                "nocand" => variant.candidates = Some(false),
                "nohealing" => variant.token_healing = Some(false),
                other => {
                    return Err(format!(
                        "unknown switch \"{other}\" in variant \"{text}\": use plain, or mask, bias, unguided, cand, nocand, nohealing joined by +"
                    ))
                }
            }
        }
        variant.name = text.to_owned();
        Ok(variant)
    }
}

impl Variant {
    /// `settings` with this variant's switches.
    fn apply(&self, settings: &CompletionConfig) -> CompletionConfig {
        CompletionConfig {
            guide: self.guide.unwrap_or(settings.guide),
            candidates: self.candidates.unwrap_or(settings.candidates),
            token_healing: self.token_healing.unwrap_or(settings.token_healing),
            ..settings.clone()
        }
    }

    fn label(&self, mode: ContextMode) -> String {
        if self.name.is_empty() {
            mode_name(mode).to_owned()
        } else {
            format!("{}+{}", mode_name(mode), self.name)
        }
    }
}

/// The context mode and variant of a label made by [`Variant::label`].
fn parse_label(label: &str) -> anyhow::Result<(ContextMode, Variant)> {
    let (mode, variant) = match label.split_once('+') {
        Some((mode, variant)) => (mode, variant.parse().map_err(anyhow::Error::msg)?),
        None => (label, "plain".parse().map_err(anyhow::Error::msg)?),
    };
    Ok((mode.parse().map_err(anyhow::Error::msg)?, variant))
}

/// The name of a mode's twin scored without the filters.
const UNFILTERED: &str = " unfiltered";

/// What a task must need to be kept (`wisp eval --require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Its expected text uses a name defined in another file and not in its own.
    CrossFile,
}

impl std::str::FromStr for Requirement {
    type Err = String;
    fn from_str(text: &str) -> Result<Requirement, String> {
        match text {
            "cross-file" => Ok(Requirement::CrossFile),
            other => Err(format!("unknown requirement \"{other}\": use cross-file")),
        }
    }
}

/// The names each task's expected text needs from other files of the workspace
/// ([`wisp_context::cross_file_names`]), by task id; tasks that need none are left out.
type NeededNames = HashMap<String, Vec<String>>;

/// Cuts the task set from `files`, keeping only the tasks that meet `require`, and finds the
/// names each kept task needs from other files of `index` (which holds the files unmasked).
fn select_tasks(
    files: &[(String, String)],
    options: &TaskOptions,
    require: Option<Requirement>,
    index: &WorkspaceIndex,
    registry: &LanguageRegistry,
) -> (Selection, NeededNames) {
    let mut tags_by_path: HashMap<String, Option<FileTags>> = HashMap::new();
    let mut names_of = |task: &Task| -> Vec<String> {
        let tags = tags_by_path.entry(task.path.clone()).or_insert_with(|| {
            let language = registry.by_path(Path::new(&task.path))?;
            Some(wisp_syntax::tags::extract_from_source(&language, &task.text))
        });
        let Some(tags) = tags else { return Vec::new() };
        let span = task.offset..task.offset + task.expected.len();
        wisp_context::cross_file_names(&task.path, tags, span, index)
    };
    let mut needed = NeededNames::new();
    let mut keep = |task: &Task| {
        let names = names_of(task);
        let kept = match require {
            None => true,
            Some(Requirement::CrossFile) => !names.is_empty(),
        };
        if kept && !names.is_empty() {
            needed.insert(task.id.clone(), names);
        }
        kept
    };
    let selection = wisp_eval::tasks_from_files_where(files, options, &mut keep);
    (selection, needed)
}

/// Whether `snippets` show a definition of one of `names` from another file than `path`.
fn shows_any(snippets: &[Snippet], names: &[String], path: &str, index: &WorkspaceIndex) -> bool {
    snippets
        .iter()
        .any(|snippet| names.iter().any(|name| wisp_context::shows_definition(snippet, name, path, index)))
}

/// What `full` mode's retrieval did for one task that needs names from other files, and which
/// modes matched it exactly.
#[derive(Debug, Default)]
struct RetrievalRecord {
    /// A definition of a needed name was among the collected snippets ...
    collected: bool,
    /// ... and among those that fit the prompt.
    in_prompt: bool,
    /// Modes whose completion was an exact match.
    exact_modes: Vec<String>,
    /// Modes whose completion used one of the needed names (as a whole word), right or wrong
    /// otherwise: whether the model picked up the other file's API at all.
    naming_modes: Vec<String>,
}

/// Whether `name` occurs in `text` as a whole word.
fn uses_word(text: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(is_word)
            && !text[at + name.len()..].chars().next().is_some_and(is_word)
    })
}

/// Prints the retrieval hit rate of `full` mode over the tasks that need names from other files,
/// each mode's exact match split by whether the prompt held a needed definition, and how often
/// each mode's completion used a needed name at all.
fn print_retrieval(
    records: &HashMap<String, RetrievalRecord>,
    n_tasks: usize,
    modes: &[&str],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let n_needing = records.len();
    if n_needing == 0 || !modes.contains(&"full") {
        return Ok(());
    }
    let n_collected = records.values().filter(|record| record.collected).count();
    let n_in_prompt = records.values().filter(|record| record.in_prompt).count();
    let percent = |n: usize, of: usize| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
    writeln!(out)?;
    writeln!(
        out,
        "retrieval in full mode: {n_needing} of {n_tasks} tasks use names from other files; a definition of one was collected for {n_collected} ({:.1}%) and put in the prompt for {n_in_prompt} ({:.1}%)",
        percent(n_collected, n_needing),
        percent(n_in_prompt, n_needing),
    )?;
    let groups = [("definition in the prompt", true), ("no definition in the prompt", false)];
    let label_width = groups.iter().map(|(label, _)| label.len() + 8).max().unwrap_or_default();
    write!(out, "{:label_width$}", "EM on them")?;
    for mode in modes {
        write!(out, "{mode:>11}")?;
    }
    writeln!(out)?;
    for (label, in_prompt) in groups {
        let group: Vec<&RetrievalRecord> =
            records.values().filter(|record| record.in_prompt == in_prompt).collect();
        write!(out, "{:label_width$}", format!("{label} ({})", group.len()))?;
        for mode in modes {
            let n_exact = group.iter().filter(|record| record.exact_modes.iter().any(|m| m == mode)).count();
            write!(out, "{:>11}", format!("{:.1}%", percent(n_exact, group.len())))?;
        }
        writeln!(out)?;
    }
    write!(out, "{:label_width$}", format!("uses a needed name ({n_needing})"))?;
    for mode in modes {
        let n_naming =
            records.values().filter(|record| record.naming_modes.iter().any(|m| m == mode)).count();
        write!(out, "{:>11}", format!("{:.1}%", percent(n_naming, n_needing)))?;
    }
    writeln!(out)?;
    Ok(())
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
    let (root, files) = match (&options.repo, &options.dir) {
        (_, Some(dir)) => (dir.clone(), wisp_eval::files_from_dir(dir, &options.tasks)?),
        (Some(repo), None) => (repo.clone(), wisp_eval::files_from_repo(repo, &options.tasks)?),
        (None, None) => {
            anyhow::bail!("give --repo DIR (a git repository) or --dir DIR (a folder of sources)")
        }
    };
    let registry = LanguageRegistry::builtin();
    let (mut index, report) = index_workspace(&root, &registry, &mut |_, _| {}, &|| false);
    let (selection, needed) = select_tasks(&files, &options.tasks, options.require, &index, &registry);
    let tasks = selection.tasks;
    if tasks.is_empty() {
        let requirement = match options.require {
            None => "",
            Some(Requirement::CrossFile) => {
                " whose masked text uses a name defined in another file (drop --require cross-file to take every task)"
            }
        };
        anyhow::bail!(
            "no tasks{requirement} could be cut from {}: it has no source files with the extensions {:?} outside tests and vendored code",
            root.display(),
            options.tasks.extensions
        );
    }
    let kept = match options.require {
        None => String::new(),
        Some(Requirement::CrossFile) => format!(
            " that use names from other files (kept {} of {} candidates)",
            tasks.len(),
            selection.n_candidates
        ),
    };
    let stats = index.stats();
    writeln!(
        out,
        "{} tasks{kept} from {} (seed {}); index: {} files, {} lines, {} definitions, {:.1} MiB, {:.2} s ({:.0} lines/s)",
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
    let modes: Vec<String> = options
        .modes
        .iter()
        .flat_map(|&mode| {
            let variants = if options.variants.is_empty() {
                vec!["plain".parse::<Variant>().expect("plain is a variant")]
            } else {
                options.variants.clone()
            };
            variants.into_iter().flat_map(move |variant| {
                let label = variant.label(mode);
                let twin = options.compare_filters.then(|| format!("{label}{UNFILTERED}"));
                std::iter::once(label).chain(twin)
            })
        })
        .collect();
    let modes: Vec<&str> = modes.iter().map(String::as_str).collect();
    // A mode's twin without filters, scored from the same generation: (task id, mode) → outcome.
    let mut twins: HashMap<(String, String), Outcome> = HashMap::new();
    let mut filter_us: Vec<f64> = Vec::new();
    // The task whose file is masked in the index now: (task id, path, original text).
    let mut current: Option<(String, String, String)> = None;
    // Context gathering (tags + retrieval) per run in `full` mode, the mode that does it all.
    let mut context_ms: Vec<f64> = Vec::new();
    // Per mode: runs where a pattern from above was a candidate, and where it won.
    let mut candidate_wins: HashMap<String, (usize, usize)> = HashMap::new();
    // The guide's cost per generated token, per guided run (µs).
    let mut guide_us_per_token: Vec<f64> = Vec::new();
    let mut records: HashMap<String, RetrievalRecord> = HashMap::new();
    let mut run = |task: &Task, mode_label: &str| -> anyhow::Result<Outcome> {
        let (base, unfiltered) =
            mode_label.strip_suffix(UNFILTERED).map_or((mode_label, false), |base| (base, true));
        if let Some(outcome) = twins.remove(&(task.id.clone(), mode_label.to_owned())) {
            return Ok(outcome);
        }
        let (mode, variant) = parse_label(base)?;
        let settings = variant.apply(&options.completion);
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
                // A name being typed is not in the file as last saved.
                let prefix = &masked[..task.offset];
                let typed =
                    prefix.len() - prefix.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
                let saved = format!("{}{}", &prefix[..prefix.len() - typed], &masked[task.offset..]);
                index.update(&task.path, language, &saved);
            }
            current = Some((task.id.clone(), task.path.clone(), task.text.clone()));
        }
        let document = Document::new(&masked, language.clone());
        let started = Instant::now();
        let mut gathered =
            completion::gather(&document, task.offset, &task.path, options.completion.max_lines);
        let workspace = Workspace { index: Some(&index), open: &[], recent: &[] };
        gathered.snippets = completion::context(&document, task.offset, &task.path, &workspace, mode);
        gathered.names =
            completion::known_names(&document, task.offset, &gathered.snippets, Some(index.names()));
        if mode == ContextMode::Full {
            context_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let collected = needed
            .get(&task.id)
            .is_some_and(|names| shows_any(&gathered.snippets, names, &task.path, &index));
        // Every mode generates from the same evaluated prompt: the prompt is put in the cache
        // first (a no-op when another mode of this task did it), so the first generated token's
        // logits come from evaluating the last prompt token alone in every mode. Evaluated in
        // other chunks, float sums differ in their last bits and can flip a near tie, which
        // would show as a difference between modes that none of them made.
        completion::warm_up(engine.as_ref(), &gathered, &settings, CancelFlag::new())?;
        let suggestion = completion::suggest(
            engine.as_ref(),
            &gathered,
            &settings,
            CancelFlag::new(),
            false,
            &mut |_| {},
        )?;
        let context_tokens =
            suggestion.snippets.iter().map(|snippet| engine.count_tokens(&snippet.text)).sum();
        let names = needed.get(&task.id);
        if let Some(names) = names {
            let record = records.entry(task.id.clone()).or_default();
            if wisp_eval::score(&task.expected, &suggestion.text).exact_match {
                record.exact_modes.push(base.to_owned());
            }
            if names.iter().any(|name| uses_word(&suggestion.text, name)) {
                record.naming_modes.push(base.to_owned());
            }
            if mode == ContextMode::Full {
                record.collected = collected;
                record.in_prompt = shows_any(&suggestion.snippets, names, &task.path, &index);
            }
        }
        if options.show {
            let needs = match (names, mode) {
                (Some(names), ContextMode::Full) => format!(
                    "\n  needs    {} (collected: {}, in the prompt: {})",
                    names.join(", "),
                    collected,
                    records.get(&task.id).is_some_and(|record| record.in_prompt)
                ),
                _ => String::new(),
            };
            let filtered = if suggestion.cut_by.is_empty() {
                String::new()
            } else {
                format!(
                    "\n  model    {:?}\n  cut by   {}",
                    suggestion.unfiltered,
                    suggestion.cut_by.join(", ")
                )
            };
            eprintln!(
                "{} [{}]\n  expected {:?}\n  got      {:?}{filtered}{needs}",
                task.id, base, task.expected, suggestion.text
            );
        }
        let latency = started.elapsed();
        let n_guided = suggestion.generation.n_guided;
        if let (true, Some(candidate), Some(pattern)) =
            (options.show, suggestion.candidate, &suggestion.pattern)
        {
            eprintln!("  pattern  {pattern:?} ({})", candidate.name());
        }
        if let Some(candidate) = suggestion.candidate {
            let (found, won) = candidate_wins.entry(base.to_owned()).or_default();
            *found += 1;
            *won += usize::from(candidate == completion::Candidate::Pattern);
        }
        if suggestion.generation.n_generated > 0 && settings.guide != GuideSetting::Off {
            guide_us_per_token
                .push(suggestion.generation.guide_ms * 1e3 / suggestion.generation.n_generated as f64);
        }
        let truncated = suggestion.generation.stop_reason == wisp_engine::StopReason::MaxTokens;
        let around = completion::surroundings(&gathered, &settings, truncated);
        let filtering = Instant::now();
        let _ = wisp_guard::run(&suggestion.unfiltered, &around);
        filter_us.push(filtering.elapsed().as_secs_f64() * 1e6);
        let checked = |completion: &str| wisp_eval::Guarded {
            had_text: !suggestion.unfiltered.trim().is_empty(),
            cut: false,
            adds_errors: document.errors_added_by_insert(task.offset, completion).map(|added| added > 0),
            adds_errors_finished: wisp_guard::filters::syntax::errors_added(completion, &around)
                .map(|added| added > 0),
        };
        // Names the suggestion uses that exist nowhere: not in the repository (the index, this
        // file as saved), not among the language's standard names.
        let index_names = index.names();
        let made_up = |completion: &str| {
            let language = language.as_ref()?;
            if completion.is_empty() {
                return None;
            }
            let line_before = &task.prefix()[task.prefix().rfind('\n').map_or(0, |at| at + 1)..];
            let knows = |name: &str| language.standard_names.contains(name) || index_names.contains(name);
            let unknown = wisp_syntax::names::unknown_names(completion, line_before, language, &knows);
            if options.show && !unknown.is_empty() {
                eprintln!("  made-up names: {}", unknown.join(", "));
            }
            Some(!unknown.is_empty())
        };
        let filtered = Outcome {
            made_up: made_up(&suggestion.text),
            guard: wisp_eval::Guarded {
                cut: !suggestion.cut_by.is_empty() && !suggestion.text.is_empty(),
                ..checked(&suggestion.text)
            },
            completion: suggestion.text,
            context_tokens,
            latency,
            confidence: suggestion.confidence.map(|confidence| confidence.mean),
        };
        if options.show {
            eprintln!(
                "  adds errors as inserted: {:?}, with an open block at its end finished: {:?}; confidence {:?}; {} tokens guided",
                filtered.guard.adds_errors, filtered.guard.adds_errors_finished, filtered.confidence, n_guided
            );
        }
        if !options.compare_filters {
            return Ok(filtered);
        }
        // As before the filters: only the overlap with the rest of the line was trimmed.
        let before =
            wisp_guard::pipeline::run_only(&suggestion.unfiltered, &around, &wisp_guard::FILTERS[..1]).text;
        let unfiltered_outcome = Outcome {
            made_up: made_up(&before),
            guard: checked(&before),
            completion: before,
            context_tokens,
            latency,
            ..filtered.clone()
        };
        let (answer, twin) =
            if unfiltered { (unfiltered_outcome, filtered) } else { (filtered, unfiltered_outcome) };
        let twin_mode = if unfiltered { base.to_owned() } else { format!("{base}{UNFILTERED}") };
        twins.insert((task.id.clone(), twin_mode), twin);
        Ok(answer)
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
    // Retrieval is recorded for the modes that ran the model, not for their unfiltered twins.
    let computed: Vec<&str> = modes.iter().copied().filter(|mode| !mode.ends_with(UNFILTERED)).collect();
    print_retrieval(&records, tasks.len(), &computed, out)?;
    filter_us.sort_by(f64::total_cmp);
    writeln!(
        out,
        "filters (syntax check included): p50 {:.0} µs, p95 {:.0} µs per suggestion over {} runs",
        wisp_eval::percentile(&filter_us, 50.0),
        wisp_eval::percentile(&filter_us, 95.0),
        filter_us.len()
    )?;
    context_ms.sort_by(f64::total_cmp);
    writeln!(
        out,
        "context gathering in full mode (tags + retrieval): p50 {:.2} ms, p95 {:.2} ms over {} runs",
        wisp_eval::percentile(&context_ms, 50.0),
        wisp_eval::percentile(&context_ms, 95.0),
        context_ms.len()
    )?;
    let mut candidate_modes: Vec<_> = candidate_wins.iter().collect();
    candidate_modes.sort();
    for (mode, (found, won)) in candidate_modes {
        writeln!(
            out,
            "candidates ({mode}): a pattern from above was scored in {found} runs and chosen over the model's line in {won}"
        )?;
    }
    if !guide_us_per_token.is_empty() {
        guide_us_per_token.sort_by(f64::total_cmp);
        writeln!(
            out,
            "index-guided decoding (checks and replacements): p50 {:.1} µs, p95 {:.1} µs, max {:.1} µs per generated token over {} runs",
            wisp_eval::percentile(&guide_us_per_token, 50.0),
            wisp_eval::percentile(&guide_us_per_token, 95.0),
            guide_us_per_token.last().copied().unwrap_or_default(),
            guide_us_per_token.len()
        )?;
    }
    if options.perplexity_files > 0 {
        perplexity(engine.as_ref(), &root, &registry, options.perplexity_files, options.tasks.seed, out)?;
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEOMETRY: &str = "pub struct Point {\n    pub x: f64,\n}\n\npub fn distance(a: &Point, b: &Point) -> f64 {\n    (a.x - b.x).abs()\n}\n";

    /// Ten header lines (never masked), then code that uses `distance` and `Point` from
    /// geometry.rs and `double` from this file.
    fn main_rs() -> String {
        "// Licensed under the Apache License, Version 2.0.\n".repeat(10)
            + "use crate::geometry::{distance, Point};\n\n\
               pub fn run(origin: &Point) -> f64 {\n    \
                   let near = distance(origin, origin);\n    \
                   let twice = double(near);\n    \
                   twice + near\n\
               }\n\n\
               fn double(value: f64) -> f64 {\n    \
                   value * 2.0\n\
               }\n"
    }

    fn fixture() -> (Vec<(String, String)>, WorkspaceIndex, LanguageRegistry) {
        let files =
            vec![("src/geometry.rs".to_owned(), GEOMETRY.to_owned()), ("src/main.rs".to_owned(), main_rs())];
        let registry = LanguageRegistry::builtin();
        let mut index = WorkspaceIndex::new();
        for (path, text) in &files {
            index.update(path, &registry.by_path(Path::new(path)).unwrap(), text);
        }
        (files, index, registry)
    }

    /// Every line of both files is masked in some task when the set asks for many.
    fn options() -> TaskOptions {
        TaskOptions { seed: 4, n_tasks: 1000, ..TaskOptions::default() }
    }

    /// Code in main.rs that uses what geometry.rs defines; the `use` line imports names but does
    /// not use them.
    fn uses_geometry(task: &Task) -> bool {
        // A mid-word task uses the name it cuts.
        let prefix = task.prefix();
        let typed = &prefix[prefix.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len()..];
        let used = format!("{typed}{}", task.expected);
        let line_before = &prefix[prefix.rfind('\n').map_or(0, |at| at + 1)..];
        task.path == "src/main.rs"
            && !format!("{line_before}{}", task.expected).trim_start().starts_with("use ")
            && (used.contains("distance") || used.contains("Point"))
    }

    #[test]
    fn names_are_found_as_whole_words() {
        assert!(uses_word("let d = distance(a, b);", "distance"));
        assert!(uses_word("distance", "distance"));
        assert!(!uses_word("let d = distances(a);", "distance"));
        assert!(!uses_word("let d = my_distance(a);", "distance"));
    }

    #[test]
    fn tasks_using_another_files_names_are_told_apart() {
        let (files, index, registry) = fixture();
        let (selection, needed) = select_tasks(&files, &options(), None, &index, &registry);
        assert!(selection.tasks.iter().any(uses_geometry));
        assert!(selection.tasks.iter().any(|task| task.expected.contains("(near)") && !uses_geometry(task)));
        for task in &selection.tasks {
            assert_eq!(
                needed.contains_key(&task.id),
                uses_geometry(task),
                "{task:?} needs {:?}",
                needed.get(&task.id)
            );
        }
        let calls_distance: Vec<&Task> = selection
            .tasks
            .iter()
            .filter(|task| task.expected.contains("distance(") && !task.expected.contains("Point"))
            .collect();
        assert!(!calls_distance.is_empty());
        for task in calls_distance {
            assert_eq!(needed[&task.id], ["distance"], "{task:?}");
        }
    }

    #[test]
    fn require_cross_file_keeps_only_those_tasks_and_counts_the_candidates() {
        let (files, index, registry) = fixture();
        let (all, _) = select_tasks(&files, &options(), None, &index, &registry);
        let (selection, needed) =
            select_tasks(&files, &options(), Some(Requirement::CrossFile), &index, &registry);
        let n_qualifying = all.tasks.iter().filter(|task| uses_geometry(task)).count();
        assert!(n_qualifying > 0);
        assert_eq!(selection.tasks.len(), n_qualifying);
        assert!(selection.tasks.iter().all(|task| uses_geometry(task) && needed.contains_key(&task.id)));
        assert!(selection.n_candidates > selection.tasks.len(), "rejected candidates are counted too");
        let again = select_tasks(&files, &options(), Some(Requirement::CrossFile), &index, &registry);
        assert_eq!(again.0, selection, "the same seed keeps the same tasks");
    }
}
