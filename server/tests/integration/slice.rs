//! The first vertical slice, end to end over HTTP: sign in, order, provision through the Kasm simulator,
//! run, stop at the stored cost, start again — on SQLite and on PostgreSQL.

use std::time::Duration;

use crate::common::{detail, eventually, order, until_state, Backend, TestApp};
use app::catalog::CatalogView;
use app::domain::billing::session_cost;
use app::domain::money::Money;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::{WorkspaceDetail, WorkspaceList};
use app::error::AppError;

use server::kasm_sim::Fault;

async fn probes_answer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.client();
    assert_eq!(c.get_page("/healthz").await, (200, "ok".into()));
    assert_eq!(c.get_page("/readyz").await, (200, "ready".into()));
    app.stop().await;
}
on_both_backends!(probes_answer);

async fn the_catalog_lists_six_plans_at_their_hourly_rates(b: Backend) {
    let app = TestApp::spawn(b).await;
    let cat: CatalogView = app.client().call("catalog", &[]).await.unwrap();
    let names: Vec<(String, String)> = cat.plans.iter().map(|p| (p.code.clone(), p.rate.to_string())).collect();
    assert_eq!(
        names,
        [
            ("developer-basic", "$0.15/h"),
            ("developer-pro", "$0.30/h"),
            ("developer-enterprise", "$0.60/h"),
            ("business-basic", "$0.20/h"),
            ("business-pro", "$0.40/h"),
            ("business-enterprise", "$0.80/h"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(cat.order_key.is_none(), "no order key for anonymous visitors");
    app.stop().await;
}
on_both_backends!(the_catalog_lists_six_plans_at_their_hourly_rates);

async fn wrong_passwords_and_unknown_emails_get_the_same_refusal(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.client();
    let wrong = c.call::<()>("login", &[("email", "demo@ezscale.test"), ("password", "nope")]).await;
    let unknown = c.call::<()>("login", &[("email", "nobody@ezscale.test"), ("password", "nope")]).await;
    assert_eq!(wrong, Err((401, AppError::BadCredentials)));
    assert_eq!(unknown, wrong);
    assert_eq!(c.call::<WorkspaceList>("list_workspaces", &[]).await, Err((401, AppError::NotSignedIn)));
    app.stop().await;
}
on_both_backends!(wrong_passwords_and_unknown_emails_get_the_same_refusal);

async fn an_order_runs_meters_stops_at_the_stored_cost_and_starts_again(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.demo().await;
    let id = order(&c, "business-basic").await;

    let running = until_state(&c, &id, WorkspaceState::Running).await;
    let meter = running.card.meter.expect("a running workspace has an open meter");
    assert_eq!(meter.rate.to_string(), "$0.20/h");
    // "Open workspace" asks Kasm for a fresh login link at click time and redirects there.
    assert_eq!(running.launch_url.as_deref(), Some(format!("/workspaces/{id}/launch").as_str()));
    let res = c.http.get(format!("{}/workspaces/{id}/launch", c.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&format!("http://{}/#/connect/login/dash/", app.sim_addr)), "{to}");
    let other = app.signed_in("other@ezscale.test", "other-password").await;
    let res = other.http.get(format!("{}/workspaces/{id}/launch", c.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404, "another customer cannot launch it");
    assert_eq!(app.sim.session_count(), 1);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped: WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    assert_eq!(stopped.card.state, WorkspaceState::Stopped);
    assert!(stopped.card.meter.is_none());
    let line = &stopped.usage[0];
    let ended = line.ended_at.expect("closed");
    // Stored amount = the domain rule on the stored interval = one 15-minute increment at $0.20/h.
    assert_eq!(line.amount, session_cost(line.started_at, ended, &line.rate).ok());
    assert_eq!(line.amount.map(Money::minor), Some(5));
    assert_eq!(line.billable_seconds, Some(900));
    assert!(ended > line.started_at);

    // Start again: a new usage session, on the same Kasm session (resumed).
    let _: WorkspaceDetail = c.call("start_workspace", &[("id", &id)]).await.unwrap();
    let again = until_state(&c, &id, WorkspaceState::Running).await;
    assert_eq!(again.usage.len(), 2);
    assert!(again.usage[0].ended_at.is_none() && again.usage[0].started_at >= ended);
    assert_eq!(app.sim.session_count(), 1, "resumed, not a second session");
    let _: WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    // The stop completes at once, or (when the start's job is still finishing) right after it.
    until_state(&c, &id, WorkspaceState::Stopped).await;
    let list: WorkspaceList = c.call("list_workspaces", &[]).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].state, WorkspaceState::Stopped);
    app.stop().await;
}
on_both_backends!(an_order_runs_meters_stops_at_the_stored_cost_and_starts_again);

async fn a_double_submitted_order_makes_one_workspace(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.demo().await;
    let cat: CatalogView = c.call("catalog", &[]).await.unwrap();
    let key = cat.order_key.unwrap();
    let args = [("plan", "developer-basic"), ("order_key", key.as_str())];
    let (a, b2) = tokio::join!(c.call::<String>("order_workspace", &args), c.call::<String>("order_workspace", &args));
    assert_eq!(a.clone().unwrap(), b2.unwrap());
    let id = a.unwrap();
    until_state(&c, &id, WorkspaceState::Running).await;
    let list: WorkspaceList = c.call("list_workspaces", &[]).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(app.sim.session_count(), 1);
    app.stop().await;
}
on_both_backends!(a_double_submitted_order_makes_one_workspace);

async fn bad_orders_get_clear_errors_and_change_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.demo().await;
    let cat: CatalogView = c.call("catalog", &[]).await.unwrap();
    let key = cat.order_key.unwrap();
    let unknown = c.call::<String>("order_workspace", &[("plan", "developer-ultra"), ("order_key", &key)]).await;
    assert_eq!(unknown, Err((400, AppError::Invalid("There is no such workspace plan.".into()))));
    let bad_key = c.call::<String>("order_workspace", &[("plan", "developer-basic"), ("order_key", "x' OR 1=1")]).await;
    assert!(matches!(bad_key, Err((400, AppError::Invalid(_)))));
    let missing = c.call::<String>("order_workspace", &[("plan", "developer-basic")]).await;
    assert!(matches!(missing, Err((400, AppError::Invalid(_)))), "{missing:?}");
    let anonymous =
        app.client().call::<String>("order_workspace", &[("plan", "developer-basic"), ("order_key", &key)]).await;
    assert_eq!(anonymous, Err((401, AppError::NotSignedIn)));
    let list: WorkspaceList = c.call("list_workspaces", &[]).await.unwrap();
    assert!(list.items.is_empty());
    assert_eq!(app.sim.session_count(), 0);
    app.stop().await;
}
on_both_backends!(bad_orders_get_clear_errors_and_change_nothing);

async fn kasm_refusing_fails_the_workspace_readably_and_retry_recovers(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.sim.inject(Fault::BusinessError {
        endpoint: "request_kasm".into(),
        message: "No resources are available to create the requested Kasm".into(),
    });
    let c = app.demo().await;
    let id = order(&c, "developer-pro").await;
    let failed = until_state(&c, &id, WorkspaceState::Failed).await;
    assert_eq!(
        failed.failure.as_deref(),
        Some("All workspace capacity is in use right now. Please try again in a few minutes.")
    );
    assert!(failed.usage.is_empty() && failed.card.meter.is_none());
    assert_eq!(app.sim.session_count(), 0);
    // Stopping a failed workspace is refused with a reason and changes nothing.
    let refused = c.call::<WorkspaceDetail>("stop_workspace", &[("id", &id)]).await;
    assert_eq!(refused, Err((409, AppError::Conflict("This workspace is failed and cannot be stopped now.".into()))));

    let _: WorkspaceDetail = c.call("retry_workspace", &[("id", &id)]).await.unwrap();
    let running = until_state(&c, &id, WorkspaceState::Running).await;
    assert!(running.failure.is_none());
    assert_eq!(app.sim.session_count(), 1);
    app.stop().await;
}
on_both_backends!(kasm_refusing_fails_the_workspace_readably_and_retry_recovers);

async fn a_lost_request_kasm_answer_is_adopted_not_duplicated(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.sim.inject(Fault::DropResponseAfterCommit { endpoint: "request_kasm".into() });
    let c = app.demo().await;
    let id = order(&c, "business-pro").await;
    until_state(&c, &id, WorkspaceState::Running).await;
    assert_eq!(app.sim.session_count(), 1, "the retry adopted the session it had already created");
    app.stop().await;
}
on_both_backends!(a_lost_request_kasm_answer_is_adopted_not_duplicated);

async fn customers_cannot_see_or_touch_each_others_workspaces(b: Backend) {
    let app = TestApp::spawn(b).await;
    let demo = app.demo().await;
    let id = order(&demo, "developer-basic").await;
    until_state(&demo, &id, WorkspaceState::Running).await;
    let other = app.signed_in("other@ezscale.test", "other-password").await;
    let list: WorkspaceList = other.call("list_workspaces", &[]).await.unwrap();
    assert!(list.items.is_empty());
    for f in ["get_workspace", "stop_workspace", "start_workspace", "retry_workspace"] {
        assert_eq!(other.call::<WorkspaceDetail>(f, &[("id", &id)]).await, Err((404, AppError::NotFound)), "{f}");
    }
    // A made-up id is answered the same way.
    let fake = uuid::Uuid::new_v4().to_string();
    assert_eq!(demo.call::<WorkspaceDetail>("get_workspace", &[("id", &fake)]).await, Err((404, AppError::NotFound)));
    assert_eq!(detail(&demo, &id).await.card.state, WorkspaceState::Running, "untouched");
    app.stop().await;
}
on_both_backends!(customers_cannot_see_or_touch_each_others_workspaces);

async fn a_double_clicked_stop_closes_the_meter_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.demo().await;
    let id = order(&c, "business-enterprise").await;
    until_state(&c, &id, WorkspaceState::Running).await;
    let args = [("id", id.as_str())];
    let (a, b2) = tokio::join!(
        c.call::<WorkspaceDetail>("stop_workspace", &args),
        c.call::<WorkspaceDetail>("stop_workspace", &args)
    );
    assert_eq!([a.is_ok(), b2.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} / {b2:?}");
    let d = until_state(&c, &id, WorkspaceState::Stopped).await;
    assert_eq!(d.usage.len(), 1);
    assert_eq!(d.usage[0].amount.map(Money::minor), Some(20), "one increment at $0.80/h");
    app.stop().await;
}
on_both_backends!(a_double_clicked_stop_closes_the_meter_once);

async fn cross_site_posts_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app
        .client()
        .http
        .post(format!("{}/api/login", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "demo@ezscale.test"), ("password", "demo-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("set-cookie").is_none());
    let res = app
        .client()
        .http
        .post(format!("{}/api/logout", app.base))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    app.stop().await;
}
on_both_backends!(cross_site_posts_are_refused);

async fn pages_render_on_the_server_for_the_signed_in_customer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.demo().await;
    let id = order(&c, "developer-enterprise").await;
    until_state(&c, &id, WorkspaceState::Running).await;
    let (status, html) = c.get_page(&format!("/workspaces/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Developer Enterprise") && html.contains("data-testid=\"live-cost\""), "{html}");
    let (status, _) = c.get_page("/no-such-page").await;
    assert_eq!(status, 404);
    app.stop().await;
}
on_both_backends!(pages_render_on_the_server_for_the_signed_in_customer);

async fn a_transient_kasm_failure_is_retried_to_success(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.sim.inject(Fault::HttpStatus { endpoint: "request_kasm".into(), status: 503 });
    app.sim.inject(Fault::HttpStatus { endpoint: "get_images".into(), status: 500 });
    let c = app.demo().await;
    let id = order(&c, "developer-basic").await;
    let running = until_state(&c, &id, WorkspaceState::Running).await;
    assert!(running.failure.is_none());
    assert_eq!(app.sim.session_count(), 1);
    app.stop().await;
}
on_both_backends!(a_transient_kasm_failure_is_retried_to_success);

async fn a_failed_provisioning_alerts_the_operators(b: Backend) {
    use std::sync::{Arc, Mutex};
    // A stand-in for Discord: records what it receives.
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = received.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await });

    let url = format!("http://{hook_addr}/hook");
    let app = TestApp::spawn_with(b, &[("ALERT_DISCORD_WEBHOOK", &url), ("ALERT_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    app.sim.inject(Fault::BusinessError { endpoint: "request_kasm".into(), message: "Image Not Authorized".into() });
    let c = app.demo().await;
    let id = order(&c, "developer-basic").await;
    until_state(&c, &id, WorkspaceState::Failed).await;
    let alert =
        eventually(Duration::from_secs(10), "the alert", || async { received.lock().unwrap().first().cloned() }).await;
    let json: serde_json::Value = serde_json::from_str(&alert).unwrap();
    let text = json.to_string();
    assert!(text.contains(&id) && text.contains("Image Not Authorized"), "{text}");
    assert_eq!(json["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(!text.contains("sim-secret"), "no secret in alerts");
    app.stop().await;
}
on_both_backends!(a_failed_provisioning_alerts_the_operators);

async fn pages_carry_a_nonce_csp_and_every_response_the_safety_headers(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app.client().http.get(format!("{}/", app.base)).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let html = res.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the CSP");
    assert!(nonce.len() >= 16, "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "scripts carry the nonce");
    // Every page load gets a fresh nonce.
    let again = app.client().http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_ne!(again.headers()["content-security-policy"].to_str().unwrap(), csp);
    // The not-found page is a page too: its scripts carry its own nonce and may run (it hydrates, and its
    // stylesheet loads), where a policy that allows nothing would leave it unstyled and inert.
    let res = app.client().http.get(format!("{}/no-such-page", app.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the 404's CSP");
    assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"), "{csp}");
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the 404's scripts carry its nonce");
    // Non-page responses allow nothing.
    let res = app.client().http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(res.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
    app.stop().await;
}
on_both_backends!(pages_carry_a_nonce_csp_and_every_response_the_safety_headers);

async fn repeated_failed_sign_ins_are_slowed_down_before_any_hashing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.client();
    for _ in 0..10 {
        let r = c.call::<()>("login", &[("email", "demo@ezscale.test"), ("password", "guess")]).await;
        assert_eq!(r, Err((401, AppError::BadCredentials)));
    }
    let res = c
        .http
        .post(format!("{}/api/login", app.base))
        .form(&[("email", "DEMO@ezscale.test"), ("password", "demo-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429, "even the right password waits out the window");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry));
    assert!(res.headers().get("set-cookie").is_none());
    // Another account from elsewhere is unaffected.
    let other = app.signed_in("other@ezscale.test", "other-password").await;
    let _: app::domain::workspace_view::WorkspaceList = other.call("list_workspaces", &[]).await.unwrap();
    app.stop().await;
}
on_both_backends!(repeated_failed_sign_ins_are_slowed_down_before_any_hashing);

async fn dead_letters_are_listed_and_requeued_by_an_admin(b: Backend) {
    use app::admin::provisioning::DeadLetterRow;
    let app = TestApp::spawn(b).await;
    app.sim.inject(Fault::BusinessError {
        endpoint: "request_kasm".into(),
        message: "No resources are available to create the requested Kasm".into(),
    });
    let c = app.demo().await;
    let id = order(&c, "developer-basic").await;
    until_state(&c, &id, WorkspaceState::Failed).await;
    // As if its job had used up every retry: it is a dead letter now.
    eventually(Duration::from_secs(10), "the job settled", || async {
        let n = sqlx::query("UPDATE jobs SET state = 'dead', last_error = 'gave up after 8 attempts' WHERE payload LIKE $1 AND state = 'done'")
            .bind(format!("%{id}%"))
            .execute(app.state.central().pool())
            .await
            .ok()?
            .rows_affected();
        (n == 1).then_some(())
    })
    .await;
    let admin = app.client_for("admin.localhost");
    assert_eq!(admin.call_raw("admin_dead_letters", &[]).await.0, 401);
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let dead: Vec<DeadLetterRow> = admin.call("admin_dead_letters", &[]).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].tenant.as_str(), dead[0].workspace_id.as_deref()), ("house", Some(id.as_str())));
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up after 8 attempts"));
    // Requeued (the cause is gone: the simulator's refusal was one-shot): the workspace provisions.
    let left: Vec<DeadLetterRow> = admin.call("admin_requeue", &[("job_id", &dead[0].job_id)]).await.unwrap();
    assert!(left.is_empty());
    until_state(&c, &id, WorkspaceState::Running).await;
    let again = admin.call_raw("admin_requeue", &[("job_id", &dead[0].job_id)]).await;
    assert_eq!(again.0, 404, "requeued once only");
    // Storefronts have no such function.
    assert_eq!(c.call_raw("admin_dead_letters", &[]).await.0, 404);
    let _ = c.call_raw("terminate_workspace", &[("id", &id)]).await;
    app.stop().await;
}
on_both_backends!(dead_letters_are_listed_and_requeued_by_an_admin);
