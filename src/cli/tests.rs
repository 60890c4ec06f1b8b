//! The command line as clap reads it: which flags combine, which conflict, what values parse,
//! and what `settings` takes from them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::*;
use crate::settings::Overrides;

fn parse(args: &[&str]) -> Result<Cli, String> {
    Cli::try_parse_from(std::iter::once("ptest").chain(args.iter().copied()))
        .map_err(|e| e.to_string())
}

fn run_args(args: &[&str]) -> RunArgs {
    match parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}")) {
        Cli { command: None, run }
        | Cli {
            command: Some(Command::Run(run)),
            ..
        } => run,
        other => panic!("not a run: {other:?}"),
    }
}

fn config_args(args: &[&str]) -> ConfigArgs {
    run_args(args).config
}

#[test]
fn the_clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn run_is_the_default_subcommand_and_takes_the_same_flags() {
    let a = run_args(&["-j", "3", "ci/ptest.lua"]);
    let b = run_args(&["run", "-j", "3", "ci/ptest.lua"]);
    assert_eq!(a.config.config, Some(PathBuf::from("ci/ptest.lua")));
    assert_eq!(b.config.config, a.config.config);
    assert_eq!(a.config.jobs, Some(Jobs::Count(3)));
    assert_eq!(b.config.jobs, a.config.jobs);
    assert_eq!(run_args(&[]).config.config, None);
}

#[test]
fn jobs_take_a_count_or_auto_and_nothing_else() {
    assert_eq!(config_args(&["-j", "auto"]).jobs, Some(Jobs::Auto));
    assert_eq!(config_args(&["--jobs", "AUTO"]).jobs, Some(Jobs::Auto));
    assert_eq!(config_args(&["--jobs=12"]).jobs, Some(Jobs::Count(12)));
    for bad in ["0", "many", "1.5", "65537"] {
        let e = parse(&["-j", bad]).unwrap_err();
        assert!(e.contains("invalid value"), "{bad}: {e}");
    }
    assert!(
        parse(&["-j", "65537"])
            .unwrap_err()
            .contains("at most 65536")
    );
    // A negative count reads as a flag, and is refused as one.
    assert!(parse(&["-j", "-1"]).is_err());
}

#[test]
fn sequential_conflicts_with_jobs() {
    assert!(config_args(&["--sequential"]).sequential);
    let e = parse(&["--sequential", "-j", "2"]).unwrap_err();
    assert!(e.contains("cannot be used with"), "{e}");
}

#[test]
fn lists_split_on_commas_and_add_up_when_repeated() {
    let c = config_args(&[
        "-s", "a,b", "-s", "c", "--skip", "x,y", "--phase", "core", "-c", "unit,e2e", "-t", "fast",
    ]);
    assert_eq!(c.suites, ["a", "b", "c"]);
    assert_eq!(c.skip, ["x", "y"]);
    assert_eq!(c.phases, ["core"]);
    assert_eq!(c.categories, ["unit", "e2e"]);
    assert_eq!(c.tags, ["fast"]);
}

#[test]
fn the_last_of_fail_fast_and_no_fail_fast_wins() {
    let c = config_args(&["-x", "--no-fail-fast"]);
    assert!(!c.fail_fast && c.no_fail_fast);
    assert_eq!(Overrides::from_args(&c).fail_fast, Some(false));
    let c = config_args(&["--no-fail-fast", "--fail-fast"]);
    assert!(c.fail_fast && !c.no_fail_fast);
    assert_eq!(Overrides::from_args(&c).fail_fast, Some(true));
    assert_eq!(Overrides::from_args(&config_args(&[])).fail_fast, None);
}

#[test]
fn durations_on_the_command_line() {
    assert_eq!(
        config_args(&["--timeout", "1m30s"]).timeout,
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        config_args(&["--timeout", "2.5"]).timeout,
        Some(Duration::from_millis(2500))
    );
    let e = parse(&["--timeout", "soon"]).unwrap_err();
    assert!(
        e.contains("expected a duration like \"30s\" or \"5m\""),
        "{e}"
    );
    let e = parse(&["--timeout", "400d"]).unwrap_err();
    assert!(e.contains("at most 365 days"), "{e}");
}

#[test]
fn set_takes_key_value_pairs_and_keeps_equals_signs_in_values() {
    let c = config_args(&["--set", "A=1", "--set", " B =x=y", "--set", "EMPTY="]);
    assert_eq!(
        c.vars,
        [
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "x=y".to_owned()),
            ("EMPTY".to_owned(), String::new())
        ]
    );
    for bad in ["novalue", "=v", " =v"] {
        let e = parse(&["--set", bad]).unwrap_err();
        assert!(e.contains("expected KEY=VALUE"), "{bad}: {e}");
    }
}

#[test]
fn history_and_no_history_conflict() {
    let e = parse(&["--history", "h.json", "--no-history"]).unwrap_err();
    assert!(e.contains("cannot be used with"), "{e}");
    assert_eq!(
        config_args(&["--history", "h.json"]).history,
        Some(PathBuf::from("h.json"))
    );
}

#[test]
fn verbose_and_quiet_conflict() {
    assert!(
        parse(&["-v", "-q"])
            .unwrap_err()
            .contains("cannot be used with")
    );
    let r = run_args(&["-q", "--keep-tmp", "--allow-empty"]);
    assert!(r.quiet && r.keep_tmp && r.allow_empty && !r.verbose);
}

#[test]
fn colour_choices() {
    assert_eq!(config_args(&[]).color, ColorChoice::Auto);
    assert_eq!(config_args(&["--color", "never"]).color, ColorChoice::Never);
    assert_eq!(config_args(&["--color=always"]).color, ColorChoice::Always);
    assert!(parse(&["--color", "sometimes"]).is_err());
}

#[test]
fn report_paths_belong_to_runs_only() {
    let r = run_args(&[
        "--report", "r.json", "--junit", "j.xml", "--html", "h.html", "--events", "-",
    ]);
    assert_eq!(r.report, Some(PathBuf::from("r.json")));
    assert_eq!(r.junit, Some(PathBuf::from("j.xml")));
    assert_eq!(r.html, Some(PathBuf::from("h.html")));
    assert_eq!(r.events, Some(PathBuf::from("-")));
    assert!(parse(&["list", "--junit", "j.xml"]).is_err());
    assert!(parse(&["plan", "--allow-empty"]).is_err());
}

#[test]
fn list_plan_and_graph_take_the_config_flags_and_their_formats() {
    let Ok(Cli {
        command: Some(Command::List(l)),
        ..
    }) = parse(&["list", "--format", "json", "-s", "a", "dir"])
    else {
        panic!("list");
    };
    assert_eq!(l.format, ListFormat::Json);
    assert_eq!(l.config.suites, ["a"]);
    assert_eq!(l.config.config, Some(PathBuf::from("dir")));
    let Ok(Cli {
        command: Some(Command::Graph(g)),
        ..
    }) = parse(&["graph"])
    else {
        panic!("graph");
    };
    assert_eq!(g.format, GraphFormat::Dot);
    let Ok(Cli {
        command: Some(Command::Graph(g)),
        ..
    }) = parse(&["graph", "--format", "mermaid"])
    else {
        panic!("graph");
    };
    assert_eq!(g.format, GraphFormat::Mermaid);
    let Ok(Cli {
        command: Some(Command::Plan(p)),
        ..
    }) = parse(&["plan", "-j", "8", "--profile", "ci"])
    else {
        panic!("plan");
    };
    assert_eq!(p.config.jobs, Some(Jobs::Count(8)));
    assert_eq!(p.config.profile.as_deref(), Some("ci"));
}

#[test]
fn acquire_needs_a_limiter_and_at_least_one_permit() {
    let Ok(Cli {
        command: Some(Command::Acquire(a)),
        ..
    }) = parse(&["acquire", "api", "--permits", "3", "--timeout", "10s"])
    else {
        panic!("acquire");
    };
    assert_eq!(a.limiter, "api");
    assert_eq!(a.permits, 3);
    assert_eq!(a.timeout, Some(Duration::from_secs(10)));
    assert!(parse(&["acquire"]).is_err());
    assert!(parse(&["acquire", "api", "--permits", "0"]).is_err());
    let Ok(Cli {
        command: Some(Command::Acquire(a)),
        ..
    }) = parse(&["acquire", "api"])
    else {
        panic!("acquire");
    };
    assert_eq!((a.permits, a.timeout), (1, None));
}

#[test]
fn merge_needs_reports_and_an_output() {
    let Ok(Cli {
        command: Some(Command::Merge(m)),
        ..
    }) = parse(&[
        "merge", "a.json", "b.json", "-o", "out.json", "--junit", "j.xml",
    ])
    else {
        panic!("merge");
    };
    assert_eq!(
        m.reports,
        [PathBuf::from("a.json"), PathBuf::from("b.json")]
    );
    assert_eq!(m.output, PathBuf::from("out.json"));
    assert_eq!(m.junit, Some(PathBuf::from("j.xml")));
    assert!(!m.history);
    assert!(parse(&["merge", "a.json"]).is_err(), "no -o");
}

#[test]
fn the_log_dir_from_the_command_line_is_made_absolute() {
    let o = Overrides::from_args(&config_args(&["--log-dir", "out/logs", "--retries", "0"]));
    let dir = o.log_dir.unwrap();
    assert!(dir.is_absolute(), "{}", dir.display());
    assert!(dir.ends_with("out/logs"));
    assert_eq!(o.retries, Some(0));
}
