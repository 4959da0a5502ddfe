//! What every typed HTTP client here does the same way: check the configured base URL, build the
//! `reqwest` client, describe a call that got no answer, and keep the secret out of error text. It uses
//! nothing but `reqwest` and `std`; each client turns these into its own error type.

use std::time::Duration;

/// What stands in for a secret in error text, logs and scrubbed bodies (JSON-safe: no quote or backslash).
pub(crate) const REDACTED: &str = "<redacted>";

/// `text` with every occurrence of `secret` blanked out. Servers (or proxies in front of them) may echo a
/// request back; the secret must not ride along into our errors and logs.
pub(crate) fn redact(text: String, secret: &str) -> String {
    if secret.is_empty() || !text.contains(secret) {
        text
    } else {
        text.replace(secret, REDACTED)
    }
}

/// Checks a configured base URL (`service` names it in messages) and returns it without a trailing
/// slash: an absolute http(s) URL with a host, and without credentials (a URL ends up in logs and error
/// messages), query or fragment. Its path may hold a reverse proxy's prefix, but must not end in one of
/// `api_paths`: the client adds its API path (`adds` says what, in the message) itself.
pub(crate) fn base_url(service: &str, raw: &str, api_paths: &[&str], adds: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|e| format!("{service} base URL {trimmed:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{service} base URL {trimmed:?} must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{service} base URL {trimmed:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{service} base URL must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{service} base URL {trimmed:?} must not have a query or fragment"));
    }
    let path = url.path().trim_end_matches('/');
    if api_paths.iter().any(|api| path.ends_with(api)) {
        let api = api_paths.join(" or ");
        return Err(format!("{service} base URL {trimmed:?} must not include {api}; the client adds {adds}"));
    }
    Ok(trimmed.to_owned())
}

/// The HTTP client settings every API client shares: `timeout` for the whole exchange (connecting gets at
/// most 10 s of it), no redirects (an API never redirects a call; following one would turn a POST into
/// a GET or resend the credentials elsewhere), and our user agent.
pub(crate) fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ezscale-workspaces/", env!("CARGO_PKG_VERSION")))
}

/// Why a call got no answer.
#[derive(Debug)]
pub(crate) enum NoAnswer {
    /// Not complete within the timeout. The call may still have taken effect.
    Timeout,
    /// Connection refused, reset, DNS, TLS…, described as `endpoint: error: cause: …`. The call may or may
    /// not have taken effect.
    Transport(String),
}

impl NoAnswer {
    /// Timeouts are told apart; the URL is dropped from the text (the endpoint names the call).
    pub(crate) fn of(endpoint: &str, e: reqwest::Error) -> NoAnswer {
        if e.is_timeout() {
            return NoAnswer::Timeout;
        }
        NoAnswer::Transport(format!("{endpoint}: {}", error_chain(&e.without_url())))
    }
}

/// An error and its causes on one line (reqwest's own text is often just "builder error" or "error
/// sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_blanks_every_occurrence_and_nothing_else() {
        assert_eq!(redact("key s3cr3t and s3cr3t".into(), "s3cr3t"), "key <redacted> and <redacted>");
        assert_eq!(redact("nothing here".into(), "s3cr3t"), "nothing here");
        assert_eq!(redact("x".into(), ""), "x");
    }

    #[test]
    fn base_urls_lose_their_trailing_slash_and_unsafe_ones_are_refused() {
        let check = |raw| base_url("Svc", raw, &["/v1"], "it");
        assert_eq!(check(" https://api.example/ "), Ok("https://api.example".into()));
        assert_eq!(check("http://127.0.0.1:4010/prefix/"), Ok("http://127.0.0.1:4010/prefix".into()));
        for bad in ["api.example", "ftp://api.example", "https://u:p@api.example", "https://a/?q=1", "https://a/#f"] {
            let e = check(bad).err().unwrap_or_default();
            assert!(e.starts_with("Svc base URL"), "{bad}: {e}");
        }
        assert!(!check("https://user:hunter2@api.example").err().unwrap_or_default().contains("hunter2"));
        assert_eq!(
            check("https://api.example/v1/"),
            Err("Svc base URL \"https://api.example/v1\" must not include /v1; the client adds it".into())
        );
    }

    #[test]
    fn an_error_chain_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(error_chain(&Outer(std::io::Error::other("refused"))), "error sending request: refused");
    }
}
