//! A storefront's payment terms for its own customers: when an invoice left due must be paid, when an
//! overdue customer can no longer order, and when they are reminded. Pure, so the pages and the
//! scheduler agree.

use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

pub const DAY_MS: i64 = 86_400_000;
/// The longest terms or grace a storefront may set, in days.
pub const MAX_DAYS: u32 = 90;

/// A number of days of a term as typed in a form (0 to `MAX_DAYS`); the error names `what` and the range.
pub fn parse_days(raw: &str, what: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|d| *d <= MAX_DAYS)
        .ok_or_else(|| format!("The {what} is a whole number of days from 0 to {MAX_DAYS}."))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTerms {
    /// Days from finalising to the due date (0: due at once).
    pub due_days: u32,
    /// Days past the due date after which new orders are refused.
    pub grace_days: u32,
}

impl Default for CustomerTerms {
    fn default() -> Self {
        CustomerTerms { due_days: 7, grace_days: 14 }
    }
}

impl CustomerTerms {
    /// The terms as typed in the form; the error says what is allowed.
    pub fn parse(due_days: &str, grace_days: &str) -> Result<CustomerTerms, String> {
        Ok(CustomerTerms {
            due_days: parse_days(due_days, "payment term")?,
            grace_days: parse_days(grace_days, "grace period")?,
        })
    }

    pub fn due_at(self, finalised: Timestamp) -> Timestamp {
        finalised.plus_millis(i64::from(self.due_days) * DAY_MS)
    }

    /// Whether an invoice due at `due_at` and still unpaid at `now` stops new orders.
    pub fn blocks_orders(self, due_at: Timestamp, now: Timestamp) -> bool {
        now.as_millis() > due_at.as_millis() + i64::from(self.grace_days) * DAY_MS
    }
}

/// The reminders about an invoice left due, in the order they are sent (stored as their number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reminder {
    /// Three days before the due date.
    DueSoon = 1,
    /// A day after it.
    Overdue = 2,
    /// A week after it.
    StillOverdue = 3,
}

impl Reminder {
    pub const ALL: [Reminder; 3] = [Reminder::DueSoon, Reminder::Overdue, Reminder::StillOverdue];

    pub fn number(self) -> i64 {
        self as i64
    }

    fn at(self, due_at: Timestamp) -> i64 {
        due_at.as_millis()
            + match self {
                Reminder::DueSoon => -3 * DAY_MS,
                Reminder::Overdue => DAY_MS,
                Reminder::StillOverdue => 7 * DAY_MS,
            }
    }
}

/// The reminder to send now about an invoice due at `due_at`, when the last one sent was number `sent`
/// (0: none): the latest whose time has come, if it was not sent yet. A scheduler that was down sends only
/// the latest, never a burst of stale ones.
pub fn reminder_due(due_at: Timestamp, now: Timestamp, sent: i64) -> Option<Reminder> {
    Reminder::ALL.into_iter().rev().find(|r| now.as_millis() >= r.at(due_at)).filter(|r| r.number() > sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_parse_within_bounds_and_say_why_not() {
        assert_eq!(CustomerTerms::parse("7", " 14 "), Ok(CustomerTerms::default()));
        assert_eq!(CustomerTerms::parse("0", "0"), Ok(CustomerTerms { due_days: 0, grace_days: 0 }));
        assert!(CustomerTerms::parse("91", "1").is_err_and(|e| e.contains("payment term")));
        assert!(CustomerTerms::parse("7", "-1").is_err_and(|e| e.contains("grace period")));
        assert!(CustomerTerms::parse("seven", "1").is_err());
    }

    #[test]
    fn due_dates_and_the_order_block_follow_the_terms() {
        let t = CustomerTerms::default();
        let finalised = Timestamp::from_millis(1_000);
        let due = t.due_at(finalised);
        assert_eq!(due.as_millis(), 1_000 + 7 * DAY_MS);
        assert!(!t.blocks_orders(due, due.plus_millis(14 * DAY_MS)), "the last day of grace still orders");
        assert!(t.blocks_orders(due, due.plus_millis(14 * DAY_MS + 1)));
    }

    #[test]
    fn reminders_come_once_each_and_only_the_latest_after_a_gap() {
        let due = Timestamp::from_millis(100 * DAY_MS);
        let at = |d: i64| Timestamp::from_millis(due.as_millis() + d);
        assert_eq!(reminder_due(due, at(-4 * DAY_MS), 0), None);
        assert_eq!(reminder_due(due, at(-3 * DAY_MS), 0), Some(Reminder::DueSoon));
        assert_eq!(reminder_due(due, at(-DAY_MS), 1), None, "sent already");
        assert_eq!(reminder_due(due, at(DAY_MS), 1), Some(Reminder::Overdue));
        assert_eq!(reminder_due(due, at(30 * DAY_MS), 0), Some(Reminder::StillOverdue), "only the latest");
        assert_eq!(reminder_due(due, at(30 * DAY_MS), 3), None);
    }
}
