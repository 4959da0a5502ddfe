//! What resellers owe the platform, as the admin's billing page shows it: each tenant's open wholesale
//! balance in age buckets, what was collected this month, wholesale revenue per month, and the CSV export.
//! Pure, so the page and the CSV agree.

use serde::{Deserialize, Serialize};

use crate::domain::chart::{Arrangement, Chart, Group, Unit};
use crate::domain::money::{Currency, Money};
use crate::domain::payment_terms::DAY_MS;
use crate::domain::tenant_billing::TenantBillingStatus;
use crate::domain::time::Timestamp;

/// How long an unpaid invoice is past its due date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AgeBucket {
    /// Not due yet (or due today, to the millisecond).
    Current,
    /// 1 to 30 days past due (any part of a day counts as a day).
    Days1To30,
    Days31To60,
    Over60,
}

impl AgeBucket {
    pub const ALL: [AgeBucket; 4] =
        [AgeBucket::Current, AgeBucket::Days1To30, AgeBucket::Days31To60, AgeBucket::Over60];

    pub const fn label(self) -> &'static str {
        match self {
            AgeBucket::Current => "Current",
            AgeBucket::Days1To30 => "1–30 days",
            AgeBucket::Days31To60 => "31–60 days",
            AgeBucket::Over60 => "Over 60 days",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// The bucket of an invoice due at `due_at`, at `now` (an invoice without a due date is current).
    pub fn of(due_at: Option<Timestamp>, now: Timestamp) -> AgeBucket {
        let Some(due) = due_at else { return AgeBucket::Current };
        let late = now.as_millis().saturating_sub(due.as_millis());
        if late <= 0 {
            return AgeBucket::Current;
        }
        // Days past due, rounded up: an hour late is one day late.
        match (late + DAY_MS - 1) / DAY_MS {
            ..=30 => AgeBucket::Days1To30,
            31..=60 => AgeBucket::Days31To60,
            _ => AgeBucket::Over60,
        }
    }
}

/// One tenant's open wholesale balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableRow {
    pub slug: String,
    pub name: String,
    pub billing_status: TenantBillingStatus,
    pub currency: Currency,
    /// Per [`AgeBucket::ALL`], in order.
    pub buckets: [Money; 4],
}

impl ReceivableRow {
    pub fn new(slug: String, name: String, billing_status: TenantBillingStatus, currency: Currency) -> Self {
        let zero = Money::zero(currency);
        ReceivableRow { slug, name, billing_status, currency, buckets: [zero; 4] }
    }

    /// Adds an unpaid invoice of `minor` due at `due_at`.
    pub fn add(&mut self, minor: i64, due_at: Option<Timestamp>, now: Timestamp) {
        let b = &mut self.buckets[AgeBucket::of(due_at, now).index()];
        *b = Money::from_minor(b.minor().saturating_add(minor), self.currency);
    }

    pub fn open(&self) -> Money {
        Money::from_minor(self.buckets.iter().map(|m| m.minor()).sum(), self.currency)
    }
}

/// Wholesale invoiced in one period, in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRevenue {
    pub period: String,
    pub total: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivables {
    /// Tenants with something open, biggest balance first.
    pub rows: Vec<ReceivableRow>,
    /// Paid this calendar month (UTC), per currency.
    pub collected_this_month: Vec<Money>,
    /// Wholesale invoiced per period (void invoices excluded), oldest first, per currency.
    pub revenue_by_month: Vec<MonthRevenue>,
}

/// Wholesale invoiced per period as bar charts, one per currency (amounts in different currencies are
/// never added up or drawn against one axis), each over every period any currency has, oldest first.
/// Nothing invoiced yet: one chart that says so.
pub fn revenue_charts(months: &[MonthRevenue]) -> Vec<Chart> {
    let mut periods: Vec<&str> = months.iter().map(|m| m.period.as_str()).collect();
    periods.sort_unstable();
    periods.dedup();
    let currencies: Vec<Currency> =
        Currency::ALL.into_iter().filter(|c| months.iter().any(|m| m.total.currency() == *c)).collect();
    let chart = |currency: Currency| Chart {
        id: format!("wholesale-revenue-{}", currency.code()),
        title: format!("Wholesale invoiced per period, in {}", currency.code()),
        category: "Period".into(),
        unit: Unit::Money(currency),
        series: vec!["Wholesale invoiced".into()],
        arrangement: Arrangement::Grouped,
        total: None,
        groups: periods
            .iter()
            .map(|p| Group {
                label: (*p).to_owned(),
                values: vec![months
                    .iter()
                    .filter(|m| m.period == *p && m.total.currency() == currency)
                    .map(|m| m.total.minor())
                    .sum()],
            })
            .collect(),
        empty: "No wholesale invoices yet: they are written when a billing period is billed.".into(),
    };
    if currencies.is_empty() {
        return vec![chart(Currency::USD)];
    }
    currencies.into_iter().map(chart).collect()
}

/// The receivables as CSV: one line per tenant, amounts as plain decimals with the currency in its own
/// column (so a spreadsheet sums them).
pub fn csv(rows: &[ReceivableRow]) -> String {
    let mut out = String::from("tenant,name,billing_status,currency,current,days_1_30,days_31_60,over_60,open\n");
    for r in rows {
        let cells = [
            field(&r.slug),
            field(&r.name),
            r.billing_status.as_str().to_owned(),
            r.currency.code().to_owned(),
            r.buckets[0].to_decimal().to_string(),
            r.buckets[1].to_decimal().to_string(),
            r.buckets[2].to_decimal().to_string(),
            r.buckets[3].to_decimal().to_string(),
            r.open().to_decimal().to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or `@` is
/// defused so a spreadsheet does not run it as a formula.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revenue_is_charted_per_currency_over_every_period() {
        let m = |period: &str, minor: i64, c: Currency| MonthRevenue {
            period: period.into(),
            total: Money::from_minor(minor, c),
        };
        let charts = revenue_charts(&[
            m("2026-09", 1_000, Currency::USD),
            m("2026-10", 2_500, Currency::EUR),
            m("2026-10", 3_000, Currency::USD),
        ]);
        let g = |p: &str, v: i64| Group { label: p.to_owned(), values: vec![v] };
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["wholesale-revenue-USD", "wholesale-revenue-EUR"]);
        assert_eq!(charts[0].groups, [g("2026-09", 1_000), g("2026-10", 3_000)]);
        assert_eq!(charts[1].groups, [g("2026-09", 0), g("2026-10", 2_500)], "every period, zero where none");
        assert_eq!(charts[1].unit, Unit::Money(Currency::EUR));
        let none = revenue_charts(&[]);
        assert!(none.len() == 1 && none[0].is_empty() && none[0].empty.starts_with("No wholesale invoices yet"));
    }

    #[test]
    fn buckets_count_whole_days_past_the_due_date() {
        let due = Timestamp::from_millis(100 * DAY_MS);
        let at = |ms: i64| Timestamp::from_millis(due.as_millis() + ms);
        assert_eq!(AgeBucket::of(Some(due), at(-1)), AgeBucket::Current);
        assert_eq!(AgeBucket::of(Some(due), at(0)), AgeBucket::Current);
        assert_eq!(AgeBucket::of(Some(due), at(1)), AgeBucket::Days1To30, "a moment late is a day late");
        assert_eq!(AgeBucket::of(Some(due), at(30 * DAY_MS)), AgeBucket::Days1To30);
        assert_eq!(AgeBucket::of(Some(due), at(30 * DAY_MS + 1)), AgeBucket::Days31To60);
        assert_eq!(AgeBucket::of(Some(due), at(60 * DAY_MS)), AgeBucket::Days31To60);
        assert_eq!(AgeBucket::of(Some(due), at(60 * DAY_MS + 1)), AgeBucket::Over60);
        assert_eq!(AgeBucket::of(None, at(90 * DAY_MS)), AgeBucket::Current);
    }

    #[test]
    fn rows_add_up_and_the_csv_is_safe_for_spreadsheets() {
        let now = Timestamp::from_millis(200 * DAY_MS);
        let mut r =
            ReceivableRow::new("acme".into(), "=Acme, \"Inc\"".into(), TenantBillingStatus::PastDue, Currency::USD);
        r.add(4_900, Some(Timestamp::from_millis(190 * DAY_MS)), now);
        r.add(100, Some(Timestamp::from_millis(210 * DAY_MS)), now);
        r.add(1, Some(Timestamp::from_millis(100 * DAY_MS)), now);
        assert_eq!(r.open().minor(), 5_001);
        let text = csv(&[r]);
        let line = text.lines().nth(1).unwrap_or_default();
        assert_eq!(line, "acme,\"'=Acme, \"\"Inc\"\"\",past_due,USD,1.00,49.00,0.00,0.01,50.01");
    }
}
