-- ptest.presets.cargo: a Rust workspace's tests, each test binary a batch of its tests.
--
--   require("ptest.presets.cargo").batch { name = "rust", args = { "--workspace" } }
--
-- Builds the test binaries once while the config is evaluated (`cargo test --no-run
-- --message-format=json`; a build failure is a config error showing cargo's output), lists each
-- binary's tests (`--list --format terse`) and declares a batch per binary, NAME/TARGET, whose
-- parts run `BINARY --exact TEST...` in the package's folder. Doc tests are one suite, NAME/doc.

local ptest = require("ptest")
local M = {}

local OWN = { name = true, args = true, dir = true, doc = true, cargo = true }

local function q(s)
  if s:match("^[%w%-_./=:,+@%%]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function run(cmd)
  local err = os.tmpname()
  local f = assert(io.popen(cmd .. " 2>" .. q(err), "r"))
  local out = f:read("a")
  local ok, _, code = f:close()
  local ef = io.open(err, "r")
  local errtext = ef and ef:read("a") or ""
  if ef then ef:close() end
  os.remove(err)
  return ok, out, errtext, code
end

local function tail(text, n)
  local lines = {}
  for l in text:gmatch("[^\n]*") do lines[#lines + 1] = l end
  local from = math.max(1, #lines - n)
  return table.concat(lines, "\n", from)
end

function M.batch(opts)
  opts = opts or {}
  local name = opts.name or "cargo"
  local dir = opts.dir or ptest.config_dir
  local cargo = opts.cargo or "cargo"
  local args = {}
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = q(a) end
  local extra = table.concat(args, " ")
  local ok, out, err, code = run("cd " .. q(dir) .. " && " .. q(cargo)
    .. " test --no-run --message-format=json-render-diagnostics " .. extra)
  if not ok then
    error("cargo preset: `cargo test --no-run " .. extra .. "` failed (exit " .. tostring(code)
      .. "):\n" .. tail(err, 40), 2)
  end
  local handles, has_lib = {}, false
  for line in out:gmatch("[^\n]+") do
    if line:find('"reason":"compiler-artifact"', 1, true) then
      local exe = line:match('"executable":"([^"]+)"')
      -- The profile's `test`, not the target's (a library is built for tests and for others).
      local is_test = line:find('"profile":{[^}]*"test":true') ~= nil
      local target = line:match('"target":{.-"name":"([^"]+)"')
      local manifest = line:match('"manifest_path":"([^"]+)"')
      if line:find('"doctest":true', 1, true) then has_lib = true end
      if exe and is_test and target then
        local pkg_dir = manifest and manifest:match("^(.*)/[^/]+$") or dir
        local _, list = run(q(exe) .. " --list --format terse")
        local tests = {}
        for t in list:gmatch("([^\n]-): test\n") do tests[#tests + 1] = t end
        local kind = line:match('"kind":%["([^"]+)"') or "test"
        local batch_name = name .. "/" .. target
        if kind == "lib" or kind == "bin" then batch_name = batch_name .. "(" .. kind .. ")" end
        local t = {
          name = batch_name, items = tests, cmd = { exe, "--exact", "{items}" },
          cwd = pkg_dir, category = "cargo", timeout = "1h",
          env = { CARGO_MANIFEST_DIR = pkg_dir },
        }
        for k, v in pairs(opts) do if not OWN[k] then t[k] = v end end
        handles[#handles + 1] = ptest.batch(t)
      end
    end
  end
  if has_lib and opts.doc ~= false then
    local cmd = { cargo, "test", "--doc" }
    for _, a in ipairs(opts.args or {}) do cmd[#cmd + 1] = a end
    local t = { name = name .. "/doc", cmd = cmd, cwd = dir, category = "cargo", timeout = "1h" }
    for k, v in pairs(opts) do if not OWN[k] and k ~= "batches" and k ~= "results" then t[k] = v end end
    handles[#handles + 1] = ptest.suite(t)
  end
  return handles
end

return M
