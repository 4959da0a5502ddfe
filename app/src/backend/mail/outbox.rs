//! The mail outbox: a table in the central database that every message passes through, and the worker that
//! delivers it.
//!
//! - Requests only [`enqueue`]; delivery happens here, so a request never waits on SMTP.
//! - The caller's dedupe key is unique: enqueueing it again does nothing (a double-clicked "resend", a
//!   retried request and a re-run job all produce one message).
//! - Rows are claimed with a short lease, renewed while the worker delivers them, as in `jobs`: a worker
//!   that dies mid-batch leaves rows that another worker picks up once the lease lapses (within
//!   [`LEASE_MS`]). That makes delivery at-least-once; the stable `Message-ID` lets receivers fold the rare
//!   duplicate.
//! - A failed delivery is retried with jittered exponential backoff (capped at 30 minutes), and after
//!   [`MAX_ATTEMPTS`] the row is `dead`: kept, with its last error, for the admin outbox view.
//! - With [`Transport::OutboxOnly`](super::Transport::OutboxOnly) nothing is delivered: rows stay `queued`.
//! - A message's one-time token is never stored in clear: the bodies hold
//!   [`SECRET_PLACEHOLDER`](super::SECRET_PLACEHOLDER), the token is sealed in `secret_sealed` (bound to the
//!   message's dedupe key), put into the message only as it is built for the wire, and erased once the
//!   message is sent or dead. Retries keep working because the sealed copy stays until then.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::any::AnyRow;
use sqlx::FromRow;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use super::templates::{clean_subject, Rendered};
use super::{validate_address, MailAttachment, MailError, Mailer, Outgoing, SECRET_MASK, SECRET_PLACEHOLDER};
use crate::backend::platform::crypto::Crypto;
use crate::backend::platform::db::{now, CentralDb};
use crate::domain::ids::TenantId;
use crate::domain::time::Timestamp;

pub type Result<T, E = MailError> = std::result::Result<T, E>;

/// After this many failed attempts a message is `dead`.
pub const MAX_ATTEMPTS: i64 = 8;
/// Longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// How many messages one worker claims at a time.
pub const BATCH: i64 = 5;
/// A claimed batch's lease, renewed every [`RENEW_EVERY`] while the worker is on it (a slow SMTP server
/// does not let a second worker claim and send the same messages), so that a dead worker's messages wait
/// at most this long for another.
pub const LEASE_MS: i64 = 30_000;
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Upper bound on one message's SMTP exchange (see [`Mailer::send`]).
pub const MAX_SEND_TIME: Duration = Duration::from_secs(110);
/// How often the worker looks for due messages when nobody wakes it.
const POLL: Duration = Duration::from_secs(2);
/// Stored errors are for people; a server's multi-kilobyte reply is cut.
const MAX_ERROR_CHARS: usize = 500;

pub use crate::domain::platform::OutboxState;

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub tenant_id: Option<TenantId>,
    pub dedupe_key: String,
    pub kind: String,
    pub to_addr: String,
    pub from_name: String,
    pub from_addr: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub attachment: Option<MailAttachment>,
    /// The message's one-time token, sealed; `None` once it is sent or dead (or if it never had one).
    pub secret_sealed: Option<String>,
}

impl OutboxRow {
    /// The message as it was enqueued, to build again for delivery.
    pub fn to_outgoing(&self) -> Outgoing {
        Outgoing {
            tenant: self.tenant_id,
            dedupe_key: self.dedupe_key.clone(),
            kind: self.kind.clone(),
            to: self.to_addr.clone(),
            from_name: self.from_name.clone(),
            from_addr: self.from_addr.clone(),
            reply_to: self.reply_to.clone(),
            rendered: Rendered {
                subject: self.subject.clone(),
                text: self.text_body.clone(),
                html: self.html_body.clone(),
            },
            attachment: self.attachment.clone(),
        }
    }

    /// The plain-text body as people reading the outbox may see it: one-time tokens masked.
    pub fn masked_text(&self) -> String {
        self.text_body.replace(SECRET_PLACEHOLDER, SECRET_MASK)
    }

    /// The plain-text body with its one-time token in place, while the message still holds it (before it
    /// is sent); masked after that. Only for the development inbox at `/admin/mail` (no SMTP server, never
    /// production).
    pub fn revealed_text(&self, crypto: &Crypto) -> String {
        match self.secret_sealed.as_deref().map(|s| open_secret(crypto, &self.dedupe_key, s)) {
            Some(Ok(token)) => self.text_body.replace(SECRET_PLACEHOLDER, &token),
            _ => self.masked_text(),
        }
    }

    /// The message as it goes on the wire: with its one-time token opened and put in place.
    fn for_delivery(&self, crypto: Option<&Crypto>) -> Result<Outgoing> {
        let mut o = self.to_outgoing();
        match self.secret_sealed.as_deref() {
            Some(sealed) => {
                let token = open_secret(crypto.ok_or(MailError::Secret)?, &self.dedupe_key, sealed)?;
                o.rendered.text = o.rendered.text.replace(SECRET_PLACEHOLDER, &token);
                o.rendered.html = o.rendered.html.replace(SECRET_PLACEHOLDER, &token);
            }
            // A placeholder whose token is gone must never reach a reader as if it were a link.
            None if o.rendered.text.contains(SECRET_PLACEHOLDER) || o.rendered.html.contains(SECRET_PLACEHOLDER) => {
                return Err(MailError::Secret);
            }
            None => {}
        }
        Ok(o)
    }
}

/// What a sealed token is bound to: its own message, so a sealed value copied to another row does not open.
fn secret_context(dedupe_key: &str) -> String {
    format!("outbox/{dedupe_key}/one-time-token")
}

fn open_secret(crypto: &Crypto, dedupe_key: &str, sealed: &str) -> Result<String> {
    crypto.open(sealed, &secret_context(dedupe_key)).map_err(|_| MailError::Secret)
}

/// The columns [`row`] reads, in its order. A macro so queries stay `&'static str` literals (`concat!`).
macro_rules! columns {
    () => {
        "id, tenant_id, dedupe_key, kind, to_addr, from_name, from_addr, reply_to, subject, text_body, html_body, \
         state, attempts, next_attempt_at, last_error, created_at, sent_at, attachment_name, attachment_type, \
         attachment_body, secret_sealed"
    };
}

fn row(r: &AnyRow) -> Result<OutboxRow> {
    StoredMessage::from_row(r)?.into_domain()
}

/// An `outbox` row as stored ([`columns!`]).
#[derive(sqlx::FromRow)]
struct StoredMessage {
    id: String,
    tenant_id: Option<String>,
    dedupe_key: String,
    kind: String,
    to_addr: String,
    from_name: String,
    from_addr: String,
    reply_to: Option<String>,
    subject: String,
    text_body: String,
    html_body: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    attachment_name: Option<String>,
    attachment_type: Option<String>,
    attachment_body: Option<Vec<u8>>,
    secret_sealed: Option<String>,
}

impl StoredMessage {
    fn into_domain(self) -> Result<OutboxRow> {
        let corrupt = |what: String| MailError::Build(format!("corrupt outbox row: {what}"));
        Ok(OutboxRow {
            id: self.id,
            tenant_id: self.tenant_id.map(|t| t.parse().map_err(|_| corrupt("tenant_id".into()))).transpose()?,
            dedupe_key: self.dedupe_key,
            kind: self.kind,
            to_addr: self.to_addr,
            from_name: self.from_name,
            from_addr: self.from_addr,
            reply_to: self.reply_to,
            subject: self.subject,
            text_body: self.text_body,
            html_body: self.html_body,
            state: self.state.parse().map_err(|e: crate::domain::stored::UnknownState| corrupt(e.to_string()))?,
            attempts: self.attempts,
            next_attempt_at: Timestamp::from_millis(self.next_attempt_at),
            last_error: self.last_error,
            created_at: Timestamp::from_millis(self.created_at),
            sent_at: self.sent_at.map(Timestamp::from_millis),
            attachment: match (self.attachment_name, self.attachment_type) {
                (Some(filename), Some(content_type)) => {
                    Some(MailAttachment { filename, content_type, body: self.attachment_body.unwrap_or_default() })
                }
                _ => None,
            },
            secret_sealed: self.secret_sealed,
        })
    }
}

/// Queues a message for delivery. Returns whether it is new: `false` means a message with this dedupe key
/// exists already (queued, sent or dead) and nothing was done. Addresses are checked here, so a bad one is
/// the caller's error now rather than a dead row later.
pub async fn enqueue(db: &CentralDb, o: &Outgoing) -> Result<bool> {
    insert(db, o, None).await
}

/// Like [`enqueue`], for a message carrying a one-time token: its bodies hold
/// [`SECRET_PLACEHOLDER`] where the token goes (at least once in each part), and the token itself is
/// stored only sealed with `crypto`. A message that contains the token in clear is refused.
pub async fn enqueue_with_secret(db: &CentralDb, crypto: &Crypto, o: &Outgoing, secret: &str) -> Result<bool> {
    let r = &o.rendered;
    if secret.is_empty() || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(MailError::Build("a one-time token is a single word".into()));
    }
    if !r.text.contains(SECRET_PLACEHOLDER) || !r.html.contains(SECRET_PLACEHOLDER) {
        return Err(MailError::Build("a message with a one-time token needs its placeholder in both parts".into()));
    }
    if [&r.subject, &r.text, &r.html, &o.dedupe_key].iter().any(|part| part.contains(secret)) {
        return Err(MailError::Build("a one-time token must not be stored in clear".into()));
    }
    let sealed = crypto.seal(secret, &secret_context(&o.dedupe_key)).map_err(|_| MailError::Secret)?;
    insert(db, o, Some(sealed)).await
}

async fn insert(db: &CentralDb, o: &Outgoing, secret_sealed: Option<String>) -> Result<bool> {
    if o.dedupe_key.trim().is_empty() || o.kind.trim().is_empty() {
        return Err(MailError::Build("a message needs a dedupe key and a kind".into()));
    }
    let to = validate_address(&o.to)?;
    let from_addr = if o.from_addr.trim().is_empty() { String::new() } else { validate_address(&o.from_addr)? };
    let reply_to = o.reply_to.as_deref().filter(|r| !r.trim().is_empty()).map(validate_address).transpose()?;
    // A file too big to mail is left out; the message still links to where it can be read.
    let attachment = o.attachment.as_ref().filter(|a| a.body.len() <= super::MAX_ATTACHMENT_BYTES);
    let t = now().as_millis();
    let _turn = db.write_turn().await;
    let inserted = sqlx::query(
        "INSERT INTO outbox (id, tenant_id, dedupe_key, kind, to_addr, from_name, from_addr, reply_to, subject, \
             text_body, html_body, state, attempts, next_attempt_at, created_at, attachment_name, attachment_type, \
             attachment_body, secret_sealed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', 0, $12, $12, $13, $14, $15, $16) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(o.tenant.map(|t| t.to_string()))
    .bind(&o.dedupe_key)
    .bind(&o.kind)
    .bind(to)
    .bind(&o.from_name)
    .bind(from_addr)
    .bind(reply_to)
    .bind(clean_subject(&o.rendered.subject))
    .bind(&o.rendered.text)
    .bind(&o.rendered.html)
    .bind(t)
    .bind(attachment.map(|a| a.filename.as_str()))
    .bind(attachment.map(|a| a.content_type.as_str()))
    .bind(attachment.map(|a| a.body.as_slice()))
    .bind(secret_sealed)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Claims up to `limit` due messages for `owner`, oldest due first.
pub async fn claim_due(db: &CentralDb, owner: &str, limit: i64) -> Result<Vec<OutboxRow>> {
    let t = now().as_millis();
    // As in `jobs::claim`: on PostgreSQL two workers may pick the same ids in the inner SELECT; the outer
    // WHERE is re-checked after the row lock, so each row goes to exactly one of them.
    let rows = sqlx::query(concat!(
        "UPDATE outbox SET lease_owner = $1, lease_until = $2 \
         WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= $3 \
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4) \
           AND state = 'queued' AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING ",
        columns!()
    ))
    .bind(owner)
    .bind(t + LEASE_MS)
    .bind(t)
    .bind(limit.max(0))
    .fetch_all(db.pool())
    .await?;
    let mut claimed = rows.iter().map(row).collect::<Result<Vec<_>>>()?;
    // RETURNING has no order.
    claimed.sort_by_key(|r| (r.next_attempt_at, r.created_at));
    Ok(claimed)
}

/// Records a delivery. The sealed one-time token goes with it: nobody needs it any more.
pub async fn mark_sent(db: &CentralDb, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL, \
             lease_owner = NULL, lease_until = NULL, secret_sealed = NULL WHERE id = $2",
    )
    .bind(now().as_millis())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records a failed attempt. `attempts` is the count including this one: from [`MAX_ATTEMPTS`] on the row
/// is `dead`, before that it is due again after [`backoff`].
pub async fn mark_failed(db: &CentralDb, id: &str, error: &str, attempts: i64) -> Result<()> {
    record_failure(db, id, error, attempts, attempts >= MAX_ATTEMPTS).await
}

async fn record_failure(db: &CentralDb, id: &str, error: &str, attempts: i64, dead: bool) -> Result<()> {
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let t = now();
    let (state, next) = if dead {
        (OutboxState::Dead, t)
    } else {
        (OutboxState::Queued, t.plus_millis(i64::try_from(backoff(attempts).as_millis()).unwrap_or(i64::MAX)))
    };
    // A dead message is never sent: its one-time token is erased with it.
    sqlx::query(
        "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4, lease_owner = NULL, \
             lease_until = NULL, secret_sealed = CASE WHEN $1 = 'dead' THEN NULL ELSE secret_sealed END \
         WHERE id = $5",
    )
    .bind(state.as_str())
    .bind(attempts)
    .bind(next.as_millis())
    .bind(error)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Wait before the next attempt, after `attempts` failures: 30 s doubling each time, capped at
/// [`MAX_BACKOFF`], and jittered down to half so a burst of failures does not retry in lockstep.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
    let cap_ms = 30_000u64.saturating_mul(1u64 << exp).min(u64::try_from(MAX_BACKOFF.as_millis()).unwrap_or(u64::MAX));
    Duration::from_millis(rand::rng().random_range(cap_ms / 2..=cap_ms))
}

/// The newest messages first, for the admin outbox view: one tenant's, or with `None` everyone's (platform
/// mail included).
pub async fn list(db: &CentralDb, tenant: Option<TenantId>, limit: i64) -> Result<Vec<OutboxRow>> {
    let rows = match tenant {
        Some(t) => {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM outbox WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2"
            ))
            .bind(t.to_string())
            .bind(limit.max(0))
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(concat!("SELECT ", columns!(), " FROM outbox ORDER BY created_at DESC, id LIMIT $1"))
                .bind(limit.max(0))
                .fetch_all(db.pool())
                .await?
        }
    };
    rows.iter().map(row).collect()
}

/// Removes a tenant's messages (tenant deletion): queued mail must not go out for a storefront that is gone.
pub async fn purge_tenant(db: &CentralDb, tenant: TenantId) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM outbox WHERE tenant_id = $1")
        .bind(tenant.to_string())
        .execute(db.pool())
        .await?
        .rows_affected())
}

/// Claims one batch of due messages and tries each once. Returns how many were sent. Does nothing when the
/// mailer has no transport (messages stay queued).
pub async fn deliver_due(db: &CentralDb, mailer: &Mailer, owner: &str) -> Result<usize> {
    Ok(deliver_batch(db, mailer, owner).await?.1)
}

/// (claimed, sent).
async fn deliver_batch(db: &CentralDb, mailer: &Mailer, owner: &str) -> Result<(usize, usize)> {
    if !mailer.delivers() {
        return Ok((0, 0));
    }
    let batch = claim_due(db, owner, BATCH).await?;
    let work = async {
        let mut sent = 0;
        for r in &batch {
            // Recipients are personal data: logs name the message, not the address.
            let span = tracing::info_span!("mail", id = %r.id, kind = %r.kind, attempts = r.attempts + 1);
            if deliver_one(db, mailer, r).instrument(span).await? {
                sent += 1;
            }
        }
        Ok::<_, MailError>(sent)
    };
    let sent = crate::backend::platform::leases::while_renewing(work, RENEW_EVERY, || async {
        if let Err(e) = renew(db, owner).await {
            tracing::warn!(error = %e, "renewing the outbox lease failed");
        }
    })
    .await?;
    Ok((batch.len(), sent))
}

/// Extends the lease of every message `owner` still holds (its batch's undelivered ones: a delivered or
/// failed message's lease is released as it is recorded). How many it renewed.
pub async fn renew(db: &CentralDb, owner: &str) -> Result<u64> {
    let n = sqlx::query("UPDATE outbox SET lease_until = $1 WHERE lease_owner = $2 AND state = 'queued'")
        .bind(now().as_millis() + LEASE_MS)
        .bind(owner)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n)
}

/// Tries one claimed message once and records the outcome; true if it was sent.
async fn deliver_one(db: &CentralDb, mailer: &Mailer, r: &OutboxRow) -> Result<bool> {
    let attempts = r.attempts + 1;
    let message = match r.for_delivery(mailer.secrets()).and_then(|o| mailer.build_message(&o)) {
        Ok(m) => m,
        Err(e) => {
            // The row cannot become a message (an address that was valid when enqueued no longer parses, the
            // platform sender is misconfigured, its one-time token does not open with this data key): no
            // retry would change that.
            tracing::error!(error = %e, "outgoing mail cannot be built; giving up on it");
            record_failure(db, &r.id, &e.to_string(), attempts, true).await?;
            return Ok(false);
        }
    };
    match mailer.send(message).await {
        Ok(()) => {
            mark_sent(db, &r.id).await?;
            Ok(true)
        }
        Err(e) => {
            if attempts >= MAX_ATTEMPTS {
                tracing::error!(error = %e, "mail delivery failed for the last time");
            } else {
                tracing::warn!(error = %e, "mail delivery failed; will retry");
            }
            mark_failed(db, &r.id, &e.to_string(), attempts).await?;
            Ok(false)
        }
    }
}

/// Delivers queued mail until `shutdown` turns true: every [`POLL`] interval, or at once when `wake` is
/// notified (use `notify_one` after an enqueue, which is remembered if the worker is busy). Returns at once
/// when the mailer has no transport.
pub async fn run_worker(db: CentralDb, mailer: Arc<Mailer>, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
    if !mailer.delivers() {
        tracing::info!("outgoing mail is not configured: messages stay queued in the outbox");
        return;
    }
    let owner = format!("mailer-{}", uuid::Uuid::new_v4());
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Drain: a full batch means more may be due.
        loop {
            match deliver_batch(&db, &mailer, &owner).await {
                Ok((claimed, _)) if claimed as i64 >= BATCH && !*shutdown.borrow() => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "delivering the outbox failed; trying again shortly");
                    break;
                }
            }
        }
        tokio::select! {
            changed = shutdown.changed() => {
                // The sender is gone: nobody can ask us to stop any more, so stop now.
                if changed.is_err() {
                    break;
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_sink;
    use super::super::{parse_smtp_url, Transport};
    use super::*;

    struct TempDb {
        db: CentralDb,
        dir: std::path::PathBuf,
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn temp_db() -> TempDb {
        let dir = std::env::temp_dir().join(format!("ezscale-outbox-{}", uuid::Uuid::new_v4()));
        let db = CentralDb::open(&format!("sqlite://{}/c.db", dir.display())).await.unwrap();
        TempDb { db, dir }
    }

    fn message(key: &str) -> Outgoing {
        Outgoing {
            tenant: Some(TenantId::from_uuid(uuid::Uuid::nil())),
            dedupe_key: key.into(),
            kind: "verify_email".into(),
            to: "ann@customer.test".into(),
            from_name: "Acme Cloud".into(),
            from_addr: String::new(),
            reply_to: Some("help@acme.test".into()),
            rendered: Rendered {
                subject: "Confirm your email".into(),
                text: "text part".into(),
                html: "<p>html part</p>".into(),
            },
            attachment: None,
        }
    }

    fn mailer(port: u16) -> Mailer {
        let settings = parse_smtp_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
        Mailer::new(Transport::Smtp(settings), "EZSCALE", "noreply@ezscale.test").unwrap()
    }

    async fn only_row(db: &CentralDb) -> OutboxRow {
        let mut rows = list(db, None, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        rows.pop().unwrap()
    }

    #[tokio::test]
    async fn the_same_dedupe_key_is_queued_once() {
        let t = temp_db().await;
        assert!(enqueue(&t.db, &message("verify:a")).await.unwrap());
        assert!(!enqueue(&t.db, &message("verify:a")).await.unwrap());
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.attempts, row.to_addr.as_str()), (OutboxState::Queued, 0, "ann@customer.test"));
        assert_eq!(list(&t.db, Some(TenantId::from_uuid(uuid::Uuid::nil())), 10).await.unwrap().len(), 1);
        assert!(list(&t.db, Some(TenantId::new_random()), 10).await.unwrap().is_empty());
        let mut bad = message("verify:b");
        bad.to = "x@y.test\r\nBcc: z@y.test".into();
        assert!(matches!(enqueue(&t.db, &bad).await, Err(MailError::InvalidAddress)));
    }

    #[tokio::test]
    async fn due_mail_is_delivered_once() {
        let t = temp_db().await;
        let sink = test_sink::spawn().await;
        let m = mailer(sink.port);
        enqueue(&t.db, &message("verify:a")).await.unwrap();
        assert_eq!(deliver_due(&t.db, &m, "w1").await.unwrap(), 1);
        assert_eq!(deliver_due(&t.db, &m, "w1").await.unwrap(), 0);
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.attempts), (OutboxState::Sent, 1));
        assert!(row.sent_at.is_some());
        let got = sink.messages();
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("Subject: Confirm your email"));
    }

    #[tokio::test]
    async fn failures_back_off_then_die() {
        let t = temp_db().await;
        let m = mailer(test_sink::closed_port().await);
        enqueue(&t.db, &message("verify:a")).await.unwrap();
        let before = now();
        assert_eq!(deliver_due(&t.db, &m, "w1").await.unwrap(), 0);
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.attempts), (OutboxState::Queued, 1));
        assert!(row.next_attempt_at > before.plus_millis(10_000), "{:?}", row.next_attempt_at);
        assert!(row.last_error.is_some());
        // Not due yet: nothing is claimed.
        assert!(claim_due(&t.db, "w2", 10).await.unwrap().is_empty());

        for _ in 1..MAX_ATTEMPTS {
            sqlx::query("UPDATE outbox SET next_attempt_at = 0").execute(t.db.pool()).await.unwrap();
            deliver_due(&t.db, &m, "w1").await.unwrap();
        }
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.attempts), (OutboxState::Dead, MAX_ATTEMPTS));
        sqlx::query("UPDATE outbox SET next_attempt_at = 0").execute(t.db.pool()).await.unwrap();
        assert!(claim_due(&t.db, "w2", 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_lease_keeps_other_workers_off() {
        let t = temp_db().await;
        enqueue(&t.db, &message("a")).await.unwrap();
        enqueue(&t.db, &message("b")).await.unwrap();
        assert_eq!(claim_due(&t.db, "w1", 1).await.unwrap().len(), 1);
        assert_eq!(claim_due(&t.db, "w2", 10).await.unwrap().len(), 1);
        assert!(claim_due(&t.db, "w3", 10).await.unwrap().is_empty());
        // Renewed, w1's message stays w1's once its first lease would have lapsed; a dead worker's (w2
        // stops renewing) is claimed by another.
        let lapse = now().as_millis() + 1;
        sqlx::query("UPDATE outbox SET lease_until = $1").bind(lapse).execute(t.db.pool()).await.unwrap();
        assert_eq!(renew(&t.db, "w1").await.unwrap(), 1);
        sqlx::query("UPDATE outbox SET lease_until = lease_until - 2 WHERE lease_owner = 'w2'")
            .execute(t.db.pool())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let taken = claim_due(&t.db, "w3", 10).await.unwrap();
        assert_eq!(taken.len(), 1, "only the dead worker's message");
        let owners: Vec<String> = sqlx::query_scalar("SELECT lease_owner FROM outbox ORDER BY lease_owner")
            .fetch_all(t.db.pool())
            .await
            .unwrap();
        assert_eq!(owners, ["w1", "w3"]);
        assert_eq!(purge_tenant(&t.db, TenantId::from_uuid(uuid::Uuid::nil())).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn outbox_only_leaves_mail_queued() {
        let t = temp_db().await;
        let m = Mailer::new(Transport::OutboxOnly, "EZSCALE", "noreply@ezscale.test").unwrap();
        enqueue(&t.db, &message("a")).await.unwrap();
        assert_eq!(deliver_due(&t.db, &m, "w1").await.unwrap(), 0);
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.attempts), (OutboxState::Queued, 0));
    }

    fn with_token(key: &str) -> Outgoing {
        let mut o = message(key);
        o.rendered.text = format!("Reset:\nhttps://acme.test/reset?token={SECRET_PLACEHOLDER}\n");
        o.rendered.html = format!("<a href=\"https://acme.test/reset?token={SECRET_PLACEHOLDER}\">Reset</a>");
        o
    }

    /// The sink's copy with quoted-printable soft breaks and `=3D` undone.
    fn plain(data: &str) -> String {
        data.replace("=\r\n", "").replace("=3D", "=")
    }

    #[tokio::test]
    async fn a_one_time_token_is_stored_sealed_sent_in_clear_and_then_erased() {
        use crate::backend::platform::crypto::DataKey;
        let t = temp_db().await;
        let crypto = Crypto::new(&DataKey::generate());
        let token = "Tok3n-SECRET_0123456789abcdef";
        assert!(enqueue_with_secret(&t.db, &crypto, &with_token("reset:a"), token).await.unwrap());
        let row = only_row(&t.db).await;
        assert!(!format!("{row:?}").contains(token), "{row:?}");
        assert!(row.secret_sealed.is_some());
        assert_eq!(row.masked_text(), format!("Reset:\nhttps://acme.test/reset?token={SECRET_MASK}\n"));
        assert!(row.revealed_text(&crypto).contains(&format!("token={token}\n")));
        // Refused: a token in clear, a body without its placeholder, a token that is not one word.
        let mut clear = with_token("reset:b");
        clear.rendered.text.push_str(token);
        assert!(matches!(enqueue_with_secret(&t.db, &crypto, &clear, token).await, Err(MailError::Build(_))));
        let no_placeholder = message("reset:c");
        assert!(enqueue_with_secret(&t.db, &crypto, &no_placeholder, token).await.is_err());
        assert!(enqueue_with_secret(&t.db, &crypto, &with_token("reset:d"), "two words").await.is_err());
        assert_eq!(list(&t.db, None, 10).await.unwrap().len(), 1, "nothing stored for refused messages");

        let sink = test_sink::spawn().await;
        let m = mailer(sink.port).with_secrets(crypto.clone());
        assert_eq!(deliver_due(&t.db, &m, "w1").await.unwrap(), 1);
        let got = plain(&sink.messages()[0]);
        assert!(got.contains(&format!("reset?token={token}")), "{got}");
        assert!(!got.contains(SECRET_PLACEHOLDER), "{got}");
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.secret_sealed.as_deref()), (OutboxState::Sent, None));
        assert!(!row.revealed_text(&crypto).contains(token), "nothing left to reveal once sent");
    }

    #[tokio::test]
    async fn a_token_that_cannot_be_opened_is_never_sent() {
        use crate::backend::platform::crypto::DataKey;
        let t = temp_db().await;
        let crypto = Crypto::new(&DataKey::generate());
        enqueue_with_secret(&t.db, &crypto, &with_token("reset:a"), "the-token").await.unwrap();
        let sink = test_sink::spawn().await;
        // Another data key (or none at all): the message dies, with its sealed token.
        let m = mailer(sink.port).with_secrets(Crypto::new(&DataKey::generate()));
        assert_eq!(deliver_due(&t.db, &m, "w1").await.unwrap(), 0);
        let row = only_row(&t.db).await;
        assert_eq!((row.state, row.secret_sealed.as_deref()), (OutboxState::Dead, None));
        assert!(sink.messages().is_empty());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempts in 1..20 {
            let d = backoff(attempts).as_millis();
            let cap = (30_000u128 << (attempts.clamp(1, 16) - 1)).min(MAX_BACKOFF.as_millis());
            assert!(d >= cap / 2 && d <= cap, "attempt {attempts}: {d} ms");
        }
    }
}
