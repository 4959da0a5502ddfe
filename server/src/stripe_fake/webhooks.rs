//! Webhook delivery: each event POSTed to its account's endpoint with a fresh `Stripe-Signature`, retried
//! with doubling backoff while the receiver is unreachable or answers non-2xx.

use app::backend::clients::stripe::webhook;

use super::state::{Delivery, EventRef};
use super::{now_unix, StripeFake};

/// Starts one background delivery per event. Outside a Tokio runtime nothing is sent (the events stay
/// undelivered, visible in `events()`).
pub(crate) fn dispatch(fake: &StripeFake, events: Vec<EventRef>) {
    if events.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(count = events.len(), "stripe fake: no Tokio runtime, webhooks not delivered");
        return;
    };
    let mut deliveries = fake.deliveries();
    deliveries.retain(|h| !h.is_finished());
    for event in events {
        let fake = fake.clone();
        deliveries.push(runtime.spawn(async move { deliver(fake, event).await }));
    }
}

async fn deliver(fake: StripeFake, event: EventRef) {
    let attempts = fake.shared.config.webhook_attempts.max(1);
    let mut backoff = fake.shared.config.webhook_backoff;
    for attempt in 1..=attempts {
        // Read each time: the endpoint may have been set or changed meanwhile.
        let Some(delivery) = fake.lock().delivery(&event) else {
            tracing::debug!(event = %event.event_id, "stripe fake: account has no webhook endpoint");
            return;
        };
        let delivered = if fake.take_dropped_attempt() {
            tracing::debug!(event = %event.event_id, attempt, "stripe fake: webhook attempt dropped on purpose");
            false
        } else {
            post(&fake, &delivery).await
        };
        fake.lock().record_attempt(&event, delivered);
        if delivered {
            return;
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    tracing::warn!(event = %event.event_id, attempts, "stripe fake: webhook not delivered");
}

async fn post(fake: &StripeFake, delivery: &Delivery) -> bool {
    let signature = webhook::sign(&delivery.payload, &delivery.signing_secret, now_unix());
    let result = fake
        .shared
        .http
        .post(&delivery.url)
        .header("content-type", "application/json; charset=utf-8")
        .header(webhook::SIGNATURE_HEADER, signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    match result {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::debug!(status = response.status().as_u16(), "stripe fake: webhook receiver refused");
            false
        }
        Err(e) => {
            tracing::debug!(error = %e.without_url(), "stripe fake: webhook receiver unreachable");
            false
        }
    }
}
