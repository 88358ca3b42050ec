//! Running tasks through a fake runner: the figures per mode, the order of runs, errors, and the
//! printed report.

use std::time::Duration;

use expect_test::expect;
use wisp_eval::{evaluate, print_report, MaskKind, ModeReport, Outcome, Task};

fn task(id: &str, kind: MaskKind, expected: &str) -> Task {
    let prefix = "fn f() {\n    ";
    let suffix = "\n}\n";
    Task {
        id: id.to_owned(),
        path: "src/a.rs".to_owned(),
        text: format!("{prefix}{expected}{suffix}"),
        offset: prefix.len(),
        expected: expected.to_owned(),
        kind,
    }
}

fn tasks() -> Vec<Task> {
    vec![
        task("src/a.rs:11:line", MaskKind::WholeLine, "let total = 1;"),
        task("src/a.rs:12:mid", MaskKind::MidLine, "compute(total);"),
        task("src/a.rs:13:multi", MaskKind::MultiLine, "if total > 0 {\n        done();\n    }"),
    ]
}

fn outcome(completion: &str, context_tokens: usize, latency_ms: u64) -> anyhow::Result<Outcome> {
    Ok(Outcome {
        completion: completion.to_owned(),
        context_tokens,
        latency: Duration::from_millis(latency_ms),
        guard: Default::default(),
        confidence: None,
        made_up: None,
    })
}

fn report_text(reports: &[ModeReport]) -> String {
    let mut out = Vec::new();
    print_report(reports, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn an_oracle_scores_everything_and_an_empty_runner_nothing() {
    let tasks = tasks();
    let mut calls = Vec::new();
    let mut progress = Vec::new();
    let reports = evaluate(
        &tasks,
        &["none", "oracle"],
        &mut |task, mode| {
            calls.push(format!("{} {mode}", task.id));
            let index = tasks.iter().position(|other| other.id == task.id).unwrap() as u64;
            if mode == "oracle" {
                outcome(&task.expected, 100, 10 * (index + 1))
            } else {
                outcome("", 0, 1)
            }
        },
        &mut |done, total| progress.push((done, total)),
    );

    let [none, oracle] = &reports[..] else { panic!("one report per mode: {reports:?}") };
    assert_eq!((none.mode.as_str(), none.n, none.exact_match, none.edit_similarity), ("none", 3, 0.0, 0.0));
    assert_eq!(none.first_line_exact, 0.0);
    assert_eq!(
        (oracle.mode.as_str(), oracle.n, oracle.exact_match, oracle.edit_similarity),
        ("oracle", 3, 1.0, 1.0)
    );
    assert_eq!(oracle.first_line_exact, 1.0);
    assert_eq!(
        (oracle.mean_context_tokens, oracle.latency_p50_ms, oracle.latency_p95_ms),
        (100.0, 20.0, 30.0)
    );
    assert_eq!(
        oracle.by_kind,
        [(MaskKind::WholeLine, 1, 1.0), (MaskKind::MidLine, 1, 1.0), (MaskKind::MultiLine, 1, 1.0)]
    );
    assert_eq!((none.n_errors, &none.first_error), (0, &None));

    // Every mode runs a task before the next task; the first mode rotates.
    assert_eq!(
        calls,
        [
            "src/a.rs:11:line none",
            "src/a.rs:11:line oracle",
            "src/a.rs:12:mid oracle",
            "src/a.rs:12:mid none",
            "src/a.rs:13:multi none",
            "src/a.rs:13:multi oracle",
        ]
    );
    assert_eq!(progress, [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]);
    assert!(report_text(&reports).contains("oracle / none: EM —, ES —"), "no ratio against zero");
}

#[test]
fn errors_score_as_empty_completions_and_are_reported() {
    let tasks = tasks();
    let reports = evaluate(
        &tasks,
        &["flaky"],
        &mut |task, _mode| match task.kind {
            MaskKind::MidLine => Err(anyhow::anyhow!("engine crashed")),
            // The model goes on past the span; the extra line is cut before scoring.
            MaskKind::WholeLine => outcome("let total = 1;\nlet more = 2;", 40, 50),
            MaskKind::MultiLine => outcome("if total > 0 {\n        done();", 60, 70),
            MaskKind::MidWord => unreachable!("the fixture has no mid-word task"),
        },
        &mut |_, _| {},
    );
    let flaky = &reports[0];
    assert_eq!((flaky.n, flaky.n_errors), (3, 1));
    assert_eq!(flaky.first_error.as_deref(), Some("src/a.rs:12:mid: engine crashed"));
    assert_eq!((flaky.exact_match, flaky.first_line_exact), (1.0 / 3.0, 2.0 / 3.0));
    assert_eq!((flaky.mean_context_tokens, flaky.latency_p50_ms, flaky.latency_p95_ms), (50.0, 50.0, 70.0));
    assert_eq!(
        flaky.by_kind,
        [(MaskKind::WholeLine, 1, 1.0), (MaskKind::MidLine, 1, 0.0), (MaskKind::MultiLine, 1, 0.0)]
    );
    // 1 (line) + 0 (mid) + 1 - 6/36 (multi: the last line, "\n    }", is missing).
    assert!((flaky.edit_similarity - (2.0 - 6.0 / 36.0) / 3.0).abs() < 1e-9, "{}", flaky.edit_similarity);
}

#[test]
fn the_report_shows_modes_side_by_side_with_ratios_against_the_first() {
    let tasks = tasks();
    let reports = evaluate(
        &tasks,
        &["none", "file", "full", "broken"],
        &mut |task, mode| match mode {
            "none" if task.kind == MaskKind::WholeLine => outcome(&task.expected, 0, 80),
            "none" => outcome("", 0, 90),
            "file" => outcome(task.expected.lines().next().unwrap_or_default(), 120, 150),
            "full" => outcome(&task.expected, 900, 240),
            _ => Err(anyhow::anyhow!("model file not found")),
        },
        &mut |_, _| {},
    );
    expect![[r#"
        mode              tasks         EM first line         ES ctx tokens     p50 ms     p95 ms     errors
        none                  3      33.3%      33.3%      0.333        0.0         90         90          0
        file                  3      66.7%     100.0%      0.796      120.0        150        150          0
        full                  3     100.0%     100.0%      1.000      900.0        240        240          0
        broken                3       0.0%       0.0%      0.000        0.0          0          0          3

        filters             cut suppressed    checked    +errors +err (blk)   ES shown    made-up
        none               0.0%       0.0%          0       0.0%       0.0%      1.000       0.0%
        file               0.0%       0.0%          0       0.0%       0.0%      0.796       0.0%
        full               0.0%       0.0%          0       0.0%       0.0%      1.000       0.0%
        broken             0.0%       0.0%          0       0.0%       0.0%      0.000       0.0%

        EM by kind     line (1)    mid (1)  multi (1)
        none             100.0%       0.0%       0.0%
        file             100.0%     100.0%       0.0%
        full             100.0%     100.0%     100.0%
        broken             0.0%       0.0%       0.0%

        file / none: EM 2.00x, ES 2.39x
        full / none: EM 3.00x, ES 3.00x
        broken / none: EM 0.00x, ES 0.00x

        broken: 3 runs failed and scored as empty; first: src/a.rs:11:line: model file not found
    "#]]
    .assert_eq(&report_text(&reports));
}
