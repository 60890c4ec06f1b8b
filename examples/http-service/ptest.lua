-- A web server for the tests that need it: Python's own http.server on a port ptest picks,
-- counted ready once a GET of /health.txt answers 200, its address given to the tests in
-- BASE_URL, stopped once the last of them has ended. Suites that do not need it (lint) start
-- at once and never wait for it.
--
--   ptest -j 2              run it (needs python3)
--   ptest graph             the service and the suites that need it
local python = os.getenv("PYTHON") or "python3"

local web = ptest.service {
  name = "web",
  cmd = { python, "-m", "http.server", "{port}", "--bind", "127.0.0.1", "--directory", "site" },
  ready = { http = "http://127.0.0.1:{port}/health.txt" },
  ready_timeout = "30s",
  env = { BASE_URL = "http://127.0.0.1:{port}" },
}

local function get(path, expect)
  return { python, "checks/get.py", path, expect }
end

ptest.suite { name = "home", cmd = get("/", "Welcome"), needs = { web } }
ptest.suite { name = "health", cmd = get("/health.txt", "ok"), needs = { web } }
ptest.suite { name = "missing-page", cmd = get("/no-such-page", "404"), needs = { web } }
-- Parses the check script (without writing anything, as py_compile would).
ptest.suite { name = "lint", cmd = { python, "-c", "import ast; ast.parse(open('checks/get.py').read())" } }
