"""Generator pipelines and a send()-driven coroutine scheduler (no asyncio)."""

from collections import deque


# ---- a pipeline of generators -------------------------------------------------------------

def numbers(seed, count):
    x = seed
    for _ in range(count):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        yield x >> 12


def keep_if(pred, items):
    for v in items:
        if pred(v):
            yield v


def scaled(items, k):
    for v in items:
        yield (v * k) % 10007


def windows(items, size):
    win = deque()
    total = 0
    for v in items:
        win.append(v)
        total += v
        if len(win) > size:
            total -= win.popleft()
        if len(win) == size:
            yield total


def chunks(items, size):
    chunk = []
    for v in items:
        chunk.append(v)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def pipeline(count):
    src = numbers(7, count)
    odd = keep_if(lambda v: v & 1, src)
    sc = scaled(odd, 31)
    win = windows(sc, 8)
    digest = 0
    n = 0
    for chunk in chunks(win, 16):
        digest = (digest * 31 + max(chunk) - min(chunk) + sum(x % 7 for x in chunk)) % 1000000007
        n += 1
    return n, digest


# ---- coroutines scheduled with send() -----------------------------------------------------

class Sleep:
    __slots__ = ("ticks",)

    def __init__(self, ticks):
        self.ticks = ticks


class Put:
    __slots__ = ("channel", "value")

    def __init__(self, channel, value):
        self.channel = channel
        self.value = value


class Get:
    __slots__ = ("channel",)

    def __init__(self, channel):
        self.channel = channel


class Loop:
    def __init__(self):
        self.ready = deque()
        self.sleeping = []
        self.channels = {}
        self.waiting = {}
        self.now = 0
        self.switches = 0

    def spawn(self, coro):
        self.ready.append((coro, None))

    def run(self):
        while self.ready or self.sleeping:
            if not self.ready:
                self.now += 1
                still = []
                for wake, seq, coro in self.sleeping:
                    if wake <= self.now:
                        self.ready.append((coro, None))
                    else:
                        still.append((wake, seq, coro))
                self.sleeping = still
                continue
            coro, value = self.ready.popleft()
            self.switches += 1
            try:
                req = coro.send(value)
            except StopIteration:
                continue
            kind = type(req)
            if kind is Sleep:
                self.sleeping.append((self.now + req.ticks, self.switches, coro))
            elif kind is Put:
                waiters = self.waiting.get(req.channel)
                if waiters:
                    self.ready.append((waiters.popleft(), req.value))
                else:
                    self.channels.setdefault(req.channel, deque()).append(req.value)
                self.ready.append((coro, None))
            elif kind is Get:
                q = self.channels.get(req.channel)
                if q:
                    self.ready.append((coro, q.popleft()))
                else:
                    self.waiting.setdefault(req.channel, deque()).append(coro)


def producer(name, count, out):
    for i in range(count):
        yield Put(out, (name, i))
        if i % 5 == 4:
            yield Sleep(1 + i % 3)


def stage(inp, out, count, factor):
    acc = 0
    for _ in range(count):
        name, v = yield Get(inp)
        acc += v * factor
        yield Put(out, (name, (v * factor + acc) % 9973))


def sink(inp, count, result):
    digest = 0
    for _ in range(count):
        name, v = yield Get(inp)
        digest = (digest * 131 + v + len(name)) % 1000000007
    result.append(digest)


def coroutines(count):
    loop = Loop()
    result = []
    producers = 4
    for p in range(producers):
        loop.spawn(producer("p%d" % p, count, "raw"))
    loop.spawn(stage("raw", "mid", count * producers, 3))
    loop.spawn(stage("mid", "done", count * producers, 7))
    loop.spawn(sink("done", count * producers, result))
    loop.run()
    return loop.switches, loop.now, result[0]


def run(scale):
    n = max(100, int(165000 * scale))
    a = pipeline(n)
    b = coroutines(max(10, n // 6))
    return [n, a, b]
