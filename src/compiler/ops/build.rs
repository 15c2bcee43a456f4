//! Building and unpacking containers: BUILD_TUPLE, BUILD_LIST, LIST_APPEND, UNPACK_SEQUENCE
//! (exact tuples and lists of the right length natively; everything else, including every
//! error message, by the interpreter).

use dynasmrt::{dynasm, DynasmApi};

use crate::compiler::emit::{asm, Emitter};
use crate::ffi::runtime as rt;

fn helper_n(e: &mut Emitter, n: usize, d: u32, f: usize) -> usize {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg as i32, ins.idx);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg
    );
    e.call(f);
    u
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
pub fn emit_list_append(e: &mut Emitter, n: usize, d: u32) {
    let u = helper_n(e, n, d, rt::rt_list_append as *const () as usize);
    e.check_error(u, d - 1);
}

/// UNPACK_SEQUENCE: exact tuple/list of length `arg` natively, otherwise deopt.
pub fn emit_unpack_sequence(e: &mut Emitter, n: usize, d: u32) {
    helper_n(e, n, d, rt::rt_unpack_sequence as *const () as usize);
    e.dispatch_result(n, d);
}
