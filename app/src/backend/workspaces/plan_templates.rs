//! The platform's workspace templates: the six tiers every storefront sells, managed by the admin.
//!
//! A template says what a plan *is* (vCPU, RAM, preinstalled apps, icon, whether it can be ordered, its
//! place in the list) and where it runs (the Kasm image, the Kasm group that holds the image, and
//! optionally a pinned Kasm server). Storefronts only set prices (`catalog`). Provisioning reads the image
//! and group from here, so an admin's change applies to the next workspace ordered anywhere.

use crate::backend::platform::db::{now, CentralDb};
use crate::backend::workspaces::kasm_servers;
use crate::backend::{corrupt, BackendError};
use crate::domain::plan::{PlanCode, TemplateStatus, TEMPLATE_ICONS};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTemplate {
    pub code: PlanCode,
    pub name: String,
    pub summary: String,
    pub vcpu: i64,
    pub ram_gb: i64,
    pub apps: Vec<String>,
    pub icon: String,
    pub status: TemplateStatus,
    pub sort_order: i64,
    pub kasm_image: String,
    pub kasm_group: String,
    pub kasm_server: Option<String>,
    pub updated_at: i64,
}

/// An admin's edit, as typed into the form (apps one per line).
#[derive(Clone, Debug)]
pub struct TemplateInput {
    pub code: String,
    pub name: String,
    pub summary: String,
    pub vcpu: String,
    pub ram_gb: String,
    pub apps: String,
    pub icon: String,
    pub status: String,
    pub sort_order: String,
    pub kasm_image: String,
    pub kasm_group: String,
    /// Blank = not pinned.
    pub kasm_server: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for TemplateError {
    fn from(e: sqlx::Error) -> Self {
        TemplateError::Backend(e.into())
    }
}

macro_rules! template_columns {
    () => {
        "code, name, summary, vcpu, ram_gb, apps, icon, status, sort_order, kasm_image, kasm_group, kasm_server, \
         updated_at"
    };
}

/// A `plan_templates` row as stored ([`template_columns!`]); `apps` one per line.
#[derive(sqlx::FromRow)]
struct TemplateRow {
    code: String,
    name: String,
    summary: String,
    vcpu: i64,
    ram_gb: i64,
    apps: String,
    icon: String,
    status: String,
    sort_order: i64,
    kasm_image: String,
    kasm_group: String,
    kasm_server: Option<String>,
    updated_at: i64,
}

impl TryFrom<TemplateRow> for PlanTemplate {
    type Error = BackendError;

    fn try_from(r: TemplateRow) -> Result<PlanTemplate, BackendError> {
        Ok(PlanTemplate {
            code: PlanCode::parse(&r.code).map_err(|_| corrupt("plan_templates.code"))?,
            name: r.name,
            summary: r.summary,
            vcpu: r.vcpu,
            ram_gb: r.ram_gb,
            apps: r.apps.lines().map(str::to_owned).filter(|a| !a.is_empty()).collect(),
            icon: r.icon,
            status: TemplateStatus::parse(&r.status).ok_or_else(|| corrupt("plan_templates.status"))?,
            sort_order: r.sort_order,
            kasm_image: r.kasm_image,
            kasm_group: r.kasm_group,
            kasm_server: r.kasm_server,
            updated_at: r.updated_at,
        })
    }
}

/// Inserts the six seed templates where missing; the admin's edits are never overwritten.
pub async fn ensure_defaults(central: &CentralDb) -> Result<(), BackendError> {
    let t = now().as_millis();
    for (i, code) in PlanCode::ALL.into_iter().enumerate() {
        let spec = code.spec();
        sqlx::query(concat!(
            "INSERT INTO plan_templates (",
            template_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12) ON CONFLICT (code) DO NOTHING"
        ))
        .bind(code.as_str())
        .bind(spec.name)
        .bind(spec.summary)
        .bind(i64::from(spec.vcpu))
        .bind(i64::from(spec.ram_gb))
        .bind(spec.apps.join("\n"))
        .bind(spec.icon)
        .bind(TemplateStatus::Active.as_str())
        .bind((i64::try_from(i).unwrap_or(0) + 1) * 10)
        .bind(spec.kasm_image)
        .bind(spec.kasm_group())
        .bind(t)
        .execute(central.pool())
        .await?;
    }
    Ok(())
}

/// All six, in display order.
pub async fn list(central: &CentralDb) -> Result<Vec<PlanTemplate>, BackendError> {
    let rows = sqlx::query_as::<_, TemplateRow>(concat!(
        "SELECT ",
        template_columns!(),
        " FROM plan_templates ORDER BY sort_order, code"
    ))
    .fetch_all(central.pool())
    .await?;
    rows.into_iter().map(PlanTemplate::try_from).collect()
}

pub async fn get(central: &CentralDb, code: PlanCode) -> Result<Option<PlanTemplate>, BackendError> {
    let row = sqlx::query_as::<_, TemplateRow>(concat!(
        "SELECT ",
        template_columns!(),
        " FROM plan_templates WHERE code = $1"
    ))
    .bind(code.as_str())
    .fetch_optional(central.pool())
    .await?;
    row.map(PlanTemplate::try_from).transpose()
}

/// An image a server offers, as an edit checks it (`kasm_images`).
#[derive(sqlx::FromRow)]
struct SyncedName {
    name: String,
    enabled: i64,
}

fn int_in(raw: &str, what: &str, lo: i64, hi: i64) -> Result<i64, TemplateError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| TemplateError::Invalid(format!("{what}: a whole number from {lo} to {hi}.")))
}

fn text(raw: &str, what: &str, max: usize, required: bool) -> Result<String, TemplateError> {
    let s = raw.trim();
    if (required && s.is_empty()) || s.chars().count() > max || s.chars().any(char::is_control) {
        let need = if required { "1" } else { "0" };
        return Err(TemplateError::Invalid(format!("{what}: {need} to {max} characters, on one line.")));
    }
    Ok(s.to_owned())
}

/// Parses and validates an edit. The image must be one that "sync images" found enabled on the server the
/// template will run on (when that server has been synced at all), so a typo cannot break every order.
pub async fn update(central: &CentralDb, input: &TemplateInput) -> Result<PlanTemplate, TemplateError> {
    let code = PlanCode::parse(&input.code).map_err(|_| TemplateError::Invalid("There is no such template.".into()))?;
    let name = text(&input.name, "Name", 60, true)?;
    let summary = text(&input.summary, "Summary", 160, false)?;
    let vcpu = int_in(&input.vcpu, "vCPU", 1, 64)?;
    let ram_gb = int_in(&input.ram_gb, "RAM (GB)", 1, 512)?;
    let sort_order = int_in(&input.sort_order, "Sort order", 0, 10_000)?;
    let mut apps = Vec::new();
    for line in input.apps.lines().map(str::trim).filter(|l| !l.is_empty()) {
        apps.push(text(line, "Each application", 60, true)?);
    }
    if apps.len() > 20 {
        return Err(TemplateError::Invalid("Applications: at most 20.".into()));
    }
    let icon = input.icon.trim();
    if !TEMPLATE_ICONS.contains(&icon) {
        return Err(TemplateError::Invalid(format!("Icon: one of {}.", TEMPLATE_ICONS.join(", "))));
    }
    let status = TemplateStatus::parse(&input.status)
        .ok_or_else(|| TemplateError::Invalid("Status: active or hidden.".into()))?;
    let kasm_image = text(&input.kasm_image, "Kasm image", 200, true)?;
    let kasm_group = text(&input.kasm_group, "Kasm group", 100, true)?;
    let kasm_server = match input.kasm_server.trim() {
        "" => None,
        s => {
            let id = kasm_servers::parse_server_id(s).map_err(|e| TemplateError::Invalid(e.to_string()))?;
            kasm_servers::get(central, &id)
                .await?
                .ok_or_else(|| TemplateError::Invalid(format!("Kasm server: there is no server {id}.")))?;
            Some(id)
        }
    };
    let check_on = kasm_server.clone().unwrap_or_else(|| kasm_servers::DEFAULT_SERVER.to_owned());
    let synced = sqlx::query_as::<_, SyncedName>("SELECT name, enabled FROM kasm_images WHERE server_id = $1")
        .bind(&check_on)
        .fetch_all(central.pool())
        .await?;
    if !synced.is_empty() && !synced.iter().any(|i| i.name == kasm_image && i.enabled != 0) {
        return Err(TemplateError::Invalid(format!(
            "Kasm image: {kasm_image} is not an enabled image on server {check_on} (sync images to refresh the list)."
        )));
    }
    let t = now().as_millis();
    sqlx::query(
        "UPDATE plan_templates SET name = $1, summary = $2, vcpu = $3, ram_gb = $4, apps = $5, icon = $6, \
         status = $7, sort_order = $8, kasm_image = $9, kasm_group = $10, kasm_server = $11, updated_at = $12 \
         WHERE code = $13",
    )
    .bind(&name)
    .bind(&summary)
    .bind(vcpu)
    .bind(ram_gb)
    .bind(apps.join("\n"))
    .bind(icon)
    .bind(status.as_str())
    .bind(sort_order)
    .bind(&kasm_image)
    .bind(&kasm_group)
    .bind(&kasm_server)
    .bind(t)
    .bind(code.as_str())
    .execute(central.pool())
    .await?;
    get(central, code).await?.ok_or_else(|| TemplateError::Backend(corrupt("template vanished")))
}
