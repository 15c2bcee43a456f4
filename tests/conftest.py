"""Shared helpers for psyco's test suite.

Profilers, the sampler thread, the frame-evaluation hook and the log are process-global, so
every test that starts a profiler or opens a log runs its snippet in a fresh interpreter
(`run_py`). In-process tests only check arguments and per-code flags.

With ``PSYCO_TEST_FULL=1`` (see .ci/test.sh) psyco.full() is active for the whole pytest
session; in-process tests are written so that they hold in that mode too.
"""

import os

import pytest

import psyco

if os.environ.get("PSYCO_TEST_FULL"):
    psyco.full()


from psyco_testing import PRELUDE, Result, run_json, run_ok, run_py  # noqa: F401 (re-exported)


@pytest.fixture
def py():
    """The helpers as a fixture, for tests that prefer it."""
    class H:
        run = staticmethod(run_py)
        ok = staticmethod(run_ok)
        json = staticmethod(run_json)
    return H
