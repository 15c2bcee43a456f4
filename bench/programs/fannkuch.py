"""Pancake flips over permutations in lexicographic order: list indexing, slicing, swaps."""


def next_permutation(p):
    """Advance `p` to the next permutation in lexicographic order; False after the last."""
    i = len(p) - 2
    while i >= 0 and p[i] >= p[i + 1]:
        i -= 1
    if i < 0:
        return False
    j = len(p) - 1
    while p[j] <= p[i]:
        j -= 1
    p[i], p[j] = p[j], p[i]
    lo = i + 1
    hi = len(p) - 1
    while lo < hi:
        p[lo], p[hi] = p[hi], p[lo]
        lo += 1
        hi -= 1
    return True


def flips(p):
    q = p[:]
    count = 0
    first = q[0]
    while first != 0:
        q[:first + 1] = q[first::-1]
        count += 1
        first = q[0]
    return count


def run(scale):
    n = 9
    budget = max(50, int(330000 * scale))
    # Start from an LCG-shuffled permutation so that every scale sees real flipping work.
    perm = list(range(n))
    state = 4242
    for i in range(n - 1, 0, -1):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        j = (state >> 8) % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    seen = 0
    worst = 0
    signed = 0
    while seen < budget:
        f = flips(perm)
        if f > worst:
            worst = f
        signed += f if seen % 2 == 0 else -f
        seen += 1
        if not next_permutation(perm):
            perm = list(range(n))
    return [seen, worst, signed, perm]
