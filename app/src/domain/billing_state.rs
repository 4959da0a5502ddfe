//! The states billing stores as text, as types (see `stored_enum!`). The browser receives these, so it
//! matches on variants, never on strings.

use crate::domain::stored::stored_enum;

stored_enum! {
    /// `invoices.status`: a draft has no number yet; a finalised invoice changes only its payment state.
    pub enum InvoiceStatus {
        Draft = "draft",
        Finalised = "finalised",
        Paid = "paid",
        Void = "void",
    }
}

stored_enum! {
    /// `invoices.kind`: an invoice, or a credit note correcting one.
    pub enum InvoiceKind {
        Invoice = "invoice",
        CreditNote = "credit_note",
    }
}

impl InvoiceKind {
    /// The number's prefix: `INV` or `CN`.
    pub const fn number_prefix(self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "INV",
            InvoiceKind::CreditNote => "CN",
        }
    }

    /// As a heading: "Invoice" or "Credit note".
    pub const fn label(self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "Invoice",
            InvoiceKind::CreditNote => "Credit note",
        }
    }
}

stored_enum! {
    /// `subscriptions.status`.
    pub enum SubscriptionStatus {
        Active = "active",
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// `credit_ledger.kind`: what a credit entry is for.
    pub enum LedgerEntryKind {
        TopUp = "topup",
        Usage = "usage",
        InvoicePayment = "invoice_payment",
        Refund = "refund",
        Adjustment = "adjustment",
    }
}

stored_enum! {
    /// `billing_runs.state`: the last run of a (tenant, period).
    pub enum BillingRunState {
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
}

stored_enum! {
    /// `wholesale_invoices.status`: what a reseller owes the platform for a period.
    pub enum WholesaleStatus {
        Finalised = "finalised",
        Paid = "paid",
        Void = "void",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fmt;
    use std::str::FromStr;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::domain::stored::UnknownState;

    fn round_trips<T>(all: &[T])
    where
        T: Copy
            + PartialEq
            + fmt::Debug
            + fmt::Display
            + FromStr<Err = UnknownState>
            + Serialize
            + for<'de> Deserialize<'de>,
    {
        for &v in all {
            let s = v.to_string();
            assert_eq!(s.parse::<T>(), Ok(v));
            assert_eq!(serde_json::to_string(&v).ok(), Some(format!("\"{s}\"")), "serde uses the stored string");
            assert_eq!(serde_json::from_str::<T>(&format!("\"{s}\"")).ok(), Some(v));
        }
        assert!("nonsense".parse::<T>().is_err());
    }

    #[test]
    fn every_state_round_trips_through_its_stored_string() {
        round_trips(InvoiceStatus::ALL);
        round_trips(InvoiceKind::ALL);
        round_trips(SubscriptionStatus::ALL);
        round_trips(LedgerEntryKind::ALL);
        round_trips(BillingRunState::ALL);
        round_trips(WholesaleStatus::ALL);
        assert_eq!(InvoiceKind::CreditNote.as_str(), "credit_note");
        assert_eq!(LedgerEntryKind::InvoicePayment.as_str(), "invoice_payment");
        assert_eq!(LedgerEntryKind::TopUp.as_str(), "topup");
    }
}
