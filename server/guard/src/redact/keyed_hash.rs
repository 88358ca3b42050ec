//! Keyed hashes that stand in for personal data: equal values map to equal tokens within one
//! installation, and nobody without the installation's key can test a guess.

use std::borrow::Cow;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SensitiveKind;

/// Hex characters of the HMAC kept in a token: 48 bits, so two distinct values collide with
/// probability about n²/2⁴⁹ — negligible for the few thousand addresses one installation sees —
/// while tokens stay short enough to read in a stored prompt.
pub const PII_TOKEN_HEX_CHARS: usize = 12;

/// The first [`PII_TOKEN_HEX_CHARS`] lowercase hex characters of HMAC-SHA256(`key`, `value`).
pub(crate) fn keyed_digest(key: &[u8; 32], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(PII_TOKEN_HEX_CHARS);
    for byte in digest.iter().take(PII_TOKEN_HEX_CHARS.div_ceil(2)) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex.truncate(PII_TOKEN_HEX_CHARS);
    hex
}

/// `value` written one way, so spellings of the same value share a token: emails in lower case,
/// IP addresses in their standard form (`2001:0db8::0001` → `2001:db8::1`), card and phone
/// numbers as their digits (and a phone's leading `+`).
pub(crate) fn canonical(kind: SensitiveKind, value: &str) -> Cow<'_, str> {
    match kind {
        SensitiveKind::Email => Cow::Owned(value.to_lowercase()),
        SensitiveKind::IpAddress => match value.parse::<IpAddr>() {
            Ok(address) => Cow::Owned(address.to_string()),
            Err(_) => Cow::Borrowed(value),
        },
        SensitiveKind::CardNumber | SensitiveKind::PhoneNumber => {
            Cow::Owned(value.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect())
        }
        _ => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_key_same_digest() {
        let key = [1u8; 32];
        let digest = keyed_digest(&key, "alice@example.com");
        assert_eq!(digest.len(), PII_TOKEN_HEX_CHARS);
        assert!(digest.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(digest, keyed_digest(&key, "alice@example.com"));
        assert_ne!(digest, keyed_digest(&key, "bob@example.com"));
        assert_ne!(digest, keyed_digest(&[2u8; 32], "alice@example.com"));
    }

    #[test]
    fn spellings_of_one_value_share_a_canonical_form() {
        use SensitiveKind::*;
        assert_eq!(canonical(Email, "Alice@Example.COM"), "alice@example.com");
        assert_eq!(canonical(IpAddress, "2001:0db8:0000::0001"), "2001:db8::1");
        assert_eq!(canonical(IpAddress, "203.0.113.42"), "203.0.113.42");
        assert_eq!(canonical(CardNumber, "4539 1488-0343 6467"), "4539148803436467");
        assert_eq!(canonical(PhoneNumber, "+44 (20) 7946-0958"), "+442079460958");
    }
}
