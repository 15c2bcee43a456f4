//! Arithmetic and subscripts: BINARY_OP (all 26 operators), UNARY_*, BINARY_SUBSCR and
//! STORE_SUBSCR, each a call to a runtime helper that mirrors ceval's body exactly.


use crate::compiler::emit::Emitter;
use crate::ffi::runtime as rt;

/// BINARY_OP: `second (op) top`; on error both operands are released (ceval leaves a NULL).
pub fn emit_binary_op(e: &mut Emitter, n: usize, d: u32) {
    let oparg = e.snap.instrs[n].arg as i32;
    let u = e.call_stack_helper(n, d, Some(oparg), rt::rt_binary_op as *const () as usize);
    e.check_error(u, d - 2);
}

/// UNARY_POSITIVE / NEGATIVE / INVERT / NOT: replace the top.
pub fn emit_unary(e: &mut Emitter, n: usize, d: u32) {
    let opc = e.snap.instrs[n].op as i32;
    let u = e.call_stack_helper(n, d, Some(opc), rt::rt_unary as *const () as usize);
    e.check_error(u, d - 1);
}

/// BINARY_SUBSCR: `second[top]`.
pub fn emit_binary_subscr(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_binary_subscr as *const () as usize);
    e.check_error(u, d - 2);
}

/// STORE_SUBSCR: `second[top] = third`, popping all three.
pub fn emit_store_subscr(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_store_subscr as *const () as usize);
    e.check_error(u, d - 3);
}
