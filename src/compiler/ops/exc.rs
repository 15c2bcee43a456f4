//! Exception handling: the opcodes handler bodies are made of (PUSH_EXC_INFO, POP_EXCEPT,
//! CHECK_EXC_MATCH, CHECK_EG_MATCH, PREP_RERAISE_STAR), raising (RAISE_VARARGS, RERAISE) and
//! `with` (BEFORE_WITH, WITH_EXCEPT_START), each a call to its helper in
//! `ffi::runtime_exc`. Entering a handler is the error stubs' job (`emit::Emitter::finish`).
//!
//! A re-raise (RERAISE, bare `raise`) adds no traceback entry, so it may only be done here when
//! a handler of this code covers it; otherwise the template leaves for the interpreter before
//! consuming anything, and the interpreter re-raises out of the frame itself.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, Emitter, GuardKind};
use crate::ffi::runtime_exc as rt;

fn unit(e: &Emitter, n: usize) -> usize {
    e.snap.instrs[n].idx
}

/// Whether a handler of this code covers instruction `n` and compiled code can enter it with
/// `depth` values on the stack (what the `Cold::Unwind` stub relies on).
fn covered(e: &Emitter, n: usize, depth: u32) -> bool {
    e.handler_entry(unit(e, n), depth).is_some()
}

/// PUSH_EXC_INFO: [exc] → [previously handled exception, exc]; exc is now handled.
pub fn emit_push_exc_info(e: &mut Emitter, _n: usize, d: u32) {
    let s = e.slot(d);
    asm!(e
        ; mov rdi, r13
        ; lea rsi, [rbx + s]
    );
    e.call(rt::rt_push_exc_info as *const () as usize);
}

/// POP_EXCEPT: pop the previously handled exception back into place.
pub fn emit_pop_except(e: &mut Emitter, n: usize, d: u32) {
    let s = e.slot(d);
    let u = unit(e, n);
    // Releasing the handled exception may run a destructor.
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r13
        ; lea rsi, [rbx + s]
    );
    e.call(rt::rt_pop_except as *const () as usize);
}

/// CHECK_EXC_MATCH: [exc, type] → [exc, bool] (TypeError for a type that cannot be caught).
pub fn emit_check_exc_match(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_check_exc_match as *const () as usize);
    e.check_error(u, d - 1);
}

/// CHECK_EG_MATCH: [exc, type] → [exc, None] or [rest, match] (except*).
pub fn emit_check_eg_match(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_check_eg_match as *const () as usize);
    e.check_error(u, d - 1);
}

/// PREP_RERAISE_STAR: [orig, excs] → [exception to re-raise or None]; the group-projection
/// cases are left to the interpreter.
pub fn emit_prep_reraise_star(e: &mut Emitter, n: usize, d: u32) {
    e.call_stack_helper(n, d, None, rt::rt_prep_reraise_star as *const () as usize);
    e.dispatch_result(n, d);
}

/// RAISE_VARARGS: `raise [exc [from cause]]`. A bare `raise` outside any handler of this code
/// is left to the interpreter (see the module doc).
pub fn emit_raise_varargs(e: &mut Emitter, n: usize, d: u32) {
    let a = e.snap.instrs[n].arg;
    if a == 0 && !covered(e, n, d) {
        e.deopt_now(n, GuardKind::SlowCase);
        return;
    }
    let (u, s) = (unit(e, n), e.slot(d));
    let err = e.error_label(u, d - a.min(d));
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r13
        ; lea rsi, [rbx + s]
        ; mov edx, a as i32
    );
    e.call(rt::rt_raise as *const () as usize);
    if a == 0 {
        let unwind = e.unwind_label(u, d);
        asm!(e
            ; cmp eax, -2
            ; je =>unwind
        );
    }
    asm!(e ; jmp =>err);
}

/// RERAISE: re-raise the exception on top (restoring the saved lasti when `arg` says where);
/// left to the interpreter when no handler of this code covers it.
pub fn emit_reraise(e: &mut Emitter, n: usize, d: u32) {
    if !covered(e, n, d - 1) {
        e.deopt_now(n, GuardKind::SlowCase);
        return;
    }
    let a = e.snap.instrs[n].arg as i32;
    let (u, s) = (unit(e, n), e.slot(d));
    let err = e.error_label(u, d);
    let unwind = e.unwind_label(u, d - 1);
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r12
        ; lea rsi, [rbx + s]
        ; mov edx, a
    );
    e.call(rt::rt_reraise as *const () as usize);
    asm!(e
        ; cmp eax, -1
        ; je =>err
        ; jmp =>unwind
    );
}

/// BEFORE_WITH: [mgr] → [mgr.__exit__, mgr.__enter__()].
pub fn emit_before_with(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_before_with as *const () as usize);
    e.check_error(u, d);
}

/// WITH_EXCEPT_START: call `__exit__(type, exc, tb)` for the exception on top.
pub fn emit_with_except_start(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_with_except_start as *const () as usize);
    e.check_error(u, d);
}
