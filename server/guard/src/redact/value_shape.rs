//! Telling a secret value from code and prose by its shape: randomness, templates, identifiers,
//! paths and number literals.
//!
//! The assignment rules (`password = …`, `token: …`) see every value assigned to a
//! secret-sounding name, most of which are code (`token = tokens[0]`, `pub token: super::Token`)
//! or placeholders (`"your-api-key"`). These checks keep those out.

use super::entropy::shannon_entropy;

/// Fewest characters a value assigned to a secret-sounding name needs to count as a secret.
/// Shorter values (`"abc"`, `"1234"`) are more often test stubs than credentials.
pub const MIN_SECRET_VALUE_CHARS: usize = 8;

/// Fewest bits of Shannon entropy per character a value assigned to a secret-sounding name needs
/// to count as a secret. `changeme` and `password` have 2.75; eight distinct characters give
/// exactly 3.0; generated secrets of 16+ characters have 3.5–5.
pub const MIN_SECRET_VALUE_ENTROPY: f64 = 3.0;

/// Mean letters per word at which a mixed-case identifier reads as words (`someVariableName2`:
/// 5.3, `MI_UserCredentials_0`: 5.7) rather than as random characters. In 2,000 random base62
/// strings of 32 characters the mean was 2.1 and the 99th percentile 3.2.
pub const MIN_IDENTIFIER_WORD_LETTERS: f64 = 4.0;

/// Long enough, random enough, one word, and not a template, placeholder or URL.
pub(crate) fn looks_random(value: &str) -> bool {
    value.chars().count() >= MIN_SECRET_VALUE_CHARS
        && !value.chars().any(char::is_whitespace)
        && !is_template(value)
        && !is_plain_words(value)
        && !value.contains("://")
        && shannon_entropy(value) >= MIN_SECRET_VALUE_ENTROPY
}

/// A reference to a value kept elsewhere: `${DB_PASSWORD}`, `$TOKEN`, `%(password)s`,
/// `{{ secret }}`, `<your-token>` — and this crate's own placeholders.
pub(crate) fn is_template(value: &str) -> bool {
    value.starts_with(['$', '%', '{', '<'])
}

/// Words of one case joined by separators: `your-api-key-here`, `CHANGE_ME`, `/run/secrets/db`.
pub(crate) fn is_plain_words(value: &str) -> bool {
    let separators = ['_', '-', '.', '/', ':'];
    let all_lower = value.chars().all(|c| c.is_ascii_lowercase() || separators.contains(&c));
    let all_upper = value.chars().all(|c| c.is_ascii_uppercase() || separators.contains(&c));
    all_lower || all_upper
}

/// Code rather than a value, for a value written without quotes: a path (`settings.API_KEY2`,
/// `super::Win32::HANDLE`), a number literal (`0x8031006C_u32`, `-2147217308i32`), or an
/// identifier made of words (see [`is_identifier_of_words`]).
pub(crate) fn is_code(value: &str) -> bool {
    value.contains("::") || is_dotted_path(value) || is_number_literal(value) || is_identifier_of_words(value)
}

/// `settings.SECRET_KEY2`, `self.token1`: member access, not a value.
fn is_dotted_path(value: &str) -> bool {
    value.contains('.') && value.split('.').all(is_identifier)
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `4096`, `-1540i32`, `0xC004C328_u32`, `1_000_000u64`, `3.5e10`: a number, typed or not.
fn is_number_literal(value: &str) -> bool {
    const TYPE_SUFFIXES: &[&str] = &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32", "f64",
    ];
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let number = TYPE_SUFFIXES
        .iter()
        .find_map(|suffix| unsigned.strip_suffix(suffix))
        .unwrap_or(unsigned)
        .trim_end_matches('_');
    if let Some(hex) = number.strip_prefix("0x").or_else(|| number.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    number.starts_with(|c: char| c.is_ascii_digit())
        && number.chars().all(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | 'e' | 'E' | '+' | '-'))
}

/// An identifier made of words: snake or screaming case (`IKEEXT_CREDENTIAL0`,
/// `STORAGE_TOKEN_0_0`), or mixed case whose words average at least
/// [`MIN_IDENTIFIER_WORD_LETTERS`] letters (`someVariableName2`, `_EllipticCurvePrivateKey`).
/// A random mixed-case string (`Kq8_vR2xLm`) splits into words of one or two letters.
pub(crate) fn is_identifier_of_words(value: &str) -> bool {
    if !is_identifier(value) {
        return false;
    }
    let has_lower = value.chars().any(|c| c.is_ascii_lowercase());
    let has_upper = value.chars().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        mean_word_letters(value) >= MIN_IDENTIFIER_WORD_LETTERS
    } else {
        value.contains('_')
    }
}

/// Mean letters per word, splitting at non-letters and at camel-case humps (`HTTPServer` is
/// `HTTP` + `Server`); 0 when there are no letters.
fn mean_word_letters(value: &str) -> f64 {
    let chars: Vec<char> = value.chars().collect();
    let mut n_words = 0usize;
    let mut n_letters = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphabetic() {
            continue;
        }
        let previous = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let starts_word = match previous {
            Some(previous) if previous.is_ascii_alphabetic() => {
                c.is_ascii_uppercase()
                    && (previous.is_ascii_lowercase() || next.is_some_and(|next| next.is_ascii_lowercase()))
            }
            _ => true,
        };
        n_words += usize::from(starts_word);
        n_letters += 1;
    }
    if n_words == 0 {
        0.0
    } else {
        n_letters as f64 / n_words as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_not_code() {
        for value in ["Xy7q9Lm2Vb4", "2YotnFZFEjr1zCsicMWpAA", "Kq8_vR2xLm", "a8f3k2j9x1", "JBSWY3DPEHPK3PXP"]
        {
            assert!(looks_random(value), "{value}");
            assert!(!is_code(value), "{value}");
        }
    }

    #[test]
    fn code_shapes() {
        for value in [
            "super::super::Win32::Foundation::HANDLE",
            "crate::__u32",
            "settings.API_KEY2",
            "0x8031006C_u32",
            "-2147217308i32",
            "14095u32",
            "1_000_000",
            "3.5e10",
            "IKEEXT_CREDENTIAL0",
            "STORAGE_OFFLOAD_TOKEN_0_0",
            "MI_UserCredentials_0",
            "someVariableName2",
            "_EllipticCurvePrivateKey",
            "__X32_SYSCALL_BIT",
        ] {
            assert!(is_code(value), "{value}");
        }
    }

    #[test]
    fn word_lengths_split_at_humps() {
        assert_eq!(mean_word_letters("HTTPServer"), 5.0);
        assert_eq!(mean_word_letters("someVariableName"), 16.0 / 3.0);
        assert_eq!(mean_word_letters("a1B2"), 1.0);
        assert_eq!(mean_word_letters("1234"), 0.0);
    }

    #[test]
    fn placeholders_and_prose_do_not_look_random() {
        for value in [
            "changeme",
            "your-api-key-here",
            "CHANGE_ME_PLEASE",
            "${API_TOKEN}",
            "<token>",
            "two words",
            "https://example.com/a1",
        ] {
            assert!(!looks_random(value), "{value}");
        }
    }
}
