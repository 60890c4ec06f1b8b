//! DESIGN §10: a queue run's limiters held across all machines in the store. Each limiter is
//! one hash (`ptest:{RUN}:lim:NAME`): `tat` (the theoretical arrival time of its token bucket,
//! the generic cell rate algorithm, µs of the server's clock), `pause` (no token before it, µs:
//! a Retry-After) and `h:HOLDER` (the suites each machine runs holding it, counted against its
//! `concurrency` while that machine is alive). One script does each step, timed by the server.
//!
//! The scheduler asks at once and must be answered at once, so this is a second, blocking
//! connection beside the link's: a round trip on each admission and each `acquire`.

use std::time::Duration;

use super::store::{REQUEST_TIMEOUT, StoreError, classify};
use super::target::Target;

/// KEYS: the run's `nodes` (holder → last seen, ms), the limiter's hash. ARGV: holder, op
/// (`admit`: a suite's start, counted against the cap; `take`: tokens for `acquire`;
/// `release`; `pause`), permits, µs per token, burst, concurrency (0: none), lease ms, ttl
/// seconds, pause µs. Returns `{answer, µs}`: `ok`, `wait` (for that long) or `full`.
const LIMIT: &str = r"
local nodes, lim = KEYS[1], KEYS[2]
local holder, op = ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mine = 'h:' .. holder
if op == 'release' then
  if tonumber(redis.call('HGET', lim, mine) or '0') > 0 then
    redis.call('HINCRBY', lim, mine, -1)
  end
  return {'ok', 0}
end
if op == 'pause' then
  local till = now + tonumber(ARGV[9])
  if till > tonumber(redis.call('HGET', lim, 'pause') or '0') then
    redis.call('HSET', lim, 'pause', string.format('%.0f', till))
  end
  redis.call('EXPIRE', lim, ttl)
  return {'ok', 0}
end
local pause = tonumber(redis.call('HGET', lim, 'pause') or '0')
if pause > now then return {'wait', pause - now} end
local permits, per, burst, cap =
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
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
  if held >= cap then return {'full', 0} end
end
local tat = tonumber(redis.call('HGET', lim, 'tat') or '0')
if tat < now then tat = now end
local after = tat + permits * per
if after - now > burst * per then return {'wait', after - now - burst * per} end
redis.call('HSET', lim, 'tat', string.format('%.0f', after))
if op == 'admit' then redis.call('HINCRBY', lim, mine, 1) end
redis.call('EXPIRE', lim, ttl)
return {'ok', 0}
";

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
    per_token: Duration,
    burst: u32,
    /// Concurrency cap, 0: none.
    cap: u32,
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

    fn call(&mut self, limiter: &str, ask: &Ask) -> Result<Answer, StoreError> {
        let (answer, micros): (String, i64) = self
            .script
            .key(&self.nodes)
            .key(format!("{}{limiter}", self.prefix))
            .arg(&self.holder)
            .arg(ask.op)
            .arg(ask.permits)
            .arg(format!("{:.3}", ask.per_token.as_secs_f64() * 1e6))
            .arg(ask.burst)
            .arg(ask.cap)
            .arg(self.lease_ms)
            .arg(self.ttl)
            .arg(u64::try_from(ask.pause.as_micros()).unwrap_or(u64::MAX))
            .invoke(&mut self.con)
            .map_err(|e| classify(&e))?;
        match answer.as_str() {
            "ok" => Ok(Answer::Granted),
            "full" => Ok(Answer::Full),
            "wait" => Ok(Answer::Wait(Duration::from_micros(
                u64::try_from(micros).unwrap_or(0).max(1),
            ))),
            other => Err(StoreError::Garbage(format!(
                "limiter {limiter:?} answered {other:?}"
            ))),
        }
    }

    /// A suite's start: room under `cap` (0: none) across the machines, and one token.
    pub(crate) fn admit(
        &mut self,
        limiter: &str,
        per_token: Duration,
        burst: u32,
        cap: u32,
    ) -> Result<Answer, StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "admit",
                permits: 1,
                per_token,
                burst,
                cap,
                ..Ask::default()
            },
        )
    }

    /// `permits` tokens for a test process's `acquire`.
    pub(crate) fn take(
        &mut self,
        limiter: &str,
        permits: u32,
        per_token: Duration,
        burst: u32,
    ) -> Result<Answer, StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "take",
                permits,
                per_token,
                burst,
                ..Ask::default()
            },
        )
    }

    /// A suite of this machine that held the limiter ended its attempt.
    pub(crate) fn release(&mut self, limiter: &str) -> Result<(), StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "release",
                ..Ask::default()
            },
        )
        .map(|_| ())
    }

    /// A Retry-After: no machine gets a token of the limiter for `d`.
    pub(crate) fn pause(&mut self, limiter: &str, d: Duration) -> Result<(), StoreError> {
        self.call(
            limiter,
            &Ask {
                op: "pause",
                pause: d,
                ..Ask::default()
            },
        )
        .map(|_| ())
    }
}
