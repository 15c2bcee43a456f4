"""One run of the overhead benchmark's CPU-bound program, in a fresh interpreter.

Usage: python _overhead_workload.py VARIANT SCALE [gaps]

VARIANT is one of the names in VARIANTS below. The script sets the variant up (imports psyco and
starts a profiler, or not), then times only the work, and prints one JSON object on stdout:
variant, pid, seconds, cpu_seconds (all threads of the process), the main thread's voluntary
and involuntary context switches during the work, parts (numeric, recursive, text), checksum,
and a summary of psyco.stats().

With `gaps`, the program instead spins on the clock for SCALE seconds and reports the pauses it
saw (see gap_probe): the direct way to see what the profilers' polls cost the user's thread.

The work is plain Python that psyco never compiles in these runs: the profilers may select it,
but a filter that says no to every code object (and, today, the missing code generator) keeps
it in the interpreter, so what is measured is the price of watching, not the gain of compiling.
"""

import json
import sys
import threading
import time


# ------------------------------------------------------------------------------------------
# The work: a numeric loop, recursive calls, string and dict work
# ------------------------------------------------------------------------------------------

def numeric(n):
    s = 0.0
    acc = 1
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
        s += (acc & 255) * 0.5 - i % 7
    return s


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def recursive(reps, depth):
    total = 0
    for _ in range(reps):
        total += fib(depth)
    return total


def text(n):
    counts = {}
    words = []
    for i in range(n):
        key = "w%d" % (i % 997)
        counts[key] = counts.get(key, 0) + len(key)
        if i % 50 == 0:
            words.append(key.upper()[::-1])
    joined = ",".join(sorted(set(words)))
    return sum(counts.values()) + len(joined) + joined.count("W")


def work(scale):
    parts = {}
    t0 = time.perf_counter()
    a = numeric(int(1_500_000 * scale))
    t1 = time.perf_counter()
    b = recursive(int(150 * scale) or 1, 20)
    t2 = time.perf_counter()
    c = text(int(800_000 * scale))
    t3 = time.perf_counter()
    parts["numeric"] = t1 - t0
    parts["recursive"] = t2 - t1
    parts["text"] = t3 - t2
    return t3 - t0, parts, (round(a, 3), b, c)


# ------------------------------------------------------------------------------------------
# Variants
# ------------------------------------------------------------------------------------------

def _psyco_setup(start):
    import psyco

    # Veto every compilation: the profilers still sample, charge and select, but nothing is
    # ever handed to the code generator, whatever state the compiler is in.
    psyco.setfilter(lambda co: False)
    start(psyco)
    return psyco


def _ticker(hz):
    """A pure-Python thread that wakes `hz` times a second and does nothing: the cost of a
    second thread taking the GIL that often, without any of psyco's work."""
    def run():
        period = 1.0 / hz
        while True:
            time.sleep(period)
    threading.Thread(target=run, daemon=True).start()


VARIANTS = {
    "plain": lambda: None,
    # The same as plain, measured as if it were a variant: its "overhead" is the noise floor and
    # any bias of the measurement itself (an A/A control).
    "plain-again": lambda: None,
    "imported": lambda: _psyco_setup(lambda p: None),
    "background": lambda: _psyco_setup(lambda p: p.background()),
    "profile": lambda: _psyco_setup(lambda p: p.profile()),
    # Diagnostics (bench/background_overhead.py --diagnose):
    "background-1000hz": lambda: _psyco_setup(lambda p: p.background(pollfreq=1000)),
    "background-20hz": lambda: _psyco_setup(lambda p: p.background(pollfreq=20)),
    "pythread-100hz": lambda: _ticker(100),
    "pythread-1000hz": lambda: _ticker(1000),
}


def _ctx_switches():
    """(voluntary, involuntary) context switches of the calling thread so far (Linux). A
    voluntary one means the thread blocked: for a CPU-bound main thread, that is waiting for the
    GIL after another thread asked for it."""
    try:
        with open("/proc/thread-self/status") as f:
            d = dict(line.split(":", 1) for line in f if "ctxt_switches" in line)
        return (int(d["voluntary_ctxt_switches"]), int(d["nonvoluntary_ctxt_switches"]))
    except (OSError, KeyError, ValueError):
        return (0, 0)


def _psyco_summary():
    mod = sys.modules.get("psyco")
    if mod is None:
        return None
    s = mod.stats(top=3)
    keep = ("native", "samples", "ticks", "active_events", "selected", "compiled", "failed",
            "pending", "filtered", "hook_installed", "code_bytes", "sampler_running",
            "tick_seconds")
    out = {k: s[k] for k in keep}
    out["active"] = s["active"]["kind"] if s["active"] else None
    out["top"] = [(r["function"], round(r["fraction"], 3)) for r in s["top"]]
    return out


GAP_BINS = (50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 3e-3, 10e-3, float("inf"))


def _bins(gaps):
    out = []
    lo = 0.0
    for hi in GAP_BINS:
        out.append((hi, [g for g in gaps if lo <= g < hi]))
        lo = hi
    return out


def gap_probe(seconds, threshold=20e-6):
    """Spin on the clock for `seconds` and record every gap longer than `threshold` between two
    consecutive readings: the moments this thread was not running Python (GIL taken by another
    thread, or the machine busy elsewhere). Unlike the timing of a workload, the sum of the gaps
    does not depend on how fast the CPU happens to be during the run."""
    clock = time.perf_counter
    gaps = []
    start = last = clock()
    end = start + seconds
    loops = 0
    while last < end:
        now = clock()
        if now - last > threshold:
            gaps.append(now - last)
        last = now
        loops += 1
    total = last - start
    small = [g for g in gaps if g < 1e-3]
    gaps.sort()
    q = lambda f: gaps[min(len(gaps) - 1, int(f * len(gaps)))] if gaps else 0.0
    return {
        "seconds": total,
        "loops": loops,
        "gaps": len(gaps),
        "gap_seconds": sum(gaps),
        "gap_p50": q(0.5),
        "gap_p90": q(0.9),
        "gap_max": gaps[-1] if gaps else 0.0,
        # Pauses under 1 ms: GIL hand-offs to another thread of this process. Longer ones are
        # almost all the machine (a virtual CPU descheduled by its host for a few ms).
        "small_gaps": len(small),
        "small_gap_seconds": sum(small),
        # (upper bound in seconds, count, total seconds) per bin
        "histogram": [(hi, len(b), sum(b)) for hi, b in _bins(gaps)],
    }


def main():
    variant = sys.argv[1]
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    VARIANTS[variant]()
    if len(sys.argv) > 3 and sys.argv[3] == "gaps":
        time.sleep(0.05)  # let the sampler start
        v0, n0 = _ctx_switches()
        out = gap_probe(scale)
        v1, n1 = _ctx_switches()
        out["main_voluntary_switches"] = v1 - v0
        out["main_involuntary_switches"] = n1 - n0
        out["variant"] = variant
        out["psyco"] = _psyco_summary()
        print(json.dumps(out))
        return
    cpu0 = time.process_time()
    v0, n0 = _ctx_switches()
    seconds, parts, checksum = work(scale)
    v1, n1 = _ctx_switches()
    cpu = time.process_time() - cpu0
    print(json.dumps({
        "variant": variant,
        "pid": __import__("os").getpid(),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "main_voluntary_switches": v1 - v0,
        "main_involuntary_switches": n1 - n0,
        "parts": parts,
        "checksum": checksum,
        "psyco": _psyco_summary(),
    }))


if __name__ == "__main__":
    main()
