"""Functional style: closures, callbacks, decorators, functools.partial and composition."""

import functools


def counted(fn):
    """Decorator: count calls in a closure cell."""
    calls = 0

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        return fn(*args, **kwargs)

    wrapper.calls = lambda: calls
    return wrapper


def memoize(fn):
    cache = {}

    def wrapper(n):
        if n in cache:
            return cache[n]
        v = fn(n)
        cache[n] = v
        return v

    wrapper.cache = cache
    return wrapper


def clamp(lo, hi):
    def deco(fn):
        def wrapper(x):
            v = fn(x)
            return lo if v < lo else hi if v > hi else v
        return wrapper
    return deco


def compose(*fns):
    def composed(x):
        for f in reversed(fns):
            x = f(x)
        return x
    return composed


def make_adder(k):
    return lambda x: x + k


def make_accumulator():
    total = 0

    def add(v):
        nonlocal total
        total += v
        return total

    return add


def affine(a, b, x):
    return (a * x + b) % 65521


class Emitter:
    def __init__(self):
        self.listeners = {}

    def on(self, event, callback):
        self.listeners.setdefault(event, []).append(callback)

    def emit(self, event, payload):
        result = 0
        for cb in self.listeners.get(event, ()):
            result += cb(payload)
        return result


@counted
@clamp(0, 50000)
def shaped(x):
    return x * 3 - 7


@memoize
def partitions(n):
    # number of ways of writing n as ordered sums of 1, 3 and 4, modulo a prime
    if n < 0:
        return 0
    if n == 0:
        return 1
    return (partitions(n - 1) + partitions(n - 3) + partitions(n - 4)) % 1000003


def run(scale):
    rounds = max(20, int(193000 * scale))
    pipeline = compose(make_adder(3), functools.partial(affine, 5, 11), shaped, make_adder(-2))
    steps = [functools.partial(affine, a, b) for a, b in ((3, 1), (7, 2), (11, 5))]
    acc = make_accumulator()
    bus = Emitter()
    seen = []
    bus.on("tick", lambda p: p % 7)
    bus.on("tick", acc)
    bus.on("tick", lambda p, _s=seen: _s.append(p) or len(_s) % 3)
    bus.on("tock", functools.partial(affine, 2, 9))
    digest = 0
    for i in range(rounds):
        v = pipeline(i)
        for step in steps:
            v = step(v)
        v = sorted((v, i % 97, v % 13), key=lambda t: -t)[0]
        digest = (digest * 31 + v + bus.emit("tick" if i % 4 else "tock", v)) % 1000000007
        if i % 200 == 0:
            seen.clear()
    total = sum(map(make_adder(1), range(rounds // 100)))
    return [rounds, digest, shaped.calls(), partitions(min(400, rounds // 10)),
            len(partitions.cache), acc(0) % 1000003, total]
