"""Sudoku CSP solver: candidate sets, constraint propagation and backtracking search."""

ROWS = [[r * 9 + c for c in range(9)] for r in range(9)]
COLS = [[r * 9 + c for r in range(9)] for c in range(9)]
BOXES = [[(br * 3 + r) * 9 + bc * 3 + c for r in range(3) for c in range(3)]
         for br in range(3) for bc in range(3)]
UNITS = ROWS + COLS + BOXES
PEERS = [sorted({p for u in UNITS if i in u for p in u} - {i}) for i in range(81)]
CELL_UNITS = [[u for u in UNITS if i in u] for i in range(81)]
ALL = frozenset(range(1, 10))


class Lcg:
    def __init__(self, seed):
        self.state = seed

    def below(self, n):
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.state >> 8) % n

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def make_puzzle(rng, clues):
    """A puzzle derived from a shuffled pattern grid, with `clues` cells left."""
    digits = list(range(1, 10))
    rng.shuffle(digits)
    bands = [0, 1, 2]
    rng.shuffle(bands)
    rows = []
    for b in bands:
        inner = [0, 1, 2]
        rng.shuffle(inner)
        rows.extend(b * 3 + r for r in inner)
    stacks = [0, 1, 2]
    rng.shuffle(stacks)
    cols = []
    for s in stacks:
        inner = [0, 1, 2]
        rng.shuffle(inner)
        cols.extend(s * 3 + c for c in inner)
    grid = [0] * 81
    for r in range(9):
        for c in range(9):
            rr, cc = rows[r], cols[c]
            grid[r * 9 + c] = digits[(rr * 3 + rr // 3 + cc) % 9]
    cells = list(range(81))
    rng.shuffle(cells)
    for i in cells[clues:]:
        grid[i] = 0
    return grid


def assign(cands, cell, digit):
    for other in cands[cell] - {digit}:
        if not eliminate(cands, cell, other):
            return False
    return True


def eliminate(cands, cell, digit):
    current = cands[cell]
    if digit not in current:
        return True
    current = current - {digit}
    cands[cell] = current
    if not current:
        return False
    if len(current) == 1:
        (only,) = current
        for p in PEERS[cell]:
            if not eliminate(cands, p, only):
                return False
    for unit in CELL_UNITS[cell]:
        places = [i for i in unit if digit in cands[i]]
        if not places:
            return False
        if len(places) == 1 and len(cands[places[0]]) > 1:
            if not assign(cands, places[0], digit):
                return False
    return True


def search(cands, counter):
    counter[0] += 1
    best = None
    best_len = 10
    for i in range(81):
        n = len(cands[i])
        if 1 < n < best_len:
            best, best_len = i, n
            if n == 2:
                break
    if best is None:
        return cands
    for digit in sorted(cands[best]):
        trial = cands[:]
        if assign(trial, best, digit):
            result = search(trial, counter)
            if result is not None:
                return result
    return None


def solve(grid, counter):
    cands = [ALL] * 81
    for i, v in enumerate(grid):
        if v and not assign(cands, i, v):
            return None
    return search(cands, counter)


def run(scale):
    rng = Lcg(1789)
    count = max(1, int(295 * scale))
    digest = 0
    nodes = [0]
    solved = 0
    for k in range(count):
        puzzle = make_puzzle(rng, 22 + k % 6)
        result = solve(puzzle, nodes)
        if result is None:
            continue
        solved += 1
        for i in range(81):
            (d,) = result[i]
            digest = (digest * 10 + d) % 1000000007
    return [count, solved, nodes[0], digest]
