-- A first look at ptest: a build step, unit suites in parallel, a serial group that shares a
-- database, and an integration suite that waits for the build. Only sh and coreutils are needed.
local ptest = require("ptest")

ptest.config {
  workers = function(sys) return math.max(2, math.min(sys.cpus, 4)) end,
  timeout = "1m",
}

local build = ptest.suite {
  name = "build", category = "build", estimate = "1s",
  cmd = "echo compiling; sleep 1; echo built",
}

for _, name in ipairs({ "parser", "lexer", "codegen" }) do
  ptest.suite {
    name = "unit-" .. name, category = "unit", depends_on = { build }, estimate = "500ms",
    cmd = { "sh", "-c", "echo testing " .. name .. " on worker $PTEST_WORKER; sleep 0.5" },
  }
end

ptest.group("database", function()
  for i = 1, 2 do
    ptest.suite {
      name = "db-" .. i, category = "integration", estimate = "700ms",
      cmd = "echo migrate db; sleep 0.7; echo ok",
    }
  end
end)

ptest.suite {
  name = "integration", category = "integration", depends_on = { "build" }, estimate = "2s",
  cmd = "echo starting service; sleep 2; echo integration passed",
  env = { SERVICE_URL = "http://127.0.0.1:8080" },
}
