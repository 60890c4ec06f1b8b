-- ptest.presets.util: what the presets share. Running a listing command while the config is
-- read (with a message that says what went wrong), shell quoting, option lists, the folder a
-- preset works in and the caller's options copied into its batch, files.
--
--   local util = require("ptest.presets.util")
--   local out, err = util.run({ "go", "list", "./..." }, { dir = "svc" })
--   if not out then error("go.batch: " .. err, 2) end   -- level 2: the config's line

local ptest = require("ptest")
local M = {}

-- The folder a preset works in: `dir` as given when absolute, else relative to the config's
-- folder; the config's folder when nil.
function M.folder(dir)
  if not dir then return ptest.config_dir end
  if dir:sub(1, 1) == "/" then return dir end
  return ptest.config_dir .. "/" .. dir
end

-- `t` with every field of the caller's `opts` copied in except the preset's own (`own`, a set)
-- and the names after it: what makes a preset take any `ptest.batch` or `ptest.suite` field.
function M.copy_options(t, opts, own, ...)
  local skip = {}
  for _, k in ipairs({ ... }) do skip[k] = true end
  for k, v in pairs(opts) do
    if not own[k] and not skip[k] then t[k] = v end
  end
  return t
end

-- A word for sh: as it is when it is plainly safe, else in single quotes. `=` is left bare only
-- in an option (`--x=1`), never in a first word, where sh would read it as an assignment.
function M.quote(s)
  s = tostring(s)
  if s:match("^[%w_./:,+@%%][%w%-_./:,+@%%]*$") or s:match("^%-[%w%-_./:,+@%%=]*$") then
    return s
  end
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

-- An option that takes a list: a table as it is, nil as nil, and a string as one entry.
function M.list(v)
  if v == nil then return nil end
  if type(v) == "string" then return { v } end
  return v
end

-- The same with a string split into words ("./a ./b", "-race -v").
function M.words(v)
  if v == nil then return nil end
  if type(v) == "string" then
    local out = {}
    for w in v:gmatch("%S+") do out[#out + 1] = w end
    return out
  end
  return v
end

-- Whether `args` holds one of the options (`--opt` or `--opt=VALUE`).
function M.has(args, ...)
  for _, a in ipairs(args or {}) do
    for _, name in ipairs({ ... }) do
      if a == name or a:sub(1, #name + 1) == name .. "=" then return true end
    end
  end
  return false
end

-- The run's `-k`, `--test` and `-- ARGS` (`ptest.select`), as a preset reads them:
-- `{ filter = EXPR or nil, tests = { ID, ... }, args = { ... } }`. A preset's batch says
-- `select = true`: it hands them to its tool.
function M.selection()
  local s = ptest.select or {}
  return { filter = s.filter, tests = s.tests or {}, args = s.args or {} }
end

-- Which of `items` hold the tests `--test` names, as ptest names tests: an item's own name
-- (a file, a package: all of its tests), or ITEM::TEST (the longest item that fits). Returns
-- the items kept (in their order; all of them when no test is named), a table of each kept
-- item's named tests (`true` for the whole item), and the names that fit no item.
function M.narrow(items, names)
  names = names or M.selection().tests
  if #names == 0 then return items, {}, {} end
  local known = {}
  for _, i in ipairs(items) do known[i] = true end
  local wanted, unknown = {}, {}
  for _, name in ipairs(names) do
    local item, test = nil, nil
    if known[name] then
      item = name
    else
      -- ITEM::TEST, the longest ITEM that is an item (a test's own name may hold `::`).
      local at = 0
      while true do
        local s = name:find("::", at + 1, true)
        if not s then break end
        if known[name:sub(1, s - 1)] then item, test = name:sub(1, s - 1), name:sub(s + 2) end
        at = s
      end
    end
    if not item then
      unknown[#unknown + 1] = name
    elseif not test then
      wanted[item] = true
    elseif wanted[item] ~= true then
      wanted[item] = wanted[item] or {}
      table.insert(wanted[item], test)
    end
  end
  local kept = {}
  for _, i in ipairs(items) do
    if wanted[i] then kept[#kept + 1] = i end
  end
  return kept, wanted, unknown
end

-- `s` as a regular expression that matches it literally (JavaScript's and Go's syntax).
function M.regex_escape(s)
  return (s:gsub("[%^%$%.%|%?%*%+%(%)%[%]%{%}\\]", "\\%0"))
end

local native = require("ptest.presets.native")

-- A regular file's text (its first 4 MiB), or nil: never waits on a FIFO (io.open would).
M.read = native.read

-- Whether anything is at `path` (not opened: a FIFO there would block).
M.exists = native.exists

-- A file this preset made itself (a command's stderr): all of it.
local function read_own(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- At most `lines` lines (the last ones: a tool's error comes at the end) and about `bytes`
-- bytes of a command's output, trailing space dropped.
function M.tail(text, lines, bytes)
  lines, bytes = lines or 40, bytes or 4000
  text = (text or ""):gsub("%s+$", "")
  local all = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do all[#all + 1] = l end
  local first = math.max(1, #all - lines + 1)
  local size = 0
  for i = #all, first, -1 do
    size = size + #all[i] + 1
    if size > bytes and i < #all then
      first = i + 1
      break
    end
  end
  local kept = { table.unpack(all, first) }
  if first > 1 then
    local left = first - 1
    local s = left == 1 and "" or "s"
    table.insert(kept, 1, ("(%d line%s before these left out)"):format(left, s))
  end
  if #kept == 1 and #kept[1] > bytes then kept[1] = "..." .. kept[1]:sub(-bytes) end
  return table.concat(kept, "\n")
end

-- Runs `cmd` (a list: the program and its arguments; or a string: a shell command line) while
-- the config is read, in `opts.dir` when given. Returns its output (stdout and stderr together;
-- with `opts.stderr = "apart"` stdout, then stderr as a second value), or nil, a message and
-- the output so far. The message names the command (`opts.shown`, else the command itself),
-- says how it ended and shows what it printed (stderr alone when apart, passed through
-- `opts.tidy` when given, and cut to its last `opts.lines` lines, about `opts.bytes` bytes),
-- and when sh could not find the program (exit code 127), `opts.missing`, a hint:
-- "go list ./x failed (exit code 1):\n...".
function M.run(cmd, opts)
  opts = opts or {}
  local line, shown
  if type(cmd) == "table" then
    local parts, plain = {}, {}
    for i, a in ipairs(cmd) do
      parts[i] = M.quote(a)
      plain[i] = parts[i]
    end
    line, shown = table.concat(parts, " "), table.concat(plain, " ")
  else
    line, shown = cmd, cmd
  end
  shown = opts.shown or shown
  if line:match("^%s*$") then line = ":" end
  if opts.dir then line = "cd " .. M.quote(opts.dir) .. " && " .. line end
  local errfile
  if opts.stderr == "apart" then
    errfile = os.tmpname()
    line = "{ " .. line .. "\n} 2>" .. M.quote(errfile)
  else
    line = "{ " .. line .. "\n} 2>&1"
  end
  local f, why = io.popen(line, "r")
  if not f then
    if errfile then os.remove(errfile) end
    return nil, ("%s could not be started: %s"):format(shown, tostring(why))
  end
  local out = f:read("a") or ""
  local ok, how, code = f:close()
  local err
  if errfile then
    err = read_own(errfile) or ""
    os.remove(errfile)
  end
  if ok then return out, err end
  local ended = (how == "signal" and "signal " or "exit code ") .. tostring(code)
  local said = errfile and err or out
  if errfile and said:match("^%s*$") then said = out end
  if opts.tidy then said = opts.tidy(said) end
  said = M.tail(said, opts.lines, opts.bytes)
  if said == "" then said = "(it printed nothing)" end
  -- sh's "not found": say how to point the preset at the program.
  if how == "exit" and code == 127 and opts.missing then said = said .. "\n" .. opts.missing end
  return nil, ("%s failed (%s):\n%s"):format(shown, ended, said), out, err
end

return M
