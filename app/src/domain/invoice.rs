//! The invoice document: one customer invoice (or credit note) as its reader sees it. The server builds it
//! once (`backend::billing::document`); the invoice page, the PDF and the invoice email's attachment each
//! map from this one value, so they cannot disagree.

use serde::{Deserialize, Serialize};

use super::billing_state::{InvoiceKind, InvoiceStatus};
use super::money::Money;
use super::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDocument {
    pub id: String,
    /// As printed: `INV-000042`.
    pub number: String,
    pub kind: InvoiceKind,
    pub status: InvoiceStatus,
    pub period: String,
    /// Who bills: the storefront's company name.
    pub company: String,
    pub customer_name: String,
    pub customer_email: String,
    pub issued: Option<Timestamp>,
    pub lines: Vec<DocumentLine>,
    pub total: Money,
    pub credit_applied: Money,
    pub card_paid: Money,
    pub due: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentLine {
    pub description: String,
    pub increments: i64,
    pub rate: Option<String>,
    pub amount: Money,
    /// The sessions the line bills.
    pub sessions: Vec<BilledSession>,
}

/// A usage session on an invoice line: when it ran (`ended_at: None` = still running) and how many
/// 15-minute increments of it the line bills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BilledSession {
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub increments: i64,
}

impl InvoiceDocument {
    /// The heading: "Invoice INV-000042", or "Credit note …" for a credit note.
    pub fn title(&self) -> String {
        format!("{} {}", self.kind.label(), self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    #[test]
    fn the_title_names_the_kind_and_number() {
        let zero = Money::zero(Currency::EUR);
        let mut d = InvoiceDocument {
            id: "i".into(),
            number: "INV-000007".into(),
            kind: InvoiceKind::Invoice,
            status: InvoiceStatus::Finalised,
            period: "2026-10".into(),
            company: "Acme".into(),
            customer_name: "A".into(),
            customer_email: "a@example.com".into(),
            issued: None,
            lines: Vec::new(),
            total: zero,
            credit_applied: zero,
            card_paid: zero,
            due: zero,
        };
        assert_eq!(d.title(), "Invoice INV-000007");
        d.kind = InvoiceKind::CreditNote;
        d.number = "CN-000001".into();
        assert_eq!(d.title(), "Credit note CN-000001");
    }
}
