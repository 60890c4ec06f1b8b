//! `ptest [run] CONFIG`: one run from the command line to the exit code. Loads the plan, checks
//! the report paths, wires the report sinks (terminal, JSON, JUnit, HTML, GitHub, `--events`,
//! history, Lua hooks) to the scheduler, runs it, and says which reports could not be written.
//! Must not touch: scheduling rules (`sched::core`), settings precedence (`settings`), report
//! formats (`report`).

use std::io::Write;

use crate::cli;
use crate::error::Error;
use crate::{
    event, exec, exit, given, history, io_message, leave, load_given, load_whole, lua,
    print_stdout, queue, report, sched, settings, warn,
};

/// A run id that sorts by time and is unique enough to name temp folders.
fn new_run_id() -> String {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .filter(|c| *c != 'Z')
        .collect();
    format!("{stamp}-{:06x}", fastrand::u32(..0x0100_0000))
}

/// Colour as `settings` resolved it (`--color`, then `NO_COLOR`); left to `auto`, only on a
/// terminal.
fn color_enabled(choice: cli::ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        cli::ColorChoice::Auto => std::io::stdout().is_terminal(),
    }
}

/// `ptest [run] CONFIG`: evaluate, plan, run, report.
pub(crate) fn run_suites(args: &cli::RunArgs) -> Result<u8, Error> {
    let run_id = new_run_id();
    // What the config starts with io.popen or os.execute (and a hook, later) inherits the run's
    // id, as every suite does: where there is no child subreaper (macOS, PTEST_PLATFORM=posix),
    // the end-of-run sweep finds such strays by it. Suites get their own copy explicitly.
    // SAFETY: no other thread exists yet (the first one is the setup's, just below), so nothing
    // reads the environment while it changes.
    unsafe { std::env::set_var("PTEST_RUN_ID", &run_id) };
    // From the config's first line, what it starts is the run's: if ptest dies while the
    // config is evaluated (a TERM during a preset's `go list`), the watchdog stops every
    // process carrying the run's id.
    let watchdog =
        exec::watchdog::Watchdog::start(std::ffi::OsStr::new(&format!("PTEST_RUN_ID={run_id}")));
    let given = given(&args.config, false)?;
    // The run's folder is made on another thread while the config is evaluated.
    let spares = match given.overrides.jobs {
        Some(settings::Jobs::Count(n)) => Some(n as usize),
        Some(settings::Jobs::Auto) | None => None,
    };
    let setup = sched::files::Setup::start(&run_id, spares);
    // What the config starts with io.popen or os.execute and leaves running is ptest's to
    // stop: it must not pass to init before the executor exists. Failing here only loses that.
    let _ = crate::os::process::become_subreaper();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("cannot start the runtime: {}", io_message(&e))))?;
    // DESIGN §10: a queue run plans the whole run; a store that cannot be reached at the start
    // makes it this machine's static shard instead.
    let queue = queue_spec(args)?;
    let store = match &queue {
        Some(spec) => match rt.block_on(queue::connect(spec)) {
            Ok(store) => Some(store),
            Err(e @ queue::StoreError::Unreachable(_)) => {
                let _ = writeln!(std::io::stderr().lock(), "warning: {e}");
                None
            }
            Err(e) => return Err(Error::Usage(format!("--queue: {e}"))),
        },
        None => None,
    };
    let (plan, runtime, loaded, placed) = match &store {
        Some(_) => {
            let (plan, runtime, loaded) = load_whole(&given)?;
            (plan, runtime, loaded, None)
        }
        None => load_given(&given)?,
    };
    if queue.is_some() && store.is_none() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            match plan.settings.shard.value {
                Some(sh) => format!(
                    "ptest: running static shard {}/{} ({}) instead of the queue",
                    sh.index,
                    sh.total,
                    plan.settings.shard.source.label()
                ),
                None => "ptest: no static shard is known (no --shard, PTEST_SHARD or CI \
                         parallel-job variables): running every suite here instead of the queue"
                    .to_owned(),
            }
        );
    }
    let joined = match (&queue, store) {
        (Some(spec), Some(store)) => match rt.block_on(queue::join_with(store, spec, &plan)) {
            Ok(joined) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "ptest: queue run {} ({}) at {}: {} {} the plan ({} unit{})",
                    spec.run,
                    spec.run_source,
                    spec.target.shown(),
                    joined.node,
                    if joined.created { "wrote" } else { "joined" },
                    plan.suites.len(),
                    if plan.suites.len() == 1 { "" } else { "s" }
                );
                Some(joined)
            }
            Err(queue::JoinError::Differs(d)) => {
                leave(plan, runtime);
                return Err(Error::Usage(format!(
                    "the queue's plan differs from this machine's: {d} (every machine of queue \
                     run {} must have the same config, selection and history)",
                    spec.run
                )));
            }
            Err(queue::JoinError::Store(e)) => {
                leave(plan, runtime);
                return Err(Error::Usage(format!("--queue: {e}")));
            }
        },
        _ => None,
    };
    if given.selection.rerun_failed && plan.suites.is_empty() {
        print_stdout("nothing failed last time\n");
        leave(plan, runtime);
        return Ok(exit::OK);
    }
    if !args.allow_empty && plan.suites.iter().all(|s| s.skip.is_some()) {
        // CI must not go green on zero suites because of a typo in a filter.
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: nothing to run: {} (--allow-empty accepts that)",
            match (plan.settings.shard.value, placed.map(|p| p.units)) {
                (Some(sh), Some(units)) if plan.suites.is_empty() && units > 0 => format!(
                    "shard {}/{} has no suite: the run has {units} unit{} to share out (a \
                     chain of dependencies, a max = 1 group, a suite or a batch's item each)",
                    sh.index,
                    sh.total,
                    if units == 1 { "" } else { "s" }
                ),
                _ => nothing_to_run(&given, plan.suites.len()),
            }
        );
        leave(plan, runtime);
        return Ok(exit::NOTHING_TO_RUN);
    }
    sched::files::prepare_log_dir(&plan.log_dir).map_err(Error::Setup)?;
    // A report path naming a folder (or a link, or a device) is refused before anything runs:
    // replacing it at the end would cost whatever it holds.
    let own_report = plan.log_dir.join("test-report.json");
    for (what, path) in [
        ("--report", args.report.as_ref()),
        ("--junit", args.junit.as_ref()),
        ("--html", args.html.as_ref()),
        (
            "--events",
            args.events.as_ref().filter(|p| p.as_os_str() != "-"),
        ),
        ("the run's report", Some(&own_report)),
    ] {
        if let Some(path) = path {
            sched::files::check_writable(path).map_err(|e| Error::Setup(format!("{what}: {e}")))?;
        }
    }
    let styles = report::style::Styles {
        enabled: color_enabled(plan.settings.color.value),
    };
    let verbosity = if args.quiet {
        report::terminal::Verbosity::Quiet
    } else if args.verbose {
        report::terminal::Verbosity::Verbose
    } else {
        report::terminal::Verbosity::Normal
    };
    let mut events = match &args.events {
        Some(path) => Some(report::events::EventsSink::open(path.clone()).map_err(|e| {
            Error::Setup(format!(
                "--events: cannot write {}: {}",
                path.display(),
                io_message(&e)
            ))
        })?),
        None => None,
    };
    // With `--events -` the events own stdout; the terminal view moves to stderr.
    let events_on_stdout = args.events.as_deref() == Some(std::path::Path::new("-"));
    let live = {
        use std::io::IsTerminal;
        let tty = if events_on_stdout {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        // Whenever CI is set, plain lines: a CI log keeps every redraw of a status line.
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        tty && !ci && std::env::var("TERM").map_or(true, |t| t != "dumb")
    };
    let terminal_out: Box<dyn Write + Send> = if events_on_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut terminal = report::terminal::Terminal::with_writer(styles, verbosity, terminal_out)
        .with_live_view(live);
    let echo = args.verbose.then(|| terminal.echo());
    let mut paths = vec![plan.log_dir.join("test-report.json")];
    paths.extend(args.report.clone());
    let mut files = report::Files {
        json: paths,
        junit: args.junit.clone(),
        html: args.html.clone(),
        errors: Vec::new(),
    };
    let mut github = report::github::GithubSink::detect();
    // A second stop signal ends the run within a second, whatever any thread is doing: the
    // scheduler's own way (kill, reports) normally takes milliseconds; the backstop ends the
    // process when a hook is stuck in one long C call that no instruction count interrupts.
    let stops = crate::os::process::StopCount::with_backstop(std::time::Duration::from_millis(700));
    let mut past = plan
        .settings
        .history
        .value
        .as_ref()
        .map(|p| history::sink::HistorySink::new(p.clone(), loaded, stops.clone()));
    let mut hooks = lua::hooks::Hooks {
        runtime: &runtime,
        stops: stops.clone(),
    };
    let mut judge = lua::hooks::Predicates {
        runtime: &runtime,
        stops: stops.clone(),
    };
    // The header says what decides what runs here: the queue, or the static shard in its place.
    let queue_run = queue.as_ref().map(|spec| event::QueueRun {
        url: spec.target.shown(),
        run: spec.run.clone(),
        run_source: spec.run_source.clone(),
        node: joined
            .as_ref()
            .map_or_else(|| spec.node.clone(), |j| j.node.clone()),
        fallback: joined.is_none(),
    });
    let opts = sched::Options {
        run_id,
        keep_tmp: args.keep_tmp,
        echo,
        watchdog,
        stops,
        queue: queue_run,
    };
    let summary = rt.block_on(async {
        let mut sinks: Vec<&mut dyn event::Sink> = vec![&mut terminal, &mut hooks, &mut files];
        if let Some(g) = github.as_mut() {
            sinks.push(g);
        }
        if let Some(h) = past.as_mut() {
            sinks.push(h);
        }
        if let Some(e) = events.as_mut() {
            sinks.push(e);
        }
        let scheduler = sched::Scheduler::new(&plan, opts, sinks, &mut judge, setup)
            .map_err(|e| Error::Setup(format!("cannot start the executor: {}", io_message(&e))))?;
        let scheduler = match (joined, queue.as_ref()) {
            (Some(joined), Some(spec)) => {
                // DESIGN §10: the limiters are held in the store too (a blocking connection:
                // the scheduler asks and is answered at once).
                let limits = if plan.limiters.is_empty() {
                    None
                } else {
                    match queue::limits::SharedLimits::connect(
                        &spec.target,
                        &spec.run,
                        &joined.holder,
                        spec.lease,
                        spec.ttl,
                    ) {
                        Ok(l) => Some(l),
                        Err(e) => {
                            warn(&format!("{e}: this machine's limiters hold for it alone"));
                            None
                        }
                    }
                };
                let link = queue::Link::start(joined, &plan, spec.lease)
                    .await
                    .map_err(|e| Error::Usage(format!("--queue: {e}")))?;
                scheduler.with_queue(link, limits)
            }
            _ => scheduler,
        };
        let (results, summary, _) = scheduler.run().await;
        let none = given.selection.tests.narrows() && matched_nothing(&plan, &results);
        Ok::<_, Error>((summary, none))
    })?;
    let (summary, matched_none) = summary;
    let errors: Vec<&String> = files
        .errors
        .iter()
        .chain(events.iter().flat_map(|e| &e.errors))
        .chain(past.iter().flat_map(|h| &h.errors))
        .collect();
    for e in &errors {
        let _ = writeln!(std::io::stderr().lock(), "error: {e}");
    }
    for w in past.iter().flat_map(|h| &h.warnings) {
        warn(w);
    }
    leave(plan, runtime);
    if let Some(spec) = queue.as_ref().filter(|_| summary.total == 0) {
        print_stdout(&format!(
            "nothing left: every unit of queue run {} has its result from another machine\n",
            spec.run
        ));
    }
    // A report that was asked for and is missing fails the run, as a failed suite would: CI
    // must not go green on a result nobody can read.
    let code = summary.exit_code();
    if code == exit::OK && errors.is_empty() && matched_none && !args.allow_empty {
        // As `pytest -k` that deselects everything, and nextest's "no tests to run": a typo in
        // a filter must not pass as a green run.
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: nothing to run: {} matched no test in the suites that took it (ptest list \
             --tests shows the ids; --allow-empty accepts that)",
            given.selection.tests.flags()
        );
        return Ok(exit::NOTHING_TO_RUN);
    }
    Ok(if code == exit::OK && !errors.is_empty() {
        exit::FAILED
    } else {
        code
    })
}

/// Whether the suites that took `-k` or `--test` ran no test: each of them reported its tests
/// (a batch with `results`) and none ran one (a test the tool's filter left out is not
/// reported, or, by jest, vitest and node, reported as skipped). A suite whose tests are
/// unknown counts as having run some.
fn matched_nothing(plan: &crate::plan::Plan, results: &[event::SuiteResult]) -> bool {
    let mut took = false;
    for r in results {
        let suite = plan.suite(r.id);
        if !suite.selected_tests || r.attempts == 0 {
            continue;
        }
        took = true;
        let known = suite.part.as_deref().is_some_and(|p| p.results.is_some());
        if !known
            || r.testcases
                .iter()
                .any(|c| c.outcome != crate::batch::results::Outcome::Skipped)
        {
            return false;
        }
    }
    took
}

/// DESIGN §10: the queue's flags and variables, or `None` when this is no queue run.
fn queue_spec(args: &cli::RunArgs) -> Result<Option<queue::Spec>, Error> {
    let var = |k: &str| std::env::var(k).ok();
    let host = sysinfo::System::host_name().ok();
    queue::Spec::resolve(
        args.queue.as_deref(),
        args.queue_run.as_deref(),
        args.queue_lease,
        args.queue_ttl,
        &var,
        host,
    )
    .map_err(Error::Usage)
}

/// Why a run has no suite to run, naming the filters given.
fn nothing_to_run(given: &settings::Given, kept: usize) -> String {
    let sel = &given.selection;
    let mut filters = Vec::new();
    for (flag, values) in [
        ("--suites", &sel.suites),
        ("--categories", &sel.categories),
        ("--tags", &sel.tags),
        ("--phase", &sel.phases),
    ] {
        if !values.is_empty() {
            filters.push(format!("{flag} {}", values.join(",")));
        }
    }
    let tests = &sel.tests;
    if tests.narrows() {
        filters.push(tests.flags());
    }
    let config = given.config.display();
    match (filters.is_empty(), kept) {
        (true, 0) => format!("{config} declares no suite"),
        (false, 0) if !tests.names.is_empty() => format!(
            "the selection {} matches no suite: no batch holds the tests named (ptest list \
             --tests shows the ids), and a plain command cannot run only some of its tests",
            filters.join(" ")
        ),
        // A preset that knows its tests while the config runs (cargo) declares no suite for a
        // filter none of them matches: the same "matched no test" as a run that found none.
        (false, 0) if tests.narrows() => format!(
            "{} matched no test: no suite that hands -k and --test to its tool (the presets' \
             batches, and suites declared with select = true) holds a test it matches, and a \
             plain command cannot run only some of its tests (ptest list --tests shows the ids)",
            filters.join(" ")
        ),
        (false, 0) => format!("the selection {} matches no suite", filters.join(" ")),
        (_, _) if sel.skip.is_empty() => {
            format!("every selected suite is disabled (enabled = false) in {config}")
        }
        (_, _) => format!(
            "every selected suite is skipped (--skip {}) or disabled",
            sel.skip.join(",")
        ),
    }
}

#[cfg(test)]
mod tests {
    //! Saying why nothing runs, run ids, colour.

    use super::*;

    fn why(args: &[&str], kept: usize) -> String {
        use clap::Parser;
        let cli =
            cli::Cli::try_parse_from(std::iter::once("ptest").chain(args.iter().copied())).unwrap();
        let config = cli
            .run
            .config
            .config
            .clone()
            .unwrap_or_else(|| "ptest.lua".into());
        let args = &cli.run.config;
        let given = settings::Given::new(config, args.overrides(), args.selection(), &|_| None);
        nothing_to_run(&given, kept)
    }

    #[test]
    fn nothing_to_run_names_the_reason() {
        assert_eq!(why(&[], 0), "ptest.lua declares no suite");
        assert_eq!(why(&["ci/ptest.lua"], 0), "ci/ptest.lua declares no suite");
        assert_eq!(
            why(&["-s", "a,b", "--phase", "core", "-t", "fast"], 0),
            "the selection --suites a,b --tags fast --phase core matches no suite"
        );
        assert_eq!(
            why(&["-c", "unit"], 3),
            "every selected suite is disabled (enabled = false) in ptest.lua"
        );
        assert_eq!(
            why(&["--skip", "x,y"], 2),
            "every selected suite is skipped (--skip x,y) or disabled"
        );
        assert_eq!(
            why(&["-k", "a or b"], 0),
            "-k 'a or b' matched no test: no suite that hands -k and --test to its tool (the \
             presets' batches, and suites declared with select = true) holds a test it matches, \
             and a plain command cannot run only some of its tests (ptest list --tests shows \
             the ids)"
        );
        assert_eq!(
            why(&["-t", "x", "--test", "t.py::y"], 0),
            "the selection --tags x --test t.py::y matches no suite: no batch holds the tests \
             named (ptest list --tests shows the ids), and a plain command cannot run only some \
             of its tests"
        );
    }

    #[test]
    fn run_ids_start_with_the_time_and_end_with_six_hex_digits() {
        let a = new_run_id();
        let b = a.as_bytes();
        assert_eq!(a.len(), 22, "{a}");
        assert!(b[..8].iter().all(u8::is_ascii_digit), "{a}");
        assert_eq!(b[8], b'T', "{a}");
        assert!(b[9..15].iter().all(u8::is_ascii_digit), "{a}");
        assert_eq!(b[15], b'-', "{a}");
        assert!(b[16..].iter().all(u8::is_ascii_hexdigit), "{a}");
        // Sorting by id sorts by start time: the year comes first.
        let year = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        assert!(a.starts_with(&year[..4]), "{a}");
    }

    #[test]
    fn colour_is_forced_either_way_by_the_flag() {
        assert!(color_enabled(cli::ColorChoice::Always));
        assert!(!color_enabled(cli::ColorChoice::Never));
    }
}
