"""Differential fuzzing: random Python programs, run plainly and under psyco.full().

``python -m psyco fuzz [--seed S] [--count N] [--batch B] [--save-dir DIR] [--timeout T]``

Program number k of a run is generated from seed S+k alone (``generate(seed)``: same seed, same
text, on any machine). Each program is small but exercises what a compiler for CPython 3.11
gets wrong first: big-int/float/mixed arithmetic (division by zero, overflow to inf, int/float
comparison at 2**53), loops with break/continue/else, while loops, try/except/finally with
raises in loops and returns in finally, closures with nonlocal, generators (yield, yield from,
send, throw, close), classes with properties, __slots__, inheritance and super(),
comprehensions, *args/**kwargs/keyword-only arguments, bounded recursion, string formatting,
slicing and starred unpacking. Every function is called several times with arguments of
changing types, so that specialized code meets the types it did not see first.

A batch of programs runs in one child interpreter: every program once plainly (psyco not
imported), then ``psyco.full()``, then every program again from its text into a fresh
namespace. Each run yields its printed output plus the type, message and line of an exception
that escaped; plain and psyco must agree exactly. A child killed by a signal is a crash, one
past the time limit a hang: the program that was running is found from the child's journal,
and the rest of the batch runs in a new child.

A failing program is minimized (delta debugging over its lines, then blocks) with the same
kind of failure as the test, and saved as ``<save-dir>/fuzz_<seed>.py``, a pytest test.
Exit status 1 if any program failed.
"""

import argparse
import contextlib
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

__all__ = ["generate", "run_program", "check_program", "minimize", "ddmin", "run_fuzz",
           "save_regression", "main", "CheckResult"]

# ------------------------------------------------------------------------------------------
# The generator
# ------------------------------------------------------------------------------------------

_NUMS = [
    "0", "1", "2", "3", "-1", "5", "7", "10", "-13", "255", "1000003",
    "2**31", "2**63", "2**64 + 1", "-(2**70)", "10**20", "3**40", "-(10**30) + 7",
    "9007199254740993", "2**1023",
    "0.0", "-0.0", "0.5", "1.5", "-2.25", "3.0", "0.1", "1e308", "-1e308", "1e-308",
    "2.5e15", "9007199254740992.0", "float('inf')", "float('-inf')", "float('nan')",
    "True", "False",
]
_SMALL_INTS = ["0", "1", "2", "3", "4", "5", "7", "-1", "-2"]
_ARITH = ["+", "-", "*", "/", "//", "%"]
# Constants of the loop-kernel feature: ints, floats, a huge float, a prime.
_KNUMS = ["0", "1", "2", "3", "-1", "7", "0.5", "2.0", "-1.5", "1e300", "0.0", "1000003"]
# Lists the loop-kernel feature indexes: floats, ints, mixed, too short, holding None, big ints.
_KLISTS = ["[0.5 * k for k in range(12)]", "list(range(12))", "[1, 2.5, 3, 4.5, 5, 6.5, 7, 8.5, 9, 10.5, 11, 12.5]",
           "[1.0, 2.0]", "[1.5, 2.5, None, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5]", "[2**70] * 12",
           "[-0.0] * 12", "[float('nan')] + [1.0] * 11"]
_INT_OPS = ["&", "|", "^"]
_CMP = ["<", "<=", "==", "!=", ">", ">="]
_POWS = ["0", "1", "2", "3", "5", "-1", "0.5"]


class _Gen:
    """Builds one program from a random.Random; all choices go through self.r."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.seed = seed
        self.funcs = []        # lists of source lines, each a top-level definition
        self.calls = []        # (function name, list of argument-tuple source texts)
        self.n = 0

    # -- small helpers --------------------------------------------------------------------
    def name(self, prefix):
        self.n += 1
        return "%s%d" % (prefix, self.n)

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def chance(self, p):
        return self.r.random() < p

    def num(self):
        return self.pick(_NUMS)

    def small(self):
        return self.pick(_SMALL_INTS)

    # -- expressions ----------------------------------------------------------------------
    def expr(self, names, depth=2):
        """A numeric expression over `names` (which may hold ints, floats, bools, big ints)."""
        r = self.r.random()
        if depth <= 0 or r < 0.25:
            if names and self.chance(0.7):
                return self.pick(names)
            return self.num()
        a = self.expr(names, depth - 1)
        b = self.expr(names, depth - 1)
        if r < 0.60:
            return "(%s %s %s)" % (a, self.pick(_ARITH), b)
        if r < 0.65:
            return "(%s %s %s)" % (a, self.pick(_INT_OPS), b)
        if r < 0.70:
            return "(%s %s %s)" % (a, self.pick(["<<", ">>"]), self.pick(["0", "1", "3", "17", "70"]))
        if r < 0.76:
            return "(%s) ** %s" % (a, self.pick(_POWS))
        if r < 0.80:
            return "(%s if %s else %s)" % (a, self.cond(names, depth - 1), b)
        if r < 0.84:
            return "(%s %s %s)" % (a, self.pick(_CMP), b)
        if r < 0.88:
            return "%s(%s)" % (self.pick(["abs", "-", "int", "float", "+"]), a)
        if r < 0.92:
            return "%s(%s, %s)" % (self.pick(["min", "max"]), a, b)
        if r < 0.95:
            return "divmod(%s, %s)[%d]" % (a, b, self.r.randrange(2))
        if r < 0.98:
            return "round(%s, %s)" % (a, self.pick(["0", "1", "2", "-1"]))
        return "(not %s)" % a

    def cond(self, names, depth=1):
        r = self.r.random()
        if r < 0.55 or depth <= 0:
            return "%s %s %s" % (self.expr(names, depth), self.pick(_CMP), self.expr(names, 0))
        if r < 0.75:
            return "(%s) %s (%s)" % (self.cond(names, depth - 1), self.pick(["and", "or"]),
                                     self.cond(names, depth - 1))
        if r < 0.85:
            return "%s < %s <= %s" % (self.expr(names, 0), self.expr(names, 1), self.expr(names, 0))
        return "not (%s)" % self.cond(names, depth - 1)

    def arg_values(self, k):
        """Argument lists of changing types (small ints first, so that specialized code then
        meets big ints, floats, bools and sometimes strings) for k numeric parameters."""
        out = []
        kinds = [
            lambda: str(self.r.randrange(-5, 12)),
            lambda: self.pick(["2**64 + 3", "-(2**65)", "10**25", "3**50"]),
            lambda: self.pick(["0.5", "2.0", "-3.75", "1e300", "7.0", "0.0"]),
            lambda: self.pick(["True", "False"]),
        ]
        for t in range(self.r.randrange(3, 7)):
            if t < 2:
                out.append([str(self.r.randrange(-3, 10)) for _ in range(k)])
            else:
                out.append([self.pick(kinds)() for _ in range(k)])
        if self.chance(0.15):
            out.append(["None"] * k)      # None: a TypeError for every operator
        return out

    def int_args(self, k):
        return ["(%s%s)" % (", ".join(vals), "," if k == 1 else "")
                for vals in self.arg_values(k)]

    # -- statements ---------------------------------------------------------------------
    def block(self, names, ro, depth, in_loop, indent):
        lines = []
        for _ in range(self.r.randrange(1, 4)):
            lines += self.stmt(names, ro, depth, in_loop, indent)
        return lines

    def stmt(self, names, ro, depth, in_loop, ind):
        """Statements assigning to `names`. Inside loops, expressions read only `ro` (the
        parameters and loop counters) and assignments are additive, so that no value can
        grow exponentially with the iteration count."""
        p = " " * ind
        r = self.r.random()
        var = self.pick(names)
        reads = ro if in_loop else names + ro
        if depth <= 0 or r < 0.35:
            if in_loop and self.chance(0.15):
                return ["%sif %s:" % (p, self.cond(names + ro)),
                        "%s    %s" % (p, self.pick(["break", "continue"]))]
            if self.chance(0.3):
                ops = ["+", "-"] if in_loop else ["+", "-", "*"]
                return ["%s%s %s= %s" % (p, var, self.pick(ops), self.expr(reads, 1))]
            if self.chance(0.15):
                return ["%sout.append(%s)" % (p, self.expr(names + ro, 1))]
            return ["%s%s = %s" % (p, var, self.expr(reads, 2))]
        if r < 0.55:
            lines = ["%sif %s:" % (p, self.cond(names + ro))]
            lines += self.block(names, ro, depth - 1, in_loop, ind + 4)
            if self.chance(0.4):
                lines.append("%selif %s:" % (p, self.cond(names + ro)))
                lines += self.block(names, ro, depth - 1, in_loop, ind + 4)
            if self.chance(0.5):
                lines.append("%selse:" % p)
                lines += self.block(names, ro, depth - 1, in_loop, ind + 4)
            return lines
        if r < 0.70:
            it = self.name("i")
            src = self.pick(["range(%d)" % self.r.randrange(0, 12),
                             "range(%s, %d, %s)" % (self.small(), self.r.randrange(5, 15),
                                                   self.pick(["1", "2", "3"])),
                             "[%s, %s, %s]" % (self.num(), self.num(), self.num())])
            lines = ["%sfor %s in %s:" % (p, it, src)]
            lines += self.block(names, ro + [it], depth - 1, True, ind + 4)
            if self.chance(0.3):
                lines.append("%selse:" % p)
                lines.append("%s    out.append('else %s')" % (p, it))
            return lines
        if r < 0.80:
            k = self.name("k")
            lines = ["%s%s = 0" % (p, k), "%swhile %s < %d:" % (p, k, self.r.randrange(1, 10)),
                     "%s    %s += 1" % (p, k)]
            lines += self.block(names, ro + [k], depth - 1, True, ind + 4)
            if self.chance(0.25):
                lines.append("%selse:" % p)
                lines.append("%s    out.append(%s)" % (p, k))
            return lines
        # try / except / else / finally
        lines = ["%stry:" % p]
        if self.chance(0.4):
            lines.append("%s    if %s:" % (p, self.cond(names + ro)))
            lines.append("%s        raise %s(%s)" % (p, self.pick(["ValueError", "KeyError",
                                                                   "LookupError"]),
                                                      self.expr(reads, 0)))
        lines += self.block(names, ro, depth - 1, in_loop, ind + 4)
        exc = self.pick(["ZeroDivisionError", "ArithmeticError", "(TypeError, ValueError)",
                         "OverflowError", "LookupError", "Exception"])
        e = self.name("e")
        lines.append("%sexcept %s as %s:" % (p, exc, e))
        lines.append("%s    out.append(type(%s).__name__)" % (p, e))
        if self.chance(0.3):
            lines += self.block(names, ro, depth - 1, in_loop, ind + 4)
        if self.chance(0.25):
            lines.append("%selse:" % p)
            lines += self.block(names, ro, depth - 1, in_loop, ind + 4)
        if self.chance(0.5):
            lines.append("%sfinally:" % p)
            lines.append("%s    out.append(%s)" % (p, repr("fin")))
            if self.chance(0.3):
                lines.append("%s    if %s:" % (p, self.cond(names + ro)))
                lines.append("%s        return %s, out" % (p, var))
        return lines

    # -- features: each adds top-level definitions and driver calls --------------------------
    def f_arith(self):
        f = self.name("arith")
        params = ["a", "b", "c"][: self.r.randrange(1, 4)]
        locs = params + ["x", "y"]
        lines = ["def %s(%s):" % (f, ", ".join(params)), "    out = []",
                 "    x = %s" % self.expr(params, 2), "    y = %s" % self.num()]
        lines += self.block(["x", "y"], params, 3, False, 4)
        lines.append("    return %s, out" % self.expr(locs, 1))
        self.funcs.append(lines)
        self.calls.append((f, self.int_args(len(params))))

    def f_loops(self):
        f = self.name("loops")
        n = self.r.randrange(3, 25)
        lines = [
            "def %s(n, x):" % f,
            "    out = []",
            "    acc = %s" % self.num(),
            "    for i in range(%s):" % self.pick(["n", str(n), "min(n, %d)" % n]),
            "        if %s:" % self.cond(["i", "x"]),
            "            continue",
            "        if i %% %d == %d:" % (self.r.randrange(2, 7), self.r.randrange(0, 2)),
            "            out.append(('skip', i))",
            "        elif %s:" % self.cond(["i", "x", "acc"]),
            "            break",
            "        acc = acc %s %s" % (self.pick(["+", "-"]), self.expr(["i", "x"], 2)),
            "    else:",
            "        out.append('no break')",
            "    j = 0",
            "    while True:",
            "        j += 1",
            "        if j > %d:" % self.r.randrange(1, 12),
            "            break",
            "        if j %% %d:" % self.r.randrange(2, 4),
            "            continue",
            "        acc = acc %s %s" % (self.pick(["+", "-", "*"]), self.expr(["j", "x"], 1)),
            "    out.append(j)",
            "    return acc, out",
        ]
        self.funcs.append(lines)
        args = []
        for vals in self.arg_values(1):
            args.append("(%d, %s)" % (self.r.randrange(-1, 30), vals[0]))
        self.calls.append((f, args))

    def f_try(self):
        f = self.name("tries")
        n = self.r.randrange(3, 12)
        lines = [
            "def %s(n, d):" % f,
            "    log = []",
            "    for i in range(%d):" % n,
            "        try:",
            "            try:",
            "                if i %% %d == %d:" % (self.r.randrange(2, 5), self.r.randrange(0, 2)),
            "                    raise ValueError(i)",
            "                log.append(%s)" % self.expr(["i", "n", "d"], 2),
            "                if i == %d:" % self.r.randrange(0, n),
            "                    %s" % self.pick(["continue", "break", "raise KeyError(i)",
                                                 "return log"]),
            "            except ValueError as e:",
            "                log.append(('caught', e.args[0]))",
            "                if e.args[0] == %d:" % self.r.randrange(0, n),
            "                    raise KeyError('k%d' % e.args[0]) from e",
            "            else:",
            "                log.append('else')",
            "            finally:",
            "                log.append('f%d' % i)",
            "                if i == %s:" % self.pick(["n", str(self.r.randrange(0, n + 3))]),
            "                    %s" % self.pick(["return log + ['from finally']", "break",
                                                 "continue", "log.append('x')"]),
            "        except KeyError as e:",
            "            log.append(('key', str(e), type(e.__cause__).__name__))",
            "            if %s:" % self.cond(["i", "n", "d"]),
            "                raise",
            "    return log",
        ]
        self.funcs.append(lines)
        args = ["(%d, %s)" % (self.r.randrange(-2, 12), self.num()) for _ in range(4)]
        self.calls.append((f, args))

    def f_closure(self):
        mk = self.name("make")
        use = self.name("closures")
        lines = [
            "def %s(start, step):" % mk,
            "    count = start",
            "    hist = []",
            "    def inc(k=1):",
            "        nonlocal count",
            "        count = count %s k * step" % self.pick(["+", "-"]),
            "        hist.append(count)",
            "        return count",
            "    def get():",
            "        return count, len(hist)",
            "    def reset(v):",
            "        nonlocal count",
            "        old, count = count, v",
            "        return old",
            "    return inc, get, reset",
        ]
        self.funcs.append(lines)
        n = self.r.randrange(2, 9)
        lines = [
            "def %s(a, b):" % use,
            "    inc, get, reset = %s(a, b)" % mk,
            "    for i in range(%d):" % n,
            "        inc(%s)" % self.expr(["i", "a"], 1),
            "        if i == %d:" % self.r.randrange(0, n),
            "            reset(%s)" % self.expr(["i", "b"], 1),
            "    adders = [lambda z, i=i: z + i * b for i in range(3)]",
            "    late = [lambda z: z + i for i in range(3)]",
            "    return get(), [f(a) for f in adders], [f(1) for f in late]",
        ]
        self.funcs.append(lines)
        self.calls.append((use, self.int_args(2)))

    def f_gen(self):
        g1 = self.name("gen")
        g2 = self.name("wrap")
        use = self.name("gens")
        n = self.r.randrange(2, 10)
        lines = [
            "def %s(n):" % g1,
            "    total = 0",
            "    for i in range(n):",
            "        got = yield %s" % self.expr(["i", "total"], 1),
            "        if got is not None:",
            "            total = total + got",
            "            if total > %s:" % self.pick(["5", "20", "100"]),
            "                return ('early', total)",
            "    return ('done', total)",
        ]
        self.funcs.append(lines)
        lines = [
            "def %s(n):" % g2,
            "    r = yield from %s(n)" % g1,
            "    yield r",
            "    try:",
            "        yield 'last'",
            "    except GeneratorExit:",
            "        raise",
            "    except ValueError as e:",
            "        yield ('thrown', e.args)",
        ]
        self.funcs.append(lines)
        lines = [
            "def %s(n, s):" % use,
            "    g = %s(n)" % g2,
            "    out = [next(g)]",
            "    try:",
            "        while True:",
            "            out.append(g.send(s))",
            "            if len(out) == %d:" % self.r.randrange(2, 12),
            "                out.append(%s)" % self.pick(["g.throw(ValueError('t'))",
                                                        "g.close()", "next(g)", "0"]),
            "    except StopIteration as e:",
            "        out.append(('stop', e.value))",
            "    out.append(sum(x for x in %s(%d) if not isinstance(x, tuple)))" % (g1, n),
            "    out.append(list(%s(%d)))" % (g2, self.r.randrange(0, 4)),
            "    return out",
        ]
        self.funcs.append(lines)
        args = ["(%d, %s)" % (self.r.randrange(0, 12), self.pick(["None", "1", "3", "2.5", "-4"]))
                for _ in range(4)]
        self.calls.append((use, args))

    def f_class(self):
        base = self.name("Base")
        der = self.name("Derived")
        use = self.name("objects")
        slots = self.chance(0.7)
        lines = ["class %s:" % base]
        if slots:
            lines.append("    __slots__ = ('a', '_b')")
        lines += [
            "    kind = 'base'",
            "    def __init__(self, a, b):",
            "        self.a = a",
            "        self._b = b",
            "    @property",
            "    def b(self):",
            "        return self._b %s %s" % (self.pick(["*", "+", "-"]), self.small()),
            "    @b.setter",
            "    def b(self, v):",
            "        if v < %s:" % self.num(),
            "            raise ValueError('b too small: %r' % (v,))",
            "        self._b = v",
            "    def m(self, x):",
            "        return %s" % self.expr(["self.a", "self._b", "x"], 2),
            "    @classmethod",
            "    def make(cls, v):",
            "        return cls(v, v)",
            "    @staticmethod",
            "    def twice(v):",
            "        return v * 2",
            "    def __repr__(self):",
            "        return '%s(%r, %r)' % (type(self).__name__, self.a, self._b)",
            "    def __eq__(self, other):",
            "        return isinstance(other, %s) and (self.a, self._b) == (other.a, other._b)" % base,
            "    __hash__ = None",
        ]
        self.funcs.append(lines)
        lines = ["class %s(%s):" % (der, base)]
        if slots:
            lines.append("    __slots__ = ('c',)")
        lines += [
            "    kind = 'derived'",
            "    def __init__(self, a, b, c=%s):" % self.small(),
            "        super().__init__(a, b)",
            "        self.c = c",
            "    def m(self, x):",
            "        return super().m(x) %s self.c" % self.pick(["+", "*", "-", "//"]),
            "    @property",
            "    def b(self):",
            "        return ('d', %s.b.fget(self))" % base,
        ]
        self.funcs.append(lines)
        lines = [
            "def %s(x, y):" % use,
            "    out = []",
            "    objs = [%s(x, y), %s(y, x), %s.make(x), %s.make(y)]" % (base, der, base, der),
            "    for o in objs:",
            "        out.append((o, o.kind, o.b, o.m(%s)))" % self.expr(["x", "y"], 1),
            "        try:",
            "            o.b = %s" % self.expr(["x", "y"], 1),
            "            out.append(o.b)",
            "        except (ValueError, TypeError, AttributeError) as e:",
            "            out.append(str(e))",
            "        try:",
            "            o.zz = 1",
            "            out.append('no slots')",
            "        except AttributeError as e:",
            "            out.append(str(e))",
            "    out.append(objs[0] == %s(x, y))" % base,
            "    out.append(%s.twice(x))" % der,
            "    out.append([type(o).__name__ for o in objs if isinstance(o, %s)])" % der,
            "    return out",
        ]
        self.funcs.append(lines)
        self.calls.append((use, self.int_args(2)))

    def kexpr(self, leaves, depth=2):
        """Arithmetic of the shapes loop kernels compute (ops/kernel.rs), with the cases they
        leave to the ordinary code: zero divisors, overflow, shifts, big and odd values."""
        r = self.r.random()
        if depth <= 0 or r < 0.3:
            return self.pick(leaves) if self.chance(0.75) else self.pick(_KNUMS)
        a = self.kexpr(leaves, depth - 1)
        b = self.kexpr(leaves, depth - 1)
        if r < 0.75:
            return "(%s %s %s)" % (a, self.pick(["+", "-", "*"]), b)
        if r < 0.85:
            return "(%s / %s)" % (a, b)
        if r < 0.93:
            return "(%s %s %s)" % (a, self.pick(["//", "%", "&", "|", "^"]), b)
        return "(%s %s %s)" % (a, self.pick(["<<", ">>"]), self.pick(["0", "1", "3", "40", "70"]))

    def f_kernel(self):
        """An innermost range() loop of arithmetic on locals, list items and a small global
        function: what psyco compiles as a loop kernel, fed lists and values of every type."""
        f = self.name("kern")
        h = self.name("pure")
        # Usually every parameter and value is used (inlinable); sometimes not (then the call
        # must stay a call: a dead value may raise).
        tail = " + t - (p - p) - (q - q)" if self.chance(0.7) else ""
        self.funcs.append(["def %s(p, q):" % h, "    t = %s" % self.kexpr(["p", "q"], 2),
                           "    return %s%s" % (self.kexpr(["p", "q", "t"], 2), tail)])
        # Values fed back from one iteration to the next (s, t, ys) only ever take part in
        # additions and comparisons, so that nothing can grow exponentially with the count.
        fresh = ["i", "a", "b", "xs[i]", "xs[i + 1]", "xs[-1]", "%s(i, a)" % h, "%s(xs[i], b)" % h]
        leaves = fresh + ["s", "t", "ys[i]", "ys[0]"]
        # Sometimes an object whose attributes the loop reads and updates (`o.x += ...`):
        # slots or an instance dict.
        cls = self.name("KObj")
        slots = self.chance(0.5)
        self.funcs.append(["class %s:" % cls] + (["    __slots__ = ('x', 'y')"] if slots else [])
                          + ["    def __init__(self, x, y):", "        self.x = x", "        self.y = y"])
        lines = ["def %s(n, xs, ys, a, b):" % f, "    out = []", "    o = %s(a, b)" % cls,
                 "    s = %s" % self.pick(_KNUMS), "    t = %s" % self.pick(_KNUMS),
                 "    for i in range(%s):" % self.pick(["n", "len(xs)", "1, n", "n - 1, -1, -1",
                                                       "0, n, 2", "len(ys)"])]
        for _ in range(self.r.randrange(1, 5)):
            r = self.r.random()
            if r < 0.15:
                lines.append("        o.%s %s= %s" % (self.pick(["x", "y"]), self.pick(["+", "-"]),
                                                    self.kexpr(fresh + ["o.x", "o.y"], 1)))
            elif r < 0.3:
                lines.append("        s = %s" % self.kexpr(fresh + ["o.x"]))
            elif r < 0.5:
                lines.append("        t %s= %s" % (self.pick(["+", "-"]), self.kexpr(fresh, 1)))
            elif r < 0.7:
                lines.append("        ys[%s] %s= %s" % (self.pick(["i", "0", "i"]), self.pick(["+", "-", "*"]),
                                                      self.kexpr(fresh, 1)))
            else:
                lines.append("        if %s %s %s:" % (self.kexpr(leaves, 1), self.pick(_CMP),
                                                       self.kexpr(leaves, 0)))
                lines.append("            %s" % self.pick(["break", "continue", "out.append(i)",
                                                           "s = 0.5", "t = b"]))
        lines.append("    return s, t, out, ys, o.x, o.y, i")
        self.funcs.append(lines)
        args = []
        for vals in self.arg_values(2):
            args.append("(%d, %s, %s, %s, %s)" % (self.r.randrange(0, 13), self.pick(_KLISTS),
                                                  self.pick(_KLISTS[:3] + _KLISTS[6:]), vals[0], vals[1]))
        self.calls.append((f, args))

    def f_comp(self):
        f = self.name("comps")
        n = self.r.randrange(0, 15)
        lines = [
            "def %s(n, x):" % f,
            "    xs = [%s for i in range(%d) if %s]" % (self.expr(["i", "x"], 2), n,
                                                       self.cond(["i", "x"], 0)),
            "    d = {i: %s for i in range(n) if i %% %d}" % (self.expr(["i", "x"], 1),
                                                             self.r.randrange(1, 4)),
            "    s = {%s for i in range(%d)}" % (self.pick(["i % 5", "i * i % 7", "-i // 2",
                                                          "(i, i % 2)"]), n),
            "    g = sum(%s for i in range(n) for j in range(i %% 4))" % self.expr(["i", "j"], 1),
            "    nested = [[i * j for j in range(i)] for i in range(%d)]" % self.r.randrange(0, 6),
            "    pairs = [(k, v) for k, v in sorted(d.items()) if %s]" % self.cond(["k", "v"], 0),
            "    return xs, d, sorted(s), g, nested, pairs",
        ]
        self.funcs.append(lines)
        args = ["(%d, %s)" % (self.r.randrange(0, 12), self.num()) for _ in range(4)]
        self.calls.append((f, args))

    def f_args(self):
        f = self.name("sig")
        use = self.name("calls")
        lines = [
            "def %s(a, b=%s, *args, c, d=%s, **kw):" % (f, self.num(), self.small()),
            "    return (a, b, args, c, d, sorted(kw.items()), %s)" % self.expr(["a", "c", "d"], 1),
        ]
        self.funcs.append(lines)
        calls = [
            "%s(x, c=y)" % f,
            "%s(x, y, 1, 2, 3, c=0, e=5)" % f,
            "%s(*[x, y, y], **{'c': x, 'z': y})" % f,
            "%s(a=y, c=x, d=x)" % f,
            "%s(x, y)" % f,                       # TypeError: missing keyword-only c
            "%s(x, c=1, a=2)" % f,                # TypeError: multiple values for a
            "%s(*(x,), c=y, **{'d': 9})" % f,
        ]
        self.r.shuffle(calls)
        lines = ["def %s(x, y):" % use, "    out = []"]
        for c in calls[: self.r.randrange(3, len(calls) + 1)]:
            lines += ["    try:",
                      "        out.append(%s)" % c,
                      "    except TypeError as e:",
                      "        out.append(('TypeError', str(e)))"]
        lines.append("    return out")
        self.funcs.append(lines)
        self.calls.append((use, self.int_args(2)))

    def f_rec(self):
        f = self.name("rec")
        g = self.name("even")
        h = self.name("odd")
        lines = [
            "def %s(n, acc):" % f,
            "    if n <= 0:",
            "        return acc",
            "    if n %% %d == 0:" % self.r.randrange(2, 6),
            "        return %s(n - 1, acc %s %s)" % (f, self.pick(["+", "-"]),
                                                    self.expr(["n"], 1)),
            "    return %s(n - %s, acc + n)" % (f, self.pick(["1", "2"])),
        ]
        self.funcs.append(lines)
        self.funcs.append(["def %s(n):" % g, "    return True if n == 0 else %s(n - 1)" % h])
        self.funcs.append(["def %s(n):" % h, "    return False if n == 0 else %s(n - 1)" % g])
        use = self.name("recs")
        self.funcs.append([
            "def %s(n, x):" % use,
            "    return %s(n, x), %s(n), [%s(k) for k in range(n %% 5)]" % (f, g, h),
        ])
        args = ["(%d, %s)" % (self.r.randrange(0, 60), self.num()) for _ in range(3)]
        self.calls.append((use, args))

    def f_str(self):
        f = self.name("strs")
        lines = [
            "def %s(x, y):" % f,
            "    out = []",
            "    s = 'psyco-%s-%s' % (x, y)",
            "    out.append(s[%s:%s:%s])" % (self.pick(["", "1", "-3", "2"]),
                                            self.pick(["", "-1", "5", "100"]),
                                            self.pick(["", "1", "2", "-1", "-2"])),
            "    lst = list(range(%d))" % self.r.randrange(0, 12),
            "    lst[1:3] = [x, y, x]",
            "    del lst[::%s]" % self.pick(["2", "3", "-2"]),
            "    out.append(lst[::-1])",
            "    first, *mid, last = %s" % self.pick(["lst", "s", "[x, y]", "(x,)"]),
            "    out.append((first, len(mid), last))",
            "    (p, q), r = (y, x), s[:2]",
            "    p, q = q, p",
            "    out.append([p, q, r, *mid[:2], *'ab'])",
            "    for fmt in (%s):" % ", ".join(repr(v) for v in self.r.sample(
                ["{:>8}", "{:.3f}", "{!r:^12}", "{:x}", "{:+,}", "{:e}", "{:08.2f}", "{:%}",
                 "{:_b}", "{:g}"], 4)),
            "        try:",
            "            out.append(fmt.format(x))",
            "        except (ValueError, TypeError) as e:",
            "            out.append(type(e).__name__ + ': ' + str(e))",
            "    try:",
            "        out.append(f'{x!r}|{y:>6}|{x + y:.2f}|%d|%s' % (x, y))",
            "    except (ValueError, TypeError, OverflowError) as e:",
            "        out.append(type(e).__name__ + ': ' + str(e))",
            "    out.append(','.join(str(v) for v in (x, y, s[-2:])))",
            "    return out",
        ]
        self.funcs.append(lines)
        self.calls.append((f, self.int_args(2)))

    def f_slice(self):
        """Slices with computed bounds and steps (None, negative, zero, big, bools) of lists,
        tuples, strs and others, reads and assignments, in a loop so that the compiled copy
        sees each shape more than once."""
        f = self.name("slices")
        bound = lambda: self.pick(["None", "i", "-i", "x % 7 - 3", "y", "i - 2", "len(c) - i",
                                   "True", "x", "(None if i % 2 else -1)"])
        step = lambda: self.pick(["None", "1", "-1", "2", "-2", "(y % 5) - 2", "x"])
        lines = [
            "def %s(x, y):" % f,
            "    out = []",
            "    for i in range(%d):" % self.r.randrange(1, 6),
            "        for c in (list(range(%d)), tuple('abcdef'[:%d]), 'héllo wörld'[:%d], %s):" % (
                self.r.randrange(0, 9), self.r.randrange(0, 7), self.r.randrange(0, 12),
                self.pick(["b'bytes'", "range(6)", "[x, y] * 3", "(x,)", "''", "[]"])),
            "            try:",
            "                out.append(c[%s:%s])" % (bound(), bound()),
            "                out.append(c[%s:%s:%s])" % (bound(), bound(), step()),
            "            except (TypeError, ValueError) as e:",
            "                out.append((type(e).__name__, str(e)))",
            "        q = list(range(%d))" % self.r.randrange(0, 10),
            "        try:",
            "            q[%s:%s] = %s" % (bound(), bound(), self.pick(["q[::-1]", "[x, y]", "()", "'ab'",
                                                                       "q", "range(3)", "x"])),
            "            q[:%s] = q[%s::-1]" % (self.pick(["i + 1", "2", "y"]), self.pick(["i", "1", "-1"])),
            "        except (TypeError, ValueError) as e:",
            "            out.append((type(e).__name__, str(e)))",
            "        out.append(q)",
            "    return out",
        ]
        self.funcs.append(lines)
        self.calls.append((f, self.int_args(2)))

    def f_ccall(self):
        """Python functions called from C and from type slots (sorted keys, map, partial,
        operators, __init__, properties), some with defaults left out, some raising."""
        cls = self.name("Num")
        f = self.name("viac")
        key = self.name("key")
        lines = [
            "class %s:" % cls,
            "    def __init__(self, v, w=%s):" % self.small(),
            "        self.v = v + w",
            "    def __add__(self, o):",
            "        return %s(self.v + (o.v if isinstance(o, %s) else o), 0)" % (cls, cls),
            "    def __lt__(self, o):",
            "        return self.v < o.v",
            "    @property",
            "    def sq(self):",
            "        if self.v == %d:" % self.r.randrange(-3, 8),
            "            raise ValueError('bad %d' % self.v)",
            "        return self.v * self.v",
        ]
        self.funcs.append(lines)
        self.funcs.append(["def %s(t, k=%d):" % (key, self.r.randrange(1, 4)),
                           "    return (t % k, -t) if isinstance(t, int) else t"])
        self.funcs.append([
            "def %s(x, y):" % f,
            "    import functools",
            "    out = []",
            "    for i in range(%d):" % self.r.randrange(1, 5),
            "        xs = [x %% 11, y %% 7, i, %d, -i]" % self.r.randrange(-5, 5),
            "        out.append(sorted(xs, key=%s))" % key,
            "        out.append(list(map(%s, xs, [2, 3, 1, 2, 3])))" % key,
            "        out.append(functools.partial(%s, k=%d)(x))" % (key, self.r.randrange(1, 5)),
            "        ns = [%s(v) for v in xs]" % cls,
            "        s = ns[0]",
            "        for n in ns[1:]:",
            "            s = s + n",
            "        out.append((s.v, min(ns).v, max(ns).v))",
            "        try:",
            "            out.append([n.sq for n in ns])",
            "        except ValueError as e:",
            "            out.append(('ValueError', str(e), _where(e)))",
            "    return out",
        ])
        self.calls.append((f, self.int_args(2)))

    def lexpr(self, leaves, depth=2):
        """One expression of the kind leaf callees are made of (src/compiler/leaf.rs), with
        operands the inlined body must hand back to the real call."""
        r = self.r.random()
        if depth <= 0 or r < 0.3:
            return self.pick(leaves)
        a = self.lexpr(leaves, depth - 1)
        b = self.lexpr(leaves, depth - 1)
        if r < 0.6:
            return "(%s %s %s)" % (a, self.pick(["+", "-", "*"]), b)
        if r < 0.68:
            return "(%s %s %s)" % (a, self.pick(["&", "|", "^"]), b)
        if r < 0.78:
            return "(%s %s %s)" % (a, self.pick(["<", "<=", "==", "!=", ">", ">="]), b)
        if r < 0.81:
            return "(%s %s %s)" % (a, self.pick(["and", "or"]), b)
        if r < 0.84:
            return "(%s if %s else %s)" % (a, self.lexpr(leaves, depth - 1), b)
        if r < 0.92:
            # Identity of names only (`is` with a literal draws a SyntaxWarning).
            names = [n for n in leaves if n[0].isalpha()]
            return "(%s %s %s)" % (self.pick(names), self.pick(["is", "is not"]), self.pick(names))
        return "(not %s)" % a

    def f_leaf(self):
        """Small functions and methods of one expression, which compiled callers inline, called
        with operands of every type (big ints, floats, bools, None, strings, lists), items at
        every index, a subclass overriding the method, and the global rebound midway."""
        cls = self.name("Leafy")
        sub = self.name("Leafier")
        g = self.name("leaf")
        use = self.name("leafuse")
        slots = self.chance(0.4)
        lines = ["class %s:" % cls]
        if slots:
            lines.append("    __slots__ = ('a', 'b', 'items')")
        lines += [
            "    def __init__(self, a, b, items):",
            "        self.a, self.b, self.items = a, b, items",
            "    def get(self, k):",
            "        return %s" % self.lexpr(["self.a", "self.b", "self.items[0]", "self.items[-1]",
                                              "self.items[k]", "k", "2", "1.5"], 2),
            "    def peek(self):",
            "        return self.items[self.a]",
            "    def flag(self):",
            "        return %s" % self.lexpr(["self.a", "self.b", "self.items", "None"], 1),
            "    def both(self, k):",
            "        return %s" % self.pick(["not self.flag() and self.peek()", "self.flag() or self.get(k)",
                                           "self.flag() and not self.items", "self.a or self.flag()"]),
        ]
        self.funcs.append(lines)
        self.funcs.append(["class %s(%s):" % (sub, cls),
                           "    def get(self, k):",
                           "        return ('sub', k)"])
        k = self.name("K")
        self.funcs.append(["%s = %s" % (k, self.pick(["3", "0.25", "-2", "None", "(1, 2)", "2**40"]))])
        self.funcs.append(["def %s(p, q):" % g,
                           "    return %s" % self.lexpr(["p", "q", "p", "q", "1", "-3", "0.5", k, "len(q)"], 3)])
        args = ["(x, y)", "(y, x)", "(1.5, x)", "(True, 2)", "(2**62, 2**62)", "(-(2**31), 2**31)",
                "(None, 1)", "('s', 2)", "([1], [2])", "(float('nan'), 1.0)", "(0, -0.0)"]
        self.funcs.append([
            "def %s(x, y):" % use,
            "    out = []",
            "    objs = [%s(x %% 3, y, [x, y, 1.5]), %s(-1, x, (y,)), %s(0, 2.5, []), %s(1, 2, [3, 4])]"
            % (cls, cls, cls, sub),
            "    for rep in range(3):",
            "        for args in [%s]:" % ", ".join(self.r.sample(args, 6)),
            "            p, q = args",
            "            try:",
            "                out.append(%s(p, q))" % g,
            "            except Exception as e:",
            "                out.append((type(e).__name__, str(e), _where(e)))",
            "        for o in objs:",
            "            for k in (0, -1, 1, 5, x):",
            "                try:",
            "                    out.append((o.get(k), o.peek()))",
            "                    out.append((o.flag(), o.both(k)))",
            "                except Exception as e:",
            "                    out.append((type(e).__name__, str(e), _where(e)))",
            "        if rep == 1:",
            "            objs[0].a = %s" % self.pick(["1.5", "None", "'s'", "2**70", "-2"]),
            "            globals()[%r] = lambda p, q: ('rebound', p, q)" % g,
            "    return out",
        ])
        self.calls.append((use, self.int_args(2)))

    FEATURES = ("f_arith", "f_arith", "f_loops", "f_try", "f_closure", "f_gen", "f_class",
                "f_comp", "f_args", "f_rec", "f_str", "f_kernel", "f_kernel", "f_slice", "f_ccall",
                "f_leaf", "f_leaf")

    def program(self):
        feats = [self.pick(self.FEATURES) for _ in range(self.r.randrange(2, 6))]
        for feat in feats:
            getattr(self, feat)()
        lines = ["# generated by psyco.fuzz, seed %d" % self.seed, "",
                 "def _where(e):",
                 "    tb = e.__traceback__",
                 "    while tb.tb_next is not None:",
                 "        tb = tb.tb_next",
                 "    return tb.tb_lineno",
                 ""]
        for f in self.funcs:
            lines += f + [""]
        reps = self.r.randrange(1, 4)
        lines.append("def main():")
        lines.append("    for rep in range(%d):" % reps)
        for fname, args in self.calls:
            lines.append("        for args in [%s]:" % ", ".join(args))
            lines.append("            try:")
            lines.append("                print(%r, rep, args, %s(*args))" % (fname, fname))
            lines.append("            except Exception as e:")
            lines.append("                print(%r, rep, args, 'raised', type(e).__name__, e, "
                         "_where(e))" % fname)
        if self.chance(0.2):
            lines.append("    raise %s(%s)" % (self.pick(["ValueError", "RuntimeError"]),
                                               self.expr([], 1)))
        lines += ["", "if __name__ == '__main__':", "    main()", ""]
        return "\n".join(lines)


def generate(seed):
    """The program text for `seed`: same seed, same text."""
    return _Gen(seed).program()


# ------------------------------------------------------------------------------------------
# Running programs
# ------------------------------------------------------------------------------------------

_HEX = re.compile(r"0x[0-9a-fA-F]+")


def run_program(text, name="<fuzz>"):
    """Run a program text in a fresh namespace in this process; returns a dict with its
    output and the exception that escaped, if any (type, message, innermost line)."""
    buf = io.StringIO()
    exc = None
    try:
        code = compile(text, name, "exec")
    except SyntaxError as e:
        return {"out": "", "exc": ["SyntaxError", str(e), e.lineno]}
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    limit = sys.getrecursionlimit()
    try:
        with contextlib.redirect_stdout(buf):
            exec(code, ns)
    except BaseException as e:  # noqa: B902 - SystemExit, KeyboardInterrupt are results too
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == name:
                line = tb.tb_lineno
            tb = tb.tb_next
        try:
            msg = str(e)
        except Exception as e2:  # pragma: no cover - str() of a broken exception
            msg = "<str() raised %s>" % type(e2).__name__
        exc = [type(e).__name__, msg, line]
    finally:
        sys.setrecursionlimit(limit)
        ns.clear()
    return {"out": buf.getvalue(), "exc": exc}


def _normal(result):
    return {"out": _HEX.sub("0x?", result["out"]),
            "exc": None if result["exc"] is None else
            [result["exc"][0], _HEX.sub("0x?", result["exc"][1]), result["exc"][2]]}


def same(a, b):
    return _normal(a) == _normal(b)


_MEMORY_LIMIT = 3 << 30


def _child(job_path, journal_path):
    """Child side: plain runs, psyco.full(), psyco runs; one JSON line per event, flushed."""
    try:
        import resource
        # a runaway program must not take the shared machine down with it
        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):  # pragma: no cover
        pass
    with open(job_path) as f:
        job = json.load(f)
    programs = []
    for p in job["programs"]:
        text = p["text"] if "text" in p else generate(p["seed"])
        programs.append((p["id"], text))
    journal = open(journal_path, "a", buffering=1)

    def emit(obj):
        journal.write(json.dumps(obj) + "\n")
        journal.flush()

    plain = {}
    for pid, text in programs:
        emit({"ev": "start", "id": pid, "phase": "plain"})
        plain[pid] = run_program(text)
        emit({"ev": "done", "id": pid, "phase": "plain", "result": plain[pid]})
    mode = job.get("mode", "full")
    import psyco
    if mode == "full":
        psyco.full()
    elif mode == "switch":
        # Every frame starts interpreted and switches into machine code at its first loop head.
        from psyco import _psyco
        psyco.full()
        _psyco.switch_stress(True)
    elif mode == "profile":
        psyco.profile(0.0)
    st = psyco.stats(0)
    active = st.get("active")
    emit({"ev": "psyco", "active": active.get("kind") if isinstance(active, dict) else active})
    for pid, text in programs:
        emit({"ev": "start", "id": pid, "phase": "psyco"})
        res = run_program(text)
        emit({"ev": "done", "id": pid, "phase": "psyco", "result": res})
    st = psyco.stats(0)
    emit({"ev": "stats", "compiled": st.get("compiled"), "selected": st.get("selected"),
          "failed": st.get("failed"), "code_bytes": st.get("code_bytes"),
          "frames_switched": st.get("frames_switched")})
    journal.close()


def _run_child(programs, timeout, mode="full", python=None):
    """Run programs [(id, text-or-None)] in one child; returns (journal events, rc, timed_out,
    stderr)."""
    tmp = tempfile.mkdtemp(prefix="psyco-fuzz-")
    job_path = os.path.join(tmp, "job.json")
    journal_path = os.path.join(tmp, "journal.jsonl")
    err_path = os.path.join(tmp, "stderr")
    items = []
    for pid, text in programs:
        items.append({"id": pid, "text": text} if text is not None else {"id": pid, "seed": pid})
    with open(job_path, "w") as f:
        json.dump({"programs": items, "mode": mode}, f)
    env = dict(os.environ)
    env.pop("PSYCO_TEST_FULL", None)
    env["PYTHONFAULTHANDLER"] = "1"
    cmd = [python or sys.executable, os.path.abspath(__file__), "--child", job_path, journal_path]
    timed_out = False
    with open(err_path, "wb") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                             env=env, cwd=tmp, start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()
    events = []
    if os.path.exists(journal_path):
        with open(journal_path) as f:
            for line in f:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    break               # a line cut short by the crash
    with open(err_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    return events, p.returncode, timed_out, stderr


class CheckResult:
    """The verdict on one program: kind is 'ok', 'mismatch', 'crash', 'hang',
    'plain-crash'/'plain-hang' (the program or the child broke before psyco started) or
    'not-active' (psyco did not start)."""

    def __init__(self, pid, kind, plain=None, psyco=None, detail=""):
        self.id = pid
        self.kind = kind
        self.plain = plain
        self.psyco = psyco
        self.detail = detail

    @property
    def ok(self):
        return self.kind == "ok"

    def describe(self):
        s = "program %s: %s" % (self.id, self.kind)
        if self.detail:
            s += " (%s)" % self.detail
        if self.kind == "mismatch":
            s += "\n" + diff_text(self.plain, self.psyco)
        return s

    def __repr__(self):
        return "<CheckResult %s %s>" % (self.id, self.kind)


def diff_text(a, b):
    import difflib
    lines = []
    if a["exc"] != b["exc"]:
        lines.append("exception: plain %r, psyco %r" % (a["exc"], b["exc"]))
    if a["out"] != b["out"]:
        lines += difflib.unified_diff(a["out"].splitlines(), b["out"].splitlines(),
                                      "plain", "psyco", lineterm="", n=1)
    return "\n".join(lines[:60])


def run_batch(programs, timeout=60.0, mode="full", python=None):
    """Check programs [(id, text or None for generate(id))]; a crash or hang costs only the
    program that was running: the rest go to a new child. Returns ([CheckResult], stats)."""
    results = {}
    stats = {"compiled": 0, "selected": 0, "children": 0, "frames_switched": 0}
    todo = list(programs)
    while todo:
        events, rc, timed_out, stderr = _run_child(todo, timeout, mode, python)
        stats["children"] += 1
        plain, psy, running, active = {}, {}, None, None
        for ev in events:
            if ev["ev"] == "start":
                running = (ev["id"], ev["phase"])
            elif ev["ev"] == "done":
                (plain if ev["phase"] == "plain" else psy)[ev["id"]] = ev["result"]
                running = None
            elif ev["ev"] == "psyco":
                active = ev["active"]
            elif ev["ev"] == "stats":
                for k in ("compiled", "selected", "frames_switched"):
                    stats[k] += ev.get(k) or 0
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        for pid, _ in todo:
            if pid in psy:
                if active != ("full" if mode == "switch" else mode):
                    results[pid] = CheckResult(pid, "not-active", plain.get(pid), psy[pid],
                                               "active profiler %r" % (active,))
                elif same(plain[pid], psy[pid]):
                    results[pid] = CheckResult(pid, "ok", plain[pid], psy[pid])
                else:
                    results[pid] = CheckResult(pid, "mismatch", plain[pid], psy[pid])
        if running is not None:
            pid, phase = running
            how = "hang" if timed_out else "crash"
            detail = "killed after %.0fs" % timeout if timed_out else "exit code %s\n%s" % (rc, tail)
            results[pid] = CheckResult(pid, how if phase == "psyco" else "plain-" + how,
                                       plain.get(pid), None, detail)
        elif rc != 0 or timed_out:
            # died between programs (psyco.full() itself, or the child's own code)
            left = [pid for pid, _ in todo if pid not in results]
            if left:
                results[left[0]] = CheckResult(left[0], "hang" if timed_out else "crash",
                                               plain.get(left[0]), None,
                                               "child died outside a program: rc %s\n%s"
                                               % (rc, tail))
        todo = [(pid, text) for pid, text in todo if pid not in results]
        if todo and not events and not (rc != 0 or timed_out):
            for pid, _ in todo:   # pragma: no cover - the child ran nothing at all
                results[pid] = CheckResult(pid, "crash", None, None, "child ran nothing:\n" + tail)
            todo = []
    return [results[pid] for pid, _ in programs], stats


def check_program(text, timeout=30.0, mode="full", python=None):
    """Run one program text plainly then under psyco in a fresh child; a CheckResult."""
    results, _ = run_batch([("program", text)], timeout, mode, python)
    return results[0]


# ------------------------------------------------------------------------------------------
# Minimizing
# ------------------------------------------------------------------------------------------

def ddmin(items, test):
    """Zeller's delta debugging: a 1-minimal sublist of `items` for which `test` still holds
    (test(items) must hold). Tries removing chunks, halving the chunk size down to single
    items."""
    items = list(items)
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        removed = False
        start = 0
        while start < len(items):
            cand = items[:start] + items[start + chunk:]
            if cand and test(cand):
                items = cand
                n = max(n - 1, 2)
                removed = True
            else:
                start += chunk
        if not removed:
            if chunk == 1:
                break
            n = min(len(items), n * 2)
    return items


def _blocks(lines):
    """(start, end) ranges of each compound statement: a line ending in ':' and the more
    indented lines after it."""
    out = []
    for i, line in enumerate(lines):
        s = line.rstrip()
        if not s.endswith(":") or s.lstrip().startswith("#"):
            continue
        ind = len(line) - len(line.lstrip())
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or
                                  len(lines[j]) - len(lines[j].lstrip()) > ind):
            j += 1
        out.append((i, j))
    return out


_CLAUSES = {"try": ("except", "else", "finally"), "if": ("elif", "else"),
            "for": ("else",), "while": ("else",), "with": ()}


def _unwrap(lines, start, end):
    """lines with the compound statement at `start` replaced by its body, dedented, and its
    sibling clauses (except/else/finally, elif/else) dropped; None if it is not one."""
    head = lines[start].strip()
    word = re.match(r"[a-z]+", head)
    if not word or word.group(0) not in _CLAUSES or end <= start + 1:
        return None
    ind = len(lines[start]) - len(lines[start].lstrip())
    body = [l for l in lines[start + 1:end] if l.strip()]
    bind = len(body[0]) - len(body[0].lstrip())
    shift = bind - ind
    body = [l[shift:] if l[:shift].strip() == "" else l.lstrip() for l in body]
    j = end
    while j < len(lines):
        l = lines[j]
        lind = len(l) - len(l.lstrip())
        w = re.match(r"[a-z]+", l.strip())
        if lind != ind or not w or w.group(0) not in _CLAUSES[word.group(0)]:
            break
        j += 1
        while j < len(lines) and (not lines[j].strip() or
                                  len(lines[j]) - len(lines[j].lstrip()) > ind):
            j += 1
    return lines[:start] + body + lines[j:]


def minimize(text, still_fails, max_checks=2000):
    """The smallest program derived from `text` (by removing lines and whole blocks, and
    emptying blocks to `pass`) for which still_fails(text) holds. Candidates that do not
    compile are never passed to still_fails."""
    checks = [0]
    cache = {}

    def test_text(t):
        if t in cache:
            return cache[t]
        try:
            compile(t, "<candidate>", "exec")
        except (SyntaxError, ValueError):
            cache[t] = False
            return False
        if checks[0] >= max_checks:
            return False
        checks[0] += 1
        cache[t] = bool(still_fails(t))
        return cache[t]

    if not still_fails(text):
        raise ValueError("minimize: the program does not fail to begin with")
    lines = [l for l in text.splitlines() if l.strip()]
    if not test_text("\n".join(lines) + "\n"):
        lines = text.splitlines()
    changed = True
    while changed:
        changed = False
        # whole blocks first (header + body), biggest first
        for start, end in sorted(_blocks(lines), key=lambda b: b[0] - b[1]):
            if end > len(lines):
                continue
            cand = lines[:start] + lines[end:]
            if cand and test_text("\n".join(cand) + "\n"):
                lines = cand
                changed = True
                break
        if changed:
            continue
        # a block's body replaced by `pass`
        for start, end in _blocks(lines):
            if end - start <= 2:
                continue
            ind = len(lines[start + 1]) - len(lines[start + 1].lstrip())
            cand = lines[:start + 1] + [" " * ind + "pass"] + lines[end:]
            if test_text("\n".join(cand) + "\n"):
                lines = cand
                changed = True
                break
        if changed:
            continue
        # a compound statement replaced by its body (try/if/for/while/with unwrapped)
        for start, end in _blocks(lines):
            cand = _unwrap(lines, start, end)
            if cand is not None and test_text("\n".join(cand) + "\n"):
                lines = cand
                changed = True
                break
        if changed:
            continue
        new = ddmin(lines, lambda ls: test_text("\n".join(ls) + "\n"))
        if len(new) < len(lines):
            lines = new
            changed = True
    return "\n".join(lines) + "\n"


def save_regression(save_dir, seed, text, result, original=None):
    """Write <save_dir>/fuzz_<seed>.py: a pytest test that fails while the bug is there."""
    os.makedirs(save_dir, exist_ok=True)
    path = os.path.join(save_dir, "fuzz_%s.py" % seed)
    header = result.describe().replace('"""', "'''")
    body = '''"""Regression found by `python -m psyco fuzz` (seed {seed}), minimized.

What it showed when it was found:

{header}
"""

from psyco.fuzz import check_program

SEED = {seed}
KIND = {kind!r}
PROGRAM = {program}


def test_fuzz_{seed}():
    result = check_program(PROGRAM)
    assert result.ok, result.describe()


if __name__ == "__main__":
    print(check_program(PROGRAM).describe())
'''.format(seed=seed, header=_indent(header), kind=result.kind, program=_literal(text))
    with open(path, "w") as f:
        f.write(body)
    return path


def _indent(s):
    return "\n".join("    " + l for l in s.splitlines())


def _literal(text):
    if "'''" not in text and "\\" not in text:
        return "r'''\\\n" + text + "'''"
    return repr(text)


# ------------------------------------------------------------------------------------------
# The command
# ------------------------------------------------------------------------------------------

def run_fuzz(seed=0, count=100, batch=50, timeout=None, mode="full", progress=None,
             python=None):
    """Check programs seed..seed+count-1; returns (results, stats)."""
    allres = []
    stats = {"compiled": 0, "selected": 0, "children": 0, "frames_switched": 0}
    seeds = list(range(seed, seed + count))
    for k in range(0, len(seeds), max(1, batch)):
        chunk = seeds[k:k + batch]
        t = timeout if timeout is not None else 20.0 + 1.0 * len(chunk)
        res, st = run_batch([(s, generate(s)) for s in chunk], t, mode, python)
        for key in stats:
            stats[key] += st[key]
        allres += res
        if progress:
            bad = sum(1 for r in allres if not r.ok)
            progress("%d/%d programs, %d failing" % (len(allres), count, bad))
    return allres, stats


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m psyco fuzz",
                                description="Differential fuzzing of psyco against CPython.")
    p.add_argument("--seed", type=int, default=0, help="first program's seed (default 0)")
    p.add_argument("--count", type=int, default=200, help="programs to run (default 200)")
    p.add_argument("--batch", type=int, default=50, help="programs per child (default 50)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per child (default 20 + 1 per program)")
    p.add_argument("--mode", choices=("full", "profile", "switch"), default="full",
                   help="what to activate in the child (default full)")
    p.add_argument("--save-dir", default=os.path.join("tests", "regressions"),
                   help="where minimized failures go (default tests/regressions)")
    p.add_argument("--no-minimize", action="store_true", help="report failures, save nothing")
    p.add_argument("--show", type=int, metavar="SEED", help="print program SEED and exit")
    p.add_argument("--json", default="", help="write the per-program verdicts here")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    if args.show is not None:
        sys.stdout.write(generate(args.show))
        return 0
    progress = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    results, stats = run_fuzz(args.seed, args.count, args.batch, args.timeout, args.mode,
                              progress)
    elapsed = time.monotonic() - t0
    failing = [r for r in results if not r.ok]
    kinds = {}
    for r in results:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    saved = []
    for r in failing:
        print(r.describe())
        print()
        if args.no_minimize or r.kind.startswith("plain-"):
            continue
        text = generate(r.id)
        kind = r.kind

        def still_fails(t, kind=kind):
            return check_program(t, mode=args.mode).kind == kind

        small = minimize(text, still_fails)
        final = check_program(small, mode=args.mode)
        path = save_regression(args.save_dir, r.id, small, final)
        saved.append(path)
        print("minimized %d -> %d lines, saved %s" % (len(text.splitlines()),
                                                      len(small.splitlines()), path))
    print("fuzz: %d programs (seeds %d..%d, mode %s) in %.0fs, %d children: %d mismatches, "
          "%d crashes, %d hangs, %d other failures; psyco compiled %d of %d selected functions"
          % (len(results), args.seed, args.seed + args.count - 1, args.mode, elapsed,
             stats["children"], kinds.get("mismatch", 0), kinds.get("crash", 0),
             kinds.get("hang", 0),
             len(failing) - kinds.get("mismatch", 0) - kinds.get("crash", 0) - kinds.get("hang", 0),
             stats["compiled"], stats["selected"]))
    if args.mode == "switch":
        print("frames switched into machine code: %d" % stats["frames_switched"])
    if saved:
        print("regression tests written: %s" % ", ".join(saved))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"seed": r.id, "kind": r.kind, "detail": r.detail} for r in results], f)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
