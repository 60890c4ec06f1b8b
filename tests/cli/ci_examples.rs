//! examples/ci/: the GitHub Actions workflows (static shards, one queue) and the GitLab pipeline
//! lint clean with the real linters, and the ptest commands they hold do what they say: each is
//! taken from the workflow's own text and run here on the example project, one folder a
//! machine, as the CI would (the queue's on a real redis-server).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, Project, run};

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(rel)
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(example(rel)).unwrap()
}

const GITHUB: &str = "github/tests.yml";
const GITLAB: &str = "gitlab/.gitlab-ci.yml";
const QUEUE: &str = "github/queue.yml";

/// A machine: a folder holding the example project (its ptest.lua and step.sh).
fn machine() -> Project {
    let p = Project::new(&text("ptest.lua"));
    p.file("step.sh", &text("step.sh"));
    p
}

fn lint(tool: &Path, args: &[&str], files: &[PathBuf]) -> Output {
    let mut c = Command::new(tool);
    c.args(args).args(files);
    run(&mut c)
}

#[test]
fn the_workflows_lint_clean_with_the_real_linters() {
    let (Some(actionlint), Some(schema)) =
        (crate::tools::actionlint(), crate::tools::check_jsonschema())
    else {
        return;
    };
    let github = vec![example(GITHUB), example(QUEUE)];
    let o = lint(&actionlint, &[], &github);
    assert_eq!(o.code, 0, "actionlint:\n{}{}", o.stdout, o.stderr);
    let o = lint(
        &schema,
        &["--builtin-schema", "vendor.github-workflows"],
        &github,
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let o = lint(
        &schema,
        &["--builtin-schema", "vendor.gitlab-ci"],
        &[example(GITLAB)],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // The linters do look: a mistyped expression, a job with no steps, a GitLab job with no
    // script each fail.
    let bad = tempfile::tempdir().unwrap();
    let typo = bad.path().join("typo.yml");
    std::fs::write(
        &typo,
        text(GITHUB).replace("needs.plan.outputs.matrix", "needs.plan.outputs.matrx"),
    )
    .unwrap();
    let o = lint(&actionlint, &[], std::slice::from_ref(&typo));
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("matrx"), "{}", o.stdout);
    let steps = bad.path().join("steps.yml");
    std::fs::write(&steps, text(GITHUB).replace("    steps:\n", "    stepz:\n")).unwrap();
    let o = lint(
        &schema,
        &["--builtin-schema", "vendor.github-workflows"],
        &[steps],
    );
    assert_ne!(o.code, 0, "{}", o.stdout);
    let gitlab = bad.path().join(".gitlab-ci.yml");
    std::fs::write(
        &gitlab,
        text(GITLAB).replace("  parallel: 4\n", "  parallel: many\n"),
    )
    .unwrap();
    let o = lint(
        &schema,
        &["--builtin-schema", "vendor.gitlab-ci"],
        &[gitlab],
    );
    assert_ne!(o.code, 0, "{}", o.stdout);
}

/// The `ptest` command that follows `marker` on a line of `workflow` (up to the line's end or
/// a closing `)`), with `from` replaced by `to`, as arguments.
fn ptest_args(workflow: &str, marker: &str, from: &str, to: &str) -> Vec<String> {
    let line = workflow
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker:?}"));
    let at = line.find(marker).unwrap() + marker.len();
    let rest = line[at..].split(')').next().unwrap().replace(from, to);
    rest.split_whitespace().map(str::to_owned).collect()
}

/// What the suites of a set of machines said, from their own logs: each name `step.sh` was
/// given, with the shards that ran it.
fn ran(logs: &[PathBuf]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in logs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if let Some((what, rest)) = line.split_once(" on shard ") {
                    let shard = rest.split(',').next().unwrap().to_owned();
                    out.entry(what.to_owned()).or_default().push(shard);
                }
            }
        }
    }
    out
}

/// Every name of the example, once, with the teardown on every machine.
fn assert_each_once(ran: &BTreeMap<String, Vec<String>>, machines: usize) {
    let mut names: Vec<&str> = ran.keys().map(String::as_str).collect();
    names.retain(|n| *n != "cleanup");
    let mut expected: Vec<String> = [
        "migrate", "api", "payments", "refunds", "payouts", "lint", "docs", "cli", "config",
        "render", "search",
    ]
    .map(String::from)
    .to_vec();
    expected.extend((1..=12).map(|i| format!("test_{i:02}")));
    expected.sort();
    names.sort_unstable();
    assert_eq!(names, expected);
    for (name, shards) in ran {
        if name == "cleanup" {
            assert_eq!(shards.len(), machines, "{ran:?}");
        } else {
            assert_eq!(shards.len(), 1, "{name}: {ran:?}");
        }
    }
    // The chain ran on one machine.
    assert_eq!(ran["migrate"], ran["api"]);
}

#[test]
fn the_github_workflow_runs_each_shard_of_the_matrix_it_plans() {
    let workflow = text(GITHUB);
    // The plan job's command, as written, with a target for this stand-in project, which
    // takes seconds where the workflow's target is for a real one.
    let plan: Vec<String> = ptest_args(&workflow, "$(ptest ", "", "")
        .into_iter()
        .map(|a| match a.as_str() {
            "10m" => "1s".to_owned(),
            "1m" => "0s".to_owned(),
            _ => a,
        })
        .collect();
    assert!(plan.contains(&"--target".to_owned()), "{plan:?}");
    let planner = machine();
    let o = planner.run(&plan.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.code, 0, "{plan:?}: {}", o.stderr);
    assert!(o.stderr.contains("shards  slowest shard"), "{}", o.stderr);
    let matrix: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let shards: Vec<String> = matrix["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert!(shards.len() >= 2, "{matrix}");
    // Each matrix job runs the test job's command in its own checkout.
    let machines: Vec<Project> = shards.iter().map(|_| machine()).collect();
    for (m, shard) in machines.iter().zip(&shards) {
        let args = ptest_args(&workflow, "run: ptest ", "\"${{ matrix.shard }}\"", shard);
        assert!(args.contains(shard), "{args:?}");
        let o = m.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.code, 0, "{shard}: {}\n{}", o.stdout, o.stderr);
        assert!(m.join("test-logs/junit.xml").is_file());
        assert!(m.join(".ptest/history.json").is_file());
    }
    let logs: Vec<PathBuf> = machines.iter().map(|m| m.join("test-logs")).collect();
    assert_each_once(&ran(&logs), machines.len());
}

/// The items of a job's list `key` (`  script:` then `    - ...` lines), comments left out.
fn list<'a>(job: &'a str, key: &str) -> Vec<&'a str> {
    let head = format!("\n  {key}:\n");
    let Some(at) = job.find(&head) else {
        return Vec::new();
    };
    job[at + head.len()..]
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map_while(|l| l.strip_prefix("    - "))
        .collect()
}

#[test]
fn the_gitlab_pipeline_runs_each_parallel_job_as_its_shard() {
    let pipeline = text(GITLAB);
    let n: usize = pipeline
        .lines()
        .find_map(|l| l.trim().strip_prefix("parallel: "))
        .unwrap()
        .parse()
        .unwrap();
    // The test job's commands after installing ptest, as the job's shell runs them.
    let job = pipeline.split("\ntest:\n").nth(1).unwrap();
    let job = job.split("\nreport:\n").next().unwrap();
    let commands: Vec<&str> = ["before_script", "script"]
        .iter()
        .flat_map(|key| list(job, key))
        .filter(|c| !c.starts_with("cargo install"))
        .collect();
    assert!(
        commands.iter().any(|c| c.starts_with("ptest ")),
        "{commands:?}"
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ptest"))
        .parent()
        .unwrap()
        .to_owned();
    let machines: Vec<Project> = (0..n).map(|_| machine()).collect();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (k, m) in machines.iter().enumerate() {
        // The job's shell, with this ptest first on PATH and the variables GitLab sets.
        let mut sh = Command::new("sh");
        crate::harness::clean_env(&mut sh)
            .current_dir(m.path())
            .env("PATH", &path)
            .env("CI_NODE_INDEX", (k + 1).to_string())
            .env("CI_NODE_TOTAL", n.to_string())
            .arg("-ec")
            .arg(commands.join("\n"));
        let o = run(&mut sh);
        assert_eq!(o.code, 0, "machine {}: {}\n{}", k + 1, o.stdout, o.stderr);
        assert!(
            o.stdout
                .contains(&format!("ptest: shard {}/{n} (CI_NODE_INDEX)", k + 1)),
            "{}",
            o.stdout
        );
        let own = m.join(&format!("shards/{}", k + 1));
        assert!(own.join("junit.xml").is_file());
        assert!(own.join("history.json").is_file());
    }
    let logs: Vec<PathBuf> = machines
        .iter()
        .enumerate()
        .map(|(k, m)| m.join(&format!("shards/{}/test-logs", k + 1)))
        .collect();
    assert_each_once(&ran(&logs), n);
}

#[test]
fn the_queue_workflow_runs_every_unit_once_and_its_supervisor_adds_the_run_to_history_once() {
    let Some(redis) = crate::redis_server::Redis::start(&[]) else {
        return;
    };
    let workflow = text(QUEUE);
    let url = redis.url();
    let queue_run = format!("ci{}", crate::redis_server::free_port());
    let env = |c: &mut Command, shard: &str| {
        c.env("PTEST_QUEUE", &url)
            .env("PTEST_QUEUE_RUN", &queue_run)
            .env("PTEST_WORKERS", "4")
            .env("PTEST_SHARD", shard)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
    };
    // Two machines of the matrix run the test job's command, each in its own checkout.
    let machines = [machine(), machine()];
    let children: Vec<_> = machines
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let args = ptest_args(&workflow, "- run: ptest ", "", "");
            assert!(args.contains(&"--junit".to_owned()), "{args:?}");
            let mut c = m.cmd();
            c.args(&args);
            env(&mut c, &format!("{}/2", i + 1));
            c.spawn().unwrap()
        })
        .collect();
    // The supervisor, started beside them, with the history the machines started from (none).
    let sup_args = ptest_args(&workflow, "- run: ptest merge ", "\"$PTEST_QUEUE\"", &url);
    assert!(
        sup_args.contains(&"--add-history".to_owned()),
        "{sup_args:?}"
    );
    let supervisor = machine();
    let supervise = || {
        let mut c = supervisor.cmd();
        c.arg("merge").args(&sup_args);
        env(&mut c, "1/2");
        run(&mut c)
    };
    let sup = supervise();
    for (m, child) in machines.iter().zip(children) {
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{stderr}");
        assert!(m.join("test-logs/junit.xml").is_file());
    }
    assert_eq!(sup.code, 0, "{}\n{}", sup.stdout, sup.stderr);
    assert!(supervisor.join("merged/junit.xml").is_file());
    let logs: Vec<PathBuf> = machines.iter().map(|m| m.join("test-logs")).collect();
    let ran = ran(&logs);
    for (name, machines) in &ran {
        if name != "cleanup" {
            assert_eq!(machines.len(), 1, "{name}: {ran:?}");
        }
    }
    assert_eq!(ran.len(), 24, "{ran:?}");
    // The history the cache saves: each suite once (the example's parts report no testcases,
    // so no item), and still once after a retried supervisor job.
    let history = || {
        let text = std::fs::read_to_string(supervisor.join(".ptest/history.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let first = history();
    let suites = first["suites"].as_object().unwrap();
    for (name, entry) in suites {
        assert_eq!(
            entry["runs"].as_array().unwrap().len(),
            1,
            "{name}: {first}"
        );
    }
    assert!(
        suites.contains_key("migrate") && suites.contains_key("unit[1]"),
        "{first}"
    );
    let again = supervise();
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(history(), first);
}
