//! PEM and PGP private key blocks, found as a whole: the BEGIN line, the base64 body and the END line.
//!
//! A block is redacted only when it has a body, so code that merely names the markers
//! (`if line == "-----BEGIN RSA PRIVATE KEY-----"`) is left alone. A block whose END line is
//! missing (a suggestion cut off mid-key) is redacted through the last line that looks like key body.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Fewest base64 characters a body needs before the block counts as a key. Real keys have
/// hundreds; 32 is more than any marker-only template or test stub has, and less than the
/// shortest real key (an Ed25519 OpenSSH key has about 300).
pub const MIN_PRIVATE_KEY_BODY_CHARS: usize = 32;

/// The BEGIN line of any private key: `RSA`, `EC`, `DSA`, `OPENSSH`, `ENCRYPTED`, PKCS#8 (no
/// label) and PGP's `PRIVATE KEY BLOCK`.
static BEGIN: LazyLock<Regex> =
    LazyLock::new(|| compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"));

/// The matching END line.
static END: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\A-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"));

/// A body that runs up to an END line: base64, whitespace (real newlines, or spaces where a log
/// flattened the block), `\n` escapes inside a string literal, and the armour headers
/// (`Proc-Type:`, `DEK-Info:`, PGP's `Version:` and `Comment:`).
static BODY_BEFORE_END: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\A(?:(?:Proc-Type|DEK-Info|Version|Comment):[^\r\n]*|[A-Za-z0-9+/=\s]|\\[nrt])*")
});

/// A body with no END line: whole lines of base64 (no spaces inside, so ordinary code lines stop
/// it) or armour headers, then possibly a last partial line.
static BODY_WITHOUT_END: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\A(?:[ \t]*(?:(?:Proc-Type|DEK-Info|Version|Comment):[^\r\n]*|(?:[A-Za-z0-9+/=]|\\[nrt])+)?[ \t]*\r?\n)*(?:[ \t]*(?:[A-Za-z0-9+/=]|\\[nrt])+)?",
    )
});

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in private key pattern compiles")
}

/// Byte ranges of the private key blocks in `text`.
pub(crate) fn find(text: &str) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(begin) = BEGIN.find_at(text, from) {
        let body_start = begin.end();
        let end = block_end(text, body_start);
        if let Some(end) = end {
            blocks.push(begin.start()..end);
            from = end;
        } else {
            from = body_start;
        }
    }
    blocks
}

/// Where the block whose body starts at `body_start` ends, or `None` when it has no real body.
fn block_end(text: &str, body_start: usize) -> Option<usize> {
    let rest = &text[body_start..];
    let body = BODY_BEFORE_END.find(rest).map_or("", |body| body.as_str());
    if let Some(end) = END.find(&rest[body.len()..]) {
        if has_key_body(body) {
            return Some(body_start + body.len() + end.end());
        }
    }
    let body = without_partial_code_line(rest, BODY_WITHOUT_END.find(rest).map_or("", |body| body.as_str()));
    if has_key_body(body) {
        return Some(body_start + body.trim_end().len());
    }
    None
}

/// `body` without its last, unterminated line unless that line ends the text or a string literal:
/// `    return` followed by ` key` is code after a cut-off key, not more key.
fn without_partial_code_line<'a>(rest: &str, body: &'a str) -> &'a str {
    let last_line_start = body.rfind('\n').map_or(0, |newline| newline + 1);
    match rest[body.len()..].chars().next() {
        None | Some('"' | '\'' | '`' | ',' | ';' | ')') => body,
        Some(_) => &body[..last_line_start],
    }
}

fn has_key_body(body: &str) -> bool {
    let n_base64 = body.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/').count();
    n_base64 >= MIN_PRIVATE_KEY_BODY_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY_LINE: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu";

    fn key_block(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----")
    }

    #[test]
    fn whole_block_is_found() {
        let block = key_block("RSA PRIVATE KEY", &format!("{BODY_LINE}\n{BODY_LINE}"));
        let text = format!("key = '''\n{block}\n'''\nprint(key)\n");
        let start = text.find("-----BEGIN").unwrap();
        assert_eq!(find(&text), vec![start..start + block.len()]);
    }

    #[test]
    fn encrypted_pem_headers_are_part_of_the_body() {
        let body = format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\n{BODY_LINE}");
        let block = key_block("RSA PRIVATE KEY", &body);
        assert_eq!(find(&block), vec![0..block.len()]);
    }

    #[test]
    fn escaped_block_in_a_string_literal_is_found() {
        let text =
            format!(r#"{{"key": "-----BEGIN PRIVATE KEY-----\n{BODY_LINE}\n-----END PRIVATE KEY-----\n"}}"#);
        let start = text.find("-----BEGIN").unwrap();
        let end = text.find("-----END PRIVATE KEY-----").unwrap() + "-----END PRIVATE KEY-----".len();
        assert_eq!(find(&text), vec![start..end]);
    }

    #[test]
    fn truncated_block_runs_through_its_base64_lines() {
        let text = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{BODY_LINE}\n{BODY_LINE}\n    return key\n");
        let end = text.find("\n    return").unwrap();
        assert_eq!(find(&text), vec![0..end]);
    }

    #[test]
    fn markers_without_a_body_are_not_keys() {
        let text = "if line == \"-----BEGIN RSA PRIVATE KEY-----\":\n    in_key = True\nelif line == \"-----END RSA PRIVATE KEY-----\":\n    in_key = False\n";
        assert!(find(text).is_empty());
        let template = "pem = \"-----BEGIN PRIVATE KEY-----\\n\" + body + \"\\n-----END PRIVATE KEY-----\"";
        assert!(find(template).is_empty());
    }

    #[test]
    fn public_keys_and_certificates_are_not_private_keys() {
        let text = format!("-----BEGIN PUBLIC KEY-----\n{BODY_LINE}\n-----END PUBLIC KEY-----");
        assert!(find(&text).is_empty());
        let text = format!("-----BEGIN CERTIFICATE-----\n{BODY_LINE}\n-----END CERTIFICATE-----");
        assert!(find(&text).is_empty());
    }
}
