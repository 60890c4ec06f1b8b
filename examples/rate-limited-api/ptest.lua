-- Tests that call a rate-limited API (20 requests/s, burst 10) from several workers at once.
-- With the limiter they share one rate, so no request gets a 429. Switch it off with
-- `--set limiter=off` and they collide; the retry policy then recovers them as flaky.
local ptest = require("ptest")

local limiter_on = ptest.vars.limiter ~= "off"
-- The server writes its port here; {run_id} is replaced in cmd and env, so runs never collide.
local port_file = (os.getenv("TMPDIR") or "/tmp") .. "/ptest-api-{run_id}.port"

ptest.config { workers = 4, timeout = "1m" }

local setup = ptest.phase { name = "setup" }
local tests = ptest.phase { name = "tests" }
local teardown = ptest.phase { name = "teardown", always = true }

-- Under the API's 20/s, with room for the server's own clock.
local api = ptest.limiter { name = "api", rate = 15, per = "1s", burst = 2 }

local backoff = ptest.retry {
  attempts = 6, delay = "500ms", factor = 2, max_delay = "4s", jitter = true,
  on = { exit_codes = { 75 }, output = { "429" } },
}

-- The server outlives this suite (ptest stops leftovers only when the run ends); the teardown
-- phase stops it even when tests failed or the run was interrupted.
ptest.suite {
  name = "start-api", phase = setup,
  cmd = "python3 server.py " .. port_file .. " > " .. port_file .. ".log 2>&1 & "
     .. "echo $! > " .. port_file .. ".pid; "
     .. "for i in $(seq 50); do [ -s " .. port_file .. " ] && exit 0; sleep 0.1; done; exit 1",
}

local env = {
  API_PORT_FILE = port_file,
  USE_LIMITER = limiter_on and "on" or "off",
  REQUESTS = "5",
}

for i = 1, 3 do
  ptest.suite { name = "shell-client-" .. i, phase = tests, category = "shell", cmd = "./client.sh",
                retry = backoff, env = env }
  ptest.suite { name = "python-client-" .. i, phase = tests, category = "python",
                cmd = { "python3", "client.py" }, retry = backoff, env = env }
end

ptest.suite {
  name = "stop-api", phase = teardown,
  cmd = "kill $(cat " .. port_file .. ".pid) && sleep 0.5; cat " .. port_file .. ".log; "
     .. "rm -f " .. port_file .. " " .. port_file .. ".pid " .. port_file .. ".log",
}
