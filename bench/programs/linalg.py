"""Dense linear algebra in pure Python: matrix product and Gaussian elimination with pivoting."""


def make_matrix(n, seed):
    state = seed
    m = []
    for i in range(n):
        row = []
        for j in range(n):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            row.append(((state >> 10) % 2001 - 1000) / 250.0 + (n if i == j else 0.0))
        m.append(row)
    return m


def matmul(a, b):
    n = len(a)
    m = len(b[0])
    inner = len(b)
    bt = [[b[k][j] for k in range(inner)] for j in range(m)]
    out = []
    for i in range(n):
        ai = a[i]
        row = []
        for j in range(m):
            bj = bt[j]
            s = 0.0
            for k in range(inner):
                s += ai[k] * bj[k]
            row.append(s)
        out.append(row)
    return out


def solve(a, rhs):
    n = len(a)
    m = [row[:] + [rhs[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = col
        best = abs(m[col][col])
        for r in range(col + 1, n):
            v = abs(m[r][col])
            if v > best:
                best = v
                pivot = r
        if pivot != col:
            m[col], m[pivot] = m[pivot], m[col]
        prow = m[col]
        inv = 1.0 / prow[col]
        for r in range(col + 1, n):
            row = m[r]
            f = row[col] * inv
            if f != 0.0:
                for k in range(col, n + 1):
                    row[k] -= f * prow[k]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        s = m[i][n]
        row = m[i]
        for k in range(i + 1, n):
            s -= row[k] * x[k]
        x[i] = s / row[i]
    return x


def run(scale):
    reps = max(1, int(30 * scale))
    n = 60
    out = []
    for rep in range(reps):
        a = make_matrix(n, 11 + rep)
        b = make_matrix(n, 23 + rep)
        c = matmul(a, b)
        rhs = [sum(row) for row in c]
        x = solve(c, rhs)  # the exact answer is all ones
        err = max(abs(v - 1.0) for v in x)
        trace = sum(c[i][i] for i in range(n))
        out.append((round(trace, 6), err < 1e-6, round(sum(x), 6)))
    return out
