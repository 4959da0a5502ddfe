//! Builds the invoice document (`domain::invoice::InvoiceDocument`): the one value the invoice page, the
//! PDF (`billing::pdf`) and the invoice email's attachment are made from.

use crate::backend::billing::invoices;
use crate::backend::identity::customers::Customer;
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::branding;
use crate::backend::BackendError;
use crate::domain::invoice::{BilledSession, DocumentLine, InvoiceDocument};

/// One of the customer's own invoices; `None` for another customer's, an unknown one or a draft.
pub async fn invoice(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    id: &str,
) -> Result<Option<InvoiceDocument>, BackendError> {
    let company =
        branding::get(state.central(), tenant.id).await?.map(|b| b.theme.company_name).unwrap_or(tenant.name.clone());
    invoice_of(tenant, customer, id, company).await
}

/// [`invoice`], issued by `company` (the storefront's name, for a caller that has read its branding).
pub async fn invoice_of(
    tenant: &Tenant,
    customer: &Customer,
    id: &str,
    company: String,
) -> Result<Option<InvoiceDocument>, BackendError> {
    let Some(inv) =
        invoices::get_owned(&tenant.db, id, customer.id).await?.filter(|i| i.status != invoices::Status::Draft)
    else {
        return Ok(None);
    };
    Ok(Some(of_invoice(tenant, customer, &inv, company).await?))
}

/// The document of `inv`, already read (and known to be `customer`'s and not a draft): only its lines
/// are read.
pub async fn of_invoice(
    tenant: &Tenant,
    customer: &Customer,
    inv: &invoices::Invoice,
    company: String,
) -> Result<InvoiceDocument, BackendError> {
    let lines = invoices::lines(&tenant.db, &inv.id, inv.total.currency()).await?;
    Ok(InvoiceDocument {
        number: inv.display_number(),
        kind: inv.kind,
        status: inv.status,
        period: inv.period.clone(),
        company,
        customer_name: customer.name.clone(),
        customer_email: customer.email.clone(),
        issued: inv.finalised_at,
        lines: lines
            .into_iter()
            .map(|l| DocumentLine {
                description: l.description,
                increments: l.increments,
                rate: l.rate,
                amount: l.amount,
                sessions: l
                    .sessions
                    .into_iter()
                    .map(|(_, started_at, ended_at, increments)| BilledSession { started_at, ended_at, increments })
                    .collect(),
            })
            .collect(),
        total: inv.total,
        credit_applied: inv.credit_applied,
        card_paid: inv.card_paid,
        due: inv.amount_due(),
        id: inv.id.clone(),
    })
}
