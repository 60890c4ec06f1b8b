-- Services: test files are discovered with ptest.glob, one serial group per service folder (a
-- service's tests share its state, so they run one at a time), and the services run in parallel.
-- Add a file under services/NAME/ and it is picked up; add a folder and it gets its own group.
--
--   cargo run --release -- examples/services/ptest.lua
--   cargo run --release -- examples/services/ptest.lua list
local ptest = require("ptest")

ptest.config { workers = 3, timeout = "1m" }

local groups = {}
for _, file in ipairs(ptest.glob("services/*/test_*.sh")) do
  local service, test = file:match("^services/([^/]+)/(test_[^/]+)%.sh$")
  if not groups[service] then
    groups[service] = ptest.group { name = service, max = 1, env = { SERVICE = service } }
  end
  ptest.suite {
    name = service .. "/" .. test, category = service, group = groups[service],
    cmd = { "sh", file },
  }
end
