//! The `ptest` table: `config`, `suite`, `group`, `phase`, `limiter`, `retry`, `service`, `on`, `glob`,
//! `sys`, `profile`, `vars`. Each constructor reads its table with `Reader` (unknown keys and
//! wrong types stop evaluation at once), records a declaration with its caller's line, and
//! returns a handle. Cross references are checked later, in `plan::build`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use mlua::{Lua, MultiValue, Table, Value};

use super::State;
use super::fields::{Reader, describe, int_of, raise, reference_of, scalar_bytes, sequence};
use super::handle::Shown;
use super::handle::{Handle, Kind};
use crate::command::CommandLine;
use crate::error::{ConfigError, Origin};
use crate::plan::decl::{
    BatchDecl, GroupDecl, LimiterDecl, MemoryDecl, OnFailure, PhaseDecl, Ready, ReadyCheck,
    RetryDecl, RetryPolicy, RetryRef, Scope, ServiceDecl, SuiteDecl, WorkersDecl,
};
use crate::suggest;

pub(super) const EVENTS: &[&str] = &[
    "run_started",
    "suite_started",
    "suite_finished",
    "run_finished",
];

const SUITE_FIELDS: &[&str] = &[
    "name",
    "cmd",
    "description",
    "category",
    "tags",
    "cwd",
    "env",
    "timeout",
    "depends_on",
    "needs",
    "group",
    "phase",
    "limiter",
    "retry",
    "slots",
    "serial",
    "estimate",
    "memory",
    "enabled",
    "select",
];
const BATCH_FIELDS: &[&str] = &[
    "name",
    "items",
    "cmd",
    "batches",
    "results",
    "slice",
    "test",
    "skip_test",
    "test_timeout",
    "test_slow",
    "list",
    "select",
    "warm",
    "description",
    "category",
    "tags",
    "cwd",
    "env",
    "timeout",
    "depends_on",
    "needs",
    "group",
    "phase",
    "limiter",
    "retry",
    "slots",
    "serial",
    "estimate",
    "memory",
    "enabled",
];
const SERVICE_FIELDS: &[&str] = &[
    "name",
    "cmd",
    "description",
    "cwd",
    "env",
    "own_env",
    "ready",
    "ready_timeout",
    "scope",
    "grace",
];
const READY_FIELDS: &[&str] = &["tcp", "http", "cmd", "log", "interval"];
const GROUP_FIELDS: &[&str] = &["name", "max", "env"];
const PHASE_FIELDS: &[&str] = &["name", "enabled", "workers", "on_failure", "always"];
const LIMITER_FIELDS: &[&str] = &[
    "name",
    "rate",
    "per",
    "burst",
    "concurrency",
    "adaptive",
    "max_throttled",
];
const RETRY_FIELDS: &[&str] = &[
    "name",
    "attempts",
    "delay",
    "factor",
    "max_delay",
    "jitter",
    "on",
    "when",
];
const RETRY_ON_FIELDS: &[&str] = &["exit_codes", "output", "timeout"];
const CONFIG_FIELDS: &[&str] = &[
    "workers",
    "log_dir",
    "fail_fast",
    "timeout",
    "grace",
    "memory",
    "hook_timeout",
];

/// The file and line of the Lua code that called the current Rust function. Frames of a preset
/// shipped in the binary are passed over: a batch the cargo preset declares is the config
/// line's that called the preset, and so are its errors.
pub(super) fn caller(lua: &Lua) -> Origin {
    let fallback = || State::chunk(lua);
    let frame = |level: usize| {
        lua.inspect_stack(level, |d| {
            let src = d.source();
            let file: Arc<str> = match src.source.as_deref() {
                Some(s) if s.starts_with('@') => Arc::from(&s[1..]),
                _ => src.short_src.as_deref().map_or_else(fallback, Arc::from),
            };
            Origin {
                file,
                line: d.current_line().unwrap_or(0) as u32,
            }
        })
    };
    let first = frame(1);
    let mut level = 1;
    let mut at = first.clone();
    while let Some(o) = &at
        && o.file.starts_with("ptest/presets/")
        && level < 32
    {
        level += 1;
        at = frame(level);
    }
    at.filter(|o| !o.file.starts_with("ptest/presets/"))
        .or(first)
        .unwrap_or_else(|| Origin {
            file: fallback(),
            line: 0,
        })
}

/// The single table argument of a constructor.
fn table_arg(lua: &Lua, what: &str, args: &MultiValue) -> mlua::Result<Table> {
    let example = if what == "config" {
        "ptest.config { workers = 4 }".to_owned()
    } else {
        format!("ptest.{what} {{ name = \"...\" }}")
    };
    let got = match args.front() {
        Some(Value::Table(t)) if args.len() == 1 => return Ok(t.clone()),
        Some(Value::Table(_)) => "more than one argument".to_owned(),
        Some(v) => describe(v),
        None => "nothing".to_owned(),
    };
    Err(raise(ConfigError::new(
        Some(caller(lua)),
        Some(what.to_owned()),
        format!("expected one table like {example}, got {got}"),
    )))
}

/// Read a constructor's table and its name: the name is checked before anything else (even
/// unknown fields) so every later error can say which declaration it is about.
fn read_named(
    lua: &Lua,
    kind: Kind,
    t: &Table,
    known: &'static [&'static str],
) -> mlua::Result<(Reader, String)> {
    let mut r = Reader::read(t, known, kind.word().to_owned(), caller(lua))?;
    let name = r.required_string("name")?;
    if name.contains('\0') {
        // It would fail only at run time, in a log file name or an environment variable.
        return Err(r.err(format!(
            "name: {name:?} contains a NUL byte, which no file name, variable or terminal can carry"
        )));
    }
    if let Some(c) = name.chars().find(|&c| c.is_control() && c != '\t') {
        // An escape sequence in a name would reach the terminal with every line about it, and a
        // newline would split the line-based outputs (events, annotations). A tab does neither.
        return Err(r.err(format!(
            "name: {name:?} contains the control character U+{:04X}, which would reach terminals \
             and file names as it is (use letters, digits, spaces and punctuation)",
            u32::from(c)
        )));
    }
    r.context = format!("{} \"{name}\"", kind.word());
    r.check_keys()?;
    Ok((r, name))
}

fn handle(
    lua: &Lua,
    kind: Kind,
    name: Option<String>,
    index: usize,
    r: Reader,
) -> mlua::Result<Value> {
    lua.create_userdata(Handle::new(kind, name, index, r.into_fields()))
        .map(Value::UserData)
}

/// `cmd` as the bytes Lua holds: a command need not be UTF-8, and runs unchanged.
fn command_of(r: &Reader) -> mlua::Result<CommandLine> {
    command_at(r, "cmd")
}

/// The command in field `key` of `r` (`cmd`, or a readiness check's `cmd`): required.
fn command_at(r: &Reader, key: &str) -> mlua::Result<CommandLine> {
    optional_command(r, key)?.ok_or_else(|| {
        r.err(format!("{key}: missing (it is required): a string run by sh -c, or an array like {{ \"pytest\", \"-x\" }}"))
    })
}

/// A command in field `key` (`cmd`, a batch's `list` or `warm`), `None` when it is not there.
fn optional_command(r: &Reader, key: &str) -> mlua::Result<Option<CommandLine>> {
    let blank = |s: &OsString| s.as_bytes().iter().all(u8::is_ascii_whitespace);
    let nul = || {
        r.err(format!(
            "{key}: contains a NUL byte, which no command line can carry"
        ))
    };
    match r.raw(key) {
        Value::Nil => Ok(None),
        Value::String(_) => {
            let s = scalar_bytes(r.raw(key)).unwrap_or_default();
            if blank(&s) {
                Err(r.err(format!("{key}: empty command")))
            } else if s.as_bytes().contains(&0) {
                Err(nul())
            } else {
                Ok(Some(CommandLine::Shell(s)))
            }
        }
        Value::Table(t) => {
            let argv = sequence(t, |i, v| match v {
                Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                    Ok(scalar_bytes(v).unwrap_or_default())
                }
                other => Err(r.err(format!("{key}[{i}]: expected a string, got {}", describe(other)))),
            })?
            .ok_or_else(|| {
                r.err(format!("{key}: expected a string or an array like {{ \"pytest\", \"-x\" }}, got a table with named keys"))
            })?;
            if argv.first().is_none_or(blank) {
                return Err(r.err(format!("{key}: empty command")));
            }
            if argv.iter().any(|a| a.as_bytes().contains(&0)) {
                return Err(nul());
            }
            Ok(Some(CommandLine::Argv(argv)))
        }
        other => Err(r.err(format!(
            "{key}: expected a string or an array like {{ \"pytest\", \"-x\" }}, got {}",
            describe(other)
        ))),
    }
}

fn suite(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let t = table_arg(lua, "suite", &args)?;
    let (mut r, name) = read_named(lua, Kind::Suite, &t, SUITE_FIELDS)?;
    let decl = suite_decl(lua, &mut r, &name)?;
    let index = State::with(lua, |s| {
        s.decls.suites.push(decl);
        s.decls.suites.len() - 1
    });
    handle(lua, Kind::Suite, Some(name), index, r)
}

/// `ptest.batch{}`: a suite's fields plus `items`, `batches` and `results`; `plan::batch`
/// splits it into suites `NAME[1]`, `NAME[2]`, ...
fn batch(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let t = table_arg(lua, "batch", &args)?;
    let (mut r, name) = read_named(lua, Kind::Batch, &t, BATCH_FIELDS)?;
    let items = match r.raw("items") {
        Value::Nil => {
            return Err(r.err(
                "items: missing (it is required): a list of strings like ptest.glob(\"tests/test_*.py\")",
            ));
        }
        _ => r.string_list("items")?.unwrap_or_default(),
    };
    if let Some(bad) = items.iter().position(|i| i.is_empty() || i.contains('\0')) {
        return Err(r.err(format!(
            "items[{}]: must not be empty or hold a NUL byte",
            bad + 1
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = items.iter().find(|i| !seen.insert(i.as_str())) {
        return Err(r.err(format!("items: \"{dup}\" is listed twice")));
    }
    let batches = match r.raw("batches") {
        Value::Nil => None,
        Value::String(s) if s.to_string_lossy() == "auto" => None,
        v => match int_of(v) {
            Some(n) if (1..=100_000).contains(&n) => Some(n as u32),
            _ => {
                return Err(r.err(format!(
                    "batches: expected \"auto\" or a number of suites >= 1, got {}",
                    describe(v)
                )));
            }
        },
    };
    let results = r.string("results")?;
    if results.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(r.err(
            "results: must not be empty (leave it out when the command writes no JUnit file)",
        ));
    }
    let slice = r.string("slice")?;
    if let Some(t) = &slice {
        let missing: Vec<&str> = ["{item}", "{slice}", "{slices}"]
            .into_iter()
            .filter(|p| !t.contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(r.err(format!(
                "slice: has no {}: it says how the command runs one slice of an item, e.g. \"{{item}}::ptest-slice-{{slice}}-of-{{slices}}\"",
                missing.join(" or ")
            )));
        }
    }
    let test = r.string("test")?;
    if let Some(t) = &test {
        let missing: Vec<&str> = ["{item}", "{test}"]
            .into_iter()
            .filter(|p| !t.contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(r.err(format!(
                "test: has no {}: it says how the command runs one test of an item, e.g. \"{{item}}::{{test}}\"",
                missing.join(" or ")
            )));
        }
    }
    let skip_test = r.string("skip_test")?;
    if let Some(t) = &skip_test {
        let missing: Vec<&str> = ["{item}", "{test}"]
            .into_iter()
            .filter(|p| !t.contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(r.err(format!(
                "skip_test: has no {}: it says how the command leaves one test of an item out, e.g. \"{{item}}::ptest-skip::{{test}}\"",
                missing.join(" or ")
            )));
        }
    }
    let test_timeout = r.positive_duration("test_timeout")?;
    let test_slow = r.positive_duration("test_slow")?;
    let list = optional_command(&r, "list")?;
    if list.as_ref().is_some_and(|l| !l.contains("{items}")) {
        return Err(r.err(
            "list: has no \"{items}\": it prints the ids of the tests of the items given where it stands, e.g. \"python3 -m pytest --collect-only -q {items} | grep ::\"",
        ));
    }
    let warm = match r.raw("warm") {
        Value::Nil | Value::Boolean(false) => None,
        _ => Some(command_at(&r, "warm")?),
    };
    let mut decl = suite_decl(lua, &mut r, &name)?;
    let has_items = decl.cmd.contains("{items}");
    if !has_items {
        return Err(r.err(
            "cmd: has no \"{items}\": the batch's items go where it stands, e.g. { \"python3\", \"-m\", \"pytest\", \"{items}\" }",
        ));
    }
    decl.batch = Some(Box::new(BatchDecl {
        items,
        batches,
        results,
        slice,
        test,
        only_tests: std::collections::HashMap::new(),
        list,
        warm,
        test_timeout,
        test_slow,
        skip_test,
    }));
    let index = State::with(lua, |s| {
        s.decls.suites.push(decl);
        s.decls.suites.len() - 1
    });
    handle(lua, Kind::Batch, Some(name), index, r)
}

/// The fields every suite has (a batch's too), read from `r`.
fn suite_decl(lua: &Lua, r: &mut Reader, name: &str) -> mlua::Result<SuiteDecl> {
    let cmd = command_of(r)?;
    let depends_on = match r.raw("depends_on") {
        Value::Nil => Vec::new(),
        v @ (Value::String(_) | Value::UserData(_)) => {
            vec![
                reference_of(v, Kind::Suite)
                    .map_err(|got| {
                        r.err(format!(
                            "depends_on: expected suite handles or names, got {got}"
                        ))
                    })?
                    .unwrap_or_default(),
            ]
        }
        Value::Table(list) => {
            sequence(list, |i, v| {
                reference_of(v, Kind::Suite).ok().flatten().ok_or_else(|| {
                    r.err(format!(
                        "depends_on[{i}]: expected a suite handle or name, got {}",
                        describe(v)
                    ))
                })
            })?
            .ok_or_else(|| {
                r.err("depends_on: expected an array like { \"build\", unit }, got a table with named keys")
            })?
        }
        other => {
            return Err(r.err(format!(
                "depends_on: expected an array of suite handles or names, got {}",
                describe(other)
            )));
        }
    };
    let retry = match r.raw("retry") {
        Value::Nil => None,
        v @ (Value::Integer(_) | Value::Number(_)) => match int_of(v) {
            Some(n) if (0..=1000).contains(&n) => Some(RetryRef::Extra(n as u32)),
            _ => return Err(r.err(format!(
                "retry: expected a retry policy or a number of extra attempts (0..1000), got {}",
                describe(v)
            ))),
        },
        Value::UserData(ud) => match ud.borrow::<Handle>() {
            Ok(h) if h.kind == Kind::Retry => Some(RetryRef::Policy(h.index)),
            Ok(h) => {
                return Err(r.err(format!(
                    "retry: expected a retry handle or name, got {}",
                    h.describe()
                )));
            }
            Err(_) => return Err(r.err("retry: expected a retry handle or name, got userdata")),
        },
        Value::String(s) => Some(RetryRef::Named(s.to_string_lossy())),
        other => {
            return Err(r.err(format!(
                "retry: expected a retry handle, name or number of extra attempts, got {}",
                describe(other)
            )));
        }
    };
    let needs = references(r, "needs", Kind::Service, "{ db }")?;
    let (scope_phase, scope_group) = State::scopes(lua);
    let decl = SuiteDecl {
        origin: r.origin.clone(),
        name: name.to_owned(),
        cmd,
        description: r.string("description")?,
        category: r
            .string("category")?
            .unwrap_or_else(|| "default".to_owned()),
        tags: r.string_list("tags")?.unwrap_or_default(),
        cwd: r.string("cwd")?.map(Into::into),
        env: r.string_map("env")?,
        timeout: r.positive_duration("timeout")?,
        depends_on,
        needs,
        group: r.reference("group", Kind::Group)?.or(scope_group),
        phase: r.reference("phase", Kind::Phase)?.or(scope_phase),
        limiter: r.reference("limiter", Kind::Limiter)?,
        retry,
        slots: r.int("slots", 1)?.unwrap_or(1),
        serial: r.bool("serial")?.unwrap_or(false),
        estimate: r.duration("estimate")?,
        memory: match memory_of(r, true)? {
            Some(Some(b)) => Some(MemoryDecl::Bytes(b)),
            Some(None) => Some(MemoryDecl::Auto),
            None => None,
        },
        enabled: r.bool("enabled")?.unwrap_or(true),
        select: r.bool("select")?.unwrap_or(false),
        batch: None,
        part: None,
    };
    // What the handle shows: references by name (also those a scope gave), durations in
    // seconds, scalar defaults. Defaults that are Lua objects are made only when read.
    for (key, name) in [("phase", &decl.phase), ("group", &decl.group)] {
        if let Some(n) = name {
            if !matches!(r.raw(key), Value::String(_)) {
                r.show(key, Shown::Text(n.clone()));
            }
        }
    }
    if let Some(t) = decl.timeout {
        r.show("timeout", Shown::secs(t));
    }
    if let Some(e) = decl.estimate {
        r.show("estimate", Shown::secs(e));
    }
    r.show("enabled", Shown::Bool(decl.enabled));
    r.show("serial", Shown::Bool(decl.serial));
    r.show("slots", Shown::Int(i64::from(decl.slots)));
    Ok(decl)
}

/// A field that names declarations of `kind`: one handle or name, or an array of them
/// (`needs = db`, `needs = { db, "cache" }`). `example` is an array to show in messages.
fn references(r: &Reader, key: &str, kind: Kind, example: &str) -> mlua::Result<Vec<String>> {
    let word = kind.word();
    match r.raw(key) {
        Value::Nil => Ok(Vec::new()),
        v @ (Value::String(_) | Value::UserData(_)) => reference_of(v, kind)
            .map(|n| n.into_iter().collect())
            .map_err(|got| {
                r.err(format!(
                    "{key}: expected {word} handles or names, got {got}"
                ))
            }),
        Value::Table(list) => {
            let items = sequence(list, |i, v| {
                reference_of(v, kind).ok().flatten().ok_or_else(|| {
                    r.err(format!(
                        "{key}[{i}]: expected a {word} handle or name, got {}",
                        describe(v)
                    ))
                })
            })?
            .ok_or_else(|| {
                r.err(format!(
                    "{key}: expected an array like {example}, got a table with named keys"
                ))
            })?;
            let mut names: Vec<String> = Vec::with_capacity(items.len());
            for name in items {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Ok(names)
        }
        other => Err(r.err(format!(
            "{key}: expected an array of {word} handles or names like {example}, got {}",
            describe(other)
        ))),
    }
}

/// `ptest.service{}` (DESIGN §11): a process started for the suites that `need` it.
fn service(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let t = table_arg(lua, "service", &args)?;
    let (mut r, name) = read_named(lua, Kind::Service, &t, SERVICE_FIELDS)?;
    let cmd = command_of(&r)?;
    let scope = match r.string("scope")?.as_deref() {
        None | Some("run") => Scope::Run,
        Some("worker") => Scope::Worker,
        Some(other) => {
            return Err(r.err(format!(
                "scope: expected \"run\" (one instance for the run) or \"worker\" (one per worker), got \"{other}\"{}",
                suggest::hint(other, ["run", "worker"])
            )));
        }
    };
    let ready = ready_of(&r)?;
    let decl = ServiceDecl {
        origin: r.origin.clone(),
        name: name.clone(),
        cmd,
        description: r.string("description")?,
        cwd: r.string("cwd")?.map(Into::into),
        env: r.string_map("env")?,
        own_env: r.string_map("own_env")?,
        ready,
        ready_timeout: r.positive_duration("ready_timeout")?,
        scope,
        grace: r.duration("grace")?,
    };
    r.show("scope", Shown::Text(scope.label().to_owned()));
    if let Some(t) = decl.ready_timeout {
        r.show("ready_timeout", Shown::secs(t));
    }
    if let Some(g) = decl.grace {
        r.show("grace", Shown::secs(g));
    }
    let index = State::with(lua, |s| {
        s.decls.services.push(decl);
        s.decls.services.len() - 1
    });
    handle(lua, Kind::Service, Some(name), index, r)
}

/// `ready = { tcp = "127.0.0.1:{port}" }` (or `http`, `cmd`, `log`), with an optional
/// `interval`. Exactly one check.
fn ready_of(r: &Reader) -> mlua::Result<Option<Ready>> {
    const EXAMPLE: &str = "{ tcp = \"127.0.0.1:{port}\" }";
    let t = match r.raw("ready") {
        Value::Nil => return Ok(None),
        Value::Table(t) => t.clone(),
        other => {
            return Err(r.err(format!(
                "ready: expected a table like {EXAMPLE}, got {}",
                describe(other)
            )));
        }
    };
    let o = Reader::read(
        &t,
        READY_FIELDS,
        format!("{}: ready", r.context),
        r.origin.clone(),
    )?;
    o.check_keys()?;
    let given: Vec<&str> = ["tcp", "http", "cmd", "log"]
        .into_iter()
        .filter(|k| !o.raw(k).is_nil())
        .collect();
    let check = match given.as_slice() {
        [] => {
            return Err(r.err(format!(
                "ready: give one check: tcp, http, cmd or log, like ready = {EXAMPLE}"
            )));
        }
        [one] => *one,
        [a, b, ..] => {
            return Err(r.err(format!(
                "ready: give one check, not both {a} and {b} (a service is ready when its one check passes)"
            )));
        }
    };
    let text = |key: &str, example: &str| -> mlua::Result<String> {
        match o.raw(key) {
            Value::Integer(_) if key == "tcp" => Ok(describe(o.raw(key))),
            Value::String(_) => {
                let s = o.required_string(key)?;
                Ok(s)
            }
            other => Err(o.err(format!(
                "{key}: expected a string like {example}, got {}",
                describe(other)
            ))),
        }
    };
    let check = match check {
        "tcp" => ReadyCheck::Tcp(text("tcp", "\"127.0.0.1:{port}\"")?),
        "http" => {
            let url = text("http", "\"http://127.0.0.1:{port}/health\"")?;
            if url.starts_with("https://") {
                return Err(o.err(format!(
                    "http: \"{url}\": https is not checked (no certificates for a local service); use http://, or tcp = \"HOST:PORT\""
                )));
            }
            if !url.starts_with("http://") {
                return Err(o.err(format!(
                    "http: expected a URL like \"http://127.0.0.1:{{port}}/health\", got \"{url}\""
                )));
            }
            ReadyCheck::Http(url)
        }
        "cmd" => ReadyCheck::Cmd(command_at(&o, "cmd")?),
        _ => ReadyCheck::Log(text("log", "\"ready to accept connections\"")?),
    };
    Ok(Some(Ready {
        check,
        interval: o.positive_duration("interval")?,
    }))
}

/// `ptest.group{...}` or `ptest.group(name_or_table, body)`.
fn group(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    scoped(lua, Kind::Group, args, declare_group)
}

fn phase(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    scoped(lua, Kind::Phase, args, declare_phase)
}

/// The two forms of `phase` and `group`: a table (declare), or `(name_or_table_or_handle, body)`
/// where suites declared inside `body` get this phase or group unless they name another.
fn scoped(
    lua: &Lua,
    kind: Kind,
    args: MultiValue,
    declare: fn(&Lua, &Table) -> mlua::Result<Value>,
) -> mlua::Result<Value> {
    let word = kind.word();
    let mut it = args.into_iter();
    let first = it.next().unwrap_or(Value::Nil);
    let body = it.next();
    if it.next().is_some() {
        return Err(raise(ConfigError::new(
            Some(caller(lua)),
            Some(word.to_owned()),
            format!(
                "expected ptest.{word} {{ ... }} or ptest.{word}(name, function() ... end), got more arguments"
            ),
        )));
    }
    let body = match body {
        None | Some(Value::Nil) => None,
        Some(Value::Function(f)) => Some(f),
        Some(other) => {
            return Err(raise(ConfigError::new(
                Some(caller(lua)),
                Some(word.to_owned()),
                format!(
                    "the second argument must be a function that declares suites, got {}",
                    describe(&other)
                ),
            )));
        }
    };
    let handle_value = match &first {
        Value::Table(t) => declare(lua, t)?,
        Value::String(s) if body.is_some() => {
            let name = s.to_string_lossy();
            match State::find_handle(lua, kind, &name) {
                Some(h) => h,
                None => {
                    let t = lua.create_table()?;
                    t.raw_set("name", name)?;
                    declare(lua, &t)?
                }
            }
        }
        Value::UserData(ud)
            if body.is_some() && ud.borrow::<Handle>().is_ok_and(|h| h.kind == kind) =>
        {
            first.clone()
        }
        other => {
            return Err(raise(ConfigError::new(
                Some(caller(lua)),
                Some(word.to_owned()),
                format!(
                    "expected ptest.{word} {{ name = \"...\" }} or ptest.{word}(name, function() ... end), got {}",
                    describe(other)
                ),
            )));
        }
    };
    if let Some(body) = body {
        let name = match &handle_value {
            Value::UserData(ud) => ud.borrow::<Handle>()?.name.clone().unwrap_or_default(),
            _ => unreachable!("declare returns a handle"),
        };
        let origin = caller(lua);
        State::push_scope(lua, kind, name.clone());
        let result = body.call::<()>(());
        State::pop_scope(lua, kind);
        // Our own errors from inside the body already say where and what; a plain Lua error
        // gets the phase or group it happened in.
        result.map_err(|e| {
            if e.downcast_ref::<ConfigError>().is_some() {
                e
            } else {
                raise(super::lua_error(
                    &e,
                    origin,
                    Some(format!("{word} \"{name}\"")),
                ))
            }
        })?;
    }
    Ok(handle_value)
}

fn declare_group(lua: &Lua, t: &Table) -> mlua::Result<Value> {
    let (mut r, name) = read_named(lua, Kind::Group, t, GROUP_FIELDS)?;
    let decl = GroupDecl {
        origin: r.origin.clone(),
        name: name.clone(),
        max: r.int("max", 1)?.unwrap_or(1),
        env: r.string_map("env")?,
    };
    r.show("max", Shown::Int(i64::from(decl.max)));
    let index = State::with(lua, |s| {
        s.decls.groups.push(decl);
        s.decls.groups.len() - 1
    });
    let h = handle(lua, Kind::Group, Some(name), index, r)?;
    State::remember_handle(lua, Kind::Group, &h)?;
    Ok(h)
}

fn declare_phase(lua: &Lua, t: &Table) -> mlua::Result<Value> {
    let (mut r, name) = read_named(lua, Kind::Phase, t, PHASE_FIELDS)?;
    let on_failure = match r.string("on_failure")?.as_deref() {
        None | Some("stop") => OnFailure::Stop,
        Some("continue") => OnFailure::Continue,
        Some(other) => {
            return Err(r.err(format!(
                "on_failure: expected \"stop\" or \"continue\", got \"{other}\"{}",
                suggest::hint(other, ["stop", "continue"])
            )));
        }
    };
    let workers = workers_of(lua, &r, "workers")?;
    let decl = PhaseDecl {
        origin: r.origin.clone(),
        name: name.clone(),
        enabled: r.bool("enabled")?.unwrap_or(true),
        workers,
        on_failure,
        always: r.bool("always")?.unwrap_or(false),
    };
    r.show("enabled", Shown::Bool(decl.enabled));
    r.show("always", Shown::Bool(decl.always));
    if let Some(w) = workers {
        // "auto" and a function are shown by what they gave on this machine.
        r.show("workers", Shown::Int(i64::from(w.count)));
    }
    let index = State::with(lua, |s| {
        s.decls.phases.push(decl);
        s.decls.phases.len() - 1
    });
    let h = handle(lua, Kind::Phase, Some(name), index, r)?;
    State::remember_handle(lua, Kind::Phase, &h)?;
    Ok(h)
}

/// `workers`: a positive integer, `"auto"` (the CPUs ptest may use) or `function(sys)` returning one.
fn workers_of(lua: &Lua, r: &Reader, key: &str) -> mlua::Result<Option<WorkersDecl>> {
    let v = r.raw(key);
    let expected = "a positive integer, \"auto\" or function(sys) returning one";
    match v {
        Value::Nil => Ok(None),
        Value::String(s) if s.to_string_lossy() == "auto" => Ok(Some(WorkersDecl {
            count: State::cpus(lua),
            literal: false,
        })),
        Value::Function(f) => {
            let sys: Value = lua.globals().get::<Table>("ptest")?.raw_get("sys")?;
            let out: Value = f.call(sys).map_err(|e| {
                r.err(format!(
                    "{key}: the function raised an error: {}",
                    super::lua_message(&e)
                ))
            })?;
            match int_of(&out) {
                Some(n) if n >= 1 && n <= i64::from(crate::settings::MAX_WORKERS) => {
                    Ok(Some(WorkersDecl {
                        count: n as u32,
                        literal: false,
                    }))
                }
                Some(n) if n >= 1 => Err(r.err(format!(
                    "{key}: the function returned {n}, {}",
                    crate::settings::TOO_MANY_WORKERS
                ))),
                found => {
                    let hint = match (&out, found) {
                        (_, Some(_)) => " (wrap it in math.max(1, ...))",
                        (Value::Number(_), None) => " (round it with math.floor)",
                        _ => "",
                    };
                    Err(r.err(format!(
                        "{key}: the function returned {}, expected a positive integer{hint}",
                        describe(&out)
                    )))
                }
            }
        }
        other => match int_of(other) {
            Some(n) if n >= 1 && n <= i64::from(crate::settings::MAX_WORKERS) => {
                Ok(Some(WorkersDecl {
                    count: n as u32,
                    literal: true,
                }))
            }
            Some(n) if n >= 1 => {
                Err(r.err(format!("{key}: {n} {}", crate::settings::TOO_MANY_WORKERS)))
            }
            _ => Err(r.err(format!(
                "{key}: expected {expected}, got {}",
                describe(other)
            ))),
        },
    }
}

fn limiter(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let t = table_arg(lua, "limiter", &args)?;
    let (mut r, name) = read_named(lua, Kind::Limiter, &t, LIMITER_FIELDS)?;
    let rate = r
        .positive_number("rate")?
        .ok_or_else(|| r.err("rate: missing (it is required): tokens per `per`, e.g. rate = 10"))?;
    let per = r
        .duration("per")?
        .unwrap_or(std::time::Duration::from_secs(1));
    if per.is_zero() {
        return Err(r.err("per: must be longer than 0s"));
    }
    // The bucket refills one token every per / rate: past a year nothing would ever start.
    if per.as_secs_f64() / rate > crate::duration::MAX.as_secs_f64() {
        return Err(r.err(format!(
            "rate: {rate:e} per {} is one token every {:e} s, which {} between tokens (raise rate)",
            crate::duration::human(per),
            per.as_secs_f64() / rate,
            crate::duration::TOO_LONG
        )));
    }
    let decl = LimiterDecl {
        origin: r.origin.clone(),
        name: name.clone(),
        rate,
        per,
        burst: r.int("burst", 1)?.unwrap_or(1),
        concurrency: r.int("concurrency", 1)?,
        adaptive: r.bool("adaptive")?.unwrap_or(false),
        max_throttled: r.int("max_throttled", 1)?,
    };
    r.show("per", Shown::secs(per));
    r.show("burst", Shown::Int(i64::from(decl.burst)));
    r.show("adaptive", Shown::Bool(decl.adaptive));
    let index = State::with(lua, |s| {
        s.decls.limiters.push(decl);
        s.decls.limiters.len() - 1
    });
    handle(lua, Kind::Limiter, Some(name), index, r)
}

fn retry(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let t = table_arg(lua, "retry", &args)?;
    // The name is optional here: an unnamed policy is used through its handle.
    let mut r = Reader::read(&t, RETRY_FIELDS, "retry".into(), caller(lua))?;
    let name = r.string("name")?;
    if let Some(n) = &name {
        r.context = format!("retry \"{n}\"");
    }
    r.check_keys()?;
    let mut policy = RetryPolicy {
        attempts: r.int("attempts", 1)?.unwrap_or(3),
        delay: r
            .duration("delay")?
            .unwrap_or(std::time::Duration::from_secs(1)),
        factor: r.number("factor")?.unwrap_or(2.0),
        max_delay: r
            .duration("max_delay")?
            .unwrap_or(std::time::Duration::from_secs(60)),
        jitter: r.bool("jitter")?.unwrap_or(false),
        ..RetryPolicy::once()
    };
    if policy.factor < 1.0 {
        return Err(r.err(format!(
            "factor: expected a number >= 1, got {}",
            policy.factor
        )));
    }
    match r.raw("on") {
        Value::Nil => {}
        Value::Table(on) => {
            let o = Reader::read(on, RETRY_ON_FIELDS, r.context.clone(), r.origin.clone())?;
            if let Some(bad) = o.first_unknown() {
                let hint = suggest::hint(bad, RETRY_ON_FIELDS.iter().copied());
                let hint = if hint.is_empty() {
                    format!(" (known fields: {})", RETRY_ON_FIELDS.join(", "))
                } else {
                    hint
                };
                return Err(r.err(format!("on: unknown field \"{bad}\"{hint}")));
            }
            o.check_keys()?;
            policy.on_exit_codes = o
                .string_list("exit_codes")
                .map_err(|_| r.err("on.exit_codes: expected an array of integers like { 75 }"))?
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    c.parse::<i32>().map_err(|_| {
                        r.err(format!("on.exit_codes: expected integers, got \"{c}\""))
                    })
                })
                .collect::<mlua::Result<Vec<i32>>>()?;
            policy.on_output = o
                .string_list("output")
                .map_err(|_| r.err("on.output: expected an array of strings like { \"429\" }"))?
                .unwrap_or_default();
            policy.on_timeout = o
                .bool("timeout")
                .map_err(|_| r.err("on.timeout: expected true or false"))?
                .unwrap_or(false);
        }
        other => {
            return Err(r.err(format!(
                "on: expected a table like {{ exit_codes = {{ 75 }} }}, got {}",
                describe(other)
            )));
        }
    }
    match r.raw("when") {
        Value::Nil => {}
        Value::Function(f) => {
            if !r.raw("on").is_nil() {
                return Err(r.err("when: give either `on` or `when`, not both (a `when` function can test anything `on` can)"));
            }
            policy.when = Some(State::add_predicate(lua, f.clone())?);
        }
        other => {
            return Err(r.err(format!(
                "when: expected function(result) returning true to retry, got {}",
                describe(other)
            )));
        }
    }
    r.show("attempts", Shown::Int(i64::from(policy.attempts)));
    r.show("delay", Shown::secs(policy.delay));
    r.show("factor", Shown::Num(policy.factor));
    r.show("max_delay", Shown::secs(policy.max_delay));
    r.show("jitter", Shown::Bool(policy.jitter));
    let origin = r.origin.clone();
    let index = State::with(lua, |s| {
        s.decls.retries.push(RetryDecl {
            origin,
            name: name.clone(),
            policy,
        });
        s.decls.retries.len() - 1
    });
    handle(lua, Kind::Retry, name, index, r)
}

fn config(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let t = table_arg(lua, "config", &args)?;
    let r = Reader::read(&t, CONFIG_FIELDS, "config".into(), caller(lua))?;
    r.check_keys()?;
    let workers = workers_of(lua, &r, "workers")?;
    let log_dir = r.string("log_dir")?;
    if log_dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
        return Err(r.err("log_dir: must not be empty"));
    }
    let fail_fast = r.bool("fail_fast")?;
    let timeout = r.positive_duration("timeout")?;
    let grace = r.duration("grace")?;
    let memory = memory_of(&r, false)?.flatten();
    let hook_timeout = r.positive_duration("hook_timeout")?;
    State::with(lua, |s| {
        s.hook_timeout = hook_timeout.or(s.hook_timeout);
        let c = &mut s.decls.config;
        if workers.is_some() {
            c.workers = workers;
        }
        if let Some(d) = log_dir {
            c.log_dir = Some(d.into());
        }
        c.fail_fast = fail_fast.or(c.fail_fast);
        c.timeout = timeout.or(c.timeout);
        c.grace = grace.or(c.grace);
        c.memory = memory.or(c.memory);
    });
    Ok(())
}

/// `memory`: a size like `"2GB"` (`Some(Some(bytes))`), or, where `auto` is allowed, `"auto"`
/// (`Some(None)`).
#[expect(clippy::option_option, reason = "absent, auto, or a size")]
fn memory_of(r: &Reader, auto: bool) -> mlua::Result<Option<Option<u64>>> {
    let example = if auto {
        "a size like \"2GB\" or \"auto\""
    } else {
        "a size like \"6GB\""
    };
    match r.raw("memory") {
        Value::Nil => Ok(None),
        Value::String(s) => {
            let text = s.to_string_lossy();
            if auto && text.trim().eq_ignore_ascii_case("auto") {
                return Ok(Some(None));
            }
            crate::size::parse(&text)
                .map(|b| Some(Some(b)))
                .map_err(|e| r.err(format!("memory: expected {example}: {e}")))
        }
        other => Err(r.err(format!(
            "memory: expected {example}, got {}",
            describe(other)
        ))),
    }
}

fn on(lua: &Lua, (event, f): (Value, Value)) -> mlua::Result<()> {
    let fail = |msg: String| raise(ConfigError::new(Some(caller(lua)), Some("on".into()), msg));
    let Value::String(event) = event else {
        return Err(fail(format!(
            "expected an event name ({}), got {}",
            EVENTS.join(", "),
            describe(&event)
        )));
    };
    let event = event.to_string_lossy();
    if !EVENTS.contains(&event.as_str()) {
        let hint = suggest::hint(&event, EVENTS.iter().copied());
        let hint = if hint.is_empty() {
            format!(" (events: {})", EVENTS.join(", "))
        } else {
            hint
        };
        return Err(fail(format!("unknown event \"{event}\"{hint}")));
    }
    let Value::Function(f) = f else {
        return Err(fail(format!(
            "{event}: expected a function, got {}",
            describe(&f)
        )));
    };
    State::add_hook(lua, event, f)
}

fn glob(lua: &Lua, pattern: Value) -> mlua::Result<Table> {
    let fail = |msg: String| {
        raise(ConfigError::new(
            Some(caller(lua)),
            Some("glob".into()),
            msg,
        ))
    };
    let Value::String(p) = pattern else {
        return Err(fail(format!(
            "expected a pattern like \"tests/test_*.py\", got {}",
            describe(&pattern)
        )));
    };
    let pattern = p.to_string_lossy();
    let dir = State::with(lua, |s| s.decls.config_dir.clone());
    let absolute = std::path::Path::new(&pattern).is_absolute();
    let full = if absolute {
        pattern.clone()
    } else {
        format!(
            "{}/{}",
            glob::Pattern::escape(&dir.to_string_lossy()),
            pattern
        )
    };
    let paths = glob::glob(&full).map_err(|e| fail(format!("bad pattern \"{pattern}\": {e}")))?;
    let mut out: Vec<String> = paths
        .filter_map(Result::ok)
        .map(|p| {
            if absolute {
                p.to_string_lossy().into_owned()
            } else {
                p.strip_prefix(&dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned()
            }
        })
        .collect();
    out.sort();
    lua.create_sequence_from(out)
}

/// Install the `ptest` table as a global and as `package.loaded.ptest`.
pub(super) fn install(
    lua: &Lua,
    sys: Table,
    profile: Option<&str>,
    vars: &[(String, String)],
    select: &crate::settings::TestSelection,
) -> mlua::Result<()> {
    let ptest = lua.create_table()?;
    ptest.raw_set("config", lua.create_function(config)?)?;
    ptest.raw_set("suite", lua.create_function(suite)?)?;
    ptest.raw_set("batch", lua.create_function(batch)?)?;
    ptest.raw_set("group", lua.create_function(group)?)?;
    ptest.raw_set("phase", lua.create_function(phase)?)?;
    ptest.raw_set("limiter", lua.create_function(limiter)?)?;
    ptest.raw_set("retry", lua.create_function(retry)?)?;
    ptest.raw_set("service", lua.create_function(service)?)?;
    ptest.raw_set("on", lua.create_function(on)?)?;
    ptest.raw_set("glob", lua.create_function(glob)?)?;
    ptest.raw_set("sys", sys)?;
    // Presets read the config's folder (pytest.ini, Cargo.toml, go.mod) with io.open, which
    // is relative to where ptest was started.
    let dir = State::with(lua, |s| s.decls.config_dir.clone());
    ptest.raw_set("config_dir", dir.to_string_lossy().as_ref())?;
    ptest.raw_set("profile", profile)?;
    let v = lua.create_table()?;
    for (k, val) in vars {
        v.raw_set(k.as_str(), val.as_str())?;
    }
    ptest.raw_set("vars", v)?;
    // `-k`, `--test`, `-- ARGS`, for the suites that hand them to their tools (`select = true`).
    let sel = lua.create_table()?;
    sel.raw_set("filter", select.filter.as_deref())?;
    sel.raw_set(
        "tests",
        lua.create_sequence_from(select.names.iter().map(String::as_str))?,
    )?;
    sel.raw_set(
        "args",
        lua.create_sequence_from(select.args.iter().map(String::as_str))?,
    )?;
    ptest.raw_set("select", sel)?;
    ptest.raw_set("version", env!("CARGO_PKG_VERSION"))?;
    lua.globals().raw_set("ptest", ptest.clone())?;
    let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
    loaded.raw_set("ptest", ptest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// DESIGN §9: every suite field applies to each batch. The two lists are written out (each
    /// is also what "did you mean" and the LuaLS check read), so this keeps them from drifting.
    #[test]
    fn a_batch_takes_every_suite_field() {
        let missing: Vec<&str> = super::SUITE_FIELDS
            .iter()
            .copied()
            .filter(|f| !super::BATCH_FIELDS.contains(f))
            .collect();
        assert!(
            missing.is_empty(),
            "ptest.batch lacks suite fields {missing:?}"
        );
    }
}
