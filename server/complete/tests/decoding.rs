//! Issue 13 with the real default model: index-guided decoding turns a made-up name into the one
//! the code defines, and the fast first answer of a cold document and the answer after it equal
//! cold computations of their own prompts.

use std::ops::ControlFlow;
use std::sync::Arc;

use wisp_complete::completion::{self, gather, known_names, Gathered};
use wisp_complete::config::{CompletionConfig, GuideSetting, ModelConfig};
use wisp_engine::{CancelFlag, Engine, GenerateRequest};
use wisp_syntax::names::unknown_names;
use wisp_syntax::{Document, LanguageRegistry};

fn load_engine() -> Arc<dyn Engine> {
    wisp_complete::models::load(&ModelConfig::default())
        .expect("the default model (wisp models fetch)")
        .engine
}

/// The cursor at `$0` of a Rust document, with the names the document and the language know.
fn cursor(fixture: &str) -> (Document, Gathered) {
    let (before, after) = fixture.split_once("$0").expect("the fixture marks the cursor with $0");
    let language = LanguageRegistry::builtin().by_language_id("rust");
    let document = Document::new(&format!("{before}{after}"), language);
    let mut gathered = gather(&document, before.len(), "src/inventory.rs", 8);
    gathered.names = known_names(&document, before.len(), &[], None);
    (document, gathered)
}

fn suggest(engine: &dyn Engine, gathered: &Gathered, settings: &CompletionConfig) -> completion::Suggestion {
    completion::suggest(engine, gathered, settings, CancelFlag::new(), false, &mut |_| {})
        .expect("a suggestion")
}

const INVENTORY: &str = "use std::collections::HashMap;

pub struct Inventory {
    stock_by_sku: HashMap<String, usize>,
}

impl Inventory {
    pub fn new() -> Inventory {
        Inventory { stock_by_sku: HashMap::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.$0
    }
}
";

#[test]
fn issue_13_the_mask_turns_a_made_up_member_into_the_defined_field() {
    let engine = load_engine();
    let (_, gathered) = cursor(INVENTORY);
    let rust = LanguageRegistry::builtin().by_language_id("rust").unwrap();
    let names = gathered.names.clone().unwrap();
    let made_up = |text: &str| unknown_names(text, "        self.", &rust, &|name| names.contains(name));
    let plain =
        CompletionConfig { min_confidence: 0.0, guide: GuideSetting::Off, ..CompletionConfig::default() };
    let unguided = suggest(engine.as_ref(), &gathered, &plain);
    assert!(
        !made_up(&unguided.unfiltered).is_empty(),
        "the planted case: unguided, the model makes a name up ({:?}); if it no longer does, plant another",
        unguided.unfiltered
    );
    let guided =
        suggest(engine.as_ref(), &gathered, &CompletionConfig { guide: GuideSetting::Mask, ..plain });
    assert!(guided.generation.n_guided > 0, "{guided:?}");
    assert!(
        guided.unfiltered.starts_with("stock_by_sku"),
        "{:?} (unguided {:?})",
        guided.unfiltered,
        unguided.unfiltered
    );
    assert_eq!(made_up(&guided.unfiltered), Vec::<String>::new(), "{:?}", guided.unfiltered);
}

/// A Rust file of about 2,000 lines, the cursor in a function in its middle.
fn large_file() -> String {
    let mut text = String::from("use std::collections::HashMap;\n\n");
    for index in 0..290 {
        if index == 145 {
            text.push_str("pub fn middle(values: &[u64]) -> u64 {\n    let total: u64 = values.iter().sum();\n    $0\n}\n\n");
        }
        text.push_str(&format!(
            "pub fn step_{index}(counts: &mut HashMap<String, usize>, key: &str) -> usize {{\n    let entry = counts.entry(key.to_string()).or_insert(0);\n    *entry += {index};\n    *entry\n}}\n\n"
        ));
        text.push('\n');
    }
    text
}

#[test]
fn issue_13_the_first_answer_and_the_next_equal_cold_computations_of_their_prompts() {
    let fixture = large_file();
    assert!(fixture.lines().count() >= 1900, "{}", fixture.lines().count());
    let (_, gathered) = cursor(&fixture);
    // No time budget: a slow machine must not cut one run and not the other.
    let settings = CompletionConfig {
        min_confidence: 0.0,
        time_budget_ms: 0,
        prompt_tokens: 512,
        ..CompletionConfig::default()
    };
    assert!(CompletionConfig::default().fast_first_answer, "on by default");
    let engine = load_engine();
    let first = suggest(engine.as_ref(), &gathered, &settings);
    assert!(first.first_answer, "a cold 2,000-line file is answered from a short window first");
    assert!(
        first.generation.n_prompt_tokens <= completion::FIRST_ANSWER_PROMPT_TOKENS + 8,
        "{} prompt tokens",
        first.generation.n_prompt_tokens
    );
    // The same prompt in a fresh engine gives the same text.
    let cold = generate(load_engine().as_ref(), &first.prompt, gathered.stop);
    assert_eq!(first.generation.text, cold, "the first answer is its prompt's cold computation");

    // The full prompt grows in the background; the next keystroke finds it in the cache.
    completion::warm_up(engine.as_ref(), &gathered, &settings, CancelFlag::new()).expect("warm-up");
    let (_, typed) = cursor(&fixture.replace("    $0\n}", "    l$0\n}"));
    let next = suggest(engine.as_ref(), &typed, &settings);
    assert!(!next.first_answer, "the grown prompt is in the cache");
    assert!(
        next.generation.n_prompt_evaluated < 64,
        "{} of {} prompt tokens evaluated",
        next.generation.n_prompt_evaluated,
        next.generation.n_prompt_tokens
    );
    let full = CompletionConfig { fast_first_answer: false, ..settings.clone() };
    let cold_next = suggest(load_engine().as_ref(), &typed, &full);
    assert_eq!(next.prompt, cold_next.prompt);
    assert_eq!(next.generation.text, cold_next.generation.text, "reuse stays exact");
}

fn generate(engine: &dyn Engine, prompt: &wisp_engine::Prompt, stop: wisp_engine::StopRule) -> String {
    let request = GenerateRequest {
        prompt: prompt.clone(),
        max_tokens: CompletionConfig::default().max_tokens,
        stop,
        cancel: CancelFlag::new(),
        cache_key: 1,
        time_budget: None,
        background: false,
        sampling: wisp_engine::Sampling::GREEDY,
        healing: String::new(),
        guide: None,
    };
    engine.generate(&request, &mut |_| ControlFlow::Continue(())).expect("generation").text
}

#[test]
fn issue_13_candidate_scoring_picks_a_planted_exact_pattern_over_a_worse_line() {
    let engine = load_engine();
    let above = "fn configure(settings: &Settings) -> Layout {\n    let width = settings.lookup_or(\"width\", 80).clamp_to(10, 200);\n    let depth = settings.lookup_or(\"depth\", 8).clamp_to(1, 16);\n";
    let line_before = "    let depth_again = settings.";
    let pattern = completion::pattern_continuation(line_before, &[above]).expect("a pattern from above");
    assert_eq!(pattern, "lookup_or(\"depth\", 8).clamp_to(1, 16);", "the closest matching line");
    let request = GenerateRequest {
        prompt: wisp_engine::Prompt::text(format!("// src/layout.rs\n{above}{line_before}")),
        max_tokens: 16,
        stop: wisp_engine::StopRule::Line,
        cancel: CancelFlag::new(),
        cache_key: 3,
        time_budget: None,
        background: false,
        sampling: wisp_engine::Sampling::GREEDY,
        healing: String::new(),
        guide: None,
    };
    let mut generation = engine.generate(&request, &mut |_| ControlFlow::Continue(())).expect("generation");
    // Plant a worse line in place of the model's: the pattern must win against it.
    generation.text = "lookup_or depth 8 clamp_to 1 16".to_owned();
    let chosen = completion::choose(engine.as_ref(), &request, &mut generation, &pattern, 0).unwrap();
    assert_eq!(chosen, completion::Candidate::Pattern);
    assert_eq!(generation.text, pattern);
    assert!(
        generation.token_scores.last().is_some_and(|score| score.end == pattern.len()),
        "{:?}",
        generation.token_scores
    );
    // The model's own line stands when it is the pattern, and scoring left the cache usable:
    // the same request generates what it generated before.
    let mut same = engine.generate(&request, &mut |_| ControlFlow::Continue(())).expect("generation");
    let again = same.text.clone();
    same.text = pattern.clone();
    assert_eq!(
        completion::choose(engine.as_ref(), &request, &mut same, &pattern, 0).unwrap(),
        completion::Candidate::Model
    );
    let fresh = load_engine().generate(&request, &mut |_| ControlFlow::Continue(())).expect("generation");
    assert_eq!(again, fresh.text, "scoring leaves the cache as the prompt alone");
}
