"""Calls into compiled functions from C and from interpreted code (csrc/calls.c
`psyco_vectorcall`): once a function's code has run compiled, its vectorcall slot takes the
direct path, so `sorted(key=f)`, `map(f, ...)`, `functools.partial`, operator and `__init__`
slots, property getters and interpreted callers skip `_PyEval_Vector` and the frame hook.
Every program here runs plainly and under psyco.full() in a subprocess; outputs must match."""

import subprocess
import sys
import textwrap

import pytest

from psyco import _psyco

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")

PROGRAM = r'''
import sys, functools, traceback
FULL = sys.argv[1] == "full"
if FULL:
    import psyco
    from psyco import _psyco
    psyco.full()

def key(t):
    return -t[1], t[0]

def with_default(x, k=10):
    return x * k

class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __add__(self, o):
        return Vec(self.x + o.x, self.y + o.y)
    def __eq__(self, o):
        return self.x == o.x and self.y == o.y
    __hash__ = None
    def __repr__(self):
        return "Vec(%r, %r)" % (self.x, self.y)
    @property
    def norm1(self):
        return abs(self.x) + abs(self.y)

def boom(x):
    if x == 3:
        raise ValueError("three")
    return x

def deep_add(v, n):
    return v if n == 0 else deep_add(v + Vec(1, 0), n - 1)

class Rec:
    def __add__(self, o):
        return self + o   # recursion through the nb_add slot: RecursionError as in CPython

def adopted(*fs):
    return [_psyco.direct_vectorcall(f) for f in fs] if FULL else [True] * len(fs)

out = []
for rnd in range(3):
    data = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
    out.append(sorted(data, key=key))
    out.append(list(map(with_default, range(4))))
    out.append(list(map(functools.partial(with_default, k=3), range(4))))   # keywords: ordinary path
    out.append([functools.partial(with_default, 7)(), with_default(2, k=5), with_default(*[3])])
    v = Vec(1, 2) + Vec(3, 4)
    out.append((v, v == Vec(4, 6), v.norm1, sum(w.norm1 for w in [v, Vec(-1, -1)])))
    out.append(deep_add(Vec(0, 0), 50))
    try:
        list(map(boom, range(5)))
    except ValueError as e:
        out.append(("ValueError", str(e), [(f.name, f.lineno) for f in traceback.extract_tb(e.__traceback__)]))
    try:
        Rec() + Rec()
    except RecursionError as e:
        out.append(("RecursionError", str(e)))
    # `__code__` replaced by code that never ran: the slot must fall back, then adopt again.
    if rnd == 1:
        with_default.__code__ = (lambda x, k=10: x - k).__code__
    out.append(with_default(5))
    # A tracer sees the calls made through the slot, as without psyco.
    events = []
    def tracer(frame, event, arg):
        if event == "call":
            events.append(frame.f_code.co_name)
        return None
    sys.settrace(tracer)
    sorted(data, key=key)
    sys.settrace(None)
    out.append(events)
    out.append(adopted(key, Vec.__add__, Vec.__init__, boom))
for x in out:
    print(x)
if FULL:
    def gen():
        yield 1
    list(gen())
    def kwonly(*, a=1):
        return a
    kwonly(); kwonly()
    print("not adopted:", _psyco.direct_vectorcall(gen), _psyco.direct_vectorcall(kwonly))
'''


def run(mode):
    p = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    return p.stdout.splitlines()


def test_calls_from_c_and_slots_match_plain_and_take_the_direct_path():
    plain, full = run("plain"), run("full")
    assert full[:-1] == plain
    # The functions reached only from C (sorted's key, map, the operator slots, __init__) were
    # adopted once their code ran compiled; generators and keyword-only functions are not.
    assert "[True, True, True, True]" in full
    assert full[-1] == "not adopted: False False"


def test_interpreted_callers_reach_compiled_code_through_the_slot():
    # profile()-style: only `leaf` is compiled; its interpreted caller calls it through the slot.
    p = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        from psyco import _psyco
        def leaf(a, b=2):
            return a * b
        def caller(n):
            return sum(leaf(i) for i in range(n)) + leaf(1, 3)
        assert _psyco.compile_code(leaf.__code__)
        leaf(1)          # first call through the hook adopts it
        assert _psyco.direct_vectorcall(leaf)
        assert not _psyco.is_compiled_code(caller.__code__)
        print(caller(100))
        sys.setrecursionlimit(60)
        def down(n):
            return leaf(n) if n == 0 else down(n - 1)
        try:
            down(200)
        except RecursionError as e:
            print("RecursionError", e)
    """)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    assert p.stdout.splitlines() == [str(sum(i * 2 for i in range(100)) + 3),
                                     "RecursionError maximum recursion depth exceeded"]


INTERPRETED = r'''
import sys, traceback, functools
import psyco
from psyco import _psyco
PSYCO = sys.argv[1] == "psyco"
if PSYCO:
    def _installs_the_hook():
        pass
    assert _psyco.compile_code(_installs_the_hook.__code__)

def add(a, b=10):
    return a + b

def boom(x):
    raise ValueError("boom %r" % (x,))

def down(n):
    return down(n + 1)

def names(e):
    return [f.name for f in traceback.extract_tb(e.__traceback__)]

out = []
out.append(list(map(add, [1, 2, 3])))
out.append(sorted([5, 1, 4], key=functools.partial(add, b=-1)))
out.append(sorted([5, 1, 4], key=add))
try:
    list(map(boom, [7]))
except ValueError as e:
    out.append((str(e), names(e)))
try:
    list(map(down, [0]))
except RecursionError as e:
    out.append(str(e))
add.__defaults__ = (100,)
out.append(list(map(add, [1])))
events = []
def prof(frame, event, arg):
    if event == "call" and frame.f_code is add.__code__:
        events.append(frame.f_locals["a"])
sys.setprofile(prof)
list(map(add, [5, 6]))
sys.setprofile(None)
out.append(events)
for line in out:
    print(line)
if PSYCO:
    # Uncompiled functions called through the hook take the direct interpreted path...
    print("@@ adopted", _psyco.direct_vectorcall(add), _psyco.direct_vectorcall(boom))
    assert not _psyco.is_compiled_code(add.__code__)
    # ...and stop taking it once they are bound: compiled at the next call.
    psyco.bind(add)
    list(map(add, [1]))
    print("@@ bound then compiled", _psyco.is_compiled_code(add.__code__))
    # full() compiles an adopted function at its next call too.
    def later(x):
        return x * 2
    list(map(later, [1, 2]))
    adopted = _psyco.direct_vectorcall(later)
    psyco.full()
    list(map(later, [3]))
    print("@@ full then compiled", adopted, _psyco.is_compiled_code(later.__code__))
'''


def test_uncompiled_functions_called_through_the_hook_run_interpreted_directly():
    # profile()/background()-style: the hook is installed, most code is not compiled. Calls of
    # such functions from C and interpreted code push their frame and run the interpreter
    # without `_PyEval_Vector` and the hook, with the same results, tracebacks, recursion
    # limit, defaults and profile events; bind() and full() still compile them.
    def run(mode):
        p = subprocess.run([sys.executable, "-c", INTERPRETED, mode], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-4000:]
        return p.stdout.splitlines()
    plain = run("plain")
    with_psyco = run("psyco")
    assert [l for l in with_psyco if not l.startswith("@@")] == plain
    assert with_psyco[-3:] == ["@@ adopted True True", "@@ bound then compiled True",
                               "@@ full then compiled True True"], with_psyco
