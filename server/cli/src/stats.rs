//! `wisp stats` and `wisp dataset export`: the recorded feedback as a table, JSON or JSONL.

use std::io::Write;
use std::path::Path;

use wisp_telemetry::dataset::{self, SplitShares};
use wisp_telemetry::report::{compute, figures, since_ms};

/// `wisp stats`: a table (or JSON) on `out`.
pub fn print(
    database: &Path,
    since: Option<&str>,
    by: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if json {
        let value = compute(database, since, by).map_err(anyhow::Error::msg)?;
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let (summaries, comparisons, _) = figures(database, since, by).map_err(anyhow::Error::msg)?;
    let survival_columns: std::collections::BTreeSet<u32> =
        summaries.iter().flat_map(|summary| summary.kept_ratio.keys().copied()).collect();
    write!(
        out,
        "{:<28} {:>7} {:>8} {:>22} {:>8}",
        by.unwrap_or("all"),
        "shown",
        "accepted",
        "rate [95% CI]",
        "partial"
    )?;
    for after_s in &survival_columns {
        write!(out, " {:>9}", format!("kept@{after_s}s"))?;
    }
    writeln!(out, " {:>8} {:>8}", "p50 ms", "p95 ms")?;
    for summary in &summaries {
        let (low, high) = summary.acceptance_interval;
        write!(
            out,
            "{:<28} {:>7} {:>8} {:>22} {:>7.1}%",
            summary.key,
            summary.shown,
            summary.accepted,
            format!("{:.1}% [{:.1}, {:.1}]", summary.acceptance_rate * 100.0, low * 100.0, high * 100.0),
            summary.partial_share * 100.0
        )?;
        for after_s in &survival_columns {
            match summary.kept_ratio.get(after_s) {
                Some(kept) => write!(out, " {:>9}", format!("{:.2}", kept.mean))?,
                None => write!(out, " {:>9}", "-")?,
            }
        }
        let ms = |value: Option<f64>| value.map_or("-".to_owned(), |ms| format!("{ms:.0}"));
        writeln!(out, " {:>8} {:>8}", ms(summary.latency_p50_ms), ms(summary.latency_p95_ms))?;
    }
    for comparison in &comparisons {
        writeln!(
            out,
            "{} vs {}: {:+.1} points [{:+.1}, {:+.1}], p = {:.3} — {}",
            comparison.variant,
            comparison.baseline,
            comparison.difference * 100.0,
            comparison.difference_interval.0 * 100.0,
            comparison.difference_interval.1 * 100.0,
            comparison.p_value,
            if comparison.significant { "significant at 95%" } else { "not significant at 95%" }
        )?;
    }
    Ok(())
}

/// `wisp dataset export`: JSONL rows on `out`; returns how many were written.
pub fn export(
    database: &Path,
    since: Option<&str>,
    shares: SplitShares,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    if shares.train + shares.validation > 100 {
        anyhow::bail!("--split: train + validation must be at most 100 (the rest is test)");
    }
    if !database.exists() {
        anyhow::bail!(
            "no feedback recorded yet: {} does not exist — turn on \"telemetry.events\" and \"telemetry.content\"",
            database.display()
        );
    }
    let since_ms = since_ms(since, wisp_telemetry::event::now_ms()).map_err(anyhow::Error::msg)?;
    let (store, key) = wisp_telemetry::open(database).map_err(anyhow::Error::msg)?;
    let outcomes = store.outcomes_since(since_ms)?;
    let rows = dataset::rows(&outcomes, &wisp_guard::Redactor::new(key), shares);
    for row in &rows {
        serde_json::to_writer(&mut *out, row)?;
        writeln!(out)?;
    }
    Ok(rows.len())
}
