//! Rate limiters shared by every worker (DESIGN §2 `ptest.limiter`, §5 the socket): a governor
//! token bucket per limiter, an optional cap on suites holding it, Retry-After pauses, adaptive
//! rates, and the counts the report shows. Run state like the rest: only the core changes it
//! (through its `Host`, with the core's `now`), suite starts and the socket's `acquire` and
//! `throttled` alike. The buckets read the time from [`CoreClock`], which every call sets to
//! the `now` it is given: the same limiter runs in real time under the driver and in virtual
//! time under the core's tests. Every call is short and never waits.

use std::cell::Cell;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::event::LimiterStats;
use crate::plan::{Limiter, LimiterId, Plan};
pub(crate) use crate::queue::limits::{Across, Declared};

/// How long without a 429 before an adaptive limiter climbs back, and by how much.
const ADAPT_PERIOD: Duration = Duration::from_secs(10);
const ADAPT_STEP: f64 = 1.1;
const ADAPT_FLOOR: f64 = 1.0 / 16.0;

/// Why a limiter did not grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Try again after this long.
    Wait(Duration),
    /// Its concurrency cap is full; wait for a holder to end.
    Full,
    /// Never grantable (more permits than the burst).
    Never(String),
}

/// A shared limiter's answer to a suite's start or an `acquire`: granted or why not, with the
/// limiter's state across the machines; `Err`: the store did not answer.
pub(crate) type Answered = Result<(Result<(), Refusal>, Across), String>;

/// DESIGN §10: a queue run's limiters, held across the machines (in the queue's store): the
/// tokens, the concurrency cap, Retry-After pauses, and what the 429s did (an adaptive
/// limiter's lowered rate, the count against `max_throttled`). Each call answers at once, with
/// that state as the store has it; an `Err` says the store did not answer (the limiters are
/// then this machine's own again, for the rest of the run, from the state last seen).
pub(crate) trait Shared {
    /// A suite's start: room under the cap across the machines, and one token.
    fn admit(&mut self, limiter: &str, declared: Declared) -> Answered;
    /// `permits` tokens for `acquire`.
    fn take(&mut self, limiter: &str, permits: u32, declared: Declared) -> Answered;
    /// A suite that held the limiter ended its attempt.
    fn release(&mut self, limiter: &str, declared: Declared) -> Result<(), String>;
    /// A test saw a 429, with its Retry-After (no machine gets a token for that long).
    fn throttled(
        &mut self,
        limiter: &str,
        declared: Declared,
        pause: Option<Duration>,
    ) -> Result<Across, String>;
}

/// How soon a suite refused by a shared concurrency cap asks again: a holder's end on another
/// machine wakes nothing here.
pub(crate) const SHARED_FULL_POLL: Duration = Duration::from_millis(20);

/// The time as the caller of [`Limiters`] says it is: governor's clock for every bucket.
#[derive(Debug, Clone)]
struct CoreClock(Rc<Cell<Instant>>);

impl Clock for CoreClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.get()
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, CoreClock, NoOpMiddleware<Instant>>;

struct State {
    plan: Limiter,
    bucket: Bucket,
    /// Tokens per second in force (adaptive limiters lower it).
    rate: f64,
    holders: u32,
    paused_until: Option<Instant>,
    last_throttle: Option<Instant>,
    last_raise: Option<Instant>,
    acquired: u64,
    waited: Duration,
    /// `throttled` reports from this machine's tests.
    throttled: u64,
    /// ... from the whole run's: this machine's alone, or in a queue run every machine's (as
    /// the store last said). Counted against `max_throttled`.
    run_throttled: u64,
    /// The longest pause a Retry-After may ask for (`RETRY_AFTER_CAP` at most).
    retry_cap: Duration,
}

/// The time between two tokens at `rate` per second, saturating: the config refuses rates that
/// slow, but adaptive limiters lower theirs at run time.
fn per_token(rate: f64) -> Duration {
    Duration::try_from_secs_f64(1.0 / rate).unwrap_or(crate::duration::MAX)
}

/// The longest any Retry-After pauses a limiter: a test reporting `86400` must not stall every
/// suite of the run for a day.
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(600);

/// A full bucket as of the clock's time.
fn bucket(per_token: Duration, burst: u32, clock: &CoreClock) -> Bucket {
    let quota = Quota::with_period(per_token.max(Duration::from_nanos(1)))
        .expect("period above zero")
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst >= 1"));
    RateLimiter::direct_with_clock(quota, clock.clone())
}

impl State {
    fn configured_rate(&self) -> f64 {
        self.plan.rate / self.plan.per.as_secs_f64()
    }

    fn rebuild(&mut self, clock: &CoreClock) {
        self.bucket = bucket(per_token(self.rate), self.plan.burst, clock);
    }

    /// After a 429 an adaptive limiter starts again from an empty bucket: its next token comes
    /// one (lowered) period later, never a burst into a server that just said "too many".
    fn drain(&mut self) {
        let burst = NonZeroU32::new(self.plan.burst.max(1)).expect("burst >= 1");
        let _ = self.bucket.check_n(burst);
    }

    /// Adaptive limiters climb back 10 % per 10 s without a 429, up to the configured rate.
    fn recover(&mut self, now: Instant, clock: &CoreClock) {
        if !self.plan.adaptive || self.rate >= self.configured_rate() {
            return;
        }
        let since = self
            .last_raise
            .into_iter()
            .chain(self.last_throttle)
            .max()
            .unwrap_or(now);
        let steps = (now.saturating_duration_since(since).as_secs_f64()
            / ADAPT_PERIOD.as_secs_f64())
        .floor();
        if steps >= 1.0 {
            self.rate = (self.rate * ADAPT_STEP.powf(steps)).min(self.configured_rate());
            self.last_raise = Some(now);
            self.rebuild(clock);
        }
    }

    /// More than `max_throttled` reports: its suites run one at a time.
    fn serialized(&self) -> bool {
        self.plan
            .max_throttled
            .is_some_and(|m| self.run_throttled > u64::from(m))
    }

    fn concurrency(&self) -> Option<u32> {
        if self.serialized() {
            Some(1)
        } else {
            self.plan.concurrency
        }
    }

    /// What the store holds for it (DESIGN §10) checks its rules against.
    fn declared(&self) -> Declared {
        Declared {
            per_token: per_token(self.configured_rate()),
            burst: self.plan.burst,
            cap: self.plan.concurrency.unwrap_or(0),
            adaptive: self.plan.adaptive,
            max_throttled: self.plan.max_throttled,
        }
    }

    /// The state of the limiter across the machines, as the store said: this machine's bucket
    /// follows its rate (should the store stop answering, it goes on from there).
    fn adopt(&mut self, across: Across, clock: &CoreClock) {
        self.run_throttled = across.throttled.max(self.throttled);
        let configured = self.configured_rate();
        // The rate comes back through µs per token: the declared one, within rounding, is it.
        let rate = if (across.rate - configured).abs() <= configured * 1e-9 {
            configured
        } else {
            across.rate
        };
        if rate.to_bits() != self.rate.to_bits() {
            let lowered = rate < self.rate;
            self.rate = rate;
            self.rebuild(clock);
            if lowered {
                self.drain();
            }
        }
    }

    fn take(&mut self, permits: u32, now: Instant, clock: &CoreClock) -> Result<(), Refusal> {
        if permits > self.plan.burst {
            return Err(Refusal::Never(format!(
                "{permits} permits exceed the burst {} of limiter \"{}\"",
                self.plan.burst, self.plan.name
            )));
        }
        if let Some(t) = self.paused_until {
            if t > now {
                return Err(Refusal::Wait(t - now));
            }
            self.paused_until = None;
        }
        self.recover(now, clock);
        let n = NonZeroU32::new(permits.max(1)).expect("at least one permit");
        match self.bucket.check_n(n) {
            Ok(Ok(())) => {
                self.acquired += u64::from(permits.max(1));
                Ok(())
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(now);
                Err(Refusal::Wait(wait.max(Duration::from_micros(100))))
            }
            Err(_) => Err(Refusal::Never(format!(
                "{permits} permits exceed the burst of limiter \"{}\"",
                self.plan.name
            ))),
        }
    }
}

/// Every limiter of the plan. Owned by the run's driver and changed only through the core.
pub(crate) struct Limiters {
    states: Vec<State>,
    names: Vec<String>,
    clock: CoreClock,
    /// A queue run: the limiters held across the machines.
    shared: Option<Box<dyn Shared>>,
    /// What the driver should say (the store stopped answering for the limiters).
    pub(crate) warnings: Vec<String>,
}

impl Limiters {
    /// The plan's limiters, with full buckets at `start`. A Retry-After pauses a limiter for at
    /// most the longest timeout of the suites that use it (of all suites, for a limiter only
    /// `ptest acquire` uses), and never over ten minutes: no suite waiting behind it could
    /// outlive its own timeout anyway.
    pub(crate) fn new(plan: &Plan, start: Instant) -> Limiters {
        let mut limiters = Limiters::from_limiters(&plan.limiters, start);
        let longest_any = plan.suites.iter().map(|s| s.timeout).max();
        for (i, state) in limiters.states.iter_mut().enumerate() {
            let longest = plan
                .suites
                .iter()
                .filter(|s| s.limiter.is_some_and(|l| l.index() == i))
                .map(|s| s.timeout)
                .max()
                .or(longest_any);
            if let Some(longest) = longest {
                state.retry_cap = RETRY_AFTER_CAP.min(longest);
            }
        }
        limiters
    }

    pub(crate) fn from_limiters(limiters: &[Limiter], start: Instant) -> Limiters {
        let clock = CoreClock(Rc::new(Cell::new(start)));
        let states = limiters
            .iter()
            .map(|l| {
                let rate = l.rate / l.per.as_secs_f64();
                State {
                    plan: l.clone(),
                    bucket: bucket(per_token(rate), l.burst, &clock),
                    rate,
                    holders: 0,
                    paused_until: None,
                    last_throttle: None,
                    last_raise: None,
                    acquired: 0,
                    waited: Duration::ZERO,
                    throttled: 0,
                    run_throttled: 0,
                    retry_cap: RETRY_AFTER_CAP,
                }
            })
            .collect();
        Limiters {
            states,
            names: limiters.iter().map(|l| l.name.clone()).collect(),
            clock,
            shared: None,
            warnings: Vec::new(),
        }
    }

    /// DESIGN §10: a queue run's limiters are `shared` by every machine: rates, concurrency
    /// caps and Retry-After pauses hold across them.
    pub(crate) fn share(&mut self, shared: Box<dyn Shared>) {
        self.shared = Some(shared);
    }

    /// The store did not answer: this machine's own limiters from now on.
    fn unshare(&mut self, name: &str, e: &str) {
        self.shared = None;
        self.warnings.push(format!(
            "the queue's store did not answer for limiter \"{name}\" ({e}): this machine's \
             limiters hold for it alone from now on"
        ));
    }

    /// A suite's start (`suite`) or an `acquire` through the shared limiter; `None` when there
    /// is none (or it just stopped answering), or when the limiter itself refuses for ever.
    fn shared_take(
        &mut self,
        id: LimiterId,
        permits: u32,
        now: Instant,
        suite: bool,
    ) -> Option<Result<(), Refusal>> {
        self.shared.as_ref()?;
        let (s, _) = self.at(id, now);
        if permits > s.plan.burst {
            return None;
        }
        let (name, declared) = (s.plan.name.clone(), s.declared());
        let shared = self.shared.as_mut()?;
        let answer = if suite {
            shared.admit(&name, declared)
        } else {
            shared.take(&name, permits, declared)
        };
        let answer = match answer {
            Ok((answer, across)) => {
                let (s, clock) = self.at(id, now);
                s.adopt(across, clock);
                answer
            }
            Err(e) => {
                self.unshare(&name, &e);
                return None;
            }
        };
        match answer {
            Ok(()) => {
                let s = &mut self.states[id.index()];
                s.acquired += u64::from(permits.max(1));
                if suite {
                    s.holders += 1;
                }
                Some(Ok(()))
            }
            Err(Refusal::Full) => Some(Err(Refusal::Wait(SHARED_FULL_POLL))),
            Err(r) => Some(Err(r)),
        }
    }

    /// The limiter `id`, with the buckets' clock set to `now` (never backwards).
    fn at(&mut self, id: LimiterId, now: Instant) -> (&mut State, &CoreClock) {
        if now > self.clock.0.get() {
            self.clock.0.set(now);
        }
        (&mut self.states[id.index()], &self.clock)
    }

    /// The limiters' names, in plan order (the socket finds a limiter by its name).
    pub(crate) fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    #[cfg(test)]
    pub(crate) fn find(&self, name: &str) -> Result<LimiterId, String> {
        find(&self.names, name)
    }

    /// A suite start: concurrency room and one token, or why not.
    pub(crate) fn admit_suite(&mut self, id: LimiterId, now: Instant) -> Result<(), Refusal> {
        if let Some(answer) = self.shared_take(id, 1, now, true) {
            return answer;
        }
        let (s, clock) = self.at(id, now);
        if s.concurrency().is_some_and(|c| s.holders >= c) {
            return Err(Refusal::Full);
        }
        s.take(1, now, clock)?;
        s.holders += 1;
        Ok(())
    }

    /// A suite holding the limiter ended its attempt.
    pub(crate) fn release_suite(&mut self, id: LimiterId) {
        let s = &mut self.states[id.index()];
        s.holders = s.holders.saturating_sub(1);
        let (name, declared) = (s.plan.name.clone(), s.declared());
        if let Some(shared) = self.shared.as_mut() {
            if let Err(e) = shared.release(&name, declared) {
                self.unshare(&name, &e);
            }
        }
    }

    /// Suites holding the limiter now.
    #[cfg(test)]
    pub(crate) fn holders(&self, id: LimiterId) -> u32 {
        self.states[id.index()].holders
    }

    /// `acquire` from a test process.
    pub(crate) fn acquire(
        &mut self,
        id: LimiterId,
        permits: u32,
        now: Instant,
    ) -> Result<(), Refusal> {
        if let Some(answer) = self.shared_take(id, permits, now, false) {
            return answer;
        }
        let (s, clock) = self.at(id, now);
        s.take(permits, now, clock)
    }

    pub(crate) fn add_wait(&mut self, id: LimiterId, waited: Duration) {
        self.states[id.index()].waited += waited;
    }

    /// A test saw a 429: count it; with Retry-After nobody gets a token until it has passed;
    /// an adaptive limiter halves its rate. In a queue run the store does the same for every
    /// machine, and this machine takes the outcome (the count and rate of the whole run).
    pub(crate) fn throttled(&mut self, id: LimiterId, retry_after: Option<Duration>, now: Instant) {
        let (s, clock) = self.at(id, now);
        s.throttled += 1;
        s.run_throttled += 1;
        s.last_throttle = Some(now);
        let pause = retry_after.map(|d| d.min(s.retry_cap));
        if let Some(d) = pause {
            let until = now.checked_add(d).unwrap_or(now);
            s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
        }
        if s.plan.adaptive {
            let floor = s.configured_rate() * ADAPT_FLOOR;
            s.rate = (s.rate / 2.0).max(floor);
            s.rebuild(clock);
            s.drain();
        }
        let (name, declared) = (s.plan.name.clone(), s.declared());
        if let Some(shared) = self.shared.as_mut() {
            match shared.throttled(&name, declared, pause) {
                Ok(across) => {
                    let (s, clock) = self.at(id, now);
                    s.adopt(across, clock);
                }
                Err(e) => self.unshare(&name, &e),
            }
        }
    }

    pub(crate) fn stats(&self) -> Vec<LimiterStats> {
        self.states
            .iter()
            .map(|s| LimiterStats {
                acquired: s.acquired,
                waited: s.waited,
                throttled: s.throttled,
                rate: s.rate * s.plan.per.as_secs_f64(),
                serialized: s.serialized(),
            })
            .collect()
    }
}

/// The limiter named `name` among `names`, or an error that suggests the closest.
pub(crate) fn find(names: &[String], name: &str) -> Result<LimiterId, String> {
    match names.iter().position(|n| n == name) {
        Some(i) => Ok(LimiterId(i as u32)),
        None => Err(format!(
            "unknown limiter \"{name}\"{}",
            crate::suggest::hint(name, names.iter().map(String::as_str))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Origin;
    use std::collections::VecDeque;

    fn limiter(rate: f64, burst: u32, concurrency: Option<u32>, adaptive: bool) -> Limiter {
        Limiter {
            id: LimiterId(0),
            name: "api".into(),
            origin: Origin {
                file: "ptest.lua".into(),
                line: 1,
            },
            rate,
            per: Duration::from_secs(1),
            burst,
            concurrency,
            adaptive,
            max_throttled: Some(2),
        }
    }

    fn limiters(l: Limiter) -> Limiters {
        Limiters::from_limiters(&[l], Instant::now())
    }

    #[test]
    fn burst_then_wait() {
        let mut l = limiters(limiter(10.0, 2, None, false));
        let now = Instant::now();
        assert!(l.acquire(LimiterId(0), 1, now).is_ok());
        assert!(l.acquire(LimiterId(0), 1, now).is_ok());
        match l.acquire(LimiterId(0), 1, now) {
            Err(Refusal::Wait(d)) => assert!(d <= Duration::from_millis(100), "{d:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            l.acquire(LimiterId(0), 3, now),
            Err(Refusal::Never(_))
        ));
    }

    #[test]
    fn concurrency_cap_and_serialization_after_max_throttled() {
        let mut l = limiters(limiter(1000.0, 10, Some(2), false));
        let now = Instant::now();
        assert!(l.admit_suite(LimiterId(0), now).is_ok());
        assert!(l.admit_suite(LimiterId(0), now).is_ok());
        assert_eq!(l.admit_suite(LimiterId(0), now), Err(Refusal::Full));
        l.release_suite(LimiterId(0));
        for _ in 0..3 {
            l.throttled(LimiterId(0), None, now);
        }
        assert_eq!(
            l.admit_suite(LimiterId(0), now),
            Err(Refusal::Full),
            "serialized: one holder left"
        );
        assert!(l.stats()[0].serialized);
    }

    #[test]
    fn retry_after_pauses_everyone() {
        let mut l = limiters(limiter(1000.0, 10, None, false));
        let now = Instant::now();
        l.throttled(LimiterId(0), Some(Duration::from_secs(2)), now);
        match l.acquire(LimiterId(0), 1, now + Duration::from_secs(1)) {
            Err(Refusal::Wait(d)) => assert_eq!(d, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        assert!(
            l.acquire(LimiterId(0), 1, now + Duration::from_secs(2))
                .is_ok()
        );
    }

    #[test]
    fn adaptive_halves_and_recovers() {
        let mut l = limiters(limiter(16.0, 1, None, true));
        let now = Instant::now();
        for _ in 0..6 {
            l.throttled(LimiterId(0), None, now);
        }
        assert!(
            (l.stats()[0].rate - 1.0).abs() < 1e-9,
            "floor is 1/16 of 16"
        );
        let _ = l.acquire(LimiterId(0), 1, now + Duration::from_secs(25));
        assert!(
            (l.stats()[0].rate - 1.21).abs() < 1e-6,
            "{}",
            l.stats()[0].rate
        );
    }

    /// A 429 empties an adaptive limiter's bucket: a full bucket of 5 gives no burst after it,
    /// the next token comes one lowered period later. A plain limiter keeps its tokens.
    #[test]
    fn an_adaptive_limiter_gives_no_burst_after_a_429() {
        let now = Instant::now();
        let mut l = limiters(limiter(10.0, 5, None, true));
        assert!(l.acquire(LimiterId(0), 1, now).is_ok());
        l.throttled(LimiterId(0), None, now);
        match l.acquire(LimiterId(0), 1, now) {
            Err(Refusal::Wait(d)) => {
                let period = Duration::from_millis(200);
                assert!(
                    d.abs_diff(period) < Duration::from_millis(1),
                    "5 a second: {d:?}"
                );
            }
            other => panic!("a token right after a 429: {other:?}"),
        }
        assert!(
            l.acquire(LimiterId(0), 1, now + Duration::from_millis(201))
                .is_ok()
        );
        let mut plain = limiters(limiter(10.0, 5, None, false));
        plain.throttled(LimiterId(0), None, now);
        for _ in 0..5 {
            assert!(plain.acquire(LimiterId(0), 1, now).is_ok());
        }
    }

    #[test]
    fn more_permits_than_the_burst_are_never_granted_and_say_why() {
        let mut l = limiters(limiter(10.0, 2, None, false));
        assert_eq!(
            l.acquire(LimiterId(0), 3, Instant::now()),
            Err(Refusal::Never(
                "3 permits exceed the burst 2 of limiter \"api\"".into()
            ))
        );
        assert_eq!(l.stats()[0].acquired, 0);
    }

    #[test]
    fn acquired_counts_permits_and_waits_add_up() {
        let mut l = limiters(limiter(1000.0, 10, None, false));
        let now = Instant::now();
        l.acquire(LimiterId(0), 4, now).unwrap();
        l.admit_suite(LimiterId(0), now).unwrap();
        l.add_wait(LimiterId(0), Duration::from_millis(300));
        l.add_wait(LimiterId(0), Duration::from_millis(200));
        let st = &l.stats()[0];
        assert_eq!(st.acquired, 5);
        assert_eq!(st.waited, Duration::from_millis(500));
        assert_eq!(st.throttled, 0);
        assert!(!st.serialized);
    }

    #[test]
    fn the_rate_is_reported_per_the_declared_period() {
        let mut decl = limiter(4.0, 1, None, true);
        decl.per = Duration::from_secs(2);
        let mut l = limiters(decl);
        assert!((l.stats()[0].rate - 4.0).abs() < 1e-9);
        l.throttled(LimiterId(0), None, Instant::now());
        assert!((l.stats()[0].rate - 2.0).abs() < 1e-9, "halved, per 2 s");
    }

    #[test]
    fn a_plain_limiter_keeps_its_rate_when_throttled() {
        let mut l = limiters(limiter(8.0, 1, None, false));
        let now = Instant::now();
        l.throttled(LimiterId(0), None, now);
        l.throttled(LimiterId(0), None, now);
        let st = &l.stats()[0];
        assert!((st.rate - 8.0).abs() < 1e-9);
        assert_eq!(st.throttled, 2);
        // max_throttled is 2: not yet passed.
        assert!(!st.serialized);
    }

    #[test]
    fn recovery_climbs_no_higher_than_the_declared_rate() {
        let mut l = limiters(limiter(16.0, 1, None, true));
        let now = Instant::now();
        l.throttled(LimiterId(0), None, now);
        assert!((l.stats()[0].rate - 8.0).abs() < 1e-9);
        // Ten periods of 10 s at 10 % each would pass 16.
        let _ = l.acquire(LimiterId(0), 1, now + Duration::from_secs(100));
        assert!(
            (l.stats()[0].rate - 16.0).abs() < 1e-9,
            "{}",
            l.stats()[0].rate
        );
        // Under 10 s since the last change: no step.
        l.throttled(LimiterId(0), None, now + Duration::from_secs(100));
        let _ = l.acquire(LimiterId(0), 1, now + Duration::from_secs(109));
        assert!(
            (l.stats()[0].rate - 8.0).abs() < 1e-9,
            "{}",
            l.stats()[0].rate
        );
    }

    #[test]
    fn a_shorter_retry_after_does_not_shorten_a_pause() {
        let mut l = limiters(limiter(1000.0, 10, None, false));
        let now = Instant::now();
        l.throttled(LimiterId(0), Some(Duration::from_secs(5)), now);
        l.throttled(LimiterId(0), Some(Duration::from_secs(1)), now);
        assert_eq!(
            l.acquire(LimiterId(0), 1, now + Duration::from_secs(2)),
            Err(Refusal::Wait(Duration::from_secs(3)))
        );
        // A suite start waits the same way, and holds nothing meanwhile.
        assert_eq!(
            l.admit_suite(LimiterId(0), now + Duration::from_secs(4)),
            Err(Refusal::Wait(Duration::from_secs(1)))
        );
        l.release_suite(LimiterId(0));
        assert!(
            l.admit_suite(LimiterId(0), now + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn retry_after_is_capped_at_ten_minutes_without_a_plan() {
        let mut l = limiters(limiter(1000.0, 10, None, false));
        let now = Instant::now();
        l.throttled(LimiterId(0), Some(Duration::from_secs(86_400)), now);
        assert_eq!(
            l.acquire(LimiterId(0), 1, now),
            Err(Refusal::Wait(RETRY_AFTER_CAP))
        );
    }

    #[test]
    fn retry_after_is_capped_at_the_longest_timeout_of_the_limiters_suites() {
        let p = crate::plan::tests::plan(
            r#"
            ptest.limiter { name = "api", rate = 100 }
            ptest.limiter { name = "socket_only", rate = 100 }
            ptest.suite { name = "a", cmd = "true", limiter = "api", timeout = "20s" }
            ptest.suite { name = "b", cmd = "true", limiter = "api", timeout = "30s" }
            ptest.suite { name = "c", cmd = "true", timeout = "45s" }
            "#,
        );
        let mut l = Limiters::new(&p, Instant::now());
        let now = Instant::now();
        let api = l.find("api").unwrap();
        let other = l.find("socket_only").unwrap();
        l.throttled(api, Some(Duration::from_secs(3600)), now);
        l.throttled(other, Some(Duration::from_secs(3600)), now);
        assert_eq!(
            l.acquire(api, 1, now),
            Err(Refusal::Wait(Duration::from_secs(30)))
        );
        // Used by no suite: the longest timeout of all.
        assert_eq!(
            l.acquire(other, 1, now),
            Err(Refusal::Wait(Duration::from_secs(45)))
        );
    }

    #[test]
    fn find_names_the_closest_limiter() {
        let l = Limiters::from_limiters(&[limiter(1.0, 1, None, false)], Instant::now());
        assert_eq!(l.find("api"), Ok(LimiterId(0)));
        assert_eq!(
            l.find("apj"),
            Err("unknown limiter \"apj\" (did you mean \"api\"?)".into())
        );
        assert_eq!(l.find("zzzz"), Err("unknown limiter \"zzzz\"".into()));
    }

    #[test]
    fn the_buckets_run_on_the_callers_clock() {
        // An hour of virtual time passes in no time at all: governor reads the time it is told.
        let start = Instant::now();
        let mut l = Limiters::from_limiters(&[limiter(1.0, 2, None, false)], start);
        let at = |secs: f64| start + Duration::from_secs_f64(3600.0 + secs);
        assert!(l.acquire(LimiterId(0), 2, at(0.0)).is_ok(), "a full bucket");
        assert_eq!(
            l.acquire(LimiterId(0), 1, at(0.0)),
            Err(Refusal::Wait(Duration::from_secs(1)))
        );
        assert_eq!(
            l.acquire(LimiterId(0), 1, at(0.25)),
            Err(Refusal::Wait(Duration::from_millis(750)))
        );
        assert!(l.acquire(LimiterId(0), 1, at(1.0)).is_ok());
        // Time given out of order never runs the clock backwards.
        assert!(l.acquire(LimiterId(0), 1, at(0.5)).is_err());
        assert!(l.acquire(LimiterId(0), 1, at(2.0)).is_ok());
        assert_eq!(l.stats()[0].acquired, 4);
    }

    /// A store that says what it was asked, answers from a script (each answer with the
    /// limiter's state across the machines), and can stop answering.
    struct Fake {
        asked: Rc<std::cell::RefCell<Vec<String>>>,
        answers: VecDeque<Answered>,
    }

    impl Fake {
        fn next(&mut self, asked: String) -> Answered {
            self.asked.borrow_mut().push(asked);
            self.answers.pop_front().unwrap()
        }
    }

    fn declared(d: Declared) -> String {
        format!(
            "{:?} {} {} {} {:?}",
            d.per_token, d.burst, d.cap, d.adaptive, d.max_throttled
        )
    }

    impl Shared for Fake {
        fn admit(&mut self, limiter: &str, d: Declared) -> Answered {
            self.next(format!("admit {limiter} {}", declared(d)))
        }
        fn take(&mut self, limiter: &str, permits: u32, d: Declared) -> Answered {
            self.next(format!("take {limiter} {permits} {}", declared(d)))
        }
        fn release(&mut self, limiter: &str, _: Declared) -> Result<(), String> {
            self.asked.borrow_mut().push(format!("release {limiter}"));
            Ok(())
        }
        fn throttled(
            &mut self,
            limiter: &str,
            _: Declared,
            pause: Option<Duration>,
        ) -> Result<Across, String> {
            self.next(format!("throttled {limiter} {pause:?}"))
                .map(|(_, across)| across)
        }
    }

    /// The store's state of a limiter of 10 a second that no 429 touched.
    const UNTOUCHED: Across = Across {
        rate: 10.0,
        throttled: 0,
    };

    #[test]
    fn a_shared_limiter_asks_the_store_and_falls_back_when_it_stops_answering() {
        let mut l = limiters(limiter(10.0, 2, Some(3), false));
        let asked = Rc::new(std::cell::RefCell::new(Vec::new()));
        l.share(Box::new(Fake {
            asked: asked.clone(),
            answers: VecDeque::from([
                Ok((Ok(()), UNTOUCHED)),
                Ok((Err(Refusal::Full), UNTOUCHED)),
                Ok((Err(Refusal::Wait(Duration::from_millis(70))), UNTOUCHED)),
                Ok((
                    Ok(()),
                    Across {
                        rate: 10.0,
                        throttled: 1,
                    },
                )),
                Err("connection reset".to_owned()),
            ]),
        }));
        let now = Instant::now();
        let id = LimiterId(0);
        assert_eq!(l.admit_suite(id, now), Ok(()));
        // A cap full on other machines: asked again soon (their releases wake nothing here).
        assert_eq!(l.admit_suite(id, now), Err(Refusal::Wait(SHARED_FULL_POLL)));
        l.release_suite(id);
        assert_eq!(
            l.acquire(id, 1, now),
            Err(Refusal::Wait(Duration::from_millis(70)))
        );
        // More than the burst is refused here, without asking.
        assert!(matches!(l.acquire(id, 3, now), Err(Refusal::Never(_))));
        l.throttled(id, Some(Duration::from_secs(5)), now);
        // The store stops answering: said once, and the local bucket answers from then on (the
        // Retry-After was kept here too).
        let later = now + Duration::from_secs(6);
        assert_eq!(l.acquire(id, 1, later), Ok(()));
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert!(
            l.warnings[0].contains("connection reset"),
            "{:?}",
            l.warnings
        );
        assert_eq!(
            *asked.borrow(),
            [
                "admit api 100ms 2 3 false Some(2)",
                "admit api 100ms 2 3 false Some(2)",
                "release api",
                "take api 1 100ms 2 3 false Some(2)",
                "throttled api Some(5s)",
                "take api 1 100ms 2 3 false Some(2)",
            ]
        );
        assert_eq!(l.stats()[0].acquired, 2);
        assert_eq!(l.stats()[0].throttled, 1);
    }

    /// DESIGN §10: an adaptive limiter's lowered rate and the count against `max_throttled` are
    /// the whole run's, as the store says; this machine's report counts its own 429s, and the
    /// limiter goes on from the store's state when the store stops answering.
    #[test]
    fn a_shared_limiter_takes_the_rate_and_the_429s_of_every_machine_from_the_store() {
        let mut l = limiters(limiter(16.0, 1, None, true));
        let asked = Rc::new(std::cell::RefCell::new(Vec::new()));
        l.share(Box::new(Fake {
            asked: asked.clone(),
            answers: VecDeque::from([
                // Other machines' 429s: halved twice, two of them.
                Ok((
                    Ok(()),
                    Across {
                        rate: 4.0,
                        throttled: 2,
                    },
                )),
                // This machine's: halved once more, the third of the run.
                Ok((
                    Ok(()),
                    Across {
                        rate: 2.0,
                        throttled: 3,
                    },
                )),
                Ok((
                    Ok(()),
                    Across {
                        rate: 2.0,
                        throttled: 3,
                    },
                )),
                Err("connection reset".to_owned()),
            ]),
        }));
        let now = Instant::now();
        let id = LimiterId(0);
        assert_eq!(l.admit_suite(id, now), Ok(()));
        let st = &l.stats()[0];
        assert!((st.rate - 4.0).abs() < 1e-9, "{}", st.rate);
        assert_eq!(st.throttled, 0, "no 429 of this machine's");
        assert!(!st.serialized, "max_throttled 2: not passed yet");
        l.throttled(id, None, now);
        let st = &l.stats()[0];
        assert!((st.rate - 2.0).abs() < 1e-9, "{}", st.rate);
        assert_eq!(st.throttled, 1);
        assert!(
            st.serialized,
            "three 429s in the run, more than max_throttled"
        );
        l.release_suite(id);
        assert_eq!(l.admit_suite(id, now), Ok(()));
        // The store stops answering: this machine's limiter goes on at the run's rate, one
        // suite at a time.
        let later = now + Duration::from_secs(1);
        assert_eq!(l.admit_suite(id, later), Err(Refusal::Full));
        l.release_suite(id);
        assert_eq!(l.admit_suite(id, later), Ok(()));
        l.release_suite(id);
        assert_eq!(
            l.admit_suite(id, later),
            Err(Refusal::Wait(Duration::from_millis(500))),
            "2 a second"
        );
        assert_eq!(asked.borrow().len(), 5, "{:?}", asked.borrow());
    }
}
