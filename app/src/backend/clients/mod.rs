//! Typed clients of the external HTTP APIs we call. They use nothing else from the backend: what a
//! client needs (URLs, keys, timeouts) it is given.
//!
//! | module   | owns |
//! |----------|------|
//! | `kasm`   | the Kasm Workspaces API: wire types, errors, retries and the per-server circuit breaker |
//! | `stripe` | the Stripe API: checkout, customers, payment intents, refunds, webhook signature verification |
//! | `http`   | what both do alike: base URL checks, the HTTP client's settings, no-answer errors, redaction |

mod http;
pub mod kasm;
pub mod stripe;
