-- ptest.presets.pytest: one suite per pytest file.
--
--   local pytest = require("ptest.presets.pytest")
--   pytest.files { glob = "tests/test_*.py", category = "unit", args = { "-q" } }

local ptest = require("ptest")
local M = {}

-- Declares a suite per file matching `glob`, named after the file, running
-- `python -m pytest FILE ARGS...`. Other fields (category, group, phase, retry, timeout, ...)
-- are passed on to each suite. Returns the list of handles.
function M.files(opts)
  local pattern = assert(opts.glob, "pytest.files: glob is required")
  local python = opts.python or "python3"
  local handles = {}
  for _, file in ipairs(ptest.glob(pattern)) do
    local cmd = { python, "-m", "pytest", file }
    for _, a in ipairs(opts.args or {}) do cmd[#cmd + 1] = a end
    local suite = { name = file, cmd = cmd }
    for k, v in pairs(opts) do
      if k ~= "glob" and k ~= "python" and k ~= "args" then suite[k] = v end
    end
    handles[#handles + 1] = ptest.suite(suite)
  end
  return handles
end

return M
