//! ptest: run a project's test suites in parallel, scheduled by a Lua file.
//!
//! Data flows one way: command line → Lua evaluation → `Plan` → scheduler → executor → events →
//! reports. This file dispatches the subcommands, loads a plan (a run itself is `run.rs`), and
//! is the one place where errors become exit codes.

mod batch;
mod cli;
mod command;
mod duration;
mod error;
mod event;
mod exec;
mod history;
mod init;
mod lua;
mod os;
mod plan;
mod queue;
mod record;
mod report;
mod run;
mod safe_write;
mod sched;
mod services;
mod settings;
mod shard;
mod shell;
mod size;
mod suggest;
mod sys;
mod tail;
mod testlist;

/// The watchdog's entry point (DESIGN §3 rule 8): the binary starts itself as one.
pub use exec::watchdog;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigArgs};
use error::Error;
use plan::Plan;

// Where they always were for the rest of the crate; they live in `error.rs`.
pub use error::{exit, io_message};

/// Write to stdout; a closed pipe (`ptest list | head`) is a normal end, not an error.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Entry point of the binary.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    // Not clap subcommands: helpers for what the cargo, go and node presets declare, kept out of the
    // help and of the completions (`ptest li<TAB>` is `list`).
    if args.get(1).is_some_and(|a| a == batch::libtest::COMMAND) {
        return ExitCode::from(batch::libtest::main(&args[2..]));
    }
    if args.get(1).is_some_and(|a| a == batch::gotest::COMMAND) {
        return ExitCode::from(batch::gotest::main(&args[2..]));
    }
    if args.get(1).is_some_and(|a| a == batch::jstest::COMMAND) {
        return ExitCode::from(batch::jstest::main(&args[2..]));
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let text = match &e {
                Error::Config(_) => e.to_string(),
                _ => format!("error: {e}"),
            };
            let _ = writeln!(std::io::stderr().lock(), "{text}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        None => run::run_suites(&cli.run),
        Some(Command::Run(a)) => run::run_suites(&a),
        Some(Command::Acquire(a)) => Ok(acquire(&a)),
        Some(Command::Init(a)) => {
            print_stdout(&init::init(&a.dir, a.editor)?);
            Ok(exit::OK)
        }
        Some(Command::Completions(a)) => {
            shell::completions(a.shell);
            Ok(exit::OK)
        }
        Some(Command::Man(a)) => {
            shell::man(a.dir.as_deref()).map_err(Error::Setup)?;
            Ok(exit::OK)
        }
        Some(Command::Version) => {
            print_stdout(&format!("ptest {}\n", cli::LONG_VERSION));
            Ok(exit::OK)
        }
        Some(Command::Merge(a)) if a.history => {
            history::merge(&a.reports, &a.output)?;
            Ok(exit::OK)
        }
        Some(Command::Stats(a)) => stats(&a),
        Some(Command::Merge(a)) if a.queue.is_some() => merge_queue(&a),
        Some(Command::Merge(a)) => {
            check_merge_outputs(&a)?;
            let shards = a
                .reports
                .iter()
                .map(|p| Ok((p.display().to_string(), record::merge::read(p)?)))
                .collect::<Result<Vec<_>, String>>()
                .map_err(Error::Usage)?;
            let record::merge::Merged {
                record: merged,
                notes,
                missing,
            } = record::Record::merge(shards).map_err(Error::Usage)?;
            {
                let mut err = std::io::stderr().lock();
                for n in &notes {
                    let _ = writeln!(err, "warning: merge: {n}");
                }
                for m in &missing {
                    let _ = writeln!(err, "error: merge: {m}");
                }
            }
            let written = write_merged(&merged, &a);
            Ok(if written && missing.is_empty() {
                exit::OK
            } else {
                exit::FAILED
            })
        }
        Some(Command::List(a)) => {
            let (plan, rt) = load(&a.config)?;
            if a.tests {
                return Ok(list_tests(&a, plan, rt));
            }
            let text = match a.format {
                cli::ListFormat::Text => report::listing::list_text(&plan),
                cli::ListFormat::Json => report::listing::list_json(&plan),
            };
            print_stdout(&text);
            leave(plan, rt);
            Ok(exit::OK)
        }
        Some(Command::Plan(a)) => plan_command(&a),
        Some(Command::Graph(a)) => {
            let (plan, rt) = load(&a.config)?;
            let text = match a.format {
                cli::GraphFormat::Dot => report::graph::dot(&plan),
                cli::GraphFormat::Mermaid => report::graph::mermaid(&plan),
            };
            print_stdout(&text);
            leave(plan, rt);
            Ok(exit::OK)
        }
    }
}

/// `ptest list --tests`: each batch's tests as its tool collects them (`testlist`).
fn list_tests(a: &cli::ListArgs, plan: Plan, rt: lua::Runtime) -> u8 {
    let listed = testlist::list(&plan);
    leave(plan, rt);
    let mut code = exit::OK;
    for l in &listed {
        if let Some(p) = &l.problem {
            let _ = writeln!(std::io::stderr().lock(), "error: {p}");
            code = exit::FAILED;
        } else if !l.collected {
            warn(&format!(
                "batch \"{}\" cannot list its tests (it has no list command; jest and node's own \
                 runner cannot collect tests without running them): its items stand for them",
                l.batch
            ));
        }
    }
    print_stdout(&match a.format {
        cli::ListFormat::Text => testlist::text(&listed),
        cli::ListFormat::Json => testlist::json(&listed),
    });
    code
}

/// `ptest plan`: the resolved schedule, of one shard with `--shard K/N`; with `--shard all/N`
/// or `--shards`, every shard (DESIGN §10).
fn plan_command(a: &cli::PlanArgs) -> Result<u8, Error> {
    use cli::PlanFormat;
    let every = match (a.shards, a.config.shard) {
        (Some(n), _) => Some(n),
        (None, Some(cli::ShardArg::All(n))) => Some(cli::ShardsArg::Count(n)),
        (None, _) => None,
    };
    if every != Some(cli::ShardsArg::Auto) {
        for (flag, given) in [
            ("--target", a.target.is_some()),
            ("--node-overhead", a.node_overhead.is_some()),
        ] {
            if given {
                return Err(Error::Usage(format!("{flag} goes with --shards auto")));
            }
        }
    }
    let Some(every) = every else {
        if a.format != PlanFormat::Text {
            return Err(Error::Usage(
                "--format json and github-matrix go with --shard all/N or --shards".into(),
            ));
        }
        let (plan, rt, _, placed) = load_given(&given(&a.config, false)?)?;
        let mut text = report::listing::plan_text(&plan);
        if let (Some(sh), Some(placed)) = (plan.settings.shard.value, &placed) {
            let line = report::shards::shard_line(
                sh.index,
                sh.total,
                plan.settings.shard.source.label(),
                placed,
            );
            let at = text.find('\n').map_or(0, |i| i + 1);
            text.insert_str(at, &line);
        }
        print_stdout(&text);
        leave(plan, rt);
        return Ok(exit::OK);
    };
    let target = match (every, a.target) {
        (cli::ShardsArg::Auto, None) => {
            return Err(Error::Usage(
                "--shards auto needs --target DUR, the wall time to meet (like \"10m\")".into(),
            ));
        }
        (_, t) => t.map_or(0.0, |t| t.as_secs_f64()),
    };
    let overhead = a.node_overhead.map_or(0.0, |d| d.as_secs_f64());
    let (whole, rt, _) = evaluate_given(&given(&a.config, true)?, shard::whole)?;
    let total = match every {
        cli::ShardsArg::Count(n) => n,
        cli::ShardsArg::Auto => {
            let choice = shard::split::choose(&whole.units.model, target, overhead);
            let text = match a.format {
                PlanFormat::Text => report::shards::auto_text(&choice, target, overhead),
                PlanFormat::Json => report::shards::auto_json(&choice, target, overhead),
                PlanFormat::GithubMatrix => {
                    // The matrix on stdout for the workflow; what each count would take in the
                    // job's log.
                    let _ = write!(
                        std::io::stderr().lock(),
                        "{}",
                        report::shards::auto_text(&choice, target, overhead)
                    );
                    report::shards::matrix(choice.shards)
                }
            };
            print_stdout(&text);
            leave(whole.plan, rt);
            return Ok(exit::OK);
        }
    };
    let split = whole.units.split(total);
    print_stdout(&match a.format {
        PlanFormat::Text => report::shards::all_text(&whole, &split),
        PlanFormat::Json => report::shards::all_json(&whole, &split),
        PlanFormat::GithubMatrix => report::shards::matrix(total),
    });
    leave(whole.plan, rt);
    Ok(exit::OK)
}

/// The process ends next: freeing a 10,000-suite plan and its Lua state one allocation at a
/// time would cost tens of milliseconds for nothing (a fifth of a millisecond for a few suites,
/// after the last one has ended).
fn leave(plan: Plan, runtime: lua::Runtime) {
    std::mem::forget(plan);
    std::mem::forget(runtime);
}

/// `ptest stats`: the history beside the config (or `--history`, `PTEST_HISTORY`), as a table.
fn stats(a: &cli::StatsArgs) -> Result<u8, Error> {
    let config = config_path(a.config.as_deref()).unwrap_or_else(|_| PathBuf::from("ptest.lua"));
    let args = ConfigArgs {
        config: Some(config.clone()),
        history: a.history.clone(),
        ..ConfigArgs::default()
    };
    let given = read_given(&args, config);
    let path = given
        .history
        .value
        .as_deref()
        .unwrap_or(std::path::Path::new(""));
    let records = history::store::load_records(path).map_err(Error::Setup)?;
    print_stdout(&match a.format {
        cli::StatsFormat::Text => history::stats::text(&records, path),
        cli::StatsFormat::Json => history::stats::json(&records, path),
    });
    Ok(exit::OK)
}

fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
}

/// The config flags and the environment, read once, for the config at `config`.
fn read_given(args: &ConfigArgs, config: PathBuf) -> settings::Given {
    let env = |k: &str| std::env::var(k).ok();
    let mut given = settings::Given::new(config, args.overrides(), args.selection(), &env);
    given.profile.clone_from(&args.profile);
    given.vars.clone_from(&args.vars);
    given
}

/// What the command line and the environment say about the config to load, read once. A
/// history that names a folder is refused first, then a config that cannot be found.
/// `--shard all/N` is only for `ptest plan`'s view of every shard (`every_shard`).
pub(crate) fn given(args: &ConfigArgs, every_shard: bool) -> Result<settings::Given, Error> {
    if let (false, Some(cli::ShardArg::All(n))) = (every_shard, args.shard) {
        return Err(Error::Usage(format!(
            "--shard all/{n}: a run (or list, graph) is one shard, K/N; all/N is for ptest plan"
        )));
    }
    let found = config_path(args.config.as_deref());
    // No config found: the history beside where it would be is checked all the same.
    let config = found
        .as_ref()
        .map_or_else(|_| PathBuf::from("ptest.lua"), Clone::clone);
    let given = read_given(args, config);
    check_history(given.history.value.as_deref())?;
    found?;
    Ok(given)
}

/// A history that names a folder is refused before the config is evaluated.
fn check_history(path: Option<&std::path::Path>) -> Result<(), Error> {
    match path {
        Some(path) if path.is_dir() => Err(Error::Usage(format!(
            "--history: {} is a folder, not a history file",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Read what the declared suites need of the history (a warning when it cannot be read: the
/// command goes on without it).
fn read_history(
    path: Option<&std::path::Path>,
    decls: &plan::decl::Declarations,
) -> history::store::Loaded {
    let Some(path) = path else {
        return history::store::Loaded::default();
    };
    let wanted = history::Wanted::new(
        decls
            .suites
            .iter()
            .map(|s| (s.name.as_str(), s.batch.is_some())),
    );
    let loaded = history::store::load(path, wanted);
    if let Some(w) = &loaded.warning {
        warn(w);
    }
    loaded
}

/// `ptest acquire`: exit 0 granted, 2 refused or usage, 3 outside a run, 4 timed out.
fn acquire(a: &cli::AcquireArgs) -> u8 {
    match sched::socket::acquire(&a.limiter, a.permits, a.timeout) {
        Ok(()) => exit::OK,
        Err(sched::socket::ClientError::NoSocket) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: ptest acquire works inside a suite of a ptest run (PTEST_SOCKET is not set)"
            );
            exit::OUTSIDE_RUN
        }
        Err(sched::socket::ClientError::Refused(e)) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e}");
            exit::USAGE
        }
        Err(sched::socket::ClientError::TimedOut) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: limiter \"{}\" did not grant within the timeout",
                a.limiter
            );
            exit::NOT_GRANTED
        }
    }
}

/// The config to read: the one given, else `ptest.lua` in the current folder or the nearest
/// parent, up to the repository root (the first folder holding `.git`).
fn config_path(given: Option<&std::path::Path>) -> Result<PathBuf, Error> {
    if let Some(path) = given {
        if !path.exists() {
            // `ptest lsit` is a mistyped subcommand, not a missing file named "lsit".
            let word = path.to_string_lossy();
            if !word.contains(['/', '.']) {
                use clap::CommandFactory;
                let cmd = Cli::command();
                let names: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).collect();
                if let Some(name) = suggest::closest(&word, names.iter().copied()) {
                    return Err(Error::Usage(format!(
                        "no subcommand or file named \"{word}\" (did you mean \"ptest {name}\"?)"
                    )));
                }
            }
        }
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_dir().map_err(|e| {
        Error::Usage(format!(
            "cannot read the current folder: {}",
            io_message(&e)
        ))
    })?;
    match find_config(&here) {
        Some(found) => {
            // Shown as given relative to here when it is here, so messages read `ptest.lua:3:`.
            Ok(found
                .strip_prefix(&here)
                .map_or(found.clone(), std::path::Path::to_path_buf))
        }
        None => Err(Error::Usage(format!(
            "no ptest.lua in {} or its parent folders up to the repository root (write one with \"ptest init\", or give its path)",
            here.display()
        ))),
    }
}

/// `ptest.lua` in `start` or its nearest parent, stopping at the first folder holding `.git`.
pub fn find_config(start: &std::path::Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join("ptest.lua");
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// Evaluate the config and build the plan, with the command line, environment and history
/// applied.
pub fn load(args: &ConfigArgs) -> Result<(Plan, lua::Runtime), Error> {
    let (plan, runtime, _, _) = load_given(&given(args, false)?)?;
    Ok((plan, runtime))
}

/// `load` from what the command line and environment gave, keeping what was read of the
/// history (a run adds to it at the end), and on a shard where it stands among the others.
fn load_given(
    given: &settings::Given,
) -> Result<
    (
        Plan,
        lua::Runtime,
        history::store::Loaded,
        Option<shard::Placed>,
    ),
    Error,
> {
    let ((plan, placed), runtime, loaded) = evaluate_given(given, |decls, settings, facts| {
        plan::build::build_run(decls, settings, facts, shard::share_of)
    })?;
    Ok((plan, runtime, loaded, placed))
}

/// The files `ptest merge` writes, checked before anything is read: none may be a folder or a
/// link ptest would write through.
fn check_merge_outputs(a: &cli::MergeArgs) -> Result<(), Error> {
    safe_write::check(&a.output).map_err(|e| Error::Usage(format!("-o: {e}")))?;
    for (path, flag) in [(&a.junit, "--junit"), (&a.html, "--html")] {
        if let Some(path) = path {
            safe_write::check(path).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
        }
    }
    match &a.add_history {
        Some(path) if path.is_dir() => Err(Error::Usage(format!(
            "--add-history: {} is a folder, not a history file",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// What `ptest merge` and its queue supervisor write of the joined record: the report, and as
/// asked its JUnit, its HTML page (a lane per shard or machine) and the run added to a
/// history. Each failure is said on stderr; `false` when one was.
fn write_merged(record: &record::Record, a: &cli::MergeArgs) -> bool {
    let mut files = report::Files {
        json: vec![a.output.clone()],
        junit: a.junit.clone(),
        html: a.html.clone(),
        errors: Vec::new(),
    };
    files.write(record, &safe_write::Discard::default());
    let mut err = std::io::stderr().lock();
    for e in &files.errors {
        let _ = writeln!(err, "error: {e}");
    }
    let mut ok = files.errors.is_empty();
    if let Some(path) = &a.add_history {
        let update = history::merged::of_record(record);
        match history::store::write(path, history::store::Loaded::default(), &update, &|| false) {
            Ok(warnings) => {
                for w in warnings {
                    let _ = writeln!(err, "warning: {w}");
                }
            }
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                ok = false;
            }
        }
    }
    ok
}

/// `ptest merge --queue URL [--wait]`: the queue run's record from its store, written as the
/// merge of report files is.
fn merge_queue(a: &cli::MergeArgs) -> Result<u8, Error> {
    check_merge_outputs(a)?;
    let var = |k: &str| std::env::var(k).ok();
    let spec = queue::Spec::resolve(
        a.queue.as_deref(),
        a.queue_run.as_deref(),
        a.queue_lease,
        None,
        &var,
        None,
    )
    .map_err(Error::Usage)?
    .ok_or_else(|| Error::Usage("merge --queue: no store named".into()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("cannot start the runtime: {}", io_message(&e))))?;
    let waiting = queue::supervise::Waiting {
        wait: a.wait,
        timeout: a.timeout,
        lease: spec.lease,
    };
    let mut say = |line: &str| {
        let _ = writeln!(std::io::stderr().lock(), "ptest: {line}");
    };
    let collected = rt
        .block_on(queue::supervise::collect(&spec, waiting, &mut say))
        .map_err(|e| Error::Usage(format!("merge --queue: {e}")))?;
    let record = collected.record;
    let mut failed = !write_merged(&record, a);
    if collected.duplicates > 0 {
        say(&format!(
            "{} late result{} of lost leases kept aside as duplicates (the lease holders' results count)",
            collected.duplicates,
            if collected.duplicates == 1 { "" } else { "s" }
        ));
    }
    if !collected.missing.is_empty() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: {} unit{} of queue run {} {} no result: {}",
            collected.missing.len(),
            if collected.missing.len() == 1 {
                ""
            } else {
                "s"
            },
            spec.run,
            if collected.missing.len() == 1 {
                "has"
            } else {
                "have"
            },
            collected.missing.join(", ")
        );
        failed = true;
    }
    let code = record.summary.exit_code();
    Ok(if code == exit::OK && failed {
        exit::FAILED
    } else {
        code
    })
}

/// DESIGN §10, a queue run: the whole run's plan, whatever shard the command line or the CI
/// names (that shard is only the fallback when the store cannot be reached; its total is the
/// number of machines the batches are cut for).
fn load_whole(
    given: &settings::Given,
) -> Result<(Plan, lua::Runtime, history::store::Loaded), Error> {
    evaluate_given(given, |decls, settings, facts| {
        plan::build::build_queue(decls, settings, facts)
    })
}

/// Evaluate the config, read what it needs of the history, resolve the settings, and hand the
/// declarations, the settings and the facts (history, the machine) to `f`, which plans.
fn evaluate_given<R>(
    given: &settings::Given,
    f: impl FnOnce(
        plan::decl::Declarations,
        Result<settings::Settings, Error>,
        &plan::build::Facts<'_>,
    ) -> Result<R, Error>,
) -> Result<(R, lua::Runtime, history::store::Loaded), Error> {
    let sys = sys::Sys::detect();
    let cpus = sys.cpus;
    let ctx = lua::EvalContext {
        sys,
        profile: given.profile.clone(),
        vars: given.vars.clone(),
        select: given.selection.tests.clone(),
    };
    let evaluated = lua::evaluate(&given.config, &ctx)?;
    // Only now is it known which names to read.
    let loaded = read_history(given.history.value.as_deref(), &evaluated.decls);
    let settings = settings::resolve(
        given,
        &evaluated.decls.config,
        &evaluated.decls.config_dir,
        cpus,
    );
    let facts = plan::build::Facts {
        cpus,
        history: &loaded.history,
        memory_available: &crate::sys::mem_available,
    };
    let made = f(evaluated.decls, settings, &facts)?;
    Ok((made, evaluated.runtime, loaded))
}

#[cfg(test)]
mod tests {
    //! The helpers of the entry point: finding the config, saying why nothing runs, run ids.

    use super::*;

    #[test]
    fn the_config_is_the_nearest_ptest_lua_below_the_repository_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("repo/a/b")).unwrap();
        std::fs::write(r.join("ptest.lua"), "").unwrap();
        // A git worktree's .git is a file: it marks the root as well.
        std::fs::write(r.join("repo/.git"), "gitdir: elsewhere").unwrap();
        assert_eq!(find_config(&r.join("repo/a/b")), None);
        std::fs::write(r.join("repo/ptest.lua"), "").unwrap();
        assert_eq!(
            find_config(&r.join("repo/a/b")),
            Some(r.join("repo/ptest.lua"))
        );
        std::fs::write(r.join("repo/a/ptest.lua"), "").unwrap();
        assert_eq!(
            find_config(&r.join("repo/a/b")),
            Some(r.join("repo/a/ptest.lua"))
        );
        // A folder named ptest.lua is not a config.
        std::fs::create_dir(r.join("repo/a/b/ptest.lua")).unwrap();
        assert_eq!(
            find_config(&r.join("repo/a/b")),
            Some(r.join("repo/a/ptest.lua"))
        );
        // At the root itself, its own config counts.
        assert_eq!(find_config(&r.join("repo")), Some(r.join("repo/ptest.lua")));
    }
}
