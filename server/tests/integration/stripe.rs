//! The Stripe client driven over HTTP against the local Stripe fake, with a plain axum listener receiving the
//! webhooks: proves the client speaks Stripe's form encoding, idempotency and error shapes, that a decline is
//! a typed outcome, and that webhook signatures verify (and forgeries do not). Run with
//! `cargo test -p server --test integration stripe::`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::backend::clients::stripe::webhook::{self, Event, WebhookError, DEFAULT_TOLERANCE_SECS};
use app::backend::clients::stripe::{
    CheckoutSession, Metadata, StripeClient, StripeConfig, StripeCustomer, StripeError, TopupCheckout,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use server::stripe_fake::{FakeConfig, StripeFake};

use crate::common;
use tokio::sync::{mpsc, Mutex};

const KEY_A: &str = "sk_test_tenantA_51HxYzAbCdEfGhIjKlMnOp";
const WHSEC_A: &str = "whsec_tenantA_0123456789abcdef";
const KEY_B: &str = "sk_test_tenantB_51QrStUvWxYzAbCdEfGhIj";
const WHSEC_B: &str = "whsec_tenantB_fedcba9876543210";

/// One webhook POST as the receiver saw it.
#[derive(Clone, Debug)]
struct Delivery {
    signature: String,
    body: Vec<u8>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<Delivery>,
    /// Answer 500 to this many more requests.
    refuse: Arc<AtomicU32>,
    hits: Arc<AtomicU32>,
}

/// A webhook endpoint: `http://…/webhook`.
struct Receiver {
    url: String,
    rx: Mutex<mpsc::UnboundedReceiver<Delivery>>,
    /// Received but not yet asked for.
    held: Mutex<Vec<Delivery>>,
    refuse: Arc<AtomicU32>,
    hits: Arc<AtomicU32>,
}

async fn receive(State(st): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    st.hits.fetch_add(1, Ordering::SeqCst);
    if st.refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    st.tx.send(Delivery { signature, body: body.to_vec() }).unwrap();
    StatusCode::OK
}

impl Receiver {
    async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let refuse = Arc::new(AtomicU32::new(0));
        let hits = Arc::new(AtomicU32::new(0));
        let state = ReceiverState { tx, refuse: refuse.clone(), hits: hits.clone() };
        let app = Router::new().route("/webhook", post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url: format!("http://{addr}/webhook"), rx: Mutex::new(rx), held: Mutex::new(Vec::new()), refuse, hits }
    }

    /// The next delivery of an event of `type_`, verified with `secret`. Deliveries of other types are kept
    /// for later calls (the fake does not promise an order).
    async fn next(&self, type_: &str, secret: &str) -> (Delivery, Event) {
        let verify = |d: &Delivery| {
            webhook::verify(&d.body, &d.signature, secret, now(), DEFAULT_TOLERANCE_SECS)
                .expect("the fake's signature verifies")
        };
        let mut held = self.held.lock().await;
        if let Some(i) = held.iter().position(|d| verify(d).type_ == type_) {
            let delivery = held.remove(i);
            let event = verify(&delivery);
            return (delivery, event);
        }
        let mut rx = self.rx.lock().await;
        loop {
            let delivery = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {type_} webhook within 5 s"))
                .unwrap();
            let event = verify(&delivery);
            if event.type_ == type_ {
                return (delivery, event);
            }
            held.push(delivery);
        }
    }

    /// Everything delivered and not yet taken, without waiting.
    async fn drain(&self) -> Vec<Delivery> {
        let mut all = std::mem::take(&mut *self.held.lock().await);
        let mut rx = self.rx.lock().await;
        while let Ok(d) = rx.try_recv() {
            all.push(d);
        }
        all
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn fast() -> FakeConfig {
    FakeConfig { webhook_backoff: Duration::from_millis(20), ..FakeConfig::default() }
}

async fn start_fake(cfg: FakeConfig) -> (StripeFake, String) {
    let fake = StripeFake::new(cfg);
    let (addr, _task) = fake.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (fake, format!("http://{addr}"))
}

/// A fake with tenant A's account delivering to a fresh receiver.
async fn setup() -> (StripeFake, String, Receiver, StripeClient) {
    let (fake, base) = start_fake(fast()).await;
    let receiver = Receiver::start().await;
    fake.register_account(KEY_A, Some(&receiver.url), WHSEC_A);
    let client = client(&base, KEY_A);
    (fake, base, receiver, client)
}

fn client(base: &str, key: &str) -> StripeClient {
    StripeClient::new(StripeConfig {
        base_url: base.to_owned(),
        secret_key: key.to_owned(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn topup(customer: &StripeCustomer, amount_minor: i64, invoice: &str) -> TopupCheckout {
    TopupCheckout {
        customer_id: customer.id.clone(),
        amount_minor,
        currency: "usd".into(),
        success_url: "http://acme.localhost:3000/billing/done?session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "http://acme.localhost:3000/billing".into(),
        metadata: meta(&[("invoice_id", invoice), ("tenant", "acme")]),
        line_item: None,
    }
}

async fn customer(client: &StripeClient, key: &str) -> StripeCustomer {
    client.create_customer("ann@acme.test", "Ann Example", &meta(&[("customer_id", "c-1")]), key).await.unwrap()
}

/// A customer who paid a top-up on the hosted page (without a browser), and the paid session.
async fn paid_customer(
    fake: &StripeFake,
    client: &StripeClient,
    decline_later: bool,
) -> (StripeCustomer, CheckoutSession) {
    let cust = customer(client, &format!("cust-{decline_later}")).await;
    let session =
        client.create_topup_checkout(&topup(&cust, 2000, "inv-1"), &format!("topup-{decline_later}")).await.unwrap();
    fake.complete_checkout(&session.id, decline_later).unwrap();
    fake.flush_webhooks().await;
    (cust, session)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn checkout_flow_end_to_end_with_a_verified_webhook() {
    let (fake, base, receiver, client) = setup().await;
    let cust = customer(&client, "cust-1").await;
    assert!(cust.id.starts_with("cus_"), "{}", cust.id);
    assert_eq!(cust.email.as_deref(), Some("ann@acme.test"));
    assert_eq!(cust.metadata, meta(&[("customer_id", "c-1")]));

    let session = client.create_topup_checkout(&topup(&cust, 1234, "inv_42"), "topup-inv_42").await.unwrap();
    assert!(session.id.starts_with("cs_test_"), "{}", session.id);
    let url = session.url.clone().unwrap();
    assert_eq!(url, format!("{base}/pay/{}", session.id));
    assert_eq!(session.status.as_deref(), Some("open"));
    assert_eq!(session.payment_status, "unpaid");
    assert!(!session.is_paid());
    assert_eq!((session.amount_total, session.currency.as_deref()), (Some(1234), Some("usd")));
    assert_eq!(session.customer.as_deref(), Some(cust.id.as_str()));
    assert_eq!(session.payment_intent, None);
    assert_eq!(session.metadata["invoice_id"], "inv_42");

    // The hosted page, as a browser sees it.
    let http = no_redirects();
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("12.34 USD") && html.contains("Account credit"), "{html}");
    assert!(html.contains(">Pay<") && html.contains("Pay with a card that will decline later"), "{html}");

    let paid = http.post(&url).form(&[("outcome", "pay")]).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("http://acme.localhost:3000/billing/done?session={}", session.id));

    let (delivery, event) = receiver.next("checkout.session.completed", WHSEC_A).await;
    assert!(event.id.starts_with("evt_"), "{}", event.id);
    let completed = event.checkout_session().unwrap();
    assert_eq!(completed.id, session.id);
    assert!(completed.is_paid() && completed.is_complete());
    assert_eq!(completed.amount_total, Some(1234));
    assert_eq!(completed.metadata["invoice_id"], "inv_42");
    let pi_id = completed.payment_intent.clone().unwrap();
    assert!(pi_id.starts_with("pi_"), "{pi_id}");
    // The same delivery does not verify under another tenant's secret.
    assert_eq!(
        webhook::verify(&delivery.body, &delivery.signature, WHSEC_B, now(), DEFAULT_TOLERANCE_SECS),
        Err(WebhookError::SignatureMismatch)
    );
    // The checkout's own PaymentIntent is announced too (without the session's metadata), as at Stripe.
    let (_, pi_event) = receiver.next("payment_intent.succeeded", WHSEC_A).await;
    let pi = pi_event.payment_intent().unwrap();
    assert_eq!((pi.id.as_str(), pi.amount, pi.succeeded()), (pi_id.as_str(), 1234, true));

    let fetched = client.get_checkout_session(&session.id).await.unwrap();
    assert!(fetched.is_paid() && fetched.is_complete());
    assert_eq!(fetched.url, None, "a completed session has no URL");
    assert_eq!(fetched.payment_intent.as_deref(), Some(pi_id.as_str()));

    // The card was saved on the customer for later off-session charges.
    let cards = client.list_payment_methods(&cust.id).await.unwrap();
    assert_eq!(cards.len(), 1);
    let card = &cards[0];
    assert!(card.id.starts_with("pm_"));
    assert_eq!((card.brand.as_str(), card.last4.as_str(), card.exp_month), ("visa", "4242", 12));
    assert!(card.exp_year >= 2026);
    assert_eq!(card.customer.as_deref(), Some(cust.id.as_str()));

    // A second click (or a reload) does not pay twice.
    fake.flush_webhooks().await;
    let events_before = fake.events(KEY_A).len();
    let again = http.post(&url).form(&[("outcome", "pay")]).send().await.unwrap();
    assert_eq!((again.status().as_u16(), again.headers()["location"].to_str().unwrap()), (303, location.as_str()));
    assert!(http.get(&url).send().await.unwrap().text().await.unwrap().contains("Already paid"));
    assert_eq!(fake.events(KEY_A).len(), events_before);
    assert_eq!(fake.complete_checkout(&session.id, false), Err(server::stripe_fake::FakeError::NotOpen));
    let all = fake.events(KEY_A);
    assert!(all.iter().all(|e| e.delivered && e.attempts == 1), "{all:?}");
    assert_eq!(
        all.iter().map(|e| e.type_.as_str()).collect::<Vec<_>>(),
        ["payment_intent.succeeded", "checkout.session.completed"]
    );
}

#[tokio::test]
async fn idempotent_replays_return_the_first_answer() {
    let (fake, _base, _receiver, client) = setup().await;
    let first = customer(&client, "cust-key-1").await;
    let replay = customer(&client, "cust-key-1").await;
    assert_eq!(first.id, replay.id);
    assert_eq!(fake.customer_ids(KEY_A), vec![first.id.clone()], "no second customer");

    let changed = client.create_customer("bob@acme.test", "Bob", &Metadata::new(), "cust-key-1").await.unwrap_err();
    assert!(changed.is_idempotency_conflict(), "{changed}");
    assert!(matches!(changed, StripeError::Api { status: 400, .. }), "{changed:?}");
    assert!(!changed.is_retryable());
    assert_eq!(fake.customer_ids(KEY_A).len(), 1);

    let s1 = client.create_topup_checkout(&topup(&first, 1500, "inv-9"), "topup-inv-9").await.unwrap();
    let s2 = client.create_topup_checkout(&topup(&first, 1500, "inv-9"), "topup-inv-9").await.unwrap();
    assert_eq!(s1.id, s2.id);
    let other_amount = client.create_topup_checkout(&topup(&first, 1600, "inv-9"), "topup-inv-9").await.unwrap_err();
    assert!(other_amount.is_idempotency_conflict(), "{other_amount}");

    // Off-session charges, successful and declined, replay too: one charge, one event.
    let good = fake.attach_card(KEY_A, &first.id, false).unwrap();
    let bad = fake.attach_card(KEY_A, &first.id, true).unwrap();
    let charge = |pm: String, key: &'static str| {
        let client = client.clone();
        let customer = first.id.clone();
        async move { client.charge_off_session(&customer, &pm, 700, "usd", &meta(&[("invoice_id", "inv-10")]), key).await }
    };
    let p1 = charge(good.clone(), "charge-inv-10").await.unwrap();
    let p2 = charge(good.clone(), "charge-inv-10").await.unwrap();
    assert_eq!(p1.id, p2.id);
    assert!(p1.succeeded() && p2.succeeded());
    let d1 = charge(bad.clone(), "charge-inv-11").await.unwrap();
    let d2 = charge(bad, "charge-inv-11").await.unwrap();
    assert_eq!(d1.id, d2.id);
    assert_eq!((d1.status.as_str(), d2.status.as_str()), ("requires_payment_method", "requires_payment_method"));
    fake.flush_webhooks().await;
    let types: Vec<String> = fake.events(KEY_A).into_iter().map(|e| e.type_).collect();
    assert_eq!(types, ["payment_intent.succeeded", "payment_intent.payment_failed"]);
}

#[tokio::test]
async fn another_accounts_key_cannot_read_the_session() {
    let (fake, base, _receiver, client_a) = setup().await;
    fake.register_account(KEY_B, None, WHSEC_B);
    let client_b = client(&base, KEY_B);
    let (cust, session) = paid_customer(&fake, &client_a, false).await;
    let card = client_a.list_payment_methods(&cust.id).await.unwrap().remove(0);

    let err = client_b.get_checkout_session(&session.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(matches!(&err, StripeError::Api { status: 404, type_, .. } if type_ == "invalid_request_error"), "{err:?}");
    let err = client_b.list_payment_methods(&cust.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err =
        client_b.charge_off_session(&cust.id, &card.id, 500, "usd", &Metadata::new(), "steal-1").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = client_b.detach_payment_method(&card.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // Tenant B's idempotency keys are its own: the same key creates B's own customer.
    let b_cust = customer(&client_b, "cust-false").await;
    assert_ne!(b_cust.id, cust.id);
    assert_eq!(fake.customer_ids(KEY_B), vec![b_cust.id]);
    // A's card is untouched.
    assert_eq!(client_a.list_payment_methods(&cust.id).await.unwrap().len(), 1);

    // A key the fake does not know is refused before anything happens.
    let stranger_key = "sk_test_unknown_1234567890abcdefWXYZ";
    let stranger = client(&base, stranger_key);
    let err = stranger.get_checkout_session(&session.id).await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(!text.contains(stranger_key), "{text}");
    assert!(text.contains("WXYZ"), "Stripe quotes a masked key: {text}");
}

#[tokio::test]
async fn an_off_session_charge_succeeds_and_is_announced() {
    let (fake, _base, receiver, client) = setup().await;
    let (cust, _) = paid_customer(&fake, &client, false).await;
    let card = client.list_payment_methods(&cust.id).await.unwrap().remove(0);
    receiver.drain().await;

    let metadata = meta(&[("invoice_id", "inv-77")]);
    let pi = client.charge_off_session(&cust.id, &card.id, 4999, "USD", &metadata, "charge-inv-77").await.unwrap();
    assert!(pi.id.starts_with("pi_"), "{}", pi.id);
    assert!(pi.succeeded() && !pi.failed());
    assert_eq!((pi.amount, pi.currency.as_str()), (4999, "usd"));
    assert_eq!(pi.customer.as_deref(), Some(cust.id.as_str()));
    assert_eq!(pi.payment_method.as_deref(), Some(card.id.as_str()));
    assert_eq!(pi.metadata, metadata);
    assert_eq!(pi.last_payment_error, None);

    let (_, event) = receiver.next("payment_intent.succeeded", WHSEC_A).await;
    let announced = event.payment_intent().unwrap();
    assert_eq!(announced.id, pi.id);
    assert_eq!(announced.metadata["invoice_id"], "inv-77");
    assert!(matches!(event.checkout_session(), Err(WebhookError::UnexpectedObject { .. })));
}

#[tokio::test]
async fn a_declined_off_session_charge_is_a_typed_outcome_not_an_error() {
    let (fake, base, receiver, client) = setup().await;
    let (cust, session) = paid_customer(&fake, &client, true).await;
    // The checkout itself was paid with the card that declines later.
    assert!(client.get_checkout_session(&session.id).await.unwrap().is_paid());
    let card = client.list_payment_methods(&cust.id).await.unwrap().remove(0);
    assert_eq!(card.last4, "0341");
    receiver.drain().await;

    let pi = client
        .charge_off_session(&cust.id, &card.id, 2500, "usd", &meta(&[("invoice_id", "inv-5")]), "charge-inv-5")
        .await
        .unwrap();
    assert_eq!(pi.status, "requires_payment_method");
    assert!(pi.failed() && !pi.succeeded());
    assert_eq!(pi.amount, 2500);
    let why = pi.last_payment_error.clone().unwrap();
    assert_eq!(why.code.as_deref(), Some("card_declined"));
    assert_eq!(why.decline_code.as_deref(), Some("generic_decline"));
    assert_eq!(why.message.as_deref(), Some("Your card was declined."));

    let (_, event) = receiver.next("payment_intent.payment_failed", WHSEC_A).await;
    let failed = event.payment_intent().unwrap();
    assert_eq!((failed.id.as_str(), failed.status.as_str()), (pi.id.as_str(), "requires_payment_method"));
    assert_eq!(failed.last_payment_error.unwrap().code.as_deref(), Some("card_declined"));
    assert_eq!(failed.metadata["invoice_id"], "inv-5");

    // On the wire it is Stripe's 402 card_error carrying the PaymentIntent.
    let raw = reqwest::Client::new()
        .post(format!("{base}/v1/payment_intents"))
        .bearer_auth(KEY_A)
        .form(&[
            ("amount", "900"),
            ("currency", "usd"),
            ("customer", cust.id.as_str()),
            ("payment_method", card.id.as_str()),
            ("confirm", "true"),
            ("off_session", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 402);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(body["error"]["payment_intent"]["status"], "requires_payment_method");
}

#[tokio::test]
async fn a_detached_card_is_gone_and_cannot_be_charged() {
    let (fake, _base, _receiver, client) = setup().await;
    let (cust, _) = paid_customer(&fake, &client, false).await;
    let second = fake.attach_card(KEY_A, &cust.id, false).unwrap();
    let cards = client.list_payment_methods(&cust.id).await.unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards[0].id, second, "newest first");

    let detached = client.detach_payment_method(&second).await.unwrap();
    assert_eq!((detached.id.as_str(), detached.customer.as_deref()), (second.as_str(), None));
    let left: Vec<String> = client.list_payment_methods(&cust.id).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(left, vec![cards[1].id.clone()]);

    let err = client.detach_payment_method(&second).await.unwrap_err();
    assert!(matches!(err, StripeError::Api { status: 400, .. }), "{err:?}");
    let err =
        client.charge_off_session(&cust.id, &second, 500, "usd", &Metadata::new(), "after-detach").await.unwrap_err();
    assert!(matches!(&err, StripeError::Api { status: 400, param: Some(p), .. } if p == "payment_method"), "{err:?}");
}

#[tokio::test]
async fn listing_follows_pages() {
    let (fake, _base, _receiver, client) = setup().await;
    let cust = customer(&client, "cust-many").await;
    let mut ids: Vec<String> = (0..105).map(|_| fake.attach_card(KEY_A, &cust.id, false).unwrap()).collect();
    ids.reverse();
    let listed: Vec<String> = client.list_payment_methods(&cust.id).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn signature_verification_rejects_forgeries() {
    let (fake, _base, receiver, client) = setup().await;
    paid_customer(&fake, &client, false).await;
    let (delivery, event) = receiver.next("checkout.session.completed", WHSEC_A).await;
    let (body, sig) = (delivery.body.as_slice(), delivery.signature.as_str());
    let t: i64 = sig.split(',').find_map(|p| p.strip_prefix("t=")).unwrap().parse().unwrap();
    let verify = |body: &[u8], sig: &str, secret: &str, now: i64| webhook::verify(body, sig, secret, now, 300);

    assert_eq!(verify(body, sig, WHSEC_A, t).unwrap(), event);
    // Wrong secret.
    assert_eq!(verify(body, sig, "whsec_wrong", t), Err(WebhookError::SignatureMismatch));
    // Tampered payload: the amount raised by one cent.
    let tampered = String::from_utf8(body.to_vec()).unwrap().replace("\"amount_total\":2000", "\"amount_total\":2001");
    assert_ne!(tampered.as_bytes(), body);
    assert_eq!(verify(tampered.as_bytes(), sig, WHSEC_A, t), Err(WebhookError::SignatureMismatch));
    // Stale (a replay six minutes later), and from the future.
    assert_eq!(verify(body, sig, WHSEC_A, t + 360), Err(WebhookError::OutsideTolerance { age: 360, tolerance: 300 }));
    assert!(matches!(verify(body, sig, WHSEC_A, t - 360), Err(WebhookError::OutsideTolerance { .. })));
    // A fresh timestamp pasted onto the old signature.
    let refreshed = sig.replace(&format!("t={t}"), &format!("t={}", t + 360));
    assert_eq!(verify(body, &refreshed, WHSEC_A, t + 360), Err(WebhookError::SignatureMismatch));
    // Garbled or missing headers.
    assert_eq!(verify(body, "", WHSEC_A, t), Err(WebhookError::MissingHeader));
    assert_eq!(verify(body, "not a signature", WHSEC_A, t), Err(WebhookError::MalformedHeader));
    assert_eq!(verify(body, &format!("t=yesterday,{}", &sig[13..]), WHSEC_A, t), Err(WebhookError::MalformedHeader));
    assert_eq!(verify(body, &format!("t={t}"), WHSEC_A, t), Err(WebhookError::NoSignature));
    assert_eq!(verify(body, &format!("t={t},v1=nothex"), WHSEC_A, t), Err(WebhookError::SignatureMismatch));
    // What `sign` makes verifies; a rolled secret's second v1 is accepted.
    let resigned = webhook::sign(body, WHSEC_A, t);
    let rolled = format!("{},{}", webhook::sign(body, "whsec_old", t), &resigned[resigned.find(",v1=").unwrap() + 1..]);
    assert!(verify(body, &rolled, WHSEC_A, t).is_ok());
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_the_receiver_accepts() {
    let (fake, _base, receiver, client) = setup().await;
    // One attempt dropped by the fake, two answered 500 by the receiver.
    fake.fail_webhooks(1);
    receiver.refuse.store(2, Ordering::SeqCst);
    let (_, session) = paid_customer(&fake, &client, false).await;

    let (_, event) = receiver.next("checkout.session.completed", WHSEC_A).await;
    assert_eq!(event.checkout_session().unwrap().id, session.id);
    let events = fake.events(KEY_A);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.delivered), "{events:?}");
    assert_eq!(events.iter().map(|e| e.attempts).sum::<u32>(), 5, "2 successes after 3 failures: {events:?}");
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 4, "the dropped attempt never reached the receiver");
}

#[tokio::test]
async fn undelivered_events_can_be_redelivered() {
    let (fake, base) = start_fake(FakeConfig { webhook_attempts: 2, ..fast() }).await;
    let receiver = Receiver::start().await;
    fake.register_account(KEY_A, Some(&receiver.url), WHSEC_A);
    let client = client(&base, KEY_A);
    fake.fail_webhooks(100);
    paid_customer(&fake, &client, false).await;
    let events = fake.events(KEY_A);
    assert!(events.iter().all(|e| !e.delivered && e.attempts == 2), "{events:?}");
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 0);

    fake.fail_webhooks(0);
    assert_eq!(fake.redeliver_all(), 2);
    fake.flush_webhooks().await;
    assert!(fake.events(KEY_A).iter().all(|e| e.delivered));
    let delivered = receiver.drain().await;
    assert_eq!(delivered.len(), 2);
    for d in &delivered {
        webhook::verify(&d.body, &d.signature, WHSEC_A, now(), DEFAULT_TOLERANCE_SECS).unwrap();
    }

    // An endpoint set later receives redeliveries at its new address with its new secret.
    let moved = Receiver::start().await;
    assert!(fake.set_webhook(KEY_A, &moved.url, "whsec_rotated"));
    assert!(!fake.set_webhook("sk_test_nobody", &moved.url, "whsec_x"));
    fake.redeliver_all();
    let (_, event) = moved.next("checkout.session.completed", "whsec_rotated").await;
    assert!(event.id.starts_with("evt_"));
}

#[tokio::test]
async fn the_fake_refuses_what_stripe_refuses() {
    let (fake, base, _receiver, client) = setup().await;
    let http = reqwest::Client::new();
    let no_key = http.post(format!("{base}/v1/customers")).form(&[("email", "a@b.test")]).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let body: serde_json::Value = no_key.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let typo = http
        .post(format!("{base}/v1/customers"))
        .bearer_auth(KEY_A)
        .form(&[("emial", "a@b.test")])
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    let body: serde_json::Value = typo.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (Some("parameter_unknown"), Some("emial"))
    );

    let unknown = http.get(format!("{base}/v1/charges")).bearer_auth(KEY_A).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let cust = customer(&client, "cust-small").await;
    let err = client.create_topup_checkout(&topup(&cust, 49, "inv-small"), "topup-small").await.unwrap_err();
    assert!(matches!(&err, StripeError::Api { code: Some(c), .. } if c == "amount_too_small"), "{err:?}");
    let err = client.get_checkout_session("cs_test_doesnotexist").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // Arguments that can never be valid are refused before any request.
    let calls = fake.api_call_count();
    for amount in [0, -100] {
        let err = client.create_topup_checkout(&topup(&cust, amount, "inv-0"), "topup-0").await.unwrap_err();
        assert!(matches!(err, StripeError::InvalidArgument(_)), "{err:?}");
    }
    let err = client.get_checkout_session("../customers").await.unwrap_err();
    assert!(matches!(err, StripeError::InvalidArgument(_)), "{err:?}");
    let err = client.charge_off_session(&cust.id, "pm_x", 500, "dollars", &Metadata::new(), "k").await.unwrap_err();
    assert!(matches!(err, StripeError::InvalidArgument(_)), "{err:?}");
    assert_eq!(fake.api_call_count(), calls);
}

#[tokio::test]
async fn the_secret_key_never_appears_in_errors_or_debug_output() {
    let secret = "sk_test_VerySecret_0123456789abcdefghij";
    let cfg = StripeConfig {
        base_url: "http://127.0.0.1:1".into(),
        secret_key: secret.into(),
        timeout: Duration::from_secs(2),
    };
    let check = |text: String| assert!(!text.contains(secret) && !text.contains("VerySecret"), "{text}");
    check(format!("{cfg:?}"));
    check(format!("{:?}", StripeClient::new(cfg.clone()).unwrap()));

    // Refused by Stripe (the fake does not know the key).
    let (_fake, base, _receiver, _client) = setup().await;
    let err = client(&base, secret).create_customer("a@b.test", "", &Metadata::new(), "k1").await.unwrap_err();
    assert!(err.is_authentication());
    check(format!("{err} {err:?}"));

    // Nobody listening.
    let (_held, addr) = common::refusing_addr();
    let err = client(&format!("http://{addr}"), secret).get_checkout_session("cs_test_1").await.unwrap_err();
    assert!(matches!(err, StripeError::Transport(_)) && err.is_retryable(), "{err:?}");
    check(format!("{err} {err:?}"));

    // Accepts the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = silent.accept().await.unwrap();
            held.push(socket);
        }
    });
    let slow = StripeClient::new(StripeConfig {
        base_url: format!("http://{silent_addr}"),
        secret_key: secret.into(),
        timeout: Duration::from_millis(300),
    })
    .unwrap();
    let err = slow.charge_off_session("cus_1", "pm_1", 500, "usd", &Metadata::new(), "k2").await.unwrap_err();
    assert!(matches!(err, StripeError::Timeout) && err.is_retryable(), "{err:?}");
    check(format!("{err} {err:?}"));
    hold.abort();

    // A misconfiguration does not quote the key either.
    let err = StripeClient::new(StripeConfig { base_url: "not a url".into(), ..cfg }).unwrap_err();
    check(format!("{err} {err:?}"));
}
