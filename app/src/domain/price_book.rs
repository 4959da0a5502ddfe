//! The platform's wholesale price book: what a plan costs a reseller per hour, effective-dated, as a base
//! book with per-tier and per-storefront overrides. Pure: the rows come from the central database, the
//! instant from the caller's clock.
//!
//! Rules (one place, used by session starts, the reseller's and the admin's pages alike):
//! - **Most specific wins.** For a storefront of tier *T*, a plan's rate at instant *t* is its own override
//!   in force at *t*, else tier *T*'s, else the base book's. "In force" is the latest row of that scope with
//!   `effective_at <= t`; a row without a price ends that scope's override (the wider scope applies again).
//! - **Never backwards.** A change is scheduled at or after the moment it is made ([`parse_effective`]
//!   refuses the past), so a rate resolved for an instant that has passed can never change afterwards. A
//!   usage session freezes the rate resolved at its start; running and past sessions keep theirs.
//! - **The retail floor rises with it.** A storefront's retail price is never below the wholesale price in
//!   force ([`retail_floor`]): when a new wholesale price passes a reseller's retail price, sessions that
//!   start from then bill at least the new wholesale price (a zero margin, never a loss), until the reseller
//!   sets their own price. The reseller is told in advance (email, `/manage/billing`, `/manage/catalog`).

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ids::TenantId;
use super::money::{Currency, Rate};
use super::period::{civil_from_days, days_from_civil};
use super::plan::PlanCode;
use super::time::Timestamp;

/// The largest wholesale price per hour the book accepts, in the storefront's currency: a typo guard (a
/// plan costing more than this an hour is a mistake, not a price).
pub const MAX_PER_HOUR: Decimal = Decimal::ONE_THOUSAND;

/// A reseller tier's name as stored (`standard`, `gold`, `partner-2027`): 1–32 characters of lower-case
/// letters, digits and hyphens, so it is safe in URLs, forms and logs as it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TierName(String);

impl TierName {
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<TierName, PriceBookError> {
        let t = text.trim().to_ascii_lowercase();
        let ok = !t.is_empty()
            && t.len() <= Self::MAX_LEN
            && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !t.starts_with('-')
            && !t.ends_with('-');
        if ok {
            Ok(TierName(t))
        } else {
            Err(PriceBookError::TierName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tier every storefront starts in.
    pub fn standard() -> TierName {
        TierName("standard".to_owned())
    }
}

impl fmt::Display for TierName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom a row of the book prices.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PriceScope {
    /// Every storefront.
    Base,
    /// Storefronts of one reseller tier.
    Tier(TierName),
    /// One storefront.
    Tenant(TenantId),
}

impl PriceScope {
    /// `scope_kind` as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            PriceScope::Base => "base",
            PriceScope::Tier(_) => "tier",
            PriceScope::Tenant(_) => "tenant",
        }
    }

    /// `scope` as stored: empty for the base book.
    pub fn key(&self) -> String {
        match self {
            PriceScope::Base => String::new(),
            PriceScope::Tier(t) => t.as_str().to_owned(),
            PriceScope::Tenant(id) => id.to_string(),
        }
    }

    /// From the stored pair; `None` when it is not one (a corrupt row).
    pub fn from_stored(kind: &str, key: &str) -> Option<PriceScope> {
        match kind {
            "base" if key.is_empty() => Some(PriceScope::Base),
            "tier" => TierName::parse(key).ok().map(PriceScope::Tier),
            "tenant" => key.parse().ok().map(PriceScope::Tenant),
            _ => None,
        }
    }

    /// How specific it is: a storefront's own override beats its tier's, which beats the base book.
    const fn rank(&self) -> u8 {
        match self {
            PriceScope::Tenant(_) => 2,
            PriceScope::Tier(_) => 1,
            PriceScope::Base => 0,
        }
    }

    fn applies_to(&self, tier: &TierName, tenant: TenantId) -> bool {
        match self {
            PriceScope::Base => true,
            PriceScope::Tier(t) => t == tier,
            PriceScope::Tenant(id) => *id == tenant,
        }
    }
}

impl fmt::Display for PriceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceScope::Base => f.write_str("base"),
            PriceScope::Tier(t) => write!(f, "tier {t}"),
            PriceScope::Tenant(id) => write!(f, "tenant {id}"),
        }
    }
}

/// One row of the book: from `effective_at` on, `plan` costs `per_hour` for `scope` (`None`: the scope's
/// override ends; never `None` for the base book).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceEntry {
    pub plan: PlanCode,
    pub scope: PriceScope,
    pub per_hour: Option<Decimal>,
    pub effective_at: Timestamp,
}

/// Who a storefront is, for the book: its id and reseller tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buyer {
    pub tenant: TenantId,
    pub tier: TierName,
}

/// The wholesale price per hour of `plan` for `buyer` at instant `t`, by the rules in the module docs.
/// `None` when the book has no base price for the plan in force at `t` (the book is seeded from the
/// beginning of time, so only a corrupt book answers `None`).
pub fn rate_at(entries: &[PriceEntry], plan: PlanCode, buyer: &Buyer, t: Timestamp) -> Option<Decimal> {
    // The latest row in force per scope that applies, then the most specific scope that has a price.
    let mut in_force: [Option<&PriceEntry>; 3] = [None, None, None];
    for e in entries {
        if e.plan != plan || e.effective_at > t || !e.scope.applies_to(&buyer.tier, buyer.tenant) {
            continue;
        }
        let slot = &mut in_force[usize::from(e.scope.rank())];
        if slot.is_none_or(|s| s.effective_at <= e.effective_at) {
            *slot = Some(e);
        }
    }
    in_force.iter().rev().flatten().find_map(|e| e.per_hour)
}

/// A change to what a storefront will pay for a plan, ahead of time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingChange {
    pub plan: PlanCode,
    pub effective_at: Timestamp,
    pub from: Decimal,
    pub to: Decimal,
}

/// Every change to `buyer`'s wholesale price of any plan that takes effect after `now`, in time order:
/// each instant where some row takes effect and the resolved rate differs from the one just before.
pub fn upcoming(entries: &[PriceEntry], buyer: &Buyer, now: Timestamp) -> Vec<UpcomingChange> {
    let mut out = Vec::new();
    for plan in PlanCode::ALL {
        let mut instants: Vec<Timestamp> = entries
            .iter()
            .filter(|e| e.plan == plan && e.effective_at > now && e.scope.applies_to(&buyer.tier, buyer.tenant))
            .map(|e| e.effective_at)
            .collect();
        instants.sort();
        instants.dedup();
        let mut before = rate_at(entries, plan, buyer, now);
        for at in instants {
            let after = rate_at(entries, plan, buyer, at);
            if let (Some(from), Some(to)) = (before, after) {
                if from != to {
                    out.push(UpcomingChange { plan, effective_at: at, from, to });
                }
            }
            before = after;
        }
    }
    out.sort_by_key(|c| c.effective_at);
    out
}

/// What a storefront charges for an hour of a plan: its own retail price, but never less than the wholesale
/// price in force (the floor rises with the wholesale price; see the module docs).
pub fn retail_floor(retail: Rate, wholesale: Rate) -> Rate {
    if wholesale.amount_per_hour() > retail.amount_per_hour() {
        wholesale
    } else {
        retail
    }
}

/// What a reseller keeps an hour after a wholesale change, at a retail price: the margin against the new
/// price, and whether the retail price is below it (then the floor rises and the margin is zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginAfter {
    pub margin_per_hour: Decimal,
    pub below_wholesale: bool,
}

pub fn margin_after(retail: Decimal, new_wholesale: Decimal) -> MarginAfter {
    MarginAfter {
        margin_per_hour: (retail - new_wholesale).max(Decimal::ZERO),
        below_wholesale: retail < new_wholesale,
    }
}

/// One upcoming change as the reseller sees it (`/manage/billing`, `/manage/catalog`) and the admin sees
/// the storefronts it affects: against the storefront's retail price today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingPrice {
    pub plan: PlanCode,
    /// The plan as the storefront names it.
    pub plan_name: String,
    pub effective_at: Timestamp,
    pub from: Rate,
    pub to: Rate,
    pub retail: Rate,
    pub margin: MarginAfter,
}

impl UpcomingPrice {
    /// The margin an hour at today's retail price after the change (zero when the floor rises).
    pub fn margin_rate(&self) -> Rate {
        Rate::per_hour(self.margin.margin_per_hour, self.retail.currency()).unwrap_or(self.retail)
    }
}

/// Why an admin's price change was refused; each message says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceBookError {
    #[error("A wholesale price is an amount per hour like 0.25, from 0 to 1000, with at most 6 decimals.")]
    Rate,
    #[error("The base book always has a price: enter one.")]
    BaseNeedsPrice,
    #[error("Write the effective time as YYYY-MM-DDTHH:MM (UTC), or leave it empty for now.")]
    When,
    #[error("The effective time is in the past; a change can only apply from now on.")]
    InThePast,
    #[error("A tier name is 1 to 32 lower-case letters, digits or hyphens.")]
    TierName,
    #[error("Choose the base book, a tier or a storefront.")]
    Scope,
}

/// A wholesale price typed by the admin: empty is `None` (ends an override), else a plain decimal from 0 to
/// [`MAX_PER_HOUR`]. Parsed as a [`Rate`] so it follows the same rules as every other rate.
pub fn parse_price(text: &str) -> Result<Option<Decimal>, PriceBookError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let rate = Rate::parse(text, Currency::USD).map_err(|_| PriceBookError::Rate)?;
    if rate.amount_per_hour() > MAX_PER_HOUR {
        return Err(PriceBookError::Rate);
    }
    Ok(Some(rate.amount_per_hour()))
}

/// When a change takes effect, as typed (`YYYY-MM-DDTHH:MM`, optionally `:SS`, a space also accepted, UTC):
/// never before `now` (history is not rewritten); empty means `now`.
pub fn parse_effective(text: &str, now: Timestamp) -> Result<Timestamp, PriceBookError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(now);
    }
    let at = parse_utc(t).ok_or(PriceBookError::When)?;
    if at < now {
        return Err(PriceBookError::InThePast);
    }
    Ok(at)
}

fn parse_utc(t: &str) -> Option<Timestamp> {
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = t.split_once(['T', ' '])?;
    let num = |s: &str, len: usize| -> Option<u32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    if d.next().is_some() {
        return None;
    }
    let mut c = time.split(':');
    let (h, min) = (num(c.next()?, 2)?, num(c.next()?, 2)?);
    let s = match c.next() {
        Some(s) => num(s, 2)?,
        None => 0,
    };
    if c.next().is_some() || !(1..=12).contains(&m) || day == 0 || h > 23 || min > 59 || s > 59 {
        return None;
    }
    let y = i32::try_from(y).ok()?;
    let days = days_from_civil(y, m, day);
    // Refuses 2026-02-31 and the like: the day must survive the round trip.
    if civil_from_days(days) != (y, m, day) {
        return None;
    }
    Some(Timestamp::from_secs(days * 86_400 + i64::from(h * 3600 + min * 60 + s)))
}

/// A book price as text: at least two decimals ("0.10"), more only when it has them ("0.125").
pub fn price_text(per_hour: Decimal) -> String {
    let d = per_hour.normalize();
    format!("{:.*}", d.scale().max(2) as usize, d)
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC), the form [`parse_effective`] reads: a `datetime-local` input's value.
pub fn format_input(t: Timestamp) -> String {
    let secs = t.as_millis().div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, (rem / 60) % 60, rem % 60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::plan::{Family, Tier};

    const DEV: PlanCode = PlanCode { family: Family::Developer, tier: Tier::Basic };
    const OFFICE: PlanCode = PlanCode { family: Family::Business, tier: Tier::Basic };

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn row(plan: PlanCode, scope: PriceScope, per_hour: Option<&str>, effective_at: i64) -> PriceEntry {
        PriceEntry { plan, scope, per_hour: per_hour.map(d), effective_at: at(effective_at) }
    }

    fn gold() -> TierName {
        TierName::parse("gold").unwrap()
    }

    fn buyer(tenant: TenantId, tier: &str) -> Buyer {
        Buyer { tenant, tier: TierName::parse(tier).unwrap() }
    }

    #[test]
    fn the_latest_row_in_force_of_the_most_specific_scope_wins() {
        let me = TenantId::new_random();
        let other = TenantId::new_random();
        let book = vec![
            row(DEV, PriceScope::Base, Some("0.10"), 0),
            row(DEV, PriceScope::Base, Some("0.12"), 1_000),
            row(DEV, PriceScope::Tier(gold()), Some("0.09"), 500),
            row(DEV, PriceScope::Tenant(me), Some("0.08"), 2_000),
            row(DEV, PriceScope::Tenant(other), Some("0.01"), 0),
            row(OFFICE, PriceScope::Base, Some("0.14"), 0),
        ];
        let standard = buyer(me, "standard");
        assert_eq!(rate_at(&book, DEV, &standard, at(999)), Some(d("0.10")));
        assert_eq!(rate_at(&book, DEV, &standard, at(1_000)), Some(d("0.12")), "from its effective instant");
        assert_eq!(rate_at(&book, DEV, &buyer(me, "gold"), at(1_500)), Some(d("0.09")), "the tier beats the base");
        assert_eq!(rate_at(&book, DEV, &buyer(me, "gold"), at(2_000)), Some(d("0.08")), "the tenant beats both");
        assert_eq!(rate_at(&book, DEV, &standard, at(5_000)), Some(d("0.08")));
        assert_eq!(rate_at(&book, OFFICE, &standard, at(5_000)), Some(d("0.14")), "other plans untouched");
        assert_eq!(rate_at(&book, DEV, &buyer(TenantId::new_random(), "silver"), at(5_000)), Some(d("0.12")));
    }

    #[test]
    fn an_override_without_a_price_hands_back_to_the_wider_scope() {
        let me = TenantId::new_random();
        let book = vec![
            row(DEV, PriceScope::Base, Some("0.10"), 0),
            row(DEV, PriceScope::Tenant(me), Some("0.05"), 100),
            row(DEV, PriceScope::Tenant(me), None, 200),
        ];
        let b = buyer(me, "standard");
        assert_eq!(rate_at(&book, DEV, &b, at(150)), Some(d("0.05")));
        assert_eq!(rate_at(&book, DEV, &b, at(250)), Some(d("0.10")));
        assert_eq!(rate_at(&[], DEV, &b, at(250)), None, "no book, no price");
    }

    #[test]
    fn upcoming_changes_are_the_instants_where_the_resolved_rate_moves() {
        let me = TenantId::new_random();
        let book = vec![
            row(DEV, PriceScope::Base, Some("0.10"), 0),
            row(DEV, PriceScope::Base, Some("0.12"), 1_000),
            // Hidden behind the storefront's own override from 1 500: no change for it at 3 000.
            row(DEV, PriceScope::Tenant(me), Some("0.20"), 1_500),
            row(DEV, PriceScope::Base, Some("0.30"), 3_000),
            // Already in force: not upcoming.
            row(OFFICE, PriceScope::Base, Some("0.14"), 0),
            // The same price again: no change.
            row(OFFICE, PriceScope::Tier(gold()), Some("0.14"), 2_000),
        ];
        let changes = upcoming(&book, &buyer(me, "gold"), at(500));
        assert_eq!(
            changes,
            vec![
                UpcomingChange { plan: DEV, effective_at: at(1_000), from: d("0.10"), to: d("0.12") },
                UpcomingChange { plan: DEV, effective_at: at(1_500), from: d("0.12"), to: d("0.20") },
            ]
        );
        assert!(upcoming(&book, &buyer(me, "gold"), at(3_000)).is_empty(), "nothing after the last change");
        let other = upcoming(&book, &buyer(TenantId::new_random(), "standard"), at(500));
        assert_eq!(other.iter().map(|c| c.effective_at).collect::<Vec<_>>(), vec![at(1_000), at(3_000)]);
    }

    #[test]
    fn the_retail_floor_rises_with_the_wholesale_price_and_the_margin_never_goes_negative() {
        let usd = Currency::USD;
        let r = |s: &str| Rate::parse(s, usd).unwrap();
        assert_eq!(retail_floor(r("0.15"), r("0.10")), r("0.15"));
        assert_eq!(retail_floor(r("0.15"), r("0.20")), r("0.20"));
        assert_eq!(
            margin_after(d("0.15"), d("0.12")),
            MarginAfter { margin_per_hour: d("0.03"), below_wholesale: false }
        );
        assert_eq!(margin_after(d("0.15"), d("0.20")), MarginAfter { margin_per_hour: d("0"), below_wholesale: true });
        assert!(!margin_after(d("0.20"), d("0.20")).below_wholesale, "equal is not below");
    }

    #[test]
    fn prices_parse_exactly_within_bounds_or_not_at_all() {
        assert_eq!(parse_price("0.25"), Ok(Some(d("0.25"))));
        assert_eq!(parse_price(" 1000 "), Ok(Some(d("1000"))));
        assert_eq!(parse_price(""), Ok(None));
        assert_eq!(parse_price("0"), Ok(Some(d("0"))));
        assert_eq!(
            (price_text(d("0.1")), price_text(d("0.125")), price_text(d("2"))),
            ("0.10".into(), "0.125".into(), "2.00".into())
        );
        for bad in ["-0.10", "1000.01", "1e3", "0,25", "abc", "0.1234567", "$1"] {
            assert_eq!(parse_price(bad), Err(PriceBookError::Rate), "{bad}");
        }
    }

    #[test]
    fn effective_times_are_utc_never_in_the_past() {
        let now = parse_utc("2026-12-06T10:00:00").unwrap();
        assert_eq!(now, Timestamp::from_secs(days_from_civil(2026, 12, 6) * 86_400 + 36_000));
        assert_eq!(parse_effective("", now), Ok(now));
        assert_eq!(parse_effective("2026-12-07T00:00", now), Ok(parse_utc("2026-12-07 00:00:00").unwrap()));
        assert_eq!(parse_effective("2026-12-06T10:00:00Z", now), Ok(now), "now itself is allowed");
        assert_eq!(parse_effective("2026-12-06T09:59", now), Err(PriceBookError::InThePast));
        for bad in
            ["tomorrow", "2026-13-01T00:00", "2026-02-30T00:00", "2026-12-07", "2026-12-07T24:00", "2026-12-07T1:00"]
        {
            assert_eq!(parse_effective(bad, now), Err(PriceBookError::When), "{bad}");
        }
        assert_eq!(parse_utc(&format_input(now.plus_millis(61_000))), Some(now.plus_millis(61_000)));
        assert_eq!(format_input(now), "2026-12-06T10:00:00");
    }

    #[test]
    fn tier_names_and_scopes_round_trip_as_stored() {
        assert_eq!(TierName::parse(" Gold ").unwrap().as_str(), "gold");
        for bad in ["", "-x", "x-", "with space", "ümlaut", &"x".repeat(33)] {
            assert!(TierName::parse(bad).is_err(), "{bad}");
        }
        let id = TenantId::new_random();
        for s in [PriceScope::Base, PriceScope::Tier(gold()), PriceScope::Tenant(id)] {
            assert_eq!(PriceScope::from_stored(s.kind(), &s.key()), Some(s));
        }
        assert_eq!(PriceScope::from_stored("base", "x"), None);
        assert_eq!(PriceScope::from_stored("planet", ""), None);
    }

    /// The migration seeds the base book from the plans' seed prices, so nothing changes for anyone until
    /// an admin schedules a price.
    #[test]
    fn the_seeded_base_book_is_the_plans_seed_prices() {
        for sql in [
            include_str!("../../../migrations/central/sqlite/20261206100001_price_book.sql"),
            include_str!("../../../migrations/central/postgres/20261206100001_price_book.sql"),
        ] {
            for code in PlanCode::ALL {
                let seeded = format!("'{code}', 'base', '', '{}', 0", code.spec().wholesale_per_hour);
                assert!(sql.contains(&seeded), "{seeded}");
            }
        }
    }
}
