-- ptest's own checks, run by ptest: everything CI checks, as suites with their dependencies.
-- It is also the example of a real config that the README points to.
--
--   cargo build && target/debug/ptest      every check, in parallel (what .ci/run runs)
--   target/debug/ptest -s rust             only the tests, on this platform's path
--   target/debug/ptest list                the suites, and each batch's tests
--   target/debug/ptest --rerun-failed      only the tests that failed last time
--
-- While ptest reads this file, the cargo preset builds the test binaries (`cargo test --no-run`)
-- and lists their tests, so a build error is a config error and nothing runs. The tests need
-- the tools .ci/run installs (a Python venv with pytest, go, node with jest and vitest,
-- chromium, xmllint, tmux): without one, the tests that need it say "skipped" in their output
-- and pass, or fail where CI must have the tool (CI=true).
local ptest = require("ptest")
local cargo = require("ptest.presets.cargo")

-- Workers: one per CPU (the default). A part runs many tests: the default timeout is for one.
ptest.config { timeout = "20m" }

-- cargo locks target/ while it builds: the suites that build take turns, beside the tests,
-- which run the binaries already built.
local build = ptest.group { name = "cargo-build", max = 1 }

ptest.suite { name = "fmt", cmd = "cargo fmt --check", category = "lint" }
ptest.suite {
  name = "clippy", cmd = "cargo clippy --all-targets -- -D warnings",
  category = "lint", group = build,
}

-- The tests, on this platform's path (on Linux: the clone, the child subreaper, pidfds). A part
-- runs each of its test binaries once with --exact on its tests; packing follows each test's
-- duration in earlier runs (.ptest/history.json).
cargo.batch { name = "rust", doc = false }
ptest.suite {
  name = "rust/doc", cmd = { "cargo", "test", "--doc" }, category = "cargo", group = build,
}

-- The portable path (the one macOS takes) on Linux too: the integration tests and the
-- executor's unit tests again with PTEST_PLATFORM=posix.
if ptest.sys.os == "linux" then
  cargo.batch {
    name = "posix", args = { "--test", "cli" }, doc = false,
    env = { PTEST_PLATFORM = "posix" },
  }
  ptest.suite {
    name = "posix/exec", cmd = { "cargo", "test", "--lib", "exec::" },
    env = { PTEST_PLATFORM = "posix" }, category = "cargo", group = build,
  }
end

-- macOS, Intel and Apple silicon: checked and linted, not linked (there is no macOS SDK on a
-- Linux machine). The C parts' build scripts get a stand-in compiler that only leaves empty
-- objects behind; .ci/stand-in-cc says why that is enough for `cargo clippy`.
local targets = ptest.suite {
  name = "macos/targets", category = "macos",
  cmd = "rustup target add x86_64-apple-darwin aarch64-apple-darwin",
}
for _, target in ipairs { "x86_64-apple-darwin", "aarch64-apple-darwin" } do
  local var = target:gsub("-", "_")
  ptest.suite {
    name = "macos/" .. target, category = "macos", group = build, depends_on = targets,
    cmd = { "cargo", "clippy", "--target", target, "--all-targets", "--", "-D", "warnings" },
    env = { ["CC_" .. var] = ptest.config_dir .. "/.ci/stand-in-cc", ["AR_" .. var] = "ar" },
  }
end
