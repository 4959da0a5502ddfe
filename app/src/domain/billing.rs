//! The metering rule: usage is billed in 15-minute increments, rounded up, at the rate frozen when the
//! session started. The browser's live timer and the server's stored amount both call [`session_cost`].

use rust_decimal::Decimal;

use super::money::{Money, MoneyError, Rate};
use super::time::Timestamp;

/// One billing increment: 15 minutes.
pub const INCREMENT_SECONDS: i64 = 900;
const INCREMENT_MILLIS: i64 = INCREMENT_SECONDS * 1000;
const SECONDS_PER_HOUR: i64 = 3600;

/// Billable seconds for a running time given in milliseconds: ceil(elapsed / 15 min) × 15 min.
/// Zero (or negative) time bills nothing; any time above zero bills at least one increment.
pub const fn billable_seconds(elapsed_ms: i64) -> i64 {
    if elapsed_ms <= 0 {
        return 0;
    }
    // ceil without overflow: (n - 1) / d + 1 for n > 0.
    let increments = (elapsed_ms - 1) / INCREMENT_MILLIS + 1;
    increments.saturating_mul(INCREMENT_SECONDS)
}

/// The exact (unrounded) amount for a number of billable seconds at a rate, in major units.
pub fn exact_amount(billable_secs: i64, rate: &Rate) -> Result<Decimal, MoneyError> {
    rate.amount_per_hour()
        .checked_mul(Decimal::from(billable_secs))
        .and_then(|x| x.checked_div(Decimal::from(SECONDS_PER_HOUR)))
        .ok_or(MoneyError::Overflow)
}

/// The cost of billable seconds at a rate, rounded once (half-up) to the currency's minor unit.
pub fn cost_of_billable(billable_secs: i64, rate: &Rate) -> Result<Money, MoneyError> {
    Money::round_half_up(exact_amount(billable_secs, rate)?, rate.currency())
}

/// The cost of a usage session that started at `started_at` and ran until `until` (now, for a live session).
pub fn session_cost(started_at: Timestamp, until: Timestamp, rate: &Rate) -> Result<Money, MoneyError> {
    cost_of_billable(billable_seconds(started_at.millis_until(until)), rate)
}

/// Whole increments a running time bills: ceil(elapsed / 15 min); nothing for zero time.
pub const fn increments(elapsed_ms: i64) -> i64 {
    if elapsed_ms <= 0 {
        0
    } else {
        (elapsed_ms - 1) / INCREMENT_MILLIS + 1
    }
}

/// How many of a session's increments a window `[from, to)` bills: those that *started* in it, counted on
/// the whole session (increment k starts at `started_at + k × 15 min`). A session still running (`ended_at`
/// = None) has started the increments up to `now`. Adjacent windows partition the session's increments,
/// so splitting a session at a period boundary never adds one.
pub fn increments_in_window(
    started_at: Timestamp,
    ended_at: Option<Timestamp>,
    now: Timestamp,
    from: Timestamp,
    to: Timestamp,
) -> i64 {
    let until = ended_at.unwrap_or(now);
    let total = increments(started_at.millis_until(until));
    // Increments starting before t: ceil((t - start) / inc), clamped to [0, total].
    let started_before = |t: Timestamp| increments(started_at.millis_until(t)).clamp(0, total);
    (started_before(to) - started_before(from)).max(0)
}

/// One metered fact: a usage session of a workspace at its frozen rate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageFact {
    /// What it is billed under (the workspace), shown on the line.
    pub workspace: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub rate: Rate,
}

/// An invoice line: one workspace at one rate, with how many increments each of its sessions contributed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    pub workspace: String,
    pub rate: Rate,
    pub increments: i64,
    /// Rounded once, half-up, from the exact amount of all the line's increments.
    pub amount: Money,
    /// (index into the facts, increments in this window), for the sessions that contributed.
    pub sessions: Vec<(usize, i64)>,
}

/// The lines a window bills, grouped per workspace and rate, in a stable order. The invoice run and the
/// live "so far this month" figure both call this; the total is the sum of the lines.
pub fn window_lines(
    facts: &[UsageFact],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<Vec<Line>, MoneyError> {
    let mut lines: Vec<Line> = Vec::new();
    for (i, f) in facts.iter().enumerate() {
        let n = increments_in_window(f.started_at, f.ended_at, now, from, to);
        if n == 0 {
            continue;
        }
        match lines.iter_mut().find(|l| l.workspace == f.workspace && l.rate == f.rate) {
            Some(l) => {
                l.increments = l.increments.checked_add(n).ok_or(MoneyError::Overflow)?;
                l.sessions.push((i, n));
            }
            None => lines.push(Line {
                workspace: f.workspace.clone(),
                rate: f.rate,
                increments: n,
                amount: Money::zero(f.rate.currency()),
                sessions: vec![(i, n)],
            }),
        }
    }
    for l in &mut lines {
        l.amount = line_amount(l.increments, &l.rate)?;
    }
    lines.sort_by(|a, b| a.workspace.cmp(&b.workspace).then(a.rate.amount_per_hour().cmp(&b.rate.amount_per_hour())));
    Ok(lines)
}

/// The amount of `increments` quarter-hours at `rate`, rounded once, half-up.
pub fn line_amount(increments: i64, rate: &Rate) -> Result<Money, MoneyError> {
    cost_of_billable(increments.checked_mul(INCREMENT_SECONDS).ok_or(MoneyError::Overflow)?, rate)
}

/// The sum of lines (all in one currency).
pub fn lines_total(lines: &[Line], currency: super::money::Currency) -> Result<Money, MoneyError> {
    lines.iter().try_fold(Money::zero(currency), |acc, l| acc.checked_add(l.amount))
}

/// What a window bills so far at `now`, and in how many quarter-hours: the total of [`window_lines`]. The
/// live "so far this period" figures (the billing page, a workspace's page) show this; a fact that cannot
/// be priced shows nothing rather than a wrong figure.
pub fn window_total(
    facts: &[UsageFact],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    currency: super::money::Currency,
) -> (Money, i64) {
    match window_lines(facts, from, to, now) {
        Ok(lines) => {
            let total = lines_total(&lines, currency).unwrap_or(Money::zero(currency));
            (total, lines.iter().map(|l| l.increments).sum())
        }
        Err(_) => (Money::zero(currency), 0),
    }
}

/// How many whole quarter-hours `credit` pays for while workspaces costing `per_hour` in all run (the
/// billing page's "your credit lasts about …"): an estimate for a person, never used to charge. `None`
/// when nothing runs; zero when there is no credit.
pub fn quarter_hours_of_credit(credit: Money, per_hour: Decimal) -> Option<i64> {
    if per_hour <= Decimal::ZERO {
        return None;
    }
    if credit.minor() <= 0 {
        return Some(0);
    }
    let per_increment = per_hour / Decimal::from(SECONDS_PER_HOUR / INCREMENT_SECONDS);
    let n = credit.to_decimal().checked_div(per_increment)?.floor();
    Some(rust_decimal::prelude::ToPrimitive::to_i64(&n).unwrap_or(i64::MAX))
}

/// A monthly price for the part of a period a subscription was active: `monthly × active / period`,
/// in minor units, rounded once, half-up (integer arithmetic; a whole period bills exactly the price).
pub fn prorated(monthly_minor: i64, active_ms: i64, period_ms: i64) -> i64 {
    if period_ms <= 0 || active_ms <= 0 || monthly_minor <= 0 {
        return 0;
    }
    let active = i128::from(active_ms.min(period_ms));
    let num = i128::from(monthly_minor) * active;
    let den = i128::from(period_ms);
    i64::try_from((2 * num + den) / (2 * den)).unwrap_or(i64::MAX)
}

/// How long `[start, end)` (end `None` = still active) overlaps `[from, to)`, in ms.
pub fn overlap_ms(start: Timestamp, end: Option<Timestamp>, from: Timestamp, to: Timestamp) -> i64 {
    let s = start.max(from);
    let e = end.map_or(to, |e| e.min(to));
    s.millis_until(e).max(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::money::Currency;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn credit_lasts_whole_quarter_hours_at_the_running_rate() {
        let usd = |m| Money::from_minor(m, Currency::USD);
        let rate = |s: &str| s.parse::<Decimal>().unwrap();
        // 1.00 at 0.20/h: 0.05 a quarter-hour, 20 of them.
        assert_eq!(quarter_hours_of_credit(usd(100), rate("0.20")), Some(20));
        // 1.00 at 0.30/h: 0.075 a quarter-hour, 13 whole ones (13.33).
        assert_eq!(quarter_hours_of_credit(usd(100), rate("0.30")), Some(13));
        assert_eq!(quarter_hours_of_credit(usd(0), rate("0.30")), Some(0));
        assert_eq!(quarter_hours_of_credit(usd(-5), rate("0.30")), Some(0));
        assert_eq!(quarter_hours_of_credit(usd(100), Decimal::ZERO), None);
    }

    const MIN: i64 = 60_000;
    const SEC: i64 = 1_000;

    fn rate(s: &str) -> Rate {
        Rate::parse(s, Currency::USD).unwrap_or_else(|_| panic!("bad rate {s}"))
    }

    fn cost_after(ms: i64, r: &str) -> i64 {
        let start = Timestamp::from_millis(1_700_000_000_000);
        session_cost(start, start.plus_millis(ms), &rate(r)).unwrap_or_else(|e| panic!("{e}")).minor()
    }

    #[test]
    fn the_seed_examples_bill_as_documented() {
        // 8 min -> 15 min = $0.05 at $0.20/h; 22 min -> 30 min = $0.10; 1 h 05 min -> 1 h 15 min = $0.25.
        assert_eq!(billable_seconds(8 * MIN), 900);
        assert_eq!(cost_after(8 * MIN, "0.20"), 5);
        assert_eq!(billable_seconds(22 * MIN), 1800);
        assert_eq!(cost_after(22 * MIN, "0.20"), 10);
        assert_eq!(billable_seconds(65 * MIN), 4500);
        assert_eq!(cost_after(65 * MIN, "0.20"), 25);
    }

    #[test]
    fn increment_boundaries_table() {
        let table: &[(i64, i64)] = &[
            (0, 0),
            (SEC, 900),
            (14 * MIN + 59 * SEC, 900),
            (15 * MIN, 900),
            (15 * MIN + SEC, 1800),
            (59 * MIN + 59 * SEC, 3600),
            (60 * MIN, 3600),
            (60 * MIN + SEC, 4500),
            (24 * 60 * MIN, 86_400),
        ];
        for &(elapsed, billable) in table {
            assert_eq!(billable_seconds(elapsed), billable, "elapsed {elapsed} ms");
        }
    }

    #[test]
    fn costs_at_the_boundaries() {
        assert_eq!(cost_after(0, "0.20"), 0);
        assert_eq!(cost_after(SEC, "0.20"), 5);
        assert_eq!(cost_after(60 * MIN + SEC, "0.20"), 25);
        assert_eq!(cost_after(24 * 60 * MIN, "0.80"), 1920);
        // A rate that does not divide evenly: 15 min at $0.15/h = 0.0375 -> $0.04 (half-up, once).
        assert_eq!(cost_after(SEC, "0.15"), 4);
        // ... and 30 min = 0.075 -> $0.08: rounding happens on the total, never per increment.
        assert_eq!(cost_after(16 * MIN, "0.15"), 8);
    }

    #[test]
    fn negative_time_bills_nothing() {
        assert_eq!(billable_seconds(-5 * MIN), 0);
        let start = Timestamp::from_millis(10 * MIN);
        assert_eq!(session_cost(start, Timestamp::from_millis(0), &rate("0.20")).map(Money::minor), Ok(0));
    }

    proptest! {
        #[test]
        fn billable_time_is_monotonic(a in 0i64..10_000_000_000, b in 0i64..10_000_000_000) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(billable_seconds(lo) <= billable_seconds(hi));
        }

        #[test]
        fn billable_time_is_never_below_exact_nor_one_increment_above(ms in 0i64..10_000_000_000) {
            let billable_ms = billable_seconds(ms) * 1000;
            prop_assert!(billable_ms >= ms);
            prop_assert!(billable_ms - ms < INCREMENT_MILLIS);
            prop_assert_eq!(billable_seconds(ms) % INCREMENT_SECONDS, 0);
        }

        #[test]
        fn cost_is_monotonic_in_time(a in 0i64..1_000_000_000, b in 0i64..1_000_000_000, cents in 0i64..10_000) {
            let r = Rate::per_hour(Decimal::new(cents, 2), Currency::USD).unwrap_or_else(|e| panic!("{e}"));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let t0 = Timestamp::from_millis(0);
            let c_lo = session_cost(t0, Timestamp::from_millis(lo), &r).map(Money::minor).ok();
            let c_hi = session_cost(t0, Timestamp::from_millis(hi), &r).map(Money::minor).ok();
            prop_assert!(c_lo.is_some() && c_hi.is_some());
            prop_assert!(c_lo <= c_hi);
        }
    }

    /// 100,000 pseudo-random sessions (fixed seed) across month ends, the leap day of 2028 and the US/EU
    /// DST changes, each split over every billing period it touches for a random cycle day: the periods'
    /// increments always add up to the whole session's, and each period's share is what the window rule says.
    #[test]
    fn splitting_100k_sessions_over_periods_never_adds_or_loses_an_increment() {
        use super::super::period::Period;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Around: 2027-01-31 (month end), 2027-03-14 / 2027-03-28 (DST), 2028-02-29 (leap day), 2027-12-31.
        let anchors =
            [1_801_353_600_000i64, 1_804_982_400_000, 1_806_192_000_000, 1_835_395_200_000, 1_830_211_200_000];
        let mut sessions = 0;
        let mut split = 0;
        for i in 0..100_000u64 {
            let anchor = anchors[(i % 5) as usize];
            let start = Timestamp::from_millis(anchor - 3 * 86_400_000 + (next() % (6 * 86_400_000)) as i64);
            // Mostly short sessions, some over a month long, some exactly on increment boundaries.
            let len = match next() % 4 {
                0 => (next() % 3_600_000) as i64,
                1 => ((next() % 200) * 900_000) as i64,
                2 => (next() % (5 * 86_400_000)) as i64,
                _ => (next() % (70 * 86_400_000)) as i64,
            };
            let open = next() % 10 == 0;
            let end = start.plus_millis(len);
            let (ended, now) = if open { (None, end) } else { (Some(end), end.plus_millis(3_600_000)) };
            let cycle = (next() % 28) as u32 + 1;
            let whole = increments(len);
            let mut p = Period::containing(start, cycle).unwrap_or_else(|e| panic!("{e}"));
            let mut sum = 0;
            let mut periods = 0;
            while p.start() <= end {
                sum += increments_in_window(start, ended, now, p.start(), p.end());
                periods += 1;
                p = p.next();
            }
            assert_eq!(sum, whole, "session {i}: start {start:?} len {len} cycle {cycle}");
            sessions += 1;
            if periods > 1 {
                split += 1;
            }
        }
        assert_eq!(sessions, 100_000);
        assert!(split > 20_000, "many sessions cross a boundary: {split}");
    }

    #[test]
    fn a_window_bills_the_increments_that_started_in_it() {
        let s = Timestamp::from_millis(0);
        let end = Some(Timestamp::from_millis(40 * MIN));
        let w = |from: i64, to: i64| {
            increments_in_window(
                s,
                end,
                Timestamp::from_millis(i64::MAX / 2),
                Timestamp::from_millis(from),
                Timestamp::from_millis(to),
            )
        };
        // 40 min = 3 increments starting at 0, 15, 30 min.
        assert_eq!(w(0, 60 * MIN), 3);
        assert_eq!(w(0, 15 * MIN), 1);
        assert_eq!(w(15 * MIN, 30 * MIN), 1);
        assert_eq!(w(29 * MIN, 31 * MIN), 1, "the third starts at 30:00");
        assert_eq!(w(31 * MIN, 99 * MIN), 0, "nothing starts after 30:00");
        assert_eq!(w(-60 * MIN, 0), 0);
        // Still running at 20 min: two increments have started.
        assert_eq!(
            increments_in_window(s, None, Timestamp::from_millis(20 * MIN), s, Timestamp::from_millis(99 * MIN)),
            2
        );
        assert_eq!(increments_in_window(s, Some(s), s, s, Timestamp::from_millis(MIN)), 0, "zero time bills nothing");
    }

    #[test]
    fn lines_group_per_workspace_and_rate_and_round_once() {
        let fact = |w: &str, from_min: i64, mins: i64, r: &str| UsageFact {
            workspace: w.into(),
            started_at: Timestamp::from_millis(from_min * MIN),
            ended_at: Some(Timestamp::from_millis((from_min + mins) * MIN)),
            rate: rate(r),
        };
        // Three 1-increment sessions at 0.15/h: each alone would round 0.0375 up to 0.04 (0.12 in all);
        // as one line they are 3 × 0.0375 = 0.1125 → 0.11, rounded once.
        let facts = vec![
            fact("ws-a", 0, 5, "0.15"),
            fact("ws-a", 60, 5, "0.15"),
            fact("ws-a", 120, 5, "0.15"),
            fact("ws-a", 180, 20, "0.30"),
            fact("ws-b", 0, 60, "0.15"),
        ];
        let lines = window_lines(
            &facts,
            Timestamp::from_millis(0),
            Timestamp::from_millis(10_000 * MIN),
            Timestamp::from_millis(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, String, i64, i64)> =
            lines.iter().map(|l| (l.workspace.as_str(), l.rate.to_string(), l.increments, l.amount.minor())).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!((got[0].0, got[0].2, got[0].3), ("ws-a", 3, 11));
        assert_eq!((got[1].0, got[1].2, got[1].3), ("ws-a", 2, 15), "0.30/h × 30 min");
        assert_eq!((got[2].0, got[2].2, got[2].3), ("ws-b", 4, 15));
        assert_eq!(lines[0].sessions, vec![(0, 1), (1, 1), (2, 1)]);
        assert_eq!(lines_total(&lines, Currency::USD).map(Money::minor), Ok(41), "total = sum of lines");
    }

    #[test]
    fn subscriptions_prorate_by_time_rounding_once() {
        let month = 30 * 86_400_000;
        assert_eq!(prorated(1_500, month, month), 1_500, "a whole period is the whole price");
        assert_eq!(prorated(1_500, month / 2, month), 750);
        assert_eq!(prorated(1_000, month / 3, month), 333);
        assert_eq!(prorated(1_000, 2 * month / 3, month), 667, "half-up");
        assert_eq!(prorated(1_500, 0, month), 0);
        assert_eq!(prorated(1_500, 2 * month, month), 1_500, "never more than the price");
        let t = |ms: i64| Timestamp::from_millis(ms);
        assert_eq!(overlap_ms(t(10), None, t(0), t(100)), 90);
        assert_eq!(overlap_ms(t(10), Some(t(50)), t(20), t(100)), 30);
        assert_eq!(overlap_ms(t(200), None, t(0), t(100)), 0);
    }
}
