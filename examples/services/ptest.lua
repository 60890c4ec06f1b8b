-- Services: test files are discovered with ptest.glob, one serial group per service folder (a
-- service's tests share its state, so they run one at a time), and the services run in parallel.
-- Each service folder also gets its server (a ptest.service: Python's http.server standing in
-- for the real one), started when its first test is about to run, checked ready over HTTP, and
-- stopped when its last test has ended, while the other folders' tests go on. Add a file under
-- services/NAME/ and it is picked up; add a folder and it gets its own group and server.
--
--   cargo run --release -- examples/services/ptest.lua
--   cargo run --release -- examples/services/ptest.lua list
local ptest = require("ptest")

ptest.config { workers = 3, timeout = "1m" }

local python = os.getenv("PYTHON") or "python3"
local groups, servers = {}, {}
for _, file in ipairs(ptest.glob("services/*/test_*.sh")) do
  local service, test = file:match("^services/([^/]+)/(test_[^/]+)%.sh$")
  if not groups[service] then
    groups[service] = ptest.group { name = service, max = 1, env = { SERVICE = service } }
    servers[service] = ptest.service {
      name = service .. "-server",
      cmd = { python, "-m", "http.server", "{port}", "--bind", "127.0.0.1",
              "--directory", "services/" .. service },
      ready = { http = "http://127.0.0.1:{port}/" },
      env = { SERVICE_URL = "http://127.0.0.1:{port}" },
    }
  end
  ptest.suite {
    name = service .. "/" .. test, category = service, group = groups[service],
    cmd = { "sh", file }, needs = { servers[service] },
  }
end
