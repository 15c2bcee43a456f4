"""Loop kernels (src/compiler/ops/kernel.rs) against the interpreter: each function of
_compiler_cases.KERNEL_CASES holds an innermost range() loop that psyco compiles as a kernel;
a compiled copy must give, for every argument tuple, the same result, exception and traceback
line numbers as CPython, and leave its arguments (lists updated in place) in the same state."""

import copy
import os
import sys
import traceback
import types

import pytest

from psyco import _psyco

sys.path.insert(0, os.path.dirname(__file__))
import _compiler_cases as cases  # noqa: E402

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")


def compiled_copy(f):
    code = f.__code__.replace(co_name=f.__code__.co_name)
    g = types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    # With the function's globals, as a compile at the first call has them: global functions
    # small enough are inlined into the kernels.
    assert _psyco.compile_code(code, f.__globals__), _psyco.code_state(code)
    return g


def outcome(f, args):
    args = copy.deepcopy(args)
    try:
        r = ("ok", repr(f(*args)))
    except BaseException as e:  # noqa: BLE001 - comparing everything
        tb = traceback.extract_tb(e.__traceback__)[1:]
        r = ("exc", type(e).__name__, str(e), [(t.name, t.lineno) for t in tb])
    return r, repr(args)


@pytest.mark.parametrize("func,arglist", cases.KERNEL_CASES, ids=[f.__name__ for f, _ in cases.KERNEL_CASES])
def test_kernel_same_as_interpreter(func, arglist):
    g = compiled_copy(func)
    assert "loop kernel" in _psyco.dump_code(g.__code__)
    for args in arglist:
        want = outcome(func, args)
        assert outcome(g, args) == want, args
        assert outcome(g, args) == want, args


def test_small_global_functions_are_inlined():
    g = compiled_copy(cases._krow)
    text = _psyco.dump_code(g.__code__)
    assert "loop kernel" in text
    assert g([1.0] * 5, 1, 5) == cases._krow([1.0] * 5, 1, 5)
    # Without the globals nothing can be inlined, and a loop with a call is no kernel.
    h = types.FunctionType(cases._krow.__code__.replace(co_name="_krow"), cases.__dict__)
    assert _psyco.compile_code(h.__code__)
    assert "loop kernel" not in _psyco.dump_code(h.__code__)


def test_functions_whose_inlining_would_hide_errors_are_called():
    g = compiled_copy(cases._knotinlined)
    assert "loop kernel" not in _psyco.dump_code(g.__code__)
    for args in (([1, 2, 3], 2), ([1, 2, 3], 3), ([1.5, 2, 3], 2), ([1, 2, 3.5], 2)):
        assert outcome(g, args) == outcome(cases._knotinlined, args)


def test_inlined_call_at_the_recursion_limit():
    # The real call would raise RecursionError one frame below the limit: the kernel with the
    # call inlined must not run there.
    g = compiled_copy(cases._krow)

    def at_depth(n, f, *args):
        if n:
            return at_depth(n - 1, f, *args)
        try:
            return f(*args)
        except RecursionError:
            return "RecursionError"

    def room(n=0):
        try:
            return room(n + 1)
        except RecursionError:
            return n

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit // 4)
    try:
        r = room()
        got = [at_depth(k, g, [1.0] * 4, 2, 4) for k in range(r - 10, r)]
        want = [at_depth(k, cases._krow, [1.0] * 4, 2, 4) for k in range(r - 10, r)]
    finally:
        sys.setrecursionlimit(limit)
    assert "RecursionError" in want and got == want


def test_kernel_disables_itself_and_stays_correct():
    g = compiled_copy(cases._kdisable)
    assert g(200) == cases._kdisable(200)


def test_no_kernel_for_loops_it_cannot_run():
    def calls(xs):
        t = 0
        for i in range(len(xs)):
            t += len(xs[i])
        return t

    def assigns_loop_variable(n):
        s = 0
        for i in range(n):
            i = i + 1
            s += i
        return s

    def float_floor_division(n):
        s = 0.0
        for i in range(n):
            s += (i * 0.5) // 2
        return s

    for f, args in ((calls, (["ab", "c"],)), (assigns_loop_variable, (5,)), (float_floor_division, (7,))):
        g = compiled_copy(f)
        assert "loop kernel" not in _psyco.dump_code(g.__code__), f.__name__
        assert g(*args) == f(*args)


def test_inlined_and_candidate_code_objects_are_released():
    # The compiled code keeps the code objects it inlined (their addresses are compared), and
    # nothing else: a function that loads itself as a global must not keep itself alive.
    import gc
    import weakref

    src = (
        "def helper(p, q):\n"
        "    return p * q + 1\n"
        "def outer(xs, n):\n"
        "    s = 0.0\n"
        "    for i in range(n):\n"
        "        s += helper(xs[i], 2.0)\n"
        "    if n > 100:\n"
        "        return outer(xs, 0)\n"
        "    return s\n"
    )
    refs = []
    for _ in range(3):
        ns = {}
        exec(compile(src, "<inl>", "exec"), ns)
        outer, helper = ns["outer"], ns["helper"]
        assert _psyco.compile_code(outer.__code__, ns)
        assert "loop kernel" in _psyco.dump_code(outer.__code__)
        assert outer([1.0, 2.0], 2) == 3.0 + 5.0
        refs += [weakref.ref(outer.__code__), weakref.ref(helper.__code__)]
        del ns, outer, helper
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
