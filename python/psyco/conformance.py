"""Conformance: CPython's own regression tests, plain and under psyco, test by test.

``python -m psyco conformance [--subset ci|full] [--modes plain,full,profile] [--jobs 2]
[--timeout S] [--json PATH] [--modules a,b,...]``

Each module of the list runs in a fresh interpreter once per mode, through regrtest
(``python -m test -v MODULE``), from a small bootstrap that activates psyco first:

- ``plain``: psyco is not even imported;
- ``full``: ``psyco.full()``;
- ``profile``: ``psyco.profile(0.0)`` (watermark 0: every function the profiler sees is
  selected).

The verbose unittest lines (``test_x (test.mod.Class.test_x) ... ok``) give an outcome per test
(ok, FAIL, ERROR, skipped, xfail, xpass), completed by the failure report's ``FAIL:``/``ERROR:``
headers. Every mode other than plain is compared with plain, test by test. A difference is
*unexplained* unless KNOWN lists it with a reason. A child killed by a signal (negative return
code) or that never reached regrtest's final ``Tests result:`` line is a crash; one that runs
past the time limit is killed and reported as a hang. The child proves that psyco really ran by
printing ``psyco.stats()`` (the active profiler, selected/compiled counts) on stderr at exit; a
psyco mode without that proof is an error too.

Exit status: 0 when every module agrees (or differs only as KNOWN says), 1 otherwise.
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["main", "parse_outcomes", "compare", "run_module", "MODULES", "CI_SUBSET", "KNOWN"]

ALL_MODES = ("plain", "full", "profile")
# "plain2" is a second plain run: compared with the first, it shows CPython's own run-to-run
# differences (how KNOWN was found: `--modes plain2`).
EXTRA_MODES = ("plain2", "switch")
DEFAULT_TIMEOUT = 300.0
RANDSEED = "1113"        # regrtest --randseed: the same random seed in every mode
HASHSEED = "0"           # PYTHONHASHSEED: the same set/dict order in every mode


class Module:
    """One regression-test module, optionally restricted to some test cases (regrtest -m/-i
    globs), with an optional time limit of its own."""

    def __init__(self, name, match=(), ignore=(), timeout=None, why="", testdir=None):
        self.name = name
        self.testdir = testdir
        self.match = tuple(match)
        self.ignore = tuple(ignore)
        self.timeout = timeout
        self.why = why

    def regrtest_args(self):
        args = ["--testdir", self.testdir] if self.testdir else []
        for pat in self.match:
            args += ["-m", pat]
        for pat in self.ignore:
            args += ["-i", pat]
        return args + [self.name]

    def __repr__(self):
        return "Module(%r)" % (self.name,)


# The classes of test_threading that run in a few seconds and need no subprocess storms; the
# shutdown/fork tests (ThreadJoinOnShutdown, SubinterpThreadingTests, ...) spawn interpreters
# that would not run under psyco anyway.
_THREADING_CLASSES = (
    "ThreadTests", "LockTests", "PyRLockTests", "CRLockTests", "EventTests",
    "ConditionAsRLockTests", "ConditionTests", "SemaphoreTests", "BoundedSemaphoreTests",
    "BarrierTests", "MiscTestCase", "InterruptMainTests", "AtexitTests", "TimerTests",
    "ThreadingExceptionTests", "ExceptHookTests", "ThreadRunFail",
)

MODULES = [
    # the language: grammar, control flow, scopes, exceptions
    Module("test_grammar"),
    Module("test_opcodes"),
    Module("test_scope"),
    Module("test_global"),
    Module("test_with"),
    Module("test_raise"),
    Module("test_exceptions"),
    Module("test_exception_variations"),
    Module("test_exception_group"),
    Module("test_baseexception"),
    Module("test_patma"),
    Module("test_named_expressions"),
    Module("test_augassign"),
    Module("test_unpack"),
    Module("test_unpack_ex"),
    Module("test_keywordonlyarg"),
    Module("test_positional_only_arg"),
    Module("test_call"),
    Module("test_extcall"),
    Module("test_funcattrs"),
    Module("test_dynamic"),
    Module("test_syntax"),
    Module("test_string_literals"),
    Module("test_fstring"),
    Module("test_compare"),
    Module("test_richcmp"),
    Module("test_bool"),
    Module("test_contains"),
    Module("test_index"),
    Module("test_binop"),
    Module("test_pow"),
    # generators, coroutines, comprehensions, iteration
    Module("test_generators"),
    Module("test_generator_stop"),
    Module("test_yield_from"),
    Module("test_coroutines"),
    Module("test_asyncgen"),
    Module("test_contextlib"),
    Module("test_contextlib_async"),
    Module("test_genexps"),
    Module("test_listcomps"),
    Module("test_setcomps"),
    Module("test_dictcomps"),
    Module("test_iter"),
    Module("test_itertools"),
    # objects and classes
    Module("test_class"),
    Module("test_descr"),
    Module("test_property"),
    Module("test_super"),
    Module("test_abc"),
    Module("test_isinstance"),
    Module("test_dataclasses"),
    Module("test_enum"),
    Module("test_types"),
    Module("test_weakref"),
    Module("test_copy"),
    # builtin types
    Module("test_int"),
    Module("test_long"),
    Module("test_float"),
    Module("test_complex"),
    Module("test_math"),
    Module("test_fractions"),
    Module("test_decimal"),
    Module("test_statistics"),
    Module("test_string"),
    Module("test_unicode", why="3.11's name for the str tests (test_str from 3.13 on)"),
    Module("test_format"),
    Module("test_bytes"),
    Module("test_slice"),
    Module("test_dict"),
    Module("test_dictviews"),
    Module("test_ordered_dict"),
    Module("test_defaultdict"),
    Module("test_userdict"),
    Module("test_userlist"),
    Module("test_list"),
    Module("test_tuple"),
    Module("test_set"),
    Module("test_deque"),
    Module("test_collections"),
    Module("test_heapq"),
    Module("test_bisect"),
    Module("test_sort"),
    Module("test_array"),
    Module("test_struct"),
    Module("test_builtin"),
    Module("test_print"),
    # library code that is mostly Python
    Module("test_functools"),
    Module("test_operator"),
    Module("test_json"),
    Module("test_re"),
    Module("test_textwrap"),
    Module("test_random"),
    Module("test_typing"),
    Module("test_inspect"),
    # the machinery psyco plays with: frames, tracing, tracebacks, code objects, gc
    Module("test_sys_settrace"),
    Module("test_sys_setprofile"),
    Module("test_traceback"),
    Module("test_frame"),
    Module("test_code"),
    Module("test_dis"),
    Module("test_gc"),
    Module("test_sys"),
    # threads and signals
    Module("test_threading", match=_THREADING_CLASSES,
           why="only the test classes that run in seconds in-process"),
    Module("test_signal"),
]

# Modules that all three modes run in about three minutes on 2 cores (`--subset ci`).
CI_SUBSET = [
    "test_grammar", "test_opcodes", "test_scope", "test_with", "test_raise", "test_exceptions",
    "test_exception_group", "test_patma", "test_augassign", "test_unpack", "test_unpack_ex",
    "test_keywordonlyarg", "test_positional_only_arg", "test_extcall", "test_compare",
    "test_bool", "test_generators", "test_yield_from", "test_coroutines", "test_asyncgen",
    "test_contextlib", "test_genexps", "test_listcomps", "test_iter", "test_itertools",
    "test_class", "test_descr", "test_property", "test_super", "test_dataclasses", "test_enum",
    "test_int", "test_long", "test_float", "test_math", "test_slice", "test_list",
    "test_tuple", "test_dict", "test_re", "test_json", "test_frame", "test_sys_settrace",
    "test_traceback", "test_functools", "test_operator", "test_dis", "test_code",
]

# Differences that CPython itself shows between two plain runs, or that follow from what a
# mode is by definition. Keys: "module::glob" (fnmatch against the test's description, e.g.
# "test_x (test.test_mod.Class.test_x)"), optionally prefixed by "mode:" to apply to one mode
# only. A matching difference is reported as known, with this reason, never dropped.
KNOWN = {
    # Found by running the whole list plain twice (`--modes plain2`, twice, 2026-11-25): CPython
    # showed no run-to-run difference at all with the fixed --randseed and PYTHONHASHSEED this
    # runner uses, so nothing is listed for CPython's own noise. What follows are differences
    # that come from what psyco's modes are by definition; each was checked by hand.
    "test_dis::test_loop_quicken (*":
        "a PEP 523 frame-evaluation hook is installed (psyco.full() installs it at once): "
        "CPython 3.11's specializer then refuses CALL_PY_EXACT_ARGS/CALL_PY_WITH_DEFAULTS "
        "(see DESIGN.md section 2), so dis shows CALL_ADAPTIVE where the test expects "
        "CALL_PY_WITH_DEFAULTS; the program's behaviour is unchanged",
    "test_dis::<regrtest verdict>":
        "FAILURE only because of test_loop_quicken above and the full-mode quickening tests "
        "below; any other failing test of test_dis still shows as a difference of its own",
    # The five below: under full() the test's little functions run as psyco machine code from
    # their first call, and machine code never executes CPython's adaptive instructions, so
    # the bytecode is never quickened/specialized; dis(adaptive=True) then shows the plain
    # instructions where the test expects BINARY_OP_ADD_INT, LOAD_ATTR_INSTANCE_VALUE, superinstructions,
    # specialized caches... Program behaviour is unchanged (the compiler reads co_code, not
    # the quickened copy).
    "full:test_dis::test_binary_specialize (*": "compiled code is never quickened (see above)",
    "full:test_dis::test_call_specialize (*": "compiled code is never quickened (see above)",
    "full:test_dis::test_load_attr_specialize (*": "compiled code is never quickened (see above)",
    "full:test_dis::test_super_instructions (*": "compiled code is never quickened (see above)",
    "full:test_dis::test_show_caches (*":
        "compiled code is never quickened, so the subtest that shows quickened caches fails and "
        "the plain variant is reported under its subtest name (see above)",
    # The same tests under profile(0.0), flaky (seen once, in a CI run on 2026-11-26): with a
    # watermark of 0 the profiler selects whatever a poll finds running, so when a poll lands
    # while the test warms its little code object up, that code is compiled and never
    # quickened, exactly as under full().
    "profile:test_dis::test_binary_specialize (*": "compiled code is never quickened (see above)",
    "profile:test_dis::test_call_specialize (*": "compiled code is never quickened (see above)",
    "profile:test_dis::test_load_attr_specialize (*": "compiled code is never quickened (see above)",
    "profile:test_dis::test_super_instructions (*": "compiled code is never quickened (see above)",
    "profile:test_dis::test_show_caches (*":
        "compiled code is never quickened, so the subtest that shows quickened caches fails and "
        "the plain variant is reported under its subtest name (see above)",
    # Seen once in four profile runs of the whole list (2026-11-26): the test reads
    # sys.getallocatedblocks() twice around gc.collect() and allows 50 blocks of drift. Under
    # profile() psyco's threads may compile in between, and a frame switch arms a line tracer
    # for a moment, for which CPython builds the line table of each code it traces (kept for
    # the code's lifetime): blocks the interpreter allocates for psyco, not a leak.
    "profile:test_sys::test_getallocatedblocks (*":
        "psyco's compiler thread and frame-switch tracer allocate blocks between the test's "
        "two readings of sys.getallocatedblocks() (flaky, background activity)",
    "profile:test_sys::<regrtest verdict>":
        "FAILURE only when test_getallocatedblocks above drifts",
    # Seen in a CI run on a loaded machine (2026-11-26), not in 22 profile runs of test_frame
    # alone: the test sets gc.set_threshold(1, 0, 0) so that the very next allocation
    # in the process runs the collector, whose callback then grabs "the" frame being built.
    # Under profile() psyco's compiler thread may take the GIL at that moment and allocate
    # while it snapshots a selected function, so the collection and callback run there.
    "profile:test_frame::test_sneaky_frame_object (*":
        "the test makes the next allocation anywhere run a GC callback that grabs the frame "
        "being built; psyco's compiler thread can be the one allocating (flaky, background "
        "activity)",
    "profile:test_frame::<regrtest verdict>":
        "FAILURE only when test_sneaky_frame_object above is caught by background activity",
}

# ------------------------------------------------------------------------------------------
# Running one module in one mode
# ------------------------------------------------------------------------------------------

PROOF_TAG = "@@PSYCO-CONFORMANCE@@"

# The child: activate psyco as the mode says, arrange to prove it at exit, then run regrtest
# in this process (regrtest without -j runs the tests in-process).
BOOTSTRAP = r'''
import sys
mode = sys.argv[1]
if mode not in ("plain", "plain2"):
    import atexit, json, psyco
    if mode == "full":
        psyco.full()
    elif mode == "profile":
        psyco.profile(0.0)
    elif mode == "switch":
        # Frames start interpreted and switch into machine code at their first loop head.
        from psyco import _psyco
        psyco.full()
        _psyco.switch_stress(True)
    else:
        raise SystemExit("unknown mode %r" % mode)
    def _prove():
        try:
            st = psyco.stats(0)
            keep = ("active", "hook_installed", "native", "selected", "compiled", "failed",
                    "pending", "code_bytes", "samples", "frames_switched")
            proof = {k: st.get(k) for k in keep}
        except BaseException as e:
            proof = {"error": repr(e)}
        sys.stderr.write("\n%s %s\n" % (TAG, json.dumps(proof, default=repr)))
        sys.stderr.flush()
    atexit.register(_prove)
import runpy
sys.argv = ["-m test"] + sys.argv[2:]
runpy.run_module("test", run_name="__main__", alter_sys=True)
'''.replace("TAG", repr(PROOF_TAG))


class RunResult:
    """What one child (one module, one mode) did."""

    def __init__(self, module, mode):
        self.module = module
        self.mode = mode
        self.returncode = None
        self.seconds = 0.0
        self.timed_out = False
        self.stdout = ""
        self.stderr = ""
        self.outcomes = {}
        self.summary = None          # regrtest's "Tests result: ..." text, or None
        self.module_skipped = None   # "test_x skipped -- reason"
        self.proof = None            # psyco.stats() digest printed by the child

    @property
    def crashed(self):
        if self.timed_out:
            return False
        return (self.returncode is not None and self.returncode < 0) or self.summary is None

    @property
    def crashed_at_exit(self):
        """Killed by a signal after regrtest printed its verdict: every test had finished."""
        return self.crashed and self.summary is not None

    @property
    def signal_name(self):
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return "signal %d" % -self.returncode
        return None

    def counts(self):
        c = {}
        for o in self.outcomes.values():
            c[o] = c.get(o, 0) + 1
        return c

    def status(self):
        if self.timed_out:
            return "HANG"
        if self.crashed:
            return "CRASH" + ("(%s)" % self.signal_name if self.signal_name else "")
        if self.module_skipped:
            return "skipped"
        return self.summary or "?"

    def to_json(self):
        return {
            "module": self.module, "mode": self.mode, "returncode": self.returncode,
            "seconds": round(self.seconds, 2), "timed_out": self.timed_out,
            "crashed": self.crashed, "signal": self.signal_name, "summary": self.summary,
            "module_skipped": self.module_skipped, "proof": self.proof,
            "counts": self.counts(), "outcomes": self.outcomes,
            "stderr_head": self.stderr[:4000] if (self.crashed or self.timed_out) else "",
            "stderr_tail": self.stderr[-2000:] if (self.crashed or self.timed_out) else "",
            "stdout_tail": self.stdout[-2000:] if (self.crashed or self.timed_out) else "",
        }


def child_command(module, mode, python=None):
    return [python or sys.executable, "-X", "faulthandler", "-c", BOOTSTRAP, mode,
            "--dont-add-python-opts", "-v", "--randseed", RANDSEED] + module.regrtest_args()


def child_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("PSYCO_"):
            del env[k]
    env["PYTHONHASHSEED"] = HASHSEED
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_module(module, mode, timeout=DEFAULT_TIMEOUT, python=None):
    """Run one module in one mode in a fresh interpreter; returns a RunResult."""
    if isinstance(module, str):
        module = Module(module)
    if module.timeout is not None:
        timeout = module.timeout
    r = RunResult(module.name, mode)
    cmd = child_command(module, mode, python)
    workdir = tempfile.mkdtemp(prefix="psyco-conf-")
    # Output goes to files, not pipes: a hung child cannot block on a full pipe, and what it
    # printed before a hang or crash is still there to read.
    out_path = os.path.join(workdir, "stdout")
    err_path = os.path.join(workdir, "stderr")
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             cwd=workdir, env=child_env(), start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            r.timed_out = True
            _kill_group(p)
    r.seconds = time.monotonic() - t0
    r.returncode = p.returncode
    with open(out_path, "rb") as f:
        r.stdout = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        r.stderr = f.read().decode("utf-8", "replace")
    _rmtree(workdir)
    r.outcomes = parse_outcomes(r.stdout)
    r.summary = parse_summary(r.stdout)
    m = re.search(r"^(?:\S+ )*?(%s) skipped -- (.*)$" % re.escape(module.name), r.stdout, re.M)
    if m:
        r.module_skipped = m.group(2).strip()
    r.proof = parse_proof(r.stderr)
    return r


def _kill_group(p):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _rmtree(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------

# "test_x (test.test_mod.Class.test_x)" optionally followed by subtest parameters.
_TEST_ID = re.compile(r"^[A-Za-z_]\w* \([A-Za-z_][\w.]*\)(?: .*)?$")
# A doctest's first line is just its dotted name ("doctests (test.test_genexps.__test__)" is
# caught by _TEST_ID; older forms print "test.test_x.__test__.doctests").
_DOTTED = re.compile(r"^[A-Za-z_][\w.]*$")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FAILURE_HEADER = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (.+)$")


def normalize_outcome(text):
    """The outcome word of a verbose unittest status, or None if `text` is not one."""
    s = text.strip()
    if s == "ok":
        return "ok"
    if s == "FAIL":
        return "FAIL"
    if s == "ERROR":
        return "ERROR"
    if s == "skipped" or s.startswith("skipped "):
        return "skipped"
    if s == "expected failure":
        return "xfail"
    if s == "unexpected success":
        return "xpass"
    return None


def _key(desc):
    return _HEX.sub("0x?", desc.strip())


def parse_outcomes(text):
    """Map each test's description to its outcome, from verbose unittest output.

    Handles the shapes unittest prints: ``desc ... ok`` on one line; a docstring's first line
    after the test line (``test_x (m.C.test_x)`` then ``Docstring ... ok``); output printed by
    the test between ``desc ... `` and the outcome on a later line of its own; subtests
    (``desc (i=1) ... FAIL``); and the failure report's ``FAIL: desc`` headers, which win over
    a status line that output had garbled. Memory addresses in descriptions become 0x?."""
    outcomes = {}
    pending = None
    prev = ""
    in_report = False
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("=" * 20):
            in_report = True
            prev = line
            continue
        if in_report:
            m = _FAILURE_HEADER.match(line)
            if m:
                word = {"FAIL": "FAIL", "ERROR": "ERROR", "UNEXPECTED SUCCESS": "xpass"}[m.group(1)]
                outcomes[_key(m.group(2))] = word
                in_report = False
                prev = line
                continue
            in_report = False
        if " ... " in line:
            desc, _, rest = line.partition(" ... ")
            if _TEST_ID.match(desc):
                key = desc
            elif prev and (_TEST_ID.match(prev) or _DOTTED.match(prev)) and " ... " not in prev:
                key = prev                        # docstring line after the test's line
            else:
                key = desc
            key = _key(key)
            word = normalize_outcome(rest)
            if word is None and rest:
                # "desc ... <output printed by the test>ok": the outcome ends the line
                for cand in ("ok", "FAIL", "ERROR", "expected failure", "unexpected success"):
                    if rest.endswith(cand) and rest != cand:
                        word = normalize_outcome(cand)
                        break
            if word is not None:
                outcomes[key] = word
                pending = None
            else:
                pending = key
        elif pending is not None:
            word = normalize_outcome(line)
            if word is not None:
                outcomes[pending] = word
                pending = None
        prev = line
    if pending is not None and pending not in outcomes:
        outcomes[pending] = "unfinished"           # the child died inside this test
    return outcomes


def parse_summary(text):
    """regrtest's final verdict ("SUCCESS", "FAILURE", "ENV CHANGED", "NO TESTS RAN", ...)."""
    found = None
    for m in re.finditer(r"^(?:== )?Tests result: (.+?)(?: ==)?$", text, re.M):
        found = m.group(1).strip()
    return found


def parse_proof(text):
    found = None
    for line in text.splitlines():
        if line.startswith(PROOF_TAG):
            try:
                found = json.loads(line[len(PROOF_TAG):].strip())
            except ValueError:
                found = {"error": "unreadable proof line: %r" % line}
    return found


# ------------------------------------------------------------------------------------------
# Comparing
# ------------------------------------------------------------------------------------------

def known_reason(module, mode, test, known=None):
    """The KNOWN reason that explains a difference of `test` in `module` under `mode`."""
    known = KNOWN if known is None else known
    for key, reason in known.items():
        kmode = None
        spec = key
        if ":" in key.split("::", 1)[0]:
            kmode, spec = key.split(":", 1)
        # "switch" is full() with every frame starting interpreted: full's reasons apply.
        if kmode is not None and kmode != mode and not (mode == "switch" and kmode == "full"):
            continue
        kmod, _, pat = spec.partition("::")
        if kmod != module:
            continue
        if fnmatch.fnmatchcase(test, pat or "*"):
            return reason
    return None


def compare(base, other, known=None):
    """Differences between two RunResults of the same module, as dicts
    {test, base, other, known}; a test missing from one side shows as "missing"."""
    diffs = []
    # tests that never ran because the other child crashed or hung belong to that problem
    cut_short = (other.timed_out or other.crashed) and not other.crashed_at_exit
    for test in sorted(set(base.outcomes) | set(other.outcomes)):
        a = base.outcomes.get(test, "missing")
        b = other.outcomes.get(test, "missing")
        if b == "missing" and cut_short:
            continue
        if a != b:
            diffs.append({"test": test, "base": a, "other": b,
                          "known": known_reason(base.module, other.mode, test, known)})
    if base.module_skipped != other.module_skipped:
        diffs.append({"test": "<module skipped>", "base": base.module_skipped,
                      "other": other.module_skipped,
                      "known": known_reason(base.module, other.mode, "<module skipped>", known)})
    # regrtest's verdict also reports "env changed" (a test left threads, files, ...)
    if (not base.crashed and not other.crashed and not base.timed_out and not other.timed_out
            and base.summary != other.summary):
        diffs.append({"test": "<regrtest verdict>", "base": base.summary, "other": other.summary,
                      "known": known_reason(base.module, other.mode, "<regrtest verdict>", known)})
    return diffs


def check_proof(r):
    """None if the child proved that psyco ran in mode r.mode, else why not."""
    if r.mode in ("plain", "plain2"):
        return None
    if r.timed_out or r.crashed:
        return None          # already reported as a hang or a crash
    p = r.proof
    if not p:
        return "no psyco.stats() at exit: psyco was not active"
    if "error" in p:
        return "psyco.stats() failed: %s" % p["error"]
    active = p.get("active")
    kind = active.get("kind") if isinstance(active, dict) else active
    expected = "full" if r.mode == "switch" else r.mode
    if kind != expected:
        return "psyco's active profiler at exit was %r, not %r" % (kind, expected)
    return None


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------

def select_modules(subset="full", names=None):
    by_name = {m.name: m for m in MODULES}
    if names:
        return [by_name.get(n) or Module(n) for n in names]
    if subset == "ci":
        return [by_name[n] for n in CI_SUBSET]
    if subset == "full":
        return list(MODULES)
    raise ValueError("unknown subset %r (ci or full)" % (subset,))


def run_all(modules, modes=ALL_MODES, jobs=2, timeout=DEFAULT_TIMEOUT, known=None,
            progress=None, python=None):
    """Run every (module, mode) and compare; returns the report dict."""
    modes = list(modes)
    if "plain" not in modes:
        modes.insert(0, "plain")
    results = {}
    tasks = [(m, mode) for m in modules for mode in modes]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = {ex.submit(run_module, m, mode, timeout, python): (m, mode) for m, mode in tasks}
        for fut in concurrent.futures.as_completed(futs):
            m, mode = futs[fut]
            r = fut.result()
            results[(m.name, mode)] = r
            if progress:
                progress("%-28s %-8s %-16s %6.1fs" % (m.name, mode, r.status(), r.seconds))
    report = {"modes": modes, "modules": [], "seconds": round(time.monotonic() - t0, 1),
              "python": sys.version.split()[0]}
    for m in modules:
        base = results[(m.name, "plain")]
        entry = {"module": m.name, "runs": {}, "differences": {}, "problems": []}
        for mode in modes:
            r = results[(m.name, mode)]
            entry["runs"][mode] = r.to_json()
            if r.timed_out:
                entry["problems"].append({"mode": mode, "kind": "hang",
                                          "detail": "killed after %.0fs" % r.seconds})
            elif r.crashed:
                at_exit = r.crashed_at_exit
                entry["problems"].append({
                    "mode": mode, "kind": "crash",
                    "detail": (r.signal_name or "exit code %s without regrtest's verdict"
                               % r.returncode) + (" at exit, after all tests" if at_exit else ""),
                    "known": known_reason(m.name, mode, "<crash at exit>", known)
                    if at_exit else None})
            if mode == "plain" and not r.timed_out and not r.crashed and not r.module_skipped \
                    and not r.outcomes:
                entry["problems"].append({"mode": mode, "kind": "not-run",
                                          "detail": "plain ran no test: %s" % r.summary})
            why = check_proof(r)
            if why:
                entry["problems"].append({"mode": mode, "kind": "not-active", "detail": why})
            if mode != "plain":
                entry["differences"][mode] = compare(base, r, known)
        report["modules"].append(entry)
    report["summary"] = summarize(report)
    return report


def summarize(report):
    s = {"modules": len(report["modules"]), "tests": 0, "unexplained": 0, "known": 0,
         "crashes": 0, "hangs": 0, "not_active": 0, "not_run": 0, "clean_modules": 0}
    for e in report["modules"]:
        s["tests"] += len(e["runs"]["plain"]["outcomes"])
        bad = False
        for diffs in e["differences"].values():
            for d in diffs:
                if d["known"]:
                    s["known"] += 1
                else:
                    s["unexplained"] += 1
                    bad = True
        for p in e["problems"]:
            if p.get("known"):
                s["known"] += 1
                continue
            s[{"crash": "crashes", "hang": "hangs", "not-active": "not_active",
               "not-run": "not_run"}[p["kind"]]] += 1
            bad = True
        if not bad:
            s["clean_modules"] += 1
    s["ok"] = not (s["unexplained"] or s["crashes"] or s["hangs"] or s["not_active"]
                   or s["not_run"])
    return s


def _crash_excerpt(run, n=7):
    """The informative lines of a crashed or hung child's stderr: faulthandler's verdict and
    the innermost frames, else the last lines."""
    head = (run.get("stderr_head") or "").splitlines()
    for i, line in enumerate(head):
        if line.startswith("Fatal Python error") or line.startswith("Timeout ("):
            out = [line]
            out += [l for l in head[i + 1:] if l.strip()][:n - 1]
            return out
    return (run.get("stderr_tail") or "").strip().splitlines()[-n:]


def _short(reason, width=90):
    """The first clause of a KNOWN reason, for the table (the JSON has it whole)."""
    first = re.split(r"[;:(]", reason, 1)[0].strip()
    return first if len(first) <= width else first[:width - 3] + "..."


def format_table(report):
    modes = report["modes"]
    lines = []
    head = "%-26s" % "module"
    for mode in modes:
        head += " | %-30s" % mode
    head += " | verdict"
    lines.append(head)
    lines.append("-" * len(head))
    for e in report["modules"]:
        row = "%-26s" % e["module"]
        for mode in modes:
            r = e["runs"][mode]
            c = r["counts"]
            if r["timed_out"]:
                cell = "HANG %.0fs" % r["seconds"]
            elif r["crashed"]:
                cell = "CRASH %s %.0fs" % (r["signal"] or "rc=%s" % r["returncode"], r["seconds"])
            elif r["module_skipped"]:
                cell = "module skipped"
            else:
                cell = "%d ok %d F %d E %d s %.1fs" % (
                    c.get("ok", 0) + c.get("xfail", 0), c.get("FAIL", 0) + c.get("xpass", 0),
                    c.get("ERROR", 0) + c.get("unfinished", 0), c.get("skipped", 0),
                    r["seconds"])
            if mode != "plain":
                diffs = e["differences"][mode]
                n_bad = sum(1 for d in diffs if not d["known"])
                n_known = len(diffs) - n_bad
                if n_bad:
                    cell += " Δ%d" % n_bad
                if n_known:
                    cell += " k%d" % n_known
            row += " | %-30s" % cell
        n_bad = sum(1 for ds in e["differences"].values() for d in ds if not d["known"])
        verdict = "same"
        unknown_problems = [p for p in e["problems"] if not p.get("known")]
        if unknown_problems:
            verdict = ", ".join("%s:%s" % (p["mode"], p["kind"]) for p in unknown_problems)
        elif n_bad:
            verdict = "DIFFERENT"
        elif (any(d["known"] for ds in e["differences"].values() for d in ds)
              or e["problems"]):
            verdict = "same (known differences)"
        lines.append(row + " | " + verdict)
    lines.append("")
    for e in report["modules"]:
        for mode, diffs in e["differences"].items():
            for d in diffs:
                tag = "known: %s" % _short(d["known"]) if d["known"] else "UNEXPLAINED"
                lines.append("  %s [%s] %s: plain=%s %s=%s  (%s)" % (
                    e["module"], mode, d["test"], d["base"], mode, d["other"], tag))
        for p in e["problems"]:
            lines.append("  %s [%s] %s: %s  (%s)" % (
                e["module"], p["mode"], p["kind"].upper(), p["detail"],
                "known: %s" % _short(p["known"]) if p.get("known") else "UNEXPLAINED"))
            if p.get("known"):
                continue
            for t in _crash_excerpt(e["runs"][p["mode"]]):
                lines.append("      | " + t)
    s = report["summary"]
    lines.append("")
    lines.append(
        "%d modules, %d tests (plain), modes %s, %.0fs: %d clean modules, %d unexplained "
        "differences, %d known, %d crashes, %d hangs, %d runs without psyco active, "
        "%d modules that ran no test -> %s"
        % (s["modules"], s["tests"], "/".join(report["modes"]), report["seconds"],
           s["clean_modules"], s["unexplained"], s["known"], s["crashes"], s["hangs"],
           s["not_active"], s["not_run"], "OK" if s["ok"] else "FAILED"))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m psyco conformance",
        description="Run CPython's regression tests plainly and under psyco; compare per test.")
    p.add_argument("--subset", choices=("ci", "full"), default="full",
                   help="ci: a quick subset (~3 minutes on 2 cores); full: the whole list")
    p.add_argument("--modules", default="",
                   help="comma-separated test modules to run instead of a subset")
    p.add_argument("--modes", default=",".join(ALL_MODES),
                   help="comma-separated modes among plain, full, profile (plain always runs)")
    p.add_argument("--jobs", "-j", type=int, default=2, help="children run at once (default 2)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help="seconds one module may take in one mode (default %(default)s)")
    p.add_argument("--json", default="", help="write the full report (all outcomes) here")
    p.add_argument("--list", action="store_true", help="print the module list and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    names = [n for n in args.modules.split(",") if n.strip()]
    modules = select_modules(args.subset, [n.strip() for n in names])
    if args.list:
        for m in modules:
            print(m.name + ("  (-m %s)" % " -m ".join(m.match) if m.match else ""))
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ALL_MODES + EXTRA_MODES:
            p.error("unknown mode %r" % m)
    progress = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    report = run_all(modules, modes, jobs=args.jobs, timeout=args.timeout, progress=progress)
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
        print("report written to %s" % args.json)
    return 0 if report["summary"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
