//! Services in the plan (DESIGN §11): names resolved (`needs` on suites), templates checked
//! (`{port}`, `{port:NAME}`, `{worker}` only where a worker exists, readiness addresses that
//! parse), and each service's list of the suites that need it. Also the pure parsers of
//! readiness addresses that the run uses once the templates are filled. Runs nothing.
//!
//! A service cannot need another service, so services add no cycle to the plan.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::decl::{ReadyCheck, Scope, ServiceDecl, SuiteDecl};
use super::{Service, ServiceId, Suite};
use crate::error::ConfigError;
use crate::suggest;

/// How long a service may take to become ready when its `ready_timeout` says nothing (as
/// Playwright's `webServer`).
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

fn ctx(name: &str) -> String {
    format!("service \"{name}\"")
}

/// Every `{...}` in `text`: the text between the braces.
fn placeholders(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let open = at + text.get(at..)?.iter().position(|&b| b == b'{')?;
        let close = open + text[open..].iter().position(|&b| b == b'}')?;
        at = close + 1;
        Some(&text[open + 1..close])
    })
}

/// The port a placeholder names: `Some(None)` for `{port}`, `Some(Some(name))` for
/// `{port:NAME}`, `None` for any other placeholder. `Err` for a malformed port name.
#[expect(
    clippy::option_option,
    reason = "not a port, the unnamed port, or a named one"
)]
fn port_of(inside: &[u8]) -> Result<Option<Option<String>>, String> {
    if inside == b"port" {
        return Ok(Some(None));
    }
    let Some(name) = inside.strip_prefix(b"port:") else {
        return Ok(None);
    };
    let plain = !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
    if plain {
        Ok(Some(Some(String::from_utf8_lossy(name).into_owned())))
    } else {
        Err(format!(
            "{{{}}}: a port's name is letters, digits, '_' and '-', like {{port:http}}",
            String::from_utf8_lossy(inside)
        ))
    }
}

/// The texts of a service that hold templates, each with the field it came from.
fn templates(s: &ServiceDecl) -> Vec<(String, &OsStr)> {
    let mut out: Vec<(String, &OsStr)> = Vec::new();
    out.extend(s.cmd.words().map(|w| ("cmd".to_owned(), w)));
    for (k, v) in &s.env {
        out.push((format!("env.{k}"), v));
    }
    for (k, v) in &s.own_env {
        out.push((format!("own_env.{k}"), v));
    }
    if let Some(r) = &s.ready {
        let field = format!("ready.{}", r.check.kind());
        match &r.check {
            ReadyCheck::Tcp(t) | ReadyCheck::Http(t) => out.push((field, OsStr::new(t))),
            ReadyCheck::Cmd(c) => out.extend(c.words().map(|w| (field.clone(), w))),
            // Output is matched as written: no template.
            ReadyCheck::Log(_) => {}
        }
    }
    out
}

/// Check each service's own fields; returns each one's ports (`None` is `{port}`), sorted.
pub(crate) fn check(
    services: &[ServiceDecl],
    errors: &mut Vec<ConfigError>,
) -> Vec<Vec<Option<String>>> {
    let mut seen: std::collections::HashMap<&str, &crate::error::Origin> =
        std::collections::HashMap::new();
    let mut all_ports = Vec::with_capacity(services.len());
    for s in services {
        let mut fail = |message: String| {
            errors.push(ConfigError::new(
                Some(s.origin.clone()),
                Some(ctx(&s.name)),
                message,
            ));
        };
        if let Some(first) = seen.insert(s.name.as_str(), &s.origin) {
            fail(format!("duplicate name (first declared at {first})"));
        }
        let mut ports: Vec<Option<String>> = Vec::new();
        for (field, text) in templates(s) {
            for inside in placeholders(text.as_bytes()) {
                match port_of(inside) {
                    Ok(Some(p)) => {
                        if !ports.contains(&p) {
                            ports.push(p);
                        }
                    }
                    Ok(None) if inside == b"worker" && s.scope == Scope::Run => fail(format!(
                        "{field}: {{worker}} in a service of scope \"run\", which serves every worker \
                         (use scope = \"worker\" for one instance per worker)"
                    )),
                    Ok(None) => {}
                    Err(why) => fail(format!("{field}: {why}")),
                }
            }
        }
        ports.sort();
        if let Some(r) = &s.ready {
            // With every placeholder standing for a plausible value, the address must parse.
            let sample = |t: &str| fill_sample(t);
            let bad = match &r.check {
                ReadyCheck::Tcp(t) => tcp_target(&sample(t)).err(),
                ReadyCheck::Http(u) => http_target(&sample(u)).err(),
                ReadyCheck::Log(text) if text.trim().is_empty() => {
                    Some("must not be empty".to_owned())
                }
                _ => None,
            };
            if let Some(why) = bad {
                fail(format!("ready.{}: {why}", r.check.kind()));
            }
        }
        all_ports.push(ports);
    }
    all_ports
}

/// `t` with every placeholder replaced by `1`: a port, a worker, an attempt.
fn fill_sample(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push('1');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Each suite's `needs` as positions in `services`; unknown names are errors with a suggestion.
pub(crate) fn resolve_needs(
    suites: &[SuiteDecl],
    services: &[ServiceDecl],
    errors: &mut Vec<ConfigError>,
) -> Vec<Vec<usize>> {
    let mut names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    suites
        .iter()
        .map(|s| {
            let mut out = Vec::with_capacity(s.needs.len());
            for n in &s.needs {
                match services.iter().position(|d| d.name == *n) {
                    Some(i) => out.push(i),
                    None => {
                        let hint = suggest::hint(n, names.iter().copied());
                        let hint = if hint.is_empty() && names.is_empty() {
                            format!(
                                " (declare it with ptest.service {{ name = \"{n}\", cmd = ... }})"
                            )
                        } else {
                            hint
                        };
                        errors.push(ConfigError::new(
                            Some(s.origin.clone()),
                            Some(format!("suite \"{}\"", s.name)),
                            format!("needs: unknown service \"{n}\"{hint}"),
                        ));
                    }
                }
            }
            out
        })
        .collect()
}

/// The plan's services, in declaration order, each with the suites of the plan that need it.
pub(crate) fn build(
    decls: Vec<ServiceDecl>,
    ports: Vec<Vec<Option<String>>>,
    config_dir: &Path,
    grace: Duration,
    suites: &[Suite],
) -> Vec<Service> {
    let mut services: Vec<Service> = decls
        .into_iter()
        .zip(ports)
        .enumerate()
        .map(|(i, (d, ports))| Service {
            id: ServiceId(i as u32),
            name: d.name,
            origin: d.origin,
            description: d.description,
            cmd: d.cmd,
            cwd: d
                .cwd
                .as_ref()
                .map_or_else(|| config_dir.to_path_buf(), |c| config_dir.join(c)),
            env: d.env.into_iter().collect(),
            own_env: d.own_env.into_iter().collect(),
            ready: d.ready,
            ready_timeout: d.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT),
            scope: d.scope,
            grace: d.grace.unwrap_or(grace),
            ports,
            needed_by: Vec::new(),
        })
        .collect();
    for s in suites {
        for n in &s.needs {
            services[n.index()].needed_by.push(s.id);
        }
    }
    services
}

/// Where a `tcp` check connects: `HOST:PORT`, `[V6]:PORT`, or a bare port on 127.0.0.1.
pub(crate) fn tcp_target(text: &str) -> Result<(String, u16), String> {
    let text = text.trim();
    let port_of = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("\"{text}\": the port must be a number from 1 to 65535"))
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("\"{text}\": expected [ADDRESS]:PORT"))?;
        return Ok((host.to_owned(), port_of(port)?));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => {
            Ok((host.to_owned(), port_of(port)?))
        }
        Some(_) => Err(format!(
            "\"{text}\": expected HOST:PORT like \"127.0.0.1:{{port}}\" ([ADDRESS]:PORT for IPv6)"
        )),
        None => Ok(("127.0.0.1".to_owned(), port_of(text)?)),
    }
}

/// Where an `http` check asks: host, port (80 when not given) and the path with its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    pub host: String,
    pub port: u16,
    /// From the first `/`, `/` when the URL has none.
    pub path: String,
}

pub(crate) fn http_target(url: &str) -> Result<HttpTarget, String> {
    let rest = url
        .trim()
        .strip_prefix("http://")
        .ok_or_else(|| format!("\"{url}\": expected a URL like \"http://127.0.0.1:{{port}}/\""))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.contains('@') {
        return Err(format!("\"{url}\": credentials in the URL are not sent"));
    }
    let (host, port) = if authority.starts_with('[') || authority.contains(':') {
        tcp_target(authority)?
    } else {
        (authority.to_owned(), 80)
    };
    if host.is_empty() {
        return Err(format!("\"{url}\": no host"));
    }
    if path.chars().any(char::is_whitespace) {
        return Err(format!("\"{url}\": spaces in the path (write them as %20)"));
    }
    Ok(HttpTarget { host, port, path })
}

/// `30s`, `1m30s`, `2.5s`: a timeout as messages write it.
pub(crate) fn secs_text(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        let s = d.as_secs();
        match (s / 3600, s % 3600 / 60, s % 60) {
            (0, 0, s) => format!("{s}s"),
            (0, m, 0) => format!("{m}m"),
            (0, m, s) => format!("{m}m{s}s"),
            (h, 0, 0) => format!("{h}h"),
            (h, m, 0) => format!("{h}h{m}m"),
            _ => crate::duration::human(d),
        }
    } else {
        crate::duration::human(d)
    }
}

#[cfg(test)]
mod tests;
