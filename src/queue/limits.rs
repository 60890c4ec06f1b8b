//! DESIGN §10: a queue run's limiters held across all machines in the store. Each limiter is
//! one hash (`ptest:{RUN}:lim:NAME`): `tat` (the theoretical arrival time of its token bucket,
//! the generic cell rate algorithm, µs of the server's clock), `pause` (no token before it, µs:
//! a Retry-After), `h:HOLDER` (the suites each machine runs holding it, counted against its
//! `concurrency` while that machine is alive), and what the 429s of every machine did: `thr`
//! (how many `throttled` reports), `per` (an adaptive limiter's lowered rate, µs per token;
//! absent: the declared one) and `changed` (µs: when it was last lowered or raised). One script
//! does each step, timed by the server, so every machine sees one lowered rate, one count
//! against `max_throttled`, one pause.
//!
//! The scheduler asks at once and must be answered at once, so this is a second, blocking
//! connection beside the link's: a round trip on each admission, each `acquire` and each 429.

use std::time::Duration;

use super::store::{REQUEST_TIMEOUT, StoreError, classify};
use super::target::Target;

/// KEYS: the run's `nodes` (holder → last seen, ms), the limiter's hash. ARGV: holder, op
/// (`admit`: a suite's start, counted against the cap; `take`: tokens for `acquire`;
/// `release`; `throttled`: a 429), permits, µs per token as declared, burst, concurrency (0:
/// none), lease ms, ttl seconds, pause µs (a 429's Retry-After, 0: none), adaptive (`1`),
/// max_throttled (-1: none). Returns `{answer, µs, per, thr}`: `ok`, `wait` (for `µs`) or
/// `full`; the µs per token in force and the 429s of every machine so far.
///
/// An adaptive limiter's rate halves on each 429 (down to 1/16 of the declared rate), its bucket
/// empties (the next token one lowered period later, no burst), and its rate climbs back 10 %
/// per 10 s without one; past `max_throttled` 429s its suites run one at a time
/// across the machines (`sched::limits` does the same on one machine).
const LIMIT: &str = r"
local nodes, lim = KEYS[1], KEYS[2]
local holder, op = ARGV[1], ARGV[2]
local permits, declared, burst, cap =
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl, adaptive, most = tonumber(ARGV[8]), ARGV[10] == '1', tonumber(ARGV[11])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mine = 'h:' .. holder
local per = tonumber(redis.call('HGET', lim, 'per') or declared)
local thr = tonumber(redis.call('HGET', lim, 'thr') or '0')
local function reply(answer, us)
  return {answer, us, string.format('%.17g', per), thr}
end
local function set_per(p)
  per = p
  redis.call('HSET', lim, 'per', string.format('%.17g', p), 'changed', string.format('%.0f', now))
end
if adaptive and per > declared then
  local since = tonumber(redis.call('HGET', lim, 'changed') or now)
  local steps = math.floor((now - since) / 10000000)
  if steps >= 1 then set_per(math.max(per / (1.1 ^ steps), declared)) end
end
if op == 'release' then
  if tonumber(redis.call('HGET', lim, mine) or '0') > 0 then
    redis.call('HINCRBY', lim, mine, -1)
  end
  return reply('ok', 0)
end
if op == 'throttled' then
  thr = redis.call('HINCRBY', lim, 'thr', 1)
  local till = now + tonumber(ARGV[9])
  if till > now and till > tonumber(redis.call('HGET', lim, 'pause') or '0') then
    redis.call('HSET', lim, 'pause', string.format('%.0f', till))
  end
  if adaptive then
    set_per(math.max(per, math.min(per * 2, declared * 16)))
    local tat = tonumber(redis.call('HGET', lim, 'tat') or '0')
    local empty = now + burst * per
    if empty > tat then redis.call('HSET', lim, 'tat', string.format('%.0f', empty)) end
  end
  redis.call('EXPIRE', lim, ttl)
  return reply('ok', 0)
end
local pause = tonumber(redis.call('HGET', lim, 'pause') or '0')
if pause > now then return reply('wait', pause - now) end
if most >= 0 and thr > most then cap = 1 end
if op == 'admit' and cap > 0 then
  local alive = now - tonumber(ARGV[7]) * 1000
  local all = redis.call('HGETALL', lim)
  local held = 0
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 'h:' then
      local h = string.sub(f, 3)
      local seen = tonumber(redis.call('HGET', nodes, h) or '0') * 1000
      if h == holder or seen > alive then held = held + tonumber(all[i + 1]) end
    end
  end
  if held >= cap then return reply('full', 0) end
end
local tat = tonumber(redis.call('HGET', lim, 'tat') or '0')
if tat < now then tat = now end
local after = tat + permits * per
if after - now > burst * per then return reply('wait', after - now - burst * per) end
redis.call('HSET', lim, 'tat', string.format('%.0f', after))
if op == 'admit' then redis.call('HINCRBY', lim, mine, 1) end
redis.call('EXPIRE', lim, ttl)
return reply('ok', 0)
";

/// A limiter as declared: the store applies its rules to it across the machines.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Declared {
    /// The time between two tokens at the declared rate.
    pub per_token: Duration,
    pub burst: u32,
    /// Concurrency cap, 0: none.
    pub cap: u32,
    pub adaptive: bool,
    pub max_throttled: Option<u32>,
}

/// What the 429s of every machine made of a shared limiter, as the store said with its answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Across {
    /// Tokens per second in force (an adaptive limiter's lowered rate).
    pub rate: f64,
    /// `throttled` reports from every machine.
    pub throttled: u64,
}

/// How a shared limiter answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Granted,
    /// No token before this long.
    Wait(Duration),
    /// Its concurrency cap is full across the machines.
    Full,
}

/// One question to the script (its ARGV but the machine's own).
#[derive(Default)]
struct Ask {
    op: &'static str,
    permits: u32,
    limiter: Declared,
    pause: Duration,
}

/// The run's limiters in the store, for one machine (`holder`, the link's lease identity).
pub(crate) struct SharedLimits {
    con: redis::Connection,
    script: redis::Script,
    nodes: String,
    prefix: String,
    holder: String,
    lease_ms: u64,
    ttl: u64,
}

impl SharedLimits {
    /// A blocking connection to the run's store.
    pub(crate) fn connect(
        target: &Target,
        run: &str,
        holder: &str,
        lease: Duration,
        ttl: Duration,
    ) -> Result<SharedLimits, StoreError> {
        if target.tls {
            super::store::install_crypto();
        }
        let client = redis::Client::open(target.url.as_str())
            .map_err(|e| StoreError::Garbage(format!("{}: {e}", target.shown())))?;
        let con = client
            .get_connection_with_timeout(REQUEST_TIMEOUT)
            .map_err(|e| classify(&e))?;
        con.set_read_timeout(Some(REQUEST_TIMEOUT))
            .and_then(|()| con.set_write_timeout(Some(REQUEST_TIMEOUT)))
            .map_err(|e| classify(&e))?;
        Ok(SharedLimits {
            con,
            script: redis::Script::new(LIMIT),
            nodes: format!("ptest:{{{run}}}:nodes"),
            prefix: format!("ptest:{{{run}}}:lim:"),
            holder: holder.to_owned(),
            lease_ms: lease.as_millis() as u64,
            ttl: ttl.as_secs().max(1),
        })
    }

    fn call(&mut self, limiter: &str, ask: &Ask) -> Result<(Answer, Across), StoreError> {
        let d = &ask.limiter;
        let (answer, micros, per, throttled): (String, i64, String, u64) = self
            .script
            .key(&self.nodes)
            .key(format!("{}{limiter}", self.prefix))
            .arg(&self.holder)
            .arg(ask.op)
            .arg(ask.permits)
            .arg(format!("{:.3}", d.per_token.as_secs_f64() * 1e6))
            .arg(d.burst)
            .arg(d.cap)
            .arg(self.lease_ms)
            .arg(self.ttl)
            .arg(u64::try_from(ask.pause.as_micros()).unwrap_or(u64::MAX))
            .arg(if d.adaptive { "1" } else { "0" })
            .arg(d.max_throttled.map_or(-1, i64::from))
            .invoke(&mut self.con)
            .map_err(|e| classify(&e))?;
        let odd =
            |what: String| StoreError::Garbage(format!("limiter {limiter:?} answered {what}"));
        let per: f64 = per
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p > 0.0)
            .ok_or_else(|| odd(format!("a rate of {per:?} µs a token")))?;
        let across = Across {
            rate: 1e6 / per,
            throttled,
        };
        let answer = match answer.as_str() {
            "ok" => Answer::Granted,
            "full" => Answer::Full,
            "wait" => Answer::Wait(Duration::from_micros(
                u64::try_from(micros).unwrap_or(0).max(1),
            )),
            other => return Err(odd(format!("{other:?}"))),
        };
        Ok((answer, across))
    }

    /// A suite's start: room under its cap across the machines, and one token.
    pub(crate) fn admit(
        &mut self,
        limiter: &str,
        declared: Declared,
    ) -> Result<(Answer, Across), StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "admit",
                permits: 1,
                limiter: declared,
                ..Ask::default()
            },
        )
    }

    /// `permits` tokens for a test process's `acquire`.
    pub(crate) fn take(
        &mut self,
        limiter: &str,
        permits: u32,
        declared: Declared,
    ) -> Result<(Answer, Across), StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "take",
                permits,
                limiter: declared,
                ..Ask::default()
            },
        )
    }

    /// A suite of this machine that held the limiter ended its attempt.
    pub(crate) fn release(&mut self, limiter: &str, declared: Declared) -> Result<(), StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "release",
                limiter: declared,
                ..Ask::default()
            },
        )
        .map(|_| ())
    }

    /// A test saw a 429 (with a Retry-After, `pause`: no machine gets a token for that long):
    /// counted for every machine, and an adaptive limiter's rate halved for every machine.
    pub(crate) fn throttled(
        &mut self,
        limiter: &str,
        declared: Declared,
        pause: Option<Duration>,
    ) -> Result<Across, StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "throttled",
                limiter: declared,
                pause: pause.unwrap_or_default(),
                ..Ask::default()
            },
        )
        .map(|(_, across)| across)
    }
}
