-- ptest.presets.go: a Go module's test packages as one ptest.batch, with per-test results.
--
--   require("ptest.presets.go").batch { name = "go", packages = "./...", args = { "-race" } }
--
-- Items are the packages `go list PACKAGES` names that hold test files (run in the batch's
-- `cwd`, default the config's folder, when ptest reads the config; a failure is a config error
-- showing go's output). Each part runs
--   ptest gotest {tmpdir}/go-test.json -- go test -json -p 1 ARGS... ::ptest:: PACKAGES...
-- which saves go's JSON event stream to {tmpdir}/go-test.json, read by ptest (per-test results,
-- retries of only the failed packages, history per package), and prints go's usual text for
-- the log. `--rerun-failed` and `--test` name a package's tests (`PKG::TestName`): those
-- packages run apart, with `-run '^(TestA|TestB)$'` (a subtest by its levels, `^TestC$/^sub$`). After a `test_timeout`, the hung test's package
-- runs again apart without it and without its tests that had ended (`PKG::ptest-skip::TestName`),
-- with a `-run` of every other test (which replaces a `-run` of `-k` or `args`).

local ptest = require("ptest")
local util = require("ptest.presets.util")
local M = {}

-- Fields of go.batch besides ptest.batch's own.
local OWN = { name = true, packages = true, args = true, go = true }

-- The import paths of the packages with test files among `packages` (default "./..."), in
-- go's order. Errors name go's command and show what it printed.
function M.discover(opts)
  opts = opts or {}
  local go = opts.go or "go"
  local patterns = util.words(opts.packages) or { "./..." }
  local dir = util.folder(opts.cwd)
  local argv = { go, "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}" }
  -- The build flags of `args` that decide which files count (`-tags integration`, `-race`'s
  -- race tag, another module file): without them a package whose test files all need a tag
  -- would be left out, and `go test -tags ... ./...` runs it.
  local args = util.words(opts.args) or {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name = a:match("^%-%-?([%w]+)")
    if name == "tags" or name == "mod" or name == "modfile" then
      argv[#argv + 1] = a
      if not a:find("=", 1, true) and args[i + 1] then
        argv[#argv + 1] = args[i + 1]
        i = i + 1
      end
    elseif a:match("^%-%-?race$") or a:match("^%-%-?msan$") or a:match("^%-%-?asan$") then
      argv[#argv + 1] = a
    end
    i = i + 1
  end
  for _, p in ipairs(patterns) do argv[#argv + 1] = p end
  local text, err = util.run(argv, {
    dir = dir, shown = go .. " list " .. table.concat(patterns, " "),
    missing = "(is go installed? `go = \"/path/to/go\"` in go.batch names the program)",
  })
  if not text then return nil, err end
  local packages = {}
  for line in text:gmatch("[^\n]+") do
    -- go's warnings ("go: warning: ... matched no packages", "go: downloading ...") have
    -- spaces; import paths never do.
    if not line:find("%s") then packages[#packages + 1] = line end
  end
  return packages
end

-- `ptest --test` names for `ptest list --tests`: the packages they name (PACKAGE::TEST, or
-- PACKAGE for all of its tests), one pattern of top-level names for the listing (nil: every
-- test of those packages), and whether any test is named. The listing is one `go test -list`
-- of every package, which ptest then narrows to the tests named of each package, as the run
-- gives each package exactly those (`ptest gotest`).
function M.narrow(packages, names)
  local kept, wanted, unknown = util.narrow(packages, names)
  -- `go test -list` matches its pattern against top-level names only: a named subtest's
  -- test stands for it (ptest then keeps of each package the tests named of it).
  local whole, top, alts = false, {}, {}
  for _, p in ipairs(kept) do
    if wanted[p] == true then
      whole = true
    else
      for _, t in ipairs(wanted[p]) do
        local name = t:match("^[^/]*")
        if not top[name] then
          top[name] = true
          alts[#alts + 1] = util.regex_escape(name)
        end
      end
    end
  end
  if #alts == 0 then return kept, nil, unknown, false end
  if whole then return kept, nil, unknown, true end
  table.sort(alts)
  return kept, "^(" .. table.concat(alts, "|") .. ")$", unknown, true
end

-- Declares the batch; returns its handle.
function M.batch(opts)
  opts = opts or {}
  local packages = opts.items
  if not packages then
    local found, err = M.discover(opts)
    if not found then error("go.batch: " .. err, 2) end
    packages = found
  end
  -- `ptest -k EXPR` is go's `-run EXPR`; `--test` narrows the packages, and ptest hands a
  -- part the tests named of them as `PKG::TEST` (by `test`), which `ptest gotest` runs with a
  -- `-run` of their names, subtests by their levels (as `--rerun-failed`'s); `-- ARGS` go to
  -- `go test` after the batch's own. The listing takes the same names as one `-run`.
  local sel = util.selection()
  local run, listed = sel.filter, sel.filter
  if #sel.tests > 0 then
    local kept, pattern, _, named = M.narrow(packages, sel.tests)
    packages = kept
    if named and run then
      error("go.batch: -k and --test with tests in them cannot both be go's -run", 2)
    end
    listed = run or pattern
  end
  local extra = {}
  if run then
    extra[1] = "-run"
    extra[2] = run
  end
  for _, a in ipairs(sel.args) do extra[#extra + 1] = a end
  -- `ptest gotest` saves go's JSON events for ptest to read and prints their output for the log.
  local cmd = { "ptest", "gotest", "{tmpdir}/go-test.json", "--", opts.go or "go", "test", "-json" }
  local args = util.words(opts.args) or {}
  -- ptest runs the parts side by side: each runs its packages one at a time unless told.
  local has_p = false
  for _, a in ipairs(args) do
    if a == "-p" or a:match("^%-p=") or a:match("^%-%-p=") then has_p = true end
  end
  if not has_p then
    cmd[#cmd + 1] = "-p"
    cmd[#cmd + 1] = "1"
  end
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  for _, a in ipairs(extra) do cmd[#cmd + 1] = a end
  -- Where the packages start: `ptest gotest` runs a package of which only some tests run
  -- (`PKG::TestName`, from --rerun-failed) with `-run` of their names.
  cmd[#cmd + 1] = "::ptest::"
  cmd[#cmd + 1] = "{items}"
  -- `ptest list --tests`: `go test -list` (tests, fuzz targets and examples) as PACKAGE::TEST.
  local listing = { util.quote(opts.go or "go"), "test", "-list", util.quote(listed or ".") }
  for _, a in ipairs(util.words(opts.args) or {}) do listing[#listing + 1] = util.quote(a) end
  local t = {
    name = opts.name or "go", items = packages, cmd = cmd, results = "{tmpdir}/go-test.json",
    test = "{item}::{test}",
    -- After a test_timeout the hung test's package runs again without it and the tests that
    -- had ended: `ptest gotest` gives it a `-run` of its other tests.
    skip_test = "{item}::ptest-skip::{test}",
    -- A part runs many packages (go's own -timeout is 10 minutes for each).
    timeout = "1h",
    category = "go",
    list = "{ " .. table.concat(listing, " ") .. " {items} || echo @ptest-failed; } | awk "
      .. util.quote("/^@ptest-failed$/ { bad = 1; next } "
        .. "/^ok / { for (i = 1; i <= n; i++) print $2 \"::\" t[i]; n = 0; next } "
        .. "/^(Test|Fuzz|Example)/ { t[++n] = $1; next } { print > \"/dev/stderr\" } "
        .. "END { exit bad }"),
    select = true,
  }
  return ptest.batch(util.copy_options(t, opts, OWN, "items"))
end

return M
