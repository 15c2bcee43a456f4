"""N-queens by backtracking with occupancy lists: recursion, list indexing, branches."""


def solve(n):
    cols = [False] * n
    diag1 = [False] * (2 * n)
    diag2 = [False] * (2 * n)
    placed = [0] * n
    found = [0, 0]  # solutions, signature

    def place(row):
        if row == n:
            found[0] += 1
            sig = 0
            for r in range(n):
                sig = sig * n + placed[r]
            found[1] = (found[1] + sig) % 1000000007
            return
        for c in range(n):
            a = row + c
            b = row - c + n
            if cols[c] or diag1[a] or diag2[b]:
                continue
            cols[c] = diag1[a] = diag2[b] = True
            placed[row] = c
            place(row + 1)
            cols[c] = diag1[a] = diag2[b] = False

    place(0)
    return found


def run(scale):
    budget = max(1, int(660 * scale))  # 8x8 boards to solve, with smaller ones mixed in
    total = 0
    sig = 0
    for k in range(budget):
        n = 8 if k % 3 else 6 + k % 2
        count, s = solve(n)
        total += count
        sig = (sig * 31 + s) % 1000000007
    return [budget, total, sig]
