"""The public API: every function, its accepted arguments and its error cases.

In-process tests only validate arguments and look at per-code flags
(``psyco._psyco.code_state``); whatever starts a profiler runs in a fresh interpreter.
"""

import math
import sys
import types

import pytest

import psyco
import psyco.classes
from psyco import _psyco

from psyco_testing import run_json, run_ok


def state(obj):
    code = obj if isinstance(obj, types.CodeType) else obj.__code__
    return _psyco.code_state(code)


def fresh():
    """A brand-new function (its own code object, never called)."""
    ns = {}
    exec("def fresh_function(x, y=2):\n    return x * y + 1\n", ns)
    return ns["fresh_function"]


def make_class():
    ns = {}
    exec(
        "class Base:\n"
        "    def inherited(self):\n"
        "        return 'base'\n"
        "class C(Base):\n"
        "    '''doc'''\n"
        "    attr = 5\n"
        "    def meth(self, a):\n"
        "        return a + 1\n"
        "    @staticmethod\n"
        "    def st(a):\n"
        "        return a + 2\n"
        "    @classmethod\n"
        "    def cm(cls, a):\n"
        "        return a + 3\n"
        "    @property\n"
        "    def prop(self):\n"
        "        return 4\n"
        "    @prop.setter\n"
        "    def prop(self, v):\n"
        "        pass\n",
        ns,
    )
    return ns["C"], ns["Base"]


# ------------------------------------------------------------------------------------------
# Module surface
# ------------------------------------------------------------------------------------------

def test_exceptions_are_proper_classes():
    assert issubclass(psyco.error, Exception)
    assert not issubclass(psyco.error, Warning)
    assert issubclass(psyco.warning, Warning)
    assert psyco.error is _psyco.error
    assert psyco.warning is _psyco.warning
    with pytest.raises(psyco.error):
        raise psyco.error("x")


def test_all_names_exist():
    for name in psyco.__all__:
        assert hasattr(psyco, name), name
    for name in ("full", "profile", "background", "runonly", "stop", "bind", "unbind",
                 "proxy", "unproxy", "cannotcompile", "setfilter", "log", "stats",
                 "is_compiled", "dumpcodebuf"):
        assert callable(getattr(psyco, name)), name


@pytest.mark.parametrize("name", ["compact", "compacttype"])
def test_not_yet_implemented_names_are_absent(name):
    assert not hasattr(psyco, name)


# ------------------------------------------------------------------------------------------
# Profiler argument validation (errors never queue anything, so they are safe in-process)
# ------------------------------------------------------------------------------------------

PROFILERS = [psyco.full, psyco.profile, psyco.background, psyco.runonly]
LIMITS = ["memory", "time", "memorymax", "timemax"]
BAD_TYPES = ["1", b"1", True, False, [], (1,), {}, object(), 1j]


def _queue_len():
    s = psyco.stats(0)
    return len(s["queue"]), s["active"] and s["active"]["kind"]


@pytest.mark.parametrize("func", PROFILERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("limit", LIMITS)
def test_limits_reject_non_numbers(func, limit):
    before = _queue_len()
    for bad in BAD_TYPES:
        with pytest.raises(TypeError):
            func(**{limit: bad})
    assert _queue_len() == before


@pytest.mark.parametrize("func", PROFILERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("limit", LIMITS)
def test_limits_reject_negative_and_nan(func, limit):
    before = _queue_len()
    for bad in (-1, -0.5, -1e-9, float("nan"), float("-inf")):
        with pytest.raises(ValueError):
            func(**{limit: bad})
    assert _queue_len() == before


@pytest.mark.parametrize("func", [psyco.profile, psyco.background], ids=lambda f: f.__name__)
@pytest.mark.parametrize("param", ["watermark", "halflife", "pollfreq", "parentframe"])
def test_tuning_rejects_non_numbers(func, param):
    for bad in BAD_TYPES + [None]:
        with pytest.raises(TypeError):
            func(**{param: bad})


@pytest.mark.parametrize("func", [psyco.profile, psyco.background], ids=lambda f: f.__name__)
@pytest.mark.parametrize("param,bad", [
    ("watermark", -0.01), ("watermark", 1.01), ("watermark", -1), ("watermark", 2),
    ("watermark", float("nan")), ("watermark", float("inf")),
    ("halflife", 0), ("halflife", 0.0), ("halflife", -1), ("halflife", float("nan")),
    ("pollfreq", 0), ("pollfreq", -20), ("pollfreq", float("nan")),
    ("parentframe", -0.01), ("parentframe", 1), ("parentframe", 1.0), ("parentframe", 1.5),
    ("parentframe", float("nan")),
])
def test_tuning_rejects_out_of_range(func, param, bad):
    before = _queue_len()
    with pytest.raises(ValueError):
        func(**{param: bad})
    assert _queue_len() == before


@pytest.mark.parametrize("func", PROFILERS, ids=lambda f: f.__name__)
def test_unknown_keyword_is_type_error(func):
    with pytest.raises(TypeError):
        func(bogus=1)


def test_valid_arguments_are_accepted_and_reported():
    """Ints and floats in range are accepted at the edges; the queue reports them as floats."""
    out = run_json("""
        import psyco
        psyco.background(watermark=0, halflife=1, pollfreq=10, parentframe=0, memory=100,
                         time=30, memorymax=200.5, timemax=40)
        psyco.profile(watermark=1, halflife=0.001, pollfreq=1, parentframe=0.999)
        psyco.full(memory=0.5)
        psyco.runonly()
        s = psyco.stats()
        emit({'active': s['active'], 'queue': s['queue']})
    """)
    a = out["active"]
    assert a["kind"] == "background"
    assert a["watermark"] == 0.0 and a["halflife"] == 1.0 and a["pollfreq"] == 10.0
    assert a["parentframe"] == 0.0
    assert (a["memory"], a["time"], a["memorymax"], a["timemax"]) == (100.0, 30.0, 200.5, 40.0)
    assert 0 <= a["running_for"] < 30
    kinds = [q["kind"] for q in out["queue"]]
    assert kinds == ["profile", "full", "runonly"]
    p = out["queue"][0]
    assert (p["watermark"], p["halflife"], p["pollfreq"], p["parentframe"]) == (1.0, 0.001, 1.0, 0.999)
    assert p["memory"] is None and p["timemax"] is None
    assert out["queue"][1]["memory"] == 0.5
    assert "watermark" not in out["queue"][1]  # full() has no tuning


def test_defaults_follow_the_guide():
    out = run_json("""
        import psyco
        psyco.profile(); psyco.background()
        s = psyco.stats()
        emit([s['active'], s['queue'][0]])
    """)
    prof, back = out
    assert prof["kind"] == "profile"
    assert (prof["watermark"], prof["halflife"], prof["pollfreq"], prof["parentframe"]) == \
        (0.09, 0.5, 20.0, 0.25)
    assert back["kind"] == "background"
    assert (back["watermark"], back["halflife"], back["pollfreq"], back["parentframe"]) == \
        (0.09, 0.5, 100.0, 0.25)
    for d in out:
        assert d["memory"] is d["time"] is d["memorymax"] is d["timemax"] is None


# ------------------------------------------------------------------------------------------
# bind / unbind / proxy / unproxy / cannotcompile: what they accept
# ------------------------------------------------------------------------------------------

REJECTED = [1, 2.5, None, "f", b"f", len, print, sys, math, [], (lambda: 0).__code__.co_code,
            object(), {}.get, "".join]


@pytest.mark.parametrize("bad", REJECTED, ids=lambda b: type(b).__name__ + ":" + repr(b)[:20])
@pytest.mark.parametrize("fname", ["bind", "unbind", "proxy", "unproxy", "cannotcompile",
                                   "is_compiled"])
def test_non_functions_are_rejected(fname, bad):
    with pytest.raises(TypeError):
        getattr(psyco, fname)(bad)


@pytest.mark.parametrize("fname", ["proxy", "unproxy"])
def test_proxy_rejects_builtin_classes(fname):
    for cls in (object, int, type):
        with pytest.raises(TypeError):
            getattr(psyco, fname)(cls)


def test_instances_are_rejected():
    C, _ = make_class()
    for fname in ("bind", "unbind", "proxy", "unproxy", "cannotcompile", "is_compiled"):
        with pytest.raises(TypeError):
            getattr(psyco, fname)(C())


def test_code_objects_only_where_documented():
    f = fresh()
    for fname in ("bind", "unbind", "proxy", "unproxy"):
        with pytest.raises(TypeError):
            getattr(psyco, fname)(f.__code__)
    assert psyco.is_compiled(f.__code__) is False
    psyco.cannotcompile(f.__code__)
    assert "cannotcompile" in state(f)


def test_bind_function():
    f = fresh()
    g = f
    assert "bound" not in state(f)
    assert psyco.bind(f) is None
    assert "bound" in state(g)
    assert f(3) == 7  # still behaves


def test_bind_methods_and_classes():
    C, Base = make_class()
    inst = C()
    psyco.bind(inst.meth)  # bound method
    assert "bound" in state(C.__dict__["meth"].__code__)
    psyco.bind(C.st)  # staticmethod via the class: a plain function
    assert "bound" in state(C.__dict__["st"].__func__)
    psyco.bind(C.cm)  # classmethod via the class: a method bound to C
    assert "bound" in state(C.__dict__["cm"].__func__)

    C2, Base2 = make_class()
    psyco.bind(C2)
    for name in ("meth", "st", "cm"):
        v = C2.__dict__[name]
        fn = getattr(v, "__func__", v)
        assert "bound" in state(fn), name
    prop = C2.__dict__["prop"]
    assert "bound" in state(prop.fget) and "bound" in state(prop.fset)
    assert "bound" not in state(Base2.inherited), "inherited methods are not bound"
    assert C2().meth(1) == 2 and C2.st(1) == 3 and C2.cm(1) == 4 and C2().prop == 4


def test_bind_staticmethod_and_classmethod_objects():
    C, _ = make_class()
    psyco.bind(C.__dict__["st"])
    psyco.bind(C.__dict__["cm"])
    assert "bound" in state(C.__dict__["st"].__func__)
    assert "bound" in state(C.__dict__["cm"].__func__)


def test_unbind():
    f = fresh()
    psyco.bind(f)
    psyco.unbind(f)
    assert "bound" not in state(f)
    C, _ = make_class()
    psyco.bind(C)
    psyco.unbind(C)
    assert "bound" not in state(C.__dict__["meth"])
    psyco.unbind(fresh())  # never bound: fine
    assert f(1) == 3


@pytest.mark.parametrize("fname", ["bind", "proxy"])
def test_rec_is_validated(fname):
    func = getattr(psyco, fname)
    for bad in ("1", 1.0, True, False, None, [1]):
        with pytest.raises(TypeError):
            func(fresh(), bad)
        with pytest.raises(TypeError):
            func(fresh(), rec=bad)
    for bad in (-1, -100):
        with pytest.raises(ValueError):
            func(fresh(), bad)
    f = fresh()
    func(f, 0)
    func(fresh(), rec=10**30)  # huge is clamped, not an overflow


def test_rec_errors_leave_the_function_alone():
    f = fresh()
    with pytest.raises(ValueError):
        psyco.bind(f, -1)
    assert "bound" not in state(f)


def test_proxy_leaves_the_original_untouched():
    f = fresh()
    f.__doc__ = "the doc"
    f.extra = "attribute"
    f.__kwdefaults__ = None
    code_before = f.__code__
    p = psyco.proxy(f)
    assert p is not f
    assert f.__code__ is code_before
    assert "bound" not in state(f) and "proxy" not in state(f)
    assert p.__code__ is not f.__code__
    assert {"proxy", "bound"} <= set(state(p))
    assert p.__name__ == f.__name__ and p.__qualname__ == f.__qualname__
    assert p.__doc__ == "the doc" and p.extra == "attribute"
    assert p.__defaults__ == f.__defaults__ and p.__globals__ is f.__globals__
    assert p(3) == f(3) == 7
    assert p(3, y=5) == 16


def test_proxy_keeps_closures_and_kwdefaults():
    def outer():
        k = 10
        def inner(a, *, b=5):
            return a + b + k
        return inner
    f = outer()
    p = psyco.proxy(f)
    assert p(1) == f(1) == 16
    assert p(1, b=0) == 11
    assert p.__closure__ is f.__closure__ or p.__closure__ == f.__closure__


def test_proxy_of_a_bound_method():
    C, _ = make_class()
    inst = C()
    pm = psyco.proxy(inst.meth)
    assert isinstance(pm, types.MethodType)
    assert pm.__self__ is inst
    assert pm(4) == 5
    assert "bound" not in state(C.__dict__["meth"])
    um = psyco.unproxy(pm)
    assert isinstance(um, types.MethodType) and um.__self__ is inst and um(4) == 5


def test_unproxy_of_proxy_is_a_new_plain_function():
    f = fresh()
    p = psyco.proxy(f)
    u = psyco.unproxy(p)
    assert u is not f and u is not p
    assert u(3) == f(3) and u(2, 3) == f(2, 3)
    assert u.__name__ == f.__name__
    assert "bound" not in state(u) and "proxy" not in state(u)
    # proxy of a proxy copies the original again
    pp = psyco.proxy(p)
    assert _psyco.proxy_original(pp.__code__) is f.__code__
    assert psyco.unproxy(pp)(3) == 7


def test_unproxy_rejects_non_proxies():
    f = fresh()
    with pytest.raises(TypeError):
        psyco.unproxy(f)
    psyco.bind(f)
    with pytest.raises(TypeError):
        psyco.unproxy(f)
    C, _ = make_class()
    with pytest.raises(TypeError):
        psyco.unproxy(C().meth)
    with pytest.raises(TypeError):
        psyco.unproxy(C)


def test_proxy_rejects_classes():
    C, _ = make_class()
    with pytest.raises(TypeError):
        psyco.proxy(C)


def test_cannotcompile_accepts_functions_methods_code_and_classes():
    f = fresh()
    psyco.cannotcompile(f)
    assert "cannotcompile" in state(f)
    C, _ = make_class()
    psyco.cannotcompile(C().meth)
    assert "cannotcompile" in state(C.__dict__["meth"])
    C2, _ = make_class()
    psyco.cannotcompile(C2)
    assert "cannotcompile" in state(C2.__dict__["st"].__func__)
    assert "cannotcompile" in state(C2.__dict__["cm"].__func__)


def test_cannotcompile_wins_over_bind():
    f = fresh()
    psyco.bind(f)
    psyco.cannotcompile(f)  # not selected yet: allowed, and cancels the bind
    assert "bound" not in state(f) and "cannotcompile" in state(f)
    psyco.bind(f)
    assert "bound" not in state(f)
    assert f(1) == 3
    assert "selected" not in state(f)


def test_cannotcompile_of_a_selected_function_raises_psyco_error():
    out = run_json("""
        import psyco
        from psyco import _psyco
        def f(x):
            return x + 1
        def g(x):
            return x + 2
        psyco.bind(f)
        r = f(1)
        st = _psyco.code_state(f.__code__)
        try:
            psyco.cannotcompile(f)
            raised = None
        except psyco.error as e:
            raised = str(e)
        try:
            psyco.cannotcompile(f.__code__)
            raised_code = None
        except psyco.error as e:
            raised_code = str(e)
        psyco.cannotcompile(g)  # never selected: fine
        emit({'r': r, 'state': st, 'raised': raised, 'raised_code': raised_code,
              'after': _psyco.code_state(f.__code__), 'g': _psyco.code_state(g.__code__)})
    """)
    assert out["r"] == 2
    assert "selected" in out["state"]
    assert out["raised"] and "f" in out["raised"]
    assert out["raised_code"]
    assert "cannotcompile" not in out["after"]
    assert "cannotcompile" in out["g"]


def test_cannotcompile_under_full_keeps_the_function_out():
    out = run_json("""
        import psyco
        from psyco import _psyco
        def f(x):
            return x + 1
        def g(x):
            y = x + 2  # not a one-expression leaf: called, not inlined
            return y
        psyco.cannotcompile(f)
        psyco.full()
        r = [f(i) + g(i) for i in range(100)]
        emit({'f': _psyco.code_state(f.__code__), 'g': _psyco.code_state(g.__code__),
              'sum': sum(r)})
    """)
    assert out["sum"] == sum(2 * i + 3 for i in range(100))
    assert "selected" not in out["f"] and "cannotcompile" in out["f"]
    assert "selected" in out["g"]


# ------------------------------------------------------------------------------------------
# setfilter
# ------------------------------------------------------------------------------------------

def test_setfilter_returns_previous_and_validates():
    def f1(co):
        return True

    def f2(co):
        return True
    prev = psyco.setfilter(f1)
    try:
        assert psyco.setfilter(f2) is f1
        assert psyco.setfilter(None) is f2
        assert psyco.setfilter(None) is None
        for bad in (1, "f", [], object()):
            with pytest.raises(TypeError):
                psyco.setfilter(bad)
        assert psyco.setfilter(f1) is None, "a rejected filter must not replace the old one"
        assert psyco.setfilter(len) is f1  # any callable
    finally:
        psyco.setfilter(prev)


def test_setfilter_vetoes_and_is_called_once_per_code():
    out = run_json("""
        import psyco
        from psyco import _psyco
        seen = []
        def flt(co):
            seen.append(co.co_name)
            return co.co_name != 'vetoed'
        def vetoed(x):
            return x + 1
        def allowed(x):
            return x + 2
        assert psyco.setfilter(flt) is None
        psyco.bind(vetoed); psyco.bind(allowed)
        for i in range(5):
            vetoed(i); allowed(i)
        s = psyco.stats()
        emit({'seen': seen, 'v': _psyco.code_state(vetoed.__code__),
              'a': _psyco.code_state(allowed.__code__), 'filtered': s['filtered'],
              'events': s['recent_events']})
    """)
    assert out["seen"].count("vetoed") == 1 and out["seen"].count("allowed") == 1
    assert "filtered" in out["v"] and "filtered" not in out["a"]
    assert out["filtered"] == 1
    assert any("filtered out: vetoed" in e for e in out["events"])


def test_setfilter_exception_is_unraisable_and_vetoes():
    r = run_ok("""
        import psyco
        from psyco import _psyco
        def flt(co):
            raise RuntimeError("boom in filter")
        psyco.setfilter(flt)
        def f(x):
            return x * 3
        psyco.bind(f)
        print("result", f(2))
        print("state", _psyco.code_state(f.__code__))
    """)
    assert "result 6" in r.stdout
    assert "boom in filter" in r.stderr
    assert "filtered" in r.stdout.split("state", 1)[1]


# ------------------------------------------------------------------------------------------
# psyco.classes
# ------------------------------------------------------------------------------------------

def test_psyobj_binds_class_body_methods():
    class Base:
        def inherited(self):
            return 1

    class K(Base, psyco.classes.psyobj):
        def m(self):
            return 2

        @staticmethod
        def s():
            return 3

        @classmethod
        def c(cls):
            return 4

        @property
        def p(self):
            return 5

    assert "bound" in state(K.__dict__["m"])
    assert "bound" in state(K.__dict__["s"].__func__)
    assert "bound" in state(K.__dict__["c"].__func__)
    assert "bound" in state(K.__dict__["p"].fget)
    assert "bound" not in state(Base.inherited)
    k = K()
    assert (k.m(), K.s(), K.c(), k.p, k.inherited()) == (2, 3, 4, 5, 1)

    def later(self):
        return 6
    K.later = later
    assert "bound" not in state(later), "methods added after creation are not bound"

    class Sub(K):
        def n(self):
            return 7
    assert "bound" in state(Sub.__dict__["n"])


def test_psymetaclass_and_alias():
    assert psyco.classes.__metaclass__ is psyco.classes.psymetaclass
    assert issubclass(psyco.classes.psymetaclass, type)
    assert type(psyco.classes.psyobj) is psyco.classes.psymetaclass

    class K(metaclass=psyco.classes.psymetaclass):
        def m(self):
            return 1
    assert "bound" in state(K.__dict__["m"])
    assert K().m() == 1


def test_psyco_bind_list_restricts():
    class K(psyco.classes.psyobj):
        __psyco__bind__ = ["a", "c"]

        def a(self):
            return 1

        def b(self):
            return 2

        @staticmethod
        def c():
            return 3
    assert "bound" in state(K.__dict__["a"])
    assert "bound" not in state(K.__dict__["b"])
    assert "bound" in state(K.__dict__["c"].__func__)

    class Empty(psyco.classes.psyobj):
        __psyco__bind__ = ()

        def a(self):
            return 1
    assert "bound" not in state(Empty.__dict__["a"])


def test_psyco_bind_list_bad_entries():
    with pytest.raises(TypeError):
        class K1(psyco.classes.psyobj):
            __psyco__bind__ = "a"

            def a(self):
                pass
    with pytest.raises(TypeError):
        class K2(psyco.classes.psyobj):
            __psyco__bind__ = 5
    with pytest.raises(TypeError):
        class K3(psyco.classes.psyobj):
            __psyco__bind__ = [1]
    with pytest.raises(psyco.error):
        class K4(psyco.classes.psyobj):
            __psyco__bind__ = ["missing"]
    with pytest.raises(psyco.error):
        class K5(psyco.classes.psyobj):
            __psyco__bind__ = ["attr"]
            attr = 5


# ------------------------------------------------------------------------------------------
# log() arguments (errors only: a valid call would open the process-global log)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,exc", [
    ({"logfile": 5}, TypeError),
    ({"logfile": None}, TypeError),
    ({"logfile": b"x.log"}, TypeError),
    ({"mode": "r"}, ValueError),
    ({"mode": "wb"}, ValueError),
    ({"mode": ""}, ValueError),
    ({"top": "1"}, TypeError),
    ({"top": 1.5}, TypeError),
    ({"top": True}, TypeError),
    ({"top": -1}, ValueError),
    ({"json": 5}, TypeError),
    ({"json": ["x"]}, TypeError),
])
def test_log_argument_errors(kw, exc, tmp_path):
    kw = dict(kw)
    kw.setdefault("logfile", str(tmp_path / "never.log"))
    with pytest.raises(exc):
        psyco.log(**kw)
    assert not (tmp_path / "never.log").exists()


def test_log_unwritable_path_is_os_error(tmp_path):
    with pytest.raises(OSError):
        psyco.log(str(tmp_path / "no" / "such" / "dir" / "x.log"))


# ------------------------------------------------------------------------------------------
# stats() and is_compiled()
# ------------------------------------------------------------------------------------------

STATS_TYPES = {
    "native": bool, "native_reason": str, "queue": list, "samples": int, "ticks": int,
    "active_events": int, "selected": int, "compiled": int, "failed": int, "pending": int,
    "filtered": int, "charge_resets": int, "profilers_retired": int, "code_bytes": int,
    "sampler_running": bool, "worker_running": bool, "hook_installed": bool, "records": int,
    "charge_entries": int, "charge_total": float, "top": list, "failures": list,
    "functions": list, "recent_events": list, "compile_seconds": float,
    "max_compile_pause_seconds": float, "compile_cpu_seconds": float,
}


def test_stats_keys_and_types():
    s = psyco.stats()
    assert set(STATS_TYPES) | {"active"} <= set(s)
    for k, t in STATS_TYPES.items():
        assert type(s[k]) is t, (k, s[k])
        if t is int:
            assert s[k] >= 0, k
    assert s["active"] is None or isinstance(s["active"], dict)
    assert all(isinstance(e, str) for e in s["recent_events"])


def test_stats_report_compile_time_and_the_longest_gil_pause():
    out = run_json("""
        import psyco
        from psyco import _psyco
        def f(n):
            return sum(i * i for i in range(n)) + n
        before = psyco.stats()
        ok = _psyco.compile_code(f.__code__)
        after = psyco.stats()
        emit([ok, _psyco.native_status()[0], before["compile_seconds"], after["compile_seconds"],
              after["max_compile_pause_seconds"], before["compile_cpu_seconds"],
              after["compile_cpu_seconds"]])
    """)
    ok, native, before, after, pause, cpu_before, cpu_after = out
    assert ok == native
    assert 0.0 <= before <= after and 0.0 <= pause <= after
    assert 0.0 <= cpu_before <= cpu_after
    if native:
        assert after > before and pause > 0.0
        # the compiler's own CPU time: positive, and never more than the time it took
        assert 0.0 < cpu_after - cpu_before <= (after - before) * 1.05 + 1e-3


def test_stats_in_a_busy_process():
    out = run_json("""
        import psyco
        def hot(n):
            s = 0
            for i in range(n):
                s += i
            return s
        psyco.background(watermark=0.99)
        spin_until(lambda: psyco.stats()['top'], lambda: hot(20000))
        s = psyco.stats(top=2)
        s1 = psyco.stats(top=0)
        emit({'top': [{k: v for k, v in r.items() if k != 'code'} for r in s['top']],
              'code_types': [type(r['code']).__name__ for r in s['top']],
              'top0': s1['top'], 'active': s['active']['kind'], 'samples': s['samples'],
              'ticks': s['ticks'], 'sampler': s['sampler_running']})
    """)
    assert 1 <= len(out["top"]) <= 2 and out["top0"] == []
    for row in out["top"]:
        assert set(row) == {"function", "file", "line", "fraction"}
        assert isinstance(row["function"], str) and isinstance(row["line"], int)
        assert 0 < row["fraction"] <= 1
    assert out["code_types"] == ["code"] * len(out["top"])
    fr = [r["fraction"] for r in out["top"]]
    assert fr == sorted(fr, reverse=True)
    assert out["active"] == "background" and out["samples"] > 0 and out["ticks"] > 0
    assert out["sampler"] is True


@pytest.mark.parametrize("bad", [-1, "3", 1.0, True, None])
def test_stats_rejects_bad_top(bad):
    with pytest.raises((TypeError, ValueError)):
        psyco.stats(bad)


def test_is_compiled():
    f = fresh()
    assert psyco.is_compiled(f) is False
    assert psyco.is_compiled(f.__code__) is False
    C, _ = make_class()
    assert psyco.is_compiled(C().meth) is False
    assert psyco.is_compiled(C.st) is False
    assert psyco.is_compiled(C.cm) is False
    for bad in (1, "f", None, len, sys, 1.5):
        with pytest.raises(TypeError):
            psyco.is_compiled(bad)


def test_code_state_rejects_non_code():
    with pytest.raises(TypeError):
        _psyco.code_state(fresh())
    assert _psyco.code_state(fresh().__code__) == []


def test_package_imports_cleanly_in_a_fresh_interpreter():
    out = run_json("""
        import psyco, psyco.classes, threading
        s = psyco.stats()
        emit({'active': s['active'], 'sampler': s['sampler_running'],
              'hook': s['hook_installed'], 'threads': threading.active_count(),
              'os_threads': os_threads(), 'version': psyco.__version__})
    """)
    assert out["active"] is None and out["sampler"] is False and out["hook"] is False
    assert out["threads"] == 1 and out["os_threads"] == 1, "importing psyco starts no thread"
    assert isinstance(out["version"], str)


def test_proxy_of_static_and_class_methods_via_the_class():
    C, _ = make_class()
    ps = psyco.proxy(C.st)
    assert ps(1) == 3 and "bound" not in state(C.__dict__["st"].__func__)
    pc = psyco.proxy(C.cm)
    assert isinstance(pc, types.MethodType) and pc.__self__ is C and pc(1) == 4
    assert psyco.unproxy(pc)(1) == 4 and psyco.unproxy(ps)(1) == 3


def test_command_line_stats_and_demo(tmp_path):
    import subprocess
    r = subprocess.run([sys.executable, "-m", "psyco", "stats"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "'sampler_running': False" in r.stdout
    r = subprocess.run([sys.executable, "-m", "psyco", "demo", "--scale", "0.02",
                        "--logdir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DIFFERENT" not in r.stdout
    for mode in ("full", "profile", "background"):
        assert (tmp_path / ("demo-%s.log-psyco" % mode)).exists()
