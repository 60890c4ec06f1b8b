-- A Rust crate's tests through the cargo preset. While ptest reads this file the preset builds
-- the test binaries (cargo test --no-run) and lists their tests; each binary is a batch of its
-- tests (roman(lib) and round_trip), packed into a few processes by the durations of earlier
-- runs, with a result per test; the doc tests are one suite.
--
--   ptest -j 2              run it
--   ptest list              the batches and their tests
--   ptest --rerun-failed    only the tests that failed last time
require("ptest.presets.cargo").batch {
  name = "rust",
  -- args = { "--workspace", "--features", "serde" },  -- for cargo test --no-run
  -- skip = { "slow::" },                             -- tests whose name contains one of these
  retry = 1,                                          -- a retry runs only the failed tests
}
