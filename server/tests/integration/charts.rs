//! Charts people can read, as the server renders them (before any script runs): the customer's usage
//! chart, the reseller's revenue chart and the admin's wholesale chart each have a value axis with units,
//! labelled categories, a named, focusable mark per group with its tooltip, a legend, the figures as a
//! table with a caption, and an empty state in words. Money on these pages carries its currency.

use crate::common::{order, until_state, Backend, TestApp};
use app::backend::identity::{auth, customers};
use app::backend::platform::db::now;
use app::backend::state::Tenant;
use app::billing::BillingView;
use app::domain::ids::CustomerId;
use app::domain::money::{Currency, Rate};
use app::domain::period::Period;
use app::domain::time::Timestamp;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::WorkspaceDetail;

const HOUR: i64 = 3_600_000;

/// Long intervals: nothing bills or meters behind the test's back.
async fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, &[("METER_INTERVAL_MS", "3600000"), ("BILLING_INTERVAL_MS", "3600000")]).await
}

/// The part of `html` inside the element that carries `data-testid="{testid}"` (up to the end of the
/// figure it is in), so assertions cannot be met by another part of the page. Comments are left out: they
/// are the renderer's hydration markers (`<!>`), which no reader sees.
fn figure(html: &str, testid: &str) -> String {
    let at = html.find(&format!("data-testid=\"{testid}\"")).unwrap_or_else(|| panic!("no {testid} in {html}"));
    let end = html[at..].find("</figure>").map_or(html.len(), |e| at + e);
    without_comments(&html[at..end])
}

fn without_comments(mut html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    while let Some(open) = html.find("<!") {
        out.push_str(&html[..open]);
        let close = html[open..].find('>').unwrap_or_else(|| panic!("an unclosed comment in {html}"));
        html = &html[open + close + 1..];
    }
    out.push_str(html);
    out
}

/// `text` as the text of an SVG `<text>` element.
fn svg_text(text: &str) -> String {
    format!(">{text}</text>")
}

async fn the_customers_usage_chart_has_axes_values_a_table_and_an_empty_state(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    // Nothing used yet: the chart says so in words, and draws nothing.
    let (status, html) = c.get_page("/billing").await;
    assert_eq!(status, 200);
    let chart = figure(&html, "usage-chart");
    assert!(chart.contains("No usage in the last 30 days."), "{chart}");
    assert!(!chart.contains("<svg") && !chart.contains("chart-table"), "{chart}");

    // One quarter-hour used today.
    let id = order(&c, "developer-basic").await;
    until_state(&c, &id, WorkspaceState::Running).await;
    let _: WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    until_state(&c, &id, WorkspaceState::Stopped).await;
    let v: BillingView = c.call("billing_overview", &[]).await.unwrap();
    let (today, n) = v.daily_increments.last().cloned().unwrap();
    assert_eq!(n, 1, "one quarter-hour today");

    let (_, html) = c.get_page("/billing").await;
    let chart = figure(&html, "usage-chart");
    assert!(!chart.contains("chart-empty"), "{chart}");
    // The SVG scales with its box (no fixed width: it fits a phone) and is described in words.
    assert!(chart.contains("<svg viewBox=\"0 0 400 "), "{chart}");
    let labelled = "role=\"group\" aria-labelledby=\"usage-chart-title\" aria-describedby=\"usage-chart-desc\"";
    assert!(chart.contains(labelled), "{chart}");
    assert!(chart.contains("<figcaption id=\"usage-chart-title\""), "{chart}");
    assert!(chart.contains(">Billed time per day over the last 30 days (UTC)</figcaption>"), "{chart}");
    let described = "<desc id=\"usage-chart-desc\">Bar chart. Time in hours and minutes; the vertical axis runs from 0 min to 15 min.";
    assert!(chart.contains(described), "{chart}");
    // The value axis: 0 to 15 minutes in 5-minute ticks, with their unit.
    let y_axis = figure(&chart, "chart-y-axis");
    for tick in ["0 min", "5 min", "10 min", "15 min"] {
        assert!(y_axis.contains(&svg_text(tick)), "{tick}: {y_axis}");
    }
    // The category axis ends with today; thirty days, one mark each, and only today's is a tab stop.
    assert!(figure(&chart, "chart-x-axis").contains(&svg_text(&today)), "{chart}");
    assert_eq!(chart.matches("data-testid=\"chart-mark\"").count(), 30);
    assert_eq!(chart.matches("tabindex=\"0\"").count(), 1, "days without usage are not tab stops");
    let name = format!("{today}: 15 min");
    assert!(chart.contains(&format!("role=\"img\" aria-label=\"{name}\" tabindex=\"0\"")), "{chart}");
    // Its tooltip and focus ring are there, hidden until hover or focus (CSS only, no script needed).
    let mark = &chart[chart.find(&format!("aria-label=\"{name}\"")).unwrap()..];
    let tip = figure(mark, "chart-tip");
    let hidden = "data-testid=\"chart-tip\" class=\"invisible group-hover/mark:visible group-focus/mark:visible\"";
    assert!(tip.starts_with(hidden) && tip.contains(&svg_text(&name)), "{tip}");
    let ring = "data-testid=\"chart-focus-ring\" class=\"invisible stroke-slate-900 group-focus/mark:visible\"";
    assert!(mark.contains(ring), "{mark}");
    // The legend names the unit; the table lists every day, with a caption.
    assert!(figure(&chart, "chart-unit").contains("Time in hours and minutes"), "{chart}");
    let table = figure(&chart, "chart-table");
    assert!(table.contains(">Billed time per day over the last 30 days (UTC)</caption>"), "{table}");
    assert!(table.contains(">Day</th>") && table.contains(">Billed time</th>"), "{table}");
    assert_eq!(table.matches("data-testid=\"chart-row\"").count(), 30);
    assert!(table.contains(&format!(">{today}</th><td class=\"pr-3 font-mono\">15 min</td>")), "{table}");
    // Money on the page names its currency.
    assert!(html.contains("Add credit (USD)"), "{html}");
    app.stop().await;
}
on_both_backends!(the_customers_usage_chart_has_axes_values_a_table_and_an_empty_state);

async fn buyer(tenant: &Tenant) -> CustomerId {
    let hash = auth::hash_password("charts-password".into()).await.unwrap();
    customers::ensure(&tenant.db, "buyer@charts.test", "Chart Buyer", &hash).await.unwrap()
}

/// A stopped workspace with one usage session from `start` lasting `hours`, at `retail` and 0.10 wholesale.
async fn usage(tenant: &Tenant, customer: CustomerId, start: Timestamp, hours: i64, retail: &str) {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at) \
         VALUES ($1, $2, 'developer-basic', $3, 'stopped', $4, $4, $4)",
    )
    .bind(&id)
    .bind(customer.to_string())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(start.as_millis())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_sessions (id, workspace_id, started_at, ended_at, retail_per_hour, wholesale_per_hour, currency) \
         VALUES ($1, $2, $3, $4, $5, '0.10', $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&id)
    .bind(start.as_millis())
    .bind(start.plus_millis(hours * HOUR).as_millis())
    .bind(retail)
    .bind(tenant.currency.code())
    .execute(tenant.db.pool())
    .await
    .unwrap();
}

async fn the_reseller_and_admin_charts_show_revenue_in_the_storefronts_currency(b: Backend) {
    use app::backend::resellers::lifecycle::{self, NewTenantInput};
    use app::manage::billing::ManageBillingData;
    let app = spawn(b).await;
    let new = lifecycle::validate(&NewTenantInput {
        name: "Euro Charts".into(),
        slug: "euro".into(),
        owner_email: "owner@euro.test".into(),
        owner_password: Some("euro-owner-password".into()),
        currency: "EUR".into(),
        ..NewTenantInput::default()
    })
    .unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
    let entry = app.state.registry().entry_by_slug("euro").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    assert_eq!(tenant.currency, Currency::EUR);
    let staff = app.client_for("euro.localhost");
    staff
        .call::<()>("staff_login", &[("email", "owner@euro.test"), ("password", "euro-owner-password")])
        .await
        .unwrap();
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();

    // Nothing sold, nothing invoiced: both charts say so.
    let (status, html) = staff.get_page("/manage/billing").await;
    assert_eq!(status, 200);
    let chart = figure(&html, "revenue-chart");
    assert!(chart.contains("No revenue in the last 6 periods yet") && !chart.contains("<svg"), "{chart}");
    let (status, html) = admin.get_page("/admin/billing").await;
    assert_eq!(status, 200);
    let chart = figure(&html, "wholesale-revenue-chart");
    assert!(chart.contains("No wholesale invoices yet") && !chart.contains("<svg"), "{chart}");

    // The plan price editor's margin, in euros an hour (retail less wholesale, exactly).
    let d: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    let basic = d.plans.iter().find(|p| p.code == "developer-basic").unwrap();
    let margin = Rate::per_hour(basic.retail.amount_per_hour() - basic.wholesale.amount_per_hour(), Currency::EUR);
    let margin = margin.unwrap().to_string();
    assert!(margin.starts_with('€') && margin.ends_with("/h"), "{margin}");
    assert!(html_of(&staff, "/manage/billing").await.contains(&format!("Margin {margin} (")), "{margin}");
    assert!(html_of(&staff, "/manage/billing").await.contains("EUR per hour"));

    // Last period: 10 h at €0.45 retail, €0.10 wholesale → revenue €4.50 = margin €3.50 + cost €1.00.
    let last = Period::containing(now(), 1).unwrap().previous();
    usage(&tenant, buyer(&tenant).await, last.start().plus_millis(HOUR), 10, "0.45").await;
    let html = html_of(&staff, "/manage/billing").await;
    let chart = figure(&html, "revenue-chart");
    // An axis in whole euros: €0 … €5 by €1.
    let y_axis = figure(&chart, "chart-y-axis");
    for tick in ["€0", "€1", "€2", "€3", "€4", "€5"] {
        assert!(y_axis.contains(&svg_text(tick)), "{tick}: {y_axis}");
    }
    assert!(figure(&chart, "chart-x-axis").contains(&svg_text(&last.key())), "{chart}");
    assert!(figure(&chart, "chart-values").contains(&svg_text("€4.50")), "the bar's value is written on it");
    let name = format!("{}: Revenue €4.50; Margin €3.50; Wholesale cost €1.00", last.key());
    assert!(chart.contains(&format!("aria-label=\"{name}\" tabindex=\"0\"")), "{chart}");
    assert_eq!(chart.matches("data-testid=\"chart-mark\"").count(), 6, "six periods");
    let legend = figure(&chart, "chart-legend");
    assert!(legend.contains("Margin") && legend.contains("Wholesale cost") && legend.contains("Amounts in EUR"));
    let table = figure(&chart, "chart-table");
    assert!(table.contains(">Period</th>") && table.contains(">Revenue</th>"), "{table}");
    let row =
        format!(">{}</th><td class=\"pr-3 font-mono\">€4.50</td><td class=\"pr-3 font-mono\">€3.50</td>", last.key());
    assert!(table.contains(&row), "{table}");

    // The platform bills the period: its wholesale chart, per currency, and the run's total with its currency.
    let msg: String = admin.call("admin_run_billing", &[("period", &last.key()), ("tenant", "euro")]).await.unwrap();
    assert!(msg.contains("Billed 1 tenant"), "{msg}");
    let html = html_of(&admin, "/admin/billing").await;
    assert!(html.contains("1 invoices (€4.50), 1 finalised"), "{html}");
    let chart = figure(&html, "wholesale-revenue-chart");
    assert!(chart.contains(">Wholesale invoiced per period, in EUR</figcaption>"), "{chart}");
    assert!(chart.contains(&format!("aria-label=\"{}: €1.00\" tabindex=\"0\"", last.key())), "{chart}");
    assert!(figure(&chart, "chart-y-axis").contains(&svg_text("€1.00")), "{chart}");
    assert!(
        figure(&chart, "chart-table").contains(&format!(">{}</th><td class=\"pr-3 font-mono\">€1.00</td>", last.key()))
    );
    app.stop().await;
}
on_both_backends!(the_reseller_and_admin_charts_show_revenue_in_the_storefronts_currency);

async fn html_of(c: &crate::common::Client, path: &str) -> String {
    let (status, html) = c.get_page(path).await;
    assert_eq!(status, 200, "{path}: {html}");
    html
}
