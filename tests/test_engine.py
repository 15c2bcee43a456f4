"""The engine under stress: no code object leaks, threads sampled while they run, stepping
aside for a user's tracer or profiler, and a prompt clean exit with profilers running.
Every test runs in a fresh interpreter."""

from psyco_testing import run_json, run_ok, run_py

MAKE_FUNCS = """
import gc, weakref
SRC = '''
def f_{i}(n):
    s = 0
    for k in range(n):
        s += k ^ {i}
    return s
'''
def churn(count, keep_refs, n=3000):
    total = 0
    for i in range(count):
        ns = {}
        exec(compile(SRC.format(i=i), '<gen %d>' % i, 'exec'), ns)
        f = ns['f_%d' % i]
        total += f(n)
        keep_refs.append(weakref.ref(f.__code__))
        del ns, f
    return total
"""


def test_code_objects_are_not_kept_alive(tmp_path):
    log = tmp_path / "leak.log"
    out = run_json(MAKE_FUNCS + """
import psyco
psyco.log(%r)
psyco.background(pollfreq=500)
refs = []
peak_records = peak_entries = 0
for round in range(8):
    churn(150, refs)
    s = psyco.stats(0)
    peak_records = max(peak_records, s['records'])
    peak_entries = max(peak_entries, s['charge_entries'])
gc.collect()
s = psyco.stats(3)
alive = sum(1 for r in refs if r() is not None)
emit({'alive': alive, 'made': len(refs), 'records': s['records'],
      'entries': s['charge_entries'], 'samples': s['samples'], 'selected': s['selected'],
      'peak_records': peak_records, 'peak_entries': peak_entries,
      'top': [r['function'] for r in s['top']]})
""" % str(log), timeout=60)
    assert out["made"] == 1200
    assert out["samples"] > 0
    assert out["alive"] == 0, "psyco keeps dead code objects alive: %r" % out
    assert out["records"] < 100, out
    assert out["entries"] < 100, out
    assert out["peak_records"] < 400 and out["peak_entries"] < 400, out
    assert not any(name.startswith("f_") for name in out["top"])


def test_selected_code_objects_are_released_too():
    """Code the sampler selected (and queued for the compiler) dies with its function."""
    out = run_json(MAKE_FUNCS + """
import psyco
psyco.background(pollfreq=200)
refs = []
for i in range(40):
    ns = {}
    exec(compile(SRC.format(i=i), '<sel %d>' % i, 'exec'), ns)
    f = ns['f_%d' % i]
    code = f.__code__
    spin_until(lambda: 'selected' in psyco._psyco.code_state(code), lambda: f(2000), 5)
    refs.append((weakref.ref(code), 'selected' in psyco._psyco.code_state(code)))
    del ns, f, code
psyco.stop()
wait_until(lambda: (gc.collect() or True) and all(r() is None for r, _ in refs), 5)
s = psyco.stats(0)
emit({'selected': sum(1 for _, sel in refs if sel), 'alive': sum(1 for r, _ in refs if r()),
      'records': s['records'], 'entries': s['charge_entries']})
""", timeout=60)
    assert out["selected"] >= 30, out
    assert out["alive"] == 0, out
    assert out["records"] < 60 and out["entries"] < 60, out


def test_proxy_and_bind_records_die_with_their_functions():
    out = run_json(MAKE_FUNCS + """
import psyco
refs = []
for i in range(300):
    ns = {}
    exec(compile(SRC.format(i=i), '<p %d>' % i, 'exec'), ns)
    f = ns['f_%d' % i]
    p = psyco.proxy(f)
    psyco.bind(f)
    f(10); p(10)
    u = psyco.unproxy(p)
    refs += [weakref.ref(f.__code__), weakref.ref(p.__code__)]
    del ns, f, p, u
gc.collect()
psyco.stats(0)   # (see test_proxy_original_is_released_at_once for why this call is here)
emit({'alive': sum(1 for r in refs if r()), 'records': psyco.stats(0)['records']})
""")
    assert out["alive"] == 0 and out["records"] < 50, out


def test_proxy_original_is_released_at_once():
    """BUG (src/ffi/mod.rs free_record): the proxy record's `Py` reference to the original code
    object is dropped inside code_dealloc, outside any pyo3 GIL scope, so pyo3 only queues the
    decref; the original (and everything its co_consts hold) survives until the next call into
    psyco, which may never come."""
    out = run_json("""
import gc, weakref, psyco
def mk():
    ns = {}
    exec("def f(x):\\n    return x + 1\\n", ns)
    return ns['f']
f = mk()
p = psyco.proxy(f)
r_orig, r_copy = weakref.ref(f.__code__), weakref.ref(p.__code__)
del f, p
gc.collect()
copy_dead, orig_dead = r_copy() is None, r_orig() is None
psyco.stats(0)
emit({'copy_dead': copy_dead, 'orig_dead': orig_dead, 'orig_dead_later': r_orig() is None})
""")
    assert out["copy_dead"] and out["orig_dead_later"], out
    assert out["orig_dead"], "original code object outlives its proxy until the next psyco call"


THREADS = """
import psyco
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def loop(n):
    s = 0
    for i in range(n):
        s += i % 7
    return s
results = {}
FIB18, LOOP = fib(18), loop(20000)
def worker(k):
    # about a second of CPU-bound work per thread, every result checked
    rounds = bad = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline or rounds < 5:
        bad += fib(18) != FIB18
        bad += loop(20000) != LOOP
        rounds += 1
    results[k] = (rounds, bad)
"""


def _threads_snippet(start):
    return THREADS + start + """
ok0 = wait_until(lambda: psyco.stats(0)['sampler_running'], 5)
ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join(60)
s = psyco.stats(5)
emit({'ok': all(results[k][1] == 0 and results[k][0] >= 5 for k in results), 'n': len(results),
      'alive': [t.is_alive() for t in ts], 'samples': s['samples'], 'events': s['active_events'],
      'top': [r['function'] for r in s['top']], 'recent': s['recent_events'],
      'compiled': [psyco._psyco.is_compiled_code(c.__code__) for c in (fib, loop, worker)]})
"""


def test_four_threads_under_background():
    out = run_json(_threads_snippet("psyco.background()\n"), timeout=90)
    assert out["n"] == 4 and out["ok"], out
    assert not any(out["alive"])
    assert out["samples"] > 0


def test_four_threads_under_profile():
    out = run_json(_threads_snippet("psyco.profile(pollfreq=100)\n"), timeout=90)
    assert out["n"] == 4 and out["ok"], out
    assert not any(out["alive"])
    # Machine code produces no call/return events: once fib, loop and worker are compiled
    # (which can happen before an active burst meets an interpreted frame), a burst may see none.
    assert out["samples"] > 0 and (out["events"] > 0 or all(out["compiled"])), out


def test_threads_started_before_psyco_are_sampled():
    out = run_json(THREADS + """
import psyco
stop = threading.Event()
def spinner():
    while not stop.is_set():
        loop(10000)
t = threading.Thread(target=spinner); t.start()
psyco.background()
ok = wait_until(lambda: 'selected' in psyco._psyco.code_state(loop.__code__), 10)
stop.set(); t.join()
emit({'ok': ok, 'samples': psyco.stats(0)['samples']})
""")
    assert out["ok"], out


PROFILE_ASIDE = """
import psyco
def hot(n):
    s = 0
    for i in range(n):
        s += i
    return s
def busy(seconds):
    spin_until(lambda: False, lambda: hot(300), timeout=seconds)
psyco.profile(pollfreq=100)   # one active burst every 40 polls: every 0.4 s
busy(0.3)
"""


def test_setprofile_makes_psyco_step_aside_and_resume():
    out = run_json(PROFILE_ASIDE + """
calls = []
def user_profiler(frame, event, arg):
    calls.append(event)
sys.setprofile(user_profiler)
aside = spin_until(lambda: has_event('stepping aside'), lambda: hot(300), 10)
n_aside = psyco.stats(0)['active_events']
busy(0.6)          # more than one full active period
still_user = sys.getprofile() is user_profiler
n_after = psyco.stats(0)['active_events']
sys.setprofile(None)
resumed = spin_until(lambda: has_event('resuming'), lambda: hot(300), 10)
n_res = psyco.stats(0)['active_events']
spin_until(lambda: psyco.stats(0)['active_events'] > n_res, lambda: hot(300), 10)
emit({'aside': aside, 'resumed': resumed, 'still_user': still_user, 'calls': len(calls),
      'n_aside': n_aside, 'n_after': n_after, 'n_final': psyco.stats(0)['active_events'],
      'events': events()})
""")
    assert out["aside"] and out["resumed"], out["events"]
    assert out["still_user"], "psyco must not replace the user's profile function"
    assert out["calls"] > 0
    assert out["n_after"] == out["n_aside"], "no active profiling while the user's profiler runs"
    assert out["n_final"] > out["n_after"], "active profiling comes back after resuming"
    ev = out["events"]
    i = next(i for i, e in enumerate(ev) if "stepping aside" in e)
    j = next(i for i, e in enumerate(ev) if "resuming" in e)
    assert i < j


def test_settrace_makes_psyco_step_aside_and_resume():
    out = run_json(PROFILE_ASIDE + """
lines = []
def tracer(frame, event, arg):
    lines.append(event)
    return tracer
sys.settrace(tracer)
aside = spin_until(lambda: has_event('stepping aside'), lambda: hot(30), 10)
n1 = psyco.stats(0)['active_events']
busy(0.6)
n2 = psyco.stats(0)['active_events']
still = sys.gettrace() is tracer
sys.settrace(None)
resumed = spin_until(lambda: has_event('resuming'), lambda: hot(300), 10)
emit({'aside': aside, 'resumed': resumed, 'still': still, 'n1': n1, 'n2': n2,
      'traced': len(lines), 'prof': repr(sys.getprofile())})
""")
    assert out["aside"] and out["resumed"], out
    assert out["still"] and out["traced"] > 0
    assert out["n1"] == out["n2"]


def test_user_profiler_in_another_thread_is_respected():
    out = run_json(PROFILE_ASIDE + """
seen = []
done = threading.Event()
def prof(frame, event, arg):
    seen.append(event)
def other():
    sys.setprofile(prof)
    while not done.is_set():
        hot(100)
    ok = sys.getprofile() is prof
    sys.setprofile(None)
    seen.append(ok)
t = threading.Thread(target=other); t.start()
aside = spin_until(lambda: has_event('stepping aside'), lambda: hot(300), 10)
busy(0.5)
done.set(); t.join()
resumed = spin_until(lambda: has_event('resuming'), lambda: hot(300), 10)
emit({'aside': aside, 'resumed': resumed, 'kept': seen[-1] is True})
""")
    assert out["aside"] and out["resumed"] and out["kept"], out


def test_background_leaves_a_users_profiler_alone():
    """background() uses no hook, so it need not step aside; it must not disturb the user's
    profile function either."""
    out = run_json("""
import psyco
def hot(n):
    s = 0
    for i in range(n):
        s += i
    return s
psyco.background()
calls = []
def prof(frame, event, arg):
    calls.append(event)
sys.setprofile(prof)
s0 = psyco.stats(0)['samples']
spin_until(lambda: psyco.stats(0)['samples'] > s0 + 5, lambda: hot(300), 10)
still = sys.getprofile() is prof
sys.setprofile(None)
emit({'still': still, 'calls': len(calls), 'grew': psyco.stats(0)['samples'] > s0 + 5})
""")
    assert out["still"] and out["calls"] > 0 and out["grew"], out


# ------------------------------------------------------------------------------------------
# Exit with psyco busy
# ------------------------------------------------------------------------------------------

def _exits_promptly(code, timeout=20, rc=0):
    r = run_py(code, timeout=timeout)
    assert not r.timed_out, "the interpreter hung at exit: %r" % (r,)
    assert r.returncode == rc, r
    assert "Fatal Python error" not in r.stderr and "Traceback" not in r.stderr, r
    return r


def test_exit_with_background_running():
    _exits_promptly("""
import psyco
def hot(n):
    return sum(range(n))
psyco.background(pollfreq=1000)
spin_until(lambda: psyco.stats(0)['samples'] > 10, lambda: hot(1000), 10)
""")


def test_exit_with_profile_and_a_queue():
    _exits_promptly("""
import psyco
def hot(n):
    return sum(range(n))
psyco.profile(pollfreq=200)
psyco.background()
psyco.full()
spin_until(lambda: psyco.stats(0)['active_events'] > 0, lambda: hot(1000), 10)
""")


def test_exit_with_full_and_worker():
    _exits_promptly("""
import psyco
psyco.full()
def f(x):
    return x + 1
for i in range(1000):
    f(i)
import json, collections  # imports run module code through the hook
""")


def test_exit_with_daemon_threads_still_computing():
    _exits_promptly("""
import psyco
def hot(n):
    s = 0
    for i in range(n):
        s += i
    return s
def forever():
    while True:
        hot(10000)
for _ in range(3):
    threading.Thread(target=forever, daemon=True).start()
psyco.profile(pollfreq=200)
spin_until(lambda: psyco.stats(0)['samples'] > 10, lambda: time.sleep(0.01), 10)
""")


def test_exit_from_a_thread_calling_sys_exit_while_sampled():
    _exits_promptly("""
import psyco
psyco.background(pollfreq=1000)
def hot(n):
    return sum(range(n))
spin_until(lambda: psyco.stats(0)['samples'] > 5, lambda: hot(1000), 10)
sys.exit(0)
""")


def test_exit_with_sampler_queued_but_stopped_in_another_thread():
    _exits_promptly("""
import psyco
def hot(n):
    return sum(range(n))
psyco.background(pollfreq=1000)
t = threading.Thread(target=lambda: [psyco.stop(), psyco.profile(), psyco.stop(), psyco.background()])
t.start(); t.join()
spin_until(lambda: psyco.stats(0)['samples'] > 5, lambda: hot(1000), 10)
""")


def test_os_fork_child_exits_cleanly():
    r = _exits_promptly("""
import psyco
def hot(n):
    return sum(range(n))
psyco.background()
spin_until(lambda: psyco.stats(0)['samples'] > 5, lambda: hot(1000), 10)
pid = os.fork()
if pid == 0:
    hot(100000)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print('child status', status)
""")
    assert "child status 0" in r.stdout


def test_forked_child_keeps_profiling_and_exits_cleanly(tmp_path):
    """Regression (fixed in d2531b3): a forked child inherited the parent's poll-thread handle
    but not the thread: its profiler never sampled, and its atexit shutdown joined the phantom
    thread (Rust panic, PanicException on stderr, no 'program exit' line)."""
    out = run_json("""
import psyco
def hot(n):
    return sum(range(n))
psyco.background()
spin_until(lambda: psyco.stats(0)['samples'] > 5, lambda: hot(1000), 10)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    err = os.open(%r, os.O_WRONLY | os.O_CREAT)
    os.dup2(err, 2)
    s0 = psyco.stats(0)['samples']
    grew = spin_until(lambda: psyco.stats(0)['samples'] > s0, lambda: hot(1000), 2)
    os.write(w, json.dumps({'grew': bool(grew),
                            'running': psyco.stats(0)['sampler_running']}).encode())
    os.close(w)
    sys.exit(0)   # a normal exit: atexit handlers (psyco's shutdown) run in the child
os.close(w)
data = b''
while True:
    chunk = os.read(r, 4096)
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
emit({'child': json.loads(data), 'status': status, 'stderr': open(%r).read()})
""" % (str(tmp_path / "child.err"), str(tmp_path / "child.err")), timeout=30)
    assert out["status"] == 0, out
    assert "Exception" not in out["stderr"] and "panicked" not in out["stderr"], out["stderr"]
    assert out["child"]["grew"], "the forked child's profiler never samples: %r" % out


def test_profiler_started_after_psycos_atexit_handler_does_not_abort():
    """BUG (src/queue/mod.rs shutdown/push + src/sampler/mod.rs run): a profiler queued after
    psyco's atexit handler ran (here: from an atexit handler registered before psyco was
    imported, so it runs later) starts a new poll thread that nobody joins. If that thread is
    waiting for the GIL (its with_gil fallback: the main thread sits in a long C call) when
    finalization begins, CPython ends it with pthread_exit as soon as it gets the GIL; the
    forced unwind reaches the catch_unwind of Rust's thread entry and the process aborts with
    'FATAL: exception not rethrown' (SIGABRT). Racy: about half of the runs abort here."""
    code = """
import atexit
class SleepsAtTeardown:
    def __del__(self):
        time.sleep(0.1)   # gives the GIL away while the interpreter is finalizing
keeper = SleepsAtTeardown()
def late():
    import psyco
    psyco.background(pollfreq=1000)
    time.sleep(0.05)
    sum(range(2 * 10**7))   # one long C call holding the GIL: the poll thread waits for it
atexit.register(late)
import psyco
"""
    for attempt in range(6):
        r = run_py(code, timeout=20)
        assert not r.timed_out, r
        assert r.returncode == 0, "attempt %d: %r" % (attempt, r)


def test_deep_recursion_with_the_hook_installed_does_not_segfault():
    """BUG (src/ffi/mod.rs psyco_eval_frame): once the frame-evaluation hook is installed
    (bind() or full()), every Python call recurses on the C stack (hook + a new
    _PyEval_EvalFrameDefault), and nothing guards the C stack: a recursion that plain 3.11 runs
    (calls are inlined there) segfaults at ~20000 levels instead of returning or raising
    RecursionError. DESIGN.md: 'also guard the C stack'."""
    r = run_py("""
import psyco
sys.setrecursionlimit(200000)
def r(n):
    return 0 if n == 0 else r(n - 1) + 1
print('plain', r(50000), flush=True)
psyco.bind(r)
try:
    print('bound', r(50000), flush=True)
except RecursionError:
    print('bound RecursionError', flush=True)
""", timeout=60)
    assert "plain 50000" in r.stdout, r
    assert not r.timed_out
    assert r.returncode == 0, "interpreter died (signal %r) in a deep recursion: %r" % (
        -r.returncode, r)
    assert "bound" in r.stdout


def test_pending_compile_is_visible_in_code_state():
    """Regression (fixed in 248c417): report_outcome counted outcomes in stats() but never set
    Flags::PENDING/FAILED/COMPILED on the code's record, so code_state() never showed them."""
    out = run_json("""
import psyco
from psyco import _psyco
def f(x):
    return x + 1
psyco.bind(f)
f(1)
s = psyco.stats(0)
emit({'pending': s['pending'], 'failed': s['failed'], 'compiled': s['compiled'],
      'state': _psyco.code_state(f.__code__), 'native': s['native'],
      'rows': [r for r in s['functions'] if r['function'] == 'f']})
""")
    assert len(out["rows"]) == 1 and out["rows"][0]["state"] in out["state"], out
    outcomes = out["pending"] + out["failed"] + out["compiled"]
    assert outcomes == 1, out
    assert "selected" in out["state"]
    if out["pending"]:
        assert "pending" in out["state"], out
    if out["failed"]:
        assert "failed" in out["state"], out
    if out["compiled"]:
        assert "compiled" in out["state"], out


def test_recursion_within_the_default_limit_on_a_small_thread_stack():
    """Same BUG as above, within the default recursion limit: under full() a thread with a
    256 KiB stack (threading.stack_size) segfaults at depth 950, which plain 3.11 runs."""
    r = run_py("""
import psyco
def r(n):
    return 0 if n == 0 else r(n - 1) + 1
threading.stack_size(256 * 1024)
def in_thread(out):
    try:
        out.append(r(950))
    except RecursionError:
        out.append('RecursionError')
out = []
t = threading.Thread(target=in_thread, args=(out,)); t.start(); t.join()
print('plain', out, flush=True)
psyco.full()
out = []
t = threading.Thread(target=in_thread, args=(out,)); t.start(); t.join()
print('full', out, flush=True)
""", timeout=60)
    assert "plain [950]" in r.stdout, r
    assert r.returncode == 0, "interpreter died (signal %r): %r" % (-r.returncode, r)
    assert "full [950]" in r.stdout or "full ['RecursionError']" in r.stdout


def test_code_psyco_annotates_calls_no_other_co_extra_free_function():
    # 3.11 calls every registered co_extra free function for every slot below the extra array's
    # size, even NULL ones; psyco must not make other users' free functions run for code objects
    # only psyco touched (test_code's ctypes callback crashed at exit that way).
    out = run_json("""
        import ctypes, gc, psyco
        from psyco import _psyco
        calls = []
        freefunc = ctypes.CFUNCTYPE(None, ctypes.c_voidp)
        req = ctypes.pythonapi._PyEval_RequestCodeExtraIndex
        req.argtypes, req.restype = (freefunc,), ctypes.c_ssize_t
        FREE = freefunc(lambda p: calls.append(p))
        idx = req(FREE)
        for i in range(20):
            ns = {}
            exec("def f(n):\\n    return n + %d" % i, ns)
            _psyco.compile_code(ns["f"].__code__)
            ns["f"](1)
            del ns
        gc.collect()
        emit([idx, len(calls)])
    """)
    idx, calls = out
    assert idx >= 1 and calls == 0
