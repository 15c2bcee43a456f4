"""Baseline compiler speed on small loops, as ratios vs plain CPython.

Usage: python bench/compiler_loops.py [rounds]

Each round runs every workload in a fresh interpreter, once plain and once under psyco.full();
the best time over all rounds is kept (the machine may be shared: minima are the least noisy
statistic). Ratio > 1 means psyco is faster.
"""

import subprocess
import sys

WORKLOADS = r'''
import sys, time

def loop(n):
    s = 0
    for i in range(n):
        s += i * 2
    return s

def whileloop(n):
    i = 0; s = 0
    while i < n:
        if i % 3 == 0:
            s += i
        i += 1
    return s

def calls(n):
    def f(a, b):
        return a + b
    s = 0
    for i in range(n):
        s = f(s, i)
    return s

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def floats(n):
    x = 0.0
    for i in range(n):
        x = x * 0.5 + 1.25
    return x

def attrs(n):
    class P:
        def __init__(self):
            self.v = 0
    p = P()
    for i in range(n):
        p.v = p.v + 1
    return p.v

if sys.argv[1] == "psyco":
    import psyco
    psyco.full()
ARGS = {"loop": 1_000_000, "whileloop": 1_000_000, "calls": 300_000, "fib": 22, "floats": 1_000_000,
        "attrs": 500_000}
for name, a in ARGS.items():
    f = globals()[name]
    best = 1e9
    for _ in range(7):
        t = time.perf_counter(); f(a); best = min(best, time.perf_counter() - t)
    print(name, best)
'''


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    best = {}
    for _ in range(rounds):
        for mode in ("plain", "psyco"):
            out = subprocess.run([sys.executable, "-c", WORKLOADS, mode], capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                name, t = line.split()
                best[(name, mode)] = min(best.get((name, mode), 1e9), float(t))
    names = list(dict.fromkeys(n for n, _ in best))
    for n in names:
        p, c = best[(n, "plain")], best[(n, "psyco")]
        print(f"{n:10s} plain {p * 1000:8.1f} ms   psyco {c * 1000:8.1f} ms   ratio {p / c:5.2f}x")


if __name__ == "__main__":
    main()
