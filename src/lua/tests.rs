//! Calling back into a config's Lua in this process: what `ptest.on` hooks receive for each
//! event, and how `when` predicates decide.

use std::time::Duration;

use mlua::{Table, Value};

use super::hooks::{Hooks, Predicates};
use crate::event::{AttemptView, Event, RetryJudge, Sink, Status};
use crate::plan::tests::{Fixture, by_name};
use crate::report::tests::{result, run_info, with_log};

/// The global `seen` of the config's Lua state, where its hooks write what they got.
fn seen(runtime: &super::Runtime) -> Table {
    runtime
        .lua()
        .globals()
        .get("seen")
        .expect("the config defines seen")
}

const RECORDER: &str = r#"
seen = {}
local function keep(event)
  return function(t)
    local copy = {}
    for k, v in pairs(t) do copy[k] = v end
    seen[#seen + 1] = { event = event, t = copy }
  end
end
for _, e in ipairs { "run_started", "suite_started", "suite_finished", "run_finished" } do
  ptest.on(e, keep(e))
end
local g = ptest.group { name = "db" }
ptest.phase { name = "core" }
ptest.suite { name = "a", cmd = "true", group = g, phase = "core", category = "unit" }
ptest.suite { name = "b", cmd = "true", phase = "core" }
"#;

#[test]
fn each_hook_gets_the_table_of_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(RECORDER);
    let (plan, runtime) = f.evaluate().unwrap();
    let run = run_info(&plan);
    let a = with_log(
        result(&plan, "a", Status::Failed, 2.5),
        dir.path(),
        "last words\n",
    );
    let b = result(&plan, "b", Status::Skipped, 0.0);
    let results = [a.clone(), b.clone()];
    let record = crate::report::tests::record_of(&plan, &results, 2.0, false, &[]);
    let mut hooks = Hooks {
        runtime: &runtime,
        stops: crate::os::process::StopCount::default(),
    };
    for e in [
        Event::RunStarted,
        Event::SuiteStarted {
            id: a.id,
            attempt: 1,
            worker: 3,
        },
        Event::Warning {
            message: "not a hook event",
        },
        Event::SuiteFinished {
            result: &a,
            entry: &record.suites[0],
        },
        Event::SuiteFinished {
            result: &b,
            entry: &record.suites[1],
        },
        Event::RunFinished {
            results: &results,
            record: &record,
        },
    ] {
        hooks.event(&plan, &run, &e);
    }
    let seen = seen(&runtime);
    assert_eq!(seen.raw_len(), 5);
    let at = |i: usize| -> (String, Table) {
        let entry: Table = seen.get(i).unwrap();
        (entry.get("event").unwrap(), entry.get("t").unwrap())
    };
    let (event, t) = at(1);
    assert_eq!(event, "run_started");
    assert_eq!(t.get::<String>("run_id").unwrap(), "run-1");
    assert_eq!(t.get::<u32>("workers").unwrap(), plan.workers);
    assert!(!t.get::<bool>("fail_fast").unwrap());
    let suites: Vec<String> = t
        .get::<Table>("suites")
        .unwrap()
        .sequence_values()
        .map(Result::unwrap)
        .collect();
    assert_eq!(suites, ["a", "b"]);
    let phases: Vec<String> = t
        .get::<Table>("phases")
        .unwrap()
        .sequence_values()
        .map(Result::unwrap)
        .collect();
    assert_eq!(phases, ["core"]);

    let (event, t) = at(2);
    assert_eq!(event, "suite_started");
    assert_eq!(t.get::<String>("name").unwrap(), "a");
    assert_eq!(t.get::<u32>("attempt").unwrap(), 1);
    assert_eq!(t.get::<u32>("worker").unwrap(), 3);
    assert_eq!(t.get::<String>("category").unwrap(), "unit");
    assert_eq!(t.get::<String>("phase").unwrap(), "core");
    assert_eq!(t.get::<String>("group").unwrap(), "db");
    assert!(t.get::<String>("log_file").unwrap().ends_with("a.log"));

    let (event, t) = at(3);
    assert_eq!(event, "suite_finished");
    assert_eq!(t.get::<String>("name").unwrap(), "a");
    assert_eq!(t.get::<String>("status").unwrap(), "failed");
    assert_eq!(t.get::<i32>("exit_code").unwrap(), 3);
    assert_eq!(t.get::<Value>("signal").unwrap(), Value::Nil);
    assert_eq!(t.get::<u32>("attempt").unwrap(), 1);
    assert!((t.get::<f64>("duration").unwrap() - 2.5).abs() < 1e-9);
    assert_eq!(t.get::<String>("output").unwrap(), "last words\n");
    assert_eq!(t.get::<String>("error_message").unwrap(), "exit code 3");
    assert!(t.get::<f64>("start_time").unwrap() > 1.6e9);
    assert!(t.get::<f64>("end_time").unwrap() > t.get::<f64>("start_time").unwrap());

    let (_, t) = at(4);
    assert_eq!(t.get::<String>("status").unwrap(), "skipped");
    assert_eq!(
        t.get::<String>("skip_reason").unwrap(),
        "dependency \"x\" failed"
    );
    assert_eq!(t.get::<u32>("attempt").unwrap(), 0);
    assert_eq!(t.get::<String>("output").unwrap(), "");
    assert_eq!(t.get::<Value>("start_time").unwrap(), Value::Nil);

    let (event, t) = at(5);
    assert_eq!(event, "run_finished");
    assert_eq!(t.get::<u32>("total").unwrap(), 2);
    assert_eq!(t.get::<u32>("failed").unwrap(), 1);
    assert_eq!(t.get::<u32>("skipped").unwrap(), 1);
    assert_eq!(t.get::<u32>("exit_code").unwrap(), 1);
    assert!(!t.get::<bool>("interrupted").unwrap());
    assert!((t.get::<f64>("sequential_time").unwrap() - 2.5).abs() < 1e-9);
}

#[test]
fn hooks_of_one_event_run_in_order_and_a_raising_one_stops_none_after_it() {
    let f = Fixture::new(
        r#"
        seen = {}
        ptest.on("run_started", function() seen[#seen + 1] = "first" end)
        ptest.on("run_started", function() error("boom") end)
        ptest.on("run_started", function() seen[#seen + 1] = "third" end)
        ptest.suite { name = "a", cmd = "true" }
        "#,
    );
    let (plan, runtime) = f.evaluate().unwrap();
    Hooks {
        runtime: &runtime,
        stops: crate::os::process::StopCount::default(),
    }
    .event(&plan, &run_info(&plan), &Event::RunStarted);
    let got: Vec<String> = seen(&runtime)
        .sequence_values()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, ["first", "third"]);
}

fn judge(lua_answer: &str) -> Result<bool, String> {
    let f = Fixture::new(&format!(
        r#"
        local r = ptest.retry {{ attempts = 2, when = function(r) {lua_answer} end }}
        ptest.suite {{ name = "s", cmd = "true", retry = r }}
        "#
    ));
    let (plan, runtime) = f.evaluate().unwrap();
    let when = by_name(&plan, "s").retry.when.expect("a when predicate");
    let view = AttemptView {
        name: "s",
        status: "failed",
        exit_code: Some(75),
        signal: None,
        attempt: 1,
        duration: Duration::from_millis(1500),
        log_file: None,
        output: b"HTTP 429 Too Many Requests\n",
    };
    Predicates {
        runtime: &runtime,
        stops: crate::os::process::StopCount::default(),
    }
    .should_retry(when, &view)
}

#[test]
fn a_predicate_sees_the_attempt_and_its_answer_is_read_as_lua_truth() {
    assert_eq!(judge("return r.exit_code == 75"), Ok(true));
    assert_eq!(judge("return r.exit_code == 1"), Ok(false));
    assert_eq!(judge("return r.output:find(\"429\") ~= nil"), Ok(true));
    assert_eq!(
        judge(
            "return r.name == 's' and r.status == 'failed' and r.attempt == 1 and r.duration == 1.5 and r.signal == nil and r.log_file == nil"
        ),
        Ok(true)
    );
    // Anything but nil and false is true, as in Lua.
    assert_eq!(judge("return 'yes'"), Ok(true));
    assert_eq!(judge("return 0"), Ok(true));
    assert_eq!(judge("return nil"), Ok(false));
    assert_eq!(judge(""), Ok(false), "no answer is no retry");
}

#[test]
fn a_predicate_that_raises_is_an_error_naming_its_line() {
    let e = judge("error('no network')").unwrap_err();
    assert!(e.ends_with("ptest.lua:2: no network"), "{e}");
}
