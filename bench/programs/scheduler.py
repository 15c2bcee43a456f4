"""Discrete-event scheduler of cooperating task objects: classes, inheritance, method calls."""


class Packet:
    __slots__ = ("kind", "payload", "hops", "next")

    def __init__(self, kind, payload):
        self.kind = kind
        self.payload = payload
        self.hops = 0
        self.next = None


class Mailbox:
    """A FIFO of packets kept as an intrusive linked list."""

    def __init__(self):
        self.head = None
        self.tail = None
        self.size = 0

    def put(self, packet):
        packet.next = None
        if self.tail is None:
            self.head = packet
        else:
            self.tail.next = packet
        self.tail = packet
        self.size += 1

    def take(self):
        p = self.head
        if p is not None:
            self.head = p.next
            if self.head is None:
                self.tail = None
            self.size -= 1
        return p

    def empty(self):
        return self.head is None


class Task:
    def __init__(self, ident, priority, system):
        self.ident = ident
        self.priority = priority
        self.system = system
        self.inbox = Mailbox()
        self.work_done = 0
        self.blocked = False

    def ready(self):
        return not self.blocked and not self.inbox.empty()

    def step(self):
        packet = self.inbox.take()
        if packet is not None:
            packet.hops += 1
            self.work_done += 1
            self.handle(packet)

    def handle(self, packet):
        raise NotImplementedError

    def send(self, target, packet):
        self.system.deliver(target, packet)


class Producer(Task):
    def __init__(self, ident, priority, system, routers):
        Task.__init__(self, ident, priority, system)
        self.routers = routers
        self.counter = 0

    def ready(self):
        return not self.blocked and (self.counter < self.system.quota or not self.inbox.empty())

    def step(self):
        if not self.inbox.empty():
            Task.step(self)
            return
        self.counter += 1
        kind = self.counter % 3
        p = Packet(kind, self.counter * 7 % 101)
        self.work_done += 1
        self.send(self.routers[self.counter % len(self.routers)], p)

    def handle(self, packet):
        # Acknowledgements coming back.
        self.system.acks += packet.payload


class Router(Task):
    def __init__(self, ident, priority, system):
        Task.__init__(self, ident, priority, system)
        self.routes = {}

    def handle(self, packet):
        workers = self.routes[packet.kind]
        target = workers[(packet.payload + packet.hops) % len(workers)]
        self.send(target, packet)


class Worker(Task):
    def __init__(self, ident, priority, system, cost):
        Task.__init__(self, ident, priority, system)
        self.cost = cost
        self.accum = 0

    def handle(self, packet):
        v = packet.payload
        for _ in range(self.cost):
            v = (v * 5 + 3) % 1009
        self.accum = (self.accum + v) % 1000003
        packet.payload = v
        if v % 4 == 0:
            self.send(self.system.logger, packet)
        else:
            self.send(self.system.producers[v % len(self.system.producers)], packet)


class Logger(Task):
    def __init__(self, ident, priority, system):
        Task.__init__(self, ident, priority, system)
        self.lines = 0
        self.digest = 0

    def handle(self, packet):
        self.lines += 1
        self.digest = (self.digest * 31 + packet.payload + packet.hops) % 1000000007
        if self.lines % 10 == 0:
            self.blocked = True
            self.system.wake_at(self, self.system.clock + 3)


class System:
    def __init__(self, quota):
        self.quota = quota
        self.tasks = []
        self.clock = 0
        self.acks = 0
        self.timers = []
        self.producers = []
        self.logger = None

    def add(self, task):
        self.tasks.append(task)
        self.tasks.sort(key=lambda t: -t.priority)
        return task

    def deliver(self, target, packet):
        target.inbox.put(packet)

    def wake_at(self, task, when):
        self.timers.append((when, task.ident, task))

    def fire_timers(self):
        if not self.timers:
            return
        keep = []
        for when, ident, task in self.timers:
            if when <= self.clock:
                task.blocked = False
            else:
                keep.append((when, ident, task))
        self.timers = keep

    def run(self):
        while True:
            self.clock += 1
            self.fire_timers()
            ran = False
            for task in self.tasks:
                if task.ready():
                    task.step()
                    ran = True
                    break
            if not ran and not self.timers:
                return self.clock


def build(quota):
    s = System(quota)
    s.logger = s.add(Logger(0, 1, s))
    workers = [s.add(Worker(10 + i, 2 + i % 3, s, 3 + i)) for i in range(6)]
    routers = [s.add(Router(20 + i, 6, s)) for i in range(2)]
    for r, router in enumerate(routers):
        for kind in range(3):
            router.routes[kind] = [w for k, w in enumerate(workers) if (k + kind + r) % 3 != 0]
    s.producers = [s.add(Producer(30 + i, 8 - i, s, routers)) for i in range(3)]
    return s


def run(scale):
    quota = max(20, int(30000 * scale))
    s = build(quota)
    clock = s.run()
    work = [t.work_done for t in sorted(s.tasks, key=lambda t: t.ident)]
    accum = sum(t.accum for t in s.tasks if isinstance(t, Worker))
    return [clock, s.acks, s.logger.lines, s.logger.digest, accum, work]
