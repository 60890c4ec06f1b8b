//! `ptest merge --queue URL [--wait]` (DESIGN §10): the supervisor of a queue run. Waits until
//! every unit has its result (or no machine is left to run what has none), then joins the
//! results the lease holders wrote into one record, naming the units that never ran. Writing
//! the record's files is the caller's.

use std::time::{Duration, Instant};

use super::{Spec, connect};
use crate::record::{self, FORMAT_VERSION, Record, Status, Suite};

/// What the store held when the supervisor stopped waiting.
pub(crate) struct Collected {
    pub record: Record,
    /// Units left without a result (their names), in plan order.
    pub missing: Vec<String>,
    /// Results that did not count (late results of lost leases).
    pub duplicates: usize,
}

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiting {
    /// Wait at all (else: what is there now).
    pub wait: bool,
    pub timeout: Option<Duration>,
    /// A machine not seen for this long is gone.
    pub lease: Duration,
}

/// Wait as asked, then read every result. `say` gets a progress line now and then.
pub(crate) async fn collect(
    spec: &Spec,
    waiting: Waiting,
    say: &mut dyn FnMut(&str),
) -> Result<Collected, String> {
    let mut store = connect(spec).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut said = None::<Instant>;
    let timed_out = || waiting.timeout.is_some_and(|t| started.elapsed() >= t);
    loop {
        let has_plan = store.digest().await.map_err(|e| e.to_string())?.is_some();
        if has_plan {
            // Leases of machines that are gone go back to the queue (as the machines' own
            // renewals would do), so that they count as no machine's.
            store.reap().await.map_err(|e| e.to_string())?;
            let p = store.progress().await.map_err(|e| e.to_string())?;
            if p.done >= p.units {
                break;
            }
            if !waiting.wait || timed_out() {
                break;
            }
            let (now, seen) = store.liveness().await.map_err(|e| e.to_string())?;
            let lease_ms = waiting.lease.as_millis() as u64;
            let alive = seen.iter().any(|t| now.saturating_sub(*t) < lease_ms);
            if p.leased == 0 && !seen.is_empty() && !alive {
                say(&format!(
                    "no machine of queue run {} is left: {} of {} units have no result",
                    spec.run,
                    p.units - p.done,
                    p.units
                ));
                break;
            }
            if said.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                said = Some(Instant::now());
                say(&format!(
                    "waiting for queue run {}: {} of {} units have results, {} held by machines",
                    spec.run, p.done, p.units, p.leased
                ));
            }
        } else {
            if !waiting.wait {
                return Err(format!(
                    "queue run {} has no plan: no machine has joined it (--wait waits for them)",
                    spec.run
                ));
            }
            if timed_out() {
                return Err(format!(
                    "queue run {}: no machine joined within the timeout",
                    spec.run
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<String> = store
        .descriptors()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d)
                .ok()
                .and_then(|v| v["name"].as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    let results = store.results().await.map_err(|e| e.to_string())?;
    let duplicates = store.duplicates().await.map_err(|e| e.to_string())?.len();
    let mut by_unit: Vec<Option<Suite>> = vec![None; names.len()];
    for (unit, json) in results {
        let suite: Suite = serde_json::from_str(&json)
            .map_err(|e| format!("unit {unit}'s result in the store is not a ptest result: {e}"))?;
        if let Some(slot) = by_unit.get_mut(unit as usize) {
            *slot = Some(suite);
        }
    }
    let mut missing = Vec::new();
    let suites: Vec<Suite> = by_unit
        .into_iter()
        .zip(&names)
        .map(|(s, name)| {
            s.unwrap_or_else(|| {
                missing.push(name.clone());
                never_ran(name)
            })
        })
        .collect();
    Ok(Collected {
        record: record_of(&spec.run, suites),
        missing,
        duplicates,
    })
}

/// A unit no machine ran, as the merged record shows it.
fn never_ran(name: &str) -> Suite {
    Suite {
        name: name.to_owned(),
        description: None,
        category: String::new(),
        phase: String::new(),
        group: None,
        tags: Vec::new(),
        file: None,
        status: Status::Skipped,
        start_time: None,
        end_time: None,
        duration: 0.0,
        return_code: None,
        signal: None,
        attempts: 0,
        max_attempts: 1,
        error_message: None,
        skip_reason: Some("no result: no machine of the queue run ran it to its end".into()),
        log_file: None,
        worker: None,
        shard: None,
        node: None,
        peak_rss_kb: None,
        cpu_time: None,
        attempts_detail: Vec::new(),
        batch: None,
        testcases: None,
        tail: None,
    }
}

/// The whole queue run's record: wall time from the first start to the last end anywhere.
pub(crate) fn record_of(run: &str, suites: Vec<Suite>) -> Record {
    let first = suites
        .iter()
        .filter_map(|s| s.start_time)
        .fold(f64::INFINITY, f64::min);
    let last = suites
        .iter()
        .filter_map(|s| s.end_time)
        .fold(f64::NEG_INFINITY, f64::max);
    let wall = if last >= first {
        record::round3(last - first)
    } else {
        0.0
    };
    let mut nodes: Vec<String> = Vec::new();
    for n in suites.iter().filter_map(|s| s.node.as_ref()) {
        if !nodes.contains(n) {
            nodes.push(n.clone());
        }
    }
    let timestamp = if first.is_finite() {
        humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + Duration::from_secs_f64(first.max(0.0)),
        )
        .to_string()
    } else {
        String::new()
    };
    Record {
        format_version: FORMAT_VERSION,
        ptest_version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: run.to_owned(),
        shard: None,
        timestamp,
        duration: wall,
        workers: 0,
        summary: record::Summary::of(&suites, wall, false),
        suites,
        limiters: Vec::new(),
        services: Vec::new(),
        kept_tmp: None,
        shards: nodes,
    }
}
