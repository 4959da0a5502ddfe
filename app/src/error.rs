//! The one error type of the server-function boundary. Every variant carries a message that is safe and
//! useful to show a customer; internal causes are logged on the server and reach the browser only as
//! `Internal`. The HTTP status for each variant is chosen here, in one match; on the server the same
//! error is also an axum response, so plain handlers answer exactly as server functions do.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    NotSignedIn,
    #[error("That email and password do not match an account.")]
    BadCredentials,
    #[error("Not found.")]
    NotFound,
    /// The request itself was wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (e.g. stopping a workspace that is already stopping).
    #[error("{0}")]
    Conflict(String),
    /// An upstream system (Kasm) refused or did not answer; nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// Signed in, but the email address is not confirmed yet.
    #[error("Please confirm your email address first: open the link we emailed you.")]
    Unverified,
    /// Signed in, but the storefront has suspended this account: it may look and pay, not order or start.
    #[error("Your account is suspended, so you cannot order or start workspaces. Please contact the store's support.")]
    Suspended,
    /// Signed in, but this account's role does not allow it.
    #[error("Your account does not have access to this.")]
    Forbidden,
    #[error("This request was refused because it did not come from this site.")]
    CrossSite,
    #[error("Too many attempts. Please wait {retry_after_secs} seconds and try again.")]
    RateLimited { retry_after_secs: u64 },
    #[error("Something went wrong on our side. Please try again in a moment.")]
    Internal,
    /// The browser could not reach the server or read its answer.
    #[error("Could not reach the server. Check your connection and try again.")]
    Network,
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::NotSignedIn | AppError::BadCredentials => 401,
            AppError::NotFound => 404,
            AppError::Invalid(_) => 400,
            AppError::Conflict(_) => 409,
            AppError::CrossSite | AppError::Forbidden | AppError::Unverified | AppError::Suspended => 403,
            AppError::RateLimited { .. } => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal | AppError::Network => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // Raised on the server when the submitted arguments do not parse: that is the caller's mistake.
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::Invalid("The request was malformed.".into())
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Deserialization(_) => AppError::Network,
            _ => AppError::Internal,
        }
    }
}

/// Plain axum handlers (downloads, webhooks, live events) return `Result<_, AppError>` and answer an error
/// the way a server function does: the status of [`AppError::status`] and the error as JSON, which the
/// pages already know how to read.
#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::{header, StatusCode};
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn errors_answer_their_own_status_with_the_error_as_json() {
        for e in
            [AppError::RateLimited { retry_after_secs: 7 }, AppError::NotSignedIn, AppError::Unavailable("x".into())]
        {
            let res = e.clone().into_response();
            assert_eq!(res.status().as_u16(), e.status());
            assert_eq!(res.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()), Some(&b"application/json"[..]));
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap_or_default();
            assert_eq!(serde_json::from_slice::<AppError>(&body).ok(), Some(e));
        }
    }
}
