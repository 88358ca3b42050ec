//! The completion service driven without a client: the scripted engine for the scheduling logic
//! (reuse, superseding, typing through), and the real default model for one request end to end.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use wisp_complete::completion::{gather, Gathered};
use wisp_complete::config::Config;
use wisp_complete::service::{CompletionService, ModelState, Outcome, Request, Trigger, Typing};
use wisp_engine::{Engine, ScriptedEngine};
use wisp_syntax::{Document, LanguageRegistry};

/// The cursor at `$0` of a Rust document.
fn cursor(fixture: &str) -> Gathered {
    let (before, after) = fixture.split_once("$0").expect("the fixture marks the cursor with $0");
    let language = LanguageRegistry::builtin().by_language_id("rust");
    let document = Document::new(&format!("{before}{after}"), language);
    gather(&document, before.len(), "src/main.rs", 8)
}

fn ready(engine: impl Engine + 'static) -> Arc<RwLock<ModelState>> {
    Arc::new(RwLock::new(ModelState::Ready(Arc::new(engine))))
}

async fn ask(
    service: &CompletionService,
    gathered: Gathered,
    model: &Arc<RwLock<ModelState>>,
    config: &Config,
) -> Outcome {
    let request =
        Request { gathered, trigger: Trigger::Invoked, config, model: Arc::clone(model), typing: None };
    service.suggest(request).await.expect("the scripted model answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suggestion_is_computed_once_then_reused_and_typed_through() {
    let service = CompletionService::default();
    let model = ready(ScriptedEngine::new("total + 1;\n"));
    let config = Config::default();

    let first = ask(&service, cursor("fn main() {\n    let next = $0\n}\n"), &model, &config).await;
    let suggested = first.suggested.expect("a suggestion");
    assert_eq!(suggested.text, "total + 1;");
    assert_eq!(suggested.source, wisp_telemetry::Source::Model);
    assert!(first.remember_shown && first.window_start.is_some());
    let at = "fn main() {\n    let next = ".len();
    assert_eq!(suggested.replace, at..at, "inserted at the cursor");

    let again = ask(&service, cursor("fn main() {\n    let next = $0\n}\n"), &model, &config).await;
    let again = again.suggested.expect("the same suggestion");
    assert_eq!((again.text.as_str(), again.source), ("total + 1;", wisp_telemetry::Source::Cache));

    let typed = ask(&service, cursor("fn main() {\n    let next = tot$0\n}\n"), &model, &config).await;
    let typed = typed.suggested.expect("the rest of the suggestion");
    assert_eq!((typed.text.as_str(), typed.source), ("al + 1;", wisp_telemetry::Source::Cache));
    assert_eq!(typed.replace, at + 3..at + 3, "a reused suggestion answers its own cursor");
    let metrics = &service.metrics;
    let generations = metrics.generations.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(generations, 1, "one model run for three requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_request_for_the_document_supersedes_the_one_running() {
    let service = Arc::new(CompletionService::default());
    // Code that parses where it is suggested (the syntax check would hold back anything else).
    let slow = ScriptedEngine::new("one + two + three + four + five + six + seven + eight;\n")
        .with_delay_per_piece(Duration::from_millis(100));
    let model = ready(slow);
    let config = Arc::new(Config::default());

    let first = {
        let (service, model, config) = (Arc::clone(&service), Arc::clone(&model), Arc::clone(&config));
        tokio::spawn(
            async move { ask(&service, cursor("fn a() {\n    let x = $0\n}\n"), &model, &config).await },
        )
    };
    // Until the first request is in the pipeline (on a busy machine a spawned task may start
    // late), then a little longer: it is generating when the second comes.
    let entered = std::time::Instant::now();
    while service.metrics.requests.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(entered.elapsed() < Duration::from_secs(30), "the first request never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Another cursor in the same document: the first request's text does not agree with it.
    let second = ask(&service, cursor("fn a() {\n    let y = $0\n}\n"), &model, &config).await;
    let first = first.await.expect("the first request's task");
    assert!(first.suggested.is_none(), "the superseded request answers nothing");
    assert!(second.suggested.is_some(), "the newer request answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_default_model_answers_through_the_service() {
    let loaded = wisp_complete::models::load(&wisp_complete::config::ModelConfig::default())
        .expect("the default model is needed: run \"wisp models fetch\" (scripts/test does)");
    let model = Arc::new(RwLock::new(ModelState::Ready(loaded.engine)));
    let service = CompletionService::default();
    let mut config = Config::default();
    config.completion.max_tokens = 16;
    let fixture = "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n";
    let outcome = ask(&service, cursor(fixture), &model, &config).await;
    let suggested = outcome.suggested.expect("the model suggests something in an empty body");
    assert!(!suggested.text.trim().is_empty());
    assert!(suggested.prompt_tokens > 0 && suggested.suggestion_tokens > 0, "{suggested:?}");
    let again = ask(&service, cursor(fixture), &model, &config).await.suggested.expect("again");
    assert_eq!((again.text, again.source), (suggested.text, wisp_telemetry::Source::Cache));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_typed_into_quickly_is_cut_to_the_lines_done_in_the_typing_budget() {
    let service = CompletionService::default();
    // Four lines, 50 ms a word: the whole block takes 0.8 s.
    let slow = ScriptedEngine::new(
        "let a = one + two;\n    let b = three + four;\n    let c = five + six;\n    let d = seven + eight;\n",
    )
    .with_delay_per_piece(Duration::from_millis(50));
    let model = ready(slow);
    let mut config = Config::default();
    config.completion.cache = false;
    config.completion.typing_budget_ms = 250;
    let block = "fn a() {\n    $0\n}\n";
    let asked = |last_interval_ms: f64| Request {
        gathered: cursor(block),
        trigger: Trigger::Automatic,
        config: &config,
        model: Arc::clone(&model),
        typing: Some(Typing { last_interval_ms, typical_interval_ms: last_interval_ms }),
    };
    let lines = |outcome: Outcome| outcome.suggested.expect("a suggestion").text.lines().count();

    // Typed 0.1 s after the keystroke before: the lines done in 0.25 s, and the one being written.
    let typing = lines(service.suggest(asked(100.0)).await.expect("the scripted model answers"));
    // After a pause (or asked for): the whole block, within `time_budget_ms`.
    let paused = lines(service.suggest(asked(2000.0)).await.expect("the scripted model answers"));
    assert_eq!(paused, 4);
    assert!((1..=2).contains(&typing), "typing got {typing} lines");
}
