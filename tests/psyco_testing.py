"""Helpers shared by psyco's tests: run a snippet in a fresh interpreter (`run_py`, `run_ok`,
`run_json`). Import them from here (``from psyco_testing import run_json``), not from
``conftest``: the suite has more than one conftest.py, and they all import as "conftest"."""

import json
import os
import subprocess
import sys
import textwrap

# Code prepended to every snippet run by run_py: small helpers the snippets share.
PRELUDE = r'''
import os, sys, time, json, threading
def wait_until(pred, timeout=10.0, step=0.01):
    """Poll pred() until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)
def spin_until(pred, work, timeout=10.0):
    """Run work() repeatedly (CPU-bound) until pred() holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        work()
        v = pred()
        if v or time.monotonic() > deadline:
            return v
def os_threads():
    return len(os.listdir('/proc/self/task'))
def events():
    import psyco
    return psyco.stats(0)['recent_events']
def has_event(text):
    return any(text in e for e in events())
def emit(obj):
    """The snippet's result, on a line of its own for run_json."""
    sys.stdout.write('\n@@RESULT@@' + json.dumps(obj) + '\n')
    sys.stdout.flush()
'''


class Result:
    def __init__(self, returncode, stdout, stderr, timed_out=False):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out

    def __repr__(self):
        return "<Result rc=%r timed_out=%r\n--- stdout\n%s\n--- stderr\n%s>" % (
            self.returncode, self.timed_out, self.stdout[-3000:], self.stderr[-3000:])


def _env(extra=None):
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    env["PYTHONFAULTHANDLER"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def run_py(code, timeout=30, cwd=None, args=(), script=None, env=None, prelude=True):
    """Runs `code` (dedented, after PRELUDE) in a fresh interpreter and returns a Result.

    With `script` (a path), the code is written there and run as ``python script``, so that
    sys.argv[0] is that path; otherwise it runs through ``python -c``. A run that exceeds
    `timeout` seconds is killed and reported with timed_out=True (never raises)."""
    src = textwrap.dedent(code)
    if prelude:
        src = PRELUDE + "\n" + src
    if script is not None:
        with open(script, "w") as f:
            f.write(src)
        cmd = [sys.executable, os.fspath(script), *args]
    else:
        cmd = [sys.executable, "-c", src, *args]
    p = subprocess.Popen(cmd, cwd=cwd, env=_env(env), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return Result(p.returncode, out, err)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return Result(p.returncode, out, err, timed_out=True)


def run_ok(code, **kw):
    """run_py, asserting a clean exit; returns the Result."""
    r = run_py(code, **kw)
    assert not r.timed_out, "snippet timed out: %r" % (r,)
    assert r.returncode == 0, "snippet failed: %r" % (r,)
    return r


def run_json(code, **kw):
    """run_ok, returning the object the snippet passed to emit()."""
    r = run_ok(code, **kw)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    raise AssertionError("snippet emitted no result: %r" % (r,))
