//! Where the queue lives and which run it is (DESIGN §10): the store's URL checked and shown
//! without its password, the run key from the flag or the CI's own run identity, and the name
//! this machine goes by. Pure: the environment comes in as a function.

use std::time::Duration;

/// The store, as the user wrote it: `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]`, or
/// `rediss://` for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub url: String,
    pub tls: bool,
}

impl Target {
    /// Check the URL's shape; the client library reads the rest when it connects.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let expected = "expected redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB]";
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{expected}, got \"{}\"", redact(url)))?;
        let tls = match scheme {
            "redis" => false,
            "rediss" => true,
            other => {
                return Err(format!(
                    "{expected}, got a {other}:// URL (\"{}\")",
                    redact(url)
                ));
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host_port.is_empty() {
            return Err(format!("{expected}: \"{}\" names no host", redact(url)));
        }
        if let Some(port) = port_of(host_port) {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(format!(
                    "{expected}: \"{}\" has no valid port (\"{port}\")",
                    redact(url)
                ));
            }
        }
        let path = &rest[authority.len()..];
        let db = path.split(['?', '#']).next().unwrap_or_default();
        let db = db.strip_prefix('/').unwrap_or(db);
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return Err(format!(
                "{expected}: the database \"{db}\" in \"{}\" is not a number",
                redact(url)
            ));
        }
        if redis::IntoConnectionInfo::into_connection_info(url).is_err() {
            return Err(format!("{expected}, got \"{}\"", redact(url)));
        }
        Ok(Target {
            url: url.to_owned(),
            tls,
        })
    }

    /// The URL to print: a password never shows.
    pub(crate) fn shown(&self) -> String {
        redact(&self.url)
    }
}

/// The port part of `host:port` (`[::1]:6379` too), if written.
fn port_of(host_port: &str) -> Option<&str> {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split_once("]:").map(|(_, p)| p);
    }
    host_port.rsplit_once(':').map(|(_, p)| p)
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = match user.split_once(':') {
                Some((name, _)) => format!("{name}:***"),
                None => "***".to_owned(),
            };
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// DESIGN §10: the CI variables that name a run, in the order they are tried, and how each
/// makes the run key.
pub(crate) const RUN_VARIABLES: [&str; 4] = [
    "GITHUB_RUN_ID",
    "CI_PIPELINE_ID",
    "CIRCLE_WORKFLOW_ID",
    "BUILDKITE_BUILD_ID",
];

/// The run key and where it came from: `--queue-run`/`PTEST_QUEUE_RUN` (given), else the CI's
/// run identity (GitHub's id and attempt: a re-run is a new queue).
pub(crate) fn run_key(
    given: Option<(&str, &'static str)>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), String> {
    let nonempty = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    if let Some((run, source)) = given {
        if run.trim().is_empty() {
            return Err(format!("{source}: the queue's run id is empty"));
        }
        return Ok((run.to_owned(), source.to_owned()));
    }
    for name in RUN_VARIABLES {
        if let Some(v) = nonempty(name) {
            if name == "GITHUB_RUN_ID" {
                let attempt = nonempty("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
                return Ok((
                    format!("{v}-{attempt}"),
                    "GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT".into(),
                ));
            }
            return Ok((v, name.to_owned()));
        }
    }
    Err(format!(
        "--queue needs a run id that every machine of this run shares: give --queue-run ID or \
         PTEST_QUEUE_RUN (none of {} is set)",
        RUN_VARIABLES.join(", ")
    ))
}

/// The name this machine goes by in reports: the CI's job (with its index in a matrix), else
/// the host's name.
pub(crate) fn node_name(var: &dyn Fn(&str) -> Option<String>, host: Option<String>) -> String {
    let nonempty = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    let index = [
        "CI_NODE_INDEX",
        "CIRCLE_NODE_INDEX",
        "BUILDKITE_PARALLEL_JOB",
    ]
    .iter()
    .find_map(|k| nonempty(k));
    let job = ["GITHUB_JOB", "CI_JOB_NAME", "CIRCLE_JOB", "BUILDKITE_LABEL"]
        .iter()
        .find_map(|k| nonempty(k));
    // Every leg of a GitHub matrix has the same job id: the runner tells them apart.
    let job = match (job, nonempty("RUNNER_NAME")) {
        (Some(j), Some(r)) if nonempty("GITHUB_JOB").is_some() => Some(format!("{j}@{r}")),
        (j, _) => j,
    };
    let base = job
        .or(host.filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned());
    match index {
        Some(i) => format!("{base}#{i}"),
        None => base,
    }
}

/// `--queue-lease`: long enough for a renewal every 5 s to arrive before it runs out.
pub(crate) fn check_lease(d: Duration) -> Result<Duration, String> {
    if d < Duration::from_millis(500) {
        return Err(format!(
            "--queue-lease: {} is too short (at least 500ms; the default is 30s)",
            humantime::format_duration(d)
        ));
    }
    if d > Duration::from_secs(24 * 3600) {
        return Err("--queue-lease: at most 24h".into());
    }
    Ok(d)
}

/// `--queue-ttl`: how long the run's keys live after their last write.
pub(crate) fn check_ttl(d: Duration) -> Result<Duration, String> {
    if d < Duration::from_secs(60) {
        return Err(format!(
            "--queue-ttl: {} is too short (at least 1m; the default is 24h)",
            humantime::format_duration(d)
        ));
    }
    if d > Duration::from_secs(30 * 24 * 3600) {
        return Err("--queue-ttl: at most 30 days".into());
    }
    Ok(d)
}
