//! A local fake of the parts of Stripe's API the app uses, for tests and `make run`: its own axum router and
//! port, in-memory state, Stripe-shaped JSON and errors.
//!
//! - Each secret key (`sk_test_…`) is one Stripe account, as each tenant has its own: objects belong to the
//!   account whose key created them, and another key cannot read them (404 `resource_missing`). An unknown
//!   or missing key gets Stripe's 401.
//! - `Idempotency-Key` is honoured per account: the same key with the same request replays the saved answer
//!   (`Idempotent-Replayed: true`); with another request it is a 400 `idempotency_error`. As at Stripe, an
//!   answer is saved once the endpoint ran (a 2xx, or a 402 card error), not when the parameters were refused.
//! - Unknown or misspelt parameters are refused by name (`parameter_unknown`), as Stripe does.
//! - Endpoints: `POST /v1/customers`, `GET /v1/customers/{id}`, `POST /v1/checkout/sessions` (mode=payment
//!   with `price_data` line items, or mode=setup: the page saves a card on the customer and charges
//!   nothing), `GET /v1/checkout/sessions/{id}`, `GET /v1/payment_methods?customer=&type=card`,
//!   `POST /v1/payment_methods/{id}/detach`, `POST /v1/payment_intents` (confirm + off_session),
//!   `GET /v1/payment_intents/{id}`, `POST /v1/refunds` (against a succeeded PaymentIntent, never more than is
//!   left unrefunded on it: `amount_too_large`, `charge_already_refunded`; sends `refund.created`). Charges
//!   below 50 minor units are refused (`amount_too_small`), as Stripe refuses charges under $0.50.
//! - The hosted payment page: a session's `url` is `http://<fake>/pay/{cs_id}` (the host the API request was
//!   sent to, or [`FakeConfig::public_url`]). It offers "Pay" and "Pay with a card that will decline later";
//!   paying completes the session (`complete`/`paid`), creates a succeeded PaymentIntent and a Visa card
//!   (saved on the customer when the session set `payment_intent_data[setup_future_usage]`; 4242, or 0341 for
//!   the card whose later off-session charges decline with `card_declined`), sends `payment_intent.succeeded`
//!   and `checkout.session.completed`, and 303-redirects to the `success_url` with `{CHECKOUT_SESSION_ID}`
//!   replaced.
//! - Off-session PaymentIntents succeed (`payment_intent.succeeded`) unless the card declines: then HTTP 402
//!   with a `card_error` carrying the PaymentIntent (`requires_payment_method`, `last_payment_error`), and
//!   `payment_intent.payment_failed`.
//! - Webhooks: each event is POSTed as JSON to the account's endpoint with a `Stripe-Signature` made by
//!   [`app::backend::clients::stripe::webhook::sign`] (fresh timestamp per attempt). Delivery runs in the background and
//!   is retried with doubling backoff while the receiver answers non-2xx or cannot be reached. Event order is
//!   not guaranteed (nor is it at Stripe). [`StripeFake::flush_webhooks`] waits for deliveries in flight.
//!
//! Module map: `params` (form decoding, nested keys, schemas), `state` (data + rules, synchronous), `http`
//! (router, authentication, idempotency, hosted page), `webhooks` (delivery and retries).

mod http;
mod params;
mod state;
mod webhooks;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Datelike;
use serde_json::Value;
use tokio::task::JoinHandle;

use state::FakeState;

/// One Stripe account of the fake: its secret key and webhook endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct FakeAccount {
    /// `sk_test_…`: what the client sends as `Authorization: Bearer …`.
    pub secret_key: String,
    /// Where events are POSTed; `None` keeps them undelivered (listed by [`StripeFake::events`]).
    pub webhook_url: Option<String>,
    /// `whsec_…`: the HMAC key of `Stripe-Signature`.
    pub signing_secret: String,
}

impl fmt::Debug for FakeAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeAccount")
            .field("secret_key", &"<redacted>")
            .field("webhook_url", &self.webhook_url)
            .field("signing_secret", &"<redacted>")
            .finish()
    }
}

/// Fake settings. Build with `FakeConfig { accounts: …, ..FakeConfig::default() }`.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Accounts known from the start (more with [`StripeFake::register_account`]).
    pub accounts: Vec<FakeAccount>,
    /// The origin put in checkout URLs (e.g. `http://localhost:12111`); by default the `Host` the API request
    /// was sent to.
    pub public_url: Option<String>,
    /// Delivery attempts per event (at least 1).
    pub webhook_attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub webhook_backoff: Duration,
    /// Per-attempt timeout of a webhook POST.
    pub webhook_timeout: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            public_url: None,
            webhook_attempts: 4,
            webhook_backoff: Duration::from_millis(100),
            webhook_timeout: Duration::from_secs(5),
        }
    }
}

/// An event as the fake recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeEvent {
    pub id: String,
    pub type_: String,
    pub created: i64,
    pub data_object: Value,
    /// The exact JSON body POSTed (and signed).
    pub payload: String,
    /// Some attempt got a 2xx.
    pub delivered: bool,
    /// Attempts so far, dropped ones ([`StripeFake::fail_webhooks`]) included.
    pub attempts: u32,
}

/// A refund as the fake recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRefund {
    pub id: String,
    pub payment_intent: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
}

/// A PaymentIntent as the fake recorded it: tests count charges with these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakePaymentIntent {
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// `succeeded`, or `requires_payment_method` after a decline.
    pub status: String,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
}

/// Why [`StripeFake::complete_checkout`] could not pay a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FakeError {
    #[error("no such checkout session")]
    NoSuchSession,
    #[error("the checkout session is not open (already paid)")]
    NotOpen,
}

struct Shared {
    state: Mutex<FakeState>,
    config: FakeConfig,
    /// For webhook deliveries.
    http: reqwest::Client,
    /// Deliveries in flight (finished ones are pruned as new ones start).
    deliveries: Mutex<Vec<JoinHandle<()>>>,
    /// Delivery attempts still to drop ([`StripeFake::fail_webhooks`]).
    drop_next: AtomicU32,
    /// Requests to `/v1/…`, counted before authentication.
    api_calls: AtomicU64,
}

/// The fake Stripe. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct StripeFake {
    shared: Arc<Shared>,
}

impl fmt::Debug for StripeFake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeFake").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

/// Unix seconds now.
fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The expiry year of new test cards.
fn card_exp_year() -> i32 {
    chrono::Utc::now().year() + 4
}

impl StripeFake {
    pub fn new(cfg: FakeConfig) -> Self {
        let mut state = FakeState::default();
        for account in &cfg.accounts {
            state.register(&account.secret_key, account.webhook_url.as_deref(), &account.signing_secret);
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                config: cfg,
                http,
                deliveries: Mutex::new(Vec::new()),
                drop_next: AtomicU32::new(0),
                api_calls: AtomicU64::new(0),
            }),
        }
    }

    /// The `/v1/…` API and the hosted `/pay/{cs_id}` page.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Binds `addr` (port 0 for a free one), serves in a background task, returns the bound address.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "stripe fake stopped serving");
            }
        });
        tracing::info!(%bound, "stripe fake listening");
        Ok((bound, handle))
    }

    /// Adds a Stripe account for `secret_key` (or, for a known key, replaces its webhook endpoint and keeps its
    /// data). Returns the account id (`acct_…`).
    pub fn register_account(&self, secret_key: &str, webhook_url: Option<&str>, signing_secret: &str) -> String {
        self.lock().register(secret_key, webhook_url, signing_secret)
    }

    /// Points the account's webhooks at `url`, signed with `signing_secret`. False for an unknown key.
    pub fn set_webhook(&self, secret_key: &str, url: &str, signing_secret: &str) -> bool {
        self.lock().set_webhook(secret_key, url, signing_secret)
    }

    /// Drops the next `n` delivery attempts (of any account) without sending them, as if the receiver were
    /// down: they count as failed attempts and are retried.
    pub fn fail_webhooks(&self, n: u32) {
        self.shared.drop_next.store(n, Ordering::SeqCst);
    }

    /// The account's events, oldest first, with their delivery state. Empty for an unknown key.
    pub fn events(&self, secret_key: &str) -> Vec<FakeEvent> {
        self.lock().events(secret_key)
    }

    /// Sends every event of every account again (delivered or not), as Stripe's "resend" does: receivers must
    /// cope with duplicates. Returns how many deliveries started. Needs a Tokio runtime.
    pub fn redeliver_all(&self) -> usize {
        let all = self.lock().all_events();
        let count = all.len();
        webhooks::dispatch(self, all);
        count
    }

    /// Waits until every delivery in flight (retries included) has finished.
    pub async fn flush_webhooks(&self) {
        loop {
            let pending = std::mem::take(&mut *self.deliveries());
            if pending.is_empty() {
                return;
            }
            for handle in pending {
                if let Err(e) = handle.await {
                    tracing::warn!(error = %e, "stripe fake webhook delivery task failed");
                }
            }
        }
    }

    /// Pays an open checkout session as the hosted page's buttons do (`decline_later`: with the card whose
    /// later off-session charges decline), starting webhook deliveries. Returns the URL the browser would be
    /// redirected to. Needs a Tokio runtime.
    pub fn complete_checkout(&self, cs_id: &str, decline_later: bool) -> Result<String, FakeError> {
        let (redirect, events) = self.lock().complete_checkout(cs_id, decline_later, now_unix(), card_exp_year())?;
        webhooks::dispatch(self, events);
        Ok(redirect)
    }

    /// The ids of the account's customers. Empty for an unknown key.
    pub fn customer_ids(&self, secret_key: &str) -> Vec<String> {
        self.lock().customer_ids(secret_key)
    }

    /// Saves a test Visa on a customer without going through checkout (`declines`: its charges fail with
    /// `card_declined`). Returns the `pm_…` id, or `None` if the key or the customer is unknown.
    pub fn attach_card(&self, secret_key: &str, customer_id: &str, declines: bool) -> Option<String> {
        self.lock().attach_card(secret_key, customer_id, declines, now_unix(), card_exp_year())
    }

    /// The account's PaymentIntents (every charge, succeeded or declined), oldest first. Empty for an
    /// unknown key.
    pub fn payment_intents(&self, secret_key: &str) -> Vec<FakePaymentIntent> {
        self.lock().payment_intents(secret_key)
    }

    /// The account's refunds, oldest first. Empty for an unknown key.
    pub fn refunds(&self, secret_key: &str) -> Vec<FakeRefund> {
        self.lock().refunds(secret_key)
    }

    /// Requests received on `/v1/…`, counted before authentication.
    pub fn api_call_count(&self) -> u64 {
        self.shared.api_calls.load(Ordering::Relaxed)
    }

    fn count_api_call(&self) {
        self.shared.api_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Consumes one dropped attempt, if any are left.
    fn take_dropped_attempt(&self) -> bool {
        self.shared.drop_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panic while holding the lock cannot leave the state half-written in a way tests care about.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deliveries(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.shared.deliveries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_keys_and_signing_secrets() {
        let cfg = FakeConfig {
            accounts: vec![FakeAccount {
                secret_key: "sk_test_hunter2".into(),
                webhook_url: None,
                signing_secret: "whsec_hunter3".into(),
            }],
            ..FakeConfig::default()
        };
        let text = format!("{cfg:?} {:?}", StripeFake::new(cfg.clone()));
        assert!(!text.contains("hunter2") && !text.contains("hunter3"), "{text}");
    }
}
