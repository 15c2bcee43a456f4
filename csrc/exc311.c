/* psyco: C glue for the exception-handling and namespace opcodes (compiled like cpython311.c,
 * with CPython 3.11's internal headers; see build.rs).
 *
 * Job: reach the thread-state and frame internals that Rust cannot see: the handled-exception
 * stack (`tstate->exc_info`), the frame object a traceback entry needs, a code object's local
 * names and the interpreter's own `__import__`. Keeps no state; every caller holds the GIL. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_interp.h"

/* The slot holding the exception currently being handled (PUSH_EXC_INFO/POP_EXCEPT). */
PyObject **psyco_exc_info_value(PyThreadState *ts) { return &ts->exc_info->exc_value; }

/* What ceval's `error:` label does for the traceback: prepend an entry for `frame` (at its
 * prev_instr) unless the frame is incomplete. Compiled code runs with its frame linked as the
 * thread's current frame, so PyEval_GetFrame creates the frame object when there is none yet
 * (the pending exception is kept aside meanwhile: PyEval_GetFrame clears errors on failure).
 * Returns 0, or -1 with nothing done if the frame has no frame object and is not the current
 * frame (no public way to make one): the caller then leaves the error to the interpreter. */
int psyco_traceback_here(_PyInterpreterFrame *frame) {
    if (_PyFrame_IsIncomplete(frame)) return 0;
    PyFrameObject *f = frame->frame_obj;
    if (f == NULL) {
        PyThreadState *ts = _PyThreadState_GET();
        if (ts->cframe == NULL || ts->cframe->current_frame != frame) return -1;
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        f = PyEval_GetFrame();
        PyErr_Restore(t, v, tb);
    }
    if (f != NULL) PyTraceBack_Here(f);
    return 0;
}

/* co_localsplusnames[i] of the frame's code (borrowed). */
PyObject *psyco_localsplus_name(_PyInterpreterFrame *f, int i) {
    return PyTuple_GET_ITEM(f->f_code->co_localsplusnames, i);
}

/* The interpreter's original builtins.__import__ (IMPORT_NAME's fast path compares with it). */
PyObject *psyco_interp_import_func(PyThreadState *ts) { return ts->interp->import_func; }
