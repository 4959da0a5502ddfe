//! The fake's data and rules, synchronous and free of HTTP: accounts (one per secret key), their objects,
//! idempotency records and events. Every method takes `now` (Unix seconds) from the caller.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Map, Value};

use super::params::{self, ParamError, Spec};
use super::{FakeError, FakeEvent};

/// The `api_version` stamped on events.
const API_VERSION: &str = "2024-06-20";
/// Stripe's smallest charge (50 cents, or 50 units of a zero-decimal currency) and largest.
const MIN_AMOUNT: i64 = 50;
const MAX_AMOUNT: i64 = 99_999_999;
const SESSION_LIFETIME_SECS: i64 = 24 * 3600;
/// Currencies Stripe counts in whole units.
const ZERO_DECIMAL: &[&str] =
    &["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];

const CUSTOMER_PARAMS: &[(&str, Spec)] = &[
    ("email", Spec::Scalar),
    ("name", Spec::Scalar),
    ("description", Spec::Scalar),
    ("phone", Spec::Scalar),
    ("metadata", Spec::FreeMap),
];
const PRODUCT_DATA: Spec = Spec::Object(&[("name", Spec::Scalar), ("description", Spec::Scalar)]);
const PRICE_DATA: Spec =
    Spec::Object(&[("currency", Spec::Scalar), ("unit_amount", Spec::Scalar), ("product_data", PRODUCT_DATA)]);
const LINE_ITEM: Spec =
    Spec::Object(&[("quantity", Spec::Scalar), ("price", Spec::Scalar), ("price_data", PRICE_DATA)]);
const CHECKOUT_PARAMS: &[(&str, Spec)] = &[
    ("mode", Spec::Scalar),
    ("currency", Spec::Scalar),
    ("customer", Spec::Scalar),
    ("customer_email", Spec::Scalar),
    ("client_reference_id", Spec::Scalar),
    ("success_url", Spec::Scalar),
    ("cancel_url", Spec::Scalar),
    ("expires_at", Spec::Scalar),
    ("metadata", Spec::FreeMap),
    ("payment_method_types", Spec::List(&Spec::Scalar)),
    ("line_items", Spec::List(&LINE_ITEM)),
    (
        "payment_intent_data",
        Spec::Object(&[
            ("setup_future_usage", Spec::Scalar),
            ("metadata", Spec::FreeMap),
            ("description", Spec::Scalar),
        ]),
    ),
];
const INTENT_PARAMS: &[(&str, Spec)] = &[
    ("amount", Spec::Scalar),
    ("currency", Spec::Scalar),
    ("customer", Spec::Scalar),
    ("payment_method", Spec::Scalar),
    ("confirm", Spec::Scalar),
    ("off_session", Spec::Scalar),
    ("description", Spec::Scalar),
    ("error_on_requires_action", Spec::Scalar),
    ("payment_method_types", Spec::List(&Spec::Scalar)),
    ("metadata", Spec::FreeMap),
];
const REFUND_PARAMS: &[(&str, Spec)] = &[
    ("payment_intent", Spec::Scalar),
    ("amount", Spec::Scalar),
    ("reason", Spec::Scalar),
    ("metadata", Spec::FreeMap),
];
const LIST_PM_PARAMS: &[(&str, Spec)] = &[
    ("customer", Spec::Scalar),
    ("type", Spec::Scalar),
    ("limit", Spec::Scalar),
    ("starting_after", Spec::Scalar),
    ("ending_before", Spec::Scalar),
];
const NO_PARAMS: &[(&str, Spec)] = &[];

/// An HTTP answer in Stripe's shape.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body }
    }

    /// `{"error": {"type", "code", "message", "param", "doc_url"}}`.
    pub(crate) fn error(
        status: StatusCode,
        type_: &str,
        code: Option<&str>,
        message: impl Into<String>,
        param: Option<&str>,
    ) -> Self {
        let mut error = Map::new();
        error.insert("type".into(), json!(type_));
        error.insert("message".into(), json!(message.into()));
        if let Some(code) = code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"))),
            );
        }
        if let Some(param) = param.filter(|p| !p.is_empty()) {
            error.insert("param".into(), json!(param));
        }
        Self { status, body: json!({ "error": error }) }
    }

    fn invalid(code: Option<&str>, message: impl Into<String>, param: Option<&str>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, "invalid_request_error", code, message, param)
    }

    fn missing(param: &str) -> Self {
        Self::invalid(Some("parameter_missing"), format!("Missing required param: {param}."), Some(param))
    }

    fn no_such(kind: &str, id: &str, param: Option<&str>) -> Self {
        let status = if param.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::NOT_FOUND };
        Self::error(status, "invalid_request_error", Some("resource_missing"), format!("No such {kind}: '{id}'"), param)
    }
}

impl From<ParamError> for Reply {
    fn from(e: ParamError) -> Self {
        Reply::invalid(Some(e.code), e.message, Some(&e.param))
    }
}

/// A reply plus the events it produced (to deliver once the state lock is released).
pub(crate) struct Outcome {
    pub reply: Reply,
    pub events: Vec<EventRef>,
    /// Served from an idempotency record.
    pub replayed: bool,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Self { reply, events: Vec::new(), replayed: false }
    }
}

/// Which event of which account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EventRef {
    pub account: String,
    pub event_id: String,
}

/// Where and how to deliver one event.
pub(crate) struct Delivery {
    pub url: String,
    pub signing_secret: String,
    pub payload: Vec<u8>,
}

/// What the hosted payment page shows.
pub(crate) struct PageView {
    pub amount: i64,
    pub currency: String,
    pub item_name: String,
    pub open: bool,
    /// Saves a card; charges nothing.
    pub setup: bool,
    pub success_url: String,
    pub cancel_url: Option<String>,
}

struct Customer {
    id: String,
    email: Option<String>,
    name: Option<String>,
    description: Option<String>,
    metadata: Map<String, Value>,
    created: i64,
}

impl Customer {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "customer", "created": self.created, "livemode": false,
            "email": self.email, "name": self.name, "description": self.description, "metadata": self.metadata,
            "invoice_settings": {"default_payment_method": null},
        })
    }
}

struct Session {
    id: String,
    /// `mode=setup`: the page saves a card on the customer and charges nothing.
    setup: bool,
    customer: Option<String>,
    customer_email: Option<String>,
    client_reference_id: Option<String>,
    amount_total: i64,
    currency: String,
    item_name: String,
    success_url: String,
    cancel_url: Option<String>,
    metadata: Map<String, Value>,
    /// `payment_intent_data[setup_future_usage]`: save the card on the customer.
    setup_future_usage: Option<String>,
    /// `payment_intent_data[metadata]`, copied onto the PaymentIntent (not the session's `metadata`).
    intent_metadata: Map<String, Value>,
    url: String,
    status: &'static str,
    payment_status: &'static str,
    payment_intent: Option<String>,
    created: i64,
    expires_at: i64,
}

impl Session {
    fn json(&self) -> Value {
        let open = self.status == "open";
        json!({
            "id": self.id, "object": "checkout.session", "created": self.created, "expires_at": self.expires_at,
            "livemode": false, "mode": if self.setup { "setup" } else { "payment" }, "payment_method_types": ["card"],
            "amount_subtotal": self.amount_total, "amount_total": self.amount_total, "currency": self.currency,
            "customer": self.customer, "customer_email": self.customer_email,
            "client_reference_id": self.client_reference_id, "metadata": self.metadata,
            "success_url": self.success_url, "cancel_url": self.cancel_url,
            "url": if open { Some(&self.url) } else { None },
            "status": self.status, "payment_status": self.payment_status, "payment_intent": self.payment_intent,
        })
    }
}

struct Card {
    id: String,
    seq: u64,
    customer: Option<String>,
    /// Ever detached (or never attached): Stripe refuses to charge or re-attach it.
    consumed: bool,
    brand: &'static str,
    last4: &'static str,
    exp_month: u32,
    exp_year: i32,
    /// Charges fail with `card_declined` (Stripe's test card 4000 0000 0000 0341).
    declines: bool,
    created: i64,
}

impl Card {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "payment_method", "type": "card", "created": self.created, "livemode": false,
            "customer": self.customer, "metadata": {},
            "billing_details": {"address": null, "email": null, "name": null, "phone": null},
            "card": {"brand": self.brand, "last4": self.last4, "exp_month": self.exp_month,
                     "exp_year": self.exp_year, "funding": "credit", "country": "US"},
        })
    }
}

struct Intent {
    id: String,
    amount: i64,
    currency: String,
    customer: Option<String>,
    payment_method: Option<String>,
    status: &'static str,
    metadata: Map<String, Value>,
    setup_future_usage: Option<String>,
    last_payment_error: Option<Value>,
    latest_charge: Option<String>,
    /// What refunds have given back so far (never more than `amount`).
    amount_refunded: i64,
    created: i64,
}

impl Intent {
    fn json(&self) -> Value {
        let received = if self.status == "succeeded" { self.amount } else { 0 };
        json!({
            "id": self.id, "object": "payment_intent", "created": self.created, "livemode": false,
            "amount": self.amount, "amount_received": received, "currency": self.currency,
            "customer": self.customer, "payment_method": self.payment_method, "status": self.status,
            "metadata": self.metadata, "setup_future_usage": self.setup_future_usage,
            "last_payment_error": self.last_payment_error, "latest_charge": self.latest_charge,
            "capture_method": "automatic", "confirmation_method": "automatic", "payment_method_types": ["card"],
        })
    }
}

struct Refund {
    id: String,
    amount: i64,
    currency: String,
    payment_intent: String,
    charge: Option<String>,
    reason: Option<String>,
    metadata: Map<String, Value>,
    created: i64,
}

impl Refund {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "refund", "created": self.created, "amount": self.amount,
            "currency": self.currency, "payment_intent": self.payment_intent, "charge": self.charge,
            "reason": self.reason, "metadata": self.metadata, "status": "succeeded",
        })
    }
}

struct StoredEvent {
    id: String,
    type_: String,
    created: i64,
    data_object: Value,
    /// The exact JSON body delivered (and signed).
    payload: Vec<u8>,
    delivered: bool,
    attempts: u32,
}

/// A saved answer for an `Idempotency-Key`.
struct Saved {
    /// Method + path, and the parameter tree.
    request: (String, Value),
    reply: Reply,
}

struct Account {
    id: String,
    webhook_url: Option<String>,
    signing_secret: String,
    customers: BTreeMap<String, Customer>,
    sessions: BTreeMap<String, Session>,
    cards: BTreeMap<String, Card>,
    intents: BTreeMap<String, Intent>,
    /// In the order they were made.
    refunds: Vec<Refund>,
    events: Vec<StoredEvent>,
    idempotency: HashMap<String, Saved>,
}

impl Account {
    fn emit(&mut self, type_: &str, object: Value, now: i64) -> EventRef {
        let id = new_id("evt_", 24);
        let body = json!({
            "id": id, "object": "event", "api_version": API_VERSION, "created": now, "livemode": false,
            "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": type_,
            "data": {"object": object},
        });
        self.events.push(StoredEvent {
            id: id.clone(),
            type_: type_.to_owned(),
            created: now,
            data_object: object,
            payload: body.to_string().into_bytes(),
            delivered: false,
            attempts: 0,
        });
        EventRef { account: self.id.clone(), event_id: id }
    }
}

/// All accounts of the fake.
#[derive(Default)]
pub(crate) struct FakeState {
    /// Secret key → account id.
    keys: HashMap<String, String>,
    accounts: HashMap<String, Account>,
    /// Checkout session id → account id (the hosted page is public and knows only the session).
    session_accounts: HashMap<String, String>,
    seq: u64,
}

/// `prefix` + `len` random alphanumerics, as Stripe ids look.
fn new_id(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", Alphanumeric.sample_string(&mut rand::rng(), len))
}

/// `12.34 USD`, or `500 JPY` for a zero-decimal currency. Integer arithmetic only.
pub(crate) fn format_amount(amount: i64, currency: &str) -> String {
    let upper = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency) {
        format!("{amount} {upper}")
    } else {
        format!("{}.{:02} {upper}", amount / 100, amount % 100)
    }
}

fn parse_amount(raw: Option<&str>, param: &str) -> Result<i64, Reply> {
    let raw = raw.ok_or_else(|| Reply::missing(param))?;
    raw.parse::<i64>().ok().filter(|a| *a >= 0).ok_or_else(|| {
        Reply::invalid(Some("parameter_invalid_integer"), format!("Invalid integer: {raw}"), Some(param))
    })
}

fn check_amount_range(amount: i64, currency: &str, param: &str) -> Result<(), Reply> {
    if amount < MIN_AMOUNT {
        return Err(Reply::invalid(
            Some("amount_too_small"),
            format!("Amount must be at least {}", format_amount(MIN_AMOUNT, currency)),
            Some(param),
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(Reply::invalid(
            Some("amount_too_large"),
            format!("Amount must be no more than {}", format_amount(MAX_AMOUNT, currency)),
            Some(param),
        ));
    }
    Ok(())
}

fn parse_currency(raw: Option<&str>, param: &str) -> Result<String, Reply> {
    let raw = raw.ok_or_else(|| Reply::missing(param))?;
    if raw.len() != 3 || !raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Reply::invalid(Some("parameter_invalid"), format!("Invalid currency: {raw}"), Some(param)));
    }
    Ok(raw.to_ascii_lowercase())
}

fn parse_bool(raw: Option<&str>, param: &str) -> Result<bool, Reply> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => {
            Err(Reply::invalid(Some("parameter_invalid_boolean"), format!("Invalid boolean: {other}"), Some(param)))
        }
    }
}

fn non_empty(raw: Option<&str>) -> Option<String> {
    raw.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The parameter tree, refused as Stripe refuses unknown or malformed parameters.
pub(crate) fn parse_params(raw: &[u8], schema: &[(&str, Spec)]) -> Result<Map<String, Value>, Reply> {
    let pairs = params::decode_pairs(raw)?;
    let tree = params::tree(&pairs)?;
    params::check(&tree, schema)?;
    Ok(tree)
}

/// Which schema an endpoint uses (the HTTP layer parses before taking the lock).
pub(crate) mod schema {
    use super::*;
    pub(crate) const CUSTOMER: &[(&str, Spec)] = CUSTOMER_PARAMS;
    pub(crate) const CHECKOUT: &[(&str, Spec)] = CHECKOUT_PARAMS;
    pub(crate) const INTENT: &[(&str, Spec)] = INTENT_PARAMS;
    pub(crate) const LIST_PM: &[(&str, Spec)] = LIST_PM_PARAMS;
    pub(crate) const REFUND: &[(&str, Spec)] = REFUND_PARAMS;
    pub(crate) const NONE: &[(&str, Spec)] = NO_PARAMS;
}

impl FakeState {
    /// Adds an account for `secret_key`, or updates the webhook of the existing one. Returns the account id.
    pub(crate) fn register(&mut self, secret_key: &str, webhook_url: Option<&str>, signing_secret: &str) -> String {
        if let Some(id) = self.keys.get(secret_key).cloned() {
            if let Some(account) = self.accounts.get_mut(&id) {
                account.webhook_url = webhook_url.map(str::to_owned);
                account.signing_secret = signing_secret.to_owned();
            }
            return id;
        }
        let id = new_id("acct_", 16);
        self.keys.insert(secret_key.to_owned(), id.clone());
        self.accounts.insert(
            id.clone(),
            Account {
                id: id.clone(),
                webhook_url: webhook_url.map(str::to_owned),
                signing_secret: signing_secret.to_owned(),
                customers: BTreeMap::new(),
                sessions: BTreeMap::new(),
                cards: BTreeMap::new(),
                intents: BTreeMap::new(),
                refunds: Vec::new(),
                events: Vec::new(),
                idempotency: HashMap::new(),
            },
        );
        id
    }

    pub(crate) fn set_webhook(&mut self, secret_key: &str, url: &str, signing_secret: &str) -> bool {
        let Some(account) = self.account_by_key_mut(secret_key) else {
            return false;
        };
        account.webhook_url = Some(url.to_owned());
        account.signing_secret = signing_secret.to_owned();
        true
    }

    /// The account id a secret key opens, compared in constant time against every known key.
    pub(crate) fn authenticate(&self, presented: &str) -> Option<String> {
        let mut found = None;
        for (key, account) in &self.keys {
            if same_secret(key, presented) {
                found = Some(account.clone());
            }
        }
        found
    }

    fn account_by_key_mut(&mut self, secret_key: &str) -> Option<&mut Account> {
        let id = self.keys.get(secret_key)?;
        self.accounts.get_mut(id)
    }

    fn account_by_key(&self, secret_key: &str) -> Option<&Account> {
        self.accounts.get(self.keys.get(secret_key)?)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Runs `run` under `Idempotency-Key` rules: a saved answer for the same request is replayed; the same key
    /// with another request is refused; an answer is saved once the endpoint ran (2xx, or a 402 card error),
    /// not when the parameters were refused.
    pub(crate) fn idempotent(
        &mut self,
        account: &str,
        key: Option<&str>,
        request: (String, Value),
        run: impl FnOnce(&mut Self) -> Outcome,
    ) -> Outcome {
        let Some(key) = key else {
            return run(self);
        };
        if let Some(saved) = self.accounts.get(account).and_then(|a| a.idempotency.get(key)) {
            if saved.request == request {
                return Outcome { reply: saved.reply.clone(), events: Vec::new(), replayed: true };
            }
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used \
                     with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
                None,
            )
            .into();
        }
        let outcome = run(self);
        let status = outcome.reply.status;
        if status.is_success() || status == StatusCode::PAYMENT_REQUIRED {
            if let Some(a) = self.accounts.get_mut(account) {
                a.idempotency.insert(key.to_owned(), Saved { request, reply: outcome.reply.clone() });
            }
        }
        outcome
    }

    fn account_mut(&mut self, id: &str) -> Result<&mut Account, Reply> {
        self.accounts.get_mut(id).ok_or_else(|| {
            Reply::error(StatusCode::UNAUTHORIZED, "invalid_request_error", None, "Unknown account.", None)
        })
    }

    fn account(&self, id: &str) -> Result<&Account, Reply> {
        self.accounts.get(id).ok_or_else(|| {
            Reply::error(StatusCode::UNAUTHORIZED, "invalid_request_error", None, "Unknown account.", None)
        })
    }

    pub(crate) fn create_customer(&mut self, account: &str, p: &Map<String, Value>, now: i64) -> Outcome {
        let result = (|| {
            let email = non_empty(params::get(p, &["email"]));
            if let Some(email) = &email {
                if !email.contains('@') || email.contains(char::is_whitespace) {
                    return Err(Reply::invalid(
                        Some("email_invalid"),
                        format!("Invalid email address: {email}"),
                        Some("email"),
                    ));
                }
            }
            let customer = Customer {
                id: new_id("cus_", 14),
                email,
                name: non_empty(params::get(p, &["name"])),
                description: non_empty(params::get(p, &["description"])),
                metadata: params::string_map(p, "metadata"),
                created: now,
            };
            let body = customer.json();
            self.account_mut(account)?.customers.insert(customer.id.clone(), customer);
            Ok(Reply::ok(body))
        })();
        result.unwrap_or_else(|e| e).into()
    }

    pub(crate) fn get_customer(&self, account: &str, id: &str) -> Reply {
        match self.account(account) {
            Ok(a) => a.customers.get(id).map_or_else(|| Reply::no_such("customer", id, None), |c| Reply::ok(c.json())),
            Err(e) => e,
        }
    }

    /// `POST /v1/checkout/sessions` (mode=payment with `price_data` line items only). `page_base` is the
    /// fake's own origin, for the session's hosted-page `url`.
    pub(crate) fn create_session(
        &mut self,
        account: &str,
        p: &Map<String, Value>,
        now: i64,
        page_base: &str,
    ) -> Outcome {
        let result = self.build_session(account, p, now, page_base).and_then(|session| {
            let body = session.json();
            let id = session.id.clone();
            self.account_mut(account)?.sessions.insert(id.clone(), session);
            self.session_accounts.insert(id, account.to_owned());
            Ok(Reply::ok(body))
        });
        result.unwrap_or_else(|e| e).into()
    }

    fn build_session(
        &self,
        account: &str,
        p: &Map<String, Value>,
        now: i64,
        page_base: &str,
    ) -> Result<Session, Reply> {
        let acct = self.account(account)?;
        let setup = match params::get(p, &["mode"]) {
            None => return Err(Reply::missing("mode")),
            Some("payment") => false,
            Some("setup") => true,
            Some(other) => {
                return Err(Reply::invalid(
                    Some("parameter_invalid"),
                    format!("The Stripe fake only supports mode=payment and mode=setup, not {other}."),
                    Some("mode"),
                ))
            }
        };
        let success_url = non_empty(params::get(p, &["success_url"])).ok_or_else(|| Reply::missing("success_url"))?;
        if let Some(Value::Object(types)) = p.get("payment_method_types") {
            if let Some((i, _)) = types.iter().find(|(_, kind)| kind.as_str() != Some("card")) {
                return Err(Reply::invalid(
                    Some("parameter_invalid"),
                    "The Stripe fake only supports card payments.",
                    Some(&format!("payment_method_types[{i}]")),
                ));
            }
        }
        if setup {
            return Self::build_setup_session(acct, p, now, page_base, success_url);
        }
        let items = params::list(p, "line_items");
        if items.is_empty() {
            return Err(Reply::missing("line_items"));
        }
        let mut currency: Option<String> = None;
        let mut total: i64 = 0;
        let mut item_name = String::new();
        for (i, item) in items.iter().enumerate() {
            let at = |suffix: &str| format!("line_items[{i}]{suffix}");
            if item.contains_key("price") {
                return Err(Reply::invalid(
                    Some("parameter_invalid"),
                    "The Stripe fake only supports price_data, not saved prices.",
                    Some(&at("[price]")),
                ));
            }
            let quantity = parse_amount(params::get(item, &["quantity"]), &at("[quantity]"))?;
            if quantity < 1 {
                return Err(Reply::invalid(
                    Some("parameter_invalid_integer"),
                    "Quantity must be at least 1.",
                    Some(&at("[quantity]")),
                ));
            }
            let item_currency =
                parse_currency(params::get(item, &["price_data", "currency"]), &at("[price_data][currency]"))?;
            let unit =
                parse_amount(params::get(item, &["price_data", "unit_amount"]), &at("[price_data][unit_amount]"))?;
            let name = non_empty(params::get(item, &["price_data", "product_data", "name"]))
                .ok_or_else(|| Reply::missing(&at("[price_data][product_data][name]")))?;
            if currency.as_ref().is_some_and(|c| *c != item_currency) {
                return Err(Reply::invalid(
                    Some("parameter_invalid"),
                    "All line items must use the same currency.",
                    Some(&at("[price_data][currency]")),
                ));
            }
            currency = Some(item_currency);
            total = unit
                .checked_mul(quantity)
                .and_then(|line| total.checked_add(line))
                .ok_or_else(|| Reply::invalid(Some("amount_too_large"), "Amount too large.", Some("line_items")))?;
            if item_name.is_empty() {
                item_name = name;
            }
        }
        let currency = currency.unwrap_or_default();
        check_amount_range(total, &currency, "line_items")?;
        let customer = non_empty(params::get(p, &["customer"]));
        if let Some(c) = &customer {
            if !acct.customers.contains_key(c) {
                return Err(Reply::no_such("customer", c, Some("customer")));
            }
        }
        let setup_future_usage = non_empty(params::get(p, &["payment_intent_data", "setup_future_usage"]));
        if let Some(usage) = &setup_future_usage {
            if usage != "off_session" && usage != "on_session" {
                return Err(Reply::invalid(
                    Some("parameter_invalid"),
                    format!("Invalid setup_future_usage: {usage}"),
                    Some("payment_intent_data[setup_future_usage]"),
                ));
            }
        }
        let intent_metadata = match p.get("payment_intent_data").and_then(Value::as_object) {
            Some(data) => params::string_map(data, "metadata"),
            None => Map::new(),
        };
        let id = new_id("cs_test_", 40);
        Ok(Session {
            url: format!("{page_base}/pay/{id}"),
            id,
            setup: false,
            customer,
            customer_email: non_empty(params::get(p, &["customer_email"])),
            client_reference_id: non_empty(params::get(p, &["client_reference_id"])),
            amount_total: total,
            currency,
            item_name,
            success_url,
            cancel_url: non_empty(params::get(p, &["cancel_url"])),
            metadata: params::string_map(p, "metadata"),
            setup_future_usage,
            intent_metadata,
            status: "open",
            payment_status: "unpaid",
            payment_intent: None,
            created: now,
            expires_at: now + SESSION_LIFETIME_SECS,
        })
    }

    /// `mode=setup`: a session that saves a card on its customer (required, as at Stripe for saving) and
    /// charges nothing; no line items, `currency` for the page.
    fn build_setup_session(
        acct: &Account,
        p: &Map<String, Value>,
        now: i64,
        page_base: &str,
        success_url: String,
    ) -> Result<Session, Reply> {
        if p.contains_key("line_items") || p.contains_key("payment_intent_data") {
            return Err(Reply::invalid(
                Some("parameter_invalid"),
                "line_items and payment_intent_data cannot be used in setup mode.",
                Some("line_items"),
            ));
        }
        let customer = non_empty(params::get(p, &["customer"])).ok_or_else(|| Reply::missing("customer"))?;
        if !acct.customers.contains_key(&customer) {
            return Err(Reply::no_such("customer", &customer, Some("customer")));
        }
        let currency = match params::get(p, &["currency"]) {
            Some(c) => parse_currency(Some(c), "currency")?,
            None => "usd".to_owned(),
        };
        let id = new_id("cs_test_", 40);
        Ok(Session {
            url: format!("{page_base}/pay/{id}"),
            id,
            setup: true,
            customer: Some(customer),
            customer_email: None,
            client_reference_id: non_empty(params::get(p, &["client_reference_id"])),
            amount_total: 0,
            currency,
            item_name: "Save a card for future payments".to_owned(),
            success_url,
            cancel_url: non_empty(params::get(p, &["cancel_url"])),
            metadata: params::string_map(p, "metadata"),
            setup_future_usage: Some("off_session".to_owned()),
            intent_metadata: Map::new(),
            status: "open",
            payment_status: "unpaid",
            payment_intent: None,
            created: now,
            expires_at: now + SESSION_LIFETIME_SECS,
        })
    }

    pub(crate) fn get_session(&self, account: &str, id: &str) -> Reply {
        match self.account(account) {
            Ok(a) => {
                a.sessions.get(id).map_or_else(|| Reply::no_such("checkout.session", id, None), |s| Reply::ok(s.json()))
            }
            Err(e) => e,
        }
    }

    /// `GET /v1/payment_methods?customer=…&type=card`, newest first, `limit` (default 10, max 100) and
    /// `starting_after`.
    pub(crate) fn list_payment_methods(&self, account: &str, q: &Map<String, Value>) -> Reply {
        let result = (|| {
            let acct = self.account(account)?;
            let customer = params::get(q, &["customer"]).ok_or_else(|| Reply::missing("customer"))?;
            if !acct.customers.contains_key(customer) {
                return Err(Reply::no_such("customer", customer, Some("customer")));
            }
            match params::get(q, &["type"]) {
                None | Some("card") => {}
                Some(_) => {
                    return Ok(Reply::ok(
                        json!({"object": "list", "url": "/v1/payment_methods", "has_more": false, "data": []}),
                    ))
                }
            }
            let limit = match params::get(q, &["limit"]) {
                None => 10,
                Some(raw) => raw.parse::<usize>().ok().filter(|l| (1..=100).contains(l)).ok_or_else(|| {
                    Reply::invalid(Some("parameter_invalid_integer"), "limit must be between 1 and 100.", Some("limit"))
                })?,
            };
            let mut cards: Vec<&Card> =
                acct.cards.values().filter(|c| c.customer.as_deref() == Some(customer)).collect();
            cards.sort_by_key(|c| std::cmp::Reverse(c.seq));
            if let Some(after) = params::get(q, &["starting_after"]) {
                let position = cards
                    .iter()
                    .position(|c| c.id == after)
                    .ok_or_else(|| Reply::no_such("payment_method", after, Some("starting_after")))?;
                cards.drain(..=position);
            }
            let has_more = cards.len() > limit;
            let data: Vec<Value> = cards.iter().take(limit).map(|c| c.json()).collect();
            Ok(Reply::ok(json!({"object": "list", "url": "/v1/payment_methods", "has_more": has_more, "data": data})))
        })();
        result.unwrap_or_else(|e| e)
    }

    pub(crate) fn detach_payment_method(&mut self, account: &str, id: &str) -> Reply {
        let result = (|| {
            let card = self
                .account_mut(account)?
                .cards
                .get_mut(id)
                .ok_or_else(|| Reply::no_such("payment_method", id, None))?;
            if card.customer.is_none() {
                return Err(Reply::invalid(
                    Some("payment_method_unexpected_state"),
                    "The payment method you provided is not attached to a customer so detachment is impossible.",
                    None,
                ));
            }
            card.customer = None;
            card.consumed = true;
            Ok(Reply::ok(card.json()))
        })();
        result.unwrap_or_else(|e| e)
    }

    pub(crate) fn get_payment_intent(&self, account: &str, id: &str) -> Reply {
        match self.account(account) {
            Ok(a) => {
                a.intents.get(id).map_or_else(|| Reply::no_such("payment_intent", id, None), |i| Reply::ok(i.json()))
            }
            Err(e) => e,
        }
    }

    /// `POST /v1/payment_intents`. With `confirm=true` the saved card is charged at once: success, or a 402
    /// `card_error` carrying the PaymentIntent (now `requires_payment_method`) when the card declines.
    pub(crate) fn create_payment_intent(&mut self, account: &str, p: &Map<String, Value>, now: i64) -> Outcome {
        match self.charge(account, p, now) {
            Ok(outcome) => outcome,
            Err(reply) => reply.into(),
        }
    }

    fn charge(&mut self, account: &str, p: &Map<String, Value>, now: i64) -> Result<Outcome, Reply> {
        let amount = parse_amount(params::get(p, &["amount"]), "amount")?;
        let currency = parse_currency(params::get(p, &["currency"]), "currency")?;
        check_amount_range(amount, &currency, "amount")?;
        let confirm = parse_bool(params::get(p, &["confirm"]), "confirm")?;
        let off_session = match params::get(p, &["off_session"]) {
            None | Some("false") => false,
            Some("true" | "one_off" | "recurring") => true,
            Some(other) => {
                return Err(Reply::invalid(
                    Some("parameter_invalid"),
                    format!("Invalid off_session: {other}"),
                    Some("off_session"),
                ))
            }
        };
        if off_session && !confirm {
            return Err(Reply::invalid(
                Some("parameter_invalid"),
                "off_session can only be set when confirm is true.",
                Some("off_session"),
            ));
        }
        let acct = self.account_mut(account)?;
        let customer = non_empty(params::get(p, &["customer"]));
        if let Some(c) = &customer {
            if !acct.customers.contains_key(c) {
                return Err(Reply::no_such("customer", c, Some("customer")));
            }
        }
        let pm_id = non_empty(params::get(p, &["payment_method"]));
        let card = match &pm_id {
            Some(id) => {
                Some(acct.cards.get(id).ok_or_else(|| Reply::no_such("PaymentMethod", id, Some("payment_method")))?)
            }
            None => None,
        };
        if let Some(card) = card {
            if card.consumed || card.customer.is_none() {
                return Err(Reply::invalid(
                    Some("payment_method_unexpected_state"),
                    "The provided PaymentMethod was previously used without being attached to a Customer or was \
                     detached from a Customer, and may not be used again.",
                    Some("payment_method"),
                ));
            }
            if card.customer != customer {
                return Err(Reply::invalid(
                    None,
                    format!(
                        "The provided PaymentMethod is attached to another Customer than the one you provided ({}).",
                        customer.as_deref().unwrap_or("none")
                    ),
                    Some("payment_method"),
                ));
            }
        }
        if confirm && card.is_none() {
            return Err(Reply::invalid(
                Some("payment_intent_unexpected_state"),
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                Some("payment_method"),
            ));
        }
        let declines = card.is_some_and(|c| c.declines);
        let card_json = card.map(Card::json);
        let mut intent = Intent {
            id: new_id("pi_", 24),
            amount,
            currency,
            customer,
            payment_method: pm_id,
            status: if card_json.is_some() { "requires_confirmation" } else { "requires_payment_method" },
            metadata: params::string_map(p, "metadata"),
            setup_future_usage: None,
            last_payment_error: None,
            latest_charge: None,
            amount_refunded: 0,
            created: now,
        };
        if !confirm {
            let body = intent.json();
            acct.intents.insert(intent.id.clone(), intent);
            return Ok(Reply::ok(body).into());
        }
        intent.latest_charge = Some(new_id("ch_", 24));
        if declines {
            let error = json!({
                "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined.", "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "payment_method": card_json,
            });
            intent.status = "requires_payment_method";
            intent.last_payment_error = Some(error.clone());
            let pi = intent.json();
            let event = acct.emit("payment_intent.payment_failed", pi.clone(), now);
            acct.intents.insert(intent.id.clone(), intent);
            let mut body = error;
            if let Some(obj) = body.as_object_mut() {
                obj.insert("charge".into(), pi["latest_charge"].clone());
                obj.insert("payment_intent".into(), pi);
            }
            let reply = Reply { status: StatusCode::PAYMENT_REQUIRED, body: json!({ "error": body }) };
            return Ok(Outcome { reply, events: vec![event], replayed: false });
        }
        intent.status = "succeeded";
        let pi = intent.json();
        let event = acct.emit("payment_intent.succeeded", pi.clone(), now);
        acct.intents.insert(intent.id.clone(), intent);
        Ok(Outcome { reply: Reply::ok(pi), events: vec![event], replayed: false })
    }

    /// `POST /v1/refunds` against a PaymentIntent: only a succeeded one, and never more than is left
    /// unrefunded on it (as at Stripe). The whole remainder when `amount` is left out.
    pub(crate) fn create_refund(&mut self, account: &str, p: &Map<String, Value>, now: i64) -> Outcome {
        match self.refund(account, p, now) {
            Ok(outcome) => outcome,
            Err(reply) => reply.into(),
        }
    }

    fn refund(&mut self, account: &str, p: &Map<String, Value>, now: i64) -> Result<Outcome, Reply> {
        let pi_id = params::get(p, &["payment_intent"]).ok_or_else(|| Reply::missing("payment_intent"))?.to_owned();
        let reason = non_empty(params::get(p, &["reason"]));
        if let Some(r) = &reason {
            if !["duplicate", "fraudulent", "requested_by_customer"].contains(&r.as_str()) {
                return Err(Reply::invalid(Some("parameter_invalid"), format!("Invalid reason: {r}"), Some("reason")));
            }
        }
        let acct = self.account_mut(account)?;
        let intent = acct
            .intents
            .get_mut(&pi_id)
            .ok_or_else(|| Reply::no_such("payment_intent", &pi_id, Some("payment_intent")))?;
        if intent.status != "succeeded" {
            return Err(Reply::invalid(
                Some("charge_not_refundable"),
                format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
                Some("payment_intent"),
            ));
        }
        let left = intent.amount - intent.amount_refunded;
        if left <= 0 {
            return Err(Reply::invalid(
                Some("charge_already_refunded"),
                format!("Charge {} has already been refunded.", intent.latest_charge.clone().unwrap_or_default()),
                None,
            ));
        }
        let amount = match params::get(p, &["amount"]) {
            None => left,
            Some(raw) => raw.parse::<i64>().ok().filter(|a| *a > 0).ok_or_else(|| {
                Reply::invalid(
                    Some("parameter_invalid_integer"),
                    format!("Invalid positive integer: {raw}"),
                    Some("amount"),
                )
            })?,
        };
        if amount > left {
            return Err(Reply::invalid(
                Some("amount_too_large"),
                format!(
                    "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                    format_amount(amount, &intent.currency),
                    format_amount(left, &intent.currency)
                ),
                Some("amount"),
            ));
        }
        intent.amount_refunded += amount;
        let refund = Refund {
            id: new_id("re_", 24),
            amount,
            currency: intent.currency.clone(),
            payment_intent: pi_id,
            charge: intent.latest_charge.clone(),
            reason,
            metadata: params::string_map(p, "metadata"),
            created: now,
        };
        let body = refund.json();
        let event = acct.emit("refund.created", body.clone(), now);
        acct.refunds.push(refund);
        Ok(Outcome { reply: Reply::ok(body), events: vec![event], replayed: false })
    }

    pub(crate) fn refunds(&self, secret_key: &str) -> Vec<super::FakeRefund> {
        let Some(acct) = self.account_by_key(secret_key) else {
            return Vec::new();
        };
        acct.refunds
            .iter()
            .map(|r| super::FakeRefund {
                id: r.id.clone(),
                payment_intent: r.payment_intent.clone(),
                amount: r.amount,
                currency: r.currency.clone(),
            })
            .collect()
    }

    /// What the hosted page of a session shows, whichever account it belongs to.
    pub(crate) fn page(&self, cs_id: &str) -> Option<PageView> {
        let session = self.accounts.get(self.session_accounts.get(cs_id)?)?.sessions.get(cs_id)?;
        Some(PageView {
            amount: session.amount_total,
            currency: session.currency.clone(),
            item_name: session.item_name.clone(),
            open: session.status == "open",
            setup: session.setup,
            success_url: session.success_url.replace("{CHECKOUT_SESSION_ID}", &session.id),
            cancel_url: session.cancel_url.clone(),
        })
    }

    /// The customer pays on the hosted page: a card is created (saved to the customer when the session asked
    /// for `setup_future_usage`), its PaymentIntent succeeds, the session completes. Returns the success URL
    /// (with `{CHECKOUT_SESSION_ID}` replaced) and the events to deliver.
    pub(crate) fn complete_checkout(
        &mut self,
        cs_id: &str,
        decline_later: bool,
        now: i64,
        exp_year: i32,
    ) -> Result<(String, Vec<EventRef>), FakeError> {
        let account_id = self.session_accounts.get(cs_id).cloned().ok_or(FakeError::NoSuchSession)?;
        let seq = self.next_seq();
        let acct = self.accounts.get_mut(&account_id).ok_or(FakeError::NoSuchSession)?;
        let session = acct.sessions.get_mut(cs_id).ok_or(FakeError::NoSuchSession)?;
        if session.status != "open" {
            return Err(FakeError::NotOpen);
        }
        let saved = session.setup_future_usage.is_some() && session.customer.is_some();
        let card = Card {
            id: new_id("pm_", 24),
            seq,
            customer: if saved { session.customer.clone() } else { None },
            consumed: !saved,
            brand: "visa",
            last4: if decline_later { "0341" } else { "4242" },
            exp_month: 12,
            exp_year,
            declines: decline_later,
            created: now,
        };
        if session.setup {
            // Setup mode: the card is saved, nothing is charged (`no_payment_required`), no PaymentIntent.
            session.status = "complete";
            session.payment_status = "no_payment_required";
            let redirect = session.success_url.replace("{CHECKOUT_SESSION_ID}", cs_id);
            let session_json = session.json();
            acct.cards.insert(card.id.clone(), card);
            let events = vec![acct.emit("checkout.session.completed", session_json, now)];
            return Ok((redirect, events));
        }
        let intent = Intent {
            id: new_id("pi_", 24),
            amount: session.amount_total,
            currency: session.currency.clone(),
            customer: session.customer.clone(),
            payment_method: Some(card.id.clone()),
            status: "succeeded",
            metadata: session.intent_metadata.clone(),
            setup_future_usage: session.setup_future_usage.clone(),
            last_payment_error: None,
            latest_charge: Some(new_id("ch_", 24)),
            amount_refunded: 0,
            created: now,
        };
        session.status = "complete";
        session.payment_status = "paid";
        session.payment_intent = Some(intent.id.clone());
        let redirect = session.success_url.replace("{CHECKOUT_SESSION_ID}", cs_id);
        let session_json = session.json();
        let intent_json = intent.json();
        acct.cards.insert(card.id.clone(), card);
        acct.intents.insert(intent.id.clone(), intent);
        let events = vec![
            acct.emit("payment_intent.succeeded", intent_json, now),
            acct.emit("checkout.session.completed", session_json, now),
        ];
        Ok((redirect, events))
    }

    /// Saves a test card on a customer without a checkout. `None` if the key or customer is unknown.
    pub(crate) fn attach_card(
        &mut self,
        secret_key: &str,
        customer: &str,
        declines: bool,
        now: i64,
        exp_year: i32,
    ) -> Option<String> {
        let seq = self.next_seq();
        let acct = self.account_by_key_mut(secret_key)?;
        if !acct.customers.contains_key(customer) {
            return None;
        }
        let id = new_id("pm_", 24);
        acct.cards.insert(
            id.clone(),
            Card {
                id: id.clone(),
                seq,
                customer: Some(customer.to_owned()),
                consumed: false,
                brand: "visa",
                last4: if declines { "0341" } else { "4242" },
                exp_month: 12,
                exp_year,
                declines,
                created: now,
            },
        );
        Some(id)
    }

    /// The account's PaymentIntents, oldest first (creation order: ids are random).
    pub(crate) fn payment_intents(&self, secret_key: &str) -> Vec<super::FakePaymentIntent> {
        let Some(acct) = self.account_by_key(secret_key) else { return Vec::new() };
        let mut out: Vec<_> = acct
            .intents
            .values()
            .map(|i| super::FakePaymentIntent {
                id: i.id.clone(),
                amount: i.amount,
                status: i.status.to_owned(),
                metadata: i
                    .metadata
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect(),
                created: i.created,
            })
            .collect();
        out.sort_by_key(|i| i.created);
        out
    }

    pub(crate) fn customer_ids(&self, secret_key: &str) -> Vec<String> {
        self.account_by_key(secret_key).map(|a| a.customers.keys().cloned().collect()).unwrap_or_default()
    }

    pub(crate) fn events(&self, secret_key: &str) -> Vec<FakeEvent> {
        let Some(acct) = self.account_by_key(secret_key) else {
            return Vec::new();
        };
        acct.events
            .iter()
            .map(|e| FakeEvent {
                id: e.id.clone(),
                type_: e.type_.clone(),
                created: e.created,
                data_object: e.data_object.clone(),
                payload: String::from_utf8_lossy(&e.payload).into_owned(),
                delivered: e.delivered,
                attempts: e.attempts,
            })
            .collect()
    }

    pub(crate) fn all_events(&self) -> Vec<EventRef> {
        let mut all = Vec::new();
        for acct in self.accounts.values() {
            all.extend(acct.events.iter().map(|e| EventRef { account: acct.id.clone(), event_id: e.id.clone() }));
        }
        all
    }

    /// The current endpoint of the event's account and the event body; `None` without an endpoint.
    pub(crate) fn delivery(&self, event: &EventRef) -> Option<Delivery> {
        let acct = self.accounts.get(&event.account)?;
        let stored = acct.events.iter().find(|e| e.id == event.event_id)?;
        Some(Delivery {
            url: acct.webhook_url.clone()?,
            signing_secret: acct.signing_secret.clone(),
            payload: stored.payload.clone(),
        })
    }

    pub(crate) fn record_attempt(&mut self, event: &EventRef, delivered: bool) {
        let stored =
            self.accounts.get_mut(&event.account).and_then(|a| a.events.iter_mut().find(|e| e.id == event.event_id));
        if let Some(stored) = stored {
            stored.attempts += 1;
            stored.delivered |= delivered;
        }
    }
}

/// Constant-time string comparison (for the secret keys).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_formatted_with_integer_arithmetic() {
        assert_eq!(format_amount(1234, "usd"), "12.34 USD");
        assert_eq!(format_amount(5, "eur"), "0.05 EUR");
        assert_eq!(format_amount(500, "jpy"), "500 JPY");
    }

    #[test]
    fn a_replayed_key_returns_the_saved_answer_and_a_changed_request_is_refused() {
        let mut st = FakeState::default();
        let acct = st.register("sk_test_a", None, "whsec_a");
        let params = parse_params(b"email=a%40b.test", schema::CUSTOMER).unwrap();
        let request = ("POST /v1/customers".to_owned(), Value::Object(params.clone()));
        let first = st.idempotent(&acct, Some("k1"), request.clone(), |st| st.create_customer(&acct, &params, 1));
        let again = st.idempotent(&acct, Some("k1"), request, |st| st.create_customer(&acct, &params, 2));
        assert!(again.replayed);
        assert_eq!(first.reply.body["id"], again.reply.body["id"]);
        assert_eq!(st.customer_ids("sk_test_a").len(), 1);
        let other = parse_params(b"email=c%40d.test", schema::CUSTOMER).unwrap();
        let changed = ("POST /v1/customers".to_owned(), Value::Object(other.clone()));
        let refused = st.idempotent(&acct, Some("k1"), changed, |st| st.create_customer(&acct, &other, 3));
        assert_eq!(refused.reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.reply.body["error"]["type"], "idempotency_error");
    }

    #[test]
    fn refunds_never_give_back_more_than_was_paid() {
        let mut st = FakeState::default();
        let acct = st.register("sk_test_a", None, "whsec_a");
        let p = parse_params(b"email=a%40b.test", schema::CUSTOMER).unwrap();
        let cus = st.create_customer(&acct, &p, 1).reply.body["id"].as_str().unwrap().to_owned();
        let pm = st.attach_card("sk_test_a", &cus, false, 1, 2030).unwrap();
        let form = format!("amount=1000&currency=usd&customer={cus}&payment_method={pm}&confirm=true&off_session=true");
        let p = parse_params(form.as_bytes(), schema::INTENT).unwrap();
        let pi = st.create_payment_intent(&acct, &p, 1).reply.body["id"].as_str().unwrap().to_owned();
        let refund = |st: &mut FakeState, body: &str| {
            let p = parse_params(body.as_bytes(), schema::REFUND).unwrap();
            st.create_refund(&acct, &p, 2).reply
        };
        let first = refund(&mut st, &format!("payment_intent={pi}&amount=600"));
        assert_eq!((first.status, first.body["amount"].as_i64()), (StatusCode::OK, Some(600)));
        let too_much = refund(&mut st, &format!("payment_intent={pi}&amount=401"));
        assert_eq!(too_much.body["error"]["code"], "amount_too_large");
        let rest = refund(&mut st, &format!("payment_intent={pi}"));
        assert_eq!(rest.body["amount"].as_i64(), Some(400), "the remainder by default");
        let again = refund(&mut st, &format!("payment_intent={pi}&amount=1"));
        assert_eq!(again.body["error"]["code"], "charge_already_refunded");
        let unknown = refund(&mut st, "payment_intent=pi_nope&amount=1");
        assert_eq!(unknown.body["error"]["code"], "resource_missing");
        assert_eq!(st.refunds("sk_test_a").iter().map(|r| r.amount).collect::<Vec<_>>(), [600, 400]);
    }

    #[test]
    fn refused_parameters_are_not_saved_under_the_key() {
        let mut st = FakeState::default();
        let acct = st.register("sk_test_a", None, "whsec_a");
        let bad = parse_params(b"email=nope", schema::CUSTOMER).unwrap();
        let request = ("POST /v1/customers".to_owned(), Value::Object(bad.clone()));
        let first = st.idempotent(&acct, Some("k"), request, |st| st.create_customer(&acct, &bad, 1));
        assert_eq!(first.reply.status, StatusCode::BAD_REQUEST);
        let good = parse_params(b"email=a%40b.test", schema::CUSTOMER).unwrap();
        let request = ("POST /v1/customers".to_owned(), Value::Object(good.clone()));
        let second = st.idempotent(&acct, Some("k"), request, |st| st.create_customer(&acct, &good, 1));
        assert_eq!(second.reply.status, StatusCode::OK);
    }
}
