"""N-body gravity simulation: float arithmetic on lists, nested pair loops, no objects."""

import math


def make_system(count, seed):
    """A star at rest plus `count` bodies on roughly circular orbits, placed by an LCG."""
    state = seed

    def rnd():
        nonlocal state
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        return state / 0x7FFFFFFF

    bodies = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1000.0]]  # x y z vx vy vz mass
    for k in range(count):
        r = 5.0 + 4.0 * k + rnd()
        angle = rnd() * 2.0 * math.pi
        tilt = (rnd() - 0.5) * 0.2
        speed = math.sqrt(1000.0 / r)
        x, y = r * math.cos(angle), r * math.sin(angle)
        bodies.append([x, y, r * tilt,
                       -speed * math.sin(angle), speed * math.cos(angle), 0.01 * rnd(),
                       0.5 + 2.0 * rnd()])
    # Put the centre of momentum at rest.
    px = sum(b[3] * b[6] for b in bodies)
    py = sum(b[4] * b[6] for b in bodies)
    pz = sum(b[5] * b[6] for b in bodies)
    star = bodies[0]
    star[3] -= px / star[6]
    star[4] -= py / star[6]
    star[5] -= pz / star[6]
    return bodies


def energy(bodies):
    e = 0.0
    n = len(bodies)
    for i in range(n):
        x1, y1, z1, vx, vy, vz, m1 = bodies[i]
        e += 0.5 * m1 * (vx * vx + vy * vy + vz * vz)
        for j in range(i + 1, n):
            b = bodies[j]
            dx = x1 - b[0]
            dy = y1 - b[1]
            dz = z1 - b[2]
            e -= m1 * b[6] / math.sqrt(dx * dx + dy * dy + dz * dz)
    return e


def advance(bodies, dt, steps):
    n = len(bodies)
    for _ in range(steps):
        for i in range(n):
            bi = bodies[i]
            xi = bi[0]
            yi = bi[1]
            zi = bi[2]
            mi = bi[6]
            for j in range(i + 1, n):
                bj = bodies[j]
                dx = xi - bj[0]
                dy = yi - bj[1]
                dz = zi - bj[2]
                d2 = dx * dx + dy * dy + dz * dz
                mag = dt / (d2 * math.sqrt(d2))
                mj = bj[6] * mag
                bi[3] -= dx * mj
                bi[4] -= dy * mj
                bi[5] -= dz * mj
                mm = mi * mag
                bj[3] += dx * mm
                bj[4] += dy * mm
                bj[5] += dz * mm
        for b in bodies:
            b[0] += dt * b[3]
            b[1] += dt * b[4]
            b[2] += dt * b[5]


def run(scale):
    bodies = make_system(6, 2024)
    steps = max(10, int(66000 * scale))
    e0 = energy(bodies)
    advance(bodies, 0.001, steps)
    e1 = energy(bodies)
    pos = sum(abs(b[0]) + abs(b[1]) + abs(b[2]) for b in bodies)
    return [steps, round(e0, 9), round(e1, 9), round(pos, 6)]
