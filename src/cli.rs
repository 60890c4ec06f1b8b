//! The command line, as clap structs; their doc comments are `--help`. No behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) use crate::settings::{ColorChoice, Jobs, Shard};
use crate::settings::{Overrides, Selection, TestSelection};

/// `ptest --version` and `ptest version`: the crate's version and, when built from a git
/// checkout, the commit and its date (build.rs).
pub(crate) const LONG_VERSION: &str = env!("PTEST_LONG_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "ptest",
    version = LONG_VERSION,
    about = "Run a project's test suites in parallel, scheduled by ptest.lua",
    long_about = "Run a project's test suites in parallel, scheduled by ptest.lua.\n\n\
        Without a subcommand ptest runs the suites of CONFIG (\"ptest run\" is the same). \
        Without CONFIG it looks for ptest.lua in the current folder, then in each parent up to \
        the repository root (the first folder holding .git).",
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "COMMAND",
    subcommand_help_heading = "Commands"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the suites (the same as giving no subcommand)
    Run(RunArgs),
    /// List the suites by phase, group and category, with their dependencies
    List(ListArgs),
    /// Show the resolved schedule: workers, phases, groups, limiters, start order; runs nothing
    Plan(PlanArgs),
    /// Print the dependency graph, phases as clusters and groups inside them
    Graph(GraphArgs),
    /// Inside a suite: wait until the run's limiter allows, then exit 0
    Acquire(AcquireArgs),
    /// Combine the JSON reports of shards into one (with --history: their histories)
    Merge(MergeArgs),
    /// Write a commented ptest.lua for the test tools found in a folder, and editor files
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(CompletionsArgs),
    /// Write man pages (ptest.1 and one per subcommand), or print ptest.1
    Man(ManArgs),
    /// Print the version and the commit ptest was built from
    Version,
    /// Per-suite figures from history: runs, pass and flaky rate, median/p90 duration, trend
    Stats(StatsArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct InitArgs {
    /// The project's folder
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Only (re)write the editor files: .ptest/lua/ (LuaLS definitions) and .luarc.json
    #[arg(long)]
    pub editor: bool,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Install, for example:\n  \
    bash: ptest completions bash > ~/.local/share/bash-completion/completions/ptest\n  \
    zsh:  ptest completions zsh > ~/.zfunc/_ptest   (with fpath+=~/.zfunc before compinit)\n  \
    fish: ptest completions fish > ~/.config/fish/completions/ptest.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ManArgs {
    /// Write ptest.1 and ptest-COMMAND.1 into this folder instead of printing ptest.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum StatsFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct StatsArgs {
    /// The config file whose history to read (.ptest/history.json beside it) [default: ./ptest.lua]
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Read this history file instead
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = StatsFormat::Text)]
    pub format: StatsFormat,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct MergeArgs {
    /// The shards' reports (test-report.json), or with --history their history files
    #[arg(required_unless_present = "queue", value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Where to write the merged report (or history)
    #[arg(short, long, value_name = "OUT.json")]
    pub output: PathBuf,
    /// The inputs are histories (.ptest/history.json): join them into one
    #[arg(long, conflicts_with = "junit")]
    pub history: bool,
    /// Also write the joined report as JUnit XML here (one testcase per suite)
    #[arg(long, value_name = "OUT.xml")]
    pub junit: Option<PathBuf>,
    /// Join a queue run's results from its store instead of report files (redis://HOST:PORT,
    /// rediss:// for TLS) [env: PTEST_QUEUE]
    #[arg(long, value_name = "URL", conflicts_with_all = ["reports", "history"])]
    pub queue: Option<String>,
    /// The queue run's key [env: PTEST_QUEUE_RUN; default: the CI's run identity]
    #[arg(long, value_name = "ID", requires = "queue")]
    pub queue_run: Option<String>,
    /// With --queue: wait until every unit has its result, or no machine is left
    #[arg(long, requires = "queue")]
    pub wait: bool,
    /// With --wait: stop waiting after this long, like "30m"
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "wait")]
    pub timeout: Option<std::time::Duration>,
    /// With --queue: a machine not seen for this long is gone [default: 30s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "queue")]
    pub queue_lease: Option<std::time::Duration>,
    /// Also write the whole run's HTML page here (one timeline, a lane per shard, or per
    /// machine with --queue)
    #[arg(long, value_name = "OUT.html", conflicts_with = "history")]
    pub html: Option<PathBuf>,
    /// With --queue: add the run to this history (.ptest/history.json, made when missing), each
    /// unit once with the result that counted, as the next run reads it
    #[arg(long, value_name = "HISTORY.json", requires = "queue")]
    pub add_history: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct AcquireArgs {
    /// The limiter's name, as declared with ptest.limiter
    pub limiter: String,
    /// How many tokens to take at once (at most the limiter's burst)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub permits: u32,
    /// Give up after this long (exit 4), like "30s"
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// Options every subcommand shares: which config, which suites, and what overrides it.
#[derive(Debug, Clone, Args, Default)]
pub struct ConfigArgs {
    /// The config file, or a folder holding ptest.lua [default: ptest.lua here or in a parent
    /// folder, up to the repository root]
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Worker count: a number, or "auto" for the CPUs ptest may use, quota included (1 = sequential)
    #[arg(short = 'j', long = "jobs", value_name = "N|auto")]
    pub jobs: Option<Jobs>,
    /// Run one suite at a time (the same as -j 1)
    #[arg(long, conflicts_with = "jobs")]
    pub sequential: bool,
    /// Only these suites, and the suites they depend on
    #[arg(
        short = 's',
        long = "suites",
        value_delimiter = ',',
        value_name = "A,B"
    )]
    pub suites: Vec<String>,
    /// With --suites (or any filter): treat dependencies outside the selection as satisfied
    #[arg(long)]
    pub no_deps: bool,
    /// Only suites of these categories
    #[arg(
        short = 'c',
        long = "categories",
        value_delimiter = ',',
        value_name = "A,B"
    )]
    pub categories: Vec<String>,
    /// Only suites with one of these tags
    #[arg(short = 't', long = "tags", value_delimiter = ',', value_name = "A,B")]
    pub tags: Vec<String>,
    /// Only suites of these phases
    #[arg(long = "phase", value_delimiter = ',', value_name = "A,B")]
    pub phases: Vec<String>,
    /// Skip these suites (their dependents are skipped too)
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub skip: Vec<String>,
    /// Stop at the first failure: cancel running suites, skip the rest
    #[arg(short = 'x', long, overrides_with = "no_fail_fast")]
    pub fail_fast: bool,
    /// Run everything even after a failure (overrides fail_fast in ptest.lua)
    #[arg(long, overrides_with = "fail_fast")]
    pub no_fail_fast: bool,
    /// Timeout for every suite (overrides ptest.lua), like "30s" or "5m"
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Extra attempts for every suite after a failure (0 turns retries off)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Where logs and the JSON report go (relative to the current directory)
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Profile name, readable in ptest.lua as ptest.profile
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// A variable for ptest.lua, readable as ptest.vars.KEY (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Read and write history in FILE instead of .ptest/history.json beside the config (also
    /// PTEST_HISTORY)
    #[arg(long, value_name = "FILE", conflicts_with = "no_history")]
    pub history: Option<PathBuf>,
    /// Neither read nor write history
    #[arg(long)]
    pub no_history: bool,
    /// Only the suites that failed, timed out or were cancelled in their latest run (and what
    /// they depend on)
    #[arg(long)]
    pub rerun_failed: bool,
    /// Only the tests this expression selects, in each tool's own terms: pytest -k, go -run,
    /// jest and vitest -t, node --test-name-pattern, cargo: names containing it. Suites that
    /// cannot select tests (plain commands) are left out, unless a selected one depends on them
    #[arg(short = 'k', long = "filter", value_name = "EXPR", value_parser = non_empty)]
    pub filter: Option<String>,
    /// Only this test, by its id as ptest reports it (tests/test_x.py::test_y,
    /// tiny(lib)/tests::adds, example.com/m/calc::TestAdd); a file or package runs all of its
    /// tests (repeatable)
    #[arg(long = "test", value_name = "NAME", value_parser = non_empty)]
    pub test_names: Vec<String>,
    /// Arguments for the tool of every suite that takes them (the presets' batches), after
    /// the suite's own
    #[arg(last = true, value_name = "ARGS", allow_hyphen_values = true)]
    pub tool_args: Vec<String>,
    /// Colour: auto (only on a terminal, never with NO_COLOR), always or never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Only the K-th of N shards of the run, split by history (1 <= K <= N; also PTEST_SHARD
    /// and the CI systems' parallel-job variables); ptest plan also takes all/N
    #[arg(long, value_name = "K/N")]
    pub shard: Option<ShardArg>,
}

impl ConfigArgs {
    /// What these flags ask of the run-wide settings, before precedence (`settings::resolve`
    /// applies it): `None` where no flag was given.
    pub(crate) fn overrides(&self) -> Overrides {
        Overrides {
            jobs: self.jobs,
            sequential: self.sequential,
            fail_fast: if self.fail_fast {
                Some(true)
            } else if self.no_fail_fast {
                Some(false)
            } else {
                None
            },
            timeout: self.timeout,
            retries: self.retries,
            // Made absolute here: suites run in their own folders, and PTEST_LOG must still
            // point at their log from there.
            log_dir: self
                .log_dir
                .as_deref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())),
            color: self.color,
            history: self.history.clone(),
            no_history: self.no_history,
            shard: match self.shard {
                Some(ShardArg::One(s)) => Some(s),
                Some(ShardArg::All(_)) | None => None,
            },
        }
    }

    /// Which suites these flags keep.
    pub(crate) fn selection(&self) -> Selection {
        Selection {
            suites: self.suites.clone(),
            categories: self.categories.clone(),
            tags: self.tags.clone(),
            phases: self.phases.clone(),
            skip: self.skip.clone(),
            no_deps: self.no_deps,
            rerun_failed: self.rerun_failed,
            tests: TestSelection {
                filter: self.filter.clone(),
                names: self.test_names.clone(),
                args: self.tool_args.clone(),
            },
        }
    }
}

/// `-k` and `--test`: an empty value is a mistake (a variable that was not set), not "every
/// test".
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("empty: leave the flag out to run every test".into())
    } else {
        Ok(s.to_owned())
    }
}

#[derive(Debug, Clone, Args, Default)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Also write the JSON report here (it is always written to LOG_DIR/test-report.json)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML report here
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report (summary, timeline, failures) here
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a JSON line per event (run, suite and attempt starts and ends) here as it happens;
    /// "-" for stdout (the terminal view then goes to stderr)
    #[arg(long, value_name = "FILE|-")]
    pub events: Option<PathBuf>,
    /// Stream each suite's output live, every line prefixed by the suite's name
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only the summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Keep each attempt's PTEST_TMPDIR even after a pass
    #[arg(long)]
    pub keep_tmp: bool,
    /// Exit 0 when the selection leaves no suite to run (by default that is exit 4)
    #[arg(long)]
    pub allow_empty: bool,
    /// Share one dynamic queue with the run's other machines, held in this Redis or Valkey:
    /// redis://[:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS [env: PTEST_QUEUE]
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,
    /// The queue run's key, the same on every machine of the run [env: PTEST_QUEUE_RUN;
    /// default: the CI's run identity, e.g. GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT]
    #[arg(long, value_name = "ID")]
    pub queue_run: Option<String>,
    /// A unit's lease not renewed for this long is lost and the unit goes back to the queue
    /// [default: 30s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub queue_lease: Option<std::time::Duration>,
    /// The queue run's keys expire this long after their last write [default: 24h]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub queue_ttl: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ListFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// List the tests of each batch, as its tool collects them (what -k and --test select
    /// from), instead of the suites
    #[arg(long)]
    pub tests: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum PlanFormat {
    #[default]
    Text,
    /// With --shard all/N or --shards
    Json,
    /// With --shard all/N or --shards: {"shard":["1/4",...]}, for a CI's matrix
    GithubMatrix,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Static shards:\n  \
    ptest plan --shard 2/4          the plan of shard 2 of 4, and how the 4 compare\n  \
    ptest plan --shard all/4        every shard's suites and items, expected times, max/mean\n  \
    ptest plan --shards auto --target 10m --node-overhead 30s --format github-matrix\n    \
    the fewest shards whose slowest one (plus a machine's start) meets 10m, as a matrix")]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// How many shards: "auto" picks the fewest whose predicted wall time meets --target (the
    /// least wall time when none does), or a number; prints every shard (or the matrix)
    #[arg(long, value_name = "auto|N", conflicts_with = "shard")]
    pub shards: Option<ShardsArg>,
    /// With --shards auto: the wall time to meet, like "10m"
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub target: Option<std::time::Duration>,
    /// With --shards auto: what a machine costs before its shard starts (checkout, setup),
    /// like "30s"
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub node_overhead: Option<std::time::Duration>,
    /// Output format: text; json or github-matrix with --shard all/N or --shards
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct GraphArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// `--shard` as given: one shard, or (`ptest plan --shard all/N`) every shard of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    One(Shard),
    All(u32),
}

impl std::str::FromStr for ShardArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().split_once('/') {
            Some((all, n)) if all.trim().eq_ignore_ascii_case("all") => {
                match n.trim().parse::<u32>() {
                    Ok(n) if n >= 1 => Ok(ShardArg::All(n)),
                    _ => Err(format!("expected all/N with N >= 1, got \"{s}\"")),
                }
            }
            _ => s.parse().map(ShardArg::One),
        }
    }
}

/// `ptest plan --shards`: how many shards, or `auto` to choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShardsArg {
    Auto,
    Count(u32),
}

impl std::str::FromStr for ShardsArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(ShardsArg::Auto);
        }
        match s.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(ShardsArg::Count(n)),
            _ => Err(format!(
                "expected \"auto\" or a number of shards, got \"{s}\""
            )),
        }
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(s)
        .map_err(|e| format!("expected a duration like \"30s\" or \"5m\" ({e})"))
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got \"{s}\"")),
    }
}

#[cfg(test)]
mod tests {
    //! The command line as clap reads it: which flags combine, which conflict, what values parse,
    //! and what `settings` takes from them.

    use std::path::PathBuf;
    use std::time::Duration;

    use clap::{CommandFactory, Parser};

    use super::*;

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
            "-s", "a,b", "-s", "c", "--skip", "x,y", "--phase", "core", "-c", "unit,e2e", "-t",
            "fast",
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
        assert_eq!(c.overrides().fail_fast, Some(false));
        let c = config_args(&["--no-fail-fast", "--fail-fast"]);
        assert!(c.fail_fast && !c.no_fail_fast);
        assert_eq!(c.overrides().fail_fast, Some(true));
        assert_eq!(config_args(&[]).overrides().fail_fast, None);
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
        let o = config_args(&["--log-dir", "out/logs", "--retries", "0"]).overrides();
        let dir = o.log_dir.unwrap();
        assert!(dir.is_absolute(), "{}", dir.display());
        assert!(dir.ends_with("out/logs"));
        assert_eq!(o.retries, Some(0));
    }

    #[test]
    fn shard_arguments_name_one_shard_or_all() {
        assert_eq!(
            "2/4".parse::<ShardArg>(),
            Ok(ShardArg::One(Shard { index: 2, total: 4 }))
        );
        assert_eq!(" ALL / 8 ".parse::<ShardArg>(), Ok(ShardArg::All(8)));
        assert_eq!(
            "all/0".parse::<ShardArg>(),
            Err("expected all/N with N >= 1, got \"all/0\"".to_owned())
        );
        assert_eq!(
            "5/4".parse::<ShardArg>(),
            Err("expected K/N with 1 <= K <= N, got \"5/4\"".to_owned())
        );
    }
}
