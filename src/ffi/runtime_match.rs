//! Runtime helpers for pattern matching (`match` statements): GET_LEN, MATCH_MAPPING,
//! MATCH_SEQUENCE, MATCH_KEYS and MATCH_CLASS, mirroring their 3.11.7 ceval bodies and the
//! static `match_keys`, `match_class` and `match_class_attr` they call, messages included.
//!
//! # Conventions and safety
//! As `runtime_exc.rs`: `sp` one past the top; 0 success, -1 error (stack left as documented).
//! GIL held; called only from generated code.

use std::os::raw::c_int;
use std::sync::atomic::AtomicPtr;

use pyo3::ffi as py;
use pyo3::ffi::PyObject;

use super::runtime_exc::{decref, incref, interned, new_bool, xdecref};

type Obj = *mut PyObject;

extern "C" {
    fn _PyObject_GetMethod(obj: Obj, name: Obj, method: *mut Obj) -> c_int;
}

static S_GET: AtomicPtr<PyObject> = AtomicPtr::new(std::ptr::null_mut());


/// GET_LEN: [obj] → [obj, len(obj)]. Error: -1, obj kept.
pub unsafe extern "C-unwind" fn rt_get_len(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let n = py::PyObject_Length(*sp.sub(1));
        if n < 0 {
            return -1;
        }
        let o = py::PyLong_FromSsize_t(n);
        if o.is_null() {
            return -1;
        }
        *sp = o;
        0
    }
}

/// MATCH_MAPPING (`flag` = Py_TPFLAGS_MAPPING) / MATCH_SEQUENCE (Py_TPFLAGS_SEQUENCE):
/// [subject] → [subject, bool]. Cannot fail.
pub unsafe extern "C-unwind" fn rt_match_flag(sp: *mut Obj, flag: u64) {
    // SAFETY: see module doc.
    unsafe {
        let subject = *sp.sub(1);
        *sp = new_bool((*py::Py_TYPE(subject)).tp_flags & flag as std::os::raw::c_ulong != 0);
    }
}

/// MATCH_KEYS: [subject, keys] → [subject, keys, values tuple or None]. Error: -1, both kept.
pub unsafe extern "C-unwind" fn rt_match_keys(sp: *mut Obj) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let keys = *sp.sub(1);
        let subject = *sp.sub(2);
        let v = match_keys(subject, keys);
        if v.is_null() {
            return -1;
        }
        *sp = v;
        0
    }
}

unsafe fn match_keys(map: Obj, keys: Obj) -> Obj {
    // SAFETY: live objects; keys is an exact tuple (bytecode compiler).
    unsafe {
        let nkeys = py::PyTuple_GET_SIZE(keys);
        if nkeys == 0 {
            return py::PyTuple_New(0);
        }
        let mut get: Obj = std::ptr::null_mut();
        let (mut seen, mut dummy, mut values): (Obj, Obj, Obj) =
            (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        let meth_found = _PyObject_GetMethod(map, interned(&S_GET, c"get"), &mut get);
        'fail: {
            if get.is_null() {
                break 'fail;
            }
            seen = py::PySet_New(std::ptr::null_mut());
            if seen.is_null() {
                break 'fail;
            }
            dummy = py::PyObject_CallNoArgs(std::ptr::addr_of_mut!(py::PyBaseObject_Type) as Obj);
            if dummy.is_null() {
                break 'fail;
            }
            values = py::PyTuple_New(nkeys);
            if values.is_null() {
                break 'fail;
            }
            for i in 0..nkeys {
                let key = py::PyTuple_GET_ITEM(keys, i);
                if py::PySet_Contains(seen, key) != 0 || py::PySet_Add(seen, key) != 0 {
                    if py::PyErr_Occurred().is_null() {
                        py::PyErr_Format(py::PyExc_ValueError, c"mapping pattern checks duplicate key (%R)".as_ptr(), key);
                    }
                    break 'fail;
                }
                let args = [map, key, dummy];
                let value = if meth_found != 0 {
                    py::PyObject_Vectorcall(get, args.as_ptr(), 3, std::ptr::null_mut())
                } else {
                    py::PyObject_Vectorcall(get, args.as_ptr().add(1), 2, std::ptr::null_mut())
                };
                if value.is_null() {
                    break 'fail;
                }
                if value == dummy {
                    decref(value);
                    decref(values);
                    incref(py::Py_None());
                    values = py::Py_None();
                    break;
                }
                py::PyTuple_SET_ITEM(values, i, value);
            }
            decref(get);
            decref(seen);
            decref(dummy);
            return values;
        }
        xdecref(get);
        xdecref(seen);
        xdecref(dummy);
        xdecref(values);
        std::ptr::null_mut()
    }
}

/// MATCH_CLASS: [subject, type, names] → [attributes tuple, or None]. Error: -1 with the
/// subject alone left.
pub unsafe extern "C-unwind" fn rt_match_class(sp: *mut Obj, nargs: c_int) -> c_int {
    // SAFETY: see module doc.
    unsafe {
        let names = *sp.sub(1);
        let tp = *sp.sub(2);
        let subject = *sp.sub(3);
        let attrs = match_class(subject, tp, nargs as isize, names);
        decref(names);
        decref(tp);
        if attrs.is_null() {
            if !py::PyErr_Occurred().is_null() {
                return -1;
            }
            incref(py::Py_None());
            *sp.sub(3) = py::Py_None();
        } else {
            *sp.sub(3) = attrs;
        }
        decref(subject);
        0
    }
}

/// ceval's `match_class_attr`: NULL with no error set for a missing attribute.
unsafe fn match_class_attr(subject: Obj, tp: Obj, name: Obj, seen: Obj) -> Obj {
    // SAFETY: live objects.
    unsafe {
        if py::PySet_Contains(seen, name) != 0 || py::PySet_Add(seen, name) != 0 {
            if py::PyErr_Occurred().is_null() {
                py::PyErr_Format(
                    py::PyExc_TypeError,
                    c"%s() got multiple sub-patterns for attribute %R".as_ptr(),
                    (*(tp as *mut py::PyTypeObject)).tp_name,
                    name,
                );
            }
            return std::ptr::null_mut();
        }
        let attr = py::PyObject_GetAttr(subject, name);
        if attr.is_null() && py::PyErr_ExceptionMatches(py::PyExc_AttributeError) != 0 {
            py::PyErr_Clear();
        }
        attr
    }
}

const TPFLAGS_MATCH_SELF: std::os::raw::c_ulong = 1 << 22;

unsafe fn match_class(subject: Obj, tp: Obj, nargs: isize, kwargs: Obj) -> Obj {
    // SAFETY: live objects; kwargs an exact tuple of str (bytecode compiler).
    unsafe {
        if py::PyType_Check(tp) == 0 {
            py::PyErr_Format(py::PyExc_TypeError, c"called match pattern must be a type".as_ptr());
            return std::ptr::null_mut();
        }
        if py::PyObject_IsInstance(subject, tp) <= 0 {
            return std::ptr::null_mut();
        }
        let tpname = (*(tp as *mut py::PyTypeObject)).tp_name;
        let seen = py::PySet_New(std::ptr::null_mut());
        if seen.is_null() {
            return std::ptr::null_mut();
        }
        let attrs = py::PyList_New(0);
        if attrs.is_null() {
            decref(seen);
            return std::ptr::null_mut();
        }
        let mut match_args: Obj = std::ptr::null_mut();
        'fail: {
            if nargs != 0 {
                let mut match_self = false;
                match_args = py::PyObject_GetAttrString(tp, c"__match_args__".as_ptr());
                if !match_args.is_null() {
                    if py::PyTuple_CheckExact(match_args) == 0 {
                        py::PyErr_Format(
                            py::PyExc_TypeError,
                            c"%s.__match_args__ must be a tuple (got %s)".as_ptr(),
                            tpname,
                            (*py::Py_TYPE(match_args)).tp_name,
                        );
                        break 'fail;
                    }
                } else if py::PyErr_ExceptionMatches(py::PyExc_AttributeError) != 0 {
                    py::PyErr_Clear();
                    match_args = py::PyTuple_New(0);
                    match_self = py::PyType_HasFeature(tp as *mut py::PyTypeObject, TPFLAGS_MATCH_SELF) != 0;
                } else {
                    break 'fail;
                }
                let allowed = if match_self { 1 } else { py::PyTuple_GET_SIZE(match_args) };
                if allowed < nargs {
                    let plural = if allowed == 1 { c"" } else { c"s" };
                    py::PyErr_Format(
                        py::PyExc_TypeError,
                        c"%s() accepts %d positional sub-pattern%s (%d given)".as_ptr(),
                        tpname,
                        allowed as c_int,
                        plural.as_ptr(),
                        nargs as c_int,
                    );
                    break 'fail;
                }
                if match_self {
                    if py::PyList_Append(attrs, subject) < 0 {
                        break 'fail;
                    }
                } else {
                    for i in 0..nargs {
                        let name = py::PyTuple_GET_ITEM(match_args, i);
                        if py::PyUnicode_CheckExact(name) == 0 {
                            py::PyErr_Format(
                                py::PyExc_TypeError,
                                c"__match_args__ elements must be strings (got %s)".as_ptr(),
                                (*py::Py_TYPE(name)).tp_name,
                            );
                            break 'fail;
                        }
                        let attr = match_class_attr(subject, tp, name, seen);
                        if attr.is_null() {
                            break 'fail;
                        }
                        let err = py::PyList_Append(attrs, attr);
                        decref(attr);
                        if err < 0 {
                            break 'fail;
                        }
                    }
                }
                decref(match_args);
                match_args = std::ptr::null_mut();
            }
            for i in 0..py::PyTuple_GET_SIZE(kwargs) {
                let name = py::PyTuple_GET_ITEM(kwargs, i);
                let attr = match_class_attr(subject, tp, name, seen);
                if attr.is_null() {
                    break 'fail;
                }
                let err = py::PyList_Append(attrs, attr);
                decref(attr);
                if err < 0 {
                    break 'fail;
                }
            }
            let t = py::PyList_AsTuple(attrs);
            decref(attrs);
            decref(seen);
            return t;
        }
        xdecref(match_args);
        decref(seen);
        decref(attrs);
        std::ptr::null_mut()
    }
}
