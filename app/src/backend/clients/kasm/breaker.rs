//! A small circuit breaker for one Kasm server. When Kasm is down or drowning (timeouts, refused
//! connections, 5xx), hammering it with every reconciler tick and every customer click only makes the outage
//! worse and ties up our workers for a full timeout each. After a streak of such failures the client fails
//! fast for a cool-down, then lets ONE trial call through; its outcome closes or re-opens the breaker.
//!
//! Only transient failures count. A business refusal or a 4xx is an answer from a healthy server, so it
//! ends a failure streak just like a success does.
//!
//! The state machine is pure: every method takes "now", so tests drive it with made-up instants.

use std::time::{Duration, Instant};

/// Longest cool-down or window honoured; longer values are clamped (a typo must not park Kasm for a year).
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// How the breaker reacts. `KasmClient::new` uses [`BreakerConfig::default`]; change it with
/// `KasmClient::with_breaker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker. 0 disables the breaker.
    pub failure_threshold: u32,
    /// A streak only counts if it fits in this window: failures spread over hours never open the breaker.
    pub window: Duration,
    /// How long calls fail fast once open, before a trial call is let through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, window: Duration::from_secs(60), cool_down: Duration::from_secs(30) }
    }
}

impl BreakerConfig {
    /// A breaker that never opens.
    pub fn disabled() -> Self {
        Self { failure_threshold: 0, ..Self::default() }
    }
}

/// What the breaker is doing, for metrics and health pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast with `KasmError::CircuitOpen`.
    Open,
    /// The cool-down is over: the next call is a trial (others fail fast until it reports).
    HalfOpen,
}

impl BreakerState {
    /// A stable lower-case name (`closed`, `open`, `half_open`), e.g. for a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed { streak: u32, streak_started: Option<Instant> },
    Open { until: Instant },
    HalfOpen { trial_started: Instant },
}

/// Permission to make one call; hand it back with the outcome. It carries the breaker's generation, so the
/// outcome of a call admitted before a state change (a straggler) cannot flip the new state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    generation: u64,
}

/// A state change worth a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Opened,
    HalfOpened,
    Closed,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    cfg: BreakerConfig,
    state: State,
    /// Bumped on every state change.
    generation: u64,
}

fn later(now: Instant, by: Duration) -> Instant {
    // Unreachable with clamped durations; falling back to `now` merely shortens the cool-down.
    now.checked_add(by).unwrap_or(now)
}

impl Breaker {
    pub(crate) fn new(cfg: BreakerConfig) -> Self {
        let cfg =
            BreakerConfig { window: cfg.window.min(MAX_DURATION), cool_down: cfg.cool_down.min(MAX_DURATION), ..cfg };
        Self { cfg, state: State::Closed { streak: 0, streak_started: None }, generation: 0 }
    }

    pub(crate) fn config(&self) -> BreakerConfig {
        self.cfg
    }

    /// May a call go out now? `None` means fail fast. Also reports a change to half-open.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<(Ticket, Option<Change>)> {
        match self.state {
            State::Closed { .. } => Some((self.ticket(), None)),
            State::Open { until } if now >= until => {
                self.shift(State::HalfOpen { trial_started: now });
                Some((self.ticket(), Some(Change::HalfOpened)))
            }
            State::Open { .. } => None,
            // A trial that never reported (its caller dropped the future) must not wedge the breaker.
            State::HalfOpen { trial_started } if now >= later(trial_started, self.cfg.cool_down) => {
                self.shift(State::HalfOpen { trial_started: now });
                Some((self.ticket(), None))
            }
            State::HalfOpen { .. } => None,
        }
    }

    /// The outcome of an admitted call: `transient_failure` for a timeout, transport error or 5xx.
    pub(crate) fn record(&mut self, ticket: Ticket, transient_failure: bool, now: Instant) -> Option<Change> {
        if ticket.generation != self.generation {
            return None;
        }
        match (self.state, transient_failure) {
            (State::Closed { .. }, false) => {
                self.state = State::Closed { streak: 0, streak_started: None };
                None
            }
            (State::Closed { streak, streak_started }, true) => {
                let (streak, started) = match streak_started {
                    Some(started) if now.saturating_duration_since(started) < self.cfg.window => {
                        (streak.saturating_add(1), started)
                    }
                    _ => (1, now),
                };
                if self.cfg.failure_threshold > 0 && streak >= self.cfg.failure_threshold {
                    self.shift(State::Open { until: later(now, self.cfg.cool_down) });
                    Some(Change::Opened)
                } else {
                    self.state = State::Closed { streak, streak_started: Some(started) };
                    None
                }
            }
            (State::HalfOpen { .. }, false) => {
                self.shift(State::Closed { streak: 0, streak_started: None });
                Some(Change::Closed)
            }
            (State::HalfOpen { .. }, true) => {
                self.shift(State::Open { until: later(now, self.cfg.cool_down) });
                Some(Change::Opened)
            }
            // Opening bumps the generation, so no live ticket can report while open.
            (State::Open { .. }, _) => None,
        }
    }

    /// The state as a caller would experience it now: open past its cool-down reads as half-open.
    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now >= until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How long a caller refused now should wait before its call could be admitted: the rest of the
    /// cool-down while open; while a trial call is out, a moment (its answer decides, and one call's
    /// timeout bounds it); nothing when closed.
    pub(crate) fn retry_in(&self, now: Instant) -> Duration {
        match self.state {
            State::Closed { .. } => Duration::ZERO,
            State::Open { until } => until.saturating_duration_since(now),
            State::HalfOpen { trial_started } => {
                later(trial_started, self.cfg.cool_down).saturating_duration_since(now).min(Duration::from_secs(1))
            }
        }
    }

    fn ticket(&self) -> Ticket {
        Ticket { generation: self.generation }
    }

    fn shift(&mut self, to: State) {
        self.state = to;
        self.generation = self.generation.wrapping_add(1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig { failure_threshold: 3, window: Duration::from_secs(60), cool_down: Duration::from_secs(30) }
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    /// One admitted call with this outcome.
    fn call(b: &mut Breaker, failed: bool, now: Instant) -> Option<Change> {
        let (ticket, _) = b.admit(now).expect("admitted");
        b.record(ticket, failed, now)
    }

    #[test]
    fn a_refused_caller_is_told_how_long_to_wait() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        assert_eq!(b.retry_in(t0), Duration::ZERO);
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        assert!(b.admit(at(t0, 10)).is_none());
        assert_eq!(b.retry_in(at(t0, 10)), Duration::from_secs(20), "the rest of the cool-down");
        // The cool-down is over: one trial goes out; the others wait a moment for its answer.
        assert!(b.admit(at(t0, 30)).is_some());
        assert!(b.admit(at(t0, 30)).is_none());
        assert_eq!(b.retry_in(at(t0, 30)), Duration::from_secs(1));
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_transient_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        assert_eq!(call(&mut b, true, t0), None);
        assert_eq!(call(&mut b, true, at(t0, 1)), None);
        assert_eq!(b.state(at(t0, 1)), BreakerState::Closed);
        assert_eq!(call(&mut b, true, at(t0, 2)), Some(Change::Opened));
        assert_eq!(b.state(at(t0, 2)), BreakerState::Open);
        assert!(b.admit(at(t0, 3)).is_none(), "fails fast while open");
        assert!(b.admit(at(t0, 31)).is_none(), "still inside the cool-down");
    }

    #[test]
    fn a_success_or_a_business_answer_ends_the_streak() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        call(&mut b, true, t0);
        call(&mut b, true, t0);
        call(&mut b, false, t0);
        call(&mut b, true, t0);
        call(&mut b, true, t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        assert_eq!(call(&mut b, true, t0), Some(Change::Opened));
    }

    #[test]
    fn failures_spread_beyond_the_window_never_open_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for minute in 0..10 {
            assert_eq!(call(&mut b, true, at(t0, minute * 61)), None);
        }
        assert_eq!(b.state(at(t0, 700)), BreakerState::Closed);
    }

    #[test]
    fn half_opens_after_the_cool_down_and_a_successful_trial_closes_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        assert_eq!(b.state(at(t0, 30)), BreakerState::HalfOpen, "reads half-open once the cool-down is over");
        let (trial, change) = b.admit(at(t0, 30)).unwrap();
        assert_eq!(change, Some(Change::HalfOpened));
        assert!(b.admit(at(t0, 31)).is_none(), "only one trial at a time");
        assert_eq!(b.record(trial, false, at(t0, 31)), Some(Change::Closed));
        assert_eq!(b.state(at(t0, 31)), BreakerState::Closed);
        assert!(b.admit(at(t0, 31)).is_some());
    }

    #[test]
    fn a_failed_trial_reopens_for_a_full_cool_down() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        assert_eq!(call(&mut b, true, at(t0, 40)), Some(Change::Opened));
        assert!(b.admit(at(t0, 69)).is_none());
        assert!(b.admit(at(t0, 70)).is_some());
    }

    #[test]
    fn a_trial_that_never_reports_does_not_wedge_the_breaker() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        let (_lost, _) = b.admit(at(t0, 30)).unwrap();
        assert!(b.admit(at(t0, 59)).is_none());
        let (trial, _) = b.admit(at(t0, 60)).unwrap();
        assert_eq!(b.record(trial, false, at(t0, 61)), Some(Change::Closed));
    }

    #[test]
    fn stragglers_from_before_a_state_change_are_ignored() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        let (early, _) = b.admit(t0).unwrap();
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        // A slow call admitted while closed answers after the breaker opened: it changes nothing.
        assert_eq!(b.record(early, false, at(t0, 1)), None);
        assert_eq!(b.state(at(t0, 1)), BreakerState::Open);
        let (trial, _) = b.admit(at(t0, 30)).unwrap();
        assert_eq!(b.record(early, true, at(t0, 31)), None);
        assert_eq!(b.record(trial, false, at(t0, 31)), Some(Change::Closed));
    }

    #[test]
    fn a_zero_threshold_disables_the_breaker() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig::disabled());
        for _ in 0..100 {
            assert_eq!(call(&mut b, true, t0), None);
        }
        assert_eq!(b.state(t0), BreakerState::Closed);
    }

    #[test]
    fn absurd_durations_are_clamped() {
        let b = Breaker::new(BreakerConfig { cool_down: Duration::MAX, window: Duration::MAX, failure_threshold: 1 });
        assert_eq!(b.config().cool_down, MAX_DURATION);
        assert_eq!(b.config().window, MAX_DURATION);
        assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
    }
}
