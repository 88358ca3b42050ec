//! Code actions with the real default model, on a fixture of each of the five languages: every
//! action offered there returns an edit whose document parses without new errors, or a clear
//! message; the ones Wisp shapes itself (documentation, explanation) always give an edit.

use std::path::Path;

use wisp_complete::actions::{offers, resolve, ActionError, ActionKind, ActionRequest, Diagnostic};
use wisp_complete::config::Config;
use wisp_engine::CancelFlag;
use wisp_syntax::{Document, LanguageRegistry};

/// (language id, file name, source with `$0` on a function's first line).
const FIXTURES: &[(&str, &str, &str)] = &[
    ("rust", "stats.rs", "pub fn $0mean(values: &[f64]) -> f64 {\n    values.iter().sum::<f64>() / values.len() as f64\n}\n"),
    ("python", "stats.py", "def $0mean(values):\n    return sum(values) / len(values)\n"),
    ("typescript", "stats.ts", "export function $0mean(values: number[]): number {\n    return values.reduce((a, b) => a + b, 0) / values.length;\n}\n"),
    ("javascript", "stats.js", "function $0mean(values) {\n    return values.reduce((a, b) => a + b, 0) / values.length;\n}\n"),
    ("go", "stats.go", "package stats\n\nfunc $0Mean(values []float64) float64 {\n\tsum := 0.0\n\tfor _, v := range values {\n\t\tsum += v\n\t}\n\treturn sum / float64(len(values))\n}\n"),
];

#[test]
fn every_action_on_every_language_gives_an_edit_that_parses_or_says_why_not() {
    let loaded = wisp_complete::models::load(&wisp_complete::config::ModelConfig::default())
        .expect("the default model (wisp models fetch)");
    let engine = loaded.engine;
    // Short answers keep the test quick; the actions' default is 256 tokens.
    let mut config = Config::default();
    config.actions.max_tokens = 96;
    let registry = LanguageRegistry::builtin();
    let mut report = Vec::new();
    for (language, file_name, fixture) in FIXTURES {
        let (before, after) = fixture.split_once("$0").unwrap();
        let document = Document::new(&format!("{before}{after}"), registry.by_language_id(language));
        let cursor = before.len();
        let body_line = before.len() + after.find('\n').unwrap() + 1;
        // The first line for documentation and tests, the whole body selected to explain, and a
        // made-up diagnostic on the body's first line to fix.
        let diagnostic = Diagnostic { range: body_line..body_line + 4, message: "mismatched types".into() };
        let mut asked: Vec<(ActionKind, std::ops::Range<usize>, Option<Diagnostic>)> =
            offers(&document, cursor..cursor, &[], &config.actions)
                .into_iter()
                .map(|offer| (offer.kind, cursor..cursor, offer.diagnostic))
                .collect();
        asked.push((ActionKind::Explain, body_line..document.len_bytes(), None));
        asked.push((ActionKind::Fix, body_line..body_line, Some(diagnostic)));
        let kinds: Vec<ActionKind> = asked.iter().map(|(kind, ..)| *kind).collect();
        assert!(
            kinds.contains(&ActionKind::Document) && kinds.contains(&ActionKind::WriteTests),
            "{language}: {kinds:?}"
        );
        let file = Path::new("/tmp/wisp-actions").join(file_name);
        for (kind, selection, diagnostic) in asked {
            let request = ActionRequest {
                kind,
                document: &document,
                file: Some(&file),
                display_path: file_name,
                selection,
                diagnostic,
                config: &config,
                cancel: CancelFlag::new(),
            };
            match resolve(engine.as_ref(), &request) {
                Ok(edit) => {
                    if edit.file.is_none() {
                        assert_eq!(
                            document.errors_added_by_change(edit.replace.clone(), &edit.text),
                            Some(0)
                        );
                    }
                    report.push(format!("{language} {kind:?}: edit {:?} {:?}", edit.file, edit.text));
                }
                Err(ActionError::Invalid(why)) => {
                    assert!(why.contains("nothing was changed"), "{language} {kind:?}: unclear: {why}");
                    assert!(
                        !matches!(kind, ActionKind::Document | ActionKind::Explain),
                        "{language} {kind:?}: Wisp shapes these itself, so they always parse: {why}"
                    );
                    report.push(format!("{language} {kind:?}: refused: {why}"));
                }
                Err(other) => panic!("{language} {kind:?}: {other}"),
            }
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn a_cancelled_action_stops_and_says_so() {
    let loaded = wisp_complete::models::load(&wisp_complete::config::ModelConfig::default()).unwrap();
    let (language, file_name, fixture) = FIXTURES[0];
    let (before, after) = fixture.split_once("$0").unwrap();
    let document =
        Document::new(&format!("{before}{after}"), LanguageRegistry::builtin().by_language_id(language));
    let cancel = CancelFlag::new();
    cancel.cancel();
    let config = Config::default();
    let request = ActionRequest {
        kind: ActionKind::Document,
        document: &document,
        file: None,
        display_path: file_name,
        selection: before.len()..before.len(),
        diagnostic: None,
        config: &config,
        cancel,
    };
    let started = std::time::Instant::now();
    assert_eq!(resolve(loaded.engine.as_ref(), &request), Err(ActionError::Cancelled));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}
