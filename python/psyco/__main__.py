"""Command line: `python -m psyco demo | stats | opcodes | dis | conformance | fuzz | bench | stress`.

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


def _resolve(target):
    """The object named by MODULE:QUALNAME (QUALNAME may be dotted: Class.method)."""
    import importlib
    module_name, sep, qualname = target.partition(":")
    if not sep or not module_name or not qualname:
        raise SystemExit("psyco dis: expected MODULE:FUNCTION (e.g. json:dumps or "
                         "json.decoder:JSONDecoder.decode), got %r" % target)
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:
        raise SystemExit("psyco dis: cannot import module %r: %s: %s"
                         % (module_name, type(e).__name__, e))
    path = module_name
    for part in qualname.split("."):
        # A class's own dict first, so that staticmethod/classmethod/property keep their
        # wrapper (getattr would return a plain function or a bound method).
        d = getattr(obj, "__dict__", None)
        if isinstance(obj, type) and d is not None and part in d:
            obj = d[part]
        else:
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise SystemExit("psyco dis: %s has no attribute %r" % (path, part))
        path += (":" if path == module_name else ".") + part
        if isinstance(obj, property) and obj.fget is not None:
            obj = obj.fget
    return obj, path


def dis(args):
    import types
    import psyco
    from psyco import _psyco
    obj, path = _resolve(args.target)
    if isinstance(obj, types.CodeType):
        codes = [obj]
    else:
        try:
            codes = psyco._codes(obj, "dis")
        except TypeError:
            raise SystemExit("psyco dis: %s is a %s, not a Python function, method or class: "
                             "psyco compiles Python code only" % (path, type(obj).__name__))
    if not codes:
        raise SystemExit("psyco dis: class %s defines no functions" % path)
    native, why = _psyco.native_status()
    if not native:
        raise SystemExit("psyco dis: no machine code on this interpreter (%s)" % why)
    failed = 0
    for i, code in enumerate(codes):
        if i:
            print()
        if not _psyco.is_compiled_code(code) and _psyco.dump_code(code) is None:
            _psyco.compile_code(code)
        text = psyco._dump_one(code)
        if text is None:
            reason, _ = _psyco.code_info(code)
            state = ", ".join(_psyco.code_state(code)) or "not compiled"
            print("=== %s  (%s)  [%s]\npsyco cannot compile it: %s"
                  % (code.co_qualname, psyco._code_where(code), state, reason or "unknown reason"))
            failed += 1
        else:
            sys.stdout.write(text)
    if failed == len(codes):
        return 1
    return 0


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
    x = sub.add_parser("dis", help="compile a function and print its machine code",
                       description="Compile MODULE:FUNCTION (or MODULE:Class.method, or every "
                       "method of MODULE:Class) and print its machine code, disassembled, with "
                       "the bytecode instructions in between.")
    x.add_argument("target", help="MODULE:FUNCTION, e.g. json:dumps or "
                   "json.decoder:JSONDecoder.decode")
    x.set_defaults(func=dis)
    o = sub.add_parser("opcodes", help="how the compiler handles each 3.11 opcode")
    o.set_defaults(func=opcodes)
    # Tools with their own argument parsers: everything after the name is theirs.
    for name, helptext in (("conformance", "CPython's own test modules, plain vs under psyco"),
                           ("fuzz", "differential fuzzer: random programs, plain vs under psyco"),
                           ("bench", "the benchmark suite: ratios against plain CPython"),
                           ("stress", "stress scenarios: threads, signals, limits, churn, fork")):
        sub.add_parser(name, help=helptext, add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("conformance", "fuzz", "bench", "stress"):
        import importlib
        module = {"bench": "benchrun"}.get(argv[0], argv[0])
        return importlib.import_module("psyco." + module).main(argv[1:])
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
