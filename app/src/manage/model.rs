//! What the reseller's management pages receive.

use serde::{Deserialize, Serialize};

use crate::domain::staff::StaffRole;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMe {
    pub name: String,
    pub email: String,
    pub role: StaffRole,
}

/// The class of the branding preview's element: the custom CSS being edited is applied under it only.
pub const PREVIEW_SCOPE: &str = "ezs-brand-preview";

/// The branding editor's form: current values (custom CSS as stored, i.e. sanitised).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandingForm {
    pub company_name: String,
    pub primary: String,
    pub secondary: String,
    pub support_email: String,
    pub support_phone: String,
    pub from_email: String,
    pub from_name: String,
    pub custom_css: String,
    pub logo_url: Option<String>,
    pub favicon_url: Option<String>,
}
