//! Stripe webhooks: checking the `Stripe-Signature` header and reading the event.
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (Stripe sends several `v1` while a signing secret
//! is being rolled, and may add other schemes, which are ignored). Each `v1` is
//! `hex(HMAC-SHA256(signing_secret, "<t>.<raw body>"))`, over the body exactly as received: verify before
//! any JSON parsing. The timestamp bounds replays.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::types::{CheckoutSession, PaymentIntent};

/// How far (seconds) a signature's timestamp may be from now, as Stripe's own libraries default to.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The name of the header Stripe signs with.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook was refused (answer 400) or its object could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Our side: no signing secret configured for this endpoint.
    #[error("no webhook signing secret configured")]
    NoSigningSecret,
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    /// Not `key=value` pairs, or no (or more than one, or a non-numeric) `t`.
    #[error("malformed Stripe-Signature header")]
    MalformedHeader,
    #[error("Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("no v1 signature matches the payload")]
    SignatureMismatch,
    /// `age` = now − t (negative for a timestamp in the future).
    #[error("signature timestamp is {age} s from now, outside the {tolerance} s tolerance")]
    OutsideTolerance { age: i64, tolerance: i64 },
    /// Correctly signed, but not an event we can read.
    #[error("webhook payload is not a Stripe event: {0}")]
    InvalidPayload(String),
    /// [`Event::checkout_session`] or [`Event::payment_intent`] on an event about another kind of object.
    #[error("event {event_type} does not carry a {expected}")]
    UnexpectedObject { event_type: String, expected: &'static str },
}

/// A verified Stripe event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `evt_…`: Stripe may deliver the same event more than once; deduplicate on it.
    pub id: String,
    /// e.g. `checkout.session.completed`, `payment_intent.succeeded`, `payment_intent.payment_failed`.
    pub type_: String,
    /// Unix seconds.
    pub created: i64,
    pub livemode: bool,
    /// `data.object`: the object as it stood when the event happened.
    pub data_object: Value,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    livemode: bool,
    data: WireData,
}

#[derive(Deserialize)]
struct WireData {
    object: Value,
}

impl Event {
    /// Stripe's `object` name of `data_object` (`checkout.session`, `payment_intent`, …).
    pub fn object_kind(&self) -> Option<&str> {
        self.data_object.get("object").and_then(Value::as_str)
    }

    /// The Checkout Session of a `checkout.session.*` event.
    pub fn checkout_session(&self) -> Result<CheckoutSession, WebhookError> {
        self.object_as("checkout.session")
    }

    /// The PaymentIntent of a `payment_intent.*` event.
    pub fn payment_intent(&self) -> Result<PaymentIntent, WebhookError> {
        self.object_as("payment_intent")
    }

    fn object_as<T: for<'de> Deserialize<'de>>(&self, expected: &'static str) -> Result<T, WebhookError> {
        if self.object_kind() != Some(expected) {
            return Err(WebhookError::UnexpectedObject { event_type: self.type_.clone(), expected });
        }
        T::deserialize(&self.data_object).map_err(|e| WebhookError::InvalidPayload(format!("{expected}: {e}")))
    }
}

/// Checks `signature_header` against `payload` (the raw request body) and, when it holds, parses the event.
/// `now_unix` is the current time in Unix seconds; the signature's `t` must be within `tolerance_secs` of it
/// (either way; use [`DEFAULT_TOLERANCE_SECS`]). Comparison is constant-time.
pub fn verify(
    payload: &[u8],
    signature_header: &str,
    signing_secret: &str,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<Event, WebhookError> {
    if signing_secret.is_empty() {
        return Err(WebhookError::NoSigningSecret);
    }
    let header = signature_header.trim();
    if header.is_empty() {
        return Err(WebhookError::MissingHeader);
    }
    let (t, signatures) = parse_header(header)?;
    if signatures.is_empty() {
        return Err(WebhookError::NoSignature);
    }
    let mac = keyed_mac(signing_secret, t, payload)?;
    // `verify_slice` compares in constant time; a `v1` that is not hex simply matches nothing.
    let matched = signatures
        .iter()
        .filter_map(|hex| decode_hex(hex))
        .fold(false, |found, sig| mac.clone().verify_slice(&sig).is_ok() | found);
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }
    let age = now_unix.saturating_sub(t);
    if age.saturating_abs() > tolerance_secs {
        return Err(WebhookError::OutsideTolerance { age, tolerance: tolerance_secs });
    }
    let wire: WireEvent = serde_json::from_slice(payload).map_err(|e| WebhookError::InvalidPayload(e.to_string()))?;
    if !wire.data.object.is_object() {
        return Err(WebhookError::InvalidPayload("data.object is not an object".into()));
    }
    Ok(Event {
        id: wire.id,
        type_: wire.type_,
        created: wire.created,
        livemode: wire.livemode,
        data_object: wire.data.object,
    })
}

/// The `Stripe-Signature` value Stripe would send for `payload` at time `t`: `t=<t>,v1=<hex>`.
pub fn sign(payload: &[u8], signing_secret: &str, t: i64) -> String {
    let hex = match keyed_mac(signing_secret, t, payload) {
        Ok(mac) => encode_hex(&mac.finalize().into_bytes()),
        // HMAC takes keys of any length; this arm cannot happen.
        Err(_) => String::new(),
    };
    format!("t={t},v1={hex}")
}

fn keyed_mac(signing_secret: &str, t: i64, payload: &[u8]) -> Result<HmacSha256, WebhookError> {
    let mut mac = HmacSha256::new_from_slice(signing_secret.as_bytes()).map_err(|_| WebhookError::NoSigningSecret)?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Ok(mac)
}

/// `t` and every `v1` value; other schemes (`v0`, …) are skipped.
fn parse_header(header: &str) -> Result<(i64, Vec<&str>), WebhookError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.split_once('=').ok_or(WebhookError::MalformedHeader)?;
        let (key, value) = (key.trim(), value.trim());
        match key {
            "t" => {
                if t.is_some() {
                    return Err(WebhookError::MalformedHeader);
                }
                let parsed = value.parse::<i64>().map_err(|_| WebhookError::MalformedHeader)?;
                t = Some(parsed);
            }
            "v1" => v1.push(value),
            "" => return Err(WebhookError::MalformedHeader),
            _ => {}
        }
    }
    Ok((t.ok_or(WebhookError::MalformedHeader)?, v1))
}

fn encode_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1700000000,"livemode":false,"data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","amount":500,"currency":"usd","metadata":{"invoice_id":"7"}}}}"#;
    const T: i64 = 1_700_000_000;

    #[test]
    fn matches_stripes_documented_scheme() {
        // Computed independently: printf '%s' '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test_secret
        assert_eq!(
            sign(b"{}", SECRET, T),
            "t=1700000000,v1=ceb8863f7208fa249a6cd8f951e993c7563412aca65866f6272283debe143ab3"
        );
    }

    #[test]
    fn a_correct_signature_yields_the_event_and_its_object() {
        let event = verify(PAYLOAD, &sign(PAYLOAD, SECRET, T), SECRET, T + 10, DEFAULT_TOLERANCE_SECS).unwrap();
        assert_eq!((event.id.as_str(), event.type_.as_str(), event.created), ("evt_1", "payment_intent.succeeded", T));
        let pi = event.payment_intent().unwrap();
        assert_eq!((pi.id.as_str(), pi.amount, pi.metadata["invoice_id"].as_str()), ("pi_1", 500, "7"));
        assert!(matches!(event.checkout_session(), Err(WebhookError::UnexpectedObject { .. })));
    }

    #[test]
    fn any_of_several_v1_signatures_may_match_and_other_schemes_are_ignored() {
        let good = sign(PAYLOAD, SECRET, T);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={T},v0=abc,v1={},v1={v1}", "0".repeat(64));
        assert!(verify(PAYLOAD, &header, SECRET, T, 300).is_ok());
        let header = format!("t={T}, v1=zz, v1={}", v1.to_ascii_uppercase());
        assert!(verify(PAYLOAD, &header, SECRET, T, 300).is_ok());
    }

    #[test]
    fn refusals() {
        let good = sign(PAYLOAD, SECRET, T);
        let check = |payload: &[u8], header: &str, secret: &str, now: i64| verify(payload, header, secret, now, 300);
        assert_eq!(check(PAYLOAD, &good, "whsec_other", T), Err(WebhookError::SignatureMismatch));
        let tampered = String::from_utf8(PAYLOAD.to_vec()).unwrap().replace("500", "50000");
        assert_eq!(check(tampered.as_bytes(), &good, SECRET, T), Err(WebhookError::SignatureMismatch));
        assert_eq!(
            check(PAYLOAD, &good, SECRET, T + 301),
            Err(WebhookError::OutsideTolerance { age: 301, tolerance: 300 })
        );
        assert_eq!(
            check(PAYLOAD, &good, SECRET, T - 301),
            Err(WebhookError::OutsideTolerance { age: -301, tolerance: 300 })
        );
        assert!(check(PAYLOAD, &good, SECRET, T + 300).is_ok());
        // A signature for another timestamp does not carry over to a rewritten `t`.
        let moved = good.replace(&format!("t={T}"), &format!("t={}", T + 1000));
        assert_eq!(check(PAYLOAD, &moved, SECRET, T + 1000), Err(WebhookError::SignatureMismatch));
        assert_eq!(check(PAYLOAD, "", SECRET, T), Err(WebhookError::MissingHeader));
        assert_eq!(check(PAYLOAD, "garbage", SECRET, T), Err(WebhookError::MalformedHeader));
        assert_eq!(check(PAYLOAD, "t=abc,v1=00", SECRET, T), Err(WebhookError::MalformedHeader));
        assert_eq!(check(PAYLOAD, "v1=00", SECRET, T), Err(WebhookError::MalformedHeader));
        assert_eq!(
            check(PAYLOAD, &format!("t={T},t={T},{}", &good[13..]), SECRET, T),
            Err(WebhookError::MalformedHeader)
        );
        assert_eq!(check(PAYLOAD, &format!("t={T}"), SECRET, T), Err(WebhookError::NoSignature));
        assert_eq!(check(PAYLOAD, &good, "", T), Err(WebhookError::NoSigningSecret));
        let unsigned_body = b"not json";
        let signed = sign(unsigned_body, SECRET, T);
        assert!(matches!(check(unsigned_body, &signed, SECRET, T), Err(WebhookError::InvalidPayload(_))));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(decode_hex(&encode_hex(&[0, 1, 0xab, 0xff])).unwrap(), vec![0, 1, 0xab, 0xff]);
        assert!(decode_hex("abc").is_none() && decode_hex("zz").is_none() && decode_hex("").is_none());
    }
}
