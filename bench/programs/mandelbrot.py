"""Mandelbrot set membership on a grid: float loops with an early exit, integer counting."""

import math


def escape(cx, cy, limit):
    x = 0.0
    y = 0.0
    for k in range(limit):
        xx = x * x
        yy = y * y
        if xx + yy > 4.0:
            return k
        y = 2.0 * x * y + cy
        x = xx - yy + cx
    return limit


def run(scale):
    side = max(8, int(520 * math.sqrt(scale)))
    limit = 60
    inside = 0
    total = 0
    rowsig = 0
    for r in range(side):
        cy = -1.25 + 2.5 * r / side
        row = 0
        for c in range(side):
            cx = -2.1 + 2.8 * c / side
            k = escape(cx, cy, limit)
            total += k
            if k == limit:
                inside += 1
            row = (row * 33 + k) % 1000000007
        rowsig = (rowsig ^ row) * 7 % 1000000009
    return [side, inside, total, rowsig]
