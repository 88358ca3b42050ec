//! Generate: the prompt through the engine, streamed, then post-processed into the text to insert.

use wisp_context::Snippet;
use wisp_engine::{CancelFlag, Engine, EngineError, GenerateRequest, Generation, Prompt};

use super::candidates::{self, pattern_continuation, Candidate};
use super::{
    after_typed_blank, build_prompt, confidence, healed, skip_blank_lines, without_repeated_indentation,
    Confidence, Gathered, Healing,
};
use crate::config::CompletionConfig;

/// A finished suggestion with what it cost.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// Text to insert at the cursor; empty when there is nothing worth showing.
    pub text: String,
    /// The text before the filters (`wisp_guard::FILTERS`), after the cursor's own
    /// post-processing (typed spaces, indentation): what the model meant to insert.
    pub unfiltered: String,
    /// The filters that cut something from it, in order (`"confidence"` last when the model was
    /// not sure enough of what was left).
    pub cut_by: Vec<&'static str>,
    /// How sure the model was of `text` (of `unfiltered` when nothing is left); None when there
    /// is no text.
    pub confidence: Option<Confidence>,
    pub prompt: Prompt,
    pub generation: Generation,
    /// Document byte offset where the prompt's prefix window started (the next anchor).
    pub window_start: usize,
    /// The snippets the prompt holds, in prompt order.
    pub snippets: Vec<Snippet>,
    /// The prompt was a short window because the full one was not in the engine's cache (see
    /// [`FIRST_ANSWER_MIN_UNCACHED_TOKENS`]): the caller should warm the full prompt up.
    pub first_answer: bool,
    /// Which candidate the first line came from when there was another than the model's (see
    /// [`super::candidates`]).
    pub candidate: Option<Candidate>,
    /// The pattern's line that was scored (the prompt's continuation: typed word first).
    pub pattern: Option<String>,
    /// Time spent building the prompt, and in the filters (ms).
    pub build_ms: f64,
    pub filters_ms: f64,
}

/// The names index-guided decoding checks against: those given, or read now from their source;
/// None when the guide is off.
fn names_at(gathered: &Gathered, settings: &CompletionConfig) -> Option<std::sync::Arc<super::KnownNames>> {
    settings.guide.strength()?;
    gathered.names.clone().or_else(|| gathered.names_source.as_ref()?.read(gathered))
}

/// Builds the prompt and runs the engine. Blocking: call it on the inference worker.
pub fn suggest(
    engine: &dyn Engine,
    gathered: &Gathered,
    settings: &CompletionConfig,
    cancel: CancelFlag,
    background: bool,
    on_text: &mut dyn FnMut(&str),
) -> Result<Suggestion, EngineError> {
    let started = std::time::Instant::now();
    // Token healing: the prompt ends before the spaces typed after code, or before the partly
    // typed word, on the cursor's line; the model writes them again (the word under constraint),
    // and they are taken off the suggestion.
    let (prompt_source, healing) = healed(gathered, settings.token_healing);
    let Healing { blank, word } = healing;
    let built = build_prompt(engine, &prompt_source, settings);
    let mut build_ms = started.elapsed().as_secs_f64() * 1e3;
    let window_start = gathered.prefix_start + built.prefix_window_start;
    let time_budget =
        (settings.time_budget_ms > 0).then(|| std::time::Duration::from_millis(settings.time_budget_ms));
    // With a temperature, the same document and cursor draw the same way: asking again gives the
    // same suggestion, as with greedy decoding.
    let sampling_seed = gathered.document_key ^ (gathered.offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut request = GenerateRequest {
        prompt: built.prompt,
        max_tokens: settings.max_tokens,
        stop: gathered.stop,
        cancel,
        cache_key: gathered.document_key,
        time_budget,
        background,
        sampling: wisp_engine::Sampling {
            temperature: settings.temperature,
            top_p: settings.top_p,
            seed: sampling_seed,
        },
        healing: word.to_owned(),
        guide: settings.guide.strength().zip(names_at(gathered, settings)).map(|(strength, names)| {
            let names: std::sync::Arc<dyn wisp_engine::NameOracle> = names;
            wisp_engine::Guide {
                names,
                line: prompt_source.prefix[prompt_source.prefix.rfind('\n').map_or(0, |at| at + 1)..]
                    .to_owned(),
                strength,
            }
        }),
    };
    // A cold document (just opened, or the prompt's start moved): answer first from a short
    // window of the code before the cursor, which costs a fraction of the full prompt; the
    // caller grows the full prompt in the background for the next keystroke (`first_answer`).
    let uncached = settings.fast_first_answer.then(|| engine.uncached_tokens(&request)).flatten();
    let first_answer = !background && uncached.is_some_and(|n| n > FIRST_ANSWER_MIN_UNCACHED_TOKENS);
    let mut snippets = built.snippets;
    let mut window = &prompt_source.prefix[built.prefix_window_start..];
    if first_answer {
        let short = Gathered { snippets: Vec::new(), anchor: None, ..prompt_source.as_ref().clone() };
        let short_settings =
            CompletionConfig { prompt_tokens: FIRST_ANSWER_PROMPT_TOKENS, ..settings.clone() };
        let short_started = std::time::Instant::now();
        let built = build_prompt(engine, &short, &short_settings);
        build_ms += short_started.elapsed().as_secs_f64() * 1e3;
        request.prompt = built.prompt;
        request.cache_key = first_answer_key(gathered.document_key);
        snippets = built.snippets;
        window = &prompt_source.prefix[prompt_source.prefix.len().min(built.prefix_window_start)..];
    }
    let mut unhealed = String::new();
    let mut forwarded = 0;
    let mut generation = engine.generate(&request, &mut |piece| {
        // Pass on the text after the typed spaces once the leading spaces have ended (what is
        // taken off depends only on them).
        unhealed.push_str(&piece.text);
        let Some(spelled) = unhealed.strip_prefix(word) else { return std::ops::ControlFlow::Continue(()) };
        if !spelled.trim_start_matches([' ', '\t']).is_empty() {
            let text = after_typed_blank(spelled, blank);
            if text.len() > forwarded {
                on_text(&text[forwarded..]);
                forwarded = text.len();
            }
        }
        std::ops::ControlFlow::Continue(())
    })?;
    tracing::debug!(
        "suggestion: prompt built in {build_ms:.1} ms; {} of {} prompt tokens evaluated in {:.1} ms; {} tokens generated ({} from drafts) in {:.1} ms ({:?})",
        generation.n_prompt_evaluated,
        generation.n_prompt_tokens,
        generation.prompt_ms,
        generation.n_generated,
        generation.n_draft_accepted,
        generation.decode_ms,
        generation.stop_reason,
    );
    // Candidates: the continuation of a matching line above, when the model likes it better.
    let mut candidate = None;
    let mut pattern_line = None;
    if settings.candidates && generation.stop_reason != wisp_engine::StopReason::Cancelled {
        let line_before = &gathered.prefix[gathered.prefix.rfind('\n').map_or(0, |at| at + 1)..];
        // The window without the cursor's own line.
        let above = &window[..window.rfind('\n').map_or(0, |at| at + 1)];
        let mut sources: Vec<&str> = snippets.iter().map(|snippet| snippet.text.as_str()).collect();
        sources.push(above);
        if let Some(rest) = pattern_continuation(line_before, &sources) {
            let pattern = format!("{blank}{word}{rest}");
            let typed = blank.len() + word.len();
            candidate = Some(candidates::choose(engine, &request, &mut generation, &pattern, typed)?);
            pattern_line = Some(pattern);
        }
    }
    let filters_started = std::time::Instant::now();
    let (unfiltered, filtered, confidence) = finish(&generation, gathered, healing, settings);
    let filters_ms = filters_started.elapsed().as_secs_f64() * 1e3;
    Ok(Suggestion {
        text: filtered.text,
        unfiltered,
        cut_by: filtered.cut_by,
        confidence,
        prompt: request.prompt,
        generation,
        window_start,
        snippets,
        first_answer,
        candidate,
        pattern: pattern_line,
        build_ms,
        filters_ms,
    })
}

/// A prompt that would evaluate more tokens than this (about 2 s on 2 cores) is answered first
/// from a short window ([`FIRST_ANSWER_PROMPT_TOKENS`]) when `completion.fast_first_answer`.
pub const FIRST_ANSWER_MIN_UNCACHED_TOKENS: usize = 384;

/// The budget of a first answer's prompt: the path header and the lines just before the cursor
/// (about 0.6 s to evaluate on 2 cores).
pub const FIRST_ANSWER_PROMPT_TOKENS: usize = 128;

/// The engine cache key of a document's first answers: a sequence of its own, so the short
/// prompt does not push the full one (being grown) out of the document's cache.
pub fn first_answer_key(document_key: u64) -> u64 {
    document_key ^ 0x5157_4F52_4445_5200
}

/// The generated text as the suggestion to show: the cursor's own post-processing (the typed
/// word and spaces, blank lines first, indentation written again), the filters, then the
/// confidence of what is left and the threshold. Returns the text before the filters too.
fn finish(
    generation: &Generation,
    gathered: &Gathered,
    healing: Healing<'_>,
    settings: &CompletionConfig,
) -> (String, wisp_guard::Filtered, Option<Confidence>) {
    let Healing { blank, word } = healing;
    // A generation that did not spell the typed word (stopped first) has nothing to suggest.
    let spelled = generation.text.strip_prefix(word).unwrap_or_default();
    let text = after_typed_blank(spelled, blank);
    let line_before_cursor = &gathered.prefix[gathered.prefix.rfind('\n').map_or(0, |newline| newline + 1)..];
    let text = if line_before_cursor.trim().is_empty() && gathered.line_after_cursor.trim().is_empty() {
        // On an empty line, blank lines at the start of a suggestion only push the code down.
        after_typed_blank(skip_blank_lines(spelled), blank)
    } else {
        text
    };
    let unfiltered = without_repeated_indentation(text, line_before_cursor);
    // Every step above takes a part of the generated text: where it starts there tells which
    // tokens the suggestion is made of.
    let lead = (unfiltered.as_ptr() as usize)
        .checked_sub(generation.text.as_ptr() as usize)
        .filter(|&lead| lead + unfiltered.len() <= generation.text.len())
        .unwrap_or(0);
    let unfiltered = unfiltered.to_owned();
    let truncated = generation.stop_reason == wisp_engine::StopReason::MaxTokens;
    let mut filtered = wisp_guard::run(&unfiltered, &surroundings(gathered, settings, truncated));
    if !filtered.cut_by.is_empty() {
        tracing::debug!("filters {:?} cut {unfiltered:?} to {:?}", filtered.cut_by, filtered.text);
    }
    let shown = if filtered.text.is_empty() { unfiltered.len() } else { filtered.text.len() };
    // The token that spelled the end of a typed word was forced (token healing): its probability
    // is that of the word the user already typed, not of the suggestion. Scored from the token
    // after it, when there is one.
    let forced_end = generation
        .token_scores
        .iter()
        .map(|score| score.end)
        .find(|&end| !word.is_empty() && end >= word.len())
        .filter(|&end| end > lead && end < lead + shown)
        .unwrap_or(lead);
    let confidence = confidence(&generation.token_scores, forced_end..lead + shown);
    if !filtered.text.is_empty()
        && confidence.is_some_and(|confidence| confidence.mean < settings.min_confidence)
    {
        tracing::debug!(
            "confidence {:.2} is under completion.min_confidence {}: {:?} is not shown",
            confidence.map_or(0.0, |confidence| confidence.mean),
            settings.min_confidence,
            filtered.text
        );
        filtered.text.clear();
        filtered.cut_by.push("confidence");
    }
    (unfiltered, filtered, confidence)
}

/// What the filters see around the cursor of `gathered`, for a suggestion the token limit cut
/// off in its last line or not (`truncated`).
pub fn surroundings<'g>(
    gathered: &'g Gathered,
    settings: &CompletionConfig,
    truncated: bool,
) -> wisp_guard::Surroundings<'g> {
    wisp_guard::Surroundings {
        prefix: &gathered.prefix,
        suffix: &gathered.suffix,
        line_comment: gathered.line_comment.as_deref(),
        stop_patterns: &gathered.stop_patterns,
        max_lines: settings.max_lines,
        syntax: gathered.document.as_ref().map(|document| (document, gathered.offset)),
        truncated,
    }
}

/// Evaluates the prompt for a cursor without generating, so the next real request at or after
/// it finds the prompt in the KV cache. Blocking: run it on the worker.
pub fn warm_up(
    engine: &dyn Engine,
    gathered: &Gathered,
    settings: &CompletionConfig,
    cancel: CancelFlag,
) -> Result<Generation, EngineError> {
    // The prompt a request at this cursor will have: healed the same way.
    let built = build_prompt(engine, &healed(gathered, settings.token_healing).0, settings);
    let request = GenerateRequest {
        prompt: built.prompt,
        max_tokens: 0,
        stop: gathered.stop,
        cancel,
        cache_key: gathered.document_key,
        time_budget: None,
        background: true,
        sampling: wisp_engine::Sampling::GREEDY,
        healing: String::new(),
        guide: None,
    };
    engine.generate(&request, &mut |_| std::ops::ControlFlow::Continue(()))
}
