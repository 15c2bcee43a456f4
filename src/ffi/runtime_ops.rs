//! Runtime helpers for the less common opcodes: namespaces (LOAD/STORE/DELETE_NAME, globals,
//! LOAD_CLASSDEREF, DELETE_DEREF, LOAD_BUILD_CLASS, SETUP_ANNOTATIONS, PRINT_EXPR), imports,
//! DELETE_ATTR, star-unpacking and merging (UNPACK_EX, SET_UPDATE, DICT_UPDATE, DICT_MERGE,
//! CALL_FUNCTION_EX); pattern matching is in `runtime_match.rs`. Each mirrors its 3.11.7 ceval
//! body and the static functions it calls (`unpack_iterable`, `import_name`, `import_from`,
//! `format_kwargs_error`, `check_args_iterable`, `format_exc_check_arg`), with the same
//! messages.
//!
//! # Conventions and safety
//! As `runtime_exc.rs`: `sp` one past the top; 0 success, -1 error (stack left as documented),
//! 1 "left to the interpreter, nothing consumed". GIL held; called only from generated code.

use std::os::raw::c_int;
use std::sync::atomic::AtomicPtr;

use pyo3::ffi as py;
use pyo3::ffi::PyObject;

use super::expected as X;
use super::runtime_exc::{decref, field, glue, incref, interned, xdecref};

type Obj = *mut PyObject;

extern "C-unwind" {
    fn _PySet_Update(set: Obj, iterable: Obj) -> c_int;
    fn _PyDict_MergeEx(a: Obj, b: Obj, override_: c_int) -> c_int;
    fn _PyObject_FunctionStr(f: Obj) -> Obj;
    fn _PyObject_LookupAttr(v: Obj, name: Obj, result: *mut Obj) -> c_int;
    fn _PyModuleSpec_IsInitializing(spec: Obj) -> c_int;
    fn _PyLong_AsInt(o: Obj) -> c_int;
    fn PyErr_SetImportError(msg: Obj, name: Obj, path: Obj) -> Obj;
    fn PyModule_GetFilenameObject(m: Obj) -> Obj;
    fn _PyObject_FastCall(f: Obj, args: *const Obj, n: py::Py_ssize_t) -> Obj;
    fn PyImport_GetModule(name: Obj) -> Obj;
}

static S_NAME: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());
static S_DUNDER_NAME: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());
static S_SPEC: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());
static S_IMPORT: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());
static S_BUILD_CLASS: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());
static S_ANNOTATIONS: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());

unsafe fn locals_of(frame: *mut u8) -> Obj {
    // SAFETY: verified offset.
    unsafe { *field::<Obj>(frame, X::FRAME_F_LOCALS) }
}
unsafe fn globals_of(frame: *mut u8) -> Obj {
    // SAFETY: verified offset.
    unsafe { *field::<Obj>(frame, X::FRAME_F_GLOBALS) }
}
unsafe fn builtins_of(frame: *mut u8) -> Obj {
    // SAFETY: verified offset.
    unsafe { *field::<Obj>(frame, X::FRAME_F_BUILTINS) }
}

/// ceval's `format_exc_check_arg` for NameError: "name 'x' is not defined", with the
/// exception's `name` attribute set (tracebacks offer suggestions from it).
unsafe fn name_error(name: Obj) {
    // SAFETY: GIL held, live str.
    unsafe {
        let s = py::PyUnicode_AsUTF8(name);
        if s.is_null() {
            return;
        }
        py::PyErr_Format(py::PyExc_NameError, c"name '%.200s' is not defined".as_ptr(), s);
        let (mut t, mut v, mut tb) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        py::PyErr_Fetch(&mut t, &mut v, &mut tb);
        py::PyErr_NormalizeException(&mut t, &mut v, &mut tb);
        if py::PyErr_GivenExceptionMatches(v, py::PyExc_NameError) != 0 {
            // The fresh NameError has no name yet; a failure here is dropped by the restore.
            py::PyObject_SetAttr(v, interned(&S_NAME, c"name"), name);
        }
        py::PyErr_Restore(t, v, tb);
    }
}

/// `ns[name]` for a dict (no KeyError) or any mapping (KeyError cleared): new reference, or
/// NULL with (error) or without (missing) an exception set.
unsafe fn mapping_lookup(ns: Obj, name: Obj) -> Obj {
    // SAFETY: live objects.
    unsafe {
        if py::PyDict_CheckExact(ns) != 0 {
            let v = py::PyDict_GetItemWithError(ns, name);
            if !v.is_null() {
                incref(v);
            }
            v
        } else {
            let v = py::PyObject_GetItem(ns, name);
            if v.is_null() && py::PyErr_ExceptionMatches(py::PyExc_KeyError) != 0 {
                py::PyErr_Clear();
            }
            v
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Names and namespaces
// ---------------------------------------------------------------------------------------------

/// LOAD_NAME: push locals[name], else globals[name], else builtins[name]. Error: -1.
pub unsafe extern "C-unwind" fn rt_load_name(frame: *mut u8, sp: *mut Obj, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let locals = locals_of(frame);
        if locals.is_null() {
            py::PyErr_Format(py::PyExc_SystemError, c"no locals when loading %R".as_ptr(), name);
            return -1;
        }
        let mut v = mapping_lookup(locals, name);
        if v.is_null() {
            if !py::PyErr_Occurred().is_null() {
                return -1;
            }
            v = py::PyDict_GetItemWithError(globals_of(frame), name);
            if !v.is_null() {
                incref(v);
            } else if !py::PyErr_Occurred().is_null() {
                return -1;
            } else {
                let builtins = builtins_of(frame);
                if py::PyDict_CheckExact(builtins) != 0 {
                    v = py::PyDict_GetItemWithError(builtins, name);
                    if v.is_null() {
                        if py::PyErr_Occurred().is_null() {
                            name_error(name);
                        }
                        return -1;
                    }
                    incref(v);
                } else {
                    v = py::PyObject_GetItem(builtins, name);
                    if v.is_null() {
                        if py::PyErr_ExceptionMatches(py::PyExc_KeyError) != 0 {
                            name_error(name);
                        }
                        return -1;
                    }
                }
            }
        }
        *sp = v;
        0
    }
}

/// STORE_NAME: locals[name] = pop(). Error: -1, value popped.
pub unsafe extern "C-unwind" fn rt_store_name(frame: *mut u8, sp: *mut Obj, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let v = *sp.sub(1);
        let ns = locals_of(frame);
        if ns.is_null() {
            py::PyErr_Format(py::PyExc_SystemError, c"no locals found when storing %R".as_ptr(), name);
            decref(v);
            return -1;
        }
        let err = if py::PyDict_CheckExact(ns) != 0 {
            py::PyDict_SetItem(ns, name, v)
        } else {
            py::PyObject_SetItem(ns, name, v)
        };
        decref(v);
        -((err != 0) as c_int)
    }
}

/// DELETE_NAME: del locals[name] (NameError if missing). Error: -1.
pub unsafe extern "C-unwind" fn rt_delete_name(frame: *mut u8, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let ns = locals_of(frame);
        if ns.is_null() {
            py::PyErr_Format(py::PyExc_SystemError, c"no locals when deleting %R".as_ptr(), name);
            return -1;
        }
        if py::PyObject_DelItem(ns, name) != 0 {
            name_error(name);
            return -1;
        }
        0
    }
}

/// STORE_GLOBAL: globals[name] = pop(). Error: -1, value popped.
pub unsafe extern "C-unwind" fn rt_store_global(frame: *mut u8, sp: *mut Obj, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let v = *sp.sub(1);
        let err = py::PyDict_SetItem(globals_of(frame), name, v);
        decref(v);
        -((err != 0) as c_int)
    }
}

/// DELETE_GLOBAL: del globals[name] (NameError if missing). Error: -1.
pub unsafe extern "C-unwind" fn rt_delete_global(frame: *mut u8, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        if py::PyDict_DelItem(globals_of(frame), name) != 0 {
            if py::PyErr_ExceptionMatches(py::PyExc_KeyError) != 0 {
                name_error(name);
            }
            return -1;
        }
        0
    }
}

/// LOAD_CLASSDEREF: push locals[name of slot i], else the content of cell i. A namespace that
/// is not an exact dict, and an empty cell (UnboundLocalError/NameError by the interpreter's
/// `format_exc_unbound`), are left to the interpreter (1). Error: -1.
pub unsafe extern "C-unwind" fn rt_load_classderef(frame: *mut u8, sp: *mut Obj, i: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let locals = locals_of(frame);
        if locals.is_null() || py::PyDict_CheckExact(locals) == 0 {
            return 1;
        }
        let name = glue::psyco_localsplus_name(frame, i);
        let mut v = py::PyDict_GetItemWithError(locals, name);
        if v.is_null() {
            if !py::PyErr_Occurred().is_null() {
                return -1;
            }
            let cell = *field::<Obj>(frame, X::FRAME_LOCALSPLUS).add(i as usize);
            v = *field::<Obj>(cell as *mut u8, X::CELL_OB_REF);
            if v.is_null() {
                return 1;
            }
        }
        incref(v);
        *sp = v;
        0
    }
}

/// DELETE_DEREF: empty cell i; an empty cell already is left to the interpreter (1).
pub unsafe extern "C-unwind" fn rt_delete_deref(frame: *mut u8, i: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let cell = *field::<Obj>(frame, X::FRAME_LOCALSPLUS).add(i as usize);
        let slot = field::<Obj>(cell as *mut u8, X::CELL_OB_REF);
        let old = *slot;
        if old.is_null() {
            return 1;
        }
        *slot = std::ptr::null_mut();
        decref(old);
        0
    }
}

/// LOAD_BUILD_CLASS: push builtins.__build_class__. Error: -1.
pub unsafe extern "C-unwind" fn rt_load_build_class(frame: *mut u8, sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let builtins = builtins_of(frame);
        let key = interned(&S_BUILD_CLASS, c"__build_class__");
        let bc;
        if py::PyDict_CheckExact(builtins) != 0 {
            bc = py::PyDict_GetItemWithError(builtins, key);
            if bc.is_null() {
                if py::PyErr_Occurred().is_null() {
                    py::PyErr_SetString(py::PyExc_NameError, c"__build_class__ not found".as_ptr());
                }
                return -1;
            }
            incref(bc);
        } else {
            bc = py::PyObject_GetItem(builtins, key);
            if bc.is_null() {
                if py::PyErr_ExceptionMatches(py::PyExc_KeyError) != 0 {
                    py::PyErr_SetString(py::PyExc_NameError, c"__build_class__ not found".as_ptr());
                }
                return -1;
            }
        }
        *sp = bc;
        0
    }
}

/// SETUP_ANNOTATIONS: make sure locals has `__annotations__`. Error: -1.
pub unsafe extern "C-unwind" fn rt_setup_annotations(frame: *mut u8) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let locals = locals_of(frame);
        if locals.is_null() {
            py::PyErr_Format(py::PyExc_SystemError, c"no locals found when setting up annotations".as_ptr());
            return -1;
        }
        let key = interned(&S_ANNOTATIONS, c"__annotations__");
        if py::PyDict_CheckExact(locals) != 0 {
            let ann = py::PyDict_GetItemWithError(locals, key);
            if ann.is_null() {
                if !py::PyErr_Occurred().is_null() {
                    return -1;
                }
                let d = py::PyDict_New();
                if d.is_null() {
                    return -1;
                }
                let err = py::PyDict_SetItem(locals, key, d);
                decref(d);
                return -((err != 0) as c_int);
            }
        } else {
            let ann = py::PyObject_GetItem(locals, key);
            if ann.is_null() {
                if py::PyErr_ExceptionMatches(py::PyExc_KeyError) == 0 {
                    return -1;
                }
                py::PyErr_Clear();
                let d = py::PyDict_New();
                if d.is_null() {
                    return -1;
                }
                let err = py::PyObject_SetItem(locals, key, d);
                decref(d);
                return -((err != 0) as c_int);
            }
            decref(ann);
        }
        0
    }
}

/// PRINT_EXPR: sys.displayhook(pop()). Error: -1, value popped.
pub unsafe extern "C-unwind" fn rt_print_expr(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let value = *sp.sub(1);
        let hook = py::PySys_GetObject(c"displayhook".as_ptr());
        if hook.is_null() {
            py::PyErr_SetString(py::PyExc_RuntimeError, c"lost sys.displayhook".as_ptr());
            decref(value);
            return -1;
        }
        let res = py::PyObject_CallOneArg(hook, value);
        decref(value);
        if res.is_null() {
            return -1;
        }
        decref(res);
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Imports and attributes
// ---------------------------------------------------------------------------------------------

/// IMPORT_NAME: [level, fromlist] → [module]. Error: -1, both popped.
pub unsafe extern "C-unwind" fn rt_import_name(ts: *mut py::PyThreadState, frame: *mut u8, sp: *mut Obj, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let fromlist = *sp.sub(1);
        let level = *sp.sub(2);
        let res = import_name(ts, frame, name, fromlist, level);
        decref(level);
        decref(fromlist);
        *sp.sub(2) = res;
        -(res.is_null() as c_int)
    }
}

unsafe fn import_name(ts: *mut py::PyThreadState, frame: *mut u8, name: Obj, fromlist: Obj, level: Obj) -> Obj {
    // SAFETY: live objects.
    unsafe {
        let import_func = py::PyObject_GetItem(builtins_of(frame), interned(&S_IMPORT, c"__import__"));
        if import_func.is_null() {
            if py::PyErr_ExceptionMatches(py::PyExc_KeyError) != 0 {
                py::PyErr_SetString(py::PyExc_ImportError, c"__import__ not found".as_ptr());
            }
            return std::ptr::null_mut();
        }
        let locals = locals_of(frame);
        let locals = if locals.is_null() { py::Py_None() } else { locals };
        if import_func == glue::psyco_interp_import_func(ts) {
            decref(import_func);
            let ilevel = _PyLong_AsInt(level);
            if ilevel == -1 && !py::PyErr_Occurred().is_null() {
                return std::ptr::null_mut();
            }
            return py::PyImport_ImportModuleLevelObject(name, globals_of(frame), locals, fromlist, ilevel);
        }
        let stack = [name, globals_of(frame), locals, fromlist, level];
        let res = _PyObject_FastCall(import_func, stack.as_ptr(), 5);
        decref(import_func);
        res
    }
}

/// IMPORT_FROM: [module] → [module, module.name] (with the circular-import fallback to
/// sys.modules and ceval's ImportError messages). Error: -1, module kept.
pub unsafe extern "C-unwind" fn rt_import_from(sp: *mut Obj, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let res = import_from(*sp.sub(1), name);
        *sp = res;
        -(res.is_null() as c_int)
    }
}

unsafe fn import_from(v: Obj, name: Obj) -> Obj {
    // SAFETY: live objects.
    unsafe {
        let mut x: Obj = std::ptr::null_mut();
        if _PyObject_LookupAttr(v, name, &mut x) != 0 {
            return x;
        }
        let mut pkgname = py::PyObject_GetAttr(v, interned(&S_DUNDER_NAME, c"__name__"));
        'error: {
            if pkgname.is_null() {
                break 'error;
            }
            if py::PyUnicode_Check(pkgname) == 0 {
                decref(pkgname);
                pkgname = std::ptr::null_mut();
                break 'error;
            }
            let full = py::PyUnicode_FromFormat(c"%U.%U".as_ptr(), pkgname, name);
            if full.is_null() {
                decref(pkgname);
                return std::ptr::null_mut();
            }
            let x = PyImport_GetModule(full);
            decref(full);
            if x.is_null() && py::PyErr_Occurred().is_null() {
                break 'error;
            }
            decref(pkgname);
            return x;
        }
        let pkgpath = PyModule_GetFilenameObject(v);
        let pkgname_or_unknown = if pkgname.is_null() {
            let u = py::PyUnicode_FromString(c"<unknown module name>".as_ptr());
            if u.is_null() {
                xdecref(pkgpath);
                return std::ptr::null_mut();
            }
            u
        } else {
            pkgname
        };
        let errmsg;
        if pkgpath.is_null() || py::PyUnicode_Check(pkgpath) == 0 {
            py::PyErr_Clear();
            errmsg = py::PyUnicode_FromFormat(
                c"cannot import name %R from %R (unknown location)".as_ptr(),
                name,
                pkgname_or_unknown,
            );
            PyErr_SetImportError(errmsg, pkgname, std::ptr::null_mut());
        } else {
            let spec = py::PyObject_GetAttr(v, interned(&S_SPEC, c"__spec__"));
            let fmt = if _PyModuleSpec_IsInitializing(spec) != 0 {
                c"cannot import name %R from partially initialized module %R (most likely due to a circular import) (%S)"
            } else {
                c"cannot import name %R from %R (%S)"
            };
            xdecref(spec);
            errmsg = py::PyUnicode_FromFormat(fmt.as_ptr(), name, pkgname_or_unknown, pkgpath);
            PyErr_SetImportError(errmsg, pkgname, pkgpath);
        }
        xdecref(errmsg);
        xdecref(pkgname_or_unknown);
        xdecref(pkgpath);
        std::ptr::null_mut()
    }
}

/// DELETE_ATTR: del pop().name. Error: -1, owner popped.
pub unsafe extern "C-unwind" fn rt_delete_attr(sp: *mut Obj, name: Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let owner = *sp.sub(1);
        let err = py::PyObject_SetAttr(owner, name, std::ptr::null_mut());
        decref(owner);
        -((err != 0) as c_int)
    }
}

// ---------------------------------------------------------------------------------------------
// Star-unpacking, merging, CALL_FUNCTION_EX
// ---------------------------------------------------------------------------------------------

/// UNPACK_EX: [seq] → `before` items, a list of the middle, `after` items (first on top),
/// with `oparg = before | after << 8`. Error: -1, seq popped.
pub unsafe extern "C-unwind" fn rt_unpack_ex(sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc; co_stacksize leaves room for every item (bytecode compiler).
    unsafe {
        let before = oparg & 0xff;
        let after = oparg >> 8;
        let total = 1 + before + after;
        let seq = *sp.sub(1);
        let base = sp.sub(1);
        let ok = unpack_iterable(seq, before, after, base.add(total as usize));
        decref(seq);
        if !ok {
            return -1;
        }
        0
    }
}

/// ceval's `unpack_iterable`: fills downward from `top`, so the first item ends on top of the
/// value stack. `argcntafter` -1 is the plain form (UNPACK_SEQUENCE: exactly
/// `argcnt` items), otherwise the star form. On failure every item it produced is released
/// again.
pub(crate) unsafe fn unpack_iterable(v: Obj, argcnt: c_int, argcntafter: c_int, top: *mut Obj) -> bool {
    // SAFETY: `top` has argcnt + argcntafter + 1 writable slots below it.
    unsafe {
        let mut sp = top;
        let it = py::PyObject_GetIter(v);
        if it.is_null() {
            let tp = py::Py_TYPE(v);
            if py::PyErr_ExceptionMatches(py::PyExc_TypeError) != 0
                && (*tp).tp_iter.is_none()
                && py::PySequence_Check(v) == 0
            {
                py::PyErr_Format(py::PyExc_TypeError, c"cannot unpack non-iterable %.200s object".as_ptr(), (*tp).tp_name);
            }
            return false;
        }
        let mut i: c_int = 0;
        let fail = |mut sp: *mut Obj, mut i: c_int, it: Obj| {
            while i > 0 {
                decref(*sp);
                sp = sp.add(1);
                i -= 1;
            }
            xdecref(it);
            false
        };
        while i < argcnt {
            let w = py::PyIter_Next(it);
            if w.is_null() {
                if py::PyErr_Occurred().is_null() {
                    if argcntafter == -1 {
                        py::PyErr_Format(
                            py::PyExc_ValueError,
                            c"not enough values to unpack (expected %d, got %d)".as_ptr(),
                            argcnt,
                            i,
                        );
                    } else {
                        py::PyErr_Format(
                            py::PyExc_ValueError,
                            c"not enough values to unpack (expected at least %d, got %d)".as_ptr(),
                            argcnt + argcntafter,
                            i,
                        );
                    }
                }
                return fail(sp, i, it);
            }
            sp = sp.sub(1);
            *sp = w;
            i += 1;
        }
        if argcntafter == -1 {
            // The iterator must be exhausted now.
            let w = py::PyIter_Next(it);
            if w.is_null() {
                if !py::PyErr_Occurred().is_null() {
                    return fail(sp, i, it);
                }
                decref(it);
                return true;
            }
            decref(w);
            py::PyErr_Format(py::PyExc_ValueError, c"too many values to unpack (expected %d)".as_ptr(), argcnt);
            return fail(sp, i, it);
        }
        let l = py::PySequence_List(it);
        if l.is_null() {
            return fail(sp, i, it);
        }
        sp = sp.sub(1);
        *sp = l;
        i += 1;
        let ll = py::PyList_GET_SIZE(l);
        if ll < argcntafter as isize {
            py::PyErr_Format(
                py::PyExc_ValueError,
                c"not enough values to unpack (expected at least %d, got %zd)".as_ptr(),
                argcnt + argcntafter,
                argcnt as isize + ll,
            );
            return fail(sp, i, it);
        }
        let mut j = argcntafter;
        while j > 0 {
            sp = sp.sub(1);
            *sp = py::PyList_GET_ITEM(l, ll - j as isize);
            j -= 1;
        }
        *field::<isize>(l as *mut u8, X::VAR_OB_SIZE) = ll - argcntafter as isize;
        decref(it);
        true
    }
}

/// SET_UPDATE: the set `oparg` down is updated from the popped iterable. Error: -1, popped.
pub unsafe extern "C-unwind" fn rt_set_update(sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let iterable = *sp.sub(1);
        let set = *sp.sub(1 + oparg as usize);
        let err = _PySet_Update(set, iterable);
        decref(iterable);
        -((err < 0) as c_int)
    }
}

/// DICT_UPDATE: the dict `oparg` down is updated from the popped mapping ({**a}).
/// Error: -1, popped.
pub unsafe extern "C-unwind" fn rt_dict_update(sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let update = *sp.sub(1);
        let dict = *sp.sub(1 + oparg as usize);
        if py::PyDict_Update(dict, update) < 0 {
            if py::PyErr_ExceptionMatches(py::PyExc_AttributeError) != 0 {
                py::PyErr_Format(
                    py::PyExc_TypeError,
                    c"'%.200s' object is not a mapping".as_ptr(),
                    (*py::Py_TYPE(update)).tp_name,
                );
            }
            decref(update);
            return -1;
        }
        decref(update);
        0
    }
}

/// ceval's `format_kwargs_error`.
unsafe fn format_kwargs_error(func: Obj, kwargs: Obj) {
    // SAFETY: live objects, an exception set.
    unsafe {
        if py::PyErr_ExceptionMatches(py::PyExc_AttributeError) != 0 {
            py::PyErr_Clear();
            let funcstr = _PyObject_FunctionStr(func);
            if !funcstr.is_null() {
                py::PyErr_Format(
                    py::PyExc_TypeError,
                    c"%U argument after ** must be a mapping, not %.200s".as_ptr(),
                    funcstr,
                    (*py::Py_TYPE(kwargs)).tp_name,
                );
                decref(funcstr);
            }
        } else if py::PyErr_ExceptionMatches(py::PyExc_KeyError) != 0 {
            let (mut t, mut v, mut tb) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
            py::PyErr_Fetch(&mut t, &mut v, &mut tb);
            if !v.is_null() && py::PyTuple_Check(v) != 0 && py::PyTuple_GET_SIZE(v) == 1 {
                py::PyErr_Clear();
                let funcstr = _PyObject_FunctionStr(func);
                if !funcstr.is_null() {
                    let key = py::PyTuple_GET_ITEM(v, 0);
                    py::PyErr_Format(
                        py::PyExc_TypeError,
                        c"%U got multiple values for keyword argument '%S'".as_ptr(),
                        funcstr,
                        key,
                    );
                    decref(funcstr);
                }
                xdecref(t);
                xdecref(v);
                xdecref(tb);
            } else {
                py::PyErr_Restore(t, v, tb);
            }
        }
    }
}

/// DICT_MERGE: the dict `oparg` down merges the popped mapping, duplicate keys being an error
/// (f(**a, **b)). Error: -1, popped.
pub unsafe extern "C-unwind" fn rt_dict_merge(sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc; the callable sits 2 below the dict.
    unsafe {
        let update = *sp.sub(1);
        let dict = *sp.sub(1 + oparg as usize);
        if _PyDict_MergeEx(dict, update, 2) < 0 {
            format_kwargs_error(*sp.sub(3 + oparg as usize), update);
            decref(update);
            return -1;
        }
        decref(update);
        0
    }
}

/// CALL_FUNCTION_EX: [NULL, func, args, kwargs?] → [func(*args, **kwargs)].
/// Errors: -1 with [NULL, func, args] (kwargs could not be made a dict), -2 with [NULL, func]
/// (args could not be made a tuple), -3 with nothing left (the call failed).
pub unsafe extern "C-unwind" fn rt_call_function_ex(sp: *mut Obj, oparg: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let mut top = sp;
        let mut kwargs: Obj = std::ptr::null_mut();
        if oparg & 1 != 0 {
            top = top.sub(1);
            kwargs = *top;
            if py::PyDict_CheckExact(kwargs) == 0 {
                let d = py::PyDict_New();
                if d.is_null() {
                    // ceval keeps kwargs owned by nobody here (it is leaked on this path).
                    return -1;
                }
                if _PyDict_MergeEx(d, kwargs, 2) < 0 {
                    decref(d);
                    format_kwargs_error(*top.sub(2), kwargs);
                    decref(kwargs);
                    return -1;
                }
                decref(kwargs);
                kwargs = d;
            }
        }
        top = top.sub(1);
        let mut callargs = *top;
        let func = *top.sub(1);
        if py::PyTuple_CheckExact(callargs) == 0 {
            if check_args_iterable(func, callargs) < 0 {
                decref(callargs);
                xdecref(kwargs);
                return -2;
            }
            let t = py::PySequence_Tuple(callargs);
            decref(callargs);
            if t.is_null() {
                xdecref(kwargs);
                return -2;
            }
            callargs = t;
        }
        let result = py::PyObject_Call(func, callargs, kwargs);
        decref(func);
        decref(callargs);
        xdecref(kwargs);
        *top.sub(2) = result;
        if result.is_null() {
            -3
        } else {
            0
        }
    }
}

/// ceval's `check_args_iterable`.
unsafe fn check_args_iterable(func: Obj, args: Obj) -> c_int {
    // SAFETY: live objects.
    unsafe {
        let tp = py::Py_TYPE(args);
        if (*tp).tp_iter.is_none() && py::PySequence_Check(args) == 0 {
            py::PyErr_Clear();
            let funcstr = _PyObject_FunctionStr(func);
            if !funcstr.is_null() {
                py::PyErr_Format(
                    py::PyExc_TypeError,
                    c"%U argument after * must be an iterable, not %.200s".as_ptr(),
                    funcstr,
                    (*tp).tp_name,
                );
                decref(funcstr);
            }
            return -1;
        }
        0
    }
}
