"""Conway's Game of Life on a torus: lists of lists, neighbour counting, modular indexing."""


def seed_grid(rows, cols, seed):
    state = seed
    grid = []
    for r in range(rows):
        row = []
        for c in range(cols):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            row.append(1 if (state >> 16) % 3 == 0 else 0)
        grid.append(row)
    return grid


def step(grid):
    rows = len(grid)
    cols = len(grid[0])
    new = []
    for r in range(rows):
        up = grid[(r - 1) % rows]
        mid = grid[r]
        down = grid[(r + 1) % rows]
        out = [0] * cols
        for c in range(cols):
            left = (c - 1) % cols
            right = (c + 1) % cols
            n = (up[left] + up[c] + up[right] + mid[left] + mid[right]
                 + down[left] + down[c] + down[right])
            if n == 3 or (n == 2 and mid[c]):
                out[c] = 1
        new.append(out)
    return new


def run(scale):
    gens = max(2, int(650 * scale))
    grid = seed_grid(64, 80, 31337)
    history = []
    for g in range(gens):
        grid = step(grid)
        history.append(sum(map(sum, grid)))
    digest = 0
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if v:
                digest = (digest * 31 + r * 80 + c) % 1000000007
    return [gens, history[-5:], sum(history), digest]
