//! `ptest merge`: join the JSON reports of shards run on different machines into one report,
//! with the summary recomputed (wall time = the slowest shard, sequential time = the sum).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::Error;

fn read(path: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {}",
            path.display(),
            crate::io_message(&e)
        ))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a ptest report: {e}", path.display())))?;
    if !v["suites"].is_array() || !v["summary"].is_object() {
        return Err(Error::Usage(format!(
            "{}: not a ptest report (no suites or summary)",
            path.display()
        )));
    }
    Ok(v)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Merge the reports; suites keep their order, shard by shard.
pub fn merge(inputs: &[PathBuf]) -> Result<Value, Error> {
    if inputs.is_empty() {
        return Err(Error::Usage("merge: give at least one REPORT.json".into()));
    }
    let reports = inputs
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut suites = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (shard, (r, path)) in reports.iter().zip(inputs).enumerate() {
        for s in r["suites"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default().to_owned();
            if let Some(i) = seen.get(&name) {
                return Err(Error::Usage(format!(
                    "merge: suite \"{name}\" is in {} and in {} (each suite belongs to one shard)",
                    inputs[*i].display(),
                    path.display()
                )));
            }
            seen.insert(name, shard);
            suites.push(s.clone());
        }
    }
    let count = |status: &str| suites.iter().filter(|s| s["status"] == status).count();
    let duration = reports
        .iter()
        .map(|r| f(&r["duration"]))
        .fold(0.0, f64::max);
    let sequential: f64 = suites.iter().map(|s| f(&s["duration"])).sum();
    let mut limiters: BTreeMap<String, (u64, f64, u64)> = BTreeMap::new();
    for l in reports
        .iter()
        .flat_map(|r| r["limiters"].as_array().cloned().unwrap_or_default())
    {
        let e = limiters
            .entry(l["name"].as_str().unwrap_or_default().to_owned())
            .or_default();
        e.0 += l["acquired"].as_u64().unwrap_or(0);
        e.1 += f(&l["waited"]);
        e.2 += l["throttled"].as_u64().unwrap_or(0);
    }
    let timestamp = reports
        .iter()
        .filter_map(|r| r["timestamp"].as_str())
        .min()
        .unwrap_or_default();
    let run_ids: Vec<&str> = reports
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    Ok(json!({
        "format_version": crate::report::json::FORMAT_VERSION,
        "ptest_version": env!("CARGO_PKG_VERSION"),
        "run_id": run_ids.join("+"),
        "timestamp": timestamp,
        "duration": duration,
        "workers": reports.iter().map(|r| r["workers"].as_u64().unwrap_or(0)).sum::<u64>(),
        "suites": suites,
        "summary": {
            "total": suites.len(),
            "passed": count("passed"),
            "failed": count("failed"),
            "skipped": count("skipped"),
            "flaky": count("flaky"),
            "timed_out": count("timed_out"),
            "cancelled": count("cancelled"),
            "sequential_time": (sequential * 1000.0).round() / 1000.0,
            "speedup": if duration > 0.0 { ((sequential / duration) * 1000.0).round() / 1000.0 } else { 1.0 },
            "interrupted": reports.iter().any(|r| r["summary"]["interrupted"] == true),
        },
        "limiters": limiters.into_iter().map(|(name, (acquired, waited, throttled))| json!({
            "name": name, "acquired": acquired, "waited": waited, "throttled": throttled,
        })).collect::<Vec<_>>(),
        "shards": inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    }))
}
