"""The stress suite (python -m psyco stress, python/psyco/stress.py): a short run of every
scenario, and the runner's detection of a crash, a hang and a wrong result.

The full-length runs (`python -m psyco stress --seconds 60`) are for humans and nightly runs;
these take a few seconds each. The children never inherit PSYCO_TEST_FULL, so the pytest pass
under psyco.full() skips the scenario runs (it would only repeat them)."""

import os
import subprocess
import sys

import pytest

from psyco import stress

FULL_PASS = bool(os.environ.get("PSYCO_TEST_FULL"))
skip_in_full_pass = pytest.mark.skipif(FULL_PASS, reason="children run the same either way")


def _check(res):
    assert res["ok"], "%s: %s %s\n%s\n--- stderr\n%s" % (
        res["name"], res["verdict"], res["figures"], "\n".join(res["failures"]), res["stderr"])
    return res["figures"]


@skip_in_full_pass
def test_threads_switching_profilers():
    f = _check(stress.run_scenario("threads", seconds=2.0, seed=3, timeout=25))
    assert f["calls_checked"] > 100 and f["profiler_ops"] > 10
    assert f["os_threads_before_after"][1] <= f["os_threads_before_after"][0] + 1


@skip_in_full_pass
def test_signals_into_compiled_loops():
    f = _check(stress.run_scenario("signals", seconds=1.5, seed=3, timeout=25))
    assert f["interrupts"] >= 6
    assert f["alarm_ticks"] >= 10
    assert f["pthread_kill_handled"] == f["pthread_kills"]


@skip_in_full_pass
def test_limits_retire_a_chain_of_profilers():
    f = _check(stress.run_scenario("limits", seconds=1.0, seed=3, timeout=25))
    assert f["retired"] == 4
    assert f["seen"][-1] == "runonly"


@skip_in_full_pass
def test_code_churn_stays_flat():
    f = _check(stress.run_scenario("churn", seconds=2.0, seed=3, timeout=25))
    assert f["rounds"] >= 8 and f["code_objects"] >= 240


@skip_in_full_pass
def test_fork_with_threads_and_sampler():
    f = _check(stress.run_scenario("fork", seconds=1.0, seed=3, timeout=25))
    assert f["forks"] >= 4 and f["children_ok"] == f["forks"]


def test_runner_reports_a_wrong_result():
    res = stress.run_scenario("_wrong", seconds=0.5, seed=7, timeout=20)
    assert res["verdict"] == "fail" and not res["ok"]
    assert res["failures"] == ["wrong on purpose"]
    assert res["figures"] == {"seconds": 0.5, "seed": 7}


def test_runner_reports_a_crash():
    res = stress.run_scenario("_crash", seconds=0.5, timeout=20)
    assert res["verdict"] == "crash"
    assert res["failures"][0] == "killed by signal 11"
    assert "Fatal Python error: Segmentation fault" in res["stderr"]


def test_runner_reports_a_hang_with_the_stacks():
    res = stress.run_scenario("_hang", seconds=0.5, timeout=3)
    assert res["verdict"] == "hang"
    assert "_selftest_hang" in res["stderr"], res["stderr"]


def test_unknown_scenario():
    with pytest.raises(ValueError):
        stress.run_scenario("nope")
    r = subprocess.run([sys.executable, "-m", "psyco", "stress", "--scenarios", "threads,nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown scenario(s) nope" in r.stderr


def test_list():
    r = subprocess.run([sys.executable, "-m", "psyco", "stress", "--list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.split() == ["threads", "signals", "limits", "churn", "fork"]


# ------------------------------------------------------------------------------------------
# Defects the stress runs brought up, fixed: code memory falls when code dies; the dump lists
# each exit once
# ------------------------------------------------------------------------------------------

def test_code_bytes_fall_when_compiled_code_dies():
    from psyco_testing import run_json
    out = run_json("""
import psyco, gc
from psyco import _psyco
psyco.full()
def live_bytes():
    return sum(int(_psyco.dump_code(c).split('(')[1].split()[0])
               for c in _psyco.compiled_codes())
base = psyco.stats(0)['code_bytes']
for i in range(200):
    ns = {}
    exec('def f(n):\\n    s = %d\\n    for k in range(n):\\n        s += k\\n    return s' % i, ns)
    ns['f'](10)
    del ns
gc.collect()
s = psyco.stats(0)
emit({'code_bytes': s['code_bytes'], 'base': base, 'live': live_bytes(),
      'compiled': s['compiled']})
""")
    assert out["compiled"] >= 200
    # what psyco reports as its code memory is the code that is still there
    assert out["code_bytes"] <= out["live"] + 4096, out


def test_dump_lists_each_exit_once():
    from psyco_testing import run_json
    out = run_json("""
import psyco
from psyco import _psyco
def hot(n):
    s = 0
    for k in range(n):
        s += k ^ 5
    return s
assert _psyco.compile_code(hot.__code__)
text = _psyco.dump_code(hot.__code__)
emit(text.split('exits to the interpreter:')[1].strip().splitlines())
""")
    assert len(out) == len(set(out)), out
