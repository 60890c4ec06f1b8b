//! The queue's store: one run's keys in a Redis (or Valkey) server, read and written through
//! redis-rs on tokio. Every step that must be atomic is a server-side script (`scripts.rs`);
//! here each is called with its arguments and its answer read. Errors say which of the user's
//! problems it is: the server cannot be reached, it refused the password, or what answered is
//! not Redis.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, RedisError, ToRedisArgs, Value};

use super::scripts::{KEYS, Scripts};
use super::target::Target;

/// How long connecting, and any one request, may take before the store counts as unreachable.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong talking to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// Nothing answered (refused, timed out, the connection dropped).
    Unreachable(String),
    /// The server refused the credentials (or asked for some).
    Auth(String),
    /// Something answered that is not a Redis server doing what ptest asked.
    Garbage(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unreachable(e) => write!(f, "cannot reach the queue's store: {e}"),
            StoreError::Auth(e) => write!(f, "the queue's store refused the credentials: {e}"),
            StoreError::Garbage(e) => write!(f, "the queue's store answered oddly: {e}"),
        }
    }
}

pub(crate) fn classify(e: &RedisError) -> StoreError {
    let text = e.to_string();
    if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
    {
        return StoreError::Auth(text);
    }
    if e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() {
        return StoreError::Unreachable(text);
    }
    StoreError::Garbage(text)
}

/// How a claim went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The unit is this machine's until its lease runs out.
    Mine,
    /// It already has a result.
    Done,
    /// Another machine holds it.
    Elsewhere,
    /// Its group is at its `max` across the machines.
    Busy,
    /// Its last attempt failed on this machine, and another machine is alive and taking units:
    /// the next attempt is theirs.
    Avoid,
}

/// How writing the plan went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Published {
    /// This machine came first and wrote it.
    Created,
    /// The plan was there, with this digest.
    Exists(String),
}

/// Something that happened on some machine, read from the run's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Happened {
    /// The unit has its result (`status` as the record names it) from `node`; `exports`:
    /// what it exported to `PTEST_ENV` (JSON, "" none).
    Ended {
        unit: u32,
        status: String,
        node: String,
        exports: String,
    },
    /// The unit's lease ran out: it is back in the queue.
    Requeued { unit: u32, holder: String },
}

/// One run's keys in the store. A clone shares the connection: what two clones send at once
/// goes out in that order and comes back in one round trip.
#[derive(Clone)]
pub(crate) struct Store {
    con: MultiplexedConnection,
    client: redis::Client,
    keys: Arc<[String]>,
    scripts: Arc<Scripts>,
    ttl: u64,
    lease_ms: u64,
}

/// How far the run has come, as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Progress {
    pub units: u64,
    pub done: u64,
    pub leased: u64,
}

impl Store {
    /// Connect and check that a Redis answers (PING).
    pub(crate) async fn connect(
        target: &Target,
        run: &str,
        lease: Duration,
        ttl: Duration,
    ) -> Result<Store, StoreError> {
        if target.tls {
            install_crypto();
        }
        let client = redis::Client::open(target.url.as_str())
            .map_err(|e| StoreError::Garbage(format!("{}: {e}", target.shown())))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REQUEST_TIMEOUT))
            .set_response_timeout(Some(REQUEST_TIMEOUT));
        let mut con = tokio::time::timeout(
            REQUEST_TIMEOUT * 2,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| StoreError::Unreachable(format!("{}: timed out", target.shown())))?
        .map_err(|e| with_url(&classify(&e), target))?;
        let pong: Value = redis::cmd("PING")
            .query_async(&mut con)
            .await
            .map_err(|e| with_url(&classify(&e), target))?;
        if !matches!(&pong, Value::SimpleString(s) if s == "PONG") {
            return Err(StoreError::Garbage(format!(
                "{}: PING answered {pong:?}",
                target.shown()
            )));
        }
        Ok(Store {
            con,
            client,
            keys: KEYS
                .iter()
                .map(|k| format!("ptest:{{{run}}}:{k}"))
                .collect(),
            scripts: Arc::new(Scripts::new()),
            ttl: ttl.as_secs().max(1),
            lease_ms: lease.as_millis() as u64,
        })
    }

    /// Run the script `which` picks with the run's keys and `args` (each in turn: a tuple's
    /// items, a slice's or a Vec's); its answer as `T`.
    async fn run<T: FromRedisValue>(
        &mut self,
        which: fn(&Scripts) -> &redis::Script,
        args: impl ToRedisArgs,
    ) -> Result<T, StoreError> {
        let mut inv = which(&self.scripts).prepare_invoke();
        for k in self.keys.iter() {
            inv.key(k);
        }
        inv.arg(args)
            .invoke_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))
    }

    /// [`Store::run`] of a script that answers `ok` when it did what was asked.
    async fn run_ok(
        &mut self,
        which: fn(&Scripts) -> &redis::Script,
        args: impl ToRedisArgs,
    ) -> Result<bool, StoreError> {
        Ok(self.run::<String>(which, args).await? == "ok")
    }

    fn key(&self, name: &str) -> &str {
        let i = KEYS.iter().position(|k| *k == name).expect("a known key");
        &self.keys[i]
    }

    /// Write the plan if no machine has (create-if-absent): its digest and, per unit, its
    /// descriptor and group.
    pub(crate) async fn publish(
        &mut self,
        digest: &str,
        units: &[(String, Option<String>)],
    ) -> Result<Published, StoreError> {
        let pairs: Vec<(&str, &str)> = units
            .iter()
            .map(|(desc, group)| (desc.as_str(), group.as_deref().unwrap_or("")))
            .collect();
        let (what, have): (String, String) = self
            .run(|s| &s.publish, (digest, self.ttl, units.len(), pairs))
            .await?;
        match what.as_str() {
            "created" => Ok(Published::Created),
            "exists" => Ok(Published::Exists(have)),
            other => Err(StoreError::Garbage(format!("publish answered {other:?}"))),
        }
    }

    /// The stored plan's descriptors, in unit order (to name how another plan differs).
    pub(crate) async fn descriptors(&mut self) -> Result<Vec<String>, StoreError> {
        let key = self.key("units").to_owned();
        let all: std::collections::HashMap<u32, String> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))?;
        let mut v: Vec<(u32, String)> = all.into_iter().collect();
        v.sort_by_key(|(i, _)| *i);
        Ok(v.into_iter().map(|(_, d)| d).collect())
    }

    /// Take `unit` under a lease held by `holder`; `group` is its group and that group's `max`.
    #[cfg(test)]
    pub(crate) async fn claim(
        &mut self,
        unit: u32,
        holder: &str,
        group: Option<(&str, u32)>,
    ) -> Result<Claim, StoreError> {
        Ok(self.claim_or_other(unit, holder, group, &[]).await?.0)
    }

    /// [`Store::claim_all`] of one unit.
    #[cfg(test)]
    pub(crate) async fn claim_or_other(
        &mut self,
        unit: u32,
        holder: &str,
        group: Option<(&str, u32)>,
        others: &[(u32, Option<(&str, u32)>)],
    ) -> Result<(Claim, Option<String>, Option<u32>), StoreError> {
        let mut all = self.claim_all(holder, &[(unit, group)], others).await?;
        Ok(all.remove(0))
    }

    /// Take each of `units` (with its group and that group's `max`) under a lease held by
    /// `holder`, in one round trip. Per unit: how its claim went; what its earlier attempts on
    /// other machines left when it is the caller's (`Store::hand_back`'s `carried`); when it is
    /// not, the first of `others` that no machine has taken or failed and whose group has
    /// room, now the caller's in its place.
    pub(crate) async fn claim_all(
        &mut self,
        holder: &str,
        units: &[(u32, Option<(&str, u32)>)],
        others: &[(u32, Option<(&str, u32)>)],
    ) -> Result<Vec<(Claim, Option<String>, Option<u32>)>, StoreError> {
        let asks: Vec<(u32, &str, u32)> = units
            .iter()
            .chain(others)
            .map(|(u, group)| {
                let (g, max) = group.unwrap_or(("", 0));
                (*u, g, max)
            })
            .collect();
        let flat: Vec<String> = self
            .run(
                |s| &s.claim,
                (holder, self.lease_ms, self.ttl, units.len(), asks),
            )
            .await?;
        if flat.len() != units.len() * 3 {
            return Err(StoreError::Garbage(format!(
                "claim answered {} values for {} units",
                flat.len(),
                units.len()
            )));
        }
        flat.chunks(3).map(claim_answer).collect()
    }

    /// The holder's attempt of `unit` failed and its retry policy wants another: the unit goes
    /// back to the queue with `carried` (its attempts so far), its next attempt for a machine
    /// it has not failed on. True when the lease was still the holder's.
    pub(crate) async fn hand_back(
        &mut self,
        unit: u32,
        holder: &str,
        carried: &str,
    ) -> Result<bool, StoreError> {
        self.run_ok(|s| &s.handback, (unit, holder, carried, self.ttl))
            .await
    }

    /// The holder stops taking units (`why`), unless no other machine is alive and taking
    /// them: false then.
    pub(crate) async fn stop_taking(
        &mut self,
        holder: &str,
        why: &str,
    ) -> Result<bool, StoreError> {
        self.run_ok(|s| &s.stop_taking, (holder, self.lease_ms, self.ttl, why))
            .await
    }

    /// How many machines other than `holder` are alive and taking units.
    pub(crate) async fn takers(&mut self, holder: &str) -> Result<u64, StoreError> {
        self.run(|s| &s.takers, (holder, self.lease_ms)).await
    }

    /// The holder takes units (again): it is no longer `off`.
    pub(crate) async fn take_again(&mut self, holder: &str) -> Result<(), StoreError> {
        let key = self.key("off").to_owned();
        redis::cmd("HDEL")
            .arg(key)
            .arg(holder)
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))
    }

    /// The holder's run is over: it takes no more units.
    pub(crate) async fn leave(&mut self, holder: &str) -> Result<(), StoreError> {
        let key = self.key("off").to_owned();
        redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg(holder)
            .arg("left")
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.ttl)
            .ignore()
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))
    }

    /// The holder's result for `unit`: true when it counts, false when it was kept aside as a
    /// duplicate (the lease was lost).
    #[cfg(test)]
    pub(crate) async fn finish(
        &mut self,
        unit: u32,
        holder: &str,
        status: &str,
        json: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        self.finish_exporting(unit, holder, status, json, node, "")
            .await
    }

    /// [`Store::finish`], with what the unit exported to `PTEST_ENV` (JSON, "" none), which
    /// its `end` event carries to the other machines.
    pub(crate) async fn finish_exporting(
        &mut self,
        unit: u32,
        holder: &str,
        status: &str,
        json: &str,
        node: &str,
        exports: &str,
    ) -> Result<bool, StoreError> {
        self.run_ok(
            |s| &s.finish,
            (unit, holder, status, json, node, self.ttl, exports),
        )
        .await
    }

    /// A unit that no machine took ends skipped; true when this call wrote it.
    pub(crate) async fn skip(
        &mut self,
        unit: u32,
        json: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        self.run_ok(|s| &s.skip, (unit, json, node, self.ttl)).await
    }

    /// Renew the leases `holder` has on `units`; returns how many it no longer holds.
    pub(crate) async fn renew(&mut self, holder: &str, units: &[u32]) -> Result<u64, StoreError> {
        self.run(|s| &s.renew, (holder, self.lease_ms, self.ttl, units))
            .await
    }

    /// Give back a unit `holder` claimed and will not run; true when it was still its.
    pub(crate) async fn release(&mut self, unit: u32, holder: &str) -> Result<bool, StoreError> {
        self.run_ok(|s| &s.release, (unit, holder, self.ttl)).await
    }

    /// Put every unit whose lease ran out back in the queue; returns how many.
    pub(crate) async fn reap(&mut self) -> Result<u64, StoreError> {
        self.run(|s| &s.reap, self.ttl).await
    }

    /// Every result that counted, by unit.
    pub(crate) async fn results(&mut self) -> Result<Vec<(u32, String)>, StoreError> {
        let key = self.key("result").to_owned();
        let all: std::collections::HashMap<u32, String> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))?;
        let mut v: Vec<(u32, String)> = all.into_iter().collect();
        v.sort_by_key(|(i, _)| *i);
        Ok(v)
    }

    /// The results that did not count (late results of lost leases).
    pub(crate) async fn duplicates(&mut self) -> Result<Vec<String>, StoreError> {
        let key = self.key("dups").to_owned();
        redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))
    }

    /// Units, those with a result, those under a lease.
    pub(crate) async fn progress(&mut self) -> Result<Progress, StoreError> {
        let (units, done, leased): (u64, u64, u64) = redis::pipe()
            .cmd("HLEN")
            .arg(self.key("units"))
            .cmd("HLEN")
            .arg(self.key("result"))
            .cmd("ZCARD")
            .arg(self.key("deadline"))
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))?;
        Ok(Progress {
            units,
            done,
            leased,
        })
    }

    /// The server's clock and when each machine of the run was last seen (ms).
    pub(crate) async fn liveness(&mut self) -> Result<(u64, Vec<u64>), StoreError> {
        let key = self.key("nodes").to_owned();
        let ((secs, micros), seen): ((u64, u64), Vec<u64>) = redis::pipe()
            .cmd("TIME")
            .cmd("HVALS")
            .arg(key)
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))?;
        Ok((secs * 1000 + micros / 1000, seen))
    }

    /// The plan's digest, if a machine wrote one.
    pub(crate) async fn digest(&mut self) -> Result<Option<String>, StoreError> {
        let key = self.key("plan").to_owned();
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.con)
            .await
            .map_err(|e| classify(&e))
    }

    /// A second connection for reading events: a blocking read must not hold up the claims.
    pub(crate) async fn reader(&self) -> Result<Reader, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REQUEST_TIMEOUT))
            .set_response_timeout(None);
        let con = tokio::time::timeout(
            REQUEST_TIMEOUT * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| StoreError::Unreachable("timed out".into()))?
        .map_err(|e| classify(&e))?;
        Ok(Reader {
            con,
            key: self.key("events").to_owned(),
            last: "0-0".to_owned(),
        })
    }
}

/// rustls needs its crypto chosen once per process; a second call is harmless.
#[expect(
    deprecated,
    reason = "ring has no post-quantum key exchange; aws-lc-rs would need cmake to build"
)]
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn with_url(e: &StoreError, target: &Target) -> StoreError {
    let url = target.shown();
    match e {
        StoreError::Unreachable(t) => StoreError::Unreachable(format!("{url}: {t}")),
        StoreError::Auth(t) => StoreError::Auth(format!("{url}: {t}")),
        StoreError::Garbage(t) => StoreError::Garbage(format!("{url}: {t}")),
    }
}

/// Reads the run's event stream from where it left off.
pub(crate) struct Reader {
    con: MultiplexedConnection,
    key: String,
    last: String,
}

impl Reader {
    /// What happened since the last read, waiting up to `block` for something to.
    pub(crate) async fn next(&mut self, block: Duration) -> Result<Vec<Happened>, StoreError> {
        let reply: Value = tokio::time::timeout(
            block + REQUEST_TIMEOUT,
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1000)
                .arg("BLOCK")
                .arg(block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&self.last)
                .query_async(&mut self.con),
        )
        .await
        .map_err(|_| StoreError::Unreachable("reading events timed out".into()))?
        .map_err(|e| classify(&e))?;
        let (last, happened) = parse_xread(reply)?;
        if let Some(last) = last {
            self.last = last;
        }
        Ok(happened)
    }
}

/// One unit's `answer, carried, instead` as the CLAIM script returns them.
fn claim_answer(three: &[String]) -> Result<(Claim, Option<String>, Option<u32>), StoreError> {
    let [answer, carried, took] = three else {
        return Err(StoreError::Garbage("claim answered too little".into()));
    };
    let claim = match answer.as_str() {
        "ok" => Claim::Mine,
        "done" => Claim::Done,
        "elsewhere" => Claim::Elsewhere,
        "busy" => Claim::Busy,
        "avoid" => Claim::Avoid,
        other => return Err(StoreError::Garbage(format!("claim answered {other:?}"))),
    };
    let took = match took.as_str() {
        "" => None,
        t => Some(
            t.parse()
                .map_err(|_| StoreError::Garbage(format!("claim gave {t:?} instead")))?,
        ),
    };
    Ok((claim, Some(carried.clone()).filter(|c| !c.is_empty()), took))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// XREAD's answer (nil, or `[[key, [[id, [field, value, ...]], ...]]]`) as events, with the
/// last id read.
pub(crate) fn parse_xread(reply: Value) -> Result<(Option<String>, Vec<Happened>), StoreError> {
    let odd = |what: &str| StoreError::Garbage(format!("reading events: {what}"));
    let streams = match reply {
        Value::Nil => return Ok((None, Vec::new())),
        Value::Array(a) => a,
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        other => return Err(odd(&format!("{other:?}"))),
    };
    let mut last = None;
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else {
            return Err(odd("not a stream"));
        };
        let Some(Value::Array(entries)) = pair.into_iter().nth(1) else {
            return Err(odd("no entries"));
        };
        for entry in entries {
            let Value::Array(e) = entry else {
                return Err(odd("not an entry"));
            };
            let mut e = e.into_iter();
            let id = e
                .next()
                .as_ref()
                .and_then(text)
                .ok_or_else(|| odd("no id"))?;
            let Some(Value::Array(fields)) = e.next() else {
                return Err(odd("no fields"));
            };
            let mut get = std::collections::HashMap::new();
            for kv in fields.chunks(2) {
                if let [k, v] = kv {
                    if let (Some(k), Some(v)) = (text(k), text(v)) {
                        get.insert(k, v);
                    }
                }
            }
            let unit = get
                .get("u")
                .and_then(|u| u.parse().ok())
                .ok_or_else(|| odd("an event without its unit"))?;
            let field = |k: &str| get.get(k).cloned().unwrap_or_default();
            match get.get("k").map(String::as_str) {
                Some("end") => out.push(Happened::Ended {
                    unit,
                    status: field("s"),
                    node: field("n"),
                    exports: field("x"),
                }),
                Some("requeue") => out.push(Happened::Requeued {
                    unit,
                    holder: field("n"),
                }),
                _ => return Err(odd("an event of an unknown kind")),
            }
            last = Some(id);
        }
    }
    Ok((last, out))
}
