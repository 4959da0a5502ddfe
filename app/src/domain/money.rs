//! Money in integer minor units with its currency, and hourly rates as exact decimals.
//!
//! There is exactly one place where a decimal amount becomes money: [`Money::round_half_up`].

use std::fmt;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The currencies a storefront can sell in. All have two minor digits (cents, pence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    USD,
    EUR,
    GBP,
}

impl Currency {
    pub const ALL: [Currency; 3] = [Currency::USD, Currency::EUR, Currency::GBP];

    pub const fn code(self) -> &'static str {
        match self {
            Currency::USD => "USD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
        }
    }

    pub const fn symbol(self) -> &'static str {
        match self {
            Currency::USD => "$",
            Currency::EUR => "€",
            Currency::GBP => "£",
        }
    }

    /// Number of digits after the decimal point in this currency's minor unit.
    pub const fn minor_digits(self) -> u32 {
        2
    }

    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code.trim().to_ascii_uppercase().as_str() {
            "USD" => Ok(Currency::USD),
            "EUR" => Ok(Currency::EUR),
            "GBP" => Ok(Currency::GBP),
            _ => Err(MoneyError::UnknownCurrency),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency")]
    UnknownCurrency,
    #[error("amounts in different currencies cannot be combined")]
    CurrencyMismatch,
    #[error("amount out of range")]
    Overflow,
    #[error("an amount is written like 49.00")]
    Invalid,
    #[error("a rate must be a non-negative amount with at most 6 decimal places")]
    InvalidRate,
}

/// An amount of money: an integer count of the currency's minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    pub const fn minor(self) -> i64 {
        self.minor
    }

    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// THE rounding function: an exact decimal amount in major units (e.g. dollars) to money, rounding half
    /// away from zero to the currency's minor unit. Every stored or displayed amount passes through here once.
    pub fn round_half_up(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let minor = amount
            .round_dp_with_strategy(currency.minor_digits(), RoundingStrategy::MidpointAwayFromZero)
            .checked_mul(Decimal::from(10_i64.pow(currency.minor_digits())))
            .ok_or(MoneyError::Overflow)?
            .to_i64()
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, currency })
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        let minor = self.minor.checked_add(other.minor).ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    /// An amount typed by a person ("49", "49.5", "49.00"): digits with at most the currency's minor
    /// digits after the point. Exact, so nothing is rounded; anything else is refused.
    pub fn parse_major(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let (negative, s) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = currency.minor_digits() as usize;
        let ok = !whole.is_empty()
            && whole.len() <= 12
            && frac.len() <= digits
            && (s.contains('.') <= !frac.is_empty())
            && whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
        if !ok {
            return Err(MoneyError::Invalid);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        let frac: i64 =
            if frac.is_empty() { 0 } else { format!("{frac:0<digits$}").parse().map_err(|_| MoneyError::Invalid)? };
        let minor = whole
            .checked_mul(10_i64.pow(currency.minor_digits()))
            .and_then(|w| w.checked_add(frac))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor: if negative { -minor } else { minor }, currency })
    }

    /// The amount in major units as an exact decimal (for display and CSV, never for arithmetic on money).
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.minor, self.currency.minor_digits())
    }
}

impl Money {
    /// The amount as a chart axis reads it: a whole amount without its minor digits ("$20"), any other
    /// exactly as [`Display`](fmt::Display) writes it ("$0.50"). Same symbol, sign and digits: one format.
    pub fn compact(self) -> String {
        self.write(true)
    }

    /// Whether the amount is a whole number of major units (e.g. $20.00).
    pub const fn is_whole(self) -> bool {
        self.minor % 10_i64.pow(self.currency.minor_digits()) == 0
    }

    /// The one place money becomes text: sign, currency symbol, major units, then the minor digits (left
    /// out only when `drop_whole_cents` and there are none).
    fn write(self, drop_whole_cents: bool) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let scale = 10_u64.pow(self.currency.minor_digits());
        let symbol = self.currency.symbol();
        if drop_whole_cents && abs.is_multiple_of(scale) {
            return format!("{sign}{symbol}{}", abs / scale);
        }
        let width = self.currency.minor_digits() as usize;
        format!("{sign}{symbol}{}.{:0width$}", abs / scale, abs % scale)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.write(false))
    }
}

/// A price per hour of running time, exact (e.g. 0.15 USD/h). Kept as a decimal because rates may carry
/// more precision than the currency's minor unit; only the final amount is rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rate {
    per_hour: Decimal,
    currency: Currency,
}

impl Rate {
    pub const MAX_SCALE: u32 = 6;

    pub fn per_hour(per_hour: Decimal, currency: Currency) -> Result<Rate, MoneyError> {
        if per_hour.is_sign_negative() || per_hour.normalize().scale() > Self::MAX_SCALE {
            return Err(MoneyError::InvalidRate);
        }
        Ok(Rate { per_hour: per_hour.normalize(), currency })
    }

    /// Parses a rate written as a plain decimal ("0.15"). Exponents, signs and separators are refused.
    pub fn parse(text: &str, currency: Currency) -> Result<Rate, MoneyError> {
        let t = text.trim();
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(MoneyError::InvalidRate);
        }
        let d: Decimal = t.parse().map_err(|_| MoneyError::InvalidRate)?;
        Rate::per_hour(d, currency)
    }

    pub const fn amount_per_hour(&self) -> Decimal {
        self.per_hour
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // At least the currency's minor digits ("0.20"), more only when the rate really has them.
        let digits = self.per_hour.scale().max(self.currency.minor_digits());
        write!(f, "{}{:.*}/h", self.currency.symbol(), digits as usize, self.per_hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_else(|_| panic!("bad decimal {s}"))
    }

    #[test]
    fn typed_amounts_parse_exactly_or_not_at_all() {
        let usd = Currency::USD;
        for (text, minor) in [("49", 4900), ("49.5", 4950), ("49.05", 4905), ("0", 0), ("-3.10", -310)] {
            assert_eq!(Money::parse_major(text, usd), Ok(Money::from_minor(minor, usd)), "{text}");
        }
        for bad in ["", ".", "49.", ".5", "49.001", "4 9", "1e3", "+5", "--1", "49,00", "9999999999999"] {
            assert!(Money::parse_major(bad, usd).is_err(), "{bad}");
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_minor_unit() {
        let usd = Currency::USD;
        assert_eq!(Money::round_half_up(d("0.005"), usd), Ok(Money::from_minor(1, usd)));
        assert_eq!(Money::round_half_up(d("0.0049999"), usd), Ok(Money::from_minor(0, usd)));
        assert_eq!(Money::round_half_up(d("0.125"), usd), Ok(Money::from_minor(13, usd)));
        assert_eq!(Money::round_half_up(d("-0.125"), usd), Ok(Money::from_minor(-13, usd)));
        assert_eq!(Money::round_half_up(d("12.34"), usd), Ok(Money::from_minor(1234, usd)));
    }

    #[test]
    fn money_displays_with_symbol_and_two_digits() {
        assert_eq!(Money::from_minor(5, Currency::USD).to_string(), "$0.05");
        assert_eq!(Money::from_minor(123_456, Currency::EUR).to_string(), "€1234.56");
        assert_eq!(Money::from_minor(-250, Currency::GBP).to_string(), "-£2.50");
    }

    #[test]
    fn compact_money_drops_only_zero_minor_digits() {
        assert_eq!(Money::from_minor(2000, Currency::USD).compact(), "$20");
        assert_eq!(Money::from_minor(0, Currency::EUR).compact(), "€0");
        assert_eq!(Money::from_minor(50, Currency::GBP).compact(), "£0.50");
        assert_eq!(Money::from_minor(-300, Currency::USD).compact(), "-$3");
        assert_eq!(Money::from_minor(-305, Currency::USD).compact(), "-$3.05");
        assert!(Money::from_minor(-300, Currency::USD).is_whole() && !Money::from_minor(1, Currency::USD).is_whole());
    }

    #[test]
    fn adding_different_currencies_is_refused() {
        let a = Money::from_minor(1, Currency::USD);
        let b = Money::from_minor(1, Currency::EUR);
        assert_eq!(a.checked_add(b), Err(MoneyError::CurrencyMismatch));
        assert_eq!(a.checked_add(a), Ok(Money::from_minor(2, Currency::USD)));
        assert_eq!(Money::from_minor(i64::MAX, Currency::USD).checked_add(a), Err(MoneyError::Overflow));
    }

    #[test]
    fn rates_are_parsed_strictly() {
        assert!(Rate::parse("0.15", Currency::USD).is_ok());
        assert!(Rate::parse("0.1234567", Currency::USD).is_err());
        assert!(Rate::parse("-1", Currency::USD).is_err());
        assert!(Rate::parse("1e3", Currency::USD).is_err());
        assert!(Rate::parse("", Currency::USD).is_err());
        assert!(Rate::parse("0.20", Currency::USD).map(|r| r.to_string()) == Ok("$0.20/h".into()));
        assert!(Rate::parse("0.125", Currency::USD).map(|r| r.to_string()) == Ok("$0.125/h".into()));
    }
}
