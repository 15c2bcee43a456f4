//! Building and unpacking containers: BUILD_TUPLE, BUILD_LIST, LIST_APPEND, UNPACK_SEQUENCE
//! (exact tuples and lists of the right length inline; any other iterable, and every error
//! message, through the helper that mirrors ceval's `unpack_iterable`), BUILD_MAP, slices.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, Emitter};
use crate::compiler::opcodes as op;
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// A helper taking the stack slot and `arg` (the count of items, or the list's distance).
fn helper_n(e: &mut Emitter, n: usize, d: u32, f: usize) -> usize {
    let oparg = e.snap.instrs[n].arg as i32;
    e.call_stack_helper(n, d, Some(oparg), f)
}

/// BUILD_TUPLE: the top `arg` items become a tuple (on failure they stay, owned, on the stack).
pub fn emit_build_tuple(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_build_tuple as *const () as usize);
    e.check_error(u, d);
}

/// BUILD_LIST: as BUILD_TUPLE, into a list.
pub fn emit_build_list(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_build_list as *const () as usize);
    e.check_error(u, d);
}

/// LIST_APPEND: pop the top and append it to the list `arg` items down (comprehensions).
/// Inline when the list has room ([`append_with_room`]); otherwise the helper.
pub fn emit_list_append(e: &mut Emitter, n: usize, d: u32) {
    let oparg = e.snap.instrs[n].arg;
    let slow = e.ops.new_dynamic_label();
    append_with_room(e, e.slot(d - 1 - oparg), e.slot(d - 1), slow);
    asm!(e
        ; jmp >append_done
        ; =>slow
    );
    let u = helper_n(e, n, d, rt::rt_list_append as *const () as usize);
    e.check_error(u, d - 1);
    asm!(e ; append_done:);
}

/// `_PyList_AppendTakeRef`'s fast path, shared by LIST_APPEND and CALL's inline
/// `lst.append(x)`: if the object at `[rbx + list]` is an exact list with room for one more
/// item, the reference at `[rbx + item]` moves into it and the list is left in `rdi`;
/// otherwise (another type, a full list, or one being sorted: `allocated` is -1 then, which
/// the signed compare catches) jumps to `slow` with nothing changed.
pub fn append_with_room(e: &mut Emitter, list: i32, item: i32, slow: DynamicLabel) {
    let list_t = rt::list_type() as i64;
    asm!(e
        ; mov rdi, [rbx + list]
        ; mov rcx, QWORD list_t
        ; cmp [rdi + L::OB_TYPE], rcx
        ; jne =>slow
        ; mov r8, [rdi + L::VAR_OB_SIZE]
        ; cmp r8, [rdi + L::LIST_ALLOCATED]
        ; jge =>slow
        ; mov r9, [rdi + L::LIST_OB_ITEM]
        ; mov rdx, [rbx + item]
        ; mov [r9 + r8 * 8], rdx
        ; add r8, 1
        ; mov [rdi + L::VAR_OB_SIZE], r8
    );
}

/// UNPACK_SEQUENCE: an exact tuple/list of length `arg` (up to 8 items) inline, as
/// UNPACK_SEQUENCE_TWO_TUPLE / _TUPLE / _LIST do: each item gets a new reference, item 0 ends on
/// top, then the sequence is released. Anything else (sets, generators, strs, wrong lengths and
/// their errors): `rt_unpack_sequence`, ceval's generic path.
pub fn emit_unpack_sequence(e: &mut Emitter, n: usize, d: u32) {
    let k = e.snap.instrs[n].arg;
    let inline = (1..=8).contains(&k);
    // `a, b = local`: the sequence may be borrowed from its local (in its slot without a
    // reference, see `load_store::top_stays_borrowed`): the inline unpacking does not release
    // it; the helper's path makes the reference first.
    let borrowed = e.takes_borrowed_top(n);
    if inline {
        let u = e.snap.instrs[n].idx;
        let s = e.slot(d - 1);
        let (tuple_t, list_t) = (rt::tuple_type() as i64, rt::list_type() as i64);
        asm!(e
            ; mov rax, [rbx + s]
            ; mov rdx, QWORD tuple_t
            ; cmp [rax + L::OB_TYPE], rdx
            ; jne >try_list
            ; cmp QWORD [rax + L::VAR_OB_SIZE], k as i32
            ; jne >unpack_slow
            ; lea r9, [rax + L::TUPLE_OB_ITEM]
            ; jmp >unpack_go
            ; try_list:
            ; mov rdx, QWORD list_t
            ; cmp [rax + L::OB_TYPE], rdx
            ; jne >unpack_slow
            ; cmp QWORD [rax + L::VAR_OB_SIZE], k as i32
            ; jne >unpack_slow
            ; mov r9, [rax + L::LIST_OB_ITEM]
            ; unpack_go:
        );
        for j in 0..k {
            let slot = e.slot(d - 1 + j);
            let off = ((k - 1 - j) * 8) as i32;
            asm!(e
                ; mov rcx, [r9 + off]
                ; add QWORD [rcx], 1
                ; mov [rbx + slot], rcx
            );
        }
        if !borrowed {
            asm!(e ; mov rdi, rax);
            e.decref_rdi(u);
        }
        asm!(e
            ; jmp >unpack_done
            ; unpack_slow:
        );
    }
    if borrowed {
        let s = e.slot(d - 1);
        e.incref_slot(s);
    }
    let u = helper_n(e, n, d, rt::rt_unpack_sequence as *const () as usize);
    e.check_error(u, d - 1);
    if inline {
        asm!(e ; unpack_done:);
    }
}

/// BUILD_MAP: `arg` key/value pairs → dict (on failure the items stay, owned, on the stack).
pub fn emit_build_map(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_build_map as *const () as usize);
    e.check_error(u, d);
}

/// BUILD_CONST_KEY_MAP: `arg` values + a tuple of constant keys → dict.
pub fn emit_build_const_key_map(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_build_const_key_map as *const () as usize);
    e.check_error(u, d);
}

/// BUILD_SLICE: start, stop(, step) → slice. When a subscript follows at once (`x[a:b]`,
/// `x[a:b:c]`, `x[a:b] = v`), the two run as one first (`rt_slice_subscr`: lists, tuples and
/// strs sliced by None or small ints, without making the slice object); what that helper
/// leaves alone falls through to the ordinary BUILD_SLICE, and then the subscript's own code.
pub fn emit_build_slice(e: &mut Emitter, n: usize, d: u32) {
    let a = e.snap.instrs[n].arg;
    let next = e.snap.instrs.get(n + 1).map(|i| i.op);
    let store = match next {
        Some(op::BINARY_SUBSCR) => Some(0),
        Some(op::STORE_SUBSCR) => Some(1),
        _ => None,
    };
    if let (Some(store), false) = (store, e.snap.is_target.get(n + 1).copied().unwrap_or(true)) {
        // Depths after the subscript: BINARY_SUBSCR leaves its result in the container's slot.
        let after = if store == 0 { d - a } else { d - a - 2 };
        let u = e.snap.instrs[n + 1].idx;
        let s = e.slot(d);
        e.set_prev(u as i64);
        asm!(e
            ; lea rdi, [rbx + s]
            ; mov esi, a as i32
            ; mov edx, store
        );
        e.call(rt::rt_slice_subscr as *const () as usize);
        let done = e.labels[n + 2];
        let err = e.error_label(u, if store == 0 { after - 1 } else { after });
        asm!(e
            ; cmp eax, 1
            ; je >generic
            ; test eax, eax
            ; jnz =>err
            ; jmp =>done
            ; generic:
        );
    }
    let u = helper_n(e, n, d, rt::rt_build_slice as *const () as usize);
    e.check_error(u, d - a);
}

/// LIST_EXTEND: extend the list `arg` down by the popped iterable (`[*a, *b]`).
pub fn emit_list_extend(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_list_extend as *const () as usize);
    e.check_error(u, d - 1);
}

/// LIST_TO_TUPLE.
pub fn emit_list_to_tuple(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_list_to_tuple as *const () as usize);
    e.check_error(u, d - 1);
}

/// FORMAT_VALUE: f-string field (conversion in the low bits, format spec on the stack if 0x4).
pub fn emit_format_value(e: &mut Emitter, n: usize, d: u32) {
    let a = e.snap.instrs[n].arg;
    let consumed = 1 + ((a & 4) >> 2);
    let u = helper_n(e, n, d, rt::rt_format_value as *const () as usize);
    e.check_error(u, d - consumed);
}

/// BUILD_STRING: concatenate the top `arg` strings.
pub fn emit_build_string(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_build_string as *const () as usize);
    e.check_error(u, d);
}

/// MAKE_FUNCTION: a function from the code object on top (and defaults, closure... below it,
/// as flagged by `arg`), with this frame's globals.
pub fn emit_make_function(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r12
        ; lea rsi, [rbx + s]
        ; mov edx, oparg
    );
    e.call(rt::rt_make_function as *const () as usize);
    e.check_error(u, d - 1);
}

/// LOAD_ASSERTION_ERROR.
pub fn emit_load_assertion_error(e: &mut Emitter, _n: usize, d: u32) {
    let s = e.slot(d);
    e.call(rt::rt_assertion_error as *const () as usize);
    asm!(e ; mov [rbx + s], rax);
}

/// BUILD_SET: the top `arg` items → set. If creating the set fails the items stay; if adding
/// one fails they have all been released (as in ceval).
pub fn emit_build_set(e: &mut Emitter, n: usize, d: u32) {
    let a = e.snap.instrs[n].arg;
    let u = helper_n(e, n, d, rt::rt_build_set as *const () as usize);
    let no_set = e.error_label(u, d);
    let add_failed = e.error_label(u, d - a);
    asm!(e
        ; test eax, eax
        ; jz >ok
        ; cmp eax, -1
        ; je =>no_set
        ; jmp =>add_failed
        ; ok:
    );
}

/// SET_ADD: pop and add to the set `arg` items down (set comprehensions).
pub fn emit_set_add(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_set_add as *const () as usize);
    e.check_error(u, d - 1);
}

/// MAP_ADD: pop key and value into the dict `arg` items down (dict comprehensions).
pub fn emit_map_add(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_map_add as *const () as usize);
    e.check_error(u, d - 2);
}

/// DELETE_SUBSCR: `del second[top]`.
pub fn emit_delete_subscr(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_delete_subscr as *const () as usize);
    e.check_error(u, d - 2);
}
