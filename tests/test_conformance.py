"""The conformance runner (psyco.conformance): its parser and comparison on canned output, its
detection of differences, crashes and hangs on a fake regression-test module, and a CI run of
a few of CPython's own test modules plainly, under psyco.full() and under psyco.profile(0.0).
"""

import os
import textwrap

import pytest

from psyco import conformance as conf

# The children never inherit PSYCO_TEST_FULL: a second pytest pass under psyco.full() would
# run exactly the same children again, so the slow runs are done in the plain pass only.
SLOW_SKIP = pytest.mark.skipif(
    bool(os.environ.get("PSYCO_TEST_FULL")),
    reason="children are the same in both pytest passes; run once, in the plain pass")

# ------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------

VERBOSE = textwrap.dedent("""\
    0:00:00 load avg: 0.52 [1/1] test_demo
    test_a (test.test_demo.T.test_a) ... ok
    test_b (test.test_demo.T.test_b) ... FAIL
    test_c (test.test_demo.T.test_c) ... ERROR
    test_d (test.test_demo.T.test_d) ... skipped 'needs the network'
    test_e (test.test_demo.T.test_e) ... expected failure
    test_f (test.test_demo.T.test_f) ... unexpected success
    test_g (test.test_demo.T.test_g)
    The first line of test_g's docstring ... ok
    test_h (test.test_demo.T.test_h) ... some output the test printed
    more output
    ok
    test_i (test.test_demo.T.test_i) (n=3) ... FAIL
    test_j (test.test_demo.T.test_j) ... printed without newlineok
    test_k (test.test_demo.T.test_k) ... <object at 0x7f00deadbeef> FAIL
    doctests (test.test_genexps.__test__)
    Doctest: test.test_genexps.__test__.doctests ... ok
    test_l (test.test_demo.T.test_l) ... garbled
    test_m (test.test_demo.T.test_m) (obj=<X at 0x1234>) ... ERROR

    ======================================================================
    FAIL: test_b (test.test_demo.T.test_b)
    ----------------------------------------------------------------------
    Traceback (most recent call last):
    AssertionError: 1 != 2

    ======================================================================
    ERROR: test_l (test.test_demo.T.test_l)
    ----------------------------------------------------------------------
    Traceback (most recent call last):
    ValueError

    ----------------------------------------------------------------------
    Ran 13 tests in 0.010s

    FAILED (failures=2, errors=2, skipped=1)
    test_demo failed (2 failures, 2 errors)

    == Tests result: FAILURE ==
    """)


def test_parse_outcomes_all_shapes():
    got = conf.parse_outcomes(VERBOSE)
    T = "(test.test_demo.T.%s)"
    assert got["test_a " + T % "test_a"] == "ok"
    assert got["test_b " + T % "test_b"] == "FAIL"
    assert got["test_c " + T % "test_c"] == "ERROR"
    assert got["test_d " + T % "test_d"] == "skipped"
    assert got["test_e " + T % "test_e"] == "xfail"
    assert got["test_f " + T % "test_f"] == "xpass"
    assert got["test_g " + T % "test_g"] == "ok"            # docstring on its own line
    assert got["test_h " + T % "test_h"] == "ok"            # outcome after printed lines
    assert got["test_i " + T % "test_i" + " (n=3)"] == "FAIL"   # a subtest
    assert got["test_j " + T % "test_j"] == "ok"            # output glued to the outcome
    assert got["test_k " + T % "test_k"] == "FAIL"
    assert got["doctests (test.test_genexps.__test__)"] == "ok"
    assert got["test_l " + T % "test_l"] == "ERROR"         # from the failure report
    assert got["test_m " + T % "test_m" + " (obj=<X at 0x?>)"] == "ERROR"  # address hidden
    assert len(got) == 14


def test_parse_outcomes_unfinished_test_after_crash():
    text = ("test_a (m.C.test_a) ... ok\n"
            "test_b (m.C.test_b) ... \n"
            "Fatal Python error: Segmentation fault\n")
    got = conf.parse_outcomes(text)
    assert got == {"test_a (m.C.test_a)": "ok", "test_b (m.C.test_b)": "unfinished"}


def test_parse_summary_and_proof():
    assert conf.parse_summary(VERBOSE) == "FAILURE"
    assert conf.parse_summary("== Tests result: SUCCESS ==\n") == "SUCCESS"
    assert conf.parse_summary("no verdict here") is None
    err = "junk\n%s {\"active\": {\"kind\": \"full\"}, \"compiled\": 3}\n" % conf.PROOF_TAG
    assert conf.parse_proof(err) == {"active": {"kind": "full"}, "compiled": 3}
    assert conf.parse_proof("nothing") is None


def test_normalize_outcome():
    assert conf.normalize_outcome("skipped 'x'") == "skipped"
    assert conf.normalize_outcome(" ok ") == "ok"
    assert conf.normalize_outcome("okay") is None
    assert conf.normalize_outcome("") is None


# ------------------------------------------------------------------------------------------
# Comparing
# ------------------------------------------------------------------------------------------

def _result(module, mode, outcomes, summary="SUCCESS", rc=0, timed_out=False):
    r = conf.RunResult(module, mode)
    r.outcomes = dict(outcomes)
    r.summary = summary
    r.returncode = rc
    r.timed_out = timed_out
    return r


def test_compare_reports_each_changed_test():
    base = _result("test_x", "plain", {"a (m.C.a)": "ok", "b (m.C.b)": "ok", "c (m.C.c)": "ok"})
    other = _result("test_x", "full", {"a (m.C.a)": "ok", "b (m.C.b)": "FAIL",
                                       "d (m.C.d)": "ok"}, summary="FAILURE")
    diffs = conf.compare(base, other, known={})
    assert {(d["test"], d["base"], d["other"]) for d in diffs} == {
        ("b (m.C.b)", "ok", "FAIL"), ("c (m.C.c)", "ok", "missing"),
        ("d (m.C.d)", "missing", "ok"), ("<regrtest verdict>", "SUCCESS", "FAILURE")}
    assert all(d["known"] is None for d in diffs)


def test_compare_same_outcomes_means_no_difference():
    base = _result("test_x", "plain", {"a (m.C.a)": "ok", "b (m.C.b)": "skipped"})
    other = _result("test_x", "profile", {"a (m.C.a)": "ok", "b (m.C.b)": "skipped"})
    assert conf.compare(base, other, known={}) == []


def test_compare_after_crash_blames_the_crash_not_every_test():
    base = _result("test_x", "plain", {"a (m.C.a)": "ok", "b (m.C.b)": "ok", "c (m.C.c)": "ok"})
    other = _result("test_x", "full", {"a (m.C.a)": "ok", "b (m.C.b)": "unfinished"},
                    summary=None, rc=-11)
    assert other.crashed and not other.crashed_at_exit
    diffs = conf.compare(base, other, known={})
    assert [(d["test"], d["other"]) for d in diffs] == [("b (m.C.b)", "unfinished")]


def test_known_reasons_match_module_glob_and_mode():
    known = {"test_x::a (*": "reason A", "full:test_x::b (*": "reason B",
             "test_y::<crash at exit>": "reason C"}
    assert conf.known_reason("test_x", "full", "a (m.C.a)", known) == "reason A"
    assert conf.known_reason("test_x", "profile", "a (m.C.a)", known) == "reason A"
    assert conf.known_reason("test_x", "full", "b (m.C.b)", known) == "reason B"
    assert conf.known_reason("test_x", "profile", "b (m.C.b)", known) is None
    assert conf.known_reason("test_z", "full", "a (m.C.a)", known) is None
    assert conf.known_reason("test_y", "full", "<crash at exit>", known) == "reason C"
    base = _result("test_x", "plain", {"a (m.C.a)": "ok", "b (m.C.b)": "ok"})
    other = _result("test_x", "profile", {"a (m.C.a)": "FAIL", "b (m.C.b)": "FAIL"})
    diffs = {d["test"]: d["known"] for d in conf.compare(base, other, known)}
    assert diffs == {"a (m.C.a)": "reason A", "b (m.C.b)": None}


def test_known_entries_have_reasons_and_name_listed_modules():
    names = {m.name for m in conf.MODULES}
    for key, reason in conf.KNOWN.items():
        spec = key.split(":", 1)[1] if ":" in key.split("::", 1)[0] else key
        assert spec.split("::", 1)[0] in names, key
        assert len(reason) > 40, key


def test_module_list_covers_the_required_modules():
    names = [m.name for m in conf.MODULES]
    assert len(names) >= 60 and len(set(names)) == len(names)
    required = """test_grammar test_exceptions test_generators test_coroutines test_asyncgen
        test_scope test_with test_contextlib test_class test_descr test_dict test_list
        test_tuple test_set test_unpack test_unpack_ex test_keywordonlyarg
        test_positional_only_arg test_raise test_sys_settrace test_traceback test_frame
        test_int test_long test_float test_math test_string test_unicode test_bytes test_slice
        test_iter test_itertools test_functools test_operator test_compare test_bool
        test_augassign test_dataclasses test_enum test_json test_re test_patma
        test_exception_group test_threading test_signal""".split()
    assert not set(required) - set(names)
    assert set(conf.CI_SUBSET) <= set(names)
    here = os.path.dirname(os.__file__)
    for n in names:
        assert (os.path.exists(os.path.join(here, "test", n + ".py"))
                or os.path.isdir(os.path.join(here, "test", n))), n


# ------------------------------------------------------------------------------------------
# Detection, on a fake test module whose tests misbehave only when psyco is active
# ------------------------------------------------------------------------------------------

FAKE = '''
import os, signal, sys, time, unittest

def psyco_active():
    if "psyco" not in sys.modules:
        return False
    return bool(sys.modules["psyco"].stats(0)["active"])

class T(unittest.TestCase):
    def test_same(self):
        self.assertEqual(1 + 1, 2)

    def test_differs(self):
        """Fails only under psyco."""
        self.assertFalse(psyco_active())

    def test_zz_%(last)s(self):
        if psyco_active():
            %(action)s

if __name__ == "__main__":
    unittest.main()
'''


def _fake_module(tmp_path, name, last, action):
    d = tmp_path / name
    d.mkdir()
    (d / (name + ".py")).write_text(FAKE % {"last": last, "action": action})
    return conf.Module(name, testdir=str(d))


def test_runner_sees_a_difference(tmp_path):
    m = _fake_module(tmp_path, "test_fake_diff", "noop", "pass")
    report = conf.run_all([m], ("plain", "full"), jobs=2, timeout=60, known={})
    e = report["modules"][0]
    assert e["runs"]["plain"]["counts"] == {"ok": 3}
    assert e["runs"]["full"]["proof"]["active"]["kind"] == "full"
    diffs = e["differences"]["full"]
    assert [d["test"] for d in diffs if d["test"].startswith("test_")] == [
        "test_differs (test_fake_diff.T.test_differs)"]
    assert not report["summary"]["ok"] and report["summary"]["unexplained"] == 2
    table = conf.format_table(report)
    assert "UNEXPLAINED" in table and "FAILED" in table
    # the same difference, listed as known, passes
    known = {"test_fake_diff::test_differs (*": "a test written to differ",
             "test_fake_diff::<regrtest verdict>": "follows from test_differs"}
    report = conf.run_all([m], ("plain", "full"), jobs=2, timeout=60, known=known)
    assert report["summary"]["ok"] and report["summary"]["known"] == 2


def test_runner_sees_a_crash(tmp_path):
    m = _fake_module(tmp_path, "test_fake_crash", "crash", "os.kill(os.getpid(), signal.SIGSEGV)")
    report = conf.run_all([m], ("plain", "profile"), jobs=2, timeout=60, known={})
    e = report["modules"][0]
    assert [(p["mode"], p["kind"]) for p in e["problems"]] == [("profile", "crash")]
    assert "SIGSEGV" in e["problems"][0]["detail"]
    assert e["runs"]["profile"]["outcomes"]["test_zz_crash (test_fake_crash.T.test_zz_crash)"] \
        == "unfinished"
    assert report["summary"]["crashes"] == 1 and not report["summary"]["ok"]


def test_runner_sees_a_hang(tmp_path):
    m = _fake_module(tmp_path, "test_fake_hang", "hang", "time.sleep(600)")
    report = conf.run_all([m], ("plain", "full"), jobs=2, timeout=8, known={})
    e = report["modules"][0]
    assert [(p["mode"], p["kind"]) for p in e["problems"]] == [("full", "hang")]
    assert e["runs"]["full"]["timed_out"] and e["runs"]["full"]["seconds"] < 30
    assert report["summary"]["hangs"] == 1 and not report["summary"]["ok"]


def test_runner_sees_psyco_not_activated(tmp_path, monkeypatch):
    m = _fake_module(tmp_path, "test_fake_inactive", "noop", "pass")
    # a bootstrap that forgets to activate psyco must be caught
    monkeypatch.setattr(conf, "BOOTSTRAP", conf.BOOTSTRAP.replace("psyco.full()", "pass"))
    report = conf.run_all([m], ("plain", "full"), jobs=2, timeout=60, known={})
    kinds = [p["kind"] for p in report["modules"][0]["problems"]]
    assert kinds == ["not-active"]
    assert not report["summary"]["ok"]


# ------------------------------------------------------------------------------------------
# The CI run: real modules of CPython's test suite, all three modes
# ------------------------------------------------------------------------------------------

CI_MODULES = [
    "test_grammar", "test_scope", "test_with", "test_raise", "test_exceptions",
    "test_exception_group", "test_patma", "test_generators", "test_coroutines",
    "test_contextlib", "test_class", "test_descr", "test_int", "test_frame",
    "test_sys_settrace", "test_traceback", "test_dis", "test_code",
]


@SLOW_SKIP
def test_conformance_ci_modules(tmp_path):
    modules = conf.select_modules(names=CI_MODULES)
    report = conf.run_all(modules, ("plain", "full", "profile"), jobs=2, timeout=240)
    table = conf.format_table(report)
    s = report["summary"]
    assert s["ok"], table
    assert s["tests"] > 1000, table
    for e in report["modules"]:
        for mode in ("full", "profile"):
            assert e["runs"][mode]["proof"]["active"]["kind"] == mode, table


def test_main_lists_and_rejects_bad_modes(capsys):
    assert conf.main(["--list", "--subset", "ci"]) == 0
    out = capsys.readouterr().out.split()
    assert "test_grammar" in out and len(out) >= len(conf.CI_SUBSET)
    with pytest.raises(SystemExit):
        conf.main(["--modes", "plain,turbo", "--modules", "test_bool"])
