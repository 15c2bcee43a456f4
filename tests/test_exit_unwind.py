"""Daemon threads still running compiled code when the interpreter exits.

CPython ends such a thread with pthread_exit when it next asks for the GIL; the forced unwind
walks through compiled frames, psyco's hook and its runtime helpers. Without unwind info for
the machine code (src/x86/unwind.rs) and "C-unwind" on the Rust frames, the process aborted
(SIGABRT) at exit in a good share of runs. The profile()-driven variant of the same exit is
tests/test_engine.py::test_exit_with_daemon_threads_still_computing."""

from psyco_testing import run_py

PROGRAM = """
import psyco, threading, time
psyco.full()

def pause():
    time.sleep(0)          # releases and re-takes the GIL inside a compiled caller

def hot(n):
    s = 0
    for i in range(n):
        s += i
        if i % 1000 == 0:
            pause()
    return s

def forever():
    while True:
        hot(10000)

for _ in range(3):
    threading.Thread(target=forever, daemon=True).start()
wait_until(lambda: psyco.is_compiled(hot) and psyco.is_compiled(forever), timeout=5)
time.sleep(0.05)
print("compiled", psyco.is_compiled(hot), psyco.is_compiled(forever))
"""


def _exits_cleanly(program):
    for attempt in range(8):
        r = run_py(program, timeout=30)
        assert not r.timed_out, "attempt %d hung at exit: %r" % (attempt, r)
        assert r.returncode == 0, "attempt %d: %r" % (attempt, r)
        assert "compiled True True" in r.stdout, r


def test_exit_with_daemon_threads_in_compiled_code_never_aborts():
    _exits_cleanly(PROGRAM)

