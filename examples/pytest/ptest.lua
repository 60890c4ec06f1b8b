-- A Python project's pytest suite through the pytest preset: the test files pytest would
-- collect (testpaths in pytest.ini) are packed into a few pytest processes, balanced by each
-- file's past duration; ptest reads pytest's JUnit for per-test results.
--
--   ptest -j 2              run it
--   ptest list              the batches and their files
--   ptest --rerun-failed    only the files that failed last time
local pytest = require("ptest.presets.pytest")

pytest.batch {
  name = "unit",
  python = os.getenv("PYTHON") or "python3",
  args = { "-q" },
  -- Files with @pytest.mark.serial run one at a time (a batch of their own, in a max = 1 group).
  serial_marker = "serial",
  -- A database per worker: no two processes running at once share one.
  env = { DATABASE_PATH = "{tmpdir}/test-{worker}.sqlite" },
  retry = 1,
}
