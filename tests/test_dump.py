"""psyco.dumpcodebuf() and `python -m psyco dis MODULE:FUNCTION`: readable dumps of the
machine code, with the bytecode instructions each part implements in between."""

import io
import os
import subprocess
import sys

import pytest

import psyco
from psyco import _psyco
from psyco_testing import run_json

NATIVE = _psyco.native_status()[0]
needs_native = pytest.mark.skipif(not NATIVE, reason="no machine code on this interpreter")


def _dumped_function(n):
    total = 0
    for k in range(n):
        total += k * 3
    return total


@needs_native
def test_dumpcodebuf_in_process_to_a_file_like_and_a_path(tmp_path):
    assert _psyco.compile_code(_dumped_function.__code__)
    assert _psyco.dump_code(_dumped_function.__code__) is not None
    assert _dumped_function.__code__ in _psyco.compiled_codes()
    buf = io.StringIO()
    assert psyco.dumpcodebuf(buf) is None          # a file-like without a name
    text = buf.getvalue()
    assert text.startswith("psyco %s code dump: " % psyco.__version__)
    assert "=== _dumped_function  (%s:" % __file__ in text
    path = psyco.dumpcodebuf(tmp_path / "x.dump")
    assert path == str(tmp_path / "x.dump")
    with open(path) as f:
        assert "=== _dumped_function" in f.read()
    with open(tmp_path / "y.dump", "w") as f:
        assert psyco.dumpcodebuf(f) == str(tmp_path / "y.dump")


def test_dumpcodebuf_rejects_other_arguments():
    with pytest.raises(TypeError):
        psyco.dumpcodebuf(42)


DUMP_SNIPPET = """
import psyco
MODE
def hot(n):
    s = 0
    for k in range(n):
        s += k ^ 5
    return s
def cold(x):
    return [x] * 2
psyco.bind(hot)
hot(100); hot(100); cold(1); cold(2)
path = psyco.dumpcodebuf()
import dis
emit({'path': path, 'text': open(path).read(), 'cwd': os.getcwd(),
      'dis': [(i.offset, i.opname) for i in dis.get_instructions(hot)],
      'cold': psyco.is_compiled(cold)})
"""


@needs_native
@pytest.mark.parametrize("mode", ["", "psyco.full()"])
def test_dumpcodebuf_default_file_plain_and_under_full(tmp_path, mode):
    out = run_json(DUMP_SNIPPET.replace("MODE", mode), cwd=str(tmp_path))
    assert out["path"] == os.path.join(out["cwd"], "psyco.dump")
    text = out["text"]
    hot = text[text.index("=== hot "):]
    hot = hot[:hot.index("\n=== ")] if "\n=== " in hot else hot
    # the function's bytecode markers, in order, and real x86 between them
    lines = hot.splitlines()
    marked = [(i, l) for i, l in enumerate(lines) if l.lstrip().startswith("; ") and l.split()[1].isdigit()]
    markers = [(int(l.split()[1]), l.split()[2]) for _, l in marked if "(out of line)" not in l]
    # exactly the function's own instructions (as dis shows them), in bytecode order
    assert markers == sorted(markers) and len(markers) >= 10, markers
    # slow paths kept out of the straight line come after the body (and its epilogue), each
    # marked with the instruction it belongs to
    epilogue = next(i for i, l in enumerate(lines) if l.strip() == "; epilogue")
    out_of_line = [(i, (int(l.split()[1]), l.split()[2])) for i, l in marked if "(out of line)" in l]
    assert out_of_line, hot
    assert all(i > epilogue and m in markers for i, m in out_of_line), (out_of_line, markers)
    assert set(markers) <= set(map(tuple, out["dis"])), (markers, out["dis"])
    names = [name for _, name in markers]
    assert names[0] == "RESUME" and "FOR_ITER" in names and names[-1] == "RETURN_VALUE"
    assert any(l.split()[1:2] == ["push"] for l in hot.splitlines()), hot[:500]
    assert "ret" in hot.split() and "call" in hot.split()
    assert "exits to the interpreter:" in hot
    if mode:
        assert out["cold"] and "=== cold " in text
    else:
        assert not out["cold"] and "=== cold " not in text


def test_dumpcodebuf_with_nothing_compiled(tmp_path):
    out = run_json("""
import psyco, io
buf = io.StringIO()
psyco.dumpcodebuf(buf)
emit(buf.getvalue())
""")
    assert "0 compiled functions" in out and "===" not in out


def _dis(*args, cwd=None):
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    return subprocess.run([sys.executable, "-m", "psyco", "dis", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env=env)


@needs_native
def test_dis_a_stdlib_function_and_a_method():
    r = _dis("json:dumps")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("=== dumps  (") and "json/__init__.py:" in r.stdout
    assert "; " in r.stdout and "RETURN_VALUE" in r.stdout and "push rbp" in r.stdout
    r = _dis("json.decoder:JSONDecoder.decode")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("=== JSONDecoder.decode  (")
    r = _dis("json.decoder:JSONDecoder")        # a class: every method it defines
    assert r.returncode == 0, r.stderr
    heads = [l for l in r.stdout.splitlines() if l.startswith("=== ")]
    assert any("JSONDecoder.__init__" in h for h in heads)
    assert any("JSONDecoder.raw_decode" in h for h in heads)


@needs_native
def test_dis_static_and_class_methods_and_properties(tmp_path):
    (tmp_path / "dismod.py").write_text(
        "class C:\n"
        "    @staticmethod\n    def s(x):\n        return x + 1\n"
        "    @classmethod\n    def c(cls, x):\n        return x * 2\n"
        "    @property\n    def p(self):\n        return 3\n")
    for target, name in (("dismod:C.s", "C.s"), ("dismod:C.c", "C.c"), ("dismod:C.p", "C.p")):
        r = _dis(target, cwd=str(tmp_path))
        assert r.returncode == 0, (target, r.stderr)
        assert r.stdout.startswith("=== %s  (" % name), r.stdout[:200]


@pytest.mark.parametrize("target, message", [
    ("json", "expected MODULE:FUNCTION"),
    ("json:", "expected MODULE:FUNCTION"),
    (":dumps", "expected MODULE:FUNCTION"),
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz': ModuleNotFoundError"),
    ("json:no_such_function", "json has no attribute 'no_such_function'"),
    ("json.decoder:JSONDecoder.nope", "json.decoder:JSONDecoder has no attribute 'nope'"),
    ("os:getpid", "os:getpid is a builtin_function_or_method, not a Python function"),
    ("json:__version__", "json:__version__ is a str, not a Python function"),
])
def test_dis_bad_targets(target, message):
    r = _dis(target)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr


@needs_native
def test_dis_a_function_psyco_cannot_compile(tmp_path):
    (tmp_path / "dismod2.py").write_text("def g():\n    yield 1\n")
    r = _dis("dismod2:g", cwd=str(tmp_path))
    if r.returncode == 0:    # the compiler learnt generators: nothing to check here
        assert r.stdout.startswith("=== g  (")
    else:
        assert "psyco cannot compile it:" in r.stdout, r.stdout


@needs_native
@pytest.mark.parametrize("setting", ["1", None])
def test_perf_map_names_compiled_functions_for_perf_only_when_asked(setting):
    # PSYCO_PERF_MAP=1: every placed function is a "start size name" line of
    # /tmp/perf-<pid>.map, the file `perf report` reads; without it, no file is written.
    env = {"PSYCO_PERF_MAP": setting} if setting else {}
    out = run_json("""
        import os, re
        from psyco import _psyco
        def mapped_function(n):
            return sum(k * 2 for k in range(n)) + n
        path = "/tmp/perf-%d.map" % os.getpid()
        if os.path.exists(path):
            os.unlink(path)
        assert _psyco.compile_code(mapped_function.__code__)
        assert mapped_function(10) == 100
        dump = _psyco.dump_code(mapped_function.__code__)
        m = re.match(r".* \\((\\d+) bytes at (0x[0-9a-f]+)\\)", dump)
        lines = open(path).read().splitlines() if os.path.exists(path) else None
        if os.path.exists(path):
            os.unlink(path)
        emit({"lines": lines, "size": int(m.group(1)), "addr": int(m.group(2), 16),
              "line": mapped_function.__code__.co_firstlineno})
    """, env=env)
    if setting is None:
        assert out["lines"] is None
        return
    rows = [line.split(" ", 2) for line in out["lines"]]
    assert all(len(r) == 3 for r in rows), out
    ours = [r for r in rows if r[2].startswith("py::mapped_function:")]
    assert len(ours) == 1, out
    start, size, name = ours[0]
    assert int(start, 16) == out["addr"] and int(size, 16) == out["size"]
    assert name == "py::mapped_function:<string>:%d" % out["line"]
    # the shared frame-push stub is named too
    assert any(r[2] == "psyco::frame_push_stub" for r in rows), out
