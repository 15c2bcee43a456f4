"""Expression language: string building, a character-level tokenizer, recursive-descent parser, tree evaluator."""


class Lcg:
    def __init__(self, seed):
        self.state = seed

    def below(self, n):
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.state >> 7) % n


NAMES = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
OPS = ["+", "-", "*", "%", "//", "max", "min"]


def gen_expr(rng, depth):
    """Random expression source text; built with string formatting and joins."""
    r = rng.below(10)
    if depth <= 0 or r < 2:
        if rng.below(2):
            return str(rng.below(1000))
        return NAMES[rng.below(len(NAMES))]
    op = OPS[rng.below(len(OPS))]
    a = gen_expr(rng, depth - 1)
    b = gen_expr(rng, depth - 1)
    if op in ("max", "min"):
        return "%s(%s, %s)" % (op, a, b)
    if r < 5:
        return "(%s %s %s)" % (a, op, b)
    return "%s %s %s" % (a, op, b)


def gen_program(rng, lines):
    out = []
    for i in range(lines):
        target = NAMES[i % len(NAMES)]
        out.append("let %s = %s;" % (target, gen_expr(rng, 4)))
    out.append("print %s;" % " + ".join(NAMES))
    return "\n".join(out)


def tokenize(src):
    tokens = []
    i = 0
    n = len(src)
    while i < n:
        ch = src[i]
        if ch in " \t\n":
            i += 1
        elif ch.isdigit():
            j = i
            while j < n and src[j].isdigit():
                j += 1
            tokens.append(("num", int(src[i:j])))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            tokens.append(("kw" if word in ("let", "print") else "name", word))
            i = j
        elif src.startswith("//", i):
            tokens.append(("op", "//"))
            i += 2
        elif ch in "+-*%(),;=":
            tokens.append(("op", ch))
            i += 1
        else:
            raise SyntaxError("bad character %r at %d" % (ch, i))
    tokens.append(("end", None))
    return tokens


class Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos]

    def advance(self):
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, kind, value):
        tok = self.advance()
        if tok[0] != kind or tok[1] != value:
            raise SyntaxError("expected %r, got %r" % (value, tok))

    def program(self):
        stmts = []
        while self.peek()[0] != "end":
            kind, word = self.advance()
            if word == "let":
                name = self.advance()[1]
                self.expect("op", "=")
                stmts.append(("let", name, self.expr()))
            else:
                stmts.append(("print", self.expr()))
            self.expect("op", ";")
        return stmts

    def expr(self):
        node = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.advance()[1]
            node = (op, node, self.term())
        return node

    def term(self):
        node = self.atom()
        while self.peek() in (("op", "*"), ("op", "%"), ("op", "//")):
            op = self.advance()[1]
            node = (op, node, self.atom())
        return node

    def atom(self):
        kind, value = self.advance()
        if kind == "num":
            return ("num", value)
        if kind == "name":
            if self.peek() == ("op", "("):
                self.advance()
                a = self.expr()
                self.expect("op", ",")
                b = self.expr()
                self.expect("op", ")")
                return (value, a, b)
            return ("var", value)
        if value == "(":
            node = self.expr()
            self.expect("op", ")")
            return node
        raise SyntaxError("unexpected %r" % (value,))


def evaluate(node, env):
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "var":
        return env.get(node[1], 1)
    a = evaluate(node[1], env)
    b = evaluate(node[2], env)
    if tag == "+":
        return (a + b) % 1000003
    if tag == "-":
        return (a - b) % 1000003
    if tag == "*":
        return (a * b) % 1000003
    if tag == "%":
        return a % b if b else a
    if tag == "//":
        return a // b if b else a
    if tag == "max":
        return a if a > b else b
    return a if a < b else b


def execute(stmts, env, printed):
    for st in stmts:
        if st[0] == "let":
            env[st[1]] = evaluate(st[2], env)
        else:
            printed.append(evaluate(st[1], env))


def run(scale):
    rng = Lcg(99)
    programs = max(1, int(920 * scale))
    digest = 0
    tokens_seen = 0
    for p in range(programs):
        src = gen_program(rng, 12)
        tokens = tokenize(src)
        tokens_seen += len(tokens)
        stmts = Parser(tokens).program()
        env = {}
        printed = []
        for _ in range(3):
            execute(stmts, env, printed)
        digest = (digest * 131 + sum(printed) + len(src)) % 1000000007
    return [programs, tokens_seen, digest]
