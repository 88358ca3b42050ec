//! Prompt: the gathered cursor in the layout the model understands, within the token budget,
//! with the spaces typed after code left out (token healing).

use wisp_context::{BuiltPrompt, CompletionInput, PromptFormat};
use wisp_engine::Engine;

use super::Gathered;
use crate::config::CompletionConfig;

/// The prompt layout a model understands.
pub fn prompt_format(model: &wisp_engine::ModelInfo) -> PromptFormat {
    match (model.fim.is_some(), model.fim_suffix_first, model.file_separator.is_some()) {
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

/// What the prompt is built from, and the spaces typed after code on the cursor's line that the
/// prompt leaves out (token healing: a prompt ending in a space splits the tokens the model knows,
/// " .map", " value", and pushes it off course; the model writes the space again and it is taken
/// off the suggestion).
pub fn healed(gathered: &Gathered) -> (std::borrow::Cow<'_, Gathered>, &str) {
    let blank = trailing_blank(&gathered.prefix);
    if blank.is_empty() {
        return (std::borrow::Cow::Borrowed(gathered), blank);
    }
    let prefix = gathered.prefix[..gathered.prefix.len() - blank.len()].to_owned();
    (std::borrow::Cow::Owned(Gathered { prefix, ..gathered.clone() }), blank)
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
