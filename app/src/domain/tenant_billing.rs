//! A reseller as a payer of the platform: its billing status, its wholesale terms (when a wholesale invoice
//! is due, how long it may stay unpaid before the tenant is past due, then suspended), its trial (no
//! platform fee; reminders before the end; converted with a card, suspended without), and the one function
//! that decides every change of status. Pure, so the scheduler, the payment path and the tests agree.
//!
//! The billing status is not the tenant's lifecycle (`TenantStatus`: creating, active, suspended by an
//! admin, …), which decides whether the storefront is served at all. A tenant past due or suspended for
//! billing is still served: its customers' running workspaces run on, new customer orders are refused with
//! a neutral message, and its staff see why. Paying the balance resumes it at once.

use serde::{Deserialize, Serialize};

use crate::domain::payment_terms::{parse_days, DAY_MS};
use crate::domain::stored::stored_enum;
use crate::domain::time::Timestamp;

stored_enum! {
    /// `tenants.billing_status`.
    pub enum TenantBillingStatus {
        /// In its trial: no platform fee; at its end it converts (a card on file) or is suspended.
        Trial = "trial",
        Active = "active",
        /// A wholesale invoice is unpaid past the grace period: new customer orders are refused.
        PastDue = "past_due",
        /// Still unpaid a further period later, or the trial ended without a card: as past due, with the
        /// storefront's staff told it is suspended and why.
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
}

/// The query parameter the platform's payment page returns to `/manage/billing` with (its session id).
pub const RETURN_PARAM: &str = "platform_checkout";

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
    /// The terms as the admin types them; the error says what is allowed.
    pub fn parse(due_days: &str, grace_days: &str, suspend_days: &str) -> Result<WholesaleTerms, String> {
        Ok(WholesaleTerms {
            due_days: parse_days(due_days, "payment term")?,
            grace_days: parse_days(grace_days, "grace period")?,
            suspend_days: parse_days(suspend_days, "delay before suspension")?,
        })
    }

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

/// What a tenant's billing status is decided from, besides its terms and the time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// The oldest due date among its unpaid wholesale invoices (`None`: nothing unpaid).
    pub oldest_unpaid_due: Option<Timestamp>,
    /// The end of its trial while the trial has not converted yet (`None`: no trial, or converted).
    pub trial_ends_at: Option<Timestamp>,
    /// A card is saved with the platform.
    pub has_card: bool,
}

/// Why a status changes: what the owner is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A wholesale invoice is unpaid past its grace period.
    Unpaid,
    /// Still unpaid a further period later.
    StillUnpaid,
    /// The trial ended without a card on file.
    TrialEndedWithoutCard,
    /// The trial ended with a card on file: the tenant pays from now on.
    TrialConverted,
    /// Back in good standing: paid, a card saved after the trial, or the trial extended.
    GoodStanding,
}

/// What `decide` wants done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The new status, when it changes.
    pub status: Option<TenantBillingStatus>,
    /// The trial is over and converts now (remembered, so it is never re-decided).
    pub converts_trial: bool,
    pub reason: Reason,
}

/// The status a tenant in `current` should be in at `now`, from what it has left unpaid and its trial.
/// `None` when nothing changes.
///
/// The only place a billing status changes: unpaid past the grace period → past due; a further period →
/// suspended (directly, when the scheduler was down through both). A trial runs until its end; then, with
/// a card on file, it converts (active), and without one the tenant is suspended until a card is saved
/// (or the admin extends the trial). The balance paid, or what is left unpaid back within grace → active
/// again at once (a trial still running stays a trial). The worse of the two reasons wins. A cancelled
/// tenant is never moved.
pub fn decide(current: TenantBillingStatus, terms: WholesaleTerms, pos: Position, now: Timestamp) -> Option<Decision> {
    use TenantBillingStatus::{Active, Cancelled, PastDue, Suspended, Trial};
    if current == Cancelled {
        return None;
    }
    let money = match pos.oldest_unpaid_due {
        Some(due) if now > terms.suspended_at(due) => Some(Suspended),
        Some(due) if now > terms.past_due_at(due) => Some(PastDue),
        _ => None,
    };
    let trial = pos.trial_ends_at.map(|end| match (now < end, pos.has_card) {
        (true, _) => Trial,
        (false, true) => Active,
        (false, false) => Suspended,
    });
    let (wanted, reason) = match (money, trial) {
        (Some(Suspended), _) => (Suspended, Reason::StillUnpaid),
        (_, Some(Suspended)) => (Suspended, Reason::TrialEndedWithoutCard),
        (Some(_), _) => (PastDue, Reason::Unpaid),
        (None, Some(Trial)) => (Trial, Reason::GoodStanding),
        (None, Some(_)) => (Active, Reason::TrialConverted),
        (None, None) => (Active, Reason::GoodStanding),
    };
    let converts_trial = trial == Some(Active);
    let status = (wanted != current).then_some(wanted);
    (status.is_some() || converts_trial).then_some(Decision {
        status,
        converts_trial,
        reason: if converts_trial { Reason::TrialConverted } else { reason },
    })
}

/// The reminders before a trial ends, each sent once: a week before, then a day before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialReminder {
    WeekBefore = 1,
    DayBefore = 2,
}

impl TrialReminder {
    pub const ALL: [TrialReminder; 2] = [TrialReminder::WeekBefore, TrialReminder::DayBefore];

    pub fn number(self) -> i64 {
        self as i64
    }

    pub const fn days_before(self) -> i64 {
        match self {
            TrialReminder::WeekBefore => 7,
            TrialReminder::DayBefore => 1,
        }
    }
}

/// The trial reminder to send now for a trial ending at `ends_at`, when the last one sent was number
/// `sent` (0: none): the latest whose time has come while the trial still runs, if not sent yet. After a
/// gap only the latest goes; after the end, none (the end has its own email).
pub fn trial_reminder_due(ends_at: Timestamp, now: Timestamp, sent: i64) -> Option<TrialReminder> {
    if now >= ends_at {
        return None;
    }
    TrialReminder::ALL
        .into_iter()
        .rev()
        .find(|r| now.as_millis() >= ends_at.as_millis() - r.days_before() * DAY_MS)
        .filter(|r| r.number() > sent)
}

/// The platform fee for a period `[start, end)` of a tenant whose trial ran until `trial_ends_at`: no fee
/// for the part of the period inside the trial, the rest prorated (rounded once, as subscriptions are).
pub fn platform_fee_after_trial(
    fee_minor: i64,
    start: Timestamp,
    end: Timestamp,
    trial_ends_at: Option<Timestamp>,
) -> i64 {
    let len = end.as_millis() - start.as_millis();
    let Some(trial_end) = trial_ends_at else { return fee_minor };
    let in_trial = crate::domain::billing::overlap_ms(start, Some(trial_end), start, end);
    crate::domain::billing::prorated(fee_minor, len - in_trial, len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::TenantBillingStatus::*;
    use super::*;

    fn at(days: i64) -> Timestamp {
        Timestamp::from_millis(1_000 * DAY_MS + days * DAY_MS)
    }

    fn unpaid(due: Timestamp) -> Position {
        Position { oldest_unpaid_due: Some(due), ..Position::default() }
    }

    /// The new status only (tests of the money side).
    fn to(current: TenantBillingStatus, pos: Position, now: Timestamp) -> Option<TenantBillingStatus> {
        decide(current, WholesaleTerms::default(), pos, now).and_then(|d| d.status)
    }

    #[test]
    fn unpaid_past_grace_is_past_due_then_suspended_and_paying_resumes_at_once() {
        let due = unpaid(at(0));
        let paid = Position::default();
        assert_eq!(to(Active, due, at(7)), None, "the last moment of grace");
        assert_eq!(to(Active, due, at(7).plus_millis(1)), Some(PastDue));
        assert_eq!(to(PastDue, due, at(21)), None);
        assert_eq!(to(PastDue, due, at(21).plus_millis(1)), Some(Suspended));
        assert_eq!(to(Active, due, at(30)), Some(Suspended), "a scheduler that was down goes straight there");
        assert_eq!(to(Suspended, paid, at(30)), Some(Active), "paid: active again");
        assert_eq!(to(PastDue, paid, at(8)), Some(Active));
        assert_eq!(to(Suspended, unpaid(at(25)), at(30)), Some(Active), "what is left unpaid is within grace");
        assert_eq!(to(Suspended, unpaid(at(15)), at(30)), Some(PastDue));
        let d = decide(Active, WholesaleTerms::default(), due, at(8)).unwrap();
        assert_eq!((d.reason, d.converts_trial), (Reason::Unpaid, false));
        let d = decide(Active, WholesaleTerms::default(), due, at(30)).unwrap();
        assert_eq!(d.reason, Reason::StillUnpaid);
    }

    #[test]
    fn cancelled_never_moves_and_good_standing_stays() {
        assert_eq!(decide(Cancelled, WholesaleTerms::default(), unpaid(at(0)), at(90)), None);
        assert_eq!(decide(Cancelled, WholesaleTerms::default(), Position::default(), at(0)), None);
        assert_eq!(decide(Active, WholesaleTerms::default(), Position::default(), at(0)), None);
    }

    #[test]
    fn a_trial_converts_with_a_card_and_suspends_without_one_until_a_card_or_an_extension() {
        let t = WholesaleTerms::default();
        let trial = |has_card| Position { trial_ends_at: Some(at(14)), has_card, ..Position::default() };
        // Running: a trial, card or not; an unpaid invoice past grace still makes it past due.
        assert_eq!(decide(Trial, t, trial(false), at(13)), None);
        assert_eq!(to(Active, trial(false), at(1)), Some(Trial), "a tenant given a trial is in it");
        let late = Position { oldest_unpaid_due: Some(at(0)), ..trial(true) };
        assert_eq!(to(Trial, late, at(8)), Some(PastDue));
        // The end, without a card: suspended (exactly at the end).
        let d = decide(Trial, t, trial(false), at(14)).unwrap();
        assert_eq!(
            d,
            Decision { status: Some(Suspended), converts_trial: false, reason: Reason::TrialEndedWithoutCard }
        );
        assert_eq!(decide(Suspended, t, trial(false), at(20)), None, "stays suspended until a card");
        // …then a card is saved: converts at once.
        let d = decide(Suspended, t, trial(true), at(20)).unwrap();
        assert_eq!(d, Decision { status: Some(Active), converts_trial: true, reason: Reason::TrialConverted });
        // With a card at the end: converts.
        let d = decide(Trial, t, trial(true), at(14)).unwrap();
        assert_eq!(d, Decision { status: Some(Active), converts_trial: true, reason: Reason::TrialConverted });
        // Converting while past due for money: remembered, the status stays past due.
        let d = decide(PastDue, t, Position { trial_ends_at: Some(at(14)), ..late }, at(15)).unwrap();
        assert_eq!((d.status, d.converts_trial), (None, true));
        // Extended (a later end) after a suspension for the trial: a trial again.
        let extended = Position { trial_ends_at: Some(at(30)), ..Position::default() };
        let d = decide(Suspended, t, extended, at(20)).unwrap();
        assert_eq!((d.status, d.reason), (Some(Trial), Reason::GoodStanding));
    }

    #[test]
    fn trial_reminders_a_week_and_a_day_before_once_each_and_none_after_the_end() {
        let end = at(30);
        let before = |days: i64| end.plus_millis(-days * DAY_MS);
        assert_eq!(trial_reminder_due(end, before(8), 0), None);
        assert_eq!(trial_reminder_due(end, before(7), 0), Some(TrialReminder::WeekBefore));
        assert_eq!(trial_reminder_due(end, before(3), 1), None, "sent already");
        assert_eq!(trial_reminder_due(end, before(1), 1), Some(TrialReminder::DayBefore));
        assert_eq!(
            trial_reminder_due(end, before(1), 0),
            Some(TrialReminder::DayBefore),
            "only the latest after a gap"
        );
        assert_eq!(trial_reminder_due(end, before(1), 2), None);
        assert_eq!(trial_reminder_due(end, end, 0), None, "the end has its own email");
    }

    #[test]
    fn no_platform_fee_inside_the_trial_the_rest_prorated_once() {
        let (start, end) = (at(0), at(30));
        assert_eq!(platform_fee_after_trial(3_000, start, end, None), 3_000);
        assert_eq!(platform_fee_after_trial(3_000, start, end, Some(at(-5))), 3_000, "ended before the period");
        assert_eq!(platform_fee_after_trial(3_000, start, end, Some(at(40))), 0, "the whole period in the trial");
        assert_eq!(platform_fee_after_trial(3_000, start, end, Some(at(10))), 2_000);
        assert_eq!(platform_fee_after_trial(1_000, start, end, Some(at(20))), 333);
        assert_eq!(platform_fee_after_trial(1_000, start, end, Some(at(10))), 667, "half-up");
    }

    #[test]
    fn only_trial_and_active_take_orders() {
        let taking: Vec<_> = TenantBillingStatus::ALL.iter().filter(|s| s.takes_orders()).collect();
        assert_eq!(taking, [&Trial, &Active]);
    }

    #[test]
    fn terms_parse_within_bounds() {
        assert_eq!(WholesaleTerms::parse("14", " 7", "14 "), Ok(WholesaleTerms::default()));
        assert!(WholesaleTerms::parse("14", "7", "91").is_err_and(|e| e.contains("suspension") && e.contains("90")));
        assert!(WholesaleTerms::parse("-1", "7", "1").is_err_and(|e| e.contains("payment term")));
    }

    #[test]
    fn terms_put_the_dates_where_they_say() {
        let t = WholesaleTerms { due_days: 10, grace_days: 2, suspend_days: 3 };
        assert_eq!(t.due_at(at(0)), at(10));
        assert_eq!(t.past_due_at(at(10)), at(12));
        assert_eq!(t.suspended_at(at(10)), at(15));
    }
}
