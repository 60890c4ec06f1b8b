-- A real Redis per worker: ptest starts one redis-server for each worker on a free port, the
-- first time a test of that worker needs it, checks that it accepts connections, gives the
-- tests its address in REDIS_URL, and stops it once no test left needs it. No two workers
-- share a server, so tests never see each other's keys.
--
--   ptest -j 2              run it (needs redis-server, and Python with pytest)
--   ptest list              the batches and the service they need
--
-- REDIS_SERVER and PYTHON name other programs than the ones on PATH.
local pytest = require("ptest.presets.pytest")

local redis = ptest.service {
  name = "redis",
  scope = "worker",
  cmd = { os.getenv("REDIS_SERVER") or "redis-server",
          "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
  ready = { tcp = "127.0.0.1:{port}" },
  ready_timeout = "20s",
  env = { REDIS_URL = "redis://127.0.0.1:{port}/0" },
}

pytest.batch {
  name = "tests",
  python = os.getenv("PYTHON") or "python3",
  args = { "-q" },
  batches = 4,
  needs = { redis },
}
