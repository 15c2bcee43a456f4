"""The benchmark runner behind `python -m psyco bench` and bench/run.py.

Each program in bench/programs/ is a module with ``run(scale) -> checksum``. Every measurement
is a fresh interpreter that (for the psyco modes) imports psyco and starts the mode first, then
imports the program and times the whole ``run(scale)`` call (compilation included: that is what
a user feels). Variants are interleaved (round 1: every program in every mode, round 2: the same
with the mode order rotated, ...) so that drift in the machine's speed hits all of them alike;
round 0 is a warm-up whose times are discarded. Every variant's checksum must equal plain's.

Reported per program and mode: the median wall time, its spread (± half the min..max range, in
% of the median), and the speedup vs plain measured in the same session: for each round,
plain's time divided by the mode's time, then the median and min..max of those per-round ratios.
Per mode: the geometric mean of the programs' ratios. Also the psyco.stats() counters at the
end of the run (selected / compiled / failed functions, code bytes, samples, profiler events).

Output: a table on stdout, JSON (default bench/results/latest.json) and a bar chart of the
ratios (default bench/results/ratios.png, needs matplotlib).
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

MODES = ("plain", "full", "profile", "background")
SCHEMA = 1
MARK = "@@PSYCO-BENCH@@"

# psyco.stats() keys copied into the results (numbers and flags only).
STAT_KEYS = ("selected", "compiled", "failed", "pending", "filtered", "code_bytes", "samples",
             "ticks", "active_events", "charge_resets", "profilers_retired", "hook_installed",
             "native", "records", "compile_seconds", "compile_cpu_seconds",
             "max_compile_pause_seconds")

# The child: start the mode, import the program, time run(scale), report one JSON line.
CHILD = r'''
import sys, time, json, hashlib, importlib.util
mode, path, name, scale = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
keys = sys.argv[5].split(",")
psyco = None
if mode != "plain":
    import psyco
    getattr(psyco, mode)()
spec = importlib.util.spec_from_file_location("psyco_bench_" + name, path)
module = importlib.util.module_from_spec(spec)
t0 = time.perf_counter()
spec.loader.exec_module(module)
import_seconds = time.perf_counter() - t0
c0 = time.process_time()
t0 = time.perf_counter()
result = module.run(scale)
t1 = time.perf_counter()
c1 = time.process_time()
text = repr(result)
out = {"seconds": t1 - t0, "cpu_seconds": c1 - c0, "import_seconds": import_seconds,
       "checksum_sha1": hashlib.sha1(text.encode()).hexdigest(), "checksum": text[:300]}
if psyco is not None:
    st = psyco.stats(0)
    stats = {k: st.get(k) for k in keys}
    active = st.get("active")
    stats["active"] = active.get("kind", active.get("name")) if isinstance(active, dict) else active
    failures = st.get("failures") or []
    stats["failure_count"] = len(failures)
    stats["failures"] = [[str(x) for x in f] for f in failures[:5]]
    funcs = st.get("functions") or []
    states, prog_states, reasons = {}, {}, {}
    for f in funcs:
        k = str(f.get("state"))
        states[k] = states.get(k, 0) + 1
        if f.get("file") == path:
            prog_states[k] = prog_states.get(k, 0) + 1
        if f.get("reason"):
            reasons[str(f["reason"])] = reasons.get(str(f["reason"]), 0) + 1
    stats["function_states"] = states
    stats["program_function_states"] = prog_states
    stats["reasons"] = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
    out["stats"] = stats
    out["psyco_version"] = getattr(psyco, "__version__", "?")
    try:
        out["native_status"] = list(psyco._psyco.native_status())
    except Exception as e:
        out["native_status"] = [None, repr(e)]
sys.stdout.flush()
sys.stdout.write("\n@@PSYCO-BENCH@@" + json.dumps(out) + "\n")
sys.stdout.flush()
'''


# ------------------------------------------------------------------------------------------
# Finding programs
# ------------------------------------------------------------------------------------------

def find_programs_dir(explicit=None):
    """bench/programs: --dir, else $PSYCO_BENCH_DIR, else ./bench/programs (or in a parent of
    the current directory), else next to this source tree."""
    if explicit:
        return os.path.abspath(explicit)
    env = os.environ.get("PSYCO_BENCH_DIR")
    if env:
        return os.path.abspath(env)
    d = os.getcwd()
    while True:
        cand = os.path.join(d, "bench", "programs")
        if os.path.isdir(cand):
            return cand
        if os.path.basename(d) == "bench" and os.path.isdir(os.path.join(d, "programs")):
            return os.path.join(d, "programs")
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    here = os.path.dirname(os.path.abspath(__file__))
    cand = os.path.normpath(os.path.join(here, "..", "..", "bench", "programs"))
    if os.path.isdir(cand):
        return cand
    raise SystemExit("cannot find bench/programs: run from the repository or pass --dir")


def list_programs(pdir):
    names = []
    for fn in sorted(os.listdir(pdir)):
        if fn.endswith(".py") and not fn.startswith("_"):
            names.append(fn[:-3])
    return names


def describe(pdir, name):
    """The program's one-line docstring (without importing it)."""
    import ast
    with open(os.path.join(pdir, name + ".py")) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------

def child_env():
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def run_child(python, pdir, name, mode, scale, timeout):
    """One fresh interpreter; returns the child's dict, or {"error": ...}."""
    cmd = [python, "-c", CHILD, mode, os.path.join(pdir, name + ".py"), name, repr(scale),
           ",".join(STAT_KEYS)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=child_env(), check=False)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %.0f s" % timeout}
    wall = time.perf_counter() - t0
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(MARK):
            out = json.loads(line[len(MARK):])
            out["process_seconds"] = wall
            if p.returncode != 0:
                out["error"] = "exit code %d after reporting; stderr: %s" % (
                    p.returncode, p.stderr.strip()[-800:])
            return out
    return {"error": "exit code %d, no result; stderr: %s" % (p.returncode,
                                                              p.stderr.strip()[-1500:])}


def median(xs):
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def summarize_stats(stats_list):
    if not stats_list:
        return None
    out = {}
    for k in STAT_KEYS + ("failure_count",):
        vals = [s.get(k) for s in stats_list if isinstance(s.get(k), (int, float))
                and not isinstance(s.get(k), bool)]
        if vals:
            out[k] = statistics.median(vals)
        flags = [s.get(k) for s in stats_list if isinstance(s.get(k), bool)]
        if flags:
            out[k] = sum(flags) / len(flags)  # fraction of runs where the flag was true
    reasons = {}
    for s in stats_list:
        for f in s.get("failures") or []:
            reasons[" ".join(f)] = reasons.get(" ".join(f), 0) + 1
    out["failure_examples"] = sorted(reasons)[:5]
    last = stats_list[-1]
    for k in ("active", "function_states", "program_function_states", "reasons"):
        if k in last:
            out[k] = last[k]
    return out


def git_info(pdir):
    root = os.path.dirname(os.path.dirname(pdir))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return {"commit": head or None, "dirty": bool(dirty)}
    except Exception:
        return {"commit": None, "dirty": None}


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def measure(args, pdir, programs, modes, log):
    """Runs every (program, mode) warmup + runs times, interleaved. Returns raw records."""
    raw = {p: {m: [] for m in modes} for p in programs}  # list of (round, child dict)
    rounds = args.warmup + args.runs
    total = rounds * len(programs) * len(modes)
    done = 0
    t_start = time.time()
    for r in range(rounds):
        k = r % len(modes)
        order = list(modes[k:]) + list(modes[:k])
        tag = "warm-up" if r < args.warmup else "round %d/%d" % (r - args.warmup + 1, args.runs)
        for p in programs:
            parts = []
            for m in order:
                out = run_child(args.python, pdir, p, m, args.scale, args.timeout)
                raw[p][m].append((r, out))
                done += 1
                parts.append("%s %s" % (m, "ERR" if "error" in out else "%.3f" % out["seconds"]))
                if "error" in out:
                    log("  !! %s under %s failed: %s" % (p, m, out["error"][:300]))
            eta = (time.time() - t_start) / done * (total - done)
            log("%-12s %-16s %s   (eta %.0f s)" % (tag, p, "  ".join(parts), eta))
    return raw


def analyse(raw, programs, modes, warmup, metric="wall"):
    """Per program and mode: times, ratios to plain, checksum agreement, stats; per mode: the
    geomean. `metric` picks the time the ratios use: "wall" (seconds) or "cpu" (cpu_seconds);
    both are always stored."""
    results = {}
    failures = []   # correctness
    errors = []     # crashes / timeouts
    per_round_ratios = {m: {} for m in modes}  # mode -> round -> [ratio per program]
    for p in programs:
        # plain's checksum: from any successful plain run (they must all agree too)
        ref = None
        for r, out in raw[p]["plain"]:
            if "error" not in out:
                ref = out["checksum_sha1"]
                break
        plain = {k: {r: out[k] for r, out in raw[p]["plain"] if r >= warmup and "error" not in out}
                 for k in ("seconds", "cpu_seconds")}
        pres = {}
        for m in modes:
            recs = raw[p][m]
            ok_runs = [(r, o) for r, o in recs if "error" not in o]
            for r, o in recs:
                if "error" in o:
                    errors.append({"program": p, "mode": m, "round": r, "error": o["error"]})
            sums = sorted({o["checksum_sha1"] for _, o in ok_runs})
            mismatch = [o for _, o in ok_runs if ref is not None and o["checksum_sha1"] != ref]
            checksum_ok = bool(ok_runs) and ref is not None and not mismatch
            if ref is None and ok_runs:
                errors.append({"program": p, "mode": m, "round": -1,
                               "error": "no successful plain run to check the result against"})
            if mismatch:
                plain_text = next(o["checksum"] for _, o in raw[p]["plain"] if "error" not in o)
                failures.append({"program": p, "mode": m, "runs": len(mismatch),
                                 "expected": plain_text, "got": mismatch[0]["checksum"]})
            measured = [(r, o) for r, o in ok_runs if r >= warmup]
            per_metric = {}
            for name, k in (("wall", "seconds"), ("cpu", "cpu_seconds")):
                times = [o[k] for _, o in measured]
                ratios = [plain[k][r] / o[k] for r, o in measured if r in plain[k] and o[k] > 0]
                med = median(times)
                per_metric[name] = {
                    "times": times,
                    "median": med,
                    "min": min(times) if times else None,
                    "max": max(times) if times else None,
                    "spread_pct": (100.0 * (max(times) - min(times)) / 2 / med
                                   if times and med else None),
                    "ratios": ratios,
                    "ratio": median(ratios),
                    "ratio_min": min(ratios) if ratios else None,
                    "ratio_max": max(ratios) if ratios else None,
                }
                for r, o in measured:
                    if r in plain[k] and o[k] > 0:
                        per_round_ratios[m].setdefault((name, r), {})[p] = plain[k][r] / o[k]
            entry = dict(per_metric[metric])  # the chosen metric's figures, at top level
            entry.update({
                "metric": metric,
                "reference": ref is not None,
                "wall": per_metric["wall"],
                "cpu": per_metric["cpu"],
                "warmup_times": [o["seconds"] for r, o in ok_runs if r < warmup],
                "import_seconds": median([o["import_seconds"] for _, o in measured]),
                "process_seconds": median([o.get("process_seconds", 0.0) for _, o in measured]),
                "checksum_ok": checksum_ok,
                "checksum_sha1": sums[0] if len(sums) == 1 else sums,
                "checksum": ok_runs[0][1]["checksum"] if ok_runs else None,
                "runs_ok": len(ok_runs),
                "errors": len(recs) - len(ok_runs),
                "stats": [dict(o["stats"], round=r) for r, o in ok_runs if o.get("stats")],
                "stats_summary": summarize_stats([o["stats"] for _, o in measured
                                                  if o.get("stats")]),
            })
            pres[m] = entry
        results[p] = pres
    geo = {}
    for m in modes:
        g = {}
        # A wrong result's speed does not count: such programs are left out of the geomean.
        good = [p for p in programs if results[p][m]["checksum_ok"]]
        for name in ("wall", "cpu"):
            vals = [results[p][m][name]["ratio"] for p in good if results[p][m][name]["ratio"]]
            rounds = []
            for (n2, r), per in sorted(per_round_ratios[m].items()):
                per = [v for q, v in per.items() if q in good]
                if n2 == name and good and len(per) == len(good):  # only complete rounds
                    rounds.append(geomean(per))
            g[name] = {
                "ratio": geomean(vals),
                "programs": len(vals),
                "excluded_wrong_results": len(programs) - len(good),
                "per_round": rounds,
                "round_min": min(rounds) if rounds else None,
                "round_max": max(rounds) if rounds else None,
            }
        entry = dict(g[metric])
        entry.update(g)
        entry["metric"] = metric
        geo[m] = entry
    return results, geo, failures, errors


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------

def fmt_time(t):
    if t is None:
        return "-"
    if t >= 1.0:
        return "%.3f s" % t
    return "%.1f ms" % (t * 1000.0)


def fmt_bytes(n):
    if n is None:
        return "-"
    n = int(n)
    if n >= 1 << 20:
        return "%.1fM" % (n / (1 << 20))
    if n >= 1 << 10:
        return "%.1fk" % (n / (1 << 10))
    return "%d" % n


def fmt_int(v):
    return "-" if v is None else "%d" % v


def table(results, geo, programs, modes):
    lines = []
    metric = next((results[p][m].get("metric") for p in programs for m in modes), "wall")
    other = "cpu" if metric == "wall" else "wall"
    head = ("%-14s %-10s %10s %7s  %7s %13s %7s  %4s %4s %4s %6s %7s %6s %7s" %
            ("program", "mode", "median", "±", "vs plain", "min..max", other + "-x", "sel",
             "comp", "fail", "code", "comp-ms", "samp", "events"))
    lines.append(head)
    lines.append("-" * len(head))
    for p in programs:
        first = True
        for m in modes:
            e = results[p][m]
            st = e["stats_summary"] or {}
            if e["checksum_ok"]:
                mark = ""
            elif not e.get("reference", True):
                mark = "  !! NO PLAIN RESULT TO COMPARE"
            elif e["times"] or e.get("runs_ok"):
                mark = "  !! CHECKSUM MISMATCH"
            else:
                mark = "  !! FAILED"
            if e["errors"] and e["checksum_ok"]:
                mark = "  !! %d run(s) failed" % e["errors"]
            if m == "plain":
                ratio = "%6.2fx" % 1.0 if e["median"] else "-"
                rng = ""
            else:
                ratio = ("%6.2fx" % e["ratio"]) if e["ratio"] else "     -"
                rng = ("%5.2f..%-5.2f" % (e["ratio_min"], e["ratio_max"])) if e["ratio"] else ""
            spread = ("±%4.1f%%" % e["spread_pct"]) if e["spread_pct"] is not None else "-"
            if m == "plain":
                sel = comp = fail = code = cms = samp = ev = ""
            else:
                sel = fmt_int(st.get("selected"))
                comp = fmt_int(st.get("compiled"))
                fail = fmt_int(st.get("failed"))
                code = fmt_bytes(st.get("code_bytes"))
                cpu_s = st.get("compile_cpu_seconds")
                cms = "" if cpu_s is None else "%.1f" % (cpu_s * 1e3)
                samp = fmt_int(st.get("samples"))
                ev = fmt_int(st.get("active_events"))
            oth = e.get(other, {}).get("ratio")
            oth = "" if m == "plain" or oth is None else "%6.2fx" % oth
            lines.append("%-14s %-10s %10s %7s  %7s %13s %7s  %4s %4s %4s %6s %7s %6s %7s%s" % (
                p if first else "", m, fmt_time(e["median"]), spread, ratio, rng, oth,
                sel, comp, fail, code, cms, samp, ev, mark))
            first = False
    lines.append("-" * len(head))
    for m in modes:
        if m == "plain":
            continue
        g = geo[m]
        if g["ratio"] is None:
            lines.append("geomean %-10s -" % m)
            continue
        rr = ""
        if g["round_min"] is not None:
            rr = "   (per-round geomean %.2f..%.2f over %d rounds)" % (
                g["round_min"], g["round_max"], len(g["per_round"]))
        other = "cpu" if g.get("metric", "wall") == "wall" else "wall"
        excl = ""
        if g.get("excluded_wrong_results"):
            excl = " (%d left out: wrong or missing results)" % g["excluded_wrong_results"]
        lines.append("geomean %-10s %6.2fx over %d programs%s%s   (%s-time geomean %.2fx)" % (
            m, g["ratio"], g["programs"], excl, rr, other, g[other]["ratio"] or 0.0))
    return "\n".join(lines)


def chart(path, results, geo, programs, modes, meta, log):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        log("matplotlib is not installed: no chart (pip install matplotlib, or psyco[bench])")
        return False
    shown = [m for m in modes if m != "plain"]
    if not shown:
        log("only plain was measured: no ratio chart")
        return False
    labels = list(programs) + ["GEOMEAN"]
    n = len(shown)
    width = 0.8 / n
    colors = {"full": "#1f77b4", "profile": "#ff7f0e", "background": "#2ca02c",
              "runonly": "#9467bd"}
    fig, ax = plt.subplots(figsize=(max(10, 0.75 * len(labels) + 3), 7.0))
    top = 1.0
    bottom = 1.0
    for i, m in enumerate(shown):
        xs, ys, lo, hi = [], [], [], []
        for j, p in enumerate(labels):
            if p == "GEOMEAN":
                g = geo[m]
                y = g["ratio"]
                ylo = g["round_min"] if g["round_min"] is not None else y
                yhi = g["round_max"] if g["round_max"] is not None else y
            else:
                e = results[p][m]
                y, ylo, yhi = e["ratio"], e["ratio_min"], e["ratio_max"]
            if y is None:
                continue
            x = j + (i - (n - 1) / 2) * width
            xs.append(x)
            ys.append(y)
            lo.append(max(0.0, y - ylo))
            hi.append(max(0.0, yhi - y))
            top = max(top, yhi)
            bottom = min(bottom, ylo)
            if p != "GEOMEAN" and not results[p][m]["checksum_ok"]:
                ax.annotate("WRONG\nRESULT", (x, y), ha="center", va="bottom", color="red",
                            fontsize=7, fontweight="bold", xytext=(0, 4),
                            textcoords="offset points")
        g = geo[m]["ratio"]
        label = "%s (geomean %.2fx)" % (m, g) if g else m
        ax.bar(xs, [y - 1.0 for y in ys], bottom=1.0, width=width * 0.95, label=label,
               color=colors.get(m), yerr=[lo, hi], capsize=2,
               error_kw={"elinewidth": 0.8, "ecolor": "#333"})
    ax.axhline(1.0, color="black", linewidth=1.0, linestyle="--")
    ax.axvline(len(programs) - 0.5, color="#999", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=35, ha="right")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    # Log scale, bars growing from 1.0: 2x faster and 2x slower look the same size.
    ax.set_yscale("log")
    lo_lim = min(bottom, 1.0) / 1.12
    hi_lim = max(top, 1.0) * 1.15
    ax.set_ylim(lo_lim, hi_lim)
    nice = [0.1, 0.2, 0.25, 0.33, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2,
            3, 4, 5, 7, 10, 15, 20, 30, 50, 100]
    # Keep ticks at least 1/12 of the axis apart (in log terms), walking out from 1x.
    gap = math.log(hi_lim / lo_lim) / 12
    ticks = [1.0]
    for t in sorted((t for t in nice if 1.0 < t <= hi_lim)):
        if math.log(t / ticks[-1]) >= gap:
            ticks.append(t)
    below = [1.0]
    for t in sorted((t for t in nice if lo_lim <= t < 1.0), reverse=True):
        if math.log(below[-1] / t) >= gap:
            below.append(t)
    ticks = sorted(set(ticks + below))
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%gx" % v))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_ylabel("speedup vs plain CPython (plain %s time / mode time)\n"
                  "bars up = faster, down = slower; log scale" % meta["metric"])
    ax.set_title("psyco %s (%s), %s UTC, scale %g, %d runs: median of per-round ratios, "
                 "whiskers min..max" % (meta.get("psyco_version") or "?",
                                        (meta.get("git") or {}).get("commit") or "?",
                                        meta["date"][:16].replace("T", " "),
                                        meta["scale"], meta["runs"]), fontsize=10, pad=30)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(shown), fontsize=9,
              frameon=False)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

def split_list(values):
    out = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m psyco bench",
        description="Run bench/programs plain and under psyco's modes, in fresh processes, "
                    "interleaved; print speed ratios vs plain and check every result.")
    p.add_argument("--programs", action="append", metavar="NAMES",
                   help="comma-separated subset of programs (default: all)")
    p.add_argument("--modes", action="append", metavar="MODES",
                   help="comma-separated modes among %s (plain is always run: it is the "
                        "reference)" % ", ".join(MODES))
    p.add_argument("--runs", type=int, default=None, help="measured runs per variant (default 5)")
    p.add_argument("--warmup", type=int, default=1,
                   help="warm-up rounds, run and checked but not timed (default 1)")
    p.add_argument("--scale", type=float, default=None,
                   help="work size; 1.0 is about a second per program plainly (default 1.0)")
    p.add_argument("--quick", action="store_true", help="scale 0.2 and 3 runs (unless given)")
    p.add_argument("--json", default=None, help="JSON output (default bench/results/latest.json)")
    p.add_argument("--png", default=None, help="chart output (default bench/results/ratios.png)")
    p.add_argument("--no-png", action="store_true", help="do not draw the chart")
    p.add_argument("--dir", default=None, help="the programs directory (default: bench/programs)")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter for the child processes (default: this one)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per child run")
    p.add_argument("--metric", choices=("wall", "cpu"), default="wall",
                   help="time the table and chart use: wall clock (default, what users feel) "
                        "or CPU time of all the process's threads (steadier on a busy machine; "
                        "still includes compilation on psyco's worker thread)")
    p.add_argument("--list", action="store_true", help="list the programs and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 5
    if args.scale is None:
        args.scale = 0.2 if args.quick else 1.0
    if args.runs < 1:
        p.error("--runs must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    if args.scale <= 0:
        p.error("--scale must be > 0")
    return p, args


def main(argv=None):
    parser, args = parse_args(sys.argv[1:] if argv is None else list(argv))
    pdir = find_programs_dir(args.dir)
    available = list_programs(pdir)
    if args.list:
        for name in available:
            print("%-14s %s" % (name, describe(pdir, name)))
        return 0
    programs = split_list(args.programs) or available
    unknown = [x for x in programs if x not in available]
    if unknown:
        parser.error("unknown program(s) %s; available: %s" % (", ".join(unknown),
                                                                ", ".join(available)))
    modes = split_list(args.modes) or list(MODES)
    bad = [m for m in modes if m not in MODES]
    if bad:
        parser.error("unknown mode(s) %s; choose among %s" % (", ".join(bad), ", ".join(MODES)))
    if "plain" not in modes:
        modes = ["plain"] + modes
    modes = [m for m in MODES if m in modes]  # canonical order, no duplicates

    results_dir = os.path.join(os.path.dirname(pdir), "results")
    json_path = args.json or os.path.join(results_dir, "latest.json")
    png_path = args.png or os.path.join(results_dir, "ratios.png")

    def log(msg):
        if not args.quiet:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    meta = {
        "schema": SCHEMA,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "python_executable": args.python,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": loadavg(),
        "scale": args.scale,
        "runs": args.runs,
        "warmup": args.warmup,
        "modes": modes,
        "programs": programs,
        "programs_dir": pdir,
        "git": git_info(pdir),
        "metric": args.metric,
        "ratio": "plain seconds / mode seconds, per round; median over rounds (>1 = faster)",
    }
    log("psyco bench: %d programs x %d modes x (%d warm-up + %d runs), scale %g, %d cores, "
        "load %s" % (len(programs), len(modes), args.warmup, args.runs, args.scale,
                     os.cpu_count() or 0,
                     " ".join("%.1f" % x for x in meta["loadavg_start"] or [])))
    t0 = time.time()
    raw = measure(args, pdir, programs, modes, log)
    meta["elapsed_seconds"] = time.time() - t0
    meta["loadavg_end"] = loadavg()
    for p in programs:
        for m in modes:
            for _, out in raw[p][m]:
                if "psyco_version" in out:
                    meta.setdefault("psyco_version", out["psyco_version"])
                    meta.setdefault("native_status", out.get("native_status"))
    results, geo, failures, errors = analyse(raw, programs, modes, args.warmup, args.metric)
    for p in programs:
        results[p]["_doc"] = describe(pdir, p)

    text = table({p: {m: results[p][m] for m in modes} for p in programs}, geo, programs, modes)
    print()
    print("psyco %s, CPython %s, scale %g, %d runs + %d warm-up per variant, load %s -> %s" % (
        meta.get("psyco_version", "?"), meta["python"], args.scale, args.runs, args.warmup,
        " ".join("%.1f" % x for x in meta["loadavg_start"] or []),
        " ".join("%.1f" % x for x in meta["loadavg_end"] or [])))
    if meta.get("native_status"):
        print("native: %s" % (meta["native_status"][1],))
    print("time: median %s time of run(); ±: half the min..max range in %% of the median; "
          "vs plain: median of per-round plain/mode ratios (>1 faster), min..max of them; "
          "cpu-x/wall-x: the same ratio in the other time; "
          "sel/comp/fail/code/comp-ms/samp/events: psyco.stats() at the end of run() (median; "
          "comp-ms: CPU milliseconds the compiler used, already inside the times)"
          % ("wall" if args.metric == "wall" else "CPU (all threads)"))
    print()
    print(text)
    if errors:
        print()
        print("%d run(s) FAILED (crash or timeout):" % len(errors))
        for e in errors[:20]:
            print("  %s under %s (round %d): %s" % (e["program"], e["mode"], e["round"],
                                                   e["error"][:400]))
    if failures:
        print()
        print("!" * 78)
        print("!!! CORRECTNESS FAILURE: %d program/mode pair(s) returned a different checksum "
              "than plain CPython" % len(failures))
        for f in failures:
            print("!!!   %s under %s (%d run(s)): expected %s, got %s" % (
                f["program"], f["mode"], f["runs"], f["expected"][:120], f["got"][:120]))
        print("!" * 78)

    doc = {"meta": meta, "modes": modes, "programs": programs, "results": results,
           "geomean": geo, "correctness_failures": failures, "errors": errors,
           "ok": not failures and not errors}
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
    print()
    print("JSON: %s" % json_path)
    if not args.no_png:
        if chart(png_path, results, geo, programs, modes, meta, log):
            print("chart: %s" % png_path)
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
