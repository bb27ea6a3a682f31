//! A circuit breaker per partner, free of I/O and clocks (the caller passes
//! `now`), so its rules are unit-tested: closed until `failures` calls in a
//! row fail, then open (every call skipped at once) for `open_for`, then
//! half-open: one probe call at a time; a probe that succeeds closes it, one
//! that fails opens it again.

use std::time::{Duration, Instant};

/// The breaker's state, as its gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through.
    Closed,
    /// One probe may go through.
    HalfOpen,
    /// Calls are skipped.
    Open,
}

impl State {
    /// The metric label and the gauge's value (0 closed, 1 half-open, 2 open).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half-open",
            State::Open => "open",
        }
    }

    /// The gauge's value.
    pub fn gauge(self) -> i64 {
        match self {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        }
    }
}

/// What the breaker lets a call do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Call,
    /// Go ahead as the half-open breaker's probe: its result decides.
    Probe,
    /// Skip the partner.
    Skip,
}

/// The breaker of one partner.
#[derive(Debug)]
pub struct Breaker {
    /// Consecutive failures that open it.
    failures_to_open: u32,
    /// How long it stays open.
    open_for: Duration,
    /// Where it stands.
    state: State,
    /// Consecutive failures while closed.
    failures: u32,
    /// When an open breaker turns half-open.
    reopens_at: Option<Instant>,
    /// Whether the half-open breaker's probe is out.
    probing: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(failures_to_open: u32, open_for: Duration) -> Breaker {
        Breaker {
            failures_to_open: failures_to_open.max(1),
            open_for,
            state: State::Closed,
            failures: 0,
            reopens_at: None,
            probing: false,
        }
    }

    /// Its state as last updated (without looking at the clock).
    pub fn last_state(&self) -> State {
        self.state
    }

    /// Its state at `now` (an open breaker whose time is up is half-open).
    pub fn state(&mut self, now: Instant) -> State {
        if self.state == State::Open && self.reopens_at.is_some_and(|at| now >= at) {
            self.state = State::HalfOpen;
            self.probing = false;
        }
        self.state
    }

    /// Whether [`Breaker::admit`] would let a call out at `now`, without
    /// taking the probe.
    pub fn would_admit(&mut self, now: Instant) -> bool {
        match self.state(now) {
            State::Closed => true,
            State::HalfOpen => !self.probing,
            State::Open => false,
        }
    }

    /// Whether a call may go out at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state(now) {
            State::Closed => Admission::Call,
            State::HalfOpen if !self.probing => {
                self.probing = true;
                Admission::Probe
            }
            State::HalfOpen | State::Open => Admission::Skip,
        }
    }

    /// Records how a call (a probe or not) ended.
    pub fn record(&mut self, succeeded: bool, now: Instant) {
        let state = self.state(now);
        match (state, succeeded) {
            (State::Closed, true) => self.failures = 0,
            (State::Closed, false) => {
                self.failures += 1;
                if self.failures >= self.failures_to_open {
                    self.open(now);
                }
            }
            (State::HalfOpen, true) => {
                self.state = State::Closed;
                self.failures = 0;
                self.probing = false;
            }
            (State::HalfOpen, false) => self.open(now),
            // A call admitted before it opened: it changes nothing.
            (State::Open, _) => {}
        }
    }

    /// The probe went out and never came back (its call was dropped): the
    /// breaker may send another.
    pub fn probe_abandoned(&mut self) {
        self.probing = false;
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open;
        self.reopens_at = Some(now + self.open_for);
        self.failures = 0;
        self.probing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Duration = Duration::from_secs(5);

    #[test]
    fn it_opens_after_consecutive_failures_only() {
        let now = Instant::now();
        let mut breaker = Breaker::new(3, OPEN);
        for _ in 0..2 {
            assert_eq!(breaker.admit(now), Admission::Call);
            breaker.record(false, now);
        }
        breaker.record(true, now);
        for _ in 0..2 {
            breaker.record(false, now);
        }
        assert_eq!(breaker.state(now), State::Closed);
        breaker.record(false, now);
        assert_eq!(breaker.state(now), State::Open);
        assert_eq!(breaker.admit(now + OPEN / 2), Admission::Skip);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_result_decides() {
        let now = Instant::now();
        let mut breaker = Breaker::new(1, OPEN);
        breaker.record(false, now);
        let later = now + OPEN;
        assert_eq!(breaker.state(later), State::HalfOpen);
        assert_eq!(breaker.admit(later), Admission::Probe);
        assert_eq!(breaker.admit(later), Admission::Skip);
        breaker.record(false, later);
        assert_eq!(breaker.state(later), State::Open);
        let again = later + OPEN;
        assert_eq!(breaker.admit(again), Admission::Probe);
        breaker.record(true, again);
        assert_eq!(breaker.state(again), State::Closed);
        assert_eq!(breaker.admit(again), Admission::Call);
    }

    #[test]
    fn an_abandoned_probe_lets_another_go() {
        let now = Instant::now();
        let mut breaker = Breaker::new(1, OPEN);
        breaker.record(false, now);
        assert_eq!(breaker.admit(now + OPEN), Admission::Probe);
        breaker.probe_abandoned();
        assert_eq!(breaker.admit(now + OPEN), Admission::Probe);
    }
}
