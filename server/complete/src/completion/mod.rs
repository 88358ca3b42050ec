//! One suggestion at a cursor, in the order it is made: [`gather`] the text around it, build the
//! [`prompt`], [`generate`], [`postprocess`]. Nothing here knows LSP; the language server and the
//! `complete` command both call it.

mod candidates;
mod confidence;
mod gather;
mod generate;
mod names;
mod postprocess;
mod prompt;

pub use candidates::*;
pub use confidence::*;
pub use gather::*;
pub use generate::*;
pub use names::*;
pub use postprocess::*;
pub use prompt::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompletionConfig;
    use std::sync::Arc;
    use wisp_context::{MAX_PREFIX_BYTES, MAX_SUFFIX_BYTES};
    use wisp_engine::{CancelFlag, Engine, ScriptedEngine, StopRule};
    use wisp_syntax::Document;
    use wisp_syntax::LanguageRegistry;

    fn gather_at(text: &str) -> Gathered {
        let (before, after) = text.split_once("$0").unwrap();
        let language = LanguageRegistry::builtin().by_language_id("rust");
        let document = Document::new(&format!("{before}{after}"), language);
        gather(&document, before.len(), "src/main.rs", 8)
    }

    #[test]
    fn mid_line_cursor_gets_one_line_blank_line_gets_a_block() {
        assert_eq!(gather_at("fn main() {\n    let x = $0;\n}").stop, StopRule::Line);
        assert_eq!(gather_at("fn main() {\n    $0\n}").stop, StopRule::Block { max_lines: 8, indent: 4 });
        assert_eq!(gather_at("fn main() {$0\n}").stop, StopRule::Block { max_lines: 8, indent: 1 });
        assert_eq!(gather_at("let x = 1;$0\n").stop, StopRule::Line);
    }

    #[test]
    fn issue_4_one_space_too_many_after_indentation_is_dropped() {
        assert_eq!(without_repeated_indentation(" let x = 1;", "    "), "let x = 1;");
        assert_eq!(without_repeated_indentation(" let x = 1;\n    y();", "\t"), "let x = 1;\n    y();");
        // After code or at column 0: untouched.
        assert_eq!(without_repeated_indentation(" + 1", "    let x ="), " + 1");
        assert_eq!(without_repeated_indentation(" let", ""), " let");
        assert_eq!(without_repeated_indentation(" \n", "    "), " \n");
    }

    #[test]
    fn issue_10_indentation_written_again_is_not_doubled() {
        let eight = "        ";
        let while_line = "        while let Some(_) = lines.next() {";
        assert_eq!(without_repeated_indentation(while_line, eight), "while let Some(_) = lines.next() {");
        // The indentation and the token's space.
        assert_eq!(without_repeated_indentation("         while", eight), "while");
        // Deeper than typed: the difference is kept.
        assert_eq!(without_repeated_indentation("            x += 1;", eight), "    x += 1;");
        // Part of the typed indentation: the user's stands.
        assert_eq!(without_repeated_indentation("    x += 1;", eight), "x += 1;");
        assert_eq!(without_repeated_indentation("\t\tx();\n\t}", "\t\t"), "x();\n\t}");
        // Tabs written after typed spaces: not an indentation this function can compare.
        assert_eq!(without_repeated_indentation("\tx();", "    "), "\tx();");
        assert_eq!(without_repeated_indentation("x();", eight), "x();");
    }

    #[test]
    fn gather_copies_bounded_windows_and_the_comment_token() {
        let big = "x".repeat(MAX_PREFIX_BYTES * 3);
        let gathered = gather_at(&format!("{big}\nfn a() {{ $0 }}\n{big}"));
        assert!(gathered.prefix.len() <= MAX_PREFIX_BYTES);
        assert!(gathered.suffix.len() <= MAX_SUFFIX_BYTES);
        assert!(gathered.prefix.ends_with("fn a() { "));
        assert_eq!(gathered.line_after_cursor, " }");
        assert_eq!(gathered.line_comment.as_deref(), Some("//"));
    }

    #[test]
    fn windows_never_split_a_character() {
        let emoji = "😀".repeat(MAX_PREFIX_BYTES);
        let gathered = gather_at(&format!("{emoji}$0{emoji}"));
        assert!(gathered.prefix.chars().all(|c| c == '😀'));
        assert!(gathered.suffix.chars().all(|c| c == '😀'));
    }

    #[test]
    fn typed_spaces_are_left_out_of_the_prompt_and_the_suggestion() {
        assert_eq!(trailing_blank("fn main() {\n    "), "", "indentation stays in the prompt");
        assert_eq!(trailing_blank("fn main() {\n    x = "), " ");
        assert_eq!(trailing_blank("let x = "), " ");
        assert_eq!(trailing_blank("let x =\n"), "");
        assert_eq!(trailing_blank("x"), "");
        assert_eq!(after_typed_blank("    let y = 2;", "    "), "let y = 2;");
        assert_eq!(after_typed_blank("  let y = 2;", "    "), "let y = 2;", "fewer spaces than typed");
        assert_eq!(after_typed_blank("let y = 2;", "    "), "let y = 2;");
        assert_eq!(after_typed_blank("\n    next", "    "), "\n    next");
        assert_eq!(after_typed_blank("      deeper", "    "), "  deeper");
        assert_eq!(after_typed_blank(" value", ""), " value");
    }

    #[test]
    fn a_partly_typed_word_or_operator_is_left_out_of_the_prompt_for_the_model_to_spell() {
        assert_eq!(typed_word("    let total = counts.v"), "v");
        assert_eq!(typed_word("    let total = counts.va"), "va");
        assert_eq!(typed_word("    let total = cou"), " cou", "with its space: BPE tokens carry it");
        assert_eq!(typed_word("fn main() {\n    cou"), "cou", "the indentation stays");
        assert_eq!(typed_word("    let n = 12"), " 12");
        assert_eq!(typed_word("    let total = counts."), "", "a name after `.` starts a token");
        assert_eq!(typed_word("    let x = a .."), " ..");
        assert_eq!(typed_word("    std::"), "::");
        assert_eq!(typed_word("    fn f() -"), " -");
        assert_eq!(typed_word("    f(a, "), "", "a space is the blank's healing");
        assert_eq!(typed_word("    f(a)"), "", "after a bracket the token is whole");
        assert_eq!(typed_word("    let é = ça"), " ça");
        let long = format!("    let x = {}", "a".repeat(40));
        assert_eq!(typed_word(&long), "", "a run longer than a token is a whole name");
        let gathered = gather_at("fn main() {\n    let total = counts.va$0\n}");
        let (source, healing) = healed(&gathered, true);
        assert_eq!(healing, Healing { blank: "", word: "va" });
        assert!(source.prefix.ends_with("counts."), "{:?}", source.prefix);
        assert_eq!(skip_blank_lines("\n  \n    code\nmore"), "    code\nmore");
        assert_eq!(skip_blank_lines("code\n\nmore"), "code\n\nmore");

        let engine: Arc<dyn Engine> = Arc::new(ScriptedEngine::new(" total + 1;\n"));
        let gathered = gather_at("fn main() {\n    let next = $0\n}");
        let settings = CompletionConfig::default();
        let mut streamed = String::new();
        let suggestion =
            suggest(engine.as_ref(), &gathered, &settings, CancelFlag::new(), false, &mut |text| {
                streamed.push_str(text)
            })
            .unwrap();
        assert!(suggestion.prompt.render().ends_with("let next ="), "{}", suggestion.prompt.render());
        assert_eq!(suggestion.text, "total + 1;");
        assert!(!streamed.is_empty() && "total + 1;\n".starts_with(&streamed), "{streamed:?}");
    }

    #[test]
    fn a_guess_below_the_confidence_threshold_is_not_shown() {
        let gathered = gather_at("fn main() {\n    let next = $0\n}");
        let settings = CompletionConfig { min_confidence: 0.5, ..CompletionConfig::default() };
        let run = |probability: f32| {
            let engine = ScriptedEngine::new("total + 1;\n").with_logprob(probability.ln());
            suggest(&engine, &gathered, &settings, CancelFlag::new(), false, &mut |_| {}).unwrap()
        };
        let unsure = run(0.2);
        assert_eq!((unsure.text.as_str(), unsure.cut_by.as_slice()), ("", ["confidence"].as_slice()));
        assert!((unsure.confidence.unwrap().mean - 0.2).abs() < 1e-4, "{:?}", unsure.confidence);
        assert_eq!(unsure.unfiltered, "total + 1;");
        let sure = run(0.9);
        assert_eq!(sure.text, "total + 1;");
        assert!((sure.confidence.unwrap().min - 0.9).abs() < 1e-4);
    }

    /// An engine whose every generation is `text` with these per-piece log-probabilities.
    struct Fixed {
        info: wisp_engine::ModelInfo,
        text: &'static str,
        scores: Vec<(usize, f32)>,
    }

    impl Engine for Fixed {
        fn model(&self) -> &wisp_engine::ModelInfo {
            &self.info
        }
        fn count_tokens(&self, text: &str) -> usize {
            text.len() / 4 + 1
        }
        fn generate(
            &self,
            _: &wisp_engine::GenerateRequest,
            _: &mut dyn FnMut(&wisp_engine::Piece) -> std::ops::ControlFlow<()>,
        ) -> Result<wisp_engine::Generation, wisp_engine::EngineError> {
            let token_scores: Vec<wisp_engine::TokenScore> = self
                .scores
                .iter()
                .map(|&(end, logprob)| wisp_engine::TokenScore { end, logprob, tokens: 1 })
                .collect();
            Ok(wisp_engine::Generation {
                text: self.text.to_owned(),
                n_prompt_evaluated: 1,
                n_generated: token_scores.len(),
                token_scores,
                ..wisp_engine::Generation::empty(wisp_engine::StopReason::StopRule, 1)
            })
        }
    }

    #[test]
    fn the_token_forced_to_spell_a_typed_word_does_not_count_in_the_confidence() {
        let gathered = gather_at("fn main() {\n    let total = counts.v$0\n}");
        let engine = Fixed {
            info: ScriptedEngine::new("").model().clone(),
            // `values` spells the typed `v` (forced, unlikely), then `();` (likely).
            text: "values();",
            scores: vec![(6, 0.01f32.ln()), (9, 0.9f32.ln())],
        };
        let settings = CompletionConfig { min_confidence: 0.5, ..CompletionConfig::default() };
        let suggestion =
            suggest(&engine, &gathered, &settings, CancelFlag::new(), false, &mut |_| {}).unwrap();
        assert_eq!(suggestion.text, "alues();");
        assert!((suggestion.confidence.unwrap().mean - 0.9).abs() < 1e-4, "{:?}", suggestion.confidence);
    }

    #[test]
    fn suggestion_passes_through_the_guard() {
        let engine: Arc<dyn Engine> = Arc::new(ScriptedEngine::new("bar)\nmore"));
        let gathered = gather_at("fn main() {\n    foo($0)\n}");
        let settings = CompletionConfig::default();
        let suggestion =
            suggest(engine.as_ref(), &gathered, &settings, CancelFlag::new(), false, &mut |_| {}).unwrap();
        assert_eq!(suggestion.text, "bar");
        assert!(suggestion.prompt.render().starts_with("// src/main.rs\nfn main() {\n    foo("));
    }
}
