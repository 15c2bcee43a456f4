"""A small template engine: parsing {{ }} / {% %} tags into nodes, then rendering loops, conditions and filters."""

import re

TOKEN = re.compile(r"({{.*?}}|{%.*?%})", re.S)

FILTERS = {
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
    "title": lambda v: str(v).title(),
    "len": lambda v: len(v),
    "money": lambda v: "%d.%02d" % divmod(int(v), 100),
    "escape": lambda v: str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
}


def lookup(ctx, path):
    value = ctx
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, "")
        else:
            value = getattr(value, part, "")
    return value


class Text:
    def __init__(self, text):
        self.text = text

    def render(self, ctx, out):
        out.append(self.text)


class Var:
    def __init__(self, expr):
        parts = [p.strip() for p in expr.split("|")]
        self.path = parts[0].split(".")
        self.filters = [FILTERS[name] for name in parts[1:]]

    def render(self, ctx, out):
        v = lookup(ctx, self.path)
        for f in self.filters:
            v = f(v)
        out.append(str(v))


class For:
    def __init__(self, name, path, body):
        self.name = name
        self.path = path
        self.body = body

    def render(self, ctx, out):
        items = lookup(ctx, self.path)
        inner = dict(ctx)
        n = len(items)
        for i, item in enumerate(items):
            inner[self.name] = item
            inner["loop"] = {"index": i + 1, "first": i == 0, "last": i == n - 1}
            for node in self.body:
                node.render(inner, out)


class If:
    def __init__(self, cond, then, otherwise):
        words = cond.split()
        self.negate = words[0] == "not"
        if self.negate:
            words = words[1:]
        self.path = words[0].split(".")
        self.compare = None
        if len(words) == 3:
            self.compare = (words[1], int(words[2]))
        self.then = then
        self.otherwise = otherwise

    def test(self, ctx):
        v = lookup(ctx, self.path)
        if self.compare is not None:
            op, k = self.compare
            if op == ">":
                v = v > k
            elif op == "<":
                v = v < k
            else:
                v = v == k
        return not v if self.negate else bool(v)

    def render(self, ctx, out):
        for node in (self.then if self.test(ctx) else self.otherwise):
            node.render(ctx, out)


def parse(source):
    pieces = TOKEN.split(source)
    pos = 0

    def block(stop):
        nonlocal pos
        nodes = []
        while pos < len(pieces):
            piece = pieces[pos]
            pos += 1
            if piece.startswith("{{"):
                nodes.append(Var(piece[2:-2].strip()))
            elif piece.startswith("{%"):
                words = piece[2:-2].split()
                tag = words[0]
                if tag in stop:
                    return nodes, tag
                if tag == "for":
                    body, _ = block(("endfor",))
                    nodes.append(For(words[1], words[3].split("."), body))
                elif tag == "if":
                    then, end = block(("else", "endif"))
                    otherwise = []
                    if end == "else":
                        otherwise, _ = block(("endif",))
                    nodes.append(If(" ".join(words[1:]), then, otherwise))
                else:
                    raise SyntaxError("unknown tag %r" % tag)
            elif piece:
                nodes.append(Text(piece))
        return nodes, None

    nodes, _ = block(())
    return nodes


def render(nodes, ctx):
    out = []
    for node in nodes:
        node.render(ctx, out)
    return "".join(out)


PAGE = """<h1>{{ shop.name | upper }}</h1>
<p>Orders for {{ customer.name | title }} ({{ customer.orders | len }} orders)</p>
{% for order in customer.orders %}<div class="order{% if loop.first %} first{% endif %}">
  <h2>#{{ loop.index }} {{ order.ref }}</h2>
  <ul>{% for line in order.lines %}
    <li>{{ line.item | escape }} x{{ line.qty }} = {{ line.cents | money }}{% if line.qty > 3 %} (bulk){% endif %}</li>{% endfor %}
  </ul>
  {% if order.paid %}<b>paid</b>{% else %}<i>due {{ order.total | money }}</i>{% endif %}
</div>{% endfor %}
{% if not customer.vip %}<a href="/vip">join</a>{% endif %}
"""


class Customer:
    def __init__(self, name, orders, vip):
        self.name = name
        self.orders = orders
        self.vip = vip


ITEMS = ["bolt <m4>", "nut & washer", "hinge", "bracket", "spring", "gear", "pulley"]


def make_customer(k):
    orders = []
    for o in range(1 + k % 5):
        lines = []
        total = 0
        for j in range(1 + (k + o) % 6):
            qty = 1 + (k * 7 + o * 3 + j) % 6
            cents = qty * (150 + 37 * ((k + j) % 11))
            total += cents
            lines.append({"item": ITEMS[(k + o + j) % len(ITEMS)], "qty": qty, "cents": cents})
        orders.append({"ref": "R%05d" % (k * 10 + o), "lines": lines,
                       "paid": (k + o) % 3 == 0, "total": total})
    return Customer("customer number %d" % k, orders, k % 4 == 0)


def run(scale):
    count = max(5, int(7500 * scale))
    digest = 0
    size = 0
    nodes = parse(PAGE)
    shop = {"name": "bits & pieces"}
    for k in range(count):
        if k % 50 == 0:
            nodes = parse(PAGE)  # re-parse now and then: the parser is part of the work
        html = render(nodes, {"shop": shop, "customer": make_customer(k)})
        size += len(html)
        digest = (digest * 31 + hash_text(html)) % 1000000007
    return [count, size, digest]


def hash_text(s):
    h = 0
    for ch in s[::7]:
        h = (h * 131 + ord(ch)) & 0xFFFFFFFF
    return h
