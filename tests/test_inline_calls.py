"""Calls of leaf functions inlined at the call site (src/compiler/ops/inline.rs): same results,
exceptions and tracebacks as the interpreter, and every guard of the inlined body falls back to
the real call (a method overridden in a subclass, a replaced `__code__`, a rebound global, a
profiler that must see the call, the recursion limit)."""

import os
import subprocess
import sys
import textwrap
import traceback
import types

import pytest

from psyco import _psyco

sys.path.insert(0, os.path.dirname(__file__))
import _inline_cases as cases  # noqa: E402

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")


def compiled_copy(f):
    """A function running a fresh copy of f's code, compiled now with f's globals as the hint
    (what a first call under full() gives the compiler)."""
    code = f.__code__.replace(co_name=f.__code__.co_name)
    g = types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    assert _psyco.compile_code(code, f.__globals__)
    return g


def outcome(f, args):
    try:
        return ("ok", repr(f(*args)))
    except BaseException as e:  # noqa: BLE001 - comparing everything
        tb = traceback.extract_tb(e.__traceback__)[1:]
        return ("exc", type(e).__name__, str(e), [(t.name, t.lineno) for t in tb])


@pytest.mark.parametrize("func,args", cases.CASES, ids=[f.__name__ for f, _ in cases.CASES])
def test_same_as_interpreter(func, args):
    want = outcome(func, args)
    g = compiled_copy(func)
    assert outcome(g, args) == want
    assert outcome(g, args) == want


def test_the_call_sites_are_inlined():
    for func, callee in cases.INLINED.items():
        g = compiled_copy(func)
        text = _psyco.dump_code(g.__code__)
        assert f"inlined call of {callee}" in text, func.__name__


def test_exceptions_come_from_the_callee_frame():
    g = compiled_copy(cases.index_error)
    with pytest.raises(IndexError) as info:
        g()
    names = [t.name for t in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["index_error", "first"]


def test_a_replaced_code_object_runs_instead():
    ns = {}
    exec(textwrap.dedent("""
        def get(p):
            return p.x
        class P:
            def __init__(self): self.x = 1
        def caller(p, n):
            return [get(p) for _ in range(n)] and get(p)
        def caller2(p):
            return get(p)
    """), ns)
    g = ns["caller2"]
    assert _psyco.compile_code(g.__code__, ns)
    assert "inlined call of get" in _psyco.dump_code(g.__code__)
    p = ns["P"]()
    assert g(p) == 1
    ns["get"].__code__ = (lambda p: p.x + 1000).__code__
    assert g(p) == 1001
    ns["get"] = lambda p: "rebound"
    assert g(p) == "rebound"


def test_a_profiler_sees_the_inlined_call():
    g = compiled_copy(cases.items)
    seen = []

    def prof(frame, event, arg):
        if event == "call":
            seen.append(frame.f_code.co_name)

    sys.setprofile(prof)
    try:
        g()
    finally:
        sys.setprofile(None)
    assert seen.count("first") == 6 and seen.count("last") == 6


def test_the_recursion_limit_is_met_where_the_interpreter_meets_it():
    # At the limit the inlined call must fail exactly like the real one, in the callee.
    script = textwrap.dedent("""
        import sys, traceback
        from psyco import _psyco
        class P:
            def __init__(self): self.x = 1; self.inner = self
            def getx(self): return self.x
            def nested(self): return not self.inner.getx()
        p = P()
        def down(n):
            p.getx()
            return down(n + 1)
        def down2(n):
            p.nested()
            return down2(n + 1)
        def probe(f):
            try:
                f(0)
            except RecursionError as e:
                tb = traceback.extract_tb(e.__traceback__)
                return len(tb), tb[-1].name, tb[-1].lineno
        for f, callee in ((down, "P.getx"), (down2, "P.nested")):
            for limit in (200, 201):
                sys.setrecursionlimit(limit)
                want = probe(f)
                assert _psyco.compile_code(f.__code__, globals())
                assert "inlined call of " + callee in _psyco.dump_code(f.__code__)
                got = probe(f)
                print(want, got)
                assert got == want, (want, got)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_class_dict_with_a_str_subclass_key_is_left_to_the_real_call():
    ns = {}
    exec(textwrap.dedent("""
        class Key(str):
            def __eq__(self, other):
                LOG.append("eq")
                return str.__eq__(self, other)
            __hash__ = str.__hash__
        LOG = []
        class C:
            def __init__(self): self.v = 5
            def get(self): return self.v
        setattr(C, Key("other"), 1)
        def caller(c):
            return c.get()
    """), ns)
    g = ns["caller"]
    assert _psyco.compile_code(g.__code__, ns)
    c = ns["C"]()
    assert [g(c) for _ in range(3)] == [5, 5, 5]


def _compiled_ns(src):
    ns = {}
    exec(textwrap.dedent(src), ns)
    return ns


def test_a_slot_descriptor_of_another_class_is_not_trusted():
    # member_get refuses an instance of an unrelated class; the inlined read must not use
    # the other class's layout (it read whatever lay at that offset).
    ns = _compiled_ns("""
        import weakref
        class A:
            __slots__ = tuple("abcdefghijklmnop")
        class B:
            a = A.a
            p = A.p
        def get_a(o): return o.a
        def get_p(o): return o.p
        def caller(o):
            out = []
            try:
                out.append(get_a(o))
            except TypeError as e:
                out.append(str(e))
            try:
                out.append(get_p(o))
            except TypeError as e:
                out.append(str(e))
            return out
    """)
    b = ns["B"]()
    keep = __import__("weakref").ref(b)
    want = ns["caller"](b)
    assert _psyco.compile_code(ns["caller"].__code__, ns)
    assert "inlined call of get_a" in _psyco.dump_code(ns["caller"].__code__)
    assert [ns["caller"](b) for _ in range(50)] == [want] * 50
    assert keep() is b


def test_a_method_never_inlines_itself():
    # P.empty delegates to an object whose `empty` may be P.empty itself: compiling it must not
    # make its machine code hold its own code object (a cycle nothing collects).
    ns = _compiled_ns("""
        class Q:
            def __init__(self): self.items = []
            def empty(self): return not self.items
        class P:
            def __init__(self, inner): self.inner = inner
            def empty(self): return self.inner.empty()
    """)
    code = ns["P"].empty.__code__
    before = sys.getrefcount(code)
    assert _psyco.compile_code(code, ns)
    text = _psyco.dump_code(code)
    assert "inlined call of Q.empty" in text and "inlined call of P.empty" not in text
    assert sys.getrefcount(code) == before
    p = ns["P"](ns["P"](ns["Q"]()))
    assert p.empty() is True


def test_looking_for_leaves_runs_no_python_code():
    ns = _compiled_ns("""
        RAN = []
        class Spy:
            def __getattr__(self, name):
                RAN.append(name)
                raise AttributeError(name)
        class K:
            run = Spy()
        def caller(o): return o.run()
    """)
    assert _psyco.compile_code(ns["caller"].__code__, ns)
    assert ns["RAN"] == []


def test_leaves_of_a_module_with_future_annotations_are_inlined():
    ns = _compiled_ns("""
        from __future__ import annotations
        class V:
            def __init__(self, x: float): self.x = x
            def get(self) -> float: return self.x
        def caller(v): return v.get() + 1
    """)
    assert ns["V"].get.__code__.co_flags & 0x1000000
    assert _psyco.compile_code(ns["caller"].__code__, ns)
    assert "inlined call of V.get" in _psyco.dump_code(ns["caller"].__code__)
    assert ns["caller"](ns["V"](2)) == 3
