//! Which files are sensitive: the defaults, their exceptions, user patterns and bad globs.

use std::path::Path;

use expect_test::expect;
use wisp_guard::{SensitiveFiles, DEFAULT_SENSITIVE_PATTERNS};

fn defaults() -> SensitiveFiles {
    SensitiveFiles::new(&[]).expect("the default patterns are valid")
}

#[test]
fn credential_files_are_sensitive() {
    let files = defaults();
    for path in [
        ".env",
        "app/.env",
        "/home/me/project/.env.local",
        ".env.production",
        "deploy/prod.env",
        ".envrc",
        "certs/server.pem",
        "tls/server.key",
        "config/master.key",
        "client.p12",
        "cert.pfx",
        "AuthKey_ABC123.p8",
        "/home/me/.ssh/id_rsa",
        "id_dsa",
        "id_ecdsa",
        "keys/id_ed25519",
        "id_ed25519_work",
        "/home/me/.netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        ".pgpass",
        ".htpasswd",
        ".vault-token",
        "credentials.json",
        "client_secret_1234.apps.googleusercontent.com.json",
        "application_default_credentials.json",
        "/home/me/.aws/credentials",
        "/home/me/.docker/config.json",
        "/home/me/.kube/config",
        "config/secrets.yml",
        "helm/secrets.yaml",
        "vault.kdbx",
        "old.kdb",
        "release.keystore",
        "app.jks",
        "service.keytab",
        "office.ovpn",
        "infra/terraform.tfstate",
        "infra/terraform.tfstate.backup",
        "ID_RSA",
        "Server.PEM",
    ] {
        assert!(files.is_sensitive(Path::new(path)), "{path} should be sensitive");
    }
}

#[test]
fn ordinary_files_are_not_sensitive() {
    let files = defaults();
    for path in [
        "src/main.rs",
        "src/environment.ts",
        "keyboard.rs",
        "monkey.py",
        "src/keys.rs",
        "docs/credentials.md",
        ".env.example",
        "app/.env.sample",
        ".env.template",
        ".env.dist",
        "/home/me/.ssh/id_rsa.pub",
        "id_ed25519.pub",
        "/home/me/.ssh/known_hosts",
        "/home/me/.ssh/config",
        "config.json",
        "credentials",
        "aws/credentials.rs",
        "Cargo.toml",
        "/",
        "",
    ] {
        assert!(!files.is_sensitive(Path::new(path)), "{path} should not be sensitive");
    }
}

#[test]
fn extra_patterns_add_to_the_defaults() {
    let extra = vec!["*.secret".to_owned(), "deploy/keys/*".to_owned(), ".env.example".to_owned()];
    let files = SensitiveFiles::new(&extra).unwrap();
    assert!(files.is_sensitive(Path::new("db.secret")));
    assert!(files.is_sensitive(Path::new("/work/app/deploy/keys/prod.txt")));
    assert!(
        !files.is_sensitive(Path::new("/work/app/deploy/keys/nested/prod.txt")),
        "`*` stays within a folder"
    );
    assert!(files.is_sensitive(Path::new(".env.example")), "a user pattern overrides the default exceptions");
    assert!(files.is_sensitive(Path::new(".env")), "the defaults still apply");
    assert!(!files.is_sensitive(Path::new("src/main.rs")));
}

#[test]
fn anchored_extra_patterns_match_the_whole_path() {
    let files = SensitiveFiles::new(&["/srv/private/**".to_owned()]).unwrap();
    assert!(files.is_sensitive(Path::new("/srv/private/a/b.txt")));
    assert!(!files.is_sensitive(Path::new("/home/srv/private/a/b.txt")));
}

#[test]
fn bad_glob_is_a_clear_error() {
    let error = SensitiveFiles::new(&["*.pem".to_owned(), "secrets/[abc".to_owned()]).unwrap_err();
    expect![[r#"invalid sensitive-file pattern "secrets/[abc": error parsing glob 'secrets/[abc': unclosed character class; missing ']' — fix the glob or remove it"#]].assert_eq(&error.to_string());
}

#[test]
fn every_default_pattern_matches_something() {
    let files = defaults();
    for pattern in DEFAULT_SENSITIVE_PATTERNS {
        let example = pattern.replace('*', "x");
        assert!(files.is_sensitive(Path::new(&example)), "{pattern} (as {example})");
    }
}
