//! What the workspace pages receive from the server. Row types stay in the backend; these are the wire
//! types, built from domain values so the browser can compute with them.

use serde::{Deserialize, Serialize};

use crate::domain::billing::{session_cost, window_total, UsageFact};
use crate::domain::ids::WorkspaceId;
use crate::domain::money::{Currency, Money, Rate};
use crate::domain::time::Timestamp;
use crate::domain::workspace::WorkspaceState;

/// An open usage session: the browser ticks it locally from these two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    pub started_at: Timestamp,
    pub rate: Rate,
}

impl Meter {
    /// The running cost at `now`, by the same rule the server stores when the session closes.
    pub fn cost_at(&self, now: Timestamp) -> Option<Money> {
        session_cost(self.started_at, now, &self.rate).ok()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceCard {
    pub id: WorkspaceId,
    /// What the customer calls it (`domain::workspace::display_name`).
    pub name: String,
    pub plan_name: String,
    pub state: WorkspaceState,
    pub rate: Rate,
    pub meter: Option<Meter>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLine {
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub rate: Rate,
    pub billable_seconds: Option<i64>,
    pub amount: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceDetail {
    pub card: WorkspaceCard,
    /// Why provisioning failed, in words for the customer.
    pub failure: Option<String>,
    /// Opens the desktop in Kasm (present while running).
    pub launch_url: Option<String>,
    /// Newest first.
    pub usage: Vec<UsageLine>,
    /// This billing period's usage of the workspace (filled in by billing; `None` from an action's reply).
    pub period: Option<PeriodSoFar>,
    /// The server's clock when this was built; the browser uses it to correct its own.
    pub server_now: Timestamp,
}

/// One workspace's usage in the current billing period: its page ticks "this period" from these facts with
/// the invoice's own function, so the figure at the period's end is what its invoice lines add up to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodSoFar {
    /// "2026-12-01 to 2026-12-31"
    pub label: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub facts: Vec<UsageFact>,
    pub currency: Currency,
}

impl PeriodSoFar {
    pub fn total_at(&self, now: Timestamp) -> Money {
        window_total(&self.facts, self.start, self.end, now, self.currency).0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceList {
    pub items: Vec<WorkspaceCard>,
    pub server_now: Timestamp,
}
