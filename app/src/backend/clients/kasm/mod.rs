//! A small typed client for the Kasm Workspaces Developer API, as Kasm documents it (1.x):
//!
//! - every call is a POST of JSON: `<base>/api/public/<endpoint>` with `api_key`/`api_key_secret` in the body
//!   (all released 1.x versions), or `<base>/api/<endpoint>` with HTTP Basic (the next release);
//! - business refusals come back as HTTP 200 with `error_message` (or `error`), so every body is checked;
//! - ids come dashed or undashed and are compared as UUIDs; timestamps are naive UTC `str(datetime)` strings,
//!   sometimes `null` or the string `"None"`;
//! - the API secret never appears in logs, errors or `Debug` output.
//!
//! Module map: `client` (config + HTTP + one method per endpoint), `breaker` (fail fast while Kasm is down),
//! `wire` (status/body interpretation, timestamps, lenient response structs), `ids`, `types` (what callers
//! get back), `error`.

mod breaker;
mod client;
mod error;
mod ids;
mod types;
mod wire;

pub use breaker::{BreakerConfig, BreakerState};
pub use client::{KasmAuthStyle, KasmClient, KasmConfig};
pub use error::{KasmBusinessKind, KasmError};
pub use ids::{parse_kasm_uuid, KasmGroupId, KasmId, KasmImageId, KasmUserId};
pub use types::{
    KasmAccountingRow, KasmGroup, KasmHistoryPage, KasmImage, KasmList, KasmSession, KasmStatus, KasmStatusReply,
    KasmUser, RequestedKasm,
};
pub use wire::parse_kasm_time;
