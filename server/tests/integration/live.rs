//! What happens in Kasm behind our back reaches us: the reconciler closes meters of sessions stopped or
//! gone in Kasm, and open pages hear about every change through server-sent events.

use std::time::{Duration, Instant};

use crate::common::{eventually, order, until_state, Backend, Client, TestApp};
use app::domain::money::Money;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::WorkspaceDetail;

const WAIT: Duration = Duration::from_secs(15);
/// The reconcile interval these tests run with.
const INTERVAL_MS: i64 = 300;

async fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, &[("RECONCILE_INTERVAL_MS", &INTERVAL_MS.to_string())]).await
}

/// Orders a workspace and waits until it runs *and* its provisioning job has finished (released the
/// workspace's lease), so what the test does next is not racing the job's last steps.
async fn running_workspace(app: &TestApp, c: &Client, plan: &str) -> (String, uuid::Uuid) {
    let id = order(c, plan).await;
    until_state(c, &id, WorkspaceState::Running).await;
    eventually(WAIT, "the provisioning job finished", || async {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND payload LIKE $1")
            .bind(format!("%{id}%"))
            .fetch_one(app.state.central().pool())
            .await
            .ok()?;
        (open == 0).then_some(())
    })
    .await;
    let kasm = app.kasm_session_of(&id).await.expect("the simulator knows the session");
    (id, kasm)
}

/// Waits for a reconcile pass that started after this call: one that saw the session as it is now.
async fn a_pass_from_now(app: &TestApp) {
    let now = app::backend::platform::db::now().as_millis();
    eventually(WAIT, "a reconcile pass started after now", || async {
        let last: i64 = sqlx::query_scalar("SELECT last_ok_at FROM reconciler_passes WHERE kasm_server = 'default'")
            .fetch_optional(app.state.central().pool())
            .await
            .ok()??;
        (last > now).then_some(())
    })
    .await;
}

async fn a_session_stopped_in_kasm_closes_the_meter_within_an_interval(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let (id, kasm) = running_workspace(&app, &c, "developer-basic").await;
    // The reconciler has seen it running: its meter will close at that pass or a later one.
    a_pass_from_now(&app).await;
    app.sim.stop_session_remotely(kasm);
    let stopped_at = app::backend::platform::db::now();
    let d = until_state(&c, &id, WorkspaceState::Stopped).await;
    let line = &d.usage[0];
    let ended = line.ended_at.expect("meter closed");
    // Closed at the last pass that saw it running: never after the remote stop, at most ~one interval before.
    assert!(ended <= stopped_at, "ended {ended:?} after the remote stop {stopped_at:?}");
    assert!(stopped_at.as_millis() - ended.as_millis() <= 2 * INTERVAL_MS + 200, "closed too early");
    assert_eq!(line.amount.map(Money::minor), Some(4), "one increment at $0.15/h, rounded half-up");
    // Start again resumes the stopped Kasm session.
    let _: WorkspaceDetail = c.call("start_workspace", &[("id", &id)]).await.unwrap();
    until_state(&c, &id, WorkspaceState::Running).await;
    assert_eq!(app.sim.session_count(), 1);
    app.stop().await;
}
on_both_backends!(a_session_stopped_in_kasm_closes_the_meter_within_an_interval);

async fn a_session_that_dies_in_kasm_is_closed_and_start_provisions_a_new_one(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let (id, kasm) = running_workspace(&app, &c, "business-pro").await;
    // The reconciler has seen it running, so the end it finds must be Kasm's, not a pass's.
    a_pass_from_now(&app).await;
    let killed_at = app::backend::platform::db::now();
    app.sim.kill_session(kasm);
    let d = until_state(&c, &id, WorkspaceState::Stopped).await;
    assert!(d.usage[0].amount.is_some());
    // The end comes from Kasm's accounting history (destroyed_date), not from the last pass.
    let ended = d.usage[0].ended_at.unwrap();
    assert!((ended.as_millis() - killed_at.as_millis()).abs() < 100, "ended {ended:?}, killed {killed_at:?}");
    let _: WorkspaceDetail = c.call("start_workspace", &[("id", &id)]).await.unwrap();
    until_state(&c, &id, WorkspaceState::Running).await;
    let new_kasm = app.kasm_session_of(&id).await.unwrap();
    assert_ne!(new_kasm, kasm, "a new Kasm session for the same workspace");
    assert_eq!(app.sim.session_count(), 1);
    app.stop().await;
}
on_both_backends!(a_session_that_dies_in_kasm_is_closed_and_start_provisions_a_new_one);

async fn open_pages_hear_about_changes_within_two_seconds(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let (id, kasm) = running_workspace(&app, &c, "developer-pro").await;
    let mut stream = c.http.get(format!("{}/events/workspaces", app.base)).send().await.unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let t0 = Instant::now();
    app.sim.stop_session_remotely(kasm);
    let mut seen = String::new();
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: workspace") && seen.contains(&id) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "no event within 2 s; got {seen:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));

    // Another customer's stream hears nothing about it, and anonymous visitors get no stream.
    let anon = app.client().http.get(format!("{}/events/workspaces", app.base)).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    app.stop().await;
}
on_both_backends!(open_pages_hear_about_changes_within_two_seconds);

/// Reads an event stream until it carries `needle`; everything read up to then. Bounded by `WAIT`.
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "the stream never carried {needle}; got {seen:?}");
    seen
}

async fn other_customers_streams_stay_silent(b: Backend) {
    let app = spawn(b).await;
    let demo = app.demo().await;
    let other = app.signed_in("other@ezscale.test", "other-password").await;
    let mut others = other.http.get(format!("{}/events/workspaces", app.base)).send().await.unwrap();
    let (id, _) = running_workspace(&app, &demo, "developer-basic").await;
    let mut demos = demo.http.get(format!("{}/events/workspaces", app.base)).send().await.unwrap();
    let _: WorkspaceDetail = demo.call("stop_workspace", &[("id", &id)]).await.unwrap();
    read_until(&mut demos, &id).await;
    // Events travel in order on one channel: once the other customer hears about their own workspace,
    // ordered after the stop was announced, anything leaked about the demo's would have come first.
    let own = order(&other, "developer-basic").await;
    let seen = read_until(&mut others, &own).await;
    assert!(!seen.contains(&id), "another customer's stream carried {seen:?}");
    app.stop().await;
}
on_both_backends!(other_customers_streams_stay_silent);

async fn deleting_destroys_the_session_and_closes_the_meter_once(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let (id, _) = running_workspace(&app, &c, "business-basic").await;
    let d: WorkspaceDetail = c.call("terminate_workspace", &[("id", &id)]).await.unwrap();
    assert_eq!(d.card.state, WorkspaceState::Terminated);
    assert_eq!(d.usage.len(), 1);
    assert_eq!(d.usage[0].amount.map(Money::minor), Some(5));
    eventually(WAIT, "the Kasm session is gone", || async { (app.sim.session_count() == 0).then_some(()) }).await;
    // Deleting twice, or starting a deleted workspace, is refused and changes nothing.
    let again = c.call::<WorkspaceDetail>("terminate_workspace", &[("id", &id)]).await;
    assert!(matches!(again, Err((409, _))), "{again:?}");
    let start = c.call::<WorkspaceDetail>("start_workspace", &[("id", &id)]).await;
    assert!(matches!(start, Err((409, _))), "{start:?}");
    app.stop().await;
}
on_both_backends!(deleting_destroys_the_session_and_closes_the_meter_once);

async fn a_destroy_kasm_refused_is_retried_by_the_reconciler(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let (id, _) = running_workspace(&app, &c, "developer-basic").await;
    app.sim.inject(server::kasm_sim::Fault::BusinessError {
        endpoint: "destroy_kasm".into(),
        message: "Destroy Error".into(),
    });
    let d: WorkspaceDetail = c.call("terminate_workspace", &[("id", &id)]).await.unwrap();
    assert_eq!(d.card.state, WorkspaceState::Terminated, "the customer's deletion stands");
    eventually(WAIT, "the reconciler destroyed the leftover session", || async {
        (app.sim.session_count() == 0).then_some(())
    })
    .await;
    app.stop().await;
}
on_both_backends!(a_destroy_kasm_refused_is_retried_by_the_reconciler);

async fn metrics_count_what_the_reconciler_did(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let (id, kasm) = running_workspace(&app, &c, "developer-basic").await;
    app.sim.kill_session(kasm);
    until_state(&c, &id, WorkspaceState::Stopped).await;
    // Scraped on the operations listener. The pass commits the stop before it finishes and records its
    // counters, so wait for the counters.
    let ops = app.ops_client();
    let text = eventually(WAIT, "the pass that closed the meter is counted", || async {
        let (status, text) = ops.get_page("/metrics").await;
        assert_eq!(status, 200);
        let counted = metric(&text, "ezs_reconcile_meters_closed_gone_total") == Some(1.0)
            && metric(&text, "ezs_workspaces{state=\"stopped\"}") == Some(1.0);
        counted.then_some(text)
    })
    .await;
    let value = |name: &str| metric(&text, name);
    assert!(value("ezs_reconcile_passes_total").is_some_and(|v| v >= 1.0), "{text}");
    assert_eq!(value("ezs_reconcile_meters_closed_gone_total"), Some(1.0), "{text}");
    assert_eq!(value("ezs_workspaces{state=\"running\"}"), Some(0.0), "{text}");
    assert_eq!(value("ezs_tenants{status=\"active\"}"), Some(1.0), "{text}");
    assert_eq!(value("ezs_kasm_breaker_open{server=\"default\",state=\"closed\"}"), Some(0.0), "{text}");
    app.stop().await;
}
on_both_backends!(metrics_count_what_the_reconciler_did);

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}
