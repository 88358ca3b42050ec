//! The feedback store: round trips, migrations, retention, and stats against hand-computed
//! values.

mod support;

use support::*;
use wisp_telemetry::stats::{self, GroupBy};
use wisp_telemetry::{schema, DismissReason, EventKind, Retention, Store};

#[test]
fn a_completion_and_its_events_round_trip() {
    let dir = TempDir::new("round-trip");
    let mut store = Store::open(&dir.database(), redactor()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST);
    let mut written = completion("c1", 1_000);
    written.adapter_id = Some("lora-7".into());
    store
        .write(&[
            record(written.clone()),
            event("c1", 1_001, EventKind::Shown),
            event("c1", 1_002, EventKind::PartiallyAccepted { accepted_utf16: 5 }),
            event("c1", 1_003, EventKind::PartiallyAccepted { accepted_utf16: 12 }),
            event("c1", 31_003, EventKind::Survived { after_s: 30, kept_ratio: 0.75 }),
        ])
        .unwrap();
    assert_eq!(store.completion("c1").unwrap(), Some(written));
    let outcomes = store.outcomes_since(0).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].shown && !outcomes[0].accepted);
    assert_eq!(outcomes[0].partially_accepted_utf16, 12);
    assert_eq!(outcomes[0].survival, vec![(30, 0.75)]);
    // Every event carries its completion's fields through the view.
    let (model, variant, total_ms): (String, String, f64) = store
        .connection()
        .query_row(
            "SELECT model_id, variant, total_ms FROM event_details WHERE kind = 'survived'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!((model.as_str(), variant.as_str(), total_ms), ("smollm2-135m-instruct-q4_1", "default", 63.0));
}

#[test]
fn an_event_for_an_unknown_completion_is_skipped_and_the_rest_of_the_batch_is_kept() {
    let dir = TempDir::new("unknown");
    let mut store = Store::open(&dir.database(), redactor()).unwrap();
    let written = store
        .write(&[
            record(completion("c1", 1)),
            event("nope", 2, EventKind::Shown),
            event("c1", 3, EventKind::Shown),
        ])
        .unwrap();
    assert_eq!(written, 2);
    assert_eq!(store.count_events().unwrap(), 1);
}

#[test]
fn migrating_from_the_first_schema_version_keeps_the_data() {
    let dir = TempDir::new("migrate");
    {
        let store = Store::open_at_version(&dir.database(), redactor(), 1).unwrap();
        assert_eq!(store.schema_version().unwrap(), 1);
        // Rows as version 1 wrote them (no adapter column yet).
        store
            .connection()
            .execute_batch(
                "INSERT INTO completions (id, at_ms, language, model_id, model_sha256, variant,
                    trigger_kind, source, context_ms, queue_ms, prompt_ms, decode_ms, total_ms,
                    prompt_tokens, suggestion_tokens, suggestion_utf16, file_key, path, prompt,
                    suggestion)
                 VALUES ('old', 5, 'python', 'm', 'sha', 'default', 'invoked', 'cache', 1, 2, 3, 4,
                    10, 100, 7, 20, 'k', 'a.py', 'def f(', 'x): pass');
                 INSERT INTO events (completion_id, at_ms, kind) VALUES ('old', 6, 'shown');
                 INSERT INTO events (completion_id, at_ms, kind) VALUES ('old', 7, 'accepted');",
            )
            .unwrap();
    }
    let store = Store::open(&dir.database(), redactor()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST);
    let old = store.completion("old").unwrap().expect("the version-1 row is still there");
    assert_eq!(old.language, "python");
    assert_eq!((old.adapter_id, old.confidence), (None, None));
    assert_eq!(old.content.unwrap().suggestion, "x): pass");
    let outcomes = store.outcomes_since(0).unwrap();
    assert!(outcomes[0].shown && outcomes[0].accepted);
    let n: i64 =
        store.connection().query_row("SELECT COUNT(*) FROM event_details", [], |row| row.get(0)).unwrap();
    assert_eq!(n, 2);
    let confidence: Option<f64> = store
        .connection()
        .query_row("SELECT confidence FROM event_details LIMIT 1", [], |row| row.get(0))
        .unwrap();
    assert_eq!(confidence, None, "the view has the new column");
}

#[test]
fn a_database_from_a_newer_wisp_is_refused_with_the_fix() {
    let dir = TempDir::new("newer");
    {
        let store = Store::open(&dir.database(), redactor()).unwrap();
        store.connection().pragma_update(None, "user_version", 99).unwrap();
    }
    let error = Store::open(&dir.database(), redactor()).err().unwrap().to_string();
    assert!(error.contains("schema version 99") && error.contains("update Wisp"), "{error}");
}

#[test]
fn a_damaged_database_file_is_an_error_that_says_what_to_do() {
    let dir = TempDir::new("damaged");
    std::fs::write(
        dir.database(),
        b"this is not a database, just some bytes that are long enough to look like a header....",
    )
    .unwrap();
    let error = Store::open(&dir.database(), redactor()).err().unwrap().to_string();
    assert!(error.contains("move the file away"), "{error}");
}

#[test]
fn retention_deletes_old_completions_and_keeps_the_size_bound() {
    let dir = TempDir::new("retention");
    let mut store = Store::open(&dir.database(), redactor()).unwrap();
    let day = 86_400_000;
    let now = 100 * day;
    let mut records = vec![
        record(completion("ancient", now - 91 * day)),
        event("ancient", now - 91 * day, EventKind::Shown),
    ];
    for i in 0..3_000 {
        let id = format!("c{i}");
        records.push(record(with_content(
            completion(&id, now - 3_000 + i),
            "src/lib.rs",
            &"fn a() {}\n".repeat(20),
            "x",
        )));
        records.push(event(&id, now, EventKind::Shown));
    }
    store.write(&records).unwrap();
    let before = store.used_bytes().unwrap();
    let retention = Retention { max_days: 90, max_bytes: before / 2 };
    let deleted = store.enforce_retention(retention, now).unwrap();
    assert!(deleted > 1);
    assert!(store.completion("ancient").unwrap().is_none());
    assert!(store.used_bytes().unwrap() <= before / 2);
    // The newest are kept, and events went with their completions.
    assert!(store.completion("c2999").unwrap().is_some());
    assert!(store.completion("c0").unwrap().is_none());
    assert_eq!(store.count_events().unwrap(), store.count_completions().unwrap());
}

/// Ten shown completions of variant "a": 3 accepted, 2 partially accepted, 5 dismissed; six
/// of variant "b" with 1 accepted. Latencies 10, 20, … 100 ms for "a".
fn fixture(store: &mut Store) {
    let mut records = Vec::new();
    for i in 0..10 {
        let id = format!("a{i}");
        let mut c = completion(&id, 1_000 + i);
        c.latency.total_ms = 10.0 * (i + 1) as f64;
        c.language = if i < 4 { "rust".into() } else { "python".into() };
        c.variant = "a".into();
        records.push(record(c));
        records.push(event(&id, 2_000, EventKind::Shown));
        match i {
            0..=2 => {
                records.push(event(&id, 2_001, EventKind::Accepted));
                records.push(event(
                    &id,
                    32_001,
                    EventKind::Survived { after_s: 30, kept_ratio: [1.0, 0.5, 0.9][i as usize] },
                ));
                records.push(event(
                    &id,
                    122_001,
                    EventKind::Survived { after_s: 120, kept_ratio: [1.0, 0.2, 0.6][i as usize] },
                ));
            }
            3 | 4 => records.push(event(&id, 2_001, EventKind::PartiallyAccepted { accepted_utf16: 4 })),
            _ => {
                records.push(event(&id, 2_001, EventKind::Dismissed { reason: DismissReason::Contradicted }))
            }
        }
    }
    for i in 0..6 {
        let id = format!("b{i}");
        let mut c = completion(&id, 1_000 + i);
        c.variant = "b".into();
        records.push(record(c));
        records.push(event(&id, 2_000, EventKind::Shown));
        if i == 0 {
            records.push(event(&id, 2_001, EventKind::Accepted));
        }
    }
    // Made but never shown: not counted as shown.
    records.push(record(completion("hidden", 1_500)));
    store.write(&records).unwrap();
}

#[test]
fn stats_equal_hand_computed_values() {
    let dir = TempDir::new("stats");
    let mut store = Store::open(&dir.database(), redactor()).unwrap();
    fixture(&mut store);
    let outcomes = store.outcomes_since(0).unwrap();
    let by_variant = stats::summarize(&outcomes, Some(GroupBy::Variant));
    let a = by_variant.iter().find(|s| s.key == "a").unwrap();
    assert_eq!((a.completions, a.shown, a.accepted, a.partially_accepted, a.dismissed), (10, 10, 3, 2, 5));
    assert_eq!(a.acceptance_rate, 0.3);
    // Wilson 95% for 3/10, by hand: centre (0.3 + z²/20) / (1 + z²/10) = 0.35551, margin 0.24772.
    assert!((a.acceptance_interval.0 - 0.10779).abs() < 1e-4, "{:?}", a.acceptance_interval);
    assert!((a.acceptance_interval.1 - 0.60322).abs() < 1e-4, "{:?}", a.acceptance_interval);
    assert_eq!(a.partial_share, 0.2);
    assert!((a.kept_ratio[&30].mean - 0.8).abs() < 1e-12);
    assert!((a.kept_ratio[&120].mean - 0.6).abs() < 1e-12);
    assert_eq!(a.kept_ratio[&120].n, 3);
    // Nearest rank: p50 is the 5th of 10 latencies, p95 the 10th.
    assert_eq!((a.latency_p50_ms, a.latency_p95_ms), (Some(50.0), Some(100.0)));

    let all = stats::summarize(&outcomes, None);
    assert_eq!((all[0].completions, all[0].shown, all[0].accepted), (17, 16, 4));
    let by_language = stats::summarize(&outcomes, Some(GroupBy::Language));
    let keys: Vec<_> = by_language.iter().map(|s| (s.key.as_str(), s.shown, s.accepted)).collect();
    assert_eq!(keys, [("python", 6, 0), ("rust", 10, 4)]);
}

#[test]
fn variant_comparison_matches_a_two_proportion_z_test_by_hand() {
    let summary = |key: &str, shown: u64, accepted: u64| stats::Summary {
        key: key.into(),
        completions: shown,
        shown,
        accepted,
        partially_accepted: 0,
        dismissed: 0,
        acceptance_rate: accepted as f64 / shown as f64,
        acceptance_interval: stats::wilson_interval(accepted, shown, stats::Z_95),
        partial_share: 0.0,
        kept_ratio: Default::default(),
        latency_p50_ms: None,
        latency_p95_ms: None,
    };
    // 60/200 against 40/200: difference 0.10; pooled rate 0.25, SE sqrt(0.25·0.75·2/200) =
    // 0.043301, z = 2.3094, two-sided p = 0.02092; unpooled SE 0.043012, interval ±0.084302.
    let variants = [summary("control", 200, 40), summary("canary", 200, 60)];
    let comparisons = stats::compare_variants(&variants, Some("control"));
    assert_eq!(comparisons.len(), 1);
    let c = &comparisons[0];
    assert_eq!((c.variant.as_str(), c.baseline.as_str()), ("canary", "control"));
    assert!((c.difference - 0.10).abs() < 1e-12);
    assert!((c.p_value - 0.02092).abs() < 1e-4, "{}", c.p_value);
    assert!((c.difference_interval.0 - 0.015698).abs() < 1e-5, "{:?}", c.difference_interval);
    assert!((c.difference_interval.1 - 0.184302).abs() < 1e-5, "{:?}", c.difference_interval);
    assert!(c.significant);
    // 22/100 against 20/100 is well within noise.
    let close = [summary("control", 100, 20), summary("canary", 100, 22)];
    let c = &stats::compare_variants(&close, None)[0];
    assert!(!c.significant && c.p_value > 0.5, "{c:?}");
}

#[test]
fn acceptance_by_confidence_decile_reads_the_stored_scores() {
    let dir = TempDir::new("confidence");
    let mut store = Store::open(&dir.database(), redactor()).unwrap();
    let mut records = Vec::new();
    // 20 scored suggestions, 0.05 apart; the surer half accepted. One from the cache, unscored.
    for i in 0..20 {
        let id = format!("c{i}");
        let mut scored = completion(&id, 1_000 + i);
        scored.confidence = Some(0.025 + 0.05 * i as f32);
        records.push(record(scored));
        records.push(event(&id, 2_000, EventKind::Shown));
        if i >= 10 {
            records.push(event(&id, 2_001, EventKind::Accepted));
        }
    }
    records.push(record(completion("cached", 1_500)));
    records.push(event("cached", 2_000, EventKind::Shown));
    store.write(&records).unwrap();
    let outcomes = store.outcomes_since(0).unwrap();
    let deciles = stats::summarize(&outcomes, Some(GroupBy::Confidence));
    let keys: Vec<(&str, u64, u64)> = deciles.iter().map(|s| (s.key.as_str(), s.shown, s.accepted)).collect();
    assert_eq!(keys.len(), 11);
    assert_eq!(keys[0], ("d01 0.03–0.08", 2, 0));
    assert_eq!(keys[9], ("d10 0.93–0.97", 2, 2));
    assert_eq!(keys[10], ("unknown", 1, 0));
    assert_eq!(keys.iter().take(5).map(|k| k.2).sum::<u64>(), 0, "the less sure half: none accepted");
}
