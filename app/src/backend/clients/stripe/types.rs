//! What callers get back: the few fields of Stripe's objects this application reads, decoded leniently
//! (unknown fields ignored, `null` metadata read as empty, expandable references read as their id).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Stripe metadata: string keys to string values (at most 50 keys of 40 characters, values of 500).
pub type Metadata = BTreeMap<String, String>;

/// A Stripe customer (`cus_…`): who saved cards and payments belong to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct StripeCustomer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// A Checkout Session (`cs_…`): Stripe's hosted payment page for one top-up.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// Where to send the browser; only present while the session is `open`.
    #[serde(default)]
    pub url: Option<String>,
    /// `open`, `complete` or `expired` (`None` on very old API versions).
    #[serde(default)]
    pub status: Option<String>,
    /// `unpaid`, `paid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: String,
    /// Minor units.
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "expandable_id")]
    pub customer: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// `payment` or `setup` (saves a card, charges nothing).
    #[serde(default)]
    pub mode: Option<String>,
    /// Set once the customer paid (`pi_…`).
    #[serde(default, deserialize_with = "expandable_id")]
    pub payment_intent: Option<String>,
}

impl CheckoutSession {
    /// The money has been collected: the only state in which to credit the account.
    pub fn is_paid(&self) -> bool {
        self.payment_status == "paid"
    }

    /// A setup-mode session that completed: a card was saved, nothing was charged.
    pub fn saved_a_card(&self) -> bool {
        self.mode.as_deref() == Some("setup") && self.is_complete()
    }

    pub fn is_complete(&self) -> bool {
        self.status.as_deref() == Some("complete")
    }

    pub fn is_expired(&self) -> bool {
        self.status.as_deref() == Some("expired")
    }
}

/// A saved card (`pm_…`), as listed for a customer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "WirePaymentMethod")]
pub struct PaymentMethod {
    pub id: String,
    /// `visa`, `mastercard`, `amex`, … (empty for a non-card method).
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    /// The customer it is attached to; `None` once detached.
    pub customer: Option<String>,
}

#[derive(Deserialize)]
struct WirePaymentMethod {
    id: String,
    #[serde(default)]
    card: Option<WireCard>,
    #[serde(default, deserialize_with = "expandable_id")]
    customer: Option<String>,
}

#[derive(Default, Deserialize)]
struct WireCard {
    #[serde(default)]
    brand: String,
    #[serde(default)]
    last4: String,
    #[serde(default)]
    exp_month: u32,
    #[serde(default)]
    exp_year: u32,
}

impl From<WirePaymentMethod> for PaymentMethod {
    fn from(w: WirePaymentMethod) -> Self {
        let card = w.card.unwrap_or_default();
        Self {
            id: w.id,
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            customer: w.customer,
        }
    }
}

/// A PaymentIntent (`pi_…`): one attempt to collect an amount.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    /// `succeeded`, `processing`, `requires_payment_method` (declined: try another card),
    /// `requires_action` (the bank wants the customer present), `requires_confirmation`, `canceled`, …
    pub status: String,
    /// Minor units.
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default, deserialize_with = "expandable_id")]
    pub customer: Option<String>,
    #[serde(default, deserialize_with = "expandable_id")]
    pub payment_method: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Why the last attempt failed (a decline), when it did.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
}

impl PaymentIntent {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }

    /// The card was declined (or needs the customer): nothing was collected.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "requires_payment_method" | "requires_action" | "canceled")
    }
}

/// A refund (`re_…`) of (part of) a payment.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    /// Minor units.
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default, deserialize_with = "expandable_id")]
    pub payment_intent: Option<String>,
    /// `succeeded`, `pending` (on its way: some banks take days), `requires_action`, `failed` or `canceled`.
    pub status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

impl Refund {
    /// The money will not go back this way: the refund was refused after it was created.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "canceled")
    }
}

/// Stripe's explanation of a failed payment attempt.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentError {
    /// e.g. `card_declined`, `expired_card`, `authentication_required`.
    #[serde(default)]
    pub code: Option<String>,
    /// The issuer's reason for a `card_declined`, e.g. `insufficient_funds`, `generic_decline`.
    #[serde(default)]
    pub decline_code: Option<String>,
    /// Human-readable, safe to show the customer.
    #[serde(default)]
    pub message: Option<String>,
}

/// `null` read as the type's default (Stripe sends `"metadata": null` on some objects).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An expandable reference: an id string, an expanded object (its `id`), or `null`.
fn expandable_id<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(d)? {
        Value::String(id) => Some(id),
        Value::Object(obj) => obj.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_checkout_session_reads_expanded_and_null_fields() {
        let s: CheckoutSession = serde_json::from_value(json!({
            "id": "cs_test_1", "object": "checkout.session", "url": null, "status": "complete",
            "payment_status": "paid", "amount_total": 1234, "currency": "usd",
            "customer": {"id": "cus_1", "object": "customer"}, "metadata": null, "payment_intent": "pi_1"
        }))
        .unwrap();
        assert_eq!(s.customer.as_deref(), Some("cus_1"));
        assert!(s.metadata.is_empty());
        assert!(s.is_paid() && s.is_complete() && !s.is_expired());
        assert_eq!(s.amount_total, Some(1234));
    }

    #[test]
    fn a_refund_reads_its_payment_and_state() {
        let r: Refund = serde_json::from_value(json!({
            "id": "re_1", "object": "refund", "amount": 1500, "currency": "usd", "charge": "ch_1",
            "payment_intent": {"id": "pi_1", "object": "payment_intent"}, "status": "succeeded", "metadata": null
        }))
        .unwrap();
        assert_eq!((r.id.as_str(), r.amount, r.payment_intent.as_deref()), ("re_1", 1500, Some("pi_1")));
        assert!(!r.failed() && r.metadata.is_empty());
        let failed: Refund = serde_json::from_value(json!({"id": "re_2", "amount": 1, "status": "failed"})).unwrap();
        assert!(failed.failed());
    }

    #[test]
    fn a_payment_method_flattens_its_card() {
        let pm: PaymentMethod = serde_json::from_value(json!({
            "id": "pm_1", "object": "payment_method", "type": "card", "customer": "cus_1",
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, "funding": "credit"}
        }))
        .unwrap();
        assert_eq!(
            pm,
            PaymentMethod {
                id: "pm_1".into(),
                brand: "visa".into(),
                last4: "4242".into(),
                exp_month: 12,
                exp_year: 2030,
                customer: Some("cus_1".into()),
            }
        );
    }
}
