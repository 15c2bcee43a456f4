"""Deep and wide recursion: fib, Ackermann, Takeuchi, and building/folding binary trees."""


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def tak(x, y, z):
    if y >= x:
        return z
    return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))


class Node:
    __slots__ = ("left", "right", "value")

    def __init__(self, left, right, value):
        self.left = left
        self.right = right
        self.value = value


def build(depth, seed):
    if depth == 0:
        return Node(None, None, seed % 97)
    return Node(build(depth - 1, seed * 2 + 1), build(depth - 1, seed * 3 + 2), seed % 13)


def fold(node):
    if node.left is None:
        return node.value
    return (fold(node.left) * 3 + fold(node.right) + node.value) % 1000003


def height(node):
    if node is None:
        return 0
    return 1 + max(height(node.left), height(node.right))


def run(scale):
    reps = max(1, int(73 * scale))
    out = []
    for k in range(reps):
        f = fib(19 + k % 3)
        a = ackermann(2, 60 + k)
        t = tak(12 + k % 2, 6, 2)
        tree = build(11, k + 1)
        out.append((f, a, t, fold(tree), height(tree)))
    return out
