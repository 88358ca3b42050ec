//! Golden fixtures for each filter: `golden/<filter>/<case>.txt` holds a document with the cursor
//! at `$0`, the suggestion the model wrote there, and what the filter alone keeps of it. Run with
//! `UPDATE_GOLDEN=1` to write the filters' current answers into the fixtures (then read the diff).
//!
//! ```text
//! language: rust            (optional: a language id; without it, plain text)
//! max_lines: 8              (optional)
//! truncated: true           (optional: the model was stopped in the middle of the last line)
//! --- document
//! fn f() {
//!     foo($0)
//! }
//! --- suggestion
//! bar)
//! --- expected
//! bar
//! ```

use std::path::{Path, PathBuf};

use wisp_guard::pipeline::{run_only, Surroundings, FILTERS};
use wisp_syntax::{Document, LanguageRegistry};

struct Fixture {
    path: PathBuf,
    headers: Vec<(String, String)>,
    document: String,
    suggestion: String,
    expected: String,
}

impl Fixture {
    fn read(path: &Path) -> Fixture {
        let text = std::fs::read_to_string(path).unwrap();
        let mut headers = Vec::new();
        let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("--- ") {
                sections.push((name.trim().to_owned(), Vec::new()));
            } else if let Some((_, lines)) = sections.last_mut() {
                lines.push(line);
            } else if let Some((key, value)) = line.split_once(':') {
                headers.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let section = |name: &str| {
            let (_, lines) = sections
                .iter()
                .find(|(section, _)| section == name)
                .unwrap_or_else(|| panic!("{}: no `--- {name}` section", path.display()));
            lines.join("\n")
        };
        Fixture {
            path: path.to_owned(),
            document: section("document"),
            suggestion: section("suggestion"),
            expected: section("expected"),
            headers,
        }
    }

    fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }

    fn write_expected(&self, expected: &str) {
        let text = std::fs::read_to_string(&self.path).unwrap();
        let start = text.find("--- expected").expect("an expected section");
        std::fs::write(&self.path, format!("{}--- expected\n{expected}\n", &text[..start])).unwrap();
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// What `filter` alone keeps of each fixture's suggestion, against the fixture's expectation.
fn check(filter: &str) -> usize {
    let (name, function) = *FILTERS.iter().find(|(name, _)| *name == filter).unwrap();
    let registry = LanguageRegistry::builtin();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(golden_dir().join(filter))
        .unwrap_or_else(|_| panic!("no fixtures for filter {filter} in tests/golden/{filter}/"))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    for path in &paths {
        let fixture = Fixture::read(path);
        let (before, after) = fixture
            .document
            .split_once("$0")
            .unwrap_or_else(|| panic!("{}: no $0 cursor in the document", path.display()));
        let language = fixture.header("language").map(|id| {
            registry.by_language_id(id).unwrap_or_else(|| panic!("{}: unknown language {id}", path.display()))
        });
        let document = Document::new(&format!("{before}{after}"), language.clone());
        let max_lines = fixture.header("max_lines").map_or(8, |lines| lines.parse().unwrap());
        let around = Surroundings {
            prefix: before,
            suffix: after,
            line_comment: language.as_ref().and_then(|language| language.line_comment.as_deref()),
            stop_patterns: language.as_ref().map_or(&[], |language| language.stop_patterns.as_slice()),
            max_lines,
            syntax: document.tree().map(|_| (&document, before.len())),
            truncated: fixture.header("truncated") == Some("true"),
        };
        let kept = run_only(&fixture.suggestion, &around, &[(name, function)]).text;
        if update {
            fixture.write_expected(&kept);
        } else if kept != fixture.expected {
            failures.push(format!(
                "{}\n  suggestion {:?}\n  expected   {:?}\n  kept       {:?}",
                path.display(),
                fixture.suggestion,
                fixture.expected,
                kept
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    paths.len()
}

#[test]
fn every_filter_has_golden_fixtures_that_cut_and_that_keep() {
    for (name, _) in FILTERS {
        let paths: Vec<Fixture> = std::fs::read_dir(golden_dir().join(name))
            .unwrap_or_else(|_| panic!("no fixtures for filter {name} in tests/golden/{name}/"))
            .map(|entry| Fixture::read(&entry.unwrap().path()))
            .collect();
        assert!(
            paths.iter().any(|fixture| fixture.expected != fixture.suggestion),
            "{name}: no fixture it cuts"
        );
        assert!(
            paths.iter().any(|fixture| fixture.expected == fixture.suggestion),
            "{name}: no fixture it keeps"
        );
    }
}

#[test]
fn suffix_overlap() {
    check("suffix_overlap");
}

#[test]
fn stop_patterns() {
    check("stop_patterns");
}

#[test]
fn block_scope() {
    check("block_scope");
}

#[test]
fn repetition() {
    check("repetition");
}

#[test]
fn balance_brackets() {
    check("balance_brackets");
}

#[test]
fn cap_lines() {
    check("cap_lines");
}

#[test]
fn secrets() {
    check("secrets");
}

#[test]
fn syntax_in_every_language_with_a_grammar() {
    let n = check("syntax");
    let languages = ["rust", "python", "typescript", "javascript", "go"];
    let fixtures: Vec<Fixture> = std::fs::read_dir(golden_dir().join("syntax"))
        .unwrap()
        .map(|entry| Fixture::read(&entry.unwrap().path()))
        .collect();
    for language in languages {
        let of_language: Vec<&Fixture> =
            fixtures.iter().filter(|fixture| fixture.header("language") == Some(language)).collect();
        assert!(
            of_language.iter().any(|fixture| fixture.expected != fixture.suggestion)
                && of_language.iter().any(|fixture| fixture.expected == fixture.suggestion),
            "syntax: {language} needs a fixture that is cut and one that is kept (of {n})"
        );
    }
}
