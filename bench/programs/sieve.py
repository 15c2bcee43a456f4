"""Sieve of Eratosthenes and prime statistics: integer loops writing into a list."""


def sieve(limit):
    flags = [True] * (limit + 1)
    flags[0] = flags[1] = False
    i = 2
    while i * i <= limit:
        if flags[i]:
            for j in range(i * i, limit + 1, i):
                flags[j] = False
        i += 1
    return flags


def stats(flags):
    count = 0
    twins = 0
    gap_max = 0
    last = 2
    digest = 0
    for n in range(2, len(flags)):
        if flags[n]:
            count += 1
            if n - last == 2:
                twins += 1
            if n - last > gap_max:
                gap_max = n - last
            last = n
            digest = (digest * 131 + n) % 2147483647
    return count, twins, gap_max, digest


def run(scale):
    limit = max(1000, int(1700000 * scale))
    out = []
    for rep in range(4):
        flags = sieve(limit + rep * 97)
        out.append(stats(flags))
    return [limit, out]
