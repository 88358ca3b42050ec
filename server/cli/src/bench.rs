//! `wisp bench engine`: prompt evaluation and decoding speed of the llama.cpp engine as Wisp uses
//! it, and the same figures from llama.cpp's own `llama-bench` measured in the same run, as ratios.
//!
//! Absolute speeds on a shared 2-core machine are only hints; the ratio against llama-bench, run
//! back to back on the same model and threads, is the figure to track.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::Value;
use wisp_context::{CompletionInput, PromptFormat};
use wisp_engine::{CancelFlag, Engine, GenerateRequest, LlamaEngine, StopRule};

use wisp_complete::config::ModelConfig;
use wisp_complete::models;

pub struct EngineBench {
    pub model: ModelConfig,
    /// Source file whose beginning becomes the prompt.
    pub source: PathBuf,
    pub prompt_tokens: usize,
    pub generate_tokens: usize,
    pub repetitions: usize,
    /// A `llama-bench` binary to compare against.
    pub llama_bench: Option<PathBuf>,
}

/// Median of what was measured.
struct Speeds {
    prompt_tokens_per_second: f64,
    decode_tokens_per_second: f64,
}

pub fn run(bench: &EngineBench, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let choice = models::choose(&bench.model).map_err(anyhow::Error::msg)?;
    // Reuse off: every repetition evaluates the whole prompt, as llama-bench does.
    let mut options = bench.model.llama_options();
    options.kv_reuse = false;
    options.n_ctx = options.n_ctx.max(bench.prompt_tokens + bench.generate_tokens + 32);
    let load_started = Instant::now();
    let engine = LlamaEngine::load(&choice.path, &choice.id, options.clone())?;
    let load_ms = load_started.elapsed().as_secs_f64() * 1e3;

    let text = std::fs::read_to_string(&bench.source)
        .with_context(|| format!("reading {}", bench.source.display()))?;
    let input = CompletionInput {
        path: "bench.rs",
        line_comment: Some("//"),
        prefix: &text,
        suffix: "",
        anchor: None,
        prefix_start: 0,
        snippets: &[],
    };
    let counter = |text: &str| engine.count_tokens(text);
    // Cut from the front of the file: the budget keeps the tail, so hand it only the head.
    let head = head_with_tokens(&text, bench.prompt_tokens, &counter);
    let input = CompletionInput { prefix: head, ..input };
    let built = wisp_context::build(&input, PromptFormat::Plain, bench.prompt_tokens, &counter);

    writeln!(out, "model {} ({}), {}", choice.id, choice.path.display(), engine.model().device)?;
    writeln!(out, "load {load_ms:.0} ms")?;
    let mut prompt_speeds = Vec::new();
    let mut decode_speeds = Vec::new();
    let mut first_suggestion_ms = Vec::new();
    for repetition in 0..bench.repetitions.max(1) {
        let request = GenerateRequest {
            prompt: built.prompt.clone(),
            max_tokens: bench.generate_tokens,
            // Only max_tokens ends the text: a fair decode measurement.
            stop: StopRule::Unbounded,
            cancel: CancelFlag::new(),
            cache_key: 0,
            time_budget: None,
            background: false,
            sampling: wisp_engine::Sampling::GREEDY,
            healing: String::new(),
            guide: None,
        };
        let started = Instant::now();
        let mut first_piece_ms = None;
        let generation = engine.generate(&request, &mut |_| {
            first_piece_ms.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1e3);
            ControlFlow::Continue(())
        })?;
        let prompt_tps = generation.n_prompt_evaluated as f64 * 1e3 / generation.prompt_ms;
        let decode_tps = generation.n_generated as f64 * 1e3 / generation.decode_ms.max(1e-9);
        writeln!(
            out,
            "run {}: prompt {} tokens in {:.0} ms ({prompt_tps:.1} tok/s), generated {} tokens in {:.0} ms ({decode_tps:.1} tok/s), first token after {:.0} ms",
            repetition + 1,
            generation.n_prompt_evaluated,
            generation.prompt_ms,
            generation.n_generated,
            generation.decode_ms,
            first_piece_ms.unwrap_or(f64::NAN),
        )?;
        prompt_speeds.push(prompt_tps);
        decode_speeds.push(decode_tps);
        first_suggestion_ms.push(first_piece_ms.unwrap_or(f64::NAN));
    }
    let wisp = Speeds {
        prompt_tokens_per_second: median(&mut prompt_speeds),
        decode_tokens_per_second: median(&mut decode_speeds),
    };
    writeln!(
        out,
        "wisp median: prompt {:.1} tok/s, decode {:.1} tok/s, first token {:.0} ms",
        wisp.prompt_tokens_per_second,
        wisp.decode_tokens_per_second,
        median(&mut first_suggestion_ms)
    )?;

    if let Some(llama_bench) = &bench.llama_bench {
        let reference =
            llama_bench_speeds(llama_bench, &choice.path, bench, built.n_tokens, options.threads)?;
        writeln!(
            out,
            "llama-bench: prompt {:.1} tok/s (pp{n}), decode {:.1} tok/s (tg{} @ d{n})",
            reference.prompt_tokens_per_second,
            reference.decode_tokens_per_second,
            bench.generate_tokens,
            n = built.n_tokens,
        )?;
        writeln!(
            out,
            "ratio wisp/llama-bench: prompt {:.3}, decode {:.3}",
            wisp.prompt_tokens_per_second / reference.prompt_tokens_per_second,
            wisp.decode_tokens_per_second / reference.decode_tokens_per_second
        )?;
    }
    Ok(())
}

/// The longest run of whole lines from the start of `text` within `n_tokens` (a little over is
/// trimmed by the prompt builder's exact count).
fn head_with_tokens<'a>(text: &'a str, n_tokens: usize, counter: &dyn Fn(&str) -> usize) -> &'a str {
    let mut end = 0;
    let mut total = 0;
    for line in text.split_inclusive('\n') {
        let n = counter(line);
        if total + n > n_tokens + 16 {
            break;
        }
        total += n;
        end += line.len();
    }
    &text[..end]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    if values.is_empty() {
        return f64::NAN;
    }
    values[values.len() / 2]
}

/// Runs `llama-bench -o json` with the same model, threads and sizes: prompt evaluation from an
/// empty context, and decoding after the prompt (`-d`), which is where Wisp decodes.
fn llama_bench_speeds(
    binary: &Path,
    model: &Path,
    bench: &EngineBench,
    prompt_tokens: usize,
    threads: usize,
) -> anyhow::Result<Speeds> {
    let run = |prompt: usize, generate: usize, depth: usize| -> anyhow::Result<f64> {
        let output = Command::new(binary)
            .arg("-m")
            .arg(model)
            .args(["-p", &prompt.to_string(), "-n", &generate.to_string(), "-d", &depth.to_string()])
            .args(["-t", &threads.to_string(), "-r", &bench.repetitions.max(1).to_string(), "-o", "json"])
            .args(["-ngl", &bench.model.gpu_layers.to_string()])
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        if !output.status.success() {
            bail!("{} failed: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
        }
        let results: Vec<Value> =
            serde_json::from_slice(&output.stdout).context("reading llama-bench's JSON")?;
        results.first().and_then(|result| result["avg_ts"].as_f64()).context("llama-bench printed no result")
    };
    Ok(Speeds {
        prompt_tokens_per_second: run(prompt_tokens, 0, 0)?,
        decode_tokens_per_second: run(0, bench.generate_tokens, prompt_tokens)?,
    })
}
