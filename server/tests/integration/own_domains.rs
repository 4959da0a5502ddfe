//! A reseller's own domains, self-service, against a real DNS server and a real SMTP server started by the
//! test: adding (with the admin's checks), the record to publish, "check now", routing once verified, the
//! "live" email exactly once, making one primary, removing one; the scheduled checks backing off, running
//! once across servers (the lease), verifying by themselves and giving up after 72 hours.

use app::backend::resellers::own_domains;
use app::domain::tenant_view::DomainView;
use app::manage::domains::CheckOutcome;

use crate::common::dns::DnsServer;
use crate::common::smtp::SmtpSink;
use crate::common::{Backend, Client, TestApp};

struct World {
    app: TestApp,
    sink: SmtpSink,
    dns: DnsServer,
}

async fn spawn(b: Backend) -> World {
    let sink = SmtpSink::start().await;
    let dns = DnsServer::start().await;
    // The server's own scheduled checks wait an hour: the tests run the passes themselves, as servers.
    let env = [
        ("SMTP_URL", sink.url()),
        ("DNS_SERVER", dns.addr.to_string()),
        ("DOMAIN_CHECK_INTERVAL_MS", "3600000".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(b, &env).await;
    World { app, sink, dns }
}

/// A storefront made by the admin, and its owner signed in (from the welcome email).
async fn storefront(w: &World, slug: &str) -> Client {
    let admin = w.app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let owner = format!("owner@{slug}.test");
    let _: String = admin
        .call(
            "admin_create_tenant",
            &[
                ("name", slug),
                ("slug", slug),
                ("owner_email", owner.as_str()),
                ("primary_domain", ""),
                ("currency", "USD"),
                ("trial_days", ""),
            ],
        )
        .await
        .unwrap();
    let link = w.sink.wait_for(&owner, 1).await.link("/manage/set-password?token=").unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let staff = w.app.client_for(&format!("{slug}.localhost"));
    staff.call::<()>("staff_set_password", &[("token", &token), ("password", "a-long-owner-password")]).await.unwrap();
    staff
}

fn find<'a>(list: &'a [DomainView], domain: &str) -> &'a DomainView {
    list.iter().find(|d| d.domain == domain).unwrap_or_else(|| panic!("{domain} in {list:?}"))
}

async fn actions(app: &TestApp, action: &str) -> Vec<(String, String)> {
    sqlx::query_as::<_, (String, String)>("SELECT actor, detail FROM audit_log WHERE action = $1 ORDER BY at")
        .bind(action)
        .fetch_all(app.state.central().pool())
        .await
        .unwrap()
}

async fn a_reseller_adds_checks_and_runs_their_own_domain(b: Backend) {
    let w = spawn(b).await;
    let staff = storefront(&w, "dom").await;
    assert_eq!(w.app.client().call_raw("add_my_domain", &[("domain", "x.dom.test")]).await.0, 401, "staff only");

    // Bad input is refused with the reason and adds nothing.
    let too_long = format!("{}.test", "a".repeat(300));
    for bad in ["not a domain", "admin.localhost", "other.localhost", "10.0.0.1", too_long.as_str()] {
        let (status, body) = staff.call_raw("add_my_domain", &[("domain", bad)]).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let none: Vec<DomainView> = staff.call("my_domains", &[]).await.unwrap();
    assert!(none.is_empty());

    let list: Vec<DomainView> =
        staff.call("add_my_domain", &[("domain", "Shop.Dom.Test"), ("primary", "on")]).await.unwrap();
    let d = find(&list, "shop.dom.test");
    assert!(d.primary && !d.verified && d.next_check_at.is_some(), "{d:?}");
    assert_eq!(d.txt_name, "_ezscale-verify.shop.dom.test");
    assert!(d.state_text().starts_with("Pending"), "{}", d.state_text());
    // Not routed before it is verified.
    let shop = w.app.client_for("shop.dom.test");
    assert_eq!(shop.get_page("/").await.0, 404);

    // Another storefront cannot take it, and cannot touch it.
    let other = storefront(&w, "oth").await;
    let (status, _) = other.call_raw("add_my_domain", &[("domain", "shop.dom.test")]).await;
    assert_eq!(status, 409);
    for f in ["check_my_domain", "make_domain_primary", "remove_my_domain"] {
        assert_eq!(other.call_raw(f, &[("domain", "shop.dom.test")]).await.0, 404, "{f}");
    }

    // Check now, before the record exists: the reason, nothing routed.
    let o: CheckOutcome = staff.call("check_my_domain", &[("domain", "shop.dom.test")]).await.unwrap();
    assert!(!o.verified);
    assert!(o.reason.as_deref().unwrap_or("").contains("_ezscale-verify.shop.dom.test"), "{o:?}");
    assert_eq!(shop.get_page("/").await.0, 404);

    // Published: verified, routed, recorded, and the owner hears about it once.
    w.dns.publish_txt(&d.txt_name, &d.txt_value);
    let o: CheckOutcome = staff.call("check_my_domain", &[("domain", "shop.dom.test")]).await.unwrap();
    assert!(o.verified, "{o:?}");
    assert!(find(&o.domains, "shop.dom.test").verified);
    assert_eq!(shop.get_page("/").await.0, 200);
    let _: CheckOutcome = staff.call("check_my_domain", &[("domain", "shop.dom.test")]).await.unwrap();
    let live = w.sink.wait_for("owner@dom.test", 2).await;
    assert!(live.text().contains("shop.dom.test is live"), "{}", live.text());
    assert_eq!(w.sink.settled(w.app.state.central(), "owner@dom.test").await, 2, "welcome + one live email");
    let verified = actions(&w.app, "domain.verified").await;
    assert_eq!(verified, vec![("owner@dom.test".to_owned(), "shop.dom.test by dns".to_owned())]);

    // The verified primary stays until another domain is primary; an unverified one goes at once.
    let (status, body) = staff.call_raw("remove_my_domain", &[("domain", "shop.dom.test")]).await;
    assert_eq!(status, 409, "{body}");
    let list: Vec<DomainView> = staff.call("add_my_domain", &[("domain", "www.dom.test")]).await.unwrap();
    assert!(!find(&list, "www.dom.test").primary);
    let list: Vec<DomainView> = staff.call("make_domain_primary", &[("domain", "www.dom.test")]).await.unwrap();
    assert!(find(&list, "www.dom.test").primary && !find(&list, "shop.dom.test").primary);
    let list: Vec<DomainView> = staff.call("remove_my_domain", &[("domain", "shop.dom.test")]).await.unwrap();
    assert_eq!(list.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>(), vec!["www.dom.test"]);
    assert_eq!(shop.get_page("/").await.0, 404, "a removed domain stops routing");
    let (status, _) = staff.call_raw("remove_my_domain", &[("domain", "shop.dom.test")]).await;
    assert_eq!(status, 404);
    for (action, n) in [("domain.added", 2), ("domain.made_primary", 1), ("domain.removed", 1)] {
        let rows = actions(&w.app, action).await;
        assert_eq!(rows.len(), n, "{action}: {rows:?}");
        assert!(rows.iter().all(|(actor, _)| actor == "owner@dom.test"), "{rows:?}");
    }
    w.app.stop().await;
}
on_both_backends!(a_reseller_adds_checks_and_runs_their_own_domain);

async fn make_due(app: &TestApp, domain: &str) {
    sqlx::query("UPDATE tenant_domains SET next_check_at = 0 WHERE domain = $1")
        .bind(domain)
        .execute(app.state.central().pool())
        .await
        .unwrap();
}

async fn schedule_of(app: &TestApp, domain: &str) -> (i64, Option<i64>) {
    sqlx::query_as("SELECT check_attempts, next_check_at FROM tenant_domains WHERE domain = $1")
        .bind(domain)
        .fetch_one(app.state.central().pool())
        .await
        .unwrap()
}

async fn scheduled_checks_back_off_verify_once_and_give_up(b: Backend) {
    let w = spawn(b).await;
    let staff = storefront(&w, "sch").await;
    let list: Vec<DomainView> =
        staff.call("add_my_domain", &[("domain", "desk.sch.test"), ("primary", "on")]).await.unwrap();
    let d = find(&list, "desk.sch.test").clone();
    // Added: the first check is a minute away, so a pass now checks nothing.
    assert_eq!(own_domains::scheduled_checks(&w.app.state).await.unwrap(), 0);
    assert_eq!(schedule_of(&w.app, "desk.sch.test").await.0, 0);

    // Due and not published: counted, and the next check backs off (5 minutes after the first).
    make_due(&w.app, "desk.sch.test").await;
    let before = app::backend::platform::db::now().as_millis();
    assert_eq!(own_domains::scheduled_checks(&w.app.state).await.unwrap(), 0);
    let (attempts, next) = schedule_of(&w.app, "desk.sch.test").await;
    assert_eq!(attempts, 1);
    let next = next.expect("checked again later");
    assert!(next >= before + 5 * 60_000 && next < before + 6 * 60_000, "{next} vs {before}");

    // Published: the next pass finds the record: live, by itself, announced once. (That one server runs
    // each pass is the loop's lease: `cluster::each_loop_runs_once_per_interval_across_servers…`.)
    w.dns.publish_txt(&d.txt_name, &d.txt_value);
    make_due(&w.app, "desk.sch.test").await;
    assert_eq!(own_domains::scheduled_checks(&w.app.state).await.unwrap(), 1);
    let list: Vec<DomainView> = staff.call("my_domains", &[]).await.unwrap();
    assert!(find(&list, "desk.sch.test").verified);
    assert_eq!(w.app.client_for("desk.sch.test").get_page("/").await.0, 200);
    assert_eq!(schedule_of(&w.app, "desk.sch.test").await.1, None, "no more checks");
    let live = w.sink.wait_for("owner@sch.test", 2).await;
    assert!(live.text().contains("desk.sch.test is live"));
    assert_eq!(
        actions(&w.app, "domain.verified").await,
        vec![("system".to_owned(), "desk.sch.test by dns (scheduled check)".to_owned())]
    );

    // A domain never published is given up on 72 hours after it was added, with the reason shown.
    let _: Vec<DomainView> = staff.call("add_my_domain", &[("domain", "late.sch.test")]).await.unwrap();
    let long_ago = app::backend::platform::db::now().as_millis() - 73 * 3_600_000;
    sqlx::query("UPDATE tenant_domains SET created_at = $1, next_check_at = 0 WHERE domain = 'late.sch.test'")
        .bind(long_ago)
        .execute(w.app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(own_domains::scheduled_checks(&w.app.state).await.unwrap(), 0);
    assert_eq!(schedule_of(&w.app, "late.sch.test").await.1, None);
    let list: Vec<DomainView> = staff.call("my_domains", &[]).await.unwrap();
    let late = find(&list, "late.sch.test");
    assert!(
        late.state_text().starts_with("Failed: No TXT record _ezscale-verify.late.sch.test"),
        "{}",
        late.state_text()
    );
    // "Check now" still works after that.
    w.dns.publish_txt(&late.txt_name, &late.txt_value);
    let o: CheckOutcome = staff.call("check_my_domain", &[("domain", "late.sch.test")]).await.unwrap();
    assert!(o.verified);
    assert_eq!(w.sink.settled(w.app.state.central(), "owner@sch.test").await, 3, "welcome + two live emails");
    w.app.stop().await;
}
on_both_backends!(scheduled_checks_back_off_verify_once_and_give_up);
