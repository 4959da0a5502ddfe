//! Provisioning under lost answers, at volume: every `request_kasm` answer is lost once (the session is
//! created, the reply never arrives). Each workspace must still end up with exactly one Kasm session.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{eventually, Backend, TestApp};
use app::backend::{
    identity::auth, identity::customers, platform::db::now, workspaces::provisioning, workspaces::store,
};
use app::domain::plan::PlanCode;
use app::domain::workspace::WorkspaceState;
use server::kasm_sim::Fault;

const TRIALS: usize = 100;

async fn a_lost_answer_never_makes_a_second_session_in_100_trials(b: Backend) {
    // A hundred lost answers are a hundred 5xx: the circuit breaker may well open on a streak of them, and
    // the jobs must wait for it rather than give up. A short cool-down keeps that wait short.
    let app = TestApp::spawn_with(
        b,
        &[("KASM_SIM_LICENSE_CAP", "1000"), ("KASM_SIM_START_DELAY_MS", "50"), ("KASM_BREAKER_COOL_DOWN_MS", "2000")],
    )
    .await;
    let tenant = app.state.house().await.unwrap();
    let hash = auth::hash_password("trial-password".into()).await.unwrap();
    let plan = PlanCode::parse("developer-basic").unwrap();
    let mut ids = Vec::with_capacity(TRIALS);
    for i in 0..TRIALS {
        app.sim.inject(Fault::DropResponseAfterCommit { endpoint: "request_kasm".into() });
        let customer =
            customers::ensure(&tenant.db, &format!("trial{i}@ezscale.test"), "Trial Customer", &hash).await.unwrap();
        let (id, _) =
            store::insert_order(&tenant.db, customer, plan, uuid::Uuid::new_v4(), "default", now()).await.unwrap();
        provisioning::enqueue(&app.state, &tenant, id).await.unwrap();
        ids.push(id);
    }
    let kasm_ids = eventually(Duration::from_secs(120), "all trial workspaces running", || async {
        let mut kasm_ids = Vec::new();
        for id in &ids {
            let ws = store::get(&tenant.db, *id).await.unwrap().unwrap();
            assert_ne!(ws.state, WorkspaceState::Failed, "{:?}", ws.failure_reason);
            if ws.state != WorkspaceState::Running {
                return None;
            }
            kasm_ids.push(ws.kasm_id.unwrap());
        }
        Some(kasm_ids)
    })
    .await;
    let distinct: HashSet<_> = kasm_ids.iter().collect();
    assert_eq!(distinct.len(), TRIALS, "every workspace has its own session");
    assert_eq!(app.sim.session_count(), TRIALS, "exactly one Kasm session per order: none duplicated");
    eprintln!("lost request_kasm answers: {TRIALS}/{TRIALS} trials ended with exactly one session each");
    app.stop().await;
}
on_both_backends!(a_lost_answer_never_makes_a_second_session_in_100_trials);
