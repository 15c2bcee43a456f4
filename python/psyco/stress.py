"""Stress scenarios: psyco under threads, signals, memory limits, code churn and fork.

``python -m psyco stress [--seconds N] [--seed S] [--scenarios a,b] [--json PATH]``

Each scenario runs in a fresh interpreter (``python -m psyco.stress --child NAME ...``) for
about N seconds and checks everything it computes against the plain interpreter's answer,
computed in the same process before any profiler starts (or by a reference function marked
``cannotcompile``). The parent kills a child that runs past its time limit (a hang) and
reports a child that dies of a signal (a crash), that exits with an error, or that finds a
wrong result or a broken invariant (a failure). Exit status 1 if any scenario did not pass.

Scenarios (see docs/correctness.md):

threads   worker threads run compiled code while controller threads switch profilers
          (full/profile/background/runonly/stop) in random order with the log on;
signals   SIGINT (os.kill, _thread.interrupt_main) into compiled ``while True:`` loops, a
          SIGALRM ticker and a raising handler, pthread_kill to a busy main thread;
limits    a chain of profilers retired by memory=, memorymax=, time=, timemax= while fresh
          functions compile, checked against the JSON log;
churn     code objects created and dropped in a loop under full(): RSS, mapped code, live
          records stay flat, the dead code objects are freed;
fork      os.fork from the main thread and from other threads while compiled code and the
          sampler run; the children compute, compile and exit cleanly.
"""

import argparse
import gc
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types

__all__ = ["SCENARIOS", "run_scenario", "main"]

RESULT_TAG = "@@STRESS@@"

# ------------------------------------------------------------------------------------------
# Workloads: CPU-bound functions with deterministic results (compiled under psyco).
# ------------------------------------------------------------------------------------------


def w_arith(n):
    x = n
    acc = 0
    for i in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        acc ^= x >> (i % 7)
        if acc > 10 ** 12:
            acc -= 10 ** 12
    return acc


def w_bigint(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a % 1000000007 + a.bit_length()


def w_float(n):
    s = 0.0
    for i in range(1, n):
        s += 1.0 / (i * i) - (i % 3) * 0.5 / i
    return s


def w_strings(n):
    counts = {}
    for i in range(n):
        w = "k%d" % (i % 17)
        counts[w] = counts.get(w, 0) + len(w)
    return tuple(sorted(counts.items()))[:5]


class Vec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, o):
        return Vec(self.x + o.x, self.y + o.y)

    @property
    def norm1(self):
        return abs(self.x) + abs(self.y)


def w_objects(n):
    v = Vec(0, 0)
    for i in range(n):
        v = v.add(Vec(i % 5 - 2, i % 3 - 1))
    return v.norm1 * 1000 + v.x


def w_except(n):
    caught = 0
    for i in range(n):
        try:
            if i % 4 == 0:
                raise ValueError(i)
            caught += 10 // (i % 3)
        except ZeroDivisionError:
            caught += 1
        except ValueError as e:
            caught += e.args[0] % 5
        finally:
            caught += 1
    return caught


def w_fib(n):
    return n if n < 2 else w_fib(n - 1) + w_fib(n - 2)


def w_closures(n):
    fs = [lambda x, k=k: x * k + 1 for k in range(5)]
    total = 0
    for i in range(n):
        total += fs[i % 5](i)
    return total + sorted([3, 1, 2], key=lambda z: -z)[0]


def w_gen(n):
    return sum(x * x for x in range(n) if x % 3)


WORK = {
    "arith": (w_arith, (200, 3000)),
    "bigint": (w_bigint, (50, 400)),
    "float": (w_float, (200, 3000)),
    "strings": (w_strings, (100, 1500)),
    "objects": (w_objects, (100, 1500)),
    "except": (w_except, (100, 1500)),
    "fib": (w_fib, (8, 16)),
    "closures": (w_closures, (100, 2000)),
    "gen": (w_gen, (200, 3000)),
}


def expectations(rnd, per_function=8):
    """{(name, n): result} computed now, by whatever runs the workloads now: call it before
    any profiler starts, so that it is the plain interpreter's answer."""
    table = {}
    for name in sorted(WORK):
        f, (lo, hi) = WORK[name]
        for _ in range(per_function):
            n = rnd.randint(lo, hi)
            table[(name, n)] = f(n)
    return table


def check_calls(table, keys, rnd, count, failures, where):
    """Calls `count` random workloads and compares with `table`; returns the calls made."""
    done = 0
    for _ in range(count):
        key = rnd.choice(keys)
        got = WORK[key[0]][0](key[1])
        if got != table[key]:
            failures.append("%s: %s(%d) = %r, plain Python says %r"
                            % (where, key[0], key[1], got, table[key]))
        done += 1
    return done


def maker(stop, seed, failures, counter, where):
    """Thread body: makes fresh functions (so compilations keep happening) and checks them
    against the plain reference until `stop` is set."""
    r = random.Random(seed)
    i = seed * 100000
    try:
        while not stop.is_set():
            f, args = make_g(i, r.choice(("exec", "function")))
            i += 1
            for _ in range(2):
                n = r.randint(50, 800)
                got, want = f(n), ref_g(*args, n)
                if got != want:
                    failures.append("%s: g_%d(%d) = %r, plain Python says %r"
                                    % (where, args[0], n, got, want))
                counter[0] += 1
    except BaseException:
        failures.append("%s raised:\n%s" % (where, traceback.format_exc()))


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def os_threads():
    return len(os.listdir("/proc/self/task"))


def thread_names():
    out = []
    for t in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/comm" % t) as f:
                out.append(f.read().strip())
        except OSError:
            pass
    return sorted(out)


def wait_until(pred, timeout=10.0, step=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def progress(msg):
    """A progress line on stderr: the parent shows the last ones of a child that hangs."""
    sys.stderr.write("[stress %.2f] %s\n" % (time.monotonic(), msg))
    sys.stderr.flush()


def read_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def join_all(threads, timeout, failures):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            failures.append("thread %s did not finish within %.0f s (hang)" % (t.name, timeout))


# ------------------------------------------------------------------------------------------
# Scenario 1: threads running compiled code while profilers come and go
# ------------------------------------------------------------------------------------------


def scenario_threads(seconds, seed, workdir):
    import psyco
    psyco.cannotcompile(ref_g)
    rnd = random.Random(seed)
    table = expectations(rnd)
    keys = sorted(table)
    failures = []
    base = os_threads()
    logpath = os.path.join(workdir, "threads.log-psyco")
    psyco.log(logpath)
    psyco.full()
    stop = threading.Event()
    calls = [0] * 4
    ops_done = []

    traced = [0]

    def tracer(frame, event, arg):
        traced[0] += 1
        return tracer

    def worker(k):
        r = random.Random(seed * 1000 + k)
        try:
            while not stop.is_set():
                if r.random() < 0.01:
                    # a foreign tracer on this thread for a few calls: psyco steps aside
                    sys.settrace(tracer)
                    try:
                        calls[k] += check_calls(table, keys, r, 2, failures,
                                                "worker %d traced" % k)
                    finally:
                        sys.settrace(None)
                calls[k] += check_calls(table, keys, r, 5, failures, "worker %d" % k)
        except BaseException:
            failures.append("worker %d raised:\n%s" % (k, traceback.format_exc()))

    ops = [
        ("full", lambda r: psyco.full()),
        ("full(time)", lambda r: psyco.full(time=r.choice([0.02, 0.1]))),
        ("profile", lambda r: psyco.profile(watermark=r.choice([0.0, 0.09]),
                                            pollfreq=r.choice([20, 200, 1000]))),
        ("background", lambda r: psyco.background(watermark=r.choice([0.0, 0.09]),
                                                  pollfreq=r.choice([100, 1000]))),
        ("runonly", lambda r: psyco.runonly()),
        ("stop", lambda r: psyco.stop()),
        ("stats", lambda r: psyco.stats(5)),
        ("dumpcodebuf", lambda r: psyco.dumpcodebuf(io.StringIO())),
        ("log", lambda r: psyco.log(logpath, mode="a")),
        # a profiler queued behind an unlimited one never starts: switch for real too
        ("stop+full", lambda r: (psyco.stop(), psyco.full())),
        ("stop+profile", lambda r: (psyco.stop(), psyco.profile(
            watermark=r.choice([0.0, 0.09]), pollfreq=r.choice([20, 200, 1000])))),
        ("stop+background", lambda r: (psyco.stop(), psyco.background(
            watermark=r.choice([0.0, 0.09]), pollfreq=r.choice([100, 1000])))),
        ("stop+runonly", lambda r: (psyco.stop(), psyco.runonly())),
        ("bind", lambda r: psyco.bind(WORK[r.choice(sorted(WORK))][0])),
        ("unbind", lambda r: psyco.unbind(WORK[r.choice(sorted(WORK))][0])),
    ]
    weights = [2, 1, 2, 2, 1, 1, 2, 1, 1, 3, 3, 3, 1, 1, 1]

    def controller(k):
        r = random.Random(seed * 1000 + 100 + k)
        try:
            while not stop.is_set():
                name, op = r.choices(ops, weights)[0]
                op(r)
                ops_done.append(name)
                time.sleep(r.uniform(0.0, 0.04))
        except BaseException:
            failures.append("controller %d raised:\n%s" % (k, traceback.format_exc()))

    workers = [threading.Thread(target=worker, args=(k,), name="worker-%d" % k)
               for k in range(4)]
    controllers = [threading.Thread(target=controller, args=(k,), name="controller-%d" % k)
                   for k in range(2)]
    made = [0]
    workers.append(threading.Thread(target=maker, name="maker",
                                    args=(stop, seed + 1, failures, made, "maker")))
    short_lived = [0]

    def spawner():
        # threads that start, compute a little and end while the sampler walks the threads
        r = random.Random(seed + 2)
        try:
            while not stop.is_set():
                batch = [threading.Thread(target=check_calls,
                                          args=(table, keys, random.Random(r.random()),
                                                r.randint(1, 3), failures, "short-lived"))
                         for _ in range(r.randint(1, 4))]
                for t in batch:
                    t.start()
                for t in batch:
                    t.join(30)
                short_lived[0] += len(batch)
        except BaseException:
            failures.append("spawner raised:\n" + traceback.format_exc())
    workers.append(threading.Thread(target=spawner, name="spawner"))
    for t in workers + controllers:
        t.start()
    max_threads = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
        max_threads = max(max_threads, os_threads())
    stop.set()
    join_all(workers + controllers, 30, failures)
    psyco.stop()
    s = psyco.stats(0)
    expected = base + (1 if s["worker_running"] else 0)
    wait_until(lambda: os_threads() <= expected, 5)
    after = os_threads()
    if after > expected:
        failures.append("%d OS threads after stop() and join, expected %d: %s"
                        % (after, expected, thread_names()))
    if s["sampler_running"]:
        failures.append("the sampler still runs after stop()")
    if s["active"] is not None:
        failures.append("a profiler is still active after stop(): %r" % (s["active"],))
    if threading.active_count() != 1:
        failures.append("Python threads left: %r" % threading.enumerate())
    if s["native"] and s["compiled"] == 0:
        failures.append("nothing was compiled: the scenario proved nothing")
    # the results after all this, on this thread, still right
    check_calls(table, keys, random.Random(seed), 50, failures, "main after stop()")
    with open(logpath) as f:
        log = f.read()
    started = sorted({name for name in ("FullCompiler", "ActivePassiveProfiler",
                                        "PassiveProfiler", "RunOnly")
                      if "%s: starting" % name in log})
    if len(started) < 3:
        failures.append("only %s started in the log" % started)
    return failures, {
        "calls_checked": sum(calls), "fresh_calls_checked": made[0],
        "trace_events": traced[0], "short_lived_threads": short_lived[0],
        "profiler_ops": len(ops_done),
        "profilers_started": started, "compiled": s["compiled"], "samples": s["samples"],
        "selected": s["selected"], "failed": s["failed"], "max_os_threads": max_threads,
        "os_threads_before_after": [base, after],
    }


# ------------------------------------------------------------------------------------------
# Scenario 2: signals and Ctrl-C into compiled loops
# ------------------------------------------------------------------------------------------


def spin():
    x = 0
    while True:
        x += 1


def spin_calls():
    items = []
    while True:
        items.append(1)
        items.pop()


def spin_outer():
    return spin() + 1


FINALLY_LOG = []


def spin_finally():
    x = 0
    try:
        while True:
            x += 1
    finally:
        FINALLY_LOG.append(x > 0)


def spin_wrong_except():
    x = 0
    while True:
        try:
            x += 1
            if x < 0:
                raise ValueError(x)
        except ValueError:
            x = 0


def spin_catch():
    x = 0
    try:
        while True:
            x += 1
    except KeyboardInterrupt:
        return "caught after %s" % ("some" if x > 0 else "none")


def busy_until(flag):
    x = 0
    while not flag[0]:
        x = (x + 3) % 1000003
    return x


class Stop(Exception):
    pass


def eval_breaker():
    """interp->ceval.eval_breaker, read through ctypes (offset checked by psyco's import)."""
    import ctypes
    get = ctypes.pythonapi.PyInterpreterState_Get
    get.restype = ctypes.c_void_p
    return ctypes.c_int.from_address(get() + 100).value


def lost_interrupt(fname, how, delay, index):
    """Reports a KeyboardInterrupt that never reached the main thread, then ends the process
    (the main thread spins in `while True:` forever)."""
    sig = []
    for t in sorted(os.listdir("/proc/self/task")):
        try:
            with open("/proc/self/task/%s/status" % t) as f:
                st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            sig.append("%s %s pnd=%s shdpnd=%s blk=%s" % (
                t, st["Name"].strip(), st["SigPnd"].strip(), st["ShdPnd"].strip(),
                st["SigBlk"].strip()))
        except (OSError, KeyError):
            pass
    msg = ("%s via %s (#%d, sent %.3f s after the call): no KeyboardInterrupt within 10 s; "
           "eval_breaker=%d, SIGINT handler %r; threads: %s"
           % (fname, how, index, delay, eval_breaker(), signal.getsignal(signal.SIGINT),
              "; ".join(sig)))
    progress(msg)
    import faulthandler
    faulthandler.dump_traceback(all_threads=True)
    sys.stdout.write("\n" + RESULT_TAG + json.dumps({"failures": [msg], "figures": {}}) + "\n")
    sys.stdout.flush()
    os._exit(1)


def _innermost(tb):
    return traceback.extract_tb(tb)[-1].name


def scenario_signals(seconds, seed, workdir):
    import _thread
    import psyco
    from psyco import _psyco
    rnd = random.Random(seed)
    table = expectations(rnd)
    keys = sorted(table)
    failures = []
    figures = {}
    native = _psyco.native_status()[0]
    # A process started in the background by a non-interactive shell inherits SIGINT ignored,
    # and Python then leaves it so: every interrupt would be lost, psyco or not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    psyco.cannotcompile(ref_g)
    psyco.full()
    for f in (spin, spin_calls, spin_outer, spin_finally, spin_wrong_except, spin_catch,
              busy_until):
        _psyco.compile_code(f.__code__)
        if native and not psyco.is_compiled(f):
            failures.append("%s did not compile: %r" % (f.__name__, _psyco.code_info(f.__code__)))

    # (a) SIGINT and interrupt_main into compiled `while True:` loops
    progress("sigint")
    senders = {
        "os.kill": lambda: os.kill(os.getpid(), signal.SIGINT),
        "interrupt_main": _thread.interrupt_main,
    }
    loops = [(spin, "spin"), (spin_calls, "spin_calls"), (spin_outer, "spin"),
             (spin_finally, "spin_finally"), (spin_wrong_except, "spin_wrong_except"),
             (spin_catch, None)]
    latencies = []
    interrupts = 0
    phase_end = time.monotonic() + seconds * 0.4
    while time.monotonic() < phase_end or interrupts < 6:
        f, inner = loops[interrupts % len(loops)]
        how = ("os.kill", "interrupt_main")[(interrupts // len(loops)) % 2]
        delay = rnd.uniform(0.005, 0.08)
        sent = []
        caught_flag = []

        def fire():
            time.sleep(delay)
            sent.append(time.monotonic())
            senders[how]()
            # Watchdog: a KeyboardInterrupt that never arrives would spin forever.
            if not wait_until(lambda: caught_flag, timeout=10.0):
                lost_interrupt(f.__name__, how, delay, interrupts)
        t = threading.Thread(target=fire)
        t.start()
        finally_before = len(FINALLY_LOG)
        try:
            ret = f()
            if inner is None and ret == "caught after some":
                caught_flag.append(1)     # spin_catch handles it itself
                if sent:
                    latencies.append(time.monotonic() - sent[0])
            else:
                failures.append("%s returned %r" % (f.__name__, ret))
        except KeyboardInterrupt as e:
            caught_flag.append(1)
            caught = time.monotonic()
            where = _innermost(e.__traceback__)
            if where != inner:
                failures.append("%s via %s: KeyboardInterrupt raised in %s, expected %s"
                                % (f.__name__, how, where, inner))
            if f is spin_finally and FINALLY_LOG[finally_before:] != [True]:
                failures.append("spin_finally: the finally block ran %r"
                                % FINALLY_LOG[finally_before:])
            if sent:
                latencies.append(caught - sent[0])
        t.join()
        interrupts += 1
    figures["interrupts"] = interrupts
    figures["interrupt_latency_max_ms"] = round(1000 * max(latencies), 2) if latencies else None
    if latencies and max(latencies) > 2.0:
        failures.append("a KeyboardInterrupt took %.2f s to arrive" % max(latencies))

    # (b) a SIGALRM ticker counting while compiled code computes, then a raising handler
    progress("sigalrm")
    ticks = [0]

    def on_alarm(sig, frame):
        ticks[0] += 1
    old = signal.signal(signal.SIGALRM, on_alarm)
    period = 0.002
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, period, period)
    calls = 0
    try:
        phase_end = time.monotonic() + max(0.3, seconds * 0.2)
        fresh = 0
        while time.monotonic() < phase_end:
            calls += check_calls(table, keys, rnd, 5, failures, "under SIGALRM")
            # compiled at its first call, with ticks arriving
            g, args = make_g(500000 + fresh, rnd.choice(("exec", "function")))
            fresh += 1
            if g(300) != ref_g(*args, 300):
                failures.append("under SIGALRM: fresh g_%d wrong" % args[0])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.monotonic() - t0
    nominal = elapsed / period
    figures["alarm_ticks"] = ticks[0]
    figures["alarm_nominal"] = int(nominal)
    figures["alarm_calls_checked"] = calls
    if ticks[0] < min(10, nominal * 0.2):
        failures.append("SIGALRM handler ran %d times in %.2f s (nominal %d)"
                        % (ticks[0], elapsed, nominal))

    limit = 25

    def raise_at_limit(sig, frame):
        ticks[0] += 1
        if ticks[0] >= limit:
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise Stop(ticks[0])
    for f, inner in ((spin, "spin"), (spin_calls, "spin_calls")):
        ticks[0] = 0
        signal.signal(signal.SIGALRM, raise_at_limit)
        signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
        try:
            f()
        except Stop as e:
            tb = traceback.extract_tb(e.__traceback__)
            names = [fr.name for fr in tb]
            # (a tick may interrupt the handler itself, as in plain CPython: nested handlers)
            if e.args[0] < limit or names[-1] != "raise_at_limit" or inner not in names:
                failures.append("raising handler in %s: Stop%r raised through %s"
                                % (f.__name__, e.args, names))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)

    # (c) pthread_kill to the main thread, busy in compiled code, while threads compute
    progress("pthread_kill")
    psyco.stop()
    psyco.profile(watermark=0.0, pollfreq=500)   # the sampler runs too
    got = [0]

    def on_usr1(sig, frame):
        got[0] += 1
    signal.signal(signal.SIGUSR1, on_usr1)
    flag = [False]
    stop_workers = threading.Event()
    wcalls = [0, 0]

    def worker(k):
        r = random.Random(seed * 77 + k)
        try:
            while not stop_workers.is_set():
                wcalls[k] += check_calls(table, keys, r, 3, failures, "worker %d" % k)
        except BaseException:
            failures.append("worker %d raised:\n%s" % (k, traceback.format_exc()))
    main_id = threading.main_thread().ident
    sends = max(20, int(seconds * 10))
    undelivered = []

    def sender():
        try:
            for i in range(sends):
                signal.pthread_kill(main_id, signal.SIGUSR1)
                if not wait_until(lambda: got[0] > i, timeout=5.0, step=0.001):
                    undelivered.append(i)
                    break
        finally:
            flag[0] = True
    workers = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in workers:
        t.start()
    s = threading.Thread(target=sender)
    s.start()
    busy_until(flag)
    s.join(10)
    stop_workers.set()
    join_all(workers + [s], 30, failures)
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    if undelivered:
        failures.append("pthread_kill #%d was not handled within 5 s by the main thread "
                        "running compiled code" % undelivered[0])
    if got[0] != sends and not undelivered:
        failures.append("SIGUSR1 handled %d times for %d sends" % (got[0], sends))
    figures["pthread_kills"] = sends
    figures["pthread_kill_handled"] = got[0]
    figures["worker_calls_checked"] = sum(wcalls)
    st = psyco.stats(0)
    figures["compiled"] = st["compiled"]
    figures["samples"] = st["samples"]
    psyco.stop()
    return failures, figures


# ------------------------------------------------------------------------------------------
# Scenario 3: memory and time limits retiring a chain of profilers
# ------------------------------------------------------------------------------------------

GEN_SRC = """
def g_{i}(n):
    s = {i}
    for k in range(n):
        s = (s * 31 + k + {j}) % 1000003
        if s % 7 == {m}:
            s += 1
    return s
"""


def ref_g(i, j, m, n):
    """Plain-Python reference for GEN_SRC (marked cannotcompile by the scenarios)."""
    s = i
    for k in range(n):
        s = (s * 31 + k + j) % 1000003
        if s % 7 == m:
            s += 1
    return s


def make_g(i, how="exec"):
    j, m = i % 11, i % 7
    src = GEN_SRC.format(i=i, j=j, m=m)
    name = "g_%d" % i
    if how == "exec":
        ns = {}
        exec(compile(src, "<stress %d>" % i, "exec"), ns)
        f = ns[name]
    else:
        module = compile(src, "<stress %d>" % i, "exec")
        code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
        f = types.FunctionType(code, {}, name)
    return f, (i, j, m)


def scenario_limits(seconds, seed, workdir):
    import psyco
    from psyco import _psyco
    psyco.cannotcompile(ref_g)
    # The harness's own long functions would be selected too (profile(0.0) takes anything it
    # sees), and one of them alone can overshoot every limit below: keep them out.
    for f in (main, _child_main, scenario_limits, _limits_with_threads):
        psyco.cannotcompile(f)
    rnd = random.Random(seed)
    failures = []
    native = _psyco.native_status()[0]
    logpath = os.path.join(workdir, "limits.log-psyco")
    jsonpath = psyco.log(logpath, json=True) + ".jsonl"
    k_full, k_profile, k_max = 24, 12, 120   # kilobytes
    psyco.full(memory=k_full)
    psyco.profile(watermark=0.0, pollfreq=500, memory=k_profile)
    psyco.full(memorymax=k_full + k_profile + k_max)
    psyco.profile(timemax=0.001)                 # long expired when its turn comes: skipped
    psyco.background(watermark=0.0, pollfreq=500, time=max(0.2, seconds * 0.1))
    psyco.runonly()
    made = checked = 0
    seen = []
    deadline = time.monotonic() + max(20.0, seconds * 3)
    while time.monotonic() < deadline:
        s = psyco.stats(0)
        kind = s["active"] and s["active"]["kind"]
        if not seen or seen[-1] != kind:
            seen.append(kind)
        if kind == "runonly" or not native:
            break
        f, args = make_g(made, rnd.choice(("exec", "function")))
        made += 1
        for _ in range(3):
            n = rnd.randint(200, 2000)
            got, want = f(n), ref_g(*args, n)
            checked += 1
            if got != want:
                failures.append("g_%d(%d) = %r, plain Python says %r" % (args[0], n, got, want))
    else:
        failures.append("the chain did not reach runonly within the time limit: saw %s" % seen)
    # Under runonly nothing new compiles, and compiled code still gives the right answers.
    late = []
    for i in range(made, made + 20):
        f, args = make_g(i)
        late.append(f)
        for _ in range(3):
            n = rnd.randint(200, 2000)
            if f(n) != ref_g(*args, n):
                failures.append("runonly: g_%d(%d) wrong" % (i, n))
    time.sleep(0.1)
    st = psyco.stats(0)
    if any(psyco.is_compiled(f) for f in late):
        failures.append("runonly compiled new functions: %s"
                        % [f.__name__ for f in late if psyco.is_compiled(f)])
    psyco.stop()
    events = read_jsonl(jsonpath)
    chain = [e["msg"] for e in events
             if e["event"] in ("profiler_started", "profiler_retired", "profiler_skipped")]
    want = [
        "FullCompiler: starting", "FullCompiler: disabled (memory limit reached)",
        "ActivePassiveProfiler: starting",
        "ActivePassiveProfiler: disabled (memory limit reached)",
        "FullCompiler: starting", "FullCompiler: disabled (memorymax limit reached)",
        "ActivePassiveProfiler: skipped (timemax limit reached while queued)",
        "PassiveProfiler: starting", "PassiveProfiler: disabled (time limit reached)",
        "RunOnly: starting", "RunOnly: disabled (psyco.stop())",
    ]
    if native and chain != want:
        failures.append("the log shows the chain\n  %s\nexpected\n  %s"
                        % ("\n  ".join(chain), "\n  ".join(want)))
    # Bytes compiled under each profiler, from the log's compiled events.
    stage_bytes = []
    total = 0
    total_at_retire = []
    cur = None
    for e in events:
        if e["event"] == "profiler_started":
            cur = []
            stage_bytes.append(cur)
        elif e["event"] == "compiled" and cur is not None:
            cur.append(e["bytes"])
            total += e["bytes"]
        elif e["event"] == "profiler_retired":
            total_at_retire.append(total)
    figures = {"functions_made": made, "calls_checked": checked,
               "stage_kb": [round(sum(b) / 1024, 1) for b in stage_bytes],
               "stage_compiles": [len(b) for b in stage_bytes], "seen": seen,
               "code_bytes": st["code_bytes"], "retired": st["profilers_retired"]}
    if native and len(stage_bytes) == 5:
        for idx, limit in ((0, k_full), (1, k_profile)):
            b = stage_bytes[idx]
            if sum(b) < limit * 1024:
                failures.append("stage %d retired at %d bytes, before its memory=%d kB"
                                % (idx, sum(b), limit))
            # retired at the first compile past the limit (+ jobs already queued: profile)
            slack = 0 if idx == 0 else 4
            if sum(b[:len(b) - 1 - slack]) >= limit * 1024:
                failures.append("stage %d went on compiling past memory=%d kB: %r"
                                % (idx, limit, b))
        if total_at_retire[2] < (k_full + k_profile + k_max) * 1024:
            failures.append("memorymax stage retired at %d bytes in total" % total_at_retire[2])
        # under runonly, only jobs selected before it started may still finish
        selected_before, compiled_late, phase = set(), [], 0
        for e in events:
            if e["event"] == "profiler_started":
                phase += 1
            elif e["event"] == "selected" and phase < 5:
                selected_before.add(e.get("function"))
            elif e["event"] == "compiled" and phase == 5:
                compiled_late.append(e.get("function"))
        new = [f for f in compiled_late if f not in selected_before]
        if new:
            failures.append("compiled under runonly without being selected before: %r" % new)
    if native:
        _limits_with_threads(seed, workdir, failures, figures)
    return failures, figures


def _limits_with_threads(seed, workdir, failures, figures):
    """Four threads compile fresh functions under full(memory=K) at once: the profiler must
    retire at the first compilation past K (each compiles with the GIL held), and nothing new
    compiles under the runonly() that follows."""
    import psyco
    psyco.stop()
    jsonpath = psyco.log(os.path.join(workdir, "limits2.log-psyco"), json=True) + ".jsonl"
    k = 48
    psyco.full(memory=k)
    psyco.runonly()
    stop = threading.Event()
    counts = [[0] for _ in range(4)]
    threads = [threading.Thread(target=maker, args=(stop, seed * 10 + 1000 + i, failures,
                                                    counts[i], "limits maker %d" % i))
               for i in range(4)]
    for t in threads:
        t.start()
    reached = wait_until(lambda: psyco.stats(0)["active"]["kind"] == "runonly", timeout=20)
    time.sleep(0.2)
    stop.set()
    join_all(threads, 30, failures)
    psyco.stop()
    if not reached:
        failures.append("threads: full(memory=%d) never retired" % k)
        return
    events = read_jsonl(jsonpath)
    phase, under_full, under_runonly = 0, [], []
    selected_before = set()
    for e in events:
        if e["event"] == "profiler_started":
            phase += 1
        elif e["event"] == "selected" and phase == 1:
            selected_before.add(e["function"])
        elif e["event"] == "compiled":
            (under_full if phase == 1 else under_runonly).append((e["function"], e["bytes"]))
    b = [n for _, n in under_full]
    if sum(b) < k * 1024 or sum(b[:-1]) >= k * 1024:
        failures.append("threads: full(memory=%d) retired after compiling %r" % (k, b))
    late = [f for f, _ in under_runonly if f not in selected_before]
    if late:
        failures.append("threads: compiled under runonly: %r" % late)
    figures["threads_full_kb"] = round(sum(b) / 1024, 1)
    figures["threads_fresh_calls"] = sum(c[0] for c in counts)


# ------------------------------------------------------------------------------------------
# Scenario 4: code objects created and dropped in a loop under full()
# ------------------------------------------------------------------------------------------

TEMPLATE_K = 7


def template(n):
    s = 0
    for k in range(n):
        s += k * TEMPLATE_K % 13
    return s


def ref_template(n, mult):
    s = 0
    for k in range(n):
        s += k * mult % 13
    return s


def scenario_churn(seconds, seed, workdir):
    import weakref
    import psyco
    from psyco import _psyco
    psyco.cannotcompile(ref_g)
    psyco.cannotcompile(ref_template)
    rnd = random.Random(seed)
    failures = []
    native = _psyco.native_status()[0]
    psyco.full()
    tcode = template.__code__
    kpos = tcode.co_names.index("TEMPLATE_K")
    refs = []           # weak references to the code objects not yet seen dead
    made = 0
    rows = []
    serial = 0
    checked = 0
    t0 = time.monotonic()
    min_rounds = 8
    rnd_count = 0
    while rnd_count < min_rounds or time.monotonic() - t0 < seconds:
        batch = []
        for _ in range(30):
            how = serial % 4
            serial += 1
            if how in (0, 1):
                f, args = make_g(serial, ("exec", "function")[how])
                ref = lambda n, args=args: ref_g(*args, n)
            elif how == 2:
                a, b = serial % 97, serial % 13
                # (explicit globals: eval() with the frame's own would snapshot its locals
                # into frame.f_locals, which would keep the last batch alive)
                f = eval("lambda n: (n * %d + %d) %% 1009 + %d" % (a, b, serial), {})
                ref = lambda n, a=a, b=b, c=serial: (n * a + b) % 1009 + c
            else:
                mult = serial % 29 + 1
                # a fresh code object: the template with another global for its multiplier
                name = "K_%d" % serial
                names = tcode.co_names[:kpos] + (name,) + tcode.co_names[kpos + 1:]
                f = types.FunctionType(tcode.replace(co_names=names), {name: mult, "range": range})
                ref = lambda n, mult=mult: ref_template(n, mult)
            for _ in range(2):
                n = rnd.randint(50, 600)
                got, want = f(n), ref(n)
                checked += 1
                if got != want:
                    failures.append("%s(%d) = %r, plain Python says %r"
                                    % (f.__code__.co_name, n, got, want))
            refs.append(weakref.ref(f.__code__))
            made += 1
            batch.append(f)
        if rnd_count == 0 and native and not any(psyco.is_compiled(f) for f in batch):
            failures.append("full() compiled none of the fresh functions")
        del batch, f, ref
        gc.collect()
        s = psyco.stats(0)
        rows.append({"round": rnd_count, "rss_kb": rss_kb(), "records": s["records"],
                     "mapped": s["code_mapped_bytes"], "code_bytes": s["code_bytes"],
                     "compiled": s["compiled"], "alive": sum(r() is not None for r in refs)})
        # keep only the live ones: a list of every weak reference would itself grow the RSS
        refs = [r for r in refs if r() is not None]
        rnd_count += 1
    gc.collect()
    alive = sum(r() is not None for r in refs)
    if alive:
        names = sorted({r().co_name for r in refs if r() is not None})
        holders = sorted({type(h).__name__ for r in refs if r() is not None
                          for h in gc.get_referrers(r())})
        failures.append("%d of %d dropped code objects are still alive: %s, held by %s"
                        % (alive, made, names[:5], holders))
    mid, end = rows[len(rows) // 2], rows[-1]
    for key, slack in (("rss_kb", 0), ("records", 20), ("mapped", 256 * 1024)):
        if end[key] > mid[key] * 1.10 + slack:
            failures.append("%s grew from %d to %d over the second half (%d rounds)"
                            % (key, mid[key], end[key], len(rows)))
    if max(r["alive"] for r in rows) > 60:
        failures.append("dead code objects pile up between rounds: %r"
                        % [r["alive"] for r in rows])
    if native and end["compiled"] < made // 2:
        failures.append("only %d of %d fresh functions compiled" % (end["compiled"], made))
    return failures, {
        "rounds": len(rows), "code_objects": made, "calls_checked": checked,
        "rss_kb_first_mid_end": [rows[0]["rss_kb"], mid["rss_kb"], end["rss_kb"]],
        "mapped_kb_mid_end": [mid["mapped"] // 1024, end["mapped"] // 1024],
        "records_mid_end": [mid["records"], end["records"]],
        "code_bytes_generated_kb": end["code_bytes"] // 1024,
        "compiled": end["compiled"],
    }


# ------------------------------------------------------------------------------------------
# Scenario 5: fork while compiled code and the sampler run
# ------------------------------------------------------------------------------------------


def _child_after_fork(table, keys, seed, w, errpath, from_main, mode):
    """In the forked child: compute, compile something new, report on fd `w`, exit."""
    import psyco
    status = 0
    try:
        err = os.open(errpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(err, 2)
        failures = []
        check_calls(table, keys, random.Random(seed), 20, failures, "child")
        f, args = make_g(100000 + seed)
        for n in (300, 700):
            if f(n) != ref_g(*args, n):
                failures.append("child: fresh g(%d) wrong" % n)
        s = psyco.stats(0)
        report = {"failures": failures, "compiled_new": psyco.is_compiled(f),
                  "active": s["active"] and s["active"]["kind"], "mode": mode,
                  "threads": os_threads()}
        if mode == "profile":
            s0 = s["samples"]
            report["samples_grow"] = bool(wait_until(
                lambda: (w_arith(300), psyco.stats(0)["samples"] > s0)[1], timeout=3, step=0))
        # the child changes profilers in its turn
        psyco.stop()
        psyco.background(pollfreq=500)
        s0 = psyco.stats(0)["samples"]
        report["restarted_samples"] = bool(wait_until(
            lambda: (w_arith(300), psyco.stats(0)["samples"] > s0)[1], timeout=3, step=0))
        psyco.stop()
        psyco.full()
        g, gargs = make_g(200000 + seed)
        if g(400) != ref_g(*gargs, 400):
            failures.append("child: g after restarting full() wrong")
        report["compiled_after_restart"] = psyco.is_compiled(g)
        os.write(w, json.dumps(report).encode())
    except BaseException:
        status = 3
        try:
            os.write(w, json.dumps({"failures": ["child raised:\n" + traceback.format_exc()]})
                     .encode())
        except BaseException:
            pass
    finally:
        os.close(w)
        if from_main and status == 0:
            sys.exit(0)        # a normal exit: atexit, psyco's shutdown, the log
        os._exit(status)


def _collect_child(child, native, failures):
    """Waits for a forked child (20 s at most), reads its report and checks it; returns the
    report or None."""
    pid, r, errpath, from_main, mode = child
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        status = None
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    try:
        with open(errpath) as f:
            err = f.read()
        os.unlink(errpath)
    except OSError:
        err = ""
    tag = "child %d (forked from %s, %s)" % (pid, "main" if from_main else "a thread", mode)
    if status is None:
        failures.append("%s hung; stderr:\n%s" % (tag, err[-2000:]))
        return None
    if status != 0:
        failures.append("%s exited with status %#x; stderr:\n%s" % (tag, status, err[-2000:]))
    for bad in ("Traceback", "panicked", "Fatal Python error", "Exception ignored"):
        if bad in err:
            failures.append("%s wrote %r on stderr:\n%s" % (tag, bad, err[-2000:]))
            break
    try:
        rep = json.loads(data.decode() or "{}")
    except ValueError:
        rep = {}
    if not rep:
        failures.append("%s reported nothing" % tag)
        return None
    failures.extend("%s: %s" % (tag, f) for f in rep.get("failures", []))
    if rep.get("active") != mode:
        failures.append("%s: active profiler %r" % (tag, rep.get("active")))
    if native and mode == "full" and not rep.get("compiled_new"):
        failures.append("%s: full() did not compile a new function in the child" % tag)
    if mode == "profile" and not rep.get("samples_grow"):
        failures.append("%s: the child's sampler never samples" % tag)
    if not rep.get("restarted_samples"):
        failures.append("%s: background() started in the child never samples" % tag)
    if native and not rep.get("compiled_after_restart"):
        failures.append("%s: full() started in the child compiles nothing" % tag)
    return rep


def scenario_fork(seconds, seed, workdir):
    import psyco
    from psyco import _psyco
    psyco.cannotcompile(ref_g)
    rnd = random.Random(seed)
    table = expectations(rnd)
    keys = sorted(table)
    failures = []
    native = _psyco.native_status()[0]
    psyco.log(os.path.join(workdir, "fork.log-psyco"))
    stop = threading.Event()
    calls = [0] * 4
    children = []
    serial = iter(range(1 << 30))

    def worker(k):
        r = random.Random(seed * 1000 + k)
        try:
            while not stop.is_set():
                calls[k] += check_calls(table, keys, r, 3, failures, "worker %d" % k)
        except BaseException:
            failures.append("worker %d raised:\n%s" % (k, traceback.format_exc()))

    lock = threading.Lock()
    pending = []
    ok = [0]

    def fork_one(from_main, mode):
        r, w = os.pipe()
        k = next(serial)
        errpath = os.path.join(workdir, "child-%d.err" % k)
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child_after_fork(table, keys, seed + k, w, errpath, from_main, mode)
        os.close(w)
        with lock:
            children.append(pid)
            pending.append((pid, r, errpath, from_main, mode))

    def collect_oldest():
        with lock:
            child = pending.pop(0)
        if _collect_child(child, native, failures) is not None:
            ok[0] += 1

    def forker_thread(mode, until):
        r = random.Random(seed + 99)
        try:
            while time.monotonic() < until:
                fork_one(False, mode)
                time.sleep(r.uniform(0.05, 0.3))
        except BaseException:
            failures.append("forking thread raised:\n" + traceback.format_exc())

    workers = [threading.Thread(target=worker, args=(k,), name="worker-%d" % k)
               for k in range(4)]
    made = [0]
    workers.append(threading.Thread(target=maker, name="maker",
                                    args=(stop, seed + 1, failures, made, "maker")))
    for t in workers:
        t.start()
    for mode in ("full", "profile"):
        psyco.stop()
        if mode == "full":
            psyco.full()
        else:
            psyco.profile(watermark=0.0, pollfreq=500)
        time.sleep(0.1)
        until = time.monotonic() + max(0.5, seconds / 2 - 0.1)
        ft = threading.Thread(target=forker_thread, args=(mode, until))
        ft.start()
        fork_one(True, mode)
        while time.monotonic() < until:
            time.sleep(rnd.uniform(0.05, 0.3))
            fork_one(True, mode)
            while len(pending) > 12:          # reap as we go: pipes and zombies are finite
                collect_oldest()
        ft.join(30)
    stop.set()
    join_all(workers, 30, failures)
    while pending:
        collect_oldest()
    psyco.stop()
    s = psyco.stats(0)
    if native and s["compiled"] == 0:
        failures.append("nothing compiled in the parent")
    return failures, {"forks": len(children), "children_ok": ok[0],
                      "calls_checked": sum(calls), "fresh_calls_checked": made[0],
                      "compiled": s["compiled"], "samples": s["samples"]}


# ------------------------------------------------------------------------------------------
# Running scenarios
# ------------------------------------------------------------------------------------------

SCENARIOS = {
    "threads": scenario_threads,
    "signals": scenario_signals,
    "limits": scenario_limits,
    "churn": scenario_churn,
    "fork": scenario_fork,
}


DUMP_SIGNAL = signal.SIGUSR2


# The runner's own checks (tests/test_stress.py): not listed, not run by default.
def _selftest_crash(seconds, seed, workdir):
    os.kill(os.getpid(), signal.SIGSEGV)


def _selftest_hang(seconds, seed, workdir):
    time.sleep(3600)


def _selftest_wrong(seconds, seed, workdir):
    return ["wrong on purpose"], {"seconds": seconds, "seed": seed}


_SELFTESTS = {"_crash": _selftest_crash, "_hang": _selftest_hang, "_wrong": _selftest_wrong}


def _child_main(name, seconds, seed, workdir):
    import faulthandler
    faulthandler.enable()
    # The parent sends DUMP_SIGNAL before it kills a child that hangs: stacks of every thread.
    # (Not dump_traceback_later: its watchdog thread does not survive a fork, and a forked
    # child that exits normally then waits for it forever, plain CPython 3.11.)
    faulthandler.register(DUMP_SIGNAL, all_threads=True)
    pid = os.getpid()
    t0 = time.monotonic()
    try:
        failures, figures = {**SCENARIOS, **_SELFTESTS}[name](seconds, seed, workdir)
    except BaseException:
        if os.getpid() != pid:
            raise        # a forked child leaving (sys.exit): not the scenario's result
        failures, figures = ["scenario raised:\n" + traceback.format_exc()], {}
    out = {"failures": failures, "figures": figures, "elapsed": time.monotonic() - t0}
    sys.stdout.write("\n" + RESULT_TAG + json.dumps(out, default=repr) + "\n")
    sys.stdout.flush()
    return 0


def _timeout(seconds):
    return seconds * 4 + 60


def run_scenario(name, seconds=5.0, seed=1, timeout=None, env=None):
    """Runs scenario `name` in a fresh interpreter; returns a dict: name, ok, verdict
    ('pass', 'fail', 'crash', 'hang', 'error'), failures, figures, elapsed, returncode,
    stderr (its tail)."""
    if name not in SCENARIOS and name not in _SELFTESTS:
        raise ValueError("unknown scenario %r (have %s)" % (name, ", ".join(SCENARIOS)))
    timeout = timeout or _timeout(seconds)
    child_env = dict(os.environ if env is None else env)
    child_env.pop("PSYCO_TEST_FULL", None)
    child_env["PYTHONFAULTHANDLER"] = "1"
    with tempfile.TemporaryDirectory(prefix="psyco-stress-") as workdir:
        outp, errp = os.path.join(workdir, "out"), os.path.join(workdir, "err")
        cmd = [sys.executable, "-m", "psyco.stress", "--child", name, repr(float(seconds)),
               str(seed), workdir]
        t0 = time.monotonic()
        with open(outp, "w") as out, open(errp, "w") as err:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout)
                hung = False
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, DUMP_SIGNAL)
                    p.wait(2)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                os.killpg(p.pid, signal.SIGKILL)
                rc = p.wait()
                hung = True
        elapsed = time.monotonic() - t0
        stdout = open(outp).read()
        stderr = open(errp).read()
    res = {"name": name, "seconds": seconds, "seed": seed, "elapsed": round(elapsed, 2),
           "returncode": rc, "failures": [], "figures": {}, "stderr": stderr[-4000:]}
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            data = json.loads(line[len(RESULT_TAG):])
            res["failures"] = data["failures"]
            res["figures"] = data["figures"]
            break
    else:
        if not hung and rc == 0:
            res["failures"] = ["the child reported no result"]
    if hung:
        res["verdict"] = "hang"
        res["failures"].insert(0, "killed after %.0f s" % timeout)
    elif rc < 0:
        res["verdict"] = "crash"
        res["failures"].insert(0, "killed by signal %d" % -rc)
    elif rc != 0:
        res["verdict"] = "error"
        res["failures"].insert(0, "exit status %d" % rc)
    else:
        res["verdict"] = "fail" if res["failures"] else "pass"
    res["ok"] = res["verdict"] == "pass"
    return res


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m psyco stress",
                                description="Stress scenarios for psyco, each in a fresh "
                                "interpreter, checked against plain Python.")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="how long each scenario runs (default 10)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated subset of: %s" % ", ".join(SCENARIOS))
    p.add_argument("--repeat", type=int, default=1,
                   help="run the list this many times, seeds S, S+1, ... (default 1)")
    p.add_argument("--json", default="", help="write every result here")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        name, seconds, seed, workdir = args.child
        return _child_main(name, float(seconds), int(seed), workdir)
    if args.list:
        for name, fn in SCENARIOS.items():
            print(name)
        return 0
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        p.error("unknown scenario(s) %s; have %s" % (", ".join(bad), ", ".join(SCENARIOS)))
    results = []
    print("psyco stress: %s, %.0f s each, seed %d" % (", ".join(names), args.seconds, args.seed))
    for rep in range(args.repeat):
        for name in names:
            r = run_scenario(name, args.seconds, args.seed + rep)
            results.append(r)
            figs = ", ".join("%s=%s" % kv for kv in r["figures"].items())
            print("%-8s seed %-4d %-6s %6.1f s  %s" % (name, r["seed"], r["verdict"].upper(),
                                                      r["elapsed"], figs))
            for f in r["failures"]:
                print("    " + f.replace("\n", "\n    "))
            if not r["ok"] and r["stderr"].strip():
                print("    --- stderr (tail)\n    " + r["stderr"][-2000:].replace("\n", "\n    "))
            sys.stdout.flush()
    bad = [r for r in results if not r["ok"]]
    print("%d scenario runs, %d passed, %d did not" % (len(results), len(results) - len(bad),
                                                       len(bad)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
