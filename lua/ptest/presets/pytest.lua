-- ptest.presets.pytest: a project's pytest files as one ptest.batch, with per-test results.
--
--   local pytest = require("ptest.presets.pytest")
--   pytest.batch { name = "unit", args = { "-q" }, serial_marker = "serial" }
--
-- Items are the test files pytest would collect: under `paths` (default: `testpaths` from
-- pytest's settings file when that is in the config's folder, else the config's folder; the
-- settings file is the one pytest reads, here or in the nearest folder above), matching
-- `python_files` (default "test_*.py *_test.py"; with `--doctest-modules` every module),
-- skipping hidden folders, virtualenvs and `norecursedirs`. Each part runs pytest on its files
-- through RUN below:
--   PYTHON -c RUN -o junit_family=xunit1 --junitxml={tmpdir}/ptest-junit.xml ARGS... FILES...
-- and ptest reads that file: per-test results, retries of only the failed files, history per file.
-- A file that takes longer than a worker's share of the batch (by history) runs in slices, each
-- in its own part: `FILE::ptest-slice-K-of-N` runs the K-th of every N of its tests (sorted by
-- node id). `slice = false` keeps every file whole.

local ptest = require("ptest")
local util = require("ptest.presets.util")
local M = {}

-- Fields of pytest.batch besides ptest.batch's own.
local OWN = {
  paths = true, python = true, args = true, serial_marker = true, files = true, name = true,
  python_files = true, env = true, slice = true,
}

-- How a part runs one slice of a file (RUN below reads it): an item that takes longer than a
-- worker's share of the batch runs in slices, in parts of their own, once history says so.
local SLICE = "{item}::ptest-slice-{slice}-of-{slices}"

-- What each part runs: pytest, with the files given collected as pytest's own walk would collect
-- them. pytest collects a file named on its command line whatever `python_files`,
-- `norecursedirs`, `--ignore` or conftest.py's `collect_ignore` say; as parts of a walk, the
-- same rules apply as in a plain `pytest` run. A part none of whose files holds a test (pytest's
-- exit code 5) passes. The script's folder, as `python -m pytest` has it, is the first import path.
-- Then the JUnit file is made to name each test's file as ptest names the items: pytest writes
-- `file` relative to its rootdir (a folder above when the settings file is there, or
-- `--rootdir`), and as the file that defines the test function (a base class's, for an
-- inherited test); the script writes the file the test was collected from, relative to the
-- folder pytest runs in, and the classname to match (a moved test's `line` is dropped).
local RUN = [[
import os, re, sys, pytest
if sys.path and sys.path[0] == "":
    sys.path[0] = os.getcwd()
HERE = os.getcwd()
# FILE::ptest-slice-K-of-N: FILE's tests, sorted by node id, the K-th of every N.
SLICE = re.compile(r"^(.+)::ptest-slice-([0-9]+)-of-([0-9]+)$")
ARGS, SLICES = [], {}
for a in sys.argv[1:]:
    m = SLICE.match(a)
    if m and not os.path.exists(a) and 1 <= int(m.group(2)) <= int(m.group(3)):
        SLICES[os.path.abspath(m.group(1))] = (int(m.group(2)), int(m.group(3)))
        a = m.group(1)
    ARGS.append(a)
def ptest_mangle(nodeid):
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]
class PtestWalk:
    config = None
    def __init__(self):
        self.files = {}
    def pytest_configure(self, config):
        self.config = config
    def pytest_sessionstart(self, session):
        self.session = session
        session.isinitpath = lambda *args, **kwargs: False
    def pytest_collectreport(self, report):
        if not report.nodeid:
            self.session._notfound = []
        elif report.failed:
            self.files[ptest_mangle(report.nodeid)] = (report.nodeid.split("::")[0], False)
    def pytest_runtest_logreport(self, report):
        self.files[ptest_mangle(report.nodeid)] = (report.nodeid.split("::")[0], True)
    # First, before other plugins reorder or deselect: every slice sees the same tests.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        if not SLICES:
            return
        def where(it):
            return os.path.abspath(str(getattr(it, "path", None) or it.fspath))
        mine = {}
        for it in items:
            path = where(it)
            if path in SLICES:
                mine.setdefault(path, []).append(it.nodeid)
        rank = {}
        for ids in mine.values():
            for i, nodeid in enumerate(sorted(ids)):
                rank[nodeid] = i
        kept, dropped = [], []
        for it in items:
            cut = SLICES.get(where(it))
            if cut and rank[it.nodeid] % cut[1] != cut[0] - 1:
                dropped.append(it)
            else:
                kept.append(it)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
def ptest_junit(walk):
    config = walk.config
    xml = config and getattr(config.option, "xmlpath", None)
    # Only the file ptest reads (the first --junitxml), not one the args asked for instead.
    ours = next((a[11:] for a in sys.argv if a.startswith("--junitxml=")), None)
    if not xml or xml != ours:
        return
    import xml.etree.ElementTree as ET
    xml = os.path.join(HERE, xml)
    root = str(getattr(config, "rootpath", None) or config.rootdir)
    def here(path):
        full = os.path.normpath(os.path.join(root, path))
        return os.path.relpath(full, HERE).replace(os.sep, "/")
    def module(path):
        return re.sub(r"\.py$", "", path.replace("/", "."))
    try:
        tree = ET.parse(xml)
    except (OSError, ET.ParseError):
        return
    changed = False
    for case in tree.iter("testcase"):
        file, cls = case.get("file"), case.get("classname") or ""
        collected, test = walk.files.get((cls, case.get("name") or ""), (None, False))
        # A file outside the rootdir has no path in its node id: where it is defined, then.
        if not collected or not os.path.isfile(os.path.join(root, collected)):
            collected = file
        if not collected:
            continue
        new, old = here(collected), module(collected)
        if cls == old or cls.startswith(old + "."):
            cls = module(new) + cls[len(old):]
        elif test and not cls:
            cls = module(new)
        if new != file or cls != (case.get("classname") or ""):
            changed = True
            case.set("file", new)
            case.set("classname", cls)
            if collected != file and "line" in case.attrib:
                del case.attrib["line"]
    if changed:
        tree.write(xml, encoding="utf-8", xml_declaration=True)
walk = PtestWalk()
code = pytest.main(ARGS, plugins=[walk])
try:
    ptest_junit(walk)
except Exception as e:
    why = "%s: %s" % (type(e).__name__, e)
    print("ptest: the JUnit file is as pytest wrote it (%s)" % why, file=sys.stderr)
sys.exit(0 if code == 5 else code)
]]

-- pytest's default `norecursedirs`.
local NORECURSE_DEFAULT = {
  "*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}",
}

local read = util.read

local function join(dir, rel)
  if rel:sub(1, 1) == "/" then return rel end
  return dir .. "/" .. rel
end

local words = util.words

-- The folder pytest runs in, where its settings and the items are: the batch's `cwd`
-- (relative to the config's folder), else the config's folder.
local function base_dir(opts)
  return opts.cwd and join(ptest.config_dir, opts.cwd) or ptest.config_dir
end

-- ptest.glob, relative to that folder.
local function globber(opts)
  if not opts.cwd then return ptest.glob end
  local prefix = opts.cwd:gsub("/+$", "") .. "/"
  return function(pattern)
    local out = {}
    for _, f in ipairs(ptest.glob(prefix .. pattern)) do
      if f:sub(1, #prefix) == prefix then out[#out + 1] = f:sub(#prefix + 1) end
    end
    return out
  end
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
    for line in (v .. "\n"):gmatch("([^\n]*)\n") do
      -- Strings up to a comment: a `#` outside quotes.
      local pos, quote = 1, nil
      for i = 1, #line do
        local ch = line:sub(i, i)
        if quote then
          if ch == quote then quote = nil end
        elseif ch == '"' or ch == "'" then
          quote = ch
        elseif ch == "#" then
          break
        end
        pos = i
      end
      for str in line:sub(1, pos):gmatch("[\"']([^\"']*)[\"']") do out[#out + 1] = str end
    end
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

-- pytest's own settings: `testpaths`, `python_files`, `norecursedirs` and `addopts`, from the
-- first file that configures pytest, in pytest's order (pytest.toml, .pytest.toml, pytest.ini and
-- .pytest.ini even when empty, then pyproject.toml, tox.ini, setup.cfg).
local KEYS = { "testpaths", "python_files", "norecursedirs", "addopts" }

function M.settings(dir)
  dir = dir or ptest.config_dir
  local function from_toml(t, file)
    local out = { from = file }
    for _, k in ipairs(KEYS) do out[k] = toml_list(t, k) end
    return out
  end
  local function from_ini(text, section, file)
    local out = { from = file }
    for _, k in ipairs(KEYS) do
      local v = ini_value(text, section, k)
      out[k] = v and words(v)
    end
    return out
  end
  for _, f in ipairs({ "pytest.toml", ".pytest.toml" }) do
    local text = read(join(dir, f))
    if text then return from_toml(toml_table(text, "pytest") or ("\n" .. text), f) end
  end
  for _, f in ipairs({ "pytest.ini", ".pytest.ini" }) do
    local text = read(join(dir, f))
    if text then return from_ini(text, "pytest", f) end
  end
  local py = read(join(dir, "pyproject.toml"))
  if py then
    local t = toml_table(py, "tool.pytest.ini_options") or toml_table(py, "tool.pytest")
    if t then return from_toml(t, "pyproject.toml") end
  end
  for _, f in ipairs({ { "tox.ini", "pytest" }, { "setup.cfg", "tool:pytest" } }) do
    local text = read(join(dir, f[1]))
    if text and text:find("%[" .. f[2]:gsub("%p", "%%%0") .. "%]") then
      return from_ini(text, f[2], f[1])
    end
  end
  return { from = nil }
end

-- A path with its `.` and `..` parts resolved (without looking at the disk) and no trailing `/`.
local function normal(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do
    if p == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif p ~= "." and not (p == ".." and path:sub(1, 1) == "/") then
      parts[#parts + 1] = p
    end
  end
  local out = table.concat(parts, "/")
  if path:sub(1, 1) == "/" then return "/" .. out end
  return out == "" and "." or out
end

-- The settings a plain `pytest` run in `dir` reads: those of the first folder from `dir` up
-- that holds a file configuring pytest (as pytest looks for it), with `dir` set to that folder;
-- `{ from = nil }` when there is none.
function M.find_settings(dir)
  dir = normal(dir or ptest.config_dir)
  while true do
    local s = M.settings(dir)
    if s.from then
      s.dir = dir
      return s
    end
    local up = dir:match("^(.+)/[^/]+$") or (dir:match("^/[^/]+$") and "/")
    if not up or up == dir then return { from = nil } end
    dir = up
  end
end

-- A shell-style pattern (fnmatch: `*`, `?`, `[...]`) as an anchored Lua pattern.
local function fnmatch(glob)
  local out = glob:gsub("[%^%$%(%)%%%.%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".")
  return "^" .. out .. "$"
end

-- The values of an option in a list of arguments: `--opt=V` and `--opt V`.
local function option(args, name)
  local out = {}
  for i, a in ipairs(args) do
    if a == name and args[i + 1] then
      out[#out + 1] = args[i + 1]
    elseif a:sub(1, #name + 1) == name .. "=" then
      out[#out + 1] = a:sub(#name + 2)
    end
  end
  return out
end

local has = util.has

-- The files pytest would collect under `paths` (relative to the config's folder): those matching
-- `python_files`, and with `--doctest-modules` (in `addopts` or `args`) every module, and the
-- doctest files (`--doctest-glob`, default test*.txt). Folders that match `norecursedirs`
-- (pytest's default list unless set), hidden ones and virtualenvs are not walked. What pytest
-- itself leaves out (`--ignore`, conftest.py's `collect_ignore`) the parts leave out at run time.
function M.discover(opts)
  opts = opts or {}
  local base = base_dir(opts)
  local glob = globber(opts)
  local settings = M.find_settings(base)
  local args = {}
  for _, a in ipairs(settings.addopts or {}) do args[#args + 1] = a end
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  -- pytest takes `testpaths` only when it runs in its rootdir: the settings file's folder, or
  -- `--rootdir`. A project whose settings are in a folder above runs what is in its own.
  local rootdir = settings.dir
  local given = option(args, "--rootdir")
  if #given > 0 then rootdir = normal(join(base, given[#given])) end
  local testpaths = rootdir == normal(base) and settings.testpaths or nil
  local paths = opts.paths or testpaths or { "." }
  local patterns = {}
  for _, p in ipairs(opts.python_files or settings.python_files or { "test_*.py", "*_test.py" }) do
    patterns[#patterns + 1] = p
  end
  if has(args, "--doctest-modules") then patterns[#patterns + 1] = "*.py" end
  local doctest_globs = option(args, "--doctest-glob")
  if #doctest_globs == 0 then doctest_globs = { "test*.txt" } end
  for _, g in ipairs(doctest_globs) do patterns[#patterns + 1] = g end
  local norecurse = {}
  for _, d in ipairs(settings.norecursedirs or NORECURSE_DEFAULT) do
    norecurse[#norecurse + 1] = fnmatch(d)
  end
  local function skipped_dir(name)
    if name:sub(1, 1) == "." or name == "__pycache__" then return true end
    for _, p in ipairs(norecurse) do
      if name:match(p) then return true end
    end
    return false
  end
  local function skipped_path(path)
    local parts = {}
    for p in path:gmatch("[^/]+") do parts[#parts + 1] = p end
    for i = 1, #parts - 1 do
      if parts[i] ~= ".." and skipped_dir(parts[i]) then return true end
    end
    return false
  end
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
    if path:match("%.py$") or path:match("%.txt$") or path:match("%.rst$") then
      for _, f in ipairs(glob(path)) do add(f) end
    else
      for _, dir in ipairs((path == "." or path == "") and { "" } or glob(path)) do
        local prefix = dir == "" and "" or (dir:gsub("/+$", "") .. "/")
        -- Top-level entries one by one, so hidden folders and virtualenvs are never walked.
        for _, pattern in ipairs(patterns) do
          for _, f in ipairs(glob(prefix .. pattern)) do add(f) end
        end
        for _, top in ipairs(glob(prefix .. "*/")) do
          top = top:gsub("/+$", "")
          local name = top:match("([^/]+)$")
          if not skipped_dir(name) and not read(join(base, top .. "/pyvenv.cfg")) then
            for _, pattern in ipairs(patterns) do
              for _, f in ipairs(glob(top .. "/**/" .. pattern)) do add(f) end
            end
          end
        end
      end
    end
  end
  table.sort(files)
  return files
end

-- Files that use the marker: `@pytest.mark.NAME` or `pytestmark = ... mark.NAME`.
local function uses_marker(dir, file, marker)
  local text = read(join(dir, file))
  return text ~= nil and text:find("mark%." .. marker:gsub("%p", "%%%0") .. "%f[^%w_]") ~= nil
end

-- Declares the batch (and, with `serial_marker`, a second one NAME-serial for the files that use
-- the marker, in a group with max = 1). Returns the batch's handle, and the serial one's.
function M.batch(opts)
  opts = opts or {}
  local name = opts.name or "pytest"
  local python = opts.python or "python3"
  local files = opts.files or M.discover(opts)
  local cmd = { python, "-c", RUN, "-o", "junit_family=xunit1", "--junitxml={tmpdir}/ptest-junit.xml" }
  local args = opts.args or {}
  local base = normal(base_dir(opts))
  local settings = M.find_settings(base)
  -- The settings file a plain `pytest` here reads, named to every part: given files, pytest
  -- looks for one from their folder up, and would take one in a subfolder (`sub/tox.ini`) that a
  -- plain run never reads. Relative to the folder pytest runs in, as `ptest list` shows it.
  if settings.from and not has(args, "-c", "--config-file", "--inifile", "--rootdir") then
    local up = ""
    for _ in base:sub(#settings.dir + 1):gmatch("[^/]+") do up = up .. "../" end
    cmd[#cmd + 1] = "-c"
    cmd[#cmd + 1] = up .. settings.from
  end
  -- pytest-xdist in `addopts` (`-n auto`) would start its own workers inside each part.
  local addopts = settings.addopts or {}
  if (has(addopts, "-n", "--numprocesses") or has(addopts, "--dist")) and
      not has(args, "-n", "--numprocesses") then
    cmd[#cmd + 1] = "-n"
    cmd[#cmd + 1] = "0"
  end
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  cmd[#cmd + 1] = "{items}"
  local function declare(batch_name, items, extra)
    local t = {
      name = batch_name, items = items, cmd = cmd, results = "{tmpdir}/ptest-junit.xml",
      -- A part runs many files: pytest's own default has no limit; ptest's 5 minutes is for one.
      timeout = "1h",
      category = "pytest",
      -- `slice = false` keeps every file whole.
      slice = opts.slice ~= false and SLICE or nil,
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
    if uses_marker(base_dir(opts), f, opts.serial_marker) then serial[#serial + 1] = f else normal[#normal + 1] = f end
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
