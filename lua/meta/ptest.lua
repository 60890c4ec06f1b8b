---@meta ptest
-- Type definitions of ptest's Lua API for the Lua language server (LuaLS): completion, field
-- docs and type checks while editing ptest.lua. `ptest init` writes this file into .ptest/lua/
-- and a .luarc.json that points at it; `ptest init --editor` writes them again (after an
-- upgrade of ptest). ptest itself never reads this file.

---A duration: a number of seconds, or a string like "250ms", "30s", "5m", "1h30m".
---@alias ptest.Duration number|string

---A worker count: a number, "auto" (the logical CPUs), or a function of the machine.
---@alias ptest.Workers integer|"auto"|fun(sys: ptest.Sys): integer

---A suite, by its handle or its name.
---@alias ptest.SuiteRef ptest.Suite|ptest.Batch|string
---A group, by its handle or its name.
---@alias ptest.GroupRef ptest.Group|string
---A phase, by its handle or its name.
---@alias ptest.PhaseRef ptest.Phase|string
---A limiter, by its handle or its name.
---@alias ptest.LimiterRef ptest.Limiter|string
---A service, by its handle or its name.
---@alias ptest.ServiceRef ptest.Service|string

---@alias ptest.Status "passed"|"failed"|"flaky"|"timed_out"|"skipped"|"cancelled"

---@alias ptest.Ci "github"|"gitlab"|"circleci"|"buildkite"|"jenkins"|"azure"|"generic"

---The table given to `ptest.config`. Each call sets only the fields it names.
---@class ptest.ConfigTable
---@field workers? ptest.Workers Worker count (default "auto": the logical CPUs). `-j` and PTEST_WORKERS override it.
---@field log_dir? string Where logs and test-report.json go, relative to this file's folder (default "test-logs").
---@field fail_fast? boolean Stop at the first failure: cancel running suites, skip the rest (default false).
---@field timeout? ptest.Duration Default timeout of each attempt of every suite (default 300 s).
---@field grace? ptest.Duration Time between SIGTERM and SIGKILL when a suite is stopped (default 5 s).
---@field memory? string Memory budget of running suites together, like "6GB" (default: the machine's available memory at the start).
---@field hook_timeout? ptest.Duration Time budget of each hook or `when` call at run time; past it the call is abandoned with a warning (default 5 s).

---The table given to `ptest.suite`: one command, run as one process in its own process group.
---@class ptest.SuiteTable
---@field name string Unique name of the suite (required).
---@field cmd string|string[] A string run by `sh -c`, or an array run directly (required). `{worker}`, `{suite}`, `{attempt}`, `{tmpdir}`, `{run_id}` are replaced.
---@field description? string Free text, shown in reports.
---@field category? string Free text for grouping in reports and `-c` (default "default").
---@field tags? string[] Labels for `-t`.
---@field cwd? string Folder the command runs in, relative to this file's folder.
---@field env? table<string, string> Environment variables added for the command (placeholders replaced).
---@field timeout? ptest.Duration Timeout of each attempt (default: the config's, 300 s).
---@field depends_on? ptest.SuiteRef|ptest.SuiteRef[] Suites that must end passed or flaky first, in this phase or an earlier one.
---@field needs? ptest.ServiceRef|ptest.ServiceRef[] Services that must be ready before it starts; they start when the first suite that needs them is about to start.
---@field group? ptest.GroupRef The group whose `max` caps how many of its suites run at once.
---@field phase? ptest.PhaseRef The phase the suite belongs to (default: the implicit phase "default").
---@field limiter? ptest.LimiterRef A limiter that must grant a token before each start.
---@field retry? ptest.Retry|string|integer A retry policy, or a number of extra attempts on any failure except a timeout.
---@field slots? integer Worker slots the suite holds while it runs (default 1).
---@field serial? boolean Run alone: nothing else runs at the same time (default false).
---@field estimate? ptest.Duration Expected duration, used to order starts before history exists.
---@field memory? string Memory it needs while it runs, like "2GB", or "auto" (its peak in history plus a fifth); it starts only while running suites fit the budget.
---@field enabled? boolean false lists the suite as skipped with reason "disabled" (default true).
---@field select? boolean true: its command hands `ptest.select` (-k, --test, -- ARGS) to its tool, so it runs the tests they select; without it, a run with -k or --test leaves the suite out (default false).

---The table given to `ptest.batch`: many items (test files, packages) run by one command
---template, split by ptest into a few suites NAME[1], NAME[2], ... balanced by history.
---Every suite field applies to each of its suites.
---@class ptest.BatchTable
---@field name string Unique name; its suites are "NAME[1]", "NAME[2]", ... (required).
---@field items string[] The items, like ptest.glob("tests/test_*.py") (required).
---@field cmd string|string[] The command template; "{items}" stands for the items (one argument per item in an array, shell-quoted in a string) (required).
---@field batches? integer|"auto" How many suites to split the items into (default "auto": balanced over the workers).
---@field results? string The JUnit XML file the command writes, like "{tmpdir}/junit.xml"; ptest reads each item's outcome from it.
---@field list? string|string[] A command that prints the ids of the tests of the items at its "{items}", one a line, as ptest names tests (`ptest list --tests`).
---@field slice? string How the command runs one slice of an item, with {item}, {slice} and {slices}, like "{item}::ptest-slice-{slice}-of-{slices}"; an item longer than a worker's share then runs in slices.
---@field test? string How the command runs one test of an item, with {item} and {test} (the test's id below its item, as reports name it after "ITEM::"), like "{item}::{test}"; --rerun-failed then runs only the tests that failed.
---@field warm? string|string[]|false A command started once while the batch's parts run (two or more), which they reach through PTEST_WARM (the pytest preset's zygote).
---@field skip_test? string How the command leaves one test of an item out, with {item} and {test}, like "{item}::ptest-skip::{test}" (an argument after the item's own); after a test_timeout, the hung test's item then runs again without it.
---@field test_timeout? ptest.Duration A test running longer stops its part: that test ends timed out, and the part's items that had not finished run again (needs a part that tells its tests as they run: the presets do).
---@field test_slow? ptest.Duration A test running longer gets one SLOW line naming it (default 60 s).
---@field description? string Free text, shown in reports.
---@field category? string Free text for grouping in reports and `-c` (default "default").
---@field tags? string[] Labels for `-t`.
---@field cwd? string Folder the command runs in, relative to this file's folder.
---@field env? table<string, string> Environment variables added for the command (placeholders replaced).
---@field timeout? ptest.Duration Timeout of each attempt (default: the config's, 300 s).
---@field depends_on? ptest.SuiteRef|ptest.SuiteRef[] Suites that must end passed or flaky first, in this phase or an earlier one.
---@field needs? ptest.ServiceRef|ptest.ServiceRef[] Services that must be ready before it starts; they start when the first suite that needs them is about to start.
---@field group? ptest.GroupRef The group whose `max` caps how many of its suites run at once.
---@field phase? ptest.PhaseRef The phase the suite belongs to (default: the implicit phase "default").
---@field limiter? ptest.LimiterRef A limiter that must grant a token before each start.
---@field retry? ptest.Retry|string|integer A retry policy, or a number of extra attempts on any failure except a timeout.
---@field slots? integer Worker slots the suite holds while it runs (default 1).
---@field serial? boolean Run alone: nothing else runs at the same time (default false).
---@field estimate? ptest.Duration Expected duration, used to order starts before history exists.
---@field memory? string Memory it needs while it runs, like "2GB", or "auto" (its peak in history plus a fifth); it starts only while running suites fit the budget.
---@field enabled? boolean false lists the suite as skipped with reason "disabled" (default true).
---@field select? boolean true: its command hands `ptest.select` (-k, --test, -- ARGS) to its tool, so it runs the tests they select; without it, a run with -k or --test leaves the suite out (default false).

---The table given to `ptest.service`: a long-running process (a database, a server) started for
---the suites that need it, checked for readiness, and stopped once no suite left needs it.
---In `cmd`, `env`, `own_env` and `ready`, `{port}` and `{port:NAME}` are free TCP ports chosen
---for each instance; `{worker}`, `{tmpdir}`, `{run_id}` are replaced as in a suite.
---@class ptest.ServiceTable
---@field name string Unique name of the service (required); its log is LOG_DIR/NAME.log (NAME@WORKER.log per worker).
---@field cmd string|string[] The command, run in the foreground in its own process group (required).
---@field description? string Free text, shown by `ptest list`.
---@field cwd? string Folder it runs in, relative to this file's folder.
---@field env? table<string, string> Variables given to the suites that need it, and to the service itself.
---@field own_env? table<string, string> Variables given to the service's process only.
---@field ready? ptest.ReadyTable When it counts as ready (default: as soon as it has started).
---@field ready_timeout? ptest.Duration How long it may take to become ready (default "60s").
---@field scope? "run"|"worker" One instance for the run ("run", the default) or one per worker ("worker").
---@field grace? ptest.Duration Time between SIGTERM and SIGKILL when it is stopped (default: the config's grace).

---When a service counts as ready: exactly one check, tried until it passes or `ready_timeout`.
---@class ptest.ReadyTable
---@field tcp? string|integer "HOST:PORT" (or a port on 127.0.0.1) accepts a TCP connection.
---@field http? string "http://HOST:PORT/PATH" answers a GET with a 2xx status.
---@field cmd? string|string[] This command exits 0 (it sees the service's environment).
---@field log? string This text appears in the service's output.
---@field interval? ptest.Duration Time between two checks (default: 1 ms rising to 100 ms; 100 ms for `cmd`).

---The table given to `ptest.group`: a named set of suites with a concurrency cap.
---@class ptest.GroupTable
---@field name string Unique name of the group (required).
---@field max? integer How many of its suites may run at once (default 1).
---@field env? table<string, string> Environment merged under each member's `env`.

---The table given to `ptest.phase`: an ordered barrier between sets of suites.
---@class ptest.PhaseTable
---@field name string Unique name of the phase (required).
---@field enabled? boolean false skips every suite of the phase (default true).
---@field workers? ptest.Workers Worker count inside this phase.
---@field on_failure? "stop"|"continue" After a failure in this phase: skip later phases ("stop", the default) or go on.
---@field always? boolean Run even after an earlier failure, fail-fast or Ctrl-C (for teardown).

---The table given to `ptest.limiter`: a token bucket shared by every worker.
---@class ptest.LimiterTable
---@field name string Unique name of the limiter (required).
---@field rate number Tokens granted per `per` (required).
---@field per? ptest.Duration The period of `rate` (default "1s").
---@field burst? integer Tokens that may be taken at once (default 1).
---@field concurrency? integer At most this many suites hold the limiter at once.
---@field adaptive? boolean Halve the rate on each reported HTTP 429 and climb back slowly (default false).
---@field max_throttled? integer After this many reported 429s, its suites run one at a time.

---Which failures a retry policy retries.
---@class ptest.RetryOnTable
---@field exit_codes? integer[] Retry when the exit code is one of these.
---@field output? string[] Retry when the attempt's output contains one of these (plain text).
---@field timeout? boolean Also retry timeouts (default false).

---The table given to `ptest.retry`: when and how a failed suite is tried again.
---@class ptest.RetryTable
---@field name? string A name, so suites can write `retry = "name"`.
---@field attempts? integer Total attempts, including the first (default 3).
---@field delay? ptest.Duration Wait before the second attempt (default "1s").
---@field factor? number Each later wait is this many times longer (default 2).
---@field max_delay? ptest.Duration The longest wait (default "60s").
---@field jitter? boolean Wait a random time up to the computed one (default false).
---@field on? ptest.RetryOnTable Retry only these failures (default: every failure but a timeout).
---@field when? fun(r: ptest.Result): boolean Retry when this returns true (instead of `on`).

---What a suite handle shows: the fields it was declared with, defaults filled in.
---@class ptest.Suite: ptest.SuiteTable
---What a batch handle shows.
---@class ptest.Batch: ptest.BatchTable
---What a group handle shows.
---@class ptest.Group: ptest.GroupTable
---What a phase handle shows (`workers` as resolved on this machine).
---@class ptest.Phase: ptest.PhaseTable
---What a limiter handle shows (`per` in seconds).
---@class ptest.Limiter: ptest.LimiterTable
---What a retry policy handle shows (durations in seconds).
---@class ptest.Retry: ptest.RetryTable
---What a service handle shows (durations in seconds).
---@class ptest.Service: ptest.ServiceTable

---The machine ptest runs on.
---@class ptest.Sys
---@field cpus integer CPUs this process may use: its affinity, capped by its cgroup's CPU quota rounded up.
---@field cpu_quota? number The cgroup's CPU quota in CPUs (1.5 for 150 ms per 100 ms), or nil.
---@field physical_cores integer Physical cores, at most `cpus`.
---@field mem_total_mb integer Total memory, in MB (the cgroup's limit when lower).
---@field mem_available_mb integer Available memory, in MB (the room under the cgroup's limit when less).
---@field mem_limit_mb? integer The cgroup's memory limit, in MB, or nil.
---@field load1 number Load average over the last minute.
---@field ci? ptest.Ci The CI system, or nil off CI.
---@field container boolean true inside Docker, Podman or Kubernetes.
---@field os string "linux", "macos", ...
---@field arch string "x86_64", "aarch64", ...

---An attempt's result, given to `when` predicates and `suite_finished` hooks.
---@class ptest.Result
---@field name string The suite's name.
---@field status ptest.Status|"running" The attempt's status (`when` predicates see a failed attempt).
---@field exit_code? integer The exit code, nil when killed by a signal or not started.
---@field signal? integer The signal that ended the process, if any.
---@field attempt integer This attempt's number, from 1.
---@field duration number Seconds.
---@field log_file? string The suite's log file.
---@field output string The last 64 KiB of this attempt's output.
---@field error_message? string Why it failed, in words (`suite_finished` only).
---@field skip_reason? string Why it was skipped (`suite_finished` only).
---@field start_time? number Unix time of the first start (`suite_finished` only).
---@field end_time? number Unix time of the end (`suite_finished` only).

---Given to `suite_started` hooks.
---@class ptest.Started
---@field name string
---@field attempt integer
---@field worker integer Its first worker slot (PTEST_WORKER).
---@field category string
---@field phase string
---@field group? string

---Given to `run_started` hooks.
---@class ptest.RunPlan
---@field run_id string
---@field workers integer
---@field fail_fast boolean
---@field log_dir string
---@field suites string[] Every suite's name, in declaration order.
---@field phases string[] Every phase's name, in run order.

---Given to `run_finished` hooks.
---@class ptest.Summary
---@field total integer
---@field passed integer
---@field failed integer
---@field skipped integer
---@field flaky integer
---@field timed_out integer
---@field cancelled integer
---@field duration number Wall time, in seconds.
---@field sequential_time number The sum of the suites' durations, in seconds.
---@field speedup number sequential_time / duration.
---@field interrupted boolean
---@field exit_code integer The exit code ptest will end with.

---The `ptest` table: a global, and also `require("ptest")`.
---@class ptest
ptest = {}

---Set run-wide settings; may be called more than once (later fields win).
---@param t ptest.ConfigTable
function ptest.config(t) end

---Declare a suite: one command, run as one process.
---@param t ptest.SuiteTable
---@return ptest.Suite
function ptest.suite(t) end

---Declare a batch: items split into a few suites by one command template.
---@param t ptest.BatchTable
---@return ptest.Batch
function ptest.batch(t) end

---Declare a group; with a body, suites declared inside it belong to the group.
---@param t ptest.GroupTable|ptest.GroupRef
---@param body? fun()
---@return ptest.Group
function ptest.group(t, body) end

---Declare a phase; with a body, suites declared inside it belong to the phase.
---@param t ptest.PhaseTable|ptest.PhaseRef
---@param body? fun()
---@return ptest.Phase
function ptest.phase(t, body) end

---Declare a rate limiter shared by all workers (and by `ptest acquire` inside suites).
---@param t ptest.LimiterTable
---@return ptest.Limiter
function ptest.limiter(t) end

---Declare a retry policy.
---@param t ptest.RetryTable
---@return ptest.Retry
function ptest.retry(t) end

---Declare a service: a process started for the suites that `need` it.
---@param t ptest.ServiceTable
---@return ptest.Service
function ptest.service(t) end

---Register a hook. A hook that raises an error is a warning; it does not stop the run.
---@overload fun(event: "run_started", fn: fun(plan: ptest.RunPlan))
---@overload fun(event: "suite_started", fn: fun(suite: ptest.Started))
---@overload fun(event: "suite_finished", fn: fun(result: ptest.Result))
---@overload fun(event: "run_finished", fn: fun(summary: ptest.Summary))
---@param event "run_started"|"suite_started"|"suite_finished"|"run_finished"
---@param fn function
function ptest.on(event, fn) end

---Paths matching a pattern ("tests/**/test_*.py"), sorted, relative to this file's folder.
---@param pattern string
---@return string[]
function ptest.glob(pattern) end

---The machine ptest runs on.
---@type ptest.Sys
ptest.sys = {}

---The folder of this ptest.lua, absolute (io.open and io.popen start from where ptest was started).
---@type string
ptest.config_dir = ""

---The `--profile` given on the command line, else nil.
---@type string?
ptest.profile = nil

---Variables from `--set KEY=VALUE`.
---@type table<string, string>
ptest.vars = {}

---`-k EXPR`, `--test NAME` and `-- ARGS` of the command line, for suites declared with
---`select = true` (the presets' batches) to hand to their tools in their own terms.
---@class ptest.Select
---@field filter string? The `-k` expression, else nil.
---@field tests string[] The `--test` names: test ids as ptest reports them, or a file, package or binary for all of its tests.
---@field args string[] The arguments after `--`, for every batch's tool.

---What the command line selects of the tests.
---@type ptest.Select
ptest.select = { tests = {}, args = {} }

---ptest's version, like "0.1.0".
---@type string
ptest.version = ""

return ptest
