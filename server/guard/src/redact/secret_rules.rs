//! Secrets: credentials with a recognisable shape (`ghp_…`, `AKIA…`, PEM blocks, JWTs), and
//! random-looking values assigned to names like `password`, `secret` or `api_key`.
//!
//! The rules are modelled on the gitleaks rule set. Shaped rules come first, so a GitHub token
//! assigned to `token = "…"` is reported as a GitHub token rather than as a generic secret.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::entropy::shannon_entropy;
use super::value_shape::{self, MIN_SECRET_VALUE_ENTROPY};
use super::{private_key, Finding, SensitiveKind};

/// Characters that end an unquoted value (`PASSWORD=abc123 # comment`, `token=abc&next=1`,
/// `token: Vec<u8>`, `api_key=get_key()`, `"PASSWORD=abc123\nNEXT=1"`).
const BARE_VALUE_STOP: &[char] =
    &['"', '\'', '`', ',', ';', '(', ')', '{', '}', '[', ']', '<', '>', '&', '\\'];

/// A credential with a recognisable shape. The value is the group named `value` when the pattern
/// has one, else the whole match.
struct ShapedRule {
    kind: SensitiveKind,
    regex: Regex,
    accept: fn(&str, Range<usize>) -> bool,
}

/// A value assigned to a secret-sounding name: `regex` matches the name and the operator, the
/// value is read after it by [`assigned_value`], and `accept` judges it.
struct AssignmentRule {
    kind: SensitiveKind,
    regex: Regex,
    accept: fn(SensitiveKind, &AssignedValue<'_>) -> bool,
}

/// The name pattern's tail, shared by the assignment rules: an optional closing quote or bracket
/// (`"password": …`, `config["token"] = …`), then an operator (`=`, `:`, `=>`, `:=`, `==`).
const ASSIGNMENT_OPERATOR: &str = r#"["'`]?\]?[ \t]*(?P<op>===|==|=>|:=|=|:)[ \t]*"#;

/// Name suffixes that still mean "the secret itself": `password2`, `secret_key`, `tokenValue`.
const NAME_SUFFIX: &str = r"(?:[_.-]?(?:\d+|key|value|str|string))?";

static SHAPED_RULES: LazyLock<Vec<ShapedRule>> = LazyLock::new(|| {
    use SensitiveKind::*;
    vec![
        shaped(AwsAccessKeyId, r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b", always),
        shaped(GcpApiKey, r"\bAIza[0-9A-Za-z_-]{35,}", always),
        shaped(GitHubToken, r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})", always),
        shaped(
            GitLabToken,
            r"\b(?:gl(?:pat|dt|ptt|rt|cbt|soat)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
            always,
        ),
        shaped(SlackToken, r"\b(?:xox[abeoprs]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})", always),
        shaped(
            SlackWebhook,
            r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
            always,
        ),
        shaped(
            StripeKey,
            r"\b(?:(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
            always,
        ),
        shaped(AnthropicKey, r"\bsk-ant-(?:api|admin|oat|ort)\d{2}-[A-Za-z0-9_-]{20,}", always),
        shaped(
            OpenAiKey,
            r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})",
            always,
        ),
        shaped(HuggingFaceToken, r"\bhf_[A-Za-z0-9]{30,}", always),
        shaped(NpmToken, r"\bnpm_[A-Za-z0-9]{36,}", always),
        shaped(Jwt, r"\beyJ[A-Za-z0-9_-]{10,}={0,2}\.[A-Za-z0-9_-]{10,}={0,2}\.[A-Za-z0-9_-]*={0,2}", always),
        shaped(AzureKey, r"(?i)\b(?:AccountKey|SharedAccessKey)=(?P<value>[A-Za-z0-9+/]{20,}={0,2})", always),
        shaped(AzureKey, r"[?&]sig=(?P<value>[A-Za-z0-9%+/=]{30,})", always),
        shaped(
            AuthorizationHeader,
            r"(?i)\b(?:bearer|basic)[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)",
            random_looking_value,
        ),
        shaped(
            UrlPassword,
            r#"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'`<>]+:(?P<value>[^\s/?#@"'`<>]+)@"#,
            url_password,
        ),
    ]
});

static ASSIGNMENT_RULES: LazyLock<Vec<AssignmentRule>> = LazyLock::new(|| {
    use SensitiveKind::*;
    vec![
        assignment(
            AwsSecretAccessKey,
            r"[a-z0-9_.-]*?(?:aws[a-z0-9_.-]*?secret|secret[_.-]?access)[a-z0-9_.-]*?",
            aws_secret_access_key,
        ),
        assignment(
            Password,
            &format!(
                r"(?:[a-z0-9_.-]*?(?:password|passwd|passphrase|pwd)|(?:[a-z0-9_.-]*[_.-])?pass){NAME_SUFFIX}"
            ),
            secret_value,
        ),
        assignment(
            GenericSecret,
            &format!(
                r"[a-z0-9_.-]*?(?:secret|token|credentials?|apikey|(?:api|access|auth|private|signing|encryption|master|session|client)[_.-]?key){NAME_SUFFIX}"
            ),
            secret_value,
        ),
    ]
});

fn shaped(kind: SensitiveKind, pattern: &str, accept: fn(&str, Range<usize>) -> bool) -> ShapedRule {
    ShapedRule { kind, regex: Regex::new(pattern).expect("built-in secret pattern compiles"), accept }
}

fn assignment(
    kind: SensitiveKind,
    name: &str,
    accept: fn(SensitiveKind, &AssignedValue<'_>) -> bool,
) -> AssignmentRule {
    let pattern = format!(r"(?i)\b{name}{ASSIGNMENT_OPERATOR}");
    AssignmentRule {
        kind,
        regex: Regex::new(&pattern).expect("built-in assignment pattern compiles"),
        accept,
    }
}

/// Appends every secret in `text` to `out`, shaped rules first.
pub(crate) fn find(text: &str, out: &mut Vec<Finding>) {
    for range in private_key::find(text) {
        out.push(Finding { kind: SensitiveKind::PrivateKey, range });
    }
    for rule in SHAPED_RULES.iter() {
        for captures in rule.regex.captures_iter(text) {
            let value = captures.name("value").or_else(|| captures.get(0)).expect("a match has group 0");
            if (rule.accept)(text, value.range()) {
                out.push(Finding { kind: rule.kind, range: value.range() });
            }
        }
    }
    for rule in ASSIGNMENT_RULES.iter() {
        for captures in rule.regex.captures_iter(text) {
            let operator = captures.name("op").expect("assignment patterns have an operator").as_str();
            let name_and_operator = captures.get(0).expect("a match has group 0");
            let Some(value) = assigned_value(text, name_and_operator.end(), operator) else { continue };
            if (rule.accept)(rule.kind, &value) {
                out.push(Finding { kind: rule.kind, range: value.range });
            }
        }
    }
}

fn always(_text: &str, _value: Range<usize>) -> bool {
    true
}

fn random_looking_value(text: &str, value: Range<usize>) -> bool {
    value_shape::looks_random(&text[value])
}

/// A URL password is redacted unless it is a template (`${DB_PASSWORD}`), repeats the user name
/// (`postgres:postgres@localhost`) or is plain words (`user:password@`): those are development
/// defaults, and redacting them would make connection strings unreadable for nothing.
fn url_password(text: &str, value: Range<usize>) -> bool {
    let password = &text[value.clone()];
    let user_start = text[..value.start - 1].rfind("://").map_or(0, |scheme_end| scheme_end + 3);
    let user = &text[user_start..value.start - 1];
    !value_shape::is_template(password) && password != user && !value_shape::is_plain_words(password)
}

/// A value assigned to a name, as [`assigned_value`] read it.
struct AssignedValue<'a> {
    /// The value without its quotes.
    text: &'a str,
    /// Where `text` lies in the whole text.
    range: Range<usize>,
    /// True when the value was a string literal.
    quoted: bool,
    /// The first character after an unquoted value (`(` in `token = get_token()`).
    next: Option<char>,
}

/// Reads the value that starts at `start`, after a name and `operator`: a string literal's
/// contents (to the end of the line when it is not closed, as in a suggestion cut off mid-string),
/// or an unquoted run up to whitespace or [`BARE_VALUE_STOP`]. A type annotation
/// (`password: &str = "…"`) is skipped to reach the value.
fn assigned_value<'a>(text: &'a str, start: usize, operator: &str) -> Option<AssignedValue<'a>> {
    if operator == ":" {
        if let Some(value_start) = after_type_annotation(text, start) {
            return literal_at(text, value_start);
        }
    }
    literal_at(text, start)
}

/// Where the value starts when `start` begins a type annotation followed by ` = `
/// (`str = "…"`, `&'static str = "…"`, `Option<String> = …`); `None` otherwise. The spaces
/// around `=` are required so base64 padding (`token: YWJjZA=`) is not taken for one.
fn after_type_annotation(text: &str, start: usize) -> Option<usize> {
    let rest = &text[start..];
    let type_len = rest.find(|c: char| !(c.is_alphanumeric() || "_&'<>[]:,. \t".contains(c)))?;
    let (annotation, after) = rest.split_at(type_len);
    let value = after.strip_prefix('=').filter(|value| value.starts_with([' ', '\t']))?;
    let is_type = annotation.ends_with([' ', '\t'])
        && annotation.trim().starts_with(|c: char| c.is_alphabetic() || c == '&' || c == '_');
    // `value` is a suffix of `text`, so its start is the text's length less its own.
    is_type.then(|| text.len() - value.trim_start_matches([' ', '\t']).len())
}

fn literal_at(text: &str, start: usize) -> Option<AssignedValue<'_>> {
    let rest = &text[start..];
    let first = rest.chars().next()?;
    if matches!(first, '"' | '\'' | '`') {
        let body_start = start + 1;
        let mut escaped = false;
        let mut body_end = text.len();
        for (offset, c) in text[body_start..].char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == first || c == '\n' || c == '\r' {
                body_end = body_start + offset;
                break;
            }
        }
        let range = body_start..body_end;
        return Some(AssignedValue { text: &text[range.clone()], range, quoted: true, next: None });
    }
    let len = rest.find(|c: char| c.is_whitespace() || BARE_VALUE_STOP.contains(&c)).unwrap_or(rest.len());
    if len == 0 {
        return None;
    }
    let range = start..start + len;
    Some(AssignedValue { text: &text[range.clone()], range, quoted: false, next: rest[len..].chars().next() })
}

/// Exactly 40 base64 characters that look random.
fn aws_secret_access_key(_kind: SensitiveKind, value: &AssignedValue<'_>) -> bool {
    const AWS_SECRET_ACCESS_KEY_CHARS: usize = 40;
    value.text.len() == AWS_SECRET_ACCESS_KEY_CHARS
        && value.text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
        && shannon_entropy(value.text) >= MIN_SECRET_VALUE_ENTROPY
}

/// A value that looks random and is not code.
///
/// For a string literal assigned to a password name only randomness counts: people choose
/// passwords made of words (`"Summer2024Sunshine"`). A generic secret is machine-made, so a literal
/// made of words is code (a type named in a string: `private_key: "_EllipticCurvePrivateKey"`).
/// A value without quotes must also contain a digit, since code assigns identifiers
/// (`token = accessToken`, `password: String`) and generated secrets almost always contain one,
/// and must not be a call or an index (`get_token()`, `os.environ["X"]`) or other
/// [code](value_shape::is_code).
fn secret_value(kind: SensitiveKind, value: &AssignedValue<'_>) -> bool {
    if !value_shape::looks_random(value.text) {
        return false;
    }
    if value.quoted {
        return kind == SensitiveKind::Password || !value_shape::is_identifier_of_words(value.text);
    }
    value.text.bytes().any(|b| b.is_ascii_digit())
        && !matches!(value.next, Some('(' | '[' | '{'))
        && !value_shape::is_code(value.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(SensitiveKind, &str)> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.iter().map(|finding| (finding.kind, &text[finding.range.clone()])).collect()
    }

    #[test]
    fn rules_compile() {
        assert!(!SHAPED_RULES.is_empty());
        assert!(!ASSIGNMENT_RULES.is_empty());
    }

    #[test]
    fn assignment_forms() {
        let value = format!("Xy7{}", "q9Lm2Vb4");
        for line in [
            format!("password = \"{value}\""),
            format!("DB_PASSWORD={value}"),
            format!("\"password\": \"{value}\","),
            format!("  password: {value}"),
            format!("config[\"password\"] = '{value}'"),
            format!("let password: &str = \"{value}\";"),
            format!("'password' => '{value}',"),
            format!("--password={value}"),
        ] {
            assert_eq!(found(&line), vec![(SensitiveKind::Password, value.as_str())], "{line}");
        }
    }

    #[test]
    fn code_and_placeholders_are_not_secrets() {
        for line in [
            "password = \"changeme\"",
            "password = os.environ[\"DB_PASSWORD\"]",
            "token = get_token()",
            "api_key = settings.API_KEY",
            "token: String,",
            "let token: Vec<u8> = read(path);",
            "secret = \"your-secret-here\"",
            "API_TOKEN=${API_TOKEN}",
            "password: \"{{ .Values.db.password }}\"",
            "eos_token = \"<|endoftext|>\"",
            "tokenizer_path = \"models/tokenizer-v2.json\"",
            "max_tokens = 1024",
            "password_prompt = \"Enter your password: \"",
            "token = tokens[0]",
            "SECRET = None",
        ] {
            assert_eq!(found(line), vec![], "{line}");
        }
    }

    #[test]
    fn url_passwords_skip_development_defaults() {
        let real = format!("postgres://app:{}@db.internal:5432/app", "S3cr3t-Pa55");
        assert_eq!(found(&real), vec![(SensitiveKind::UrlPassword, "S3cr3t-Pa55")]);
        assert_eq!(found("postgres://postgres:postgres@localhost/db"), vec![]);
        assert_eq!(found("redis://:${REDIS_PASSWORD}@cache:6379"), vec![]);
    }

    #[test]
    fn unclosed_string_runs_to_the_end_of_the_line() {
        let value = format!("Xy7{}", "q9Lm2Vb4");
        let text = format!("api_key = \"{value}\nnext = 1");
        assert_eq!(found(&text), vec![(SensitiveKind::GenericSecret, value.as_str())]);
    }
}
