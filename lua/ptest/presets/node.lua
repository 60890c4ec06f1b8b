-- ptest.presets.node: a JavaScript project's test files as one ptest.batch, with per-test
-- results, for node's own test runner, jest or vitest.
--
--   require("ptest.presets.node").batch { name = "js", runner = "node" }  -- or "jest", "vitest"
--
-- Items are test files, relative to the folder the runner works in (the batch's `cwd`, default
-- the config's folder):
--   node    the files `node --test` finds by itself (its default patterns, node_modules left
--           out), run as `node --test --test-concurrency=1 ... FILES` with the spec reporter in
--           the log and node's junit reporter into {tmpdir}/node-junit.xml (node 20.10 or later);
--   jest    the files `jest --listTests` names (the project's own jest config decides), run as
--           `jest --runTestsByPath --maxWorkers=1 ... -- FILES` with jest-junit writing
--           {tmpdir}/jest-junit.xml (jest-junit must be installed in the project);
--   vitest  the files `vitest list --filesOnly` names, run as `vitest run --no-file-parallelism
--           ... FILES` with vitest's junit reporter writing {tmpdir}/vitest-junit.xml.
-- ptest reads that file: failures by test, retries of only the failed files, history per file.
-- Each part runs through `ptest jstest`, which hands the runner its files and, for the tests
-- `--rerun-failed` or `--test` names of them (FILE::NAME, by `test`), the runner's name pattern.

local ptest = require("ptest")
local util = require("ptest.presets.util")
local M = {}

-- Fields of node.batch besides ptest.batch's own.
local OWN = {
  name = true, runner = true, args = true, node = true, bin = true, files = true, env = true,
  typescript = true,
}

local list, exists = util.list, util.exists

-- The basenames node's runner takes as tests outside a `test` folder: test, test-*, and
-- *.test, *-test, *_test; with a .js, .cjs or .mjs extension (or .ts, .cts, .mts when node
-- strips types).
local function node_test_name(name, ts)
  local base, ext = name:match("^(.+)%.([cm]?[jt]s)$")
  if not base or (ext:sub(-2) == "ts" and not ts) then return false end
  return base == "test" or base:match("^test%-.") ~= nil or base:match(".[%.%-_]test$") ~= nil
end

-- Whether this node runs TypeScript test files by default (type stripping is on by default
-- from node 22.18 and 23.6, and its test runner then takes .ts files too).
local function strips_types(node)
  local out = util.run({ node, "--version" }) or ""
  local major, minor = out:match("^v(%d+)%.(%d+)")
  major, minor = tonumber(major) or 0, tonumber(minor) or 0
  return major >= 24 or (major == 23 and minor >= 6) or (major == 22 and minor >= 18)
end

-- The files `node --test` runs when given none, under `dir` (relative to the config's folder,
-- or absolute): every .js/.cjs/.mjs file inside a folder named `test`, and the names above
-- elsewhere; node_modules (and .git) is never entered, symlinked folders are not followed
-- (`find`, so a large tree is walked quickly). Paths are relative to `dir`. TypeScript files
-- count when `typescript` is true, or (nil) when `node` strips types by default.
function M.discover_node(dir, typescript, node)
  local root = util.folder(dir)
  local argv = { "find", ".", "(", "-name", "node_modules", "-o", "-name", ".git", ")", "-prune",
                 "-o", "-type", "f", "(" }
  for i, ext in ipairs({ "js", "cjs", "mjs", "ts", "cts", "mts" }) do
    if i > 1 then argv[#argv + 1] = "-o" end
    argv[#argv + 1] = "-name"
    argv[#argv + 1] = "*." .. ext
  end
  for _, a in ipairs({ ")", "-print" }) do argv[#argv + 1] = a end
  -- A folder it may not enter makes find fail: what it found still counts.
  local text, _, partial = util.run(argv, { dir = root, stderr = "apart" })
  text = text or partial or ""
  local out = {}
  local ts = typescript
  for line in text:gmatch("[^\n]+") do
    local rel = line:gsub("^%./", "")
    local name = rel:match("([^/]+)$")
    if name:match("%.[cm]?ts$") and ts == nil then ts = strips_types(node or "node") end
    local in_test = ("/" .. rel):match("/test/") ~= nil
    local script = name:match("%.[cm]?js$") or (ts and name:match("%.[cm]?ts$") and not name:match("%.d%.[cm]?ts$"))
    if script and (in_test or node_test_name(name, ts)) then out[#out + 1] = rel end
  end
  table.sort(out)
  return out
end

-- The folder the runner works in: the batch's `cwd`, else the config's folder.
local function folder(opts) return util.folder(opts.cwd) end

-- The runner's command, a new list each time (the caller appends to it; `bin` stays as given).
local function tool(opts, name)
  if opts.bin then return { table.unpack(list(opts.bin)) } end
  local local_bin = "node_modules/.bin/" .. name
  if exists(folder(opts) .. "/" .. local_bin) then return { local_bin } end
  return { name }
end

-- Runs a listing command in `dir`; returns its output (after a first line with the folder's
-- physical path: jest prints paths with symlinks resolved), or nil and why.
local function capture(argv, dir)
  local text, err = util.run(argv, {
    dir = dir,
    missing = "(is it installed? `bin = { \"npx\", \"" .. argv[1]:match("[^/]*$")
      .. "\" }` in node.batch names the program)",
  })
  if not text then return nil, err end
  return (util.run({ "pwd", "-P" }, { dir = dir }) or "\n"):gsub("\n*$", "\n", 1) .. text
end

-- The lines of a tool's listing that are files under `dir`, relative to it.
local function files_in(text, dir)
  local root = dir:gsub("/+$", "") .. "/"
  local physical = (text:match("^([^\n]*)\n") or ""):gsub("/+$", "") .. "/"
  local out = {}
  for line in text:gmatch("[^\n]+") do
    line = line:gsub("%s+$", "")
    local rel = line
    for _, prefix in ipairs({ root, physical }) do
      if rel:sub(1, #prefix) == prefix then rel = rel:sub(#prefix + 1) end
    end
    if not rel:find("^/") and exists(root .. rel) then out[#out + 1] = rel end
  end
  table.sort(out)
  return out
end

-- The test files the runner would run (see the top of this file); nil and why on failure.
function M.discover(opts)
  opts = opts or {}
  local runner = opts.runner or "node"
  if runner == "node" then return M.discover_node(opts.cwd, opts.typescript, opts.node) end
  local argv = tool(opts, runner)
  if runner == "jest" then
    argv[#argv + 1] = "--listTests"
  else
    for _, a in ipairs({ "list", "--filesOnly", "--passWithNoTests" }) do argv[#argv + 1] = a end
  end
  local text, err = capture(argv, folder(opts))
  if not text then return nil, err end
  return files_in(text, folder(opts))
end

-- Each test told to the run as it ends (`test OUTCOME SUITE<TAB>NAME` on PTEST_SOCKET, named as
-- its testcase is: FILE::NAME, FILE relative to the folder), for the live view, --events and a
-- failure printed at once: a failure at once, the rest gathered for at most a fifth of a
-- second. A test still running a fifth of a second after it started (`began`) is told as
-- started (`test started`), for the run's per-test SLOW and test_timeout. Outside a run (no
-- socket) it says nothing.
-- Nothing told is dropped on the way: lines wait until the connection is up; a connection that
-- fails (at the first connect, or later) is made again, up to 10 times over 6.5 s, and the lines
-- the run had not answered are sent again; before the part ends it waits for the run's answers
-- (at most 8 s, 2 s beyond the reconnections), and what is still unsent when the process exits
-- is written then. When the channel cannot be had it says so: on stderr (the part's log) and
-- in {tmpdir}/ptest-live-lost, which the run turns into a warning.
-- (No "?", "#" or "%" here: node's reporter is a data: URL.)
local LIVE_CORE = "let c=null,joined=false,b=[],q=[],w=[],t=null,tries=0,lost=false,why='',ended=false,waiters=[];"
  .. "const p=process.env.PTEST_SOCKET,u=process.env.PTEST_SUITE,on=!!(p&&u),"
  .. "WAITS=[50,100,200,400,800,1000,1000,1000,1000,1000];"
  .. "const idle=()=>lost||(!b.length&&!q.length&&!w.length);"
  .. "const check=()=>{if(idle())for(const r of waiters.splice(0))r()};"
  .. "const giveup=()=>{if(lost)return;lost=true;joined=false;c=null;b=[];q=[];w=[];"
  .. "const m='ptest: live channel lost ('+why+'): its tests are not told as they run; per-test SLOW and test_timeout are not enforced for this part\\n';"
  .. "try{process.stderr.write(m)}catch(e){}const d=process.env.PTEST_TMPDIR;"
  .. "if(d)try{appendFileSync(d+'/ptest-live-lost',why+'\\n')}catch(e){}check()};"
  .. "const pump=()=>{if(!joined||!c||!q.length)return;const d=q.join('');w=w.concat(q);q=[];c.write(d)};"
  .. "const open=()=>{const k=connect(p);c=k;"
  .. "k.on('connect',()=>{if(c!==k)return;joined=true;tries=0;pump()});"
  .. "k.on('data',d=>{for(const x of d)if(x===10)w.shift();check()});"
  .. "k.on('error',e=>{why=String(e.code||e.message||e)});"
  .. "k.on('close',()=>{if(c!==k)return;joined=false;c=null;q=w.concat(q);w=[];"
  .. "if(ended&&!q.length){check();return}"
  .. "if(!why)why='the run closed the connection';"
  .. "if(tries>=WAITS.length){giveup();return}"
  .. "const x=setTimeout(open,WAITS[tries++]);if(x.unref)x.unref()})};"
  .. "if(on){open();process.on('exit',()=>{send();if(q.length&&!lost){why=why||'the part ended before it could tell them';"
  .. "if(joined&&c&&c._handle&&c._handle.fd>=0)try{writeSync(c._handle.fd,q.join(''));q=[]}catch(e){}if(q.length)giveup()}})}"
  .. "const send=()=>{if(t){clearTimeout(t);t=null}if(b.length){q=q.concat(b);b=[];pump()}};"
  .. "const run=new Map(),key=(f,name)=>relative(process.cwd(),f)+'::'+name;"
  .. "const quiet=k=>{const x=run.get(k);if(x)clearTimeout(x);run.delete(k)};"
  .. "const said=(o,f,name)=>{if(!on||lost)return;const k=key(f,name);if(o!=='started')quiet(k);"
  .. "b.push('test '+o+' '+u+'\\t'+k.replace(/[\\r\\n]/g,' ')+'\\n');"
  .. "if(o==='failed'||o==='started')send();else if(!t)t=setTimeout(send,200)};"
  .. "const began=(f,name)=>{if(!on||lost)return;const k=key(f,name);if(run.has(k))return;"
  .. "const x=setTimeout(()=>{run.set(k,0);said('started',f,name)},200);if(x.unref)x.unref();run.set(k,x)};"
  .. "const done=async()=>{send();if(!on)return;await new Promise(r=>{const x=setTimeout(()=>{"
  .. "if(!idle()){why=why||'the run did not answer';giveup()}r()},8000);"
  .. "waiters.push(()=>{clearTimeout(x);r()});check()});ended=true;if(c)c.end()};"
-- jest's and vitest's reporters are files: a part writes the reporter into its own {tmpdir}
-- (from PTEST_LIVE_REPORTER) and then runs the tool, through sh.
local JEST_LIVE = "const{connect}=require('node:net'),{relative}=require('node:path'),"
  .. "{appendFileSync,writeSync}=require('node:fs');" .. LIVE_CORE
  .. "module.exports=class{onTestCaseStart(test,i){began(test.path,i.fullName)}onTestCaseResult(test,r){let o='skipped';if(r.status==='passed')o='passed';"
  .. "else if(r.status==='failed')o='failed';said(o,test.path,r.fullName)}"
  .. "async onRunComplete(){await done()}getLastError(){}};"
local VITEST_LIVE = "import{connect}from'node:net';import{relative}from'node:path';"
  .. "import{appendFileSync,writeSync}from'node:fs';" .. LIVE_CORE
  .. "export default class{onTestCaseReady(tc){began(tc.module.moduleId,tc.fullName)}onTestCaseResult(tc){const st=tc.result().state;let o='skipped';"
  -- A run of a file without some of its tests (after a test_timeout): those the name pattern
  -- left out are reported skipped, and they ran (or hung) before; not told (unless told as
  -- started: then as ended).
  .. "const k=key(tc.module.moduleId,tc.fullName);"
  .. "if(st==='skipped'&&process.env.PTEST_LIVE_QUIET_SKIPPED&&run.get(k)!==0){quiet(k);return}"
  .. "if(st==='passed')o='passed';else if(st==='failed')o='failed';said(o,tc.module.moduleId,tc.fullName)}"
  .. "async onTestRunEnd(){await done()}};"
local WRITE_THEN_RUN = 'printf "%s" "$PTEST_LIVE_REPORTER" > "$1" && shift && exec "$@"'

-- node's junit reporter names every testcase's classname "test"; this one (a data: URL, so
-- nothing is written into the project; with no "?", "#" or "%", which a URL would cut at) puts
-- the test's file there, relative to the folder, and tells the run each test as it ends (one
-- reporter for both: a third one makes node warn of too many listeners).
local NODE_REPORTER = "data:text/javascript,"
  .. "import{junit}from'node:test/reporters';import{relative}from'node:path';"
  .. "import{connect}from'node:net';import{appendFileSync,writeSync}from'node:fs';" .. LIVE_CORE
  .. "const up=[];const live=e=>{const d=e.data;if(!d||!d.file||d.name===d.file)return;"
  -- A test starts when node dequeues it (its test:start comes as it ends); a test with tests
  -- inside (a describe) is not one that runs long, its innermost running one is.
  .. "if(e.type==='test:dequeue'){if(d.nesting>0&&up[d.nesting-1]!==undefined)quiet(key(d.file,up[d.nesting-1]));"
  .. "up[d.nesting]=d.name;began(d.file,d.name);return}"
  .. "if(e.type!=='test:pass'&&e.type!=='test:fail')return;"
  .. "if(d.details&&d.details.type==='suite'){quiet(key(d.file,d.name));return}"
  .. "let o='passed';if(e.type==='test:fail')o='failed';else if(d.skip||d.todo)o='skipped';"
  .. "said(o,d.file,d.name)};"
  .. "export default async function*(s){yield*junit((async function*(){for await(const e of s){"
  .. "if(e.data&&e.data.file&&e.data.classname==null)e.data.classname=relative(process.cwd(),e.data.file);"
  .. "live(e);yield e}await done()})())}"

local has = util.has

-- Declares the batch; returns its handle.
function M.batch(opts)
  opts = opts or {}
  local runner = opts.runner or "node"
  if runner ~= "node" and runner ~= "jest" and runner ~= "vitest" then
    error(("node.batch: runner: expected \"node\", \"jest\" or \"vitest\", got %q"):format(tostring(runner)), 2)
  end
  if runner == "jest" and not opts.bin then
    -- Without it every part fails the same way; say so once, now. jest resolves it as node
    -- does: a node_modules in the folder or any folder above.
    local dir, found = folder(opts), false
    while dir and not found do
      found = exists(dir .. "/node_modules/jest-junit/package.json")
      dir = dir:match("^(.*)/[^/]+$")
    end
    if not found then
      error("node.batch: runner \"jest\" reads its results from jest-junit, which is not installed "
        .. "here (npm install --save-dev jest-junit)", 2)
    end
  end
  local files = opts.files
  if not files then
    local found, err = M.discover(opts)
    if not found then error("node.batch: " .. err, 2) end
    files = found
  end
  -- `ptest --test FILE::NAME` narrows the files, and ptest hands a part the tests named of
  -- them as `FILE::NAME` (by `test`), which `ptest jstest` makes the runner's name pattern
  -- (node's own name, jest's and vitest's full name: describe blocks and the test's, by
  -- spaces; vitest's results write them joined by " > "), as `--rerun-failed`'s. `-k EXPR` is
  -- that pattern. The runners take one pattern for every file, so whole files and tests of
  -- files cannot be named in one run, nor tests with `-k`. vitest's listing takes the names
  -- as one pattern.
  local sel = util.selection()
  local pattern = sel.filter
  local listed = pattern
  if #sel.tests > 0 then
    local kept, wanted = util.narrow(files, sel.tests)
    files = kept
    local names, whole = {}, false
    for _, f in ipairs(kept) do
      if wanted[f] == true then
        whole = true
      else
        for _, t in ipairs(wanted[f]) do
          t = runner == "vitest" and t:gsub(" > ", " ") or t
          names[#names + 1] = util.regex_escape(t)
        end
      end
    end
    if whole and #names > 0 then
      error("node.batch: --test: name either whole files or tests in them, not both in one run "
        .. "(the runner's name pattern is one for every file)", 2)
    end
    if #names == 0 then names = nil end
    if names and pattern then
      error("node.batch: -k and --test with tests in them cannot both be the runner's name pattern", 2)
    end
    if names then listed = "^(" .. table.concat(names, "|") .. ")$" end
  end
  local args = {}
  for _, a in ipairs(list(opts.args) or {}) do args[#args + 1] = a end
  if pattern then
    args[#args + 1] = runner == "node" and "--test-name-pattern=" .. pattern or "--testNamePattern=" .. pattern
  end
  for _, a in ipairs(sel.args) do args[#args + 1] = a end
  local env, cmd, results, live = {}, nil, nil, nil
  if runner == "node" then
    results = "{tmpdir}/node-junit.xml"
    cmd = { "ptest", "jstest", "node", "--", opts.node or "node", "--test" }
    -- ptest runs the parts side by side: each runs its files one at a time unless told.
    if not has(args, "--test-concurrency") then cmd[#cmd + 1] = "--test-concurrency=1" end
    for _, a in ipairs({ "--test-reporter=spec", "--test-reporter-destination=stdout",
                         "--test-reporter=" .. NODE_REPORTER,
                         "--test-reporter-destination=" .. results }) do
      cmd[#cmd + 1] = a
    end
  elseif runner == "jest" then
    results = "{tmpdir}/jest-junit.xml"
    live = JEST_LIVE
    cmd = { "sh", "-c", WRITE_THEN_RUN, "ptest-live", "{tmpdir}/ptest-live.cjs" }
    for _, a in ipairs({ "ptest", "jstest", "jest", "--" }) do cmd[#cmd + 1] = a end
    for _, a in ipairs(tool(opts, "jest")) do cmd[#cmd + 1] = a end
    for _, a in ipairs({ "--runTestsByPath", "--reporters=default", "--reporters=jest-junit",
                         "--reporters={tmpdir}/ptest-live.cjs" }) do
      cmd[#cmd + 1] = a
    end
    if not has(args, "--maxWorkers") and not has(args, "-w") and not has(args, "--runInBand")
       and not has(args, "-i") then
      cmd[#cmd + 1] = "--maxWorkers=1"
    end
    env = { JEST_JUNIT_OUTPUT_FILE = results, JEST_JUNIT_ADD_FILE_ATTRIBUTE = "true",
            JEST_JUNIT_REPORT_TEST_SUITE_ERRORS = "true" }
  else
    results = "{tmpdir}/vitest-junit.xml"
    live = VITEST_LIVE
    cmd = { "sh", "-c", WRITE_THEN_RUN, "ptest-live", "{tmpdir}/ptest-live.mjs" }
    for _, a in ipairs({ "ptest", "jstest", "vitest", "--" }) do cmd[#cmd + 1] = a end
    for _, a in ipairs(tool(opts, "vitest")) do cmd[#cmd + 1] = a end
    for _, a in ipairs({ "run", "--reporter=default", "--reporter=junit",
                         "--outputFile.junit=" .. results, "--reporter={tmpdir}/ptest-live.mjs" }) do
      cmd[#cmd + 1] = a
    end
    if not has(args, "--maxWorkers") and not has(args, "--fileParallelism")
       and not has(args, "--no-file-parallelism") then
      cmd[#cmd + 1] = "--no-file-parallelism"
    end
  end
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  -- jest's --reporters takes every word after it: the files come after "--".
  if runner == "jest" then cmd[#cmd + 1] = "--" end
  -- `ptest jstest` hands the files to the runner, and the tests named of them
  -- (`--rerun-failed`: FILE::NAME, by the batch's `test`) as its name pattern.
  cmd[#cmd + 1] = "::ptest::"
  cmd[#cmd + 1] = "{items}"
  local t = {
    name = opts.name or runner, items = files, cmd = cmd, results = results,
    -- A part runs many files; ptest's default of five minutes is for one command.
    timeout = "1h",
    category = runner,
    select = true,
    test = "{item}::{test}",
  }
  -- After a test_timeout the hung test's file runs again without it and the tests that had
  -- ended: `ptest jstest` runs that file apart with a name pattern that matches every full name
  -- but those. Not with node's runner: node 20 matches the pattern against each test's own
  -- name and runs every subtest of one that matches, and the file's root test (`<root>`) and
  -- its describe blocks match such a pattern, so nothing would be left out (node 20.20); and a
  -- node test's name here is its own, without its describe blocks, so one name can stand for
  -- several tests. A warning says that the rest of the file does not run again.
  if runner ~= "node" then t.skip_test = "{item}::ptest-skip::{test}" end
  -- `ptest list --tests`: vitest lists them (`FILE > describe > name`, ptest's `FILE::describe >
  -- name`); jest and node's runner cannot without running them.
  if runner == "vitest" then
    local listing = {}
    for _, a in ipairs(tool(opts, "vitest")) do listing[#listing + 1] = util.quote(a) end
    listing[#listing + 1] = "list"
    if listed then listing[#listing + 1] = util.quote("--testNamePattern=" .. listed) end
    t.list = "{ " .. table.concat(listing, " ") .. " {items} || echo @ptest-failed; } | awk "
      .. util.quote("/^@ptest-failed$/ { bad = 1; next } { sub(/ > /, \"::\"); print } "
        .. "END { exit bad }")
  end
  util.copy_options(t, opts, OWN)
  if live then env.PTEST_LIVE_REPORTER = live end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  t.env = env
  return ptest.batch(t)
end

return M
