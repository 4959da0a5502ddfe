//! Live events for open pages (server-sent events): "this workspace changed, look again", and "you may have
//! missed something: look again at everything" (resync).
//!
//! Every server hands events to the pages open on it through one in-process broadcast (the local fan-out);
//! each page's stream keeps only its own tenant's and customer's events (`server::routes::live`). How an
//! event reaches the broadcasts depends on the central database:
//!
//! - **SQLite** (a single server by nature): [`Events::publish`] sends straight to the broadcast.
//! - **PostgreSQL** (any number of servers): [`Events::publish`] sends a `NOTIFY` on [`CHANNEL`] in the
//!   central database, and every server `LISTEN`s on one dedicated connection ([`listen`]) and hands what it
//!   hears to its broadcast. The publishing server is no exception: it delivers its own events only when
//!   its listener hears them, never directly as well. One path for every page means no event twice, the
//!   same order on every server, and a one-server test exercises the cluster path; the price is one round
//!   trip to PostgreSQL (well under the 2 s a page may wait). Only if the `NOTIFY` itself fails are the
//!   event's pages on this server told directly (the other servers' pages then miss it).
//!
//! Payloads carry ids only (`{"kind":"workspace","tenant":…,"customer":…,"workspace":…}`): never a name, an
//! email or a state; anyone able to `LISTEN` on the database learns no more than that something changed.
//! A page refetches what it shows, through its own access checks.
//!
//! A listener that loses its connection reconnects with backoff; once listening again it sends every page
//! on its server a resync, since whatever was published meanwhile is lost to it. Pages that fall behind
//! the local broadcast get a resync too (see the SSE handler). `/metrics` shows the listener's state.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::platform::db::DbPool;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{broadcast, mpsc, watch};

use crate::domain::ids::{CustomerId, TenantId, WorkspaceId};

/// The PostgreSQL notification channel (channels are per database: servers on other central databases
/// never hear each other).
pub const CHANNEL: &str = "ezs_live";

/// Something about this workspace changed; pages showing it should look again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkspaceChanged {
    pub tenant: TenantId,
    pub customer: CustomerId,
    pub workspace: WorkspaceId,
}

/// What a page's stream receives from the local fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveEvent {
    Workspace(WorkspaceChanged),
    /// Events may have been missed (the listener was reconnecting): every page looks again.
    Resync,
}

/// The wire form of an event in a `NOTIFY` payload: ids only, and a kind, so that kinds can be added (a
/// server that does not know a kind ignores it). Strict: a payload with any other field is not ours.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    kind: Kind,
    tenant: TenantId,
    customer: CustomerId,
    workspace: WorkspaceId,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Workspace,
}

/// The `NOTIFY` payload of an event.
pub fn encode(ev: &WorkspaceChanged) -> String {
    let wire = Wire { kind: Kind::Workspace, tenant: ev.tenant, customer: ev.customer, workspace: ev.workspace };
    serde_json::to_string(&wire).unwrap_or_else(|_| unreachable!("ids always serialise"))
}

/// An event from a `NOTIFY` payload; `None` for anything else (a kind this server does not know, a
/// malformed payload), which is ignored.
pub fn decode(payload: &str) -> Option<WorkspaceChanged> {
    let Wire { kind: Kind::Workspace, tenant, customer, workspace } = serde_json::from_str(payload).ok()?;
    Some(WorkspaceChanged { tenant, customer, workspace })
}

/// How long the listener waits before its next connection attempt after `failures` failed ones in a row:
/// 100 ms, doubling, at most 5 s (a restarting PostgreSQL is not hammered; a brief blip costs little).
pub fn reconnect_delay(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5))
}

/// The local fan-out and the listener's figures: shared by [`Events`], its publisher and its listener.
#[derive(Debug)]
struct Fanout {
    tx: broadcast::Sender<LiveEvent>,
    /// The listening connection's backend process id; 0 while not listening.
    listener_pid: watch::Sender<i32>,
    /// Times the listener started listening again after having listened before.
    reconnects: AtomicU64,
    /// Events whose `NOTIFY` failed (delivered to this server's pages only).
    notify_failures: AtomicU64,
    /// Notifications heard that were not events (malformed, or of an unknown kind).
    ignored: AtomicU64,
}

impl Fanout {
    fn send(&self, ev: LiveEvent) {
        // No subscriber (no page open) is not an error.
        let _ = self.tx.send(ev);
    }
}

#[derive(Debug)]
pub struct Events {
    fanout: Arc<Fanout>,
    /// PostgreSQL: events to `NOTIFY`, in order, by one task (see [`Events::through_postgres`]).
    outgoing: Option<mpsc::Sender<WorkspaceChanged>>,
}

impl Default for Events {
    /// In-process only (SQLite).
    fn default() -> Self {
        // A slow page that falls this far behind gets a "resync" instead of every event.
        let (tx, _) = broadcast::channel(1024);
        Events {
            fanout: Arc::new(Fanout {
                tx,
                listener_pid: watch::channel(0).0,
                reconnects: AtomicU64::new(0),
                notify_failures: AtomicU64::new(0),
                ignored: AtomicU64::new(0),
            }),
            outgoing: None,
        }
    }
}

impl Events {
    /// Across servers through the PostgreSQL central database `central`: events are sent as `NOTIFY` by a
    /// task of their own (so publishing never waits on the database, and one server's events leave in the
    /// order they happened); run [`listen`] to receive. Needs a Tokio runtime.
    pub fn through_postgres(central: DbPool) -> Events {
        let mut events = Events::default();
        // Far more than the events of a burst; if PostgreSQL stalls this long, pages are told directly.
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(send_notifications(central, rx, events.fanout.clone()));
        events.outgoing = Some(tx);
        events
    }

    /// Tells the pages showing this workspace, on every server.
    pub fn publish(&self, ev: WorkspaceChanged) {
        let Some(outgoing) = &self.outgoing else {
            self.fanout.send(LiveEvent::Workspace(ev));
            return;
        };
        if outgoing.try_send(ev).is_err() {
            self.fanout.notify_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("live events: the NOTIFY queue is full or gone; telling this server's pages only");
            self.fanout.send(LiveEvent::Workspace(ev));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.fanout.tx.subscribe()
    }

    /// Whether events travel through PostgreSQL (and [`listen`] should run).
    pub fn is_clustered(&self) -> bool {
        self.outgoing.is_some()
    }

    /// The listening connection's PostgreSQL backend process id, while it listens (and once the pages
    /// have been sent the resync of its start).
    pub fn listener_pid(&self) -> Option<i32> {
        Some(*self.fanout.listener_pid.borrow()).filter(|pid| *pid != 0)
    }

    /// Waits until the listener listens (see [`Events::listener_pid`]), for at most `limit`; whether it does.
    /// A server starts serving once it listens, so that a page it answers hears every later event.
    pub async fn until_listening(&self, limit: Duration) -> bool {
        let mut pid = self.fanout.listener_pid.subscribe();
        tokio::time::timeout(limit, pid.wait_for(|pid| *pid != 0)).await.is_ok_and(|r| r.is_ok())
    }

    /// Times the listener has started listening again after losing its connection.
    pub fn reconnects(&self) -> u64 {
        self.fanout.reconnects.load(Ordering::Relaxed)
    }

    /// The listener's figures in the Prometheus text format (nothing on SQLite, where there is none).
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        if !self.is_clustered() {
            return;
        }
        let f = &self.fanout;
        let _ = writeln!(
            out,
            "# HELP ezs_live_listener_up 1 while this server listens for live events in PostgreSQL.\n\
             # TYPE ezs_live_listener_up gauge\nezs_live_listener_up {}",
            u8::from(self.listener_pid().is_some())
        );
        let counters = [
            (
                "ezs_live_listener_reconnects_total",
                "Times the live-event listener listened again after a lost connection.",
                &f.reconnects,
            ),
            (
                "ezs_live_notify_failures_total",
                "Live events whose NOTIFY failed (told to this server's pages only).",
                &f.notify_failures,
            ),
            ("ezs_live_ignored_total", "Notifications heard that were not live events this server knows.", &f.ignored),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
        }
    }

    /// A handle for [`listen`].
    pub fn listener(&self) -> Listener {
        Listener(self.fanout.clone())
    }
}

/// What [`listen`] needs of [`Events`].
#[derive(Clone, Debug)]
pub struct Listener(Arc<Fanout>);

/// Sends queued events as `NOTIFY`, one at a time and in order, until [`Events`] is dropped.
async fn send_notifications(central: DbPool, mut rx: mpsc::Receiver<WorkspaceChanged>, fanout: Arc<Fanout>) {
    while let Some(ev) = rx.recv().await {
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(encode(&ev)).execute(&central).await;
        if let Err(e) = sent {
            fanout.notify_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "live events: NOTIFY failed; telling this server's pages only");
            fanout.send(LiveEvent::Workspace(ev));
        }
    }
}

/// Listens for live events in the PostgreSQL database at `url` on one dedicated connection, and hands
/// them to this server's pages, until `stop` turns true. A lost connection is reconnected (with
/// [`reconnect_delay`]); every time listening (re)starts, pages get a resync.
pub async fn listen(listener: Listener, url: String, mut stop: watch::Receiver<bool>) {
    let fanout = listener.0;
    let mut failures = 0u32;
    let mut listened_before = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let connected = tokio::select! {
            c = connect(&url) => c,
            _ = stop.changed() => return,
        };
        match connected {
            Ok((mut conn, pid)) => {
                failures = 0;
                if listened_before {
                    fanout.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(pid, "live events: listening again");
                }
                listened_before = true;
                // Anything published while nobody here listened is lost: pages look again. Sent before the
                // process id is shown, so a page opened once it shows has nothing to resync.
                fanout.send(LiveEvent::Resync);
                fanout.listener_pid.send_replace(pid);
                loop {
                    let heard = tokio::select! {
                        n = conn.try_recv() => n,
                        _ = stop.changed() => {
                            fanout.listener_pid.send_replace(0);
                            return;
                        }
                    };
                    match heard {
                        Ok(Some(n)) => match decode(n.payload()) {
                            Some(ev) => fanout.send(LiveEvent::Workspace(ev)),
                            None => {
                                fanout.ignored.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!("live events: ignored a notification that is not an event");
                            }
                        },
                        // `None`: the connection was lost (sqlx would reconnect silently on the next call;
                        // we reconnect ourselves, to know when to resync).
                        Ok(None) => {
                            tracing::warn!("live events: lost the listening connection; reconnecting");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "live events: listening failed; reconnecting");
                            break;
                        }
                    }
                }
                fanout.listener_pid.send_replace(0);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, failures, "live events: cannot listen; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(reconnect_delay(failures)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A listening connection on [`CHANNEL`] and its backend process id. Its own one-connection pool, named
/// `ezscale-live` in `pg_stat_activity`, so that it is never borrowed by a query nor counted in the pool of
/// requests.
async fn connect(url: &str) -> Result<(PgListener, i32), sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("ezscale-live");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        // Held for as long as it works: a listening connection is never idle nor old enough to recycle.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection is reported at once (`Ok(None)`), and this module reconnects: so it knows when.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut listener).await?;
    Ok((listener, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> WorkspaceChanged {
        WorkspaceChanged {
            tenant: TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            customer: CustomerId::from_uuid(uuid::Uuid::from_u128(2)),
            workspace: WorkspaceId::from_uuid(uuid::Uuid::from_u128(3)),
        }
    }

    #[test]
    fn a_payload_carries_the_three_ids_and_nothing_else() {
        let ev = ids();
        let payload = encode(&ev);
        let value: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let keys: Vec<&str> = value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(keys.len(), 4, "{payload}");
        assert_eq!(value["kind"], "workspace");
        assert_eq!(value["tenant"], ev.tenant.to_string());
        assert_eq!(value["customer"], ev.customer.to_string());
        assert_eq!(value["workspace"], ev.workspace.to_string());
        assert_eq!(decode(&payload), Some(ev), "round trip");
    }

    #[test]
    fn anything_but_a_known_event_is_ignored() {
        let ev = ids();
        let good = encode(&ev);
        assert_eq!(decode(""), None);
        assert_eq!(decode("not json"), None);
        assert_eq!(decode(&good.replace("\"workspace\",", "\"invoice\",")), None, "an unknown kind");
        assert_eq!(decode(&good.replace(&ev.customer.to_string(), "someone")), None, "not an id");
        let extra = good.replacen('{', "{\"name\":\"Ann's desktop\",", 1);
        assert_eq!(decode(&extra), None, "a payload with more than ids is not ours");
        let missing =
            format!("{{\"kind\":\"workspace\",\"tenant\":\"{}\",\"workspace\":\"{}\"}}", ev.tenant, ev.workspace);
        assert_eq!(decode(&missing), None);
    }

    #[test]
    fn reconnecting_backs_off_from_a_tenth_of_a_second_to_five_seconds() {
        let ms = |n| reconnect_delay(n).as_millis();
        assert_eq!(
            [ms(0), ms(1), ms(2), ms(3), ms(5), ms(6), ms(7), ms(1000)],
            [100, 200, 400, 800, 3200, 5000, 5000, 5000]
        );
    }

    #[tokio::test]
    async fn in_process_events_reach_subscribers_directly() {
        let events = Events::default();
        assert!(!events.is_clustered());
        let mut rx = events.subscribe();
        events.publish(ids());
        assert_eq!(rx.recv().await.ok(), Some(LiveEvent::Workspace(ids())));
        let mut text = String::new();
        events.render_metrics(&mut text);
        assert_eq!(text, "", "no listener, no listener figures");
    }
}
