"""Inline attribute caches (csrc/attrcache.c) and direct calls between compiled functions
(csrc/calls.c): each scenario runs plainly and under psyco.full() in fresh interpreters and must
print the same thing. Every scenario first warms a site up (so its cache is filled and the
direct path taken) and then breaks the assumption the cache or the call relied on, mid-loop:
the guard must notice and the generic path must give CPython's result or exception."""

import subprocess
import sys
import textwrap

import pytest

from psyco import _psyco

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")

PRELUDE = """
import sys
if sys.argv[1] == "full":
    import psyco
    psyco.full()
def attempt(f, *a):
    try:
        return f(*a)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
"""


def run_both(src):
    src = PRELUDE + textwrap.dedent(src)
    outs = []
    for mode in ("plain", "full"):
        p = subprocess.run([sys.executable, "-c", src, mode], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{mode}: rc={p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        outs.append(p.stdout)
    assert outs[0] == outs[1]
    assert outs[0].strip(), "the scenario printed nothing"
    return outs[1]


def test_slot_loads_and_stores_survive_unset_slots_and_class_changes():
    run_both("""
        class P:
            __slots__ = ("x", "y")
        def setx(o, v): o.x = v
        def getx(o): return o.x
        out = []
        ps = [P() for _ in range(40)]
        for i, p in enumerate(ps):
            if i % 7 != 3:
                setx(p, i)
            out.append(attempt(getx, p))
        del ps[5].x
        out.append(attempt(getx, ps[5]))
        out.append(attempt(setx, ps[5], "back"))
        out.append(attempt(getx, ps[5]))
        # The slot replaced by a property: the type's version changes, the cache must miss.
        P.x = property(lambda self: "prop")
        out.append(attempt(getx, ps[6]))
        out.append(attempt(setx, ps[6], 1))
        print(out)
    """)


def test_instance_values_reads_writes_and_dict_materialization():
    run_both("""
        class A:
            def __init__(self, i):
                self.a = i
                if i % 5 == 0:
                    self.b = -i
        def get(o, name_is_a):
            return o.a if name_is_a else o.b
        def put(o, v): o.c = v
        objs = [A(i) for i in range(30)]
        out = [attempt(get, o, i % 2 == 0) for i, o in enumerate(objs)]
        for i, o in enumerate(objs):
            put(o, i * 10)
        out.append([o.c for o in objs])
        # Materialize one instance's __dict__: its values array goes away.
        d = objs[4].__dict__
        d["a"] = "from dict"
        out.append(attempt(get, objs[4], True))
        put(objs[4], "stored via dict")
        out.append(sorted(d.items()))
        del objs[7].a
        out.append(attempt(get, objs[7], True))
        # A data descriptor added to the class wins over the instance value.
        A.a = property(lambda self: "descriptor")
        out.append([attempt(get, o, True) for o in objs[:3]])
        # __getattr__ added later is consulted for missing attributes.
        del A.a
        A.__getattr__ = lambda self, name: "fallback " + name
        out.append([attempt(get, o, False) for o in objs[:6]])
        print(out)
    """)


def test_class_reassignment_and_many_types_at_one_site():
    run_both("""
        class A:
            def __init__(self): self.v = "A"
        class B:
            def __init__(self): self.v = "B"
        class C:
            __slots__ = ("v",)
            def __init__(self): self.v = "C"
        def get(o): return o.v
        objs = [A(), B(), C()] * 20
        out = [get(o) for o in objs]
        a = A()
        get(a)
        a.__class__ = B
        out.append(get(a))
        print(out)
    """)


def test_module_attributes_follow_the_module_dict():
    run_both("""
        import types
        m = types.ModuleType("m")
        m.k = 1
        def get(): return m.k
        out = [get() for _ in range(30)]
        m.k = 2
        out.append(get())
        m.__dict__["k"] = 3
        out.append(get())
        del m.k
        out.append(attempt(get))
        m.__getattr__ = lambda name: "module getattr " + name
        out.append(attempt(get))
        import math
        def pi(): return math.pi
        out.append([pi() for _ in range(3)])
        print(out)
    """)


def test_method_calls_notice_shadowing_and_replacement():
    run_both("""
        class K:
            def __init__(self, n): self.n = n
            def m(self): return ("method", self.n)
        class S:
            __slots__ = ()
            def m(self): return "slots method"
        def call(o): return o.m()
        ks = [K(i) for i in range(20)]
        out = [call(k) for k in ks]
        ks[3].m = lambda: "instance attribute"
        out.append(call(ks[3]))
        out.append(call(ks[4]))
        K.m = lambda self: ("replaced", self.n)
        out.append([call(k) for k in ks[:5]])
        del K.m
        out.append(attempt(call, ks[6]))
        out.append([call(S()) for _ in range(3)])
        lst = []
        def app(x): lst.append(x)
        for i in range(10): app(i)
        out.append(lst)
        print(out)
    """)


def test_direct_calls_with_defaults_frames_and_tracebacks():
    run_both("""
        import sys, traceback
        def add(a, b=10, c=100): return a + b + c
        def outer(n):
            s = 0
            for i in range(n):
                s += add(i) + add(i, 1) + add(i, 1, 2)
            return s
        out = [outer(20)]
        def who(): return [sys._getframe(k).f_code.co_name for k in range(3)]
        def middle(): return who()
        def top(): return middle()
        out.append(top())
        # A frame object that outlives its call keeps its locals and its f_back.
        def keep(x):
            y = x * 2
            return sys._getframe()
        def holder():
            f = keep(21)
            return f.f_locals, f.f_back.f_code.co_name, f.f_lineno - f.f_code.co_firstlineno
        out.append(holder())
        def boom(x):
            return 1 // x
        def calls_boom(x):
            return boom(x) + 1
        try:
            calls_boom(0)
        except ZeroDivisionError as e:
            out.append([(f.name, f.lineno) for f in traceback.extract_tb(e.__traceback__)])
        # Keyword calls, too many arguments, missing arguments: CPython's own paths and messages.
        out.append(add(1, c=2))
        out.append(attempt(add, 1, 2, 3, 4))
        out.append(attempt(add))
        def closure(k):
            def inner(v): return v + k
            return [inner(i) for i in range(3)]
        out.append(closure(5))
        print(out)
    """)


def test_direct_recursion_limit_is_cpythons():
    run_both("""
        import sys
        sys.setrecursionlimit(400)
        depth = 0
        def down(n):
            global depth
            depth = n
            return down(n + 1)
        try:
            down(0)
        except RecursionError as e:
            print("RecursionError", e, depth)
        def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)
        print(fib(20))
    """)
