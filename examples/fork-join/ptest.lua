-- Fork and join with depends_on: one fetch fans out to two builds, their tests and a serial
-- database group run in parallel, and a package step joins them all before the end-to-end test.
--
--        fetch ─┬─ build-lib ─┬─ unit-lib ─────────────┐
--               │             └─ db-migrations, db-queries (group "database", one at a time)
--               └─ build-cli ─── unit-cli ──────────────┴─ package ── e2e
--
--   cargo run --release -- examples/fork-join/ptest.lua
--
-- `--set fail=NAME` makes that suite fail, to show what happens next: its dependents are skipped
-- with the reason `dependency "NAME" failed` while unrelated suites still run; add `-x` and the
-- first failure cancels what is running and skips everything else ("fail-fast").
--
--   cargo run --release -- examples/fork-join/ptest.lua --set fail=unit-lib
--   cargo run --release -- examples/fork-join/ptest.lua --set fail=build-cli -x
local ptest = require("ptest")

ptest.config { workers = 3, timeout = "1m" }

local fail = ptest.vars.fail
local declared = {}

local function job(spec)
  declared[spec.name] = true
  spec.cmd = { "sh", "job.sh", spec.name, tostring(spec.seconds), spec.name == fail and "fail" or "pass" }
  spec.seconds = nil
  return ptest.suite(spec)
end

local fetch = job { name = "fetch", category = "build", seconds = 0.3 }
local build_lib = job { name = "build-lib", category = "build", seconds = 1.0, depends_on = { fetch } }
local build_cli = job { name = "build-cli", category = "build", seconds = 0.3, depends_on = { fetch } }

local unit_lib = job { name = "unit-lib", category = "unit", seconds = 0.3, depends_on = { build_lib } }
local unit_cli = job { name = "unit-cli", category = "unit", seconds = 0.3, depends_on = { build_cli } }

-- Both database suites use the same schema, so they never run at the same time.
local database = ptest.group { name = "database", max = 1 }
local db = {}
for _, what in ipairs({ "migrations", "queries" }) do
  db[#db + 1] = job {
    name = "db-" .. what, category = "integration", group = database, seconds = 0.3,
    depends_on = { build_lib },
  }
end

local package = job {
  name = "package", category = "packaging", seconds = 0.3,
  depends_on = { unit_lib, unit_cli, db[1], db[2] },
}
job { name = "e2e", category = "integration", seconds = 0.4, depends_on = { package } }

if fail ~= nil and not declared[fail] then
  error(string.format("--set fail=%s: there is no suite of that name", fail))
end
