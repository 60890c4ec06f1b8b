//! The command line, as clap structs; their doc comments are `--help`. No behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::Jobs;

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
    #[arg(required = true, value_name = "REPORT.json")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Options every subcommand shares: which config, which suites, and what overrides it.
#[derive(Debug, Clone, Args, Default)]
pub struct ConfigArgs {
    /// The config file, or a folder holding ptest.lua [default: ptest.lua here or in a parent
    /// folder, up to the repository root]
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Worker count: a number, or "auto" for the logical CPUs (1 = sequential)
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
    /// Colour: auto (only on a terminal, never with NO_COLOR), always or never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
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
mod tests;
