//! The HTTP side of the Stripe client: configuration, request encoding, error decoding, one method per
//! endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::StripeError;
use super::form::{check_metadata, FormParams};
use super::types::{CheckoutSession, Metadata, PaymentError, PaymentIntent, PaymentMethod, Refund, StripeCustomer};
use crate::backend::clients::http;

/// Stripe's API origin.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// The name of the single line item of a top-up checkout, as the customer sees it on the payment page.
const TOPUP_LINE_ITEM: &str = "Account credit";
/// Stripe caps idempotency keys at 255 characters.
const IDEMPOTENCY_KEY_MAX: usize = 255;
/// Page size when listing (Stripe's maximum).
const PAGE_LIMIT: &str = "100";
/// A safety stop for pagination against a misbehaving server.
const MAX_PAGES: usize = 20;

/// How to reach one Stripe account (each tenant has its own keys).
#[derive(Clone)]
pub struct StripeConfig {
    /// Scheme, host and port, without `/v1`: [`DEFAULT_BASE_URL`], or a local fake for tests.
    pub base_url: String,
    /// `sk_live_…`/`sk_test_…`, or a restricted key `rk_…`.
    pub secret_key: String,
    /// Whole-request timeout (connect + send + read).
    pub timeout: Duration,
}

impl StripeConfig {
    /// The real Stripe API with this key and the default timeout.
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self { secret_key: secret_key.into(), ..Self::default() }
    }
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self { base_url: DEFAULT_BASE_URL.to_owned(), secret_key: String::new(), timeout: Duration::from_secs(30) }
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One account top-up through Stripe Checkout: the argument of [`StripeClient::create_topup_checkout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopupCheckout {
    /// The Stripe customer (`cus_…`) the payment and the saved card will belong to.
    pub customer_id: String,
    /// Minor units (cents), > 0.
    pub amount_minor: i64,
    /// ISO 4217, e.g. `usd` (sent lowercased).
    pub currency: String,
    /// Where Stripe sends the browser after paying; `{CHECKOUT_SESSION_ID}` is replaced by the session id.
    pub success_url: String,
    /// Where the "back" link of the payment page leads.
    pub cancel_url: String,
    /// Copied onto the session (and so onto `checkout.session.completed`), e.g. `invoice_id`.
    pub metadata: Metadata,
    /// What the payment page says is being paid (`None`: account credit).
    pub line_item: Option<String>,
}

/// Saving a card through Stripe Checkout in setup mode (nothing is charged): the argument of
/// [`StripeClient::create_setup_checkout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupCheckout {
    /// The Stripe customer (`cus_…`) the card is saved on.
    pub customer_id: String,
    /// ISO 4217 of the payments the card is for, e.g. `usd` (sent lowercased).
    pub currency: String,
    /// Where Stripe sends the browser once the card is saved; `{CHECKOUT_SESSION_ID}` is replaced.
    pub success_url: String,
    pub cancel_url: String,
    pub metadata: Metadata,
}

struct Inner {
    http: reqwest::Client,
    /// `<base>/v1`.
    api_base: String,
    secret_key: String,
}

/// A typed client for one Stripe account. Cheap to clone; safe to share.
#[derive(Clone)]
pub struct StripeClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient").field("api_base", &self.inner.api_base).finish_non_exhaustive()
    }
}

/// Checks a configured base URL and returns it without a trailing slash (and without `/v1`, which the client
/// adds).
fn normalise_base_url(raw: &str) -> Result<String, StripeError> {
    http::base_url("Stripe", raw, &["/v1"], "it").map_err(StripeError::Config)
}

/// The key is never quoted in these messages.
fn check_secret_key(key: &str) -> Result<(), StripeError> {
    if key.is_empty() {
        return Err(StripeError::Config("Stripe secret key is not set".into()));
    }
    if !(key.starts_with("sk_") || key.starts_with("rk_")) {
        return Err(StripeError::Config(
            "Stripe key must be a secret key (sk_…) or a restricted key (rk_…), not a publishable key".into(),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StripeError::Config("Stripe secret key contains spaces or non-ASCII characters".into()));
    }
    Ok(())
}

/// An id pasted into a path: Stripe ids are `prefix_` + alphanumerics.
fn check_id(what: &str, id: &str) -> Result<(), StripeError> {
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StripeError::InvalidArgument(format!("{what} {id:?} is not a Stripe id")));
    }
    Ok(())
}

fn check_idempotency_key(key: &str) -> Result<(), StripeError> {
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StripeError::InvalidArgument(format!(
            "idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters"
        )));
    }
    Ok(())
}

fn check_amount(amount_minor: i64) -> Result<(), StripeError> {
    if amount_minor <= 0 {
        return Err(StripeError::InvalidArgument(format!("amount must be positive, got {amount_minor}")));
    }
    Ok(())
}

/// A three-letter ISO 4217 code, lowercased as Stripe writes it.
fn normalise_currency(currency: &str) -> Result<String, StripeError> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(StripeError::InvalidArgument(format!("currency {currency:?} is not a three-letter ISO code")));
    }
    Ok(currency.to_ascii_lowercase())
}

/// A send/receive failure as a `StripeError` (the caller redacts it, like every error).
fn transport_error(endpoint: &str, e: reqwest::Error) -> StripeError {
    match http::NoAnswer::of(endpoint, e) {
        http::NoAnswer::Timeout => StripeError::Timeout,
        http::NoAnswer::Transport(text) => StripeError::Transport(text),
    }
}

/// Stripe's error envelope: `{"error": {"type": …, "code": …, "message": …, "payment_intent": {…}}}`.
#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
    /// On a card error of a PaymentIntent call: the PaymentIntent as it now stands.
    #[serde(default)]
    payment_intent: Option<PaymentIntent>,
}

fn api_error(status: StatusCode, wire: Option<WireError>) -> StripeError {
    match wire {
        Some(e) => StripeError::Api {
            status: status.as_u16(),
            type_: e.type_.unwrap_or_else(|| "api_error".into()),
            code: e.code,
            param: e.param,
            message: e.message.unwrap_or_default(),
        },
        None => StripeError::Api {
            status: status.as_u16(),
            type_: "api_error".into(),
            code: None,
            param: None,
            message: format!("HTTP {status} without a Stripe error body"),
        },
    }
}

fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, StripeError> {
    serde_json::from_slice(body).map_err(|e| StripeError::Decode(format!("{endpoint}: {e}")))
}

/// One page of a Stripe list.
#[derive(Deserialize)]
struct ListPage<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
}

/// What came back: the status and the raw body.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl StripeClient {
    /// Validates the configuration and builds the HTTP client. Makes no request.
    pub fn new(cfg: StripeConfig) -> Result<Self, StripeError> {
        let base_url = normalise_base_url(&cfg.base_url)?;
        check_secret_key(&cfg.secret_key)?;
        if cfg.timeout.is_zero() {
            return Err(StripeError::Config("Stripe timeout must be greater than zero".into()));
        }
        // No redirects (see `http::client_builder`): Stripe never redirects API calls.
        let http = http::client_builder(cfg.timeout)
            .build()
            .map_err(|e| StripeError::Config(format!("cannot build the HTTP client: {}", http::error_chain(&e))))?;
        Ok(Self { inner: Arc::new(Inner { http, api_base: format!("{base_url}/v1"), secret_key: cfg.secret_key }) })
    }

    /// `POST /v1/customers`.
    pub async fn create_customer(
        &self,
        email: &str,
        name: &str,
        metadata: &Metadata,
        idempotency_key: &str,
    ) -> Result<StripeCustomer, StripeError> {
        check_metadata(metadata)?;
        let mut form = FormParams::new();
        if !email.is_empty() {
            form.push("email", email);
        }
        if !name.is_empty() {
            form.push("name", name);
        }
        form.metadata("metadata", metadata);
        let answer = self.post("customers", &form, Some(idempotency_key)).await?;
        self.expect_ok("customers", answer)
    }

    /// `POST /v1/checkout/sessions`: a hosted payment page for `amount_minor` of "Account credit", charged to
    /// the customer, whose card is saved for later off-session charges (`setup_future_usage=off_session`).
    /// Send the browser to the returned `url`; credit the account on `checkout.session.completed` with
    /// `payment_status == "paid"`.
    pub async fn create_topup_checkout(
        &self,
        checkout: &TopupCheckout,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        check_id("customer id", &checkout.customer_id)?;
        check_amount(checkout.amount_minor)?;
        let currency = normalise_currency(&checkout.currency)?;
        if checkout.success_url.is_empty() || checkout.cancel_url.is_empty() {
            return Err(StripeError::InvalidArgument("success_url and cancel_url must be set".into()));
        }
        check_metadata(&checkout.metadata)?;
        let mut form = FormParams::new();
        form.push("mode", "payment")
            .push("customer", checkout.customer_id.as_str())
            .push("payment_method_types[0]", "card")
            .push("line_items[0][quantity]", "1")
            .push("line_items[0][price_data][currency]", currency)
            .push("line_items[0][price_data][unit_amount]", checkout.amount_minor.to_string())
            .push(
                "line_items[0][price_data][product_data][name]",
                checkout.line_item.as_deref().unwrap_or(TOPUP_LINE_ITEM),
            )
            .push("payment_intent_data[setup_future_usage]", "off_session")
            .push("success_url", checkout.success_url.as_str())
            .push("cancel_url", checkout.cancel_url.as_str());
        form.metadata("metadata", &checkout.metadata);
        let answer = self.post("checkout/sessions", &form, Some(idempotency_key)).await?;
        self.expect_ok("checkout/sessions", answer)
    }

    /// `POST /v1/checkout/sessions` with `mode=setup`: a hosted page that saves a card on the customer for
    /// later off-session charges, and charges nothing. On `checkout.session.completed` list the customer's
    /// cards to find it.
    pub async fn create_setup_checkout(
        &self,
        checkout: &SetupCheckout,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        check_id("customer id", &checkout.customer_id)?;
        let currency = normalise_currency(&checkout.currency)?;
        if checkout.success_url.is_empty() || checkout.cancel_url.is_empty() {
            return Err(StripeError::InvalidArgument("success_url and cancel_url must be set".into()));
        }
        check_metadata(&checkout.metadata)?;
        let mut form = FormParams::new();
        form.push("mode", "setup")
            .push("customer", checkout.customer_id.as_str())
            .push("currency", currency)
            .push("payment_method_types[0]", "card")
            .push("success_url", checkout.success_url.as_str())
            .push("cancel_url", checkout.cancel_url.as_str());
        form.metadata("metadata", &checkout.metadata);
        let answer = self.post("checkout/sessions", &form, Some(idempotency_key)).await?;
        self.expect_ok("checkout/sessions", answer)
    }

    /// `GET /v1/checkout/sessions/{id}`.
    pub async fn get_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        check_id("checkout session id", id)?;
        let answer = self.get(&format!("checkout/sessions/{id}"), &[]).await?;
        self.expect_ok("checkout/sessions", answer)
    }

    /// `GET /v1/payment_methods?customer=…&type=card`, every page.
    pub async fn list_payment_methods(&self, customer_id: &str) -> Result<Vec<PaymentMethod>, StripeError> {
        check_id("customer id", customer_id)?;
        let mut all: Vec<PaymentMethod> = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("customer", customer_id), ("type", "card"), ("limit", PAGE_LIMIT)];
            let last = all.last().map(|pm| pm.id.clone());
            if let Some(last) = last.as_deref() {
                query.push(("starting_after", last));
            }
            let answer = self.get("payment_methods", &query).await?;
            let page: ListPage<PaymentMethod> = self.expect_ok("payment_methods", answer)?;
            let more = page.has_more && !page.data.is_empty();
            all.extend(page.data);
            if !more {
                return Ok(all);
            }
        }
        Err(StripeError::Decode(format!("payment_methods: more than {MAX_PAGES} pages")))
    }

    /// `POST /v1/payment_methods/{id}/detach`: the card can no longer be charged (nor attached again).
    pub async fn detach_payment_method(&self, id: &str) -> Result<PaymentMethod, StripeError> {
        check_id("payment method id", id)?;
        let endpoint = format!("payment_methods/{id}/detach");
        let answer = self.post(&endpoint, &FormParams::new(), None).await?;
        self.expect_ok("payment_methods/detach", answer)
    }

    /// `POST /v1/payment_intents` with `confirm=true&off_session=true`: charges a saved card without the
    /// customer present.
    ///
    /// A decline is an answer, not an error: `Ok` with `status == "requires_payment_method"` and
    /// `last_payment_error` saying why (`card_declined`/`insufficient_funds`, `authentication_required`, …).
    /// `Err` means the request itself failed; after a `Transport`/`Timeout`, retry with the same key.
    pub async fn charge_off_session(
        &self,
        customer_id: &str,
        payment_method_id: &str,
        amount_minor: i64,
        currency: &str,
        metadata: &Metadata,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        check_id("customer id", customer_id)?;
        check_id("payment method id", payment_method_id)?;
        check_amount(amount_minor)?;
        let currency = normalise_currency(currency)?;
        check_metadata(metadata)?;
        let mut form = FormParams::new();
        form.push("amount", amount_minor.to_string())
            .push("currency", currency)
            .push("customer", customer_id)
            .push("payment_method", payment_method_id)
            .push("confirm", "true")
            .push("off_session", "true");
        form.metadata("metadata", metadata);
        let answer = self.post("payment_intents", &form, Some(idempotency_key)).await?;
        if answer.status == StatusCode::PAYMENT_REQUIRED {
            if let Ok(WireErrorBody { error }) = serde_json::from_slice::<WireErrorBody>(&answer.body) {
                if let Some(mut intent) = error.payment_intent {
                    if intent.last_payment_error.is_none() {
                        intent.last_payment_error = Some(PaymentError {
                            code: error.code,
                            decline_code: error.decline_code,
                            message: error.message,
                        });
                    }
                    return Ok(intent);
                }
            }
        }
        self.expect_ok("payment_intents", answer)
    }

    /// `POST /v1/refunds`: gives `amount_minor` of a succeeded PaymentIntent back to the card it came from.
    /// Stripe refuses more than is left unrefunded on the payment (HTTP 400); a retry with the same key
    /// answers the first refund instead of making a second.
    pub async fn refund_payment(
        &self,
        payment_intent_id: &str,
        amount_minor: i64,
        metadata: &Metadata,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        check_id("payment intent id", payment_intent_id)?;
        check_amount(amount_minor)?;
        check_metadata(metadata)?;
        let mut form = FormParams::new();
        form.push("payment_intent", payment_intent_id)
            .push("amount", amount_minor.to_string())
            .push("reason", "requested_by_customer");
        form.metadata("metadata", metadata);
        let answer = self.post("refunds", &form, Some(idempotency_key)).await?;
        self.expect_ok("refunds", answer)
    }

    async fn post(
        &self,
        endpoint: &str,
        form: &FormParams,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, StripeError> {
        if let Some(key) = idempotency_key {
            check_idempotency_key(key)?;
        }
        let mut request = self
            .inner
            .http
            .request(Method::POST, format!("{}/{endpoint}", self.inner.api_base))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.encode());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(endpoint, request).await
    }

    async fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Answer, StripeError> {
        let mut url = reqwest::Url::parse(&format!("{}/{endpoint}", self.inner.api_base))
            .map_err(|e| StripeError::InvalidArgument(format!("{endpoint}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.send(endpoint, self.inner.http.request(Method::GET, url)).await
    }

    async fn send(&self, endpoint: &str, request: reqwest::RequestBuilder) -> Result<Answer, StripeError> {
        let result = async {
            let response = request.bearer_auth(&self.inner.secret_key).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(Answer { status, body: body.to_vec() })
        }
        .await;
        match result {
            Ok(answer) => {
                tracing::debug!(endpoint, status = answer.status.as_u16(), "stripe call");
                Ok(answer)
            }
            Err(e) => {
                let err = transport_error(endpoint, e).redact(&self.inner.secret_key);
                tracing::warn!(endpoint, error = %err, "stripe call failed");
                Err(err)
            }
        }
    }

    /// A 2xx decoded as `T`; anything else as Stripe's error object.
    fn expect_ok<T: DeserializeOwned>(&self, endpoint: &str, answer: Answer) -> Result<T, StripeError> {
        let result = if answer.status.is_success() {
            decode(endpoint, &answer.body)
        } else {
            let wire = serde_json::from_slice::<WireErrorBody>(&answer.body).ok().map(|b| b.error);
            Err(api_error(answer.status, wire))
        };
        result.map_err(|e| e.redact(&self.inner.secret_key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(base_url: &str, key: &str) -> StripeConfig {
        StripeConfig { base_url: base_url.into(), secret_key: key.into(), timeout: Duration::from_secs(5) }
    }

    #[test]
    fn configuration_is_checked_without_quoting_the_key() {
        assert!(StripeClient::new(cfg("https://api.stripe.com/", "sk_test_123")).is_ok());
        assert!(StripeClient::new(cfg("http://127.0.0.1:9999", "rk_test_123")).is_ok());
        for (url, key) in [
            ("ftp://api.stripe.com", "sk_test_1"),
            ("https://api.stripe.com/v1", "sk_test_1"),
            ("https://u:p@api.stripe.com", "sk_test_1"),
            ("https://api.stripe.com", ""),
            ("https://api.stripe.com", "pk_test_publishable"),
            ("https://api.stripe.com", "sk_test_with space"),
        ] {
            let err = StripeClient::new(cfg(url, key)).unwrap_err();
            assert!(matches!(err, StripeError::Config(_)), "{url} {key}: {err}");
            if !key.is_empty() {
                assert!(!err.to_string().contains(key) && !format!("{err:?}").contains(key));
            }
        }
        let zero = StripeConfig { timeout: Duration::ZERO, ..cfg("https://api.stripe.com", "sk_test_1") };
        assert!(StripeClient::new(zero).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let c = cfg("https://api.stripe.com", "sk_test_hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", StripeClient::new(c).unwrap()).contains("hunter2"));
        assert_eq!(StripeConfig::new("sk_test_x").base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn arguments_that_can_never_be_valid_are_refused_locally() {
        assert!(check_amount(0).is_err() && check_amount(-5).is_err() && check_amount(1).is_ok());
        assert_eq!(normalise_currency("USD").unwrap(), "usd");
        assert!(normalise_currency("usdx").is_err() && normalise_currency("u$d").is_err());
        assert!(check_id("id", "cs_test_a1B2").is_ok());
        assert!(check_id("id", "../v1/charges").is_err() && check_id("id", "").is_err());
        assert!(check_idempotency_key("topup-42").is_ok());
        assert!(check_idempotency_key("").is_err() && check_idempotency_key(&"k".repeat(256)).is_err());
    }
}
