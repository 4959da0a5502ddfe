//! The fake's HTTP face: Bearer authentication, `Idempotency-Key`, the `/v1/…` endpoints and the hosted
//! payment page. Request bodies and keys are never logged.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::params::Spec;
use super::state::{format_amount, parse_params, schema, FakeState, Outcome, Reply};
use super::{card_exp_year, now_unix, webhooks, FakeError, StripeFake};

/// Stripe's limit on `Idempotency-Key`.
const IDEMPOTENCY_KEY_MAX: usize = 255;

pub(crate) fn router(fake: StripeFake) -> Router {
    Router::new()
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", get(get_customer))
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/payment_methods", get(list_payment_methods))
        .route("/v1/payment_methods/{id}/detach", post(detach_payment_method))
        .route("/v1/payment_intents", post(create_payment_intent))
        .route("/v1/payment_intents/{id}", get(get_payment_intent))
        .route("/v1/refunds", post(create_refund))
        .route("/pay/{id}", get(checkout_page).post(pay))
        .fallback(unknown_route)
        .with_state(fake)
}

fn respond(reply: Reply, replayed: bool) -> Response {
    let mut response = (reply.status, Json(reply.body)).into_response();
    let headers = response.headers_mut();
    let request_id = format!("req_{}", uuid::Uuid::new_v4().simple());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// `sk_test_****abcd`, as Stripe quotes a refused key; short keys are not quoted at all.
fn mask_key(key: &str) -> String {
    let prefix_len = key.match_indices('_').nth(1).map_or(0, |(i, _)| i + 1);
    if !key.is_ascii() || key.len() < prefix_len + 12 {
        return "****".into();
    }
    format!("{}{}{}", &key[..prefix_len], "*".repeat(key.len() - prefix_len - 4), &key[key.len() - 4..])
}

/// The account the `Authorization: Bearer …` key opens.
fn authenticate(fake: &StripeFake, headers: &HeaderMap) -> Result<String, Reply> {
    let unauthorized =
        |message: String| Reply::error(StatusCode::UNAUTHORIZED, "invalid_request_error", None, message, None);
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = presented else {
        return Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using \
             Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
        ));
    };
    fake.lock().authenticate(key).ok_or_else(|| unauthorized(format!("Invalid API Key provided: {}", mask_key(key))))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Reply> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().map_err(|_| invalid_key_reply())?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX {
        return Err(invalid_key_reply());
    }
    Ok(Some(key.to_owned()))
}

fn invalid_key_reply() -> Reply {
    Reply::error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters."),
        None,
    )
}

/// The origin checkout URLs point at: the configured one, or `http://` + the request's plain `Host`.
fn page_base(fake: &StripeFake, headers: &HeaderMap) -> String {
    if let Some(url) = &fake.shared.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).filter(|h| {
        !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    format!("http://{}", host.unwrap_or("localhost"))
}

type Run = fn(&mut FakeState, &str, &Map<String, Value>, i64, &str) -> Outcome;

/// A create call: count, authenticate, parse, run under the idempotency key, deliver events, answer.
fn create(
    fake: &StripeFake,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    schema: &[(&str, Spec)],
    run: Run,
) -> Response {
    fake.count_api_call();
    let prepared = (|| {
        let account = authenticate(fake, headers)?;
        let key = idempotency_key(headers)?;
        let params = parse_params(body, schema)?;
        Ok::<_, Reply>((account, key, params))
    })();
    let (account, key, params) = match prepared {
        Ok(p) => p,
        Err(reply) => return respond(reply, false),
    };
    let base = page_base(fake, headers);
    let now = now_unix();
    let request = (format!("POST {path}"), Value::Object(params.clone()));
    let outcome =
        fake.lock().idempotent(&account, key.as_deref(), request, |st| run(st, &account, &params, now, &base));
    webhooks::dispatch(fake, outcome.events);
    respond(outcome.reply, outcome.replayed)
}

/// A read call: count, authenticate, answer.
fn read(fake: &StripeFake, headers: &HeaderMap, run: impl FnOnce(&FakeState, &str) -> Reply) -> Response {
    fake.count_api_call();
    match authenticate(fake, headers) {
        Ok(account) => respond(run(&fake.lock(), &account), false),
        Err(reply) => respond(reply, false),
    }
}

async fn create_customer(State(fake): State<StripeFake>, headers: HeaderMap, body: Bytes) -> Response {
    create(&fake, &headers, "/v1/customers", &body, schema::CUSTOMER, |st, account, p, now, _| {
        st.create_customer(account, p, now)
    })
}

async fn get_customer(State(fake): State<StripeFake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&fake, &headers, |st, account| st.get_customer(account, &id))
}

async fn create_session(State(fake): State<StripeFake>, headers: HeaderMap, body: Bytes) -> Response {
    create(&fake, &headers, "/v1/checkout/sessions", &body, schema::CHECKOUT, |st, account, p, now, base| {
        st.create_session(account, p, now, base)
    })
}

async fn get_session(State(fake): State<StripeFake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&fake, &headers, |st, account| st.get_session(account, &id))
}

async fn list_payment_methods(
    State(fake): State<StripeFake>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = match parse_params(query.unwrap_or_default().as_bytes(), schema::LIST_PM) {
        Ok(q) => q,
        Err(reply) => {
            fake.count_api_call();
            return respond(reply, false);
        }
    };
    read(&fake, &headers, |st, account| st.list_payment_methods(account, &query))
}

async fn detach_payment_method(
    State(fake): State<StripeFake>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/v1/payment_methods/{id}/detach");
    fake.count_api_call();
    let prepared = (|| {
        let account = authenticate(&fake, &headers)?;
        let key = idempotency_key(&headers)?;
        let params = parse_params(&body, schema::NONE)?;
        Ok::<_, Reply>((account, key, params))
    })();
    let (account, key, params) = match prepared {
        Ok(p) => p,
        Err(reply) => return respond(reply, false),
    };
    let request = (format!("POST {path}"), Value::Object(params));
    let outcome =
        fake.lock().idempotent(&account, key.as_deref(), request, |st| st.detach_payment_method(&account, &id).into());
    respond(outcome.reply, outcome.replayed)
}

async fn create_payment_intent(State(fake): State<StripeFake>, headers: HeaderMap, body: Bytes) -> Response {
    create(&fake, &headers, "/v1/payment_intents", &body, schema::INTENT, |st, account, p, now, _| {
        st.create_payment_intent(account, p, now)
    })
}

async fn get_payment_intent(State(fake): State<StripeFake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    read(&fake, &headers, |st, account| st.get_payment_intent(account, &id))
}

async fn create_refund(State(fake): State<StripeFake>, headers: HeaderMap, body: Bytes) -> Response {
    create(&fake, &headers, "/v1/refunds", &body, schema::REFUND, |st, account, p, now, _| {
        st.create_refund(account, p, now)
    })
}

async fn unknown_route(State(fake): State<StripeFake>, method: Method, uri: Uri) -> Response {
    if !uri.path().starts_with("/v1/") {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    fake.count_api_call();
    let reply = Reply::error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        format!("Unrecognized request URL ({method}: {}).", uri.path()),
        None,
    );
    respond(reply, false)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body style=\"font-family:sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem\">\
         <p style=\"color:#b45309\">Test mode: local Stripe fake. No real money moves.</p>{body}</body></html>",
        title = escape(title)
    );
    (status, Html(html)).into_response()
}

/// `GET /pay/{cs_id}`: the hosted payment page.
async fn checkout_page(State(fake): State<StripeFake>, Path(id): Path<String>) -> Response {
    let Some(view) = fake.lock().page(&id) else {
        return page(StatusCode::NOT_FOUND, "Checkout not found", "<h1>This checkout session does not exist.</h1>");
    };
    if !view.open {
        let body = format!(
            "<h1>Already paid</h1><p><a id=\"continue\" href=\"{}\">Continue</a></p>",
            escape(&view.success_url)
        );
        return page(StatusCode::OK, "Already paid", &body);
    }
    let action = format!("/pay/{}", escape(&id));
    let cancel = view
        .cancel_url
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(|u| format!("<p><a id=\"cancel\" href=\"{}\">Cancel and go back</a></p>", escape(&u)))
        .unwrap_or_default();
    if view.setup {
        let body = format!(
            "<h1>Save a card</h1><p>{item}</p>\
             <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"outcome\" value=\"pay\">\
             <button id=\"pay\" type=\"submit\">Save card</button></form><br>\
             <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"outcome\" value=\"decline_later\">\
             <button id=\"pay-decline-later\" type=\"submit\">Save a card that will decline later</button></form>\
             {cancel}",
            item = escape(&view.item_name),
        );
        return page(StatusCode::OK, "Save a card", &body);
    }
    let body = format!(
        "<h1>Pay <span id=\"amount\">{amount}</span></h1><p>{item}</p>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"outcome\" value=\"pay\">\
         <button id=\"pay\" type=\"submit\">Pay</button></form><br>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"outcome\" value=\"decline_later\">\
         <button id=\"pay-decline-later\" type=\"submit\">Pay with a card that will decline later</button></form>\
         {cancel}",
        amount = escape(&format_amount(view.amount, &view.currency)),
        item = escape(&view.item_name),
    );
    page(StatusCode::OK, "Checkout", &body)
}

fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => page(
            StatusCode::OK,
            "Paid",
            &format!("<h1>Paid</h1><p><a id=\"continue\" href=\"{}\">Continue</a></p>", escape(url)),
        ),
    }
}

/// `POST /pay/{cs_id}` with `outcome=pay` or `outcome=decline_later`.
async fn pay(State(fake): State<StripeFake>, Path(id): Path<String>, body: Bytes) -> Response {
    let outcome = super::params::decode_pairs(&body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "outcome").map(|(_, v)| v));
    let decline_later = match outcome.as_deref() {
        Some("pay") => false,
        Some("decline_later") => true,
        _ => return page(StatusCode::BAD_REQUEST, "Bad request", "<h1>Choose how to pay.</h1>"),
    };
    let completed = fake.lock().complete_checkout(&id, decline_later, now_unix(), card_exp_year());
    match completed {
        Ok((redirect, events)) => {
            webhooks::dispatch(&fake, events);
            see_other(&redirect)
        }
        // A second click: already paid, go on as the first did.
        Err(FakeError::NotOpen) => match fake.lock().page(&id) {
            Some(view) => see_other(&view.success_url),
            None => page(StatusCode::NOT_FOUND, "Checkout not found", "<h1>This checkout session does not exist.</h1>"),
        },
        Err(FakeError::NoSuchSession) => {
            page(StatusCode::NOT_FOUND, "Checkout not found", "<h1>This checkout session does not exist.</h1>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys_are_quoted_masked() {
        assert_eq!(mask_key("sk_test_abcdefghijklmnop"), "sk_test_************mnop");
        assert_eq!(mask_key("sk_test_short"), "****");
        assert_eq!(mask_key("nounderscores-at-all-here"), "*********************here");
        assert!(!mask_key("sk_test_abcdefghijklmnop").contains("abcdefghijkl"));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
