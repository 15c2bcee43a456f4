"""Regression: psyco.profile() segfaults as soon as any audit hook is installed.

Found by `python -m psyco conformance` (every regrtest child installs an audit hook, so
test_bytes, test_long, test_enum, test_gc, test_decimal crashed at random under
psyco.profile(0.0)). gdb puts the crash in set_profile_all_threads (src/ffi/mod.rs), called by
queue::manage_active_profiler from the sampler's pending tick: the walk over the thread states
calls _PyEval_SetProfile(ts, ...) for each one, which first runs the audit hooks
("sys.setprofile") in Python; the eval loop running the hook hands the GIL to a waiting psyco
helper thread (Python::with_gil makes a thread state and frees it afterwards), whose thread
state the walk then reads after it has been freed (tstate = garbage such as &PyCode_Type, or
PyThreadState_Next returning 0x25).

Fixed by installing psyco's profile function without the audit event (csrc/cpython311.c,
psyco_set_profile): nothing in the walk runs Python code any more.
"""

import subprocess
import sys

PROGRAM = r'''
import sys, time, psyco
sys.addaudithook(lambda event, args: None)
psyco.profile(0.0)
def f(x):
    return x + 1
t0 = time.time()
while time.time() - t0 < 4:
    for i in range(10000):
        f(i)
print("survived")
'''


def test_profile_with_an_audit_hook_does_not_crash():
    r = subprocess.run([sys.executable, "-X", "faulthandler", "-c", PROGRAM],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "survived" in r.stdout, (r.returncode, r.stderr[-2000:])
