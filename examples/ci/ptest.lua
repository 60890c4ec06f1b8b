-- A stand-in project for the CI examples beside it (github/tests.yml, gitlab/.gitlab-ci.yml),
-- which run a project's own ptest.lua as static shards, one a machine, and github/queue.yml,
-- where the machines share one queue. It shows what a split
-- keeps together and what it spreads:
--
--   ptest plan --shard all/4 examples/ci/ptest.lua      what each of four machines would run
--   ptest examples/ci/ptest.lua --shard 2/4             run the second of them
--
-- Only sh and coreutils are needed: every suite runs step.sh, which says where it runs.
local ptest = require("ptest")

ptest.config { workers = 2, timeout = "1m" }

local function step(secs, ...)
  return { "sh", "step.sh", tostring(secs), ... }
end

ptest.phase("test", function()
  -- A chain: the API tests need the migrated schema, so one machine runs both, in order.
  ptest.suite { name = "migrate", cmd = step(0.2, "migrate"), estimate = "0.2s" }
  ptest.suite {
    name = "api", cmd = step(0.4, "api"), depends_on = { "migrate" }, estimate = "0.4s",
  }
  -- One shared sandbox account: these run one at a time (max = 1), so on one machine.
  ptest.group({ name = "sandbox", max = 1 }, function()
    for _, what in ipairs({ "payments", "refunds", "payouts" }) do
      ptest.suite { name = "sandbox-" .. what, cmd = step(0.2, what), estimate = "0.2s" }
    end
  end)
  -- Independent suites go wherever there is room.
  for _, what in ipairs({ "lint", "docs", "cli", "config", "render", "search" }) do
    ptest.suite { name = what, cmd = step(0.3, what), estimate = "0.3s" }
  end
  -- A batch: its items are spread over the machines, and each packs its share into parts of
  -- its own (unit[2.1], unit[2.2] on the second).
  local items = {}
  for i = 1, 12 do
    items[i] = string.format("test_%02d", i)
  end
  ptest.batch { name = "unit", items = items, cmd = step(0.1, "{items}"), estimate = "1.2s" }
end)

-- Teardown runs on every machine, even after a failure.
ptest.phase({ name = "teardown", always = true }, function()
  ptest.suite { name = "cleanup", cmd = step(0, "cleanup") }
end)
