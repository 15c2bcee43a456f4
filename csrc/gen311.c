/* psyco: generator and coroutine internals for compiled code (CPython 3.11, x86-64 Linux).
 *
 * Job: the few pieces of genobject.c that compiled generators need and libpython does not
 * export (`_PyGen_yf`, `_PyAsyncGenValueWrapperNew`, `gen_is_coroutine`), rebuilt here from the
 * interpreter's own headers so that struct layouts are the compiler's, not hand-copied; and the
 * distance from a generator's frame to its `gi_frame_state`, which the machine code writes at a
 * YIELD_VALUE. Nothing here keeps state; every function expects the GIL. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#include "opcode.h"

/* `gi_frame_state` seen from the generator's embedded frame (`gi_iframe`): the frame of a
 * generator-owned `_PyInterpreterFrame` lives inside its PyGenObject (also for coroutines and
 * async generators, which share the head). */
int64_t psyco_gen_frame_state_delta(void) {
    return (int64_t)offsetof(PyGenObject, gi_frame_state) - (int64_t)offsetof(PyGenObject, gi_iframe);
}

/* genobject.c `gen_is_coroutine`: a plain generator whose code is CO_ITERABLE_COROUTINE
 * (types.coroutine). */
int psyco_gen_is_coroutine(PyObject *o) {
    if (PyGen_CheckExact(o)) {
        PyCodeObject *code = ((PyGenObject *)o)->gi_code;
        return (code->co_flags & CO_ITERABLE_COROUTINE) != 0;
    }
    return 0;
}

/* genobject.c `_PyGen_yf`: the object a suspended generator delegates to (`yield from` /
 * `await`), as a new reference, or NULL. A suspended frame's `prev_instr` is at its YIELD_VALUE;
 * the instruction after it is `RESUME` with oparg >= 2 exactly when the yield belongs to a
 * SEND loop, whose receiver is then the top of the value stack. */
PyObject *psyco_gen_yf(PyObject *o) {
    PyGenObject *gen = (PyGenObject *)o;
    if (gen->gi_frame_state >= FRAME_CLEARED || gen->gi_frame_state == FRAME_CREATED) {
        return NULL;
    }
    _PyInterpreterFrame *frame = (_PyInterpreterFrame *)gen->gi_iframe;
    _Py_CODEUNIT next = frame->prev_instr[1];
    int op = _Py_OPCODE(next);
    if ((op != RESUME && op != RESUME_QUICK) || _Py_OPARG(next) < 2) {
        return NULL;
    }
    PyObject *yf = _PyFrame_StackPeek(frame);
    Py_INCREF(yf);
    return yf;
}

/* genobject.c's (private) wrapped-value struct: what ASYNC_GEN_WRAP makes of a value an async
 * generator yields, so its asend/athrow objects can tell a yield from an await. */
typedef struct {
    PyObject_HEAD
    PyObject *agw_val;
} psyco_wrapped_value;

extern PyTypeObject _PyAsyncGenWrappedValue_Type;

/* `_PyAsyncGenValueWrapperNew` without the free list (the type's dealloc still feeds it). */
PyObject *psyco_async_gen_wrap(PyObject *val) {
    psyco_wrapped_value *o = PyObject_GC_New(psyco_wrapped_value, &_PyAsyncGenWrappedValue_Type);
    if (o == NULL) {
        return NULL;
    }
    Py_INCREF(val);
    o->agw_val = val;
    PyObject_GC_Track((PyObject *)o);
    return (PyObject *)o;
}
