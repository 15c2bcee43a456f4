"""What does watching cost? The overhead of psyco.background() and psyco.profile() on a
CPU-bound program that psyco never compiles, as a ratio to plain CPython measured in the same
session.

Each run is a fresh interpreter (bench/_overhead_workload.py) doing about one second of work: a
numeric loop, recursive calls, and string/dict work. Variants run interleaved (plain,
background, profile, plain-again, then the next round in rotated order, ...) so that drift in
the machine's speed hits all of them alike. `plain-again` is plain CPython once more, reported
as if it were a variant: its "overhead" shows the noise floor of the session. Only the work is timed, not interpreter start-up or `import psyco`. A filter
that refuses every code object keeps psyco from compiling anything.

Reported per variant: the median time, the ratio of medians to plain with a bootstrap 95 %
confidence interval, the median of the per-round ratios (each run divided by the plain run of
the same round) and their interquartile range, the ratio of CPU time (all threads), and the
main thread's voluntary context switches (each one, for a CPU-bound thread, is a wait for the
GIL that another thread asked for). A table goes to stdout and JSON to
bench/results/overhead.json. The verdict says whether the confidence interval settles the 1 %
target; on a noisy machine it may not.

    python bench/background_overhead.py                 # 9 rounds (7 at least for a verdict)
    python bench/background_overhead.py --runs 21
    python bench/background_overhead.py --diagnose      # adds pollfreq and GIL-thread variants
    python bench/background_overhead.py --gaps          # where the time goes, not how much

`--diagnose` adds variants that locate the cost: background() at 20 and 1000 polls per second
(the overhead should scale with the poll rate if the cost is per poll), a pure-Python thread
waking 100 and 1000 times a second (the price of GIL hand-offs alone, without any psyco work),
and `imported` (psyco imported and a filter set, no profiler).

`--gaps` runs, instead of the work, a loop that spins on the clock and records every pause of
the main thread (bench/_overhead_workload.py, gap_probe). It reports per variant the polls per
second, the main thread's voluntary context switches per second, and the share of time lost in
pauses of each length. Pauses under 1 ms that plain CPython does not have are the price of
psyco's polls (GIL hand-offs and ticks); pauses of milliseconds are mostly the machine. This
does not depend on how fast the CPU happens to run, which on a shared virtual machine can swing
by tens of percent from one second to the next.

For a CPU profile of psyco's share (needs `perf`, software events are enough):

    perf record -e cpu-clock -F 4000 --call-graph dwarf -- \
        python bench/_overhead_workload.py background 3
    perf report --comm python --children --sort symbol --stdio -g none | \
        grep -E 'pending|take_gil|drop_gil|_psyco::'
"""

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "_overhead_workload.py")
RESULTS = os.path.join(HERE, "results")

MAIN_VARIANTS = ["plain", "background", "profile", "plain-again"]
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


def run_gaps(python, variant, seconds):
    out = subprocess.run([python, WORKLOAD, variant, repr(seconds), "gaps"], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("gap probe of %r failed (exit code %d)" % (variant, out.returncode))
    return json.loads(out.stdout.strip().splitlines()[-1])


def gaps_main(args, variants):
    """--gaps: where the main thread's time goes, per variant (see the module doc)."""
    acc = {v: {} for v in variants}
    meta = {v: {"ticks": 0, "vcsw": 0, "seconds": 0.0, "loops": 0} for v in variants}
    for r in range(args.runs):
        for v in variants:
            d = run_gaps(args.python, v, args.seconds * 2)
            for hi, n, tot in d["histogram"]:
                a = acc[v].setdefault(hi, [0, 0.0])
                a[0] += n
                a[1] += tot
            m = meta[v]
            m["ticks"] += (d["psyco"] or {}).get("ticks", 0)
            m["vcsw"] += d["main_voluntary_switches"]
            m["seconds"] += d["seconds"]
            m["loops"] += d["loops"]
        print("round %2d/%d done" % (r + 1, args.runs), flush=True)
    bins = sorted(acc[variants[0]])
    label = lambda hi: ("<%g ms" % (hi * 1e3)) if hi != float("inf") else ">=10 ms"
    print()
    print("share of the run the main thread was paused, by pause length (%)")
    print("%-18s %7s %7s " % ("variant", "polls/s", "vcsw/s") +
          " ".join("%9s" % label(hi) for hi in bins) + " %9s" % "sub-ms")
    rows = {}
    for v in variants:
        m = meta[v]
        t = m["seconds"]
        shares = [100.0 * acc[v][hi][1] / t for hi in bins]
        sub_ms = sum(sh for hi, sh in zip(bins, shares) if hi <= 1e-3)
        rows[v] = {"polls_per_s": m["ticks"] / t, "vcsw_per_s": m["vcsw"] / t,
                   "pause_share_pct": dict(zip([label(hi) for hi in bins], shares)),
                   "sub_ms_pause_pct": sub_ms, "seconds": t}
        print("%-18s %7.1f %7.1f " % (v, m["ticks"] / t, m["vcsw"] / t) +
              " ".join("%9.3f" % sh for sh in shares) + " %9.3f" % sub_ms)
    if "plain" in rows:
        print()
        for v in variants:
            if v != "plain":
                print("%-18s sub-ms pauses beyond plain: %+.3f %% of the run" % (
                    v, rows[v]["sub_ms_pause_pct"] - rows["plain"]["sub_ms_pause_pct"]))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"benchmark": "background_overhead --gaps",
                   "command": " ".join(["python"] + sys.argv),
                   "python": platform.python_version(), "runs": args.runs,
                   "loadavg_end": loadavg(), "results": rows}, f, indent=2)
    print("JSON written to %s" % args.out)


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0])
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return (q[0], q[2])


def bootstrap_ci(xs, base, n=2000, seed=1):
    """95 % confidence interval of median(xs) / median(base), by resampling both."""
    rng = random.Random(seed)
    ratios = []
    for _ in range(n):
        a = [rng.choice(xs) for _ in xs]
        b = [rng.choice(base) for _ in base]
        ratios.append(statistics.median(a) / statistics.median(b))
    ratios.sort()
    return ratios[int(0.025 * n)], ratios[int(0.975 * n) - 1]


def bootstrap_median_ci(xs, n=2000, seed=1):
    """95 % confidence interval of median(xs), by resampling."""
    rng = random.Random(seed)
    meds = sorted(statistics.median([rng.choice(xs) for _ in xs]) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


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
    p.add_argument("--gaps", action="store_true",
                   help="measure the main thread's pauses instead of timing the work")
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

    if args.gaps:
        if not args.variants and not args.diagnose:
            variants = ["plain", "background", "background-1000hz", "pythread-100hz"]
        if args.out == p.get_default("out"):
            args.out = os.path.join(RESULTS, "overhead-gaps.json")
        return gaps_main(args, variants)

    probe = run_once(args.python, "imported", 0.01)["psyco"]
    print("interpreter: %s (%s)" % (args.python, platform.python_version()))
    print("psyco native: %s; load average at start: %s" % (probe["native"], loadavg()))
    scale = args.scale if args.scale else calibrate(args.python, args.seconds)
    print("work scale %.3f (about %.1f s of plain work per run), %d rounds of %s"
          % (scale, args.seconds, args.runs, ", ".join(variants)))

    times = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    switches = {v: [] for v in variants}
    parts = {v: [] for v in variants}
    summaries = {v: [] for v in variants}
    checksums = set()
    started = time.time()
    for r in range(args.runs):
        # Rotate the order from round to round, so that no variant always runs right after
        # another one (or first): position effects then hit all variants alike.
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            res = run_once(args.python, v, scale)
            times[v].append(res["seconds"])
            cpu[v].append(res["cpu_seconds"])
            switches[v].append(res["main_voluntary_switches"])
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
        lo, hi = bootstrap_ci(ts, times["plain"])
        plo, phi = bootstrap_median_ci(per_round)
        rows[v] = {
            "median_s": med,
            "min_s": min(ts),
            "max_s": max(ts),
            "ratio_of_medians": med / base,
            "overhead_pct": (med / base - 1.0) * 100.0,
            "ratio_ci95": (lo, hi),
            "main_voluntary_switches_median": statistics.median(switches[v]),
            "per_round_ratio_median": statistics.median(per_round),
            "per_round_ratio_median_ci95": (plo, phi),
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
    print("%-18s %8s %8s %8s %7s %8s %15s %9s %15s %15s %9s %6s" % (
        "variant", "median s", "min s", "max s", "ratio", "overhead", "ratio 95% CI",
        "per-round", "per-round 95%CI", "per-round IQR", "cpu ratio", "vcsw"))
    for v in variants:
        r = rows[v]
        print("%-18s %8.4f %8.4f %8.4f %7.4f %7.2f%% %7.4f..%.4f %9.4f %7.4f..%.4f %7.4f..%.4f "
              "%9.4f %6d" % (
                  v, r["median_s"], r["min_s"], r["max_s"], r["ratio_of_medians"],
                  r["overhead_pct"], r["ratio_ci95"][0], r["ratio_ci95"][1],
                  r["per_round_ratio_median"], r["per_round_ratio_median_ci95"][0],
                  r["per_round_ratio_median_ci95"][1], r["per_round_ratio_q1"],
                  r["per_round_ratio_q3"], r["cpu_ratio_of_medians"],
                  r["main_voluntary_switches_median"]))
    print("(vcsw: median voluntary context switches of the main thread during the work; for a "
          "CPU-bound thread each one is a wait for the GIL another thread asked for)")
    print()
    print("per part, median seconds (numeric / recursive / text):")
    for v in variants:
        pm = rows[v]["parts_median_s"]
        print("  %-18s %.4f / %.4f / %.4f" % (v, pm["numeric"], pm["recursive"], pm["text"]))
    for v in variants:
        s = rows[v]["psyco_last_run"]
        if s:
            print("  %-18s psyco: %s, %d ticks (%.1f us each, %.3f s in all), %d samples, "
                  "%d active events, %d selected, %d compiled, %d filtered, hook installed: %s" % (
                      v, s["active"], s["ticks"],
                      1e6 * s["tick_seconds"] / max(1, s["ticks"]), s["tick_seconds"],
                      s["samples"], s["active_events"],
                      s["selected"], s["compiled"], s["filtered"], s["hook_installed"]))

    verdict = None
    if "background" in rows:
        # Judged on the per-round ratios (each background run against the plain run of the
        # same round), the comparison least disturbed by the machine's drift.
        r = rows["background"]
        lo, hi = r["per_round_ratio_median_ci95"]
        if args.runs < 7:
            state = "too few rounds for a verdict (use --runs 7 or more)"
        elif hi <= 1.01:
            state = "met"
        elif lo > 1.01:
            state = "NOT met"
        else:
            state = "not settled by this run (the 95 % CI straddles 1 %; more --runs or a " \
                    "quieter machine)"
        verdict = ("background overhead %+.2f %% (per-round median; 95 %% CI %+.2f..%+.2f %%; "
                   "ratio of medians %+.2f %%; target <= 1 %%): %s" % (
                       (r["per_round_ratio_median"] - 1) * 100, (lo - 1) * 100, (hi - 1) * 100,
                       r["overhead_pct"], state))
        if "plain-again" in rows:
            c = rows["plain-again"]
            verdict += "\nnoise floor (plain-again vs plain): %+.2f %% (95 %% CI %+.2f..%+.2f %%)" % (
                (c["per_round_ratio_median"] - 1) * 100,
                (c["per_round_ratio_median_ci95"][0] - 1) * 100,
                (c["per_round_ratio_median_ci95"][1] - 1) * 100)
        print()
        print(verdict)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    doc = {
        "benchmark": "background_overhead",
        "command": " ".join(["python"] + sys.argv),
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
