-- ptest.presets.cargo: a Rust package's or workspace's tests, each test binary a batch of its
-- tests, with per-test results.
--
--   require("ptest.presets.cargo").batch { name = "rust", args = { "--workspace" } }
--
-- Options: name (default "cargo"), args (for cargo test --no-run and --doc), dir (default the
-- config's folder), cargo (the program), test_args (for each test binary), skip (tests whose
-- name contains one of these are left out), doc = false (no doc-test suite), env; any other
-- field goes to each ptest.batch.
--
-- While the config is evaluated it builds the test binaries once (`cargo test --no-run
-- --message-format=json-render-diagnostics ARGS...`; a build failure is a config error showing
-- cargo's output) and lists each binary's tests (`BINARY --list --format terse`). Every
-- binary's tests are the items of one batch NAME, as BINARY/TEST (`tiny(lib)/tests::adds`,
-- `it/one`), packed across binaries by their durations; a part runs
--   ptest libtest --junit {tmpdir}/ptest-junit.xml --bin BINARY EXE PKG_DIR PKG@VERSION ...
--     --arg --exact --arg --test-threads=1 [--arg TEST_ARG]... -- ITEMS...
-- which runs each binary on its tests in the package's folder and writes the results: per-test
-- outcomes, durations and panic messages, retries of only the failed tests, history per test.
-- Doc tests are one suite, NAME/doc (`cargo test --doc`).

local ptest = require("ptest")
local util = require("ptest.presets.util")
local M = {}

-- Fields of cargo.batch besides ptest.batch's own.
local OWN = {
  name = true, args = true, dir = true, doc = true, cargo = true, test_args = true, env = true,
  skip = true,
}
-- ptest.batch fields the preset sets itself.
local MINE = { items = true, cmd = true, results = true }

local q = util.quote

-- cargo's stderr without its progress lines.
local function cargo_said(text)
  local lines = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    local progress = l:match("^%s+Compiling ") or l:match("^%s+Blocking ") or l:match("^%s+Fresh ")
      or l:match("^%s+Checking ") or l:match("^%s+Building ")
    if not progress then lines[#lines + 1] = l end
  end
  return table.concat(lines, "\n")
end

-- "path+file:///w/crates/core#0.1.0" or "...#core@0.1.0": the package's name and version.
local function package_of(id, manifest)
  local tail = id:match("#(.*)$") or ""
  local name, version = tail:match("^(.+)@(.+)$")
  if name then return name, version end
  name = (manifest or ""):match("([^/]+)/Cargo%.toml$") or id:match("([^/#]+)#") or ""
  return name, tail
end

local LIB_KINDS = {
  lib = true, rlib = true, dylib = true, cdylib = true, staticlib = true, ["proc-macro"] = true,
}

local KIND_ORDER = { lib = 1, bin = 2, test = 3, example = 4, bench = 5 }

-- The test binaries in cargo's JSON messages.
local function binaries(json)
  local found, has_doc = {}, false
  for line in json:gmatch("[^\n]+") do
    if line:find('"reason":"compiler-artifact"', 1, true) then
      local target = line:match('"target":(%b{})') or ""
      local kind = target:match('"kind":%["([^"]+)"') or "test"
      if LIB_KINDS[kind] and target:find('"doctest":true', 1, true) then has_doc = true end
      -- The profile's `test`, not the target's (a library is built for tests and for others).
      local exe = line:match('"executable":"([^"]+)"')
      if exe and (line:match('"profile":(%b{})') or ""):find('"test":true', 1, true) then
        local manifest = line:match('"manifest_path":"([^"]+)"')
        local pkg, version = package_of(line:match('"package_id":"([^"]+)"') or "", manifest)
        found[#found + 1] = {
          exe = exe,
          target = target:match('"name":"([^"]+)"') or exe:match("([^/]+)$"),
          kind = LIB_KINDS[kind] and "lib" or kind,
          package = pkg,
          version = version,
          dir = manifest and manifest:match("^(.*)/[^/]+$"),
        }
      end
    end
  end
  -- cargo reports them as they are built: a fixed order instead.
  table.sort(found, function(a, b)
    if a.package ~= b.package then return a.package < b.package end
    if a.kind ~= b.kind then return (KIND_ORDER[a.kind] or 9) < (KIND_ORDER[b.kind] or 9) end
    if a.target ~= b.target then return a.target < b.target end
    return a.exe < b.exe
  end)
  return found, has_doc
end

-- Every binary's tests (`--list --format terse`), listed by one shell.
local function list_tests(bins)
  local script = {}
  for i, b in ipairs(bins) do
    script[#script + 1] = "echo '@ptest-list " .. i .. "'; (cd " .. q(b.dir or ".") .. " && "
      .. q(b.exe) .. " --list --format terse) || echo '@ptest-list-failed " .. i .. "'"
  end
  -- Each binary's failure is in the output; the script as a whole does not fail.
  local out = util.run(table.concat(script, "\n"), { stderr = "apart" }) or ""
  local tests, current = {}, nil
  for line in out:gmatch("[^\n]+") do
    local i = line:match("^@ptest%-list (%d+)$")
    if i then
      current = tonumber(i)
      tests[current] = {}
    elseif line:match("^@ptest%-list%-failed %d+$") then
      current = nil
    elseif current then
      local t = line:match("^(.-): test$")
      if t then table.insert(tests[current], t) end
    end
  end
  return tests
end

-- Each binary's name in items: TARGET, with the kind for a library's or binary's own tests
-- (`tiny(lib)`), and the package's name in front when two packages have a target of that name
-- (`core::integration`).
local function binary_names(bins)
  local plain = {}
  local function short(b)
    local n = b.target
    if b.kind ~= "test" then n = n .. "(" .. b.kind .. ")" end
    return n
  end
  for _, b in ipairs(bins) do
    local s = short(b)
    plain[s] = (plain[s] or 0) + 1
  end
  local names = {}
  for i, b in ipairs(bins) do
    local s = short(b)
    names[i] = (plain[s] > 1 and (b.package .. "::") or "") .. s
  end
  return names
end

-- Declares one batch of every test binary's tests (and the doc tests' suite); returns the
-- batch's handle and the doc suite's.
function M.batch(opts)
  opts = opts or {}
  for k in pairs(MINE) do
    if opts[k] ~= nil then
      error("cargo preset: " .. k .. " is the preset's own (leave it out)", 2)
    end
  end
  local name = opts.name or "cargo"
  local dir = util.folder(opts.dir)
  local cargo = opts.cargo or "cargo"
  local argv = { cargo, "test", "--no-run", "--message-format=json-render-diagnostics" }
  local shown = { "cargo test --no-run" }
  for _, a in ipairs(opts.args or {}) do
    argv[#argv + 1] = a
    shown[#shown + 1] = q(a)
  end
  local out, err = util.run(argv, {
    dir = dir, stderr = "apart", tidy = cargo_said, lines = 60, bytes = 8000,
    shown = "`" .. table.concat(shown, " ") .. "` in " .. dir,
    missing = "(is cargo installed? `cargo = \"/path/to/cargo\"` in the preset's call names the "
      .. "program)",
  })
  if not out then error("cargo preset: " .. err, 2) end
  local bins, has_doc = binaries(out)
  local tests = list_tests(bins)
  local names = binary_names(bins)
  -- `skip`: tests whose name contains one of these, as libtest's --skip.
  local function skipped(t)
    for _, pattern in ipairs(opts.skip or {}) do
      if t:find(pattern, 1, true) then return true end
    end
    return false
  end
  -- `ptest -k EXPR`: the tests whose name contains it, as `cargo test EXPR`; `--test NAME`:
  -- BINARY/TEST (the item), TEST in any binary, or BINARY (all of its tests).
  local sel = util.selection()
  local named = {}
  for _, n in ipairs(sel.tests) do named[n] = true end
  local function chosen(binary, t)
    if sel.filter and not t:find(sel.filter, 1, true) then return false end
    return #sel.tests == 0 or named[binary .. "/" .. t] or named[t] or named[binary] or false
  end
  -- Items BINARY/TEST; a part runs, binary by binary, `EXE --exact ARGS... TESTS...`.
  local cmd = { "ptest", "libtest", "--junit", "{tmpdir}/ptest-junit.xml" }
  local items = {}
  for i, b in ipairs(bins) do
    local mine = 0
    for _, t in ipairs(tests[i] or {}) do
      if not skipped(t) and chosen(names[i], t) then
        items[#items + 1] = names[i] .. "/" .. t
        mine = mine + 1
      end
    end
    if mine > 0 then
      for _, v in ipairs({ "--bin", names[i], b.exe, b.dir or dir, b.package .. "@" .. b.version }) do
        cmd[#cmd + 1] = v
      end
    end
  end
  local common = { "--exact", "--test-threads=1" }
  for _, a in ipairs(opts.test_args or {}) do
    if a:match("^%-%-test%-threads") then common[2] = nil end
  end
  for _, a in ipairs(common) do cmd[#cmd + 1] = "--arg"; cmd[#cmd + 1] = a end
  for _, a in ipairs(opts.test_args or {}) do cmd[#cmd + 1] = "--arg"; cmd[#cmd + 1] = a end
  -- `ptest -- ARGS`: for each test binary, as `cargo test -- ARGS`.
  for _, a in ipairs(sel.args) do cmd[#cmd + 1] = "--arg"; cmd[#cmd + 1] = a end
  cmd[#cmd + 1] = "--"
  cmd[#cmd + 1] = "{items}"
  local handles = {}
  if #items > 0 then
    local t = {
      name = name, items = items, cmd = cmd, results = "{tmpdir}/ptest-junit.xml",
      cwd = dir, env = opts.env, category = "cargo",
      -- A part runs many tests: ptest's default of five minutes is for one command.
      timeout = "1h",
      -- The items are the tests: `ptest list --tests` prints them.
      list = { "printf", "%s\n", "{items}" },
      select = true,
    }
    handles[#handles + 1] = ptest.batch(util.copy_options(t, opts, OWN))
  end
  -- With `-k`, the doc tests are listed first (as cargo test --doc would filter them): none
  -- whose name holds EXPR leaves the doc suite out, so a filter that matches no test anywhere
  -- runs nothing and says so. A listing that fails keeps the suite (its tests are unknown).
  local doc_matches = true
  if has_doc and opts.doc ~= false and sel.filter then
    local list = { cargo, "test", "--doc" }
    for _, a in ipairs(opts.args or {}) do list[#list + 1] = a end
    for _, a in ipairs({ "--", "--list", "--format", "terse", sel.filter }) do
      list[#list + 1] = a
    end
    local listed = util.run(list, { dir = dir, stderr = "apart" })
    doc_matches = listed == nil or listed:find(": test\n", 1, true) ~= nil
  end
  if has_doc and opts.doc ~= false and doc_matches then
    local doc = { cargo, "test", "--doc" }
    for _, a in ipairs(opts.args or {}) do doc[#doc + 1] = a end
    -- `-k` and `-- ARGS` as `cargo test --doc -- EXPR ARGS`; with `--test` the doc tests
    -- (named after their source lines) are left out.
    if sel.filter or #sel.args > 0 then doc[#doc + 1] = "--" end
    if sel.filter then doc[#doc + 1] = sel.filter end
    for _, a in ipairs(sel.args) do doc[#doc + 1] = a end
    local t = { name = name .. "/doc", cmd = doc, cwd = dir, category = "cargo", timeout = "1h",
                env = opts.env, select = #sel.tests == 0 }
    handles[#handles + 1] = ptest.suite(util.copy_options(t, opts, OWN, "batches"))
  end
  return table.unpack(handles)
end

return M
