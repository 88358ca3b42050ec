//! Prompt: the gathered cursor in the layout the model understands, within the token budget,
//! with the spaces typed after code left out (token healing).

use wisp_context::{BuiltPrompt, CompletionInput, PromptFormat};
use wisp_engine::Engine;

use super::Gathered;
use crate::config::CompletionConfig;

/// The prompt layout a model understands.
pub fn prompt_format(model: &wisp_engine::ModelInfo) -> PromptFormat {
    let fim = model.fim.is_some() || model.fim_by_server;
    let repository = model.file_separator.is_some() || model.fim_by_server;
    match (fim, model.fim_suffix_first, repository) {
        (true, true, _) => PromptFormat::FimSuffixFirst,
        (true, false, true) => PromptFormat::FimRepo,
        (true, false, false) => PromptFormat::Fim,
        (false, _, _) => PromptFormat::Plain,
    }
}

/// The prompt for a gathered cursor, in the layout the model understands, within the budget.
pub fn build_prompt(engine: &dyn Engine, gathered: &Gathered, settings: &CompletionConfig) -> BuiltPrompt {
    let format = prompt_format(engine.model());
    let anchor = gathered.anchor.and_then(|anchor| anchor.checked_sub(gathered.prefix_start));
    let input = CompletionInput {
        path: &gathered.path,
        line_comment: gathered.line_comment.as_deref(),
        prefix: &gathered.prefix,
        suffix: &gathered.suffix,
        anchor,
        prefix_start: gathered.prefix_start,
        snippets: &gathered.snippets,
    };
    let counter = |text: &str| engine.count_tokens(text);
    wisp_context::build(&input, format, settings.prompt_tokens, &counter)
}

/// What the prompt leaves out of the end of the cursor's line (token healing): a prompt that ends
/// in the middle of a token pushes the model off course. After `counts.v` it takes `v` for a
/// whole token and writes `();`; after `let x = ` the space splits the tokens it knows (" value").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Healing<'g> {
    /// Spaces typed after code: the model writes them again (or not) and they are taken off.
    pub blank: &'g str,
    /// A partly typed word or operator: the model must spell it first
    /// ([`wisp_engine::GenerateRequest::healing`]), and it is taken off.
    pub word: &'g str,
}

/// What the prompt is built from, and what it leaves out of the cursor's line ([`Healing`]): the
/// typed spaces, and the partly typed word when `heal_words` (`completion.token_healing`).
pub fn healed(gathered: &Gathered, heal_words: bool) -> (std::borrow::Cow<'_, Gathered>, Healing<'_>) {
    let blank = trailing_blank(&gathered.prefix);
    let word = if blank.is_empty() && heal_words { typed_word(&gathered.prefix) } else { "" };
    let left_out = blank.len() + word.len();
    if left_out == 0 {
        return (std::borrow::Cow::Borrowed(gathered), Healing { blank, word });
    }
    let prefix = gathered.prefix[..gathered.prefix.len() - left_out].to_owned();
    (std::borrow::Cow::Owned(Gathered { prefix, ..gathered.clone() }), Healing { blank, word })
}

/// The longest word (letters, digits, `_`) healed: longer runs are whole names already.
const MAX_HEALED_WORD: usize = 32;
/// The longest operator healed (`::`, `->`, `..=`).
const MAX_HEALED_OPERATOR: usize = 3;

/// The partly typed word or operator at the end of `prefix` that the model spells again: the
/// run of word characters (or of operator characters) before the cursor, with the space before
/// it when code comes before that (BPE tokens carry their leading space: " value"). Empty when
/// the line ends otherwise, or the run is longer than a token would be, or is a lone `.`: names
/// after a member access start a token of their own, and healing the `.` measured worse on the
/// dev set (`self.io.` went on with `_clone` where it had written `poll_shutdown`).
pub fn typed_word(prefix: &str) -> &str {
    let line_start = prefix.rfind('\n').map_or(0, |newline| newline + 1);
    let line = &prefix[line_start..];
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let is_operator = |c: char| ".:=<>!&|+-*/%^?".contains(c);
    let Some(last) = line.chars().next_back() else { return "" };
    let (of_kind, max): (&dyn Fn(char) -> bool, usize) = if is_word(last) {
        (&is_word, MAX_HEALED_WORD)
    } else if is_operator(last) {
        (&is_operator, MAX_HEALED_OPERATOR)
    } else {
        return "";
    };
    let run_start =
        line.char_indices().rev().take_while(|&(_, c)| of_kind(c)).last().map_or(line.len(), |(at, _)| at);
    if line.len() - run_start > max || &line[run_start..] == "." {
        return "";
    }
    let before = &line[..run_start];
    let start = if before.ends_with(' ') && !before.trim().is_empty() { run_start - 1 } else { run_start };
    &prefix[line_start + start..]
}

/// Spaces and tabs at the end of `prefix` after code on the cursor's line (`let x = `). The
/// indentation of an otherwise empty line is not included: without it, small models open a
/// blank line instead of writing the line (measured on SmolLM2).
pub fn trailing_blank(prefix: &str) -> &str {
    let line_start = prefix.rfind('\n').map_or(0, |newline| newline + 1);
    let end = prefix.trim_end_matches([' ', '\t']).len();
    if end <= line_start {
        return "";
    }
    &prefix[end..]
}
