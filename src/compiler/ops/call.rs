//! Calls: LOAD_METHOD, PRECALL (bound-method unpacking), KW_NAMES (remembered at compile time
//! for the CALL that follows it) and CALL through `PyObject_Vectorcall`, as ceval does when a
//! frame-evaluation hook is installed.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, BreakerMode, Emitter};
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// LOAD_METHOD: replace the top `obj` with `meth, obj` or `NULL, attr` (inline-cached, see
/// `csrc/attrcache.c`). Inline: the two method kinds, guarded by the type version — the type's
/// instances have no dict, or this instance's dict is still a values array and the name is
/// absent from the type's shared keys (same keys object, same entry count) → push the cached
/// function and keep `obj` as self. Anything else → the helper.
pub fn emit_load_method(e: &mut Emitter, n: usize, d: u32) {
    let s = e.slot(d - 1);
    let s1 = e.slot(d);
    let u = e.snap.instrs[n].idx;
    let cache = e.take_attr_cache();
    asm!(e
        ; mov rax, [rbx + s]
        ; mov r8, QWORD cache as i64
        ; mov ecx, [r8 + 4]
        ; mov rdx, [rax + 8]
        ; mov r9d, [rdx + L::TYPE_VERSION_TAG]
        ; cmp r9d, [r8]
        ; jne >slow
        ; cmp ecx, 4
        ; je >hit
        ; cmp ecx, 5
        ; jne >slow
        ; cmp QWORD [rax + L::OBJECT_MANAGED_DICT], 0
        ; jne >slow
        ; cmp QWORD [rax + L::OBJECT_VALUES_PTR], 0
        ; je >slow
        ; mov r9, [rdx + L::HEAPTYPE_CACHED_KEYS]
        ; cmp r9, [r8 + 32]
        ; jne >slow
        ; mov r10, [r9 + L::DICTKEYS_NENTRIES]
        ; cmp r10, [r8 + 40]
        ; jne >slow
        ; hit:
        ; mov r10, [r8 + 16]
        ; add QWORD [r10], 1
        ; mov [rbx + s], r10
        ; mov [rbx + s1], rax
        ; jmp >method_done
        ; slow:
    );
    e.call_attr_helper(n, d, crate::ffi::attr_helpers()[2], cache);
    // On failure the object is still on the stack, as in ceval.
    e.check_error(u, d);
    asm!(e ; method_done:);
}

/// PRECALL: if the callable slot holds a bound method (and no LOAD_METHOD split it),
/// unpack it into function + self.
pub fn emit_precall(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg, ins.idx);
    let null_slot = e.slot(d - oparg - 2);
    let callable = e.slot(d - oparg - 1);
    let s = e.slot(d);
    let method_type = rt::method_type() as i64;
    asm!(e
        ; cmp QWORD [rbx + null_slot], 0
        ; jne >done
        ; mov rax, [rbx + callable]
        ; mov rcx, QWORD method_type
        ; cmp [rax + 8], rcx
        ; jne >done
    );
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg as i32
    );
    e.call(rt::rt_precall_unpack as *const () as usize);
    asm!(e ; done:);
}

/// KW_NAMES: nothing at run time; the next CALL passes `co_consts[arg]` as kwnames.
pub fn emit_kw_names(e: &mut Emitter, n: usize, _d: u32) {
    let a = e.snap.instrs[n].arg as usize;
    e.kwnames = e.snap.consts[a];
}

/// CALL: vectorcall the callable with `arg` (+1 for a method) arguments; then poll the eval
/// breaker like ceval (deopting after the call if it cannot be handled here).
pub fn emit_call(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg, ins.idx);
    let s = e.slot(d);
    let kw = std::mem::take(&mut e.kwnames) as i64;
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg as i32
        ; mov rdx, QWORD kw
        ; mov rcx, r13
    );
    e.call(rt::rt_call as *const () as usize);
    e.check_error(u, d - oparg - 2);
    if n + 1 < e.snap.instrs.len() && e.snap.depth[n + 1].is_some() {
        // ceval polls right after the call, with the result on the stack.
        let mode = BreakerMode::HandleHere { err_unit: u, err_depth: d - oparg - 1 };
        e.check_eval_breaker(n + 1, u as i64, mode);
        e.check_tracing(n + 1);
    }
}
