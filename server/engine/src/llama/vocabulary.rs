//! The model's vocabulary: fill-in-the-middle support, prompts in its tokens, its chat
//! template, and a vocabulary loaded without weights for remote engines.

use std::path::Path;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::{backend, check_gguf};
use crate::{
    chat_placeholder, chat_prompt_from_rendered, ChatMessage, EngineError, FimTokens, Prompt, PromptPart,
    SpecialToken,
};

/// The model's fill-in-the-middle support: from its metadata, or the known families' templates.
pub(super) fn fim_support(model: &LlamaModel) -> Option<crate::fim::FimSupport> {
    let vocab = model.vocab();
    let (pre, suf, mid) = (vocab.fim_pre(), vocab.fim_suf(), vocab.fim_mid());
    let metadata = (pre.0 >= 0 && suf.0 >= 0 && mid.0 >= 0).then_some(FimTokens {
        prefix: pre.0 as u32,
        suffix: suf.0 as u32,
        middle: mid.0 as u32,
    });
    let metadata_separator = (vocab.fim_sep().0 >= 0).then_some(vocab.fim_sep().0 as u32);
    crate::fim::resolve(metadata, metadata_separator, &VocabularyView(&vocab))
}

/// `prompt` in the model's tokens: text as plain text, template text with its special tokens,
/// special parts as their ids.
pub(super) fn tokenize_prompt(
    model: &LlamaModel,
    fim: Option<FimTokens>,
    file_separator: Option<u32>,
    prompt: &Prompt,
) -> Result<Vec<LlamaToken>, EngineError> {
    let vocab = model.vocab();
    let mut tokens = Vec::new();
    if vocab.should_add_bos() {
        tokens.push(vocab.bos());
    }
    for part in &prompt.parts {
        match part {
            PromptPart::Text(text) => {
                tokens.extend(vocab.tokenize(text.as_bytes(), false, false));
            }
            PromptPart::Template(text) => {
                tokens.extend(vocab.tokenize(text.as_bytes(), false, true));
            }
            PromptPart::Special(special) => {
                let fim = fim.ok_or(EngineError::MissingSpecialToken { token: *special })?;
                let id = match special {
                    SpecialToken::FimPrefix => fim.prefix,
                    SpecialToken::FimSuffix => fim.suffix,
                    SpecialToken::FimMiddle => fim.middle,
                    SpecialToken::FileSeparator => {
                        file_separator.ok_or(EngineError::MissingSpecialToken { token: *special })?
                    }
                };
                tokens.push(LlamaToken(id as i32));
            }
        }
    }
    Ok(tokens)
}

/// The chat prompt of `messages` under the model's own template (see [`Engine::chat_prompt`]).
pub(super) fn chat_prompt_of(model: &LlamaModel, messages: &[ChatMessage]) -> Option<Prompt> {
    let template = model.chat_template(None).ok()?;
    let stand_ins: Vec<llama_cpp_2::model::LlamaChatMessage> = messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            llama_cpp_2::model::LlamaChatMessage::new(message.role.clone(), chat_placeholder(index)).ok()
        })
        .collect::<Option<_>>()?;
    let rendered = model.apply_chat_template(&template, &stand_ins, true).ok()?;
    chat_prompt_from_rendered(&rendered, messages)
}

/// A model's vocabulary without its weights (a GGUF loaded `vocab_only`): how a remote engine
/// counts and spells prompts exactly as the served model will.
pub(crate) struct VocabularyOnly {
    model: LlamaModel,
    pub(crate) fim: Option<FimTokens>,
    pub(crate) file_separator: Option<u32>,
    pub(crate) fim_suffix_first: bool,
}

impl VocabularyOnly {
    pub(crate) fn load(path: &Path) -> Result<VocabularyOnly, EngineError> {
        let id = crate::registry::id_from_path(path);
        check_gguf(path, &id)?;
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend()?, path, &params)
            .map_err(|_| EngineError::LoadFailed { path: path.to_path_buf() })?;
        let support = fim_support(&model);
        Ok(VocabularyOnly {
            fim: support.map(|support| support.tokens),
            file_separator: support.and_then(|support| support.file_separator),
            fim_suffix_first: support.is_some_and(|support| support.suffix_first),
            model,
        })
    }

    pub(crate) fn tokenize(&self, prompt: &Prompt) -> Result<Vec<u32>, EngineError> {
        let tokens = tokenize_prompt(&self.model, self.fim, self.file_separator, prompt)?;
        Ok(tokens.into_iter().map(|token| token.0 as u32).collect())
    }

    pub(crate) fn count(&self, text: &str) -> usize {
        self.model.vocab().tokenize(text.as_bytes(), false, false).len()
    }

    pub(crate) fn chat_prompt(&self, messages: &[ChatMessage]) -> Option<Prompt> {
        chat_prompt_of(&self.model, messages)
    }
}

/// llama.cpp's vocabulary as FIM template resolution sees it.
pub(super) struct VocabularyView<'v>(pub(super) &'v llama_cpp_2::vocab::LlamaVocab<'v>);

impl crate::fim::SpecialVocabulary for VocabularyView<'_> {
    fn encode_special(&self, text: &str) -> Vec<u32> {
        self.0.tokenize(text.as_bytes(), false, true).into_iter().map(|token| token.0 as u32).collect()
    }
    fn is_control(&self, token: u32) -> bool {
        self.0.is_control(LlamaToken(token as i32))
    }
}
