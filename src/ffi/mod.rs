//! The FFI room: every CPython-internal struct mirror, every `extern` declaration and (with
//! `src/x86`) the only place where `unsafe` is allowed.
//!
//! # Safety (shared preconditions)
//! Every function here that touches a Python object, a thread state or a frame must be called
//! **with the GIL held** by the current thread; the safe wrappers take a `Python<'_>` token to
//! prove it. Raw addresses of code objects travel through the rest of the crate as [`CodeId`]s,
//! which are never dereferenced outside this module.
//!
//! # Invariants kept here
//! - A code object carries a psyco record (in its `co_extra` slot) from the first time psyco
//!   charges, binds or compiles it until CPython deallocates it; the record's free function runs
//!   inside `code_dealloc` and removes the code from the live set and from every engine table
//!   before the memory is reused. So an address in the live set is a live code object for as
//!   long as the GIL is held ([`live_code`]). Psyco keeps **no** strong reference to code it
//!   merely observes: dead code is never kept alive, and no table ever holds a dangling address.
//! - The internal layout (`_PyInterpreterFrame`, `PyCodeObject`, `PyThreadState`, `_PyCFrame`)
//!   is read through `csrc/cpython311.c`, compiled against this interpreter's own headers;
//!   [`layout_report`] checks the hand-written mirror in [`expected`] against it and against live
//!   objects at import. Any mismatch switches psyco to interpreter-only mode.

use std::collections::HashSet;
use std::ffi::c_void;
use std::os::raw::c_int;

use parking_lot::Mutex;
use pyo3::ffi as py;
use pyo3::prelude::*;

/// Identity of a code object: its address. Only [`live_code`] turns it back into an object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CodeId(pub usize);

// ---------------------------------------------------------------------------------------------
// Declarations not provided (or not provided for every version) by pyo3-ffi.
// ---------------------------------------------------------------------------------------------

type FreeFunc = unsafe extern "C" fn(*mut c_void);
/// `Py_tracefunc`: `int (*)(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)`.
pub type TraceFunc =
    unsafe extern "C" fn(*mut py::PyObject, *mut py::PyFrameObject, c_int, *mut py::PyObject) -> c_int;

extern "C" {
    #[cfg(not(Py_3_12))]
    #[link_name = "_PyEval_RequestCodeExtraIndex"]
    fn request_code_extra_index(free: FreeFunc) -> py::Py_ssize_t;
    #[cfg(not(Py_3_12))]
    #[link_name = "_PyCode_GetExtra"]
    fn code_get_extra(code: *mut py::PyObject, index: py::Py_ssize_t, extra: *mut *mut c_void) -> c_int;
    #[cfg(not(Py_3_12))]
    #[link_name = "_PyCode_SetExtra"]
    fn code_set_extra(code: *mut py::PyObject, index: py::Py_ssize_t, extra: *mut c_void) -> c_int;

    #[cfg(Py_3_12)]
    #[link_name = "PyUnstable_Eval_RequestCodeExtraIndex"]
    fn request_code_extra_index(free: FreeFunc) -> py::Py_ssize_t;
    #[cfg(Py_3_12)]
    #[link_name = "PyUnstable_Code_GetExtra"]
    fn code_get_extra(code: *mut py::PyObject, index: py::Py_ssize_t, extra: *mut *mut c_void) -> c_int;
    #[cfg(Py_3_12)]
    #[link_name = "PyUnstable_Code_SetExtra"]
    fn code_set_extra(code: *mut py::PyObject, index: py::Py_ssize_t, extra: *mut c_void) -> c_int;

    fn PyInterpreterState_Get() -> *mut py::PyInterpreterState;
    fn PyInterpreterState_ThreadHead(interp: *mut py::PyInterpreterState) -> *mut py::PyThreadState;
    fn PyThreadState_Next(ts: *mut py::PyThreadState) -> *mut py::PyThreadState;
    #[cfg(not(psyco_native))]
    fn PyThreadState_GetFrame(ts: *mut py::PyThreadState) -> *mut py::PyFrameObject;
    fn PyFrame_GetCode(f: *mut py::PyFrameObject) -> *mut py::PyObject;
    #[cfg(not(psyco_native))]
    fn PyFrame_GetBack(f: *mut py::PyFrameObject) -> *mut py::PyFrameObject;
    fn Py_IsInitialized() -> c_int;
    fn PyThreadState_GetID(ts: *mut py::PyThreadState) -> u64;
}

#[cfg(psyco_native)]
mod native {
    use super::*;
    /// Opaque `_PyInterpreterFrame`.
    #[repr(C)]
    pub struct IFrame {
        _private: [u8; 0],
    }
    extern "C" {
        pub fn psyco_offset_count() -> i64;
        pub fn psyco_offset(i: i64) -> i64;
        pub fn psyco_built_micro() -> c_int;
        pub fn psyco_tstate_frame(ts: *mut py::PyThreadState) -> *mut IFrame;
        pub fn psyco_frame_previous(f: *mut IFrame) -> *mut IFrame;
        pub fn psyco_frame_code(f: *mut IFrame) -> *mut py::PyObject;
        pub fn psyco_frame_is_incomplete(f: *mut IFrame) -> c_int;
        pub fn psyco_frameobject_frame(f: *mut py::PyFrameObject) -> *mut IFrame;
        pub fn psyco_tstate_profilefunc(ts: *mut py::PyThreadState) -> Option<TraceFunc>;
        pub fn psyco_tstate_tracefunc(ts: *mut py::PyThreadState) -> Option<TraceFunc>;
        pub fn psyco_osr_arm(ts: *mut py::PyThreadState, target: *mut IFrame) -> c_int;
        pub fn psyco_osr_disarm_all();
        pub fn psyco_osr_spend(ts: *mut py::PyThreadState);
        pub fn psyco_osr_armed_count() -> c_int;
        pub fn psyco_osr_switches() -> u64;
        pub fn psyco_set_profile(
            ts: *mut py::PyThreadState,
            func: Option<TraceFunc>,
            obj: *mut py::PyObject,
        ) -> c_int;
        pub fn psyco_is_finalizing() -> c_int;
        pub fn psyco_frame_at_loop_check(f: *mut IFrame) -> c_int;
        pub fn psyco_frame_position(f: *mut IFrame) -> usize;
        pub fn psyco_signal_eval_breaker();
        pub fn psyco_attr_cache_size() -> i64;
        pub fn psyco_small_ints(stride: i64) -> *mut py::PyObject;
        pub fn psyco_str_interned_offset() -> i64;
        pub fn psyco_ord_target() -> *mut py::PyObject;
        pub fn psyco_isinstance_target() -> *mut py::PyObject;
        pub fn psyco_ascii_singletons(stride: *mut i64) -> *mut py::PyObject;
        pub fn psyco_ascii_probe(mask: *mut u32, value: *mut u32, data_offset: *mut i64) -> i64;
        pub fn psyco_call_targets(
            len: *mut *mut py::PyObject,
            append: *mut *mut py::PyObject,
            sqrt: *mut *mut py::PyObject,
        ) -> c_int;
        pub fn psyco_iter_layout_ok(range_index: i64, range_start: i64, range_step: i64, range_len: i64, list_index: i64, list_seq: i64) -> c_int;
        /// Points the frame's function's vectorcall slot at csrc/calls.c's direct path when
        /// the function's code can take it (see there); otherwise nothing.
        pub fn psyco_adopt_function(frame: *mut IFrame);
        /// csrc/calls.c: counts a resumption of an uncompiled generator by compiled code.
        pub fn psyco_note_resumed(frame: *mut IFrame);
        pub fn psyco_function_adopted(func: *mut py::PyObject) -> c_int;
    }
    // May call back into Python (descriptors, __getattr__, __setattr__...): "C-unwind".
    extern "C" {
        /// The co_extra index of psyco's records, for `psyco_call_py` (csrc/calls.c).
        pub static mut psyco_extra_index: py::Py_ssize_t;
    }
    extern "C-unwind" {
        /// A direct call into a compiled function (csrc/calls.c): the result, NULL with an
        /// exception, or 1 when the ordinary call path must be taken (nothing consumed).
        pub fn psyco_call_py(ts: *mut py::PyThreadState, func: *mut py::PyObject, args: *mut *mut py::PyObject, nargs: isize) -> *mut py::PyObject;
        pub fn psyco_direct_return(ts: *mut py::PyThreadState, frame: *mut IFrame, r: *mut py::PyObject) -> *mut py::PyObject;
        pub fn psyco_load_attr(sp: *mut *mut py::PyObject, name: *mut py::PyObject, c: *mut super::runtime::AttrCache) -> c_int;
        pub fn psyco_store_attr(sp: *mut *mut py::PyObject, name: *mut py::PyObject, c: *mut super::runtime::AttrCache) -> c_int;
        pub fn psyco_load_method(sp: *mut *mut py::PyObject, name: *mut py::PyObject, c: *mut super::runtime::AttrCache) -> c_int;
        pub fn psyco_attr_peek(owner: *mut py::PyObject, name: *mut py::PyObject, c: *mut super::runtime::AttrCache) -> *mut py::PyObject;
        pub fn psyco_method_peek(obj: *mut py::PyObject, name: *mut py::PyObject, c: *mut super::runtime::AttrCache) -> *mut py::PyObject;
        pub fn psyco_global_peek(globals: *mut py::PyObject, builtins: *mut py::PyObject, name: *mut py::PyObject, memo: *mut super::runtime::GlobalMemo) -> *mut py::PyObject;
    }
}

static SMALL_INTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static STR_INTERNED_OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(-1);

/// Offset of the byte whose two low bits say a str is interned (checked on live strings at
/// import), or -1: then `==` of strings gets no inline identity path.
pub fn str_interned_offset() -> i64 {
    STR_INTERNED_OFFSET.load(std::sync::atomic::Ordering::Relaxed)
}
static LEN_BUILTIN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static LIST_APPEND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static MATH_SQRT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static SQRT_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `math.sqrt` and the interned string "sqrt" (what code objects name it with), for fused
/// float expressions; (0, 0) if not native or not CPython's own function.
pub fn sqrt_target() -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (MATH_SQRT.load(Relaxed), SQRT_NAME.load(Relaxed))
}

static ISINSTANCE_BUILTIN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static ISINSTANCE_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `builtins.isinstance` and the interned string "isinstance", for CALL's inline path; (0, 0)
/// if not native or not CPython's own function.
pub fn isinstance_target() -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (ISINSTANCE_BUILTIN.load(Relaxed), ISINSTANCE_NAME.load(Relaxed))
}

static ORD_BUILTIN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static ORD_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// `(state offset, mask, value, data offset)` of compact ASCII strs, packed; see [`ascii_layout`].
static ASCII_LAYOUT: std::sync::OnceLock<(i32, u32, u32, i32)> = std::sync::OnceLock::new();

/// `(address of chr(0), stride)` of CPython's one-character ASCII str singletons (csrc/calls.c
/// `psyco_ascii_singletons`): `s[i]` of an ASCII str is the one for its byte. None if the
/// probe failed (or not native).
pub fn ascii_singletons() -> Option<(usize, i32)> {
    ASCII_SINGLETONS.get().copied()
}
static ASCII_SINGLETONS: std::sync::OnceLock<(usize, i32)> = std::sync::OnceLock::new();

/// `builtins.ord` and the interned string "ord", for fused int expressions; (0, 0) if not
/// native or not CPython's own function.
pub fn ord_target() -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (ORD_BUILTIN.load(Relaxed), ORD_NAME.load(Relaxed))
}

/// How machine code recognizes a compact ASCII str (csrc/calls.c `psyco_ascii_probe`): the
/// 32-bit word at `state_offset` masked with `mask` equals `value`, and its characters start at
/// `data_offset`. None if the probe failed (or not native).
pub fn ascii_layout() -> Option<(i32, u32, u32, i32)> {
    ASCII_LAYOUT.get().copied()
}

static LEN_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static APPEND_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static TYPE_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RANGE_NAME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

static BUILTIN_C_NAMES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// The names (interned strings, kept alive) under which the builtins module holds C functions
/// (`abs`, `isinstance`, `min`...): a CALL whose callable comes from LOAD_GLOBAL of another name
/// is not worth an inline C-call path. Empty if not native.
pub fn builtin_c_names() -> &'static [usize] {
    BUILTIN_C_NAMES.get().map(|v| v.as_slice()).unwrap_or(&[])
}

fn collect_builtin_c_names(py: Python<'_>) {
    let mut names = Vec::new();
    if let Ok(builtins) = py.import("builtins") {
        if let Ok(dict) = builtins.getattr("__dict__") {
            if let Ok(dict) = dict.downcast::<pyo3::types::PyDict>() {
                for (k, v) in dict.iter() {
                    // SAFETY: comparing a live object's type with a static type object.
                    let is_c = unsafe { py::Py_TYPE(v.as_ptr()) == std::ptr::addr_of_mut!(py::PyCFunction_Type) };
                    if is_c && k.is_exact_instance_of::<pyo3::types::PyString>() {
                        names.push(k.into_ptr() as usize); // a reference kept for good
                    }
                }
            }
        }
    }
    let _ = BUILTIN_C_NAMES.set(names);
}

/// The interned string "range" (see [`call_target_names`]); 0 if not native.
pub fn range_name() -> usize {
    RANGE_NAME.load(std::sync::atomic::Ordering::Relaxed)
}

/// The interned string "type" (see [`call_target_names`]); 0 if not native.
pub fn type_name() -> usize {
    TYPE_NAME.load(std::sync::atomic::Ordering::Relaxed)
}

/// `builtins.len` and the `list.append` descriptor, which CALL's inline paths recognize by
/// identity (held for the life of the process; 0 if not native or not CPython's own objects).
pub fn call_targets() -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (LEN_BUILTIN.load(Relaxed), LIST_APPEND.load(Relaxed))
}

/// The interned strings "len" and "append": a code object whose `co_names` has neither cannot
/// call those two by name, so its CALLs get no inline path for them (0 if not native).
pub fn call_target_names() -> (usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (LEN_NAME.load(Relaxed), APPEND_NAME.load(Relaxed))
}

/// Address of CPython's cached int object for -5; the ones for -5..=256 follow it every
/// `expected::SIZEOF_LONG_OBJECT` bytes (checked at import; 0 before that or if not native).
pub fn small_ints() -> usize {
    SMALL_INTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Address of `psyco_attr_peek` (`csrc/attrcache.c`): `(owner, name, cache) -> borrowed
/// value or NULL`, an attribute read that runs no Python code and sets no exception, for the
/// bodies of inlined callees. None in portable builds (which never run compiled code).
pub fn attr_peek_helper() -> Option<usize> {
    #[cfg(psyco_native)]
    {
        Some(native::psyco_attr_peek as *const () as usize)
    }
    #[cfg(not(psyco_native))]
    {
        None
    }
}

/// Address of `psyco_global_peek` (`csrc/attrcache.c`): `(globals, builtins, name, memo) ->
/// borrowed value or NULL`, a global read that runs no Python code and fills the
/// [`runtime::GlobalMemo`], for the bodies of inlined callees. None in portable builds.
pub fn global_peek_helper() -> Option<usize> {
    #[cfg(psyco_native)]
    {
        Some(native::psyco_global_peek as *const () as usize)
    }
    #[cfg(not(psyco_native))]
    {
        None
    }
}

/// Address of `psyco_method_peek` (`csrc/attrcache.c`): `(obj, name, cache) -> borrowed
/// function or NULL`, the method a LOAD_METHOD of `obj.name` binds, found without running
/// Python code, for method calls inside inlined bodies. None in portable builds.
pub fn method_peek_helper() -> Option<usize> {
    #[cfg(psyco_native)]
    {
        Some(native::psyco_method_peek as *const () as usize)
    }
    #[cfg(not(psyco_native))]
    {
        None
    }
}

/// Addresses of the cached LOAD_ATTR, STORE_ATTR and LOAD_METHOD helpers (`csrc/attrcache.c`),
/// each `(sp, name, cache) -> int` with the contract of the uncached `runtime` helper of the
/// same name. Portable builds never run compiled code; they get the uncached helpers.
pub fn attr_helpers() -> [usize; 3] {
    #[cfg(psyco_native)]
    {
        [
            native::psyco_load_attr as *const () as usize,
            native::psyco_store_attr as *const () as usize,
            native::psyco_load_method as *const () as usize,
        ]
    }
    #[cfg(not(psyco_native))]
    {
        [
            runtime::rt_load_attr as *const () as usize,
            runtime::rt_store_attr as *const () as usize,
            runtime::rt_load_method as *const () as usize,
        ]
    }
}

/// Whether calls of the function `func` go straight into its machine code through the
/// vectorcall slot psyco gave it (csrc/calls.c `psyco_vectorcall`).
pub fn function_adopted(func: &Bound<'_, PyAny>) -> bool {
    #[cfg(psyco_native)]
    {
        // SAFETY: a live object; the C side only compares its type and a slot.
        unsafe { native::psyco_function_adopted(func.as_ptr()) != 0 }
    }
    #[cfg(not(psyco_native))]
    {
        let _ = func;
        false
    }
}

/// The co_extra index of psyco's records once the first record exists (-1 before).
pub fn extra_index_now() -> isize {
    EXTRA_INDEX_FAST.load(std::sync::atomic::Ordering::Acquire)
}

/// `psyco_direct_return` (csrc/calls.c), the C half of a call whose frame machine code pushed.
pub fn direct_return_helper() -> Option<usize> {
    #[cfg(psyco_native)]
    {
        Some(native::psyco_direct_return as *const () as usize)
    }
    #[cfg(not(psyco_native))]
    {
        None
    }
}

/// The address of `psyco_call_py` (a direct call into a compiled Python function, see
/// csrc/calls.c), or None where there is no native runtime.
pub fn call_py_helper() -> Option<usize> {
    #[cfg(psyco_native)]
    {
        Some(native::psyco_call_py as *const () as usize)
    }
    #[cfg(not(psyco_native))]
    {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Layout: the mirror and its check
// ---------------------------------------------------------------------------------------------

/// The hand-written mirror of the 3.11.7 x86-64 layout, in the order of `csrc/cpython311.c`'s
/// `OFFSETS[]` table. Generated code (src/compiler) uses these constants; import refuses to
/// enable compilation unless the C side agrees with every one of them.
pub mod expected {
    pub const FRAME_F_FUNC: i64 = 0;
    pub const FRAME_F_GLOBALS: i64 = 8;
    pub const FRAME_F_BUILTINS: i64 = 16;
    pub const FRAME_F_LOCALS: i64 = 24;
    pub const FRAME_F_CODE: i64 = 32;
    pub const FRAME_FRAME_OBJ: i64 = 40;
    pub const FRAME_PREVIOUS: i64 = 48;
    pub const FRAME_PREV_INSTR: i64 = 56;
    pub const FRAME_STACKTOP: i64 = 64;
    pub const FRAME_IS_ENTRY: i64 = 68;
    pub const FRAME_OWNER: i64 = 69;
    pub const FRAME_LOCALSPLUS: i64 = 72;
    pub const CODE_CONSTS: i64 = 24;
    pub const CODE_NAMES: i64 = 32;
    pub const CODE_EXCEPTIONTABLE: i64 = 40;
    pub const CODE_FLAGS: i64 = 48;
    pub const CODE_STACKSIZE: i64 = 68;
    pub const CODE_FIRSTLINENO: i64 = 72;
    pub const CODE_NLOCALSPLUS: i64 = 76;
    pub const CODE_NLOCALS: i64 = 80;
    pub const CODE_FILENAME: i64 = 112;
    pub const CODE_NAME: i64 = 120;
    pub const CODE_QUALNAME: i64 = 128;
    pub const CODE_FIRSTTRACEABLE: i64 = 168;
    pub const CODE_EXTRA: i64 = 176;
    pub const CODE_CODE_ADAPTIVE: i64 = 184;
    pub const TSTATE_RECURSION_REMAINING: i64 = 32;
    pub const TSTATE_RECURSION_LIMIT: i64 = 36;
    pub const TSTATE_CFRAME: i64 = 56;
    pub const TSTATE_C_PROFILEFUNC: i64 = 64;
    pub const TSTATE_C_TRACEFUNC: i64 = 72;
    pub const TSTATE_C_PROFILEOBJ: i64 = 80;
    pub const TSTATE_C_TRACEOBJ: i64 = 88;
    pub const CFRAME_USE_TRACING: i64 = 0;
    pub const CFRAME_CURRENT_FRAME: i64 = 8;
    pub const CFRAME_PREVIOUS: i64 = 16;
    pub const FRAMEOBJECT_F_FRAME: i64 = 24;
    pub const SIZEOF_INTERPRETER_FRAME: i64 = 80;
    pub const INTERP_EVAL_BREAKER: i64 = 100;
    pub const FUNC_CLOSURE: i64 = 72;
    pub const TUPLE_OB_ITEM: i64 = 24;
    pub const LIST_OB_ITEM: i64 = 24;
    pub const METHOD_IM_FUNC: i64 = 16;
    pub const METHOD_IM_SELF: i64 = 24;
    pub const CELL_OB_REF: i64 = 16;
    pub const VAR_OB_SIZE: i64 = 16;
    pub const LONG_OB_DIGIT: i64 = 24;
    pub const LONG_SHIFT: i64 = 30;
    pub const FLOAT_OB_FVAL: i64 = 16;
    pub const FUNC_DEFAULTS: i64 = 56;
    pub const FUNC_KWDEFAULTS: i64 = 64;
    pub const FUNC_ANNOTATIONS: i64 = 112;
    pub const DICT_VERSION_TAG: i64 = 24;
    pub const FUNC_CODE: i64 = 48;
    /// `sizeof(PyLongObject)`: the stride of the small-int cache (checked by `psyco_small_ints`).
    pub const SIZEOF_LONG_OBJECT: i64 = 32;
    pub const TYPE_VERSION_TAG: i64 = 384;
    pub const HEAPTYPE_CACHED_KEYS: i64 = 872;
    pub const DICTKEYS_NENTRIES: i64 = 24;
    /// `_PyObject_ValuesPointer(o)` / `_PyObject_ManagedDictPointer(o)`: words before the object.
    pub const OBJECT_VALUES_PTR: i64 = -32;
    pub const OBJECT_MANAGED_DICT: i64 = -24;
    /// Where `len()` of an exact list, tuple, str and dict is read (all at 16 in 3.11.7).
    pub const LIST_ALLOCATED: i64 = 32;
    pub const STR_LENGTH: i64 = 16;
    pub const DICT_MA_USED: i64 = 16;
    pub const MODULE_MD_DICT: i64 = 16;
    /// Builtin functions and method descriptors, for CALL's inline C calls.
    pub const DESCR_D_TYPE: i64 = 16;
    pub const METHODDESCR_D_METHOD: i64 = 40;
    pub const CFUNCTION_M_ML: i64 = 16;
    pub const CFUNCTION_M_SELF: i64 = 24;
    pub const METHODDEF_ML_METH: i64 = 8;
    pub const METHODDEF_ML_FLAGS: i64 = 16;
    pub const TSTATE_CUREXC_TYPE: i64 = 96;
    pub const SET_USED: i64 = 24;
    pub const FUNC_GLOBALS: i64 = 16;
    pub const FUNC_BUILTINS: i64 = 24;
    pub const TSTATE_DATASTACK_TOP: i64 = 304;
    pub const TSTATE_DATASTACK_LIMIT: i64 = 312;
    /// `rangeiterobject` and `listiterobject` (private to their .c files; checked on live
    /// iterators by `psyco_iter_layout_ok`).
    pub const RANGEITER_INDEX: i64 = 16;
    pub const RANGEITER_START: i64 = 24;
    pub const RANGEITER_STEP: i64 = 32;
    pub const RANGEITER_LEN: i64 = 40;
    pub const LISTITER_INDEX: i64 = 16;
    pub const LISTITER_SEQ: i64 = 24;

    /// (name, value) in table order.
    pub const TABLE: &[(&str, i64)] = &[
        ("_PyInterpreterFrame.f_func", FRAME_F_FUNC),
        ("_PyInterpreterFrame.f_globals", FRAME_F_GLOBALS),
        ("_PyInterpreterFrame.f_builtins", FRAME_F_BUILTINS),
        ("_PyInterpreterFrame.f_locals", FRAME_F_LOCALS),
        ("_PyInterpreterFrame.f_code", FRAME_F_CODE),
        ("_PyInterpreterFrame.frame_obj", FRAME_FRAME_OBJ),
        ("_PyInterpreterFrame.previous", FRAME_PREVIOUS),
        ("_PyInterpreterFrame.prev_instr", FRAME_PREV_INSTR),
        ("_PyInterpreterFrame.stacktop", FRAME_STACKTOP),
        ("_PyInterpreterFrame.is_entry", FRAME_IS_ENTRY),
        ("_PyInterpreterFrame.owner", FRAME_OWNER),
        ("_PyInterpreterFrame.localsplus", FRAME_LOCALSPLUS),
        ("PyCodeObject.co_consts", CODE_CONSTS),
        ("PyCodeObject.co_names", CODE_NAMES),
        ("PyCodeObject.co_exceptiontable", CODE_EXCEPTIONTABLE),
        ("PyCodeObject.co_flags", CODE_FLAGS),
        ("PyCodeObject.co_stacksize", CODE_STACKSIZE),
        ("PyCodeObject.co_firstlineno", CODE_FIRSTLINENO),
        ("PyCodeObject.co_nlocalsplus", CODE_NLOCALSPLUS),
        ("PyCodeObject.co_nlocals", CODE_NLOCALS),
        ("PyCodeObject.co_filename", CODE_FILENAME),
        ("PyCodeObject.co_name", CODE_NAME),
        ("PyCodeObject.co_qualname", CODE_QUALNAME),
        ("PyCodeObject._co_firsttraceable", CODE_FIRSTTRACEABLE),
        ("PyCodeObject.co_extra", CODE_EXTRA),
        ("PyCodeObject.co_code_adaptive", CODE_CODE_ADAPTIVE),
        ("PyThreadState.recursion_remaining", TSTATE_RECURSION_REMAINING),
        ("PyThreadState.recursion_limit", TSTATE_RECURSION_LIMIT),
        ("PyThreadState.cframe", TSTATE_CFRAME),
        ("PyThreadState.c_profilefunc", TSTATE_C_PROFILEFUNC),
        ("PyThreadState.c_tracefunc", TSTATE_C_TRACEFUNC),
        ("PyThreadState.c_profileobj", TSTATE_C_PROFILEOBJ),
        ("PyThreadState.c_traceobj", TSTATE_C_TRACEOBJ),
        ("_PyCFrame.use_tracing", CFRAME_USE_TRACING),
        ("_PyCFrame.current_frame", CFRAME_CURRENT_FRAME),
        ("_PyCFrame.previous", CFRAME_PREVIOUS),
        ("PyFrameObject.f_frame", FRAMEOBJECT_F_FRAME),
        ("sizeof(_PyInterpreterFrame)", SIZEOF_INTERPRETER_FRAME),
        ("PyInterpreterState.ceval.eval_breaker", INTERP_EVAL_BREAKER),
        ("PyFunctionObject.func_closure", FUNC_CLOSURE),
        ("PyTupleObject.ob_item", TUPLE_OB_ITEM),
        ("PyListObject.ob_item", LIST_OB_ITEM),
        ("PyMethodObject.im_func", METHOD_IM_FUNC),
        ("PyMethodObject.im_self", METHOD_IM_SELF),
        ("PyCellObject.ob_ref", CELL_OB_REF),
        ("PyVarObject.ob_size", VAR_OB_SIZE),
        ("PyLongObject.ob_digit", LONG_OB_DIGIT),
        ("PyLong_SHIFT", LONG_SHIFT),
        ("PyFloatObject.ob_fval", FLOAT_OB_FVAL),
        ("PyFunctionObject.func_defaults", FUNC_DEFAULTS),
        ("PyFunctionObject.func_kwdefaults", FUNC_KWDEFAULTS),
        ("PyFunctionObject.func_annotations", FUNC_ANNOTATIONS),
        ("PyDictObject.ma_version_tag", DICT_VERSION_TAG),
        ("PyFunctionObject.func_code", FUNC_CODE),
        ("PyTypeObject.tp_version_tag", TYPE_VERSION_TAG),
        ("PyHeapTypeObject.ht_cached_keys", HEAPTYPE_CACHED_KEYS),
        ("PyDictKeysObject.dk_nentries", DICTKEYS_NENTRIES),
        ("_PyObject_ValuesPointer", OBJECT_VALUES_PTR),
        ("_PyObject_ManagedDictPointer", OBJECT_MANAGED_DICT),
        ("PyListObject.allocated", LIST_ALLOCATED),
        ("PyASCIIObject.length", STR_LENGTH),
        ("PyDictObject.ma_used", DICT_MA_USED),
        ("PyModuleObject.md_dict", MODULE_MD_DICT),
        ("PyMethodDescrObject.d_common.d_type", DESCR_D_TYPE),
        ("PyMethodDescrObject.d_method", METHODDESCR_D_METHOD),
        ("PyCFunctionObject.m_ml", CFUNCTION_M_ML),
        ("PyCFunctionObject.m_self", CFUNCTION_M_SELF),
        ("PyMethodDef.ml_meth", METHODDEF_ML_METH),
        ("PyMethodDef.ml_flags", METHODDEF_ML_FLAGS),
        ("PyThreadState.curexc_type", TSTATE_CUREXC_TYPE),
        ("PySetObject.used", SET_USED),
        ("PyFunctionObject.func_globals", FUNC_GLOBALS),
        ("PyFunctionObject.func_builtins", FUNC_BUILTINS),
        ("PyThreadState.datastack_top", TSTATE_DATASTACK_TOP),
        ("PyThreadState.datastack_limit", TSTATE_DATASTACK_LIMIT),
    ];
}

/// The offsets machine code uses, as `i32` displacements (same values as [`expected`]).
pub mod layout {
    use super::expected as X;
    pub const FRAME_PREV_INSTR: i32 = X::FRAME_PREV_INSTR as i32;
    pub const FRAME_STACKTOP: i32 = X::FRAME_STACKTOP as i32;
    pub const FRAME_LOCALSPLUS: i32 = X::FRAME_LOCALSPLUS as i32;
    pub const CELL_OB_REF: i32 = X::CELL_OB_REF as i32;
    pub const TSTATE_CFRAME: i32 = X::TSTATE_CFRAME as i32;
    pub const CFRAME_USE_TRACING: i32 = X::CFRAME_USE_TRACING as i32;
    pub const FRAME_F_GLOBALS: i32 = X::FRAME_F_GLOBALS as i32;
    pub const FRAME_F_BUILTINS: i32 = X::FRAME_F_BUILTINS as i32;
    pub const DICT_VERSION_TAG: i32 = X::DICT_VERSION_TAG as i32;
    pub const TYPE_VERSION_TAG: i32 = X::TYPE_VERSION_TAG as i32;
    pub const HEAPTYPE_CACHED_KEYS: i32 = X::HEAPTYPE_CACHED_KEYS as i32;
    pub const DICTKEYS_NENTRIES: i32 = X::DICTKEYS_NENTRIES as i32;
    pub const OBJECT_VALUES_PTR: i32 = X::OBJECT_VALUES_PTR as i32;
    pub const OBJECT_MANAGED_DICT: i32 = X::OBJECT_MANAGED_DICT as i32;
    pub const VAR_OB_SIZE: i32 = X::VAR_OB_SIZE as i32;
    pub const LIST_OB_ITEM: i32 = X::LIST_OB_ITEM as i32;
    pub const TUPLE_OB_ITEM: i32 = X::TUPLE_OB_ITEM as i32;
    pub const LONG_OB_DIGIT: i32 = X::LONG_OB_DIGIT as i32;
    pub const RANGEITER_INDEX: i32 = X::RANGEITER_INDEX as i32;
    pub const RANGEITER_START: i32 = X::RANGEITER_START as i32;
    pub const RANGEITER_STEP: i32 = X::RANGEITER_STEP as i32;
    pub const RANGEITER_LEN: i32 = X::RANGEITER_LEN as i32;
    pub const LISTITER_INDEX: i32 = X::LISTITER_INDEX as i32;
    pub const LISTITER_SEQ: i32 = X::LISTITER_SEQ as i32;
    pub const FLOAT_OB_FVAL: i32 = X::FLOAT_OB_FVAL as i32;
    pub const LIST_ALLOCATED: i32 = X::LIST_ALLOCATED as i32;
    pub const STR_LENGTH: i32 = X::STR_LENGTH as i32;
    pub const DICT_MA_USED: i32 = X::DICT_MA_USED as i32;
    pub const MODULE_MD_DICT: i32 = X::MODULE_MD_DICT as i32;
    pub const FUNC_CODE: i32 = X::FUNC_CODE as i32;
    pub const FUNC_CLOSURE: i32 = X::FUNC_CLOSURE as i32;
    pub const DESCR_D_TYPE: i32 = X::DESCR_D_TYPE as i32;
    pub const METHODDESCR_D_METHOD: i32 = X::METHODDESCR_D_METHOD as i32;
    pub const CFUNCTION_M_ML: i32 = X::CFUNCTION_M_ML as i32;
    pub const CFUNCTION_M_SELF: i32 = X::CFUNCTION_M_SELF as i32;
    pub const METHODDEF_ML_METH: i32 = X::METHODDEF_ML_METH as i32;
    pub const METHODDEF_ML_FLAGS: i32 = X::METHODDEF_ML_FLAGS as i32;
    pub const TSTATE_RECURSION_REMAINING: i32 = X::TSTATE_RECURSION_REMAINING as i32;
    pub const TSTATE_CUREXC_TYPE: i32 = X::TSTATE_CUREXC_TYPE as i32;
    pub const SET_USED: i32 = X::SET_USED as i32;
    pub const FUNC_GLOBALS: i32 = X::FUNC_GLOBALS as i32;
    pub const FUNC_BUILTINS: i32 = X::FUNC_BUILTINS as i32;
    pub const TSTATE_DATASTACK_TOP: i32 = X::TSTATE_DATASTACK_TOP as i32;
    pub const TSTATE_DATASTACK_LIMIT: i32 = X::TSTATE_DATASTACK_LIMIT as i32;
    pub const FRAME_F_FUNC: i32 = X::FRAME_F_FUNC as i32;
    pub const FRAME_F_CODE: i32 = X::FRAME_F_CODE as i32;
    pub const FRAME_F_LOCALS: i32 = X::FRAME_F_LOCALS as i32;
    pub const FRAME_FRAME_OBJ: i32 = X::FRAME_FRAME_OBJ as i32;
    pub const FRAME_PREVIOUS: i32 = X::FRAME_PREVIOUS as i32;
    pub const FRAME_IS_ENTRY: i32 = X::FRAME_IS_ENTRY as i32;
    pub const FRAME_OWNER: i32 = X::FRAME_OWNER as i32;
    pub const CFRAME_CURRENT_FRAME: i32 = X::CFRAME_CURRENT_FRAME as i32;
    pub const TSTATE_RECURSION_LIMIT: i32 = X::TSTATE_RECURSION_LIMIT as i32;
    pub const CODE_EXTRA: i32 = X::CODE_EXTRA as i32;
    pub const CODE_CODE_ADAPTIVE: i32 = X::CODE_CODE_ADAPTIVE as i32;
    /// `ob_type` in every object header.
    pub const OB_TYPE: i32 = 8;
}

pub mod runtime;
pub mod runtime_exc;
pub mod runtime_match;
pub mod runtime_ops;
pub mod runtime_gen;
#[cfg(psyco_native)]
mod exec;

/// Calls `function(*args)` directly if it is compiled (see `exec::call_direct`): None when the
/// ordinary vectorcall path must be taken (nothing consumed); Some(result or NULL) when the
/// references to the function and the arguments were consumed. Portable builds: always None.
///
/// # Safety
/// GIL held, `ts` the current thread state, `function` and `args[..nargs]` owned references.
#[inline(always)]
pub unsafe fn call_direct(
    ts: *mut py::PyThreadState,
    function: *mut py::PyObject,
    args: *mut *mut py::PyObject,
    nargs: usize,
) -> Option<*mut py::PyObject> {
    #[cfg(psyco_native)]
    {
        // Most callables that are not Python functions (builtins, classes, methods of C types)
        // are turned away here, before the out-of-line body and its prologue.
        // SAFETY: forwarded contract; `function` is a live object.
        unsafe {
            if py::Py_TYPE(function) != std::ptr::addr_of_mut!(py::PyFunction_Type) {
                return None;
            }
            exec::call_direct(ts, function, args, nargs)
        }
    }
    #[cfg(not(psyco_native))]
    {
        let _ = (ts, function, args, nargs);
        None
    }
}

/// [`call_direct`] through `psyco_call_py` first (csrc/calls.c: positional calls, defaults
/// filling the rest, in one C function), then the general direct path for what it declines
/// (e.g. a thread data stack chunk without room). Same contract as `call_direct`.
#[inline(always)]
pub unsafe fn call_direct_fast(
    ts: *mut py::PyThreadState,
    function: *mut py::PyObject,
    args: *mut *mut py::PyObject,
    nargs: usize,
) -> Option<*mut py::PyObject> {
    #[cfg(psyco_native)]
    // SAFETY: forwarded contract.
    unsafe {
        let r = native::psyco_call_py(ts, function, args, nargs as isize);
        if r as usize != 1 {
            return Some(r);
        }
    }
    // SAFETY: forwarded contract.
    unsafe { call_direct(ts, function, args, nargs) }
}

/// `ts` (the current thread state, GIL held) has a C tracer, or a profiler that is not psyco's.
#[cfg(psyco_native)]
unsafe fn thread_has_foreign_tracer(ts: *mut py::PyThreadState) -> bool {
    // SAFETY: caller's contract.
    unsafe {
        let ours = crate::queue::active_profiler_fn as *const () as usize;
        let prof = native::psyco_tstate_profilefunc(ts).map(|f| f as usize);
        native::psyco_tstate_tracefunc(ts).is_some() || (prof.is_some() && prof != Some(ours))
    }
}

#[cfg(not(psyco_native))]
unsafe fn thread_has_foreign_tracer(_ts: *mut py::PyThreadState) -> bool {
    false
}

/// [`thread_has_foreign_tracer`] for csrc/osr311.c (the frame switch steps aside for them).
#[cfg(psyco_native)]
#[no_mangle]
pub unsafe extern "C" fn psyco_thread_has_foreign_tracer(ts: *mut py::PyThreadState) -> c_int {
    // SAFETY: the caller passes a live thread state with the GIL held.
    unsafe { thread_has_foreign_tracer(ts) as c_int }
}

/// Address of `_PyCode_CODE(code)`, the first code unit of `co_code_adaptive`.
pub fn code_first_instr(code: &Bound<'_, PyAny>) -> usize {
    code.as_ptr() as usize + expected::CODE_CODE_ADAPTIVE as usize
}

/// `co_nlocalsplus`: the number of local, cell and free variable slots of a frame.
pub fn code_nlocalsplus(code: &Bound<'_, PyAny>) -> usize {
    // SAFETY: `code` is a live code object (checked by the caller's getattr of co_code);
    // reading an int field at a verified offset.
    unsafe { *((code.as_ptr() as *const u8).add(expected::CODE_NLOCALSPLUS as usize) as *const i32) as usize }
}

/// Address of `interp->ceval.eval_breaker` for the current interpreter.
pub fn eval_breaker_addr() -> usize {
    // SAFETY: the interpreter state outlives every compiled function (one interpreter).
    unsafe { PyInterpreterState_Get() as usize + expected::INTERP_EVAL_BREAKER as usize }
}

/// The interpreter version psyco's native layer was built and verified for.
pub const TARGET_VERSION: (u8, u8, u8) = (3, 11, 7);

/// Why native mode is (un)available. `Ok(())` means: compiled code may be installed.
pub fn layout_report(py: Python<'_>) -> Result<(), String> {
    #[cfg(not(psyco_native))]
    {
        let _ = py;
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        Err(format!(
            "psyco compiles only on CPython 3.11 for x86-64 Linux; this build is for {arch}-{os}, \
             Python {}.{}: running interpreter-only",
            pyo3_version().0,
            pyo3_version().1
        ))
    }
    #[cfg(psyco_native)]
    {
        let info = py.version_info();
        let got = (info.major, info.minor, info.patch);
        if got != TARGET_VERSION {
            return Err(format!(
                "CPython {}.{}.{} is not the verified target {}.{}.{}: running interpreter-only",
                got.0, got.1, got.2, TARGET_VERSION.0, TARGET_VERSION.1, TARGET_VERSION.2
            ));
        }
        // SAFETY: pure functions of the C table, no pointers involved.
        let (count, micro) = unsafe { (native::psyco_offset_count(), native::psyco_built_micro()) };
        if micro as u8 != TARGET_VERSION.2 {
            return Err(format!("built against 3.11.{micro} headers: running interpreter-only"));
        }
        if count as usize != expected::TABLE.len() {
            return Err("internal offset table size mismatch: running interpreter-only".into());
        }
        // SAFETY: builds two iterators and reads them at the given offsets (GIL held).
        let iters_ok = unsafe {
            use expected as E;
            native::psyco_iter_layout_ok(E::RANGEITER_INDEX, E::RANGEITER_START, E::RANGEITER_STEP, E::RANGEITER_LEN, E::LISTITER_INDEX, E::LISTITER_SEQ)
        };
        if iters_ok != 1 {
            return Err("range/list iterator layout does not match live objects: running interpreter-only".into());
        }
        // SAFETY: reads CPython's small-int cache (GIL held).
        let small = unsafe { native::psyco_small_ints(expected::SIZEOF_LONG_OBJECT) };
        if small.is_null() {
            return Err("small-int cache layout does not match: running interpreter-only".into());
        }
        SMALL_INTS.store(small as usize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: makes two strings and reads their state byte (GIL held).
        STR_INTERNED_OFFSET.store(unsafe { native::psyco_str_interned_offset() }, std::sync::atomic::Ordering::Relaxed);
        let (mut mask, mut value, mut data) = (0u32, 0u32, 0i64);
        // SAFETY: makes three strings and reads their headers (GIL held).
        let state = unsafe { native::psyco_ascii_probe(&mut mask, &mut value, &mut data) };
        if state >= 0 {
            let _ = ASCII_LAYOUT.set((state as i32, mask, value, data as i32));
        }
        let mut stride = 0i64;
        // SAFETY: makes and releases strs of CPython's static singletons (GIL held).
        let chr0 = unsafe { native::psyco_ascii_singletons(&mut stride) };
        if !chr0.is_null() && (1..4096).contains(&stride) {
            let _ = ASCII_SINGLETONS.set((chr0 as usize, stride as i32));
        }
        // SAFETY: each looks up a builtin, keeping the reference (GIL held).
        let targets = unsafe {
            [
                (native::psyco_isinstance_target(), c"isinstance", &ISINSTANCE_BUILTIN, &ISINSTANCE_NAME),
                (native::psyco_ord_target(), c"ord", &ORD_BUILTIN, &ORD_NAME),
            ]
        };
        for (builtin, name, builtin_slot, name_slot) in targets {
            if builtin.is_null() {
                continue;
            }
            // SAFETY: interning an ASCII literal (GIL held); the reference is kept.
            let interned = unsafe { py::PyUnicode_InternFromString(name.as_ptr()) };
            if interned.is_null() {
                // SAFETY: GIL held.
                unsafe { py::PyErr_Clear() };
            } else {
                builtin_slot.store(builtin as usize, std::sync::atomic::Ordering::Relaxed);
                name_slot.store(interned as usize, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let (mut len, mut append, mut sqrt) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: looks up three objects and keeps references to them (GIL held).
        if unsafe { native::psyco_call_targets(&mut len, &mut append, &mut sqrt) } == 0 {
            use std::sync::atomic::Ordering::Relaxed;
            LEN_BUILTIN.store(len as usize, Relaxed);
            LIST_APPEND.store(append as usize, Relaxed);
            MATH_SQRT.store(sqrt as usize, Relaxed);
            // The names code objects call them by (interned, so compared by identity).
            for (slot, name) in [(&LEN_NAME, c"len"), (&APPEND_NAME, c"append"), (&TYPE_NAME, c"type"), (&SQRT_NAME, c"sqrt"), (&RANGE_NAME, c"range")] {
                // SAFETY: interning an ASCII literal (GIL held); the reference is kept.
                let s = unsafe { py::PyUnicode_InternFromString(name.as_ptr()) };
                if s.is_null() {
                    // SAFETY: GIL held.
                    unsafe { py::PyErr_Clear() };
                }
                slot.store(s as usize, Relaxed);
            }
        }
        // SAFETY: a pure function of the C struct definition.
        if unsafe { native::psyco_attr_cache_size() } as usize != std::mem::size_of::<runtime::AttrCache>() {
            return Err("attribute cache layout mismatch between C and Rust: running interpreter-only".into());
        }
        for (i, (name, want)) in expected::TABLE.iter().enumerate() {
            // SAFETY: index is in range, checked above.
            let got = unsafe { native::psyco_offset(i as i64) };
            if got != *want {
                return Err(format!(
                    "layout of {name} is {got}, expected {want}: running interpreter-only"
                ));
            }
        }
        collect_builtin_c_names(py);
        live_layout_check(py)
    }
}

#[cfg(not(psyco_native))]
fn pyo3_version() -> (u8, u8) {
    Python::with_gil(|py| {
        let v = py.version_info();
        (v.major, v.minor)
    })
}

/// Checks the mirror against objects that exist right now: the current frame's code must be the
/// code `sys._getframe()` reports, and a code object's `co_consts`/`co_name` pointers must be
/// the objects Python returns for them.
#[cfg(psyco_native)]
fn live_layout_check(py: Python<'_>) -> Result<(), String> {
    let sys = py.import("sys").map_err(|e| e.to_string())?;
    let frame = sys.call_method1("_getframe", (0,)).map_err(|e| e.to_string())?;
    let code = frame.getattr("f_code").map_err(|e| e.to_string())?;
    // SAFETY: GIL held; the thread state is ours; the top frame of this thread is the Python
    // frame that called into us (we are a C function called from Python code).
    let top_code = unsafe {
        let ts = py::PyThreadState_Get();
        let mut f = native::psyco_tstate_frame(ts);
        while !f.is_null() && native::psyco_frame_is_incomplete(f) != 0 {
            f = native::psyco_frame_previous(f);
        }
        if f.is_null() {
            std::ptr::null_mut()
        } else {
            native::psyco_frame_code(f)
        }
    };
    if top_code != code.as_ptr() {
        return Err("thread state frame chain does not match sys._getframe(): running interpreter-only".into());
    }
    let consts = code.getattr("co_consts").map_err(|e| e.to_string())?;
    let name = code.getattr("co_name").map_err(|e| e.to_string())?;
    // SAFETY: `code` is a live code object (we hold a reference); reading two pointer-sized
    // fields at offsets the C table just confirmed.
    let (c, n) = unsafe {
        let base = code.as_ptr() as *const u8;
        (
            *(base.add(expected::CODE_CONSTS as usize) as *const *mut py::PyObject),
            *(base.add(expected::CODE_NAME as usize) as *const *mut py::PyObject),
        )
    };
    if c != consts.as_ptr() || n != name.as_ptr() {
        return Err("PyCodeObject layout does not match live objects: running interpreter-only".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Code records (co_extra)
// ---------------------------------------------------------------------------------------------

static EXTRA_INDEX: Mutex<Option<py::Py_ssize_t>> = parking_lot::const_mutex(None);
/// Copy of the index once known (-1 before), read lock-free on every hooked call.
static EXTRA_INDEX_FAST: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(-1);
static LIVE: Mutex<Option<HashSet<CodeId>>> = parking_lot::const_mutex(None);

/// Called by the engine when a record dies with its code object.
static mut ON_CODE_FREED: Option<fn(CodeId)> = None;

/// Registers the one callback run (with the GIL held) when a recorded code object dies.
pub fn set_code_freed_hook(f: fn(CodeId)) {
    // SAFETY: set once at module init, with the GIL held, before any record exists.
    unsafe { ON_CODE_FREED = Some(f) }
}

unsafe extern "C" fn free_record(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` was made by Box::into_raw in `record` below and is freed exactly once, here,
    // by code_dealloc.
    let rec = unsafe { Box::from_raw(p as *mut crate::queue::CodeRecord) };
    let id = rec.code;
    if let Some(live) = LIVE.lock().as_mut() {
        live.remove(&id);
    }
    // SAFETY: read of a fn pointer written once at init.
    if let Some(hook) = unsafe { ON_CODE_FREED } {
        hook(id);
    }
    // The record may own a Python reference (a proxy's original). code_dealloc runs with the
    // GIL held, but pyo3 releases a `Py` at once only inside a GIL scope it knows about
    // (otherwise at the next psyco call), and no such scope can be opened here: during
    // finalization Py_IsInitialized() is already false. So release it by hand.
    if let Some(original) = rec.take_proxy_of() {
        // SAFETY: GIL held (we are inside code_dealloc); `into_ptr` hands us the one strong
        // reference the record owned.
        unsafe { py::Py_DECREF(original.into_ptr()) };
    }
    // Likewise the code objects its machine code inlined.
    if let Some(c) = rec.compiled.lock().as_mut().and_then(|b| b.downcast_mut::<crate::compiler::Compiled>()) {
        for code in std::mem::take(&mut c._inlined) {
            // SAFETY: as above: GIL held, one strong reference owned by the compiled code.
            unsafe { py::Py_DECREF(code.into_ptr()) };
        }
    }
    drop(rec);
}

fn extra_index() -> Option<py::Py_ssize_t> {
    let mut g = EXTRA_INDEX.lock();
    if g.is_none() {
        // SAFETY: GIL held by the caller (all callers take a Python token).
        let i = unsafe { request_code_extra_index(free_record) };
        if i < 0 {
            return None;
        }
        *g = Some(i);
        EXTRA_INDEX_FAST.store(i as isize, std::sync::atomic::Ordering::Release);
        #[cfg(psyco_native)]
        // SAFETY: a plain C global read by `psyco_call_py` with the GIL held; we hold it too.
        unsafe {
            native::psyco_extra_index = i;
        }
    }
    *g
}

fn is_code(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: type check on a live object.
    unsafe { py::PyCode_Check(obj.as_ptr()) != 0 }
}

/// The psyco record of a code object, created on first use. `None` if `code` is not a code
/// object or co_extra is unavailable. The reference lives as long as the code object; callers
/// must not keep it past the GIL-holding region in which they got it.
pub fn record<'py>(code: &Bound<'py, PyAny>) -> Option<&'py crate::queue::CodeRecord> {
    if !is_code(code) {
        return None;
    }
    let idx = extra_index()?;
    let ptr = code.as_ptr();
    let mut extra: *mut c_void = std::ptr::null_mut();
    // SAFETY: `ptr` is a live code object (borrowed through `code`), GIL held.
    unsafe {
        if code_get_extra(ptr, idx, &mut extra) != 0 {
            py::PyErr_Clear();
            return None;
        }
        if extra.is_null() {
            let id = CodeId(ptr as usize);
            let rec = Box::new(crate::queue::CodeRecord::new(id));
            let raw = Box::into_raw(rec) as *mut c_void;
            if code_set_extra(ptr, idx, raw) != 0 {
                py::PyErr_Clear();
                drop(Box::from_raw(raw as *mut crate::queue::CodeRecord));
                return None;
            }
            LIVE.lock().get_or_insert_with(HashSet::new).insert(id);
            #[cfg(psyco_native)]
            trim_extra_slots(ptr, idx);
            extra = raw;
        }
        Some(&*(extra as *const crate::queue::CodeRecord))
    }
}

/// After psyco gave `code` its first extra slot: `_PyCode_SetExtra` sized the code's extra array
/// for every index registered so far, and 3.11's `code_dealloc` then calls *every* registered
/// free function for every slot below that size, NULL or not. A code object that only psyco
/// touched would so call other users' free functions with NULL (test_code's ctypes callback,
/// even after ctypes is gone at exit), which plain CPython never does. If every slot above
/// psyco's is still NULL, the size is cut back to psyco's slot; a later `_PyCode_SetExtra` for a
/// higher index grows it again (it re-sizes whenever the size is not above the index).
#[cfg(psyco_native)]
unsafe fn trim_extra_slots(code: *mut py::PyObject, idx: py::Py_ssize_t) {
    // SAFETY: live code object, GIL held; `co_extra` is `{ Py_ssize_t ce_size; void *ce_extras[] }`
    // at the verified offset.
    unsafe {
        let extra = *((code as *const u8).add(expected::CODE_EXTRA as usize) as *const *mut isize);
        if extra.is_null() {
            return;
        }
        let size = *extra;
        let slots = extra.add(1) as *const *mut c_void;
        if size > idx + 1 && (idx + 1..size).all(|i| (*slots.add(i as usize)).is_null()) {
            *extra = idx + 1;
        }
    }
}

/// The record of a code object if it already has one (never creates).
pub fn existing_record<'py>(code: &Bound<'py, PyAny>) -> Option<&'py crate::queue::CodeRecord> {
    if !is_code(code) {
        return None;
    }
    let idx = EXTRA_INDEX_FAST.load(std::sync::atomic::Ordering::Acquire);
    if idx < 0 {
        return None;
    }
    let idx = idx as py::Py_ssize_t;
    let mut extra: *mut c_void = std::ptr::null_mut();
    // SAFETY: live code object, GIL held.
    unsafe {
        if code_get_extra(code.as_ptr(), idx, &mut extra) != 0 {
            py::PyErr_Clear();
            return None;
        }
        if extra.is_null() {
            None
        } else {
            Some(&*(extra as *const crate::queue::CodeRecord))
        }
    }
}

/// The record of `code` (a live code object, GIL held) if it has one, without type checks.
/// Reads `co_extra` directly (what `_PyCode_GetExtra` does, minus the call and type check):
/// this is on the path of every call into compiled code.
#[cfg(psyco_native)]
pub(crate) unsafe fn record_of_raw<'a>(code: *mut py::PyObject) -> Option<&'a crate::queue::CodeRecord> {
    let idx = EXTRA_INDEX_FAST.load(std::sync::atomic::Ordering::Relaxed);
    if idx < 0 {
        return None;
    }
    // SAFETY: caller guarantees a live code object and the GIL; `co_extra` is NULL or a
    // `_PyCodeObjectExtra { Py_ssize_t ce_size; void *ce_extras[]; }` (offset verified).
    unsafe {
        let extra = *((code as *const u8).add(expected::CODE_EXTRA as usize) as *const *const isize);
        if extra.is_null() || *extra <= idx as isize {
            return None;
        }
        let rec = *(extra.add(1 + idx as usize) as *const *const crate::queue::CodeRecord);
        rec.as_ref()
    }
}

/// The code object behind `id`, if it is still alive (see the module invariants).
pub fn live_code<'py>(py: Python<'py>, id: CodeId) -> Option<Bound<'py, PyAny>> {
    let alive = LIVE.lock().as_ref().is_some_and(|s| s.contains(&id));
    if !alive {
        return None;
    }
    // SAFETY: the address is in the live set, so code_dealloc has not run for it (it removes
    // the address first), and it cannot run concurrently because we hold the GIL.
    Some(unsafe { Bound::from_borrowed_ptr(py, id.0 as *mut py::PyObject) })
}

/// After fork, in the child: release this module's locks if another thread held them.
pub fn after_fork_child() {
    unlock_after_fork(&EXTRA_INDEX);
    unlock_after_fork(&LIVE);
}

/// The code objects currently carrying a record, by identity (see [`live_code`]).
pub fn live_code_ids() -> Vec<CodeId> {
    LIVE.lock().as_ref().map_or_else(Vec::new, |s| s.iter().copied().collect())
}

/// Number of code objects currently carrying a record (for stats and leak tests).
pub fn live_record_count() -> usize {
    LIVE.lock().as_ref().map_or(0, |s| s.len())
}

// ---------------------------------------------------------------------------------------------
// Threads and frames
// ---------------------------------------------------------------------------------------------

/// One Python thread as seen by the sampler: its code stack, innermost first, and where it is.
pub struct ThreadStack {
    pub thread_id: u64,
    pub codes: Vec<CodeId>,
    /// The `f_globals` of each frame of `codes` (borrowed: valid while the GIL is held since
    /// the walk), a hint for the compiler (`compiler::globals_hint`).
    pub globals: Vec<usize>,
    /// Address of the innermost frame's last instruction (0 if unknown).
    pub position: usize,
    /// The thread is stopped where the eval loop polls between bytecodes (so it was running
    /// bytecode, not waiting inside a C call).
    pub at_loop_check: bool,
    /// This is the thread running the sampler's tick (it is certainly running Python).
    /// A foreign C-level tracer or profiler is installed on this thread (sys.settrace,
    /// sys.setprofile, a debugger, coverage): psyco steps aside.
    pub foreign_hook: bool,
    pub is_current: bool,
}

/// Walks every thread of the current interpreter except the caller's and returns their stacks,
/// reading frames through the thread states (no frame objects are created in native mode).
/// Each code on a stack is given a record, so the addresses stay valid (see invariants).
pub fn thread_stacks(
    py: Python<'_>,
    our_profiler: Option<TraceFunc>,
    max_depth: usize,
    include_self: bool,
) -> Vec<ThreadStack> {
    let mut out = Vec::new();
    // SAFETY: GIL held; thread states are not freed while we hold it; frames linked from a
    // thread state are alive while it is suspended (it cannot run without the GIL).
    unsafe {
        let me = py::PyThreadState_Get();
        let interp = PyInterpreterState_Get();
        let mut ts = PyInterpreterState_ThreadHead(interp);
        while !ts.is_null() {
            if include_self || ts != me {
                let mut t = one_thread(py, ts, our_profiler, max_depth);
                t.is_current = ts == me;
                out.push(t);
            }
            ts = PyThreadState_Next(ts);
        }
    }
    out.retain(|t| !t.codes.is_empty());
    out
}

#[cfg(psyco_native)]
unsafe fn one_thread(
    py: Python<'_>,
    ts: *mut py::PyThreadState,
    ours: Option<TraceFunc>,
    max_depth: usize,
) -> ThreadStack {
    // SAFETY: see thread_stacks.
    unsafe {
        let prof = native::psyco_tstate_profilefunc(ts);
        let trace = native::psyco_tstate_tracefunc(ts);
        let our_profiler = prof.is_some() && prof.map(|f| f as usize) == ours.map(|f| f as usize);
        let foreign_hook = trace.is_some() || (prof.is_some() && !our_profiler);
        let mut codes = Vec::new();
        let mut globals = Vec::new();
        let mut position = 0;
        let mut at_loop_check = false;
        let mut f = native::psyco_tstate_frame(ts);
        while !f.is_null() && codes.len() < max_depth {
            if native::psyco_frame_is_incomplete(f) == 0 {
                let code = native::psyco_frame_code(f);
                if codes.is_empty() {
                    position = native::psyco_frame_position(f);
                    at_loop_check = native::psyco_frame_at_loop_check(f) != 0;
                }
                let b = Bound::from_borrowed_ptr(py, code);
                if record(&b).is_some() {
                    codes.push(CodeId(code as usize));
                    globals.push(*((f as *const u8).add(expected::FRAME_F_GLOBALS as usize) as *const usize));
                }
            }
            f = native::psyco_frame_previous(f);
        }
        ThreadStack {
            thread_id: PyThreadState_GetID(ts),
            codes,
            globals,
            position,
            at_loop_check,
            foreign_hook,
            is_current: false,
        }
    }
}

#[cfg(not(psyco_native))]
unsafe fn one_thread(
    py: Python<'_>,
    ts: *mut py::PyThreadState,
    _ours: Option<TraceFunc>,
    max_depth: usize,
) -> ThreadStack {
    // Portable path (other versions/platforms): the public API creates frame objects, which
    // is acceptable where nothing is compiled anyway.
    // SAFETY: see thread_stacks; every new reference below is owned by a Bound and released.
    unsafe {
        let mut codes = Vec::new();
        let mut f = PyThreadState_GetFrame(ts);
        while !f.is_null() && codes.len() < max_depth {
            let frame = Bound::from_owned_ptr(py, f as *mut py::PyObject);
            let code = Bound::from_owned_ptr(py, PyFrame_GetCode(f));
            if record(&code).is_some() {
                codes.push(CodeId(code.as_ptr() as usize));
            }
            f = PyFrame_GetBack(f);
            drop(frame);
        }
        if !f.is_null() {
            py::Py_DECREF(f as *mut py::PyObject);
        }
        let globals = vec![0; codes.len()];
        ThreadStack {
            thread_id: PyThreadState_GetID(ts),
            codes,
            globals,
            position: 0,
            at_loop_check: true,
            foreign_hook: false,
            is_current: false,
        }
    }
}

/// Calls `visit(thread, frame)` for the `max_depth` innermost frames of every thread of this
/// interpreter until it returns true. The caller holds the GIL (frames of suspended threads
/// stay alive while it does) and `visit` runs no Python code.
#[cfg(psyco_native)]
unsafe fn walk_inner_frames(max_depth: usize, mut visit: impl FnMut(*mut py::PyThreadState, *mut native::IFrame) -> bool) {
    // SAFETY: the caller's contract.
    unsafe {
        let interp = PyInterpreterState_Get();
        let mut ts = PyInterpreterState_ThreadHead(interp);
        while !ts.is_null() {
            let mut f = native::psyco_tstate_frame(ts);
            let mut k = 0;
            while !f.is_null() && k < max_depth {
                if visit(ts, f) {
                    return;
                }
                k += 1;
                f = native::psyco_frame_previous(f);
            }
            ts = PyThreadState_Next(ts);
        }
    }
}

/// Addresses of the frames running `code` among the `max_depth` innermost frames of every
/// thread (candidates for a frame switch, see `compiler::osr`). GIL held.
pub fn frames_running(py: Python<'_>, code: usize, max_depth: usize) -> Vec<usize> {
    let _ = (py, code, max_depth);
    let mut out = Vec::new();
    #[cfg(psyco_native)]
    // SAFETY: GIL held (token); the visitor only reads frames.
    unsafe {
        walk_inner_frames(max_depth, |_, f| {
            if native::psyco_frame_is_incomplete(f) == 0 && native::psyco_frame_code(f) as usize == code {
                out.push(f as usize);
            }
            false
        });
    }
    out
}

/// Arms the frame switch (`csrc/osr311.c`) on the thread whose `max_depth` innermost frames
/// include `frame` running `code`, unless that frame already switched or the thread has a
/// tracer of its own. False if the frame is not found (it returned) or nothing was armed.
/// GIL held; no Python code runs.
pub fn arm_switch(py: Python<'_>, code: usize, frame: usize, max_depth: usize) -> bool {
    let _ = (py, code, frame, max_depth);
    let mut armed = false;
    #[cfg(psyco_native)]
    // SAFETY: GIL held (token); psyco_osr_arm only writes the thread state's trace fields.
    unsafe {
        walk_inner_frames(max_depth, |ts, f| {
            let found = f as usize == frame && native::psyco_frame_code(f) as usize == code;
            if found {
                armed = native::psyco_osr_arm(ts, f) != 0;
            }
            found
        });
    }
    armed
}

/// Test mode for the frame switch (`_psyco.switch_stress`): every frame the hook would run
/// compiled starts in the interpreter with the switch armed, so it switches at its first loop
/// head (the fuzzer's and the conformance runner's "switch" mode).
pub static SWITCH_STRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A compiled call ran while the thread traced: spend the frame-switch tracer's budget
/// (`csrc/osr311.c`; removes it from the thread when the budget is gone). GIL held.
pub unsafe fn osr_spend(ts: *mut py::PyThreadState) {
    #[cfg(psyco_native)]
    // SAFETY: the caller's thread state, GIL held.
    unsafe {
        native::psyco_osr_spend(ts)
    }
    #[cfg(not(psyco_native))]
    let _ = ts;
}

/// How many threads have the frame-switch tracer armed now. GIL held.
pub fn switch_armed_threads(py: Python<'_>) -> usize {
    let _ = py;
    #[cfg(psyco_native)]
    // SAFETY: GIL held; reads the thread states' trace functions.
    unsafe {
        return native::psyco_osr_armed_count() as usize;
    }
    #[allow(unreachable_code)]
    0
}

/// Removes the frame-switch tracer from every thread still armed. GIL held.
pub fn disarm_switch_all(py: Python<'_>) {
    let _ = py;
    #[cfg(psyco_native)]
    // SAFETY: GIL held; only trace fields of thread states are written.
    unsafe {
        native::psyco_osr_disarm_all()
    }
}

/// How many running frames switched into machine code so far.
pub fn switch_count() -> u64 {
    #[cfg(psyco_native)]
    // SAFETY: reads a counter only written with the GIL held (a torn read is impossible for an
    // aligned u64 on x86-64).
    unsafe {
        return native::psyco_osr_switches();
    }
    #[allow(unreachable_code)]
    0
}

/// The code running in a frame object and the code of its caller (for the active profiler).
/// The dict behind a globals hint (`compiler::globals_hint`: 0, or a borrowed pointer that
/// stays alive for the whole compilation: the compiling frame's `f_globals`, or the object a
/// worker's job holds), if it is an exact dict.
pub fn globals_hint_dict(py: Python<'_>, hint: usize) -> Option<Bound<'_, pyo3::types::PyDict>> {
    if hint == 0 {
        return None;
    }
    // SAFETY: see above; GIL held (token).
    let globals = unsafe { Bound::from_borrowed_ptr(py, hint as *mut py::PyObject) };
    globals.downcast_into_exact::<pyo3::types::PyDict>().ok()
}

/// The `f_globals` of the frame object `frame` (borrowed), or 0: a hint for the compiler.
pub fn frame_globals(frame: *mut py::PyFrameObject) -> usize {
    if frame.is_null() {
        return 0;
    }
    #[cfg(psyco_native)]
    // SAFETY: `frame` is the live frame object CPython passed to our profile function, GIL held.
    unsafe {
        let f = native::psyco_frameobject_frame(frame);
        if f.is_null() {
            return 0;
        }
        *((f as *const u8).add(expected::FRAME_F_GLOBALS as usize) as *const usize)
    }
    #[cfg(not(psyco_native))]
    0
}

pub fn frame_codes<'py>(
    py: Python<'py>,
    frame: *mut py::PyFrameObject,
) -> (Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>) {
    if frame.is_null() {
        return (None, None);
    }
    // SAFETY: `frame` is the live frame object CPython passed to our profile function, GIL held.
    unsafe {
        let code = Bound::from_owned_ptr(py, PyFrame_GetCode(frame));
        #[cfg(psyco_native)]
        let caller = {
            let mut f = native::psyco_frame_previous(native::psyco_frameobject_frame(frame));
            while !f.is_null() && native::psyco_frame_is_incomplete(f) != 0 {
                f = native::psyco_frame_previous(f);
            }
            if f.is_null() {
                None
            } else {
                Some(Bound::from_borrowed_ptr(py, native::psyco_frame_code(f)))
            }
        };
        #[cfg(not(psyco_native))]
        let caller: Option<Bound<'py, PyAny>> = None;
        (Some(code), caller)
    }
}

/// Installs (`Some`) or removes (`None`) psyco's C profile function on every thread of the
/// interpreter that has no foreign hook. Returns how many threads now carry it.
/// Only available natively; elsewhere active profiling is off and this returns 0.
pub fn set_profile_all_threads(py: Python<'_>, func: Option<TraceFunc>) -> usize {
    let _ = py;
    #[cfg(psyco_native)]
    // SAFETY: GIL held, and nothing in the loop runs Python code (psyco_set_profile fires no
    // audit event and releases no object), so no thread state is freed while we walk them.
    unsafe {
        let mut n = 0;
        let interp = PyInterpreterState_Get();
        let mut ts = PyInterpreterState_ThreadHead(interp);
        let ours = func.map(|f| f as usize);
        while !ts.is_null() {
            let prof = native::psyco_tstate_profilefunc(ts).map(|f| f as usize);
            let trace = native::psyco_tstate_tracefunc(ts);
            let foreign = trace.is_some() || (prof.is_some() && prof != ours && prof != Some(our_marker()));
            match func {
                Some(f) if !foreign => {
                    if prof != Some(f as usize) && native::psyco_set_profile(ts, Some(f), std::ptr::null_mut()) != 0 {
                        // a profile object is attached: not ours to touch
                    } else {
                        n += 1;
                    }
                }
                None if prof == Some(our_marker()) => {
                    let _ = native::psyco_set_profile(ts, None, std::ptr::null_mut());
                }
                _ => {}
            }
            ts = PyThreadState_Next(ts);
        }
        n
    }
    #[cfg(not(psyco_native))]
    {
        let _ = func;
        0
    }
}

#[cfg(psyco_native)]
fn our_marker() -> usize {
    (crate::queue::active_profiler_fn as TraceFunc) as usize
}

/// Schedules `f` to run on the main thread at its next eval-breaker check, with the GIL held
/// (`Py_AddPendingCall`; may be called without the GIL). False if the queue is full.
pub fn add_pending_call(f: extern "C" fn(*mut c_void) -> c_int) -> bool {
    // SAFETY: Py_AddPendingCall is documented as callable from any thread without the GIL;
    // `f` is a plain function that ignores its null argument.
    let ok = unsafe { py::Py_AddPendingCall(Some(f), std::ptr::null_mut()) == 0 };
    #[cfg(psyco_native)]
    if ok {
        // SAFETY: an atomic store into the main interpreter's ceval state, documented as
        // callable without the GIL in csrc/cpython311.c.
        unsafe { native::psyco_signal_eval_breaker() };
    }
    ok
}

/// In a child process right after `fork()`, only the forking thread exists: a lock held by any
/// other thread at the moment of the fork will never be released. Unlocks `m` if it is held.
/// Must only be called from the `os.register_at_fork(after_in_child=...)` handler.
pub fn unlock_after_fork<T>(m: &Mutex<T>) {
    if m.is_locked() {
        // SAFETY: in the forked child the owner thread does not exist any more; nothing else
        // runs (the GIL is held by the only thread), so releasing the lock cannot break
        // another holder's critical section.
        unsafe { m.force_unlock() };
    }
}

/// The calling thread's CPU time in nanoseconds (0 if the clock is unavailable).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the struct we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// True while the interpreter runs normally (not before init, not while finalizing).
pub fn interpreter_alive() -> bool {
    // SAFETY: both functions only read global flags and may be called without the GIL.
    unsafe {
        if Py_IsInitialized() == 0 {
            return false;
        }
        #[cfg(psyco_native)]
        if native::psyco_is_finalizing() != 0 {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The frame-evaluation hook (PEP 523)
// ---------------------------------------------------------------------------------------------

#[cfg(psyco_native)]
mod hook {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    // "C-unwind": when a daemon thread is ended at interpreter exit, CPython calls
    // pthread_exit from inside take_gil, and the forced unwind must be able to pass through
    // the hook's frame (a plain "C" Rust frame makes glibc abort the whole process).
    type EvalFrame = unsafe extern "C-unwind" fn(*mut py::PyThreadState, *mut native::IFrame, c_int) -> *mut py::PyObject;

    extern "C-unwind" {
        fn _PyEval_EvalFrameDefault(ts: *mut py::PyThreadState, f: *mut native::IFrame, throwflag: c_int) -> *mut py::PyObject;
    }
    extern "C" {
        fn _PyInterpreterState_SetEvalFrameFunc(interp: *mut py::PyInterpreterState, f: EvalFrame);
        fn _PyInterpreterState_GetEvalFrameFunc(interp: *mut py::PyInterpreterState) -> EvalFrame;
        /// csrc/calls.c: which hook `interpret_directly` may stand in for.
        fn psyco_set_hook_fn(f: EvalFrame);
    }

    pub static INSTALLED: AtomicBool = AtomicBool::new(false);

    /// `frame->owner == FRAME_OWNED_BY_GENERATOR`: a generator or coroutine being resumed
    /// (not compiled yet: a later milestone).
    /// The call of a generator, coroutine or async-generator function: a thread-owned frame of
    /// such code, which only runs its prologue and RETURN_GENERATOR (that needs the hidden
    /// `_Py_MakeCoro`, so the interpreter does it). Resumptions (generator-owned frames) run
    /// compiled like any frame.
    unsafe fn generator_creation(frame: *mut native::IFrame) -> bool {
        // SAFETY: live frame and its code object, verified offsets.
        unsafe {
            let fb = frame as *const u8;
            if *fb.add(expected::FRAME_OWNER as usize) != 0 {
                return false;
            }
            let code = *(fb.add(expected::FRAME_F_CODE as usize) as *const *const u8);
            let flags = *(code.add(expected::CODE_FLAGS as usize) as *const c_int) as u32;
            crate::compiler::is_generator_code(flags)
        }
    }

    /// A tracer or profiler other than psyco's own is active on this thread
    /// (`tstate->cframe->use_tracing` plus the installed functions).
    unsafe fn foreign_tracing(ts: *mut py::PyThreadState) -> bool {
        // SAFETY: current thread state, GIL held, verified offsets.
        unsafe {
            let cframe = *((ts as *const u8).add(expected::TSTATE_CFRAME as usize) as *const *const u8);
            if *cframe.add(expected::CFRAME_USE_TRACING as usize) == 0 {
                return false;
            }
            super::thread_has_foreign_tracer(ts)
        }
    }

    /// The hook. Decides nothing itself: tracing and throw go to the interpreter, everything
    /// else asks `compiler::hook::on_frame`.
    unsafe extern "C-unwind" fn psyco_eval_frame(
        ts: *mut py::PyThreadState,
        frame: *mut native::IFrame,
        throwflag: c_int,
    ) -> *mut py::PyObject {
        // SAFETY: CPython calls the hook with the GIL held and a live frame it owns.
        unsafe {
            if super::exec::c_stack_exhausted(ts) {
                return std::ptr::null_mut();
            }
            if generator_creation(frame) {
                return _PyEval_EvalFrameDefault(ts, frame, throwflag);
            }
            // Fast path: compiled code, no tracer: no Python objects touched at all.
            let mut needs_policy = false;
            if throwflag == 0 {
                let code = *((frame as *const u8).add(expected::FRAME_F_CODE as usize) as *const *mut py::PyObject);
                let rec = record_of_raw(code);
                if let Some(rec) = rec {
                    let entry = rec.entry.load(Ordering::Acquire);
                    if !entry.is_null() && !foreign_tracing(ts) {
                        if super::SWITCH_STRESS.load(Ordering::Relaxed) && native::psyco_osr_arm(ts, frame) != 0 {
                            // Test mode: start in the interpreter, switch at the first loop head.
                            return _PyEval_EvalFrameDefault(ts, frame, 0);
                        }
                        // Later calls of this function skip `_PyEval_Vector` and the hook (a
                        // resumed generator's frame is not a call: nothing to adopt).
                        if *(frame as *const u8).add(expected::FRAME_OWNER as usize) == 0 {
                            native::psyco_adopt_function(frame);
                        }
                        return super::exec::run_compiled(ts, frame, entry as usize);
                    }
                }
                // Only full() (compile at first call) and bound functions make the policy do
                // anything for code without machine code; everything else is interpreted
                // straight away (this is most frames under profile() and background()).
                needs_policy = crate::queue::compile_on_call()
                    || rec.is_some_and(|r| r.flags().contains(crate::queue::Flags::BOUND));
                if !needs_policy && !foreign_tracing(ts) {
                    if *(frame as *const u8).add(expected::FRAME_OWNER as usize) != 0 {
                        // A resumed generator: promoted if compiled code keeps resuming it.
                        native::psyco_note_resumed(frame);
                    } else {
                        // Nothing to decide for this function's calls until it is compiled or
                        // bound: later calls from C and interpreted code push its frame and
                        // run the interpreter directly (csrc/calls.c `interpret_directly`),
                        // which spares `_PyEval_Vector`'s general argument handling and this
                        // hook.
                        native::psyco_adopt_function(frame);
                    }
                }
            }
            if needs_policy && !foreign_tracing(ts) {
                let py = Python::assume_gil_acquired();
                let code = Bound::from_borrowed_ptr(py, native::psyco_frame_code(frame));
                let globals = *((frame as *const u8).add(expected::FRAME_F_GLOBALS as usize) as *const usize);
                match crate::compiler::with_globals_hint(globals, || crate::compiler::hook::on_frame(py, &code)) {
                    crate::compiler::hook::Action::Interpret => {}
                    crate::compiler::hook::Action::Run(entry) => {
                        drop(code);
                        native::psyco_adopt_function(frame);
                        return super::exec::run_compiled(ts, frame, entry);
                    }
                }
            }
            _PyEval_EvalFrameDefault(ts, frame, throwflag)
        }
    }

    pub fn install(_py: Python<'_>) {
        if INSTALLED.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: GIL held (token); replaces the interpreter's frame evaluator with ours,
        // which always ends in _PyEval_EvalFrameDefault.
        unsafe {
            let interp = PyInterpreterState_Get();
            let _previous = _PyInterpreterState_GetEvalFrameFunc(interp);
            _PyInterpreterState_SetEvalFrameFunc(interp, psyco_eval_frame);
            psyco_set_hook_fn(psyco_eval_frame);
        }
        crate::log::event("hook", 2, "frame evaluation hook installed", &[]);
    }
}

/// Installs psyco's PEP 523 frame-evaluation hook (once). Native builds only.
pub fn install_eval_hook(py: Python<'_>) {
    #[cfg(psyco_native)]
    hook::install(py);
    #[cfg(not(psyco_native))]
    let _ = py;
}

pub fn eval_hook_installed() -> bool {
    #[cfg(psyco_native)]
    {
        hook::INSTALLED.load(std::sync::atomic::Ordering::SeqCst)
    }
    #[cfg(not(psyco_native))]
    false
}
