"""Frame switching (src/compiler/osr.rs, csrc/osr311.c): a frame the interpreter is already
running goes on in machine code from the head of one of its loops, which is what "tag
function" promises for the call in progress.

Each program runs twice in a subprocess: plainly, and with `switch_here(f)` compiling `f`
while its frame runs and arming the switch (what the compiler thread does after compiling a
profiler's selection). Outputs must be identical; the switch run must also report that the
expected frames did switch (so a switch that silently never happens fails the test)."""

import os
import subprocess
import sys
import textwrap

import pytest

from psyco import _psyco

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")

PROGRAM = r'''
import sys, threading, traceback, signal, itertools
SWITCH = sys.argv[1] == "switch"
import psyco
from psyco import _psyco

offered = []
def switch_here(fn):
    """Compile fn now and arm the switch for its running frames (in the switch run)."""
    if SWITCH:
        assert _psyco.compile_code(fn.__code__, globals()), fn
        offered.append((fn.__name__, _psyco.offer_switch(fn.__code__)))

out = []
def show(*a):
    out.append(" ".join(map(str, a)))

def tb_lines(e):
    return [(f.name, f.lineno, f.line) for f in traceback.extract_tb(e.__traceback__)]

# --- a frame pushed by a specialized call of the interpreter (not an entry frame), switched
# before anything installed the frame hook
def inner_loop(n, flag):
    t = 0
    for i in range(n):
        if flag and i == 2:
            switch_here(inner_loop)
        t += i * i
    return t

def outer():
    s = 0
    for k in range(3000):
        s += inner_loop(6, k == 2999)
        if k == 2999:
            s += 1000000
    return s
show("non-entry", outer())

# --- a plain counting loop
def simple(n):
    t = 0
    for i in range(n):
        if i == 3:
            switch_here(simple)
        t += i * 2
    return t
show("simple", simple(100000))

# --- nested loops, switched in the inner one (two iterators on the stack)
def nested(n):
    acc = []
    for i in range(n):
        for j in range(n):
            if i == 1 and j == 1:
                switch_here(nested)
            acc.append(i * j - j)
    return acc
show("nested", nested(30))

# --- return from inside nested loops after the switch
def find(n):
    for i in range(n):
        for j in range(n):
            if i == 0 and j == 2:
                switch_here(find)
            if i * j == 42:
                return i, j, "found"
    return None
show("find", find(50))

# --- a while loop
def wloop(n):
    k = 0
    s = 1.0
    while k < n:
        if k == 5:
            switch_here(wloop)
        s = s * 1.0000001 + 0.5
        k += 1
    return k, round(s, 6)
show("while", wloop(20000))

# --- an exception raised after the switch leaves with exactly the traceback of a plain run
def raiser(n):
    t = 0
    for i in range(n):
        if i == 4:
            switch_here(raiser)
        if i == 5000:
            raise ValueError("boom %d" % t)
        t += i
    return t
try:
    raiser(10000)
except ValueError as e:
    show("raise", e, tb_lines(e))

# --- an exception from a callee, with the callee's frame in the traceback
def bad(i):
    return 10 // (i - 77)
def via_callee(n):
    t = 0
    for i in range(n):
        if i == 3:
            switch_here(via_callee)
        t += bad(i)
    return t
try:
    via_callee(100)
except ZeroDivisionError as e:
    show("callee raise", e, tb_lines(e))

# --- exceptions caught inside the switched loop body
def caught(n):
    errs = []
    for i in range(n):
        if i == 2:
            switch_here(caught)
        try:
            if i % 3 == 0:
                raise KeyError(i)
        except KeyError as e:
            errs.append(e.args[0])
    return errs
show("caught", caught(20))

# --- a loop inside try/except and with: no switch point, same results
class CM:
    def __enter__(self):
        return self
    def __exit__(self, *a):
        out.append("exit %r" % (a[0],))
        return False
def guarded(n):
    t = 0
    try:
        with CM():
            for i in range(n):
                if i == 2:
                    switch_here(guarded)
                t += i
                if i == n - 1:
                    raise IndexError(t)
    except IndexError as e:
        return "guarded", e.args
show(*guarded(1000))

# --- a generator's frame never switches
def gen(n):
    for i in range(n):
        if i == 2:
            switch_here(gen)
        yield i * 3
show("gen", sum(gen(1000)))

# --- the frame chain, the recursion depth and locals() seen from inside the switched loop
def chain():
    f = sys._getframe(1)
    names = []
    while f is not None and len(names) < 3:
        names.append((f.f_code.co_name, f.f_lineno))
        f = f.f_back
    return names
def depth_probe():
    """How deep a recursion from here gets before RecursionError (the frame's own count)."""
    best = [0]
    def down(k):
        best[0] = k
        return down(k + 1)
    try:
        down(0)
    except RecursionError:
        pass
    return best[0]
def framey(n):
    seen = []
    total = 0
    for i in range(n):
        if i == 1:
            switch_here(framey)
        if i == n - 1:
            seen.append(chain())
            seen.append(depth_probe())
            seen.append(sorted(k for k in locals() if k != "seen"))
        total += i
    return total, seen
def framey_caller():
    return framey(50)
show("frames", framey_caller())

# --- cells and closures
def closure(n):
    count = 0
    def bump(k):
        nonlocal count
        count += k
    for i in range(n):
        if i == 3:
            switch_here(closure)
        bump(i)
    return count, (lambda: count)()
show("closure", closure(500))

# --- a signal handler's exception inside the switched loop
def spin():
    for i in itertools.count():
        if i == 10:
            switch_here(spin)
        if i < 0:
            break
    return -1
def alarm(*a):
    raise TimeoutError("alarm")
old = signal.signal(signal.SIGALRM, alarm)
signal.setitimer(signal.ITIMER_REAL, 0.2)
try:
    spin()
except TimeoutError as e:
    show("signal", e, [fr[0] for fr in tb_lines(e)])
finally:
    signal.signal(signal.SIGALRM, old)

# --- another thread's frame, armed from this thread
def threaded():
    res = []
    reached = threading.Event()
    go = threading.Event()
    def work(n):
        t = 0
        for i in range(n):
            if i == 10:
                reached.set()
                go.wait()
            t += i % 7
        return t
    th = threading.Thread(target=lambda: res.append(work(300000)))
    th.start()
    reached.wait()
    if SWITCH:
        assert _psyco.compile_code(work.__code__, globals())
        offered.append(("work", _psyco.offer_switch(work.__code__)))
    go.set()
    th.join()
    return res
show("thread", threaded())

# --- a tracer set inside the switched loop: the frame leaves the machine code and reports
# its lines and its single return from there on
tr_events = []
def rec_tracer(frame, event, arg):
    if frame.f_code is settrace_mid.__code__:
        tr_events.append((event, frame.f_lineno))
    return rec_tracer
def settrace_mid(n):
    t = 0
    for i in range(n):
        if i == 2:
            switch_here(settrace_mid)
        if i == 5:
            sys._getframe().f_trace = rec_tracer
            sys.settrace(rec_tracer)
        t += i
    return t
r = settrace_mid(8)
sys.settrace(None)
show("settrace mid-loop", r, tr_events)

# --- a profiler of the user's own: nothing is armed, and it sees every call as usual
prof_events = []
def profiled(n):
    t = 0
    for i in range(n):
        if i == 1:
            switch_here(profiled)
        t += abs(-i)
    return t
def prof(frame, event, arg):
    prof_events.append((event, getattr(arg, "__name__", None) if event.startswith("c_") else frame.f_code.co_name))
sys.setprofile(prof)
r = profiled(4)
sys.setprofile(None)
show("profiled", r, [e for e in prof_events if e[1] in ("profiled", "abs")])

# --- a tracer of the user's own: nothing is armed, and it sees every line as usual
def traced(n):
    t = 0
    for i in range(n):
        if i == 1:
            switch_here(traced)
        t += i
    return t
lines = []
def tracer(frame, event, arg):
    if frame.f_code is traced.__code__ and event == "line":
        lines.append(frame.f_lineno)
    return tracer
sys.settrace(tracer)
r = traced(5)
sys.settrace(None)
show("traced", r, len(lines))

for line in out:
    print(line)
if SWITCH:
    st = psyco.stats()
    print("@@", sorted(offered), st["frames_switched"])
'''

# Frames expected to switch: non-entry, simple, nested, find, while, raise, callee raise,
# caught, frames, closure, signal, thread, settrace mid-loop.
EXPECTED_SWITCHES = 13


def run(mode):
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    p = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True,
                       timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_switched_frames_behave_exactly_as_interpreted_ones():
    plain = run("plain")
    switched = run("switch")
    body, _, tail = switched.rpartition("@@")
    assert body.rstrip("\n") == plain.rstrip("\n"), (plain, switched)
    offered, count = tail.rsplit("]", 1)
    offered = eval(offered + "]")
    armed = dict(offered)
    # Generator frames, frames whose loops are all inside try/with and traced threads are
    # never armed for; every other frame is.
    assert armed["gen"] == 0 and armed["guarded"] == 0 and armed["traced"] == 0, offered
    assert armed["profiled"] == 0, offered
    for name in ("inner_loop", "simple", "nested", "find", "wloop", "raiser", "via_callee",
                 "caught", "framey", "closure", "spin", "work", "settrace_mid"):
        assert armed[name] == 1, (name, offered)
    assert int(count) == EXPECTED_SWITCHES, switched


def _loops(n):
    t = 0
    for i in range(n):
        t += i
    return t


def _gen_loops(n):
    for i in range(n):
        yield i


def test_the_dump_shows_the_switch_entry_of_code_with_switch_points():
    assert _psyco.compile_code(_loops.__code__)
    assert "switch entry" in _psyco.dump_code(_loops.__code__)
    assert _psyco.compile_code(_gen_loops.__code__)
    assert "switch entry" not in _psyco.dump_code(_gen_loops.__code__)
    assert _loops(10) == 45 and sum(_gen_loops(5)) == 10


PROFILE_PROGRAM = r'''
import psyco, sys
psyco.log(sys.argv[1])
getattr(psyco, sys.argv[2])()
def long_running(n):
    t = 0.0
    for i in range(n):
        t += (i % 11) * 0.5
    return t
print(long_running(12_000_000))
print("@@", psyco.stats()["frames_switched"])
'''


@pytest.mark.parametrize("mode", ["profile", "background"])
def test_profilers_switch_the_frame_that_made_a_function_hot(tmp_path, mode):
    log = tmp_path / "x.log-psyco"
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    p = subprocess.run([sys.executable, "-c", PROFILE_PROGRAM, str(log), mode],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    value, _, count = p.stdout.partition("@@")
    n = 12_000_000
    assert float(value) == 0.5 * ((n // 11) * 55 + sum(range(n % 11)))
    text = log.read_text()
    assert "tag function: long_running" in text, text
    assert "switch frame: long_running" in text, text
    assert int(count) >= 1


FULL_SCRIPT = r'''
import sys
import psyco
if sys.argv[1] == "full":
    psyco.log(sys.argv[2])

def main(n):
    if sys.argv[1] == "full":
        psyco.full()          # main's own loop below runs compiled from its next iteration
    acc = 0.0
    for i in range(n):
        acc += (i % 13) * 0.25
    return acc

print(main(400_000))
total = 0
for i in range(300_000):       # the script's body: compiled when full() started, switched
    total += i % 7
    if i == 299_999:
        total -= 5
print(total)
print("@@", psyco.stats()["frames_switched"] if sys.argv[1] == "full" else "")
'''


def test_full_accelerates_the_code_that_called_it(tmp_path):
    log = tmp_path / "x.log-psyco"
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    outs = {}
    for mode in ("plain", "full"):
        p = subprocess.run([sys.executable, "-c", FULL_SCRIPT, mode, str(log)],
                           capture_output=True, text=True, timeout=300, env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        outs[mode] = p.stdout.split("@@")
    assert outs["full"][0] == outs["plain"][0]
    assert int(outs["full"][1]) == 2, outs["full"]
    text = log.read_text()
    assert "compile: main" in text and "compile: <module>" in text, text
    assert "switch frame: main" in text and "switch frame: <module>" in text, text


WAITING_SCRIPT = r"""
import psyco
from psyco import _psyco

def leaf(i):
    return len(str(i))          # a real call (a kernel would inline plain arithmetic)

def work(n):
    t = 0
    for i in range(n):
        t += leaf(i)
    return t

psyco.full()                 # arms the switch for this module's frame ...
armed = _psyco.switch_armed_threads()
r = work(20000)              # ... which waits in a long run of compiled calls
after = _psyco.switch_armed_threads()
for k in range(3):           # a loop head: this frame has a switch point
    r += k
print(armed, r, after)
"""


def test_the_switch_tracer_does_not_stay_armed_over_compiled_code():
    # Compiled code reports no line events; its calls spend the tracer's budget instead, or
    # every compiled call would take the slow path while the frame waits (a full() run of the
    # benchmark suite lost a third of its speed that way).
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    p = subprocess.run([sys.executable, "-c", WAITING_SCRIPT], capture_output=True, text=True,
                       timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    armed, r, after = p.stdout.split()
    assert (armed, r, after) == ("1", str(sum(len(str(i)) for i in range(20000)) + 3), "0"), p.stdout
