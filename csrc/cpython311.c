/* psyco: the one C file, compiled only for CPython 3.11 on x86-64 Linux (see build.rs).
 *
 * Job: report the layout of CPython-internal structs as compiled from the interpreter's own
 * headers (so the Rust mirrors in src/ffi can be checked rather than trusted), and wrap the
 * headers' static inline helpers that Rust cannot call. Nothing here keeps state.
 * Every function expects the GIL to be held by the caller unless it says otherwise. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_ceval.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_long.h"
#include "internal/pycore_moduleobject.h"
#include "opcode.h"

/* The order here is the order of `ffi::OffsetId`; keep both in step. */
static const int64_t OFFSETS[] = {
    offsetof(_PyInterpreterFrame, f_func),
    offsetof(_PyInterpreterFrame, f_globals),
    offsetof(_PyInterpreterFrame, f_builtins),
    offsetof(_PyInterpreterFrame, f_locals),
    offsetof(_PyInterpreterFrame, f_code),
    offsetof(_PyInterpreterFrame, frame_obj),
    offsetof(_PyInterpreterFrame, previous),
    offsetof(_PyInterpreterFrame, prev_instr),
    offsetof(_PyInterpreterFrame, stacktop),
    offsetof(_PyInterpreterFrame, is_entry),
    offsetof(_PyInterpreterFrame, owner),
    offsetof(_PyInterpreterFrame, localsplus),
    offsetof(PyCodeObject, co_consts),
    offsetof(PyCodeObject, co_names),
    offsetof(PyCodeObject, co_exceptiontable),
    offsetof(PyCodeObject, co_flags),
    offsetof(PyCodeObject, co_stacksize),
    offsetof(PyCodeObject, co_firstlineno),
    offsetof(PyCodeObject, co_nlocalsplus),
    offsetof(PyCodeObject, co_nlocals),
    offsetof(PyCodeObject, co_filename),
    offsetof(PyCodeObject, co_name),
    offsetof(PyCodeObject, co_qualname),
    offsetof(PyCodeObject, _co_firsttraceable),
    offsetof(PyCodeObject, co_extra),
    offsetof(PyCodeObject, co_code_adaptive),
    offsetof(PyThreadState, recursion_remaining),
    offsetof(PyThreadState, recursion_limit),
    offsetof(PyThreadState, cframe),
    offsetof(PyThreadState, c_profilefunc),
    offsetof(PyThreadState, c_tracefunc),
    offsetof(PyThreadState, c_profileobj),
    offsetof(PyThreadState, c_traceobj),
    offsetof(_PyCFrame, use_tracing),
    offsetof(_PyCFrame, current_frame),
    offsetof(_PyCFrame, previous),
    offsetof(PyFrameObject, f_frame),
    sizeof(_PyInterpreterFrame),
    offsetof(PyInterpreterState, ceval) + offsetof(struct _ceval_state, eval_breaker),
    offsetof(PyFunctionObject, func_closure),
    offsetof(PyTupleObject, ob_item),
    offsetof(PyListObject, ob_item),
    offsetof(PyMethodObject, im_func),
    offsetof(PyMethodObject, im_self),
    offsetof(PyCellObject, ob_ref),
    offsetof(PyVarObject, ob_size),
    offsetof(PyLongObject, ob_digit),
    PyLong_SHIFT,
    offsetof(PyFloatObject, ob_fval),
    offsetof(PyFunctionObject, func_defaults),
    offsetof(PyFunctionObject, func_kwdefaults),
    offsetof(PyFunctionObject, func_annotations),
    offsetof(PyDictObject, ma_version_tag),
    offsetof(PyFunctionObject, func_code),
    offsetof(PyTypeObject, tp_version_tag),
    offsetof(PyHeapTypeObject, ht_cached_keys),
    offsetof(PyDictKeysObject, dk_nentries),
    -4 * (int64_t)sizeof(PyObject *), /* _PyObject_ValuesPointer, pycore_object.h */
    -3 * (int64_t)sizeof(PyObject *), /* _PyObject_ManagedDictPointer */
    offsetof(PyListObject, allocated),
    offsetof(PyASCIIObject, length),
    offsetof(PyDictObject, ma_used),
    offsetof(PyModuleObject, md_dict),
    offsetof(PyMethodDescrObject, d_common.d_type),
    offsetof(PyMethodDescrObject, d_method),
    offsetof(PyCFunctionObject, m_ml),
    offsetof(PyCFunctionObject, m_self),
    offsetof(PyMethodDef, ml_meth),
    offsetof(PyMethodDef, ml_flags),
    offsetof(PyThreadState, curexc_type),
    offsetof(PySetObject, used),
    offsetof(PyFunctionObject, func_globals),
    offsetof(PyFunctionObject, func_builtins),
    offsetof(PyThreadState, datastack_top),
    offsetof(PyThreadState, datastack_limit),
};

int64_t psyco_offset_count(void) { return (int64_t)(sizeof(OFFSETS) / sizeof(OFFSETS[0])); }

int64_t psyco_offset(int64_t i) {
    if (i < 0 || i >= psyco_offset_count()) return -1;
    return OFFSETS[i];
}

int psyco_built_micro(void) { return PSYCO_BUILT_MICRO; }

/* ---- frames ---------------------------------------------------------------------------- */

_PyInterpreterFrame *psyco_tstate_frame(PyThreadState *ts) {
    return ts->cframe ? ts->cframe->current_frame : NULL;
}

_PyInterpreterFrame *psyco_frame_previous(_PyInterpreterFrame *f) { return f->previous; }

PyCodeObject *psyco_frame_code(_PyInterpreterFrame *f) { return f->f_code; }

int psyco_frame_is_incomplete(_PyInterpreterFrame *f) { return _PyFrame_IsIncomplete(f); }

/* The instruction the frame is at (an index in code units), or -1. */
int64_t psyco_frame_lasti(_PyInterpreterFrame *f) {
    if (f->prev_instr == NULL) return -1;
    return (int64_t)(f->prev_instr - _PyCode_CODE(f->f_code));
}

_PyInterpreterFrame *psyco_frameobject_frame(PyFrameObject *f) { return f->f_frame; }

/* ---- profiling hooks -------------------------------------------------------------------- */

Py_tracefunc psyco_tstate_profilefunc(PyThreadState *ts) { return ts->c_profilefunc; }
/* The thread's C trace function, not counting psyco's own frame-switch tracer (osr311.c). */
extern int psyco_osr_is_tracer(Py_tracefunc f);
Py_tracefunc psyco_tstate_tracefunc(PyThreadState *ts) {
    return psyco_osr_is_tracer(ts->c_tracefunc) ? NULL : ts->c_tracefunc;
}
PyObject *psyco_tstate_profileobj(PyThreadState *ts) { return ts->c_profileobj; }

/* Installs (func != NULL) or removes psyco's C profile function on a thread's state, the way
 * _PyEval_SetProfile does but without its sys.setprofile audit event: an audit hook is Python
 * code that may release the GIL, and another thread could then free thread states while the
 * caller is walking them (seen as crashes under regrtest, which installs an audit hook).
 * Only ever used where the slot is empty or already holds psyco's own function, whose
 * profile object is NULL, so nothing is released here and no Python code runs. */
int psyco_set_profile(PyThreadState *ts, Py_tracefunc func, PyObject *obj) {
    if (ts->c_profileobj != NULL || obj != NULL) return -1;
    ts->c_profilefunc = func;
    _PyThreadState_UpdateTracingState(ts);
    return 0;
}

int psyco_is_finalizing(void) { return _Py_IsFinalizing(); }

/* ---- sampler support -------------------------------------------------------------------- */

/* 1 if the frame's last instruction is one where the eval loop polls the eval breaker between
 * bytecodes (RESUME, JUMP_BACKWARD and their quickened forms): a thread suspended there gave
 * up the GIL while running bytecode. Anywhere else (a CALL) it may be blocked inside C. */
int psyco_frame_at_loop_check(_PyInterpreterFrame *f) {
    if (f->prev_instr == NULL) return 0;
    int op = _Py_OPCODE(*f->prev_instr);
    return op == RESUME || op == RESUME_QUICK || op == JUMP_BACKWARD || op == JUMP_BACKWARD_QUICK;
}

/* The address of the frame's last instruction (a position that changes as the thread runs). */
uintptr_t psyco_frame_position(_PyInterpreterFrame *f) { return (uintptr_t)f->prev_instr; }

/* Py_AddPendingCall from a thread other than the main one does not raise the main
 * interpreter's eval breaker in 3.11 (COMPUTE_EVAL_BREAKER only counts pending calls when run
 * by the main thread), so the main thread would not notice the call until something else
 * raised it. Raise it; whichever thread sees it recomputes it. May be called without the GIL. */
void psyco_signal_eval_breaker(void) {
    PyInterpreterState *interp = PyInterpreterState_Main();
    if (interp != NULL) _Py_atomic_store_relaxed(&interp->ceval.eval_breaker, 1);
}

/* ---- private iterator layouts ----------------------------------------------------------- */

/* The range and list iterators' structs are private to their .c files; compiled code reads
 * them at the offsets given. Checks them on live iterators: 1 if they hold, 0 if not, -1 if the
 * objects could not be made (then nothing is assumed). */
int psyco_iter_layout_ok(int64_t r_index, int64_t r_start, int64_t r_step, int64_t r_len,
                         int64_t l_index, int64_t l_seq) {
    int ok = -1;
    PyObject *range = PyObject_CallFunction((PyObject *)&PyRange_Type, "iii", 5, 100, 3);
    PyObject *rit = range ? PyObject_GetIter(range) : NULL;
    PyObject *list = PyList_New(0);
    PyObject *lit = list ? PyObject_GetIter(list) : NULL;
    if (rit && lit && Py_TYPE(rit) == &PyRangeIter_Type && Py_TYPE(lit) == &PyListIter_Type) {
        char *r = (char *)rit, *l = (char *)lit;
        PyObject *first = PyIter_Next(rit); /* index 0 -> 1 */
        ok = first != NULL && PyLong_AsLong(first) == 5 &&
             *(long *)(r + r_index) == 1 && *(long *)(r + r_start) == 5 &&
             *(long *)(r + r_step) == 3 && *(long *)(r + r_len) == 32 &&
             *(Py_ssize_t *)(l + l_index) == 0 && *(PyObject **)(l + l_seq) == list;
        Py_XDECREF(first);
    }
    Py_XDECREF(rit);
    Py_XDECREF(range);
    Py_XDECREF(lit);
    Py_XDECREF(list);
    PyErr_Clear();
    return ok;
}

/* ---- small ints -------------------------------------------------------------------------- */

/* The address of the cached int object for -5 (the small-int array runs to 256), if the array
 * is laid out as compiled code assumes: contiguous PyLongObjects of `stride` bytes holding
 * -5..256, the very objects PyLong_FromLong returns. NULL otherwise. */
PyObject *psyco_small_ints(int64_t stride) {
    if ((int64_t)sizeof(PyLongObject) != stride) return NULL;
    PyObject *base = (PyObject *)&_PyLong_SMALL_INTS[0];
    for (long v = -_PY_NSMALLNEGINTS; v < _PY_NSMALLPOSINTS; v++) {
        PyObject *o = PyLong_FromLong(v);
        int same = o == (PyObject *)((char *)base + (v + _PY_NSMALLNEGINTS) * stride);
        Py_XDECREF(o);
        if (!same) return NULL;
    }
    if (_PY_NSMALLNEGINTS != 5 || _PY_NSMALLPOSINTS != 257) return NULL;
    return base;
}

/* ---- interned strings -------------------------------------------------------------------- */

/* The offset of the byte of PyASCIIObject whose two low bits are `state.interned` (nonzero for
 * an interned string), checked on a live interned string and a live non-interned one; -1 if
 * the bits are not where compiled code would read them. Two distinct interned strings are
 * never equal, which lets `==` of interned strings be decided by identity. */
int64_t psyco_str_interned_offset(void) {
    int64_t off = (int64_t)offsetof(PyASCIIObject, state);
    PyObject *a = PyUnicode_InternFromString("psyco: interned probe");
    PyObject *b = PyUnicode_FromString("psyco: not an interned probe");
    int ok = a != NULL && b != NULL && PyUnicode_CHECK_INTERNED(a) && !PyUnicode_CHECK_INTERNED(b) &&
             (((unsigned char *)a)[off] & 3) != 0 && (((unsigned char *)b)[off] & 3) == 0;
    Py_XDECREF(a);
    Py_XDECREF(b);
    PyErr_Clear();
    return ok ? off : -1;
}
