/* psyco: direct calls between compiled functions — pushing and popping the callee's
 * interpreter frame without going through vectorcall, `_PyEval_Vector` and the frame hook.
 *
 * Job: `psyco_push_frame` does what 3.11's `_PyEvalFramePushAndInit` + `initialize_locals` do
 * for the simple shapes CALL_PY_EXACT_ARGS / CALL_PY_WITH_DEFAULTS accept (positional
 * arguments only, defaults filling the rest, no *args/**kwargs/keyword-only parameters, not a
 * generator or coroutine); `psyco_pop_frame` does what `_PyEvalFrameClearAndPop` does,
 * including handing the frame's data to a frame object that outlives the call. The machine code
 * runs between the two (src/ffi/exec.rs `run_compiled`).
 *
 * Invariants:
 * - Only the thread data stack's fast path is used (room in the current chunk): otherwise
 *   `psyco_push_frame` declines and the caller takes the ordinary vectorcall path. A frame
 *   pushed here therefore never starts a chunk, and popping it is resetting `datastack_top`.
 * - On success the callee's frame owns the references the caller's stack held for the
 *   function and the arguments (moved, not copied); on refusal nothing was touched.
 * - `psyco_pop_frame` runs with the callee already unlinked (the thread's current frame is the
 *   caller again), as `_PyFrame_Clear` requires.
 * Every function expects the GIL. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stdint.h>
#include "frameobject.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_object.h"
#include "internal/pycore_pystate.h"

#define UNSUPPORTED_FLAGS (CO_VARARGS | CO_VARKEYWORDS | CO_GENERATOR | CO_COROUTINE | \
                           CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE)

/* Pushes and initializes a frame for `func(*args)` (nargs positional arguments, references
 * moved from the caller), or returns NULL if this shape of call is not handled here. */
_PyInterpreterFrame *psyco_push_frame(PyThreadState *ts, PyObject *func, PyObject **args, Py_ssize_t nargs) {
    PyFunctionObject *f = (PyFunctionObject *)func;
    PyCodeObject *co = (PyCodeObject *)f->func_code;
    if ((co->co_flags & UNSUPPORTED_FLAGS) || co->co_kwonlyargcount != 0) return NULL;
    Py_ssize_t argcount = co->co_argcount;
    if (nargs > argcount) return NULL;
    Py_ssize_t missing = argcount - nargs;
    PyObject *defaults = f->func_defaults;
    Py_ssize_t ndefaults = defaults == NULL ? 0 : PyTuple_GET_SIZE(defaults);
    if (missing > ndefaults) return NULL;
    size_t size = (size_t)co->co_nlocalsplus + (size_t)co->co_stacksize + FRAME_SPECIALS_SIZE;
    if (!_PyThreadState_HasStackSpace(ts, size)) return NULL;
    _PyInterpreterFrame *frame = (_PyInterpreterFrame *)ts->datastack_top;
    ts->datastack_top += size;
    _PyFrame_InitializeSpecials(frame, f, NULL, co->co_nlocalsplus); /* takes the func ref */
    PyObject **locals = frame->localsplus;
    for (Py_ssize_t i = 0; i < nargs; i++) locals[i] = args[i];
    for (Py_ssize_t i = nargs; i < argcount; i++) {
        PyObject *d = PyTuple_GET_ITEM(defaults, i - (argcount - ndefaults));
        Py_INCREF(d);
        locals[i] = d;
    }
    for (Py_ssize_t i = argcount; i < co->co_nlocalsplus; i++) locals[i] = NULL;
    return frame;
}

/* The frame object of the caller's frame, for a frame object that outlives its callee's frame
 * (its f_back). The caller is the thread's current frame again when this runs. */
static PyFrameObject *caller_frame_object(PyThreadState *ts, _PyInterpreterFrame *prev) {
    while (prev != NULL && _PyFrame_IsIncomplete(prev)) prev = prev->previous;
    if (prev == NULL) return NULL;
    if (prev->frame_obj != NULL) return prev->frame_obj;
    if (ts->cframe->current_frame == prev) return PyEval_GetFrame(); /* creates it */
    return NULL;
}

/* A frame object that outlives the frame takes over its data (3.11 `take_ownership`). */
static void hand_to_frame_object(PyThreadState *ts, PyFrameObject *fo, _PyInterpreterFrame *frame) {
    Py_ssize_t size = ((char *)&frame->localsplus[frame->stacktop]) - (char *)frame;
    memcpy((_PyInterpreterFrame *)fo->_f_frame_data, frame, size);
    frame = (_PyInterpreterFrame *)fo->_f_frame_data;
    fo->f_frame = frame;
    frame->owner = FRAME_OWNED_BY_FRAME_OBJECT;
    if (_PyFrame_IsIncomplete(frame)) {
        PyCodeObject *code = frame->f_code;
        frame->prev_instr = _PyCode_CODE(code) + code->_co_firsttraceable;
    }
    PyFrameObject *back = caller_frame_object(ts, frame->previous);
    if (back != NULL) { /* else: no complete caller, or no memory for its frame object */
        Py_INCREF(back);
        fo->f_back = back;
    }
    frame->previous = NULL;
    if (!_PyObject_GC_IS_TRACKED((PyObject *)fo)) _PyObject_GC_TRACK((PyObject *)fo);
}

/* Clears and pops a frame pushed by psyco_push_frame (it must be the top of the data stack). */
void psyco_pop_frame(PyThreadState *ts, _PyInterpreterFrame *frame) {
    ts->recursion_remaining--;
    if (frame->frame_obj != NULL) {
        PyFrameObject *fo = frame->frame_obj;
        frame->frame_obj = NULL;
        if (Py_REFCNT(fo) > 1) {
            hand_to_frame_object(ts, fo, frame);
            Py_DECREF(fo);
            goto pop;
        }
        Py_DECREF(fo);
    }
    for (int i = 0; i < frame->stacktop; i++) Py_XDECREF(frame->localsplus[i]);
    Py_XDECREF(frame->f_locals);
    Py_DECREF(frame->f_func);
    Py_DECREF(frame->f_code);
pop:
    ts->recursion_remaining++;
    ts->datastack_top = (PyObject **)frame;
}
