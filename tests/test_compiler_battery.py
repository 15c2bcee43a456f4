"""The baseline compiler against the interpreter: every case of _compiler_cases.py is run by
CPython and by psyco's machine code (a compiled copy of the same code), and must give the same
result, the same exception (type and message) and the same traceback line numbers."""

import os
import subprocess
import sys
import traceback
import types

import pytest

import psyco
from psyco import _psyco

sys.path.insert(0, os.path.dirname(__file__))
import _compiler_cases as cases  # noqa: E402

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")


def compiled_copy(f):
    """A function with a fresh copy of f's code object, compiled by psyco now."""
    code = f.__code__.replace(co_name=f.__code__.co_name)
    assert code is not f.__code__
    g = types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    ok = _psyco.compile_code(code)
    return g, ok


def outcome(f, args):
    try:
        return ("ok", repr(f(*args)))
    except BaseException as e:  # noqa: BLE001 - comparing everything
        tb = traceback.extract_tb(e.__traceback__)[1:]
        return ("exc", type(e).__name__, str(e), [(t.name, t.lineno) for t in tb])


@pytest.mark.parametrize("func,args", cases.CASES, ids=[f"{f.__name__}{a!r}"[:60] for f, a in cases.CASES])
def test_same_as_interpreter(func, args):
    want = outcome(func, args)
    g, ok = compiled_copy(func)
    is_gen = func.__code__.co_flags & 0x20
    assert ok or is_gen, _psyco.code_state(g.__code__)
    got = outcome(g, args)
    assert got == want
    # Twice: the second run must not depend on state left by the first.
    assert outcome(g, args) == want


def test_compiled_copy_really_runs_machine_code():
    g, ok = compiled_copy(cases.loop_sum)
    assert ok and _psyco.is_compiled_code(g.__code__)
    text = _psyco.dump_code(g.__code__)
    assert "FOR_ITER" in text and "call" in text
    assert g(10) == 90


def test_name_error_keeps_name_attribute():
    g, _ = compiled_copy(cases.name_error)
    with pytest.raises(NameError) as info:
        g(1)
    assert info.value.name == "undefined_name_xyz"


BATTERY = r"""
import sys, traceback
sys.path.insert(0, %(dir)r)
if %(full)r:
    import psyco
    psyco.full()
import _compiler_cases as cases
for f, args in cases.CASES:
    try:
        r = ("ok", repr(f(*args)))
    except BaseException as e:
        r = ("exc", type(e).__name__, str(e), [(t.name, t.lineno) for t in traceback.extract_tb(e.__traceback__)])
    print(f.__name__, r)
if %(full)r:
    import psyco._psyco as P
    n = sum(1 for f, _ in cases.CASES if P.is_compiled_code(f.__code__))
    print("COMPILED", n, file=sys.stderr)
"""


def run_battery(full):
    code = BATTERY % {"dir": os.path.dirname(__file__), "full": full}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout, p.stderr


def test_full_mode_battery_matches_plain_run():
    plain, _ = run_battery(False)
    compiled, err = run_battery(True)
    assert compiled.splitlines() == plain.splitlines()
    n = int(err.split("COMPILED")[1].split()[0])
    assert n >= len({f for f, _ in cases.CASES}) - 1, err


def test_load_global_memo_follows_changes_to_globals_and_builtins():
    want = outcome(cases.globals_change_between_runs, ())
    assert _psyco.compile_code(cases._global_reader.__code__)
    assert _psyco.is_compiled_code(cases._global_reader.__code__)
    assert outcome(cases.globals_change_between_runs, ()) == want
    assert want[0] == "ok" and "99" in want[1] and "-1" in want[1]


def test_float_expressions_are_fused_into_register_code():
    g, ok = compiled_copy(cases.fused_float_exprs)
    assert ok
    text = _psyco.dump_code(g.__code__)
    assert "fused float expression" in text
    assert "mulsd" in text and "divsd" in text and "addsd" in text
    # The guards fall back to the ordinary code: results are CPython's for every case.
    assert outcome(g, (1.25, -3.5)) == outcome(cases.fused_float_exprs, (1.25, -3.5))
