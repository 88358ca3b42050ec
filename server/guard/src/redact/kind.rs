//! The kinds of sensitive value that redaction recognises, and what each is called in placeholders.

use std::fmt;

/// What a sensitive value is: a secret (a credential that grants access) or personal data (PII).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SensitiveKind {
    /// AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKeyId,
    /// AWS secret access key: 40 base64 characters assigned to a name mentioning AWS and secret.
    AwsSecretAccessKey,
    /// Google Cloud API key (`AIza…`).
    GcpApiKey,
    /// GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GitHubToken,
    /// GitLab token (`glpat-`, `gldt-`, `glptt-`, `glrt-`, …).
    GitLabToken,
    /// Slack token (`xoxb-`, `xoxp-`, `xapp-`, …).
    SlackToken,
    /// Slack incoming-webhook URL (`hooks.slack.com/services/…`).
    SlackWebhook,
    /// Stripe secret or restricted key (`sk_live_`, `rk_live_`, `sk_test_`) or webhook secret (`whsec_`).
    StripeKey,
    /// OpenAI API key (`sk-proj-…` and the older `sk-…T3BlbkFJ…`).
    OpenAiKey,
    /// Anthropic API key (`sk-ant-api03-…`).
    AnthropicKey,
    /// Hugging Face access token (`hf_…`).
    HuggingFaceToken,
    /// npm access token (`npm_…`).
    NpmToken,
    /// Azure storage account key, Service Bus shared access key, or SAS signature.
    AzureKey,
    /// A PEM or PGP private key block, from the BEGIN line through the END line.
    PrivateKey,
    /// A JSON Web Token (three base64url segments, the first starting `eyJ`).
    Jwt,
    /// The credentials of an HTTP `Bearer` or `Basic` authorization.
    AuthorizationHeader,
    /// The password in a URL's user info (`scheme://user:password@host`).
    UrlPassword,
    /// A high-entropy value assigned to a name like `password`, `passwd` or `pwd`.
    Password,
    /// A high-entropy value assigned to a name like `secret`, `token` or `api_key`.
    GenericSecret,
    /// An email address.
    Email,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A phone number, in international (`+…`) or North American form.
    PhoneNumber,
    /// A payment card number that passes the Luhn check.
    CardNumber,
}

impl SensitiveKind {
    /// Every kind, secrets first.
    pub const ALL: [SensitiveKind; 23] = [
        SensitiveKind::AwsAccessKeyId,
        SensitiveKind::AwsSecretAccessKey,
        SensitiveKind::GcpApiKey,
        SensitiveKind::GitHubToken,
        SensitiveKind::GitLabToken,
        SensitiveKind::SlackToken,
        SensitiveKind::SlackWebhook,
        SensitiveKind::StripeKey,
        SensitiveKind::OpenAiKey,
        SensitiveKind::AnthropicKey,
        SensitiveKind::HuggingFaceToken,
        SensitiveKind::NpmToken,
        SensitiveKind::AzureKey,
        SensitiveKind::PrivateKey,
        SensitiveKind::Jwt,
        SensitiveKind::AuthorizationHeader,
        SensitiveKind::UrlPassword,
        SensitiveKind::Password,
        SensitiveKind::GenericSecret,
        SensitiveKind::Email,
        SensitiveKind::IpAddress,
        SensitiveKind::PhoneNumber,
        SensitiveKind::CardNumber,
    ];

    /// The kebab-case name used in placeholders: `<secret:github-token>`, `<email:3f9a1c0b7d2e>`.
    pub fn name(self) -> &'static str {
        match self {
            SensitiveKind::AwsAccessKeyId => "aws-access-key-id",
            SensitiveKind::AwsSecretAccessKey => "aws-secret-access-key",
            SensitiveKind::GcpApiKey => "gcp-api-key",
            SensitiveKind::GitHubToken => "github-token",
            SensitiveKind::GitLabToken => "gitlab-token",
            SensitiveKind::SlackToken => "slack-token",
            SensitiveKind::SlackWebhook => "slack-webhook",
            SensitiveKind::StripeKey => "stripe-key",
            SensitiveKind::OpenAiKey => "openai-key",
            SensitiveKind::AnthropicKey => "anthropic-key",
            SensitiveKind::HuggingFaceToken => "huggingface-token",
            SensitiveKind::NpmToken => "npm-token",
            SensitiveKind::AzureKey => "azure-key",
            SensitiveKind::PrivateKey => "private-key",
            SensitiveKind::Jwt => "jwt",
            SensitiveKind::AuthorizationHeader => "authorization-header",
            SensitiveKind::UrlPassword => "url-password",
            SensitiveKind::Password => "password",
            SensitiveKind::GenericSecret => "generic-secret",
            SensitiveKind::Email => "email",
            SensitiveKind::IpAddress => "ip",
            SensitiveKind::PhoneNumber => "phone",
            SensitiveKind::CardNumber => "card",
        }
    }

    /// True for credentials (replaced by a typed placeholder, refused as suggestions); false for
    /// personal data (replaced by a keyed hash so equal values stay linkable).
    pub fn is_secret(self) -> bool {
        !matches!(
            self,
            SensitiveKind::Email
                | SensitiveKind::IpAddress
                | SensitiveKind::PhoneNumber
                | SensitiveKind::CardNumber
        )
    }
}

impl fmt::Display for SensitiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_distinct_kebab_case() {
        let names: HashSet<&str> = SensitiveKind::ALL.iter().map(|kind| kind.name()).collect();
        assert_eq!(names.len(), SensitiveKind::ALL.len());
        for name in names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{name}");
        }
    }

    #[test]
    fn secrets_come_before_personal_data() {
        let first_pii = SensitiveKind::ALL.iter().position(|kind| !kind.is_secret()).unwrap();
        assert!(SensitiveKind::ALL[..first_pii].iter().all(|kind| kind.is_secret()));
        assert!(SensitiveKind::ALL[first_pii..].iter().all(|kind| !kind.is_secret()));
    }
}
