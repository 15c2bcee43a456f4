"""psyco.classes: classes whose methods psyco binds for compilation.

``class X(psyco.classes.psyobj): ...`` or ``class X(metaclass=psyco.classes.psymetaclass)``
binds every function defined in the class body (not inherited ones, not ones added later).
A class may list the names to bind in ``__psyco__bind__`` instead.

Python 3 ignores a module-level ``__metaclass__``, so ``from psyco.classes import *`` no
longer changes the classes of a module by itself: name ``psyobj`` or ``psymetaclass``
explicitly (see docs/python3-differences.md).
"""

import psyco as _psyco

__all__ = ["psymetaclass", "psyobj", "__metaclass__"]


class psymetaclass(type):
    """A metaclass that binds the methods of its classes with psyco.bind()."""

    def __init__(cls, name, bases, namespace, **kwargs):
        super().__init__(name, bases, namespace, **kwargs)
        names = namespace.get("__psyco__bind__")
        if names is None:
            funcs = _psyco._class_functions(cls)
        else:
            if isinstance(names, str) or not hasattr(names, "__iter__"):
                raise TypeError("__psyco__bind__ must be a list of method names")
            funcs = []
            for n in names:
                if not isinstance(n, str):
                    raise TypeError("__psyco__bind__ must list names (str), not %s"
                                    % type(n).__name__)
                if n not in namespace:
                    raise _psyco.error("__psyco__bind__ names %r, which class %s does not define"
                                       % (n, name))
                f = _psyco._python_function(namespace[n])
                if f is None:
                    raise _psyco.error("__psyco__bind__ names %r of class %s, which is not a "
                                       "Python function" % (n, name))
                funcs.append(f)
        for f in funcs:
            _psyco.bind(f)


__metaclass__ = psymetaclass


class psyobj(metaclass=psymetaclass):
    """An empty base class whose subclasses have their methods bound by psyco."""

    __slots__ = ()
