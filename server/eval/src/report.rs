//! The printed table: each mode's figures side by side, exact match per kind, then each mode's
//! exact match and edit similarity as ratios against the first mode, measured on the same tasks
//! in the same run.

use std::io::Write;

use crate::evaluate::ModeReport;
use crate::task::MaskKind;

/// Width of each value column (characters).
const VALUE_WIDTH: usize = 11;

/// Heading of the exact-match-per-kind table, printed in the mode column.
const BY_KIND_HEADING: &str = "EM by kind";

/// Printed where a figure has no value (a ratio against zero).
const UNAVAILABLE: &str = "—";

/// Prints the side-by-side table with ratios of each mode's EM / ES against the first mode.
pub fn print_report(reports: &[ModeReport], out: &mut dyn Write) -> std::io::Result<()> {
    let mode_width = reports
        .iter()
        .map(|report| report.mode.chars().count())
        .chain([BY_KIND_HEADING.len()])
        .max()
        .unwrap_or_default()
        + 2;

    write!(out, "{:mode_width$}", "mode")?;
    for header in ["tasks", "EM", "first line", "ES", "ctx tokens", "p50 ms", "p95 ms", "errors"] {
        write!(out, "{header:>VALUE_WIDTH$}")?;
    }
    writeln!(out)?;
    for report in reports {
        write!(out, "{:mode_width$}", report.mode)?;
        let values = [
            report.n.to_string(),
            percent(report.exact_match),
            percent(report.first_line_exact),
            format!("{:.3}", report.edit_similarity),
            format!("{:.1}", report.mean_context_tokens),
            format!("{:.0}", report.latency_p50_ms),
            format!("{:.0}", report.latency_p95_ms),
            report.n_errors.to_string(),
        ];
        for value in values {
            write!(out, "{value:>VALUE_WIDTH$}")?;
        }
        writeln!(out)?;
    }

    writeln!(out)?;
    write!(out, "{:mode_width$}", "filters")?;
    for header in ["cut", "suppressed", "checked", "+errors", "+err (blk)", "ES shown", "made-up"] {
        write!(out, "{header:>VALUE_WIDTH$}")?;
    }
    writeln!(out)?;
    for report in reports {
        write!(out, "{:mode_width$}", report.mode)?;
        let values = [
            percent(report.cut),
            percent(report.suppressed),
            report.n_checked.to_string(),
            percent(report.adds_errors),
            percent(report.adds_errors_finished),
            format!("{:.3}", report.shown_edit_similarity),
            percent(report.made_up),
        ];
        for value in values {
            write!(out, "{value:>VALUE_WIDTH$}")?;
        }
        writeln!(out)?;
    }

    let kinds: Vec<(MaskKind, usize)> = reports
        .first()
        .map(|report| report.by_kind.iter().map(|&(kind, n, _)| (kind, n)).collect())
        .unwrap_or_default();
    if !kinds.is_empty() {
        writeln!(out)?;
        write!(out, "{BY_KIND_HEADING:mode_width$}")?;
        for (kind, n) in &kinds {
            write!(out, "{:>VALUE_WIDTH$}", format!("{kind} ({n})"))?;
        }
        writeln!(out)?;
        for report in reports {
            write!(out, "{:mode_width$}", report.mode)?;
            for (kind, _) in &kinds {
                let exact_match = report.by_kind.iter().find(|(other, ..)| other == kind);
                let text =
                    exact_match.map_or(UNAVAILABLE.to_owned(), |&(.., exact_match)| percent(exact_match));
                write!(out, "{text:>VALUE_WIDTH$}")?;
            }
            writeln!(out)?;
        }
    }

    for report in reports.iter().filter(|report| !report.by_confidence.is_empty()) {
        writeln!(out)?;
        writeln!(out, "EM by confidence decile ({}), least sure first:", report.mode)?;
        for (index, (low, high, n, exact_match)) in report.by_confidence.iter().enumerate() {
            writeln!(
                out,
                "  d{:02} {low:.2}–{high:.2}  {n:>4} completions  EM {}",
                index + 1,
                percent(*exact_match)
            )?;
        }
    }

    if let [baseline, others @ ..] = reports {
        if !others.is_empty() {
            writeln!(out)?;
        }
        for report in others {
            writeln!(
                out,
                "{} / {}: EM {}, ES {}",
                report.mode,
                baseline.mode,
                ratio(report.exact_match, baseline.exact_match),
                ratio(report.edit_similarity, baseline.edit_similarity)
            )?;
        }
    }

    for report in reports {
        if let Some(error) = &report.first_error {
            writeln!(out)?;
            writeln!(
                out,
                "{}: {} runs failed and scored as empty; first: {error}",
                report.mode, report.n_errors
            )?;
        }
    }
    Ok(())
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// `numerator / denominator` as "1.35x", [`UNAVAILABLE`] when the denominator is zero.
fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator == 0.0 {
        UNAVAILABLE.to_owned()
    } else {
        format!("{:.2}x", numerator / denominator)
    }
}
