//! One circuit breaker per target host, as the design notes describe it:
//! CLOSED counts outcomes in a rolling window and opens after
//! `failures` failures among at least `volume` attempts; OPEN refuses
//! attempts (the worker postpones them, uncounted) for `open_for`; then
//! HALF_OPEN lets up to `successes` trial attempts out at a time:
//! `successes` successes close it, one failure opens it again. Time is passed in, so every transition is a
//! plain function call (and unit-tested below).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The breaker's thresholds (`COURIER_WEBHOOK_BREAKER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Failures in the window that open the breaker.
    pub failures: u32,
    /// Attempts the window must hold before it is judged.
    pub volume: u32,
    /// The rolling window.
    pub window: Duration,
    /// How long an open breaker refuses attempts.
    pub open_for: Duration,
    /// Successes in HALF_OPEN that close it.
    pub successes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            failures: 5,
            volume: 10,
            window: Duration::from_secs(60),
            open_for: Duration::from_secs(60),
            successes: 2,
        }
    }
}

/// A breaker's state, as `circuitState` and the metric show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Attempts go through; outcomes are counted.
    Closed,
    /// Attempts are refused until the open period ends.
    Open,
    /// Trial attempts go through.
    HalfOpen,
}

impl State {
    /// The metric's value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

/// One host's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    settings: Settings,
    state: State,
    /// CLOSED: the window's outcomes (when, failed).
    outcomes: VecDeque<(Instant, bool)>,
    /// OPEN: when it may half-open.
    open_until: Option<Instant>,
    /// HALF_OPEN: successes so far.
    trial_successes: u32,
    /// HALF_OPEN: trials let through whose outcome is not in yet (at most
    /// `successes` at once, so a backlog does not hit a recovering host).
    trials_out: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            state: State::Closed,
            outcomes: VecDeque::new(),
            open_until: None,
            trial_successes: 0,
            trials_out: 0,
        }
    }

    /// The current state (an OPEN breaker whose time is up reads HALF_OPEN
    /// only once [`Breaker::allow`] has moved it).
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether an attempt may go out at `now`. An open breaker whose period
    /// has ended turns HALF_OPEN here; the transition is returned.
    pub fn allow(&mut self, now: Instant) -> (bool, Option<State>) {
        match self.state {
            State::Closed => (true, None),
            State::HalfOpen => (self.trial(), None),
            State::Open if self.open_until.is_some_and(|until| now >= until) => {
                self.state = State::HalfOpen;
                self.trial_successes = 0;
                self.trials_out = 0;
                self.open_until = None;
                (self.trial(), Some(State::HalfOpen))
            }
            State::Open => (false, None),
        }
    }

    /// Lets one more trial out, if fewer than `successes` are out.
    fn trial(&mut self) -> bool {
        let allowed = self.trials_out < self.settings.successes;
        if allowed {
            self.trials_out += 1;
        }
        allowed
    }

    /// Records an attempt's outcome at `now`; returns the new state when it changed.
    pub fn record(&mut self, now: Instant, success: bool) -> Option<State> {
        if self.state == State::HalfOpen {
            self.trials_out = self.trials_out.saturating_sub(1);
        }
        match self.state {
            State::Closed => {
                self.outcomes.push_back((now, !success));
                while self.outcomes.front().is_some_and(|(t, _)| now.duration_since(*t) > self.settings.window) {
                    self.outcomes.pop_front();
                }
                let failures = self.outcomes.iter().filter(|(_, failed)| *failed).count();
                let volume = self.outcomes.len();
                if volume >= self.settings.volume as usize && failures >= self.settings.failures as usize {
                    self.open(now);
                    return Some(State::Open);
                }
                None
            }
            State::HalfOpen if success => {
                self.trial_successes += 1;
                if self.trial_successes >= self.settings.successes {
                    self.state = State::Closed;
                    self.outcomes.clear();
                    return Some(State::Closed);
                }
                None
            }
            State::HalfOpen => {
                self.open(now);
                Some(State::Open)
            }
            // An attempt let through before the breaker opened: its outcome
            // changes nothing.
            State::Open => None,
        }
    }

    /// When an open breaker lets attempts through again.
    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open;
        self.open_until = Some(now + self.settings.open_for);
        self.outcomes.clear();
        self.trial_successes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::default()
    }

    #[test]
    fn failures_open_it_only_with_enough_volume_in_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::new(settings());
        // Nine failures: not enough volume yet.
        for i in 0..9 {
            assert_eq!(b.record(t0 + Duration::from_secs(i), false), None);
        }
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.record(t0 + Duration::from_secs(9), false), Some(State::Open));
        assert_eq!(b.allow(t0 + Duration::from_secs(10)), (false, None));
    }

    #[test]
    fn a_mostly_healthy_host_stays_closed() {
        let t0 = Instant::now();
        let mut b = Breaker::new(settings());
        // 4 failures among 20 attempts: under the failure threshold.
        for i in 0..20 {
            assert_eq!(b.record(t0 + Duration::from_secs(i), i % 5 != 0), None);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn outcomes_older_than_the_window_are_forgotten() {
        let t0 = Instant::now();
        let mut b = Breaker::new(settings());
        for i in 0..5 {
            b.record(t0 + Duration::from_secs(i), false);
        }
        // Seventy seconds later the old failures have left the window.
        for i in 0..10 {
            assert_eq!(b.record(t0 + Duration::from_secs(70 + i), true), None);
        }
        assert_eq!(b.state(), State::Closed);
    }

    fn opened(t0: Instant) -> Breaker {
        let mut b = Breaker::new(settings());
        for i in 0..10 {
            b.record(t0 + Duration::from_millis(i), false);
        }
        assert_eq!(b.state(), State::Open);
        b
    }

    #[test]
    fn it_half_opens_after_the_open_period_and_closes_after_two_successes() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        assert_eq!(b.allow(t0 + Duration::from_secs(59)), (false, None));
        let later = t0 + Duration::from_secs(61);
        assert_eq!(b.allow(later), (true, Some(State::HalfOpen)));
        assert_eq!(b.allow(later), (true, None));
        // Two trials are out: a third waits for an outcome.
        assert_eq!(b.allow(later), (false, None));
        assert_eq!(b.record(later, true), None);
        assert_eq!(b.allow(later), (true, None));
        assert_eq!(b.record(later, true), Some(State::Closed));
        assert_eq!(b.state(), State::Closed);
        // Closed afresh: one failure does not reopen it.
        assert_eq!(b.record(later, false), None);
    }

    #[test]
    fn a_failed_trial_opens_it_again_for_a_full_period() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let trial = t0 + Duration::from_secs(61);
        assert_eq!(b.allow(trial), (true, Some(State::HalfOpen)));
        assert_eq!(b.record(trial, true), None);
        assert_eq!(b.record(trial, false), Some(State::Open));
        assert_eq!(b.allow(trial + Duration::from_secs(59)), (false, None));
        assert_eq!(b.allow(trial + Duration::from_secs(60)), (true, Some(State::HalfOpen)));
    }

    #[test]
    fn outcomes_arriving_while_open_change_nothing() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        assert_eq!(b.record(t0, true), None);
        assert_eq!(b.record(t0, false), None);
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.open_until(), Some(t0 + Duration::from_millis(9) + Duration::from_secs(60)));
    }
}
