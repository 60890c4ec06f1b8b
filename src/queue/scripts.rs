//! The queue's atomic steps, as Lua scripts the Redis server runs (EVALSHA): each reads and
//! writes the run's keys in one step, so two machines can never both take a unit, a group's
//! count never passes its `max`, and a lost lease's result can never replace the holder's. Time
//! is the server's (`TIME`), so machines' clocks do not matter.
//!
//! Keys (all under `ptest:{RUN}:`, in the order every script receives them, [`KEYS`]):
//! `plan` (the digest, set once), `units` (unit → its descriptor), `ugroup` (unit → its group),
//! `state` (unit → `l` leased or `d` done; absent: pending), `holder` (unit → lease holder),
//! `deadline` (sorted set: unit → when its lease runs out, ms), `gcount` (group → units holding
//! it), `result` (unit → the holder's result), `dups` (results that did not count), `events`
//! (a stream: `k` end or requeue, `u` unit, `s` status, `n` node), `nodes` (holder → last seen),
//! `retry` (unit → the attempts a failed unit carries to its next machine, and `f` + unit → the
//! holders it failed on, one a line), `off` (holder → why it takes no units: `stopped` after its
//! first units failed, `left` at its end).
//!
//! "Alive and taking": a holder seen within one lease (every machine renews, holding units or
//! not) and not in `off`.

/// The key names, in script order.
pub(crate) const KEYS: [&str; 13] = [
    "plan", "units", "ugroup", "state", "holder", "deadline", "gcount", "result", "dups", "events",
    "nodes", "retry", "off",
];

/// Shared by every script: the server's clock in ms and a key's expiry pushed forward.
const PRELUDE: &str = r"
local K_PLAN, K_UNITS, K_UGROUP, K_STATE, K_HOLDER, K_DEADLINE, K_GCOUNT, K_RESULT, K_DUPS, K_EVENTS, K_NODES, K_RETRY, K_OFF =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keep(key, ttl)
  redis.call('EXPIRE', key, ttl)
end
-- Holders other than `me` and those in the newline-separated `except`, alive (seen within
-- `lease` ms of `now`) and taking units.
local function takers(me, except, now, lease)
  local skip = {}
  for h in string.gmatch(except or '', '[^\n]+') do skip[h] = true end
  local seen = redis.call('HGETALL', K_NODES)
  local n = 0
  for i = 1, #seen, 2 do
    local h = seen[i]
    if h ~= me and not skip[h] and tonumber(seen[i + 1]) > now - lease
      and redis.call('HEXISTS', K_OFF, h) == 0 then
      n = n + 1
    end
  end
  return n
end
";

/// ARGV: digest, ttl seconds, unit count, then per unit its descriptor and its group ("" none).
/// Returns `{"created", digest}` or `{"exists", digest}`.
const PUBLISH: &str = r"
local digest, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local have = redis.call('GET', K_PLAN)
if have then return {'exists', have} end
redis.call('SET', K_PLAN, digest, 'EX', ttl)
for i = 0, n - 1 do
  redis.call('HSET', K_UNITS, i, ARGV[4 + 2 * i])
  local g = ARGV[5 + 2 * i]
  if g ~= '' then redis.call('HSET', K_UGROUP, i, g) end
end
keep(K_UNITS, ttl)
keep(K_UGROUP, ttl)
return {'created', digest}
";

/// ARGV: holder, lease ms, ttl seconds, the number of units asked for, then those units and
/// after them the caller's other ready units (best first), each as unit, group ("" none), the
/// group's max. Returns, per unit asked for, `answer, carried, instead`: `ok` (the unit is the
/// caller's until its lease runs out, also when the caller holds it already; `carried` is what
/// its earlier attempts on other machines left, or ""), `done` (it has a result), `elsewhere`
/// (another machine holds a live lease), `busy` (its group is full) or `avoid` (it failed on
/// the caller, and another machine is alive and taking units). Unless `ok`, `instead` is the
/// first other unit that no machine has taken or failed and whose group has room, now the
/// caller's ("" none): machines that ask for the same units at once each get one in a single
/// round trip.
const CLAIM: &str = r"
local holder, lease, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local function take(u, g)
  if g ~= '' then
    redis.call('HINCRBY', K_GCOUNT, g, 1)
    keep(K_GCOUNT, ttl)
  end
  redis.call('HSET', K_STATE, u, 'l')
  redis.call('HSET', K_HOLDER, u, holder)
  redis.call('ZADD', K_DEADLINE, now + lease, u)
  redis.call('HSET', K_NODES, holder, now)
  keep(K_STATE, ttl) keep(K_HOLDER, ttl) keep(K_DEADLINE, ttl) keep(K_NODES, ttl)
end
local function room(g, m)
  return g == '' or tonumber(redis.call('HGET', K_GCOUNT, g) or '0') < m
end
local function answer(unit, group, max)
  local st = redis.call('HGET', K_STATE, unit)
  if st == 'd' then return 'done' end
  if st == 'l' then
    local dl = tonumber(redis.call('ZSCORE', K_DEADLINE, unit) or '0')
    if dl > now then
      if redis.call('HGET', K_HOLDER, unit) == holder then return 'ok' end
      return 'elsewhere'
    end
    -- A lost lease taken over: the unit keeps its place in its group.
    take(unit, '')
    return 'ok'
  end
  -- A failed unit's next attempt goes to a machine it has not failed on, while there is one.
  local failed = redis.call('HGET', K_RETRY, 'f' .. unit)
  if failed then
    local mine = false
    for h in string.gmatch(failed, '[^\n]+') do
      if h == holder then mine = true end
    end
    if mine and takers(holder, failed, now, lease) > 0 then return 'avoid' end
  end
  if not room(group, max) then return 'busy' end
  take(unit, group)
  return 'ok'
end
local out = {}
for a = 0, n - 1 do
  local unit, group, max = ARGV[5 + 3 * a], ARGV[6 + 3 * a], tonumber(ARGV[7 + 3 * a])
  local r = answer(unit, group, max)
  local carried, instead = '', ''
  if r == 'ok' then
    carried = redis.call('HGET', K_RETRY, unit) or ''
  else
    for i = 5 + 3 * n, #ARGV - 2, 3 do
      local u, g, m = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
      if not redis.call('HGET', K_STATE, u) and redis.call('HEXISTS', K_RETRY, 'f' .. u) == 0
        and room(g, m) then
        take(u, g)
        instead = u
        break
      end
    end
  end
  out[#out + 1] = r
  out[#out + 1] = carried
  out[#out + 1] = instead
end
return out
";

/// ARGV: unit, holder, status, result JSON, node, ttl seconds, what it exported to `PTEST_ENV`
/// (JSON, "" none: the `end` event carries it as `x`, for dependents on other machines).
/// Returns `ok` (the holder's result: it counts) or `dup` (kept aside: the lease was lost, or
/// the unit already has a result).
const FINISH: &str = r"
local unit, holder, status, json, node, ttl, exports =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
if redis.call('HGET', K_STATE, unit) ~= 'l' or redis.call('HGET', K_HOLDER, unit) ~= holder then
  redis.call('RPUSH', K_DUPS, json)
  keep(K_DUPS, ttl)
  return 'dup'
end
redis.call('HSET', K_STATE, unit, 'd')
redis.call('HDEL', K_HOLDER, unit)
redis.call('ZREM', K_DEADLINE, unit)
local group = redis.call('HGET', K_UGROUP, unit)
if group then redis.call('HINCRBY', K_GCOUNT, group, -1) end
redis.call('HSET', K_RESULT, unit, json)
redis.call('HDEL', K_RETRY, unit, 'f' .. unit)
if exports ~= '' then
  redis.call('XADD', K_EVENTS, '*', 'k', 'end', 'u', unit, 's', status, 'n', node, 'x', exports)
else
  redis.call('XADD', K_EVENTS, '*', 'k', 'end', 'u', unit, 's', status, 'n', node)
end
keep(K_STATE, ttl) keep(K_RESULT, ttl) keep(K_EVENTS, ttl)
return 'ok'
";

/// ARGV: unit, result JSON, node, ttl seconds. A unit no machine took ends skipped (every
/// machine reaches the same skip; the first one writes it). Returns `ok` or `no`.
const SKIP: &str = r"
local unit, json, node, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', K_STATE, unit) then return 'no' end
redis.call('HSET', K_STATE, unit, 'd')
redis.call('HSET', K_RESULT, unit, json)
redis.call('XADD', K_EVENTS, '*', 'k', 'end', 'u', unit, 's', 'skipped', 'n', node)
keep(K_STATE, ttl) keep(K_RESULT, ttl) keep(K_EVENTS, ttl)
return 'ok'
";

/// ARGV: holder, lease ms, ttl seconds, then the units it holds. Renews those still its own;
/// returns how many were not (their leases were lost).
const RENEW: &str = r"
local holder, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local lost = 0
for i = 4, #ARGV do
  local unit = ARGV[i]
  if redis.call('HGET', K_STATE, unit) == 'l' and redis.call('HGET', K_HOLDER, unit) == holder then
    redis.call('ZADD', K_DEADLINE, now + lease, unit)
  else
    lost = lost + 1
  end
end
redis.call('HSET', K_NODES, holder, now)
keep(K_NODES, ttl)
return lost
";

/// ARGV: unit, holder, ttl seconds. The holder gives the unit back (it will not run it): it
/// is queued again at once. Returns `ok`, or `no` when the lease was no longer its.
const RELEASE: &str = r"
local unit, holder, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', K_STATE, unit) ~= 'l' or redis.call('HGET', K_HOLDER, unit) ~= holder then
  return 'no'
end
redis.call('HDEL', K_STATE, unit)
redis.call('HDEL', K_HOLDER, unit)
redis.call('ZREM', K_DEADLINE, unit)
local group = redis.call('HGET', K_UGROUP, unit)
if group then redis.call('HINCRBY', K_GCOUNT, group, -1) end
redis.call('XADD', K_EVENTS, '*', 'k', 'requeue', 'u', unit, 'n', holder)
keep(K_EVENTS, ttl)
return 'ok'
";

/// ARGV: unit, holder, carried JSON, ttl seconds. The holder's attempt failed and the unit's
/// retry policy wants another: the unit goes back to the queue carrying its attempts so far,
/// with the holder added to those it failed on (CLAIM sends the next attempt elsewhere).
/// Returns `ok`, or `no` when the lease was no longer the holder's.
const HANDBACK: &str = r"
local unit, holder, carried, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', K_STATE, unit) ~= 'l' or redis.call('HGET', K_HOLDER, unit) ~= holder then
  return 'no'
end
local failed = redis.call('HGET', K_RETRY, 'f' .. unit) or ''
redis.call('HSET', K_RETRY, unit, carried, 'f' .. unit, failed .. holder .. '\n')
redis.call('HDEL', K_STATE, unit)
redis.call('HDEL', K_HOLDER, unit)
redis.call('ZREM', K_DEADLINE, unit)
local group = redis.call('HGET', K_UGROUP, unit)
if group then redis.call('HINCRBY', K_GCOUNT, group, -1) end
redis.call('XADD', K_EVENTS, '*', 'k', 'requeue', 'u', unit, 'n', holder)
keep(K_RETRY, ttl) keep(K_EVENTS, ttl)
return 'ok'
";

/// ARGV: holder, lease ms, ttl seconds, why. The holder stops taking units, unless no other
/// machine is alive and taking them (then nobody would run what is left). Returns `ok` or
/// `alone`.
const STOP_TAKING: &str = r"
local holder, lease, ttl, why = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if takers(holder, '', now_ms(), lease) == 0 then return 'alone' end
redis.call('HSET', K_OFF, holder, why)
keep(K_OFF, ttl)
return 'ok'
";

/// ARGV: holder, lease ms. How many other machines are alive and taking units.
const TAKERS: &str = r"
return takers(ARGV[1], '', now_ms(), tonumber(ARGV[2]))
";

/// ARGV: ttl seconds. Every lease past its deadline goes back to the queue (a `requeue` event
/// tells the machines); returns how many.
const REAP: &str = r"
local ttl = tonumber(ARGV[1])
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', K_DEADLINE, '-inf', now)
for _, unit in ipairs(due) do
  redis.call('ZREM', K_DEADLINE, unit)
  if redis.call('HGET', K_STATE, unit) == 'l' then
    redis.call('HDEL', K_STATE, unit)
    local holder = redis.call('HGET', K_HOLDER, unit) or ''
    redis.call('HDEL', K_HOLDER, unit)
    local group = redis.call('HGET', K_UGROUP, unit)
    if group then redis.call('HINCRBY', K_GCOUNT, group, -1) end
    redis.call('XADD', K_EVENTS, '*', 'k', 'requeue', 'u', unit, 'n', holder)
  end
end
if #due > 0 then keep(K_EVENTS, ttl) end
return #due
";

/// The scripts, each with the shared prelude.
pub(crate) struct Scripts {
    pub publish: redis::Script,
    pub claim: redis::Script,
    pub finish: redis::Script,
    pub skip: redis::Script,
    pub renew: redis::Script,
    pub reap: redis::Script,
    pub release: redis::Script,
    pub handback: redis::Script,
    pub stop_taking: redis::Script,
    pub takers: redis::Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        let s = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            publish: s(PUBLISH),
            claim: s(CLAIM),
            finish: s(FINISH),
            skip: s(SKIP),
            renew: s(RENEW),
            reap: s(REAP),
            release: s(RELEASE),
            handback: s(HANDBACK),
            stop_taking: s(STOP_TAKING),
            takers: s(TAKERS),
        }
    }
}
