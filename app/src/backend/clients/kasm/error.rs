//! One error type for the Kasm boundary. Messages come from Kasm's `error_message` (never from our request),
//! so they can be logged; `user_message` is the short text a customer may see.

use crate::backend::clients::http;

/// Everything a Kasm call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum KasmError {
    /// HTTP 200 carrying `error_message` (or `error`): Kasm refused, e.g. "Kasm limit exceeded for user: (x)".
    #[error("Kasm refused the request: {0}")]
    Business(String),
    /// 401 or 403 (Kasm uses both for bad keys and missing permissions).
    #[error("Kasm rejected the API credentials or permissions (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// Any other 4xx except 429.
    #[error("Kasm rejected the request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    /// 429.
    #[error("Kasm is rate limiting us (HTTP 429)")]
    RateLimited,
    /// 5xx (also what a proxy answers when Kasm is down).
    #[error("Kasm server error (HTTP {status})")]
    Server { status: u16 },
    /// No complete answer within the configured timeout. The call may still have taken effect.
    #[error("Kasm did not answer in time")]
    Timeout,
    /// Connection refused, reset, DNS, TLS… The call may or may not have taken effect.
    #[error("could not reach Kasm: {0}")]
    Transport(String),
    /// Kasm answered something we could not understand.
    #[error("unexpected answer from Kasm: {0}")]
    Decode(String),
    /// Our configuration is unusable (bad URL, empty key…).
    #[error("Kasm client misconfigured: {0}")]
    Config(String),
    /// Not sent: this Kasm server failed repeatedly and the client's circuit breaker is failing fast until
    /// its cool-down is over. Nothing happened on the Kasm side.
    #[error("Kasm calls are suspended after repeated failures (circuit breaker open)")]
    CircuitOpen {
        /// How long until the breaker lets a call through again: a caller with work queued waits this long
        /// instead of spending a retry on an answer it already knows.
        retry_in: std::time::Duration,
    },
}

/// What kind of business refusal a [`KasmError::Business`] is, recognised from Kasm's message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KasmBusinessKind {
    /// "Kasm limit exceeded for user: (x)": the per-user session cap.
    UserSessionLimit,
    /// "Per concurrent session license limit exceeded…" or "Per named user license limit exceeded…".
    LicenseLimit,
    /// "No resources are available to create the requested Kasm".
    NoResources,
    /// "Usage limit exceeded for user".
    UsageLimit,
    /// "Image Not Authorized" / "No Default Image Found".
    ImageUnavailable,
    /// Stop/pause/resume refused because of the session's current state.
    InvalidState,
    /// The session does not exist (any more).
    NotFound,
    Other,
}

impl KasmBusinessKind {
    pub fn classify(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("kasm limit exceeded") {
            Self::UserSessionLimit
        } else if m.contains("license limit exceeded") {
            Self::LicenseLimit
        } else if m.contains("no resources are available") {
            Self::NoResources
        } else if m.contains("usage limit exceeded") {
            Self::UsageLimit
        } else if m.contains("image not authorized") || m.contains("no default image") {
            Self::ImageUnavailable
        } else if m.contains("not in a valid state") || m.contains("cannot be resumed") || m.contains("currently") {
            Self::InvalidState
        } else if m.contains("no session found") || m.contains("could not find requested kasm") {
            Self::NotFound
        } else {
            Self::Other
        }
    }
}

/// The user does not exist (any more), in the words Kasm uses for it: "Unknown user (<id>)" from the
/// user-management endpoints, "Invalid user_id (<id>)" from the layer that resolves `user_id` on session
/// calls, "No user found with id: (<id>)" from `get_login`. A bare "Invalid Request" is NOT one: there it
/// means a malformed request.
pub(crate) fn is_gone_user(message: &str) -> bool {
    let m = message.trim().to_ascii_lowercase();
    m.contains("unknown user") || m.contains("no user found") || m.starts_with("invalid user_id")
}

impl KasmError {
    /// Kasm does not know the user we named (its admin deleted it, or its database was reset or restored),
    /// whether it said so with a 400 or a 200 refusal. The caller can re-create the user and carry on.
    pub fn is_unknown_user(&self) -> bool {
        match self {
            Self::Business(m) | Self::BadRequest { message: m, .. } => is_gone_user(m),
            _ => false,
        }
    }

    /// Worth retrying later with the same request: the failure was transient or the outcome is unknown.
    /// Note that after `Timeout`/`Transport`/`Server` a non-idempotent call (`request_kasm`) may have
    /// succeeded: look for the session before asking again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Transport(_) | Self::Server { .. } | Self::RateLimited | Self::CircuitOpen { .. }
        )
    }

    /// A sign that the Kasm server itself is unwell (what the circuit breaker counts): no answer, or a 5xx.
    /// Refusals, 4xx and 429 are answers from a working server.
    pub(crate) fn is_transient_failure(&self) -> bool {
        matches!(self, Self::Timeout | Self::Transport(_) | Self::Server { .. })
    }

    /// The same error with every occurrence of `secret` blanked out. Kasm's messages are echoed in our errors
    /// and logs; should a server or proxy ever echo the request back, the API secret must not ride along.
    pub(crate) fn redact(self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let scrub = |s: String| http::redact(s, secret);
        match self {
            Self::Business(m) => Self::Business(scrub(m)),
            Self::Unauthorized { status, message } => Self::Unauthorized { status, message: scrub(message) },
            Self::BadRequest { status, message } => Self::BadRequest { status, message: scrub(message) },
            Self::Transport(m) => Self::Transport(scrub(m)),
            Self::Decode(m) => Self::Decode(scrub(m)),
            Self::Config(m) => Self::Config(scrub(m)),
            e @ (Self::RateLimited | Self::Server { .. } | Self::Timeout | Self::CircuitOpen { .. }) => e,
        }
    }

    /// The kind of business refusal, when this is one.
    pub fn business_kind(&self) -> Option<KasmBusinessKind> {
        match self {
            Self::Business(m) => Some(KasmBusinessKind::classify(m)),
            _ => None,
        }
    }

    /// Short, customer-safe text. Never includes Kasm's raw text, ids or anything from our configuration.
    pub fn user_message(&self) -> String {
        let s = match self {
            Self::Business(_) => match self.business_kind() {
                // Kasm counts stopped sessions against the per-user limit: stopping one frees nothing.
                Some(KasmBusinessKind::UserSessionLimit) => {
                    "You already have the maximum number of workspaces (stopped ones count too). \
                     Delete one you no longer need and try again."
                }
                Some(KasmBusinessKind::LicenseLimit | KasmBusinessKind::NoResources) => {
                    "All workspace capacity is in use right now. Please try again in a few minutes."
                }
                Some(KasmBusinessKind::UsageLimit) => "Your usage limit has been reached.",
                Some(KasmBusinessKind::ImageUnavailable) => {
                    "This workspace type is not available right now. Please contact support."
                }
                Some(KasmBusinessKind::InvalidState) => {
                    "The workspace is busy changing state. Please try again in a moment."
                }
                Some(KasmBusinessKind::NotFound) => "This workspace no longer exists.",
                _ => "The workspace service could not complete the request. Please try again or contact support.",
            },
            Self::Unauthorized { .. } | Self::BadRequest { .. } | Self::Decode(_) | Self::Config(_) => {
                "The workspace service is not responding as expected. Please contact support."
            }
            Self::RateLimited => "The workspace service is busy. Please try again in a moment.",
            Self::Server { .. } | Self::Timeout | Self::Transport(_) | Self::CircuitOpen { .. } => {
                "The workspace service is temporarily unavailable. Please try again shortly."
            }
        };
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_retryable_and_refusals_are_not() {
        assert!(KasmError::Timeout.is_retryable());
        assert!(KasmError::Transport("reset".into()).is_retryable());
        assert!(KasmError::Server { status: 502 }.is_retryable());
        assert!(KasmError::RateLimited.is_retryable());
        assert!(KasmError::CircuitOpen { retry_in: std::time::Duration::ZERO }.is_retryable());
        assert!(!KasmError::Business("Kasm limit exceeded for user: (x)".into()).is_retryable());
        assert!(!KasmError::Unauthorized { status: 403, message: "Access Denied".into() }.is_retryable());
        assert!(!KasmError::BadRequest { status: 400, message: "Invalid Request".into() }.is_retryable());
        assert!(!KasmError::Decode("x".into()).is_retryable());
        assert!(!KasmError::Config("x".into()).is_retryable());
    }

    #[test]
    fn business_messages_are_classified() {
        let kind = |m: &str| KasmError::Business(m.into()).business_kind();
        assert_eq!(kind("Kasm limit exceeded for user: (bob)"), Some(KasmBusinessKind::UserSessionLimit));
        assert_eq!(
            kind("Per concurrent session license limit exceeded. Unable to create session"),
            Some(KasmBusinessKind::LicenseLimit)
        );
        assert_eq!(kind("No Default Image Found"), Some(KasmBusinessKind::ImageUnavailable));
        assert_eq!(kind("Session is not in a valid state to be stopped"), Some(KasmBusinessKind::InvalidState));
        assert_eq!(kind("No session found with kasm_id (x)"), Some(KasmBusinessKind::NotFound));
        assert_eq!(kind("Destroy Error"), Some(KasmBusinessKind::Other));
        assert_eq!(KasmError::Timeout.business_kind(), None);
    }

    #[test]
    fn only_missing_answers_and_5xx_count_as_transient_failures() {
        assert!(KasmError::Timeout.is_transient_failure());
        assert!(KasmError::Transport("refused".into()).is_transient_failure());
        assert!(KasmError::Server { status: 503 }.is_transient_failure());
        for e in [
            KasmError::RateLimited,
            KasmError::CircuitOpen { retry_in: std::time::Duration::ZERO },
            KasmError::Business("Image Not Authorized".into()),
            KasmError::BadRequest { status: 400, message: "Invalid Request".into() },
            KasmError::Unauthorized { status: 401, message: "Unauthorized".into() },
            KasmError::Decode("x".into()),
        ] {
            assert!(!e.is_transient_failure(), "{e:?}");
        }
    }

    #[test]
    fn circuit_open_tells_the_customer_to_come_back_shortly() {
        assert_eq!(
            KasmError::CircuitOpen { retry_in: std::time::Duration::ZERO }.user_message(),
            "The workspace service is temporarily unavailable. Please try again shortly."
        );
    }

    #[test]
    fn redaction_blanks_the_secret_in_every_text_carrying_variant() {
        let s = "s3cr3t-value";
        for e in [
            KasmError::Business(format!("echo {s}")),
            KasmError::Unauthorized { status: 403, message: format!("bad {s}") },
            KasmError::BadRequest { status: 400, message: format!("{s}{s}") },
            KasmError::Transport(format!("x {s}")),
            KasmError::Decode(format!("x {s}")),
            KasmError::Config(format!("x {s}")),
        ] {
            let e = e.redact(s);
            assert!(!e.to_string().contains(s) && !format!("{e:?}").contains(s), "{e:?}");
            assert!(e.to_string().contains("<redacted>"), "{e}");
        }
        assert!(matches!(KasmError::Server { status: 500 }.redact(s), KasmError::Server { status: 500 }));
        assert!(matches!(KasmError::Business("x".into()).redact(""), KasmError::Business(m) if m == "x"));
    }

    #[test]
    fn unknown_user_is_recognised_in_every_spelling_and_only_as_a_refusal() {
        for m in
            ["Unknown user (e60a9c80289a4b3aaedb42f1d5fe8060)", "Invalid user_id (abc)", "No user found with id: (x)"]
        {
            assert!(KasmError::BadRequest { status: 400, message: m.into() }.is_unknown_user(), "{m}");
            assert!(KasmError::Business(m.into()).is_unknown_user(), "{m}");
        }
        assert!(!KasmError::BadRequest { status: 400, message: "Invalid Request".into() }.is_unknown_user());
        assert!(!KasmError::Business("Invalid kasm_id (abc)".into()).is_unknown_user());
        assert!(!KasmError::Unauthorized { status: 401, message: "Unknown user (x)".into() }.is_unknown_user());
        assert!(!KasmError::Server { status: 500 }.is_unknown_user());
    }

    #[test]
    fn the_session_limit_says_to_delete_a_workspace_since_stopped_ones_count() {
        let m = KasmError::Business("Kasm limit exceeded for user: (alice)".into()).user_message();
        assert!(m.contains("Delete one"), "{m}");
        assert!(!m.to_lowercase().contains("stop or"), "{m}");
    }

    #[test]
    fn user_messages_never_repeat_kasm_text() {
        let e = KasmError::Business("Kasm limit exceeded for user: (alice-secret-username)".into());
        assert!(!e.user_message().contains("alice"));
        let e = KasmError::Unauthorized { status: 403, message: "API Key (prod-key) is not authorized".into() };
        assert!(!e.user_message().contains("prod-key"));
    }
}
