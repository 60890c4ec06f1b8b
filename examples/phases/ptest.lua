-- Phases: a core phase that must pass before anything else starts, four serial groups running
-- side by side, a complex phase after them, and a stress phase that runs only when
-- RUN_STRESS_TESTS=true. The worker count comes from TEST_WORKERS (default 4).
--
--   cargo run --release -- examples/phases/ptest.lua
--   TEST_WORKERS=2 RUN_STRESS_TESTS=true cargo run --release -- examples/phases/ptest.lua
--
-- Only sh and coreutils are needed: every suite runs step.sh, which says where it runs and sleeps.
local ptest = require("ptest")

ptest.config {
  workers = tonumber(os.getenv("TEST_WORKERS") or "") or 4,
  timeout = "1m",
}

local function step(what, seconds)
  return { "sh", "step.sh", what, tostring(seconds) }
end

-- Nothing else is worth running if these fail: the default on_failure = "stop" skips later phases.
ptest.phase("core", function()
  ptest.suite { name = "build", category = "build", cmd = step("compile everything", 0.4) }
  ptest.suite { name = "lint", category = "lint", cmd = step("check style", 0.2) }
  ptest.suite {
    name = "smoke", category = "unit", depends_on = { "build" }, cmd = step("start and stop", 0.2),
  }
end)

-- Each area shares one database, so its suites run one at a time (max = 1); the four areas run
-- in parallel with each other.
ptest.phase("main", function()
  for _, area in ipairs({ "accounts", "payments", "ledger", "notifications" }) do
    ptest.group({ name = area, max = 1 }, function()
      for i, part in ipairs({ "create", "update", "delete" }) do
        ptest.suite {
          name = area .. "-" .. part, category = "integration",
          cmd = step(part .. " " .. area, 0.1 + 0.1 * i),
        }
      end
    end)
  end
end)

ptest.phase("complex", function()
  ptest.suite { name = "end-to-end", category = "e2e", cmd = step("a customer's whole journey", 0.5) }
  ptest.suite { name = "upgrade-path", category = "e2e", cmd = step("upgrade from v1 to v2", 0.4) }
end)

ptest.phase({ name = "stress", enabled = os.getenv("RUN_STRESS_TESTS") == "true" }, function()
  ptest.suite { name = "load", category = "stress", cmd = step("1000 requests per second", 0.6) }
  ptest.suite { name = "soak", category = "stress", cmd = step("an hour, compressed", 0.6) }
end)
