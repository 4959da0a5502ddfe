//! Names in every script — Latin with its diacritics, Cyrillic, Greek, Chinese and Japanese, Korean, Arabic
//! — come out exactly as written on a customer's invoice PDF, on a reseller's wholesale PDF, on the invoice
//! page, and in the emails that carry them (headers RFC 2047-encoded, UTF-8 bodies), as a real PDF reader
//! (poppler's `pdftotext`) and a real MIME parser read them.

use app::backend::billing::{invoices, run};
use app::backend::identity::{auth, customers};
use app::backend::resellers::lifecycle::{self, NewTenantInput};
use app::backend::state::Tenant;
use app::domain::ids::CustomerId;
use app::domain::tenant::{BillingTerms, TierName};
use mail_parser::{MessageParser, MimeHeaders};

use crate::common::smtp::{Received, SmtpSink};
use crate::common::{pdftotext, Backend, TestApp};

/// The reseller, who bills the customer (and is billed wholesale by the platform).
const RESELLER: &str = "東京クラウド株式会社";
/// The platform's own company name, who bills the reseller.
const PLATFORM: &str = "Ελληνικά Σύννεφα Α.Ε.";
const CUSTOMER: &str = "Łukasz Żółć-Dąbrowski";
/// The customer's workspaces, named in the other scripts: each names an invoice line.
const WORKSPACES: [&str; 4] = ["Облако для разработки", "شركة السحاب للحوسبة", "서울 클라우드", "云计算 开发机"];

const OCT_1: i64 = 1_790_812_800_000;
const HOUR: i64 = 3_600_000;

/// A named workspace that ran for an hour on October `day` at 0.60/h (4 × 0.15).
async fn named_workspace(tenant: &Tenant, customer: CustomerId, name: &str, day: i64) {
    let id = uuid::Uuid::new_v4().to_string();
    let start = OCT_1 + (day - 1) * 24 * HOUR + 9 * HOUR;
    sqlx::query(
        "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at, name) \
         VALUES ($1, $2, 'developer-basic', $3, 'stopped', $4, $4, $4, $5)",
    )
    .bind(&id)
    .bind(customer.to_string())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(start)
    .bind(name)
    .execute(tenant.db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_sessions (id, workspace_id, started_at, ended_at, retail_per_hour, wholesale_per_hour, currency) \
         VALUES ($1, $2, $3, $4, '0.60', '0.10', 'USD')",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&id)
    .bind(start)
    .bind(start + HOUR)
    .execute(tenant.db.pool())
    .await
    .unwrap();
}

/// `pdftotext`'s reading, without invisible direction marks: the ones it puts around right-to-left text
/// (U+202B … U+202C), and the LEFT-TO-RIGHT MARK our `/ActualText` puts after a right-to-left run that has
/// text after it (see `billing::pdf::shape`).
async fn read_pdf(pdf: Vec<u8>) -> String {
    let text = pdftotext(pdf).await;
    text.chars()
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

/// One received message, parsed as a mail client would.
fn parse(m: &Received) -> mail_parser::Message<'_> {
    MessageParser::default().parse(m.data.as_bytes()).expect("a well-formed message")
}

/// The header block as it crossed the wire: 7-bit, every non-ASCII word RFC 2047-encoded.
fn assert_headers_are_encoded(m: &Received) {
    let headers = &m.data[..m.data.find("\r\n\r\n").unwrap()];
    assert!(headers.is_ascii(), "raw 8-bit in the headers:\n{headers}");
    let subject = headers.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(subject.contains("=?utf-8?") || subject.contains("=?UTF-8?"), "{subject}");
}

async fn names_in_every_script_print_mail_and_show_exactly(b: Backend) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        b,
        &[("SMTP_URL", &sink.url()), ("METER_INTERVAL_MS", "3600000"), ("BILLING_INTERVAL_MS", "3600000")],
    )
    .await;
    let house = app.state.house().await.unwrap();
    sqlx::query("UPDATE tenant_branding SET company_name = $1 WHERE tenant_id = $2")
        .bind(PLATFORM)
        .bind(house.id.to_string())
        .execute(app.state.central().pool())
        .await
        .unwrap();
    let new = lifecycle::validate(&NewTenantInput {
        name: RESELLER.into(),
        slug: "tokyo".into(),
        owner_email: "owner@tokyo.test".into(),
        owner_password: Some("tokyo-owner-password".into()),
        primary_domain: String::new(),
        ..NewTenantInput::default()
    })
    .unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
    let terms = BillingTerms {
        tier: TierName::standard(),
        wholesale_discount_bp: 0,
        platform_fee_minor: 4_900,
        commission_bp: 0,
        billing_cycle_day: 1,
    };
    lifecycle::set_terms(&app.state, "tokyo", &terms).await.unwrap();
    let entry = app.state.registry().entry_by_slug("tokyo").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let hash = auth::hash_password("scripts-password".into()).await.unwrap();
    let customer = customers::ensure(&tenant.db, "lukasz@tokyo.test", CUSTOMER, &hash).await.unwrap();
    for (day, name) in (1..).zip(WORKSPACES) {
        named_workspace(&tenant, customer, name, day).await;
    }
    let out = run::run_all(&app.state, Some("2026-10"), Some("tokyo"), |_, _, _| {}).await.unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    let inv = invoices::list_for(&tenant.db, customer).await.unwrap().remove(0);
    let number = inv.display_number();

    // The customer's invoice PDF, downloaded as the customer: every name exactly, each line with its amount.
    let c = app.client_for("tokyo.localhost");
    c.call::<()>("login", &[("email", "lukasz@tokyo.test"), ("password", "scripts-password")]).await.unwrap();
    let res = c.http.get(format!("{}/invoices/{}/pdf", c.base, inv.id)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let invoice_pdf = res.bytes().await.unwrap().to_vec();
    let text = read_pdf(invoice_pdf.clone()).await;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines.iter().any(|l| l.starts_with(&format!("Invoice {number}")) && l.ends_with(RESELLER)), "{text}");
    assert!(lines.iter().any(|l| l.ends_with(CUSTOMER)), "{text}");
    for name in WORKSPACES {
        let line = format!("{name} (Developer Basic) — 4 × 15 min at ");
        assert!(lines.iter().any(|l| l.starts_with(&line) && l.ends_with("$0.60")), "{line:?} not in:\n{text}");
    }
    assert!(!text.contains('?') && !text.contains('\u{fffd}'), "nothing printed as '?':\n{text}");
    eprintln!("invoice PDF with names in 6 scripts: {} bytes", invoice_pdf.len());

    // The invoice page: UTF-8, declared, and the same names as written.
    let res = c.http.get(format!("{}/invoices/{}", c.base, inv.id)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_ascii_lowercase();
    assert!(content_type.contains("charset=utf-8"), "{content_type}");
    let html = res.text().await.unwrap();
    assert!(html.to_ascii_lowercase().contains("<meta charset=\"utf-8\""), "the page declares UTF-8");
    for name in [RESELLER, CUSTOMER].into_iter().chain(WORKSPACES) {
        assert!(html.contains(name), "{name:?} not on the invoice page");
    }

    // The invoice email, through a real SMTP server: From's display name and the subject as encoded words,
    // the text and HTML parts in UTF-8, the same PDF attached.
    assert_eq!(sink.settled(app.state.central(), "lukasz@tokyo.test").await, 1);
    let raw = sink.to("lukasz@tokyo.test").remove(0);
    assert_headers_are_encoded(&raw);
    let mail = parse(&raw);
    assert_eq!(mail.subject(), Some(format!("Invoice {number} from {RESELLER}").as_str()));
    assert_eq!(mail.from().and_then(|f| f.first()).and_then(|a| a.name()), Some(RESELLER));
    let body = mail.body_text(0).unwrap();
    assert!(body.contains(&format!("Hi {CUSTOMER},")) && body.contains(RESELLER), "{body}");
    let html = mail.body_html(0).unwrap();
    assert!(html.contains(&format!("Hi {CUSTOMER},")) && html.contains(RESELLER), "{html}");
    let attached = mail.attachments().next().expect("the invoice PDF is attached");
    assert_eq!(attached.attachment_name(), Some(format!("{number}.pdf").as_str()));
    assert_eq!(attached.contents(), invoice_pdf.as_slice(), "the attachment arrives byte for byte");

    // The wholesale bill, mailed to the reseller's owner: the platform bills the reseller, both by name.
    assert_eq!(sink.settled(app.state.central(), "owner@tokyo.test").await, 1);
    let raw = sink.to("owner@tokyo.test").remove(0);
    assert_headers_are_encoded(&raw);
    let mail = parse(&raw);
    let subject = mail.subject().unwrap();
    assert!(subject.starts_with("Invoice ") && subject.ends_with(&format!(" from {PLATFORM}")), "{subject}");
    assert_eq!(mail.from().and_then(|f| f.first()).and_then(|a| a.name()), Some(PLATFORM));
    assert!(mail.body_text(0).unwrap().contains(&format!("Hi {RESELLER},")), "{:?}", mail.body_text(0));
    let bill = mail.attachments().next().expect("the wholesale PDF is attached").contents().to_vec();
    let text = read_pdf(bill).await;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines.iter().any(|l| l.starts_with("Invoice ") && l.ends_with(PLATFORM)), "{text}");
    assert!(lines.iter().any(|l| l.ends_with(RESELLER)), "{text}");
    assert!(lines.iter().any(|l| l.ends_with("$49.00")), "the platform fee:\n{text}");
    assert!(!text.contains('?') && !text.contains('\u{fffd}'), "{text}");
    app.stop().await;
}
on_both_backends!(names_in_every_script_print_mail_and_show_exactly);
