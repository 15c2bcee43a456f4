"""The log users grep: line format, '%' importance marks at column 76, charge dumps, the
default file name, append mode, JSON lines and the closing 'program exit' line."""

import json
import os
import re
import sys

from psyco_testing import run_json, run_ok, run_py

LINE_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d\d  .*")
DUMP_HEAD_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d\d   ______$")
DUMP_ROW_RE = re.compile(r"^        #\d+ +\|(?:[ \d]\d\.\d| 100) %\|  ")
MARKS_RE = re.compile(r" (%+)$")
EXIT_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d\d  program exit, \d\d/\d\d/\d\d +%{20}$")

BUSY = """
def helper(n):
    return sum(range(n))
def hot(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def work():
    hot(5000); helper(50)
"""


def read(path):
    with open(path) as f:
        return f.read().splitlines()


def check_line_shapes(lines):
    """Every line is a timestamped event, a dump header or a dump row."""
    assert lines, "empty log"
    for line in lines:
        assert LINE_RE.match(line) or DUMP_ROW_RE.match(line), "bad log line: %r" % line
        if DUMP_ROW_RE.match(line) or DUMP_HEAD_RE.match(line):
            continue
        m = MARKS_RE.search(line)
        if m:
            msg_len = len(line) - len(m.group(0))
            if msg_len + 1 + len(m.group(1)) <= 76:
                assert len(line) == 76, "short line not padded to column 76: %r" % line
            else:
                assert line[-len(m.group(0)) - 1] != " ", "one space only before long marks"


def test_log_format_and_dumps(tmp_path):
    log = tmp_path / "fmt.log"
    run_ok(BUSY + """
import psyco
assert psyco.log(%r, top=3) == %r
def main():   # (inside a function: no sample ever sees <module> alone, see the 100 %% test)
    psyco.background()
    t_end = time.monotonic() + 1.3   # dumps come once a second, the first at the first poll
    spin_until(lambda: time.monotonic() > t_end, work, timeout=10)
main()
""" % (str(log), str(log)))
    lines = read(log)
    check_line_shapes(lines)
    assert re.match(r"^\d\d:\d\d:\d\d\.\d\d  Logging started, \d\d/\d\d/\d\d +%{20}$", lines[0])
    assert len(lines[0]) == 76
    assert any(re.match(r".*  PassiveProfiler: starting +%%%%%$", l) for l in lines)
    assert any(re.match(r".*  tag function: hot +%$", l) and len(l) == 76 for l in lines), lines
    heads = [i for i, l in enumerate(lines) if DUMP_HEAD_RE.match(l)]
    assert len(heads) >= 2
    for h in heads:
        rows = []
        for l in lines[h + 1:]:
            if not DUMP_ROW_RE.match(l):
                break
            rows.append(l)
        assert 1 <= len(rows) <= 3, "top=3 limits the dump: %r" % rows
        ranks = [int(re.match(r"^        #(\d+)", r).group(1)) for r in rows]
        assert ranks == list(range(1, len(rows) + 1))
        pcts = [float(re.search(r"\|([ \d]\d\.\d) %\|", r).group(1)) for r in rows]
        assert pcts == sorted(pcts, reverse=True)
        assert all(0.0 <= p <= 100.0 for p in pcts)
    # the dump names the function and its file:line
    rows = [l for l in lines if DUMP_ROW_RE.match(l)]
    assert any(re.search(r"\|  hot +\S*:\d+$", r) for r in rows), rows


def test_program_exit_line_is_last(tmp_path):
    log = tmp_path / "exit.log"
    run_ok(BUSY + """
import psyco
psyco.log(%r)
def main():
    psyco.profile()
    spin_until(lambda: False, work, timeout=0.3)
main()
""" % str(log))
    lines = read(log)
    check_line_shapes(lines)
    assert re.match(r"^\d\d:\d\d:\d\d\.\d\d  program exit, \d\d/\d\d/\d\d +%{20}$", lines[-1])
    assert len(lines[-1]) == 76
    assert re.match(r"^\d\d:\d\d:\d\d\.\d\d  memory usage: \d+\+ kb +%$", lines[-2])
    assert sum(bool(EXIT_RE.match(l)) for l in lines) == 1


def test_program_exit_line_after_sys_exit_and_exception(tmp_path):
    log = tmp_path / "exc.log"
    r = run_py("""
import psyco
psyco.log(%r)
psyco.background()
raise SystemExit(3)
""" % str(log))
    assert r.returncode == 3 and not r.timed_out
    assert EXIT_RE.match(read(log)[-1])
    log2 = tmp_path / "exc2.log"
    r = run_py("""
import psyco
psyco.log(%r)
psyco.full()
raise KeyError('boom')
""" % str(log2))
    assert r.returncode == 1 and "KeyError" in r.stderr and not r.timed_out
    assert EXIT_RE.match(read(log2)[-1])


def test_default_log_name_is_the_script_name(tmp_path):
    script = tmp_path / "myprog.py"
    out = run_json("""
import psyco
path = psyco.log()
psyco.background(time=0.05)
emit(path)
""", script=script, cwd=str(tmp_path))
    assert out == str(tmp_path / "myprog.log-psyco")
    lines = read(tmp_path / "myprog.log-psyco")
    assert "Logging started" in lines[0]
    assert EXIT_RE.match(lines[-1])


def test_default_log_name_follows_argv0_not_cwd(tmp_path):
    d = tmp_path / "scripts"
    d.mkdir()
    other = tmp_path / "elsewhere"
    other.mkdir()
    script = d / "tool.py"
    run_ok("import psyco\npsyco.log()\n", script=script, cwd=str(other))
    assert (d / "tool.log-psyco").exists()
    assert not os.listdir(other)


def test_default_log_name_with_dash_c(tmp_path):
    out = run_json("import psyco\nemit(psyco.log())\n", cwd=str(tmp_path))
    assert os.path.basename(out) == "psyco.log-psyco"
    assert (tmp_path / "psyco.log-psyco").exists()


def test_mode_w_truncates_and_mode_a_appends(tmp_path):
    log = tmp_path / "app.log"
    code = "import psyco\npsyco.log(%r, mode=%r)\npsyco.runonly(time=0.05)\n"
    run_ok(code % (str(log), "w"))
    run_ok(code % (str(log), "w"))
    assert sum("Logging started" in l for l in read(log)) == 1
    run_ok(code % (str(log), "a"))
    run_ok(code % (str(log), "a"))
    lines = read(log)
    assert sum("Logging started" in l for l in lines) == 3
    assert sum(bool(EXIT_RE.match(l)) for l in lines) == 3
    check_line_shapes(lines)


def test_pathlike_logfile(tmp_path):
    log = tmp_path / "p.log"
    out = run_json("import psyco, pathlib\nemit(psyco.log(pathlib.Path(%r)))\n" % str(log))
    assert out == str(log) and log.exists()


def test_json_lines(tmp_path):
    log = tmp_path / "j.log"
    out = run_json(BUSY + """
import psyco
emit(psyco.log(%r, json=True))
psyco.background()
spin_until(lambda: 'selected' in psyco._psyco.code_state(hot.__code__), work, timeout=10)
spin_until(lambda: False, work, timeout=1.2)
""" % str(log))
    assert out == str(log)
    jpath = str(log) + ".jsonl"
    assert os.path.exists(jpath)
    objs = [json.loads(l) for l in read(jpath)]
    assert objs and all(isinstance(o, dict) and "event" in o for o in objs)
    kinds = [o["event"] for o in objs]
    assert kinds[0] == "log_start" and kinds[-1] == "exit"
    assert "profiler_started" in kinds and "selected" in kinds and "charges" in kinds
    sel = [o for o in objs if o["event"] == "selected"]
    assert any(o.get("function") == "hot" and isinstance(o.get("line"), int) for o in sel)
    for o in objs:
        assert isinstance(o["importance"], int)
        if o["event"] != "charges":
            assert isinstance(o["msg"], str) and isinstance(o["t"], float)
        else:
            assert all({"rank", "pct", "name", "file", "line"} <= set(r) for r in o["rows"])
    # the text log has the same events
    text = read(log)
    # (a selection is a sampled "tag function" or a busy "tag callee" of compiled code)
    assert sum("tag function" in l or "tag callee" in l for l in text) == len(sel)


def test_json_explicit_path_and_append(tmp_path):
    log = tmp_path / "k.log"
    jl = tmp_path / "events.json"
    code = "import psyco\npsyco.log(%r, mode='a', json=%r)\n" % (str(log), str(jl))
    run_ok(code)
    run_ok(code)
    objs = [json.loads(l) for l in read(jl)]
    assert [o["event"] for o in objs].count("log_start") == 2
    assert [o["event"] for o in objs].count("exit") == 2
    assert not os.path.exists(str(log) + ".jsonl")


def test_json_false_writes_no_json(tmp_path):
    log = tmp_path / "n.log"
    run_ok("import psyco\npsyco.log(%r, json=False)\n" % str(log))
    assert log.exists() and not os.path.exists(str(log) + ".jsonl")


def test_recent_events_without_a_log_file():
    out = run_json("""
import psyco
psyco.background(time=0.05)
wait_until(lambda: psyco.stats(0)['active'] is None, 10)
emit(psyco.stats(0)['recent_events'])
""")
    assert any("PassiveProfiler: starting" in e for e in out)
    assert any("PassiveProfiler: disabled (time limit reached)" in e for e in out)
    for e in out:
        assert LINE_RE.match(e) and not e.endswith("%")


def test_recent_events_ring_is_bounded():
    out = run_json("""
import psyco
for i in range(400):
    psyco._psyco.log_event('event %d' % i)
emit(psyco.stats(0)['recent_events'])
""")
    assert 0 < len(out) <= 256
    assert out[-1].endswith("event 399")


def test_dump_row_of_a_function_holding_all_the_charge(tmp_path):
    """BUG (src/log/mod.rs format_dump_row): a function with >= 99.95 % of the charge is shown
    as '|100.0 %|', one character wider than every other row, which breaks the dump's columns
    and the documented row shape. At the first poll of a program that only runs module-level
    code, <module> holds 100 % of the charge."""
    log = tmp_path / "all.log"
    run_ok("""
import psyco
psyco.log(%r)
psyco.background(watermark=1.0)
t = time.monotonic()
x = 0
while time.monotonic() - t < 0.3:
    x += 1
""" % str(log))
    lines = read(log)
    rows = [l for l in lines if l.startswith("        #")]
    assert rows, lines
    for r in rows:
        assert DUMP_ROW_RE.match(r), "malformed charge dump row: %r" % r


def test_control_characters_in_names_do_not_break_lines(tmp_path):
    """BUG (src/log/mod.rs event/format_line): names and file names are written raw, so a
    code object whose file name contains a newline (exec/compile with any string as filename)
    splits a log line in two and the second half has no timestamp. The JSON lines are escaped
    correctly."""
    log = tmp_path / "ctl.log"
    run_ok(r"""
import psyco
psyco.log(%r, json=True)
ns = {}
exec(compile("def f(x):\n    return x\n", 'two\nlines\t"q".py', 'exec'), ns)
psyco.bind(ns['f'])
ns['f'](1)
""" % str(log))
    objs = [json.loads(l) for l in read(str(log) + ".jsonl")]
    assert any(o.get("file") == 'two\nlines\t"q".py' for o in objs)
    check_line_shapes(read(log))
