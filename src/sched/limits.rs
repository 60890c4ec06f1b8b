//! Rate limiters shared by every worker (DESIGN §2 `ptest.limiter`, §5 the socket): a governor
//! token bucket per limiter, an optional cap on suites holding it, Retry-After pauses, adaptive
//! rates, and the counts the report shows. Shared between the scheduler loop and the socket's
//! connection tasks behind one mutex; every call is short and never waits.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::event::LimiterStats;
use crate::plan::{Limiter, LimiterId, Plan};

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

struct State {
    plan: Limiter,
    bucket: DefaultDirectRateLimiter,
    /// Tokens per second in force (adaptive limiters lower it).
    rate: f64,
    holders: u32,
    paused_until: Option<Instant>,
    last_throttle: Option<Instant>,
    last_raise: Option<Instant>,
    acquired: u64,
    waited: Duration,
    throttled: u64,
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

fn bucket(per_token: Duration, burst: u32) -> DefaultDirectRateLimiter {
    let quota = Quota::with_period(per_token.max(Duration::from_nanos(1)))
        .expect("period above zero")
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst >= 1"));
    RateLimiter::direct(quota)
}

impl State {
    fn configured_rate(&self) -> f64 {
        self.plan.rate / self.plan.per.as_secs_f64()
    }

    fn rebuild(&mut self) {
        self.bucket = bucket(per_token(self.rate), self.plan.burst);
    }

    /// Adaptive limiters climb back 10 % per 10 s without a 429, up to the configured rate.
    fn recover(&mut self, now: Instant) {
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
            self.rebuild();
        }
    }

    /// More than `max_throttled` reports: its suites run one at a time.
    fn concurrency(&self) -> Option<u32> {
        match self.plan.max_throttled {
            Some(m) if self.throttled > u64::from(m) => Some(1),
            _ => self.plan.concurrency,
        }
    }

    fn take(&mut self, permits: u32, now: Instant) -> Result<(), Refusal> {
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
        self.recover(now);
        let n = NonZeroU32::new(permits.max(1)).expect("at least one permit");
        match self.bucket.check_n(n) {
            Ok(Ok(())) => {
                self.acquired += u64::from(permits.max(1));
                Ok(())
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.bucket.clock().now());
                Err(Refusal::Wait(wait.max(Duration::from_micros(100))))
            }
            Err(_) => Err(Refusal::Never(format!(
                "{permits} permits exceed the burst of limiter \"{}\"",
                self.plan.name
            ))),
        }
    }
}

/// Every limiter of the plan.
#[derive(Clone)]
pub(crate) struct Limiters {
    inner: Arc<Mutex<Vec<State>>>,
    names: Arc<Vec<String>>,
}

impl Limiters {
    /// A Retry-After pauses a limiter for at most the longest timeout of the suites that use it
    /// (of all suites, for a limiter only `ptest acquire` uses), and never over ten minutes: no
    /// suite waiting behind it could outlive its own timeout anyway.
    pub(crate) fn new(plan: &Plan) -> Limiters {
        let limiters = Limiters::from_limiters(&plan.limiters);
        {
            let longest_any = plan.suites.iter().map(|s| s.timeout).max();
            let mut all = limiters.lock();
            for (i, state) in all.iter_mut().enumerate() {
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
        }
        limiters
    }

    pub(crate) fn from_limiters(limiters: &[Limiter]) -> Limiters {
        let states = limiters
            .iter()
            .map(|l| {
                let rate = l.rate / l.per.as_secs_f64();
                State {
                    plan: l.clone(),
                    bucket: bucket(per_token(rate), l.burst),
                    rate,
                    holders: 0,
                    paused_until: None,
                    last_throttle: None,
                    last_raise: None,
                    acquired: 0,
                    waited: Duration::ZERO,
                    throttled: 0,
                    retry_cap: RETRY_AFTER_CAP,
                }
            })
            .collect();
        Limiters {
            inner: Arc::new(Mutex::new(states)),
            names: Arc::new(limiters.iter().map(|l| l.name.clone()).collect()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<State>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn find(&self, name: &str) -> Result<LimiterId, String> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => Ok(LimiterId(i as u32)),
            None => Err(format!(
                "unknown limiter \"{name}\"{}",
                crate::suggest::hint(name, self.names.iter().map(String::as_str))
            )),
        }
    }

    /// A suite start: concurrency room and one token, or why not.
    pub(crate) fn admit_suite(&self, id: LimiterId, now: Instant) -> Result<(), Refusal> {
        let mut all = self.lock();
        let s = &mut all[id.index()];
        if s.concurrency().is_some_and(|c| s.holders >= c) {
            return Err(Refusal::Full);
        }
        s.take(1, now)?;
        s.holders += 1;
        Ok(())
    }

    /// A suite holding the limiter ended its attempt.
    pub(crate) fn release_suite(&self, id: LimiterId) {
        let mut all = self.lock();
        let s = &mut all[id.index()];
        s.holders = s.holders.saturating_sub(1);
    }

    /// `acquire` from a test process.
    pub(crate) fn acquire(&self, id: LimiterId, permits: u32, now: Instant) -> Result<(), Refusal> {
        self.lock()[id.index()].take(permits, now)
    }

    pub(crate) fn add_wait(&self, id: LimiterId, waited: Duration) {
        self.lock()[id.index()].waited += waited;
    }

    /// A test saw a 429: count it; with Retry-After nobody gets a token until it has passed;
    /// an adaptive limiter halves its rate.
    pub(crate) fn throttled(&self, id: LimiterId, retry_after: Option<Duration>, now: Instant) {
        let mut all = self.lock();
        let s = &mut all[id.index()];
        s.throttled += 1;
        s.last_throttle = Some(now);
        if let Some(d) = retry_after {
            let until = now + d.min(s.retry_cap);
            s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
        }
        if s.plan.adaptive {
            let floor = s.configured_rate() * ADAPT_FLOOR;
            let halved = (s.rate / 2.0).max(floor);
            if halved < s.rate {
                s.rate = halved;
                s.rebuild();
            }
        }
    }

    pub(crate) fn stats(&self) -> Vec<LimiterStats> {
        self.lock()
            .iter()
            .map(|s| LimiterStats {
                acquired: s.acquired,
                waited: s.waited,
                throttled: s.throttled,
                rate: s.rate * s.plan.per.as_secs_f64(),
                serialized: s
                    .plan
                    .max_throttled
                    .is_some_and(|m| s.throttled > u64::from(m)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Origin;

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
        Limiters::from_limiters(&[l])
    }

    #[test]
    fn burst_then_wait() {
        let l = limiters(limiter(10.0, 2, None, false));
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
        let l = limiters(limiter(1000.0, 10, Some(2), false));
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
        let l = limiters(limiter(1000.0, 10, None, false));
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
        let l = limiters(limiter(16.0, 1, None, true));
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

    #[test]
    fn more_permits_than_the_burst_are_never_granted_and_say_why() {
        let l = limiters(limiter(10.0, 2, None, false));
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
        let l = limiters(limiter(1000.0, 10, None, false));
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
        let l = limiters(decl);
        assert!((l.stats()[0].rate - 4.0).abs() < 1e-9);
        l.throttled(LimiterId(0), None, Instant::now());
        assert!((l.stats()[0].rate - 2.0).abs() < 1e-9, "halved, per 2 s");
    }

    #[test]
    fn a_plain_limiter_keeps_its_rate_when_throttled() {
        let l = limiters(limiter(8.0, 1, None, false));
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
        let l = limiters(limiter(16.0, 1, None, true));
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
        let l = limiters(limiter(1000.0, 10, None, false));
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
        let l = limiters(limiter(1000.0, 10, None, false));
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
        let l = Limiters::new(&p);
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
        let l = Limiters::from_limiters(&[limiter(1.0, 1, None, false)]);
        assert_eq!(l.find("api"), Ok(LimiterId(0)));
        assert_eq!(
            l.find("apj"),
            Err("unknown limiter \"apj\" (did you mean \"api\"?)".into())
        );
        assert_eq!(l.find("zzzz"), Err("unknown limiter \"zzzz\"".into()));
    }

    #[test]
    fn clones_share_one_state() {
        let l = limiters(limiter(1000.0, 10, Some(1), false));
        let other = l.clone();
        let now = Instant::now();
        l.admit_suite(LimiterId(0), now).unwrap();
        assert_eq!(other.admit_suite(LimiterId(0), now), Err(Refusal::Full));
        other.release_suite(LimiterId(0));
        assert!(l.admit_suite(LimiterId(0), now).is_ok());
    }
}
