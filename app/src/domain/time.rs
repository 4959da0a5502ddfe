//! Instants as integer milliseconds since the Unix epoch (UTC). Integers keep billing exact and serialise the
//! same way on the server and in the browser.

use serde::{Deserialize, Serialize};

/// A UTC instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);

    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Milliseconds from `self` until `later`; zero when `later` is not after `self` (clocks can disagree by a
    /// little, and a negative duration must never bill or display as negative).
    pub const fn millis_until(self, later: Timestamp) -> i64 {
        let d = later.0.saturating_sub(self.0);
        if d < 0 {
            0
        } else {
            d
        }
    }

    pub const fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

/// `HH:MM:SS` for an elapsed time (hours grow past 99 if they must). Used by the live timer and history.
pub fn format_elapsed(elapsed_ms: i64) -> String {
    let secs = elapsed_ms.max(0) / 1000;
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// A duration in whole minutes as people say it: "45 min", "2 h", "1 h 30 min" ("0 min" for none). Charts
/// label their time axes and bars with it.
pub fn format_minutes(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let m = minutes.unsigned_abs();
    match (m / 60, m % 60) {
        (0, min) => format!("{sign}{min} min"),
        (h, 0) => format!("{sign}{h} h"),
        (h, min) => format!("{sign}{h} h {min} min"),
    }
}

/// `YYYY-MM-DD HH:MM UTC`, computed without a date library so the browser shows exactly what the server does.
pub fn format_utc(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, (rem / 60) % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn minutes_read_as_hours_and_minutes() {
        let cases = [(0, "0 min"), (15, "15 min"), (60, "1 h"), (90, "1 h 30 min"), (1500, "25 h"), (-30, "-30 min")];
        for (m, text) in cases {
            assert_eq!(super::format_minutes(m), text);
        }
    }

    #[test]
    fn utc_dates_format_like_a_calendar() {
        assert_eq!(format_utc(Timestamp::from_millis(0)), "1970-01-01 00:00 UTC");
        // 2026-11-25 20:41:12 UTC
        assert_eq!(format_utc(Timestamp::from_secs(1_795_639_272)), "2026-11-25 20:41 UTC");
        // 2024-02-29 (leap day) 12:00 UTC
        assert_eq!(format_utc(Timestamp::from_secs(1_709_208_000)), "2024-02-29 12:00 UTC");
    }

    use super::*;

    #[test]
    fn elapsed_is_never_negative() {
        let a = Timestamp::from_millis(5_000);
        assert_eq!(a.millis_until(Timestamp::from_millis(1_000)), 0);
        assert_eq!(a.millis_until(Timestamp::from_millis(6_500)), 1_500);
    }

    #[test]
    fn elapsed_formats_as_clock() {
        assert_eq!(format_elapsed(0), "00:00:00");
        assert_eq!(format_elapsed(3_723_999), "01:02:03");
        assert_eq!(format_elapsed(100 * 3_600_000), "100:00:00");
        assert_eq!(format_elapsed(-5), "00:00:00");
    }
}
