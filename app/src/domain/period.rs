//! Billing periods: a month starting at 00:00 UTC on the tenant's billing cycle day (1 to 28, so every
//! month has it). Calendar arithmetic is integer-only (days from civil dates), so it compiles for the
//! browser too and needs no time-zone database: periods are UTC, and local clock changes (DST) cannot make
//! a period longer or shorter than its UTC days.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

const MS_PER_DAY: i64 = 86_400_000;

/// A billing period, named by the year and month it starts in (`2026-11`), for a cycle day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 28.
    pub cycle_day: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("a period is written YYYY-MM, e.g. 2026-11")]
    Format,
    #[error("the billing cycle day must be from 1 to 28")]
    CycleDay,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub const fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub const fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

impl Period {
    pub fn new(year: i32, month: u32, cycle_day: u32) -> Result<Period, PeriodError> {
        if !(1..=28).contains(&cycle_day) {
            return Err(PeriodError::CycleDay);
        }
        if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
            return Err(PeriodError::Format);
        }
        Ok(Period { year, month, cycle_day })
    }

    /// `YYYY-MM`.
    pub fn parse(text: &str, cycle_day: u32) -> Result<Period, PeriodError> {
        let (y, m) = text.trim().split_once('-').ok_or(PeriodError::Format)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(PeriodError::Format);
        }
        let year: i32 = y.parse().map_err(|_| PeriodError::Format)?;
        let month: u32 = m.parse().map_err(|_| PeriodError::Format)?;
        Period::new(year, month, cycle_day)
    }

    /// The period an instant falls in.
    pub fn containing(t: Timestamp, cycle_day: u32) -> Result<Period, PeriodError> {
        if !(1..=28).contains(&cycle_day) {
            return Err(PeriodError::CycleDay);
        }
        let (y, m, d) = civil_from_days(t.as_millis().div_euclid(MS_PER_DAY));
        let p = Period { year: y, month: m, cycle_day };
        Ok(if d >= cycle_day { p } else { p.previous() })
    }

    pub const fn start(self) -> Timestamp {
        Timestamp::from_millis(days_from_civil(self.year, self.month, self.cycle_day) * MS_PER_DAY)
    }

    /// Exclusive: the next period's start.
    pub const fn end(self) -> Timestamp {
        self.next().start()
    }

    pub const fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1, cycle_day: self.cycle_day }
        } else {
            Period { year: self.year, month: self.month + 1, cycle_day: self.cycle_day }
        }
    }

    pub const fn previous(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12, cycle_day: self.cycle_day }
        } else {
            Period { year: self.year, month: self.month - 1, cycle_day: self.cycle_day }
        }
    }

    /// `2026-11`: the key stored with what a period bills.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sy, sm, sd) = civil_from_days(self.start().as_millis() / MS_PER_DAY);
        let (ey, em, ed) = civil_from_days(self.end().as_millis() / MS_PER_DAY - 1);
        write!(f, "{sy:04}-{sm:02}-{sd:02} to {ey:04}-{em:02}-{ed:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn civil_dates_round_trip_including_leap_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2, "2000 is a leap year");
        assert_eq!(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1, "1900 is not");
        assert_eq!(days_from_civil(2028, 3, 1) - days_from_civil(2028, 2, 28), 2);
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
    }

    #[test]
    fn periods_run_from_cycle_day_to_cycle_day() {
        let p = Period::parse("2026-11", 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.start(), Timestamp::from_secs(1_793_491_200), "2026-11-01T00:00:00Z");
        assert_eq!(p.end(), Period::parse("2026-12", 1).unwrap_or_else(|e| panic!("{e}")).start());
        assert_eq!(p.to_string(), "2026-11-01 to 2026-11-30");
        let dec = Period::parse("2026-12", 15).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dec.next().key(), "2027-01");
        assert_eq!(dec.to_string(), "2026-12-15 to 2027-01-14");
        let feb = Period::parse("2028-02", 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(feb.start().millis_until(feb.end()), 29 * MS_PER_DAY, "leap February");
        for bad in ["2026-13", "2026-00", "26-11", "2026/11", "2026-1", "", "abcd-ef"] {
            assert!(Period::parse(bad, 1).is_err(), "{bad}");
        }
        assert_eq!(Period::parse("2026-11", 29), Err(PeriodError::CycleDay));
        assert_eq!(Period::parse("2026-11", 0), Err(PeriodError::CycleDay));
    }

    #[test]
    fn an_instant_belongs_to_the_period_that_started_before_it() {
        let p = Period::parse("2026-11", 15).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Period::containing(p.start(), 15), Ok(p));
        assert_eq!(Period::containing(p.end().plus_millis(-1), 15), Ok(p));
        assert_eq!(Period::containing(p.end(), 15), Ok(p.next()));
        assert_eq!(Period::containing(p.start().plus_millis(-1), 15), Ok(p.previous()));
    }

    proptest! {
        #[test]
        fn periods_tile_time_without_gaps(day in 0i64..40_000, cycle in 1u32..=28) {
            prop_assert_eq!(civil_from_days(day).0 as i64 >= 1970, true);
            let (y, m, d) = civil_from_days(day);
            prop_assert_eq!(days_from_civil(y, m, d), day);
            let t = Timestamp::from_millis(day * MS_PER_DAY + 12_345);
            let p = Period::containing(t, cycle).unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(p.start() <= t && t < p.end());
            prop_assert_eq!(p.next().start(), p.end());
            prop_assert_eq!(p.next().previous(), p);
        }
    }
}
