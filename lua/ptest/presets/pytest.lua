-- ptest.presets.pytest: a project's pytest files as one ptest.batch, with per-test results.
--
--   local pytest = require("ptest.presets.pytest")
--   pytest.batch { name = "unit", args = { "-q" }, serial_marker = "serial" }
--
-- Items are the test files pytest would collect: under `paths` (default: `testpaths` from
-- pytest.ini, pyproject.toml, tox.ini or setup.cfg, else the config's folder), matching
-- `python_files` (same files; default "test_*.py *_test.py"), skipping hidden folders and
-- pytest's default `norecursedirs`. Each part runs (exit 5, no tests collected, counts as a pass)
--   PYTHON -m pytest -o junit_family=xunit1 --junitxml={tmpdir}/ptest-junit.xml ARGS... FILES...
-- and ptest reads that file: per-test results, retries of only the failed files, history per file.

local ptest = require("ptest")
local M = {}

-- Fields of pytest.batch besides ptest.batch's own.
local OWN = {
  paths = true, python = true, args = true, serial_marker = true, files = true, name = true,
  python_files = true, env = true,
}

local NORECURSE = {
  ["build"] = true, ["dist"] = true, ["node_modules"] = true, ["venv"] = true, ["CVS"] = true,
  ["_darcs"] = true, ["{arch}"] = true, ["site-packages"] = true, ["__pycache__"] = true,
}

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function join(dir, rel)
  if rel:sub(1, 1) == "/" then return rel end
  return dir .. "/" .. rel
end

local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return out
end

-- The `key = value` (with indented continuation lines) of one [section] of an ini file.
local function ini_value(text, section, key)
  local in_section, value = false, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local s = line:match("^%[(.-)%]%s*$")
    if s then
      if value then return value end
      in_section = (s == section)
    elseif in_section then
      if value and line:match("^%s+%S") and not line:match("^%s*[#;]") then
        value = value .. " " .. line
      elseif value then
        return value
      else
        local k, v = line:match("^%s*([%w_]+)%s*[=:]%s*(.-)%s*$")
        if k == key then value = v end
      end
    end
  end
  return value
end

-- A TOML value as a list of strings: "a" or ["a", "b"] (possibly over several lines).
local function toml_list(text, key)
  local v = text:match("\n%s*" .. key .. "%s*=%s*(%b[])") or text:match("^%s*" .. key .. "%s*=%s*(%b[])")
  if v then
    local out = {}
    for s in v:gmatch("[\"']([^\"']*)[\"']") do out[#out + 1] = s end
    return out
  end
  local s = text:match("\n%s*" .. key .. "%s*=%s*[\"']([^\"']*)[\"']")
  if s then return words(s) end
  return nil
end

-- The text of one [table] of a TOML file (up to the next table header).
local function toml_table(text, name)
  local pattern = "\n%[" .. name:gsub("%.", "%%.") .. "%]%s*\n"
  local start = ("\n" .. text):find(pattern)
  if not start then return nil end
  local body = ("\n" .. text):sub(start + 1)
  body = body:gsub("^[^\n]*\n", "")
  local stop = body:find("\n%[[^%[]")
  return "\n" .. (stop and body:sub(1, stop) or body)
end

-- pytest's own settings: `testpaths` and `python_files`, from the first file that configures
-- pytest (pytest.ini even when empty, then pyproject.toml, tox.ini, setup.cfg).
function M.settings(dir)
  dir = dir or ptest.config_dir
  local ini = read(join(dir, "pytest.ini"))
  if ini then
    local tp, pf = ini_value(ini, "pytest", "testpaths"), ini_value(ini, "pytest", "python_files")
    return { testpaths = tp and words(tp), python_files = pf and words(pf), from = "pytest.ini" }
  end
  local py = read(join(dir, "pyproject.toml"))
  if py then
    local t = toml_table(py, "tool.pytest.ini_options") or toml_table(py, "tool.pytest")
    if t then
      return { testpaths = toml_list(t, "testpaths"), python_files = toml_list(t, "python_files"),
               from = "pyproject.toml" }
    end
  end
  for _, f in ipairs({ { "tox.ini", "pytest" }, { "setup.cfg", "tool:pytest" } }) do
    local text = read(join(dir, f[1]))
    if text and text:find("%[" .. f[2]:gsub("%p", "%%%0") .. "%]") then
      local tp, pf = ini_value(text, f[2], "testpaths"), ini_value(text, f[2], "python_files")
      return { testpaths = tp and words(tp), python_files = pf and words(pf), from = f[1] }
    end
  end
  return { from = nil }
end

-- Whether a relative path goes through a folder pytest does not collect from.
local function skipped_path(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do parts[#parts + 1] = p end
  for i = 1, #parts - 1 do
    local p = parts[i]
    if p:sub(1, 1) == "." or NORECURSE[p] or p:match("%.egg$") or p:match("%.egg%-info$") then
      return true
    end
  end
  return false
end

-- The test files pytest would collect under `paths` (relative to the config's folder).
function M.discover(opts)
  opts = opts or {}
  local settings = M.settings()
  local paths = opts.paths or settings.testpaths or { "." }
  local patterns = opts.python_files or settings.python_files or { "test_*.py", "*_test.py" }
  local seen, files = {}, {}
  local function add(f)
    f = f:gsub("^%./", "")
    if not seen[f] and not skipped_path(f) then
      seen[f] = true
      files[#files + 1] = f
    end
  end
  for _, path in ipairs(paths) do
    path = path:gsub("/+$", "")
    if path:match("%.py$") then
      for _, f in ipairs(ptest.glob(path)) do add(f) end
    else
      local prefix = (path == "." or path == "") and "" or (path .. "/")
      -- Top-level entries one by one, so hidden folders and virtualenvs are never walked.
      for _, pattern in ipairs(patterns) do
        for _, f in ipairs(ptest.glob(prefix .. pattern)) do add(f) end
      end
      for _, top in ipairs(ptest.glob(prefix .. "*/")) do
        top = top:gsub("/+$", "")
        local name = top:match("([^/]+)$")
        local hidden = name:sub(1, 1) == "." or NORECURSE[name] or name:match("%.egg%-info$")
        if not hidden and not read(join(ptest.config_dir, top .. "/pyvenv.cfg")) then
          for _, pattern in ipairs(patterns) do
            for _, f in ipairs(ptest.glob(top .. "/**/" .. pattern)) do add(f) end
          end
        end
      end
    end
  end
  table.sort(files)
  return files
end

-- Files that use the marker: `@pytest.mark.NAME` or `pytestmark = ... mark.NAME`.
local function uses_marker(file, marker)
  local text = read(join(ptest.config_dir, file))
  return text ~= nil and text:find("mark%." .. marker:gsub("%p", "%%%0") .. "%f[^%w_]") ~= nil
end

-- Declares the batch (and, with `serial_marker`, a second one NAME-serial for the files that use
-- the marker, in a group with max = 1). Returns the batch's handle, and the serial one's.
function M.batch(opts)
  opts = opts or {}
  local name = opts.name or "pytest"
  local python = opts.python or "python3"
  local files = opts.files or M.discover(opts)
  -- pytest exits 5 when it collected no test: a part whose files hold none has not failed.
  local cmd = { "sh", "-c", '"$@"; c=$?; if [ "$c" = 5 ]; then exit 0; fi; exit "$c"', "pytest",
                python, "-m", "pytest", "-o", "junit_family=xunit1",
                "--junitxml={tmpdir}/ptest-junit.xml" }
  for _, a in ipairs(opts.args or {}) do cmd[#cmd + 1] = a end
  cmd[#cmd + 1] = "{items}"
  local function declare(batch_name, items, extra)
    local t = {
      name = batch_name, items = items, cmd = cmd, results = "{tmpdir}/ptest-junit.xml",
      -- A part runs many files: pytest's own default has no limit; ptest's 5 minutes is for one.
      timeout = "1h",
      category = "pytest",
    }
    for k, v in pairs(opts) do
      if not OWN[k] then t[k] = v end
    end
    -- Code written for pytest-xdist keys per-worker resources (databases, ports) on this.
    local env = { PYTEST_XDIST_WORKER = "gw{worker}" }
    for k, v in pairs(opts.env or {}) do env[k] = v end
    t.env = env
    for k, v in pairs(extra or {}) do t[k] = v end
    return ptest.batch(t)
  end
  if not opts.serial_marker then
    return declare(name, files)
  end
  local normal, serial = {}, {}
  for _, f in ipairs(files) do
    if uses_marker(f, opts.serial_marker) then serial[#serial + 1] = f else normal[#normal + 1] = f end
  end
  local group = ptest.group { name = name .. "-serial", max = 1 }
  local main = declare(name, normal)
  local one = declare(name .. "-serial", serial, { group = group, batches = 1 })
  return main, one
end

-- The older form: a suite per file (no results). Kept for configs that use it.
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
