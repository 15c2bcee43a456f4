"""Command line: `python -m psyco demo | stats | opcodes | conformance | fuzz | bench`.

demo: runs a CPU-bound program plain and under psyco (full, profile, background), each in a
fresh process, prints the times and ratios, and shows where the log went and its important
lines."""

import argparse
import os
import subprocess
import sys
import tempfile


def _run(mode, scale, logfile=""):
    cmd = [sys.executable, "-m", "psyco._demo_workload", mode, str(scale), logfile]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("demo run %r failed with exit code %d" % (mode, out.returncode))
    t, e, primes = out.stdout.split()
    return float(t), e, int(primes)


def demo(args):
    import psyco
    native, why = psyco._psyco.native_status()
    print("psyco %s: %s" % (psyco.__version__, why))
    logdir = args.logdir or tempfile.mkdtemp(prefix="psyco-demo-")
    base, e0, p0 = _run("plain", args.scale)
    print("%-12s %8.3f s" % ("plain", base))
    logs = {}
    for mode in ("full", "profile", "background"):
        logfile = os.path.join(logdir, "demo-%s.log-psyco" % mode)
        t, e, p = _run(mode, args.scale, logfile)
        same = "same result" if (e, p) == (e0, p0) else "DIFFERENT RESULT %r vs %r" % ((e, p), (e0, p0))
        print("%-12s %8.3f s   %5.2fx   (%s)" % (mode, t, base / t if t else 0.0, same))
        logs[mode] = logfile
    print()
    for mode, logfile in logs.items():
        print("log of %s: %s" % (mode, logfile))
    print()
    path = logs["profile"]
    print("the profile() log, as `grep %%%%%% %s` would show it, then its first charge dump:" % path)
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        if "%%%" in line:
            print("  " + line)
    dump_at = next((i for i, l in enumerate(lines) if l.endswith("______")), None)
    if dump_at is not None:
        for line in lines[dump_at:dump_at + 8]:
            print("  " + line)
    tags = [l for l in lines if "tag function:" in l]
    print()
    print("functions the profiler selected: %d" % len(tags))
    for l in tags[:10]:
        print("  " + l.rstrip(" %"))


def stats(args):
    import pprint
    import psyco
    pprint.pprint(psyco.stats())


def opcodes(args):
    """Prints every 3.11 opcode with how the compiler handles it (from the compiler's one opcode
    table) and a count per status."""
    import opcode
    from psyco import _psyco
    cov = _psyco.opcode_coverage()
    counts = {"native": 0, "partial": 0, "deopt": 0}
    width = max(len(n) for n in cov)
    print("%-4s %-*s %s" % ("num", width, "opcode", "status"))
    for name in sorted(cov, key=lambda n: opcode.opmap[n]):
        status = cov[name]
        counts[status.split(":")[0]] += 1
        print("%-4d %-*s %s" % (opcode.opmap[name], width, name, status))
    print()
    print("%d opcodes: %d native, %d partial, %d deopt (partial: the cases listed run in the "
          "interpreter; deopt: the rest of the call runs in the interpreter)"
          % (len(cov), counts["native"], counts["partial"], counts["deopt"]))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m psyco")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run a CPU-bound program plain and under psyco")
    d.add_argument("--scale", type=float, default=1.0, help="work size (1.0 is about a second)")
    d.add_argument("--logdir", default="", help="where to write the logs (default: a temp dir)")
    d.set_defaults(func=demo)
    s = sub.add_parser("stats", help="print psyco.stats() of a fresh interpreter")
    s.set_defaults(func=stats)
    o = sub.add_parser("opcodes", help="how the compiler handles each 3.11 opcode")
    o.set_defaults(func=opcodes)
    # Tools with their own argument parsers: everything after the name is theirs.
    for name, helptext in (("conformance", "CPython's own test modules, plain vs under psyco"),
                           ("fuzz", "differential fuzzer: random programs, plain vs under psyco"),
                           ("bench", "the benchmark suite: ratios against plain CPython")):
        sub.add_parser(name, help=helptext, add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("conformance", "fuzz", "bench"):
        import importlib
        module = {"bench": "benchrun"}.get(argv[0], argv[0])
        return importlib.import_module("psyco." + module).main(argv[1:])
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
