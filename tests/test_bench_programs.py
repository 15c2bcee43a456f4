"""The benchmark programs (bench/programs) and their runner (psyco.benchrun, bench/run.py).

Every program, at a tiny scale, must return the same checksum plainly and under psyco.full()
(the full() run is a fresh interpreter, and so gets another hash seed: checksums must not
depend on it). The runner's --quick mode on two programs must produce valid JSON, and a
program whose result changes under psyco must be reported as a correctness failure.
"""

import ast
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from psyco_testing import run_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS_DIR = os.path.join(ROOT, "bench", "programs")
RUN_PY = os.path.join(ROOT, "bench", "run.py")
TINY = 0.01

PROGRAMS = sorted(f[:-3] for f in os.listdir(PROGRAMS_DIR)
                  if f.endswith(".py") and not f.startswith("_"))


def load(name):
    path = os.path.join(PROGRAMS_DIR, name + ".py")
    spec = importlib.util.spec_from_file_location("bench_program_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_enough_programs_each_documented():
    assert len(PROGRAMS) >= 15, PROGRAMS
    for name in PROGRAMS:
        with open(os.path.join(PROGRAMS_DIR, name + ".py")) as f:
            tree = ast.parse(f.read())
        doc = ast.get_docstring(tree)
        assert doc and len(doc.strip().splitlines()) == 1, "%s: needs a one-line docstring" % name
        runs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
        assert runs and [a.arg for a in runs[0].args.args] == ["scale"], name


@pytest.mark.parametrize("name", PROGRAMS)
def test_same_checksum_plain_and_full(name):
    plain = repr(load(name).run(TINY))
    out = run_json("""
        import importlib.util, psyco
        psyco.full()
        spec = importlib.util.spec_from_file_location("prog", %r)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = module.run(%r)
        emit({"checksum": repr(result), "mode": psyco.stats(0)["active"]["kind"]})
    """ % (os.path.join(PROGRAMS_DIR, name + ".py"), TINY), timeout=60)
    assert out["mode"] == "full"
    assert out["checksum"] == plain, "%s: full() changed the result" % name


def test_deterministic_plain():
    # Two plain runs in this process agree (no hidden state between calls).
    for name in ("sudoku", "wordfreq", "generators"):
        m = load(name)
        assert repr(m.run(TINY)) == repr(m.run(TINY)), name


def _runner(args, timeout=120):
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    return subprocess.run([sys.executable, RUN_PY] + args, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def quick_json(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    path = tmp / "quick.json"
    p = _runner(["--quick", "--programs", "sieve,nqueens", "--scale", "0.02", "--json",
                 str(path), "--no-png", "-q"])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "geomean full" in p.stdout
    with open(path) as f:
        return json.load(f), p.stdout


def test_runner_quick_json(quick_json):
    doc, _ = quick_json
    for key in ("meta", "modes", "programs", "results", "geomean", "correctness_failures",
                "errors", "ok"):
        assert key in doc, key
    assert doc["ok"] is True
    assert doc["programs"] == ["sieve", "nqueens"]
    assert doc["modes"] == ["plain", "full", "profile", "background"]
    meta = doc["meta"]
    assert meta["runs"] == 3 and meta["warmup"] == 1 and meta["scale"] == 0.02
    assert meta["python"].startswith("3.")
    for prog in doc["programs"]:
        for mode in doc["modes"]:
            e = doc["results"][prog][mode]
            for key in ("times", "median", "spread_pct", "ratio", "ratio_min", "ratio_max",
                        "checksum_ok", "checksum_sha1", "wall", "cpu", "stats_summary"):
                assert key in e, (prog, mode, key)
            assert len(e["times"]) == 3 and e["median"] > 0
            assert e["checksum_ok"] is True
            assert e["ratio"] > 0
            if mode == "plain":
                assert e["stats_summary"] is None
            else:
                assert e["stats_summary"]["active"] == mode
                assert "compiled" in e["stats_summary"]
                assert "code_bytes" in e["stats_summary"]
    for mode in ("full", "profile", "background"):
        g = doc["geomean"][mode]
        assert g["ratio"] > 0 and g["programs"] == 2 and len(g["per_round"]) == 3


def test_runner_chart(quick_json, tmp_path):
    pytest.importorskip("matplotlib")
    from psyco import benchrun
    doc, _ = quick_json
    png = tmp_path / "ratios.png"
    assert benchrun.chart(str(png), doc["results"], doc["geomean"], doc["programs"],
                          doc["modes"], doc["meta"], lambda msg: None)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_runner_reports_wrong_results(tmp_path):
    progs = tmp_path / "programs"
    progs.mkdir()
    (progs / "liar.py").write_text(
        '"""Returns something else when psyco is loaded."""\n'
        "import sys\n"
        "def run(scale):\n"
        "    return 1 if 'psyco' in sys.modules else 0\n")
    path = tmp_path / "out.json"
    p = _runner(["--dir", str(progs), "--modes", "full", "--runs", "1", "--warmup", "0",
                 "--scale", "0.01", "--json", str(path), "--no-png", "-q"])
    assert p.returncode == 1
    assert "CORRECTNESS FAILURE" in p.stdout
    assert "CHECKSUM MISMATCH" in p.stdout
    doc = json.loads(path.read_text())
    assert doc["ok"] is False
    assert doc["correctness_failures"][0]["program"] == "liar"
    assert doc["results"]["liar"]["full"]["checksum_ok"] is False
