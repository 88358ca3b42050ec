//! Which actions apply where: the list the editor's light bulb shows. Computed from the syntax tree
//! alone, without the model, so it is instant.

use std::ops::Range;

use wisp_syntax::Document;

use super::shape::{definition_at, line_around};
use super::{ActionKind, Diagnostic};
use crate::config::ActionsConfig;

/// An action that applies at the cursor, with the title the editor shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub kind: ActionKind,
    pub title: String,
    /// The diagnostic it fixes (for [`ActionKind::Fix`]).
    pub diagnostic: Option<Diagnostic>,
}

/// The actions that apply to `selection` (bytes; empty for a cursor) in `document`, given the
/// diagnostics the editor sent, in the order the editor should list them.
pub fn offers(
    document: &Document,
    selection: Range<usize>,
    diagnostics: &[Diagnostic],
    settings: &ActionsConfig,
) -> Vec<Offer> {
    let mut offers = Vec::new();
    if settings.fix {
        for diagnostic in diagnostics {
            let message = diagnostic.message.lines().next().unwrap_or_default();
            offers.push(Offer {
                kind: ActionKind::Fix,
                title: format!("Wisp: fix \"{}\"", shorten(message, 60)),
                diagnostic: Some(diagnostic.clone()),
            });
        }
    }
    let cursor = selection.start;
    let selected = document.slice(selection.clone());
    if settings.explain && !selected.trim().is_empty() {
        offers.push(Offer {
            kind: ActionKind::Explain,
            title: "Wisp: explain the selection".into(),
            diagnostic: None,
        });
    }
    let line = line_around(document, cursor);
    if document.slice(line.clone()).trim().is_empty() && selected.trim().is_empty() {
        // A blank line: only the body of the function around it can be written there.
        if let Some(function) = definition_at(document, cursor, true).filter(|_| settings.complete_body) {
            if function.empty_body {
                offers.push(complete_body(&function.name));
            }
        }
        return offers;
    }
    if let Some(definition) = definition_at(document, cursor, false) {
        // On the definition's first line (its signature), not anywhere in its body.
        let on_header = line.start <= definition.range.start && definition.range.start <= line.end
            || definition.body_start.is_some_and(|body| cursor < body && cursor >= definition.range.start);
        let name = &definition.name;
        if on_header && settings.document && !definition.documented && !name.is_empty() {
            offers.push(Offer {
                kind: ActionKind::Document,
                title: format!("Wisp: document {name}"),
                diagnostic: None,
            });
        }
        if on_header && definition.is_function && settings.tests && !name.is_empty() {
            offers.push(Offer {
                kind: ActionKind::WriteTests,
                title: format!("Wisp: write tests for {name}"),
                diagnostic: None,
            });
        }
    }
    if let Some(function) = definition_at(document, cursor, true) {
        if settings.complete_body && function.empty_body {
            offers.push(complete_body(&function.name));
        }
    }
    offers
}

fn complete_body(name: &str) -> Offer {
    Offer {
        kind: ActionKind::CompleteBody,
        title: format!("Wisp: complete the body of {name}"),
        diagnostic: None,
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wisp_syntax::LanguageRegistry;

    fn kinds(language: &str, fixture: &str, diagnostics: &[Diagnostic]) -> Vec<ActionKind> {
        let (before, rest) = fixture.split_once("$0").unwrap();
        let (selected, after) = rest.split_once("$1").unwrap_or(("", rest));
        let text = format!("{before}{selected}{after}");
        let document = Document::new(&text, LanguageRegistry::builtin().by_language_id(language));
        let selection = before.len()..before.len() + selected.len();
        offers(&document, selection, diagnostics, &ActionsConfig::default())
            .into_iter()
            .map(|offer| offer.kind)
            .collect()
    }

    #[test]
    fn actions_are_offered_only_where_they_apply() {
        use ActionKind::*;
        let rust = "fn total(items: &[u32]) -> u32 {\n    items.iter().sum()\n}\n\nfn $0empty() {\n}\n\n\n";
        assert_eq!(kinds("rust", rust, &[]), [Document, WriteTests, CompleteBody]);
        let inside = "fn total(items: &[u32]) -> u32 {\n    items.iter()$0.sum()\n}\n";
        assert_eq!(kinds("rust", inside, &[]), [] as [ActionKind; 0], "a full body, not on the header");
        let blank = "fn total() -> u32 {\n    1\n}\n$0\n";
        assert_eq!(kinds("rust", blank, &[]), [] as [ActionKind; 0], "no document on a blank line");
        let documented = "/// Adds up.\nfn $0total() -> u32 {\n    1\n}\n";
        assert_eq!(kinds("rust", documented, &[]), [WriteTests]);
        let selection = "fn f() {\n    $0let x = 1;$1\n}\n";
        assert_eq!(kinds("rust", selection, &[]), [Explain]);
        let python = "def $0mean(values):\n    pass\n";
        assert_eq!(kinds("python", python, &[]), [Document, WriteTests, CompleteBody]);
        let docstring =
            "def $0mean(values):\n    \"\"\"The mean.\"\"\"\n    return sum(values) / len(values)\n";
        assert_eq!(kinds("python", docstring, &[]), [WriteTests]);
        let blank_in_empty = "fn f() {\n    $0\n}\n";
        assert_eq!(kinds("rust", blank_in_empty, &[]), [CompleteBody]);
        let diagnostic = Diagnostic { range: 13..14, message: "expected `;`".into() };
        let broken = "fn f() {\n    let x = 1$0\n    x\n}\n";
        assert_eq!(kinds("rust", broken, &[diagnostic]), [Fix]);
    }
}
