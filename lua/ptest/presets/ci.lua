-- ptest.presets.ci: worker-count heuristics for CI machines and laptops.
--
--   local ci = require("ptest.presets.ci")
--   ptest.config { workers = ci.workers { mem_per_worker_mb = 2048 } }

local M = {}

-- Returns a function(sys) for `workers`: one worker per CPU this process may use, fewer when
-- memory is short (mem_per_worker_mb each, default 1024), at most `max` (default: no cap), and
-- `ci_max` on a CI system when given. Both figures already respect the limits a container or
-- CI runner sets through its cgroup (`sys.cpus` is capped by the CPU quota rounded up,
-- `sys.mem_available_mb` by the room under the memory limit), so a CircleCI resource class or a
-- Kubernetes pod's limits count, not the host's CPUs and memory.
function M.workers(opts)
  opts = opts or {}
  local per = opts.mem_per_worker_mb or 1024
  return function(sys)
    local n = sys.cpus
    if sys.mem_available_mb and sys.mem_available_mb > 0 then
      n = math.min(n, sys.mem_available_mb // per)
    end
    if opts.max then n = math.min(n, opts.max) end
    if sys.ci and opts.ci_max then n = math.min(n, opts.ci_max) end
    return math.max(1, math.floor(n))
  end
end

return M
