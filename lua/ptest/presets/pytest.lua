-- ptest.presets.pytest: a project's pytest files as one ptest.batch, with per-test results.
--
--   local pytest = require("ptest.presets.pytest")
--   pytest.batch { name = "unit", args = { "-q" }, serial_marker = "serial" }
--
-- Items are the test files pytest would collect: under `paths` (default: `testpaths` from
-- pytest's settings file when that is in the config's folder, else the config's folder; the
-- settings file is the one pytest reads, here or in the nearest folder above), matching
-- `python_files` (default "test_*.py *_test.py"; with `--doctest-modules` every module),
-- skipping hidden folders, virtualenvs and `norecursedirs` below each path; and "(other
-- files)", whatever else pytest collects there. Each part runs pytest on the same paths as a
-- plain run, through RUN below, leaving out the other parts' files:
--   PYTHON -c RUN walk -o junit_family=xunit1 --junitxml={tmpdir}/ptest-junit.xml ARGS...
--     ::ptest:: PATHS... ::ptest:: FILES... ::ptest:: ITEMS...
-- and ptest reads that file: per-test results, retries of only the failed files, history per file.
-- A file that takes longer than a worker's share of the batch (by history) runs in slices, each
-- in its own part: `FILE::ptest-slice-K-of-N` runs the K-th of N contiguous runs of its whole
-- classes and functions; a slice whose tests fail runs the file whole for their outcome.
-- `slice = false` keeps every file whole. `--rerun-failed` runs only the tests that failed, and
-- `--test` the named ones: `FILE::TEST` (`tests/test_x.py::TestC::test_y[1]`; a class stands
-- for its tests, a function for its parameters) runs those tests of FILE, in pytest's order, the
-- rest deselected; for `--rerun-failed` a file none of whose named tests pytest collects runs
-- whole, for `--test` a name pytest does not collect is its usage error, "not found".

local ptest = require("ptest")
local util = require("ptest.presets.util")
local M = {}

-- Fields of pytest.batch besides ptest.batch's own.
local OWN = {
  paths = true, python = true, args = true, serial_marker = true, files = true, name = true,
  python_files = true, env = true, slice = true, warm = true,
}

-- How a part runs one slice of a file (RUN below reads it): an item that takes longer than a
-- worker's share of the batch runs in slices, in parts of their own, once history says so.
local SLICE = "{item}::ptest-slice-{slice}-of-{slices}"
-- How a part runs one test of a file (`--rerun-failed`), by its id below the file.
local TEST = "{item}::{test}"
-- How a part runs a file without one of its tests (after a `test_timeout`: the test that hung,
-- and those that had run), by its id below the file.
local SKIP_TEST = "{item}::ptest-skip::{test}"

-- The item that stands for whatever pytest collects beyond the files ptest found, and what
-- separates the parts of RUN's arguments.
M.REST = "(other files)"
local MARK = "::ptest::"

-- The warm start: the process a warm batch's parts are forks of (its zygote), started by ptest
-- while the batch's parts run (PYTHON -c ZYGOTE PATTERNS... ::ptest:: ARGS... ::ptest:: PATHS...).
-- It listens on PTEST_WARM, imports pytest, then the plugins of installed distributions (pytest11
-- entry points) through pytest's assertion rewriting hook with their modules marked, as pytest
-- does, then what the conftest files under PATHS import first (their leading import
-- statements), leaving out what pytest marks for rewriting only later (`-p` and `pytest_plugins`
-- modules, `register_assert_rewrite` names, modules named like test files) and never importing
-- a conftest or test file itself, so that each part still collects its own tests. Then what a
-- plain run imports later, where importing it first cannot change what it does (a conftest's
-- imports after its inert statements, the test files' imports, what plugins import in their
-- hooks); one of those that warns, starts a thread or must not be forked is left to each part,
-- and the zygote starts again without it (again()). It refuses (exit code 3, its reason in PTEST_WARM.off) when a
-- fork would differ from a fresh process: a thread running after the imports, a warning raised
-- by them, a module with `__ptest_fork_safe__ = False`, grpc, macOS. Each part that asks gets a
-- fork running RUN in a session of its own (as a fresh part), with the part's arguments,
-- folder, environment and standard streams, and fresh random seeds; a fork whose tests fail (any exit code but 0, 2 and 5) runs the part again
-- as a fresh process, whose outcome counts.
local ZYGOTE = [==[
import os, sys, time
T0 = time.monotonic()
import socket, signal, select, struct, marshal, fnmatch, ast, warnings, threading, importlib, re
MARK = "::ptest::"
at = [i for i, a in enumerate(sys.argv) if a == MARK][:2]
PATTERNS, ARGS, PATHS = sys.argv[1:at[0]], sys.argv[at[0] + 1:at[1]], sys.argv[at[1] + 1:]
PATH = os.environ["PTEST_WARM"]
SKIP_DIRS = {"__pycache__", "node_modules", "venv", "build", "dist", "CVS", "_darcs"}
# The modules this process leaves to each part (see again()), and its listening socket when
# it started again without them.
LEAVE = [m for m in os.environ.pop("PTEST_WARM_LEAVE", "").split(",") if m]
FD = os.environ.pop("PTEST_WARM_FD", "")
if FD:
    srv = socket.socket(fileno=int(FD))
    os.set_inheritable(srv.fileno(), False)
else:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Bound under another name and renamed once it listens: a part finds no socket (and waits
    # for it) or one that takes its connection, never one that refuses it.
    srv.bind(PATH + ".new")
    srv.listen(128)
    os.rename(PATH + ".new", PATH)
def say(msg):
    print("ptest: " + msg, flush=True)
def refuse(why):
    # Parts waiting for a fork, and those that come later, start fresh; ptest says why once.
    say("warm start off: " + why)
    with open(PATH + ".off.tmp", "w") as f:
        f.write(why + "\n")
    os.rename(PATH + ".off.tmp", PATH + ".off")
    srv.close()
    sys.stdout.flush()
    os._exit(3)
if sys.platform == "darwin":
    refuse("on macOS a fork after imports is not safe (system frameworks refuse it)")
if sys.version_info < (3, 10):
    refuse("Python %d.%d: a part needs sys.orig_argv (3.10) to be forked" % sys.version_info[:2])
def plugin_modules():
    # What pytest marks for assertion rewriting before it imports them: the top-level modules of
    # every distribution with a pytest11 entry point, and `-p` plugins. Imported here first,
    # pytest would warn that it cannot rewrite them; so each part imports them itself.
    names = set()
    try:
        from importlib import metadata
        for dist in metadata.distributions():
            eps = [ep for ep in dist.entry_points if ep.group == "pytest11"]
            if not eps:
                continue
            for ep in eps:
                names.add(ep.value.split(":")[0].split(".")[0].strip())
            for f in dist.files or []:
                top = f.parts[0] if f.parts else ""
                if len(f.parts) == 1 and top.endswith(".py"):
                    names.add(top[:-3])
                elif len(f.parts) > 1 and not top.endswith((".dist-info", ".egg-info", ".data")):
                    names.add(top)
    except Exception:
        pass
    return names | p_plugins()
def p_plugins():
    names = set()
    for i, a in enumerate(ARGS):
        p = ARGS[i + 1] if a == "-p" and i + 1 < len(ARGS) else a[2:] if a.startswith("-p") and len(a) > 2 else None
        if p and not p.startswith("no:"):
            names.add(p.split(".")[0])
    return names
ROOTWARD = set()  # the conftest files at or above every path: each part loads them all
def conftests():
    here, out = os.getcwd(), []
    for i, p in enumerate(PATHS or ["."]):
        p = os.path.abspath(p)
        if not os.path.isdir(p):
            p = os.path.dirname(p)
        d, mine = p, set()
        while True:
            out.append(os.path.join(d, "conftest.py"))
            mine.add(out[-1])
            if d == here or not d.startswith(here + os.sep):
                break
            d = os.path.dirname(d)
        if i == 0:
            ROOTWARD.update(mine)
        else:
            ROOTWARD.intersection_update(mine)
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x not in SKIP_DIRS
                             and not x.endswith(".egg")
                             and not os.path.exists(os.path.join(root, x, "pyvenv.cfg")))
            if "conftest.py" in files:
                out.append(os.path.join(root, "conftest.py"))
    seen = set()
    return [f for f in sorted(out, key=lambda f: (f.count(os.sep), f))
            if os.path.isfile(f) and not (f in seen or seen.add(f))]
# Names whose use at a module's top level may change what a later import does: the process's
# environment, sys (its path, its flags), the import machinery, warnings' filters, matplotlib's
# backend, numpy's error state, random seeds, the locale.
STATEFUL = {"os", "sys", "importlib", "builtins", "site", "warnings", "matplotlib", "mpl", "plt",
            "pylab", "setattr", "delattr", "exec", "eval", "__import__", "globals", "locals",
            "vars", "environ", "putenv", "chdir", "use", "seterr", "set_printoptions", "seed",
            "setlocale", "locale", "random", "path", "meta_path", "modules"}
def calm(node, loose):
    # An expression that changes nothing a later import sees. Strict: it calls nothing but
    # pytest's own (`@pytest.fixture(autouse=True)`, `pytest.mark.skipif(...)`). Loose: it
    # calls what it likes, but names none of STATEFUL.
    for n in ast.walk(node):
        if loose:
            if isinstance(n, ast.Name) and n.id in STATEFUL or isinstance(n, ast.Attribute) and n.attr in STATEFUL:
                return False
        elif isinstance(n, ast.Call):
            f = n.func
            while isinstance(f, ast.Attribute):
                f = f.value
            if not (isinstance(f, ast.Name) and f.id == "pytest"):
                return False
    return True
def named(t):
    if isinstance(t, ast.Name):
        return True
    if isinstance(t, (ast.Tuple, ast.List)):
        return all(map(named, t.elts))
    return isinstance(t, ast.Starred) and named(t.value)
def inert(st, loose):
    # A top-level statement that binds only the module's own names and changes nothing a later
    # import sees (imports are the caller's): a function (decorators, defaults), a class of
    # such statements, an assignment to names, an `if` of such statements (as networkx's
    # `if not has_numpy: collect_ignore += needs_numpy`), a try block's handlers (they run only
    # when its imports failed), a docstring; loose (calm): a call for its effect too.
    if isinstance(st, ast.Pass):
        return True
    if isinstance(st, ast.Expr):
        return isinstance(st.value, ast.Constant) or loose and calm(st.value, loose)
    if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = st.args
        parts = st.decorator_list + a.defaults + [d for d in a.kw_defaults if d is not None]
        parts += [x.annotation for x in a.posonlyargs + a.args + a.kwonlyargs if x.annotation]
        return all(calm(p, loose) for p in parts + ([st.returns] if st.returns else []))
    if isinstance(st, ast.ClassDef):
        return (all(calm(p, loose) for p in st.decorator_list + st.bases + [k.value for k in st.keywords])
                and all(inert(s, loose) for s in st.body))
    if isinstance(st, ast.Assign):
        return all(map(named, st.targets)) and calm(st.value, loose)
    if isinstance(st, (ast.AugAssign, ast.AnnAssign)):
        return (named(st.target) and (st.value is None or calm(st.value, loose))
                and (not isinstance(st, ast.AnnAssign) or calm(st.annotation, loose)))
    if isinstance(st, ast.If):
        return calm(st.test, loose) and all(inert(s, loose) for s in st.body + st.orelse)
    if isinstance(st, ast.Try):
        return all(isinstance(s, (ast.Import, ast.ImportFrom)) or inert(s, loose) for s in st.body) \
            and all(inert(s, loose) for s in st.orelse + st.finalbody)
    return False
def imported(st):
    # The modules an import statement imports by absolute name.
    if isinstance(st, ast.Import):
        return [a.name for a in st.names]
    if isinstance(st, ast.ImportFrom) and not st.level and st.module:
        return [st.module]
    return []
def scan(body, loose, mods):
    # The imports of statements (a try block's body included) up to the first that is not
    # inert, into `mods`: whether every statement was.
    for st in body:
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            mods.extend(imported(st))
        elif isinstance(st, ast.Try):
            if not (scan(st.body, loose, mods) and all(inert(s, loose) for s in st.orelse + st.finalbody)):
                return False
        elif not inert(st, loose):
            return False
    return True
def parsed(path, head=False):
    # A file's syntax tree; `head`: only up to its first top-level def, class or decorator (a
    # test file's imports come first), the whole file when that part does not parse alone.
    try:
        with open(path, "rb") as f:
            text = f.read()
        if head:
            m = re.search(rb"^(?:def |class |async def |@)", text, re.M)
            if m:
                try:
                    return ast.parse(text[:m.start()], path)
                except SyntaxError:
                    pass
        return ast.parse(text, path)
    except Exception:
        return None
def conftest_imports(path, skip):
    # What a conftest file imports, in three lists: its leading imports (before any other
    # statement: what it does first may change what they do; a try block's leading imports
    # count); the imports after them up to the first statement that is not inert (strict:
    # networkx's conftest imports numpy and sympy in try blocks after its hooks and fixtures);
    # and whether every statement of it is inert (loose) or a leading one, so that test files'
    # imports may come before its statements run (TEST_IMPORTS). Also the modules it names as
    # plugins or for rewriting, into `skip`. In a conftest file every part loads (ROOTWARD), a
    # constant set on `sys` among the leading imports (`sys._running_pytest = True`, as sympy's
    # does before it imports sympy) is set here too, in its place ("sys", NAME, VALUE), so that
    # the imports after it are imported here.
    tree = parsed(path)
    if tree is None:
        return [], [], False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name == "register_assert_rewrite":
                skip.update(a.value.split(".")[0] for a in node.args
                            if isinstance(a, ast.Constant) and isinstance(a.value, str))
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytest_plugins"
                                                  for t in node.targets):
            for c in ast.walk(node.value):
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    skip.add(c.value.split(".")[0])
    mods, body = [], tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    bound = set()
    def take(st):
        if isinstance(st, ast.Import):
            mods.extend(a.name for a in st.names)
            bound.update(a.name for a in st.names if a.name == "sys" and not a.asname)
        elif isinstance(st, ast.ImportFrom):
            mods.extend(imported(st))
        elif (path in ROOTWARD and isinstance(st, ast.Assign) and len(st.targets) == 1
              and isinstance(st.targets[0], ast.Attribute)
              and isinstance(st.targets[0].value, ast.Name) and st.targets[0].value.id in bound
              and isinstance(st.value, ast.Constant)):
            try:
                hash(st.value.value)
            except TypeError:
                return False
            mods.append(("sys", st.targets[0].attr, st.value.value))
        else:
            return False
        return True
    rest = []
    for i, st in enumerate(body):
        if isinstance(st, ast.Try):
            # The imports a try block starts with come next (sympy's conftest imports hypothesis
            # in one, then sets its profile); what follows them in the block ends the leading
            # ones.
            lead = 0
            while lead < len(st.body) and isinstance(st.body[lead], (ast.Import, ast.ImportFrom)):
                take(st.body[lead])
                lead += 1
            if lead < len(st.body) or st.orelse or st.finalbody:
                rest = st.body[lead:] + st.orelse + st.finalbody + body[i + 1:]
                break
        elif not take(st):
            rest = body[i:]
            break
    later = []
    scan(rest, False, later)
    whole = scan(rest, True, [])
    return mods, later, whole
def testlike(name):
    return any(fnmatch.fnmatch(part + ".py", p) for part in name.split(".") for p in PATTERNS)
def import_plugins():
    # As pytest starts: its assertion rewriting hook in place, the modules of every
    # distribution with a pytest11 entry point marked for rewriting, then the plugins imported
    # through it (rewritten as in a plain run, and known to each part's pytest as such).
    # The hook leaves sys.meta_path afterwards: each part installs its own. Also what the
    # plugins import later of their own distributions' packages, in their hooks (hypothesis's
    # imports hypothesis as each session ends: 4.3 s a part of networkx's suite, rewritten
    # without byte-code files).
    from importlib import metadata
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return None, 0, []
    from _pytest.config import get_config, _iter_rewritable_modules
    import _pytest.assertion
    plain = "--assert=plain" in ARGS or any(a == "--assert" and b == "plain" for a, b in zip(ARGS, ARGS[1:]))
    hook = None
    if not plain:
        hook = _pytest.assertion.install_importhook(get_config(list(ARGS)))
    dists = [d for d in metadata.distributions()
             if any(ep.group == "pytest11" for ep in d.entry_points)]
    if hook is not None:
        hook.mark_rewrite(*_iter_rewritable_modules(str(f) for d in dists for f in (d.files or [])))
    blocked = {b[3:] for a, b in zip(ARGS, ARGS[1:]) if a == "-p" and b.startswith("no:")}
    blocked |= {a[5:] for a in ARGS if a.startswith("-pno:")}
    n, later = 0, []
    for d in dists:
        own = {f.parts[0][:-3] if f.parts[0].endswith(".py") else f.parts[0]
               for f in d.files or [] if f.parts}
        for ep in d.entry_points:
            if ep.group == "pytest11" and ep.name not in blocked and ep.module not in blocked:
                mod = importlib.import_module(ep.module)
                n += 1
                tree = parsed(getattr(mod, "__file__", None) or "")
                for node in ast.walk(tree) if tree is not None else ():
                    later.extend(m for m in imported(node) if m.split(".")[0] in own)
    return hook, n, later
def test_files():
    # The test files under PATHS (python_files), as conftests() walks; at most 5000.
    out = []
    for p in PATHS or ["."]:
        if os.path.isfile(p):
            out.append(p)
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x not in SKIP_DIRS
                             and not x.endswith(".egg")
                             and not os.path.exists(os.path.join(root, x, "pyvenv.cfg")))
            out.extend(os.path.join(root, f) for f in sorted(files)
                       if f.endswith(".py") and any(fnmatch.fnmatch(f, pat) for pat in PATTERNS))
            if len(out) >= 5000:
                return out[:5000]
    return out
def again(name, why):
    # A module a plain run imports later than this process would (after a conftest file's
    # other statements, as a test file's import, in a plugin's hook) warned at import, started
    # a thread, or must not be forked: each part imports it itself, as a plain run does, and
    # sees what it does there (its warning, under the run's filters). What it imported cannot
    # be taken back, so this process starts again without it, keeping its socket (parts
    # waiting for it keep waiting); after four such modules, without any of these imports.
    LEAVE.append(name if len(LEAVE) < 4 else "*")
    say("warm start: importing %s %s; each part imports it itself, and this process starts "
        "again without it" % (name, why))
    os.environ["PTEST_WARM_LEAVE"] = ",".join(LEAVE)
    os.set_inheritable(srv.fileno(), True)
    os.environ["PTEST_WARM_FD"] = str(srv.fileno())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable] + sys.orig_argv[1:])
def import_later(name, done, left):
    # One of those imports (again()): what it warned, the threads it started, what it imported.
    if "*" in LEAVE or name in LEAVE:
        left.append(name)
        return
    threads, modules = set(threading.enumerate()), set(sys.modules)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importlib.import_module(name)
            done.append(name)
        except BaseException:
            left.append(name)
    if caught:
        w = caught[0]
        again(name, "warned (%s: %s)" % (w.category.__name__, str(w.message).splitlines()[0][:200]
                                         if str(w.message) else ""))
    new = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    if new:
        again(name, "started a thread (%s)" % new[0].name)
    for m in set(sys.modules) - modules:
        try:
            no = vars(sys.modules[m]).get("__ptest_fork_safe__", True) is False
        except (TypeError, KeyError):
            no = False
        if no or m == "grpc" and os.environ.get("GRPC_ENABLE_FORK_SUPPORT", "").lower() not in ("1", "true"):
            again(name, "imported %s, which must not be forked" % m)
def prepare():
    import pytest
    skip = {"conftest", "pytest", "_pytest", "__future__"}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hook, plugins, plugins_later = import_plugins()
        if caught:
            w = caught[0]
            refuse("importing pytest's plugins warned (%s: %s): a fresh process shows that warning "
                   "as pytest would" % (w.category.__name__, str(w.message).splitlines()[0][:200]))
    except Exception as e:
        refuse("pytest's plugins could not be imported as pytest imports them (%s: %s)"
               % (type(e).__name__, str(e).splitlines()[0][:200] if str(e) else ""))
    # Without the hook, what pytest would rewrite is left to each part; with it, only what
    # pytest marks later than this (`-p`, `pytest_plugins`, `register_assert_rewrite`).
    skip |= plugin_modules() if hook is None else p_plugins()
    files, wanted, later, whole = conftests(), [], [], True
    for f in files:
        lead, after, all_inert = conftest_imports(f, skip)
        wanted.extend(lead)
        later.extend(after)
        whole = whole and all_inert
    done, left, assigned = [], [], []
    path = list(sys.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in dict.fromkeys(wanted):
            if isinstance(name, tuple):
                setattr(sys, name[1], name[2])
                assigned.append("sys.%s = %r" % name[1:])
                continue
            if name in sys.modules:
                continue
            if name.split(".")[0] in skip or testlike(name):
                left.append(name)
                continue
            seen = len(caught)
            try:
                importlib.import_module(name)
                done.append(name)
            except BaseException as e:
                left.append(name)
            if len(caught) > seen:
                w = caught[seen]
                refuse("importing %s warned (%s: %s): a fresh process shows that warning as "
                       "pytest would" % (name, w.category.__name__, str(w.message).splitlines()[0][:200]))
    threads = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if threads:
        refuse("a thread runs after the imports (%s): a fork would not have it"
               % ", ".join(t.name for t in threads[:3]))
    # Then what the conftest files import after their first statements that do not change what
    # an import does, and what the test files import first (TEST_IMPORTS), then what the
    # plugins import later: each as again() says.
    later_done, tests = [], 0
    def take_later(names):
        for name in dict.fromkeys(names):
            if name in sys.modules:
                continue
            if name.split(".")[0] in skip or testlike(name):
                left.append(name)
                continue
            import_later(name, later_done, left)
    take_later(later)
    if whole:
        # TEST_IMPORTS: when every conftest file's statements are inert (loose: they change
        # no environment, sys, import machinery, warnings filter...), so that importing these
        # before them changes nothing, the modules the test files import first that belong to
        # packages imported here already (found through those packages, never shadowed by a
        # test folder on sys.path), up to the first statement that is not inert.
        names = []
        for f in test_files():
            tree = parsed(f, head=True)
            if tree is None:
                continue
            tests += 1
            body = tree.body[1:] if tree.body and isinstance(tree.body[0], ast.Expr) else tree.body
            scan(body, True, names)
        take_later(n for n in names if n.split(".")[0] in sys.modules
                   and not {"tests", "test", "conftest"} & set(n.split(".")))
    take_later(plugins_later)
    sys.path[:] = path
    if hook is not None and hook in sys.meta_path:
        sys.meta_path.remove(hook)
    for name, m in list(sys.modules.items()):
        try:
            no = vars(m).get("__ptest_fork_safe__", True) is False
        except TypeError:
            no = False
        if no:
            refuse("module %s says it must not be forked (__ptest_fork_safe__ = False)" % name)
    if "grpc" in sys.modules and os.environ.get("GRPC_ENABLE_FORK_SUPPORT", "").lower() not in ("1", "true"):
        refuse("grpc is imported and cannot be forked without GRPC_ENABLE_FORK_SUPPORT")
    say("warm start: pytest, %d plugin%s and %d module%s that %d conftest file%s import, in %.2f s; "
        "each part is a fork of this process (not imported here: %s)" % (
            plugins, "" if plugins == 1 else "s",
            len(done), "" if len(done) == 1 else "s", len(files), "" if len(files) == 1 else "s",
            time.monotonic() - T0, ", ".join(left[:8]) + (", ..." if len(left) > 8 else "") or "none")
        + ("; set first, as a conftest file does: %s" % ", ".join(assigned) if assigned else "")
        + ("; and %d module%s imported later in a plain run (after a conftest file's first "
           "statements, by %d test file%s, in a plugin's hooks): %s" % (
               len(later_done), "" if len(later_done) == 1 else "s", tests,
               "" if tests == 1 else "s", ", ".join(later_done[:8])
               + (", ..." if len(later_done) > 8 else "")) if later_done else "")
        + ("; left to each part: %s" % ", ".join(LEAVE) if LEAVE else ""))
prepare()
# What is imported now is the forks' to share, never to collect: frozen, the garbage collector
# leaves it out of every collection, which in a fork would walk (and so copy) all of it. pytest
# collects twice as each part ends; measured on numpy's suite, a part's pytest session took
# 0.43 s instead of 0.79 s with it.
import gc
gc.collect()
gc.freeze()
rd, wr = os.pipe()
os.set_blocking(rd, False)
os.set_blocking(wr, False)
signal.set_wakeup_fd(wr)
signal.signal(signal.SIGCHLD, lambda *a: None)
children, conns = {}, {}
def exit_code(e):
    c = e.code
    if c is None:
        return 0
    if isinstance(c, int):
        return c
    print(c, file=sys.stderr)
    return 1
# RUN's code, and RUN_MAIN's in it, compiled once here for every fork (19 ms a part).
CODE, MAIN = {}, {}
def child(conn, req, fds, compiled):
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(rd)
        os.close(wr)
        srv.close()
        for c in conns:
            c.close()
        conn.close()
        # A session of its own, as a fresh part has (ptest starts each in one): Linux shares
        # the CPU between sessions (autogroups) before it shares it between their processes,
        # so forks left in the zygote's session would split one share between all the parts
        # running at once, and on a busy machine each would wait for the CPU.
        os.setsid()
        try:
            # Linux: the part dies with its zygote, never runs on unwatched.
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except Exception:
            pass
        for i, fd in enumerate(fds[:3]):
            os.dup2(fd, i)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = req["argv"]
        sys.orig_argv = [sys.executable, "-c", req["source"]] + req["argv"][1:]
        # What a fresh process has of its own: random seeds, the temporary folder's name.
        import random, tempfile
        random.seed()
        tempfile.tempdir = None
        if "numpy.random" in sys.modules:
            try:
                sys.modules["numpy.random"].seed()
            except Exception:
                pass
        import types
        main = types.ModuleType("__main__")
        main.__dict__["__ptest_forked__"] = os.getppid()
        main.__dict__["__ptest_asked__"] = (req["asked"], time.time())
        main.__dict__["__ptest_born__"] = req.get("born")
        main.__dict__["__ptest_main__"] = MAIN.get(req["source"])
        sys.modules["__main__"] = main
        print("ptest: warm start: this part is a fork of pid %d, %.3f s after it asked"
              % (os.getppid(), time.time() - req["asked"]), flush=True)
        try:
            exec(compiled or compile(req["source"], "<string>", "exec"), main.__dict__)
            code = 0
        except SystemExit as e:
            code = exit_code(e)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        try:
            threading._shutdown()
        except Exception:
            pass
        import atexit
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
def serve(conn):
    conn.settimeout(10)
    fds = []
    try:
        head, fds, _, _ = socket.recv_fds(conn, 8, 3)
        while len(head) < 8:
            more = conn.recv(8 - len(head))
            if not more:
                raise EOFError
            head += more
        (n,) = struct.unpack("!Q", head)
        body = b""
        while len(body) < n:
            more = conn.recv(min(1 << 20, n - len(body)))
            if not more:
                raise EOFError
            body += more
        req = marshal.loads(body)
        if len(fds) != 3:
            raise ValueError("3 descriptors expected")
    except Exception:
        for fd in fds:
            os.close(fd)
        conn.close()
        return
    compiled = CODE.get(req["source"])
    if compiled is None:
        try:
            compiled = CODE[req["source"]] = compile(req["source"], "<string>", "exec")
            for c in compiled.co_consts:
                if isinstance(c, str) and c.startswith("# ptest-main\n"):
                    MAIN[req["source"]] = compile(c, "<string>", "exec")
        except Exception:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(conn, req, fds, compiled)
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    try:
        conn.sendall(b"pid %d\n" % pid)
    except OSError:
        pass
    children[pid] = conn
    conns[conn] = pid
while True:
    try:
        ready = select.select([srv, rd] + list(conns), [], [])[0]
    except InterruptedError:
        continue
    if rd in ready:
        try:
            while os.read(rd, 512):
                pass
        except BlockingIOError:
            pass
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        conn = children.pop(pid, None)
        if conn is not None:
            conns.pop(conn, None)
            code = os.waitstatus_to_exitcode(status)
            try:
                conn.sendall(b"exit %d\n" % code if code >= 0 else b"signal %d\n" % -code)
            except OSError:
                pass
            conn.close()
    for conn in [c for c in ready if c in conns]:
        pid = conns[conn]
        try:
            data = conn.recv(256)
        except OSError:
            data = b""
        if not data:
            # The part's process is gone (ptest killed it): so is what it ran.
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            conns.pop(conn)
            children[pid] = None
            conn.close()
            continue
        for line in data.split(b"\n"):
            if line.startswith(b"kill "):
                try:
                    os.kill(pid, int(line[5:]))
                except (OSError, ValueError):
                    pass
    if srv in ready:
        try:
            conn, _ = srv.accept()
        except OSError:
            continue
        serve(conn)
]==]

-- What each part runs (PYTHON -c RUN MODE ARGS... ::ptest:: PATHS... ::ptest:: CLAIMS...
-- ::ptest:: ITEMS...): pytest, as a plain `pytest ARGS PATHS` run, on the same paths (none:
-- pytest's own `testpaths`, else its folder), with a plugin that leaves out the files the other
-- parts hold (CLAIMS: every file ptest found). The part that holds REST, "(other files)", also
-- collects whatever no part holds: files a conftest.py hook or a plugin collects, doctests in
-- other files, a file ptest's discovery missed. So every file pytest's walk reaches is
-- collected by exactly one part, with pytest's own rules (`--ignore`, `collect_ignore`,
-- `norecursedirs`, hooks) deciding what it reaches, as in a plain run. The files of a part's
-- failed tests (not slices: see below) run again in a fresh process that collects every file,
-- as the plain run does, and runs only this part's tests of them (PTEST_PYTEST_EVERY): a test
-- may rely on what another file imports when it is collected; that run's outcome counts, and a
-- testcase it changed says how it ended in the part (`ptest-confirmed`). MODE "files" (the
-- batch's `files`) runs pytest on the part's files instead, as `pytest FILES` would.
-- A slice of a file, FILE::ptest-slice-K-of-N, runs the K-th of N runs of its tests in the order
-- the file defines them, cut only between whole classes and functions (with their parameters),
-- never between tests that share a module-scoped fixture. When tests of a slice fail, the file
-- runs again whole in a fresh process that collects every file, and their outcome is the whole run's (marked
-- `ptest-sliced` when it differs, so that ptest does not slice that file again).
-- Then the JUnit file is made to name each test's file as ptest names the items (pytest writes
-- `file` relative to its rootdir, and as the file that defines the test function); the tests
-- of files no part holds go into a testsuite named REST, so that they count for that item; a
-- file of this part that pytest's walk never reached is an error testcase of its own. A part
-- that ran no test passes when pytest reached each of its files and collected it or left it out
-- by the project's rules; a part of no file that collected nothing is pytest's exit code 5.
-- A part of a warm batch (`warm`, on by default) first asks the batch's zygote (ZYGOTE below) to
-- run it in a fork; the rest of RUN then runs in that fork, or here when the part starts fresh.
-- What RUN runs once it is not a fork's asking process (a fresh part, or the fork itself), as a
-- string in RUN: Python compiles it only then (in a fork: the zygote did, once).
local MAIN_MARK = "# ptest-main\n"
local RUN_MAIN = [==[
import re, subprocess, time, pytest
if sys.path and sys.path[0] == "":
    sys.path[0] = os.getcwd()
HERE = os.getcwd()
MARK, REST = "::ptest::", "(other files)"
SLICE = re.compile(r"^(.+)::ptest-slice-([0-9]+)-of-([0-9]+)$")
SKIP = re.compile(r"^(.+?)::ptest-skip::(.+)$")
MODE, ARGV = sys.argv[1], sys.argv[2:]
# "list-MODE": print the ids of the tests pytest collects (`ptest list --tests`), run none.
LIST = MODE.startswith("list-")
MODE = MODE[5:] if LIST else MODE
at = [i for i, a in enumerate(ARGV) if a == MARK][-3:]
ARGS, PATHS = ARGV[:at[0]], ARGV[at[0] + 1:at[1]]
CLAIMS, ITEMS = ARGV[at[1] + 1:at[2]], ARGV[at[2] + 1:]
WALK, REST_HERE = MODE == "walk", REST in ITEMS
# A fresh run that confirms tests which failed in a fork: it collects every file pytest's walk
# reaches, as a plain run does (collecting a file imports it, and a test may rely on what
# another file imported), then runs only this part's tests.
EVERY = os.environ.pop("PTEST_PYTEST_EVERY", "") == "1"
OWN, SLICES, TESTS, SKIPS = {}, {}, {}, {}
GIVEN = {}  # a file's real path -> this part's items of it, as given (`FILE::TEST` and all)
def ptest_key(rest):
    # A test's id below its file, as ptest names it (`TestA.TestB::test_y[p]`) or as pytest does
    # (`TestA::TestB::test_y[p]`): alike once the classes are joined by dots.
    path, bracket, params = rest.partition("[")
    return path.replace("::", ".") + bracket + params
FORKED = "__ptest_forked__" in globals()
for a in ITEMS:
    given = a
    m, skip = SLICE.match(a), SKIP.match(a)
    if skip and not os.path.exists(a) and os.path.exists(skip.group(1)):
        # FILE::ptest-skip::TEST: FILE runs without TEST.
        a = skip.group(1)
        SKIPS.setdefault(os.path.abspath(a), set()).add(ptest_key(skip.group(2)))
    elif m and not os.path.exists(a) and 1 <= int(m.group(2)) <= int(m.group(3)):
        a = m.group(1)
        SLICES[os.path.abspath(a)] = (int(m.group(2)), int(m.group(3)))
    elif "::" in a and not os.path.exists(a) and os.path.exists(a.split("::")[0]):
        a, _, test = a.partition("::")
        # By its key, to the name as given (for messages).
        TESTS.setdefault(os.path.abspath(a), {})[ptest_key(test)] = test
    if a != REST:
        OWN[os.path.abspath(a)] = a
        GIVEN.setdefault(os.path.abspath(a), []).append(given)
CLAIMED = set(map(os.path.abspath, CLAIMS))
# Whether the files of this part's failed tests run again, in a fresh process that collects
# every file (ptest_confirm): in a fork of the warm process, and in a part that left other
# parts' files uncollected (a test may rely on what another file imports when it is collected):
# the walk's files, the `files` given, or the files of the tests `--test` named.
CONFIRM = not EVERY and not LIST and (FORKED or any(p not in OWN for p in CLAIMED))
def ptest_mangle(nodeid):
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]
def ptest_slice(items, k, n):
    # Units: a top-level class with its tests, a function with its parameters; in the order the
    # file defines them (not as collected: every slice's process must cut alike).
    units, fixtures = {}, {}
    for it in items:
        path, node, chain = getattr(it, "path", None), it, []
        while node is not None and getattr(node, "path", None) == path:
            chain.append(node)
            node = node.parent
        top = chain[-2] if len(chain) > 2 else it
        key = ("class", top.name) if top is not it else (
            "def", getattr(it, "originalname", None) or it.name)
        unit = units.get(key)
        if unit is None:
            # Where the class (not its tests: they may be inherited) or the function is
            # defined; once a unit (finding a class's line parses its whole file).
            line = getattr(getattr(top, "obj", None), "__firstlineno__", None)
            if line is None:
                try:
                    where, line, _ = top.reportinfo()
                    if os.fspath(where) != os.fspath(path):
                        line = None
                except Exception:
                    pass
            unit = units[key] = [line if isinstance(line, int) else float("inf"), []]
        unit[1].append(it)
        info = getattr(it, "_fixtureinfo", None)
        for defs in (getattr(info, "name2fixturedefs", None) or {}).values():
            if defs and getattr(defs[-1], "scope", None) == "module":
                fixtures.setdefault(id(defs[-1]), set()).add(key)
    order = sorted(units, key=lambda u: (units[u][0], u))
    at = {u: i for i, u in enumerate(order)}
    # Units that share a module-scoped fixture, and those between them, stay together.
    joined = [False] * len(order)
    for keys in fixtures.values():
        ix = [at[u] for u in keys]
        for i in range(min(ix), max(ix)):
            joined[i] = True
    blocks, block = [], []
    for i, u in enumerate(order):
        block.extend(units[u][1])
        if not joined[i]:
            blocks.append(block)
            block = []
    total, sums = sum(map(len, blocks)), [0]
    for b in blocks:
        sums.append(sums[-1] + len(b))
    cuts = [0]
    for j in range(1, n):
        want = total * j / n
        cuts.append(min(range(cuts[-1], len(blocks) + 1), key=lambda b: (abs(sums[b] - want), b)))
    cuts.append(len(blocks))
    return [it for b in blocks[cuts[k - 1]:cuts[k]] for it in b]
class PtestLive:
    # Each test's end told to the run (`test OUTCOME SUITE<TAB>NAME` on PTEST_SOCKET), for the
    # live view and --events: a failure at once, the rest gathered for at most a fifth of a
    # second (a line per test would cost a wake-up of ptest per test). A test still running a
    # fifth of a second after it started is told as started (`test started`), for the run's
    # per-test SLOW and test_timeout. A thread of its own sends what is due, so nothing waits
    # for the next test (a test that hangs included). The run's answers are read, never
    # waited for. A connect that fails, or a connection that breaks, is tried again (RECONNECT's
    # waits, 6.55 s in all) and what the run had not answered is sent again; a channel that
    # cannot be had is said, on stderr and in $PTEST_TMPDIR/ptest-live-lost (the run warns).
    GATHER = 0.2
    RECONNECT = (0.05, 0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1)
    def __init__(self):
        import threading
        self.sock, self.suite, self.told = None, os.environ.get("PTEST_SUITE", ""), set()
        # `sent`: the lines sent that the run has not answered yet.
        self.lines, self.since, self.sent = [], 0.0, b""
        # When the thread wakes next (None: when told); told only of what is due sooner.
        self.running, self.closed, self.wake_at = {}, False, None
        self.namer = lambda nodeid: nodeid
        self.cond = threading.Condition(threading.RLock())
        self.path = os.environ.get("PTEST_SOCKET")
        if self.path and self.suite:
            why = self.connect()
            if why:
                self.lost(why)
        if self.sock is not None:
            # A test's forked child says nothing (its lock may have been held at the fork).
            os.register_at_fork(after_in_child=self.forked)
            threading.Thread(target=self.tick, name="ptest-live", daemon=True).start()
    def forked(self):
        import threading
        self.sock, self.cond = None, threading.Condition(threading.RLock())
    def connect(self):
        # A connection to the run, tried again after each of RECONNECT's waits; why not.
        import socket, errno
        for wait in self.RECONNECT + (None,):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.sock = s
                return None
            except OSError as e:
                s.close()
                why = errno.errorcode.get(e.errno) or str(e)
            if wait is None:
                return why
            time.sleep(wait)
    def lost(self, why):
        # The channel cannot be had: said, and nothing more is sent.
        self.sock, self.sent = None, b""
        sys.stderr.write("ptest: live channel lost (%s): its tests are not told as they run; "
                         "per-test SLOW and test_timeout are not enforced for this part\n" % why)
        sys.stderr.flush()
        tmp = os.environ.get("PTEST_TMPDIR")
        if tmp:
            try:
                with open(os.path.join(tmp, "ptest-live-lost"), "a") as f:
                    f.write(why.replace("\n", " ") + "\n")
            except OSError:
                pass
    def line(self, what, name):
        line = ("test %s %s\t%s\n" % (what, self.suite, re.sub(r"[\r\n]", " ", name))).encode("utf-8", "replace")
        if len(line) > 4096:
            return
        if not self.lines:
            self.since = time.monotonic()
        self.lines.append(line)
    def started(self, nodeid):
        # Named (`namer`) only when told: most tests end sooner.
        if self.sock is None:
            return
        with self.cond:
            now = time.monotonic()
            self.running[nodeid] = [nodeid, now, False]
            if self.wake_at is None or now + self.GATHER < self.wake_at:
                self.cond.notify()
    def nudge(self, due):
        if self.wake_at is None or due < self.wake_at:
            self.cond.notify()
    def ended(self, nodeid, outcome, name):
        if self.sock is None or nodeid in self.told:
            return
        with self.cond:
            self.told.add(nodeid)
            self.running.pop(nodeid, None)
            self.line(outcome, name)
            now = time.monotonic()
            if outcome in ("failed", "error") or now - self.since >= self.GATHER or len(self.lines) >= 256:
                self.flush()
            if self.lines:
                self.nudge(self.since + self.GATHER)
    def tick(self):
        with self.cond:
            while self.sock is not None and not self.closed:
                now, started = time.monotonic(), False
                for r in self.running.values():
                    if not r[2] and now - r[1] >= self.GATHER:
                        r[2], started = True, True
                        self.line("started", self.namer(r[0]))
                if started or (self.lines and now - self.since >= self.GATHER):
                    self.flush()
                due = [r[1] + self.GATHER for r in self.running.values() if not r[2]]
                if self.lines:
                    due.append(self.since + self.GATHER)
                self.wake_at = min(due) if due else None
                self.cond.wait(max(0.0, self.wake_at - now) if due else None)
    def flush(self, wait=False):
        # `wait`: the part is about to end; the run takes every line before it hears so.
        with self.cond:
            if wait:
                self.closed = True
                self.cond.notify()
            if self.sock is None:
                return
            import socket
            data, self.lines = b"".join(self.lines), []
            self.sent += data
            while data:
                try:
                    self.sock.sendall(data)
                    break
                except OSError:
                    # A broken connection: a new one, and what the run had not answered sent
                    # again on it.
                    timeout = self.sock.gettimeout()
                    self.sock.close()
                    self.sock = None
                    why = self.connect()
                    if why:
                        self.lost(why)
                        return
                    self.sock.settimeout(timeout)
                    data = self.sent
            try:
                while self.sent:
                    got = self.sock.recv(65536, 0 if wait else socket.MSG_DONTWAIT)
                    if not got:
                        break
                    for _ in range(got.count(b"\n")):
                        self.sent = self.sent.partition(b"\n")[2]
            except OSError:
                # Nothing more to read now (or, at the end, within its time): the next line
                # sent finds out whether the connection still holds.
                pass
LIVE = PtestLive()
if LIVE.sock is not None:
    LIVE.sock.settimeout(None)
class PtestHandoff:
    # Which of this part's files it runs: a part that runs well past its expected time hands
    # the files it has not started yet to a part about to start (the run decides). Before pytest
    # runs any test of a unit (a file: its names in ITEMS, GIVEN; REST for what no part holds,
    # when this part holds REST), in run order, the part claims it (`claim SUITE<TAB>ITEM` on
    # PTEST_SOCKET, over a connection of its own, blocking): `ok`, it runs here; `no`, it was
    # handed on and none of its tests runs here (nor is reported, told, or counted as
    # unreached). pytest's loop takes the next item (the teardown's `nextitem`) before it runs
    # an item, so a unit is decided two items ahead: those of items 0 and 1 before the loop,
    # that of item i+2 as item i starts; a refused unit's items leave `session.items` before
    # they can be anyone's next item. Files with no test to run are claimed before the loop.
    # A connection that fails is tried once more; then every unit is this part's (said once).
    TIMEOUT = 30
    def __init__(self):
        self.path = os.environ.get("PTEST_SOCKET") or ""
        self.suite = os.environ.get("PTEST_SUITE") or ""
        # Not in a listing, nor in a run that confirms failed tests (its socket is "").
        self.on = bool(self.path and self.suite) and not LIST and not EVERY
        self.pid = os.getpid()
        self.sock, self.buf, self.said = None, b"", False
        self.session, self.active, self.pos = None, False, 0
        self.decided = {}       # unit -> whether it is this part's
        self.handed = []        # units handed on, as given
        self.handed_paths = set()
        self.rest_handed = False
    def unit(self, path):
        # A file's unit: its names as given (several for `FILE::TEST` items); REST's for a file
        # no part holds; None: a file of no claim, which runs.
        p = os.path.normpath(str(path)) if path is not None else ""
        if p in GIVEN:
            return GIVEN[p][0], GIVEN[p]
        if REST_HERE and p not in OWN:
            return REST, [REST]
        return None
    def item_unit(self, item):
        return self.unit(getattr(item, "path", None))
    def connect(self):
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.TIMEOUT)
        try:
            s.connect(self.path)
        except BaseException:
            s.close()
            raise
        self.sock, self.buf = s, b""
    def readline(self):
        while b"\n" not in self.buf:
            got = self.sock.recv(4096)
            if not got:
                raise EOFError("the run closed the connection")
            self.buf += got
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace").strip()
    def ask(self, name):
        # One claim: False when the run handed the item on; True otherwise.
        if not self.on or os.getpid() != self.pid or "\n" in name or "\r" in name:
            return True
        line = ("claim %s\t%s\n" % (self.suite, name)).encode("utf-8", "surrogateescape")
        if len(line) > 4096:
            # Longer than the run takes a line (it would drop the connection): not asked.
            return True
        why = None
        for attempt in range(2):
            try:
                if self.sock is None:
                    self.connect()
                self.sock.sendall(line)
                answer = self.readline()
                break
            except (OSError, EOFError) as e:
                import errno
                why = (errno.errorcode.get(getattr(e, "errno", None) or 0)
                       or str(e) or type(e).__name__)
                if self.sock is not None:
                    self.sock.close()
                    self.sock = None
                if attempt == 0:
                    time.sleep(0.05)
        else:
            self.on = False
            sys.stderr.write("ptest: cannot ask the run which files are this part's (%s): running "
                             "all of them\n" % why)
            sys.stderr.flush()
            return True
        if answer == "no":
            return False
        if answer != "ok" and not self.said:
            self.said = True
            sys.stderr.write("ptest: the run did not answer a claim of %s (%s): this part runs it\n"
                             % (name, answer[:200]))
            sys.stderr.flush()
        return True
    def claim(self, key, names):
        # A unit is handed on when each of its names is (a part holds a file whole).
        ok = False
        for name in names:
            ok = self.ask(name) or ok
        self.decided[key] = ok
        if not ok:
            self.handed.append(key)
            if key == REST:
                self.rest_handed = True
            else:
                self.handed_paths.update(p for p, given in GIVEN.items() if given[0] == key)
        return ok
    def decide(self, j):
        # The unit of items[j], claimed at its first appearance; a refused one's items leave
        # the list (from j: none came before), and so on until one is this part's.
        items = self.session.items
        while j < len(items):
            u = self.item_unit(items[j])
            if u is None or u[0] in self.decided or self.claim(*u):
                return
            kept = [it for it in items[j:] if (self.item_unit(it) or (None,))[0] != u[0]]
            # pytest counts its progress (and exit code 5) by the tests collected.
            self.session.testscollected -= len(items) - j - len(kept)
            items[j:] = kept
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session):
        config = session.config
        # Not when the loop runs nothing (collection errors stop it; --collect-only), nor under
        # pytest-xdist (its workers run the items).
        if (self.on and not config.option.collectonly
                and not (session.testsfailed and not config.option.continue_on_collection_errors)
                and not hasattr(config, "workerinput") and not config.pluginmanager.hasplugin("dsession")):
            self.session, self.active = session, True
            having = {u[0] for u in map(self.item_unit, session.items) if u is not None}
            for path, given in GIVEN.items():
                if given[0] not in having and given[0] not in self.decided:
                    self.claim(given[0], given)
            if REST_HERE and REST not in having and REST not in self.decided:
                self.claim(REST, [REST])
            self.decide(0)
            self.decide(1)
        yield
    # A wrapper: it runs before every plugin's own protocol (one that runs the item and returns
    # True, as pytest-forked's, would stop a plain tryfirst one).
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.active:
            items = self.session.items
            i = self.pos
            if not (i < len(items) and items[i] is item):
                i = next((k for k, it in enumerate(items) if it is item), None)
            if i is not None:
                self.pos = i + 1
                self.decide(i + 2)
        yield
    def gone(self, full):
        # Whether a file's results belong to the part it was handed to.
        full = os.path.normpath(full)
        return full in self.handed_paths or (self.rest_handed and full not in OWN)
HANDOFF = PtestHandoff()
class PtestPart:
    config = session = decided = None
    def __init__(self):
        self.cases = {}     # JUnit (classname, name) -> (node id's file, real path, a test?)
        self.paths = {}     # a file's node id -> its real path
        self.reached, self.collected, self.left_out = set(), set(), []
        self.failed = {}    # a sliced file's real path -> JUnit keys of its failed tests
        self.unconfirmed = set()  # real paths of failed tests, when CONFIRM: ptest_confirm's
    def pytest_configure(self, config):
        self.config = config
    def pytest_sessionstart(self, session):
        self.session = session
        PTEST_TIMES["session"] = time.time()
    def pytest_collection_finish(self, session):
        self.items = list(session.items)
        PTEST_TIMES["collected"] = time.time()
    def pytest_sessionfinish(self, session):
        PTEST_TIMES["finish"] = time.time()
    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path, config):
        if not WALK:
            return None
        p = str(collection_path)
        if p in OWN:
            self.reached.add(p)
            return None
        if EVERY or (p not in CLAIMED and (REST_HERE or os.path.isdir(p))):
            return None
        self.decided = p
        return True
    def pytest_collectstart(self, collector):
        path = getattr(collector, "path", None)
        if path is not None and "::" not in collector.nodeid:
            self.paths[collector.nodeid] = str(path)
            self.collected.add(str(path))
    def pytest_collectreport(self, report):
        if report.nodeid and not report.passed:
            file = report.nodeid.split("::")[0]
            path = self.paths.get(file)
            self.cases[ptest_mangle(report.nodeid)] = (file, path, False)
            if report.skipped and "::" not in report.nodeid and path and os.path.isdir(path):
                # A folder its conftest.py skips (`pytest.skip(..., allow_module_level=True)`):
                # the project's rules leave out this part's files below it, as in a plain run.
                self.left_out.append(path)
    def pytest_itemcollected(self, item):
        path = getattr(item, "path", None)
        self.cases[ptest_mangle(item.nodeid)] = (
            item.nodeid.split("::")[0], path and str(path), True)
    def pytest_runtest_logstart(self, nodeid, location):
        PTEST_TIMES.setdefault("first", time.time())
        LIVE.started(nodeid)
    def live_name(self, nodeid):
        # As the run names the test: its file as ptest names the items, then pytest's id.
        path = self.cases.get(ptest_mangle(nodeid), (None, None, None))[1]
        file, _, rest = nodeid.partition("::")
        return (ptest_spelled(path) if path else file) + "::" + rest
    def pytest_runtest_logreport(self, report):
        if report.failed:
            path = self.cases.get(ptest_mangle(report.nodeid), (None, None))[1]
            if path in SLICES:
                self.failed.setdefault(path, set()).add(ptest_mangle(report.nodeid))
            elif CONFIRM and path:
                self.unconfirmed.add(os.path.normpath(path))
        if report.when == "call":
            outcome = "failed" if report.failed else "skipped" if report.skipped else "passed"
        elif report.failed:
            outcome = "error"
        elif report.skipped:
            outcome = "skipped"
        else:
            return
        LIVE.ended(report.nodeid, outcome, self.live_name(report.nodeid))
    # First, before other plugins reorder or deselect: every slice sees the same tests.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        if EVERY:
            def ours(it):
                path = str(getattr(it, "path", ""))
                return path in OWN or (REST_HERE and path not in CLAIMED)
            dropped = [it for it in items if not ours(it)]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
                items[:] = [it for it in items if ours(it)]
        if SKIPS:
            kept = [it for it in items if "::" not in it.nodeid or ptest_key(it.nodeid.split("::", 1)[1])
                    not in SKIPS.get(str(getattr(it, "path", "")), ())]
            if len(kept) < len(items):
                config.hook.pytest_deselected(items=[it for it in items if it not in kept])
                items[:] = kept
        if TESTS:
            self.only_tests(config, items)
        if not SLICES:
            return
        mine = {}
        for it in items:
            path = str(getattr(it, "path", ""))
            if path in SLICES:
                mine.setdefault(path, []).append(it)
        keep = set()
        for path, its in mine.items():
            keep.update(map(id, ptest_slice(its, *SLICES[path])))
        kept, dropped = [], []
        for it in items:
            gone = str(getattr(it, "path", "")) in SLICES and id(it) not in keep
            (dropped if gone else kept).append(it)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    def only_tests(self, config, items):
        # The named tests of a file (a class stands for its tests, a function for its
        # parameters), in pytest's order. `--test` (MODE "tests"): a name that matches none of
        # its file's collected tests is pytest's usage error, "not found". `--rerun-failed`: a
        # file none of whose named tests is collected (renamed since) runs whole: never fewer
        # tests than were asked for.
        found, keep, matched, has_items = set(), [], set(), set()
        for it in items:
            path = str(getattr(it, "path", ""))
            if path not in TESTS:
                keep.append(True)
                continue
            has_items.add(path)
            key = ptest_key(it.nodeid.split("::", 1)[1]) if "::" in it.nodeid else None
            hits = [t for t in TESTS[path] if key is not None and ptest_below(key, t)]
            matched.update((path, t) for t in hits)
            if hits:
                found.add(path)
            keep.append(bool(hits))
        if MODE == "tests":
            missing = sorted("%s::%s" % (OWN[p], given) for p in TESTS if p in has_items
                             for t, given in TESTS[p].items() if (p, t) not in matched)
            if missing:
                raise pytest.UsageError("not found: %s (--test names a test of the file that pytest "
                                        "did not collect)" % ", ".join(missing))
        whole = [p for p in TESTS if p not in found]
        for p in whole:
            if MODE != "tests":
                print("ptest: none of the tests named of %s was collected; running it whole" % OWN[p])
        kept, dropped = [], []
        for it, k in zip(items, keep):
            (kept if k or str(getattr(it, "path", "")) in whole else dropped).append(it)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
class PtestSeen:
    # What pytest's own rules left out (folders, this part's files), to tell a file of this
    # part that pytest left out from one its walk never reached.
    def __init__(self, part):
        self.part = part
    @pytest.hookimpl(hookwrapper=True)
    def pytest_ignore_collect(self, collection_path):
        outcome = yield
        p = str(collection_path)
        if outcome.get_result() and p != self.part.decided:
            self.part.left_out.append(p)
def ptest_below(key, named):
    # Whether a test (its ptest_key) is the one named or below it: a class's tests, a nested
    # class's, a function's parameters.
    return key == named or ("[" not in named and key.startswith((named + ".", named + "[")))
def ptest_spelled(full):
    full = os.path.normpath(full)
    if full in OWN:
        return OWN[full]
    return os.path.relpath(full, HERE).replace(os.sep, "/")
def ptest_module(path):
    return re.sub(r"\.py$", "", path.replace("/", "."))
def ptest_junit(part, xml, unreached):
    import xml.etree.ElementTree as ET
    config = part.config
    root = str(getattr(config, "rootpath", None) or config.rootdir)
    try:
        tree = ET.parse(xml)
    except (OSError, ET.ParseError):
        return None
    top = tree.getroot()
    suites = [top] if top.tag == "testsuite" else list(top.iter("testsuite"))
    rest = None
    for suite in suites:
        for case in list(suite.findall("testcase")):
            file, cls = case.get("file"), case.get("classname") or ""
            known, full, test = part.cases.get((cls, case.get("name") or ""), (None, None, False))
            # A file outside the rootdir has no path in its node id: where it is defined, then.
            if not full:
                if not file:
                    continue
                known, full = file, os.path.join(root, file)
            if HANDOFF.gone(full):
                # A file handed on to another part (its collection's report is that part's).
                suite.remove(case)
                continue
            if (WALK and not REST_HERE and not test and os.path.normpath(full) not in OWN
                    and case.find("skipped") is not None):
                # A folder skipped at collection (its conftest.py skips it): every part walks
                # it, and the part that holds REST reports it, once, as a plain run does.
                suite.remove(case)
                continue
            new, old = ptest_spelled(full), ptest_module(known)
            if cls == old or cls.startswith(old + "."):
                cls = ptest_module(new) + cls[len(old):]
            elif test and not cls:
                cls = ptest_module(new)
            case.set("file", new)
            case.set("classname", cls)
            if known != file and "line" in case.attrib:
                del case.attrib["line"]
            if REST_HERE and os.path.normpath(full) not in OWN and top.tag == "testsuites":
                if rest is None:
                    rest = ET.SubElement(top, "testsuite", {"name": REST, "time": "0"})
                suite.remove(case)
                rest.append(case)
                took = float(case.get("time") or 0)
                rest.set("time", "%.3f" % (float(rest.get("time")) + took))
                suite.set("time", "%.3f" % max(0.0, float(suite.get("time") or 0) - took))
    for item in unreached:
        case = ET.SubElement(suites[0], "testcase", {"classname": "", "name": item, "file": item, "time": "0"})
        ET.SubElement(case, "error", {"message": "pytest's walk never reached this file"}).text = (
            "ptest gave this file to this part, and pytest's walk over the paths it was given "
            "(%s) never reached it, nor left out a folder above it: a plain run with these "
            "arguments does not collect it either. `paths` names the folders pytest walks, "
            "`files` the files." % (" ".join(PATHS) or "none given: its testpaths, else its folder"))
    return tree
def ptest_whole(path, slice_xml, tree):
    # The file's tests that failed in this slice, run as pytest runs them: the whole file, in a
    # fresh process that collects every file (as ptest_confirm's).
    import xml.etree.ElementTree as ET
    k, n = SLICES[path]
    item = OWN[path]
    failed = part.failed[path]
    print("ptest: %d test%s of %s failed in slice %d of %d; running the file whole, as pytest "
          "does, for their outcome" % (len(failed), "" if len(failed) == 1 else "s", item, k, n),
          flush=True)
    source = getattr(sys, "orig_argv", [None, None, None])[2]
    junit = slice_xml + ".whole.xml"
    args = ["--junitxml=" + junit if a.startswith("--junitxml=") else a for a in ARGS]
    cmd = [sys.executable, "-c", source, MODE] + args + [MARK] + PATHS + [MARK] + CLAIMS + [MARK, item]
    env = dict(os.environ, PTEST_SOCKET="", PTEST_PYTEST_EVERY="1")
    env.pop("PTEST_WARM", None)
    # Its tests were told to the run already (as the slice's).
    subprocess.run(cmd, env=env)
    try:
        whole = {(c.get("classname") or "", c.get("name") or ""): c
                 for c in ET.parse(junit).getroot().iter("testcase") if c.get("file") == item}
        os.unlink(junit)
    except (OSError, ET.ParseError):
        print("ptest: the whole run of %s wrote no results: the slice's outcome stays" % item)
        return
    changed = 0
    for suite in tree.getroot().iter("testsuite"):
        for i, case in enumerate(list(suite)):
            key = (case.get("classname") or "", case.get("name") or "")
            if case.tag != "testcase" or case.get("file") != item or key not in whole:
                continue
            was = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
            new = whole[key]
            now = next((c.tag for c in new if c.tag in ("failure", "error", "skipped")), "passed")
            if now != was:
                new.set("ptest-sliced", was)
                changed += 1
            suite.remove(case)
            suite.insert(i, new)
    still = sum(1 for c in tree.getroot().iter("testcase") if c.get("file") == item and
                any(x.tag in ("failure", "error") for x in c))
    if still:
        print("ptest: %s fails when it runs whole too (%d test%s)" % (item, still, "" if still == 1 else "s"))
    elif changed:
        print("ptest: they pass when %s runs whole: that is pytest's outcome, and ptest will not "
              "slice this file again" % item)
def ptest_confirm(paths, xml, tree):
    # The files whose tests failed run again in a fresh process that collects every file, as a
    # plain pytest run does, and runs only this part's tests of them; what it says is their
    # outcome (a testcase it changed keeps the first one in `ptest-confirmed`). A fork of the
    # warm process may differ from a fresh process, and a part collects only its own files: a
    # test may rely on what another file imports when it is collected.
    import xml.etree.ElementTree as ET
    items = [g for p in sorted(paths) for g in GIVEN.get(p, [])]
    if REST_HERE and any(p not in OWN for p in paths):
        items.append(REST)
    if not items:
        return
    n = len({OWN.get(p, REST) for p in paths if p in OWN or REST_HERE})
    them = "it" if n == 1 else "them"
    if FORKED:
        print("ptest: warm start: tests of %d file%s failed in this fork of the warm process; "
              "running %s again in a fresh process, whose outcome counts" % (n, "" if n == 1 else "s", them),
              flush=True)
    else:
        print("ptest: tests of %d file%s failed in this part, which collected only its own files; "
              "running %s again in a fresh process that collects every file, as a plain pytest run "
              "does: its outcome counts" % (n, "" if n == 1 else "s", them), flush=True)
    source = getattr(sys, "orig_argv", [None, None, None])[2]
    if source is None:
        print("ptest: no sys.orig_argv before Python 3.10 to run them again: the part's outcome stays")
        return
    junit = xml + ".fresh.xml"
    args = ["--junitxml=" + junit if a.startswith("--junitxml=") else a for a in ARGS]
    env = dict(os.environ)
    env.pop("PTEST_WARM", None)
    # Their tests were told to the run already (as the part's).
    env["PTEST_SOCKET"] = ""
    env["PTEST_PYTEST_EVERY"] = "1"
    subprocess.run([sys.executable, "-c", source, MODE] + args + [MARK] + PATHS + [MARK] + CLAIMS
                   + [MARK] + items, env=env)
    try:
        fresh = {(c.get("file") or "", c.get("classname") or "", c.get("name") or ""): c
                 for c in ET.parse(junit).getroot().iter("testcase")}
        os.unlink(junit)
    except (OSError, ET.ParseError):
        print("ptest: the fresh run wrote no results: the part's outcome stays")
        return
    changed = []
    for suite in tree.getroot().iter("testsuite"):
        for i, case in enumerate(list(suite)):
            key = (case.get("file") or "", case.get("classname") or "", case.get("name") or "")
            if case.tag != "testcase" or key not in fresh:
                continue
            was = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
            new = fresh[key]
            now = next((c.tag for c in new if c.tag in ("failure", "error", "skipped")), "passed")
            if now != was:
                new.set("ptest-confirmed", was)
                # The test's node id: its file, its classes (the classname below the file's
                # module), its name.
                module, cls = ptest_module(key[0]), key[1]
                classes = cls[len(module) + 1:].split(".") if cls.startswith(module + ".") else []
                changed.append("%s (%s, now %s)" % ("::".join([key[0]] + classes + [key[2]]), was, now))
            suite.remove(case)
            suite.insert(i, new)
    if changed and FORKED:
        print("ptest: warm start: %d test%s of them had another outcome in the fork; the fresh "
              "process's counts" % (len(changed), "" if len(changed) == 1 else "s"))
    elif changed:
        print("ptest: %d test%s of them had another outcome with every file collected, as in a "
              "plain pytest run; that outcome counts: %s" % (
                  len(changed), "" if len(changed) == 1 else "s",
                  ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")))
part = PtestPart()
LIVE.namer = part.live_name
args = ARGS + [p for p in PATHS if not os.path.isfile(p) or os.path.abspath(p) in OWN
               or (REST_HERE and os.path.abspath(p) not in CLAIMED)]
if LIST and MODE == "tests":
    # `ptest list --tests --test ID`: the node ids named (CLAIMS) in this part's files, as
    # pytest takes them (a run gets the named tests as its items, FILE::TEST).
    args += [t for t in dict.fromkeys(CLAIMS) if os.path.abspath(t.split("::")[0]) in OWN]
elif EVERY and not WALK:
    # A confirming run: every file given (`files`, or those of the tests `--test` named), as
    # a plain `pytest FILES` collects them; only this part's tests run.
    args += list(dict.fromkeys(CLAIMS))
elif not WALK:
    args += list(dict.fromkeys(OWN.values()))
if LIST:
    # stdout holds one id a line, as ptest names tests; pytest's own report only when it failed.
    import io
    out, sys.stdout = sys.stdout, io.StringIO()
    code = int(pytest.main(args + ["--collect-only", "-q"], plugins=[part, PtestSeen(part)]))
    said, sys.stdout = sys.stdout.getvalue(), out
    if code not in (0, 5):
        sys.stderr.write(said)
    for it in getattr(part, "items", []):
        path = getattr(it, "path", None)
        tail = it.nodeid.partition("::")[2]
        name = ptest_spelled(str(path)) if path is not None else it.nodeid.partition("::")[0]
        print(name + ("::" + tail if tail else ""))
    sys.exit(0 if code in (0, 5) else code)
if PATHS and len(args) == len(ARGS):
    print("ptest: none of the paths is this part's to collect")
    sys.exit(0)
code = int(pytest.main(args, plugins=[part, PtestSeen(part), HANDOFF]))
if HANDOFF.sock is not None:
    HANDOFF.sock.close()
if LIVE.sock is not None:
    LIVE.sock.settimeout(1.0)
LIVE.flush(wait=True)
unreached = []
if WALK and code in (0, 1, 5):
    unreached = [item for path, item in OWN.items()
                 if path not in part.reached and path not in part.collected and not HANDOFF.gone(path)
                 and not any(path.startswith(d + os.sep) for d in part.left_out)]
xml = part.config and getattr(part.config.option, "xmlpath", None)
# Only the file ptest reads (the first --junitxml), not one the args asked for instead.
ours = next((a[11:] for a in ARGS if a.startswith("--junitxml=")), None)
try:
    tree = None
    if xml and xml == ours:
        xml = os.path.join(HERE, xml)
        tree = ptest_junit(part, xml, unreached)
    if tree is not None and code == 1:
        for path in sorted(part.failed):
            ptest_whole(path, xml, tree)
        if part.unconfirmed:
            ptest_confirm(part.unconfirmed, xml, tree)
        failures = sum(1 for c in tree.getroot().iter("testcase")
                       if any(x.tag in ("failure", "error") for x in c))
        stopped = part.session is not None and part.session.shouldstop
        if (part.failed or part.unconfirmed) and not failures and not stopped:
            code = 0
    if tree is not None:
        tree.write(xml, encoding="utf-8", xml_declaration=True)
except Exception as e:
    why = "%s: %s" % (type(e).__name__, e)
    print("ptest: the JUnit file is as pytest wrote it (%s)" % why, file=sys.stderr)
if unreached:
    print("ptest: pytest collected nothing from %d of the %d files ptest gave this part: its walk "
          "never reached them, nor left out a folder above them (%s); a plain run with these "
          "arguments does not collect them either. `paths` names the folders pytest walks."
          % (len(unreached), len(OWN), ", ".join(unreached[:5]) + (", ..." if len(unreached) > 5 else "")))
    code = code if code not in (0, 5) else 1
elif code == 5 and HANDOFF.handed:
    print("ptest: no test ran here: this part's files with tests were handed on to another part")
    code = 0
elif code == 5 and (OWN or CLAIMED):
    print("ptest: no test ran from this part's %d files: pytest collected each of them or left it "
          "out by the project's rules, as a plain run does" % len(OWN))
    code = 0
def ptest_start_line():
    # Where this part's time outside its tests went: what ptest learns as the batch's fixed
    # cost per part is its time outside pytest's session (waiting, starting, results).
    t, now = PTEST_TIMES, time.time()
    asked, forked = PTEST_T0
    if "session" not in t:
        return
    said = ("%.2f s waiting for its warm process, %.2f s from the fork to pytest's session"
            % (forked - asked, t["session"] - forked) if forked else
            "%.2f s to pytest's session" % (t["session"] - asked))
    born = ("; its interpreter took %.2f s to start" % max(0.0, asked - PTEST_BORN)
            if PTEST_BORN else "")
    print("ptest: this part's start: %s; %.2f s collecting, first test %.2f s after it started; "
          "%.2f s after pytest's session%s" % (said, t.get("collected", t["session"]) - t["session"],
                                               t.get("first", now) - asked, now - t.get("finish", now),
                                               born),
          flush=True)
if HANDOFF.handed:
    print("ptest: handed on to another part: " + ", ".join(HANDOFF.handed), flush=True)
ptest_start_line()
sys.exit(code)
]==]

local RUN = [==[
import os, sys, time
# When this part started (in a fork: when the process ptest started asked for it, and when the
# fork began), for the line on its start at its end.
PTEST_T0 = globals().get("__ptest_asked__", (time.time(), None))
def ptest_born():
    # When the process ptest started began (Linux), for the same line.
    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))
    except Exception:
        return None
PTEST_BORN = globals()["__ptest_born__"] if "__ptest_born__" in globals() else ptest_born()
PTEST_TIMES = {}
def ptest_warm_part(path):
    # A part of a warm batch: its zygote forks a process that runs this very part, with this
    # process's arguments, folder, environment and standard streams; this one waits for it and
    # passes on stop signals. None: the part runs here, in a fresh process. Built-in modules
    # only: this process's start is part of every part's start, and socket, json and signal
    # took 37 ms more to import (and RUN_MAIN 19 ms to compile, so only a fresh part does).
    import _socket, _signal, marshal, array
    asked = time.time()
    source = getattr(sys, "orig_argv", [])[2:3]
    def cold(why):
        print("ptest: warm start off for this part (%s): it starts fresh" % why, flush=True)
    def off():
        try:
            with open(path + ".off") as f:
                return f.readline().strip() or "its zygote refused"
        except OSError:
            return "its zygote is not running"
    if not source:
        return cold("no sys.orig_argv before Python 3.10")
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    deadline = time.monotonic() + 5
    while True:
        try:
            s.connect(path)
            break
        except FileNotFoundError:
            if time.monotonic() > deadline:
                return cold("its zygote did not listen within 5 s")
            time.sleep(0.005)
        except OSError:
            return cold(off())
    env = dict(os.environ)
    env.pop("PTEST_WARM", None)
    body = marshal.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": env, "source": source[0],
                          "asked": asked, "born": PTEST_BORN})
    stopped, got = [], [b""]
    def forward(sig, frame):
        stopped.append(sig)
        try:
            s.sendall(b"kill %d\n" % sig)
        except OSError:
            pass
    def readline():
        while b"\n" not in got[0]:
            more = s.recv(256)
            if not more:
                line, got[0] = got[0], b""
                return line
            got[0] += more
        line, _, got[0] = got[0].partition(b"\n")
        return line + b"\n"
    try:
        s.sendmsg([len(body).to_bytes(8, "big")],
                  [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
        s.sendall(body)
        line = readline()
        if not line.startswith(b"pid "):
            return cold(off())
        for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT):
            _signal.signal(sig, forward)
        line = readline()
    except OSError:
        line = b""
    if line.startswith(b"exit "):
        return int(line[5:])
    if line.startswith(b"signal "):
        sig = int(line[7:])
        _signal.signal(sig, _signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig
    if stopped:
        return 128 + stopped[0]
    print("ptest: warm start: its zygote ended while this part ran in a fork of it; the part "
          "runs again here, in a fresh process", flush=True)
    return None
if os.environ.get("PTEST_WARM") and "__ptest_forked__" not in globals():
    ptest_code = ptest_warm_part(os.environ["PTEST_WARM"])
    if ptest_code is not None:
        sys.exit(ptest_code)
]==] .. "PTEST_MAIN = r'''" .. MAIN_MARK .. RUN_MAIN .. "'''\n" .. [==[
# The rest of RUN (RUN_MAIN): in a fork, as the zygote compiled it once for all.
exec(globals().get("__ptest_main__") or compile(PTEST_MAIN, "<string>", "exec"), globals())
]==]

-- pytest's default `norecursedirs`.
local NORECURSE_DEFAULT = {
  "*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}",
}

local read = util.read
local native = require("ptest.presets.native")

local function join(dir, rel)
  if rel:sub(1, 1) == "/" then return rel end
  return dir .. "/" .. rel
end


-- The folder pytest runs in, where its settings and the items are: the batch's `cwd`
-- (relative to the config's folder), else the config's folder.
local function base_dir(opts) return util.folder(opts.cwd) end

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

-- pytest's own settings: `testpaths`, `python_files`, `norecursedirs` and `addopts`, from the
-- first file that configures pytest, in pytest's order (pytest.toml, .pytest.toml, pytest.ini and
-- .pytest.ini even when empty, then pyproject.toml, tox.ini, setup.cfg): `{ from = FILE, dir =
-- DIR, ... }` or `{}`. Read in Rust (`ptest init` reads them the same way); never a FIFO.
function M.settings(dir)
  return native.pytest_settings(dir or ptest.config_dir)
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
-- `{}` when there is none.
function M.find_settings(dir)
  return native.find_pytest_settings(normal(dir or ptest.config_dir))
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

-- What a plain `pytest` run in the batch's folder walks: `paths`, else `testpaths` (when
-- pytest takes it: its settings file is in that folder, or `--rootdir` names it), else nothing
-- (the folder itself); each entry's glob matches, or the entry itself when it matches nothing
-- (pytest then says it is not found, as a plain run would). Also the settings and arguments.
local function walked(opts)
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
  local paths = {}
  for _, path in ipairs(opts.paths or testpaths or {}) do
    path = path:gsub("(.)/+$", "%1")
    -- An absolute path inside the folder counts as a relative one: the items are named alike
    -- wherever the project is.
    local inside = normal(base) .. "/"
    if path:sub(1, #inside) == inside then path = path:sub(#inside + 1) end
    local found = glob(path)
    if #found == 0 then found = { path } end
    for _, p in ipairs(found) do paths[#paths + 1] = p end
  end
  return paths, settings, args
end

-- The files pytest would collect under `paths` (relative to the config's folder): those matching
-- `python_files`, and with `--doctest-modules` (in `addopts` or `args`) every module, and the
-- doctest files (`--doctest-glob`, default test*.txt). Below each path, folders that match
-- `norecursedirs` (pytest's default list unless set), hidden ones and virtualenvs are not
-- walked; the path itself and the folders above it count whatever their names, as in pytest.
-- What pytest itself leaves out (`--ignore`, conftest.py's `collect_ignore`) the parts leave
-- out at run time, and what it collects beyond these files (a conftest.py's
-- `pytest_collect_file`, a plugin's) the part that holds "(other files)" collects.
function M.discover(opts)
  opts = opts or {}
  local base = base_dir(opts)
  local glob = globber(opts)
  local paths, settings, args = walked(opts)
  if #paths == 0 then paths = { "." } end
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
  -- Whether a folder between `prefix` and the file is one pytest does not walk into.
  local function skipped_below(file, prefix)
    local rel = file:sub(1, #prefix) == prefix and file:sub(#prefix + 1) or file
    local parts = {}
    for p in rel:gmatch("[^/]+") do parts[#parts + 1] = p end
    for i = 1, #parts - 1 do
      if parts[i] ~= ".." and skipped_dir(parts[i]) then return true end
    end
    return false
  end
  local seen, files = {}, {}
  local function add(f)
    f = f:gsub("^%./", "")
    if not seen[f] then
      seen[f] = true
      files[#files + 1] = f
    end
  end
  local function matches(name)
    for _, pattern in ipairs(patterns) do
      if name:match(fnmatch(pattern)) then return true end
    end
    return false
  end
  for _, path in ipairs(paths) do
    local name = path:match("([^/]+)$") or path
    if path ~= "." and read(join(base, path)) ~= nil then
      -- A file given as a path is collected whatever its name, when pytest has a collector
      -- for it (python_files do not apply to it).
      if matches(name) or name:match("%.py$") then add(path) end
    else
      local prefix = path == "." and "" or (path .. "/")
      -- Top-level entries one by one, so hidden folders and virtualenvs are never walked.
      for _, pattern in ipairs(patterns) do
        for _, f in ipairs(glob(prefix .. pattern)) do add(f) end
      end
      for _, top in ipairs(glob(prefix .. "*/")) do
        top = top:gsub("/+$", "")
        local dir = top:match("([^/]+)$")
        if not skipped_dir(dir) and not read(join(base, top .. "/pyvenv.cfg")) then
          for _, pattern in ipairs(patterns) do
            for _, f in ipairs(glob(top .. "/**/" .. pattern)) do
              if not skipped_below(f, prefix) then add(f) end
            end
          end
        end
      end
    end
  end
  table.sort(files)
  return files
end

-- The files of `files` that hold the tests `--test` names, and the node ids to give pytest:
-- `FILE::TEST` (a node id, as ptest and pytest name tests), `FILE` (all of its tests) or a
-- folder (the files under it). A `.py` file that exists counts though discovery did not find
-- it (pytest runs a file it is given). Names that are none of these are another batch's.
function M.narrow(files, names, dir)
  local known = {}
  for _, f in ipairs(files) do known[f] = true end
  local wanted, ids = {}, {}
  for _, name in ipairs(names) do
    local file = name:match("^(.-)::") or name
    file = file:gsub("^%./", ""):gsub("/+$", "")
    if known[file] or (file:match("%.py$") and util.exists(join(dir, file))) then
      wanted[file] = true
      ids[#ids + 1] = file .. (name:match("^.-(::.*)$") or "")
    elseif not name:find("::", 1, true) then
      for _, f in ipairs(files) do
        if f:sub(1, #file + 1) == file .. "/" then
          wanted[f] = true
          ids[#ids + 1] = f
        end
      end
    end
  end
  local kept = {}
  for _, f in ipairs(files) do
    if wanted[f] then
      kept[#kept + 1] = f
      wanted[f] = nil
    end
  end
  -- Files discovery did not find, in the order named.
  for _, id in ipairs(ids) do
    local f = id:match("^(.-)::") or id
    if wanted[f] then
      kept[#kept + 1] = f
      wanted[f] = nil
    end
  end
  return kept, ids
end

-- `python` (a program, default "python3", or a command that runs Python, like
-- `{ "poetry", "run", "python" }`) and then the arguments, as a new list.
local function python_argv(opts, ...)
  local argv = {}
  for _, a in ipairs(util.list(opts.python) or { "python3" }) do argv[#argv + 1] = a end
  for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
  return argv
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
  local files = opts.files or M.discover(opts)
  local mode = opts.files and "files" or "walk"
  -- `ptest --test ID`: pytest runs those node ids (in the files that hold them) and nothing
  -- else; `-k` and `-- ARGS` go to pytest as they are.
  local sel = util.selection()
  local ids
  if #sel.tests > 0 then
    files, ids = M.narrow(files, sel.tests, base_dir(opts))
    mode = "tests"
  end
  local body = {}
  local args = {}
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  if sel.filter then
    args[#args + 1] = "-k"
    args[#args + 1] = sel.filter
  end
  for _, a in ipairs(sel.args) do args[#args + 1] = a end
  local base = normal(base_dir(opts))
  local settings = M.find_settings(base)
  -- The settings file a plain `pytest` here reads, named to every part: given paths, pytest
  -- looks for one from their folder up, and would take one in a subfolder (`sub/tox.ini`) that a
  -- plain run never reads. Relative to the folder pytest runs in, as `ptest list` shows it.
  if settings.from and not has(args, "-c", "--config-file", "--inifile", "--rootdir") then
    local up = ""
    for _ in base:sub(#settings.dir + 1):gmatch("[^/]+") do up = up .. "../" end
    body[#body + 1] = "-c"
    body[#body + 1] = up .. settings.from
  end
  -- pytest-xdist in `addopts` (`-n auto`) would start its own workers inside each part.
  local addopts = settings.addopts or {}
  if (has(addopts, "-n", "--numprocesses") or has(addopts, "--dist")) and
      not has(args, "-n", "--numprocesses") then
    body[#body + 1] = "-n"
    body[#body + 1] = "0"
  end
  for _, a in ipairs(args) do body[#body + 1] = a end
  body[#body + 1] = MARK
  if mode == "walk" then
    for _, p in ipairs((walked(opts))) do body[#body + 1] = p end
  end
  body[#body + 1] = MARK
  local cmd = python_argv(opts, "-c", RUN, mode, "-o", "junit_family=xunit1",
                          "--junitxml={tmpdir}/ptest-junit.xml")
  -- `ptest list --tests`: the same run, collecting only.
  local list = python_argv(opts, "-c", RUN, "list-" .. mode)
  for _, a in ipairs(body) do
    cmd[#cmd + 1] = a
    list[#list + 1] = a
  end
  -- Every file of the batch (the walk's, the `files` given, those of the tests `--test`
  -- named): what a part leaves to the others, and what a run that confirms its failed tests
  -- collects. A listing with `--test` gets the node ids (a run gets them as its items,
  -- `FILE::TEST`, by `test`, from ptest).
  for _, f in ipairs(files) do cmd[#cmd + 1] = f end
  for _, f in ipairs(mode == "tests" and ids or files) do list[#list + 1] = f end
  for _, t in ipairs({ cmd, list }) do
    t[#t + 1] = MARK
    t[#t + 1] = "{items}"
  end
  -- The warm start (ZYGOTE): on unless `warm = false`, or PTEST_PYTEST_WARM=0 in the
  -- environment ptest runs in.
  local warm_env = os.getenv("PTEST_PYTEST_WARM")
  local warm = opts.warm ~= false and not (warm_env == "0" or warm_env == "false" or warm_env == "off")
  local zygote = nil
  if warm then
    local _, wsettings, wargs = walked(opts)
    zygote = python_argv(opts, "-c", ZYGOTE)
    for _, p in ipairs(opts.python_files or wsettings.python_files or { "test_*.py", "*_test.py" }) do
      zygote[#zygote + 1] = p
    end
    zygote[#zygote + 1] = MARK
    for _, a in ipairs(wargs) do zygote[#zygote + 1] = a end
    zygote[#zygote + 1] = MARK
    if mode == "walk" then
      for _, p in ipairs((walked(opts))) do zygote[#zygote + 1] = p end
    else
      for _, f in ipairs(files) do zygote[#zygote + 1] = f end
    end
  end
  local function declare(batch_name, items, extra)
    local t = {
      name = batch_name, items = items, cmd = cmd, results = "{tmpdir}/ptest-junit.xml",
      -- A part runs many files: pytest's own default has no limit; ptest's 5 minutes is for one.
      timeout = "1h",
      category = "pytest",
      -- `slice = false` keeps every file whole; a run of some tests runs their files whole.
      slice = opts.slice ~= false and not (sel.filter or ids) and SLICE or nil,
      list = list,
      select = true,
      test = TEST,
      warm = zygote,
      skip_test = SKIP_TEST,
    }
    util.copy_options(t, opts, OWN)
    -- Code written for pytest-xdist keys per-worker resources (databases, ports) on this.
    local env = { PYTEST_XDIST_WORKER = "gw{worker}" }
    for k, v in pairs(opts.env or {}) do env[k] = v end
    t.env = env
    for k, v in pairs(extra or {}) do t[k] = v end
    return ptest.batch(t)
  end
  local main, serial = {}, {}
  for _, f in ipairs(files) do
    if opts.serial_marker and uses_marker(base_dir(opts), f, opts.serial_marker) then
      serial[#serial + 1] = f
    else
      main[#main + 1] = f
    end
  end
  -- What pytest collects beyond the files found: one part collects it (last, so that the
  -- items' first entry still tells whether they are files).
  if mode == "walk" then main[#main + 1] = M.REST end
  if not opts.serial_marker then
    return declare(name, main)
  end
  local group = ptest.group { name = name .. "-serial", max = 1 }
  local handle = declare(name, main)
  -- One part: nothing to fork it from.
  local one = declare(name .. "-serial", serial, { group = group, batches = 1, warm = false })
  return handle, one
end

-- The older form: a suite per file (no results). Kept for configs that use it.
function M.files(opts)
  local pattern = assert(opts.glob, "pytest.files: glob is required")
  local handles = {}
  for _, file in ipairs(ptest.glob(pattern)) do
    local cmd = python_argv(opts, "-m", "pytest", file)
    for _, a in ipairs(opts.args or {}) do cmd[#cmd + 1] = a end
    local suite = { name = file, cmd = cmd }
    util.copy_options(suite, opts, { glob = true, python = true, args = true })
    handles[#handles + 1] = ptest.suite(suite)
  end
  return handles
end

return M
