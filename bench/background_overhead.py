"""What does watching cost? The overhead of psyco.background() and psyco.profile() on a
CPU-bound program that psyco never compiles, as a ratio to plain CPython measured in the same
session.

Each run is a fresh interpreter (bench/_overhead_workload.py) doing about one second of work: a
numeric loop, recursive calls, and string/dict work. Variants run interleaved (plain,
background, profile, plain, background, profile, ...) so that drift in the machine's speed hits
all of them alike. Only the work is timed, not interpreter start-up or `import psyco`.

Reported per variant: the median time, the ratio of medians to plain, the median of the
per-round ratios (each run divided by the plain run of the same round, the figure least
disturbed by drift), and the spread (min..max and the interquartile range of the per-round
ratios). A table goes to stdout and JSON to bench/results/overhead.json.

    python bench/background_overhead.py                 # 9 rounds, the target: background <= 1 %
    python bench/background_overhead.py --runs 15
    python bench/background_overhead.py --diagnose      # adds pollfreq and GIL-thread variants

`--diagnose` adds variants that locate the cost: background() at 20 and 1000 polls per second
(the overhead should scale with the poll rate if the cost is per poll), a pure-Python thread
waking 100 and 1000 times a second (the price of the GIL hand-off alone, without any psyco
work), and `imported` (psyco imported and a filter set, no profiler).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "_overhead_workload.py")
RESULTS = os.path.join(HERE, "results")

MAIN_VARIANTS = ["plain", "background", "profile"]
DIAG_VARIANTS = ["imported", "background-20hz", "background-1000hz", "pythread-100hz",
                 "pythread-1000hz"]


def run_once(python, variant, scale):
    out = subprocess.run([python, WORKLOAD, variant, repr(scale)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("run of %r failed (exit code %d)" % (variant, out.returncode))
    return json.loads(out.stdout.strip().splitlines()[-1])


def calibrate(python, target):
    """The scale at which the plain work takes about `target` seconds."""
    scale = 1.0
    for _ in range(3):
        t = run_once(python, "plain", scale)["seconds"]
        new = scale * target / t
        if abs(new - scale) / scale < 0.1:
            return new
        scale = new
    return scale


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0])
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return (q[0], q[2])


def loadavg():
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover
        return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=9, help="rounds (each runs every variant once)")
    p.add_argument("--seconds", type=float, default=1.0, help="work per run, in plain CPython")
    p.add_argument("--scale", type=float, default=None, help="fixed work scale (skips calibration)")
    p.add_argument("--diagnose", action="store_true", help="add the diagnostic variants")
    p.add_argument("--variants", default=None, help="comma-separated list (overrides the default)")
    p.add_argument("--python", default=sys.executable, help="interpreter to measure")
    p.add_argument("--out", default=os.path.join(RESULTS, "overhead.json"))
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")

    variants = list(MAIN_VARIANTS)
    if args.diagnose:
        variants += DIAG_VARIANTS
    if args.variants:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        if "plain" not in variants:
            variants.insert(0, "plain")

    probe = run_once(args.python, "imported", 0.01)["psyco"]
    print("interpreter: %s (%s)" % (args.python, platform.python_version()))
    print("psyco native: %s; load average at start: %s" % (probe["native"], loadavg()))
    scale = args.scale if args.scale else calibrate(args.python, args.seconds)
    print("work scale %.3f (about %.1f s of plain work per run), %d rounds of %s"
          % (scale, args.seconds, args.runs, ", ".join(variants)))

    times = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    parts = {v: [] for v in variants}
    summaries = {v: [] for v in variants}
    checksums = set()
    started = time.time()
    for r in range(args.runs):
        for v in variants:
            res = run_once(args.python, v, scale)
            times[v].append(res["seconds"])
            cpu[v].append(res["cpu_seconds"])
            parts[v].append(res["parts"])
            summaries[v].append(res["psyco"])
            checksums.add(json.dumps(res["checksum"]))
        line = "  ".join("%s %.3f" % (v, times[v][-1]) for v in variants)
        print("round %2d/%d: %s" % (r + 1, args.runs, line), flush=True)
    if len(checksums) != 1:
        raise SystemExit("the variants computed different results: %s" % sorted(checksums))

    base = statistics.median(times["plain"])
    cpu_base = statistics.median(cpu["plain"])
    rows = {}
    for v in variants:
        ts = times[v]
        per_round = [t / b for t, b in zip(ts, times["plain"])]
        q1, q3 = quartiles(per_round)
        med = statistics.median(ts)
        rows[v] = {
            "median_s": med,
            "min_s": min(ts),
            "max_s": max(ts),
            "ratio_of_medians": med / base,
            "overhead_pct": (med / base - 1.0) * 100.0,
            "per_round_ratio_median": statistics.median(per_round),
            "per_round_ratio_q1": q1,
            "per_round_ratio_q3": q3,
            "per_round_ratio_min": min(per_round),
            "per_round_ratio_max": max(per_round),
            "cpu_median_s": statistics.median(cpu[v]),
            "cpu_ratio_of_medians": statistics.median(cpu[v]) / cpu_base,
            "cpu_per_round_ratio_median": statistics.median(
                c / b for c, b in zip(cpu[v], cpu["plain"])),
            "cpu_s": cpu[v],
            "parts_median_s": {k: statistics.median(p[k] for p in parts[v]) for k in parts[v][0]},
            "times_s": ts,
            "psyco_last_run": summaries[v][-1],
        }

    print()
    print("wall time of the work (ratio = median / median of plain; per-round = each run / the "
          "plain run of its round)")
    print("%-18s %8s %8s %8s %8s %9s %9s %15s %9s" % (
        "variant", "median s", "min s", "max s", "ratio", "overhead", "per-round", "per-round IQR",
        "cpu ratio"))
    for v in variants:
        r = rows[v]
        print("%-18s %8.4f %8.4f %8.4f %8.4f %8.2f%% %9.4f %7.4f..%.4f %9.4f" % (
            v, r["median_s"], r["min_s"], r["max_s"], r["ratio_of_medians"], r["overhead_pct"],
            r["per_round_ratio_median"], r["per_round_ratio_q1"], r["per_round_ratio_q3"],
            r["cpu_ratio_of_medians"]))
    print()
    print("per part, median seconds (numeric / recursive / text):")
    for v in variants:
        pm = rows[v]["parts_median_s"]
        print("  %-18s %.4f / %.4f / %.4f" % (v, pm["numeric"], pm["recursive"], pm["text"]))
    for v in variants:
        s = rows[v]["psyco_last_run"]
        if s:
            print("  %-18s psyco: %s, %d ticks, %d samples, %d active events, %d selected, "
                  "%d compiled, %d filtered, hook installed: %s" % (
                      v, s["active"], s["ticks"], s["samples"], s["active_events"],
                      s["selected"], s["compiled"], s["filtered"], s["hook_installed"]))

    verdict = None
    if "background" in rows:
        ov = rows["background"]["overhead_pct"]
        verdict = "background overhead %.2f %% (target <= 1 %%): %s" % (
            ov, "met" if ov <= 1.0 else "NOT met")
        print()
        print(verdict)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    doc = {
        "benchmark": "background_overhead",
        "command": " ".join([os.path.relpath(sys.executable) if False else "python"] + sys.argv),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "psyco_native": probe["native"],
        "scale": scale,
        "runs": args.runs,
        "variants": variants,
        "started": started,
        "duration_s": time.time() - started,
        "loadavg_end": loadavg(),
        "results": rows,
        "verdict": verdict,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
    print("JSON written to %s" % args.out)


if __name__ == "__main__":
    main()
