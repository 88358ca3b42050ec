//! The crate map of `docs/architecture.md`, enforced: each crate under `server/` depends only on
//! the Wisp crates the map allows, only `server/lsp` knows LSP, and a new crate must be added to
//! the map (and here) before it builds into the binary. As rust-analyzer's tidy tests do.

use std::collections::BTreeSet;
use std::path::Path;

/// Each crate and the Wisp crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("wisp-syntax", &[]),
    ("wisp-engine", &[]),
    ("wisp-guard", &["wisp-syntax"]),
    ("wisp-bench", &[]),
    ("wisp-eval", &[]),
    ("wisp-context", &["wisp-syntax", "wisp-engine"]),
    ("wisp-telemetry", &["wisp-guard"]),
    ("wisp-complete", &["wisp-syntax", "wisp-context", "wisp-engine", "wisp-guard", "wisp-telemetry"]),
    (
        "wisp-lsp",
        &["wisp-complete", "wisp-syntax", "wisp-context", "wisp-engine", "wisp-guard", "wisp-telemetry"],
    ),
    (
        "wisp",
        &[
            "wisp-lsp",
            "wisp-complete",
            "wisp-syntax",
            "wisp-context",
            "wisp-engine",
            "wisp-guard",
            "wisp-telemetry",
            "wisp-bench",
            "wisp-eval",
        ],
    ),
];

/// Crates that speak the protocol: only `wisp-lsp` may use them.
const PROTOCOL_CRATES: &[&str] = &["tower-lsp-server", "tower-lsp", "lsp-types", "ls-types", "lsp-server"];

struct Manifest {
    name: String,
    dependencies: BTreeSet<String>,
}

fn manifests() -> Vec<Manifest> {
    let server = wisp_tests::repo_root().join("server");
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(&server).expect("reading server/") {
        let path = entry.expect("a server/ entry").path().join("Cargo.toml");
        if path.exists() {
            manifests.push(read(&path));
        }
    }
    manifests.sort_by(|a, b| a.name.cmp(&b.name));
    manifests
}

fn read(path: &Path) -> Manifest {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let manifest: toml::Table = text.parse().unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let name = manifest["package"]["name"].as_str().expect("package.name").to_owned();
    let dependencies = manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|table| table.keys().cloned().collect())
        .unwrap_or_default();
    Manifest { name, dependencies }
}

#[test]
fn every_crate_depends_only_on_the_crates_the_map_allows() {
    let mut wrong = Vec::new();
    for manifest in manifests() {
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == manifest.name) else {
            wrong.push(format!(
                "{} is not in the crate map: add it to docs/architecture.md and ALLOWED",
                manifest.name
            ));
            continue;
        };
        for dependency in manifest.dependencies.iter().filter(|name| name.starts_with("wisp")) {
            if !allowed.contains(&dependency.as_str()) {
                wrong
                    .push(format!("{} depends on {dependency}, which the map does not allow", manifest.name));
            }
        }
        for dependency in manifest.dependencies.iter().filter(|name| PROTOCOL_CRATES.contains(&name.as_str()))
        {
            if manifest.name != "wisp-lsp" {
                wrong.push(format!("{} depends on {dependency}: only wisp-lsp knows LSP", manifest.name));
            }
        }
    }
    assert!(wrong.is_empty(), "docs/architecture.md's crate map is broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_map_names_every_crate_and_the_document_lists_them() {
    let names: Vec<String> = manifests().into_iter().map(|manifest| manifest.name).collect();
    for (name, _) in ALLOWED {
        assert!(names.iter().any(|found| found == name), "{name} is in the map but not under server/");
    }
    let document = std::fs::read_to_string(wisp_tests::repo_root().join("docs/architecture.md")).unwrap();
    for name in &names {
        assert!(document.contains(&format!("`{name}`")), "docs/architecture.md does not describe {name}");
    }
}
