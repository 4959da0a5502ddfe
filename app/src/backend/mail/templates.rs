//! The messages we send, as pure functions of a tenant's brand and a few values: no I/O, so every template
//! is tested as plain data.
//!
//! Why it is built this way:
//! - Each storefront's mail looks like the storefront (logo or name in its primary colour, its support
//!   contacts), so a reseller's customers never see EZSCALE's name in their inbox.
//! - Every interpolated value is HTML-escaped: names, company names and workspace names are typed by people
//!   we do not trust, and mail clients render HTML.
//! - Only `http(s)` links become links or buttons. Anything else (`javascript:`, `data:`, a bare token) is
//!   shown as text, so a bad value can never turn into something a reader clicks.
//! - Subjects go into a header: control characters (CR/LF above all) are collapsed to spaces here, and the
//!   mailer does it again before building the message.
//! - Each message has a plain-text part with the same content, for clients that do not render HTML and for
//!   spam filters that compare the two.

use crate::domain::branding::{meets_aa, readable_text_on, Colour};

/// Longest subject we send, in characters; longer ones are cut (headers are folded, but nobody reads more).
pub const MAX_SUBJECT_CHARS: usize = 200;

/// What a message needs to know about the storefront it is sent for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrandContext {
    pub company_name: String,
    /// Absolute URL of the logo; used only if it is `http(s)`.
    pub logo_url: Option<String>,
    pub primary: Colour,
    pub support_email: String,
    pub support_phone: String,
    /// The storefront's `https` origin, e.g. `https://cloud.example.com`.
    pub base_url: String,
}

/// A message ready for the outbox: subject, plain-text part, HTML part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The customer's email address needs confirming.
pub fn verify_email(b: &BrandContext, name: &str, link: &str) -> Rendered {
    let company = one_line(&b.company_name);
    render(
        b,
        Content {
            subject: format!("Confirm your email address for {company}"),
            greeting: greeting(name),
            before: vec![format!(
                "Thanks for signing up with {company}. Please confirm that this is your email address."
            )],
            action: Some(("Confirm email address", link)),
            after: vec!["If you did not create an account, you can ignore this email.".to_owned()],
        },
    )
}

/// A password reset link that works once, for `ttl_minutes`.
pub fn password_reset(b: &BrandContext, name: &str, link: &str, ttl_minutes: u32) -> Rendered {
    let company = one_line(&b.company_name);
    render(
        b,
        Content {
            subject: format!("Reset your {company} password"),
            greeting: greeting(name),
            before: vec![format!("Someone asked to reset the password of your {company} account.")],
            action: Some(("Choose a new password", link)),
            after: vec![
                format!("The link expires in {} and works once.", duration_words(ttl_minutes)),
                "If you did not ask for this, ignore this email: your password stays as it is.".to_owned(),
            ],
        },
    )
}

/// An invitation to run a storefront as staff.
pub fn staff_invite(b: &BrandContext, inviter: &str, link: &str) -> Rendered {
    let company = one_line(&b.company_name);
    let inviter = one_line(inviter);
    let who = if inviter.is_empty() { "Someone".to_owned() } else { inviter };
    render(
        b,
        Content {
            subject: format!("{who} invited you to manage {company}"),
            greeting: "Hello,".to_owned(),
            before: vec![format!("{who} has invited you to join the {company} team.")],
            action: Some(("Accept the invitation", link)),
            after: vec!["If you were not expecting this invitation, you can ignore this email.".to_owned()],
        },
    )
}

/// The platform's welcome to a new reseller: their storefront is ready, and the button leads to their own
/// storefront's page where they choose their password (nobody else ever knows it).
pub fn reseller_welcome(
    b: &BrandContext,
    name: &str,
    storefront_name: &str,
    storefront_url: &str,
    link: &str,
    valid_days: u32,
) -> Rendered {
    let platform = one_line(&b.company_name);
    let storefront = one_line(storefront_name);
    let days = if valid_days == 1 { "1 day".to_owned() } else { format!("{valid_days} days") };
    render(
        b,
        Content {
            subject: format!("Your storefront {storefront} is ready"),
            greeting: greeting(name),
            before: vec![
                format!(
                    "Welcome to {platform}. Your storefront {storefront} is ready at {}.",
                    one_line(storefront_url)
                ),
                "Choose your password to sign in to its management pages: a checklist there walks you through \
                 your logo and colours, your own domain, your prices and taking payments."
                    .to_owned(),
            ],
            action: Some(("Choose your password", link)),
            after: vec![format!(
                "The link works once and for {days}. If it has expired, use \"Forgot your password?\" on the \
                 sign-in page of your storefront's management pages."
            )],
        },
    )
}

/// The platform tells a reseller that one of their domains is verified: their storefront answers on it,
/// and its certificate follows on the first HTTPS visit.
pub fn domain_live(b: &BrandContext, storefront_name: &str, domain: &str, url: &str) -> Rendered {
    let domain = one_line(domain);
    render(
        b,
        Content {
            subject: format!("{domain} is live"),
            greeting: greeting(storefront_name),
            before: vec![format!(
                "Good news: {domain} is verified, and your storefront now answers on it. The padlock (TLS \
                 certificate) is issued by itself on the first visit, which can take a few extra seconds."
            )],
            action: Some(("Open your storefront", url)),
            after: vec!["Customers can use this address from now on.".to_owned()],
        },
    )
}

/// What a scheduled wholesale price change means for one of a reseller's plans (`wholesale_price_change`).
pub struct PriceChangeNotice<'a> {
    pub storefront_name: &'a str,
    pub plan_name: &'a str,
    /// When it takes effect, as shown (`2026-12-07 00:00 UTC`).
    pub when: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// The reseller's retail price today.
    pub retail: &'a str,
    /// The retail price is below the new wholesale price: the floor will rise to it.
    pub below: bool,
    /// The reseller's catalogue page, where they can set their price.
    pub url: &'a str,
}

/// The platform tells a reseller, ahead of time, that its wholesale price of a plan changes; when the new
/// price is above their retail price, what happens then (the retail floor rises with it).
pub fn wholesale_price_change(b: &BrandContext, n: &PriceChangeNotice<'_>) -> Rendered {
    let plan = one_line(n.plan_name);
    let mut before = vec![format!(
        "From {}, the wholesale price of {plan} changes from {} to {}. Sessions that start before then keep \
         the price they started with.",
        one_line(n.when),
        one_line(n.from),
        one_line(n.to)
    )];
    let after = if n.below {
        before.push(format!(
            "Your retail price for {plan} is {}, below the new wholesale price. Unless you raise it before then, \
             your customers' sessions that start from that time are charged the wholesale price, {} (your \
             margin on them is zero, never a loss).",
            one_line(n.retail),
            one_line(n.to)
        ));
        vec!["Set your price on your catalogue page; the change is shown on your billing page too.".to_owned()]
    } else {
        before.push(format!("Your retail price for {plan} stays {}.", one_line(n.retail)));
        vec!["Upcoming changes are shown on your billing page.".to_owned()]
    };
    render(
        b,
        Content {
            subject: if n.below {
                format!("Action needed: {plan} wholesale price rises above your price")
            } else {
                format!("{plan}: wholesale price change from {}", one_line(n.when))
            },
            greeting: greeting(n.storefront_name),
            before,
            action: Some(("Review your prices", n.url)),
            after,
        },
    )
}

/// A reminder about an invoice left due: before its due date, or after it (`overdue`).
pub fn invoice_reminder(
    b: &BrandContext,
    name: &str,
    number: &str,
    amount_text: &str,
    due_on: &str,
    overdue: bool,
    link: &str,
) -> Rendered {
    let company = one_line(&b.company_name);
    let (number, amount, due_on) = (one_line(number), one_line(amount_text), one_line(due_on));
    let (subject, first) = if overdue {
        (
            format!("Invoice {number} from {company} is overdue"),
            format!("Invoice {number} for {amount} was due on {due_on} and is still unpaid."),
        )
    } else {
        (
            format!("Invoice {number} from {company} is due on {due_on}"),
            format!("Invoice {number} for {amount} is due on {due_on}."),
        )
    };
    render(
        b,
        Content {
            subject,
            greeting: greeting(name),
            before: vec![first, "You can pay it by card from the invoice page, or top up your credit: a top-up pays open invoices first.".to_owned()],
            action: Some(("Pay now", link)),
            after: vec!["If you have paid it already, thank you: you can ignore this email.".to_owned()],
        },
    )
}

/// A message from the platform to a reseller about what it owes (a wholesale reminder, a failed card, a
/// change of billing status): a subject, the paragraphs, and a button to `/manage/billing`.
pub fn platform_billing_notice(
    b: &BrandContext,
    name: &str,
    subject: &str,
    paragraphs: &[String],
    action: &str,
    link: &str,
) -> Rendered {
    render(
        b,
        Content {
            subject: one_line(subject),
            greeting: greeting(name),
            before: paragraphs.iter().map(|p| one_line(p)).collect(),
            action: Some((action, link)),
            after: vec![],
        },
    )
}

/// Sent once, when an account is ready to use. The button leads to the storefront itself.
pub fn welcome(b: &BrandContext, name: &str) -> Rendered {
    let company = one_line(&b.company_name);
    render(
        b,
        Content {
            subject: format!("Welcome to {company}"),
            greeting: greeting(name),
            before: vec![format!(
                "Your {company} account is ready. Pick a plan and start a workspace whenever you like: it runs in \
                 your browser, nothing to install."
            )],
            action: Some(("Go to your account", b.base_url.as_str())),
            after: vec![],
        },
    )
}

/// A workspace finished starting.
pub fn workspace_ready(b: &BrandContext, name: &str, workspace_name: &str, link: &str) -> Rendered {
    let workspace = one_line(workspace_name);
    render(
        b,
        Content {
            subject: format!("Your workspace {workspace} is ready"),
            greeting: greeting(name),
            before: vec![format!("Your workspace {workspace} is up and running.")],
            action: Some(("Open the workspace", link)),
            after: vec![],
        },
    )
}

/// An invoice was issued. `total_text` is already formatted with its currency.
pub fn invoice(b: &BrandContext, name: &str, number: &str, total_text: &str, link: &str) -> Rendered {
    let company = one_line(&b.company_name);
    let number = one_line(number);
    let total = one_line(total_text);
    render(
        b,
        Content {
            subject: format!("Invoice {number} from {company}"),
            greeting: greeting(name),
            before: vec![format!("Your invoice {number} for {total} is ready.")],
            action: Some(("View the invoice", link)),
            after: vec!["Thank you for your business.".to_owned()],
        },
    )
}

/// A payment could not be taken. `amount_text` is already formatted with its currency.
pub fn payment_failed(b: &BrandContext, name: &str, amount_text: &str, link: &str) -> Rendered {
    let company = one_line(&b.company_name);
    let amount = one_line(amount_text);
    render(
        b,
        Content {
            subject: format!("Your payment to {company} did not go through"),
            greeting: greeting(name),
            before: vec![format!("We could not take your payment of {amount}.")],
            action: Some(("Update payment details", link)),
            after: vec!["Please update your payment details so your service continues without interruption.".to_owned()],
        },
    )
}

/// A prepaid balance is running low. `balance_text` is already formatted with its currency.
pub fn low_balance(b: &BrandContext, name: &str, balance_text: &str, link: &str) -> Rendered {
    let company = one_line(&b.company_name);
    let balance = one_line(balance_text);
    render(
        b,
        Content {
            subject: format!("Your {company} balance is running low"),
            greeting: greeting(name),
            before: vec![format!("Your balance is now {balance}.")],
            action: Some(("Add funds", link)),
            after: vec!["Top up to keep your workspaces running without interruption.".to_owned()],
        },
    )
}

/// Collapses control characters (CR and LF above all: this goes into a header) and the whitespace around
/// them to single spaces, trims, and cuts to [`MAX_SUBJECT_CHARS`].
pub fn clean_subject(s: &str) -> String {
    one_line(s).chars().take(MAX_SUBJECT_CHARS).collect::<String>().trim_end().to_owned()
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The link if it may be clicked: an absolute `http(s)` URL with a host and no whitespace or control
/// characters. Everything else is shown as text.
pub fn safe_link(s: &str) -> Option<&str> {
    let s = s.trim();
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return None;
    };
    let rest = s.get(scheme_len..)?;
    let host_present = rest.chars().next().is_some_and(|c| c != '/' && c != '?' && c != '#');
    (host_present && !s.chars().any(|c| c.is_whitespace() || c.is_control())).then_some(s)
}

/// One paragraph-level piece of a message, before it is laid out as text and as HTML.
struct Content<'a> {
    subject: String,
    greeting: String,
    before: Vec<String>,
    action: Option<(&'a str, &'a str)>,
    after: Vec<String>,
}

/// Control characters become spaces, runs of whitespace one space, and the ends are trimmed: a value typed
/// into a form may carry a newline, and in a sentence or a header it must not.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' { ' ' } else { c };
        if c.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}

fn greeting(name: &str) -> String {
    let name = one_line(name);
    if name.is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hi {name},")
    }
}

fn duration_words(minutes: u32) -> String {
    let plural = |n: u32, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if minutes >= 60 && minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

const FONT: &str = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;";

fn render(b: &BrandContext, c: Content<'_>) -> Rendered {
    let subject = clean_subject(&c.subject);
    let company = one_line(&b.company_name);
    let support_email = one_line(&b.support_email);
    let support_phone = one_line(&b.support_phone);
    Rendered {
        text: render_text(b, &c, &company, &support_email, &support_phone),
        html: render_html(b, &c, &subject, &company, &support_email, &support_phone),
        subject,
    }
}

fn render_text(b: &BrandContext, c: &Content<'_>, company: &str, support_email: &str, support_phone: &str) -> String {
    let mut t = String::new();
    t.push_str(company);
    t.push_str("\n\n");
    t.push_str(&c.greeting);
    t.push_str("\n\n");
    for p in &c.before {
        t.push_str(p);
        t.push_str("\n\n");
    }
    if let Some((label, link)) = c.action {
        // The text part has no markup to abuse: the link is printed as given (trimmed), clickable or not.
        t.push_str(&format!("{label}:\n{}\n\n", one_line(link)));
    }
    for p in &c.after {
        t.push_str(p);
        t.push_str("\n\n");
    }
    t.push_str("-- \n");
    t.push_str(company);
    t.push('\n');
    let contacts = footer_contacts(support_email, support_phone);
    if !contacts.is_empty() {
        t.push_str(&format!("Questions? {contacts}\n"));
    }
    if let Some(base) = safe_link(&b.base_url) {
        t.push_str(base);
        t.push('\n');
    }
    t
}

fn footer_contacts(email: &str, phone: &str) -> String {
    match (email.is_empty(), phone.is_empty()) {
        (false, false) => format!("{email} · {phone}"),
        (false, true) => email.to_owned(),
        (true, false) => phone.to_owned(),
        (true, true) => String::new(),
    }
}

fn render_html(
    b: &BrandContext,
    c: &Content<'_>,
    subject: &str,
    company: &str,
    support_email: &str,
    support_phone: &str,
) -> String {
    let primary = b.primary.to_hex();
    let on_primary = readable_text_on(b.primary).to_hex();
    // Links in the body sit on white: the brand colour only if it is readable there.
    let link_colour = if meets_aa(b.primary, Colour::WHITE) { b.primary } else { Colour::NEAR_BLACK }.to_hex();
    let company_h = escape_html(company);

    let header = match b.logo_url.as_deref().and_then(safe_link) {
        Some(logo) => format!(
            "<img src=\"{}\" alt=\"{company_h}\" height=\"40\" style=\"display:block;border:0;height:40px;\
             max-width:240px;\">",
            escape_html(logo)
        ),
        None => company_h.clone(),
    };

    let mut body = String::new();
    let para = |body: &mut String, text: &str| {
        body.push_str(&format!("<p style=\"margin:0 0 16px 0;\">{}</p>\n", escape_html(text)));
    };
    para(&mut body, &c.greeting);
    for p in &c.before {
        para(&mut body, p);
    }
    if let Some((label, link)) = c.action {
        match safe_link(link) {
            Some(href) => {
                let href = escape_html(href);
                let label = escape_html(label);
                body.push_str(&format!(
                    "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
                     style=\"margin:8px 0 24px 0;\"><tr><td style=\"background-color:{primary};border-radius:6px;\">\
                     <a href=\"{href}\" style=\"display:inline-block;padding:12px 24px;{FONT}font-size:16px;\
                     font-weight:bold;color:{on_primary};text-decoration:none;border-radius:6px;\">{label}</a>\
                     </td></tr></table>\n\
                     <p style=\"margin:0 0 16px 0;font-size:13px;line-height:20px;color:#6b7280;\">If the button does \
                     not work, copy this address into your browser:<br><a href=\"{href}\" style=\"color:{link_colour};\
                     word-break:break-all;\">{href}</a></p>\n"
                ));
            }
            // Not http(s): never a link. Shown as text so a support agent can still see what was sent.
            None => para(&mut body, &format!("{label}: {}", one_line(link))),
        }
    }
    for p in &c.after {
        para(&mut body, p);
    }

    let mut footer = String::new();
    let email_html = if support_email.is_empty() {
        String::new()
    } else if plausible_mailto(support_email) {
        let e = escape_html(support_email);
        format!("<a href=\"mailto:{e}\" style=\"color:#6b7280;\">{e}</a>")
    } else {
        escape_html(support_email)
    };
    let contacts = footer_contacts(&email_html, &escape_html(support_phone));
    if !contacts.is_empty() {
        footer.push_str(&format!("Questions? {contacts}<br>\n"));
    }
    match safe_link(&b.base_url) {
        Some(base) => {
            footer.push_str(&format!("<a href=\"{}\" style=\"color:#6b7280;\">{company_h}</a>", escape_html(base)))
        }
        None => footer.push_str(&company_h),
    }

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\n\
         <body style=\"margin:0;padding:0;background-color:#f3f4f6;\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         style=\"background-color:#f3f4f6;\"><tr><td align=\"center\" style=\"padding:24px 12px;\">\n\
         <table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         style=\"width:100%;max-width:600px;background-color:#ffffff;border-radius:8px;\">\n\
         <tr><td style=\"background-color:{primary};color:{on_primary};padding:20px 24px;{FONT}font-size:20px;\
         font-weight:bold;border-radius:8px 8px 0 0;\">{header}</td></tr>\n\
         <tr><td style=\"padding:24px;{FONT}font-size:16px;line-height:24px;color:#111827;\">\n{body}</td></tr>\n\
         <tr><td style=\"padding:16px 24px;border-top:1px solid #e5e7eb;{FONT}font-size:12px;line-height:18px;\
         color:#6b7280;\">{footer}</td></tr>\n\
         </table>\n</td></tr></table>\n</body></html>\n",
        title = escape_html(subject),
    )
}

/// Good enough to put behind `mailto:`: one `@`, no whitespace, nothing that needs quoting in a URL.
fn plausible_mailto(s: &str) -> bool {
    s.matches('@').count() == 1
        && s.chars().all(|c| c.is_ascii_alphanumeric() || ".!#$%*+-/=^_{|}~@".contains(c))
        && !s.starts_with('@')
        && !s.ends_with('@')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn brand() -> BrandContext {
        BrandContext {
            company_name: "Acme Cloud".into(),
            logo_url: None,
            primary: Colour::new(0x12, 0x34, 0x56),
            support_email: "help@acme.test".into(),
            support_phone: "+1 555 0100".into(),
            base_url: "https://cloud.acme.test".into(),
        }
    }

    const LINK: &str = "https://cloud.acme.test/verify?t=abc&x=1";

    #[test]
    fn a_reseller_welcome_names_the_storefront_and_links_to_its_password_page() {
        let link = "https://nimbus.ezscale.test/manage/set-password?token={{one-time-token}}";
        let r = reseller_welcome(&brand(), "Nia", "Nimbus <Cloud>", "https://nimbus.ezscale.test", link, 7);
        assert_eq!(r.subject, "Your storefront Nimbus <Cloud> is ready");
        assert!(r.text.contains("Hi Nia,"), "{}", r.text);
        assert!(r.text.contains("https://nimbus.ezscale.test/manage/set-password?token={{one-time-token}}"));
        assert!(r.text.contains("for 7 days"));
        assert!(r.html.contains("Nimbus &lt;Cloud&gt;") && !r.html.contains("Nimbus <Cloud>"));
        assert!(r.html.contains("Choose your password"));
    }

    #[test]
    fn names_are_escaped_in_html_and_raw_in_text() {
        let r = verify_email(&brand(), "<script>alert(1)</script>", LINK);
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.text.contains("Hi <script>alert(1)</script>,"));
    }

    #[test]
    fn company_names_and_quotes_are_escaped_everywhere_in_html() {
        let mut b = brand();
        b.company_name = "\"><img src=x onerror=alert(1)>".into();
        b.logo_url = Some("https://cdn.acme.test/logo.png".into());
        let r = welcome(&b, "Ann");
        assert!(!r.html.contains("<img src=x"));
        assert!(r.html.contains("alt=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\""));
        assert!(r.html.contains("<img src=\"https://cdn.acme.test/logo.png\""));
    }

    #[test]
    fn javascript_links_are_not_linked() {
        for bad in ["javascript:alert(1)", "JavaScript:alert(1)", " data:text/html,x", "//evil.test/x", "https:///x"] {
            let r = password_reset(&brand(), "Ann", bad, 30);
            assert!(!r.html.contains("href=\"javascript"), "{bad}: {}", r.html);
            assert!(!r.html.to_ascii_lowercase().contains("href=\"javascript"));
            assert!(!r.html.contains(&format!("href=\"{}\"", escape_html(bad.trim()))), "{bad} was linked");
            // Still shown, as text, in both parts.
            assert!(r.html.contains(&escape_html(bad.trim())));
            assert!(r.text.contains(bad.trim()));
        }
    }

    #[test]
    fn both_parts_carry_the_link() {
        let r = workspace_ready(&brand(), "Ann", "Dev box", LINK);
        assert!(r.text.contains(LINK));
        assert!(r.html.contains(&format!("href=\"{}\"", escape_html(LINK))));
        assert!(r.html.contains("x=1"));
        assert!(r.text.contains("Dev box") && r.html.contains("Dev box"));
    }

    #[test]
    fn subjects_lose_line_breaks_and_are_bounded() {
        let r = workspace_ready(&brand(), "Ann", "a\r\nBcc: victim@x.test\tb", LINK);
        assert_eq!(r.subject, "Your workspace a Bcc: victim@x.test b is ready");
        assert_eq!(clean_subject("  x\r\n\r\ny \u{7}z "), "x y z");
        assert_eq!(clean_subject(&"é".repeat(500)).chars().count(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn the_brand_colour_and_contacts_are_present() {
        let r = invoice(&brand(), "Ann", "INV-7", "$12.00", LINK);
        // Header and button in the brand colour; a dark primary gets white text on it.
        assert!(r.html.contains("background-color:#123456;color:#ffffff"));
        assert!(r.html.contains("background-color:#123456;border-radius:6px"));
        assert!(r.html.contains("help@acme.test") && r.text.contains("help@acme.test"));
        assert!(r.html.contains("+1 555 0100") && r.text.contains("+1 555 0100"));
        assert!(r.html.contains("Acme Cloud") && r.text.contains("Acme Cloud"));
        assert_eq!(r.subject, "Invoice INV-7 from Acme Cloud");
        assert!(r.text.contains("$12.00"));
    }

    #[test]
    fn a_light_primary_gets_dark_text() {
        let mut b = brand();
        b.primary = Colour::new(0xfd, 0xe0, 0x47);
        let r = low_balance(&b, "", "$1.00", LINK);
        assert!(r.html.contains("background-color:#fde047;color:#111827"));
        // Yellow is unreadable on white: body links fall back to the dark text colour.
        assert!(r.html.contains("style=\"color:#111827;word-break:break-all;\""));
        assert!(r.text.starts_with("Acme Cloud\n\nHello,"));
    }

    #[test]
    fn every_template_renders_with_the_link() {
        let b = brand();
        let all = [
            verify_email(&b, "A", LINK),
            password_reset(&b, "A", LINK, 120),
            staff_invite(&b, "Bob", LINK),
            workspace_ready(&b, "A", "W", LINK),
            invoice(&b, "A", "1", "$1", LINK),
            payment_failed(&b, "A", "$1", LINK),
            low_balance(&b, "A", "$1", LINK),
        ];
        for r in &all {
            assert!(!r.subject.is_empty());
            assert!(r.text.contains(LINK), "{}", r.subject);
            assert!(r.html.contains(&escape_html(LINK)), "{}", r.subject);
        }
        assert!(all[1].text.contains("2 hours"));
        let w = welcome(&b, "A");
        assert!(w.html.contains("href=\"https://cloud.acme.test\""));
    }

    #[test]
    fn a_wholesale_price_change_says_what_happens_to_the_resellers_price() {
        let n = |below| PriceChangeNotice {
            storefront_name: "Acme <Cloud>",
            plan_name: "Developer\r\nPro",
            when: "2027-01-01 00:00 UTC",
            from: "$0.20/h",
            to: "$0.25/h",
            retail: "$0.22/h",
            below,
            url: LINK,
        };
        let r = wholesale_price_change(&brand(), &n(true));
        assert_eq!(r.subject, "Action needed: Developer Pro wholesale price rises above your price");
        assert!(r.text.contains(
            "From 2027-01-01 00:00 UTC, the wholesale price of Developer Pro changes from $0.20/h to $0.25/h."
        ));
        assert!(r.text.contains("Your retail price for Developer Pro is $0.22/h, below the new wholesale price."));
        assert!(r.text.contains(LINK) && r.html.contains(&escape_html(LINK)));
        assert!(r.html.contains("Acme &lt;Cloud&gt;") && !r.html.contains("<Cloud>"));
        let r = wholesale_price_change(&brand(), &n(false));
        assert_eq!(r.subject, "Developer Pro: wholesale price change from 2027-01-01 00:00 UTC");
        assert!(r.text.contains("stays $0.22/h") && !r.text.contains("below"));
    }

    #[test]
    fn safe_link_accepts_only_absolute_http() {
        assert_eq!(safe_link(" https://a.test/x "), Some("https://a.test/x"));
        assert_eq!(safe_link("HTTP://a.test"), Some("HTTP://a.test"));
        assert_eq!(safe_link("https://a.test/x y"), None);
        assert_eq!(safe_link("mailto:a@b.test"), None);
        assert_eq!(safe_link("http:/a"), None);
        assert_eq!(safe_link(""), None);
        assert_eq!(safe_link("https://"), None);
    }
}
