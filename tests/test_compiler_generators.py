"""Generators, coroutines and async generators run as machine code: each program below runs in a
fresh interpreter twice, plainly and under psyco.full() (every function, asyncio's included,
compiled at its first call), and must print the same thing to stdout and stderr; the compiled
run must really have resumed generator frames in machine code (psyco.stats()["gen_resumes"])."""

import subprocess
import sys
import textwrap

import pytest

from psyco import _psyco

pytestmark = pytest.mark.skipif(not _psyco.native_status()[0], reason="native compilation unavailable")

# The first line of both runs, so that line numbers in tracebacks agree.
PLAIN = "import psyco, sys\n"
FULL = "import psyco, sys; psyco.full()\n"
REPORT = "\nprint('RESUMES', psyco.stats()['gen_resumes'], file=sys.__stderr__)\n"


def run(prefix, src, timeout=120):
    code = prefix + textwrap.dedent(src) + REPORT
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    lines = p.stderr.splitlines()
    resumes = [int(x.split()[1]) for x in lines if x.startswith("RESUMES ")]
    err = "\n".join(x for x in lines if not x.startswith("RESUMES "))
    return p.returncode, p.stdout, err, (resumes[0] if resumes else None)


def same_as_plain(src, min_resumes=1, timeout=120):
    rc0, out0, err0, _ = run(PLAIN, src, timeout)
    rc1, out1, err1, resumes = run(FULL, src, timeout)
    assert rc1 == rc0, f"rc {rc1} != {rc0}\nstdout:{out1[-3000:]}\nstderr:{err1[-5000:]}"
    assert out1 == out0
    assert err1 == err0
    if min_resumes:
        assert resumes is not None and resumes >= min_resumes, resumes
    return out0


PROGRAMS = {
    "basic": """
        def gen(n):
            for i in range(n):
                x = yield i * 2
                if x is not None:
                    print("got", x)
            return "done"
        print(list(gen(5)))
        g = gen(3)
        print(next(g), g.send("a"), g.send("b"))
        try:
            g.send("c")
        except StopIteration as e:
            print("stop", repr(e.value))
        print(next(g, "exhausted"), g.send(1) if False else "-")
        try:
            gen(1).send(5)
        except TypeError as e:
            print(e)
    """,
    "genexpr_and_closures": """
        def outer(k):
            acc = []
            def g(n):
                for i in range(n):
                    acc.append(i)
                    yield i * k
            return g, acc
        g, acc = outer(3)
        print(list(g(4)), acc)
        print(sum(x * x for x in range(100)), [y for y in (x + 1 for x in range(5))])
        print(dict((i, str(i)) for i in range(3)), sorted(set(c for c in "abca")))
        def cellgen(a):
            def get():
                return a
            yield get()
            a = a + 1
            yield get()
        print(list(cellgen(10)))
    """,
    "yield_from_chains": """
        def leaf(n):
            for i in range(n):
                got = yield i
                if got:
                    print("leaf got", got)
            return n * 10
        def middle(n):
            r = yield from leaf(n)
            print("middle result", r)
            r2 = yield from leaf(1)
            return r + r2
        def top():
            total = yield from middle(3)
            yield ("total", total)
            yield from [7, 8]
            yield from iter("ab")
            yield from range(2)
        print(list(top()))
        t = top()
        print(next(t), t.send("x"), t.send("y"), next(t))
        print(t.gi_yieldfrom is not None, t.gi_yieldfrom.gi_yieldfrom is not None)
        print(list(t))
    """,
    "throw_and_close": """
        def g():
            try:
                yield 1
            except KeyError as e:
                print("caught", repr(e))
                yield "after"
            finally:
                print("finally")
            yield 3
        x = g(); print(next(x)); print(x.throw(KeyError("k"))); print(next(x)); print(next(x, "end"))
        x = g(); print(next(x)); x.close(); print(x.gi_frame)
        x = g(); print(next(x))
        try:
            x.throw(ValueError("v"))
        except ValueError as e:
            print("propagated", e)
        def catcher():
            while True:
                try:
                    v = yield
                    print("value", v)
                except ZeroDivisionError:
                    print("zde")
        c = catcher(); next(c); c.send(1); c.throw(ZeroDivisionError); c.send(2); c.send(3)
        c.throw(ZeroDivisionError); c.send(4); c.close()
        def bad_close():
            try:
                yield 1
            except GeneratorExit:
                yield 2
        b = bad_close(); next(b)
        try:
            b.close()
        except RuntimeError as e:
            print(e)
        def deleg():
            try:
                yield from catcher()
            finally:
                print("deleg finally")
        d = deleg(); next(d); d.send("a"); d.throw(ZeroDivisionError); d.send("b"); d.close()
        def inner():
            yield 1
            return 5
        def outer2():
            try:
                r = yield from inner()
            except KeyError:
                print("outer caught")
                r = yield "recovered"
            yield r
        o = outer2(); print(next(o)); print(o.throw(KeyError)); print(o.send(42))
        def stop_early():
            r = yield from inner2()
            print("got back", r)
            yield r
        def inner2():
            try:
                yield 1
            except KeyError:
                return "from-throw"
        s = stop_early(); print(next(s)); print(s.throw(KeyError)); print(list(s))
    """,
    "introspection": """
        import inspect
        def g():
            me = yield "start"
            print("running", me.gi_running, inspect.getgeneratorstate(me))
            yield sys._getframe().f_lineno
            yield sys._getframe().f_back is not None
            yield 4
        x = g()
        print(inspect.getgeneratorstate(x), x.gi_running, x.gi_suspended)
        print(next(x), x.gi_frame.f_lineno, x.gi_suspended)
        print(x.send(x), x.gi_frame.f_lineno)
        print(next(x), sorted(inspect.getgeneratorlocals(x)))
        print(next(x), x.gi_frame.f_lasti > 0)
        print(list(x), x.gi_frame, inspect.getgeneratorstate(x))
        def reenter():
            yield next(me2)
        me2 = reenter()
        try:
            next(me2)
        except ValueError as e:
            print(e)
    """,
    "pep479_and_errors": """
        import traceback
        def leaky():
            yield 1
            raise StopIteration("inner")
        try:
            list(leaky())
        except RuntimeError as e:
            print(type(e).__name__, e, repr(e.__cause__))
        def raiser(n):
            yield n
            return 1 / (n - n)
        def chain():
            yield from raiser(3)
        try:
            for v in chain():
                print(v)
        except ZeroDivisionError:
            traceback.print_exc()
        def gen_unbound():
            yield 1
            print(undefined_name_xyz)
        try:
            list(gen_unbound())
        except NameError as e:
            print(e)
        def coro_in_gen():
            async def c():
                return 1
            co = c()
            try:
                yield from co
            finally:
                co.close()
        try:
            list(coro_in_gen())
        except TypeError as e:
            print(e)
    """,
    "asyncio": """
        import asyncio
        async def leaf(i):
            await asyncio.sleep(0)
            return i * 2
        async def worker(n, q):
            s = 0
            for i in range(n):
                s += await leaf(i)
                await q.put(i)
            return s
        async def failing():
            await asyncio.sleep(0)
            raise KeyError("nope")
        async def main():
            q = asyncio.Queue()
            r = await asyncio.gather(worker(5, q), worker(3, q))
            print("gather", r, q.qsize())
            t = asyncio.create_task(worker(4, q))
            print("task", await t)
            try:
                await failing()
            except KeyError as e:
                print("caught", e)
            async def sleeper():
                await asyncio.sleep(10)
            t2 = asyncio.create_task(sleeper())
            await asyncio.sleep(0)
            t2.cancel()
            try:
                await t2
            except asyncio.CancelledError:
                print("cancelled")
            c = leaf(1)
            print(c.cr_await is None, c.cr_running)
            print(await c)
            res = await asyncio.wait_for(leaf(21), 5)
            print("wait_for", res)
            return "main done"
        print(asyncio.run(main()))
    """,
    "await_protocols": """
        import types
        class Awaitable:
            def __await__(self):
                x = yield "from await"
                return ("awaited", x)
        @types.coroutine
        def legacy():
            v = yield "legacy"
            return v
        async def coro():
            a = await Awaitable()
            b = await legacy()
            return a, b
        c = coro()
        print(c.send(None), c.send(1))
        try:
            c.send(2)
        except StopIteration as e:
            print(e.value)
        async def bad():
            await 5
        try:
            bad().send(None)
        except TypeError as e:
            print(e)
        async def twice(inner):
            await inner
        async def waiter():
            await legacy()
        w = waiter(); w.send(None)
        try:
            twice(w).send(None)
        except RuntimeError as e:
            print(e)
        class AM:
            async def __aenter__(self):
                print("enter"); return self
            async def __aexit__(self, *a):
                print("exit", a[0]); return False
        async def use():
            async with AM() as m:
                print("inside", type(m).__name__)
            async with AM():
                await legacy()
            return "used"
        u = use(); print(u.send(None)); 
        try:
            u.send(None)
        except StopIteration as e:
            print(e.value)
        async def not_cm():
            async with 5:
                pass
        try:
            not_cm().send(None)
        except TypeError as e:
            print(e)
        cr = coro()
        cr.send(None)
        cr.close()
        print(cr.cr_frame)
        try:
            cr.send(None)
        except RuntimeError as e:
            print(e)
    """,
    "async_generators": """
        import asyncio
        async def agen(n):
            try:
                for i in range(n):
                    await asyncio.sleep(0)
                    got = yield i
                    if got:
                        print("agen got", got)
            finally:
                print("agen finally")
        class ARange:
            def __init__(self, n):
                self.i, self.n = 0, n
            def __aiter__(self):
                return self
            async def __anext__(self):
                if self.i >= self.n:
                    raise StopAsyncIteration
                self.i += 1
                return self.i
        async def main():
            out = []
            async for v in agen(4):
                out.append(v)
            print(out)
            print([v async for v in agen(3)], [v async for v in ARange(3)])
            a = agen(5)
            print(await a.__anext__(), await a.asend("hello"), await a.__anext__())
            await a.aclose()
            print(a.ag_running, a.ag_frame)
            b = agen(3)
            await b.__anext__()
            try:
                await b.athrow(ValueError("thrown"))
            except ValueError as e:
                print("athrow", e)
            async def stops():
                yield 1
                raise StopAsyncIteration
            try:
                async for v in stops():
                    print("v", v)
            except RuntimeError as e:
                print(e)
            async for i in ARange(2):
                async for j in agen(2):
                    print("pair", i, j)
            try:
                async for x in 5:
                    pass
            except TypeError as e:
                print(e)
            left = agen(10)
            await left.__anext__()
            return "ok"
        print(asyncio.run(main()))
    """,
    "finalization": """
        import gc
        class Noisy:
            def __init__(self, name):
                self.name = name
            def __del__(self):
                print("del", self.name)
        def g(name):
            n = Noisy(name)
            try:
                yield 1
                yield 2
            finally:
                print("finally", name)
        a = g("a"); next(a)
        del a
        gc.collect()
        b = g("b"); next(b); b = None
        def cyc():
            me = yield
            yield me
        import weakref
        c = cyc(); next(c); c.send(c)
        w = weakref.ref(c)
        del c
        print("alive", w() is not None)
        gc.collect()
        print("collected", w() is None)
        keep = g("at-exit"); next(keep)
        def forever():
            try:
                while True:
                    yield
            finally:
                print("forever closed")
        f = forever(); next(f); next(f)
        print("end of program")
    """,
    "threads": """
        import threading
        def counter(n):
            for i in range(n):
                yield i
        def squares(n):
            yield from (i * i for i in counter(n))
        results = {}
        def work(k):
            results[k] = sum(squares(20000 + k))
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(sorted(results.items()))
        shared = counter(100000)
        seen = []
        lock = threading.Lock()
        def drain():
            n = 0
            while True:
                with lock:
                    v = next(shared, None)
                if v is None:
                    break
                n += 1
            seen.append(n)
        ts = [threading.Thread(target=drain) for k in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(sum(seen))
    """,
    "recursion": """
        def tree(d):
            if d == 0:
                yield 1
                return
            yield from tree(d - 1)
            yield from tree(d - 1)
        print(sum(tree(10)))
        def deep(n):
            if n:
                yield from deep(n - 1)
            else:
                yield "bottom"
        print(list(deep(200)))
        def endless(n):
            yield from endless(n + 1)
        try:
            list(endless(0))
        except RecursionError as e:
            print("RecursionError")
        print(list(deep(300)))
    """,
    "yield_in_handlers_and_with": """
        import contextlib
        @contextlib.contextmanager
        def cm(tag):
            print("enter", tag)
            try:
                yield tag
            except KeyError:
                print("cm swallowed")
            finally:
                print("exit", tag)
        def g():
            with cm("one") as t:
                yield t
            try:
                raise ValueError("x")
            except ValueError as e:
                yield "in handler " + str(e)
                yield "still in handler"
            finally:
                yield "in finally"
            with cm("two"):
                raise KeyError
            yield "end"
        print(list(g()))
        def loop_with_try():
            for i in range(3):
                try:
                    yield i
                finally:
                    print("fin", i)
        print(list(loop_with_try()))
    """,
    "settrace_steps_aside": """
        events = []
        def tracer(frame, event, arg):
            if frame.f_code.co_name in ("gen", "user"):
                events.append((frame.f_code.co_name, event, frame.f_lineno))
            return tracer
        def gen(n):
            for i in range(n):
                yield i
            return "r"
        def user():
            g = gen(3)
            a = next(g)
            sys.settrace(tracer)
            b = next(g)
            c = list(g)
            sys.settrace(None)
            return a, b, c
        user(); user()
        print(user())
        for e in events:
            print(e)
    """,
    "profile_sees_generator_events": """
        calls = []
        def prof(frame, event, arg):
            if frame.f_code.co_name == "gen":
                calls.append((event, frame.f_lineno))
        def gen():
            yield 1
            yield 2
        g = gen(); next(g)
        sys.setprofile(prof)
        print(list(g))
        sys.setprofile(None)
        print(calls)
    """,
    "closed_during_iteration": """
        def numbers():
            try:
                for i in range(10):
                    yield i
            finally:
                print("numbers closed")
        g = numbers()
        for v in g:
            print(v)
            if v == 2:
                g.close()
        print("after loop", g.gi_frame)
        def self_closer():
            yield 1
            me.close()
            yield 2
        me = self_closer()
        next(me)
        try:
            next(me)
        except ValueError as e:
            print(e)
        def self_thrower():
            yield 1
            me2.throw(KeyError)
        me2 = self_thrower(); next(me2)
        try:
            next(me2)
        except ValueError as e:
            print(e)
        def returns_tuple():
            yield 1
            return (1, [2], {"k": 3})
        def take():
            got = yield from returns_tuple()
            return got
        t = take(); next(t)
        try:
            next(t)
        except StopIteration as e:
            print(e.value, e.args)
        def returns_stopiteration_object():
            yield 1
            return StopIteration("value")
        r = returns_stopiteration_object(); next(r)
        try:
            next(r)
        except StopIteration as e:
            print(repr(e.value))
        def locs(a):
            b = a * 2
            yield
            c = b + 1
            yield
        l = locs(5); next(l); print(sorted(l.gi_frame.f_locals.items()))
        next(l); print(sorted(l.gi_frame.f_locals.items()), l.gi_frame.f_lineno)
    """,
    "tracebacks_through_generators": """
        import traceback
        def level3():
            yield 1
            {}["missing"]
        def level2():
            yield from level3()
        async def level1():
            for x in level2():
                await asyncio_sleep()
        async def asyncio_sleep():
            pass
        try:
            level1().send(None)
        except KeyError:
            traceback.print_exc()
        def thrower():
            yield 1
            yield 2
        th = thrower(); next(th)
        try:
            th.throw(RuntimeError("into generator"))
        except RuntimeError:
            traceback.print_exc()
        def inner_raises():
            x = yield
            raise ValueError(x)
        def outer_chain():
            try:
                yield from inner_raises()
            except ValueError as e:
                raise TypeError("wrapped") from e
        oc = outer_chain(); next(oc)
        try:
            oc.send("payload")
        except TypeError:
            traceback.print_exc()
    """,
    "many_yields": """
        def many(x):
""" + "".join(f"            y{i} = yield x + {i}\n            x = x if y{i} is None else y{i}\n" for i in range(40)) + """
        print(list(many(1)))
        m = many(0)
        out = [next(m)] + [m.send(i) for i in range(1, 40)]
        print(out)
    """,
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_as_interpreter(name):
    same_as_plain(PROGRAMS[name])


def test_resumption_runs_machine_code():
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import psyco
        from psyco import _psyco
        def gen(n):
            for i in range(n):
                yield i
        _psyco.compile_code(gen.__code__)
        before = psyco.stats()["gen_resumes"]
        print(sum(gen(1000)))
        print(psyco.stats()["gen_resumes"] - before)
        text = _psyco.dump_code(gen.__code__)
        print("resume dispatch" in text, "YIELD_VALUE" in text)
        exits = text.split("exits to the interpreter:")[1]
        print([l.split(":")[1].strip() for l in exits.strip().splitlines()
               if "Unsupported" in l])
    """)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # 1000 yields + the final resumption that returns; the creation runs in the interpreter,
    # the first next() enters at the RETURN_GENERATOR resume point.
    lines = out.stdout.splitlines()
    assert lines[0] == str(sum(range(1000)))
    assert int(lines[1]) == 1001
    assert lines[2] == "True True"
    # Only RETURN_GENERATOR (never reached in machine code) leaves for the interpreter.
    assert lines[3] == "['Unsupported']"


def test_throw_that_ends_yield_from_resumes_compiled_after_the_send_loop():
    # genobject.c's _gen_throw pops the finished delegate and moves prev_instr to just before
    # the SEND loop's exit; the resumption that follows must be a machine-code one.
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import psyco
        from psyco import _psyco
        def outer():
            r = yield from inner()
            yield ("back", r)
        def inner():
            try:
                yield 1
            except KeyError:
                return "from-throw"
        _psyco.compile_code(outer.__code__)
        s = outer(); print(next(s))
        before = psyco.stats()["gen_resumes"]
        print(s.throw(KeyError))
        print(psyco.stats()["gen_resumes"] - before)
    """)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["1", "('back', 'from-throw')", "1"]


def test_generators_suspended_in_machine_code_resume_in_the_interpreter_after_unbind():
    # A suspended compiled frame is indistinguishable from an interpreted one: once the code
    # loses its machine code, the same generators carry on in the interpreter.
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import psyco
        from psyco import _psyco
        def gen(n):
            total = 0
            for i in range(n):
                got = yield total
                total += i if got is None else got
            return total
        def deleg():
            r = yield from gen(4)
            yield ("r", r)
        _psyco.compile_code(gen.__code__); _psyco.compile_code(deleg.__code__)
        a, b = gen(5), deleg()
        print(next(a), a.send(10), next(b), next(b))
        _psyco.unbind_code(gen.__code__); _psyco.unbind_code(deleg.__code__)
        before = psyco.stats()["gen_resumes"]
        print(list(a), list(b))
        print(psyco.stats()["gen_resumes"] - before)
    """)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["0 10 0 0", "[11, 13, 16] [1, 3, ('r', 6)]", "0"]


def test_deep_yield_from_raises_recursion_error_instead_of_overflowing():
    # Plain CPython 3.11 overflows the C stack here (each level nests gen_send_ex2 and an
    # evaluation); compiled resumptions are guarded by the hook's C-stack margin.
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys, psyco
        psyco.full()
        sys.setrecursionlimit(200000)
        def deep(n):
            if n:
                yield from deep(n - 1)
            else:
                yield "bottom"
        for n in (1000, 100000):
            try:
                print(n, list(deep(n)))
            except RecursionError as e:
                print(n, "RecursionError")
        print(list(deep(500)))
    """)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ["1000 ['bottom']", "100000 RecursionError", "['bottom']"]


def test_no_reference_leaks_through_send_throw_await_and_async_for():
    src = """
        import gc, types
        S = object()
        def g():
            x = yield S
            while True:
                x = yield x
        def d():
            yield from g()
        class Aw:
            def __await__(self):
                yield S
                return S
        @types.coroutine
        def legacy():
            return (yield S)
        async def c():
            a = await Aw()
            await legacy()
            return a
        async def ag():
            yield S
            yield S
        async def use_ag():
            async for v in ag():
                pass
            return [v async for v in ag()]
        class ACM:
            async def __aenter__(self): return S
            async def __aexit__(self, *a): return None
        async def use_acm():
            async with ACM() as m:
                return m
        def drive(cr):
            try:
                while True:
                    cr.send(None)
            except StopIteration:
                pass
        def work():
            for _ in range(200):
                x = g(); next(x); x.send(S); x.send(S); x.close()
                y = d(); next(y); y.send(S)
                try:
                    y.throw(KeyError)
                except KeyError:
                    pass
                co = c(); co.send(None); co.send(S)
                try:
                    co.send(S)
                except StopIteration:
                    pass
                drive(use_ag()); drive(use_acm())
        work(); gc.collect()
        before = (sys.getrefcount(S), sys.getallocatedblocks())
        for _ in range(5):
            work()
        gc.collect()
        print(sys.getrefcount(S) - before[0], sys.getallocatedblocks() - before[1] < 50)
    """
    assert same_as_plain(src).splitlines() == ["0 True"]
