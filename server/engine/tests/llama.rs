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
    GenerateRequest { prompt: Prompt::text(prompt), max_tokens, stop, cancel: CancelFlag::new() }
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
