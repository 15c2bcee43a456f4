/* psyco: per-site inline caches for attribute access (LOAD_ATTR, STORE_ATTR, LOAD_METHOD).
 *
 * Job: the compiled code of each attribute instruction owns one `psyco_attr_cache`; the
 * helpers below take the fast path when the cache proves the generic lookup would find the same
 * thing, and otherwise do exactly what ceval does (PyObject_GetAttr / PyObject_SetAttr /
 * _PyObject_GetMethod) and then try to fill the cache from what they saw. Written in C because
 * the proofs read CPython internals (heap types' shared keys, instance value arrays, member
 * descriptors) through the interpreter's own headers.
 *
 * Invariants (what makes a hit exact):
 * - A type's `tp_version_tag` is nonzero only while its MRO dictionaries are unchanged since the
 *   tag was assigned, and a tag is never reused for another state; so equal tags mean the type
 *   lookup of the cached name still returns the cached descriptor (borrowed: the type's dict
 *   holds it). 0 is never stored as a valid tag.
 * - Instance attributes in "values" form live at a fixed index of the type's shared keys
 *   (`ht_cached_keys`), whose entries are only ever appended; a NULL value means "absent here",
 *   which is left to the generic path (it raises AttributeError with CPython's message).
 * - A method found on the type is only bound directly if the instance cannot shadow it: the
 *   type has no instance dict at all, or the instance's dict is still in values form and the
 *   name is absent from the shared keys, proven by the keys object and its entry count being
 *   the ones seen when the name was checked.
 * - A module attribute is valid while the module dict's `ma_version_tag` (PEP 509, unique per
 *   dict state) is the one seen.
 * Every helper expects the GIL; none of them keeps a reference in the cache. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "structmember.h"
#include "internal/pycore_object.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_moduleobject.h"

enum {
    KIND_EMPTY = 0,
    KIND_SLOT = 1,          /* member descriptor T_OBJECT_EX at byte offset `index` */
    KIND_VALUES = 2,        /* instance values array, entry `index` */
    KIND_MODULE = 3,        /* module dict in state `dict_version`: value `descr` */
    KIND_METHOD_NO_DICT = 4,/* method `descr` on a type whose instances have no dict */
    KIND_METHOD_VALUES = 5, /* method `descr`; instance dict in values form, name not in `keys` */
};

/* One proof about one type (or module dict state). */
typedef struct {
    uint32_t tp_version;
    int32_t kind;
    Py_ssize_t index;
    PyObject *descr;
    uint64_t dict_version;
    PyDictKeysObject *keys;
    Py_ssize_t nentries;
} psyco_attr_entry;

/* A site's cache: up to CACHE_WAYS entries, most recently used first (LOAD_ATTR's and
 * LOAD_METHOD's compiled code probes every entry inline, fused expressions entry 0 only; the
 * helpers do the rest). After MAX_FILLS refills the site is megamorphic:
 * the entries stay, misses take the generic path without trying to fill again.
 * Layout shared with src/ffi (AttrCache): keep both in step. */
#define CACHE_WAYS 4
#define MAX_FILLS 64
typedef struct {
    psyco_attr_entry e[CACHE_WAYS];
    uint32_t fills;
    uint32_t _pad;
} psyco_attr_cache;

int64_t psyco_attr_cache_size(void) { return (int64_t)sizeof(psyco_attr_cache); }

static inline int type_is_cacheable(PyTypeObject *tp) {
    return tp->tp_version_tag != 0 && PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG);
}

/* Index of `name` (by identity: names in code objects are interned) among the shared keys, or
 * -1. Only unicode-keyed shared keys are searched. */
static Py_ssize_t shared_index(PyDictKeysObject *keys, PyObject *name) {
    if (keys == NULL || keys->dk_kind == DICT_KEYS_GENERAL) return -1;
    PyDictUnicodeEntry *ep = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        if (ep[i].me_key == name) return i;
    }
    return -1;
}

/* Is `name` present among the shared keys under any spelling equal to it? (Absence proof.) */
static int shared_has_equal(PyDictKeysObject *keys, PyObject *name) {
    PyDictUnicodeEntry *ep = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *k = ep[i].me_key;
        if (k == name) return 1;
        if (k != NULL && PyUnicode_CheckExact(k) && _PyUnicode_EQ(k, name)) return 1;
    }
    return 0;
}

static inline PyDictValues *values_of(PyObject *o) { return *_PyObject_ValuesPointer(o); }

static void fill_load_entry(PyObject *owner, PyObject *name, psyco_attr_entry *c);

/* The member descriptor's offset if `descr` is a plain object slot (T_OBJECT_EX, no audit),
 * writable if `for_store`, of a type `owner` is an instance of (a descriptor copied into an
 * unrelated class describes another layout; member_get/member_set refuse it); else -1. */
static Py_ssize_t slot_offset(PyObject *owner, PyObject *descr, int for_store) {
    if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
    if (!PyObject_TypeCheck(owner, PyDescr_TYPE(descr))) return -1;
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & PY_AUDIT_READ)) return -1;
    if (for_store && (m->flags & READONLY)) return -1;
    return m->offset;
}

/* Makes room for a new entry at the front (the oldest is dropped); NULL if the site stopped
 * filling. */
static psyco_attr_entry *new_entry(psyco_attr_cache *cache) {
    if (cache->fills >= MAX_FILLS) return NULL;
    cache->fills++;
    memmove(&cache->e[1], &cache->e[0], sizeof(psyco_attr_entry) * (CACHE_WAYS - 1));
    memset(&cache->e[0], 0, sizeof(psyco_attr_entry));
    return &cache->e[0];
}

/* Moves entry i to the front, so that compiled code finds it inline next time. */
static inline psyco_attr_entry *promote(psyco_attr_cache *cache, int i) {
    if (i > 0) {
        psyco_attr_entry hit = cache->e[i];
        memmove(&cache->e[1], &cache->e[0], sizeof(psyco_attr_entry) * i);
        cache->e[0] = hit;
    }
    return &cache->e[0];
}

/* Fills an entry of `cache` for reading `name` from `owner` (after a successful generic load). */
static void fill_load(PyObject *owner, PyObject *name, psyco_attr_cache *cache) {
    if (cache->fills >= MAX_FILLS) return;
    psyco_attr_entry tmp = {0}, *c = &tmp;
    fill_load_entry(owner, name, c);
    if (c->kind != KIND_EMPTY) {
        psyco_attr_entry *slot = new_entry(cache);
        if (slot != NULL) *slot = tmp;
    }
}

static void fill_load_entry(PyObject *owner, PyObject *name, psyco_attr_entry *c) {
    c->kind = KIND_EMPTY;
    c->tp_version = 0;
    PyTypeObject *tp = Py_TYPE(owner);
    if (PyModule_CheckExact(owner)) {
        PyObject *dict = ((PyModuleObject *)owner)->md_dict;
        if (dict == NULL || !PyDict_CheckExact(dict) || !PyUnicode_CheckExact(name)) return;
        /* A name the module type itself defines (__dict__, __class__...) is not a dict lookup. */
        if (_PyType_Lookup(tp, name) != NULL) return;
        PyObject *v = PyDict_GetItemWithError(dict, name);
        if (v == NULL) { PyErr_Clear(); return; }
        c->dict_version = ((PyDictObject *)dict)->ma_version_tag;
        c->descr = v;
        c->kind = KIND_MODULE;
        return;
    }
    if (tp->tp_getattro != PyObject_GenericGetAttr || !PyUnicode_CheckExact(name)) return;
    PyObject *descr = _PyType_Lookup(tp, name); /* assigns a version tag if it can */
    if (!type_is_cacheable(tp)) return;
    Py_ssize_t off = slot_offset(owner, descr, 0);
    if (off >= 0) {
        c->index = off;
        c->kind = KIND_SLOT;
        c->tp_version = tp->tp_version_tag;
        return;
    }
    if (descr == NULL && (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) && values_of(owner) != NULL) {
        Py_ssize_t ix = shared_index(((PyHeapTypeObject *)tp)->ht_cached_keys, name);
        if (ix < 0) return;
        c->index = ix;
        c->kind = KIND_VALUES;
        c->tp_version = tp->tp_version_tag;
    }
}

/* The value entry `c` proves for `owner.name` (borrowed) or NULL: a miss, nothing set. */
static inline PyObject *entry_hit(PyObject *owner, psyco_attr_entry *c) {
    PyTypeObject *tp = Py_TYPE(owner);
    switch (c->kind) {
    case KIND_SLOT:
        if (tp->tp_version_tag != c->tp_version) return NULL;
        return *(PyObject **)((char *)owner + c->index);
    case KIND_VALUES: {
        if (tp->tp_version_tag != c->tp_version) return NULL;
        PyDictValues *values = values_of(owner);
        return values == NULL ? NULL : values->values[c->index];
    }
    case KIND_MODULE: {
        if (tp != &PyModule_Type) return NULL;
        PyObject *dict = ((PyModuleObject *)owner)->md_dict;
        if (dict == NULL || ((PyDictObject *)dict)->ma_version_tag != c->dict_version) return NULL;
        return c->descr;
    }
    default:
        return NULL;
    }
}

/* The cached value of `owner.name` (borrowed; its entry moved to the front) or NULL. */
static inline PyObject *load_hit(PyObject *owner, psyco_attr_cache *cache) {
    for (int i = 0; i < CACHE_WAYS; i++) {
        if (cache->e[i].kind == KIND_EMPTY) return NULL;
        PyObject *v = entry_hit(owner, &cache->e[i]);
        if (v != NULL) {
            promote(cache, i);
            return v;
        }
    }
    return NULL;
}

/* LOAD_ATTR: sp[-1] = getattr(sp[-1], name). -1 on error (owner still on the stack). */
int psyco_load_attr(PyObject **sp, PyObject *name, psyco_attr_cache *c) {
    PyObject *owner = sp[-1];
    PyObject *res = load_hit(owner, c);
    if (res != NULL) {
        Py_INCREF(res);
    } else {
        res = PyObject_GetAttr(owner, name);
        if (res == NULL) return -1;
        fill_load(owner, name, c);
    }
    sp[-1] = res;
    Py_DECREF(owner);
    return 0;
}

/* Stores through entry `c` if it applies to `owner`: 1 done (the stack's reference to v moved
 * into the object), 0 not applicable. */
static inline int store_hit(PyObject *owner, PyObject *v, psyco_attr_entry *c) {
    if (c->tp_version == 0 || Py_TYPE(owner)->tp_version_tag != c->tp_version) return 0;
    if (c->kind == KIND_SLOT) {
        PyObject **addr = (PyObject **)((char *)owner + c->index);
        PyObject *old = *addr;
        *addr = v;
        Py_XDECREF(old);
        return 1;
    }
    PyDictValues *values = values_of(owner);
    if (c->kind == KIND_VALUES && values != NULL) {
        PyObject *old = values->values[c->index];
        values->values[c->index] = v;
        if (old == NULL) {
            _PyDictValues_AddToInsertionOrder(values, c->index);
        } else {
            Py_DECREF(old);
        }
        return 1;
    }
    return 0;
}

/* STORE_ATTR: sp[-1].name = sp[-2]; pops both. -1 on error (both popped). */
int psyco_store_attr(PyObject **sp, PyObject *name, psyco_attr_cache *cache) {
    PyObject *owner = sp[-1];
    PyObject *v = sp[-2];
    PyTypeObject *tp = Py_TYPE(owner);
    for (int i = 0; i < CACHE_WAYS && cache->e[i].kind != KIND_EMPTY; i++) {
        if (store_hit(owner, v, &cache->e[i])) {
            promote(cache, i);
            Py_DECREF(owner);
            return 0;
        }
    }
    int err = PyObject_SetAttr(owner, name, v);
    Py_DECREF(v);
    if (err == 0 && cache->fills < MAX_FILLS && tp == Py_TYPE(owner) && tp->tp_setattro == PyObject_GenericSetAttr &&
        PyUnicode_CheckExact(name)) {
        psyco_attr_entry c = {0};
        PyObject *descr = _PyType_Lookup(tp, name);
        if (type_is_cacheable(tp)) {
            Py_ssize_t off = slot_offset(owner, descr, 1);
            if (off >= 0) {
                c.index = off;
                c.kind = KIND_SLOT;
                c.tp_version = tp->tp_version_tag;
            } else if (descr == NULL && (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) &&
                       values_of(owner) != NULL) {
                Py_ssize_t ix = shared_index(((PyHeapTypeObject *)tp)->ht_cached_keys, name);
                if (ix >= 0) {
                    c.index = ix;
                    c.kind = KIND_VALUES;
                    c.tp_version = tp->tp_version_tag;
                }
            }
        }
        if (c.kind != KIND_EMPTY) {
            psyco_attr_entry *slot = new_entry(cache);
            if (slot != NULL) *slot = c;
        }
    }
    Py_DECREF(owner);
    return err;
}

/* The method entry `c` proves for `obj` (borrowed), or NULL. */
static inline PyObject *method_hit(PyObject *obj, psyco_attr_entry *c) {
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_version_tag != c->tp_version) return NULL;
    if (c->kind == KIND_METHOD_NO_DICT) return c->descr;
    if (c->kind == KIND_METHOD_VALUES && *_PyObject_ManagedDictPointer(obj) == NULL &&
        values_of(obj) != NULL) {
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        if (keys == c->keys && keys->dk_nentries == c->nentries) return c->descr;
    }
    return NULL;
}

/* Fills `c` (zeroed) with the proof that `obj.name` binds `meth`, found on its type (whose
 * version tag is valid), as a method: the type's instances have no dict, or this one's is
 * still a values array whose shared keys cannot hold the name. Leaves it empty otherwise. */
static void method_entry(PyObject *obj, PyObject *name, PyObject *meth, psyco_attr_entry *c) {
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_dictoffset == 0 && !(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)) {
        c->kind = KIND_METHOD_NO_DICT;
    } else if ((tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) && *_PyObject_ManagedDictPointer(obj) == NULL &&
               values_of(obj) != NULL) {
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        if (keys == NULL || keys->dk_kind == DICT_KEYS_GENERAL || shared_has_equal(keys, name)) return;
        c->keys = keys;
        c->nentries = keys->dk_nentries;
        c->kind = KIND_METHOD_VALUES;
    } else {
        return;
    }
    c->descr = meth;
    c->tp_version = tp->tp_version_tag;
}

/* LOAD_METHOD: [obj] -> [meth, obj] or [NULL, attr] (as _PyObject_GetMethod decides). -1 on
 * error (obj still on the stack). */
int psyco_load_method(PyObject **sp, PyObject *name, psyco_attr_cache *cache) {
    PyObject *obj = sp[-1];
    PyTypeObject *tp = Py_TYPE(obj);
    for (int i = 0; i < CACHE_WAYS && cache->e[i].kind != KIND_EMPTY; i++) {
        psyco_attr_entry *c = &cache->e[i];
        if (c->kind == KIND_METHOD_NO_DICT || c->kind == KIND_METHOD_VALUES) {
            PyObject *m = method_hit(obj, c);
            if (m != NULL) {
                promote(cache, i);
                Py_INCREF(m);
                sp[-1] = m;
                sp[0] = obj;
                return 0;
            }
        } else {
            PyObject *attr = entry_hit(obj, c);
            if (attr != NULL) {
                promote(cache, i);
                Py_INCREF(attr);
                sp[-1] = NULL;
                sp[0] = attr;
                Py_DECREF(obj);
                return 0;
            }
        }
    }
    PyObject *meth = NULL;
    int found = _PyObject_GetMethod(obj, name, &meth);
    if (meth == NULL) return -1;
    if (found) {
        sp[-1] = meth;
        sp[0] = obj;
        /* Fill: a method descriptor found on a type with generic attribute lookup. */
        psyco_attr_entry c = {0};
        if (cache->fills < MAX_FILLS && Py_TYPE(obj) == tp && tp->tp_getattro == PyObject_GenericGetAttr &&
            PyUnicode_CheckExact(name) && type_is_cacheable(tp) &&
            _PyType_Lookup(tp, name) == meth && type_is_cacheable(tp)) {
            method_entry(obj, name, meth, &c);
        }
        if (c.kind != KIND_EMPTY) {
            psyco_attr_entry *slot = new_entry(cache);
            if (slot != NULL) *slot = c;
        }
    } else {
        fill_load(obj, name, cache); /* while obj is surely alive */
        sp[-1] = NULL;
        sp[0] = meth;
        Py_DECREF(obj);
    }
    return 0;
}

/* For the bodies of small callees inlined at a call site (src/compiler/ops/inline.rs): the
 * value of `owner.name` that an entry of `cache` proves (borrowed), filling an entry first when
 * none applies; NULL when no entry can prove it (the attribute is absent, computed, a module's,
 * or found through a lookup that could run Python code). Never sets an exception and never runs
 * Python code: the inlined body has no frame, so whatever it cannot do without observable
 * effects is left to the real call. The type lookup compares the name with the keys of the MRO
 * dictionaries; it is only made when all of them hold exact str keys only (a str subclass key
 * could run `__eq__`). */
/* Whether looking a name up along `tp`'s MRO compares it only with exact str keys (so no
 * `__eq__` of a str subclass key can run). */
static int lookup_runs_no_code(PyTypeObject *tp) {
    PyObject *mro = tp->tp_mro;
    if (mro == NULL || !PyTuple_CheckExact(mro)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        if (!PyType_Check(base)) return 0;
        PyObject *dict = ((PyTypeObject *)base)->tp_dict;
        if (dict == NULL || !PyDict_CheckExact(dict) || ((PyDictObject *)dict)->ma_keys->dk_kind == DICT_KEYS_GENERAL) {
            return 0;
        }
    }
    return 1;
}

PyObject *psyco_attr_peek(PyObject *owner, PyObject *name, psyco_attr_cache *cache) {
    PyObject *v = load_hit(owner, cache);
    if (v != NULL || cache->fills >= MAX_FILLS) return v;
    PyTypeObject *tp = Py_TYPE(owner);
    if (PyModule_CheckExact(owner) || tp->tp_getattro != PyObject_GenericGetAttr || !PyUnicode_CheckExact(name)) {
        return NULL;
    }
    if (!lookup_runs_no_code(tp)) return NULL;
    fill_load(owner, name, cache);
    return load_hit(owner, cache);
}

/* LOAD_METHOD's counterpart of `psyco_attr_peek`, for the method calls inside inlined bodies:
 * the plain function `obj.name` binds as a method (found on the type, not shadowed by the
 * instance), borrowed, from an entry of `cache` or one filled now if that runs no Python code;
 * else NULL, nothing set. */
PyObject *psyco_method_peek(PyObject *obj, PyObject *name, psyco_attr_cache *cache) {
    PyTypeObject *tp = Py_TYPE(obj);
    for (int i = 0; i < CACHE_WAYS && cache->e[i].kind != KIND_EMPTY; i++) {
        psyco_attr_entry *c = &cache->e[i];
        if (c->kind == KIND_METHOD_NO_DICT || c->kind == KIND_METHOD_VALUES) {
            PyObject *m = method_hit(obj, c);
            if (m != NULL) {
                promote(cache, i);
                return m;
            }
        }
    }
    if (cache->fills >= MAX_FILLS || tp->tp_getattro != PyObject_GenericGetAttr || !PyUnicode_CheckExact(name) ||
        !lookup_runs_no_code(tp)) {
        return NULL;
    }
    PyObject *meth = _PyType_Lookup(tp, name);
    if (meth == NULL || !PyFunction_Check(meth) || !type_is_cacheable(tp)) return NULL;
    psyco_attr_entry c = {0};
    method_entry(obj, name, meth, &c);
    if (c.kind == KIND_EMPTY) return NULL;
    psyco_attr_entry *slot = new_entry(cache);
    if (slot == NULL) return NULL;
    *slot = c;
    return meth;
}

/* A global read inside an inlined body: what `name` means in `globals` then `builtins` (as
 * LOAD_GLOBAL finds it), borrowed, with `memo` (the compiled code's `GlobalMemo`: the two
 * dicts' version tags and the value) filled for the next time; NULL when it is absent or the
 * lookup could run Python code (a dict that is not exact or has keys other than exact strs).
 * Never leaves an exception set. */
typedef struct {
    uint64_t globals_version;
    uint64_t builtins_version;
    PyObject *value;
} psyco_global_memo;

PyObject *psyco_global_peek(PyObject *globals, PyObject *builtins, PyObject *name, psyco_global_memo *memo) {
    if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins) || !PyUnicode_CheckExact(name) ||
        ((PyDictObject *)globals)->ma_keys->dk_kind == DICT_KEYS_GENERAL ||
        ((PyDictObject *)builtins)->ma_keys->dk_kind == DICT_KEYS_GENERAL) {
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(globals, name);
    if (v == NULL && !PyErr_Occurred()) v = PyDict_GetItemWithError(builtins, name);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    memo->globals_version = ((PyDictObject *)globals)->ma_version_tag;
    memo->builtins_version = ((PyDictObject *)builtins)->ma_version_tag;
    memo->value = v;
    return v;
}
