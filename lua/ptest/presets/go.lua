-- ptest.presets.go: a Go module's test packages as one ptest.batch, with per-test results.
--
--   require("ptest.presets.go").batch { name = "go", packages = "./...", args = { "-race" } }
--
-- Items are the packages `go list PACKAGES` names that hold test files (run in the batch's
-- `cwd`, default the config's folder, when ptest reads the config; a failure is a config error
-- showing go's output). Each
-- part runs
--   go test -json -p 1 ARGS... PACKAGES...
-- with the JSON event stream saved to {tmpdir}/go-test.json, which ptest reads (per-test results,
-- retries of only the failed packages, history per package), and go's usual text in the log.

local ptest = require("ptest")
local util = require("ptest.presets.util")
local M = {}

-- Fields of go.batch besides ptest.batch's own.
local OWN = { name = true, packages = true, args = true, go = true }

-- Runs the command, passes go's JSON through to the results file, and prints each event's
-- Output (the text `go test` would have printed) for the log.
local RUN = [==[
out=$1; shift
{ "$@"; echo $? >"$out.status"; } | tee "$out" | awk '
!/^\{/ { print; fflush(); next }
{
  i = index($0, "\"Output\":\"")
  if (i == 0) next
  s = substr($0, i + 10); n = length(s); o = ""
  for (j = 1; j <= n; j++) {
    c = substr(s, j, 1)
    if (c == "\"") break
    if (c == "\\") {
      j++; c = substr(s, j, 1)
      if (c == "n") c = "\n"
      else if (c == "t") c = "\t"
      else if (c == "r") c = ""
      else if (c == "u") {
        h = substr(s, j + 1, 4); j += 4
        c = h == "003c" ? "<" : h == "003e" ? ">" : h == "0026" ? "&" : h == "001b" ? "\033" : "?"
      }
    }
    o = o c
  }
  printf "%s", o
  fflush()
}'
status=$(cat "$out.status" 2>/dev/null || echo 1)
rm -f "$out.status"
exit "$status"
]==]

-- The import paths of the packages with test files among `packages` (default "./..."), in
-- go's order. Errors name go's command and show what it printed.
function M.discover(opts)
  opts = opts or {}
  local go = opts.go or "go"
  local patterns = util.words(opts.packages) or { "./..." }
  local dir = ptest.config_dir
  if opts.cwd then dir = opts.cwd:sub(1, 1) == "/" and opts.cwd or (dir .. "/" .. opts.cwd) end
  local argv = { go, "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}" }
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

-- Declares the batch; returns its handle.
function M.batch(opts)
  opts = opts or {}
  local packages = opts.items
  if not packages then
    local found, err = M.discover(opts)
    if not found then error("go.batch: " .. err, 2) end
    packages = found
  end
  local cmd = { "sh", "-c", RUN, "go-test", "{tmpdir}/go-test.json", opts.go or "go", "test", "-json" }
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
  cmd[#cmd + 1] = "{items}"
  local t = {
    name = opts.name or "go", items = packages, cmd = cmd, results = "{tmpdir}/go-test.json",
    -- A part runs many packages (go's own -timeout is 10 minutes for each).
    timeout = "1h",
    category = "go",
  }
  for k, v in pairs(opts) do
    if not OWN[k] and k ~= "items" then t[k] = v end
  end
  return ptest.batch(t)
end

return M
