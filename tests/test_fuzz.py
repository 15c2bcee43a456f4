"""The differential fuzzer (psyco.fuzz): determinism of the generator, detection of
mismatches, crashes and hangs, the minimizer, the saved regression tests, and a CI run of a
few hundred programs plainly and under psyco.full()."""

import os
import subprocess
import sys
import textwrap

import pytest

from psyco import fuzz

SLOW_SKIP = pytest.mark.skipif(
    bool(os.environ.get("PSYCO_TEST_FULL")),
    reason="children are the same in both pytest passes; run once, in the plain pass")

# A program whose output depends on whether psyco is active: the fuzzer must call it a mismatch.
DIFFERS = textwrap.dedent('''\
    import sys
    def active():
        return "psyco" in sys.modules and bool(sys.modules["psyco"].stats(0)["active"])
    def f(n):
        total = 0
        for i in range(n):
            total += i
        return total
    print("sum", f(10))
    print("psyco", active())
    ''')

SAME = "def g(x):\n    return x * 2\nprint(g(21))\n"


# ------------------------------------------------------------------------------------------
# The generator
# ------------------------------------------------------------------------------------------

def test_same_seed_same_program():
    for seed in (0, 1, 17, 123456):
        assert fuzz.generate(seed) == fuzz.generate(seed)
    texts = {fuzz.generate(s) for s in range(30)}
    assert len(texts) == 30


def test_generation_does_not_depend_on_the_process():
    code = "from psyco import fuzz; import hashlib; print(hashlib.sha256(''.join(" \
           "fuzz.generate(s) for s in range(40)).encode()).hexdigest())"
    outs = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        env.pop("PSYCO_TEST_FULL", None)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout)
    assert len(outs) == 1


def test_programs_compile_run_fast_and_deterministically():
    import time
    for seed in range(60):
        text = fuzz.generate(seed)
        compile(text, "<fuzz>", "exec")
        t0 = time.perf_counter()
        a = fuzz.run_program(text)
        assert time.perf_counter() - t0 < 1.0, seed
        assert a == fuzz.run_program(text), seed
        assert a["out"], seed


def test_program_output_independent_of_hash_seed(tmp_path):
    # the same programs in two interpreters with different string hashing print the same
    code = ("import sys; from psyco import fuzz\n"
            "for s in range(200, 230):\n"
            "    r = fuzz.run_program(fuzz.generate(s))\n"
            "    print(s, repr(r['out']), r['exc'])\n")
    outs = []
    for hashseed in ("3", "4"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        env.pop("PSYCO_TEST_FULL", None)
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                   text=True, check=True).stdout)
    assert outs[0] == outs[1]
    assert "0x" not in outs[0]          # no addresses (id()) in the output


def test_generator_covers_the_features():
    corpus = "\n".join(fuzz.generate(s) for s in range(300))
    for needle in ["nonlocal", "yield from", ".send(", ".throw(", "__slots__", "@property",
                   "super().", "finally:", "continue", "break", "while ", "else:",
                   "**kw", "*args", "lambda", "sorted(s)", "for j in range", "first, *mid, last",
                   "2**64", "float('inf')", "float('nan')", " / ", " // ", " % ", ") ** ",
                   "return log + ['from finally']", "raise KeyError", ".format(x)", "f'{x!r}",
                   "[::", "@classmethod", "@staticmethod", "def inc(", "even", "raise\n"]:
        assert needle in corpus, needle


def test_run_program_reports_escaping_exception():
    r = fuzz.run_program("x = 1\ndef f():\n    return 1 / 0\nprint('a')\nf()\n")
    assert r["out"] == "a\n"
    assert r["exc"] == ["ZeroDivisionError", "division by zero", 3]
    assert fuzz.run_program("print(")["exc"][0] == "SyntaxError"


# ------------------------------------------------------------------------------------------
# Detection
# ------------------------------------------------------------------------------------------

def test_batch_detects_mismatch_crash_and_hang():
    crash = "import ctypes, sys\nif 'psyco' in sys.modules:\n    ctypes.string_at(0)\n" \
            "print('fine')\n"
    hang = "import sys, time\nif 'psyco' in sys.modules:\n    time.sleep(600)\nprint('x')\n"
    programs = [("same1", SAME), ("differs", DIFFERS), ("crash", crash), ("same2", SAME),
                ("hang", hang), ("same3", SAME)]
    results, stats = fuzz.run_batch(programs, timeout=10)
    kinds = {r.id: r.kind for r in results}
    assert kinds == {"same1": "ok", "differs": "mismatch", "crash": "crash", "same2": "ok",
                     "hang": "hang", "same3": "ok"}
    assert stats["children"] == 3            # a new child after the crash and after the hang
    mismatch = results[1]
    assert "psyco False" in mismatch.plain["out"] and "psyco True" in mismatch.psyco["out"]
    assert "-psyco False" in mismatch.describe() and "+psyco True" in mismatch.describe()


def test_check_program_exception_difference_is_a_mismatch():
    text = ("import sys\n"
            "if 'psyco' in sys.modules:\n"
            "    raise KeyError('under psyco')\n"
            "raise KeyError('plain')\n")
    r = fuzz.check_program(text)
    assert r.kind == "mismatch"
    assert r.plain["exc"][:2] == ["KeyError", "'plain'"]
    assert r.psyco["exc"][:2] == ["KeyError", "'under psyco'"]
    assert fuzz.check_program(SAME).ok


# ------------------------------------------------------------------------------------------
# Minimizing and saving
# ------------------------------------------------------------------------------------------

def test_ddmin_finds_the_needed_items():
    calls = []

    def needs_3_and_7(items):
        calls.append(1)
        return 3 in items and 7 in items

    assert fuzz.ddmin(list(range(40)), needs_3_and_7) == [3, 7]
    assert len(calls) < 200
    assert fuzz.ddmin([5], lambda items: True) == [5]


def test_minimize_with_a_fake_failure_predicate():
    text = fuzz.generate(4242)
    lines = text.splitlines()
    assert len(lines) > 40
    # pretend that the bug needs the line "def main():" and any line that calls print(
    def still_fails(t):
        return "def main():" in t and "print(" in t
    small = fuzz.minimize(text, still_fails)
    compile(small, "<min>", "exec")
    assert still_fails(small)
    assert len(small.splitlines()) <= 4, small
    assert len(small) < len(text) // 5


def test_minimize_keeps_the_real_failure(tmp_path):
    # the real thing: a program that differs under psyco, padded with irrelevant code
    padded = fuzz.generate(7).replace("if __name__ == '__main__':", DIFFERS +
                                      "\nif __name__ == '__main__':")
    assert fuzz.check_program(padded).kind == "mismatch"
    checks = []

    def still_fails(t):
        checks.append(t)
        return fuzz.check_program(t).kind == "mismatch"

    small = fuzz.minimize(padded, still_fails, max_checks=400)
    assert fuzz.check_program(small).kind == "mismatch"
    assert len(small.splitlines()) <= 8, small
    with pytest.raises(ValueError):
        fuzz.minimize(SAME, still_fails)


def test_saved_regression_is_a_failing_pytest_test(tmp_path):
    bad = fuzz.check_program(DIFFERS)
    path = fuzz.save_regression(str(tmp_path), 99, DIFFERS, bad)
    assert os.path.basename(path) == "fuzz_99.py"
    good_path = fuzz.save_regression(str(tmp_path), 100, SAME, fuzz.check_program(SAME))
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    here = os.path.dirname(os.path.abspath(__file__))
    # collected the way the suite collects them: through tests/regressions/conftest.py
    conftest = os.path.join(here, "regressions", "conftest.py")
    with open(conftest) as f:
        (tmp_path / "conftest.py").write_text(f.read())
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "1 failed, 1 passed" in r.stdout, r.stdout + r.stderr
    assert "psyco True" in r.stdout
    assert good_path.endswith("fuzz_100.py")


# ------------------------------------------------------------------------------------------
# The CI run
# ------------------------------------------------------------------------------------------

@SLOW_SKIP
def test_fuzz_ci_run():
    results, stats = fuzz.run_fuzz(seed=1000, count=400, batch=100)
    failing = [r.describe() for r in results if not r.ok]
    assert not failing, "\n\n".join(failing[:5])
    assert len(results) == 400
    assert stats["selected"] > 4000          # psyco.full() really saw the programs' functions


def test_main_command(tmp_path, capsys):
    assert fuzz.main(["--seed", "5", "--count", "20", "--batch", "10", "-q",
                      "--save-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "20 programs" in out and "0 mismatches" in out and "0 crashes" in out
    assert fuzz.main(["--show", "5"]) == 0
    assert capsys.readouterr().out == fuzz.generate(5)
