//! Typed clients of the external HTTP APIs we call. They use nothing else from the backend: what a
//! client needs (URLs, keys, timeouts) it is given.
//!
//! | module   | owns |
//! |----------|------|
//! | `kasm`   | the Kasm Workspaces API: wire types, errors, retries and the per-server circuit breaker |
//! | `stripe` | the Stripe API: checkout, customers, payment intents, webhook signature verification |

pub mod kasm;
pub mod stripe;
