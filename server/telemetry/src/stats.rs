//! `wisp stats`: acceptance and survival figures from the recorded outcomes, overall or per
//! model, language, variant or trigger, and the comparison of experiment variants.
//!
//! Definitions (each per completion):
//! - *shown*: the editor reported showing it, or the user accepted (part of) it;
//! - *accepted*: accepted whole; *partially accepted*: some of it accepted, never all;
//! - *acceptance rate*: accepted / shown, with a Wilson score 95% interval;
//! - *kept ratio after s seconds*: mean of the survival measurements taken s seconds after an
//!   accept;
//! - *latency*: request-to-answer milliseconds of the shown completions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::CompletionOutcome;

/// z for a two-sided 95% interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// What to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Model,
    Language,
    Variant,
    Trigger,
    /// Deciles of the model's confidence: ten groups of (nearly) equal size, least sure first.
    Confidence,
}

impl std::str::FromStr for GroupBy {
    type Err = String;

    fn from_str(text: &str) -> Result<GroupBy, String> {
        match text {
            "model" => Ok(GroupBy::Model),
            "language" => Ok(GroupBy::Language),
            "variant" => Ok(GroupBy::Variant),
            "trigger" => Ok(GroupBy::Trigger),
            "confidence" => Ok(GroupBy::Confidence),
            other => Err(format!(
                "cannot group by {other:?} — use model, language, variant, trigger or confidence"
            )),
        }
    }
}

/// Figures of one group of completions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The group's key ("all" when not grouped).
    pub key: String,
    pub completions: u64,
    pub shown: u64,
    pub accepted: u64,
    pub partially_accepted: u64,
    pub dismissed: u64,
    pub acceptance_rate: f64,
    /// Wilson score 95% interval of the acceptance rate.
    pub acceptance_interval: (f64, f64),
    /// Partially accepted / shown.
    pub partial_share: f64,
    /// Mean kept ratio per seconds-after-accept, with the number of measurements.
    pub kept_ratio: BTreeMap<u32, KeptRatio>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KeptRatio {
    pub mean: f64,
    pub n: u64,
}

/// A variant's acceptance rate against the baseline's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub variant: String,
    pub baseline: String,
    /// Variant rate − baseline rate.
    pub difference: f64,
    /// 95% interval of the difference (unpooled standard error).
    pub difference_interval: (f64, f64),
    /// Two-sided p-value of the pooled two-proportion z-test.
    pub p_value: f64,
    /// p < 0.05.
    pub significant: bool,
}

/// Wilson score interval for `successes` out of `n` at the given z; (0, 0) when n is 0.
pub fn wilson_interval(successes: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((center - margin).max(0.0), (center + margin).min(1.0))
}

/// Summarises `outcomes`, all together (`group_by` None) or per group, groups sorted by key.
pub fn summarize(outcomes: &[CompletionOutcome], group_by: Option<GroupBy>) -> Vec<Summary> {
    if group_by == Some(GroupBy::Confidence) {
        return by_confidence_decile(outcomes);
    }
    let mut groups: BTreeMap<String, Vec<&CompletionOutcome>> = BTreeMap::new();
    for outcome in outcomes {
        let completion = &outcome.completion;
        let key = match group_by {
            None => "all".to_owned(),
            Some(GroupBy::Model) => completion.model_id.clone(),
            Some(GroupBy::Language) => completion.language.clone(),
            Some(GroupBy::Variant) => completion.variant.clone(),
            Some(GroupBy::Trigger) => completion.trigger.name().to_owned(),
            Some(GroupBy::Confidence) => unreachable!("grouped by decile above"),
        };
        groups.entry(key).or_default().push(outcome);
    }
    if groups.is_empty() && group_by.is_none() {
        groups.insert("all".to_owned(), Vec::new());
    }
    groups.into_iter().map(|(key, outcomes)| summary(key, &outcomes)).collect()
}

/// Ten groups of completions by the model's confidence, least sure first, each keyed by its
/// decile and the range of confidence it holds (`d03 0.41–0.52`); completions without a
/// confidence (reused from the cache, joined) come last as "unknown".
fn by_confidence_decile(outcomes: &[CompletionOutcome]) -> Vec<Summary> {
    let mut scored: Vec<(f32, &CompletionOutcome)> = outcomes
        .iter()
        .filter_map(|outcome| outcome.completion.confidence.map(|confidence| (confidence, outcome)))
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = scored.len();
    let mut summaries = Vec::new();
    for decile in 0..10 {
        let group = &scored[decile * n / 10..(decile + 1) * n / 10];
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let key = format!("d{:02} {:.2}–{:.2}", decile + 1, first.0, last.0);
        let outcomes: Vec<&CompletionOutcome> = group.iter().map(|(_, outcome)| *outcome).collect();
        summaries.push(summary(key, &outcomes));
    }
    let unknown: Vec<&CompletionOutcome> =
        outcomes.iter().filter(|outcome| outcome.completion.confidence.is_none()).collect();
    if !unknown.is_empty() {
        summaries.push(summary("unknown".to_owned(), &unknown));
    }
    summaries
}

fn summary(key: String, outcomes: &[&CompletionOutcome]) -> Summary {
    let shown: Vec<&&CompletionOutcome> = outcomes
        .iter()
        .filter(|outcome| outcome.shown || outcome.accepted || outcome.partially_accepted_utf16 > 0)
        .collect();
    let accepted = shown.iter().filter(|outcome| outcome.accepted).count() as u64;
    let partially_accepted =
        shown.iter().filter(|outcome| !outcome.accepted && outcome.partially_accepted_utf16 > 0).count()
            as u64;
    let dismissed =
        shown.iter().filter(|outcome| outcome.dismissed.is_some() && !outcome.accepted).count() as u64;
    let n_shown = shown.len() as u64;
    let mut kept: BTreeMap<u32, (f64, u64)> = BTreeMap::new();
    for outcome in outcomes {
        for &(after_s, ratio) in &outcome.survival {
            let entry = kept.entry(after_s).or_default();
            entry.0 += ratio;
            entry.1 += 1;
        }
    }
    let mut latencies: Vec<f64> = shown.iter().map(|outcome| outcome.completion.latency.total_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let rate = |count: u64| if n_shown == 0 { 0.0 } else { count as f64 / n_shown as f64 };
    Summary {
        key,
        completions: outcomes.len() as u64,
        shown: n_shown,
        accepted,
        partially_accepted,
        dismissed,
        acceptance_rate: rate(accepted),
        acceptance_interval: wilson_interval(accepted, n_shown, Z_95),
        partial_share: rate(partially_accepted),
        kept_ratio: kept
            .into_iter()
            .map(|(after_s, (sum, n))| (after_s, KeptRatio { mean: sum / n as f64, n }))
            .collect(),
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p95_ms: percentile(&latencies, 0.95),
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Compares every variant with the baseline: `baseline` if given and present, else the variant
/// shown most often (the incumbent).
pub fn compare_variants(per_variant: &[Summary], baseline: Option<&str>) -> Vec<Comparison> {
    let base = baseline
        .and_then(|name| per_variant.iter().find(|summary| summary.key == name))
        .or_else(|| per_variant.iter().max_by_key(|summary| summary.shown));
    let Some(base) = base else { return Vec::new() };
    per_variant
        .iter()
        .filter(|summary| summary.key != base.key)
        .map(|summary| compare(summary, base))
        .collect()
}

fn compare(variant: &Summary, baseline: &Summary) -> Comparison {
    let (n1, n2) = (variant.shown as f64, baseline.shown as f64);
    let (p1, p2) = (variant.acceptance_rate, baseline.acceptance_rate);
    let difference = p1 - p2;
    if n1 == 0.0 || n2 == 0.0 {
        return Comparison {
            variant: variant.key.clone(),
            baseline: baseline.key.clone(),
            difference,
            difference_interval: (-1.0, 1.0),
            p_value: 1.0,
            significant: false,
        };
    }
    let unpooled = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
    let pooled_rate = (variant.accepted + baseline.accepted) as f64 / (n1 + n2);
    let pooled = (pooled_rate * (1.0 - pooled_rate) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let p_value =
        if pooled == 0.0 { 1.0 } else { erfc((difference / pooled).abs() / std::f64::consts::SQRT_2) };
    Comparison {
        variant: variant.key.clone(),
        baseline: baseline.key.clone(),
        difference,
        difference_interval: (difference - Z_95 * unpooled, difference + Z_95 * unpooled),
        p_value,
        significant: p_value < 0.05,
    }
}

/// Complementary error function, by the Chebyshev fit of Numerical Recipes' `erfcc`
/// (fractional error below 1.2e-7 everywhere): ample for p-values.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let polynomial = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let result = t * polynomial.exp();
    if x >= 0.0 {
        result
    } else {
        2.0 - result
    }
}
