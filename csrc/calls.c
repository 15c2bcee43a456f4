/* psyco: direct calls between compiled functions — pushing and popping the callee's
 * interpreter frame without going through vectorcall, `_PyEval_Vector` and the frame hook.
 *
 * Job: `psyco_push_frame` does what 3.11's `_PyEvalFramePushAndInit` + `initialize_locals` do
 * for the simple shapes CALL_PY_EXACT_ARGS / CALL_PY_WITH_DEFAULTS accept (positional
 * arguments only, defaults filling the rest, no *args, **kwargs or keyword-only parameters, not a
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
#include "internal/pycore_ceval.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_object.h"
#include "internal/pycore_pystate.h"

/* What `psyco_call_py` returns when the ordinary call path must be taken. */
#define PSYCO_NOT_HANDLED ((PyObject *)1)

#define UNSUPPORTED_FLAGS (CO_VARARGS | CO_VARKEYWORDS | CO_GENERATOR | CO_COROUTINE | \
                           CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE)

/* Code without CO_OPTIMIZED (module or class-body code made into a function with
 * types.FunctionType) runs with its globals as its locals: `_PyFunction_Vectorcall` passes
 * them, the frames pushed here have none. Such calls take the ordinary path. */
#define UNSUPPORTED(co) (((co)->co_flags & UNSUPPORTED_FLAGS) || !((co)->co_flags & CO_OPTIMIZED))

/* A handful of arguments and locals: vectorized copy loops, or a memset call for the NULLs,
 * only add set-up work here. */
#define NO_VECTOR_LOOPS __attribute__((optimize("no-tree-vectorize", "no-tree-loop-distribute-patterns")))

/* Code whose calls frames can be pushed here: positional parameters only. */
static inline int direct_code(PyCodeObject *co) {
    return !UNSUPPORTED(co) && co->co_kwonlyargcount == 0;
}

/* Whether `f(*args[:nargs])` is a call pushed here (CALL_PY_EXACT_ARGS / CALL_PY_WITH_DEFAULTS:
 * the parameter count or fewer arguments, the defaults covering the rest). */
static inline int pushable(PyFunctionObject *f, PyCodeObject *co, Py_ssize_t nargs) {
    if (!direct_code(co)) return 0;
    Py_ssize_t missing = co->co_argcount - nargs;
    if (missing == 0) return 1;
    PyObject *defaults = f->func_defaults;
    Py_ssize_t ndefaults = defaults == NULL ? 0 : PyTuple_GET_SIZE(defaults);
    return missing > 0 && missing <= ndefaults;
}

static inline size_t frame_size(PyCodeObject *co) {
    return (size_t)co->co_nlocalsplus + (size_t)co->co_stacksize + FRAME_SPECIALS_SIZE;
}

/* Pushes and initializes the frame of a `pushable` call with `size` words of room in the data
 * stack's chunk: the frame takes the references to `f` and the arguments; the last `missing`
 * defaults are copied as CALL_PY_WITH_DEFAULTS copies them. */
NO_VECTOR_LOOPS __attribute__((always_inline))
static inline _PyInterpreterFrame *push_checked(PyThreadState *ts, PyFunctionObject *f, size_t size,
                                                PyObject *const *args, Py_ssize_t nargs) {
    PyCodeObject *co = (PyCodeObject *)f->func_code;
    Py_ssize_t argcount = co->co_argcount;
    int nlocalsplus = co->co_nlocalsplus;
    _PyInterpreterFrame *frame = (_PyInterpreterFrame *)ts->datastack_top;
    ts->datastack_top += size;
    _PyFrame_InitializeSpecials(frame, f, NULL, nlocalsplus);
    PyObject **locals = frame->localsplus;
    for (Py_ssize_t i = 0; i < nargs; i++) locals[i] = args[i];
    Py_ssize_t missing = argcount - nargs;
    if (missing != 0) {
        PyObject *defaults = f->func_defaults;
        Py_ssize_t first = PyTuple_GET_SIZE(defaults) - missing;
        for (Py_ssize_t i = 0; i < missing; i++) {
            PyObject *d = PyTuple_GET_ITEM(defaults, first + i);
            Py_INCREF(d);
            locals[nargs + i] = d;
        }
    }
    for (Py_ssize_t i = argcount; i < nlocalsplus; i++) locals[i] = NULL;
    return frame;
}

/* Pushes and initializes a frame for `func(*args)` (nargs positional arguments, references
 * moved from the caller), or returns NULL if this shape of call is not handled here. */
NO_VECTOR_LOOPS
_PyInterpreterFrame *psyco_push_frame(PyThreadState *ts, PyObject *func, PyObject **args, Py_ssize_t nargs) {
    PyFunctionObject *f = (PyFunctionObject *)func;
    PyCodeObject *co = (PyCodeObject *)f->func_code;
    if (!pushable(f, co, nargs)) return NULL;
    size_t size = frame_size(co);
    if (!_PyThreadState_HasStackSpace(ts, size)) return NULL;
    return push_checked(ts, f, size, args, nargs);
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
NO_VECTOR_LOOPS
static inline void pop_frame(PyThreadState *ts, _PyInterpreterFrame *frame) {
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

void psyco_pop_frame(PyThreadState *ts, _PyInterpreterFrame *frame) { pop_frame(ts, frame); }

/* ---------------------------------------------------------------------------------------------
 * Direct calls between compiled functions
 *
 * `psyco_call_py` is the whole of a call from machine code into another compiled function, in
 * one place: what 3.11's CALL_PY_EXACT_ARGS does to push the frame, what `run_direct`
 * (src/ffi/exec.rs) does to run it under the caller's `_PyCFrame`, and what
 * `psyco_pop_frame` does after. CALL's machine code calls it first for any callable that
 * might be a Python function; PSYCO_NOT_HANDLED sends it on to the general `rt_call`.
 *
 * Invariants:
 * - Declines (nothing touched) unless: an exact PyFunction whose code has a psyco entry,
 *   called positionally with its parameter count or fewer, the defaults covering the rest
 *   (CALL_PY_EXACT_ARGS / CALL_PY_WITH_DEFAULTS), a shape `psyco_push_frame` accepts,
 *   nothing traces the thread, and the data stack's current chunk has room.
 * - Otherwise consumes the references to `func` and the `nargs` arguments and returns the
 *   result, or NULL with an exception set (also for a RecursionError raised before the call).
 * - A machine-code exit into the interpreter (deopt or error) is finished by the same
 *   `psyco_finish_exit` the other entries use, with the frame still pushed.
 * ------------------------------------------------------------------------------------------- */

/* The record psyco keeps in a code object's co_extra slot starts with the machine-code entry,
 * then the code's identity, the flags, bind()'s depth and the count of calls from machine code
 * while uncompiled (`CodeRecord` in src/queue/record.rs is repr(C) in this order; checked
 * there). */
struct psyco_record_head { void *entry; uintptr_t code; uint32_t flags; int32_t rec; uint32_t callee_calls; };
#define PSYCO_FLAG_BOUND 1u /* record.rs Flags::BOUND: compile at the next call (the hook's job) */
#define PSYCO_FLAGS_DONE 0x1bau /* record.rs Flags::DONE: selected, compiled, failed, never... */

/* `_PyCodeObjectExtra` of Objects/codeobject.c (not in the installed headers; the Rust side
 * reads the same layout in `record_of_raw`). */
typedef struct { Py_ssize_t ce_size; void *ce_extras[1]; } psyco_code_extra;

/* The co_extra index of psyco's records, set once by the Rust side (-1 before). */
Py_ssize_t psyco_extra_index = -1;

typedef PyObject *(*psyco_entry_fn)(PyThreadState *, _PyInterpreterFrame *);

/* From src/ffi/exec.rs. */
extern PyObject *psyco_finish_exit(PyThreadState *ts, _PyInterpreterFrame *frame, PyObject *r, int tracing);
extern int psyco_c_stack_exhausted(PyThreadState *ts);

#define PSYCO_EXIT_MAX 2 /* EXIT_DEOPT = 1, EXIT_ERROR = 2 (src/compiler/emit.rs) */

/* The record of `co`, or NULL. */
static inline struct psyco_record_head *record_of(PyCodeObject *co) {
    psyco_code_extra *extra = (psyco_code_extra *)co->co_extra;
    Py_ssize_t idx = psyco_extra_index;
    if (extra == NULL || idx < 0 || extra->ce_size <= idx) return NULL;
    return (struct psyco_record_head *)extra->ce_extras[idx];
}

/* The machine-code entry for `func(*args[:nargs])` if it can be run directly here (the
 * conditions listed above; `*size` is then the frame's size), else NULL. Touches nothing. */
__attribute__((always_inline)) static inline psyco_entry_fn direct_entry(PyThreadState *ts, PyObject *func, Py_ssize_t nargs, size_t *size) {
    if (!Py_IS_TYPE(func, &PyFunction_Type)) return NULL;
    PyFunctionObject *f = (PyFunctionObject *)func;
    PyCodeObject *co = (PyCodeObject *)f->func_code;
    struct psyco_record_head *rec = record_of(co);
    if (rec == NULL) return NULL;
    psyco_entry_fn entry = (psyco_entry_fn)__atomic_load_n(&rec->entry, __ATOMIC_ACQUIRE);
    if (entry == NULL || !pushable(f, co, nargs)) return NULL;
    if (ts->cframe->use_tracing) return NULL; /* tracers see calls through the ordinary path */
    *size = frame_size(co);
    if (!_PyThreadState_HasStackSpace(ts, *size)) return NULL;
    return entry;
}

/* Pushes the frame (taking the references to `func` and the arguments), runs `entry` on it
 * and pops it; `direct_entry` approved the call. */
NO_VECTOR_LOOPS __attribute__((always_inline))
static inline PyObject *run_direct_call(PyThreadState *ts, PyObject *func, psyco_entry_fn entry, size_t size,
                                        PyObject *const *args, Py_ssize_t nargs) {
    _PyInterpreterFrame *frame = push_checked(ts, (PyFunctionObject *)func, size, args, nargs);

    /* Run (run_direct): under the caller's cframe, one recursion unit. */
    _PyCFrame *cf = ts->cframe;
    PyObject *r;
    int depth = ts->recursion_limit - ts->recursion_remaining;
    if (depth > 64 && psyco_c_stack_exhausted(ts)) {
        r = NULL;
    } else {
        _PyInterpreterFrame *caller = cf->current_frame;
        frame->previous = caller;
        cf->current_frame = frame;
        if (--ts->recursion_remaining < 0 && _Py_CheckRecursiveCall(ts, "")) {
            /* `_Py_CheckRecursiveCall` already gave the unit back */
            cf->current_frame = caller;
            r = NULL;
        } else {
            r = entry(ts, frame);
            ts->recursion_remaining++;
            cf->current_frame = caller;
            if ((uintptr_t)r <= PSYCO_EXIT_MAX && r != NULL) r = psyco_finish_exit(ts, frame, r, cf->use_tracing != 0);
        }
    }
    pop_frame(ts, frame);
    return r;
}

/* Callee promotion (src/queue/mod.rs `promote_callee`): under profile() and background(), a
 * function that machine code keeps calling although it has no machine code of its own (so each
 * such call takes the general path, and the interpreter runs it without CPython's inlined
 * calls, which the frame hook disables) is offered to the compiler after every
 * PSYCO_PROMOTE_EVERY such calls. Nonzero while a profiler of those two kinds runs. */
extern int psyco_promote_callees;
extern void psyco_promote_callee(PyObject *func);
#define PSYCO_PROMOTE_EVERY 1024u

static void note_uncompiled_callee(PyObject *func) {
    if (!__atomic_load_n(&psyco_promote_callees, __ATOMIC_RELAXED) || !Py_IS_TYPE(func, &PyFunction_Type)) return;
    struct psyco_record_head *rec = record_of((PyCodeObject *)((PyFunctionObject *)func)->func_code);
    if (rec == NULL) {
        psyco_promote_callee(func); /* makes the record, so counting starts */
        return;
    }
    if (__atomic_load_n(&rec->entry, __ATOMIC_ACQUIRE) != NULL ||
        (__atomic_load_n(&rec->flags, __ATOMIC_RELAXED) & PSYCO_FLAGS_DONE)) return;
    uint32_t c = __atomic_add_fetch(&rec->callee_calls, 1, __ATOMIC_RELAXED);
    if ((c & (PSYCO_PROMOTE_EVERY - 1)) == 0) psyco_promote_callee(func);
}

/* A generator or coroutine of uncompiled code resumed from a frame running compiled code
 * (`gen.send()`, `next()`, a `for` loop over it): counted like a call from machine code, so
 * that one a compiled loop keeps resuming is promoted too (generator frames keep their
 * function in `f_func`). */
void psyco_note_resumed(_PyInterpreterFrame *frame) {
    if (!__atomic_load_n(&psyco_promote_callees, __ATOMIC_RELAXED)) return;
    _PyInterpreterFrame *prev = frame->previous;
    if (prev == NULL || frame->f_func == NULL || (PyCodeObject *)frame->f_func->func_code != frame->f_code) return;
    struct psyco_record_head *caller = record_of(prev->f_code);
    if (caller == NULL || __atomic_load_n(&caller->entry, __ATOMIC_ACQUIRE) == NULL) return;
    note_uncompiled_callee((PyObject *)frame->f_func);
}

NO_VECTOR_LOOPS
PyObject *psyco_call_py(PyThreadState *ts, PyObject *func, PyObject **args, Py_ssize_t nargs) {
    size_t size;
    psyco_entry_fn entry = direct_entry(ts, func, nargs, &size);
    if (entry == NULL) {
        note_uncompiled_callee(func);
        return PSYCO_NOT_HANDLED;
    }
    return run_direct_call(ts, func, entry, size, args, nargs);
}

/* The second half of a call whose frame machine code pushed and ran itself
 * (the frame-push stub, `ops::call::make_frame_push_stub`: the same steps as `run_direct_call` up to the entry's
 * return, with the caller current again and the recursion unit given back): finishes an exit
 * into the interpreter as `run_direct_call` does, then pops the frame. Returns the result or
 * NULL with an exception set. */
NO_VECTOR_LOOPS
PyObject *psyco_direct_return(PyThreadState *ts, _PyInterpreterFrame *frame, PyObject *r) {
    if ((uintptr_t)r <= PSYCO_EXIT_MAX && r != NULL) r = psyco_finish_exit(ts, frame, r, ts->cframe->use_tracing != 0);
    pop_frame(ts, frame);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Calls into compiled functions from C and from interpreted code
 *
 * With a frame-evaluation hook installed, CPython 3.11 calls every Python function through its
 * `vectorcall` slot: the interpreter's CALL (it inlines Python calls only without a hook),
 * C code (`sorted(key=...)`, `map`, `functools.partial`), and the type slots that run
 * `__add__`, `__eq__`, `__init__`, `__getitem__`, property getters ... (`vectorcall_method`).
 * That slot is `_PyFunction_Vectorcall`, which pushes a frame through `_PyEval_Vector` and
 * reaches the compiled code only through the hook.
 *
 * `psyco_adopt_function` points the slot of a function whose code runs compiled at
 * `psyco_vectorcall`, which takes the direct path above for positional calls it approves
 * and hands everything else (keywords, a tracer, code that lost its machine code or whose
 * `__code__` was replaced, ...) to `_PyFunction_Vectorcall` unchanged.
 *
 * Invariants:
 * - Only exact functions whose slot is still `_PyFunction_Vectorcall` are adopted, and only
 *   for code the direct path can run (no *args, **kwargs or keyword-only parameters, not a
 *   generator or coroutine, CO_OPTIMIZED), so a declined call is rare and costs one check.
 * - The slot is never restored: `psyco_vectorcall` re-checks the code's record at every
 *   call, so a function outliving its machine code (or psyco's profilers) just falls back.
 * - Vectorcall arguments are borrowed: they are increfed before the direct path takes them.
 * ------------------------------------------------------------------------------------------- */

/* From src/queue/mod.rs: 1 while full() compiles every function at its first call. */
extern int psyco_compile_on_call(void);

/* psyco's frame-evaluation hook, once installed (src/ffi/mod.rs `hook::install`). */
static _PyFrameEvalFunction psyco_hook_fn;
void psyco_set_hook_fn(_PyFrameEvalFunction f) { psyco_hook_fn = f; }

/* What the hook would do for an uncompiled `func(*args[:nargs])` is just to interpret it:
 * true when nothing compiles at a first call (not full(), not bound) and the call is one
 * `push_checked` takes (`*size` is then the frame's size). Touches nothing. */
static inline int interpret_directly(PyThreadState *ts, PyObject *func, Py_ssize_t nargs, size_t *size) {
    PyFunctionObject *f = (PyFunctionObject *)func;
    PyCodeObject *co = (PyCodeObject *)f->func_code;
    struct psyco_record_head *rec = record_of(co);
    if (rec != NULL && (__atomic_load_n(&rec->flags, __ATOMIC_RELAXED) & PSYCO_FLAG_BOUND)) return 0;
    if (!pushable(f, co, nargs) || ts->cframe->use_tracing || psyco_compile_on_call()) return 0;
    /* Another tool's frame hook replaced psyco's: calls must reach it. */
    if (ts->interp->eval_frame != psyco_hook_fn || psyco_hook_fn == NULL) return 0;
    *size = frame_size(co);
    return _PyThreadState_HasStackSpace(ts, *size);
}

/* `_PyEval_Vector` for a call `interpret_directly` approved: push the frame (taking the
 * references), let the interpreter run it as the hook would, pop it. */
NO_VECTOR_LOOPS
static PyObject *run_interpreted_call(PyThreadState *ts, PyObject *func, size_t size, PyObject *const *args, Py_ssize_t nargs) {
    _PyInterpreterFrame *frame = push_checked(ts, (PyFunctionObject *)func, size, args, nargs);
    PyObject *r;
    int depth = ts->recursion_limit - ts->recursion_remaining;
    if (depth > 64 && psyco_c_stack_exhausted(ts)) {
        r = NULL;
    } else {
        r = _PyEval_EvalFrameDefault(ts, frame, 0);
    }
    pop_frame(ts, frame);
    return r;
}

NO_VECTOR_LOOPS
static PyObject *psyco_vectorcall(PyObject *func, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) {
        PyThreadState *ts = _PyThreadState_GET();
        size_t size;
        psyco_entry_fn entry = direct_entry(ts, func, nargs, &size);
        if (entry != NULL) {
            Py_INCREF(func);
            for (Py_ssize_t i = 0; i < nargs; i++) Py_INCREF(args[i]);
            return run_direct_call(ts, func, entry, size, args, nargs);
        }
        if (interpret_directly(ts, func, nargs, &size)) {
            Py_INCREF(func);
            for (Py_ssize_t i = 0; i < nargs; i++) Py_INCREF(args[i]);
            return run_interpreted_call(ts, func, size, args, nargs);
        }
    }
    return _PyFunction_Vectorcall(func, args, nargsf, kwnames);
}

void psyco_adopt_function(_PyInterpreterFrame *frame) {
    PyFunctionObject *f = frame->f_func;
    if (f == NULL || !Py_IS_TYPE((PyObject *)f, &PyFunction_Type) || f->vectorcall != _PyFunction_Vectorcall) return;
    PyCodeObject *co = frame->f_code;
    if ((PyCodeObject *)f->func_code != co || !direct_code(co)) return;
    f->vectorcall = psyco_vectorcall;
}

/* 1 if `func` is a function whose calls go through `psyco_vectorcall` (for tests). */
int psyco_function_adopted(PyObject *func) {
    return Py_IS_TYPE(func, &PyFunction_Type) && ((PyFunctionObject *)func)->vectorcall == psyco_vectorcall;
}

/* ---------------------------------------------------------------------------------------------
 * Calls of C callables
 *
 * `psyco_call_c` calls `callable(*args[:total - nkw], **dict(zip(kwnames, args[total - nkw:])))`
 * the way 3.11's specialized PRECALL instructions do for builtin functions and method
 * descriptors (PRECALL_BUILTIN_O/FAST/FAST_WITH_KEYWORDS, PRECALL_NO_KW_METHOD_DESCRIPTOR_*):
 * the C function is called directly, skipping vectorcall's wrappers. The recursion counter is
 * still counted around the call (as `cfunction_enter_call` / `method_check_args` do), so C
 * recursion through builtins raises RecursionError exactly as with the generic path. Any other
 * callable or shape goes through `_PyObject_VectorcallTstate`, as the generic CALL does.
 * References: borrowed (the caller releases the callable and the arguments); result: new
 * reference, or NULL with an exception set.
 * ------------------------------------------------------------------------------------------- */
#include "internal/pycore_call.h"
#include "internal/pycore_ceval.h"

/* The flags that choose a C function's vectorcall wrapper (as in PyCMethod_New, descr_new). */
#define CONVENTION_FLAGS (METH_VARARGS | METH_FASTCALL | METH_NOARGS | METH_O | METH_KEYWORDS | METH_METHOD)

typedef PyObject *(*psyco_fast_fn)(PyObject *, PyObject *const *, Py_ssize_t);
typedef PyObject *(*psyco_fastkw_fn)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);

/* A C function's result and the error indicator must agree (what `_Py_CheckFunctionResult`
 * checks on the generic path); only a disagreement pays for the full check. */
static inline PyObject *checked(PyThreadState *ts, PyObject *callable, PyObject *res) {
    if ((res == NULL) != (ts->curexc_type != NULL)) return _Py_CheckFunctionResult(ts, callable, res, NULL);
    return res;
}

/* Calls `meth` for `self` with the arguments of one of the four plain calling conventions;
 * `handled` is cleared when the convention or the argument count does not fit. */
static inline PyObject *call_def(PyThreadState *ts, PyObject *callable, PyMethodDef *def, int flags, PyObject *self,
                                 PyObject **args, Py_ssize_t nargs, PyObject *kwnames, int *handled) {
    PyObject *res;
    switch (flags) {
    case METH_FASTCALL:
        if (kwnames != NULL) break;
        if (_Py_EnterRecursiveCallTstate(ts, " while calling a Python object")) return NULL;
        res = ((psyco_fast_fn)(void (*)(void))def->ml_meth)(self, args, nargs);
        _Py_LeaveRecursiveCallTstate(ts);
        return checked(ts, callable, res);
    case METH_FASTCALL | METH_KEYWORDS:
        if (_Py_EnterRecursiveCallTstate(ts, " while calling a Python object")) return NULL;
        res = ((psyco_fastkw_fn)(void (*)(void))def->ml_meth)(self, args, nargs, kwnames);
        _Py_LeaveRecursiveCallTstate(ts);
        return checked(ts, callable, res);
    case METH_O:
        if (kwnames != NULL || nargs != 1) break;
        if (_Py_EnterRecursiveCallTstate(ts, " while calling a Python object")) return NULL;
        res = def->ml_meth(self, args[0]);
        _Py_LeaveRecursiveCallTstate(ts);
        return checked(ts, callable, res);
    case METH_NOARGS:
        if (kwnames != NULL || nargs != 0) break;
        if (_Py_EnterRecursiveCallTstate(ts, " while calling a Python object")) return NULL;
        res = def->ml_meth(self, NULL);
        _Py_LeaveRecursiveCallTstate(ts);
        return checked(ts, callable, res);
    }
    *handled = 0;
    return NULL;
}

PyObject *psyco_call_c(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t total, PyObject *kwnames) {
    Py_ssize_t nargs = total - (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    PyTypeObject *tp = Py_TYPE(callable);
    int handled = 1;
    PyObject *res;
    if (tp == &PyCFunction_Type) {
        /* builtin functions and methods of C objects (len, isinstance, d.get, ...) */
        PyCFunctionObject *cf = (PyCFunctionObject *)callable;
        PyMethodDef *def = cf->m_ml;
        int flags = def->ml_flags & CONVENTION_FLAGS;
        /* PyCFunction_GET_SELF: a METH_STATIC function gets NULL, not its m_self */
        res = call_def(ts, callable, def, flags, PyCFunction_GET_SELF(callable), args, nargs, kwnames, &handled);
        if (handled) return res;
    } else if (tp == &PyMethodDescr_Type && nargs >= 1) {
        /* LOAD_METHOD of a C method (list.append, str.lower, ...): args[0] is self */
        PyMethodDescrObject *d = (PyMethodDescrObject *)callable;
        PyObject *self = args[0];
        if (Py_IS_TYPE(self, d->d_common.d_type) || PyObject_TypeCheck(self, d->d_common.d_type)) {
            PyMethodDef *def = d->d_method;
            int flags = def->ml_flags & CONVENTION_FLAGS;
            res = call_def(ts, callable, def, flags, self, args + 1, nargs - 1, kwnames, &handled);
            if (handled) return res;
        }
    }
    return _PyObject_VectorcallTstate(ts, callable, args, (size_t)nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
}

/* `module.name` (a new reference) if it is the module's own C function of that name with the
 * calling convention `convention` (METH_O, METH_FASTCALL...), else NULL (no exception). */
static PyObject *module_function(const char *module, const char *name, int convention) {
    PyObject *m = PyImport_ImportModule(module);
    if (m == NULL) { PyErr_Clear(); return NULL; }
    PyObject *f = PyObject_GetAttrString(m, name);
    if (f == NULL) PyErr_Clear();
    int ok = f != NULL && Py_IS_TYPE(f, &PyCFunction_Type)
             && ((PyCFunctionObject *)f)->m_self == m
             && strcmp(((PyCFunctionObject *)f)->m_ml->ml_name, name) == 0
             && (((PyCFunctionObject *)f)->m_ml->ml_flags & CONVENTION_FLAGS) == convention;
    Py_DECREF(m);
    if (!ok) { Py_XDECREF(f); return NULL; }
    return f;
}

/* The two callables CALL's inline paths recognize by identity (src/compiler/ops/call.rs):
 * builtins.len and the list.append method descriptor (and math.sqrt, see below). Stores new
 * references and returns 0 if
 * both are the objects CPython made (len: a METH_O builtin of the builtins module; append:
 * list's own METH_O descriptor), else returns -1 and the compiler emits no inline path. */
int psyco_call_targets(PyObject **len_out, PyObject **append_out, PyObject **sqrt_out) {
    *len_out = *append_out = *sqrt_out = NULL;
    PyObject *len = module_function("builtins", "len", METH_O);
    int ok = len != NULL;
    PyObject *append = PyDict_GetItemString(PyList_Type.tp_dict, "append"); /* borrowed */
    ok = ok && append != NULL && Py_IS_TYPE(append, &PyMethodDescr_Type)
         && ((PyMethodDescrObject *)append)->d_common.d_type == &PyList_Type
         && (((PyMethodDescrObject *)append)->d_method->ml_flags & CONVENTION_FLAGS) == METH_O;
    if (!ok) { Py_XDECREF(len); return -1; }
    Py_INCREF(append);
    *len_out = len;
    *append_out = append;
    /* math.sqrt, for fused float expressions; optional: without it nothing is fused around a
     * sqrt call. */
    *sqrt_out = module_function("math", "sqrt", METH_O);
    return 0;
}

/* `builtins.ord` itself (a new reference), for fused int expressions that read one character's
 * code point; NULL if the builtins module's `ord` is not CPython's own METH_O function. */
PyObject *psyco_ord_target(void) {
    return module_function("builtins", "ord", METH_O);
}

/* builtins.isinstance (a new reference) if it is CPython's own METH_FASTCALL function of the
 * builtins module, which calls PyObject_IsInstance on its two arguments; else NULL. */
PyObject *psyco_isinstance_target(void) {
    return module_function("builtins", "isinstance", METH_FASTCALL);
}

/* How machine code recognizes a compact ASCII str and finds its characters: the 32-bit word at
 * `offsetof(PyASCIIObject, state)` masked with `*mask` equals `*value` exactly for a ready,
 * compact, ASCII (1-byte kind) string, whose characters then start `sizeof(PyASCIIObject)`
 * bytes into the object. The bit-field layout is the compiler's, so it is read off structs set
 * field by field, then checked on live strings. Returns the state offset, or -1. */
int64_t psyco_ascii_probe(uint32_t *mask, uint32_t *value, int64_t *data_offset) {
    PyASCIIObject m, v;
    memset(&m, 0, sizeof m);
    memset(&v, 0, sizeof v);
    m.state.kind = 7; m.state.compact = 1; m.state.ascii = 1; m.state.ready = 1;
    v.state.kind = PyUnicode_1BYTE_KIND; v.state.compact = 1; v.state.ascii = 1; v.state.ready = 1;
    int64_t off = (int64_t)offsetof(PyASCIIObject, state);
    memcpy(mask, (char *)&m + off, 4);
    memcpy(value, (char *)&v + off, 4);
    *data_offset = (int64_t)sizeof(PyASCIIObject);
    PyObject *a = PyUnicode_FromString("q");
    PyObject *b = PyUnicode_FromString("\xc3\xa9"); /* U+00E9: compact, 1-byte kind, not ASCII */
    PyObject *c = PyUnicode_FromString("\xe2\x82\xac"); /* U+20AC: 2-byte kind */
    uint32_t sa = 0, sb = 0, sc = 0;
    if (a) memcpy(&sa, (char *)a + off, 4);
    if (b) memcpy(&sb, (char *)b + off, 4);
    if (c) memcpy(&sc, (char *)c + off, 4);
    int ok = a && b && c && (sa & *mask) == *value && ((unsigned char *)a)[*data_offset] == 'q'
             && (sb & *mask) != *value && (sc & *mask) != *value
             && PyUnicode_READ_CHAR(a, 0) == 'q';
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    PyErr_Clear();
    return ok ? off : -1;
}

/* The address of the str CPython returns for `chr(0)` — the first of the one-character ASCII
 * strings it keeps as static singletons (`_Py_SINGLETON(strings).ascii`), which indexing an
 * ASCII str returns (unicode_getitem → get_latin1_char) — with `*stride`, the distance between
 * consecutive ones. Checked for all 128 characters and on a live `str[i]`; NULL if the layout
 * is not that. */
PyObject *psyco_ascii_singletons(int64_t *stride) {
    PyObject *base = PyUnicode_FromOrdinal(0);
    PyObject *one = PyUnicode_FromOrdinal(1);
    int ok = base != NULL && one != NULL;
    int64_t st = ok ? (int64_t)((char *)one - (char *)base) : 0;
    for (int c = 0; ok && c < 128; c++) {
        PyObject *s = PyUnicode_FromOrdinal(c);
        ok = s != NULL && (char *)s == (char *)base + c * st && PyUnicode_GET_LENGTH(s) == 1
             && PyUnicode_READ_CHAR(s, 0) == (Py_UCS4)c;
        Py_XDECREF(s);
    }
    if (ok) {
        PyObject *text = PyUnicode_FromString("xyz");
        PyObject *y = text == NULL ? NULL : PySequence_GetItem(text, 1);
        ok = y != NULL && (char *)y == (char *)base + 'y' * st;
        Py_XDECREF(y);
        Py_XDECREF(text);
    }
    Py_XDECREF(base);
    Py_XDECREF(one);
    PyErr_Clear();
    *stride = st;
    return ok && st > 0 ? base : NULL;
}
