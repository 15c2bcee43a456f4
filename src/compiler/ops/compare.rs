//! Comparisons: COMPARE_OP (rich comparison), IS_OP (identity, inline) and CONTAINS_OP.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, Emitter};
use crate::ffi::runtime as rt;
use crate::ffi::layout as L;

/// COMPARE_OP: `PyObject_RichCompare(second, top, arg)`; fused with a following
/// POP_JUMP_IF_TRUE/FALSE (that nothing else jumps to) into one compare-and-branch.
pub fn emit_compare_op(e: &mut Emitter, n: usize, d: u32) {
    use crate::compiler::opcodes as op;
    if let Some(next) = e.snap.instrs.get(n + 1) {
        let fusable = matches!(
            next.op,
            op::POP_JUMP_FORWARD_IF_FALSE
                | op::POP_JUMP_FORWARD_IF_TRUE
                | op::POP_JUMP_BACKWARD_IF_FALSE
                | op::POP_JUMP_BACKWARD_IF_TRUE
        );
        if fusable && !e.snap.is_target[n + 1] && e.snap.depth[n + 1] == Some(d - 1) {
            emit_compare_and_branch(e, n, d);
            e.fused_next = true;
            return;
        }
    }
    let oparg = e.snap.instrs[n].arg as i32;
    let u = e.call_stack_helper(n, d, Some(oparg), rt::rt_compare_op as *const () as usize);
    e.check_error(u, d - 2);
}

/// If instruction `n` (at depth `d`, a two-operand test) can be fused with the
/// POP_JUMP_IF_TRUE/FALSE after it (nothing else jumps there): whether that jump branches on
/// True.
fn fused_branch(e: &Emitter, n: usize, d: u32) -> Option<bool> {
    use crate::compiler::opcodes as op;
    let next = e.snap.instrs.get(n + 1)?;
    let on_true = match next.op {
        op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_BACKWARD_IF_TRUE => true,
        op::POP_JUMP_FORWARD_IF_FALSE | op::POP_JUMP_BACKWARD_IF_FALSE => false,
        _ => return None,
    };
    (!e.snap.is_target[n + 1] && e.snap.depth[n + 1] == Some(d - 1)).then_some(on_true)
}

/// IS_OP: `second is top` (`is not` when arg is 1); cannot fail. Inline: the pointer
/// comparison, the bool stored in place of `second`, then both operands released (right,
/// then left, kept in `rbp`): the stack holds a valid value while a destructor runs. Fused
/// with a following POP_JUMP_IF_TRUE/FALSE ([`fused_branch`]) it makes no bool and branches.
pub fn emit_is_op(e: &mut Emitter, n: usize, d: u32) {
    let oparg = e.snap.instrs[n].arg as i32;
    let u = e.snap.instrs[n].idx;
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    if let Some(on_true) = fused_branch(e, n, d) {
        // `if a is b:` — the outcome in ebp picks the branch; no bool is made. The operands
        // are released left then right, as ceval's IS_OP does.
        let (taken, fall) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
        let (if_true, if_false) = if on_true { (taken, fall) } else { (fall, taken) };
        asm!(e
            ; mov rax, [rbx + l]
            ; cmp rax, [rbx + r]
        );
        if oparg == 0 {
            asm!(e ; sete bpl);
        } else {
            asm!(e ; setne bpl);
        }
        asm!(e ; movzx ebp, bpl);
        release_and_branch(e, u, l, r, if_true, if_false);
        super::jump::taken_edge(e, n + 1, taken);
        asm!(e ; =>fall);
        e.fused_next = true;
        return;
    }
    let (t, f) = (rt::py_true() as i64, rt::py_false() as i64);
    asm!(e
        ; mov rbp, [rbx + l]
        ; mov rdx, QWORD t
        ; mov rax, QWORD f
        ; cmp rbp, [rbx + r]
    );
    if oparg == 0 {
        asm!(e ; cmove rax, rdx);
    } else {
        asm!(e ; cmovne rax, rdx);
    }
    asm!(e
        ; add QWORD [rax], 1
        ; mov [rbx + l], rax
        ; mov rdi, [rbx + r]
    );
    e.decref_rdi(u);
    asm!(e ; mov rdi, rbp);
    e.decref_rdi(u);
}

/// CONTAINS_OP: `second in top` (`not in` when arg is 1). Inline: any key in an exact dict is
/// one call of `PyDict_Contains` (the dict's own `sq_contains`), an exact int or str in an
/// exact set or frozenset one call of `PySet_Contains` (what the set's `sq_contains` does
/// for a key that is always hashable; a stored object's `__eq__` may still raise), and one
/// ASCII character in an exact ASCII str of at most 64 characters (`ch in " \t\n"`) is a
/// scan of its bytes — what `PyUnicode_Contains` finds for them; everything else
/// `rt_contains_op`.
pub fn emit_contains_op(e: &mut Emitter, n: usize, d: u32) {
    let branch = fused_branch(e, n, d);
    emit_contains(e, n, d, branch);
    e.fused_next = branch.is_some();
}

/// CONTAINS_OP, alone (`branch` None: the bool replaces the operands) or with the following
/// POP_JUMP_IF_TRUE/FALSE (`branch`: whether it jumps on True; the outcome in `ebp` picks the
/// branch, no bool is made; the jump cannot fail, its operand being a bool). Errors are
/// reported at CONTAINS_OP with both operands released, as ceval does.
fn emit_contains(e: &mut Emitter, n: usize, d: u32, branch: Option<bool>) {
    let fused = branch.is_some();
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let (done, not_set) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    let str_t = rt::str_type() as i64;
    let (t, f) = (rt::py_true() as i64, rt::py_false() as i64);
    let (found, missing) = if oparg == 0 { (t, f) } else { (f, t) };
    // With a branch: where the outcome True / False goes.
    let (taken, fall) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
    let on_true = branch == Some(true);
    let (if_true, if_false) = if on_true { (taken, fall) } else { (fall, taken) };
    // `ebp` = 1 if the key was found: branch on `in` / `not in`.
    let branch_on_found = move |e: &mut Emitter| {
        if oparg != 0 {
            asm!(e ; xor ebp, 1);
        }
        asm!(e
            ; test ebp, ebp
            ; jnz =>if_true
            ; jmp =>if_false
        );
    };
    {
        let (set_t, frozenset_t, long_t) = (rt::set_type() as i64, rt::frozenset_type() as i64, rt::long_type() as i64);
        let dict_t = rt::dict_type() as i64;
        let err = e.error_label(u, d - 2);
        asm!(e
            ; mov rdi, [rbx + r]
            ; mov rsi, [rbx + l]
            ; mov rdx, [rdi + L::OB_TYPE]
            ; mov r11, QWORD rt::dict_contains() as i64
            ; mov rcx, QWORD dict_t
            ; cmp rdx, rcx
            ; je >contains_call
            ; mov rcx, QWORD set_t
            ; cmp rdx, rcx
            ; je >set_ok
            ; mov rcx, QWORD frozenset_t
            ; cmp rdx, rcx
            ; jne =>not_set
            ; set_ok:
            ; mov r11, QWORD rt::set_contains() as i64
            ; mov rdx, [rsi + L::OB_TYPE]
            ; mov rcx, QWORD long_t
            ; cmp rdx, rcx
            ; je >contains_call
            ; mov rcx, QWORD str_t
            ; cmp rdx, rcx
            ; jne =>not_set
            ; contains_call:
        );
        e.set_prev(u as i64); // clobbers rax only
        asm!(e
            ; call r11
            ; movsxd rbp, eax
        );
        e.decref_slot(u, l);
        e.decref_slot(u, r);
        asm!(e
            ; test rbp, rbp
            ; js =>err
        );
        if fused {
            branch_on_found(e);
        } else {
            asm!(e
                ; mov rax, QWORD missing
                ; mov rcx, QWORD found
                ; cmovnz rax, rcx
                ; add QWORD [rax], 1
                ; mov [rbx + l], rax
            );
        }
    }
    // Out of line: the one-character scan of an ASCII str, and the helper.
    e.out_of_line_to(n, not_set, move |e| {
        if let Some((state, mask, value, data)) = crate::ffi::ascii_layout() {
            let helper = e.ops.new_dynamic_label();
            super::arith::load_pair_of_type(e, l, r, str_t, helper);
            asm!(e
                ; cmp QWORD [rax + L::STR_LENGTH], 1
                ; jne =>helper
            );
            super::arith::check_ascii(e, 0, state, mask, value, helper);
            super::arith::check_ascii(e, 1, state, mask, value, helper);
            asm!(e
                ; mov r10, [rcx + L::STR_LENGTH]
                ; cmp r10, 64
                ; ja =>helper
                ; movzx r8d, BYTE [rax + data]
                ; xor r9d, r9d
                ; scan:
                ; cmp r9, r10
                ; jae >absent
                ; cmp r8b, BYTE [rcx + r9 + data]
                ; je >present
                ; add r9, 1
                ; jmp <scan
            );
            if fused {
                asm!(e
                    ; present:
                    ; mov ebp, 1
                    ; jmp >have
                    ; absent:
                    ; xor ebp, ebp
                    ; have:
                );
                e.decref_slot(u, l);
                e.decref_slot(u, r);
                branch_on_found(e);
            } else {
                asm!(e
                    ; present:
                    ; mov rbp, QWORD found
                    ; jmp >have
                    ; absent:
                    ; mov rbp, QWORD missing
                    ; have:
                    ; add QWORD [rbp], 1
                );
                super::arith::replace_pair_with_rbp(e, u, l, r);
                asm!(e ; jmp =>done);
            }
            asm!(e ; =>helper);
        }
        let u = e.call_stack_helper(n, d, Some(oparg), rt::rt_contains_op as *const () as usize);
        e.check_error(u, d - 2);
        if fused {
            // The helper left the outcome as a bool in the left slot (`not in` applied).
            asm!(e
                ; mov rax, [rbx + l]
                ; mov rcx, QWORD t
                ; xor ebp, ebp
                ; cmp rax, rcx
                ; sete bpl
            );
            e.decref_slot(u, l);
            asm!(e
                ; test ebp, ebp
                ; jnz =>if_true
                ; jmp =>if_false
            );
        } else {
            asm!(e ; jmp =>done);
        }
    });
    if fused {
        super::jump::taken_edge(e, n + 1, taken);
        asm!(e ; =>fall);
    } else {
        asm!(e ; =>done);
    }
}

/// COMPARE_OP + POP_JUMP_IF_*: branch on the comparison without materializing the bool.
/// A failing comparison is reported at the COMPARE_OP, a failing truth test of its (non-bool)
/// result at the jump, each with the stack ceval would have there.
fn emit_compare_and_branch(e: &mut Emitter, n: usize, d: u32) {
    use crate::compiler::opcodes as op;
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let jump = &e.snap.instrs[n + 1];
    let uj = jump.idx;
    let on_true = matches!(jump.op, op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_BACKWARD_IF_TRUE);
    let s = e.slot(d);
    let err_cmp = e.error_label(u, d - 2);
    let err_jmp = e.error_label(uj, d - 2);
    let taken = e.ops.new_dynamic_label();
    let fall = e.ops.new_dynamic_label();
    let (if_true, if_false) = if on_true { (taken, fall) } else { (fall, taken) };
    let interned = crate::ffi::str_interned_offset();
    let generic = move |e: &mut Emitter| {
        if (oparg == 2 || oparg == 3) && interned >= 0 {
            interned_str_equality(e, u, d, oparg == 2, interned as i32, if_true, if_false);
        }
        e.set_prev(u as i64);
        asm!(e
            ; lea rdi, [rbx + s]
            ; mov esi, oparg
        );
        e.call(rt::rt_compare_truth as *const () as usize);
        asm!(e
            ; test eax, eax
            ; js >failed
            ; jnz =>if_true
            ; jmp =>if_false
            ; failed:
            ; cmp eax, -1
            ; je =>err_cmp
            ; jmp =>err_jmp
        );
    };
    if (0..=5).contains(&oparg) {
        // Ints in line; interned strs and the helper out of line.
        let miss = e.out_of_line(n, generic);
        compact_int_compare(e, u, d, oparg, if_true, if_false, miss);
    } else {
        generic(e);
    }
    super::jump::taken_edge(e, n + 1, taken);
    asm!(e ; =>fall);
}

/// The inline case of a fused compare-and-branch: both operands exact ints of at most one
/// digit (|v| < 2**30, what int's own comparison decides by value): compare the values, release
/// both operands and branch. Anything else jumps to `generic`.
/// The outcome is kept in `ebp` (callee-saved, free in compiled code) across the releases.
fn compact_int_compare(e: &mut Emitter, u: usize, d: u32, oparg: i32, if_true: DynamicLabel, if_false: DynamicLabel, generic: DynamicLabel) {
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    super::arith::load_compact_ints(e, l, r, generic);
    asm!(e
        ; cmp r8, r9
    );
    match oparg {
        0 => asm!(e ; setl bpl),
        1 => asm!(e ; setle bpl),
        2 => asm!(e ; sete bpl),
        3 => asm!(e ; setne bpl),
        4 => asm!(e ; setg bpl),
        _ => asm!(e ; setge bpl),
    }
    asm!(e ; movzx ebp, bpl);
    release_and_branch(e, u, l, r, if_true, if_false);
}

/// The end of an inline fused compare-and-branch whose outcome is in `ebp` (callee-saved, so
/// it survives destructors): release both operands, then branch.
fn release_and_branch(e: &mut Emitter, u: usize, l: i32, r: i32, if_true: DynamicLabel, if_false: DynamicLabel) {
    e.decref_slot(u, l);
    e.decref_slot(u, r);
    asm!(e
        ; test ebp, ebp
        ; jnz =>if_true
        ; jmp =>if_false
    );
}

/// The str case of a fused `==` / `!=` and branch (`eq` says which): two exact strs that are
/// the same object are equal; two distinct ones that are both interned are not (the interpreter
/// keeps one interned object per value). Decided without a call, then both operands released
/// and the branch taken; anything else falls through to the generic code emitted next.
fn interned_str_equality(e: &mut Emitter, u: usize, d: u32, eq: bool, state: i32, if_true: DynamicLabel, if_false: DynamicLabel) {
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    let str_t = rt::str_type() as i64;
    let (same, differ) = if eq { (1, 0) } else { (0, 1) };
    asm!(e
        ; mov rax, [rbx + l]
        ; mov rcx, [rbx + r]
        ; mov rdx, QWORD str_t
        ; cmp [rax + 8], rdx
        ; jne >str_generic
        ; cmp [rcx + 8], rdx
        ; jne >str_generic
        ; mov ebp, same
        ; cmp rax, rcx
        ; je >str_decided
        ; test BYTE [rax + state], 3
        ; jz >str_generic
        ; test BYTE [rcx + state], 3
        ; jz >str_generic
        ; mov ebp, differ
        ; str_decided:
    );
    release_and_branch(e, u, l, r, if_true, if_false);
    asm!(e ; str_generic:);
}
