//! `wisp bench open`: the time from opening a large file to its first suggestion, with the fast
//! first answer (`completion.fast_first_answer`) and without it (the full prompt evaluated from
//! scratch), measured back to back on the same cursors, model and threads.
//!
//! Each trial opens the file under a URI of its own, so no trial finds another's prompt in the
//! model's cache, and asks for an inline suggestion at once, as an editor does when the user
//! clicks into the file and types: the request races the warm-up that `didOpen` starts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use crate::lsp::file_uri;
use crate::stats::percentile;
use crate::wisp_run::{has_suggestion, start, Started, SHUTDOWN_TIMEOUT};

/// Seconds for one first suggestion: the full prompt of a large file from scratch on a slow
/// machine, queued behind the warm-up chunk in flight.
pub const FIRST_SUGGESTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Lines at the top and bottom of the file where no cursor is put: the prompt of a cursor near
/// the top is short anyway.
const EDGE_LINES: usize = 200;

/// What to measure.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub wisp_binary: PathBuf,
    /// The file opened (2,000 lines or so to show the cost of a full prompt).
    pub file: PathBuf,
    pub model_path: PathBuf,
    pub threads: usize,
    /// Cursors measured with each setting.
    pub trials: usize,
    pub seed: u64,
}

/// The latencies of each setting, in the order of the cursors.
#[derive(Debug, Clone)]
pub struct OpenReport {
    pub fast: Vec<Duration>,
    pub full: Vec<Duration>,
    /// Trials whose first answer held a suggestion, with each setting.
    pub fast_suggested: usize,
    pub full_suggested: usize,
}

/// A cursor: 0-based line and UTF-16 column, mid-line on a line with code.
fn cursors(text: &str, trials: usize, seed: u64) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let candidates: Vec<usize> = (EDGE_LINES.min(lines.len())..lines.len().saturating_sub(EDGE_LINES))
        .filter(|&index| lines[index].trim().len() >= 10)
        .collect();
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..trials)
        .filter_map(|_| {
            let index = *candidates.get(next() as usize % candidates.len().max(1))?;
            let line = lines[index];
            let indent = line.len() - line.trim_start().len();
            let middle = indent + (line.len() - indent) / 2;
            let column = line.char_indices().map(|(at, _)| at).find(|&at| at >= middle).unwrap_or(line.len());
            Some((index, line[..column].encode_utf16().count()))
        })
        .collect()
}

/// Opens the file once per cursor in one server and times each first answer.
fn measure(
    options: &OpenOptions,
    root: &Path,
    text: &str,
    cursors: &[(usize, usize)],
    fast: bool,
    log_path: PathBuf,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let label = if fast { "wisp, fast first answer" } else { "wisp, full prompt first" };
    let init = json!({
        "model": { "path": options.model_path, "threads": options.threads },
        "completion": { "fast_first_answer": fast },
    });
    let Started { mut server, error_messages, .. } =
        start(&options.wisp_binary, root, init, label, log_path)?;
    if !error_messages.is_empty() {
        bail!("{label} refused its configuration: {}", error_messages.join("; "));
    }
    let extension = options.file.extension().and_then(|extension| extension.to_str()).unwrap_or("txt");
    let language_id = match extension {
        "rs" => "rust",
        "py" => "python",
        "ts" => "typescript",
        "js" => "javascript",
        "go" => "go",
        other => other,
    };
    let mut latencies = Vec::new();
    let mut suggested = 0;
    for (trial, &(line, character)) in cursors.iter().enumerate() {
        let uri = file_uri(&root.join(format!("opened_{trial}.{extension}")))?;
        let document = json!({ "uri": uri, "languageId": language_id, "version": 1, "text": text });
        let opened = Instant::now();
        server.notify("textDocument/didOpen", json!({ "textDocument": document }))?;
        let params = json!({
            "textDocument": { "uri": uri },
            "position": { "line": line, "character": character },
            // Automatic (2): the user clicked into the file and typed.
            "context": { "triggerKind": 2 },
        });
        let (id, _) = server.request("textDocument/inlineCompletion", params)?;
        let answer = server.wait_response(id, FIRST_SUGGESTION_TIMEOUT, "the first suggestion")?;
        latencies.push(answer.arrived.duration_since(opened));
        match answer.outcome {
            Ok(result) => suggested += usize::from(has_suggestion(&result)),
            Err(error) => bail!("{label} answered the first request with an error: {}", error.message),
        }
        server.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }))?;
        // Let the background work of this trial (the prompt growing) end before the next.
        server.pump_until(Instant::now() + Duration::from_millis(200))?;
    }
    server.shut_down(SHUTDOWN_TIMEOUT)?;
    Ok((latencies, suggested))
}

/// Runs both settings and prints the table.
pub fn run(options: &OpenOptions, out: &mut dyn std::io::Write) -> anyhow::Result<OpenReport> {
    if options.trials == 0 {
        bail!("trials is 0: measure at least one cursor");
    }
    let text = std::fs::read_to_string(&options.file)
        .with_context(|| format!("reading {}", options.file.display()))?;
    let n_lines = text.lines().count();
    if n_lines < 2 * EDGE_LINES + 10 {
        bail!(
            "{} has {n_lines} lines; give a file of at least {} lines (a large file is what this measures)",
            options.file.display(),
            2 * EDGE_LINES + 10
        );
    }
    let cursors = cursors(&text, options.trials, options.seed);
    let work_dir = std::env::temp_dir().join(format!("wisp-bench-open-{}", std::process::id()));
    let root = work_dir.join("workspace");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    // Full first, then fast: the same cursors, one setting after the other.
    let (full, full_suggested) = measure(options, &root, &text, &cursors, false, work_dir.join("full.log"))?;
    let (fast, fast_suggested) = measure(options, &root, &text, &cursors, true, work_dir.join("fast.log"))?;
    let report = OpenReport { fast, full, fast_suggested, full_suggested };
    print(&report, options, n_lines, out)?;
    let _ = std::fs::remove_dir_all(&work_dir);
    Ok(report)
}

fn print(
    report: &OpenReport,
    options: &OpenOptions,
    n_lines: usize,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let ms = |latencies: &[Duration]| {
        let mut values: Vec<f64> = latencies.iter().map(|latency| latency.as_secs_f64() * 1e3).collect();
        values.sort_by(f64::total_cmp);
        (percentile(&values, 50.0).unwrap_or(0.0), percentile(&values, 95.0).unwrap_or(0.0))
    };
    let (full_p50, full_p95) = ms(&report.full);
    let (fast_p50, fast_p95) = ms(&report.fast);
    writeln!(
        out,
        "didOpen of {} ({n_lines} lines) to the first suggestion, {} cursors, {} threads",
        options.file.display(),
        report.full.len(),
        options.threads
    )?;
    writeln!(out, "{:28}{:>10}{:>10}{:>12}", "", "p50 ms", "p95 ms", "suggested")?;
    writeln!(out, "{:28}{full_p50:>10.0}{full_p95:>10.0}{:>12}", "full prompt first", report.full_suggested)?;
    writeln!(out, "{:28}{fast_p50:>10.0}{fast_p95:>10.0}{:>12}", "fast first answer", report.fast_suggested)?;
    if full_p50 > 0.0 {
        writeln!(
            out,
            "fast / full: p50 {:.2}x, p95 {:.2}x",
            fast_p50 / full_p50,
            fast_p95 / full_p95.max(1e-9)
        )?;
    }
    Ok(())
}
