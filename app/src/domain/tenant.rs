//! Resellers (tenants): their slug, lifecycle and billing terms. Parsed once at the edge, so the rest of
//! the code never sees an unchecked slug or a discount of 250 %.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::price_book::TierName;

/// A tenant's short name: its subdomain (`<slug>.<platform domain>`) and the name of its database.
/// 3–32 of `a-z 0-9 -`, starting with a letter, no leading/trailing/double hyphen, not reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

/// Names that are ours (the admin app, mail, infrastructure) or would confuse customers.
const RESERVED: &[&str] = &[
    "admin",
    "api",
    "app",
    "www",
    "mail",
    "smtp",
    "imap",
    "pop",
    "ftp",
    "ns1",
    "ns2",
    "static",
    "assets",
    "cdn",
    "status",
    "support",
    "help",
    "billing",
    "manage",
    "login",
    "auth",
    "root",
    "system",
    "localhost",
    "kasm",
    "ezscale",
    "platform",
    "tls",
    "metrics",
    "house",
];

impl Slug {
    pub fn parse(raw: &str) -> Result<Slug, TenantInputError> {
        let s = raw.trim();
        let bad = |why: &str| Err(TenantInputError::Slug(why.into()));
        if s.len() < 3 || s.len() > 32 {
            return bad("A short name has 3 to 32 characters.");
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return bad("A short name uses only lower-case letters, digits and hyphens.");
        }
        if !s.as_bytes()[0].is_ascii_lowercase() {
            return bad("A short name starts with a letter.");
        }
        if s.ends_with('-') || s.contains("--") {
            return bad("A short name cannot end with a hyphen or contain two in a row.");
        }
        if RESERVED.contains(&s) {
            return bad("That short name is reserved.");
        }
        Ok(Slug(s.to_owned()))
    }

    /// The house storefront's slug, which is reserved for everyone else.
    pub fn house() -> Slug {
        Slug("house".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Slug {
    type Error = TenantInputError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s == "house" {
            return Ok(Slug::house());
        }
        Slug::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

/// Where a tenant is in its life. Only `Active` tenants serve their storefront; `Suspended` ones show a
/// notice and accept no sign-ins; the others are visible to platform admins only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TenantStatus {
    Creating,
    Active,
    Suspended,
    Failed,
    Deleting,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Creating => "creating",
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Failed => "failed",
            TenantStatus::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> Option<TenantStatus> {
        Some(match s {
            "creating" => TenantStatus::Creating,
            "active" => TenantStatus::Active,
            "suspended" => TenantStatus::Suspended,
            "failed" => TenantStatus::Failed,
            "deleting" => TenantStatus::Deleting,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            TenantStatus::Creating => "Creating",
            TenantStatus::Active => "Active",
            TenantStatus::Suspended => "Suspended",
            TenantStatus::Failed => "Creation failed",
            TenantStatus::Deleting => "Deleting",
        }
    }
}

/// A reseller's commercial terms with the platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTerms {
    /// The reseller tier (one the admin defined; its overrides in the wholesale price book apply).
    pub tier: TierName,
    /// Off the wholesale price book, in basis points (1250 = 12.50 %).
    pub wholesale_discount_bp: u32,
    /// Monthly platform fee in minor units of the tenant's currency.
    pub platform_fee_minor: i64,
    /// Commission on the reseller's retail revenue, in basis points.
    pub commission_bp: u32,
    /// Day of the month wholesale invoices are cut (1–28, so every month has it).
    pub billing_cycle_day: u8,
}

impl Default for BillingTerms {
    fn default() -> Self {
        BillingTerms {
            tier: TierName::standard(),
            wholesale_discount_bp: 0,
            platform_fee_minor: 0,
            commission_bp: 0,
            billing_cycle_day: 1,
        }
    }
}

/// Terms as typed in the admin form: text fields, checked here.
pub struct TermsInput<'a> {
    pub tier: &'a str,
    pub wholesale_discount_percent: &'a str,
    pub platform_fee: &'a str,
    pub commission_percent: &'a str,
    pub billing_cycle_day: &'a str,
}

impl BillingTerms {
    pub fn parse(input: &TermsInput<'_>, currency: crate::domain::money::Currency) -> Result<Self, TenantInputError> {
        // Its format only: whether the admin defined it is the backend's to check.
        let tier =
            TierName::parse(input.tier).map_err(|_| TenantInputError::Terms("Choose a reseller tier.".into()))?;
        let wholesale_discount_bp = percent_bp(input.wholesale_discount_percent, "wholesale discount", 10_000)?;
        let commission_bp = percent_bp(input.commission_percent, "commission", 10_000)?;
        let platform_fee_minor = crate::domain::money::Money::parse_major(input.platform_fee.trim(), currency)
            .ok()
            .filter(|m| m.minor() >= 0)
            .ok_or_else(|| TenantInputError::Terms("The platform fee is an amount like 49.00.".into()))?
            .minor();
        let billing_cycle_day = input
            .billing_cycle_day
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|d| (1..=28).contains(d))
            .ok_or_else(|| TenantInputError::Terms("The billing day is a day of the month from 1 to 28.".into()))?;
        Ok(BillingTerms { tier, wholesale_discount_bp, platform_fee_minor, commission_bp, billing_cycle_day })
    }
}

/// "12.5" -> 1250 basis points; at most two decimals, within 0..=max.
fn percent_bp(raw: &str, what: &str, max: u32) -> Result<u32, TenantInputError> {
    let err = || TenantInputError::Terms(format!("The {what} is a percentage from 0 to 100, like 12.5."));
    let s = raw.trim().trim_end_matches('%').trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 3 || frac.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let whole: u32 = whole.parse().map_err(|_| err())?;
    let frac: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| err())? };
    let bp = whole * 100 + frac;
    if bp > max {
        return Err(err());
    }
    Ok(bp)
}

/// Basis points as a percentage for display: 1250 -> "12.50".
pub fn bp_to_percent(bp: u32) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum TenantInputError {
    #[error("{0}")]
    Slug(String),
    #[error("{0}")]
    Terms(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    #[test]
    fn slugs_are_strict() {
        for ok in ["acme", "acme-cloud", "a1b2", "reseller-42"] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", "ab", "Acme", "1acme", "acme-", "ac--me", "ac_me", "ac.me", "admin", "house", "a".repeat(33).as_str()]
        {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Slug::parse("  acme ").map(|s| s.as_str().to_owned()), Ok("acme".into()));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn terms_parse_percentages_and_fees_exactly() {
        let input = TermsInput {
            tier: "gold",
            wholesale_discount_percent: "12.5",
            platform_fee: "49.00",
            commission_percent: "0",
            billing_cycle_day: "28",
        };
        let t = BillingTerms::parse(&input, Currency::USD);
        assert_eq!(
            t,
            Ok(BillingTerms {
                tier: TierName::parse("gold").unwrap(),
                wholesale_discount_bp: 1250,
                platform_fee_minor: 4900,
                commission_bp: 0,
                billing_cycle_day: 28
            })
        );
        for (field, value) in
            [("discount", "100.01"), ("discount", "1.234"), ("discount", "-1"), ("day", "29"), ("day", "0")]
        {
            let mut i = TermsInput { ..input };
            match field {
                "discount" => i.wholesale_discount_percent = value,
                _ => i.billing_cycle_day = value,
            }
            assert!(BillingTerms::parse(&i, Currency::USD).is_err(), "{field}={value}");
        }
        assert_eq!(bp_to_percent(1250), "12.50");
    }
}

use crate::domain::stored::stored_enum;

stored_enum! {
    /// The last completed step of a tenant's creation (`tenants.creation_step`), in order.
    pub enum CreationStep {
        /// Reserved: the row exists, nothing created yet.
        Validated = "validated",
        Database = "database",
        Migrated = "migrated",
        Seeded = "seeded",
        Branded = "branded",
        Done = "done",
    }
}

impl CreationStep {
    /// The steps creation runs, in order; each names the step it completes.
    pub const RUN: [CreationStep; 5] = [
        CreationStep::Database,
        CreationStep::Migrated,
        CreationStep::Seeded,
        CreationStep::Branded,
        CreationStep::Done,
    ];

    /// The steps still to run after this one.
    pub fn remaining(self) -> &'static [CreationStep] {
        let start = CreationStep::RUN.iter().position(|s| *s == self).map_or(0, |i| i + 1);
        &CreationStep::RUN[start..]
    }
}

stored_enum! {
    /// What a tenant's own domain is (`tenant_domains.kind`).
    pub enum DomainKind {
        Primary = "primary",
        Alias = "alias",
    }
}

stored_enum! {
    /// How a domain's ownership was shown (`tenant_domains.verified_by`).
    pub enum VerifyMethod {
        Dns = "dns",
        Http = "http",
        /// A platform admin vouches for it (e.g. a domain we host ourselves).
        Admin = "admin",
    }
}

impl VerifyMethod {
    pub fn label(self) -> &'static str {
        match self {
            VerifyMethod::Dns => "DNS",
            VerifyMethod::Http => "HTTP",
            VerifyMethod::Admin => "an admin",
        }
    }
}

stored_enum! {
    /// A domain's certificate, derived from its verification and the proxy's first ask.
    pub enum TlsState {
        /// Not verified: no certificate.
        Pending = "pending",
        /// Verified: a certificate may be issued.
        Ready = "ready",
        /// The proxy asked for one.
        Issued = "issued",
    }
}

impl TlsState {
    /// The domain's state in a reseller's words.
    pub const fn label(self) -> &'static str {
        match self {
            TlsState::Pending => "Waiting for verification",
            TlsState::Ready => "Verified",
            TlsState::Issued => "Live with TLS",
        }
    }

    pub fn of(verified: bool, asked: bool) -> TlsState {
        match (verified, asked) {
            (false, _) => TlsState::Pending,
            (true, false) => TlsState::Ready,
            (true, true) => TlsState::Issued,
        }
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;

    #[test]
    fn creation_resumes_after_the_last_completed_step() {
        assert_eq!(CreationStep::Validated.remaining(), &CreationStep::RUN[..]);
        assert_eq!(CreationStep::Seeded.remaining(), &[CreationStep::Branded, CreationStep::Done]);
        assert!(CreationStep::Done.remaining().is_empty());
    }
}
