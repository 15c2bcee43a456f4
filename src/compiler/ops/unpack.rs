//! Star-unpacking and merging (UNPACK_EX, SET_UPDATE, DICT_UPDATE, DICT_MERGE,
//! CALL_FUNCTION_EX) and pattern matching (GET_LEN, MATCH_MAPPING, MATCH_SEQUENCE,
//! MATCH_KEYS, MATCH_CLASS), each a call to its helper in `ffi::runtime_ops` or
//! `ffi::runtime_match`.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, BreakerMode, Emitter};
use crate::ffi::runtime_match as rm;
use crate::ffi::runtime_ops as rt;

fn helper_arg(e: &mut Emitter, n: usize, d: u32, f: usize) -> usize {
    let a = e.snap.instrs[n].arg as i32;
    e.call_stack_helper(n, d, Some(a), f)
}

/// UNPACK_EX: `a, *b, c = seq`.
pub fn emit_unpack_ex(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_arg(e, n, d, rt::rt_unpack_ex as *const () as usize);
    e.check_error(u, d - 1);
}

/// SET_UPDATE: `{*a}`.
pub fn emit_set_update(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_arg(e, n, d, rt::rt_set_update as *const () as usize);
    e.check_error(u, d - 1);
}

/// DICT_UPDATE: `{**a}`.
pub fn emit_dict_update(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_arg(e, n, d, rt::rt_dict_update as *const () as usize);
    e.check_error(u, d - 1);
}

/// DICT_MERGE: `f(**a, **b)` (duplicate keywords are an error).
pub fn emit_dict_merge(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_arg(e, n, d, rt::rt_dict_merge as *const () as usize);
    e.check_error(u, d - 1);
}

/// CALL_FUNCTION_EX: `f(*args, **kwargs)`; then poll the eval breaker and check for a new
/// tracer like CALL.
pub fn emit_call_function_ex(e: &mut Emitter, n: usize, d: u32) {
    let k = e.snap.instrs[n].arg & 1;
    let u = helper_arg(e, n, d, rt::rt_call_function_ex as *const () as usize);
    let no_kwargs = e.error_label(u, d - 1);
    let no_args = e.error_label(u, d - 1 - k);
    let failed = e.error_label(u, d - 3 - k);
    asm!(e
        ; test eax, eax
        ; jz >ok
        ; cmp eax, -1
        ; je =>no_kwargs
        ; cmp eax, -2
        ; je =>no_args
        ; jmp =>failed
        ; ok:
    );
    if n + 1 < e.snap.instrs.len() && e.snap.depth[n + 1].is_some() {
        let mode = BreakerMode::HandleHere { err_unit: u, err_depth: d - 2 - k };
        e.check_eval_breaker(n + 1, u as i64, mode);
        e.check_tracing(n + 1);
    }
}

/// GET_LEN: push len(top).
pub fn emit_get_len(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rm::rt_get_len as *const () as usize);
    e.check_error(u, d);
}

/// MATCH_MAPPING / MATCH_SEQUENCE: push whether the subject's type has the flag.
pub fn emit_match_flag(e: &mut Emitter, n: usize, d: u32) {
    use crate::compiler::opcodes as op;
    const TPFLAGS_SEQUENCE: i64 = 1 << 5;
    const TPFLAGS_MAPPING: i64 = 1 << 6;
    let flag = if e.snap.instrs[n].op == op::MATCH_MAPPING { TPFLAGS_MAPPING } else { TPFLAGS_SEQUENCE };
    let s = e.slot(d);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov rsi, QWORD flag
    );
    e.call(rm::rt_match_flag as *const () as usize);
}

/// MATCH_KEYS: push the values of the keys, or None.
pub fn emit_match_keys(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rm::rt_match_keys as *const () as usize);
    e.check_error(u, d);
}

/// MATCH_CLASS: [subject, type, names] → [attributes or None].
pub fn emit_match_class(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_arg(e, n, d, rm::rt_match_class as *const () as usize);
    e.check_error(u, d - 2);
}
