//! A small builder: a temp dir with a `ptest.lua` and helper files, and a way to run `ptest`
//! in it and read what happened (status, output, the JSON report, probe records).

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code, reason = "helpers used by some test modules only")]
pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

pub(crate) struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[allow(dead_code, reason = "helpers used by some test modules only")]
impl Project {
    pub(crate) fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ptest.lua"), config).expect("write ptest.lua");
        Project { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn file(&self, rel: &str, text: &str) -> &Project {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(
            std::env::var_os("PTEST_TEST_BIN")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_ptest").into()),
        );
        c.current_dir(self.dir.path());
        for k in [
            "PTEST_WORKERS",
            "PTEST_DISABLE_PARALLEL",
            "CI",
            "GITHUB_ACTIONS",
            "NO_COLOR",
            "PTEST_HISTORY",
            "PTEST_SHARD",
            "PTEST_SHARD_TOTAL",
            // What a run gives its suites: these tests may themselves run under ptest (the
            // cargo preset's benchmark runs them so), and the ptest they start is not a suite.
            "PTEST_SOCKET",
            "PTEST_RUN_ID",
            "PTEST_WORKER",
            "PTEST_SUITE",
            "PTEST_LOG",
            "PTEST_ATTEMPT",
            "PTEST_ATTEMPTS",
            "PTEST_PHASE",
            "PTEST_GROUP",
            "PTEST_TMPDIR",
        ] {
            c.env_remove(k);
        }
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args))
    }

    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run(&mut c)
    }

    #[allow(dead_code)]
    pub(crate) fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

pub(crate) fn run(c: &mut Command) -> Output {
    let out = c.output().expect("run ptest");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `ptest list` on a config and return its stderr, asserting exit code 2.
pub(crate) fn config_error(config: &str) -> String {
    let p = Project::new(config);
    let out = p.run(&["list"]);
    assert_eq!(
        out.code, 2,
        "expected a config error, got stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout on error: {}",
        out.stdout
    );
    out.stderr
}

/// The parsed `list --format json` of a config.
pub(crate) fn list_json(p: &Project, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["list", "--format", "json"];
    a.extend_from_slice(args);
    let out = p.run(&a);
    assert_eq!(out.code, 0, "list failed: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("list json parses")
}
