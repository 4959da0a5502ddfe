//! One error type for the Stripe boundary. Messages come from Stripe's `error.message` (never from our
//! request), and are scrubbed of the secret key anyway, so they can be logged.

use crate::backend::clients::http;

/// Everything a Stripe call can fail with. A declined card on an off-session charge is *not* an error: see
/// [`super::StripeClient::charge_off_session`].
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Connection refused, reset, DNS, TLS… The call may or may not have taken effect: retry with the same
    /// idempotency key.
    #[error("could not reach Stripe: {0}")]
    Transport(String),
    /// No complete answer within the configured timeout. The call may still have taken effect: retry with the
    /// same idempotency key.
    #[error("Stripe did not answer in time")]
    Timeout,
    /// Stripe answered with an `error` object: `type_` is Stripe's `error.type` (`invalid_request_error`,
    /// `authentication_error`, `idempotency_error`, `card_error`, `rate_limit_error`, `api_error`), `code` its
    /// `error.code` (`resource_missing`, `amount_too_small`, …).
    #[error("Stripe refused the request (HTTP {status}, {type_}{}): {message}", code_suffix(.code.as_deref()))]
    Api {
        status: u16,
        type_: String,
        code: Option<String>,
        /// The request parameter at fault, when Stripe names one.
        param: Option<String>,
        message: String,
    },
    /// Stripe answered something we could not understand.
    #[error("unexpected answer from Stripe: {0}")]
    Decode(String),
    /// Our configuration is unusable (bad URL, empty key…).
    #[error("Stripe client misconfigured: {0}")]
    Config(String),
    /// Refused before sending: an argument can never be valid (a non-positive amount, a malformed currency…).
    #[error("invalid Stripe request: {0}")]
    InvalidArgument(String),
}

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(", {c}")).unwrap_or_default()
}

impl StripeError {
    /// Worth retrying later with the same request and idempotency key: no answer, a rate limit, a 5xx, or
    /// Stripe still processing an earlier request with the same key (409).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout => true,
            Self::Api { status, .. } => *status == 409 || *status == 429 || *status >= 500,
            Self::Decode(_) | Self::Config(_) | Self::InvalidArgument(_) => false,
        }
    }

    /// The object asked for does not exist in this Stripe account (`resource_missing`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { code: Some(code), .. } if code == "resource_missing")
    }

    /// The secret key was refused (HTTP 401).
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Api { status: 401, .. })
    }

    /// The idempotency key was already used with different parameters (`idempotency_error`).
    pub fn is_idempotency_conflict(&self) -> bool {
        matches!(self, Self::Api { type_, .. } if type_ == "idempotency_error")
    }

    /// The same error with every occurrence of `secret` blanked out, should anything ever echo it back.
    pub(crate) fn redact(self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let scrub = |s: String| http::redact(s, secret);
        match self {
            Self::Transport(m) => Self::Transport(scrub(m)),
            Self::Api { status, type_, code, param, message } => Self::Api {
                status,
                type_: scrub(type_),
                code: code.map(scrub),
                param: param.map(scrub),
                message: scrub(message),
            },
            Self::Decode(m) => Self::Decode(scrub(m)),
            Self::Config(m) => Self::Config(scrub(m)),
            Self::InvalidArgument(m) => Self::InvalidArgument(scrub(m)),
            Self::Timeout => Self::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, type_: &str, code: Option<&str>) -> StripeError {
        StripeError::Api {
            status,
            type_: type_.into(),
            code: code.map(str::to_owned),
            param: None,
            message: "m".into(),
        }
    }

    #[test]
    fn retryable_is_no_answer_rate_limits_conflicts_and_server_errors() {
        assert!(StripeError::Timeout.is_retryable());
        assert!(StripeError::Transport("reset".into()).is_retryable());
        assert!(api(429, "rate_limit_error", None).is_retryable());
        assert!(api(500, "api_error", None).is_retryable());
        assert!(api(409, "idempotency_error", None).is_retryable());
        assert!(!api(400, "invalid_request_error", None).is_retryable());
        assert!(!api(401, "authentication_error", None).is_retryable());
        assert!(!StripeError::Decode("x".into()).is_retryable());
    }

    #[test]
    fn display_names_status_type_and_code() {
        let e = api(404, "invalid_request_error", Some("resource_missing"));
        assert_eq!(e.to_string(), "Stripe refused the request (HTTP 404, invalid_request_error, resource_missing): m");
        assert!(e.is_not_found());
        assert_eq!(
            api(401, "authentication_error", None).to_string(),
            "Stripe refused the request (HTTP 401, authentication_error): m"
        );
    }

    #[test]
    fn redact_blanks_the_secret_everywhere() {
        let e = StripeError::Api {
            status: 401,
            type_: "authentication_error".into(),
            code: None,
            param: Some("sk_test_abc".into()),
            message: "Invalid API Key provided: sk_test_abc".into(),
        }
        .redact("sk_test_abc");
        assert!(!format!("{e} {e:?}").contains("sk_test_abc"));
    }
}
