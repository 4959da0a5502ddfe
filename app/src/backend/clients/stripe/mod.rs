//! Payments through Stripe's HTTP API: a small typed client and webhook signature checking.
//!
//! - every call is form-encoded (`application/x-www-form-urlencoded`) with Stripe's nested keys
//!   (`metadata[invoice_id]=…`, `line_items[0][price_data][currency]=usd`), authenticated with
//!   `Authorization: Bearer <secret key>`; each tenant is its own Stripe account, so one client per key;
//! - every create carries an `Idempotency-Key`: a retry with the same key returns the first answer instead of
//!   charging (or refunding) twice;
//! - money is `i64` minor units (cents) with a lowercase ISO currency code, never a float;
//! - a card decline on an off-session charge (HTTP 402 carrying the PaymentIntent) is an ordinary outcome,
//!   `Ok(PaymentIntent { status: "requires_payment_method", last_payment_error: Some(..) })`, not an `Err`;
//! - the secret key never appears in `Debug`, `Display`, errors or logs.
//!
//! Module map: `client` (config + HTTP + one method per endpoint), `form` (nested form parameters), `types`
//! (what callers get back), `error`, `webhook` (`Stripe-Signature` verification and signing, events).

mod client;
mod error;
mod form;
mod types;
pub mod webhook;

pub use client::{SetupCheckout, StripeClient, StripeConfig, TopupCheckout, DEFAULT_BASE_URL};
pub use error::StripeError;
pub use types::{CheckoutSession, Metadata, PaymentError, PaymentIntent, PaymentMethod, Refund, StripeCustomer};
pub use webhook::{Event, WebhookError};
