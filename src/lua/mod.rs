//! The only code that touches mlua. `evaluate` runs `ptest.lua` once and returns plain
//! `Declarations` plus a `Runtime` that keeps the Lua state (hooks and retry predicates) for the
//! scheduler's thread. Nothing here schedules or runs anything.

mod api;
mod fields;
mod handle;
pub(crate) mod hooks;
pub(crate) mod meta;
pub(crate) mod presets;

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlua::{Function, Lua, RegistryKey, Table, Value};

use crate::error::{ConfigError, Error, Origin};
use crate::plan::decl::Declarations;
use crate::sys::{Resources, Sys};
use handle::{Handle, Kind};

/// What the evaluation may read besides the file.
pub(crate) struct EvalContext {
    pub sys: Sys,
    pub profile: Option<String>,
    pub vars: Vec<(String, String)>,
    /// `-k`, `--test`, `-- ARGS`: `ptest.select`.
    pub select: crate::settings::TestSelection,
}

/// Evaluation state, kept as Lua app data while the config runs and while hooks run later.
pub(crate) struct State {
    decls: Declarations,
    chunk: Arc<str>,
    cpus: u32,
    phase_scope: Vec<String>,
    group_scope: Vec<String>,
    phase_handles: Vec<(String, RegistryKey)>,
    group_handles: Vec<(String, RegistryKey)>,
    hooks: Vec<(String, RegistryKey)>,
    predicates: Vec<RegistryKey>,
    /// `ptest.config { hook_timeout = ... }`: each hook or `when` call's time budget.
    hook_timeout: Option<std::time::Duration>,
}

impl State {
    fn with<R>(lua: &Lua, f: impl FnOnce(&mut State) -> R) -> R {
        let cell = lua
            .app_data_ref::<RefCell<State>>()
            .expect("state installed before evaluation");
        let mut state = cell.borrow_mut();
        f(&mut state)
    }

    fn chunk(lua: &Lua) -> Arc<str> {
        State::with(lua, |s| s.chunk.clone())
    }

    fn cpus(lua: &Lua) -> u32 {
        State::with(lua, |s| s.cpus)
    }

    fn scopes(lua: &Lua) -> (Option<String>, Option<String>) {
        State::with(lua, |s| {
            (s.phase_scope.last().cloned(), s.group_scope.last().cloned())
        })
    }

    fn push_scope(lua: &Lua, kind: Kind, name: String) {
        State::with(lua, |s| match kind {
            Kind::Phase => s.phase_scope.push(name),
            _ => s.group_scope.push(name),
        });
    }

    fn pop_scope(lua: &Lua, kind: Kind) {
        State::with(lua, |s| match kind {
            Kind::Phase => s.phase_scope.pop(),
            _ => s.group_scope.pop(),
        });
    }

    fn remember_handle(lua: &Lua, kind: Kind, h: &Value) -> mlua::Result<()> {
        let name = match h {
            Value::UserData(ud) => ud.borrow::<Handle>()?.name.clone().unwrap_or_default(),
            _ => return Ok(()),
        };
        let key = lua.create_registry_value(h.clone())?;
        State::with(lua, |s| match kind {
            Kind::Phase => s.phase_handles.push((name, key)),
            _ => s.group_handles.push((name, key)),
        });
        Ok(())
    }

    fn find_handle(lua: &Lua, kind: Kind, name: &str) -> Option<Value> {
        let cell = lua.app_data_ref::<RefCell<State>>()?;
        let state = cell.borrow();
        let list = if kind == Kind::Phase {
            &state.phase_handles
        } else {
            &state.group_handles
        };
        let key = &list.iter().find(|(n, _)| n == name)?.1;
        lua.registry_value::<Value>(key).ok()
    }

    fn add_hook(lua: &Lua, event: String, f: Function) -> mlua::Result<()> {
        let key = lua.create_registry_value(f)?;
        State::with(lua, |s| {
            s.decls.hooks.push(event.clone());
            s.hooks.push((event, key));
        });
        Ok(())
    }

    fn add_predicate(lua: &Lua, f: Function) -> mlua::Result<usize> {
        let key = lua.create_registry_value(f)?;
        Ok(State::with(lua, |s| {
            s.predicates.push(key);
            s.predicates.len() - 1
        }))
    }
}

/// The Lua state after evaluation: calls hooks and retry predicates on the scheduler's thread.
pub struct Runtime {
    lua: Lua,
}

/// What `evaluate` produced.
pub(crate) struct Evaluated {
    pub decls: Declarations,
    pub runtime: Runtime,
}

/// The message of a Lua error without mlua's wrapping and traceback.
pub(crate) fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m
            .lines()
            .take_while(|l| !l.starts_with("stack traceback"))
            .collect::<Vec<_>>()
            .join("\n"),
        mlua::Error::ExternalError(inner) => inner.to_string(),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The most memory a config's Lua state may hold, while it is evaluated and in hooks after.
/// A config of 10,000 suites holds about 30 MB, a batch of a million items about 150 MB.
pub(crate) const LUA_MEMORY_LIMIT: usize = 1 << 30;

/// How often (in Lua instructions) evaluation notes where it is, for a memory error to name:
/// a few lines of Lua. (The cost is the hook's existence, not how often it runs.)
const NOTE_EVERY: u32 = 100;

/// Where evaluation was when last noted: the chunk (`ptest.lua`, `lua/helpers.lua`) and line.
#[derive(Debug)]
struct At {
    file: Arc<str>,
    line: u32,
}

impl Default for At {
    fn default() -> At {
        At {
            file: Arc::from(""),
            line: 0,
        }
    }
}

/// Whether `e` is Lua running out of memory (its limit, `LUA_MEMORY_LIMIT`, or the machine's).
fn out_of_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => out_of_memory(cause),
        // Caught by a `pcall` and raised again as its message.
        mlua::Error::RuntimeError(m) => m
            .lines()
            .next()
            .is_some_and(|l| l == "not enough memory" || l.ends_with(": not enough memory")),
        _ => false,
    }
}

/// Turn an evaluation failure into a config error: our own (with line and context) when a
/// constructor raised one, else Lua's message, which normally starts with `file:line:`. A
/// memory error, which has no position, names `at`: where evaluation was last noted.
fn config_error(
    e: &mlua::Error,
    chunk: &Arc<str>,
    at: Option<Origin>,
    memory: usize,
) -> ConfigError {
    if let Some(c) = e.downcast_ref::<ConfigError>() {
        return c.clone();
    }
    if out_of_memory(e) {
        let why = format!(
            "out of memory: the config's Lua may hold at most {} MB (does a loop never end?)",
            memory >> 20
        );
        return match at {
            Some(at) => ConfigError::new(Some(at), None, why),
            // Within its first instructions: the file is all that is known.
            None => ConfigError::new(None, None, format!("{chunk}: {why}")),
        };
    }
    let fallback = Origin {
        file: chunk.clone(),
        line: 0,
    };
    lua_error(e, fallback, None)
}

/// A Lua error (not one of ours) as a config error. The position is the one Lua put in front
/// of the message; when there is none (`error("x", 0)`, a failing `require`), the innermost
/// Lua frame of the traceback; `fallback` only when neither exists.
pub(crate) fn lua_error(e: &mlua::Error, fallback: Origin, context: Option<String>) -> ConfigError {
    let msg = lua_message(e);
    let msg = error_object(&msg).unwrap_or(msg);
    if let Some((origin, rest)) = split_position(&msg) {
        let origin = whole_name(origin, &fallback);
        return ConfigError::new(Some(origin), context, rest.to_owned());
    }
    let origin = traceback_origin(e).map_or(fallback.clone(), |o| whole_name(o, &fallback));
    ConfigError::new(Some(origin), context, msg)
}

/// Lua writes a file name longer than 60 bytes in its messages as `...` and the name's tail
/// (a config given by an absolute path in a deep folder): when the tail is that of `known`,
/// the error names the whole file.
fn whole_name(origin: Origin, known: &Origin) -> Origin {
    match origin.file.strip_prefix("...") {
        Some(tail) if known.file.ends_with(tail) && known.file.len() > tail.len() => Origin {
            file: known.file.clone(),
            line: origin.line,
        },
        _ => origin,
    }
}

/// `error({})` or `error()` reach us as `table: 0x...` or `nil`; say what Lua's own
/// interpreter says instead of an address.
fn error_object(msg: &str) -> Option<String> {
    if msg == "nil" {
        return Some("(error object is a nil value)".into());
    }
    let (kind, addr) = msg.split_once(": 0x")?;
    let is_addr = !addr.is_empty() && addr.chars().all(|c| c.is_ascii_hexdigit());
    (is_addr && ["table", "userdata", "function", "thread"].contains(&kind))
        .then(|| format!("(error object is a {kind} value)"))
}

/// `file:LINE: text` → the origin and `text`.
fn split_position(msg: &str) -> Option<(Origin, &str)> {
    let first = msg.lines().next()?;
    let (file, rest) = first.split_once(':')?;
    let (line, _) = rest.split_once(':')?;
    let line: u32 = line.parse().ok()?;
    if file.is_empty() || file.starts_with('[') {
        return None;
    }
    let text = msg[file.len() + line.to_string().len() + 2..].trim_start();
    Some((
        Origin {
            file: Arc::from(file),
            line,
        },
        text,
    ))
}

/// The innermost Lua frame (`\tfile:LINE: in ...`) of the tracebacks an error carries.
fn traceback_origin(e: &mlua::Error) -> Option<Origin> {
    let from_text = |text: &str| {
        let (_, frames) = text.split_once("stack traceback:")?;
        frames.lines().find_map(|l| {
            let l = l.trim_start();
            let (file, rest) = l.split_once(':')?;
            let (line, _) = rest.split_once(':')?;
            let line: u32 = line.parse().ok()?;
            (!file.starts_with('[')).then(|| Origin {
                file: Arc::from(file),
                line,
            })
        })
    };
    match e {
        mlua::Error::CallbackError { cause, traceback } => {
            traceback_origin(cause).or_else(|| from_text(traceback))
        }
        mlua::Error::RuntimeError(m) => from_text(m),
        _ => None,
    }
}

/// The fields of `ptest.sys` read on first use (see [`Resources`]).
const LAZY_SYS: [&str; 6] = [
    "physical_cores",
    "mem_total_mb",
    "mem_available_mb",
    "mem_limit_mb",
    "load1",
    "container",
];

/// `ptest.sys`. What every run needs is set now; the [`Resources`] fields are read the first time
/// a config indexes one of them (or iterates the table with `pairs`), through the table's
/// metatable, and then stored in the table like the others.
fn sys_table(lua: &Lua, sys: &Sys) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("cpus", sys.cpus)?;
    t.raw_set("cpu_quota", sys.cpu_quota)?;
    t.raw_set("ci", sys.ci)?;
    t.raw_set("os", sys.os)?;
    t.raw_set("arch", sys.arch)?;
    let cpus = sys.cpus;
    let fill = move |t: &Table| -> mlua::Result<()> {
        if t.raw_get::<Value>("physical_cores")?.is_nil() {
            let r = Resources::detect(cpus);
            t.raw_set("physical_cores", r.physical_cores)?;
            t.raw_set("mem_total_mb", r.mem_total_mb)?;
            t.raw_set("mem_available_mb", r.mem_available_mb)?;
            t.raw_set("mem_limit_mb", r.mem_limit_mb)?;
            t.raw_set("load1", r.load1)?;
            t.raw_set("container", r.container)?;
        }
        Ok(())
    };
    let meta = lua.create_table()?;
    let index = lua.create_function(move |_, (t, key): (Table, Value)| {
        let lazy = match &key {
            Value::String(k) => LAZY_SYS.iter().any(|f| k.as_bytes() == f.as_bytes()),
            _ => false,
        };
        if !lazy {
            return Ok(Value::Nil);
        }
        fill(&t)?;
        t.raw_get::<Value>(key)
    })?;
    let pairs = lua.create_function(move |lua, t: Table| {
        fill(&t)?;
        let next: Function = lua.globals().get("next")?;
        Ok((next, t, Value::Nil))
    })?;
    meta.raw_set("__index", index)?;
    meta.raw_set("__pairs", pairs)?;
    t.set_metatable(Some(meta))?;
    Ok(t)
}

/// `print` goes to stderr so it never mixes with machine-readable output; `os.exit` raises an
/// error instead of ending ptest behind its back.
fn install_safety(lua: &Lua) -> mlua::Result<()> {
    let print = lua.create_function(|lua, args: mlua::MultiValue| {
        let tostring: Function = lua.globals().get("tostring")?;
        let mut line = Vec::new();
        for (i, v) in args.into_iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            let s: mlua::LuaString = tostring.call(v)?;
            line.extend_from_slice(&s.as_bytes());
        }
        line.push(b'\n');
        let _ = std::io::stderr().lock().write_all(&line);
        Ok(())
    })?;
    lua.globals().raw_set("print", print)?;
    let exit = lua.create_function(|lua, code: Value| -> mlua::Result<()> {
        let code = match code {
            Value::Nil | Value::Boolean(true) => "0".to_owned(),
            Value::Boolean(false) => "1".to_owned(),
            other => other.to_string().unwrap_or_default(),
        };
        Err(fields::raise(ConfigError::new(
            Some(api::caller(lua)),
            None,
            format!("os.exit({code}) called; ptest.lua cannot end ptest (raise an error with error(\"...\") instead)"),
        )))
    })?;
    let os: Table = lua.globals().get("os")?;
    os.raw_set("exit", exit)?;
    Ok(())
}

/// Modules are found beside the config and in its `lua/` folder. The folder is written as the
/// config path was given (ptest never changes directory), so messages from a module read
/// `lua/helpers.lua:3: ...` like those from the config itself, not an absolute path.
fn install_package_path(lua: &Lua, config_path: &Path) -> mlua::Result<()> {
    let package: Table = lua.globals().get("package")?;
    let prefix = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => format!("{}/", p.to_string_lossy()),
        _ => String::new(),
    };
    let old: String = package.get("path")?;
    package.set(
        "path",
        format!("{prefix}?.lua;{prefix}?/init.lua;{prefix}lua/?.lua;{prefix}lua/?/init.lua;{old}"),
    )?;
    presets::install(lua, &package)
}

/// Evaluate the config file. `config_path` is shown in messages as given; a folder means the
/// `ptest.lua` inside it (`ptest list .`, `ptest plan services/api`).
pub(crate) fn evaluate(config_path: &Path, ctx: &EvalContext) -> Result<Evaluated, Error> {
    evaluate_within(config_path, ctx, LUA_MEMORY_LIMIT)
}

/// [`evaluate`], with Lua's memory limited to `memory` bytes.
pub(crate) fn evaluate_within(
    config_path: &Path,
    ctx: &EvalContext,
    memory: usize,
) -> Result<Evaluated, Error> {
    let in_folder;
    let config_path = if config_path.is_dir() {
        in_folder = config_path.join("ptest.lua");
        in_folder.as_path()
    } else {
        config_path
    };
    let source = std::fs::read(config_path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {} (give the path of a ptest.lua, or run ptest in its folder)",
            config_path.display(),
            crate::io_message(&e)
        ))
    })?;
    let config_dir = absolute_parent(config_path);
    let chunk: Arc<str> = Arc::from(config_path.to_string_lossy().as_ref());

    let lua = Lua::new();
    // A config makes many short-lived tables (each `ptest.suite { ... }` argument): Lua 5.4's
    // generational collector frees them sooner for about the same work (callgrind, `ptest list`
    // on 10,000 suites: 668M instructions against 662M), and peak RSS drops from 39 to 32 MB.
    lua.gc_set_mode(mlua::state::GcMode::Generational(
        mlua::state::GcGenParams::default(),
    ));
    let state = State {
        decls: Declarations {
            config_dir: config_dir.clone(),
            config_path: config_path.to_path_buf(),
            ..Declarations::default()
        },
        chunk: chunk.clone(),
        cpus: ctx.sys.cpus,
        phase_scope: Vec::new(),
        group_scope: Vec::new(),
        phase_handles: Vec::new(),
        group_handles: Vec::new(),
        hooks: Vec::new(),
        predicates: Vec::new(),
        hook_timeout: None,
    };
    lua.set_app_data(RefCell::new(state));
    let setup = || -> mlua::Result<()> {
        install_safety(&lua)?;
        install_package_path(&lua, config_path)?;
        let sys = sys_table(&lua, &ctx.sys)?;
        api::install(&lua, sys, ctx.profile.as_deref(), &ctx.vars, &ctx.select)
    };
    setup().map_err(|e| Error::Setup(format!("cannot set up Lua: {}", lua_message(&e))))?;

    // A config that allocates without end (a loop that never stops adding to a table) gets a
    // config error naming its line, instead of taking the machine's memory and ending in an
    // abort. Lua's memory errors carry no position, so a hook notes where the config is every
    // `NOTE_EVERY` instructions. Any count hook makes Lua's VM stop at every instruction: a
    // loop of plain Lua runs about three times as long (0.12 s of CPU against 0.36 s for 2e7
    // rounds of `n = n + i % 7`); a generated config of 10,000 suites, which spends its time in
    // ptest's constructors, not measurably. A finalizer run at each garbage collection would
    // cost nothing, but mlua may collect on its reference thread, where no callback may run
    // (it crashed).
    let _ = lua.set_memory_limit(memory);
    let at = Arc::new(std::sync::Mutex::new(At::default()));
    {
        let at = at.clone();
        let noted = lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(NOTE_EVERY),
            move |_, debug| {
                if let (Some(line), Ok(mut at)) = (debug.current_line(), at.lock()) {
                    let src = debug.source();
                    // The whole name: Lua's short form cuts a long path to "...TAIL".
                    let file = match src.source.as_deref() {
                        Some(s) if s.starts_with('@') => &s[1..],
                        _ => src.short_src.as_deref().unwrap_or("?"),
                    };
                    if *at.file != *file {
                        at.file = Arc::from(file);
                    }
                    at.line = u32::try_from(line).unwrap_or(u32::MAX);
                }
                Ok(mlua::VmState::Continue)
            },
        );
        noted.map_err(|e| Error::Setup(format!("cannot set up Lua: {}", lua_message(&e))))?;
    }
    let evaluated = lua.load(source).set_name(format!("@{chunk}")).exec();
    lua.remove_hook();
    evaluated.map_err(|e| {
        let origin = at.lock().ok().filter(|at| at.line > 0).map(|at| Origin {
            file: at.file.clone(),
            line: at.line,
        });
        Error::Config(vec![config_error(&e, &chunk, origin, memory)])
    })?;

    let decls = State::with(&lua, |s| std::mem::take(&mut s.decls));
    Ok(Evaluated {
        decls,
        runtime: Runtime { lua },
    })
}

fn absolute_parent(path: &Path) -> PathBuf {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
}

impl Runtime {
    /// The Lua state, for the hook and predicate callers.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }
}

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
