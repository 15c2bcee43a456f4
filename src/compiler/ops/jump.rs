//! Control flow: RESUME, jumps (polling the eval breaker on backward edges, like ceval),
//! conditional jumps with inline `True`/`False`/`None` tests, iteration and RETURN_VALUE.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, reg::*, BreakerMode, Emitter};
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// Position of the jump target of instruction `n`.
fn target_pos(e: &Emitter, n: usize) -> usize {
    let t = e.snap.instrs[n].target.expect("jump has a target");
    e.snap.at_unit(t).expect("jump target is an instruction start (checked by depths)")
}

fn is_backward(e: &Emitter, n: usize) -> bool {
    e.snap.instrs[n].target.is_some_and(|t| t <= e.snap.instrs[n].start)
}

/// Emits the taken edge of instruction `n` at label `l`: a backward edge polls the eval
/// breaker first (deopting at the target if it cannot be handled here).
pub fn taken_edge(e: &mut Emitter, n: usize, l: DynamicLabel) {
    let t = target_pos(e, n);
    let tl = e.labels[t];
    asm!(e ; =>l);
    if is_backward(e, n) {
        // ceval polls after jumping; a signal handler's exception is reported at the jump.
        let u = e.snap.instrs[n].idx;
        let depth = e.snap.depth[t].expect("jump target is reachable");
        e.check_eval_breaker(t, u as i64, BreakerMode::HandleHere { err_unit: u, err_depth: depth });
    }
    asm!(e ; jmp =>tl);
}

/// RESUME: the function (re)starts; poll the eval breaker as ceval does for arg < 2.
pub fn emit_resume(e: &mut Emitter, n: usize, _d: u32) {
    if e.snap.instrs[n].arg < 2 {
        let u = e.snap.instrs[n].idx as i64;
        e.check_eval_breaker(n, u, BreakerMode::DeoptAt);
    }
}

/// JUMP_FORWARD / JUMP_BACKWARD_NO_INTERRUPT.
pub fn emit_jump(e: &mut Emitter, n: usize, _d: u32) {
    let tl = e.labels[target_pos(e, n)];
    asm!(e ; jmp =>tl);
}

/// JUMP_BACKWARD: poll the eval breaker as ceval does after jumping: signal handlers and
/// pending calls run here (their exception is reported at the jump, as for a taken backward
/// conditional jump), so a profiler's tick or a signal does not send a long loop to the
/// interpreter; only what cannot be handled here (an asynchronous exception) resumes the
/// interpreter *at* this jump, which then jumps and polls itself. Then jump.
pub fn emit_jump_backward(e: &mut Emitter, n: usize, _d: u32) {
    let u = e.snap.instrs[n].idx;
    let t = target_pos(e, n);
    let depth = e.snap.depth[t].expect("jump target is reachable");
    // ceval looks for the handler of an exception raised by the poll at the unit before the
    // target (INSTR_OFFSET() - 1 after the jump), the traceback names the jump: where those
    // two are covered differently, let the interpreter redo the jump and poll itself.
    let same_handler = e.snap.handler_for(u) == e.snap.handler_for(e.snap.instrs[t].start.wrapping_sub(1));
    let mode = if same_handler { BreakerMode::HandleHere { err_unit: u, err_depth: depth } } else { BreakerMode::DeoptAt };
    e.check_eval_breaker(n, u as i64, mode);
    let tl = e.labels[t];
    asm!(e ; jmp =>tl);
}

/// POP_JUMP_{FORWARD,BACKWARD}_IF_{TRUE,FALSE}: pop, test truth. In line for the bools; out
/// of line for None and the exact types whose truth is their size word being nonzero (int,
/// list, tuple, dict, str: what `PyObject_IsTrue` gets from their slots), then the helper
/// (`PyObject_IsTrue`, any object).
pub fn emit_pop_jump_if_bool(e: &mut Emitter, n: usize, d: u32) {
    use crate::compiler::opcodes as op;
    let ins = &e.snap.instrs[n];
    let u = ins.idx;
    let on_true = matches!(ins.op, op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_BACKWARD_IF_TRUE);
    let s = e.slot(d - 1);
    let (t, f) = (rt::py_true() as i64, rt::py_false() as i64);
    let taken = e.ops.new_dynamic_label();
    let fall = e.ops.new_dynamic_label();
    let (if_true, if_false) = if on_true { (taken, fall) } else { (fall, taken) };
    let err = e.error_label(u, d - 1);
    // `if local:` — the condition may be in rax, borrowed from its local (see
    // `load_store::top_stays_borrowed`): then nothing is released.
    let borrowed = e.takes_borrowed_top(n);
    let operand = if borrowed { Operand::Borrowed } else { Operand::Owned };
    let other = e.out_of_line(n, move |e| truth_of_rdi(e, u, err, if_true, if_false, operand));
    if borrowed {
        asm!(e ; mov rdi, rax);
    } else {
        e.load_q(RDI, RBX, s);
    }
    asm!(e
        ; mov rax, QWORD t
        ; cmp rdi, rax
        ; jne >not_true
    );
    if !borrowed {
        asm!(e ; sub QWORD [rdi], 1);
    }
    asm!(e
        ; jmp =>if_true
        ; not_true:
        ; mov rax, QWORD f
        ; cmp rdi, rax
        ; jne =>other
    );
    if !borrowed {
        asm!(e ; sub QWORD [rdi], 1);
    }
    asm!(e ; jmp =>if_false);
    taken_edge(e, n, taken);
    asm!(e ; =>fall);
}

/// How a truth test holds the object it tests ([`truth_of_rdi`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operand {
    /// Popped from the stack: released after the test (POP_JUMP_IF_*).
    Owned,
    /// Stays on the stack for the jump (JUMP_IF_*_OR_POP): not released.
    Kept,
    /// Borrowed from a local, never on the stack: not released; the helper is given a
    /// reference of its own (made here) to consume, as for `Owned`.
    Borrowed,
}

/// The truth of the object in rdi, not a bool, as the out-of-line part of a conditional jump:
/// None is false; an exact int, list, tuple, dict or str is true when its size word is
/// nonzero (what `PyObject_IsTrue` gets from their slots); anything else asks the helper
/// (`PyObject_IsTrue`; an error goes to `err`). Then a jump to `if_true` or `if_false`, the
/// object released first if it is `Operand::Owned`.
fn truth_of_rdi(e: &mut Emitter, u: usize, err: DynamicLabel, if_true: DynamicLabel, if_false: DynamicLabel, operand: Operand) {
    let consume = operand == Operand::Owned;
    const _: () = assert!(L::VAR_OB_SIZE == L::STR_LENGTH && L::VAR_OB_SIZE == L::DICT_MA_USED);
    let none = rt::py_none() as i64;
    let sized = [rt::long_type(), rt::list_type(), rt::tuple_type(), rt::dict_type(), rt::str_type()];
    let (by_size, generic) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
    asm!(e
        ; mov rax, QWORD none
        ; cmp rdi, rax
        ; jne >not_none
    );
    if consume {
        asm!(e ; sub QWORD [rdi], 1);
    }
    asm!(e
        ; jmp =>if_false
        ; not_none:
        ; mov rdx, [rdi + L::OB_TYPE]
    );
    for tp in sized {
        asm!(e
            ; mov rax, QWORD tp as i64
            ; cmp rdx, rax
            ; je =>by_size
        );
    }
    asm!(e
        ; jmp =>generic
        ; =>by_size
    );
    if consume {
        asm!(e
            ; cmp QWORD [rdi + L::VAR_OB_SIZE], 0
            ; setne bpl
            ; movzx ebp, bpl
        );
        e.decref_rdi(u);
        asm!(e ; test ebp, ebp);
    } else {
        asm!(e ; cmp QWORD [rdi + L::VAR_OB_SIZE], 0);
    }
    asm!(e
        ; jnz =>if_true
        ; jmp =>if_false
        ; =>generic
    );
    e.set_prev(u as i64);
    if operand == Operand::Borrowed {
        // `__bool__` / `__len__` may run any code: it sees the reference count a stack
        // holding the object would give it.
        asm!(e ; add QWORD [rdi], 1);
    }
    let helper = if operand == Operand::Kept { rt::rt_truth as *const () as usize } else { rt::rt_truth_consume as *const () as usize };
    e.call(helper);
    asm!(e
        ; test eax, eax
        ; js =>err
        ; jnz =>if_true
        ; jmp =>if_false
    );
}

/// POP_JUMP_{FORWARD,BACKWARD}_IF_{NONE,NOT_NONE}.
pub fn emit_pop_jump_if_none(e: &mut Emitter, n: usize, d: u32) {
    use crate::compiler::opcodes as op;
    let ins = &e.snap.instrs[n];
    let u = ins.idx;
    let on_none = matches!(ins.op, op::POP_JUMP_FORWARD_IF_NONE | op::POP_JUMP_BACKWARD_IF_NONE);
    let s = e.slot(d - 1);
    let none = crate::ffi::runtime::py_none() as i64;
    let taken = e.ops.new_dynamic_label();
    let fall = e.ops.new_dynamic_label();
    let (if_none, if_other) = if on_none { (taken, fall) } else { (fall, taken) };
    if e.takes_borrowed_top(n) {
        // `if local is None:` — the value is in rax, borrowed from its local (see
        // `load_store::top_stays_borrowed`): a comparison, nothing to release.
        asm!(e
            ; mov rdx, QWORD none
            ; cmp rax, rdx
            ; je =>if_none
            ; jmp =>if_other
        );
        taken_edge(e, n, taken);
        asm!(e ; =>fall);
        return;
    }
    asm!(e
        ; mov rdi, [rbx + s]
        ; mov rax, QWORD none
        ; cmp rdi, rax
        ; jne >other
        ; sub QWORD [rdi], 1
        ; jmp =>if_none
        ; other:
    );
    e.decref_rdi(u);
    asm!(e ; jmp =>if_other);
    taken_edge(e, n, taken);
    asm!(e ; =>fall);
}

/// JUMP_IF_{TRUE,FALSE}_OR_POP: jump keeping the value, or pop it and fall through. The bools
/// in line, other objects out of line as for POP_JUMP_IF_* ([`truth_of_rdi`]).
pub fn emit_jump_if_or_pop(e: &mut Emitter, n: usize, d: u32) {
    use crate::compiler::opcodes as op;
    let ins = &e.snap.instrs[n];
    let u = ins.idx;
    let on_true = ins.op == op::JUMP_IF_TRUE_OR_POP;
    let s = e.slot(d - 1);
    let (t, f) = (crate::ffi::runtime::py_true() as i64, crate::ffi::runtime::py_false() as i64);
    let taken = e.ops.new_dynamic_label();
    let pop = e.ops.new_dynamic_label();
    let fall = e.ops.new_dynamic_label();
    let (if_true, if_false) = if on_true { (taken, pop) } else { (pop, taken) };
    let err = e.error_label(u, d);
    let other = e.out_of_line(n, move |e| truth_of_rdi(e, u, err, if_true, if_false, Operand::Kept));
    e.load_q(RDI, RBX, s);
    asm!(e
        ; mov rax, QWORD t
        ; cmp rdi, rax
        ; je =>if_true
        ; mov rax, QWORD f
        ; cmp rdi, rax
        ; je =>if_false
        ; jmp =>other
        ; =>pop
    );
    e.decref_slot(u, s);
    asm!(e ; jmp =>fall);
    taken_edge(e, n, taken);
    asm!(e ; =>fall);
}

/// GET_ITER: replace the top with `iter(top)`.
pub fn emit_get_iter(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e ; lea rdi, [rbx + s]);
    e.call(rt::rt_get_iter as *const () as usize);
    e.check_error(u, d - 1);
}

/// FOR_ITER: push `next(iter)`, or pop the iterator and jump when it is exhausted. Inline:
/// the next item of a range iterator (boxed like `PyLong_FromLong` in `rangeiter_next`) or of
/// a list iterator still inside its list; everything else, exhaustion included, by the helper.
pub fn emit_for_iter(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    let s = e.slot(d);
    let it = e.slot(d - 1);
    let tl = e.labels[target_pos(e, n)];
    let err = e.error_label(u, d);
    let (range_t, list_t) = (rt::range_iter_type() as i64, rt::list_iter_type() as i64);
    let store_after = e.store_fast_after(n);
    let done = e.ops.new_dynamic_label();
    let generic = e.out_of_line(n, move |e| {
        e.set_prev(u as i64);
        asm!(e ; lea rdi, [rbx + s]);
        e.call(rt::rt_for_iter as *const () as usize);
        asm!(e
            ; test eax, eax
            ; js =>err
            ; jz =>tl
            ; jmp =>done
        );
    });
    // With the iterator in rax: a range iterator's next int, else a jump to `other`.
    let range_next = move |e: &mut Emitter, other: DynamicLabel| {
        asm!(e
            ; mov rcx, QWORD range_t
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>other
        );
        range_iter_step(e, R8, generic);
        // `for i in range(...)`: the loop variable's int is overwritten when nothing else
        // holds it.
        e.int_r8_to_slot(s, store_after, err);
    };
    // With the iterator in rax: a list iterator's next item, else a jump to `other`.
    let list_next = move |e: &mut Emitter, other: DynamicLabel| {
        asm!(e
            ; mov rcx, QWORD list_t
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>other
        );
        list_iter_peek(e, generic);
        asm!(e
            ; mov r8, [rdx + rcx * 8]
            ; add rcx, 1
            ; mov [rax + L::LISTITER_INDEX], rcx
            ; add QWORD [r8], 1
        );
        e.store_q(RBX, s, R8);
    };
    // The loop header says which case is in line; the other and the helper are out of line.
    e.load_q(RAX, RBX, it);
    if super::call::iterates_range_call(e, n) {
        let other = e.out_of_line(n, move |e| {
            list_next(e, generic);
            asm!(e ; jmp =>done);
        });
        range_next(e, other);
    } else {
        let other = e.out_of_line(n, move |e| {
            range_next(e, generic);
            asm!(e ; jmp =>done);
        });
        list_next(e, other);
    }
    asm!(e ; =>done);
}

/// One step of the range iterator in rax (FOR_ITER and the loop kernels): its next value in
/// `Rq(out)` and the index advanced, or a jump to `exhausted` with nothing changed. Clobbers
/// rcx, rdx.
pub fn range_iter_step(e: &mut Emitter, out: u8, exhausted: DynamicLabel) {
    asm!(e
        ; mov rcx, [rax + L::RANGEITER_INDEX]
        ; cmp rcx, [rax + L::RANGEITER_LEN]
        ; jge =>exhausted
        ; lea rdx, [rcx + 1]
        ; mov [rax + L::RANGEITER_INDEX], rdx
        ; imul rcx, [rax + L::RANGEITER_STEP]
        ; add rcx, [rax + L::RANGEITER_START]
        ; mov Rq(out), rcx
    );
}

/// The bounds check of the list iterator in rax (FOR_ITER and the loop kernels): the list's
/// items array in rdx and the next index in rcx, the iterator not advanced yet; or a jump to
/// `exhausted` (the list gone or at its end) with nothing changed.
pub fn list_iter_peek(e: &mut Emitter, exhausted: DynamicLabel) {
    asm!(e
        ; mov rdx, [rax + L::LISTITER_SEQ]
        ; test rdx, rdx
        ; jz =>exhausted
        ; mov rcx, [rax + L::LISTITER_INDEX]
        ; cmp rcx, [rdx + L::VAR_OB_SIZE]
        ; jge =>exhausted
        ; mov rdx, [rdx + L::LIST_OB_ITEM]
    );
}

/// RETURN_VALUE: the stack is empty below the value; hand its reference to the caller.
/// `prev_instr` ends at the RETURN_VALUE, as in ceval: a frame object that outlives the call
/// reports that line (`f_lineno` after an implicit `return None`).
pub fn emit_return_value(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    e.set_prev(u as i64);
    let s = e.slot(d - 1);
    let nlp = e.snap.nlocalsplus as i32;
    let ep = e.epilogue;
    asm!(e
        ; mov rax, [rbx + s]
        ; mov DWORD [r12 + L::FRAME_STACKTOP], nlp + (d as i32 - 1)
        ; jmp =>ep
    );
}
