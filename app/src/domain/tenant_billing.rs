//! A reseller as a payer of the platform: its billing status, its wholesale terms (when a wholesale invoice
//! is due, how long it may stay unpaid before the tenant is past due, then suspended), and the one function
//! that decides every change of status. Pure, so the scheduler, the payment path and the tests agree.
//!
//! The billing status is not the tenant's lifecycle (`TenantStatus`: creating, active, suspended by an
//! admin, …), which decides whether the storefront is served at all. A tenant past due or suspended for
//! billing is still served: its customers' running workspaces run on, new customer orders are refused with
//! a neutral message, and its staff see why. Paying the balance resumes it at once.

use serde::{Deserialize, Serialize};

use crate::domain::payment_terms::DAY_MS;
use crate::domain::stored::stored_enum;
use crate::domain::time::Timestamp;

stored_enum! {
    /// `tenants.billing_status`.
    pub enum TenantBillingStatus {
        /// In its trial (conversion at the trial's end is the trial's business, not this module's).
        Trial = "trial",
        Active = "active",
        /// A wholesale invoice is unpaid past the grace period: new customer orders are refused.
        PastDue = "past_due",
        /// Still unpaid a further period later: as past due, with the storefront's staff told it is suspended.
        Suspended = "suspended",
        /// No longer billed; never changed by collection.
        Cancelled = "cancelled",
    }
}

impl TenantBillingStatus {
    pub const fn label(self) -> &'static str {
        match self {
            TenantBillingStatus::Trial => "Trial",
            TenantBillingStatus::Active => "Active",
            TenantBillingStatus::PastDue => "Past due",
            TenantBillingStatus::Suspended => "Suspended",
            TenantBillingStatus::Cancelled => "Cancelled",
        }
    }

    /// Whether the storefront takes new customer orders in this status.
    pub const fn takes_orders(self) -> bool {
        matches!(self, TenantBillingStatus::Trial | TenantBillingStatus::Active)
    }

    /// In good standing: what paying the balance returns to.
    const fn in_good_standing(self) -> bool {
        matches!(self, TenantBillingStatus::Trial | TenantBillingStatus::Active)
    }
}

/// The query parameter the platform's payment page returns to `/manage/billing` with (its session id).
pub const RETURN_PARAM: &str = "platform_checkout";

/// The longest wholesale term, grace or suspension delay an admin may set, in days.
pub const MAX_DAYS: u32 = 90;

/// When a reseller must pay a wholesale invoice, and what happens when it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholesaleTerms {
    /// Days from the invoice to its due date.
    pub due_days: u32,
    /// Days past the due date, unpaid, before the tenant is past due.
    pub grace_days: u32,
    /// Days past due before it is suspended.
    pub suspend_days: u32,
}

impl Default for WholesaleTerms {
    fn default() -> Self {
        WholesaleTerms { due_days: 14, grace_days: 7, suspend_days: 14 }
    }
}

impl WholesaleTerms {
    pub fn due_at(self, issued: Timestamp) -> Timestamp {
        issued.plus_millis(i64::from(self.due_days) * DAY_MS)
    }

    /// When an invoice due at `due_at`, still unpaid, makes the tenant past due.
    pub fn past_due_at(self, due_at: Timestamp) -> Timestamp {
        due_at.plus_millis(i64::from(self.grace_days) * DAY_MS)
    }

    /// When it makes the tenant suspended.
    pub fn suspended_at(self, due_at: Timestamp) -> Timestamp {
        self.past_due_at(due_at).plus_millis(i64::from(self.suspend_days) * DAY_MS)
    }
}

/// The status a tenant in `current` should be in at `now`, when the oldest due date among its unpaid
/// wholesale invoices is `oldest_unpaid_due` (`None`: nothing unpaid). `Some(new)` when it changes.
///
/// The only place a billing status changes for money: unpaid past the grace period → past due; a
/// further period → suspended (directly, when the scheduler was down through both); the balance paid (or
/// what is left unpaid back within grace) → active again at once, or a trial still running stays a trial.
/// A cancelled tenant is never moved by collection.
pub fn decide(
    current: TenantBillingStatus,
    terms: WholesaleTerms,
    oldest_unpaid_due: Option<Timestamp>,
    now: Timestamp,
) -> Option<TenantBillingStatus> {
    use TenantBillingStatus::{Active, Cancelled, PastDue, Suspended};
    if current == Cancelled {
        return None;
    }
    let wanted = match oldest_unpaid_due {
        Some(due) if now > terms.suspended_at(due) => Suspended,
        Some(due) if now > terms.past_due_at(due) => PastDue,
        // In good standing: a trial stays a trial; a past-due or suspended tenant is active again.
        _ if current.in_good_standing() => current,
        _ => Active,
    };
    (wanted != current).then_some(wanted)
}

#[cfg(test)]
mod tests {
    use super::TenantBillingStatus::*;
    use super::*;

    fn at(days: i64) -> Timestamp {
        Timestamp::from_millis(1_000 * DAY_MS + days * DAY_MS)
    }

    #[test]
    fn unpaid_past_grace_is_past_due_then_suspended_and_paying_resumes_at_once() {
        let t = WholesaleTerms::default();
        let due = Some(at(0));
        assert_eq!(decide(Active, t, due, at(7)), None, "the last moment of grace");
        assert_eq!(decide(Active, t, due, at(7).plus_millis(1)), Some(PastDue));
        assert_eq!(decide(PastDue, t, due, at(21)), None);
        assert_eq!(decide(PastDue, t, due, at(21).plus_millis(1)), Some(Suspended));
        assert_eq!(decide(Active, t, due, at(30)), Some(Suspended), "a scheduler that was down goes straight there");
        assert_eq!(decide(Suspended, t, None, at(30)), Some(Active), "paid: active again");
        assert_eq!(decide(PastDue, t, None, at(8)), Some(Active));
        assert_eq!(decide(Suspended, t, Some(at(25)), at(30)), Some(Active), "what is left unpaid is within grace");
        assert_eq!(decide(Suspended, t, Some(at(15)), at(30)), Some(PastDue));
    }

    #[test]
    fn trials_stay_trials_in_good_standing_and_cancelled_never_moves() {
        let t = WholesaleTerms::default();
        assert_eq!(decide(Trial, t, None, at(0)), None);
        assert_eq!(decide(Trial, t, Some(at(0)), at(8)), Some(PastDue));
        assert_eq!(decide(Cancelled, t, Some(at(0)), at(90)), None);
        assert_eq!(decide(Cancelled, t, None, at(0)), None);
        assert_eq!(decide(Active, t, None, at(0)), None);
    }

    #[test]
    fn only_trial_and_active_take_orders() {
        let taking: Vec<_> = TenantBillingStatus::ALL.iter().filter(|s| s.takes_orders()).collect();
        assert_eq!(taking, [&Trial, &Active]);
    }

    #[test]
    fn terms_put_the_dates_where_they_say() {
        let t = WholesaleTerms { due_days: 10, grace_days: 2, suspend_days: 3 };
        assert_eq!(t.due_at(at(0)), at(10));
        assert_eq!(t.past_due_at(at(10)), at(12));
        assert_eq!(t.suspended_at(at(10)), at(15));
    }
}
