//! The states billing stores as text, as types: each enum serialises (serde) and prints (`as_str`) as
//! exactly the string in its column, and parses back with an error for anything else (the backend reports
//! that as a corrupt row). The browser receives these, so it matches on variants, never on strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A stored state string that names no variant of the expected enum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownState {
    /// The enum that was expected (`InvoiceStatus`, ...).
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}: {:?}", self.what, self.value)
    }
}

impl std::error::Error for UnknownState {}

macro_rules! stored_state {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The stored string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }

            /// The variant a stored string names.
            pub fn parse(s: &str) -> Result<$name, UnknownState> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(UnknownState { what: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<$name, UnknownState> {
                $name::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_state! {
    /// `invoices.status`: a draft has no number yet; a finalised invoice changes only its payment state.
    InvoiceStatus {
        Draft => "draft",
        Finalised => "finalised",
        Paid => "paid",
        Void => "void",
    }
}

stored_state! {
    /// `invoices.kind`: an invoice, or a credit note correcting one.
    InvoiceKind {
        Invoice => "invoice",
        CreditNote => "credit_note",
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

stored_state! {
    /// `subscriptions.status`.
    SubscriptionStatus {
        Active => "active",
        Cancelled => "cancelled",
    }
}

stored_state! {
    /// `credit_ledger.kind`: what a credit entry is for.
    LedgerEntryKind {
        TopUp => "topup",
        Usage => "usage",
        InvoicePayment => "invoice_payment",
        Refund => "refund",
        Adjustment => "adjustment",
    }
}

stored_state! {
    /// `billing_runs.state`: the last run of a (tenant, period).
    BillingRunState {
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
}

stored_state! {
    /// `wholesale_invoices.status`: what a reseller owes the platform for a period.
    WholesaleStatus {
        Finalised => "finalised",
        Paid => "paid",
        Void => "void",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownState> + Serialize + for<'de> Deserialize<'de>,
    {
        for &v in all {
            let s = v.to_string();
            assert_eq!(s.parse::<T>(), Ok(v));
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{s}\""), "serde uses the stored string");
            assert_eq!(serde_json::from_str::<T>(&format!("\"{s}\"")).unwrap(), v);
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
