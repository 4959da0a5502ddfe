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

#[cfg(test)]
mod tests {
    use super::super::money::Currency;
    use super::*;
    use proptest::prelude::*;

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
}
