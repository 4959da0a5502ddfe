//! Every periodic loop and every job is cluster-safe (issue 15, item 3). With three app servers on one
//! central PostgreSQL database, each loop (reconciler, meter, billing scheduler, domain checks) runs its
//! pass once per interval across the cluster, `/metrics` says which server ran it, and a server that dies
//! holding a loop's pass or a provisioning job has it taken over: the loop within one interval, the job
//! within 10 s. The claim itself (one atomic statement) is tested on both engines.
//!
//! A "dead" server here is what `kill -9` leaves behind: a lease in the central database that nobody
//! renews. For a loop, it is a real loop runner whose task is aborted mid-pass; for a job, a claim made by
//! a worker that then never renews or finishes it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use app::backend::platform::db::{now, CentralDb};
use app::backend::platform::jobs::LEASE_MS;
use app::backend::platform::loops::{self, Claim, Loop, LoopRecord, Loops};
use app::domain::workspace::WorkspaceState;

use crate::common::{order, until_state, Backend, ScratchDbs, TestApp};

const SHORT: [(&str, &str); 4] = [
    ("RECONCILE_INTERVAL_MS", "1000"),
    ("METER_INTERVAL_MS", "1000"),
    ("BILLING_INTERVAL_MS", "1000"),
    ("DOMAIN_CHECK_INTERVAL_MS", "1000"),
];
const INTERVAL: Duration = Duration::from_secs(1);

async fn record(app: &TestApp, name: Loop) -> Option<LoopRecord> {
    loops::records(app.state.central()).await.unwrap().into_iter().find(|r| r.name == name.as_str())
}

fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_loop_runs_once_per_interval_across_three_servers_and_metrics_name_the_server() {
    let a = TestApp::spawn_with(Backend::Postgres, &SHORT).await;
    let b = a.spawn_beside(&[]).await;
    let c = a.spawn_beside(&[]).await;
    let servers = [&a, &b, &c];
    let names: BTreeSet<String> = servers.iter().map(|s| s.state.settings().server_name.clone()).collect();
    assert_eq!(names.len(), 3, "each server has its own name: {names:?}");

    // Watch every pass start for 6 s: the start instants, and who ran each.
    let mut starts: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    let mut ran_by: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let watch_from = now().as_millis();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        for r in loops::records(a.state.central()).await.unwrap() {
            let name = Loop::ALL.iter().find(|l| l.as_str() == r.name).map(|l| l.as_str()).unwrap();
            if let Some(at) = r.last_started_at.filter(|at| *at >= watch_from) {
                starts.entry(name).or_default().insert(at);
            }
            if let Some(h) = r.holder.or(r.last_server) {
                ran_by.entry(name).or_default().insert(h);
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    for l in Loop::ALL {
        let seen: Vec<i64> = starts.get(l.as_str()).map(|s| s.iter().copied().collect()).unwrap_or_default();
        // 6 s at one pass a second: about 6 passes, whatever the number of servers (three servers each
        // running each loop on their own would be about 18).
        assert!((4..=7).contains(&seen.len()), "{}: {} passes in 6 s: {seen:?}", l.as_str(), seen.len());
        // Never two passes within one interval (the claim moves the next pass one interval on).
        for pair in seen.windows(2) {
            assert!(pair[1] - pair[0] >= 1000, "{}: passes {} ms apart: {seen:?}", l.as_str(), pair[1] - pair[0]);
        }
        let by = &ran_by[l.as_str()];
        assert!(by.is_subset(&names), "{}: ran by {by:?}, servers {names:?}", l.as_str());
    }

    // `/metrics` on any server: this server's passes, and which server ran each loop's last pass. The
    // servers' own counts add up to the cluster's.
    let cluster_passes = |records: Vec<LoopRecord>| -> BTreeMap<String, u64> {
        records.into_iter().map(|r| (r.name, u64::try_from(r.passes).unwrap_or(0))).collect()
    };
    let before = cluster_passes(loops::records(a.state.central()).await.unwrap());
    let mut per_server = BTreeMap::new();
    for s in servers {
        let (status, text) = s.ops_client().get_page("/metrics").await;
        assert_eq!(status, 200);
        let me = &s.state.settings().server_name;
        for l in Loop::ALL {
            let mine = metric(&text, &format!("ezs_loop_passes_total{{loop=\"{}\",server=\"{me}\"}}", l.as_str()));
            *per_server.entry(l.as_str()).or_insert(0) += mine.unwrap_or_else(|| panic!("{me} {}: {text}", l.as_str()));
            // The cluster's last pass as this scrape saw it (passes go on meanwhile): run by one of the three.
            let prefix = format!("ezs_loop_last_pass_seconds{{loop=\"{}\",server=\"", l.as_str());
            let who = text
                .lines()
                .find_map(|line| line.strip_prefix(&prefix)?.split('"').next())
                .unwrap_or_else(|| panic!("{prefix} in {text}"));
            assert!(names.contains(who), "{}: last pass by {who}, servers {names:?}", l.as_str());
        }
    }
    // Each pass is counted once, by the server that ran it: the servers' counts add up to the cluster's
    // (read before and after the scrapes; a server counts its pass a moment before it records it).
    let after = cluster_passes(loops::records(a.state.central()).await.unwrap());
    for (l, n) in &per_server {
        let (lo, hi) = (before[*l], after[*l] + 1);
        assert!((lo..=hi).contains(n), "{l}: the servers counted {n} passes, the cluster {lo} to {hi}");
    }
    for s in [c, b, a] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_pass_is_taken_over_within_one_interval_and_a_long_pass_is_never_doubled() {
    let a = TestApp::spawn_with(Backend::Postgres, &SHORT).await;
    let b = a.spawn_beside(&[]).await;
    let central = a.state.central().clone();

    // A third server whose meter pass never ends. It competes for the loop like the others (winning one
    // pass in three or so, so within seconds), then renews its lease while its pass runs.
    let doomed = std::sync::Arc::new(Loops::new("doomed:1"));
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let runner = {
        let (doomed, central) = (doomed.clone(), central.clone());
        tokio::spawn(async move {
            doomed.run(&central, Loop::Meter, INTERVAL, stop_rx, std::future::pending::<()>).await;
        })
    };
    let held = crate::common::eventually(Duration::from_secs(30), "the doomed server holds the meter", || async {
        record(&a, Loop::Meter).await.filter(|r| r.holder.as_deref() == Some("doomed:1"))
    })
    .await;
    // Three leases long, its pass stays the only one: the lease is renewed, and nobody starts the loop beside it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = record(&a, Loop::Meter).await.unwrap();
    assert_eq!(still.holder.as_deref(), Some("doomed:1"));
    assert_eq!(still.last_started_at, held.last_started_at, "no other pass started while it held the lease");
    assert!(still.lease_until > held.lease_until, "renewed: {still:?} after {held:?}");

    // kill -9: its task is gone, so nothing renews the lease.
    runner.abort();
    let died = Instant::now();
    let after = crate::common::eventually(Duration::from_secs(10), "another server takes the meter over", || async {
        record(&a, Loop::Meter)
            .await
            .filter(|r| r.last_started_at > still.last_started_at && r.holder.as_deref() != Some("doomed:1"))
    })
    .await;
    let took = died.elapsed();
    // The lease (1 s for a 1 s interval) lapses, and the next look by a live server claims it.
    assert!(took <= INTERVAL + Duration::from_millis(1500), "taken over after {took:?}");
    let by = after.holder.or(after.last_server).unwrap();
    assert!([&a, &b].iter().any(|s| s.state.settings().server_name == by), "taken over by {by}");
    // The server that took it over counted a takeover in its metrics.
    let mut takeovers = 0;
    for s in [&a, &b] {
        let (_, text) = s.ops_client().get_page("/metrics").await;
        let me = &s.state.settings().server_name;
        takeovers += metric(&text, &format!("ezs_loop_takeovers_total{{loop=\"meter\",server=\"{me}\"}}")).unwrap_or(0);
    }
    assert!(takeovers >= 1, "the takeover is in /metrics");
    assert_eq!(doomed.passes(Loop::Meter), 0, "the doomed pass never finished");
    b.stop().await;
    a.stop().await;
}

/// On a central database of its own, with no app server running the loops: the claims are all the test's.
async fn a_loop_pass_is_claimed_by_exactly_one_of_many_servers(b: Backend) {
    let dbs = ScratchDbs::new();
    let url = match b {
        Backend::Sqlite => dbs.sqlite_url("central"),
        Backend::Postgres => dbs.postgres_url("central").await,
    };
    let central = CentralDb::open(&url).await.unwrap();
    let hour = Duration::from_secs(3600);
    // The first claim creates the row one interval ahead (a new deployment bills nothing at once).
    let first = loops::claim(&central, Loop::DomainChecks, "x:1", hour).await.unwrap();
    assert!(matches!(first, Claim::NotYet { look_again_at } if look_again_at > now().as_millis() + 3_000_000));

    // Due now: twenty servers claim at once, one wins.
    sqlx::query("UPDATE loop_leases SET next_due = 0 WHERE name = 'domain_checks'")
        .execute(central.pool())
        .await
        .unwrap();
    let claims = futures::future::join_all((0..20).map(|i| {
        let central = central.clone();
        async move { loops::claim(&central, Loop::DomainChecks, &format!("s:{i}"), hour).await.unwrap() }
    }))
    .await;
    let won: Vec<_> =
        claims.iter().filter_map(|c| if let Claim::Won { token, .. } = c { Some(*token) } else { None }).collect();
    assert_eq!(won.len(), 1, "{claims:?}");
    let token = won[0];
    // Held: even when due again (a pass longer than its interval), nobody starts the loop beside it.
    sqlx::query("UPDATE loop_leases SET next_due = 0 WHERE name = 'domain_checks'")
        .execute(central.pool())
        .await
        .unwrap();
    assert!(matches!(loops::claim(&central, Loop::DomainChecks, "y:1", hour).await.unwrap(), Claim::NotYet { .. }));
    assert!(loops::renew(&central, Loop::DomainChecks, token, hour).await.unwrap());
    assert!(loops::finish(&central, Loop::DomainChecks, token, "s:winner").await.unwrap());
    let r = loops::records(&central).await.unwrap().into_iter().find(|r| r.name == "domain_checks").unwrap();
    assert_eq!((r.holder, r.lease_until, r.passes, r.last_server.as_deref()), (None, None, 1, Some("s:winner")));
    // Finished: the overdue pass may start at once.
    let next = loops::claim(&central, Loop::DomainChecks, "z:1", hour).await.unwrap();
    assert!(matches!(&next, Claim::Won { took_over_from: None, .. }), "{next:?}");
    // A pass that lost its lease cannot finish the next one's.
    assert!(!loops::finish(&central, Loop::DomainChecks, token, "s:late").await.unwrap());
    assert!(!loops::renew(&central, Loop::DomainChecks, token, hour).await.unwrap());
    // The reconciler's first pass is due at once.
    assert!(matches!(loops::claim(&central, Loop::Reconciler, "z:1", hour).await.unwrap(), Claim::Won { .. }));
    central.close().await;
}
on_both_backends!(a_loop_pass_is_claimed_by_exactly_one_of_many_servers);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_by_a_server_that_died_is_taken_over_within_ten_seconds_and_runs_once() {
    // Kasm takes 3 s to start a session, so the provisioning job waits (and is claimed again) several times.
    let a = TestApp::spawn_with(Backend::Postgres, &[("KASM_SIM_START_DELAY_MS", "3000")]).await;
    let b = a.spawn_beside(&[]).await;
    let c = a.demo().await;
    let id = order(&c, "developer-basic").await;
    let central = a.state.central().clone();

    // A server claims the workspace's job (as `jobs::claim` does) and dies: it never renews or finishes it.
    let claimed = crate::common::eventually(Duration::from_secs(15), "the dead server claims the job", || async {
        let t = now().as_millis();
        let n = sqlx::query(
            "UPDATE jobs SET lease_owner = 'dead:1/worker', lease_until = $1 WHERE payload LIKE $2 AND state = 'queued' \
             AND run_at <= $3 AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(t + LEASE_MS)
        .bind(format!("%{id}%"))
        .bind(t)
        .execute(central.pool())
        .await
        .unwrap()
        .rows_affected();
        (n == 1).then(Instant::now)
    })
    .await;
    let attempts_before: i64 =
        sqlx::query_scalar("SELECT attempts FROM jobs WHERE payload LIKE $1 AND state = 'queued'")
            .bind(format!("%{id}%"))
            .fetch_one(central.pool())
            .await
            .unwrap();

    // Another server takes it over once the short lease lapses, and finishes it.
    crate::common::eventually(Duration::from_secs(10), "a live server takes the job over", || async {
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE payload LIKE $1 AND state = 'queued'")
                .bind(format!("%{id}%"))
                .fetch_optional(central.pool())
                .await
                .unwrap();
        // Taken over: a live worker holds it, or released it to run again, or finished it.
        (owner.flatten().as_deref() != Some("dead:1/worker")).then_some(())
    })
    .await;
    let took = claimed.elapsed();
    assert!(took <= Duration::from_secs(10), "taken over after {took:?}");
    until_state(&c, &id, WorkspaceState::Running).await;
    // Nothing lost or doubled: one Kasm session for the workspace, and the dead claim cost no attempt.
    let sessions: serde_json::Value =
        reqwest::get(format!("http://{}/__sim/sessions", a.sim_addr)).await.unwrap().json().await.unwrap();
    let mine =
        sessions.as_array().unwrap().iter().filter(|s| s["environment"]["EZSCALE_WORKSPACE_ID"] == id.as_str()).count();
    assert_eq!(mine, 1, "{sessions}");
    let attempts: i64 = sqlx::query_scalar("SELECT MAX(attempts) FROM jobs WHERE payload LIKE $1")
        .bind(format!("%{id}%"))
        .fetch_one(central.pool())
        .await
        .unwrap();
    assert_eq!(attempts, attempts_before, "a takeover is not a failure");
    b.stop().await;
    a.stop().await;
}
