"""The profilers: the sampler finds hot code, profile() adds active profiling, the queue retires
profilers on their limits in order, stop() really stops, and none of it breaks under
concurrent use. Every test runs in a fresh interpreter (profilers are process-global)."""

import re

from psyco_testing import run_json, run_ok

HOT_COLD = """
def cold1(n):
    return sum(range(n))
def cold2(x):
    return [x] * 3
def hot(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def work():
    hot(20000); cold1(5); cold2(1)
"""


def log_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def profiler_lines(lines):
    """The 'X: starting' / 'X: disabled (...)' / 'X: skipped (...)' messages, in order."""
    out = []
    for line in lines:
        m = re.match(r"^\d\d:\d\d:\d\d\.\d\d  (\w+: (?:starting|disabled|skipped)[^%]*?)\s*%+$",
                     line)
        if m:
            out.append(m.group(1))
    return out


def test_background_ranks_the_hot_function_first():
    out = run_json(HOT_COLD + """
import psyco
psyco.background(watermark=0.95)  # high: nothing is selected, so the charges stay visible
t0 = time.monotonic()
def top_is_hot():
    t = psyco.stats(3)['top']
    return t and t[0]['function'] == 'hot' and t[0]['fraction'] > 0.5
ok = spin_until(top_is_hot, work, timeout=10)
elapsed = time.monotonic() - t0
spin_until(lambda: False, work, timeout=0.3)
s = psyco.stats(5)
emit({'ok': bool(ok), 'elapsed': elapsed,
      'top': [(r['function'], r['fraction'], r['line']) for r in s['top']],
      'selected': s['selected'], 'hot_state': psyco._psyco.code_state(hot.__code__),
      'hot_line': hot.__code__.co_firstlineno})
""")
    assert out["ok"], out
    assert out["elapsed"] < 3.0, "the sampler should find the hot function within ~1 s"
    names = [t[0] for t in out["top"]]
    assert names[0] == "hot" and out["top"][0][2] == out["hot_line"]
    assert out["top"][0][1] > 0.5
    for cold in ("cold1", "cold2"):
        if cold in names:
            assert dict((t[0], t[1]) for t in out["top"])[cold] < 0.09
    assert out["selected"] == 0 and "selected" not in out["hot_state"]


def test_background_tags_the_hot_function_only(tmp_path):
    log = tmp_path / "bg.log"
    out = run_json(HOT_COLD + """
import psyco
psyco.log(%r)
psyco.background()
t0 = time.monotonic()
ok = spin_until(lambda: 'selected' in psyco._psyco.code_state(hot.__code__), work, timeout=10)
elapsed = time.monotonic() - t0
spin_until(lambda: False, work, timeout=0.5)
s = psyco.stats()
emit({'ok': ok, 'elapsed': elapsed, 'samples': s['samples'], 'selected': s['selected'],
      'cold': [psyco._psyco.code_state(f.__code__) for f in (cold1, cold2)]})
""" % str(log))
    assert out["ok"] and out["elapsed"] < 3.0, out
    assert out["samples"] > 0
    assert all("selected" not in st for st in out["cold"])
    lines = log_lines(log)
    tags = [l for l in lines if "tag function:" in l]
    assert any(re.search(r"tag function: hot\s+%$", l) for l in tags), lines
    assert not any("cold" in l for l in tags), tags


def test_profile_selects_through_active_profiling(tmp_path):
    out = run_json(HOT_COLD + """
import psyco
psyco.profile()
t0 = time.monotonic()
ok = spin_until(lambda: 'selected' in psyco._psyco.code_state(hot.__code__)
                and psyco.stats(0)['active_events'] > 0, lambda: hot(2000), timeout=10)
s = psyco.stats(0)
emit({'ok': ok, 'elapsed': time.monotonic() - t0, 'events': s['active_events'],
      'active': s['active']['kind'], 'recent': s['recent_events'],
      'cold': psyco._psyco.code_state(cold1.__code__)})
""")
    assert out["ok"], out
    assert out["events"] > 0
    assert out["active"] == "profile"
    assert any("ActivePassiveProfiler: starting" in e for e in out["recent"])
    assert any(e.endswith("tag function: hot") for e in out["recent"])
    assert "selected" not in out["cold"]


def test_background_does_no_active_profiling():
    out = run_json(HOT_COLD + """
import psyco
psyco.background()
spin_until(lambda: psyco.stats(0)['samples'] > 20, work, timeout=10)
emit(psyco.stats(0)['active_events'])
""")
    assert out == 0


def test_queue_retires_profilers_in_order(tmp_path):
    log = tmp_path / "q.log"
    out = run_json(HOT_COLD + """
import psyco
psyco.log(%r)
t0 = time.monotonic()
psyco.background(time=0.3)
psyco.profile(time=0.3)
psyco.background()
q0 = [d['kind'] for d in psyco.stats(0)['queue']]
a0 = psyco.stats(0)['active']['kind']
ok = spin_until(lambda: psyco.stats(0)['profilers_retired'] >= 2, lambda: hot(500), timeout=15)
elapsed = time.monotonic() - t0
spin_until(lambda: False, lambda: hot(500), timeout=0.2)
s = psyco.stats(0)
emit({'ok': ok, 'elapsed': elapsed, 'q0': q0, 'a0': a0, 'retired': s['profilers_retired'],
      'active': s['active'] and s['active']['kind'], 'queue': s['queue']})
""" % str(log))
    assert out["ok"], out
    assert out["a0"] == "background" and out["q0"] == ["profile", "background"]
    assert out["retired"] == 2
    assert out["active"] == "background" and out["queue"] == []
    assert out["elapsed"] >= 0.55, "two profilers of 0.3 s each cannot retire sooner"
    assert profiler_lines(log_lines(log)) == [
        "PassiveProfiler: starting",
        "PassiveProfiler: disabled (time limit reached)",
        "ActivePassiveProfiler: starting",
        "ActivePassiveProfiler: disabled (time limit reached)",
        "PassiveProfiler: starting",
        "PassiveProfiler: disabled (program exit)",
    ]


def test_queue_ends_when_every_profiler_has_a_limit():
    out = run_json("""
import psyco
psyco.full(time=0.2)
psyco.runonly(time=0.2)
ok = wait_until(lambda: psyco.stats(0)['active'] is None, timeout=10)
s = psyco.stats(0)
# nothing new is compiled once the queue is empty
def late(x):
    return x + 1
late(1)
emit({'ok': ok, 'retired': s['profilers_retired'], 'events': s['recent_events'],
      'late': psyco._psyco.code_state(late.__code__),
      'sampler_gone': wait_until(lambda: not psyco.stats(0)['sampler_running'], 5)})
""")
    assert out["ok"] and out["retired"] == 2
    ev = out["events"]
    assert any("FullCompiler: disabled (time limit reached)" in e for e in ev)
    assert any("RunOnly: disabled (time limit reached)" in e for e in ev)
    assert any("profiling stopped" in e for e in ev)
    assert "selected" not in out["late"]
    assert out["sampler_gone"], "the sampler thread ends once no profiler is left"


def test_time_counts_from_start_timemax_from_the_call():
    out = run_json("""
import psyco
t0 = time.monotonic()
psyco.background(time=0.4)
psyco.profile(timemax=0.2)     # expires while queued: skipped
psyco.background(time=0.4)     # 'time' counts from its own start: runs its full 0.4 s
psyco.runonly(timemax=60)      # still in time when its turn comes
times = {}
def watch():
    s = psyco.stats(0)
    times.setdefault(s['profilers_retired'], time.monotonic() - t0)
    return s['active'] and s['active']['kind'] == 'runonly'
ok = wait_until(watch, timeout=15, step=0.005)
s = psyco.stats(0)
emit({'ok': ok, 'times': times, 'events': s['recent_events'],
      'retired': s['profilers_retired']})
""")
    assert out["ok"], out
    ev = "\n".join(out["events"])
    assert "ActivePassiveProfiler: skipped (timemax limit reached while queued)" in ev
    assert "ActivePassiveProfiler: starting" not in ev
    assert out["retired"] == 2
    t = {int(k): v for k, v in out["times"].items()}
    assert t[1] >= 0.38, t          # first background: 0.4 s from the call
    assert t[2] >= 0.78, t          # second background: 0.4 s from its own start
    assert "RunOnly: starting" in ev


def test_timemax_of_the_running_profiler():
    out = run_json("""
import psyco
t0 = time.monotonic()
psyco.background(timemax=0.3)
ok = wait_until(lambda: psyco.stats(0)['active'] is None, timeout=10, step=0.005)
emit({'ok': ok, 'elapsed': time.monotonic() - t0, 'events': psyco.stats(0)['recent_events']})
""")
    assert out["ok"]
    assert out["elapsed"] >= 0.28
    assert out["elapsed"] < 5
    assert any("PassiveProfiler: disabled (timemax limit reached)" in e for e in out["events"])


def test_full_selects_at_first_call_and_runonly_does_not():
    out = run_json("""
import psyco
from psyco._psyco import code_state
def f(x):
    return x + 1
def g(x):
    return x + 2
psyco.full()
f(1)
sf = code_state(f.__code__)
psyco.stop()
psyco.runonly()
g(1)
sg = code_state(g.__code__)
s = psyco.stats(0)
emit({'f': sf, 'g': sg, 'selected': s['selected'], 'hook': s['hook_installed'],
      'active': s['active']['kind']})
""")
    assert "selected" in out["f"]
    assert "selected" not in out["g"]
    assert out["selected"] >= 1 and out["hook"] is True and out["active"] == "runonly"


def test_stop_joins_the_sampler_and_threads_drop_back():
    out = run_json(HOT_COLD + """
import psyco
base = os_threads()
psyco.background(watermark=1.0, parentframe=0)
running = wait_until(lambda: psyco.stats(0)['sampler_running'], 5)
during = os_threads()
spin_until(lambda: psyco.stats(0)['samples'] > 5, lambda: cold1(1000), timeout=10)
psyco.stop()
s = psyco.stats(0)
# pthread_join has returned; the kernel may take a moment to drop the task entry
wait_until(lambda: os_threads() <= base + (1 if s['worker_running'] else 0), 2)
after = os_threads()
emit({'base': base, 'during': during, 'after': after, 'running': running,
      'sampler_after': s['sampler_running'], 'worker': s['worker_running'],
      'active': s['active'], 'queue': s['queue'], 'events': s['recent_events'],
      'py_threads': threading.active_count()})
""")
    assert out["running"] and out["during"] == out["base"] + 1
    assert out["sampler_after"] is False, "stop() must join the sampler before returning"
    assert out["after"] == out["base"] + (1 if out["worker"] else 0)
    assert out["active"] is None and out["queue"] == []
    assert out["py_threads"] == 1
    assert any("psyco.stop(): profilers stopped, queue purged" in e for e in out["events"])
    assert any("PassiveProfiler: disabled (psyco.stop())" in e for e in out["events"])


def test_stop_purges_the_queue_and_profilers_restart():
    out = run_json(HOT_COLD + """
import psyco
psyco.stop()          # nothing running: harmless, logs nothing
quiet = list(psyco.stats(0)['recent_events'])
psyco.profile(); psyco.background(); psyco.full()
psyco.stop()
s1 = psyco.stats(0)
psyco.stop()
psyco.background()
samples0 = psyco.stats(0)['samples']
ok = spin_until(lambda: psyco.stats(0)['samples'] > samples0, work, timeout=10)
s2 = psyco.stats(0)
emit({'quiet': quiet, 'q1': s1['queue'], 'a1': s1['active'], 's1': s1['sampler_running'],
      'ok': ok, 'a2': s2['active']['kind'], 's2': s2['sampler_running']})
""")
    assert out["quiet"] == []
    assert out["q1"] == [] and out["a1"] is None and out["s1"] is False
    assert out["ok"] and out["a2"] == "background" and out["s2"] is True


def test_profile_active_profiler_is_removed_on_retirement():
    out = run_json(HOT_COLD + """
import psyco
psyco.profile(time=0.5, pollfreq=50)
ok = wait_until(lambda: psyco.stats(0)['active'] is None, timeout=10)
n = psyco.stats(0)['active_events']
spin_until(lambda: False, lambda: hot(100), timeout=0.3)
emit({'ok': ok, 'n': n, 'n2': psyco.stats(0)['active_events'], 'prof': repr(sys.getprofile())})
""")
    assert out["ok"]
    assert out["n"] == out["n2"], "no active profiling after profile() retired"
    assert out["prof"] == "None"


def test_api_from_many_threads_never_crashes_or_leaks_threads():
    out = run_json(HOT_COLD + """
import psyco, random
base = os_threads()
errors = []
def hammer(seed):
    rnd = random.Random(seed)
    calls = [
        lambda: psyco.full(time=rnd.choice([None, 0.01, 0.05])),
        lambda: psyco.profile(time=rnd.choice([None, 0.02]), pollfreq=rnd.choice([20, 200])),
        lambda: psyco.background(timemax=rnd.choice([None, 0.03]), pollfreq=rnd.choice([50, 500])),
        lambda: psyco.runonly(time=rnd.choice([None, 0.01])),
        lambda: psyco.stop(),
        lambda: psyco.stats(3),
    ]
    try:
        for i in range(250):
            rnd.choice(calls)()
            hot(rnd.randrange(1, 3000))
            if rnd.random() < 0.2:
                time.sleep(0.002)
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
for t in threads: t.start()
for t in threads: t.join()
psyco.stop()
s = psyco.stats(0)
# joined Python threads and finished samplers take a moment to leave /proc: poll
expected = base + (1 if s['worker_running'] else 0)
wait_until(lambda: os_threads() <= expected, 5)
comms = [open('/proc/self/task/%s/comm' % t).read().strip() for t in os.listdir('/proc/self/task')]
emit({'errors': errors, 'base': base, 'after': os_threads(), 'worker': s['worker_running'],
      'comms': comms, 'sampler': s['sampler_running'], 'py': threading.active_count()})
""", timeout=60)
    assert out["errors"] == []
    assert out["sampler"] is False
    assert out["py"] == 1
    assert out["after"] == out["base"] + (1 if out["worker"] else 0), repr(out)


def test_parentframe_shares_charge_with_callers():
    code = HOT_COLD + """
import psyco
def caller():
    hot(20000)
# keep every charge visible: nothing here may be selected (selection zeroes a charge)
for f in (hot, caller, spin_until, sys._getframe().f_code):
    psyco.cannotcompile(f)
psyco.background(watermark=0.99, parentframe=%s)
t_end = time.monotonic() + 0.6
spin_until(lambda: time.monotonic() > t_end, caller, timeout=10)
top = {r['function']: r['fraction'] for r in psyco.stats(20)['top']}
emit(top)
"""
    none = run_json(code % "0")
    half = run_json(code % "0.5")
    # parentframe=0: callers are charged only when they are on top themselves (rarely)
    assert none["hot"] > 0.8, none
    assert none.get("caller", 0) < 0.05 and none.get("<module>", 0) < 0.05, none
    assert "caller" in half and half["hot"] > half["caller"] > 0.1, half
    assert half["caller"] < half["hot"] * 0.75


def test_charges_decay_with_halflife():
    out = run_json("""
import psyco
def first():
    s = 0
    for i in range(2000):
        s += i
    return s
def second():
    s = 0
    for i in range(2000):
        s += i
    return s
for f in (first, second, spin_until, sys._getframe().f_code):
    psyco.cannotcompile(f)
psyco.background(watermark=0.99, halflife=0.1, parentframe=0)
t = time.monotonic() + 0.5
spin_until(lambda: time.monotonic() > t, first)
mid = {r['function']: r['fraction'] for r in psyco.stats(5)['top']}
t = time.monotonic() + 1.0   # ten half-lives
spin_until(lambda: time.monotonic() > t, second)
end = {r['function']: r['fraction'] for r in psyco.stats(5)['top']}
emit({'mid': mid, 'end': end})
""")
    assert max(out["mid"], key=out["mid"].get) == "first", out
    end = out["end"]
    assert end.get("first", 0.0) < 0.01, "old charges must have decayed: %r" % end
    assert end["second"] > 0.5, end


def test_charges_are_rescaled_after_many_halflives(tmp_path):
    log = tmp_path / "reset.log"
    out = run_json("""
import psyco
psyco.log(%r)
psyco.background(halflife=0.004, pollfreq=500, watermark=0.99)
def hot():
    return sum(range(3000))
ok = spin_until(lambda: psyco.stats(0)['charge_resets'] > 0, hot, timeout=10)
emit({'ok': ok, 'top': [r['function'] for r in psyco.stats(3)['top']]})
""" % str(log))
    assert out["ok"]
    assert any(l.split("  ", 1)[1].startswith("resetting stats") for l in log_lines(log)
               if re_timestamp(l))


def re_timestamp(line):
    return re.match(r"^\d\d:\d\d:\d\d\.\d\d  ", line) is not None


def test_blocked_threads_are_not_charged():
    """Regression (fixed in d2531b3): a thread blocked in C (a lock, an Event, sleep, I/O) was
    charged like a running one, so Condition.wait got half the charge and was tagged. The
    guide: the charged 'time' does not include time spent waiting."""
    out = run_json(HOT_COLD + """
import psyco
ev = threading.Event()
def idle_waiter():
    ev.wait()
t = threading.Thread(target=idle_waiter); t.start()
for f in (hot, work, cold1, cold2, spin_until, sys._getframe().f_code):
    psyco.cannotcompile(f)   # keep the charges visible (selection zeroes a charge)
psyco.background(watermark=0.99, parentframe=0)
t_end = time.monotonic() + 1.0
spin_until(lambda: time.monotonic() > t_end, work)
top = {r['function']: r['fraction'] for r in psyco.stats(10)['top']}
ev.set(); t.join()
emit(top)
""")
    assert out.get("hot", 0) > 0.8, out
    idle = {k: v for k, v in out.items() if "wait" in k.lower()}
    assert not any(v > 0.05 for v in idle.values()), "a blocked thread was charged: %r" % out


def test_ticks_are_evenly_spaced_on_a_busy_main_thread():
    """Regression (fixed in d2531b3): Py_AddPendingCall from the poll thread does not wake the
    main thread on 3.11, so ticks came in back-to-back pairs every two poll periods and each
    one-poll burst of profile()'s active profiling was switched off again at once."""
    out = run_json(HOT_COLD + """
import psyco
psyco.background(pollfreq=20, watermark=0.99)
seen = []
last = psyco.stats(0)['ticks']
t_end = time.monotonic() + 1.5
while time.monotonic() < t_end:
    hot(100)
    t = psyco.stats(0)['ticks']
    if t != last:
        seen.append(t - last)
        last = t
emit(seen)
""")
    assert sum(out) >= 15, out
    pairs = sum(1 for d in out if d >= 2)
    assert pairs <= 2, "ticks arrive in bursts instead of every 1/pollfreq s: %r" % out


CALLEES = """
class P:
    def __init__(self):
        self.v = 1
def helper(p, x):
    if x < 0:
        return 0
    return p.v + x
def rarely(x):
    return [x]
def hot(n):
    s = 0
    p = P()
    for i in range(n):
        s += helper(p, i)
    rarely(n)
    return s
"""


def _promotion_runs(tmp_path, program, driver, busy, quiet):
    """Runs `program` with `driver` bound (machine code) under background(), profile() and no
    profiler, calling `driver(n)` until the busy function is compiled; returns
    {mode: (result, log lines)} with `busy`'s and each of `quiet`'s code states."""
    runs = {}
    for mode in ("background", "profile", None):
        log = tmp_path / ("%s.log" % mode)
        out = run_json(program + """
import psyco
psyco.log(%r)
if %r:
    getattr(psyco, %r)()
psyco.bind(DRIVER)
expected = DRIVER(100)
ok = spin_until(lambda: 'compiled' in psyco._psyco.code_state(BUSY.__code__), lambda: DRIVER(3000), timeout=%s)
emit({'ok': ok, 'same': DRIVER(100) == expected,
      'busy': psyco._psyco.code_state(BUSY.__code__),
      'quiet': [psyco._psyco.code_state(q.__code__) for q in QUIET]})
""".replace("DRIVER", driver).replace("BUSY", busy).replace("QUIET", "[%s]" % ", ".join(quiet))
            % (str(log), mode, mode, 10 if mode else 1))
        runs[mode] = (out, log_lines(log))
    return runs


def _check_promotion(runs, busy):
    for mode, (out, lines) in runs.items():
        assert out["same"]
        if mode is None:
            assert not out["ok"] and "selected" not in out["busy"], out
            assert not any("tag callee" in l for l in lines), lines
            continue
        assert out["ok"], (mode, out)
        assert not any("selected" in q for q in out["quiet"]), (mode, out)
        assert any(re.search(r"tag callee: %s\s+%%$" % busy, l) for l in lines), lines


def test_profilers_promote_callees_of_compiled_code(tmp_path):
    # hot() runs as machine code (bound); helper(), which it calls thousands of times, is
    # offered to the compiler as a callee ("tag callee") under background() and profile(); a
    # function it calls rarely is not, and neither is anything when no profiler runs.
    runs = _promotion_runs(tmp_path, CALLEES, "hot", "helper", ["rarely", "P.__init__"])
    _check_promotion(runs, "helper")


RESUMED = """
def counter(n):
    i = 0
    while i < n:
        yield i
        i += 1
def slowly(n):
    for i in range(n):
        yield i
def drive(n):
    g = counter(n)
    total = 0
    for v in g:
        total += v
    s = slowly(3)
    return total + sum(s)
"""


def test_profilers_promote_generators_compiled_code_keeps_resuming(tmp_path):
    # drive() runs as machine code (bound) and resumes counter() thousands of times: under
    # background() and profile() counter is offered to the compiler as a callee ("tag
    # callee") and its later resumptions run compiled; slowly(), resumed four times, is not;
    # without a profiler nothing is.
    runs = _promotion_runs(tmp_path, RESUMED, "drive", "counter", ["slowly"])
    _check_promotion(runs, "counter")
