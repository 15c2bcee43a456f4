"""The demo's CPU-bound program (run by `python -m psyco demo` plain and under psyco).

A small particle simulation and a prime sieve: ordinary Python with hot loops, helper
functions and a little object-oriented code, so the profilers have something to find."""

import sys
import time


class Vec:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z


def advance(bodies, dt, steps):
    n = len(bodies)
    for _ in range(steps):
        for i in range(n):
            pi, vi, mi = bodies[i]
            for j in range(i + 1, n):
                pj, vj, mj = bodies[j]
                dx = pi.x - pj.x
                dy = pi.y - pj.y
                dz = pi.z - pj.z
                d2 = dx * dx + dy * dy + dz * dz + 0.01
                mag = dt / (d2 * d2 ** 0.5)
                vi.x -= dx * mj * mag
                vi.y -= dy * mj * mag
                vi.z -= dz * mj * mag
                vj.x += dx * mi * mag
                vj.y += dy * mi * mag
                vj.z += dz * mi * mag
        for p, v, _m in bodies:
            p.x += dt * v.x
            p.y += dt * v.y
            p.z += dt * v.z


def energy(bodies):
    e = 0.0
    for i, (p, v, m) in enumerate(bodies):
        e += 0.5 * m * (v.x * v.x + v.y * v.y + v.z * v.z)
        for q, _w, m2 in bodies[i + 1:]:
            d = ((p.x - q.x) ** 2 + (p.y - q.y) ** 2 + (p.z - q.z) ** 2 + 0.01) ** 0.5
            e -= m * m2 / d
    return e


def sieve(n):
    flags = [True] * (n + 1)
    flags[0] = flags[1] = False
    i = 2
    while i * i <= n:
        if flags[i]:
            for k in range(i * i, n + 1, i):
                flags[k] = False
        i += 1
    return sum(flags)


def make_bodies(k):
    out = []
    for i in range(k):
        out.append((Vec(i * 1.0, i * 0.5, -i * 0.25), Vec(0.0, 0.1 * i, 0.0), 1.0 + i % 3))
    return out


def main(scale=1.0):
    t0 = time.perf_counter()
    bodies = make_bodies(8)
    advance(bodies, 0.01, int(36000 * scale))
    e = energy(bodies)
    primes = sieve(int(2_400_000 * scale))
    return time.perf_counter() - t0, round(e, 6), primes


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    logfile = sys.argv[3] if len(sys.argv) > 3 else ""
    if mode != "plain":
        import psyco
        if logfile:
            psyco.log(logfile)
        getattr(psyco, mode)()
    elapsed, e, primes = main(scale)
    print("%.4f %r %d" % (elapsed, e, primes))
