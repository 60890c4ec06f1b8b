//! Calling back into Lua at run time: `ptest.on` hooks as a report sink, and `when` retry
//! predicates as the scheduler's `RetryJudge`. Both run on the scheduler's thread. A hook that
//! raises becomes a warning; it never stops the run.

use std::io::Write;

use std::time::{Duration, Instant};

use mlua::{Function, HookTriggers, Lua, Table, VmState};

use super::{Runtime, State, lua_message};
use crate::event::{AttemptView, Event, RetryJudge, RunInfo, Sink, SuiteResult};
use crate::os::process::StopCount;
use crate::plan::Plan;
use crate::report::unix_secs;

/// A hook's or predicate's time budget when `ptest.config` names none (DESIGN §3 rule 8).
const DEFAULT_BUDGET: Duration = Duration::from_secs(5);
/// How often (in Lua instructions) a running callback looks at the clock: about a tenth of a
/// millisecond of Lua.
const CHECK_EVERY: u32 = 10_000;

/// Calls `f` with `arg` within its time budget. Past it, a Lua error abandons the call: an
/// endless loop in a hook cannot hold the scheduler's thread, so a signal to ptest always gets
/// through. A stop signal that arrives during the call abandons it at once, and after a second
/// one (which means "kill at once") no callback runs at all. Time spent outside Lua (a command
/// run by `os.execute`) is only seen when Lua runs again. `stops` counts the stop signals
/// (SIGINT, SIGTERM, SIGHUP, SIGQUIT) from their handler: while Lua runs, the scheduler's
/// thread cannot see them.
fn call_budgeted<R: mlua::FromLuaMulti>(
    lua: &Lua,
    f: &Function,
    arg: Table,
    stops: &StopCount,
) -> mlua::Result<R> {
    let budget = lua
        .app_data_ref::<std::cell::RefCell<State>>()
        .and_then(|cell| cell.borrow().hook_timeout)
        .unwrap_or(DEFAULT_BUDGET);
    let count = stops.clone();
    let stops = count.get();
    if stops >= 2 {
        return Err(mlua::Error::runtime(STOPPING));
    }
    let deadline = Instant::now().checked_add(budget);
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(CHECK_EVERY),
        move |_, _| {
            if count.get() > stops {
                return Err(mlua::Error::runtime(STOPPING));
            }
            match deadline {
                Some(deadline) if Instant::now() >= deadline => Err(mlua::Error::runtime(format!(
                    "abandoned after {} (its time budget, ptest.config {{ hook_timeout = ... }})",
                    crate::duration::human(budget)
                ))),
                _ => Ok(VmState::Continue),
            }
        },
    )?;
    let result = f.call(arg);
    lua.remove_hook();
    result
}

const STOPPING: &str = "abandoned: ptest was asked to stop";

fn hooks_for(lua: &Lua, event: &str) -> Vec<Function> {
    let Some(cell) = lua.app_data_ref::<std::cell::RefCell<State>>() else {
        return Vec::new();
    };
    let state = cell.borrow();
    state
        .hooks
        .iter()
        .filter(|(e, _)| e == event)
        .filter_map(|(_, key)| lua.registry_value::<Function>(key).ok())
        .collect()
}

fn plan_table(lua: &Lua, plan: &Plan, run: &RunInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("run_id", run.run_id.as_str())?;
    t.raw_set("workers", plan.workers)?;
    t.raw_set("fail_fast", plan.fail_fast)?;
    t.raw_set("log_dir", plan.log_dir.to_string_lossy().as_ref())?;
    let suites = lua.create_table()?;
    for s in &plan.suites {
        suites.raw_push(s.name.as_str())?;
    }
    t.raw_set("suites", suites)?;
    let phases = lua.create_table()?;
    for p in &plan.phases {
        phases.raw_push(p.name.as_str())?;
    }
    t.raw_set("phases", phases)?;
    Ok(t)
}

/// The result table of DESIGN §2 (`name`, `status`, `exit_code`, `signal`, `attempt`,
/// `duration`, `log_file`, `output`), shared by hooks and retry predicates.
fn view_table(lua: &Lua, v: &AttemptView<'_>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("name", v.name)?;
    t.raw_set("status", v.status)?;
    t.raw_set("exit_code", v.exit_code)?;
    t.raw_set("signal", v.signal)?;
    t.raw_set("attempt", v.attempt)?;
    t.raw_set("duration", v.duration.as_secs_f64())?;
    t.raw_set(
        "log_file",
        v.log_file.map(|p| p.to_string_lossy().into_owned()),
    )?;
    t.raw_set("output", lua.create_string(v.output)?)?;
    Ok(t)
}

/// `suite_finished`'s table: the result table plus what only a final result has.
fn result_table(lua: &Lua, plan: &Plan, r: &SuiteResult) -> mlua::Result<Table> {
    let output = match (&r.log_file, r.last_output) {
        (Some(p), Some((a, b))) => crate::tail::read_tail(p, a, b),
        _ => Vec::new(),
    };
    let view = AttemptView {
        name: &plan.suite(r.id).name,
        status: r.status.label(),
        exit_code: r.return_code,
        signal: r.signal,
        attempt: r.attempts,
        duration: r.duration,
        log_file: r.log_file.as_deref(),
        output: &output,
    };
    let t = view_table(lua, &view)?;
    t.raw_set("error_message", r.error_message.as_deref())?;
    t.raw_set(
        "skip_reason",
        r.skip_reason.as_ref().map(ToString::to_string),
    )?;
    t.raw_set("start_time", r.start_time.map(unix_secs))?;
    t.raw_set("end_time", r.end_time.map(unix_secs))?;
    Ok(t)
}

/// `run_finished`'s table: the record's summary, its wall time and the run's exit code.
fn summary_table(lua: &Lua, record: &crate::record::Record) -> mlua::Result<Table> {
    let s = &record.summary;
    let t = lua.create_table()?;
    t.raw_set("total", s.total)?;
    t.raw_set("passed", s.passed)?;
    t.raw_set("failed", s.failed)?;
    t.raw_set("skipped", s.skipped)?;
    t.raw_set("flaky", s.flaky)?;
    t.raw_set("timed_out", s.timed_out)?;
    t.raw_set("cancelled", s.cancelled)?;
    t.raw_set("duration", record.duration)?;
    t.raw_set("sequential_time", s.sequential_time)?;
    t.raw_set("speedup", s.speedup)?;
    t.raw_set("interrupted", s.interrupted)?;
    t.raw_set("exit_code", s.exit_code())?;
    Ok(t)
}

/// `ptest.on` hooks, as a sink.
pub(crate) struct Hooks<'a> {
    pub runtime: &'a Runtime,
    /// The run's stop signals, counted as they arrive.
    pub stops: StopCount,
}

impl Hooks<'_> {
    fn call(&self, event: &str, arg: impl FnOnce(&Lua) -> mlua::Result<Table>) {
        let lua = &self.runtime.lua;
        let hooks = hooks_for(lua, event);
        if hooks.is_empty() {
            return;
        }
        let arg = match arg(lua) {
            Ok(a) => a,
            Err(e) => return warn(event, &e),
        };
        for f in hooks {
            if let Err(e) = call_budgeted::<()>(lua, &f, arg.clone(), &self.stops) {
                warn(event, &e);
            }
        }
    }
}

fn warn(event: &str, e: &mlua::Error) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "warning: hook {event} raised an error: {}",
        lua_message(e)
    );
}

impl Sink for Hooks<'_> {
    fn event(&mut self, plan: &Plan, run: &RunInfo, event: &Event<'_>) {
        match event {
            Event::RunStarted => self.call("run_started", |lua| plan_table(lua, plan, run)),
            Event::SuiteStarted {
                id,
                attempt,
                worker,
            } => self.call("suite_started", |lua| {
                let s = plan.suite(*id);
                let t = lua.create_table()?;
                t.raw_set("name", s.name.as_str())?;
                t.raw_set("attempt", *attempt)?;
                t.raw_set("worker", *worker)?;
                t.raw_set("category", s.category.as_str())?;
                t.raw_set("phase", plan.phase(s.phase).name.as_str())?;
                t.raw_set("group", plan.group_name(s))?;
                t.raw_set(
                    "log_file",
                    run.log_files[id.index()].to_string_lossy().as_ref(),
                )?;
                Ok(t)
            }),
            Event::SuiteFinished { result, .. } => {
                self.call("suite_finished", |lua| result_table(lua, plan, result));
            }
            Event::RunFinished { record, .. } => {
                self.call("run_finished", |lua| summary_table(lua, record));
            }
            _ => {}
        }
    }
}

/// `when` predicates, as the scheduler's retry judge.
pub(crate) struct Predicates<'a> {
    pub runtime: &'a Runtime,
    /// The run's stop signals, counted as they arrive.
    pub stops: StopCount,
}

impl RetryJudge for Predicates<'_> {
    fn should_retry(&mut self, predicate: usize, v: &AttemptView<'_>) -> Result<bool, String> {
        let lua = &self.runtime.lua;
        let f: Function = {
            let cell = lua
                .app_data_ref::<std::cell::RefCell<State>>()
                .ok_or("no Lua state")?;
            let state = cell.borrow();
            let key = state.predicates.get(predicate).ok_or("unknown predicate")?;
            lua.registry_value(key).map_err(|e| lua_message(&e))?
        };
        let t = view_table(lua, v).map_err(|e| lua_message(&e))?;
        let answer: mlua::Value =
            call_budgeted(lua, &f, t, &self.stops).map_err(|e| lua_message(&e))?;
        Ok(answer.as_boolean().unwrap_or(!answer.is_nil()))
    }
}
