//! Running every task in every mode and adding up the scores per mode.

use std::time::Duration;

use crate::score::score;
use crate::task::{MaskKind, Task};

/// What the runner returns for one task in one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The text the pipeline would show at the cursor (empty when it shows nothing).
    pub completion: String,
    /// Tokens of context in the prompt besides the file's own prefix and suffix.
    pub context_tokens: usize,
    /// From request to completion.
    pub latency: Duration,
    /// What the filters did and whether the completion breaks its document's syntax.
    pub guard: Guarded,
    /// How sure the model was of the completion (the geometric mean of its tokens'
    /// probabilities), when it wrote one.
    pub confidence: Option<f32>,
    /// Whether the completion uses a name that exists nowhere in the repository, its imports or
    /// the language's standard names (None: nothing shown, or no language to tell).
    pub made_up: Option<bool>,
}

/// The filters' part in an [`Outcome`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guarded {
    /// The model had text to suggest before the filters ran.
    pub had_text: bool,
    /// The filters cut something from it (and something was left).
    pub cut: bool,
    /// The completion inserted as it is adds syntax errors to the document (None: no grammar).
    pub adds_errors: Option<bool>,
    /// It adds errors even when a block it opens at its end is taken as finished (the body the
    /// user writes next is not an error): the rule the syntax filter applies.
    pub adds_errors_finished: Option<bool>,
}

/// The figures of one mode over every task.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeReport {
    pub mode: String,
    /// Tasks run, errors included.
    pub n: usize,
    /// Shares of tasks (0.0 to 1.0) with an exact match and with the first line exact.
    pub exact_match: f64,
    pub first_line_exact: f64,
    /// Mean edit similarity (0.0 to 1.0).
    pub edit_similarity: f64,
    /// Mean [`Outcome::context_tokens`] over the runs that did not fail.
    pub mean_context_tokens: f64,
    /// Latency percentiles (nearest rank) over the runs that did not fail; 0 when all failed.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Per kind present in the tasks, in [`MaskKind::ALL`] order: tasks and exact-match share.
    pub by_kind: Vec<(MaskKind, usize, f64)>,
    /// Runs that returned an error; each was scored as an empty completion.
    pub n_errors: usize,
    /// The first error, prefixed with its task's id.
    pub first_error: Option<String>,
    /// Shares (0.0 to 1.0) of the tasks where the model had text: cut by the filters, or
    /// suppressed (nothing left).
    pub cut: f64,
    pub suppressed: f64,
    /// Completions shown in a document with a grammar, and the shares of them that add syntax
    /// errors as inserted, and with a block they open at their end taken as finished.
    pub n_checked: usize,
    pub adds_errors: f64,
    pub adds_errors_finished: f64,
    /// Mean edit similarity over the tasks where something was shown: how right a suggestion
    /// is when there is one (suppressing a wrong one lowers [`ModeReport::edit_similarity`] and
    /// raises this).
    pub shown_edit_similarity: f64,
    /// Exact match per decile of confidence, least sure first, over the completions that have
    /// one: (lowest and highest confidence in the decile, completions, exact-match share).
    pub by_confidence: Vec<(f32, f32, usize, f64)>,
    /// Share of the completions shown (with a language to tell) that use a made-up name.
    pub made_up: f64,
}

/// Runs every task through `run(task, mode)` for each of `modes` and reports each mode.
///
/// Tasks run in order, and every mode runs a task before the next task starts, so machine noise
/// (a busy neighbour, thermal throttling) hits every mode alike; the mode that goes first rotates
/// from task to task, so none always runs first (with cold caches) or last. An error from `run`
/// counts as an empty completion and is reported in [`ModeReport::n_errors`]. `progress` is called
/// after every run with the runs done and the runs in all.
pub fn evaluate(
    tasks: &[Task],
    modes: &[&str],
    run: &mut dyn FnMut(&Task, &str) -> anyhow::Result<Outcome>,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<ModeReport> {
    let mut tallies: Vec<Tally> = modes.iter().map(|&mode| Tally::new(mode)).collect();
    let n_runs = tasks.len() * modes.len();
    let mut n_done = 0;
    for (task_index, task) in tasks.iter().enumerate() {
        for turn in 0..modes.len() {
            let mode_index = (task_index + turn) % modes.len();
            let outcome = run(task, modes[mode_index]);
            tallies[mode_index].add(task, outcome);
            n_done += 1;
            progress(n_done, n_runs);
        }
    }
    tallies.into_iter().map(Tally::report).collect()
}

/// Running sums of one mode.
struct Tally {
    mode: String,
    n: usize,
    n_exact: usize,
    n_first_line_exact: usize,
    edit_similarity_sum: f64,
    context_tokens_sum: usize,
    latencies_ms: Vec<f64>,
    /// Per kind, in [`MaskKind::ALL`] order: tasks and exact matches.
    by_kind: [(usize, usize); MaskKind::ALL.len()],
    n_errors: usize,
    first_error: Option<String>,
    n_had_text: usize,
    n_cut: usize,
    n_suppressed: usize,
    n_checked: usize,
    n_adds_errors: usize,
    n_adds_errors_finished: usize,
    n_shown: usize,
    shown_edit_similarity_sum: f64,
    /// (confidence, exact match) of each completion with a confidence.
    scored: Vec<(f32, bool)>,
    /// Completions told apart as using a made-up name or not, and those that do.
    n_names_checked: usize,
    n_made_up: usize,
}

impl Tally {
    fn new(mode: &str) -> Tally {
        Tally {
            mode: mode.to_owned(),
            n: 0,
            n_exact: 0,
            n_first_line_exact: 0,
            edit_similarity_sum: 0.0,
            context_tokens_sum: 0,
            latencies_ms: Vec::new(),
            by_kind: [(0, 0); MaskKind::ALL.len()],
            n_errors: 0,
            first_error: None,
            n_had_text: 0,
            n_cut: 0,
            n_suppressed: 0,
            n_checked: 0,
            n_adds_errors: 0,
            n_adds_errors_finished: 0,
            n_shown: 0,
            shown_edit_similarity_sum: 0.0,
            scored: Vec::new(),
            n_names_checked: 0,
            n_made_up: 0,
        }
    }

    fn add(&mut self, task: &Task, outcome: anyhow::Result<Outcome>) {
        let mut confidence = None;
        let completion = match outcome {
            Ok(outcome) => {
                confidence = outcome.confidence.filter(|_| !outcome.completion.is_empty());
                self.context_tokens_sum += outcome.context_tokens;
                self.latencies_ms.push(outcome.latency.as_secs_f64() * 1000.0);
                let guard = &outcome.guard;
                self.n_had_text += usize::from(guard.had_text);
                self.n_cut += usize::from(guard.cut);
                self.n_suppressed += usize::from(guard.had_text && outcome.completion.is_empty());
                if let (false, Some(adds), Some(adds_finished)) =
                    (outcome.completion.is_empty(), guard.adds_errors, guard.adds_errors_finished)
                {
                    self.n_checked += 1;
                    self.n_adds_errors += usize::from(adds);
                    self.n_adds_errors_finished += usize::from(adds_finished);
                }
                if let (false, Some(made_up)) = (outcome.completion.is_empty(), outcome.made_up) {
                    self.n_names_checked += 1;
                    self.n_made_up += usize::from(made_up);
                }
                outcome.completion
            }
            Err(error) => {
                self.n_errors += 1;
                self.first_error.get_or_insert_with(|| format!("{}: {error:#}", task.id));
                String::new()
            }
        };
        let score = score(&task.expected, &completion);
        if let Some(confidence) = confidence {
            self.scored.push((confidence, score.exact_match));
        }
        self.n += 1;
        self.n_exact += usize::from(score.exact_match);
        self.n_first_line_exact += usize::from(score.first_line_exact);
        self.edit_similarity_sum += score.edit_similarity;
        if !completion.trim().is_empty() {
            self.n_shown += 1;
            self.shown_edit_similarity_sum += score.edit_similarity;
        }
        let kind_index = MaskKind::ALL.iter().position(|&kind| kind == task.kind).unwrap_or_default();
        self.by_kind[kind_index].0 += 1;
        self.by_kind[kind_index].1 += usize::from(score.exact_match);
    }

    fn report(mut self) -> ModeReport {
        self.latencies_ms.sort_by(f64::total_cmp);
        self.scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n_scored = self.scored.len();
        let by_confidence = (0..10)
            .filter_map(|decile| {
                let group = &self.scored[decile * n_scored / 10..(decile + 1) * n_scored / 10];
                let exact = group.iter().filter(|(_, exact)| *exact).count();
                Some((group.first()?.0, group.last()?.0, group.len(), share(exact as f64, group.len())))
            })
            .collect();
        let by_kind = MaskKind::ALL
            .iter()
            .zip(self.by_kind)
            .filter(|(_, (n, _))| *n > 0)
            .map(|(&kind, (n, n_exact))| (kind, n, share(n_exact as f64, n)))
            .collect();
        ModeReport {
            n: self.n,
            exact_match: share(self.n_exact as f64, self.n),
            first_line_exact: share(self.n_first_line_exact as f64, self.n),
            edit_similarity: share(self.edit_similarity_sum, self.n),
            mean_context_tokens: share(self.context_tokens_sum as f64, self.latencies_ms.len()),
            latency_p50_ms: percentile(&self.latencies_ms, 50.0),
            latency_p95_ms: percentile(&self.latencies_ms, 95.0),
            by_kind,
            n_errors: self.n_errors,
            first_error: self.first_error,
            cut: share(self.n_cut as f64, self.n_had_text),
            suppressed: share(self.n_suppressed as f64, self.n_had_text),
            n_checked: self.n_checked,
            adds_errors: share(self.n_adds_errors as f64, self.n_checked),
            adds_errors_finished: share(self.n_adds_errors_finished as f64, self.n_checked),
            shown_edit_similarity: share(self.shown_edit_similarity_sum, self.n_shown),
            by_confidence,
            made_up: share(self.n_made_up as f64, self.n_names_checked),
            mode: self.mode,
        }
    }
}

/// `sum / n`, 0 when `n` is 0.
fn share(sum: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_figures_count_what_the_model_had_and_what_was_shown() {
        let task = |id: &str| Task {
            id: id.into(),
            path: "src/a.rs".into(),
            text: "let x = 1;".into(),
            offset: 8,
            expected: "1;".into(),
            kind: MaskKind::MidLine,
        };
        let outcome =
            |completion: &str, had_text: bool, cut: bool, adds: Option<bool>, finished: Option<bool>| {
                Ok(Outcome {
                    completion: completion.into(),
                    context_tokens: 0,
                    latency: Duration::from_millis(1),
                    guard: Guarded { had_text, cut, adds_errors: adds, adds_errors_finished: finished },
                    confidence: None,
                    made_up: None,
                })
            };
        let mut tally = Tally::new("full");
        tally.add(&task("a"), outcome("1;", true, false, Some(false), Some(false)));
        tally.add(&task("b"), outcome("1", true, true, Some(true), Some(false)));
        tally.add(&task("c"), outcome("", true, false, None, None));
        tally.add(&task("d"), outcome("", false, false, None, None));
        tally.add(&task("e"), outcome("(", true, false, None, None));
        let report = tally.report();
        assert_eq!((report.cut, report.suppressed), (0.25, 0.25), "of the 4 where the model had text");
        assert_eq!(report.n_checked, 2, "shown, in a document with a grammar");
        assert_eq!((report.adds_errors, report.adds_errors_finished), (0.5, 0.0));
        let shown = (1.0 + 0.5 + 0.0) / 3.0;
        assert!((report.shown_edit_similarity - shown).abs() < 1e-9, "over a, b and e only");
    }

    #[test]
    fn made_up_names_count_over_the_completions_shown() {
        let task = Task {
            id: "t".into(),
            path: "src/a.rs".into(),
            text: "let x = 1;".into(),
            offset: 8,
            expected: "1;".into(),
            kind: MaskKind::MidLine,
        };
        let outcome = |completion: &str, made_up: Option<bool>| {
            Ok(Outcome {
                completion: completion.into(),
                context_tokens: 0,
                latency: Duration::from_millis(1),
                guard: Guarded::default(),
                confidence: None,
                made_up,
            })
        };
        let mut tally = Tally::new("full");
        tally.add(&task, outcome("x", Some(true)));
        tally.add(&task, outcome("y", Some(false)));
        tally.add(&task, outcome("", Some(true)));
        tally.add(&task, outcome("z", None));
        assert_eq!(
            tally.report().made_up,
            0.5,
            "x of x and y: nothing was shown for the third, no language for z"
        );
    }

    #[test]
    fn exact_match_per_confidence_decile() {
        let task = Task {
            id: "t".into(),
            path: "src/a.rs".into(),
            text: "let x = 1;".into(),
            offset: 8,
            expected: "1;".into(),
            kind: MaskKind::MidLine,
        };
        let mut tally = Tally::new("full");
        for i in 0..20 {
            let completion = if i >= 10 { "1;" } else { "2;" };
            tally.add(
                &task,
                Ok(Outcome {
                    completion: completion.into(),
                    context_tokens: 0,
                    latency: Duration::from_millis(1),
                    guard: Guarded::default(),
                    confidence: Some(i as f32 / 20.0),
                    made_up: None,
                }),
            );
        }
        let deciles = tally.report().by_confidence;
        assert_eq!(deciles.len(), 10);
        assert_eq!(deciles[0], (0.0, 0.05, 2, 0.0));
        assert_eq!(deciles[9], (0.9, 0.95, 2, 1.0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 10.0);
        assert_eq!(percentile(&values, 95.0), 19.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
