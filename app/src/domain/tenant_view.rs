//! What the admin's tenant pages receive: the tenants list and one tenant's detail (its terms, domains
//! and creation progress). Built by the backend, shown by the admin pages.

use serde::{Deserialize, Serialize};

use crate::domain::tenant::{BillingTerms, CreationStep, TenantStatus, TlsState, VerifyMethod};
use crate::domain::time::Timestamp;

/// One line of the tenants list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSummary {
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    /// Where it stands as a payer of the platform (past due, suspended…), apart from its lifecycle.
    pub billing_status: crate::domain::tenant_billing::TenantBillingStatus,
    pub is_house: bool,
    /// `None` when the tenant's database is not usable (being created, failed, deleting).
    pub customers: Option<i64>,
    pub workspaces: Option<i64>,
    pub primary_domain: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainView {
    pub domain: String,
    pub primary: bool,
    pub verified: bool,
    pub verified_by: Option<VerifyMethod>,
    /// What the reseller publishes for DNS verification.
    pub txt_name: String,
    pub txt_value: String,
    /// What the reseller's domain serves for HTTP verification (it does so by itself once it points at us).
    pub http_path: String,
    pub last_check_error: Option<String>,
    /// When it is checked again by itself; `None` when verified or once its 72 hours of checks are over.
    pub next_check_at: Option<Timestamp>,
    pub tls: TlsState,
}

impl DomainView {
    /// Where the domain stands, in a reseller's words: live, being checked, or given up on (with why).
    pub fn state_text(&self) -> String {
        match (self.verified, &self.last_check_error, self.next_check_at) {
            (true, _, _) => self.tls.label().to_owned(),
            (false, None, Some(_)) => "Pending: waiting for the first check".to_owned(),
            (false, Some(e), Some(_)) => format!("Pending: {e}"),
            (false, Some(e), None) => format!("Failed: {e} Publish the record, then check now."),
            (false, None, None) => "Pending: publish the record, then check now".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantDetail {
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub is_house: bool,
    pub owner_email: String,
    /// Whether the owner has chosen a password from their welcome email (until then the admin can send a
    /// fresh one).
    pub owner_has_password: bool,
    pub currency: String,
    /// The last completed creation step, and why the next one failed (when it did).
    pub creation_step: CreationStep,
    pub last_error: Option<String>,
    pub trial_ends_at: Option<Timestamp>,
    /// When the trial converted to paying (`None`: not yet, or no trial).
    pub trial_converted_at: Option<Timestamp>,
    /// Where it stands as a payer of the platform.
    pub billing_status: crate::domain::tenant_billing::TenantBillingStatus,
    /// When its wholesale invoices are due, and the grace and suspension delays.
    pub wholesale_terms: crate::domain::tenant_billing::WholesaleTerms,
    /// The card saved with the platform ("visa •••• 4242"), if any.
    pub platform_card: Option<String>,
    pub created_at: Timestamp,
    pub terms: BillingTerms,
    /// (name, label) of every reseller tier the admin defined, for the terms form.
    pub tiers: Vec<(String, String)>,
    /// The terms as the form shows them ("12.50", "49.00").
    pub discount_percent: String,
    pub platform_fee: String,
    pub commission_percent: String,
    pub domains: Vec<DomainView>,
    /// `<slug>.<platform domain>`, always routed while the tenant is active.
    pub platform_host: String,
    pub customers: Option<i64>,
    pub workspaces: Option<i64>,
}

/// What the reseller guide (`/manage/guide`) says about the reader's own storefront.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResellerGuide {
    /// `<slug>.<platform domain>`: always the storefront, and what a custom domain's CNAME points at.
    pub platform_host: String,
    pub domains: Vec<DomainView>,
    pub currency: crate::domain::money::Currency,
    pub discount_percent: String,
    pub platform_fee: crate::domain::money::Money,
    pub commission_percent: String,
    pub billing_cycle_day: u8,
}
