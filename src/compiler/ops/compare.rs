//! Comparisons: COMPARE_OP (rich comparison), IS_OP (identity, inline) and CONTAINS_OP.

use dynasmrt::{dynasm, DynasmApi};

use crate::compiler::emit::{asm, Emitter};
use crate::ffi::runtime as rt;

/// COMPARE_OP: `PyObject_RichCompare(second, top, arg)`.
pub fn emit_compare_op(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg
    );
    e.call(rt::rt_compare_op as *const () as usize);
    e.check_error(u, d - 2);
}

/// IS_OP: `second is top` (`is not` when arg is 1); cannot fail.
pub fn emit_is_op(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg
    );
    e.call(rt::rt_is_op as *const () as usize);
}

/// CONTAINS_OP: `second in top` (`not in` when arg is 1).
pub fn emit_contains_op(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg
    );
    e.call(rt::rt_contains_op as *const () as usize);
    e.check_error(u, d - 2);
}
