//! The one error type of the server-function boundary. Every variant carries a message that is safe and
//! useful to show a customer; internal causes are logged on the server and reach the browser only as
//! `Internal`. The HTTP status for each variant is chosen here, in one match.

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
            AppError::CrossSite | AppError::Forbidden | AppError::Unverified => 403,
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
