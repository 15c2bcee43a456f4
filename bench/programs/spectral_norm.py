"""Spectral norm by power iteration: a float kernel called in tight nested loops."""

import math


def entry(i, j):
    # A fixed infinite matrix with entries 1 / (T(i + j) + i + 1), T the triangular numbers.
    s = i + j
    return 1.0 / ((s * (s + 1) >> 1) + i + 1)


def mul(v, out):
    n = len(v)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += entry(i, j) * v[j]
        out[i] = acc


def mul_transposed(v, out):
    n = len(v)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += entry(j, i) * v[j]
        out[i] = acc


def mul_ata(v, tmp, out):
    mul(v, tmp)
    mul_transposed(tmp, out)


def run(scale):
    n = max(10, int(410 * math.sqrt(scale)))
    u = [1.0] * n
    v = [0.0] * n
    tmp = [0.0] * n
    for _ in range(5):
        mul_ata(u, tmp, v)
        mul_ata(v, tmp, u)
    vbv = 0.0
    vv = 0.0
    for i in range(n):
        vbv += u[i] * v[i]
        vv += v[i] * v[i]
    return [n, round(math.sqrt(vbv / vv), 12)]
