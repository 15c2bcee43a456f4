//! Runtime helpers for exceptions in compiled code: unwinding to a handler of the code's
//! exception table ([`rt_unwind`], ceval's `error:` + `exception_unwind:` labels) and the
//! opcodes handler bodies are made of (PUSH_EXC_INFO, POP_EXCEPT, CHECK_EXC_MATCH,
//! CHECK_EG_MATCH, RAISE_VARARGS, RERAISE, PREP_RERAISE_STAR, BEFORE_WITH, WITH_EXCEPT_START).
//! Each mirrors its 3.11.7 ceval body: same C-API calls, same reference counting, same stack
//! left behind on failure (documented per helper), same messages.
//!
//! # Conventions (as `runtime.rs`)
//! `sp` points one past the top of the value stack. Return 0 on success, -1 for "error: the
//! compiled code reports it at this instruction" (traceback entry added, then unwinding), -2 for
//! "re-raise: unwind at this instruction without a new traceback entry" (what ceval's
//! `goto exception_unwind` does), 1 for "case left to the interpreter, nothing consumed".
//!
//! # Safety
//! As `runtime.rs`: called only from generated code, GIL held, `frame`/`sp` inside a live
//! `_PyInterpreterFrame` whose slots hold what the bytecode's stack discipline says.

use std::os::raw::{c_int, c_long};

use pyo3::ffi as py;
use pyo3::ffi::PyObject;

use super::expected as X;

type Obj = *mut PyObject;

/// The C glue of `csrc/exc311.c` (absent when not built natively: nothing calls it then).
#[cfg(psyco_native)]
pub(crate) mod glue {
    use super::Obj;
    extern "C" {
        pub fn psyco_exc_info_value(ts: *mut pyo3::ffi::PyThreadState) -> *mut Obj;
        pub fn psyco_traceback_here(frame: *mut u8) -> std::os::raw::c_int;
        pub fn psyco_localsplus_name(frame: *mut u8, i: std::os::raw::c_int) -> Obj;
        pub fn psyco_interp_import_func(ts: *mut pyo3::ffi::PyThreadState) -> Obj;
    }
}
#[cfg(not(psyco_native))]
pub(crate) mod glue {
    #![allow(clippy::missing_safety_doc)]
    use super::Obj;
    pub unsafe fn psyco_exc_info_value(_ts: *mut pyo3::ffi::PyThreadState) -> *mut Obj {
        unreachable!("compiled code runs only in native builds")
    }
    pub unsafe fn psyco_traceback_here(_frame: *mut u8) -> std::os::raw::c_int {
        unreachable!("compiled code runs only in native builds")
    }
    pub unsafe fn psyco_localsplus_name(_frame: *mut u8, _i: std::os::raw::c_int) -> Obj {
        unreachable!("compiled code runs only in native builds")
    }
    pub unsafe fn psyco_interp_import_func(_ts: *mut pyo3::ffi::PyThreadState) -> Obj {
        unreachable!("compiled code runs only in native builds")
    }
}

extern "C" {
    static mut PyExc_BaseExceptionGroup: Obj;
    fn _PyErr_GetTopmostException(ts: *mut py::PyThreadState) -> *mut Obj;
}
extern "C-unwind" {
    fn _PyObject_LookupSpecial(obj: Obj, name: Obj) -> Obj;
}

#[inline(always)]
pub(crate) unsafe fn incref(o: Obj) {
    // SAFETY: caller passes a live object.
    unsafe { py::Py_INCREF(o) }
}

#[inline(always)]
pub(crate) unsafe fn decref(o: Obj) {
    // SAFETY: caller owns a reference.
    unsafe { py::Py_DECREF(o) }
}

#[inline(always)]
pub(crate) unsafe fn xdecref(o: Obj) {
    if !o.is_null() {
        // SAFETY: caller owns a reference.
        unsafe { py::Py_DECREF(o) }
    }
}

#[inline(always)]
pub(crate) unsafe fn field<T>(base: *mut u8, off: i64) -> *mut T {
    // SAFETY: offsets come from `expected`, verified at import.
    unsafe { base.offset(off as isize) as *mut T }
}

/// A new reference to True or False.
#[inline(always)]
pub(crate) unsafe fn new_bool(b: bool) -> Obj {
    // SAFETY: static objects.
    unsafe {
        let o = if b { py::Py_True() } else { py::Py_False() };
        incref(o);
        o
    }
}

/// An interned string made once (its reference is kept forever, like `_Py_ID`).
pub(crate) fn interned(cell: &std::sync::atomic::AtomicPtr<PyObject>, text: &std::ffi::CStr) -> Obj {
    use std::sync::atomic::Ordering;
    let p = cell.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    // SAFETY: GIL held by every caller (helpers run under it); the string is immortal for us.
    let s = unsafe { py::PyUnicode_InternFromString(text.as_ptr()) };
    if !s.is_null() {
        cell.store(s, Ordering::Release);
    }
    s
}

/// The thread's C trace function is set (ceval then reports an "exception" trace event at the
/// error, which only the interpreter can do).
unsafe fn tracing(ts: *mut py::PyThreadState) -> bool {
    // SAFETY: current thread state, verified offset.
    unsafe { !(*field::<*const ()>(ts as *mut u8, X::TSTATE_C_TRACEFUNC)).is_null() }
}

// ---------------------------------------------------------------------------------------------
// Unwinding
// ---------------------------------------------------------------------------------------------

/// An error at the current instruction (`prev_instr`), which the exception table covers with a
/// handler entered at stack `level` (plus lasti if `lasti`): the `error:` bookkeeping when
/// `with_tb` (SystemError if no exception is set, traceback entry), then `exception_unwind:`
/// (pop to `level`, push lasti and the normalized exception). `base` is the value stack's first
/// slot, `depth` how many values it holds now. Returns 0 (jump to the handler) or, only when
/// `with_tb`, 1 with the stack untouched, leaving the error path to the interpreter: when a C
/// tracer is active (it must see an "exception" event), or when the frame has no frame object
/// and is not the thread's current frame (only the interpreter can make one then).
pub unsafe extern "C-unwind" fn rt_unwind(
    frame: *mut u8,
    base: *mut Obj,
    depth: c_int,
    level: c_int,
    lasti: c_int,
    with_tb: c_int,
) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        if with_tb != 0 {
            if tracing(py::PyThreadState_Get()) {
                return 1;
            }
            if py::PyErr_Occurred().is_null() {
                py::PyErr_SetString(py::PyExc_SystemError, c"error return without exception set".as_ptr());
            }
            if glue::psyco_traceback_here(frame) != 0 {
                return 1;
            }
        }
        let mut top = depth;
        loop {
            while top > level {
                top -= 1;
                let v = *base.add(top as usize);
                *base.add(top as usize) = std::ptr::null_mut();
                xdecref(v);
            }
            if lasti != 0 {
                let code = *field::<*mut u8>(frame, X::FRAME_F_CODE);
                let first = code.offset(X::CODE_CODE_ADAPTIVE as isize) as usize;
                let prev = *field::<usize>(frame, X::FRAME_PREV_INSTR);
                let v = py::PyLong_FromLong(((prev as isize - first as isize) / 2) as c_long);
                if v.is_null() {
                    // ceval goes back to `exception_unwind:` with the new error: same handler.
                    continue;
                }
                *base.add(top as usize) = v;
                top += 1;
            }
            break;
        }
        let (mut exc, mut val, mut tb) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        py::PyErr_Fetch(&mut exc, &mut val, &mut tb);
        py::PyErr_NormalizeException(&mut exc, &mut val, &mut tb);
        py::PyException_SetTraceback(val, if tb.is_null() { py::Py_None() } else { tb });
        xdecref(tb);
        xdecref(exc);
        *base.add(top as usize) = val;
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Handler bodies
// ---------------------------------------------------------------------------------------------

/// PUSH_EXC_INFO: [exc] → [previously handled exception (or None), exc]; exc becomes the
/// handled exception (`sys.exc_info()`). Cannot fail.
pub unsafe extern "C-unwind" fn rt_push_exc_info(ts: *mut py::PyThreadState, sp: *mut Obj) {
    // SAFETY: see module doc.
    unsafe {
        let value = *sp.sub(1);
        let slot = glue::psyco_exc_info_value(ts);
        let prev = *slot;
        if prev.is_null() {
            incref(py::Py_None());
            *sp.sub(1) = py::Py_None();
        } else {
            *sp.sub(1) = prev;
        }
        incref(value);
        *sp = value;
        *slot = value;
    }
}

/// POP_EXCEPT: the popped value becomes the handled exception again. Cannot fail.
pub unsafe extern "C-unwind" fn rt_pop_except(ts: *mut py::PyThreadState, sp: *mut Obj) {
    // SAFETY: see module doc.
    unsafe {
        let slot = glue::psyco_exc_info_value(ts);
        let old = *slot;
        *slot = *sp.sub(1);
        xdecref(old);
    }
}

const CANNOT_CATCH: &std::ffi::CStr = c"catching classes that do not inherit from BaseException is not allowed";

/// ceval's `check_except_type_valid`.
unsafe fn check_except_type_valid(right: Obj) -> bool {
    // SAFETY: live object.
    unsafe {
        let ok = if py::PyTuple_Check(right) != 0 {
            (0..py::PyTuple_GET_SIZE(right)).all(|i| py::PyExceptionClass_Check(py::PyTuple_GET_ITEM(right, i)) != 0)
        } else {
            py::PyExceptionClass_Check(right) != 0
        };
        if !ok {
            py::PyErr_SetString(py::PyExc_TypeError, CANNOT_CATCH.as_ptr());
        }
        ok
    }
}

/// CHECK_EXC_MATCH: [exc, type] → [exc, exc matches type]. Error: -1, type popped.
pub unsafe extern "C-unwind" fn rt_check_exc_match(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let right = *sp.sub(1);
        let left = *sp.sub(2);
        if !check_except_type_valid(right) {
            decref(right);
            return -1;
        }
        let res = py::PyErr_GivenExceptionMatches(left, right);
        decref(right);
        *sp.sub(1) = new_bool(res != 0);
        0
    }
}

unsafe fn is_exception_group(o: Obj) -> bool {
    // SAFETY: live object; static type.
    unsafe { py::PyObject_TypeCheck(o, PyExc_BaseExceptionGroup as *mut py::PyTypeObject) != 0 }
}

/// `_PyExc_CreateExceptionGroup` (hidden in libpython): `BaseExceptionGroup(msg, excs)`.
unsafe fn create_exception_group(msg: &std::ffi::CStr, excs: Obj) -> Obj {
    // SAFETY: live objects, GIL held.
    unsafe {
        let m = py::PyUnicode_FromString(msg.as_ptr());
        if m.is_null() {
            return std::ptr::null_mut();
        }
        let args = py::PyTuple_Pack(2, m, excs);
        decref(m);
        if args.is_null() {
            return std::ptr::null_mut();
        }
        let r = py::PyObject_CallObject(PyExc_BaseExceptionGroup, args);
        decref(args);
        r
    }
}

/// ceval's `check_except_star_type_valid`: a valid except type that is not an exception group.
unsafe fn check_except_star_type_valid(right: Obj) -> bool {
    // SAFETY: live object.
    unsafe {
        if !check_except_type_valid(right) {
            return false;
        }
        let mut is_sub = 0;
        if py::PyTuple_Check(right) != 0 {
            for i in 0..py::PyTuple_GET_SIZE(right) {
                is_sub = py::PyObject_IsSubclass(py::PyTuple_GET_ITEM(right, i), PyExc_BaseExceptionGroup);
                if is_sub != 0 {
                    break;
                }
            }
        } else {
            is_sub = py::PyObject_IsSubclass(right, PyExc_BaseExceptionGroup);
        }
        if is_sub < 0 {
            return false;
        }
        if is_sub != 0 {
            py::PyErr_SetString(
                py::PyExc_TypeError,
                c"catching ExceptionGroup with except* is not allowed. Use except instead.".as_ptr(),
            );
            return false;
        }
        true
    }
}

/// ceval's `exception_group_match`: (match, rest) new references, or None on error.
unsafe fn exception_group_match(exc_value: Obj, match_type: Obj) -> Option<(Obj, Obj)> {
    // SAFETY: live objects.
    unsafe {
        let none = || {
            incref(py::Py_None());
            py::Py_None()
        };
        if exc_value == py::Py_None() {
            return Some((none(), none()));
        }
        if py::PyErr_GivenExceptionMatches(exc_value, match_type) != 0 {
            let m = if is_exception_group(exc_value) {
                incref(exc_value);
                exc_value
            } else {
                let excs = py::PyTuple_Pack(1, exc_value);
                if excs.is_null() {
                    return None;
                }
                let wrapped = create_exception_group(c"", excs);
                decref(excs);
                if wrapped.is_null() {
                    return None;
                }
                wrapped
            };
            return Some((m, none()));
        }
        if is_exception_group(exc_value) {
            let pair = py::PyObject_CallMethod(exc_value, c"split".as_ptr(), c"(O)".as_ptr(), match_type);
            if pair.is_null() {
                return None;
            }
            let m = py::PyTuple_GET_ITEM(pair, 0);
            let r = py::PyTuple_GET_ITEM(pair, 1);
            incref(m);
            incref(r);
            decref(pair);
            return Some((m, r));
        }
        Some((none(), none()))
    }
}

/// CHECK_EG_MATCH: [exc, type] → [exc, None] (no match) or [rest, match] (and match becomes
/// the handled exception). Error: -1 with exc alone on the stack.
pub unsafe extern "C-unwind" fn rt_check_eg_match(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let match_type = *sp.sub(1);
        if !check_except_star_type_valid(match_type) {
            decref(match_type);
            return -1;
        }
        let exc_value = *sp.sub(2);
        let r = exception_group_match(exc_value, match_type);
        decref(match_type);
        let Some((m, rest)) = r else { return -1 };
        if m == py::Py_None() {
            *sp.sub(1) = m;
            xdecref(rest);
        } else {
            *sp.sub(2) = rest;
            *sp.sub(1) = m;
            incref(m);
            py::PyErr_SetExcInfo(std::ptr::null_mut(), m, std::ptr::null_mut());
            decref(exc_value);
        }
        0
    }
}

/// PREP_RERAISE_STAR: [orig, excs] → [what to re-raise (None: nothing)]. The cases that need
/// exception-group projection (an except* clause raised or re-raised part of a group) are left
/// to the interpreter (1, nothing consumed): `_PyExc_PrepReraiseStar` is hidden in libpython.
pub unsafe extern "C-unwind" fn rt_prep_reraise_star(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc; the bytecode compiler guarantees a list.
    unsafe {
        let excs = *sp.sub(1);
        let orig = *sp.sub(2);
        let n = py::PyList_GET_SIZE(excs);
        let val = if n == 0 {
            py::Py_None()
        } else if !is_exception_group(orig) {
            // A naked exception was caught: at most one clause ran.
            py::PyList_GET_ITEM(excs, 0)
        } else if (0..n).all(|i| py::PyList_GET_ITEM(excs, i) == py::Py_None()) {
            // Every matched part was handled: projecting orig on nothing gives None.
            py::Py_None()
        } else {
            return 1;
        };
        incref(val);
        decref(excs);
        decref(orig);
        *sp.sub(2) = val;
        0
    }
}

/// RAISE_VARARGS: `raise` (0), `raise exc` (1), `raise exc from cause` (2), all popped.
/// -1: the new exception is set (error path, traceback entry); -2: a bare `raise` restored the
/// handled exception (unwind without a new entry), as ceval's `do_raise`.
pub unsafe extern "C-unwind" fn rt_raise(ts: *mut py::PyThreadState, sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let (exc, cause) = match oparg {
            2 => (*sp.sub(2), *sp.sub(1)),
            1 => (*sp.sub(1), std::ptr::null_mut()),
            _ => (std::ptr::null_mut(), std::ptr::null_mut()),
        };
        if oparg > 2 || oparg < 0 {
            py::PyErr_SetString(py::PyExc_SystemError, c"bad RAISE_VARARGS oparg".as_ptr());
            return -1;
        }
        if do_raise(ts, exc, cause) {
            -2
        } else {
            -1
        }
    }
}

/// ceval's `do_raise` (consumes `exc` and `cause`): true for a re-raise of the handled
/// exception, false with the new exception (or the error making it) set.
unsafe fn do_raise(ts: *mut py::PyThreadState, exc: Obj, cause: Obj) -> bool {
    // SAFETY: live (owned) objects or NULL.
    unsafe {
        if exc.is_null() {
            let value = *_PyErr_GetTopmostException(ts);
            if value.is_null() || value == py::Py_None() {
                py::PyErr_SetString(py::PyExc_RuntimeError, c"No active exception to reraise".as_ptr());
                return false;
            }
            let tp = py::Py_TYPE(value) as Obj;
            incref(tp);
            incref(value);
            let tb = py::PyException_GetTraceback(value);
            py::PyErr_Restore(tp, value, tb);
            return true;
        }
        let mut value: Obj = std::ptr::null_mut();
        let mut tp: Obj = std::ptr::null_mut();
        let ok = 'raise: {
            if py::PyExceptionClass_Check(exc) != 0 {
                tp = exc;
                value = py::PyObject_CallNoArgs(exc);
                if value.is_null() {
                    break 'raise false;
                }
                if py::PyExceptionInstance_Check(value) == 0 {
                    py::PyErr_Format(
                        py::PyExc_TypeError,
                        c"calling %R should have returned an instance of BaseException, not %R".as_ptr(),
                        tp,
                        py::Py_TYPE(value),
                    );
                    break 'raise false;
                }
            } else if py::PyExceptionInstance_Check(exc) != 0 {
                value = exc;
                tp = py::Py_TYPE(exc) as Obj;
                incref(tp);
            } else {
                decref(exc);
                py::PyErr_SetString(py::PyExc_TypeError, c"exceptions must derive from BaseException".as_ptr());
                break 'raise false;
            }
            if !cause.is_null() {
                let fixed;
                if py::PyExceptionClass_Check(cause) != 0 {
                    fixed = py::PyObject_CallNoArgs(cause);
                    if fixed.is_null() {
                        break 'raise false;
                    }
                    decref(cause);
                } else if py::PyExceptionInstance_Check(cause) != 0 {
                    fixed = cause;
                } else if cause == py::Py_None() {
                    decref(cause);
                    fixed = std::ptr::null_mut();
                } else {
                    py::PyErr_SetString(
                        py::PyExc_TypeError,
                        c"exception causes must derive from BaseException".as_ptr(),
                    );
                    break 'raise false;
                }
                // The cause reference (now `fixed`) moves into the exception.
                py::PyException_SetCause(value, fixed);
            }
            py::PyErr_SetObject(tp, value);
            decref(value);
            decref(tp);
            return false;
        };
        debug_assert!(!ok);
        xdecref(value);
        xdecref(tp);
        xdecref(cause);
        false
    }
}

/// RERAISE: [lasti?, ..., exc] → re-raise exc; with `oparg`, first restore `prev_instr` from
/// the lasti saved `oparg` below exc (so the handler that catches it, if any, pushes that
/// lasti). -2 (unwind without a new traceback entry), exc popped; -1 if lasti is not an int
/// (SystemError, nothing popped).
pub unsafe extern "C-unwind" fn rt_reraise(frame: *mut u8, sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        if oparg != 0 {
            let lasti = *sp.sub(oparg as usize + 1);
            if py::PyLong_Check(lasti) == 0 {
                py::PyErr_SetString(py::PyExc_SystemError, c"lasti is not an int".as_ptr());
                return -1;
            }
            let code = *field::<*mut u8>(frame, X::FRAME_F_CODE);
            let first = code.offset(X::CODE_CODE_ADAPTIVE as isize);
            *field::<*mut u8>(frame, X::FRAME_PREV_INSTR) = first.offset(2 * py::PyLong_AsLong(lasti) as isize);
        }
        let val = *sp.sub(1);
        let tp = py::Py_TYPE(val) as Obj;
        incref(tp);
        let tb = py::PyException_GetTraceback(val);
        py::PyErr_Restore(tp, val, tb);
        -2
    }
}

// ---------------------------------------------------------------------------------------------
// with statements
// ---------------------------------------------------------------------------------------------

static ENTER: std::sync::atomic::AtomicPtr<PyObject> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
static EXIT: std::sync::atomic::AtomicPtr<PyObject> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// BEFORE_WITH: [mgr] → [mgr.__exit__, mgr.__enter__()]. Error: -1 with one value on the
/// stack (mgr, or __exit__ once it replaced mgr), as ceval.
pub unsafe extern "C-unwind" fn rt_before_with(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        enter_context(
            sp,
            interned(&ENTER, c"__enter__"),
            interned(&EXIT, c"__exit__"),
            c"'%.200s' object does not support the context manager protocol",
            c"'%.200s' object does not support the context manager protocol (missed __exit__ method)",
        )
    }
}

/// BEFORE_WITH and BEFORE_ASYNC_WITH: [mgr] → [exit, enter()], the two methods looked up as
/// specials (`enter_name`, `exit_name`; NULL if interning them failed, MemoryError set), with
/// ceval's TypeError messages when one is missing (`%.200s` is the manager's type name). On
/// failure before the call the manager stays on top; if the call fails, `exit` has replaced
/// it. Returns 0 or -1.
pub(crate) unsafe fn enter_context(
    sp: *mut Obj,
    enter_name: Obj,
    exit_name: Obj,
    no_enter: &std::ffi::CStr,
    no_exit: &std::ffi::CStr,
) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        if enter_name.is_null() || exit_name.is_null() {
            return -1;
        }
        let mgr = *sp.sub(1);
        let enter = _PyObject_LookupSpecial(mgr, enter_name);
        if enter.is_null() {
            if py::PyErr_Occurred().is_null() {
                py::PyErr_Format(py::PyExc_TypeError, no_enter.as_ptr(), (*py::Py_TYPE(mgr)).tp_name);
            }
            return -1;
        }
        let exit = _PyObject_LookupSpecial(mgr, exit_name);
        if exit.is_null() {
            if py::PyErr_Occurred().is_null() {
                py::PyErr_Format(py::PyExc_TypeError, no_exit.as_ptr(), (*py::Py_TYPE(mgr)).tp_name);
            }
            decref(enter);
            return -1;
        }
        *sp.sub(1) = exit;
        decref(mgr);
        let res = py::PyObject_CallNoArgs(enter);
        decref(enter);
        if res.is_null() {
            return -1;
        }
        *sp = res;
        0
    }
}

/// WITH_EXCEPT_START: [exit, lasti, prev_exc, exc] → [..., exit(type(exc), exc, tb)].
/// Error: -1, the four stay.
pub unsafe extern "C-unwind" fn rt_with_except_start(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let val = *sp.sub(1);
        let exc = py::Py_TYPE(val) as Obj;
        let tb = py::PyException_GetTraceback(val);
        xdecref(tb);
        let exit_func = *sp.sub(4);
        let args: [Obj; 4] = [std::ptr::null_mut(), exc, val, tb];
        let res = py::PyObject_Vectorcall(
            exit_func,
            args.as_ptr().add(1),
            3 | py::PY_VECTORCALL_ARGUMENTS_OFFSET,
            std::ptr::null_mut(),
        );
        if res.is_null() {
            return -1;
        }
        *sp = res;
        0
    }
}
