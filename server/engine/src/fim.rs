//! Fill-in-the-middle special tokens: read from the GGUF metadata, or, for models whose metadata
//! names none, found by trying the templates of the known families (DESIGN.md, "Prompt formats").
//!
//! A template is used only when each of its texts encodes to exactly one token that the model
//! treats as a control token: text that merely *looks* like `<fim_prefix>` but is split into
//! pieces would be read as code and derail the model.

use crate::FimTokens;

/// One family's FIM token texts, and its repository-level file separator if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FimTemplate {
    pub family: &'static str,
    pub prefix: &'static str,
    pub suffix: &'static str,
    pub middle: &'static str,
    /// Separates files in a repository-level prompt (`<file_sep>path\ncode`).
    pub file_separator: Option<&'static str>,
    /// The suffix comes first (`[SUFFIX]suffix[PREFIX]prefix`, no middle token), and other files
    /// go before the code under `+++++ path` lines (Codestral).
    pub suffix_first: bool,
}

/// The families Wisp knows, tried in this order.
pub const FIM_TEMPLATES: &[FimTemplate] = &[
    FimTemplate {
        family: "qwen2.5-coder / codegemma / granite",
        prefix: "<|fim_prefix|>",
        suffix: "<|fim_suffix|>",
        middle: "<|fim_middle|>",
        file_separator: Some("<|file_sep|>"),
        suffix_first: false,
    },
    FimTemplate {
        family: "starcoder / starcoder2",
        prefix: "<fim_prefix>",
        suffix: "<fim_suffix>",
        middle: "<fim_middle>",
        file_separator: Some("<file_sep>"),
        suffix_first: false,
    },
    FimTemplate {
        family: "deepseek-coder",
        prefix: "<\u{FF5C}fim\u{2581}begin\u{FF5C}>",
        suffix: "<\u{FF5C}fim\u{2581}hole\u{FF5C}>",
        middle: "<\u{FF5C}fim\u{2581}end\u{FF5C}>",
        file_separator: None,
        suffix_first: false,
    },
    FimTemplate {
        family: "codellama",
        prefix: "<PRE>",
        suffix: "<SUF>",
        middle: "<MID>",
        file_separator: None,
        suffix_first: false,
    },
    FimTemplate {
        family: "codestral",
        prefix: "[PREFIX]",
        suffix: "[SUFFIX]",
        middle: "[MIDDLE]",
        file_separator: None,
        suffix_first: true,
    },
];

/// What the model offers for FIM prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FimSupport {
    pub tokens: FimTokens,
    /// The repository-level file separator, when the model has one.
    pub file_separator: Option<u32>,
    /// Suffix-first order with `+++++ path` file headers (see [`FimTemplate::suffix_first`]).
    pub suffix_first: bool,
}

/// The model's vocabulary, as far as choosing FIM tokens needs it.
pub trait SpecialVocabulary {
    /// The tokens of `text` with special-token texts parsed as such.
    fn encode_special(&self, text: &str) -> Vec<u32>;
    /// Whether the token is a control token (not text).
    fn is_control(&self, token: u32) -> bool;
}

/// One control token for `text`, or `None`.
pub fn single_control_token(vocabulary: &dyn SpecialVocabulary, text: &str) -> Option<u32> {
    match vocabulary.encode_special(text).as_slice() {
        [token] if vocabulary.is_control(*token) => Some(*token),
        _ => None,
    }
}

/// FIM tokens from the metadata (with the file separator from metadata or the matching
/// template), else from the first template whose texts are all single control tokens.
pub fn resolve(
    metadata: Option<FimTokens>,
    metadata_file_separator: Option<u32>,
    vocabulary: &dyn SpecialVocabulary,
) -> Option<FimSupport> {
    let separator_of = |template: &FimTemplate| {
        template.file_separator.and_then(|text| single_control_token(vocabulary, text))
    };
    if let Some(tokens) = metadata {
        let family = FIM_TEMPLATES
            .iter()
            .find(|template| single_control_token(vocabulary, template.prefix) == Some(tokens.prefix));
        let file_separator = metadata_file_separator.or_else(|| family.and_then(separator_of));
        let suffix_first = family.is_some_and(|template| template.suffix_first);
        return Some(FimSupport { tokens, file_separator, suffix_first });
    }
    FIM_TEMPLATES.iter().find_map(|template| {
        let tokens = FimTokens {
            prefix: single_control_token(vocabulary, template.prefix)?,
            suffix: single_control_token(vocabulary, template.suffix)?,
            middle: single_control_token(vocabulary, template.middle)?,
        };
        Some(FimSupport {
            tokens,
            file_separator: separator_of(template),
            suffix_first: template.suffix_first,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary where listed texts are control tokens and anything else is one token per
    /// character.
    struct Vocabulary(Vec<(&'static str, u32)>);

    impl SpecialVocabulary for Vocabulary {
        fn encode_special(&self, text: &str) -> Vec<u32> {
            match self.0.iter().find(|(special, _)| *special == text) {
                Some((_, id)) => vec![*id],
                None => text.chars().map(|c| c as u32 + 100_000).collect(),
            }
        }
        fn is_control(&self, token: u32) -> bool {
            self.0.iter().any(|(_, id)| *id == token)
        }
    }

    #[test]
    fn metadata_wins_and_the_family_supplies_the_file_separator() {
        let vocabulary = Vocabulary(vec![
            ("<fim_prefix>", 1),
            ("<fim_suffix>", 2),
            ("<fim_middle>", 3),
            ("<file_sep>", 4),
        ]);
        let metadata = FimTokens { prefix: 1, suffix: 2, middle: 3 };
        let support = resolve(Some(metadata), None, &vocabulary).unwrap();
        assert_eq!(support, FimSupport { tokens: metadata, file_separator: Some(4), suffix_first: false });
        let support = resolve(Some(metadata), Some(9), &vocabulary).unwrap();
        assert_eq!(support.file_separator, Some(9));
    }

    #[test]
    fn without_metadata_a_template_needs_every_token_to_be_one_control_token() {
        let qwen = Vocabulary(vec![
            ("<|fim_prefix|>", 10),
            ("<|fim_suffix|>", 11),
            ("<|fim_middle|>", 12),
            ("<|file_sep|>", 13),
        ]);
        let support = resolve(None, None, &qwen).unwrap();
        assert_eq!(support.tokens, FimTokens { prefix: 10, suffix: 11, middle: 12 });
        assert_eq!(support.file_separator, Some(13));

        let deepseek = Vocabulary(vec![
            ("<\u{FF5C}fim\u{2581}begin\u{FF5C}>", 20),
            ("<\u{FF5C}fim\u{2581}hole\u{FF5C}>", 21),
            ("<\u{FF5C}fim\u{2581}end\u{FF5C}>", 22),
        ]);
        let support = resolve(None, None, &deepseek).unwrap();
        assert_eq!((support.tokens.prefix, support.file_separator), (20, None));

        // Two of three are not enough; plain text that looks like a token is not a token.
        let partial = Vocabulary(vec![("<fim_prefix>", 1), ("<fim_suffix>", 2)]);
        assert_eq!(resolve(None, None, &partial), None);
        assert_eq!(resolve(None, None, &Vocabulary(vec![])), None);
    }

    #[test]
    fn codestral_is_recognised_as_suffix_first_from_its_vocabulary_or_metadata() {
        let vocabulary = Vocabulary(vec![("[PREFIX]", 11), ("[SUFFIX]", 12), ("[MIDDLE]", 13)]);
        let support = resolve(None, None, &vocabulary).unwrap();
        assert_eq!(support.tokens, FimTokens { prefix: 11, suffix: 12, middle: 13 });
        assert!(support.suffix_first && support.file_separator.is_none());
        let metadata = FimTokens { prefix: 11, suffix: 12, middle: 13 };
        assert!(resolve(Some(metadata), None, &vocabulary).unwrap().suffix_first);
        // Text that only looks like the tokens is not enough.
        assert_eq!(resolve(None, None, &Vocabulary(vec![("[PREFIX]", 11)])), None);
    }
}
