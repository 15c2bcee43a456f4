"""psyco: Psyco's idea reborn for CPython 3.11 on x86-64 Linux.

``import psyco; psyco.full()`` (or ``psyco.profile()``, or ``psyco.background()``) lets psyco
find the functions worth compiling and run them as machine code. Everywhere else (another
Python version or platform) the same calls work and the program simply runs in the
interpreter; the log says why.

This module is the thin public layer: argument checking and the translation of functions,
methods and classes into the code objects the Rust engine (``psyco._psyco``) works on.
"""

import atexit as _atexit
import os as _os
import sys as _sys
import types as _types

from . import _psyco
from ._psyco import error, warning

__version__ = "0.1.0"

__all__ = [
    "full",
    "profile",
    "background",
    "runonly",
    "stop",
    "bind",
    "unbind",
    "proxy",
    "unproxy",
    "cannotcompile",
    "setfilter",
    "log",
    "stats",
    "is_compiled",
    "dumpcodebuf",
    "error",
    "warning",
]

# ------------------------------------------------------------------------------------------
# Profilers
# ------------------------------------------------------------------------------------------

_NO_PARAMS = (0.0, 1.0, 1.0, 0.0)  # watermark, halflife, pollfreq, parentframe (unused)


def full(memory=None, time=None, memorymax=None, timemax=None):
    """Compile every function at its first call (until a limit is reached)."""
    _psyco.push_profiler("full", *_NO_PARAMS, memory, time, memorymax, timemax)


def profile(watermark=0.09, halflife=0.5, pollfreq=20, parentframe=0.25,
            memory=None, time=None, memorymax=None, timemax=None):
    """Compile the functions that take at least `watermark` of the recent time, found by
    active profiling (call/return events) plus a background sampler."""
    _psyco.push_profiler("profile", watermark, halflife, pollfreq, parentframe,
                         memory, time, memorymax, timemax)


def background(watermark=0.09, halflife=0.5, pollfreq=100, parentframe=0.25,
               memory=None, time=None, memorymax=None, timemax=None):
    """Like profile(), but only with the background sampler: nearly free."""
    _psyco.push_profiler("background", watermark, halflife, pollfreq, parentframe,
                         memory, time, memorymax, timemax)


def runonly(memory=None, time=None, memorymax=None, timemax=None):
    """Run what is already compiled; compile nothing new."""
    _psyco.push_profiler("runonly", *_NO_PARAMS, memory, time, memorymax, timemax)


def stop():
    """Stop the running profiler and purge the queue. Compiled code keeps running."""
    _psyco.stop()


# ------------------------------------------------------------------------------------------
# Selecting functions
# ------------------------------------------------------------------------------------------

def _check_rec(rec):
    if isinstance(rec, bool) or not isinstance(rec, int):
        raise TypeError("rec must be an int, not %s" % type(rec).__name__)
    if rec < 0:
        raise ValueError("rec must be >= 0, got %d" % rec)
    return min(rec, 1 << 20)


def _python_function(obj):
    """The plain Python function behind `obj`, or None."""
    if isinstance(obj, _types.MethodType):
        obj = obj.__func__
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, _types.FunctionType):
        return obj
    return None


def _class_functions(cls):
    """The functions defined in a class body (not inherited ones), including static and class
    methods and property accessors."""
    out = []
    for value in vars(cls).values():
        if isinstance(value, property):
            candidates = (value.fget, value.fset, value.fdel)
        else:
            candidates = (value,)
        for c in candidates:
            f = _python_function(c)
            if f is not None:
                out.append(f)
    return out


def _describe(obj):
    return type(obj).__name__


def _codes(obj, what, allow_code=False):
    """Code objects of a function, method or class; TypeError for anything else."""
    if allow_code and isinstance(obj, _types.CodeType):
        return [obj]
    f = _python_function(obj)
    if f is not None:
        return [f.__code__]
    if isinstance(obj, type):
        return [f.__code__ for f in _class_functions(obj)]
    raise TypeError(
        "%s() expects a Python function, method or class%s, not %s"
        % (what, " or a code object" if allow_code else "", _describe(obj)))


def bind(x, rec=10):
    """Compile `x` (a function, a method, or every method of a class) at its next call,
    and the functions it calls, `rec` levels deep."""
    rec = _check_rec(rec)
    for code in _codes(x, "bind"):
        _psyco.bind_code(code, rec)


def unbind(x):
    """Undo bind(): `x` runs in the interpreter again from its next call."""
    for code in _codes(x, "unbind"):
        _psyco.unbind_code(code)


def _copy_function(f, code):
    g = _types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    g.__qualname__ = f.__qualname__
    g.__doc__ = f.__doc__
    g.__module__ = f.__module__
    g.__annotations__ = dict(f.__annotations__)
    g.__dict__.update(f.__dict__)
    return g


def proxy(f, rec=10):
    """A psyco-accelerated copy of function or method `f`; `f` itself is left alone."""
    rec = _check_rec(rec)
    func = _python_function(f)
    if func is None:
        raise TypeError("proxy() expects a Python function or method, not %s" % _describe(f))
    original = _psyco.proxy_original(func.__code__) or func.__code__
    copy = original.replace()
    if copy is original:  # pragma: no cover - replace() always copies on 3.9+
        raise error("cannot copy the code object of %s" % func.__qualname__)
    _psyco.mark_proxy(copy, original, rec)
    g = _copy_function(func, copy)
    if isinstance(f, _types.MethodType):
        return _types.MethodType(g, f.__self__)
    return g


def unproxy(p):
    """The reverse of proxy(): a new function equal to the original, not accelerated."""
    func = _python_function(p)
    if func is None:
        raise TypeError("unproxy() expects a function or method made by psyco.proxy(), not %s"
                        % _describe(p))
    original = _psyco.proxy_original(func.__code__)
    if original is None:
        raise TypeError("%s is not a psyco proxy" % func.__qualname__)
    g = _copy_function(func, original)
    if isinstance(p, _types.MethodType):
        return _types.MethodType(g, p.__self__)
    return g


def cannotcompile(x):
    """Never compile `x` (a function, method or code object). psyco.error if it is already
    compiled or being compiled."""
    for code in _codes(x, "cannotcompile", allow_code=True):
        _psyco.cannotcompile_code(code)


def setfilter(func):
    """Install `func(code) -> bool` to veto compilations; returns the previous filter."""
    return _psyco.setfilter(func)


def is_compiled(x):
    """True if the function, method or code object `x` runs as machine code now."""
    codes = _codes(x, "is_compiled", allow_code=True)
    return bool(codes) and all(_psyco.is_compiled_code(c) for c in codes)


# ------------------------------------------------------------------------------------------
# Logging and introspection
# ------------------------------------------------------------------------------------------

def _default_logfile():
    script = _sys.argv[0] if _sys.argv else ""
    if not script or script in ("-c", "-m", "-"):
        script = "psyco"
    if script.endswith(".py"):
        script = script[:-3]
    return script + ".log-psyco"


def log(logfile="", mode="w", top=10, json=None):
    """Log psyco's activity to `logfile` (default: the script's name + '.log-psyco').

    Lines end in '%' marks, more for more important lines (``grep %%% file``); every second
    the `top` most charged functions are listed. `json`: a path (or True for
    logfile + '.jsonl') that receives the same events as JSON lines."""
    if not isinstance(logfile, (str, _os.PathLike)):
        raise TypeError("logfile must be a path, not %s" % _describe(logfile))
    if mode not in ("w", "a"):
        raise ValueError("mode must be 'w' or 'a', not %r" % (mode,))
    if isinstance(top, bool) or not isinstance(top, int):
        raise TypeError("top must be an int, not %s" % _describe(top))
    if top < 0:
        raise ValueError("top must be >= 0")
    path = _os.fspath(logfile) or _default_logfile()
    if json is True:
        json = path + ".jsonl"
    elif json is False:
        json = None
    elif json is not None:
        if not isinstance(json, (str, _os.PathLike)):
            raise TypeError("json must be a path, True or None, not %s" % _describe(json))
        json = _os.fspath(json)
    _psyco.log_open(path, mode, top, json)
    return path


def stats(top=10):
    """A dict describing psyco's state: running profiler and queue, samples, top charges,
    selected/compiled/failed functions (with reasons), code bytes, recent log events."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise TypeError("top must be an int >= 0")
    return _psyco.stats(top)


def _code_where(code):
    return "%s:%d" % (code.co_filename, code.co_firstlineno)


def _dump_one(code):
    """The readable dump of one code object, behind a header line; None if it has no
    machine code (any more)."""
    text = _psyco.dump_code(code)
    if text is None:
        return None
    state = ", ".join(_psyco.code_state(code))
    return "=== %s  (%s)  [%s]\n%s" % (code.co_qualname, _code_where(code), state, text)


def dumpcodebuf(file=None):
    """Write a readable dump of every compiled function to `file` and return where it went.

    `file` is a path (default: ``psyco.dump`` in the current directory) or an open text
    file-like object. Each function is listed with its qualified name, file and line, then its
    machine code disassembled, with the bytecode instruction each part implements in between,
    then the places where it falls back to the interpreter."""
    codes = sorted(_psyco.compiled_codes(),
                   key=lambda c: (c.co_filename, c.co_firstlineno, c.co_qualname))
    parts = []
    for code in codes:
        text = _dump_one(code)
        if text is not None:
            parts.append(text)
    native, why = _psyco.native_status()
    header = ("psyco %s code dump: %d compiled function%s, %d bytes generated in total\n%s\n\n"
              % (__version__, len(parts), "" if len(parts) == 1 else "s",
                 _psyco.stats(0)["code_bytes"], why))
    body = header + "\n".join(parts)
    if file is None:
        file = "psyco.dump"
    if hasattr(file, "write"):
        file.write(body)
        name = getattr(file, "name", None)
        return _os.fspath(name) if isinstance(name, (str, _os.PathLike)) else None
    if not isinstance(file, (str, _os.PathLike)):
        raise TypeError("dumpcodebuf() expects a path or a file-like object, not %s"
                        % _describe(file))
    path = _os.path.abspath(_os.fspath(file))
    with open(path, "w") as f:
        f.write(body)
    return path


def _at_exit():
    try:
        _psyco.shutdown()
    except Exception:  # pragma: no cover - never let exit fail because of psyco
        pass


_atexit.register(_at_exit)
_os.register_at_fork(after_in_child=_psyco.after_fork_child)

# psyco's own Python layer is not worth compiling (full() would otherwise compile these).
for _f in list(globals().values()):
    if isinstance(_f, _types.FunctionType) and _f.__module__ == __name__:
        _psyco.cannotcompile_code(_f.__code__)
del _f
