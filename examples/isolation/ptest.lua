-- Isolation: every worker has its own database, named from {worker}, so suites that run at the
-- same time never share one. A `serial` migration creates them first and runs alone; the worker
-- count is a formula over ptest.sys.
--
--   cargo run --release -- examples/isolation/ptest.lua
--   cargo run --release -- examples/isolation/ptest.lua -j 2
--
-- db.sh stands in for a database server with plain folders under the log folder, and it fails a
-- suite that finds its database in use: that never happens, because PTEST_WORKER is never shared
-- by two running suites.
local ptest = require("ptest")

ptest.config {
  -- One worker per CPU, between 2 and 4, and never more than half a GiB of free memory each.
  workers = function(sys)
    local by_memory = math.max(1, sys.mem_available_mb // 512)
    return math.max(2, math.min(sys.cpus, 4, by_memory))
  end,
  timeout = "1m",
}

-- Serial: nothing else runs while the schema changes, not even the suites that need no database.
local migrate = ptest.suite {
  name = "migrate", category = "setup", serial = true, cmd = { "sh", "db.sh", "migrate" },
}

for _, area in ipairs({ "users", "orders", "carts", "search", "reports", "emails" }) do
  ptest.suite {
    name = "test-" .. area, category = "integration", depends_on = { migrate },
    env = { DB_NAME = "app_test_{worker}" },
    cmd = { "sh", "db.sh", "test", area },
  }
end

-- These need no database, but `serial` keeps them from running beside the migration too.
ptest.suite { name = "unit", category = "unit", cmd = { "sh", "db.sh", "unit" } }
ptest.suite { name = "docs", category = "unit", cmd = { "sh", "db.sh", "unit" } }
