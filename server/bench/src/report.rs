//! The printed table: absolute figures per run, then ratios against the baselines measured in the
//! same run (Wisp / llama-server, Wisp / an earlier build, Wisp / Wisp without reuse).

use std::io::Write;

use crate::stats::{paired, ratio, RunStats};
use crate::ReplayReport;

/// Width of the figure-name column (characters).
const NAME_WIDTH: usize = 36;
/// Width of each value column (characters): holds "wisp / wisp without reuse" with a gap.
const VALUE_WIDTH: usize = 27;

/// One row: a name, how to read the figure, and how to print it.
struct Figure {
    name: &'static str,
    value: fn(&RunStats) -> Option<f64>,
    format: fn(f64) -> String,
}

fn figures() -> Vec<Figure> {
    let ms = |value: f64| format!("{value:.0} ms");
    let count = |value: f64| format!("{value:.0}");
    let share = |value: f64| format!("{:.1}%", value * 100.0);
    let tokens = |value: f64| format!("{value:.1}");
    let mib = |value: f64| format!("{:.0} MiB", value / (1024.0 * 1024.0));
    let seconds = |value: f64| format!("{value:.1} s");
    vec![
        Figure {
            name: "latency p50 (suggested keystrokes)",
            value: |stats| stats.latency_p50_ms,
            format: ms,
        },
        Figure { name: "latency p95", value: |stats| stats.latency_p95_ms, format: ms },
        Figure { name: "latency p99", value: |stats| stats.latency_p99_ms, format: ms },
        Figure { name: "keystrokes", value: |stats| Some(stats.keystrokes as f64), format: count },
        Figure { name: "suggested", value: |stats| Some(stats.suggested as f64), format: count },
        Figure { name: "share suggested", value: |stats| Some(stats.share_suggested), format: share },
        Figure { name: "errors", value: |stats| Some(stats.errors as f64), format: count },
        Figure {
            name: "prompt tokens evaluated / keystroke",
            value: |stats| stats.prompt_tokens_evaluated_per_keystroke,
            format: tokens,
        },
        Figure {
            name: "prompt tokens evaluated / model run",
            value: |stats| stats.prompt_tokens_evaluated_per_generation,
            format: tokens,
        },
        Figure {
            name: "prompt tokens / model run",
            value: |stats| stats.prompt_tokens_per_generation,
            format: tokens,
        },
        Figure {
            name: "warm-up tokens at open",
            value: |stats| stats.warm_up_tokens.map(|tokens| tokens as f64),
            format: tokens,
        },
        Figure { name: "cache hit rate", value: |stats| stats.cache_hit_rate, format: share },
        Figure { name: "typed-through hit rate", value: |stats| stats.typed_through_hit_rate, format: share },
        Figure { name: "joined earlier generation", value: |stats| stats.joined_rate, format: share },
        Figure { name: "answered by joining", value: |stats| stats.joined_hit_rate, format: share },
        Figure {
            name: "peak RSS",
            value: |stats| stats.peak_rss_bytes.map(|bytes| bytes as f64),
            format: mib,
        },
        Figure { name: "replay wall time", value: |stats| Some(stats.wall.as_secs_f64()), format: seconds },
        Figure {
            name: "startup (model load)",
            value: |stats| Some(stats.startup.as_secs_f64()),
            format: seconds,
        },
    ]
}

const UNAVAILABLE: &str = "—";

/// Prints the report's table and notes.
pub fn print(report: &ReplayReport, out: &mut dyn Write) -> std::io::Result<()> {
    let mut runs = vec![&report.wisp, &report.wisp_no_reuse];
    runs.extend(report.llama_server.as_ref());
    runs.extend(report.before.as_ref());
    let figures = figures();

    write!(out, "{:NAME_WIDTH$}", "")?;
    for run in &runs {
        write!(out, "{:>VALUE_WIDTH$}", run.label)?;
    }
    writeln!(out)?;
    for figure in &figures {
        write!(out, "{:NAME_WIDTH$}", figure.name)?;
        for run in &runs {
            let text = (figure.value)(run).map_or(UNAVAILABLE.to_owned(), figure.format);
            write!(out, "{text:>VALUE_WIDTH$}")?;
        }
        writeln!(out)?;
    }

    writeln!(out)?;
    let mut baselines: Vec<(String, &RunStats)> = Vec::new();
    if let Some(llama) = &report.llama_server {
        baselines.push((format!("{} / {}", report.wisp.label, llama.label), llama));
    }
    if let Some(before) = &report.before {
        baselines.push((format!("{} / {}", report.wisp.label, before.label), before));
    }
    baselines
        .push((format!("{} / {}", report.wisp.label, report.wisp_no_reuse.label), &report.wisp_no_reuse));
    write!(out, "{:NAME_WIDTH$}", "ratios")?;
    for (name, _) in &baselines {
        write!(out, "{name:>VALUE_WIDTH$}")?;
    }
    writeln!(out)?;
    for figure in &figures {
        write!(out, "{:NAME_WIDTH$}", figure.name)?;
        for (_, baseline) in &baselines {
            let text = match ((figure.value)(&report.wisp), (figure.value)(baseline)) {
                (Some(wisp), Some(baseline)) => {
                    ratio(wisp, baseline).map_or(UNAVAILABLE.to_owned(), |r| format!("{r:.2}x"))
                }
                _ => UNAVAILABLE.to_owned(),
            };
            write!(out, "{text:>VALUE_WIDTH$}")?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;
    for (name, baseline) in &baselines {
        let Some(both) = paired(&report.wisp, baseline) else { continue };
        writeln!(out, "keystrokes both suggested ({name}): {}", both.n)?;
        for (figure, (wisp, base)) in [("p50", both.p50_ms), ("p95", both.p95_ms)] {
            let r = ratio(wisp, base).map_or(UNAVAILABLE.to_owned(), |r| format!("{r:.2}x"));
            writeln!(out, "  latency {figure}: {wisp:.0} ms vs {base:.0} ms = {r}")?;
        }
    }
    if !report.notes.is_empty() {
        writeln!(out)?;
        for note in &report.notes {
            writeln!(out, "note: {note}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stats(label: &str, p50: f64, rss: Option<u64>) -> RunStats {
        RunStats {
            label: label.into(),
            latency_p50_ms: Some(p50),
            latency_p95_ms: Some(p50 * 2.0),
            latency_p99_ms: None,
            keystrokes: 10,
            suggested: 5,
            share_suggested: 0.5,
            errors: 0,
            unanswered: None,
            prompt_tokens_evaluated_per_keystroke: Some(12.0),
            prompt_tokens_evaluated_per_generation: None,
            prompt_tokens_per_generation: None,
            warm_up_tokens: None,
            cache_hit_rate: Some(0.0),
            typed_through_hit_rate: None,
            joined_rate: None,
            joined_hit_rate: None,
            peak_rss_bytes: rss,
            rss_series: Vec::new(),
            wall: Duration::from_secs(3),
            startup: Duration::from_millis(500),
            latencies_ms: vec![Some(p50), None, Some(p50 * 2.0)],
        }
    }

    #[test]
    fn the_table_shows_figures_and_ratios_with_gaps_for_missing_ones() {
        let report = ReplayReport {
            before: None,
            wisp: stats("wisp", 100.0, Some(200 << 20)),
            wisp_no_reuse: stats("wisp without reuse", 400.0, Some(100 << 20)),
            llama_server: Some(stats("llama-server", 50.0, None)),
            notes: vec!["a caveat".into()],
        };
        let mut out = Vec::new();
        print(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = |start: &str, nth: usize| -> String {
            text.lines()
                .filter(|line| line.starts_with(start))
                .nth(nth)
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(line("latency p50", 0), "latency p50 (suggested keystrokes) 100 ms 400 ms 50 ms");
        assert_eq!(line("latency p50", 1), "latency p50 (suggested keystrokes) 2.00x 0.25x");
        assert_eq!(line("peak RSS", 0), "peak RSS 200 MiB 100 MiB —");
        assert_eq!(line("peak RSS", 1), "peak RSS — 2.00x");
        assert_eq!(line("cache hit rate", 1), "cache hit rate — —", "0 / 0 has no ratio");
        assert!(text.contains("note: a caveat"));
        assert!(text.contains("keystrokes both suggested (wisp / llama-server): 2"), "{text}");
        assert!(text.contains("latency p50: 100 ms vs 50 ms = 2.00x"), "{text}");
    }
}
