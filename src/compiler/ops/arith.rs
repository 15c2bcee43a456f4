//! Arithmetic and subscripts: BINARY_OP (all 26 operators), UNARY_*, BINARY_SUBSCR and
//! STORE_SUBSCR, each a call to a runtime helper that mirrors ceval's body exactly, with the
//! commonest int and list cases inline in front of it (falling through to the helper).

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, reg::{RAX, RBP, RBX, RCX}, Emitter};
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// BINARY_OP: `second (op) top`; on error both operands are released (ceval leaves a NULL).
/// Inline for `+ - * & | ^ // % << >>` (and their in-place forms) on two exact ints of at most
/// two digits: the machine result (`*` and `<<` checked for overflow) is boxed with
/// `PyLong_FromLongLong`, which is what int's own methods return for it; for `+ - * /` on two
/// exact floats, one IEEE operation and one boxing. Anything else: the helper
/// (`rt_binary_op`). The first fast path is in line, the float one (behind an int one) and the
/// helper out of line.
pub fn emit_binary_op(e: &mut Emitter, n: usize, d: u32) {
    let oparg = e.snap.instrs[n].arg as i32;
    let base = if oparg >= 13 { oparg - 13 } else { oparg };
    let u = e.snap.instrs[n].idx;
    let int_inline = matches!(base, 0 | 1 | 2 | 3 | 5 | 6 | 7 | 9 | 10 | 12);
    let float_inline = matches!(base, 0 | 5 | 10 | 11);
    // The helper: `rt_binary_op`, any operands; on failure both operands are gone.
    let call_helper = move |e: &mut Emitter| {
        let u = e.call_stack_helper(n, d, Some(oparg), rt::rt_binary_op as *const () as usize);
        e.check_error(u, d - 2);
    };
    if !int_inline && !float_inline {
        call_helper(e);
        return;
    }
    let done = e.ops.new_dynamic_label();
    let helper = move |e: &mut Emitter| {
        call_helper(e);
        asm!(e ; jmp =>done);
    };
    if !int_inline {
        let generic = e.out_of_line(n, helper);
        emit_float_binop(e, u, d, base, generic);
        asm!(e ; =>done);
        return;
    }
    let generic = e.out_of_line(n, move |e| {
        if float_inline {
            let helper_code = e.ops.new_dynamic_label();
            emit_float_binop(e, u, d, base, helper_code);
            asm!(e ; jmp =>done ; =>helper_code);
        }
        helper(e);
    });
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    let err = e.error_label(u, d - 2);
    load_compact_ints(e, l, r, generic);
    match base {
        0 => asm!(e ; add r8, r9),
        1 => asm!(e ; and r8, r9),
        2 | 6 => {
            // Floor division and modulo as int's own: truncating idiv, then the quotient
            // rounded down and the remainder given the divisor's sign when the remainder
            // is nonzero and the signs differ. A zero divisor: the helper raises.
            asm!(e
                ; test r9, r9
                ; jz =>generic
                ; mov rax, r8
                ; cqo
                ; idiv r9
                ; test rdx, rdx
                ; jz >exact
                ; mov r10, rdx
                ; xor r10, r9
                ; jns >exact
                ; sub rax, 1
                ; add rdx, r9
                ; exact:
            );
            if base == 2 {
                asm!(e ; mov r8, rax);
            } else {
                asm!(e ; mov r8, rdx);
            }
        }
        3 => {
            // `<<` by 0..=62 that loses no bits (shifting back gives the operand); a
            // negative count (the helper raises) or a bigger result goes to the helper.
            asm!(e
                ; cmp r9, 62
                ; ja =>generic
                ; mov rcx, r9
                ; mov rax, r8
                ; shl rax, cl
                ; mov rdx, rax
                ; sar rdx, cl
                ; cmp rdx, r8
                ; jne =>generic
                ; mov r8, rax
            );
        }
        5 => asm!(e ; imul r8, r9 ; jo =>generic),
        7 => asm!(e ; or r8, r9),
        9 => {
            // `>>` is an arithmetic shift (rounds toward -inf, as int's); counts of 63 or
            // more give 0 or -1, the same as 63; a negative count goes to the helper.
            asm!(e
                ; test r9, r9
                ; js =>generic
                ; mov rcx, 63
                ; cmp r9, rcx
                ; cmovb rcx, r9
                ; sar r8, cl
            );
        }
        10 => asm!(e ; sub r8, r9),
        _ => asm!(e ; xor r8, r9),
    }
    e.box_int_r8();
    asm!(e ; mov rbp, rax);
    e.decref_slot(u, l);
    e.decref_slot(u, r);
    asm!(e
        ; test rbp, rbp
        ; jz =>err
    );
    e.store_q(RBX, l, RBP);
    asm!(e ; =>done);
}

/// `+ - * /` of two exact floats (BINARY_OP_ADD_FLOAT and its siblings): the IEEE operation
/// float's own slots do, one boxing, the result in place of the left operand. A zero divisor
/// goes to `generic` (the helper raises ZeroDivisionError), as does anything that is not two
/// exact floats.
fn emit_float_binop(e: &mut Emitter, u: usize, d: u32, base: i32, generic: DynamicLabel) {
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    let float_t = rt::float_type() as i64;
    let box_float = rt::float_from_double() as i64;
    let err = e.error_label(u, d);
    load_pair_of_type(e, l, r, float_t, generic);
    asm!(e
        ; movsd xmm0, QWORD [rax + L::FLOAT_OB_FVAL]
        ; movsd xmm1, QWORD [rcx + L::FLOAT_OB_FVAL]
    );
    match base {
        0 => asm!(e ; addsd xmm0, xmm1),
        5 => asm!(e ; mulsd xmm0, xmm1),
        10 => asm!(e ; subsd xmm0, xmm1),
        _ => asm!(e
            ; xorpd xmm2, xmm2
            ; ucomisd xmm1, xmm2
            ; je =>generic
            ; divsd xmm0, xmm1
        ),
    }
    asm!(e
        ; mov rax, QWORD box_float
        ; call rax
        ; test rax, rax
        ; jz =>err
        ; mov rbp, rax
    );
    e.decref_slot(u, l);
    e.decref_slot(u, r);
    e.store_q(RBX, l, RBP);
}

/// Loads the values of the two operands at `[rbx + l]`, `[rbx + r]` into r8, r9 if both are
/// exact ints of at most two 30-bit digits (|v| < 2**60, so `+ - & | ^ // %` of them fit in
/// i64; `*` and `<<` must check); otherwise jumps to `generic`. Clobbers rax, rcx, rdx, r10,
/// r11.
pub fn load_compact_ints(e: &mut Emitter, l: i32, r: i32, generic: DynamicLabel) {
    load_pair_of_type(e, l, r, rt::long_type() as i64, generic);
    int_value(e, RAX, 8, 10, 11, generic);
    int_value(e, RCX, 9, 10, 11, generic);
}

/// `Rq(dst)` = the value of the exact int that `Rq(obj)` points to, if it has at most two
/// 30-bit digits (|v| < 2**60); otherwise a jump to `miss`. One digit (`ob_size` -1, 0 or 1:
/// the sign times the digit) is the short path; `ob_size` ±2 combines two. The one decoder of
/// CPython 3.11's int layout in machine code (BINARY_OP, compare, fused int runs). Clobbers
/// `t1` and `t2` (and `dst`); `obj` is kept if it is none of them.
pub fn int_value(e: &mut Emitter, obj: u8, dst: u8, t1: u8, t2: u8, miss: DynamicLabel) {
    let done = e.ops.new_dynamic_label();
    let two_digits = e.out_of_line_here(move |e| {
        asm!(e
            ; lea Rq(t1), [Rq(dst) + 2]
            ; cmp Rq(t1), 4
            ; ja =>miss
            ; mov Rd(t2), [Rq(obj) + L::LONG_OB_DIGIT + 4]
            ; shl Rq(t2), 30
            ; mov Rd(t1), [Rq(obj) + L::LONG_OB_DIGIT]
            ; or Rq(t1), Rq(t2)
            ; sar Rq(dst), 1
            ; imul Rq(dst), Rq(t1)
            ; jmp =>done
        );
    });
    asm!(e
        ; mov Rq(dst), [Rq(obj) + L::VAR_OB_SIZE]
        ; lea Rq(t1), [Rq(dst) + 1]
        ; cmp Rq(t1), 2
        ; ja =>two_digits
        ; mov Rd(t1), [Rq(obj) + L::LONG_OB_DIGIT]
        ; imul Rq(dst), Rq(t1)
        ; =>done
    );
}

/// UNARY_POSITIVE / NEGATIVE / INVERT / NOT: replace the top. Inline: `not` of True, False
/// and None (what `PyObject_IsTrue` says of them, no call); everything else `rt_unary`.
pub fn emit_unary(e: &mut Emitter, n: usize, d: u32) {
    let opc = e.snap.instrs[n].op;
    let done = e.ops.new_dynamic_label();
    if opc == crate::compiler::opcodes::UNARY_NOT {
        let s = e.slot(d - 1);
        let (t, f, none) = (rt::py_true() as i64, rt::py_false() as i64, rt::py_none() as i64);
        // The operand loses the stack's reference (True, False and None are static objects:
        // never deallocated), the result gains one.
        asm!(e
            ; mov rax, [rbx + s]
            ; mov rcx, QWORD t
            ; mov rdx, QWORD f
            ; cmp rax, rcx
            ; je >to_false
            ; cmp rax, rdx
            ; je >to_true
            ; mov r8, QWORD none
            ; cmp rax, r8
            ; jne >generic
            ; to_true:
            ; sub QWORD [rax], 1
            ; add QWORD [rcx], 1
            ; mov [rbx + s], rcx
            ; jmp =>done
            ; to_false:
            ; sub QWORD [rax], 1
            ; add QWORD [rdx], 1
            ; mov [rbx + s], rdx
            ; jmp =>done
            ; generic:
        );
    }
    let u = e.call_stack_helper(n, d, Some(opc as i32), rt::rt_unary as *const () as usize);
    e.check_error(u, d - 1);
    asm!(e ; =>done);
}

/// BINARY_SUBSCR: `second[top]`. Inline: an exact list or tuple indexed by an exact int of at
/// most one digit, in range after a negative index counts from the end (what `list[i]` and
/// `tuple[i]` return), and the same index of an exact str in compact ASCII form, whose result
/// is CPython's static one-character str for that byte (what `unicode_getitem` returns:
/// `ffi::ascii_singletons`); anything else — dicts (a fast path of their own in the helper),
/// other types, other strs, out-of-range indexes and their errors — `rt_binary_subscr`.
pub fn emit_binary_subscr(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    let (l, r) = (e.slot(d - 2), e.slot(d - 1));
    let done = e.ops.new_dynamic_label();
    // `xs[local]`: the index may be borrowed from its local (in its slot without a reference,
    // see `load_store::top_stays_borrowed`): the list and tuple hits do not release it; the
    // out-of-line paths first make the reference the interpreter's stack would hold.
    let borrowed = e.takes_borrowed_top(n);
    // Lists and tuples in line; strs and the helper out of line.
    let generic = e.out_of_line(n, move |e| {
        if borrowed {
            e.incref_slot(r);
        }
        if let (Some((state, mask, value, data)), Some((chr0, stride))) = (crate::ffi::ascii_layout(), crate::ffi::ascii_singletons()) {
            let (str_t, long_t) = (rt::str_type() as i64, rt::long_type() as i64);
            let helper = e.ops.new_dynamic_label();
            asm!(e
                ; mov rax, [rbx + l]
                ; mov rdx, QWORD str_t
                ; cmp [rax + L::OB_TYPE], rdx
                ; jne =>helper
                ; mov rcx, [rbx + r]
                ; mov rdx, QWORD long_t
                ; cmp [rcx + L::OB_TYPE], rdx
                ; jne =>helper
            );
            check_ascii(e, 0, state, mask, value, helper);
            small_index(e, L::STR_LENGTH, helper);
            asm!(e
                ; movzx r8d, BYTE [rax + r8 + data]
                ; imul r8, r8, stride
                ; mov rbp, QWORD chr0 as i64
                ; add rbp, r8
                ; add QWORD [rbp], 1
            );
            replace_pair_with_rbp(e, u, l, r);
            asm!(e
                ; jmp =>done
                ; =>helper
            );
        }
        let u = e.call_stack_helper(n, d, None, rt::rt_binary_subscr as *const () as usize);
        e.check_error(u, d - 2);
        asm!(e ; jmp =>done);
    });
    item_address(e, l, r, true, generic);
    asm!(e
        ; mov rbp, [r9]
        ; add QWORD [rbp], 1
    );
    if borrowed {
        asm!(e ; mov rdi, rax);
        e.decref_rdi(u);
        e.store_q(RBX, l, RBP);
    } else {
        replace_pair_with_rbp(e, u, l, r);
    }
    asm!(e ; =>done);
}

/// The str in `Rq(reg)` is in compact ASCII form (`ffi::ascii_layout`: its characters are
/// the bytes at `data`), else jumps to `miss`. Clobbers rdx.
pub(crate) fn check_ascii(e: &mut Emitter, reg: u8, state: i32, mask: u32, value: u32, miss: DynamicLabel) {
    asm!(e
        ; mov edx, [Rq(reg) + state]
        ; and edx, mask as i32
        ; cmp edx, value as i32
        ; jne =>miss
    );
}

/// The two operands of a binary template, slot `l` in rax and slot `r` in rcx, if both are
/// exactly of the type at `tp`; otherwise jumps to `miss`.
pub(super) fn load_pair_of_type(e: &mut Emitter, l: i32, r: i32, tp: i64, miss: DynamicLabel) {
    e.load_q(RAX, RBX, l);
    e.load_q(RCX, RBX, r);
    asm!(e
        ; mov rdx, QWORD tp
        ; cmp [rax + L::OB_TYPE], rdx
        ; jne =>miss
        ; cmp [rcx + L::OB_TYPE], rdx
        ; jne =>miss
    );
}

/// The index in `rcx` (an exact int, checked by the caller) of the container in `rax`, whose
/// length is the word at `len_off`: of at most one digit, counted from the end if negative,
/// then in range — what the list, tuple and str subscripts accept — in `r8`; otherwise jumps
/// to `miss`. Clobbers r10.
fn small_index(e: &mut Emitter, len_off: i32, miss: DynamicLabel) {
    asm!(e
        ; mov r8, [rcx + L::VAR_OB_SIZE]
        ; lea r10, [r8 + 1]
        ; cmp r10, 2
        ; ja =>miss
        ; mov r10d, [rcx + L::LONG_OB_DIGIT]
        ; imul r8, r10
        ; mov r10, [rax + len_off]
        ; test r8, r8
        ; jns >nonneg
        ; add r8, r10
        ; nonneg:
        ; cmp r8, r10
        ; jae =>miss
    );
}

/// The end of an inline two-operand template whose result (a new reference) is in `rbp`: the
/// operands in slots `l` (also in `rax`) and `r` are released and the result takes slot `l`.
pub(super) fn replace_pair_with_rbp(e: &mut Emitter, u: usize, l: i32, r: i32) {
    asm!(e ; mov rdi, rax);
    e.decref_rdi(u);
    e.decref_slot(u, r);
    e.store_q(RBX, l, RBP);
}

/// The guard both inline item paths share: the container at `[rbx + c]` is an exact list (or,
/// if `tuples`, an exact tuple) and the index at `[rbx + k]` an exact int of at most one digit
/// that is in range once a negative one counts from the end (as `list_subscript` and
/// `tuplesubscript` do). Leaves the container in `rax` and the address of its item in `r9`;
/// otherwise jumps to `generic`.
fn item_address(e: &mut Emitter, c: i32, k: i32, tuples: bool, generic: DynamicLabel) {
    let (list_t, tuple_t, long_t) = (rt::list_type() as i64, rt::tuple_type() as i64, rt::long_type() as i64);
    asm!(e
        ; mov rax, [rbx + c]
        ; mov rcx, [rbx + k]
        ; mov rdx, QWORD long_t
        ; cmp [rcx + L::OB_TYPE], rdx
        ; jne =>generic
        ; mov rdx, QWORD list_t
        ; cmp [rax + L::OB_TYPE], rdx
        ; je >is_list
    );
    if tuples {
        asm!(e
            ; mov rdx, QWORD tuple_t
            ; cmp [rax + L::OB_TYPE], rdx
            ; jne =>generic
            ; lea r9, [rax + L::TUPLE_OB_ITEM]
            ; jmp >have_items
        );
    } else {
        asm!(e ; jmp =>generic);
    }
    asm!(e
        ; is_list:
        ; mov r9, [rax + L::LIST_OB_ITEM]
        ; have_items:
    );
    small_index(e, L::VAR_OB_SIZE, generic);
    asm!(e ; lea r9, [r9 + r8 * 8]);
}

/// STORE_SUBSCR: `second[top] = third`, popping all three. Inline: an exact list and an exact
/// int index of at most one digit, in range (negative ones counting from the end): the value's
/// reference moves into the list and the old item is released, as `list_ass_item` does.
/// Anything else: `rt_store_subscr`.
pub fn emit_store_subscr(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    let (v, c, k) = (e.slot(d - 3), e.slot(d - 2), e.slot(d - 1));
    let generic = e.ops.new_dynamic_label();
    // `xs[local] = v`: the index may be borrowed from its local (in its slot without a
    // reference, see `load_store::top_stays_borrowed`): only the helper's path makes it one.
    let borrowed = e.takes_borrowed_top(n);
    item_address(e, c, k, false, generic);
    asm!(e
        ; mov rdi, [r9]
        ; mov rdx, [rbx + v]
        ; mov [r9], rdx
    );
    e.decref_rdi(u);
    e.decref_slot(u, c);
    if !borrowed {
        e.decref_slot(u, k);
    }
    asm!(e
        ; jmp >store_done
        ; =>generic
    );
    if borrowed {
        e.incref_slot(k);
    }
    let u = e.call_stack_helper(n, d, None, rt::rt_store_subscr as *const () as usize);
    e.check_error(u, d - 3);
    asm!(e ; store_done:);
}
