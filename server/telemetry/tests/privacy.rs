//! Planted secrets and personal data never reach the database file or an export.

mod support;

use support::*;
use wisp_telemetry::dataset::{self, SplitShares};
use wisp_telemetry::{DismissReason, EventKind, Store};

/// Fake secrets and personal data, built at run time so this file does not look like a leak.
fn planted() -> Vec<String> {
    vec![
        format!("AKIA{}", "Z7Q2X9W4V6B8N3M5"),
        format!("ghp_{}", "a1B2c3D4".repeat(4) + "e5F6"),
        format!("xoxb-{}-{}-{}", "1234567890", "0987654321", "aB3dE5fG7hI9jK1lM3nO5pQ7"),
        format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc"),
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.{}",
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ),
        "Xk9#mP2$vL8qR4wZ".to_owned(),
        format!("{}.{}@{}", "grace", "hopper", "navy.example"),
        "203.0.113.77".to_owned(),
        "+44 20 7946 0958".to_owned(),
        "4111 1111 1111 1111".to_owned(),
        format!("MIIEow{}", "IBAAKCAQEA7kV2b3d4ZmFrZWtleWRhdGFmb3J0ZXN0aW5n"),
    ]
}

fn corpus(values: &[String]) -> String {
    format!(
        "import os\nAWS_ACCESS_KEY_ID = \"{}\"\nGITHUB_TOKEN = \"{}\"\nslack = \"{}\"\nstripe.api_key = \"{}\"\n\
         headers = {{\"Authorization\": \"Bearer {}\"}}\ndb_password = \"{}\"\n# contact {} from {}, phone {}\n\
         card = \"{}\"\nKEY = \"\"\"-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\"\"\"\ndef main():\n    ",
        values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7], values[8], values[9], values[10]
    )
}

#[test]
fn planted_secrets_and_personal_data_never_reach_the_database_or_an_export() {
    let dir = TempDir::new("privacy");
    let values = planted();
    let text = corpus(&values);
    {
        let mut store = Store::open(&dir.database(), redactor()).unwrap();
        let mut records = Vec::new();
        for (i, label) in ["accepted", "partial", "dismissed"].iter().enumerate() {
            let id = format!("p{i}");
            let suggestion = format!("print(\"{}\", \"{}\")", values[i], values[6]);
            records.push(record(with_content(
                completion(&id, i as i64),
                &format!("src/{}.py", values[6]),
                &text,
                &suggestion,
            )));
            records.push(event(&id, 10, EventKind::Shown));
            records.push(match *label {
                "accepted" => event(&id, 11, EventKind::Accepted),
                "partial" => event(&id, 11, EventKind::PartiallyAccepted { accepted_utf16: 30 }),
                _ => event(&id, 11, EventKind::Dismissed { reason: DismissReason::Explicit }),
            });
        }
        store.write(&records).unwrap();
        let outcomes = store.outcomes_since(0).unwrap();
        let rows = dataset::rows(&outcomes, &redactor(), SplitShares::default());
        assert_eq!(rows.len(), 3);
        let exported: String = rows.iter().map(|row| serde_json::to_string(row).unwrap() + "\n").collect();
        for value in &values {
            assert!(!exported.contains(value.as_str()), "{value:?} is in the export:\n{exported}");
        }
        // The code around the secrets is still there, so the examples stay useful.
        assert!(exported.contains("def main():"), "{exported}");
    }
    let mut bytes = std::fs::read(dir.database()).unwrap();
    bytes.extend(std::fs::read(dir.0.join("feedback.sqlite3-wal")).unwrap_or_default());
    for value in &values {
        let found = bytes.windows(value.len()).any(|window| window == value.as_bytes());
        assert!(!found, "{value:?} is in the database file");
    }
}

#[test]
fn exports_keep_one_file_in_one_split_and_drop_exact_duplicates() {
    let dir = TempDir::new("export");
    let mut store = Store::open(&dir.database(), redactor()).unwrap();
    let mut records = Vec::new();
    for i in 0..200 {
        let id = format!("e{i}");
        let mut c = with_content(completion(&id, i), "a.rs", &format!("fn f{}() {{", i % 100), "}");
        c.file_key = format!("file-{}", i % 20);
        records.push(record(c));
        records.push(event(&id, 1_000, EventKind::Accepted));
    }
    // Made but never decided: not exported.
    records.push(record(with_content(completion("open", 5), "a.rs", "x", "y")));
    store.write(&records).unwrap();
    let rows = dataset::rows(&store.outcomes_since(0).unwrap(), &redactor(), SplitShares::default());
    // Prompts repeat every 100 completions with the same completion and label.
    assert_eq!(rows.len(), 100);
    let mut split_of_file = std::collections::HashMap::new();
    for (row, i) in rows.iter().zip(0..) {
        let file = format!("file-{}", i % 20);
        let split = split_of_file.entry(file).or_insert(row.split);
        assert_eq!(*split, row.split, "a file spans two splits");
    }
    let splits: std::collections::HashSet<_> = split_of_file.values().collect();
    assert!(splits.len() >= 2, "20 files all landed in one split: {splits:?}");
}
