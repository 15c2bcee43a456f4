//! Calls: LOAD_METHOD, PRECALL (bound-method unpacking), KW_NAMES (remembered at compile time
//! for the CALL that follows it) and CALL. CALL goes through `rt_call`: compiled Python
//! callees directly (`call_direct`), plain classes through `construct_direct`, builtin
//! functions and method descriptors straight into their C function (`psyco_call_c`), the rest
//! through vectorcall as ceval does. `len(x)` of a list/tuple/str/dict and `lst.append(x)` with
//! room are done inline, recognized by the callable's identity (`ffi::call_targets`).

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
    let (len_obj, append_obj) = crate::ffi::call_targets();
    if oparg == 1 && kw == 0 && len_obj != 0 {
        // Only where the code names them at all (names are interned: compared by identity).
        let (len_name, append_name) = crate::ffi::call_target_names();
        if e.snap.names.contains(&len_name) {
            emit_len_inline(e, u, d, len_obj as i64);
        }
        if e.snap.names.contains(&append_name) {
            emit_list_append_inline(e, u, d, append_obj as i64);
        }
    }
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg as i32
        ; mov rdx, QWORD kw
        ; mov rcx, r13
    );
    e.call(rt::rt_call as *const () as usize);
    e.check_error(u, d - oparg - 2);
    asm!(e ; call_done:);
    if n + 1 < e.snap.instrs.len() && e.snap.depth[n + 1].is_some() {
        // ceval polls right after the call, with the result on the stack.
        let mode = BreakerMode::HandleHere { err_unit: u, err_depth: d - oparg - 1 };
        e.check_eval_breaker(n + 1, u as i64, mode);
        e.check_tracing(n + 1);
    }
}

/// CALL of `len(x)` (PRECALL_NO_KW_LEN's case) for an exact list, tuple, str or dict: the
/// stack is `[NULL, len, x]` with `len` the builtin itself (compared by identity), and the
/// length is the word every one of those four types keeps at the same offset. The result is
/// boxed inline when small. Anything else falls through to the generic call.
fn emit_len_inline(e: &mut Emitter, u: usize, d: u32, len_obj: i64) {
    const _: () = assert!(L::VAR_OB_SIZE == L::STR_LENGTH && L::VAR_OB_SIZE == L::DICT_MA_USED);
    let (null_slot, callable, arg) = (e.slot(d - 3), e.slot(d - 2), e.slot(d - 1));
    let (list_t, tuple_t, str_t, dict_t) = (rt::list_type() as i64, rt::tuple_type() as i64, rt::str_type() as i64, rt::dict_type() as i64);
    let err = e.error_label(u, d);
    asm!(e
        ; cmp QWORD [rbx + null_slot], 0
        ; jne >not_len
        ; mov rax, QWORD len_obj
        ; cmp [rbx + callable], rax
        ; jne >not_len
        ; mov rbp, [rbx + arg]
        ; mov rdx, [rbp + L::OB_TYPE]
        ; mov rcx, QWORD list_t
        ; cmp rdx, rcx
        ; je >sized
        ; mov rcx, QWORD tuple_t
        ; cmp rdx, rcx
        ; je >sized
        ; mov rcx, QWORD str_t
        ; cmp rdx, rcx
        ; je >sized
        ; mov rcx, QWORD dict_t
        ; cmp rdx, rcx
        ; jne >not_len
        ; sized:
    );
    e.set_prev(u as i64);
    asm!(e ; mov r8, [rbp + L::VAR_OB_SIZE]);
    e.box_int_r8();
    asm!(e
        ; test rax, rax
        ; jz =>err
        ; mov [rbx + null_slot], rax
        ; mov rdi, rbp
    );
    e.decref_rdi(u);
    asm!(e ; mov rdi, QWORD len_obj);
    e.decref_rdi(u);
    asm!(e
        ; jmp >call_done
        ; not_len:
    );
}

/// CALL of `lst.append(x)` (PRECALL_NO_KW_LIST_APPEND's case) after LOAD_METHOD: the stack is
/// `[list.append descriptor, lst, x]` with `lst` an exact list that has room for one more item
/// (as `_PyList_AppendTakeRef`'s fast path; `allocated` is -1 while the list is being sorted,
/// which the signed compare sends to the generic path). `x`'s reference moves into the list.
fn emit_list_append_inline(e: &mut Emitter, u: usize, d: u32, append_obj: i64) {
    let (meth, slf, arg) = (e.slot(d - 3), e.slot(d - 2), e.slot(d - 1));
    let (list_t, none) = (rt::list_type() as i64, rt::py_none() as i64);
    asm!(e
        ; mov rax, QWORD append_obj
        ; cmp [rbx + meth], rax
        ; jne >not_append
        ; mov rdi, [rbx + slf]
        ; mov rcx, QWORD list_t
        ; cmp [rdi + L::OB_TYPE], rcx
        ; jne >not_append
        ; mov r8, [rdi + L::VAR_OB_SIZE]
        ; cmp r8, [rdi + L::LIST_ALLOCATED]
        ; jge >not_append
        ; mov r9, [rdi + L::LIST_OB_ITEM]
        ; mov rdx, [rbx + arg]
        ; mov [r9 + r8 * 8], rdx
        ; add r8, 1
        ; mov [rdi + L::VAR_OB_SIZE], r8
        // The descriptor lives in list's type dict for the life of the process: its count
        // never reaches zero here.
        ; sub QWORD [rax], 1
        ; mov rax, QWORD none
        ; add QWORD [rax], 1
        ; mov [rbx + meth], rax
    );
    e.decref_rdi(u);
    asm!(e
        ; jmp >call_done
        ; not_append:
    );
}
