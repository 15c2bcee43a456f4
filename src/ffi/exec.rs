//! Running compiled code for a frame: what `_PyEval_EvalFrameDefault` does on entry and exit
//! (link the frame as the thread's current frame in a fresh `_PyCFrame`, mark it `is_entry`,
//! count recursion), then the machine code, then — if it left for the interpreter — a call to
//! `_PyEval_EvalFrameDefault` on the same frame, which resumes at `prev_instr + 1` (deopt) or
//! unwinds from `prev_instr` with the pending exception (throwflag = 1).
//!
//! # Invariants
//! - On every return path the thread's `cframe` and `recursion_remaining` are exactly what they
//!   were on entry; the frame itself is not cleared or popped (the hook's caller does that).
//! - No hooked frame (compiled or not) starts on a C stack with less than a margin left
//!   ([`c_stack_exhausted`]): deep recursion raises RecursionError instead of overflowing.

use std::cell::Cell;
use std::os::raw::{c_char, c_int};

use pyo3::ffi as py;

use super::expected as X;
use super::native::IFrame;
use crate::compiler::emit::{EXIT_DEOPT, EXIT_ERROR};

/// `_PyCFrame` of 3.11.7 (`uint8_t use_tracing; current_frame; previous`).
#[repr(C)]
struct CFrame {
    use_tracing: u8,
    current_frame: *mut IFrame,
    previous: *mut CFrame,
}

// "C-unwind": may end in pthread_exit (daemon thread at interpreter exit), see runtime.rs.
extern "C-unwind" {
    fn _PyEval_EvalFrameDefault(ts: *mut py::PyThreadState, f: *mut IFrame, throwflag: c_int) -> *mut py::PyObject;
    fn _Py_CheckRecursiveCall(ts: *mut py::PyThreadState, where_: *const c_char) -> c_int;
}

extern "C" {
    static mut PyFunction_Type: py::PyTypeObject;
    fn psyco_push_frame(ts: *mut py::PyThreadState, func: *mut py::PyObject, args: *mut *mut py::PyObject, nargs: isize) -> *mut IFrame;
}
// Clearing the frame runs destructors (arbitrary Python code).
extern "C-unwind" {
    fn psyco_pop_frame(ts: *mut py::PyThreadState, frame: *mut IFrame);
}

type Entry = unsafe extern "C-unwind" fn(*mut py::PyThreadState, *mut IFrame) -> *mut py::PyObject;

/// Bytes of C stack kept free below hooked frames: a quarter of the thread's stack, between
/// 32 KiB and 256 KiB, but never more than half of it (the smallest `threading.stack_size()`
/// stacks, 32 KiB, keep 16 KiB: 64 levels of machine code between two checks need about 10).
fn margin_for(size: usize) -> usize {
    (size / 4).clamp(32 * 1024, 256 * 1024).min(size / 2)
}

thread_local! {
    static STACK_LIMIT: Cell<usize> = const { Cell::new(0) };
}

/// Lowest stack address compiled code may run at on this thread (0: unknown, no check).
fn stack_limit() -> usize {
    STACK_LIMIT.with(|c| {
        if c.get() == 0 {
            // SAFETY: querying our own thread's attributes into local storage.
            let low = unsafe {
                let mut attr: libc::pthread_attr_t = std::mem::zeroed();
                if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                    return 1;
                }
                let mut addr: *mut libc::c_void = std::ptr::null_mut();
                let mut size: libc::size_t = 0;
                let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
                libc::pthread_attr_destroy(&mut attr);
                if !ok {
                    1
                } else {
                    addr as usize + margin_for(size)
                }
            };
            c.set(low);
        }
        c.get()
    })
}

#[inline(always)]
unsafe fn at<T>(base: *mut u8, off: i64) -> *mut T {
    // SAFETY: offsets verified at import (see `expected`).
    unsafe { base.offset(off as isize) as *mut T }
}

/// Called by the hook before evaluating any frame: if the C stack is nearly exhausted, raises
/// RecursionError (what ceval does at a frame's start when the recursion counter runs out) and
/// returns true; the hook then returns NULL without running the frame. Only checked once the
/// Python recursion is deep (the thread-local lookup is not free); 64 levels fit in the margin.
pub unsafe fn c_stack_exhausted(ts: *mut py::PyThreadState) -> bool {
    // SAFETY: reading two ints of the current thread state (GIL held).
    let depth = unsafe {
        let tsb = ts as *const u8;
        *(tsb.add(X::TSTATE_RECURSION_LIMIT as usize) as *const c_int)
            - *(tsb.add(X::TSTATE_RECURSION_REMAINING as usize) as *const c_int)
    };
    if depth <= 64 {
        return false;
    }
    let probe = 0u8;
    let here = &probe as *const u8 as usize;
    if here >= stack_limit() {
        return false;
    }
    // SAFETY: GIL held; setting an exception is allowed.
    unsafe {
        py::PyErr_SetString(py::PyExc_RecursionError, c"maximum recursion depth exceeded".as_ptr());
    }
    true
}

/// Runs the machine code at `entry` for `frame` (GIL held, frame fresh from `_PyEval_Vector`).
pub unsafe fn run_compiled(ts: *mut py::PyThreadState, frame: *mut IFrame, entry: usize) -> *mut py::PyObject {
    // SAFETY: the caller's contract.
    unsafe { run_linked(ts, frame, entry, false) }
}

/// The frame switch (`csrc/osr311.c`): runs the switch entry `entry` of the machine code (see
/// `compiler::osr`) for `frame`, which the interpreter was running and which the caller has
/// unlinked from the interpreter's cframe (so it is linked here under its real caller).
/// Returns `EXIT_NOT_SWITCHED` as a pointer if the frame was not at a switch point (nothing
/// ran, nothing changed), `EXIT_DEOPT` if the machine code left for the interpreter (the frame
/// is written back to resume at `prev_instr + 1`); else the frame's result, or NULL with its
/// exception set.
#[no_mangle]
pub unsafe extern "C-unwind" fn psyco_osr_run(ts: *mut py::PyThreadState, frame: *mut IFrame, entry: usize) -> *mut py::PyObject {
    // SAFETY: GIL held; the caller's contract above.
    unsafe { run_linked(ts, frame, entry, true) }
}

/// The switch entry for a frame of `code` at `unit` with `depth` stack values (0 if none),
/// and the unit of the RETURN_VALUE its result is handed back at (`compiler::osr::lookup`).
#[no_mangle]
pub unsafe extern "C" fn psyco_osr_lookup(code: *mut py::PyObject, unit: c_int, depth: c_int, return_unit: *mut c_int) -> usize {
    if unit < 0 || depth < 0 {
        return 0;
    }
    // SAFETY: called by the line tracer with the GIL held and `code` a live code object.
    let py = unsafe { pyo3::Python::assume_gil_acquired() };
    let code = unsafe { pyo3::Bound::from_borrowed_ptr(py, code) };
    match crate::compiler::osr::lookup(&code, unit as u32, depth as u32) {
        Some((entry, ru)) => {
            // SAFETY: the caller passes a valid out pointer.
            unsafe { *return_unit = ru as c_int };
            entry
        }
        None => 0,
    }
}

/// The line tracer is about to switch a frame of `code` into machine code: log it.
#[no_mangle]
pub unsafe extern "C" fn psyco_osr_note(code: *mut py::PyObject) {
    // SAFETY: called by the line tracer with the GIL held and `code` a live code object.
    let py = unsafe { pyo3::Python::assume_gil_acquired() };
    let code = unsafe { pyo3::Bound::from_borrowed_ptr(py, code) };
    crate::queue::note_switch(&code);
}

/// A switched frame finished its run (`csrc/osr311.c`): the frames still waiting to switch
/// are armed again (`queue::rearm_after_switch`).
#[no_mangle]
pub unsafe extern "C" fn psyco_osr_rearm(done_frame: usize) {
    // SAFETY: called by the line tracer with the GIL held.
    let py = unsafe { pyo3::Python::assume_gil_acquired() };
    crate::queue::rearm_after_switch(py, done_frame);
}

unsafe fn run_linked(ts: *mut py::PyThreadState, frame: *mut IFrame, entry: usize, switch: bool) -> *mut py::PyObject {
    // SAFETY: GIL held; `ts` is the current thread state and `frame` the frame CPython asked us
    // to evaluate. The CFrame lives on this stack frame for exactly as long as it is linked.
    unsafe {
        let tsb = ts as *mut u8;
        let fb = frame as *mut u8;
        let cframe_slot = at::<*mut CFrame>(tsb, X::TSTATE_CFRAME);
        let prev = *cframe_slot;
        let mut cf = CFrame { use_tracing: (*prev).use_tracing, current_frame: frame, previous: prev };
        let cfp: *mut CFrame = &mut cf;
        *cframe_slot = cfp;
        *at::<u8>(fb, X::FRAME_IS_ENTRY) = 1;
        *at::<*mut IFrame>(fb, X::FRAME_PREVIOUS) = (*prev).current_frame;

        let remaining = at::<c_int>(tsb, X::TSTATE_RECURSION_REMAINING);
        *remaining -= 1;
        if *remaining < 0 && _Py_CheckRecursiveCall(ts, c"".as_ptr()) != 0 {
            // As ceval: `recursion_remaining--; goto exit_unwind` (which adds one back).
            *remaining -= 1;
            *remaining += 1;
            *cframe_slot = prev;
            (*prev).use_tracing = (*cfp).use_tracing;
            return std::ptr::null_mut();
        }
        let f: Entry = std::mem::transmute::<usize, Entry>(entry);
        let r = f(ts, frame);
        *remaining += 1;
        *cframe_slot = prev;
        (*prev).use_tracing = std::ptr::read_volatile(&(*cfp).use_tracing);
        // A switched frame that leaves for the interpreter resumes in the interpreter loop that
        // was running it (csrc/osr311.c), not in a nested one.
        if switch && (r as usize == crate::compiler::osr::EXIT_NOT_SWITCHED || r as usize == EXIT_DEOPT) {
            return r;
        }
        finish_exit(ts, frame, r, (*prev).use_tracing != 0)
    }
}

/// What follows the machine code's return `r` for `frame` (already unlinked from the thread):
/// a result is returned as is; a deopt or error exit continues in the interpreter on the same
/// frame, which resumes at `prev_instr + 1` (deopt) or unwinds from `prev_instr` (throwflag).
#[inline(always)]
unsafe fn finish_exit(ts: *mut py::PyThreadState, frame: *mut IFrame, r: *mut py::PyObject, tracing: bool) -> *mut py::PyObject {
    // SAFETY: GIL held; the frame is live and complete (the machine code set prev_instr).
    unsafe {
        match r as usize {
            EXIT_DEOPT => _PyEval_EvalFrameDefault(ts, frame, 0),
            EXIT_ERROR if tracing => {
                // Entered with throwflag=1, the interpreter would first report a "call" event
                // for this frame (it takes it for a generator being thrown into); the frame was
                // already running, so that one event is swallowed.
                let saved = swallow_next_call_event(ts);
                let r = _PyEval_EvalFrameDefault(ts, frame, 1);
                restore_trace_functions(ts, saved);
                r
            }
            EXIT_ERROR => _PyEval_EvalFrameDefault(ts, frame, 1),
            _ => r,
        }
    }
}

/// [`finish_exit`] for `psyco_call_py` (csrc/calls.c), which runs a direct call's machine code
/// itself and comes here only when it left for the interpreter.
#[no_mangle]
pub unsafe extern "C-unwind" fn psyco_finish_exit(
    ts: *mut py::PyThreadState,
    frame: *mut IFrame,
    r: *mut py::PyObject,
    tracing: c_int,
) -> *mut py::PyObject {
    // SAFETY: as finish_exit; called with the frame pushed and unlinked, GIL held.
    unsafe { finish_exit(ts, frame, r, tracing != 0) }
}

/// [`c_stack_exhausted`] for `psyco_call_py` (csrc/calls.c): 1 with RecursionError set.
#[no_mangle]
pub unsafe extern "C" fn psyco_c_stack_exhausted(ts: *mut py::PyThreadState) -> c_int {
    // SAFETY: GIL held by the caller (compiled code).
    unsafe { c_stack_exhausted(ts) as c_int }
}

/// [`run_compiled`] for a frame pushed by a direct call from compiled code: the callee runs
/// under the caller's `_PyCFrame` (as the interpreter runs a frame it inlined), which only
/// switches `current_frame` — so a tracer switched on inside the callee is seen by the caller
/// without copying `use_tracing` back. Before any exit into the interpreter the caller is the
/// current frame again, so the interpreter links the frame under it as `run_compiled` would.
#[inline(always)]
unsafe fn run_direct(ts: *mut py::PyThreadState, frame: *mut IFrame, entry: usize) -> *mut py::PyObject {
    // SAFETY: as run_compiled; the thread's cframe outlives this call (it belongs to a caller).
    unsafe {
        let cframe = *at::<*mut CFrame>(ts as *mut u8, X::TSTATE_CFRAME);
        let caller = (*cframe).current_frame;
        *at::<*mut IFrame>(frame as *mut u8, X::FRAME_PREVIOUS) = caller;
        (*cframe).current_frame = frame;
        let remaining = at::<c_int>(ts as *mut u8, X::TSTATE_RECURSION_REMAINING);
        *remaining -= 1;
        if *remaining < 0 && _Py_CheckRecursiveCall(ts, c"".as_ptr()) != 0 {
            // As run_compiled: `_Py_CheckRecursiveCall` already gave the unit back.
            (*cframe).current_frame = caller;
            return std::ptr::null_mut();
        }
        let f: Entry = std::mem::transmute::<usize, Entry>(entry);
        let r = f(ts, frame);
        *remaining += 1;
        (*cframe).current_frame = caller;
        finish_exit(ts, frame, r, (*cframe).use_tracing != 0)
    }
}

/// A call from compiled code straight into another compiled function: if `function` is a plain
/// Python function whose code has machine code, the call is positional and of a shape
/// `psyco_push_frame` handles, and nothing traces this thread, push its frame, run it with
/// [`run_compiled`] and pop it — no vectorcall, no `_PyEval_Vector`, no hook. Returns None
/// (nothing touched) when the ordinary path must be taken; Some(result or NULL with an
/// exception set) when the references to `function` and the `nargs` arguments were consumed.
#[inline]
pub unsafe fn call_direct(
    ts: *mut py::PyThreadState,
    function: *mut py::PyObject,
    args: *mut *mut py::PyObject,
    nargs: usize,
) -> Option<*mut py::PyObject> {
    // SAFETY: GIL held; `function` and `args` are live references owned by the caller's stack.
    unsafe {
        if py::Py_TYPE(function) != std::ptr::addr_of_mut!(PyFunction_Type) {
            return None;
        }
        let code = *at::<*mut py::PyObject>(function as *mut u8, X::FUNC_CODE);
        let entry = super::record_of_raw(code)?.entry.load(std::sync::atomic::Ordering::Acquire);
        if entry.is_null() {
            return None;
        }
        let cframe = *at::<*mut CFrame>(ts as *mut u8, X::TSTATE_CFRAME);
        if (*cframe).use_tracing != 0 {
            return None; // tracers and profilers see calls through the ordinary path
        }
        let frame = psyco_push_frame(ts, function, args, nargs as isize);
        if frame.is_null() {
            return None;
        }
        let r = if c_stack_exhausted(ts) { std::ptr::null_mut() } else { run_direct(ts, frame, entry as usize) };
        psyco_pop_frame(ts, frame);
        Some(r)
    }
}

// ---------------------------------------------------------------------------------------------
// Swallowing the throw-entry "call" event
// ---------------------------------------------------------------------------------------------

type TraceFn = super::TraceFunc;

/// The C trace and profile functions a shim stands in for, on this thread.
#[derive(Clone, Copy, Default)]
struct SavedTrace {
    trace: Option<TraceFn>,
    profile: Option<TraceFn>,
    active: bool,
}

thread_local! {
    static SAVED: Cell<SavedTrace> = const { Cell::new(SavedTrace { trace: None, profile: None, active: false }) };
}

const PY_TRACE_CALL: c_int = 0;

unsafe fn func_slot(ts: *mut py::PyThreadState, off: i64) -> *mut Option<TraceFn> {
    // SAFETY: verified offsets of PyThreadState.c_tracefunc / c_profilefunc.
    unsafe { at::<Option<TraceFn>>(ts as *mut u8, off) }
}

/// Puts [`shim`] in place of the thread's C trace and profile functions (where set).
unsafe fn swallow_next_call_event(ts: *mut py::PyThreadState) -> SavedTrace {
    // SAFETY: current thread state, GIL held.
    unsafe {
        let trace_slot = func_slot(ts, X::TSTATE_C_TRACEFUNC);
        let prof_slot = func_slot(ts, X::TSTATE_C_PROFILEFUNC);
        if is_shim(*trace_slot, trace_shim) || is_shim(*prof_slot, profile_shim) {
            // An outer error exit's shim is still waiting for its event: leave it alone.
            return SavedTrace::default();
        }
        let saved = SavedTrace { trace: *trace_slot, profile: *prof_slot, active: true };
        SAVED.with(|c| c.set(saved));
        if saved.trace.is_some() {
            *trace_slot = Some(trace_shim);
        }
        if saved.profile.is_some() {
            *prof_slot = Some(profile_shim);
        }
        saved
    }
}

fn is_shim(slot: Option<TraceFn>, shim: TraceFn) -> bool {
    slot.map(|f| f as *const () as usize) == Some(shim as *const () as usize)
}

/// Puts the original functions back if a shim is still installed (e.g. no event came).
unsafe fn restore_trace_functions(ts: *mut py::PyThreadState, saved: SavedTrace) {
    if !saved.active {
        return;
    }
    // SAFETY: current thread state, GIL held.
    unsafe {
        let trace_slot = func_slot(ts, X::TSTATE_C_TRACEFUNC);
        let prof_slot = func_slot(ts, X::TSTATE_C_PROFILEFUNC);
        if is_shim(*trace_slot, trace_shim) {
            *trace_slot = saved.trace;
        }
        if is_shim(*prof_slot, profile_shim) {
            *prof_slot = saved.profile;
        }
        SAVED.with(|c| c.set(SavedTrace::default()));
    }
}

/// Stand-in trace function: restores the original, swallows a "call" event, forwards any other.
unsafe extern "C" fn trace_shim(obj: *mut py::PyObject, f: *mut py::PyFrameObject, what: c_int, arg: *mut py::PyObject) -> c_int {
    // SAFETY: called by CPython with the GIL held on the thread that installed it.
    unsafe {
        let saved = SAVED.with(|c| c.get());
        let ts = py::PyThreadState_Get();
        *func_slot(ts, X::TSTATE_C_TRACEFUNC) = saved.trace;
        if what == PY_TRACE_CALL {
            return 0;
        }
        match saved.trace {
            Some(orig) => orig(obj, f, what, arg),
            None => 0,
        }
    }
}

/// Stand-in profile function: as [`trace_shim`], for `c_profilefunc`.
unsafe extern "C" fn profile_shim(obj: *mut py::PyObject, f: *mut py::PyFrameObject, what: c_int, arg: *mut py::PyObject) -> c_int {
    // SAFETY: as trace_shim.
    unsafe {
        let saved = SAVED.with(|c| c.get());
        let ts = py::PyThreadState_Get();
        *func_slot(ts, X::TSTATE_C_PROFILEFUNC) = saved.profile;
        if what == PY_TRACE_CALL {
            return 0;
        }
        match saved.profile {
            Some(orig) => orig(obj, f, what, arg),
            None => 0,
        }
    }
}
