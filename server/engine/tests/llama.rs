//! The llama.cpp engine with the real default model (SmolLM2-135M, fetched by
//! `wisp models fetch`; CI fetches it before the tests).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::OnceLock;

use wisp_engine::registry::{self, Registry};
use wisp_engine::{
    CancelFlag, Engine, EngineError, GenerateRequest, LlamaEngine, LlamaOptions, Prompt, StopReason, StopRule,
};

fn model_path() -> PathBuf {
    registry::locate(Registry::builtin().default_model())
        .unwrap_or_else(|error| panic!("the default model is needed for these tests: {error}"))
}

fn options() -> LlamaOptions {
    LlamaOptions { n_ctx: 2048, threads: 2, ..LlamaOptions::default() }
}

/// One engine shared by the tests in this file (loading takes a moment; the engine is Sync).
fn engine() -> &'static LlamaEngine {
    static ENGINE: OnceLock<LlamaEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        LlamaEngine::load(&model_path(), "smollm2", options()).expect("loading the default model")
    })
}

const RUST_PREFIX: &str =
    "// src/main.rs\nfn fibonacci(n: u64) -> u64 {\n    if n < 2 {\n        return n;\n    }\n    ";

fn request(prompt: &str, stop: StopRule, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::text(prompt),
        max_tokens,
        stop,
        cancel: CancelFlag::new(),
        cache_key: 0,
        time_budget: None,
        background: false,
        sampling: wisp_engine::Sampling::GREEDY,
        healing: String::new(),
        guide: None,
    }
}

fn run(engine: &dyn Engine, request: &GenerateRequest) -> wisp_engine::Generation {
    engine.generate(request, &mut |_| ControlFlow::Continue(())).expect("generation")
}

#[test]
fn greedy_output_is_identical_across_runs_and_engines() {
    let block = StopRule::Block { max_lines: 4, indent: 4 };
    // An engine of its own: the shared one's cache changes under parallel tests.
    let engine = LlamaEngine::load(&model_path(), "smollm2", options()).unwrap();
    let first = run(&engine, &request(RUST_PREFIX, block, 32));
    assert!(!first.text.trim().is_empty(), "the model suggested nothing: {first:?}");
    // Same engine: the second run reuses the cached prompt.
    let second = run(&engine, &request(RUST_PREFIX, block, 32));
    assert_eq!(first.text, second.text);
    assert!(second.n_prompt_evaluated < first.n_prompt_tokens, "{second:?}");
    // A fresh engine with reuse off evaluates everything and still agrees.
    let options = LlamaOptions { kv_reuse: false, ..options() };
    let fresh = LlamaEngine::load(&model_path(), "smollm2", options).unwrap();
    let third = run(&fresh, &request(RUST_PREFIX, block, 32));
    assert_eq!(first.text, third.text);
    assert_eq!(third.n_prompt_evaluated, third.n_prompt_tokens);
}

#[test]
fn line_rule_never_crosses_a_newline() {
    for prompt in [
        RUST_PREFIX,
        "# app.py\nimport os\n\ndef main():\n    path = os.",
        "// a.ts\nconst xs = [1, 2, 3];\nconst ys = xs.",
    ] {
        let generation = run(engine(), &request(prompt, StopRule::Line, 48));
        assert!(!generation.text.contains('\n'), "{prompt:?} → {:?}", generation.text);
        assert!(generation.n_generated <= 48);
    }
}

#[test]
fn block_rule_bounds_lines_and_stops_at_dedent() {
    let rule = StopRule::Block { max_lines: 3, indent: 4 };
    let generation = run(engine(), &request(RUST_PREFIX, rule, 64));
    let lines: Vec<&str> = generation.text.lines().collect();
    assert!(lines.len() <= 3, "{:?}", generation.text);
    for line in lines.iter().skip(1).filter(|line| !line.trim().is_empty()) {
        assert!(line.starts_with("    "), "dedented line kept: {:?}", generation.text);
    }
}

#[test]
fn max_tokens_is_respected() {
    let generation =
        run(engine(), &request("Once upon a time", StopRule::Block { max_lines: 100, indent: 0 }, 5));
    assert!(generation.n_generated <= 5);
    assert!(matches!(
        generation.stop_reason,
        StopReason::MaxTokens | StopReason::EndOfGeneration | StopReason::StopRule
    ));
}

#[test]
fn a_raised_cancel_flag_stops_before_generating() {
    let request = request(RUST_PREFIX, StopRule::Line, 32);
    request.cancel.cancel();
    let generation = run(engine(), &request);
    assert_eq!(generation.stop_reason, StopReason::Cancelled);
    assert_eq!(generation.n_generated, 0);
    assert!(generation.text.is_empty());
}

#[test]
fn the_callback_can_stop_generation() {
    let mut pieces = 0;
    let generation = engine()
        .generate(
            &request("Once upon a time", StopRule::Block { max_lines: 100, indent: 0 }, 30),
            &mut |_| {
                pieces += 1;
                if pieces == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
    assert_eq!(pieces, 2);
    assert!(matches!(generation.stop_reason, StopReason::Callback | StopReason::StopRule));
}

#[test]
fn token_counts_come_from_the_model_vocabulary() {
    let n = engine().count_tokens("fn main() {}");
    assert!((3..=8).contains(&n), "{n}");
    assert_eq!(engine().count_tokens(""), 0);
}

#[test]
fn missing_truncated_and_foreign_files_are_refused_clearly() {
    let dir = std::env::temp_dir().join(format!("wisp-engine-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.gguf");
    let error = LlamaEngine::load(&missing, "missing", options()).unwrap_err();
    assert!(matches!(error, EngineError::ModelNotFound { .. }));
    assert!(error.to_string().contains("wisp models fetch"), "{error}");

    let foreign = dir.join("notes.gguf");
    std::fs::write(&foreign, b"these are not weights").unwrap();
    let error = LlamaEngine::load(&foreign, "notes", options()).unwrap_err();
    assert!(matches!(error, EngineError::NotGguf { .. }), "{error}");

    // The real model cut in half: a GGUF header whose tensors run past the end of the file.
    let truncated = dir.join("truncated.gguf");
    let bytes = std::fs::read(model_path()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = LlamaEngine::load(&truncated, "truncated", options()).unwrap_err();
    assert!(matches!(error, EngineError::LoadFailed { .. }), "{error}");
    assert!(error.to_string().contains("truncated or corrupt"), "{error}");

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prompts_longer_than_the_context_are_an_error() {
    let long = "word ".repeat(3000);
    let error = engine()
        .generate(&request(&long, StopRule::Line, 8), &mut |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(matches!(error, EngineError::PromptTooLong { .. }), "{error}");
}

/// A small deterministic generator for edit sequences.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// issue 3: reuse is exact — over random edits, the suggestion computed with the warm cache
/// (the common prefix kept) equals the one computed from scratch for the same prompt.
#[test]
fn issue_3_reuse_equals_recomputation_over_random_edits() {
    let warm = LlamaEngine::load(&model_path(), "smollm2", options()).unwrap();
    let cold =
        LlamaEngine::load(&model_path(), "smollm2", LlamaOptions { kv_reuse: false, ..options() }).unwrap();
    let mut text = String::from(RUST_PREFIX);
    let inserts = ["let a = n - 1;\n    ", "x", "fib", " + ", "\n    ", "// note\n    ", "(n - 2)"];
    let mut rng = Rng(0x5eed);
    let mut n_reused = 0;
    for step in 0..24 {
        // Mostly typing at the end, sometimes an edit earlier in the text (a moved block).
        let insert = inserts[rng.below(inserts.len())];
        if step % 4 == 3 {
            let line_starts: Vec<usize> = text.match_indices('\n').map(|(index, _)| index + 1).collect();
            let at = line_starts[rng.below(line_starts.len())];
            text.insert_str(at, "    // edited\n");
        } else if step % 5 == 4 && text.len() > 40 {
            // Delete the first line after the header: the rest moves up.
            if let Some(end) = text[15..].find('\n') {
                text.replace_range(15..15 + end + 1, "");
            }
        } else {
            text.push_str(insert);
        }
        let mut request = request(&text, StopRule::Line, 12);
        request.cache_key = 7;
        let with_reuse = run(&warm, &request);
        let from_scratch = run(&cold, &request);
        assert_eq!(with_reuse.text, from_scratch.text, "step {step}, prompt {text:?}");
        assert_eq!(from_scratch.n_prompt_evaluated, from_scratch.n_prompt_tokens);
        n_reused += with_reuse.n_prompt_tokens - with_reuse.n_prompt_evaluated;
    }
    assert!(n_reused > 24 * 10, "the warm engine reused only {n_reused} prompt tokens");
}

#[test]
fn each_document_keeps_its_own_warm_sequence() {
    let engine = LlamaEngine::load(&model_path(), "smollm2", options()).unwrap();
    let python = "# app.py\nimport os\n\ndef main():\n    path = os.getcwd()\n    return ";
    let mut rust = request(RUST_PREFIX, StopRule::Line, 4);
    rust.cache_key = 1;
    let mut py = request(python, StopRule::Line, 4);
    py.cache_key = 2;
    run(&engine, &rust);
    run(&engine, &py);
    // Back to the first document: its prompt is still cached.
    let again = run(&engine, &rust);
    assert_eq!(again.n_prompt_evaluated, 1, "{again:?}");
    let again = run(&engine, &py);
    assert_eq!(again.n_prompt_evaluated, 1, "{again:?}");
}

#[test]
fn lines_dropped_from_the_top_are_shifted_not_recomputed() {
    let engine =
        LlamaEngine::load(&model_path(), "smollm2", LlamaOptions { kv_shift: true, ..options() }).unwrap();
    let body: String = (0..40).map(|index| format!("    let value_{index} = compute({index});\n")).collect();
    let first = format!("// src/lib.rs\nfn main() {{\n{body}    ");
    run(&engine, &request(&first, StopRule::Line, 4));
    // The window moved down by two lines: same header, the rest shifted up.
    let shifted: String = body.lines().skip(2).map(|line| format!("{line}\n")).collect();
    let second = format!("// src/lib.rs\n{shifted}    ");
    let generation = run(&engine, &request(&second, StopRule::Line, 4));
    assert!(
        generation.n_prompt_evaluated * 4 < generation.n_prompt_tokens,
        "evaluated {} of {} tokens",
        generation.n_prompt_evaluated,
        generation.n_prompt_tokens
    );
}

#[test]
fn out_of_time_a_block_ends_at_the_next_line_break() {
    let mut request = request(RUST_PREFIX, StopRule::Block { max_lines: 50, indent: 0 }, 64);
    request.time_budget = Some(std::time::Duration::ZERO);
    let generation = run(engine(), &request);
    assert!(
        !generation.text.contains('\n') || generation.text.trim_start().lines().count() <= 1,
        "{generation:?}"
    );
    assert!(
        matches!(
            generation.stop_reason,
            StopReason::TimeBudget | StopReason::EndOfGeneration | StopReason::MaxTokens
        ),
        "{generation:?}"
    );
}

/// Prompt-lookup drafts change the speed, never the text: greedy output with and without them
/// is the same on repetitive code (where drafts are confirmed) and elsewhere.
#[test]
fn drafts_never_change_the_suggestion() {
    let with_drafts = LlamaEngine::load(&model_path(), "smollm2", options()).unwrap();
    let without =
        LlamaEngine::load(&model_path(), "smollm2", LlamaOptions { draft_tokens: 0, ..options() }).unwrap();
    let repetitive: String =
        (0..12).map(|index| format!("    let value_{index} = compute(value_{index}, {index});\n")).collect();
    let prompts = [format!("// src/lib.rs\nfn main() {{\n{repetitive}    let"), RUST_PREFIX.to_owned()];
    let mut n_confirmed = 0;
    for prompt in &prompts {
        let rule = StopRule::Block { max_lines: 6, indent: 0 };
        let drafted = run(&with_drafts, &request(prompt, rule, 48));
        let plain = run(&without, &request(prompt, rule, 48));
        assert_eq!(drafted.text, plain.text, "{prompt:?}");
        assert_eq!(drafted.n_generated, plain.n_generated);
        assert_eq!(plain.n_draft_accepted, 0);
        n_confirmed += drafted.n_draft_accepted;
    }
    assert!(n_confirmed > 5, "the repetitive prompt confirmed only {n_confirmed} drafted tokens");
}

#[test]
fn issue_4_code_is_more_predictable_than_shuffled_code() {
    let engine = engine();
    let code = "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\nfn main() {\n    let total = add(1, 2);\n    println!(\"{total}\");\n}\n";
    let mut words: Vec<&str> = code.split_whitespace().collect();
    words.reverse();
    let shuffled = words.join(" ");
    let natural = engine.score(code).unwrap();
    let scrambled = engine.score(&shuffled).unwrap();
    assert!(natural.n_tokens > 20, "{natural:?}");
    assert!(natural.perplexity() > 1.0);
    assert!(natural.perplexity() < scrambled.perplexity(), "{natural:?} vs {scrambled:?}");
    // Scoring leaves generation exact: the same prompt gives the same text as before.
    assert_eq!(engine.score(code).unwrap(), natural, "scoring is deterministic");
}

#[test]
fn issue_4_fim_templates_need_real_control_tokens() {
    let engine = engine();
    // SmolLM2 has chat control tokens but no FIM ones: a template's text is plain text to it.
    assert!(engine.control_token("<|im_start|>").is_some());
    for template in wisp_engine::fim::FIM_TEMPLATES {
        assert_eq!(engine.control_token(template.prefix), None, "{}", template.family);
    }
    assert_eq!(engine.model().fim, None);
    assert_eq!(engine.model().file_separator, None);
}

#[test]
fn issue_5_sampling_is_seeded_and_a_temperature_varies_the_text() {
    let engine = LlamaEngine::load(&model_path(), "smollm2", options()).unwrap();
    let line = StopRule::Line;
    let sampled = |seed: u64| {
        let mut request = request(RUST_PREFIX, line, 12);
        request.sampling = wisp_engine::Sampling { temperature: 1.2, top_p: 0.95, seed };
        run(&engine, &request).text
    };
    // The same seed draws the same text; different seeds do not all agree.
    assert_eq!(sampled(1), sampled(1));
    let texts: std::collections::HashSet<String> = (0..6).map(sampled).collect();
    assert!(texts.len() >= 2, "six seeds at temperature 1.2 gave one text: {texts:?}");
    // Greedy is untouched by the seed.
    let greedy = |seed: u64| {
        let mut request = request(RUST_PREFIX, line, 12);
        request.sampling.seed = seed;
        run(&engine, &request).text
    };
    assert_eq!(greedy(1), greedy(2));
}

const COUNTS_PREFIX: &str = "use std::collections::HashMap;\n\nfn main() {\n    let mut counts: HashMap<String, usize> = HashMap::new();\n    counts.insert(\"a\".to_string(), 1);\n    let total: usize = counts.";

#[test]
fn issue_13_token_healing_spells_the_typed_part_of_a_word_first() {
    let engine = engine();
    // Without healing, a prompt ending in the typed `v` is read as a whole token.
    let unhealed = run(engine, &request(&format!("{COUNTS_PREFIX}v"), StopRule::Line, 8));
    // Healed: the prompt ends before `v`, and the model must spell it.
    for typed in ["v", "va", "val"] {
        let healed =
            GenerateRequest { healing: typed.to_owned(), ..request(COUNTS_PREFIX, StopRule::Line, 8) };
        let generation = run(engine, &healed);
        assert!(generation.text.starts_with(typed), "{typed:?}: {:?}", generation.text);
        let rest = &generation.text[typed.len()..];
        assert!(
            rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'),
            "after {typed:?} the word goes on, not {rest:?} (unhealed after `v`: {:?})",
            unhealed.text
        );
        // The generation reports what it cost and scored: the constrained tokens included.
        assert!(generation.token_scores.first().is_some_and(|score| score.logprob <= 0.0));
    }
    // A word no token of the vocabulary starts (after the prompt) is still spelled byte by byte.
    let odd = GenerateRequest { healing: "zqxv".to_owned(), ..request(COUNTS_PREFIX, StopRule::Line, 8) };
    assert!(run(engine, &odd).text.starts_with("zqxv"));
}

#[test]
fn healing_allows_tokens_that_spell_the_next_part_or_all_and_more() {
    use wisp_engine::spells;
    assert!(spells(b"v", b"va"));
    assert!(spells(b"va", b"va"));
    assert!(spells(b"values", b"va"));
    assert!(!spells(b"x", b"va"));
    assert!(!spells(b"vb", b"va"));
    assert!(!spells(b"", b"va"), "control tokens have no text");
}

#[test]
fn the_gguf_header_gives_the_layer_shapes_without_loading_the_model() {
    let metadata = wisp_engine::gguf::metadata(&model_path()).expect("reading the header");
    let get = |key| wisp_engine::gguf::int(&metadata, key);
    // SmolLM2-135M (llama architecture): 30 layers of width 576, 9 query and 3 KV heads.
    assert_eq!(get("{arch}.block_count"), Some(30));
    assert_eq!(get("{arch}.embedding_length"), Some(576));
    assert_eq!(
        (get("{arch}.attention.head_count"), get("{arch}.attention.head_count_kv")),
        (Some(9), Some(3))
    );
    assert!(wisp_engine::gguf::metadata(std::path::Path::new("Cargo.toml")).unwrap_err().contains("magic"));
}
