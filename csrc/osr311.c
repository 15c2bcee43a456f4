/* psyco: frame switching for CPython 3.11 — a frame the interpreter is running goes on in
 * machine code from the head of one of its loops (the compiler's side is src/compiler/osr.rs).
 *
 * How: psyco arms a C line tracer on a thread for a short while (psyco_osr_arm). The
 * interpreter reports a line event after every backward jump, with the frame's stack written
 * back and `prev_instr` at the loop head; after the tracer returns it reloads the stack
 * pointer and goes on at `prev_instr` (ceval.c DO_TRACING). At a loop head the compiled code
 * knows, the tracer disarms itself and runs the rest of the frame compiled (through
 * psyco_osr_run, with the frame linked under its real caller); then
 *   - with a result: the result becomes the frame's only stack value and `prev_instr` points
 *     at a RETURN_VALUE of the code, which the interpreter executes next — so the frame
 *     returns exactly as if it had run there (entry frame or not, tracing events included);
 *   - after a deopt: the frame is written back to resume at `prev_instr + 1`, so the tracer
 *     advances `prev_instr` and the suspended loop goes on there;
 *   - with an exception: the tracer fails, so the interpreter unwinds from the loop head, where
 *     no exception-table entry is (the compiler only offers such heads). The frame's own
 *     traceback entry, already added by the run, is taken off the exception and `prev_instr`
 *     set to its instruction: the interpreter adds the same entry again.
 *
 * Invariants
 *   - Armed only on threads with no tracer of their own (`c_tracefunc` NULL) and not inside a
 *     trace call; a user tracer installed later simply replaces it.
 *   - Every event, and every call compiled code makes while the tracer is armed
 *     (psyco_osr_spend), spends budget; when the budget is gone, or a switch happens, the
 *     tracer removes itself from that thread. The queue also disarms every thread at its next
 *     tick.
 *   - psyco's own checks for "another tracer" do not count this one (psyco_tstate_tracefunc
 *     hides it), so compiled code and the hook keep running while it is armed.
 * GIL held everywhere. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stdint.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#include "internal/pycore_pystate.h"

/* src/ffi/exec.rs and src/compiler/osr.rs */
extern uintptr_t psyco_osr_lookup(PyObject *code, int unit, int depth, int *return_unit);
extern PyObject *psyco_osr_run(PyThreadState *ts, _PyInterpreterFrame *frame, uintptr_t entry);
extern void psyco_osr_note(PyObject *code);
extern void psyco_osr_rearm(uintptr_t done_frame);
extern int psyco_thread_has_foreign_tracer(PyThreadState *ts);
#define EXIT_DEOPT ((PyObject *)1)
#define EXIT_NOT_SWITCHED ((PyObject *)3)

/* Line, call and return events the tracer may see before it gives up (shared by all threads
 * it is armed on; the GIL serializes them). */
#define ARM_BUDGET 5000
static int budget;
static uint64_t switches;
/* Set while the tracer re-arms after a switch (it may arm its own thread then). */
static int rearming;

static int osr_trace(PyObject *obj, PyFrameObject *f, int what, PyObject *arg);

static void disarm(PyThreadState *ts) {
    if (ts->c_tracefunc == osr_trace) {
        ts->c_tracefunc = NULL;
        _PyThreadState_UpdateTracingState(ts);
    }
}

int psyco_osr_is_tracer(Py_tracefunc f) { return f == osr_trace; }

uint64_t psyco_osr_switches(void) { return switches; }

/* Frames running switched: they are not armed for again, and do not switch again. */
#define MAX_ACTIVE 64
static _PyInterpreterFrame *active[MAX_ACTIVE];
static int nactive;

/* Frames whose switched run went back to the interpreter (a guard failed): they do not switch
 * again (their next loop head would likely fail the same guard). A small ring. */
#define MAX_DEOPTED 16
static _PyInterpreterFrame *deopted[MAX_DEOPTED];
static int next_deopted;

static int listed(_PyInterpreterFrame *const *list, int n, _PyInterpreterFrame *frame) {
    for (int k = 0; k < n; k++) {
        if (list[k] == frame) return 1;
    }
    return 0;
}

/* Arms the switch on `ts` (any thread of this interpreter) for its frame `target`. 1 if
 * armed, 0 if `target` already runs switched, the thread has a tracer of its own or is inside
 * a trace call. */
int psyco_osr_arm(PyThreadState *ts, _PyInterpreterFrame *target) {
    if (listed(active, nactive, target) || listed(deopted, MAX_DEOPTED, target)) return 0;
    if (psyco_thread_has_foreign_tracer(ts)) return 0;
    if (ts->c_tracefunc == osr_trace) {
        budget = ARM_BUDGET;
        return 1;
    }
    if (ts->c_tracefunc != NULL || ts->c_traceobj != NULL || (ts->tracing && !rearming)) return 0;
    budget = ARM_BUDGET;
    ts->c_tracefunc = osr_trace;
    _PyThreadState_UpdateTracingState(ts);
    return 1;
}

/* Compiled code made a call while the thread traced (its calls then take the slow path):
 * that spends the budget as an event would, so the tracer cannot stay armed over a long run
 * of compiled code, which reports no events. */
void psyco_osr_spend(PyThreadState *ts) {
    if (ts->c_tracefunc == osr_trace && --budget < 0) disarm(ts);
}

/* How many threads have the tracer now (for tests). */
int psyco_osr_armed_count(void) {
    int n = 0;
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts != NULL; ts = PyThreadState_Next(ts)) {
        n += ts->c_tracefunc == osr_trace;
    }
    return n;
}

/* Removes the tracer from every thread that still has it. */
void psyco_osr_disarm_all(void) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts != NULL; ts = PyThreadState_Next(ts)) {
        disarm(ts);
    }
}

static int osr_trace(PyObject *obj, PyFrameObject *f, int what, PyObject *arg) {
    PyThreadState *ts = _PyThreadState_GET();
    if (--budget < 0) {
        disarm(ts);
        return 0;
    }
    if (what != PyTrace_LINE || f == NULL) return 0;
    if (psyco_thread_has_foreign_tracer(ts)) {
        /* a user's profiler came: its events need the interpreter */
        disarm(ts);
        return 0;
    }
    _PyInterpreterFrame *frame = f->f_frame;
    if (frame == NULL || frame->owner != FRAME_OWNED_BY_THREAD || frame->stacktop < 0) return 0;
    if (listed(active, nactive, frame) || listed(deopted, MAX_DEOPTED, frame)) return 0;
    _PyCFrame *outer = ts->cframe;
    if (outer == NULL || outer->current_frame != frame) return 0;
    PyCodeObject *code = frame->f_code;
    int unit = (int)(frame->prev_instr - _PyCode_CODE(code));
    int depth = frame->stacktop - code->co_nlocalsplus;
    int return_unit = -1;
    uintptr_t entry = psyco_osr_lookup((PyObject *)code, unit, depth, &return_unit);
    if (entry == 0 || return_unit < 0 || nactive == MAX_ACTIVE) return 0;
    disarm(ts);

    /* The interpreter loop suspended here counts this frame already and links it as its
     * cframe's current frame; the run links it again under its caller. */
    _PyInterpreterFrame *caller = frame->previous;
    char was_entry = frame->is_entry;
    outer->current_frame = caller;
    ts->recursion_remaining++;
    PyThreadState_LeaveTracing(ts);
    switches++;
    psyco_osr_note((PyObject *)code);
    active[nactive++] = frame;
    /* call_trace set f_lineno for the tracer (and PyFrame_GetLineNumber returns it while it is
     * set) and the tracing event kind: neither may show while the frame runs on. */
    int lineno = f->f_lineno;
    int what_was = ts->tracing_what;
    f->f_lineno = 0;
    ts->tracing_what = PyTrace_CALL;
    PyObject *r = psyco_osr_run(ts, frame, entry);
    f->f_lineno = lineno;
    ts->tracing_what = what_was;
    for (int k = nactive - 1; k >= 0; k--) {
        if (active[k] == frame) {
            active[k] = active[--nactive];
            break;
        }
    }
    PyThreadState_EnterTracing(ts);
    ts->recursion_remaining--;
    outer->current_frame = frame;
    frame->previous = caller;
    frame->is_entry = was_entry;
    if (r == EXIT_NOT_SWITCHED) return 0;
    if (r == EXIT_DEOPT) {
        deopted[next_deopted] = frame;
        next_deopted = (next_deopted + 1) % MAX_DEOPTED;
    }
    /* Other frames waiting to switch (an outer frame of the same thread, say) get the tracer
     * back now: no sampler tick may come to re-arm it (full()). */
    rearming = 1;
    psyco_osr_rearm((uintptr_t)frame);
    rearming = 0;

    if (r == EXIT_DEOPT) {
        /* The machine code left for the interpreter with the frame written back, to resume at
         * prev_instr + 1: the suspended loop resumes there (it goes on at prev_instr). */
        frame->prev_instr += 1;
        return 0;
    }
    if (r != NULL) {
        frame->localsplus[code->co_nlocalsplus] = r;
        frame->stacktop = code->co_nlocalsplus + 1;
        frame->prev_instr = _PyCode_CODE(code) + return_unit;
        return 0;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (tb != NULL && PyTraceBack_Check(tb) && ((PyTracebackObject *)tb)->tb_frame == f) {
        PyTracebackObject *t = (PyTracebackObject *)tb;
        if (t->tb_lasti >= 0) {
            frame->prev_instr = _PyCode_CODE(code) + t->tb_lasti / (int)sizeof(_Py_CODEUNIT);
        }
        PyObject *next = (PyObject *)t->tb_next;
        Py_XINCREF(next);
        Py_DECREF(tb);
        tb = next;
    }
    frame->stacktop = code->co_nlocalsplus;
    PyErr_Restore(type, value, tb);
    return -1;
}
