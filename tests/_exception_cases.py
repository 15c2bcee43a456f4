"""Snippets for test_compiler_exceptions.py: exception handling and the less common opcodes,
each run plainly and as compiled machine code with the same arguments. Line numbers matter
(tracebacks are compared as text), so add new cases at the end."""

import sys


class CM:
    def __init__(self, swallow=False, fail_exit=False):
        self.swallow, self.fail_exit, self.log = swallow, fail_exit, []

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, tp, val, tb):
        self.log.append(("exit", tp and tp.__name__, str(val), tb is not None))
        if self.fail_exit:
            raise RuntimeError("exit failed")
        return self.swallow


def caught_division(x):
    try:
        return 1 / x
    except ZeroDivisionError as e:
        info = sys.exc_info()
        return ("caught", type(e).__name__, info[0].__name__, e.__traceback__.tb_lineno)


def loop_try_finally_break_continue(n):
    out = []
    for i in range(n):
        try:
            if i % 3 == 0:
                raise ValueError(i)
            out.append(i)
        except ValueError:
            out.append(-i)
            if i == 6:
                continue
        finally:
            out.append("f")
        if i == 7:
            break
    return out


def context_chaining():
    try:
        try:
            raise KeyError("a")
        except KeyError:
            raise TypeError("b")
    except TypeError as e:
        return repr(e.__context__), sys.exc_info()[0].__name__, e.__traceback__.tb_lineno


def raise_from():
    try:
        raise ValueError("x") from KeyError("y")
    except ValueError as e:
        return repr(e.__cause__), e.__suppress_context__


def raise_from_none():
    try:
        try:
            1 / 0
        except ZeroDivisionError:
            raise ValueError("v") from None
    except ValueError as e:
        return e.__cause__, repr(e.__context__), e.__suppress_context__


def bare_reraise_escapes():
    try:
        {}["k"]
    except KeyError:
        raise


def bare_reraise_caught():
    try:
        try:
            {}["k"]
        except KeyError:
            raise
    except LookupError as e:
        return type(e).__name__, e.__traceback__.tb_lineno, e.__traceback__.tb_next.tb_lineno


def uncaught_in_nested_call(x):
    def inner(y):
        return [1][y]
    try:
        return inner(x)
    except KeyError:
        return "wrong handler"


def with_swallows():
    c = CM(swallow=True)
    with c:
        raise ValueError("in with")
    return c.log


def with_propagates():
    c = CM()
    try:
        with c:
            raise ValueError("in with")
    except ValueError as e:
        return c.log, str(e)


def with_exit_raises():
    c = CM(fail_exit=True)
    with c:
        raise ValueError("first")


def with_return_inside():
    c = CM()
    for i in range(3):
        with c:
            if i == 1:
                return i, c.log


def not_a_context_manager():
    with 42:
        pass


def exception_group_star():
    try:
        raise ExceptionGroup("eg", [ValueError(1), TypeError(2), KeyError(3)])
    except* ValueError as e:
        r1 = repr(e)
    except* TypeError as e:
        r2 = repr(e)
    except* KeyError:
        r3 = sys.exc_info()[0].__name__
    return r1, r2, r3


def exception_group_partial():
    try:
        raise ExceptionGroup("eg", [ValueError(1), TypeError(2)])
    except* ValueError:
        pass


def exception_group_raise_in_star():
    try:
        raise ExceptionGroup("eg", [ValueError(1)])
    except* ValueError:
        raise KeyError("new")


def naked_in_star():
    try:
        raise ValueError("naked")
    except* ValueError as e:
        r = repr(e)
    return r


def except_star_bad_type():
    try:
        raise ValueError
    except* ExceptionGroup:
        pass


def assert_fails(x):
    assert x > 0, f"bad {x}"
    return x


def return_in_finally_in_loop():
    out = []
    for i in range(4):
        try:
            if i == 2:
                return out
            out.append(i)
        finally:
            out.append("fin")
            if i == 0:
                continue
    return out


def bare_except_exc_info():
    try:
        raise OSError(2, "nope")
    except:  # noqa: E722
        t, v, tb = sys.exc_info()
        return t.__name__, str(v), tb.tb_lineno


def exc_info_restored_after_handler():
    try:
        raise KeyError("outer")
    except KeyError:
        try:
            raise ValueError("inner")
        except ValueError:
            pass
        return sys.exc_info()[0].__name__


def catch_non_exception_class():
    try:
        raise ValueError
    except int:
        pass


def raise_non_exception():
    raise 42


def raise_class_not_instance():
    try:
        raise StopIteration
    except StopIteration as e:
        return type(e).__name__, e.args


def nested_handlers_deep(n):
    try:
        try:
            try:
                raise ValueError(n)
            finally:
                n += 1
        except TypeError:
            return "no"
    except ValueError as e:
        return e.args, n


def handler_raises_new(x):
    try:
        return 1 // x
    except ZeroDivisionError:
        return undefined_name_for_test  # noqa: F821


def no_active_exception():
    raise


def reraise_from_finally():
    try:
        raise KeyError("k")
    finally:
        pass


def try_in_hot_loop(n):
    total = 0
    for i in range(n):
        try:
            total += 10 // (i % 5)
        except ZeroDivisionError:
            total -= 1
    return total


def unpack_star(seq):
    a, *b, c = seq
    return a, b, c


def unpack_star_errors(seq):
    *a, b, c = seq
    return a


def call_ex(*args, **kw):
    def f(a, b=2, *rest, **kws):
        return a, b, rest, sorted(kws.items())
    return f(*args, **kw)


def call_ex_errors(x):
    def f(**kw):
        return kw
    return f(**{"a": 1}, **x)


def call_ex_not_iterable():
    return print(*5)


def merges(a, b):
    return {**a, **b}, {*a, *b}, [*a, *b]


def dict_update_not_mapping():
    return {**[1]}


def patterns(x):
    match x:
        case {"k": v, **rest}:
            return "map", v, rest
        case [1, *others]:
            return "seq", others
        case (a, b):
            return "pair", a, b
        case complex(real=r, imag=i):
            return "complex", r, i
        case int(n) if n > 5:
            return "big", n
        case str() | bytes():
            return "text"
        case _:
            return "other"


class Point:
    __match_args__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y


def match_class_args(p):
    match p:
        case Point(0, y):
            return "y-axis", y
        case Point(x, y=0):
            return "x-axis", x
        case Point(x, y):
            return "point", x, y


def match_class_too_many(p):
    match p:
        case Point(1, 2, 3):
            return "no"


class Keys:
    a = "same"
    b = "same"


def match_duplicate_key(m):
    match m:
        case {Keys.a: 1, Keys.b: 2}:
            return "no"


GLOBAL_COUNTER = 0


def globals_ops():
    global GLOBAL_COUNTER, TEMP_GLOBAL
    GLOBAL_COUNTER += 1
    TEMP_GLOBAL = 5
    del TEMP_GLOBAL
    try:
        del TEMP_GLOBAL
    except NameError as e:
        return GLOBAL_COUNTER > 0, str(e), e.name


def imports():
    import os.path
    from collections import OrderedDict as OD
    from os import path
    return os.path is path, OD.__name__


def import_missing_name():
    from os import no_such_name_here  # noqa: F401


def import_missing_module():
    import no_such_module_xyz  # noqa: F401


def delete_attr_and_deref():
    class O:
        pass
    o = O()
    o.a = 1
    del o.a
    x = 3

    def inner():
        return x
    del x
    try:
        inner()
    except NameError as e:
        return hasattr(o, "a"), str(e)


def class_body_names(v):
    class K:
        a = v
        b = a + 1
        del a
        c: int = 3
        try:
            d = a  # noqa: F821
        except NameError as e:
            d = str(e)
    return K.b, K.__annotations__, K.d, hasattr(K, "a")


def class_body_classderef(v):
    def make():
        class K:
            y = v
            z = y * 2
        return K
    return make().z


def exec_module_code(src):
    ns = {}
    exec(src, ns)
    return sorted(k for k in ns if not k.startswith("__"))


def get_len_and_match_seq(x):
    match x:
        case [a, b, *_] if len(x) > 3:
            return "long", a, b
        case [a]:
            return "one", a
        case []:
            return "empty"
    return "none"


def with_in_loop_break(n):
    c = CM()
    for i in range(n):
        with c:
            if i == 2:
                break
    return len(c.log)


def star_exception_in_except_star_body():
    try:
        try:
            raise ExceptionGroup("eg", [ValueError(1), TypeError(2)])
        except* ValueError:
            raise
    except ExceptionGroup as e:
        return repr(e)


def line_after_implicit_return(x):
    x()
    if GLOBAL_COUNTER is not None:
        pass


class _Namespace(dict):
    """A class namespace that is not an exact dict (as enum's is)."""


class _Meta(type):
    @classmethod
    def __prepare__(mcls, name, bases):
        return _Namespace()


def class_body_custom_namespace(v):
    def make():
        class K(metaclass=_Meta):
            a = v
            b = a + 1
            c: int = 0
            d = v * 2
            del a
            try:
                e = a  # noqa: F821
            except NameError as exc:
                e = str(exc)
        return K
    K = make()
    return K.b, K.d, K.e, K.__annotations__


def interactive_print_expr(src):
    import io
    import contextlib
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(src, "<stdin>", "single"), {})
    return out.getvalue()


def exit_raises_in_loop(n):
    log = []
    for i in range(n):
        try:
            with CM(fail_exit=(i % 2 == 1)) as c:
                if i == 3:
                    raise KeyError(i)
            log.append(c.log[-1])
        except RuntimeError as e:
            log.append((str(e), repr(e.__context__)))
    return log


def closure_and_handler(n):
    def inner(k):
        try:
            return 10 // k
        except ZeroDivisionError:
            nonlocal n
            n += 1
            raise ValueError(k) from None
    out = []
    for k in range(-1, 2):
        try:
            out.append(inner(k))
        except ValueError as e:
            out.append((repr(e), n))
    return out
