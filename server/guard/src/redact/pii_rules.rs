//! Personal data: email addresses, IP addresses, phone numbers and payment card numbers.
//!
//! Each pattern finds candidates and a check in Rust rejects what only looks similar in code:
//! version strings, plain integers, numbers that fail the Luhn check, `std::fs` paths.

use std::net::Ipv6Addr;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::card::is_card_number;
use super::{Finding, SensitiveKind};

/// Fewest digits (country code included) of an international phone number: the shortest
/// national numbers plus a country code reach 9, and shorter `+…` runs are arithmetic in code.
pub const MIN_INTERNATIONAL_PHONE_DIGITS: usize = 9;

/// Most digits of an international phone number, from E.164.
pub const MAX_INTERNATIONAL_PHONE_DIGITS: usize = 15;

/// Fewest and most digits of a payment card number (ISO/IEC 7812).
pub const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Digits of a card number written without separators. Cards of 13, 17, 18 and 19 digits are
/// rare, while 17–19-digit integers are common in code (`u64` and `i64` constants), so a bare run
/// of those lengths is taken for an integer; written in groups (`4111 1111 1111 1111 111`) it is
/// still a card.
pub const UNSEPARATED_CARD_DIGITS: std::ops::RangeInclusive<usize> = 14..=16;

/// Bytes before an IPv4-looking value searched for a `version` key: `version = "1.2.3.4"` and
/// `Version 10.0.19041.1` are versions, not addresses.
const VERSION_LOOKBEHIND_BYTES: usize = 32;

/// Local parts of addresses that belong to services, not people (`git@github.com:org/repo`).
const NON_PERSONAL_EMAIL_LOCAL_PARTS: &[&str] = &["git"];

/// Image extensions that look like top-level domains in retina asset names (`logo@2x.png`).
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp"];

struct PiiRule {
    kind: SensitiveKind,
    regex: Regex,
    accept: fn(&str, Range<usize>) -> bool,
}

static RULES: LazyLock<Vec<PiiRule>> = LazyLock::new(|| {
    use SensitiveKind::*;
    vec![
        rule(
            Email,
            r"\b[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b",
            email,
        ),
        rule(IpAddress, r"\b(?:\d{1,3}\.){3}\d{1,3}\b", ipv4),
        rule(IpAddress, r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*", ipv6),
        rule(PhoneNumber, r"\+[1-9]\d{0,2}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,4})){1,6}", international_phone),
        rule(
            PhoneNumber,
            r"(?:\b1[ .-])?(?:\(\d{3}\)[ ]?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b",
            north_american_phone,
        ),
        rule(
            CardNumber,
            r"\b(?:\d{4}[ -]){3}\d{1,4}(?:[ -]?\d{1,3})?\b|\b\d{4}[ -]\d{6}[ -]\d{4,5}\b|\b\d{13,19}\b",
            card,
        ),
    ]
});

fn rule(kind: SensitiveKind, pattern: &str, accept: fn(&str, Range<usize>) -> bool) -> PiiRule {
    PiiRule { kind, regex: Regex::new(pattern).expect("built-in personal data pattern compiles"), accept }
}

/// Appends every piece of personal data in `text` to `out`.
pub(crate) fn find(text: &str, out: &mut Vec<Finding>) {
    for rule in RULES.iter() {
        for found in rule.regex.find_iter(text) {
            let range = trim_ipv6_candidate(rule.kind, text, found.range());
            if !range.is_empty() && (rule.accept)(text, range.clone()) {
                out.push(Finding { kind: rule.kind, range });
            }
        }
    }
}

/// The IPv6 pattern takes a maximal run of hex digits, colons and dots; a sentence may end it
/// with `.` or `:` (`reach fe80::1.`).
fn trim_ipv6_candidate(kind: SensitiveKind, text: &str, range: Range<usize>) -> Range<usize> {
    if kind != SensitiveKind::IpAddress || !text[range.clone()].contains(':') {
        return range;
    }
    let candidate = &text[range.clone()];
    let mut trimmed = candidate.trim_end_matches('.');
    if trimmed.ends_with(':') && !trimmed.ends_with("::") {
        trimmed = &trimmed[..trimmed.len() - 1];
    }
    range.start..range.start + trimmed.len()
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True when `at` is followed by `.` or `-` and a digit: the match is the start of a longer number
/// (`1.2.3.4.5`, `415-555-2671-99`).
fn continues_as_number(text: &str, at: usize) -> bool {
    let mut rest = text[at..].chars();
    matches!(rest.next(), Some('.' | '-')) && rest.next().is_some_and(|c| c.is_ascii_digit())
}

fn email(text: &str, range: Range<usize>) -> bool {
    let address = &text[range.clone()];
    let (local, domain) = address.split_once('@').expect("the email pattern has an @");
    let top_level = domain.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    !NON_PERSONAL_EMAIL_LOCAL_PARTS.iter().any(|service| local.eq_ignore_ascii_case(service))
        && !IMAGE_EXTENSIONS.contains(&top_level.as_str())
        && !is_url_password(text, range.start)
}

/// True when the text before `at` is `scheme://user:`: what follows is a URL's password and its
/// host (`postgres://app:S3cret@db.example.com`), which the URL password rule redacts.
fn is_url_password(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let before = &text[line_start..at];
    let Some(scheme_end) = before.rfind("://") else { return false };
    let user_info = &before[scheme_end + 3..];
    user_info.ends_with(':') && !user_info.contains(['/', '@', ' ', '\t'])
}

/// Four octets 0–255 written without leading zeros, not part of a longer dotted number, not a
/// version, and not an address that identifies nobody: `0.x.x.x` (this network), `127.x.x.x`
/// (loopback), 224 and above (multicast, reserved, netmasks like `255.255.255.0`), and four
/// single digits (public resolvers like `1.1.1.1` and `8.8.4.4`, but far more often versions
/// and section numbers like `2.7.2.2` or `8.1.2.2`). Private ranges (`10.x`, `192.168.x`) are
/// redacted: they map a company's network.
fn ipv4(text: &str, range: Range<usize>) -> bool {
    if char_before(text, range.start) == Some('.') || continues_as_number(text, range.end) {
        return false;
    }
    let octets: Vec<&str> = text[range.clone()].split('.').collect();
    let valid = octets.iter().all(|octet| {
        !(octet.len() > 1 && octet.starts_with('0')) && octet.parse::<u16>().is_ok_and(|value| value <= 255)
    });
    if !valid {
        return false;
    }
    let first: u16 = octets[0].parse().expect("checked above");
    if first == 0 || first == 127 || first >= 224 || octets.iter().all(|octet| octet.len() == 1) {
        return false;
    }
    !follows_version_key(text, range.start)
}

static VERSION_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)version["'`]?[ \t]*(?:[:=]|=>)?[ \t]*["'`]?\z"#)
        .expect("built-in version pattern compiles")
});

fn follows_version_key(text: &str, at: usize) -> bool {
    let mut from = at.saturating_sub(VERSION_LOOKBEHIND_BYTES);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    VERSION_KEY.is_match(&text[from..at])
}

/// A valid IPv6 address other than `::` and `::1`, standing alone (not `std::fs` or a
/// timestamp's `12:30:45`), with a digit and either a four-digit group or all eight groups, so
/// Python slices (`a[1::2]`) and Rust paths between hex-named items (`abc::def`) are not addresses.
fn ipv6(text: &str, range: Range<usize>) -> bool {
    let candidate = &text[range.clone()];
    if char_before(text, range.start).is_some_and(is_word_char)
        || char_after(text, range.end).is_some_and(is_word_char)
    {
        return false;
    }
    let Ok(address) = candidate.parse::<Ipv6Addr>() else { return false };
    if address.is_unspecified() || address.is_loopback() {
        return false;
    }
    let groups: Vec<&str> = candidate.split(':').collect();
    let has_long_group = groups.iter().any(|group| group.len() == 4 || group.contains('.'));
    let is_full_form = !candidate.contains("::") && groups.len() == 8;
    candidate.bytes().any(|b| b.is_ascii_digit()) && (has_long_group || is_full_form)
}

fn digits_of(text: &str) -> Vec<u8> {
    text.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect()
}

/// `+44 20 7946 0958`, `+14155552671`, `+1 (415) 555-2671`: 9–15 digits, standing alone, and not
/// a signed decimal (`+1.23456789`).
fn international_phone(text: &str, range: Range<usize>) -> bool {
    let number = &text[range.clone()];
    let n_digits = digits_of(number).len();
    let before_ok =
        !char_before(text, range.start).is_some_and(|c| is_word_char(c) || matches!(c, ')' | ']' | '.'));
    let after_ok =
        !char_after(text, range.end).is_some_and(is_word_char) && !continues_as_number(text, range.end);
    let is_decimal = number.matches(['.', ' ', '-', '(']).count() == 1 && number.contains('.');
    (MIN_INTERNATIONAL_PHONE_DIGITS..=MAX_INTERNATIONAL_PHONE_DIGITS).contains(&n_digits)
        && before_ok
        && after_ok
        && !is_decimal
}

/// `(415) 555-2671`, `415-555-2671`, `415.555.2671`, `1-800-555-0199`: separators are required
/// (a bare `4155552671` is as likely an integer in code), and the area code and exchange start
/// with 2–9 as the North American Numbering Plan requires.
fn north_american_phone(text: &str, range: Range<usize>) -> bool {
    if char_before(text, range.start).is_some_and(|c| is_word_char(c) || matches!(c, '.' | '-' | '+' | '/'))
        || continues_as_number(text, range.end)
    {
        return false;
    }
    let mut digits = digits_of(&text[range]);
    if digits.len() == 11 {
        digits.remove(0);
    }
    digits.len() == 10 && digits[0] >= 2 && digits[3] >= 2
}

/// 13–19 digits, optionally in groups separated by one kind of separator, not part of a decimal,
/// with a known issuer prefix and length and a valid Luhn check digit.
fn card(text: &str, range: Range<usize>) -> bool {
    let number = &text[range.clone()];
    if matches!(char_before(text, range.start), Some('.' | '-' | '+')) || continues_as_number(text, range.end)
    {
        return false;
    }
    if number.contains(' ') && number.contains('-') {
        return false;
    }
    let digits = digits_of(number);
    let lengths = if number.contains([' ', '-']) { CARD_DIGITS } else { UNSEPARATED_CARD_DIGITS };
    lengths.contains(&digits.len()) && is_card_number(&digits)
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
    fn ipv4_addresses_and_lookalikes() {
        assert_eq!(found("host 203.0.113.7 up"), vec![(SensitiveKind::IpAddress, "203.0.113.7")]);
        assert_eq!(found("listen 10.0.0.12:8080"), vec![(SensitiveKind::IpAddress, "10.0.0.12")]);
        for text in [
            "version = \"1.2.3.4\"",
            "Version 10.0.19041.1",
            "v1.2.3.4",
            "1.2.3.4.5",
            "256.1.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.0",
            "01.02.03.04",
            "semver 1.2.3",
            "section 8.1.2.2",
            "nameserver 8.8.4.4",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn ipv6_addresses_and_lookalikes() {
        assert_eq!(
            found("peer 2001:db8::8a2e:370:7334."),
            vec![(SensitiveKind::IpAddress, "2001:db8::8a2e:370:7334")]
        );
        assert_eq!(found("http://[fe80::1]:8080/"), vec![(SensitiveKind::IpAddress, "fe80::1")]);
        for text in
            ["use std::fs;", "a[1::2]", "12:30:45", "00:1a:2b:3c:4d:5e", "::1", "cafe::beef", "Foo::Bar::baz"]
        {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn phone_numbers_and_integers() {
        for phone in ["+44 20 7946 0958", "+14155552671", "(415) 555-2671", "415-555-2671", "1-800-555-0199"]
        {
            let text = format!("call {phone} now");
            assert_eq!(found(&text), vec![(SensitiveKind::PhoneNumber, phone)], "{text}");
        }
        for text in ["x = 4155552671", "n = a +12345", "x = +1.23456789", "id 123-456-7890", "2024-555-1234"]
        {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn card_numbers_need_luhn_and_a_network_prefix() {
        for number in ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "6011000990139424"] {
            let text = format!("card: {number}.");
            assert_eq!(found(&text), vec![(SensitiveKind::CardNumber, number)], "{text}");
        }
        assert_eq!(
            found("card 4111 1111 1111 1111 110."),
            vec![(SensitiveKind::CardNumber, "4111 1111 1111 1111 110")],
            "19 digits in groups"
        );
        for text in [
            "4111 1111 1111 1112",
            "1700000000000000",
            "3.4111111111111111",
            "4111-1111 1111-1111",
            "const POW: u64 = 4640401278902814207;",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }

    #[test]
    fn emails_and_lookalikes() {
        assert_eq!(
            found("mail alice.smith+wisp@example.co.uk"),
            vec![(SensitiveKind::Email, "alice.smith+wisp@example.co.uk")]
        );
        for text in [
            "git@github.com:org/repo.git",
            "logo@2x.png",
            "lodash@4.17.21",
            "@app.route(\"/\")",
            "user@localhost",
        ] {
            assert_eq!(found(text), vec![], "{text}");
        }
    }
}
