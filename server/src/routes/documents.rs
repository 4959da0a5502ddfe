//! Documents to download: a customer's invoices (CSV and PDF) and a reseller's wholesale bills (PDF),
//! each for its own customer or staff only, on its own storefront (a draft invoice is nobody's yet); and
//! the platform admin's receivables (CSV).

use app::backend::billing::{collection, document, invoices, pdf, wholesale};
use app::backend::request::{SignedInAdmin, SignedInCustomer, SignedInStaff};
use app::backend::state::AppState;
use app::backend::tenancy::registry;
use app::error::AppError;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/invoices/{id}/csv", invoice_csv)
        .get("/invoices/{id}/pdf", invoice_pdf)
        .get("/manage/billing/wholesale/{id}/pdf", wholesale_pdf)
        .get("/admin/billing/receivables.csv", receivables_csv)
}

/// What every reseller owes the platform, by age, as CSV (platform admins only).
async fn receivables_csv(State(app): State<AppState>, _admin: SignedInAdmin) -> Result<impl IntoResponse, AppError> {
    let r = collection::receivables(&app).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"receivables.csv\"".to_owned()),
        ],
        app::domain::receivables::csv(&r.rows),
    ))
}

/// An invoice as CSV.
async fn invoice_csv(Path(id): Path<String>, me: SignedInCustomer) -> Result<impl IntoResponse, AppError> {
    let inv = invoices::get_owned(&me.tenant.db, &id, me.customer.id)
        .await?
        .filter(|i| i.status != invoices::Status::Draft)
        .ok_or(AppError::NotFound)?;
    let lines = invoices::lines(&me.tenant.db, &inv.id, inv.total.currency()).await?;
    let name = format!("attachment; filename=\"{}.csv\"", inv.display_number());
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)],
        invoices::csv(&inv, &lines),
    ))
}

/// An invoice as PDF, built from the same view as the invoice page.
async fn invoice_pdf(
    State(app): State<AppState>,
    Path(id): Path<String>,
    me: SignedInCustomer,
) -> Result<impl IntoResponse, AppError> {
    let view = document::invoice(&app, &me.tenant, &me.customer, id.trim()).await?.ok_or(AppError::NotFound)?;
    let name = format!("inline; filename=\"{}.pdf\"", view.number);
    Ok((
        [(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, name)],
        pdf::invoice_off_thread(&view).await?,
    ))
}

/// A wholesale bill as PDF, for the reseller's own staff on its own host.
async fn wholesale_pdf(
    State(app): State<AppState>,
    Path(id): Path<String>,
    staff: SignedInStaff,
) -> Result<impl IntoResponse, AppError> {
    let inv = wholesale::get_for(&app, staff.tenant.id, id.trim()).await?.ok_or(AppError::NotFound)?;
    let record = registry::record_by_slug(app.central(), &staff.tenant.slug).await?.ok_or(AppError::NotFound)?;
    let body = wholesale::pdf(&app, &record, &inv).await?;
    let name = format!("inline; filename=\"{}.pdf\"", inv.display_number());
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, name)], body))
}
