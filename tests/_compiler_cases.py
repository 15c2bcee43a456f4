"""Functions run both by the interpreter and as psyco machine code by test_compiler_battery.

Each entry of CASES is (function, args); the battery compares result, exception type and
message, and traceback line numbers. Keep each function small and deterministic."""

import sys
import types


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm1(self):
        return abs(self.x) + abs(self.y)

    def __repr__(self):
        return "Point(%r, %r)" % (self.x, self.y)


GLOBAL_K = 7


def loop_sum(n):
    s = 0
    for i in range(n):
        s += i * 2
    return s


def while_loop(n):
    i = 0
    acc = []
    while i < n:
        if i % 3 == 0:
            i += 1
            continue
        if i > 20:
            break
        acc.append(i)
        i += 1
    else:
        acc.append("else")
    return acc


def float_math(x):
    y = x * 1.5 - 2.0 / 3
    return y ** 2, -y, +y, y // 1.25, y % 0.7


def int_ops(a, b):
    return (a + b, a - b, a * b, a // b, a % b, a ** 3, a << 3, a >> 1, a & b, a | b, a ^ b, ~a, -a)


def big_ints(n):
    x = 1
    for i in range(n):
        x = x * 3 + i
    return x


def strings(a, b):
    s = a + b
    s += "!"
    return s, s * 2, s[1:3], s[-1], "%s-%s" % (a, b), f"{a}{b:>5}"


def compare_chain(a, b, c):
    return a < b < c, a == b, a != c, a >= b, not a, a is b, a is not None, a in [b, c], a not in (b,)


def bool_ops(a, b):
    return (a and b), (a or b), (not a and b), (a or b or 0)


def none_tests(x):
    if x is None:
        return "none"
    if x is not None and x:
        return "truthy"
    return "falsy"


def containers(n):
    t = (1, 2, n)
    l = [n, n + 1]
    l[0] = 99
    d = {"a": n, "b": [1, 2]}
    d["c"] = t
    s = {1, 2, n}
    a, b, c = t
    x, y = l
    (p, q), r = [(1, 2), 3]
    return t, l, d, sorted(s), a + b + c, x - y, p + q + r, l[-1], d["b"][1]


def unpack_odd(seq):
    a, b = seq
    return a, b


def comprehension(n):
    return [i * i for i in range(n) if i % 2], {i: str(i) for i in range(3)}, sum(i for i in range(n))


def closures(n):
    total = 0

    def add(k):
        nonlocal total
        total += k
        return total

    for i in range(n):
        add(i)
    return total, add(100)


def closure_cell_counts(n):
    # COPY_FREE_VARS in line (up to 8 cells, each in its own slot, in order) and through the
    # helper (more): the inner functions must see each cell, including later rebinding.
    a, b, c = n, n * 2, "c%d" % n

    def three():
        return (a, b, c)

    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9 = range(n, n + 10)

    def ten():
        return [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9]

    def eight():
        return (v0, v1, v2, v3, v4, v5, v6, v7)

    first = (three(), ten(), eight())
    a, v9, v7 = "rebound", -9, -7
    return first, three(), ten(), eight()


def calls(n):
    p = Point(n, -n)
    r = p.norm1()
    m = p.norm1
    kw = dict(a=1, b=n)
    return r, m(), sorted([3, 1, 2], key=lambda v: -v, reverse=False), max(1, n, key=abs), kw, repr(p)


def star_calls(*args, **kwargs):
    def inner(a, b=2, *rest, c=3, **kw):
        return a, b, rest, c, sorted(kw)

    return inner(*args, **kwargs), inner(1), inner(1, 2, 3, c=4, d=5)


def attributes(n):
    p = Point(1, 2)
    p.x += n
    p.z = p.x * p.y
    del p.z
    return p.x, p.y, hasattr(p, "z"), getattr(p, "y")


def globals_and_builtins(n):
    return GLOBAL_K * n + len("abc") + abs(-n)


def name_error(n):
    return undefined_name_xyz + n  # noqa: F821


def unbound_local(flag):
    if flag:
        v = 1
    return v


def zero_div(n):
    total = 0
    for i in range(n, -1, -1):
        total += 10 // i
    return total


def attr_error(n):
    p = Point(n, n)
    return p.nope


def key_error(k):
    d = {"a": 1}
    return d[k]


def index_error(i):
    return [1, 2, 3][i]


def type_error(a):
    return a + "x"


def try_except(n):
    out = []
    for i in range(n):
        try:
            out.append(10 // (i - 2))
        except ZeroDivisionError as e:
            out.append(str(e))
        finally:
            out.append("f")
    return out


def nested_try(x):
    try:
        try:
            return 1 / x
        except ZeroDivisionError:
            raise ValueError("inner %r" % x)
    except ValueError as e:
        return "caught " + str(e)


def with_statement(n):
    class CM:
        def __init__(self):
            self.log = []

        def __enter__(self):
            self.log.append("enter")
            return self

        def __exit__(self, *exc):
            self.log.append(("exit", exc[0].__name__ if exc[0] else None))
            return True

    cm = CM()
    with cm as c:
        c.log.append(n)
        if n > 1:
            raise KeyError(n)
    return cm.log


def raise_in_callee(n):
    def inner(k):
        if k == 3:
            raise RuntimeError("k is %d" % k)
        return k

    s = 0
    for i in range(n):
        s += inner(i)
    return s


def generator_user(n):
    def gen(k):
        for i in range(k):
            yield i * i

    return list(gen(n)), sum(gen(n))


def frame_introspection(n):
    local_a = n
    local_b = [n]

    def peek():
        f = sys._getframe(1)
        return f.f_code.co_name, f.f_lineno, sorted(k for k in f.f_locals if k.startswith("local_"))

    r = peek()
    local_c = 3
    return r, local_a, local_b, local_c


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def deep(n):
    if n == 0:
        return 0
    return deep(n - 1) + 1


def infinite(n):
    return infinite(n + 1)


def slices_and_subscr(n):
    l = list(range(n))
    l[1:3] = ["a", "b"]
    del l[0]
    return l[::2], l[-2:], "abcdef"[n % 6]


def assert_fail(n):
    assert n > 0, "n must be positive"
    return n


def match_stmt(x):
    match x:
        case [a, b]:
            return ("pair", a, b)
        case {"k": v}:
            return ("dict", v)
        case Point(x=0):
            return "origin-x"
        case _:
            return "other"


def isinstance_dispatch(x):
    if isinstance(x, int):
        return x + 1
    elif isinstance(x, str):
        return x.upper()
    return None


def long_function(n):
    # Many locals and constants: EXTENDED_ARG-free but wide.
    a0 = n + 0; a1 = a0 + 1; a2 = a1 + 2; a3 = a2 + 3; a4 = a3 + 4
    a5 = a4 * 2; a6 = a5 - 1; a7 = a6 // 2; a8 = a7 % 5; a9 = a8 ** 2
    return [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9]


def extended_arg_jump(n):
    total = 0
    for i in range(n):
        # A long loop body makes the backward jump need EXTENDED_ARG.
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
        total += i; total -= 1; total += 2; total ^= 5; total += i * 3
    return total


def del_local(n):
    x = n
    del x
    return x


def rich_compare_error(a, b):
    return a < b


def iter_error(x):
    for i in x:
        return i


def bad_unpack(x):
    a, b, c = x
    return a


CASES = [
    (loop_sum, (1000,)),
    (loop_sum, (0,)),
    (while_loop, (30,)),
    (while_loop, (5,)),
    (float_math, (3.25,)),
    (int_ops, (17, 5)),
    (int_ops, (-17, 5)),
    (int_ops, (17, 0)),
    (big_ints, (100,)),
    (strings, ("ab", "cd")),
    (compare_chain, (1, 2, 3)),
    (compare_chain, (3, 2, 1)),
    (compare_chain, (None, None, 0)),
    (compare_chain, (1, "x", 2)),
    (bool_ops, (0, 5)),
    (bool_ops, ("", [])),
    (bool_ops, ([1], 0)),
    (none_tests, (None,)),
    (none_tests, (0,)),
    (none_tests, ([1],)),
    (containers, (5,)),
    (unpack_odd, ((1, 2),)),
    (unpack_odd, ([1, 2],)),
    (unpack_odd, ("ab",)),
    (unpack_odd, ((1, 2, 3),)),
    (unpack_odd, ([1],)),
    (unpack_odd, (5,)),
    (comprehension, (10,)),
    (closures, (10,)),
    (closure_cell_counts, (3,)),
    (calls, (4,)),
    (star_calls, (1, 2, 3)),
    (star_calls, ()),
    (attributes, (3,)),
    (globals_and_builtins, (3,)),
    (name_error, (1,)),
    (unbound_local, (True,)),
    (unbound_local, (False,)),
    (zero_div, (5,)),
    (attr_error, (1,)),
    (key_error, ("a",)),
    (key_error, ("b",)),
    (index_error, (1,)),
    (index_error, (5,)),
    (type_error, (1,)),
    (try_except, (5,)),
    (nested_try, (2,)),
    (nested_try, (0,)),
    (with_statement, (1,)),
    (with_statement, (2,)),
    (raise_in_callee, (3,)),
    (raise_in_callee, (5,)),
    (generator_user, (5,)),
    (frame_introspection, (7,)),
    (fib, (15,)),
    (deep, (200,)),
    (slices_and_subscr, (7,)),
    (assert_fail, (1,)),
    (assert_fail, (-1,)),
    (match_stmt, ([1, 2],)),
    (match_stmt, ({"k": 3},)),
    (match_stmt, (Point(0, 1),)),
    (match_stmt, (5,)),
    (isinstance_dispatch, (3,)),
    (isinstance_dispatch, ("a",)),
    (isinstance_dispatch, (3.0,)),
    (long_function, (4,)),
    (extended_arg_jump, (50,)),
    (del_local, (1,)),
    (rich_compare_error, (1, "a")),
    (rich_compare_error, (1, 2)),
    (iter_error, (5,)),
    (iter_error, ([9],)),
    (bad_unpack, ([1, 2],)),
    (bad_unpack, ("abcd",)),
]


class MyInt(int):
    def __add__(self, other):
        return "MyInt.add"


def int_edges():
    big = 2 ** 30
    vals = [0, 1, -1, big - 1, -(big - 1), big, -big, big + 1, 2 ** 62, -(2 ** 62), True, False]
    out = []
    for a in vals:
        for b in vals:
            out.append((a + b, a - b, a * b, a & b, a | b, a ^ b, a < b, a <= b, a == b, a != b, a > b, a >= b))
            x = a
            x += b
            x -= 1
            x *= 3
            x &= b
            x |= a
            x ^= 7
            out.append(x)
    return out, MyInt(3) + 1, 1 + MyInt(3), MyInt(3) < 4


def float_edges():
    nan = float("nan")
    inf = float("inf")
    vals = [0.0, -0.0, 1.5, -2.25, nan, inf, -inf, 1e308, 3]
    out = []
    for a in vals:
        for b in vals:
            out.append(repr((a + b, a - b, a * b, a < b, a <= b, a == b, a != b, a > b, a >= b)))
            if a < b:
                out.append("lt")
            if not (a >= b):
                out.append("nge")
            while a > b:
                out.append("gt")
                break
    return out


def compare_raises(a, b):
    class Weird:
        def __bool__(self):
            raise ValueError("no truth")

    class C:
        def __lt__(self, other):
            return Weird()

    if a < b:
        return "lt"
    if C() < 1:
        return "weird"
    return "ge"


CASES += [
    (int_edges, ()),
    (float_edges, ()),
    (compare_raises, (1, 2)),
    (compare_raises, (2, 1)),
    (compare_raises, (1, "x")),
]


def builders(n, *rest):
    d1 = {"a": n, "b": n + 1}
    d2 = {n: "x", "k" + str(n): [n]}
    sl = [0, 1, 2, 3, 4, 5, 6, 7][1:n:2], "abcdef"[::-1], (1, 2, 3)[n - 3:]
    l = [*rest, n, *range(3)]
    t = (*rest, n)
    s = f"{n!r:>6}|{n!s}|{n!a}|{'é'!a}|{n:08.3f}|{n:{'x' if n else 'd'}}|{d1['a']}"
    fs = [lambda x, k=i: x + k for i in range(3)]

    def kw(a, *, b=n, c: int = 5) -> int:
        return a + b + c

    assert n > 0, "positive"
    return d1, d2, sl, l, t, s, [f(10) for f in fs], kw(1), kw(1, b=2, c=3), kw.__annotations__


def bad_builders(k):
    if k == 0:
        return {[1]: 2}
    if k == 1:
        return [*5]
    if k == 2:
        return f"{k:zz}"
    if k == 3:
        return {"a": 1, [2]: 3}
    if k == 4:
        return "abc"[1:2:0]
    return "ok"


CASES += [
    (builders, (3,)),
    (builders, (4, "r1", "r2")),
    (builders, (0,)),
] + [(bad_builders, (k,)) for k in range(6)]


def set_and_dict_comps(n):
    s = {i % 5 for i in range(n)}
    d = {i: i * i for i in range(n) if i % 2}
    lit = {1, 2, n, "a"}
    l = list(range(n))
    del l[1]
    del l[-2:]
    dd = {"x": 1, "y": 2}
    del dd["x"]
    return sorted(s), d, sorted(map(str, lit)), l, dd


def set_dict_errors(k):
    if k == 0:
        return {1, [2]}
    if k == 1:
        return {[i] for i in range(3)}
    if k == 2:
        return {[i]: 1 for i in range(3)}
    if k == 3:
        d = {}
        del d["missing"]
    if k == 4:
        del (1, 2)[0]
    return "ok"


CASES += [(set_and_dict_comps, (9,))] + [(set_dict_errors, (k,)) for k in range(6)]


def _global_reader():
    return (len("ab"), GLOBAL_K)


def globals_change_between_runs():
    import builtins
    global GLOBAL_K, len
    out = [_global_reader(), _global_reader()]
    GLOBAL_K = 8
    out.append(_global_reader())
    len = lambda s: -1          # shadow a builtin with a global
    out.append(_global_reader())
    del len                     # back to the builtin
    out.append(_global_reader())
    old = builtins.len
    builtins.len = lambda s: 99  # change the builtin itself
    try:
        out.append(_global_reader())
    finally:
        builtins.len = old
    out.append(_global_reader())
    del GLOBAL_K
    try:
        _global_reader()
    except NameError as e:
        out.append(str(e))
    GLOBAL_K = 7
    out.append(_global_reader())
    return out


CASES += [(globals_change_between_runs, ())]


def _try(f):
    try:
        return f()
    except Exception as e:  # noqa: BLE001
        return (type(e).__name__, str(e))


def int_fast_ops(a, b):
    """Every operator the compact-int fast path computes itself (written out here, so that the
    compiled copy of this function computes them), against the interpreter's results."""
    out = []
    for x, y in ((a, b), (-a, b), (a, -b), (-a, -b), (b, a), (a, 0), (0, b)):
        out.append((x + y, x - y, x * y, x & y, x | y, x ^ y))
        try:
            out.append((x // y, x % y, x / y))
        except ZeroDivisionError as e:
            out.append(("zde", str(e)))
        try:
            out.append(x / y)
        except ZeroDivisionError as e:
            out.append(("zde", str(e)))
        try:
            out.append(x % y)
        except ZeroDivisionError as e:
            out.append(("zde", str(e)))
        try:
            out.append((x << y, x >> y))
        except (ValueError, OverflowError) as e:
            out.append((type(e).__name__, str(e)))
        z = x
        z += y
        z -= 3
        z *= y
        try:
            z //= y
            z %= y
        except ZeroDivisionError as e:
            out.append(("zde", str(e)))
        out.append(z)
    out.append((a << 32, a << 33, -a << 40, a >> 100, -a >> 100, (2**30 - 1) * (2**30 - 1)))
    return out


def mixed_float_ops(i, f):
    out = []
    for x, y in ((i, f), (f, i), (f, f), (-i, f), (i, -f), (i, 0.0), (f, 0), (0, f)):
        out.append((x + y, x - y, x * y))
        try:
            out.append(x / y)
        except ZeroDivisionError as e:
            out.append(("zde", str(e)))
        try:
            out.append((x // y, x % y))
        except ZeroDivisionError as e:
            out.append(("zde", str(e)))
        a = x
        a += y
        a *= y
        a -= x
        out.append(a)
    return out


class _HashLikeStr:
    """Collides with a str key in a dict and refuses to compare: the lookup must raise once."""

    calls = 0

    def __init__(self, s):
        self.s = s

    def __hash__(self):
        return hash(self.s)

    def __eq__(self, other):
        _HashLikeStr.calls += 1
        raise ValueError("no comparing")


def subscript_fast_paths(n):
    lst = list(range(n))
    tup = tuple(lst)
    d = {"a": 1, 2: "two", 2**40: "big"}
    out = []
    for i in (0, 1, -1, -n, n - 1, n, -n - 1, 2**40, True):
        for seq in (lst, tup):
            try:
                out.append(seq[i])
            except IndexError as e:
                out.append(("IndexError", str(e)))
    for k in ("a", 2, 2**40, "zz", 3, (1,), 2.0):
        try:
            out.append(d[k])
        except KeyError as e:
            out.append(("KeyError", str(e), e.args))
    for i in (0, -1, n - 1, n, -n - 1):
        try:
            lst[i] = "set%d" % i
        except IndexError as e:
            out.append(("IndexError", str(e)))
    out.append(lst)
    weird = {_HashLikeStr("k"): 1}
    _HashLikeStr.calls = 0
    try:
        weird["k"]
    except ValueError as e:
        out.append(("ValueError", str(e), _HashLikeStr.calls))
    return out


CASES += [
    (int_fast_ops, (7, 3)),
    (int_fast_ops, (2**30 - 1, 2**29 + 5)),
    (int_fast_ops, (1, 31)),
    (mixed_float_ops, (3, 0.5)),
    (mixed_float_ops, (2**29, -1.5e300)),
    (subscript_fast_paths, (5,)),
    (subscript_fast_paths, (1,)),
]


class _F(float):
    def __add__(self, other):
        return "F.__add__"


def fused_float_exprs(x, y):
    """Runs of float arithmetic that psyco evaluates in registers (ops/fuse.rs), with every
    guard made to fail at least once: ints, bools, float subclasses, zero/NaN/-0.0 divisors."""
    out = []
    for a, b in ((x, y), (y, x), (x, 0.0), (x, -0.0), (2, 3), (True, 2.5), (x, float("nan")),
                 (float("inf"), x), (_F(1.5), x), (x, _F(2.5)), (10**20, x), ("s", 2.0)):
        try:
            s = 0.5
            s += a * b + a / (b + 1.0) - 3 * a
            t = a * a * a * a - b * b * b + (a - b) * (a + b) / 7
            u = (((a + 1.0) * (b + 2.0) + (a + 3.0) * (b + 4.0)) * ((a + 5.0) * (b + 6.0) + (a + 7.0) * (b + 8.0)))
            out.append((s, t, u, 2**60 * a + b))
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
        try:
            out.append(a * b / b)
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    return out


def fused_unbound_local(flag):
    if flag:
        z = 2.0
    return 1.0 * 3.0 + z * 2.0 * z


CASES += [
    (fused_float_exprs, (1.25, -3.5)),
    (fused_float_exprs, (0.0, 1e308)),
    (fused_unbound_local, (True,)),
    (fused_unbound_local, (False,)),
]


def fused_list_items(rows):
    """`row[k]` leaves of fused float expressions: lists, tuples (not fused), short rows, ints."""
    out = []
    for r in rows:
        try:
            out.append(r[0] * r[1] + r[2] / 2.0 - r[0] * 3.0)
            out.append(r[1] * 0.5)
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    return out


CASES += [
    (fused_list_items, ([[1.5, 2.5, 3.5], (1.5, 2.5, 3.5), [1.5, 2.5], [1, 2, 3], [1.5, "x", 2.0],
                         [2.0, 4.0, 0.0], [True, 1.0, 2.0], [1e308, 1e308, 1e308]],)),
]


class _S(str):
    def __eq__(self, other):
        return "S.__eq__"

    __hash__ = str.__hash__


def str_equality(words):
    out = []
    for a in words:
        for b in words:
            out.append((a == b, a != b))
            if a == b:
                out.append("eq")
            if a != b:
                out.append("ne")
    return out


CASES += [
    (str_equality, (["a", "b", "ab", "a" + "b", "", "é", "\U0001f600", _S("a"), 1, None],)),
]


def fused_float_compares(pairs):
    """Fused float comparisons feeding a jump, every operator, NaN, ints, non-floats."""
    out = []
    for a, b in pairs:
        row = []
        try:
            if a * 1.0 < b + 0.0:
                row.append("<")
            if a * 1.0 <= b + 0.0:
                row.append("<=")
            if a * 1.0 == b + 0.0:
                row.append("==")
            if a * 1.0 != b + 0.0:
                row.append("!=")
            if a * 1.0 > b + 0.0:
                row.append(">")
            if a * 1.0 >= b + 0.0:
                row.append(">=")
            if not (a * a + b * b > 4.0):
                row.append("inside")
            n = 0
            x = a
            while x * 0.5 > 0.001:
                x = x * 0.5
                n += 1
                if n > 2000:  # inf halves to inf
                    break
            row.append(n)
        except Exception as e:  # noqa: BLE001
            row.append((type(e).__name__, str(e)))
        out.append(row)
    return out


CASES += [
    (fused_float_compares, ([(1.0, 2.0), (2.0, 1.0), (1.5, 1.5), (float("nan"), 1.0), (1.0, float("nan")),
                             (-0.0, 0.0), (3, 2.5), (True, 1.0), ("s", 1.0), (1e308, -1e308),
                             (float("inf"), float("inf")), (2**60, 2.0)],)),
]


def small_int_boxing_and_list_stores(n):
    """Results around the small-int cache's edges (-5..256) must be the cached objects, as
    CPython's own arithmetic returns them; list stores in and out of range."""
    out = []
    for a in (-6, -5, -4, 0, 255, 256, 257, 2**29):
        for b in (-1, 0, 1):
            r = a + b
            out.append((r, r is (a + b), r is int(str(r)) if -5 <= r <= 256 else None))
    lst = [0] * n
    for i in range(n):
        lst[i] = i * i
    for i in range(-1, -n - 1, -1):
        lst[i] += 1
    for bad in (n, -n - 1, 2**40):
        try:
            lst[bad] = 0
        except IndexError as e:
            out.append(str(e))
    out.append(lst)
    out.append([k for k in range(250, 262)])
    return out


CASES += [(small_int_boxing_and_list_stores, (7,)), (small_int_boxing_and_list_stores, (1,))]


class _SizedList(list):
    def __len__(self):
        return 99


class _Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def len_inline(n):
    """len() of the four types read inline (list, tuple, str, dict: small and large results,
    empty ones), of everything else through the ordinary call (subclasses, sets, __len__ that
    raises or returns a non-int), and a len shadowed locally and globally."""
    out = []
    big = list(range(n * 100))
    for x in ([], [1, 2], (), (1,) * n, "", "héllo", "x" * 300, {}, {i: i for i in range(n)}, big, tuple(big),
              set(big), frozenset(), _SizedList([1]), _Sized(n), range(n), b"abc", bytearray(5)):
        r = len(x)
        out.append((r, r is len(x)))
    for bad in (_Sized(-1), _Sized(2**70), 5, None, _Sized("x")):
        try:
            out.append(len(bad))
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    lst = []
    for i in range(n):
        lst.append(i)
        out.append(len(lst))
    out.append(_len_shadowed())
    return out


def _len_shadowed():
    def len(x):  # noqa: A001 - shadowing on purpose: a Python function named len
        return -1

    return len([1, 2]), len("ab")


def _other_append(x):
    return ("other", x)


def list_append_inline(n):
    """lst.append(x) with room in the list, on resize, on a list subclass, while the list is
    being sorted (CPython raises ValueError after the sort), with a wrong argument count,
    and append names that are not list.append."""
    out = []
    lst = []
    for i in range(n * 10):
        r = lst.append(i)
        out.append(r)
    out.append((len(lst), lst[-3:]))

    class L(list):
        def append(self, x):
            list.append(self, ("sub", x))

    s = L()
    for i in range(n):
        s.append(i)
    out.append(s)
    victim = [3, 1, 2]

    def key(v):
        victim.append(v)
        return v

    try:
        victim.sort(key=key)
    except ValueError as e:
        out.append(("ValueError", str(e)))
    out.append(victim)
    try:
        lst.append(1, 2)
    except TypeError as e:
        out.append(("TypeError", str(e)))
    try:
        lst.append()
    except TypeError as e:
        out.append(("TypeError", str(e)))

    class O:
        append = staticmethod(_other_append)

    out.append(O().append(n))
    d = {"append": 1}
    out.append(d.get("append"))
    tmp_results = [[].append(i) for i in range(3)]
    out.append(tmp_results)
    return out


CASES += [(len_inline, (3,)), (len_inline, (0,)), (list_append_inline, (4,)), (list_append_inline, (1,))]


def float_item_updates(n):
    """`b[k] op= float expression` (fused: one boxing, the item replaced in place) on exact
    lists of floats, and every case the fused path leaves to the ordinary code: int items,
    list subclasses, tuples, indexes out of range, zero divisors, non-float operands."""
    out = []
    b = [1.5, -2.25, 0.0, 3.0]
    dx, mj = 0.5, 4.0
    for _ in range(n):
        b[0] -= dx * mj
        b[1] += dx * b[3]
        b[2] *= 1.5 + dx
        b[3] /= mj - dx
    out.append(b)

    class L(list):
        def __getitem__(self, i):
            return list.__getitem__(self, i) * 2

    subject = [[1, 2, 3, 4.0], L([1.0, 2.0, 3.0, 4.0]), [1.0], (1.0, 2.0, 3.0, 4.0),
               [float("nan"), float("inf"), -0.0, 1e308], [True, 2.0, 3.0, "s"]]
    for s in subject:
        row = []
        for k, (x, y) in enumerate(((0.0, 2.0), (1.0, 0.0), (2, 3), (1e308, 10.0))):
            try:
                s[0] += x * y
                s[1] -= x / y
                s[2] *= x + y
                s[3] /= y
                row.append(list(s))
            except Exception as e:  # noqa: BLE001
                row.append((k, type(e).__name__, str(e)))
        out.append(row)
    return out


CASES += [(float_item_updates, (3,)), (float_item_updates, (0,))]


def float_items_by_variable_index(n):
    """`s += a[k] * b[k]` and `row[k] -= f * prow[k]` with a local index: fused for exact
    non-negative one-digit ints in range; negative, bool, big, float and out-of-range indexes
    and non-float items take the ordinary code (same results, same exceptions)."""
    a = [float(i) + 0.5 for i in range(n + 2)]
    b = [1.0 / (i + 1) for i in range(n + 2)]
    s = 0.0
    for k in range(n):
        s += a[k] * b[k]
    out = [s]
    row = a[:]
    for k in range(n):
        row[k] -= s * b[k]
    out.append(row)
    for k in (-1, True, 2**40, 1.0, n + 5, 0):
        try:
            s += a[k] * b[k]
            row[k] -= s * b[k]
            out.append((s, row[:]))
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    mixed = [1, 2.0, "x", None]
    for k in range(4):
        try:
            mixed[k] += mixed[k] * 2.0
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    out.append(mixed)
    return out


CASES += [(float_items_by_variable_index, (5,)), (float_items_by_variable_index, (0,))]


def recursion_error_depth_is_stable(n):
    """Each RecursionError gives back exactly the recursion units it took: the depth reached
    is the same every time (a unit leaked per error made an exponential recursion in
    test_exceptions run forever under full())."""
    def probe(k):
        try:
            return probe(k + 1)
        except RecursionError:
            return k

    depths = [probe(0) for _ in range(n)]
    return len(set(depths)), depths[0] - depths[-1]


CASES += [(recursion_error_depth_is_stable, (5,))]


def int_floor_mod_shift(n):
    """`// % << >>` on one-digit ints (inline) against every sign combination, zero divisors,
    negative and large shift counts, and operands just past one digit (the helper); written
    out in the body so that the compiled copy itself runs them."""
    vals = [0, 1, -1, 7, -7, 3, -3, 2**30 - 1, -(2**30 - 1), 2**30, -(2**30), 255, 256, 257, n]
    out = []
    for a in vals:
        for b in vals:
            row = []
            try:
                row.append(a // b)
            except ZeroDivisionError as e:
                row.append(str(e))
            try:
                row.append(a % b)
            except ZeroDivisionError as e:
                row.append(str(e))
            c = b % 40
            row.append(a << c)
            try:
                row.append(a >> b)
            except ValueError as e:
                row.append(str(e))
            try:
                row.append(a << b if b < 40 else None)
            except ValueError as e:
                row.append(str(e))
            small = a % 7
            row.append(small is a % 7)
            out.append(row)
    x = 12345
    x //= 7
    x %= 100
    x <<= 3
    x >>= 1
    out.append(x)
    for k in (62, 63, 64, 200, 2**40):
        out.append((5 >> k, -5 >> k))
    return out


CASES += [(int_floor_mod_shift, (11,))]


import re as _re

try:
    import _testcapi
except ImportError:  # an interpreter built without the test modules
    _testcapi = None


def c_calling_conventions(n):
    """C functions of every calling convention called directly (METH_O, METH_NOARGS,
    METH_FASTCALL with and without keywords) as instance, class and static methods: a static
    one's self is NULL, not the object it was defined on (test_call's
    TestCallingConventionsStatic caught psyco passing m_self); wrong argument counts."""
    if _testcapi is None:
        return None
    out = []
    for owner in (_testcapi.MethStatic, _testcapi.MethClass, _testcapi.MethInstance()):
        out.append(owner.meth_o(n))
        out.append(owner.meth_noargs())
        out.append(owner.meth_fastcall(n, 2))
        out.append(owner.meth_fastcall_keywords(n, a=2))
        out.append(owner.meth_fastcall_keywords(n))
        for bad in (lambda: owner.meth_o(), lambda: owner.meth_noargs(1)):
            try:
                bad()
            except TypeError as e:
                out.append(str(e))
    out.append([isinstance(n, int), len("abc"), divmod(n, 3), max(1, n), "x".join(["a", "b"]), str.upper("q")])
    return [_re.sub(r" at 0x[0-9a-f]+", "", repr(x)) for x in out]


CASES += [(c_calling_conventions, (3,))]


class _V3:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z


class _P3:
    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z


class _Q3(_P3):
    @property
    def y(self):
        return 10.5


def float_attribute_expressions(n):
    """`a.x * b.x + a.y * b.y + a.z * b.z` fused with attribute leaves read through the
    LOAD_ATTR sites' inline caches (slots and instance values), and everything that makes
    the fused path step aside: int attributes, properties, a materialized __dict__, a
    missing slot, a changed __class__, mixed types at one site, deleted attributes."""
    out = []
    pairs = [(_V3(1.5, 2.0, -0.5), _V3(0.25, 4.0, 8.0)), (_P3(1.5, 2.0, -0.5), _P3(0.25, 4.0, 8.0)),
             (_V3(1, 2, 3), _V3(4, 5, 6)), (_Q3(1.0, 2.0, 3.0), _P3(1.0, 1.0, 1.0)), (_V3(1.0, 2.0, 3.0), _P3(2.0, 2.0, 2.0))]
    d = _P3(1.0, 2.0, 3.0)
    d.__dict__["w"] = 1.0  # materializes the dict
    pairs.append((d, d))
    missing = _V3(1.0, 2.0, 3.0)
    del missing.y
    pairs.append((missing, missing))
    gone = _P3(1.0, 2.0, 3.0)
    del gone.z
    pairs.append((gone, gone))
    for _ in range(n):
        for a, b in pairs:
            try:
                r = a.x * b.x + a.y * b.y + a.z * b.z
                out.append(r)
                if a.x * b.x - a.y * 2.0 > a.z / b.z:
                    out.append("gt")
            except Exception as e:  # noqa: BLE001
                out.append((type(e).__name__, str(e)))
    switch = _P3(1.0, 2.0, 3.0)
    switch.__class__ = _Q3
    out.append(switch.x * switch.y + switch.z)
    return out


CASES += [(float_attribute_expressions, (3,))]


import math  # noqa: E402


def fused_sqrt(n):
    """`math.sqrt(float expression)` inside fused expressions (the call done as sqrtsd when
    the global and the module attribute are CPython's math.sqrt), and what falls back:
    negative (ValueError), NaN, -0.0, inf, int arguments, and a math module whose sqrt was
    replaced or a global `math` rebound mid-loop."""
    out = []
    for x in (4.0, 2.0, 0.0, -0.0, 1e308, float("inf"), float("nan"), -1.0, 3, -4, 1e-320):
        try:
            r = math.sqrt(x * x + 1.0) - math.sqrt(x * 1.0)
            out.append(r)
            out.append(0.5 * math.sqrt(x))
            if math.sqrt(x + 0.0) > 1.5:
                out.append("big")
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    return out


class _FakeMath:
    @staticmethod
    def sqrt(x):
        return -x


def fused_sqrt_rebound(n):
    """The guards of the fused sqrt: a rebound global `math` and a replaced `math.sqrt`."""
    global math
    out = []
    real, real_sqrt = math, math.sqrt
    try:
        for i in range(n):
            out.append(math.sqrt(2.0 * i + 0.25) * 2.0)
            if i == 1:
                math = _FakeMath
            elif i == 2:
                math = real
                math.sqrt = lambda v: v + 0.5
            elif i == 3:
                math.sqrt = real_sqrt
    finally:
        math = real
        math.sqrt = real_sqrt
    return out


CASES += [(fused_sqrt, (1,)), (fused_sqrt_rebound, (6,))]


def tuple_and_negative_indexing(n):
    """`t[i]` of tuples and `x[-i]` of lists and tuples (inline for one-digit ints in range),
    around every edge: -len, len, -len-1, big and bool indexes, empty sequences, subclasses,
    and negative list stores."""
    t = tuple(range(10, 10 + n))
    lst = list(t)
    out = []
    for i in range(-n - 2, n + 2):
        for seq in (t, lst, (), [], _SizedList([1, 2])):
            try:
                out.append(seq[i])
            except IndexError as e:
                out.append(str(e))
    for i in (True, False, 2**31, -(2**31), 2**70):
        try:
            out.append((t[i], lst[i]))
        except IndexError as e:
            out.append(str(e))
    for i in range(-n, 0):
        lst[i] = lst[i] * 2
    try:
        lst[-n - 1] = 0
    except IndexError as e:
        out.append(str(e))
    pairs = [(k, str(k)) for k in range(n)]
    out.append([p[0] + len(p[1]) + p[-1].count("1") for p in pairs])
    out.append(lst)
    return out


CASES += [(tuple_and_negative_indexing, (4,)), (tuple_and_negative_indexing, (0,))]


class _Str(str):
    pass


def c_calls_inline_edges(n):
    """The inline C calls' edges: results the generic path turns into SystemError (NULL
    without an exception, a result with one pending), C functions that raise, methods called
    on subclass instances (not the descriptor's exact class), unbound descriptors called with
    a wrong self, and builtins of every arity."""
    out = []
    if _testcapi is not None:
        for f in (_testcapi.return_null_without_error, _testcapi.return_result_with_error):
            try:
                out.append(f())
            except SystemError as e:
                out.append(_re.sub(r" at 0x[0-9a-f]+", "", str(e)))
    for thunk in (lambda: [].pop(), lambda: {}.pop(1), lambda: "abc".index("z"), lambda: (1,).index(2)):
        try:
            thunk()
        except (IndexError, KeyError, ValueError) as e:
            out.append((type(e).__name__, str(e)))
    lst, d, s = [3, 1, 2], {"a": 1}, _Str("Hello")
    for _ in range(n):
        out.append(lst.pop())
        lst.insert(0, n)
        out.append(d.get("a"))
        out.append(d.get("b", 0))
        out.append(s.lower())
        out.append(s.startswith("He"))
        out.append("x".join(["a", "b"]))
        out.append(abs(-n))
        out.append(isinstance(s, str))
        out.append(divmod(n, 2))
        out.append(min(n, 2, 5))
        out.append(sorted(lst))
    try:
        out.append(str.lower(5))
    except TypeError as e:
        out.append(str(e))
    try:
        out.append(list.append((), 1))
    except TypeError as e:
        out.append(str(e))
    return out


CASES += [(c_calls_inline_edges, (3,))]


def type_of_one(n):
    """`type(x)` inline for every kind of x (the type object itself, incremented), and the
    calls of `type` that are not that: three arguments (a new class), keywords, a shadowed
    name, no argument."""
    out = []
    for x in (1, "s", None, [], _Str("q"), _V3(1, 2, 3), type, 2**80, n):
        t = type(x)
        out.append((t.__name__, t is x.__class__))
    k = type("K", (), {"a": n})
    out.append((k.__name__, k.a))
    try:
        type()
    except TypeError as e:
        out.append(str(e))
    return out


CASES += [(type_of_one, (2,))]


class _Watched:
    def __init__(self):
        self.a = 1
        self.b = 2

    def __del__(self):
        pass


class _Loud:
    def __init__(self, log):
        self.log = log

    def __del__(self):
        self.log.append("del")


def store_attr_inline(n):
    """`obj.name = value` through entry 0 of the site's cache: slots (also an emptied one),
    instance values (replaced; a deleted or new attribute goes to the helper), an old value
    whose destructor runs Python code, a materialized __dict__, a changed class, a type given
    __setattr__ after the fact, and attribute errors."""
    out = []
    log = []
    for i in range(n):
        v = _V3(1, 2, 3)
        v.x = i
        del v.y
        v.y = i * 2
        out.append((v.x, v.y, v.z))
        p = _P3(1, 2, 3)
        p.x = _Loud(log)
        p.x = i
        del p.y
        p.y = "again"
        p.w = "new"
        out.append(sorted(vars(p).items()))
        q = _P3(0, 0, 0)
        q.__dict__["extra"] = 1
        q.x = 5
        out.append(q.x)
        q.__class__ = _Q3
        try:
            q.y = 7
        except AttributeError as e:
            out.append(str(e))
    out.append(log)

    class Late:
        def __init__(self):
            self.k = 0

    objs = [Late() for _ in range(3)]
    for j, o in enumerate(objs):
        if j == 1:
            Late.__setattr__ = lambda self, name, value: object.__setattr__(self, name, value * 10)
        o.k = j
        out.append(o.k)
    try:
        v = _V3(1, 2, 3)
        v.nope = 1
    except AttributeError as e:
        out.append(str(e))
    return out


CASES += [(store_attr_inline, (3,))]


class _F(float):
    def __add__(self, o):
        return "sub-add"


def float_single_ops(n):
    """One `+ - * /` of two values (inline for two exact floats): signed zeros, infinities,
    NaN, zero and NaN divisors, float subclasses, mixed int/float, results that box."""
    vals = [0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), float("nan"), 1e308, 5e-324, _F(2.0), 3, True]
    out = []
    for a in vals:
        for b in vals:
            row = []
            for k in range(4):
                try:
                    if k == 0:
                        r = a + b
                    elif k == 1:
                        r = a - b
                    elif k == 2:
                        r = a * b
                    else:
                        r = a / b
                    row.append(repr(r))
                except ZeroDivisionError as e:
                    row.append(str(e))
            out.append(row)
    x = 0.5
    for _ in range(n):
        x = x * 1.5
        x += 0.25
    out.append(x)
    return out


CASES += [(float_single_ops, (4,))]


def compare_with_float_constant(n):
    """`x < 0.0`-style branches (fused when x is an exact float): ints, bools, NaN, signed
    zeros, infinities and non-numbers on the other side take the ordinary comparison."""
    out = []
    for x in (-1.5, 0.0, -0.0, 2.5, float("nan"), float("inf"), -3, 0, True, "s", None, n):
        row = []
        for k in range(6):
            try:
                if k == 0:
                    row.append(1 if x < 0.0 else 0)
                elif k == 1:
                    row.append(1 if x <= 0.0 else 0)
                elif k == 2:
                    row.append(1 if x == 0.0 else 0)
                elif k == 3:
                    row.append(1 if x != 0.0 else 0)
                elif k == 4:
                    row.append(1 if 1e-6 > x else 0)
                else:
                    row.append(1 if x >= -0.0 else 0)
            except TypeError as e:
                row.append(str(e))
        out.append(row)
    return out


CASES += [(compare_with_float_constant, (2,))]


def list_append_opcode(n):
    """LIST_APPEND (comprehensions) inline while the list has room, and across its resizes;
    nested comprehensions and ones with conditions."""
    a = [i * i for i in range(n * 50)]
    b = [[j for j in range(i)] for i in range(n)]
    c = [x for x in a if x % 3 == 1]
    d = [y for row in b for y in row if y]
    return len(a), a[-3:], b, len(c), c[:5], d


CASES += [(list_append_opcode, (4,)), (list_append_opcode, (0,))]


def len_of_sets(n):
    """len() of sets and frozensets (inline from `used`), after adds and removals, and of
    their subclasses (the ordinary call)."""
    class S(set):
        def __len__(self):
            return -5 + 10

    s = set()
    out = []
    for i in range(n):
        s.add(i % 3)
        out.append(len(s))
    s.discard(0)
    out.append(len(s))
    out.append(len(frozenset(range(n))))
    out.append(len(S([1, 2])))
    out.append(len(frozenset()))
    return out


CASES += [(len_of_sets, (5,))]


def unpack_inline(n):
    """UNPACK_SEQUENCE inline for exact tuples and lists of the right length (1 to 8 items),
    and everything else through the interpreter: wrong lengths (its messages), tuple and
    list subclasses, iterators, strings; items that die with the sequence."""
    out = []
    for seq in ((1, 2), [3, 4], ("a", [n]), (n,), [n]):
        try:
            a, b = seq
            out.append((a, b))
        except ValueError as e:
            out.append(str(e))
    for seq in ((1,), [2], (1, 2, 3)):
        try:
            (a,) = seq
            out.append(a)
        except ValueError as e:
            out.append(str(e))
    a, b, c, d, e_, f, g, h = range(8) if n < 0 else (1, 2, 3, 4, 5, 6, 7, 8)
    out.append((a, h))
    a, b, c, d, e_, f, g, h, i = [9, 8, 7, 6, 5, 4, 3, 2, 1]
    out.append((a, i))

    class T(tuple):
        pass

    x, y = T((5, 6))
    out.append((x, y))
    x, y = iter([7, 8])
    out.append((x, y))
    x, y = "ab"
    out.append((x, y))
    pairs = [(k, [k] * k) for k in range(n)]
    for k, v in pairs:
        out.append((k, len(v)))
    for k, v in [(str(j), (j,)) for j in range(n)]:  # items owned only by the dying tuple
        out.append((k, v))
    return out


CASES += [(unpack_inline, (3,))]


def is_op_inline(n):
    """`is` / `is not` (inline) with values whose last reference dies in the comparison (a
    destructor runs while the result is already on the stack), and as branch conditions."""
    log = []
    out = []
    for x in (None, 0, n, "s", [], _Loud(log)):
        out.append((x is None, x is not None, _Loud(log) is x, None is not _Loud(log)))
        if x is None:
            out.append("none")
        elif x is not n:
            out.append("other")
    out.append(len(log))
    return out


CASES += [(is_op_inline, (3,))]


def str_equality_branches(n):
    """`==` / `!=` branches on strings: the same object, two interned strings (decided by
    identity), equal strings that are not interned (built at run time), str subclasses, and
    str against other types."""
    import sys as _sys

    built = "".join(["o", "p"])
    words = ["op", built, _sys.intern("".join(["o", "p"])), "num", _Str("op"), "", "é" * n, 1, None]
    out = []
    for a in words:
        row = []
        for b in words:
            row.append((1 if a == b else 0, 1 if a != b else 0))
        out.append(row)
    return out


CASES += [(str_equality_branches, (2,))]


class _I(int):
    def __add__(self, other):
        return -5  # not int's sum: shows which method ran

    def __lt__(self, other):
        return True


def fused_int_exprs(a, b):
    """Runs of int arithmetic that psyco computes in registers (ops/fuse_int.rs), every guard
    made to fail at least once: two-digit and big ints, bools, int subclasses, floats, zero and
    -1 divisors, negative and huge shift counts, 64-bit overflow of + - *."""
    out = []
    values = (a, b, -a, -b, 0, 1, -1, 7, -7, 2**30 - 1, -(2**30), 2**30, True, _I(3), 2.5, 2**62, -(2**63), "s")
    for x in values:
        for y in (a % 200, b % 100, -3, 0, -1, 1, 63, 64, 1000, False, _I(2), 1.5):
            row = []
            for f in (lambda: x + y, lambda: x - y, lambda: x * y, lambda: x // y, lambda: x % y,
                      lambda: x & y, lambda: x | y, lambda: x ^ y, lambda: x << y, lambda: x >> y,
                      lambda: (x * 3 + y) % 1000003 - (x - y) * (y + 1),
                      lambda: x * x * x * x * x * x * x, lambda: ((x >> 1) << 2) ^ (y & 255) | 3):
                try:
                    row.append(f())
                except Exception as e:  # noqa: BLE001
                    row.append(type(e).__name__)
            # The same operations inline on locals (x and y are cells: the lambdas use them).
            p, q = x, y
            try:
                row.append((p + q, p - q, p * q, p & q, p | q, p ^ q, (p * 3 + q) % 1000003 - (p - q) * (q + 1)))
                row.append(p * p * p * p * p * p * p - q * q * q)
            except TypeError:
                row.append("TypeError")
            try:
                row.append((p // q, p % q, (p + 1) // q - p % q))
            except (TypeError, ZeroDivisionError) as e:
                row.append(type(e).__name__)
            try:
                row.append((p << q, p >> q, ((p >> 1) << 2) ^ (q & 255) | 3))
            except (TypeError, ValueError) as e:
                row.append(type(e).__name__)
            try:
                if p < q:
                    row.append("<")
                if p * 2 >= q - 1:
                    row.append(">=")
                if p % 7 != q:
                    row.append("!=")
            except TypeError:
                row.append("TypeError")
            for f in (lambda: x < y, lambda: x <= y, lambda: x == y, lambda: x != y, lambda: x > y,
                      lambda: x >= y, lambda: x + 1 < y * 2, lambda: x % 7 == y % 7):
                try:
                    row.append(1 if f() else 0)
                except Exception as e:  # noqa: BLE001
                    row.append(type(e).__name__)
            out.append(row)
    return out


def fused_int_branches(n):
    """Compare-and-branch runs on ints in loops (forward and backward jumps), list items by
    constant and local index (negative, out of range, non-int items), unbound locals."""
    out = []
    items = [5, -3, 2**40, True, 1.5, None, 0, 7]
    i = 0
    while i < n:
        if items[i % 8] == 0:
            out.append("zero")
        try:
            out.append(items[i % 8] * 2 + items[0] - items[-1])
        except TypeError:
            out.append("type")
        j = i - 3
        try:
            out.append(items[j] + 1)
        except (IndexError, TypeError) as e:
            out.append(type(e).__name__)
        i += 1
    k = 0
    while k * k < n * 10:
        k += 1
    out.append(k)
    if n > 100:
        late = 1
    try:
        out.append(late + 1 < 3)
    except UnboundLocalError:
        out.append("unbound")
    return out


CASES += [
    (fused_int_exprs, (3, 5)),
    (fused_int_exprs, (2**29 + 7, -(2**29))),
    (fused_int_branches, (20,)),
    (fused_int_branches, (200,)),
]


def _direct_callee(a, b):
    return a * 10 + b


def _direct_raises(a):
    if a > 2:
        raise KeyError(a)
    return a


def _direct_defaults(a, b=4):
    return a - b


def _direct_frame(a):
    import sys as _sys

    return _sys._getframe(1).f_code.co_name, _sys._getframe().f_back.f_lineno > 0, a


def direct_python_calls(n):
    """Calls from compiled code into compiled Python functions (psyco_call_py): exact
    argument counts, methods, defaults and wrong counts (the general path), exceptions raised
    in the callee, frames seen from the callee, recursion, rebinding the callee."""
    global _direct_callee
    out = []

    class K:
        def m(self, x):
            return x + 1

    k = K()
    for i in range(n):
        out.append(_direct_callee(i, 2))
        out.append(k.m(i))
        out.append(_direct_defaults(i))
        out.append(_direct_defaults(i, 1))
        out.append(_direct_frame(i)[0])
        try:
            out.append(_direct_raises(i))
        except KeyError as e:
            out.append(("KeyError", e.args))
        try:
            out.append(_direct_callee(i))
        except TypeError as e:
            out.append(str(e))
    saved = _direct_callee
    _direct_callee = lambda a, b: (a, b)  # noqa: E731
    try:
        out.append(_direct_callee(1, 2))
    finally:
        _direct_callee = saved
    return out


def _direct_deep(n):
    if n == 0:
        return 0
    return 1 + _direct_deep(n - 1)


def direct_call_recursion(n):
    """Deep direct recursion: a RecursionError at the limit, and the depth stable after."""
    import sys as _sys

    out = [_direct_deep(n)]
    try:
        _direct_deep(_sys.getrecursionlimit() + 50)
    except RecursionError:
        out.append("recursion")
    out.append(_direct_deep(n))
    return out


CASES += [(direct_python_calls, (6,)), (direct_call_recursion, (300,))]


def in_place_stores(n):
    """Counters and accumulators whose int or float psyco overwrites in place (refcount 1):
    aliases must keep the old value, small ints stay the cached objects, values that grow a
    second digit or change sign, range loop variables kept in a list, floats shared elsewhere."""
    out = []
    i = 300
    alias = i
    i += 1
    out.append((alias, i))
    kept = []
    for j in range(1000, 1000 + n):
        kept.append(j)
    for k in range(1000, 1000 + n):
        pass
    out.append((kept, k, [m for m in range(-n, n)]))
    s = 250
    steps = []
    cached = 256
    for _ in range(10):
        s = s + 1
        steps.append(s is cached or s)  # the small-int cache is CPython's behaviour
    out.append(steps)
    t = -300
    t -= 1
    t = t * -1 + 5
    big = 2**30 - 2
    big += 1
    big += 1
    big -= 1
    out.append((t, big, -big))
    x = 0.5
    y = x
    x = x * 2.0 + 1.0
    acc = 0.25
    history = []
    for q in range(n):
        acc = acc * 1.5 + q
        history.append(acc) if q % 3 == 0 else None
    out.append((x, y, acc, history))
    return out


CASES += [(in_place_stores, (12,))]


def fused_len_and_index(seqs):
    """`len(x) - k` and `x[i + 1]` inside fused int runs: lists, tuples (len only), strings and
    dicts (the ordinary call), index expressions out of range or negative, and `len` shadowed
    by a global for a while (the LOAD_GLOBAL memo must notice)."""
    global len
    out = []
    for p in seqs:
        try:
            i = len(p) - 2
            while i >= 0 and p[i] >= p[i + 1]:
                i -= 1
            out.append((i, len(p) * 2 + 1, p[len(p) - 1] - p[0] if len(p) else None))
            if len(p) - 1 > 2:
                out.append(p[i + 2 - 1] if i >= 0 else "neg")
        except Exception as e:  # noqa: BLE001
            out.append(type(e).__name__)
    len = lambda x: 7  # noqa: E731
    try:
        out.append(len(seqs) - 2)
    finally:
        del len
    out.append(len(seqs) - 2)
    return out


CASES += [(fused_len_and_index, ([[3, 1, 2], (5, 4, 3, 9), [1, 2, 3, 4], [], [2**40, 1], "abc", {1: 2}, [1.5, 0.5],
                                  [True, False], [9, 8, 7, 6, 5]],))]


def two_digit_ints(seed, n):
    """Fused int runs on two-digit ints (2**30 <= |v| < 2**60) and their in-place stores: an
    LCG state, values crossing 2**30 and 2**60 both ways, negative ones, products that overflow
    64 bits, a two-digit int shared with a list (must not change), one-digit objects receiving
    two-digit values (they have no room: a new object)."""
    out = []
    state = seed
    kept = []
    for q in range(n):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        k = (state >> 5) % 3 + state % 1000003 - (state >> 20)
        if q % 4 == 0:
            kept.append(state)
        out.append((state, k))
    x = 2**30 - 3
    for _ in range(6):
        x = x + 1
    y = -(2**30) - 2
    for _ in range(5):
        y = y + 1
    z = 2**60 - 2
    for _ in range(3):
        z = z + 1
    w = 2**59
    w = w * 2
    v = 3 * 2**40
    v = v * v - v
    small = 7
    small = small + 2**35
    neg = -(2**45) + 1
    neg = neg - 2**45
    out.append((x, y, z, w, v, small, neg, kept))
    return out


CASES += [(two_digit_ints, (4242, 40)), (two_digit_ints, (2**31 - 1, 9))]


def int_ops_not_fused(pairs):
    """BINARY_OP's own inline int path (operands that are not leaves of a fused run: tuple
    items) on one- and two-digit ints, with `*` and `<<` overflowing 64 bits, `// %` by -1,
    0 and negatives, and three-digit operands (the helper)."""
    out = []
    for t in pairs:
        row = []
        row.append((t[0] + t[1], t[0] - t[1], t[0] & t[1], t[0] | t[1], t[0] ^ t[1]))
        row.append(t[0] * t[1])
        try:
            row.append((t[0] // t[1], t[0] % t[1]))
        except ZeroDivisionError as e:
            row.append(str(e))
        try:
            row.append((t[0] << (t[1] & 63), t[0] >> (t[1] & 127)))
        except ValueError as e:
            row.append(str(e))
        try:
            row.append((t[0] << t[1], t[0] >> t[1]))
        except (ValueError, OverflowError, MemoryError) as e:
            row.append(type(e).__name__)
        out.append(row)
    return out


_BIG_PAIRS = [(3, 5), (2**30, 7), (-(2**30), -1), (2**59 + 3, 2**59 - 1), (2**60 - 1, -(2**60 - 1)),
              (-(2**59), 3), (2**45, 2**20), (2**31, 33), (-(2**31) - 5, 29), (2**60, 2), (7, 0),
              (-(2**40) - 1, -(2**13)), (2**62, 3), (12345678901, 62), (1, 61), (-1, 62)]
CASES += [(int_ops_not_fused, (_BIG_PAIRS,))]


def fused_true_division(n):
    """True division at the end of a fused int run: float constant / int expression, int / int,
    int / float constant, zero divisors, -0.0, values past 2**53 (the ordinary code), float and
    bool leaves, and the result stored in place into a local's unshared float."""
    out = []
    acc = 0.0
    for i in range(-3, n):
        for j in (0, 1, 3, -7, 2**53 + 1, 2**40):
            row = []
            try:
                row.append(1.0 / ((i * (i + 1) >> 1) + j + 1))
            except ZeroDivisionError as e:
                row.append(str(e))
            try:
                row.append(i / j)
            except ZeroDivisionError as e:
                row.append(str(e))
            try:
                row.append((i * j + 1) / 2.0)
                row.append(0 / (j - 2))
            except ZeroDivisionError as e:
                row.append(str(e))
            try:
                acc = i / (j + 5)
            except ZeroDivisionError:
                acc = -1.0
            row.append(acc)
            out.append(row)
    for a, b in ((1.5, 2), (True, 3), (7, 2.5), (2**60, 3), (-(2**53), 1)):
        try:
            out.append((a / b, (a + 1) / (b - 2)))
        except ZeroDivisionError as e:
            out.append(str(e))
    return out


CASES += [(fused_true_division, (6,))]


class _Counter:
    def __init__(self, start):
        self.count = start
        self.step = 3


class _SlotCounter:
    __slots__ = ("count", "step")

    def __init__(self, start):
        self.count = start
        self.step = 3


class _LoudSet(_Counter):
    def __setattr__(self, name, value):
        object.__setattr__(self, name, value if name != "count" else value * 10)


class _PropCounter:
    def __init__(self):
        self._c = 5

    @property
    def count(self):
        return self._c

    @count.setter
    def count(self, v):
        self._c = v + 1000

    step = 2


def int_attribute_updates(n):
    """`obj.count += k` fused (ops/fuse_int.rs): instance values, slots, a value held elsewhere
    (must not change), growing past one and two digits, floats and bools, __setattr__, a
    property, an unset slot, an instance whose dict was materialized; attribute leaves in int
    runs and comparisons."""
    out = []
    objs = [_Counter(0), _SlotCounter(250), _LoudSet(1), _PropCounter(), _Counter(2**30 - 5),
            _Counter(2**60 - 2), _Counter(1.5), _Counter(True)]
    d = _Counter(7)
    d.__dict__["extra"] = 1  # a materialized dict
    objs.append(d)
    empty = _SlotCounter.__new__(_SlotCounter)
    objs.append(empty)
    for o in objs:
        row = []
        held = None
        for i in range(n):
            try:
                o.count += 1
                o.count -= i * 2
                o.count += o.step * 3
                if i == 2:
                    held = o.count
                row.append(o.count * 2 + o.step)
                if o.count > o.step + 10:
                    row.append("big")
            except AttributeError as e:
                row.append(("AttributeError", str(e)))
                break
        row.append((held, getattr(o, "count", None)))
        out.append(row)
    return out


CASES += [(int_attribute_updates, (6,))]


# --- Loop kernels (ops/kernel.rs): innermost `for ... in range()` loops of pure arithmetic,
# run as one machine loop with the types checked once at the entry. Every way out is here:
# range exhausted, a block the kernel leaves for (return, break, continue, a call), a guard
# failing mid-statement (item of another type, index out of range or negative, overflow, zero
# divisor, sqrt of a negative), entry checks failing (other types than inferred, so often that
# the kernel disables itself), and the loop variable's value after each of them.

import math as _math


def _kdot(a, b, n):
    s = 0.0
    for k in range(n):
        s += a[k] * b[k]
    return s, k


def _kescape(cx, cy, limit):
    x = 0.0
    y = 0.0
    for k in range(limit):
        xx = x * x
        yy = y * y
        if xx + yy > 4.0:
            return k, x, y
        y = 2.0 * x * y + cy
        x = xx - yy + cx
    return limit, x, y


def _kaxpy(alpha, xs, ys, lo, hi, step):
    for i in range(lo, hi, step):
        ys[i] += alpha * xs[i]
    return ys


def _kpairs(bodies, dt):
    n = len(bodies)
    for i in range(n):
        bi = bodies[i]
        xi = bi[0]
        yi = bi[1]
        mi = bi[2]
        for j in range(i + 1, n):
            bj = bodies[j]
            dx = xi - bj[0]
            dy = yi - bj[1]
            d2 = dx * dx + dy * dy
            mag = dt / (d2 * _math.sqrt(d2))
            bi[3] -= dx * bj[2] * mag
            bj[3] += dx * mi * mag
            bi[4] -= dy * bj[2] * mag
            bj[4] += dy * mi * mag
    return bodies


def _kints(n, h):
    acc = 0
    for i in range(n):
        h = (h * 31 + i) & 0xFFFFF
        acc += h % 7 - (i >> 2) + h // 3
    return acc, h, i


def _kgrow(n):
    acc = 1
    for i in range(n):
        acc = acc * 3 + i
    return acc


def _kmixed(n, scale):
    t = 0.0
    for i in range(n):
        t += i * scale + 1 / (i + 1)
    return t


def _kexits(n, limit):
    total = 0
    out = []
    for i in range(n):
        total = total + i * 2
        if total > limit:
            out.append(i)
            if len(out) > 3:
                break
            continue
        total = total - 1
    return total, out, i


def loop_kernels(n):
    out = []
    a = [1.5 * i for i in range(40)]
    b = [0.5 - i for i in range(40)]
    out.append(_kdot(a, b, 40))
    out.append(_kdot([1, 2, 3], [4, 5, 6], 3))  # ints: the entry's inference says floats
    out.append(_kdot(a, [1.0, 2, 3.5], 3))  # an int item mid-loop
    out.append(_kdot([1.0, None, 2.0], [1.0, 1.0, 1.0], 1))
    for bad in ([1.0, None, 2.0], [1.0, "x", 2.0]):
        try:
            _kdot(bad, [1.0, 1.0, 1.0], 3)
        except TypeError as e:
            out.append(str(e))
    try:
        _kdot(a, b, 50)
    except IndexError as e:
        out.append(str(e))
    try:
        _kdot(a, b, 0)
    except UnboundLocalError as e:
        out.append(type(e).__name__)
    out.append([_kescape(cx / 8, cy / 8, 30) for cx in range(-18, 5, 3) for cy in range(-9, 10, 3)])
    out.append((_kescape(0, 0, 20), _kescape(1, 1, 20), _kescape(0.25, 0.0, 200)))
    ys = [0.5, 0.25, 0.125, 1.0, 2.0]
    out.append(_kaxpy(2.0, [1.0, 2.0, 3.0, 4.0, 5.0], list(ys), 0, 5, 1))
    out.append(_kaxpy(2.0, [1.0, 2.0, 3.0, 4.0, 5.0], list(ys), 4, -1, -2))
    out.append(_kaxpy(2, [1, 2, 3, 4, 5], [0.5, 1, 2.0, 3, 4], 0, 5, 1))
    shared = [1.5, 2.5]
    keep = shared[0]
    out.append((_kaxpy(1.0, [1.0, 1.0], shared, 0, 2, 1), keep))
    try:
        _kaxpy(1.0, [1.0] * 3, [1.0] * 3, -1, 3, 1)
        out.append("negative index handled")
        _kaxpy(1.0, [1.0] * 3, [1.0] * 3, 0, 4, 1)
    except IndexError as e:
        out.append(str(e))
    bodies = [[float(i), float(i * i % 7), 1.0 + i, 0.0, 0.0] for i in range(5)]
    for _ in range(n):
        _kpairs(bodies, 0.01)
    out.append(bodies)
    try:
        _kpairs([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]], 0.1)
    except ZeroDivisionError as e:
        out.append(str(e))
    out.append([_kints(m, 7) for m in (0 + 1, 10, 3000)])
    out.append(_kints(50, 2**62))  # a two-digit-plus int: the ordinary code
    out.append((_kgrow(10), _kgrow(60)))  # past 64 bits
    out.append((_kmixed(300, 0.5), _kmixed(300, 2), _kmixed(20, True)))
    try:
        _kmixed(3, None)
    except TypeError as e:
        out.append(str(e))
    out.append([_kexits(m, 30) for m in (0 + 1, 5, 40)])
    for _ in range(80):  # entries keep failing: the kernel turns itself off
        _kdot([1, 2], [3, 4], 2)
    out.append(_kdot([1.0, 2.0], [3.0, 4.0], 2))
    big = 2**40
    out.append(_kaxpy(0.5, [1.0] * 3, [0.0] * 3, 0, 3, 1))
    t = 0.0
    for j in range(big, big + 3):
        t += j * 0.5
    out.append((t, j))
    return out


def _kgen(n):
    s = 0.0
    for k in range(n):
        s += k * 0.5
    yield s
    for k in range(n, 2 * n):
        s -= k * 0.25
    yield s, k


def loop_kernel_generator(n):
    return list(_kgen(n))


CASES += [(loop_kernels, (6,)), (loop_kernel_generator, (9,))]


def _kdisable(rounds):
    # Called with int lists where the kernel expects floats: after enough failed entries the
    # kernel is no longer tried; float lists then still give the right result.
    out = []
    for r in range(rounds):
        a = [1, 2] if r < rounds - 1 else [1.0, 2.0]
        s = 0.0
        for k in range(2):
            s += a[k] * a[k]
        out.append(s)
    return out


def _kentry(i, j):
    s = i + j
    return 1.0 / ((s * (s + 1) >> 1) + i + 1)


def _kscale(x, k):
    return x * k - 1


def _kdead(p, q):
    t = (p >> 40) & (q << 3)  # never used, but raises for a float p or q
    return 1e300


def _kunused(p, q):
    return q * 2  # p unused, but the caller evaluates it (xs[i + 1] may be out of range)


def _knotinlined(xs, n):
    # Neither function may be inlined as it stands: the dead store and the unused argument
    # would hide a TypeError and an IndexError.
    s = 0.0
    t = 0
    for i in range(n):
        s = _kdead(xs[i], t)
        t += _kunused(xs[i + 1], i)
    return s, t


def _krow(v, i, n):
    # `_kentry(i, j)` is inlined into the kernel (a pure global function, its code checked at
    # the entry); a zero divisor inside it re-runs the call for real, traceback and all.
    acc = 0.0
    for j in range(n):
        acc += _kentry(i, j) * v[j]
    return acc


def _kcalls(xs, k):
    t = 0
    for i in range(len(xs)):
        t += _kscale(xs[i], k)
    return t


def _kswap(n):
    # The inlined function's global is rebound while the loop runs (in a block the kernel
    # leaves for): the entry check sees it and the ordinary code calls the new one.
    global _kscale
    out = []
    old = _kscale
    try:
        t = 0
        for i in range(n):
            t += _kscale(i, 3)
            if i == 2:
                _kscale = lambda x, k: -x
        out.append(t)
        _kscale = old
        _kscale.__code__ = (lambda x, k: x + k).__code__
        t = 0
        for i in range(n):
            t += _kscale(i, 3)
        out.append(t)
    finally:
        old.__code__ = _KSCALE_CODE
        _kscale = old
    return out


_KSCALE_CODE = _kscale.__code__


def _kmark(flags, lo, hi, step):
    # `flags[j] = False`: a constant stored over items of any kind (a last reference to a str
    # or a list would run code when released: the ordinary code does those).
    for j in range(lo, hi, step):
        flags[j] = False
    return flags


def _kstore(xs, ys, n, k):
    # Items stored from int and float values: into the item's own object when nothing else
    # holds it, else a new one.
    for i in range(n):
        ys[i] = xs[i] * k + 1
        xs[i] = i * k
    return xs, ys


def _kcount(flags, n):
    # `if flags[i]:` leaves the kernel for the block; the item's truth is tested here for
    # True/False/None/ints/floats, anything else re-runs the test in the ordinary code.
    count = 0
    last = 0
    for i in range(n):
        if flags[i]:
            count += 1
            last = i
    return count, last


def _knottest(xs, t):
    s = 0.0
    for i in range(len(xs)):
        if not xs[i]:
            continue
        s += t
        if t:
            s -= 1
    return s


def _kident(a, x, xs, n):
    # Assignments bind objects: a constant, a local or an item is stored as that very object.
    w = 2.5
    z = 0.0
    y = 0.0
    for i in range(n):
        a[i] = x
        y = xs[i]
        z = 2.5
        a[i + 1] = xs[i]
    return a[0] is x, a[1] is xs[0], y is xs[n - 1], z is w, a


# (function, argument tuples): each function holds a loop kernel; test_loop_kernels.py runs a
# compiled copy against the interpreter on every argument tuple.
_A = [1.5 * i for i in range(40)]
_B = [0.5 - i for i in range(40)]
KERNEL_CASES = [
    (_kdot, [(_A, _B, 40), ([1, 2, 3], [4, 5, 6], 3), (_A, [1.0, 2, 3.5], 3), ([1.0, None, 2.0], [1.0] * 3, 1),
             ([1.0, None, 2.0], [1.0] * 3, 3), ([1.0, "x"], [1.0] * 2, 2), (_A, _B, 50), (_A, _B, 0),
             ([1.0, 2.0], [3.0, 4.0], 2), ([2.0**1000, 2.0**1000], [2.0**1000, 1.0], 2),
             ([float("nan"), 1.0], [1.0, float("inf")], 2)]),
    (_kescape, [(cx / 8, cy / 8, 30) for cx in range(-18, 5, 3) for cy in range(-9, 10, 3)]
     + [(0, 0, 20), (1, 1, 20), (0.25, 0.0, 200), (0.0, 0.0, 0)]),
    (_kaxpy, [(2.0, [1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.25, 0.125, 1.0, 2.0], 0, 5, 1),
              (2.0, [1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.25, 0.125, 1.0, 2.0], 4, -1, -2),
              (2, [1, 2, 3, 4, 5], [0.5, 1, 2.0, 3, 4], 0, 5, 1), (1.0, [1.0] * 3, [1.0] * 3, -1, 3, 1),
              (1.0, [1.0] * 3, [1.0] * 3, 0, 4, 1), (0.5, [1.0, 2.0], (1.0, 2.0), 0, 2, 1),
              (1.0, [0.0] * 3, [1.0] * 3, 0, 3, 1)]),
    (_kpairs, [([[float(i), float(i * i % 7), 1.0 + i, 0.0, 0.0] for i in range(5)], 0.01),
               ([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]], 0.1),
               ([[0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0, 0.0], (2.0, 0.0, 1.0, 0.0, 0.0)], 0.1),
               ([[0.0, 0.0, 1.0, 0.0, 0.0], [1, 0, 1, 0, 0]], 0.1)]),
    (_kints, [(1, 7), (10, 7), (3000, 7), (50, 2**62), (5, -(2**40)), (0, 3)]),
    (_kgrow, [(10,), (60,), (0,)]),
    (_kmixed, [(300, 0.5), (300, 2), (20, True), (3, None), (5, 2**55)]),
    (_kexits, [(1, 30), (5, 30), (40, 30), (0, 30)]),
    (_kdisable, [(3,), (80,)]),
    (_krow, [([1.0] * 30, 3, 30), ([1.0, 2.0, 3.0], 0, 3), ([1.0] * 3, -1, 3), ([1, 2, 3], 2, 3), ([1.0] * 3, 2**40, 3)]),
    (_kcalls, [([1, 2, 3], 4), ([1.5, 2.5], 2), ([1, 2**62], 3), ([1, "a"], 2), ([], 1)]),
    (_kswap, [(6,)]),
    (_kident, [([0.0] * 5, 1.5, [2.5, 3.5, 4.5], 3), ([0] * 5, 1000, [2000, 3000], 2), ([0.0] * 3, 2.0, [1.0], 1)]),
    (_kmark, [([True] * 20, 4, 20, 2), ([True, 1, 2.5, "s", [1], None, 2**70, 0.5] * 2, 0, 16, 1),
              ([True] * 5, 0, 9, 1), ([True] * 5, -2, 5, 3)]),
    (_kstore, [([1.0, 2.0, 3.0], [0.0] * 3, 3, 2.5), ([1, 2, 3], [0] * 3, 3, 7), ([1, 2**61, 3], [None, "s", [2]], 3, 2),
               ([0.5] * 4, [0.0] * 4, 5, 1.0), ([1, 2], [0, 0], 2, 2**40), ([1000, 2000], [5000, 6000], 2, 3)]),
    (_kcount, [([True, False, True, True] * 5, 20), ([0, 1, 2.0, 0.0, None, float("nan"), -3, "", "x", [], [0]], 11),
               ([True] * 3, 5), ([2**70, 0, -(2**70)], 3)]),
    (_knottest, [([1, 0, 2.5, 0.0, None, True], 3.0), ([1, 2], 0), ([1, "a", ""], 1.5), ([], 2.0)]),
]


def range_loop_headers(args):
    """`for i in range(...)`: CALL + GET_ITER fused into the range iterator when `range` is the
    builtin and the arguments are ints below 2**40 (ops/call.rs); everything else (big ints,
    bools, floats, a zero step, a shadowed `range`) takes the generic call."""
    out = []
    for a in args:
        try:
            if len(a) == 1:
                for i in range(a[0]):
                    out.append(i)
            elif len(a) == 2:
                for i in range(a[0], a[1]):
                    out.append(i)
            else:
                for i in range(a[0], a[1], a[2]):
                    out.append(i)
        except Exception as e:  # noqa: BLE001 - the error is the result
            out.append(repr(e))
        out.append("|")
    return out


_RANGE_ARGS = [(5,), (0,), (-3,), (2, 7), (7, 2), (-5, 5), (0, 10, 3), (10, 0, -3), (10, 0, 3), (0, 10, -1),
               (1, 5, 0), (2**41, 2**41 + 3), (0, 2**45, 2**44), (-(2**39), 2**39, 2**38), (2**39, 2**39 + 2),
               (True,), (1.5,), (None,), (3, "a"), (2**70, 2**70 + 3), (-7, -1, 2), (5, -5, -7), (0, 1, 2**39)]
CASES += [(range_loop_headers, (_RANGE_ARGS,))]


def _klist_sum(xs, k):
    # `for x in a_list`: the item goes into the local at every step (the old value released),
    # an item of another type or a non-list iterable takes the ordinary FOR_ITER.
    s = 0.0
    for x in xs:
        s += x * k
    return s, x


def _klist_rows(rows, dt):
    for r in rows:
        r[0] += dt * r[1]
        r[1] -= dt
    return rows, r


def _klist_count(xs, lo):
    n = 0
    for v in xs:
        if v < lo:
            continue
        n += 1
    return n


KERNEL_CASES += [
    (_klist_sum, [([1.0, 2.5, 3.0], 2.0), ([1, 2, 3], 2), ([1.0, 2, 3.5], 0.5), ([1.0, None], 1.0), ((1.0, 2.0), 3.0),
                  ([], 1.0), ("ab", 2.0), ({1.5: 0}, 2.0), ([1.0] * 5, 2**60)]),
    (_klist_rows, [([[1.0, 2.0], [3.0, 4.0]], 0.5), ([[1.0, 2.0], (3.0, 4.0)], 0.5), ([[1, 2], [3.0, 4.0]], 0.5),
                   ([[1.0, 2.0], [3.0]], 0.5)]),
    (_klist_count, [([1.0, 5.0, 3.0, 9.0], 4.0), ([1, 5, 3, 9], 4), ([1.0, "a"], 0.0), ([float("nan"), 2.0], 1.0)]),
]


class _FVec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class _FDict:
    def __init__(self, x):
        self.x = x


class _FProp:
    def __init__(self):
        self._x = 1.5

    @property
    def x(self):
        return self._x

    @x.setter
    def x(self, v):
        self._x = v * 2


def float_attribute_updates(n):
    """`obj.x op= <float run>` fused (ops/fuse.rs): slots and instance dicts, the old float
    overwritten when nothing else holds it and replaced when something does, ints, None, a
    property, a missing attribute, and single-operation runs on attributes (`p.x - q.x`)."""
    out = []
    a, b, c = _FVec(1.5, 2.5), _FVec(0.5, -1.0), _FDict(3.25)
    for i in range(n):
        a.x -= b.x * 0.5
        a.y += b.y * a.x
        c.x *= 1.0 + i * 0.125
        dx = a.x - b.x
        dy = a.y - b.y
        out.append((a.x, a.y, c.x, dx, dy))
    held = a.x
    a.x += 1.0
    out.append((held, a.x, held is a.x))
    for v in (_FVec(1, 2), _FVec(None, 1.0), _FDict(2**70), _FDict("s")):
        try:
            v.x += 0.5 * 2.0
            out.append(v.x)
        except TypeError as e:
            out.append(str(e))
    p = _FProp()
    p.x += 1.0 * 2.0
    out.append(p.x)
    d = _FDict(1.0)
    del d.x
    try:
        d.x -= 2.0 * 1.5
    except AttributeError as e:
        out.append(str(e))
    return out


CASES += [(float_attribute_updates, (5,))]


_EMPTY = (str(), tuple())


class _SList(list):
    def __getitem__(self, k):
        return ("sub", k)


def slice_subscripts(n):
    """`x[a:b]`, `x[a:b:c]` and `x[a:b] = v`: BUILD_SLICE and the subscript run as one helper
    for exact lists, tuples and strs with None or small int bounds (ops/build.rs); big ints,
    bools, floats, a zero step, subclasses, bytes, ranges and dicts take the ordinary path,
    with its errors. Identity matters: a whole-str or whole-tuple slice is the object itself,
    an empty one the shared empty str/tuple, a list slice always a new list."""
    bounds = [None, 0, 1, -1, 3, -4, n, -n, 2**40, -(2**40), True, 1.5, "a"]
    out = []
    for c in ([0, 1, 2, 3, 4, 5], (0, 1, 2, 3, 4), "héllo!", "", (), [], _SList([1, 2]), b"bytes", range(7), {0: 1}):
        for a in bounds:
            for b in bounds:
                for s in (None, 1, -1, 2, -3, 0):
                    try:
                        out.append(c[a:b:s])
                    except Exception as e:  # noqa: BLE001 - the error is the result
                        out.append(repr(e))
                try:
                    r = c[a:b]
                    out.append((r, r is c, r is _EMPTY[0] or r is _EMPTY[1]))
                except Exception as e:  # noqa: BLE001
                    out.append(repr(e))
    for a in bounds:
        for b in bounds:
            for v in ([9, 8], [], (7,), "xy", iter([1, 2]), 5, None):
                x = list(range(6))
                try:
                    x[a:b] = v
                except Exception as e:  # noqa: BLE001
                    out.append(repr(e))
                out.append(x)
            x = list(range(6))
            try:
                x[a:b:2] = [0] * 3
            except Exception as e:  # noqa: BLE001
                out.append(repr(e))
            out.append(x)
    x = [1, 2, 3]
    x[1:] = x
    out.append(x)
    q = list(range(9))
    for first in (3, 8, 0, 5):
        q[:first + 1] = q[first::-1]
        out.append(q[:])
    return out


CASES += [(slice_subscripts, (4,))]


def _with_defaults(a, b=2, c=[3]):  # noqa: B006 - the shared default is the point
    return (a, b, c, sorted(sys._getframe().f_locals))


def _all_defaults(a=1, b=2):
    return a * 10 + b


class _Defaults:
    def m(self, x, y=5):
        return x + y


def default_argument_calls(n):
    """Positional calls that leave parameters to their defaults go straight into the compiled
    callee (csrc/calls.c `psyco_call_py`, CALL_PY_WITH_DEFAULTS's shape): the defaults are
    the function's current `__defaults__` (changed between calls here), the same objects, and
    too few or too many arguments still raise the interpreter's TypeError."""
    out = []
    o = _Defaults()
    for i in range(n):
        out += [_with_defaults(i), _with_defaults(i, 7), _with_defaults(i, 7, 8), _all_defaults(), _all_defaults(4),
                _all_defaults(4, 5), o.m(1), o.m(1, 2), _with_defaults(i)[2] is _with_defaults.__defaults__[1]]
        for bad in ((), (1, 2, 3, 4)):
            try:
                _with_defaults(*bad) if i % 2 else (_with_defaults() if not bad else _with_defaults(1, 2, 3, 4))
            except TypeError as e:
                out.append(str(e))
    saved = _all_defaults.__defaults__
    try:
        _all_defaults.__defaults__ = (9,)
        out.append(_all_defaults(1))
        try:
            _all_defaults()
        except TypeError as e:
            out.append(str(e))
        _all_defaults.__defaults__ = None
        try:
            _all_defaults(1)
        except TypeError as e:
            out.append(str(e))
    finally:
        _all_defaults.__defaults__ = saved
    return out


CASES += [(default_argument_calls, (4,))]


_NONOPT_GLOBALS = {"__builtins__": __builtins__}
_NONOPT = types.FunctionType(compile("x = 41\ny = x + 1\nresult = y", "<nonopt>", "exec"), _NONOPT_GLOBALS)


def non_optimized_function_calls(n):
    """A function made from module-level code (no CO_OPTIMIZED) runs with its globals as its
    locals; a direct call from compiled code must give it those, not an empty frame (the
    second call onwards used to raise SystemError 'no locals found when storing')."""
    out = []
    for _ in range(n):
        _NONOPT_GLOBALS.pop("result", None)
        out.append((_NONOPT(), _NONOPT_GLOBALS.get("result"), _NONOPT_GLOBALS.get("x")))
    return out


CASES += [(non_optimized_function_calls, (3,))]


class _BadIter:
    def __iter__(self):
        return self

    def __next__(self):
        raise KeyError("boom")


class _OldSeq:
    def __getitem__(self, i):
        if i < 2:
            return i * 10
        raise IndexError(i)


def _gen(n):
    yield from range(n)


def unpack_any_iterable(n):
    """UNPACK_SEQUENCE of anything but an exact tuple/list of the right length runs ceval's
    generic unpacking in the helper (no deopt): sets, strs, dicts, generators, old-style
    sequences, wrong lengths, non-iterables and iterators that raise, with CPython's messages
    and the unpacked items released on failure."""
    out = []
    values = [(1, 2), [3, 4], (1,), (1, 2, 3), [1], "ab", "abc", {5, 6}, {5}, frozenset([7]), _OldSeq(),
              {1: 2, 3: 4}, range(2), b"xy", 2.5, None, 5]
    for _ in range(n):
        for v in values + [iter([1, 2]), _gen(2), _gen(3), _gen(1), _BadIter(), iter([object()])]:
            try:
                a, b = v
                out.append(("two", a, b))
            except (TypeError, ValueError, KeyError) as e:
                out.append((type(e).__name__, str(e)))
        for v in values + [_gen(1), iter("z")]:
            try:
                (only,) = v
                out.append(("one", only))
            except (TypeError, ValueError) as e:
                out.append((type(e).__name__, str(e)))
    (x, y, z), w = _gen(3), 4
    out.append((x, y, z, w))
    return out


CASES += [(unpack_any_iterable, (2,))]


def _khome_exits(n, stop, x0):
    # Float locals assigned in the kernel live in home slots and reach the frame at the exits:
    # an `if` block (early, before some locals are assigned, and late), the end of the range,
    # and the value read after the loop. `keep` shares x's float before the loop: its object
    # must be left alone (the first assignment in the kernel makes x a new float).
    x = x0
    keep = x
    acc = 0.0
    y = 0.5
    for i in range(n):
        acc = acc + x * 0.5
        if i == stop:
            return ("early", i, x, acc, y, keep, keep is x)
        x = x * 1.5 - acc
        y = y + x
        if acc > 1e12:
            return ("big", i, x, acc, y)
    return ("end", x, acc, y, keep, keep is x)


def _khome_list(xs, k):
    # A list kernel with home locals: the list's end and a non-float item leave it.
    s = 0.0
    m = 0.0
    for v in xs:
        s = s + v * k
        m = m * 0.5 + s
    return s, m


def _khome_reassigned(n):
    # `t` is assigned a computed value and then a constant: the constant binds the object, so
    # t keeps its box; u is computed only and lives in a home slot.
    t = 0.0
    u = 1.0
    for i in range(n):
        t = u * 2.0
        u = t + 0.25
        t = 3.5
    return t, u, id(t) == id(3.5)


KERNEL_CASES += [
    (_khome_exits, [(0, 0, 1.0), (1, 0, 1.0), (5, 0, 2.0), (5, 2, 2.0), (6, 10, 0.25), (40, 100, 3.0),
                    (5, 3, 7), (3, 1, -0.0), (4, 2, float("nan"))]),
    (_khome_list, [([1.0, 2.0, 3.0], 0.5), ([], 1.0), ([1.0, 2.0, "x", 4.0], 2.0), ([1.0] * 50, 1.25), ([2, 3], 0.5)]),
    (_khome_reassigned, [(0,), (1,), (7,)]),
]


class _Truthy:
    def __init__(self, v):
        self.v = v

    def __bool__(self):
        if self.v == "raise":
            raise ValueError("no truth here")
        return self.v


def unary_not_values(n):
    """`not x` as a value (UNARY_NOT): True, False and None inline (ops/arith.rs), the rest
    through PyObject_IsTrue — ints, strs, containers, a __bool__ that answers, one returning a
    non-bool (TypeError) and one that raises."""
    out = []
    values = [True, False, None, 0, 1, -n, "", "x", [], [0], (), {}, 0.0, 2.5, _Truthy(True),
              _Truthy(False), _Truthy(0), _Truthy("raise")]
    for v in values:
        try:
            r = not v
            out.append((r, type(r).__name__))
        except Exception as e:  # noqa: BLE001 - the error is the result
            out.append(repr(e))
    flags = [i % 3 == 0 for i in range(n)] + [None] * 2
    count = 0
    for f in flags:
        nf = not f
        count += nf
        out.append(not nf)
    out.append(count)
    return out


CASES += [(unary_not_values, (7,))]


def _ord_hash(s, k):
    h = 0
    for ch in s:
        h = (h * k + ord(ch)) & 0xFFFFFFFF
    return h


def ord_in_int_expressions(n):
    """`ord(ch)` inside a fused int expression (ops/fuse_int.rs): one ASCII character reads its
    byte; anything else — non-ASCII and astral characters, longer or empty strings, a str
    subclass, bytes, non-strings, a global or builtin `ord` replaced — takes the ordinary call
    with its result or error."""
    import builtins
    global ord
    out = [_ord_hash("hello, world" * n, 131), _ord_hash("héllo wörld €𝄞", 31), _ord_hash("", 7),
           _ord_hash("abc", 2**40)]
    for s in (["ab"], [""], [_StrSub("q")], [b"a"], [5], [None], ["a", "bc"]):
        try:
            out.append(_ord_hash(s, 131))
        except Exception as e:  # noqa: BLE001
            out.append(repr(e))
    ord = lambda c: 1000        # shadow the builtin with a global
    try:
        out.append(_ord_hash("abc", 3))
    finally:
        del ord
    out.append(_ord_hash("abc", 3))
    old = builtins.ord
    builtins.ord = lambda c: -1  # change the builtin itself
    try:
        out.append(_ord_hash("abc", 3))
    finally:
        builtins.ord = old
    out.append(_ord_hash("abc", 3))
    return out


class _StrSub(str):
    pass


CASES += [(ord_in_int_expressions, (3,))]


def str_index_subscripts(n):
    """`s[i]` of a str (BINARY_SUBSCR): an exact ASCII str and a small exact int index,
    negative ones counting from the end, give CPython's own one-character str inline
    (ops/arith.rs); non-ASCII and astral strs, subclasses, bools, big ints, floats, slices'
    neighbours and out-of-range indexes take the ordinary path with its errors."""
    out = []
    texts = ["hello, world", "", "x", "héllo", "a€b", "𝄞z", _StrSub("sub"), "\\x00\\x7f" * n]
    for s in texts:
        for i in (0, 1, 2, -1, -2, n, -n, 100, -100, True, False, 2**40, -(2**62), 1.0, None):
            try:
                c = s[i]
                out.append((c, type(c).__name__, c is chr(ord(c))))
            except Exception as e:  # noqa: BLE001 - the error is the result
                out.append(repr(e))
    src = "let x1 = 42 + y_2;" * n
    tokens = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch.isdigit():
            j = i
            while j < len(src) and src[j].isdigit():
                j += 1
            tokens.append(int(src[i:j]))
            i = j
        else:
            tokens.append(ch)
            i += 1
    out.append(tokens)
    return out


CASES += [(str_index_subscripts, (3,))]


def str_char_contains(n):
    """`ch in text` / `ch not in text` (CONTAINS_OP): one ASCII character in a short exact
    ASCII str is scanned inline (ops/compare.rs); longer needles, empty ones, non-ASCII strs,
    long haystacks, subclasses, and non-strs (TypeError) take the ordinary path."""
    out = []
    hay = [" \t\n", "", "+-*%(),;=", "abc" * 30, "héllo", _StrSub("xyz"), "a" * 64 + "z", "a" * 63 + "z"]
    needles = ["a", " ", "z", "é", "", "ab", "\n", _StrSub("x"), 5, None, "\x00"]
    for h in hay:
        for c in needles:
            try:
                out.append((c in h, c not in h))
            except Exception as e:  # noqa: BLE001 - the error is the result
                out.append(repr(e))
    for c in ("a", 1):
        for container in ([1, "a"], ("b",), {"a": 1}, {1}, b"abc"):
            try:
                out.append((c in container, c not in container))
            except Exception as e:  # noqa: BLE001
                out.append(repr(e))
    count = 0
    for ch in "let x = (a + b) * c;\n" * n:
        if ch in " \t\n":
            count += 1
        elif ch not in "+-*%(),;=":
            count += 10
    out.append(count)
    return out


CASES += [(str_char_contains, (3,))]


class _HashLikeOne:
    """Hashes like the int 1; comparing with it raises (or answers, once tamed)."""
    tame = False

    def __hash__(self):
        return 1

    def __eq__(self, other):
        if not _HashLikeOne.tame:
            raise RuntimeError("no comparing")
        return other == 1


class _DictSub(dict):
    def __contains__(self, k):
        return k == "always"


class _SetSub(set):
    def __contains__(self, k):
        return k == "always"


def set_membership(n):
    """`k in s` / `k not in s` (CONTAINS_OP): any key in an exact dict is one PyDict_Contains
    call, an exact int or str key in an exact set or frozenset one PySet_Contains call, inline
    (ops/compare.rs), including a stored object whose __eq__ raises for an equal hash and
    unhashable keys; bools, floats, tuples, a set key (tried as a frozenset), subclasses and
    other containers take the ordinary path with its errors."""
    out = []
    containers = [set(range(n)), frozenset(["a", "b", 3]), set(), frozenset(), {frozenset([1])},
                  _SetSub([1]), {1.0, "x"}, {(1, 2)}, {_HashLikeOne()}, {1: 2}, [1, "a"],
                  {"a": 1, (1, 2): 3, None: 4}, {}, _DictSub(a=1), dict.fromkeys(range(n))]
    keys = [0, 1, n, -1, 2**70, "a", "zz", "always", True, 1.0, (1, 2), [1], {1}, frozenset([1]), None,
            _HashLikeOne()]
    for c in containers:
        for k in keys:
            try:
                out.append((k in c, k not in c))
            except Exception as e:  # noqa: BLE001 - the error is the result
                out.append(repr(e))
    _HashLikeOne.tame = True
    try:
        out.append((1 in {_HashLikeOne()}, 2 in {_HashLikeOne()}))
    finally:
        _HashLikeOne.tame = False
    seen = set()
    hits = 0
    for i in range(5 * n):
        k = i * 7 % 11
        if k in seen:
            hits += 1
        else:
            seen.add(k)
    out.append((hits, sorted(seen)))
    return out


CASES += [(set_membership, (4,))]


class _PolyA:
    def __init__(self, k):
        self.x = k
        self.y = -k

    def get(self):
        return "A"


class _PolyB:
    def __init__(self, k):
        self.y = k * 10   # another order: x is the second value here
        self.x = k + 100

    def get(self):
        return "B"


class _PolyC:
    __slots__ = ("x", "y")

    def __init__(self, k):
        self.y = 0
        self.x = k * 3

    def get(self):
        return "C"


class _PolyD(_PolyA):
    def get(self):
        return "D"


class _PolyE:
    x = "class attribute"

    def get(self):
        return "E"


def polymorphic_attribute_sites(n):
    """One LOAD_ATTR and one LOAD_METHOD site seeing several types in turn (ops/load_store.rs,
    ops/call.rs probe every entry of the site's cache): values-array attributes at different
    indexes, slots, a subclass, a class attribute (the helper's case), an instance that shadows
    the method, a deleted attribute (AttributeError) and more types than the cache holds."""
    objs = [_PolyA(1), _PolyB(2), _PolyC(3), _PolyD(4), _PolyE()]
    shadow = _PolyA(5)
    shadow.get = lambda: "shadowed"
    objs.append(shadow)
    gone = _PolyB(6)
    del gone.x
    out = []
    for i in range(n * len(objs)):
        o = objs[i % len(objs)]
        out.append((o.x, o.get()))
    objs.append(gone)
    for o in objs:
        try:
            out.append((o.x, o.get()))
        except AttributeError as e:
            out.append(str(e))
    return out


CASES += [(polymorphic_attribute_sites, (6,))]


def for_iter_each_kind(n):
    """FOR_ITER's paths (ops/jump.rs): the case the loop header names is in line, the other
    and the helper out of line. A range built before the loop (not in its header), one site
    seeing range, list, tuple, str and generic iterators in turn, a list mutated while
    iterated, a range header whose loop variable is shared (not overwritten in place) and one
    with big and negative steps."""
    out = []
    r = range(n)
    for i in r:
        out.append(i * 2)
    kept = []
    for i in range(n):
        kept.append(i)
    for i in range(2 ** 40, 2 ** 40 + 3 * n, 3):
        out.append(i)
    for i in range(n, -n, -7):
        out.append(i)
    for seq in [range(n), [1, 2, 3], (4, 5), "ab", iter([7, 8]), {9: 0}, range(0)]:
        for v in seq:
            out.append(v)
    grow = [1, 2, 3]
    for v in grow:
        if len(grow) < 8:
            grow.append(v + 10)
        out.append(v)
    return out, kept


CASES += [(for_iter_each_kind, (9,))]


def mixed_binary_operands(n):
    """BINARY_OP, COMPARE_OP and BINARY_SUBSCR sites whose first fast path (in line) misses:
    floats, big ints, mixed int/float, strs and a class with dunder methods at sites that also
    see small ints; list, tuple, str and dict subscripts at one site; ints that need two
    digits and results that need a fresh int (outside the small-int cache)."""
    class V:
        def __init__(self, v):
            self.v = v

        def __add__(self, o):
            return V(self.v + (o.v if isinstance(o, V) else o))

        def __lt__(self, o):
            return self.v < (o.v if isinstance(o, V) else o)

        def __repr__(self):
            return f"V({self.v})"

    vals = [3, 2.5, 2 ** 40, -(2 ** 61), "s", V(4), True, 2 ** 31]
    out = []
    for i in range(n):
        for a in vals:
            for b in (1, 0.5, 2 ** 35, -7):
                try:
                    out.append(repr(a + b))
                    out.append(repr(a * b) if not isinstance(a, (str, V)) else "-")
                    out.append(repr(a % b) if not isinstance(a, (str, V)) else "-")
                    out.append(a < b if not isinstance(a, str) else "-")
                except TypeError as e:
                    out.append(str(e))
        containers = [[10, 20, 30], (40, 50, 60), "xyz", {0: "a", 1: "b", 2: "c"}]
        for c in containers:
            out.append(c[i % 3])
    return out


CASES += [(mixed_binary_operands, (3,))]


def truth_of_common_types(n):
    """POP_JUMP_IF_TRUE/FALSE on non-bools (ops/jump.rs): None, exact int, list, tuple, dict
    and str by their size word, fresh temporaries released by the test, subclasses that
    override __bool__ or __len__ (the helper), a deque (the helper) and a __bool__ that
    raises."""
    import collections

    class L(list):
        def __len__(self):
            return 0

    class I(int):
        def __bool__(self):
            return False

    class Bad:
        def __bool__(self):
            raise ValueError("no truth")

    vals = [None, 0, 1, -1, 2 ** 40, -(2 ** 70), [], [0], (), (0,), {}, {0: 0}, "", "a",
            L([1, 2]), I(5), collections.deque(), collections.deque([1]), 0.0, 2.5, Bad()]
    out = []
    for i in range(n):
        for v in vals:
            try:
                if v:
                    out.append(1)
                else:
                    out.append(0)
                while v:
                    out.append(2)
                    break
            except ValueError as e:
                out.append(str(e))
        if [i] * (i % 2):
            out.append("fresh")
        if not {i: i}.keys() & {i % 2}:
            out.append("empty")
    return out


CASES += [(truth_of_common_types, (4,))]


def and_or_values(n):
    """`and` / `or` (JUMP_IF_TRUE_OR_POP / JUMP_IF_FALSE_OR_POP, ops/jump.rs) on values that
    are not bools: the value kept is the object itself, sized types decided without a call,
    the helper for the rest, a __bool__ that raises."""
    class Bad:
        def __bool__(self):
            raise KeyError("bad truth")

    vals = [None, 0, 3, -(2 ** 65), [], [1], (), (2,), {}, {1: 2}, "", "x", 0.0, 1.5, object, Bad()]
    out = []
    for i in range(n):
        for a in vals:
            for b in (0, "y", None):
                try:
                    out.append(repr(a and b))
                    out.append(repr(a or b))
                    out.append(repr((a or b) and (b or a)))
                except KeyError as e:
                    out.append(str(e))
        out.append([i] * (i % 2) or "none")
    return out


CASES += [(and_or_values, (3,))]


def membership_branches(n):
    """CONTAINS_OP fused with the POP_JUMP_IF_TRUE/FALSE after it (no bool made): each inline
    kind (dict, set/frozenset with int or str keys, one ASCII character in a short str) and
    the helper (other containers, subclasses, non-bool __contains__), `in` and `not in`, in
    forward branches, in loop conditions that jump backward (comprehension filters, while),
    and an error raised by the test itself (reported on its line)."""
    out = []
    containers = [set(range(n)), frozenset(["a", "b", 3]), set(), {1: 2, "a": 3}, {}, [1, "a"], (2,),
                  _SetSub([1]), _DictSub(a=1), {_HashLikeOne()}, " \t\n", "abc", "héllo", _StrSub("xa")]
    keys = [0, 1, n, "a", "always", "x", " ", "é", 1.0, (1, 2), [1], None, _HashLikeOne()]
    for c in containers:
        for k in keys:
            try:
                if k in c:
                    a = 1
                else:
                    a = 0
                if k not in c:
                    b = 1
                else:
                    b = 0
                out.append(a * 2 + b)
            except Exception as e:  # noqa: BLE001 - the error is the result
                out.append(repr(e))
    s = set(range(0, 3 * n, 3))
    out.append([i for i in range(4 * n) if i in s])
    out.append([i for i in range(4 * n) if i not in s])
    out.append([ch for ch in "hello world" if ch in "lo"])
    out.append([k for k in ("a", "b", "c") if k not in {"b": 0}])
    k = 1
    while k not in s:
        k += 1
    out.append(k)

    class Truthy:
        def __contains__(self, item):
            return item  # any truth value: `in` makes it a bool

    t = Truthy()
    out.append([x for x in (0, 1, "", "s", None, [], [0]) if x in t])
    out.append([x for x in (0, 1, "", "s") if x not in t])
    try:
        if [1] in {1}:
            out.append("unreachable")
    except TypeError as e:
        out.append((repr(e), e.__traceback__.tb_lineno - membership_branches.__code__.co_firstlineno))
    return out


CASES += [(membership_branches, (4,))]


class _AttrKinds:
    """Attributes reached every way LOAD_ATTR has: the instance's values (inline), a class
    attribute, a property, a method object, __getattr__ for missing names."""
    klass = "k"

    def __init__(self):
        self.plain = 1

    @property
    def prop(self):
        return self.plain + 1

    def meth(self):
        return 3

    def __getattr__(self, name):
        if name == "dyn":
            return "d"
        raise AttributeError(name)


def local_attribute_owners(n):
    """`local.attr` (LOAD_FAST + LOAD_ATTR): the owner is read from the local without a
    reference on the inline hit; every other path makes the reference first. The owner's
    reference count must come back to where it was whichever path ran, also when the load
    fails, and the loaded values must be right."""
    import sys
    o = _AttrKinds()
    before = sys.getrefcount(o)
    got = []
    for i in range(n):
        got.append((o.plain, o.klass, o.prop, o.meth(), o.meth.__name__, o.dyn))
        try:
            o.missing
        except AttributeError as e:
            got.append(str(e))
        o.plain += i
    o2 = _AttrKinds()
    o2.__dict__["plain"] = 5          # a materialized dict instead of the values array
    got.append((o2.plain, o2.prop))
    # `local.name = value` (LOAD_FAST + STORE_ATTR): replaced values inline, new attributes,
    # a read-only property (fails) and a class with __setattr__ through the helper.
    for i in range(n):
        o.plain = i
        o.fresh = i * 2
        try:
            o.prop = 5
        except AttributeError as e:
            got.append(type(e).__name__)
        got.append((o.plain, o.fresh))
        del o.fresh
    s = _LoudSet(0)
    s_before = sys.getrefcount(s)
    for i in range(n):
        s.count = i
        got.append(s.count)
    after = sys.getrefcount(o)
    return got, after - before, sys.getrefcount(s) - s_before


CASES += [(local_attribute_owners, (4,))]


class _Named:
    """Logs its name when it dies."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def __del__(self):
        self.log.append(self.name)


class _Sleepy:
    pass


class _Busy:
    pass


def identity_branches(n):
    """IS_OP fused with the POP_JUMP_IF_TRUE/FALSE after it: `is` / `is not` on classes,
    singletons and fresh objects in forward branches and backward loop conditions; operands
    whose last reference dies in the test are released left then right, as ceval does."""
    log = []
    out = []
    kinds = [_Sleepy, _Busy, None, int, _Sleepy]
    for i in range(n * 3):
        kind = kinds[i % len(kinds)]
        if kind is _Sleepy:
            out.append("sleep")
        elif kind is not _Busy:
            out.append("other")
        else:
            out.append("busy")
        if _Named(log, "left%d" % i) is _Named(log, "right%d" % i):
            out.append("same")
        if not (_Named(log, "l%d" % i) is not _Named(log, "r%d" % i)):
            out.append("same")
    out.append([k for k in kinds if k is not _Sleepy])
    out.append([k for k in kinds if k is _Sleepy or k is None])
    node = [None, [None, [None, None]]]
    depth = 0
    while node[1] is not None:
        node = node[1]
        depth += 1
    out.append(depth)
    return out, log


CASES += [(identity_branches, (3,))]


def _three_locals(log, tag):
    a = _Named(log, tag + "a")
    b = _Named(log, tag + "b")
    c = _Named(log, tag + "c")
    return len(log)


class _Reentrant:
    """Its destructor calls the function whose return is releasing it."""

    def __init__(self, log, depth):
        self.log, self.depth = log, depth

    def __del__(self):
        self.log.append("del%d" % self.depth)
        if self.depth > 0:
            self.log.append(_release_reentrant(self.log, self.depth - 1))


def _release_reentrant(log, depth):
    keep = _Reentrant(log, depth)
    other = _Named(log, "after%d" % depth)
    return depth * 10


def _with_locals_dict(x):
    y = x + 1
    names = sorted(locals())
    return names, y


def _returns_own_local(log):
    z = _Named(log, "kept")
    return z


def direct_return_releases(n):
    """What a compiled callee's frame holds is released when it returns, as CPython's frame
    clear does: locals in order (destructors see that order), a destructor that calls back
    into the function being popped, a frame with a locals() dict, a returned local that must
    survive, and the result kept across all of it."""
    import sys
    log = []
    out = []
    refs = sys.getrefcount(_three_locals), sys.getrefcount(_three_locals.__code__)
    for i in range(n):
        out.append(_three_locals(log, "r%d" % i))
    out.append((sys.getrefcount(_three_locals), sys.getrefcount(_three_locals.__code__)) == refs)
    out.append(_release_reentrant(log, 2))
    out.append(_with_locals_dict(n))
    kept = _returns_own_local(log)
    out.append((kept.name, list(log)))
    del kept
    out.append(log[-1])
    return out


CASES += [(direct_return_releases, (3,))]


class _Truth:
    """A condition whose __bool__ reports how many references it has while it is tested."""

    def __init__(self, value, seen):
        self.value, self.seen = value, seen

    def __bool__(self):
        import sys
        self.seen.append(sys.getrefcount(self))
        if self.value == "raise":
            raise ValueError("no truth")
        return self.value


def local_conditions(n):
    """`if local:` / `while local:` / `if local is None:` (LOAD_FAST + POP_JUMP_IF_*): the
    condition is tested straight from the local on the inline paths (bools, None, ints, lists,
    tuples, dicts, strs) and given a reference of its own before __bool__ / __len__ run (they
    see the count the interpreter gives them); errors from the test and an unbound local are
    reported as in the interpreter; reference counts come back to where they were."""
    import sys
    seen = []
    out = []
    values = [True, False, None, 0, 7, -1, 2**80, 0.0, 1.5, [], [0], (), (1,), {}, {1: 2}, "", "s",
              _Truth(True, seen), _Truth(False, seen), _Sized(0), _Sized(3), object()]
    probe = values[-1]
    before = sys.getrefcount(probe)
    for v in values:
        row = []
        if v:
            row.append("t")
        else:
            row.append("f")
        if not v:
            row.append("n")
        if v is None:
            row.append("none")
        if v is not None:
            row.append("some")
        k = 0
        w = v
        while w:
            k += 1
            w = k < n and v
        row.append(k)
        out.append(row)
    out.append(sys.getrefcount(probe) - before)
    out.append(seen)
    bad = _Truth("raise", seen)
    try:
        if bad:
            out.append("unreachable")
    except ValueError as e:
        out.append((repr(e), e.__traceback__.tb_lineno - local_conditions.__code__.co_firstlineno))
    odd = _Truth(2, seen)
    try:
        if odd:
            out.append("unreachable")
    except TypeError as e:
        out.append(repr(e))
    if n > 100:
        missing = 1
    try:
        if missing:
            out.append("unreachable")
    except UnboundLocalError as e:
        out.append(type(e).__name__)
    return out


CASES += [(local_conditions, (3,))]


class _KeyCounter:
    """A mapping whose __getitem__ reports how many references its key has."""

    def __getitem__(self, key):
        import sys
        return sys.getrefcount(key)


class _Key:
    def __hash__(self):
        return 7

    def __eq__(self, other):
        return isinstance(other, _Key)


def subscript_by_local(n):
    """`container[local]` (LOAD_FAST + BINARY_SUBSCR): the index is used from the local without
    a reference on the list and tuple hits; strs, dicts, other mappings (which see the key
    held by the stack, as in the interpreter), errors and __index__ objects take the ordinary
    paths with a reference of their own; reference counts come back to where they were."""
    import sys
    xs = list(range(10, 10 + n))
    t = tuple(xs)
    s = "abcdefgh"
    d = {i: i * i for i in range(n)}
    key = _Key()
    d[key] = "k"
    out = []
    before = sys.getrefcount(key)
    for i in range(-n, n + 2):
        row = []
        for c in (xs, t, s, d):
            try:
                row.append(c[i])
            except (IndexError, KeyError) as e:
                row.append(type(e).__name__)
        out.append(row)
    k = key
    ks = [k]
    kc = _KeyCounter()
    # The mapping sees as many references to the key given by a local as to the same key
    # given by an expression: both are held by the stack (the absolute counts depend on how
    # the mapping's method is called, with or without a frame hook).
    out.append((d[k], kc[k] - kc[ks[0]]))
    del ks
    out.append(sys.getrefcount(key) - before)
    big = 2**70
    try:
        out.append(xs[big])
    except IndexError as e:
        out.append(repr(e))
    f = 1.0
    try:
        out.append(xs[f])
    except TypeError as e:
        out.append(repr(e))
    b = True
    out.append((xs[b], t[b], s[b]))
    # `container[local] = value` (LOAD_FAST + STORE_SUBSCR) the same way.
    ys = [0] * n
    store_log = []
    for i in range(-n, n + 1):
        for c in (ys, d, _KeyStore(store_log)):
            try:
                c[i] = i * 3
            except IndexError as e:
                out.append(repr(e))
    sk = _KeyStore(store_log)
    sk[k] = 1
    ks = [k]
    sk[ks[0]] = 2
    out.append((ys, sorted((x, y) for x, y in d.items() if not isinstance(x, _Key)), store_log[:4],
                store_log[-2] - store_log[-1], sys.getrefcount(key) - before))
    return out


class _KeyStore:
    """A mapping whose __setitem__ logs its keys and how many references they have."""

    def __init__(self, log):
        self.log = log

    def __setitem__(self, key, value):
        import sys
        self.log.append(key if isinstance(key, int) else sys.getrefcount(key))


CASES += [(subscript_by_local, (4,))]


def unpack_local(n):
    """`a, b = local` (LOAD_FAST + UNPACK_SEQUENCE): exact tuples and lists of the right length
    are unpacked from the local without a reference; other iterables, wrong lengths (with
    their errors) and long targets take the helper with a reference of its own; the
    sequence's reference count comes back to where it was."""
    import sys
    pair = (n, "x")
    lst = [1, [2], 3.0]
    wide = tuple(range(10))
    out = []
    counts = (sys.getrefcount(pair), sys.getrefcount(lst), sys.getrefcount(wide))
    for i in range(n):
        a, b = pair
        x, y, z = lst
        q0, q1, q2, q3, q4, q5, q6, q7, q8, q9 = wide
        out.append((a, b, x, y, z, q0 + q9))
    out.append((sys.getrefcount(pair), sys.getrefcount(lst), sys.getrefcount(wide)) == counts)
    for seq in ((1, 2, 3), [1], "ab", {7: 0, 8: 1}, iter([4, 5]), range(2), 5):
        try:
            u, v = seq
            out.append((u, v))
        except (ValueError, TypeError) as e:
            out.append(repr(e))
    return out


CASES += [(unpack_local, (3,))]


class _Meta(type):
    def __instancecheck__(cls, obj):
        if obj == "boom":
            raise KeyError("instancecheck")
        return obj == "yes"


class _Checked(metaclass=_Meta):
    pass


class _IntSub(int):
    pass


def _isinstance_of_int(x):
    return isinstance(x, int)


def isinstance_inline(n):
    """`isinstance(x, cls)`: an object of exactly `cls` is decided in line, anything else is one
    PyObject_IsInstance call (subclasses, tuples, ABCs, __instancecheck__ and its errors, a
    second argument that is not a class); a global `isinstance` that is not the builtin is
    called as itself; reference counts come back to where they were."""
    import sys
    import collections.abc
    out = []
    probe = object()
    before = sys.getrefcount(probe), sys.getrefcount(_IntSub)
    things = [1, True, _IntSub(3), 2.5, "yes", "no", [1], (1,), {}, None, probe]
    classes = [int, bool, _IntSub, float, str, list, (int, str), (), collections.abc.Sequence,
               _Checked, object, type(None)]
    for x in things:
        row = []
        for c in classes:
            row.append(isinstance(x, c))
        out.append(row)
    out.append(sys.getrefcount(probe) - before[0] + sys.getrefcount(_IntSub) - before[1])
    for bad in ("boom", 1):
        try:
            out.append(isinstance(bad, _Checked if bad == "boom" else 5))
        except (KeyError, TypeError) as e:
            out.append((repr(e), e.__traceback__.tb_lineno - isinstance_inline.__code__.co_firstlineno))
    count = 0
    for i in range(n * 4):
        if isinstance(i, int) and not isinstance(i, bool):
            count += 1
    out.append(count)
    g = globals()
    saved = g.get("isinstance")
    g["isinstance"] = lambda a, b: "shadowed"
    try:
        out.append(_isinstance_of_int(1))
    finally:
        if saved is None:
            del g["isinstance"]
        else:
            g["isinstance"] = saved
    out.append(_isinstance_of_int(1))
    return out


CASES += [(isinstance_inline, (3,))]
