//! Redaction over a planted-secret corpus: realistic code, config and logs with fake secrets and
//! personal data of every kind planted in them.
//!
//! The fake secrets are generated, so this file does not itself look like it leaks credentials.

use std::collections::HashSet;

use expect_test::expect;
use wisp_guard::{contains_secret, find_sensitive, Redactor, SensitiveKind};

const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DIGITS: &str = "0123456789";

/// `n` deterministic pseudo-random characters from `alphabet`; `seed` tells planted values apart.
fn fake(alphabet: &str, n: usize, seed: u64) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            chars[((state >> 33) % chars.len() as u64) as usize]
        })
        .collect()
}

/// One planted value: what it is, and the exact text planted.
struct Planted {
    kind: SensitiveKind,
    value: String,
}

struct Corpus {
    text: String,
    planted: Vec<Planted>,
}

/// Code, config and log text with a fake secret or piece of personal data of every kind.
fn corpus() -> Corpus {
    use SensitiveKind::*;
    let aws_id = format!("AKIA{}", fake(UPPER_DIGITS, 16, 1));
    let aws_secret = fake(BASE64, 40, 2);
    let gcp = format!("AIza{}", fake(ALNUM, 35, 3));
    let github = format!("ghp_{}", fake(ALNUM, 36, 4));
    let github_pat = format!("github_pat_{}_{}", fake(ALNUM, 22, 5), fake(ALNUM, 59, 6));
    let gitlab = format!("glpat-{}", fake(ALNUM, 20, 7));
    let slack = format!("xoxb-{}-{}-{}", fake(DIGITS, 12, 8), fake(DIGITS, 13, 9), fake(ALNUM, 24, 10));
    let webhook = format!(
        "https://hooks.slack.com/services/T{}/B{}/{}",
        fake(UPPER_DIGITS, 8, 11),
        fake(UPPER_DIGITS, 10, 12),
        fake(ALNUM, 24, 13)
    );
    let stripe = format!("sk_live_{}", fake(ALNUM, 24, 14));
    let openai = format!("sk-proj-{}", fake(BASE64URL, 56, 15));
    let anthropic = format!("sk-ant-api03-{}", fake(BASE64URL, 93, 16));
    let huggingface = format!("hf_{}", fake(LETTERS, 34, 17));
    let npm = format!("npm_{}", fake(ALNUM, 36, 18));
    let azure = format!("{}==", fake(BASE64, 86, 19));
    let key_body: Vec<String> = (0..5).map(|line| fake(BASE64, 64, 20 + line)).collect();
    let private_key =
        format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----", key_body.join("\n"));
    let jwt =
        format!("eyJ{}.eyJ{}.{}", fake(BASE64URL, 30, 30), fake(BASE64URL, 60, 31), fake(BASE64URL, 43, 32));
    let basic = format!("{}==", fake(BASE64, 30, 33));
    let url_password = format!("Pa55{}", fake(ALNUM, 12, 34));
    let password = format!("7{}", fake(ALNUM, 15, 35));
    let django_secret = fake(ALNUM, 50, 36);
    let client_secret = format!("{}-{}", fake(ALNUM, 20, 37), fake(ALNUM, 20, 38));

    let email = "alice.smith@example.com";
    let ipv4 = "203.0.113.42";
    let ipv6 = "2001:db8:85a3::8a2e:370:7334";
    let phone_international = "+44 20 7946 0958";
    let phone_north_american = "(415) 555-2671";
    let card_spaced = "4539 1488 0343 6467";
    let card_dashed = "5425-2334-3010-9903";

    let text = format!(
        r#"# --- settings.py ---
import os

SECRET_KEY = "{django_secret}"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
DATABASES = {{"default": {{"PASSWORD": os.environ["DB_PASSWORD"], "HOST": "db"}}}}
password = "changeme"
token = get_token()
max_tokens = 4096
eos_token = "<|endoftext|>"
greeting_b64 = "aGVsbG8gd29ybGQ="
client = anthropic.Anthropic(api_key="{anthropic}")
ADMINS = [("Alice", "{email}")]

KEY = """{private_key}
"""

def charge():
    return stripe_charge(card="{card_spaced}", amount=1999)

// --- src/deploy.rs ---
use std::fs::read_to_string;

const REQUEST_ID: &str = "550e8400-e29b-41d4-a716-446655440000";
const COMMIT: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";
const VERSION: &str = "1.2.3";
fn gcp_client() -> Client {{
    Client::new("{gcp}")
}}

// --- web/pay.js ---
const stripe = require("stripe")("{stripe}");
const contact = {{ name: "Alice", phone: "{phone_international}", backup: "{phone_north_american}", email: "{email}" }};
const test_cards = ["{card_dashed}", "4000 1234 5678 9011"];
fetch(url, {{ headers: {{ Authorization: "Basic {basic}" }} }});

# --- .env ---
AWS_ACCESS_KEY_ID={aws_id}
AWS_SECRET_ACCESS_KEY={aws_secret}
GITHUB_TOKEN={github}
GH_FINE_GRAINED={github_pat}
OPENAI_API_KEY={openai}
DB_PASSWORD={password}
DATABASE_URL=postgres://app:{url_password}@db.internal.example.com:5432/app
DEV_DATABASE_URL=postgres://postgres:postgres@localhost:5432/dev
AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=wispdata;AccountKey={azure};EndpointSuffix=core.windows.net

# --- ci.yaml ---
version: "1.2.3.4"
env:
  GITLAB_TOKEN: {gitlab}
  slack_token: "{slack}"
  SLACK_WEBHOOK: {webhook}
  client_secret: {client_secret}
  NPM_CONFIG: "//registry.npmjs.org/:_authToken={npm}"
steps:
  - run: huggingface-cli login --token {huggingface}

# --- server.log ---
2024-05-01T12:30:45Z INFO login user={email} from {ipv4} via [{ipv6}]:443 agent="curl/8.5.0"
2024-05-01T12:30:46Z DEBUG GET /api/me Authorization: Bearer {jwt} status=200 in 12ms
"#
    );

    let planted = vec![
        Planted { kind: AwsAccessKeyId, value: aws_id },
        Planted { kind: AwsSecretAccessKey, value: aws_secret },
        Planted { kind: GcpApiKey, value: gcp },
        Planted { kind: GitHubToken, value: github },
        Planted { kind: GitHubToken, value: github_pat },
        Planted { kind: GitLabToken, value: gitlab },
        Planted { kind: SlackToken, value: slack },
        Planted { kind: SlackWebhook, value: webhook },
        Planted { kind: StripeKey, value: stripe },
        Planted { kind: OpenAiKey, value: openai },
        Planted { kind: AnthropicKey, value: anthropic },
        Planted { kind: HuggingFaceToken, value: huggingface },
        Planted { kind: NpmToken, value: npm },
        Planted { kind: AzureKey, value: azure },
        Planted { kind: PrivateKey, value: private_key },
        Planted { kind: Jwt, value: jwt },
        Planted { kind: AuthorizationHeader, value: basic },
        Planted { kind: UrlPassword, value: url_password },
        Planted { kind: Password, value: password },
        Planted { kind: GenericSecret, value: django_secret },
        Planted { kind: GenericSecret, value: client_secret },
        Planted { kind: Email, value: email.to_owned() },
        Planted { kind: IpAddress, value: ipv4.to_owned() },
        Planted { kind: IpAddress, value: ipv6.to_owned() },
        Planted { kind: PhoneNumber, value: phone_international.to_owned() },
        Planted { kind: PhoneNumber, value: phone_north_american.to_owned() },
        Planted { kind: CardNumber, value: card_spaced.to_owned() },
        Planted { kind: CardNumber, value: card_dashed.to_owned() },
    ];
    Corpus { text, planted }
}

fn redactor() -> Redactor {
    Redactor::new([7u8; 32])
}

#[test]
fn corpus_redacts_to_snapshot() {
    let redacted = redactor().redact(&corpus().text);
    expect![[r##"
        # --- settings.py ---
        import os

        SECRET_KEY = "<secret:generic-secret>"
        DEBUG = False
        ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
        DATABASES = {"default": {"PASSWORD": os.environ["DB_PASSWORD"], "HOST": "db"}}
        password = "changeme"
        token = get_token()
        max_tokens = 4096
        eos_token = "<|endoftext|>"
        greeting_b64 = "aGVsbG8gd29ybGQ="
        client = anthropic.Anthropic(api_key="<secret:anthropic-key>")
        ADMINS = [("Alice", "<email:e30afefbf830>")]

        KEY = """<secret:private-key>
        """

        def charge():
            return stripe_charge(card="<card:b6a95823d4ac>", amount=1999)

        // --- src/deploy.rs ---
        use std::fs::read_to_string;

        const REQUEST_ID: &str = "550e8400-e29b-41d4-a716-446655440000";
        const COMMIT: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";
        const VERSION: &str = "1.2.3";
        fn gcp_client() -> Client {
            Client::new("<secret:gcp-api-key>")
        }

        // --- web/pay.js ---
        const stripe = require("stripe")("<secret:stripe-key>");
        const contact = { name: "Alice", phone: "<phone:8bbcc953a72b>", backup: "<phone:7dffe70289be>", email: "<email:e30afefbf830>" };
        const test_cards = ["<card:dabed2544a4d>", "4000 1234 5678 9011"];
        fetch(url, { headers: { Authorization: "Basic <secret:authorization-header>" } });

        # --- .env ---
        AWS_ACCESS_KEY_ID=<secret:aws-access-key-id>
        AWS_SECRET_ACCESS_KEY=<secret:aws-secret-access-key>
        GITHUB_TOKEN=<secret:github-token>
        GH_FINE_GRAINED=<secret:github-token>
        OPENAI_API_KEY=<secret:openai-key>
        DB_PASSWORD=<secret:password>
        DATABASE_URL=postgres://app:<secret:url-password>@db.internal.example.com:5432/app
        DEV_DATABASE_URL=postgres://postgres:postgres@localhost:5432/dev
        AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=wispdata;AccountKey=<secret:azure-key>;EndpointSuffix=core.windows.net

        # --- ci.yaml ---
        version: "1.2.3.4"
        env:
          GITLAB_TOKEN: <secret:gitlab-token>
          slack_token: "<secret:slack-token>"
          SLACK_WEBHOOK: <secret:slack-webhook>
          client_secret: <secret:generic-secret>
          NPM_CONFIG: "//registry.npmjs.org/:_authToken=<secret:npm-token>"
        steps:
          - run: huggingface-cli login --token <secret:huggingface-token>

        # --- server.log ---
        2024-05-01T12:30:45Z INFO login user=<email:e30afefbf830> from <ip:f47d3ebef4e3> via [<ip:646def4ad707>]:443 agent="curl/8.5.0"
        2024-05-01T12:30:46Z DEBUG GET /api/me Authorization: Bearer <secret:jwt> status=200 in 12ms
    "##]]
    .assert_eq(&redacted.text);
}

#[test]
fn no_planted_value_survives() {
    let corpus = corpus();
    let redacted = redactor().redact(&corpus.text).text;
    for planted in &corpus.planted {
        assert!(!redacted.contains(&planted.value), "{:?} survived: {}", planted.kind, planted.value);
    }
    for line in
        corpus.planted.iter().find(|planted| planted.kind == SensitiveKind::PrivateKey).unwrap().value.lines()
    {
        assert!(!redacted.contains(line), "a private key line survived: {line}");
    }
    // The middle of a card number would still identify most of it.
    for middle in ["1488 0343", "14880343", "2334-3010", "23343010"] {
        assert!(!redacted.contains(middle), "card digits survived: {middle}");
    }
}

#[test]
fn every_planted_value_is_found_as_its_kind() {
    let corpus = corpus();
    let findings = find_sensitive(&corpus.text);
    for planted in &corpus.planted {
        let start = corpus.text.find(&planted.value).unwrap();
        let end = start + planted.value.len();
        let covering =
            findings.iter().find(|finding| finding.range.start <= start && end <= finding.range.end);
        let covering =
            covering.unwrap_or_else(|| panic!("{:?} not covered: {}", planted.kind, planted.value));
        assert_eq!(covering.kind, planted.kind, "{}", planted.value);
    }
    let kinds: HashSet<SensitiveKind> = findings.iter().map(|finding| finding.kind).collect();
    let all: HashSet<SensitiveKind> = SensitiveKind::ALL.into_iter().collect();
    assert_eq!(kinds, all, "missing: {:?}", all.difference(&kinds).collect::<Vec<_>>());
}

#[test]
fn findings_point_into_the_original_text() {
    let corpus = corpus();
    let redacted = redactor().redact(&corpus.text);
    let mut previous_end = 0;
    for finding in &redacted.findings {
        assert!(previous_end <= finding.range.start, "findings overlap or are out of order");
        previous_end = finding.range.end;
        let value = &corpus.text[finding.range.clone()];
        assert!(
            corpus.planted.iter().any(|planted| value.contains(&planted.value)),
            "unplanted finding {:?}: {value}",
            finding.kind
        );
    }
}

#[test]
fn spellings_of_a_card_share_a_token() {
    let spaced = redactor().redact("4539 1488 0343 6467").text;
    assert_eq!(redactor().redact("4539-1488-0343-6467").text, spaced);
    assert_eq!(redactor().redact("4539148803436467").text, spaced);
}

#[test]
fn ordinary_code_is_unchanged() {
    let redacted = redactor().redact(&corpus().text).text;
    for line in [
        "import os",
        r#"ALLOWED_HOSTS = ["localhost", "127.0.0.1"]"#,
        r#"DATABASES = {"default": {"PASSWORD": os.environ["DB_PASSWORD"], "HOST": "db"}}"#,
        r#"password = "changeme""#,
        "token = get_token()",
        "max_tokens = 4096",
        r#"eos_token = "<|endoftext|>""#,
        r#"greeting_b64 = "aGVsbG8gd29ybGQ=""#,
        "use std::fs::read_to_string;",
        r#"const REQUEST_ID: &str = "550e8400-e29b-41d4-a716-446655440000";"#,
        r#"const COMMIT: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";"#,
        r#"const VERSION: &str = "1.2.3";"#,
        r#"version: "1.2.3.4""#,
        "DEV_DATABASE_URL=postgres://postgres:postgres@localhost:5432/dev",
        "4000 1234 5678 9011",
        "2024-05-01T12:30:45Z INFO login user=",
        r#"agent="curl/8.5.0""#,
        "status=200 in 12ms",
    ] {
        assert!(redacted.contains(line), "changed: {line}");
    }
}

#[test]
fn same_value_same_token_and_keys_differ() {
    let text = "from alice.smith@example.com to bob@example.org, cc alice.smith@example.com";
    let redacted = redactor().redact(text).text;
    let tokens: Vec<&str> = redacted.split(' ').filter(|word| word.starts_with("<email:")).collect();
    assert_eq!(tokens.len(), 3, "{redacted}");
    assert_eq!(tokens[0], tokens[2].trim_end_matches(','));
    assert_ne!(tokens[0], tokens[1].trim_end_matches(','));

    let respelled = redactor().redact("from Alice.Smith@Example.COM").text;
    assert_eq!(respelled.trim_start_matches("from "), tokens[0]);

    let other_key = Redactor::new([8u8; 32]).redact(text).text;
    assert_ne!(redacted, other_key);
    assert_eq!(Redactor::new([7u8; 32]).redact(text).text, redacted, "a redactor is deterministic");
}

#[test]
fn personal_data_tokens_are_keyed_hashes() {
    // The first 12 hex characters of HMAC-SHA256(key = 32 bytes of 7, "203.0.113.42"), as
    // Python's `hmac.new(bytes([7] * 32), b"203.0.113.42", "sha256").hexdigest()` computes it.
    let redacted = redactor().redact("ping 203.0.113.42").text;
    expect!["ping <ip:f47d3ebef4e3>"].assert_eq(&redacted);
}

#[test]
fn redaction_is_idempotent() {
    let once = redactor().redact(&corpus().text);
    let twice = redactor().redact(&once.text);
    assert_eq!(twice.text, once.text);
    assert_eq!(twice.findings, vec![]);
    // With another key too: placeholders are recognised whatever key made them.
    assert_eq!(Redactor::new([9u8; 32]).redact(&once.text).text, once.text);
}

#[test]
fn glued_values_settle_in_one_redaction() {
    let github = format!("ghp_{}", fake(ALNUM, 36, 60));
    // The phone number is glued to the token, so it only stands alone once the token is replaced.
    // Its token hashes the digits: HMAC-SHA256(32 bytes of 7, "+442079460958").
    let text = format!("{github}+44 20 7946 0958");
    let once = redactor().redact(&text);
    assert_eq!(once.text, "<secret:github-token><phone:8bbcc953a72b>");
    assert_eq!(once.findings.len(), 2);
    assert_eq!(&text[once.findings[1].range.clone()], "+44 20 7946 0958");
    assert_eq!(redactor().redact(&once.text).text, once.text);
}

#[test]
fn any_mix_of_planted_values_redacts_idempotently() {
    let corpus = corpus();
    let mut pieces: Vec<String> = corpus.planted.iter().map(|planted| planted.value.clone()).collect();
    pieces.extend(
        ["password=", "token: ", "\"", " ", "\n", ":", "@", ".", "-", "7", "x", "<secret:jwt>"]
            .map(String::from),
    );
    let mut state = 1u64;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % n as u64) as usize
    };
    for _ in 0..500 {
        let n_pieces = 2 + next(5);
        let text: String = (0..n_pieces).map(|_| pieces[next(pieces.len())].as_str()).collect();
        let once = redactor().redact(&text);
        assert_eq!(redactor().redact(&once.text).text, once.text, "not idempotent on {text:?}");
        assert!(!contains_secret(&once.text), "a secret survived in {:?}", once.text);
        assert_eq!(find_sensitive(&text), once.findings, "findings depend on the key for {text:?}");
    }
}

#[test]
fn contains_secret_sees_secrets_not_personal_data() {
    let corpus = corpus();
    assert!(contains_secret(&corpus.text));
    for planted in &corpus.planted {
        if planted.kind.is_secret() {
            // The line it was planted in (the whole block for a private key).
            let context = match corpus.text.lines().find(|line| line.contains(&planted.value)) {
                Some(line) => line,
                None => &planted.value,
            };
            assert!(contains_secret(context), "{:?} not seen in: {context}", planted.kind);
        } else {
            assert!(!contains_secret(&planted.value), "{:?} is not a secret", planted.kind);
        }
    }
    assert!(!contains_secret(&redactor().redact(&corpus.text).text));
    assert!(!contains_secret("password = \"changeme\"\ntoken = get_token()\n"));
}

#[test]
fn cut_off_suggestion_still_contains_its_secret() {
    let suggestion = format!("    api_key=\"{}", fake(ALNUM, 20, 40));
    assert!(contains_secret(&suggestion));
    let suggestion =
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n{}", fake(BASE64, 70, 41), fake(BASE64, 30, 42));
    assert!(contains_secret(&suggestion));
}

#[test]
fn kind_names_are_the_placeholder_tags() {
    let text = format!("token = \"ghp_{}\" by alice@example.com", fake(ALNUM, 36, 50));
    let redacted = redactor().redact(&text);
    assert!(redacted.text.starts_with("token = \"<secret:github-token>\" by <email:"), "{}", redacted.text);
    assert_eq!(SensitiveKind::GitHubToken.name(), "github-token");
    assert!(SensitiveKind::GitHubToken.is_secret());
    assert!(!SensitiveKind::Email.is_secret());
}
