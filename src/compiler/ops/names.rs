//! Namespaces and imports: LOAD/STORE/DELETE_NAME (module and class bodies), STORE/
//! DELETE_GLOBAL, LOAD_CLASSDEREF, DELETE_DEREF, LOAD_BUILD_CLASS, SETUP_ANNOTATIONS,
//! PRINT_EXPR, IMPORT_NAME, IMPORT_FROM and DELETE_ATTR, each a call to its helper in
//! `ffi::runtime_ops` (which mirrors ceval, NameError messages and `name` attribute included).

use dynasmrt::{dynasm, DynasmApi};

use crate::compiler::emit::{asm, Emitter};
use crate::ffi::runtime_ops as rt;

/// `prev_instr` at the instruction, `rdi` = frame, `rsi` = address of slot `d`, `rdx` =
/// `names[arg]`, then the call. Returns the unit.
fn frame_sp_name(e: &mut Emitter, n: usize, d: u32, f: usize) -> usize {
    let ins = &e.snap.instrs[n];
    let (u, name) = (ins.idx, e.snap.names[ins.arg as usize] as i64);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r12
        ; lea rsi, [rbx + s]
        ; mov rdx, QWORD name
    );
    e.call(f);
    u
}

/// `prev_instr` at the instruction, `rdi` = address of slot `d`, `rsi` = `names[arg]`.
fn sp_name(e: &mut Emitter, n: usize, d: u32, f: usize) -> usize {
    let ins = &e.snap.instrs[n];
    let (u, name) = (ins.idx, e.snap.names[ins.arg as usize] as i64);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov rsi, QWORD name
    );
    e.call(f);
    u
}

/// `prev_instr` at the instruction, `rdi` = frame, `esi` = `arg` (or `rsi` = `names[arg]`).
fn frame_arg(e: &mut Emitter, n: usize, f: usize, arg_is_name: bool) -> usize {
    let ins = &e.snap.instrs[n];
    let u = ins.idx;
    e.set_prev(u as i64);
    asm!(e ; mov rdi, r12);
    if arg_is_name {
        let name = e.snap.names[ins.arg as usize] as i64;
        asm!(e ; mov rsi, QWORD name);
    } else {
        asm!(e ; mov esi, ins.arg as i32);
    }
    e.call(f);
    u
}

/// LOAD_NAME: locals, then globals, then builtins.
pub fn emit_load_name(e: &mut Emitter, n: usize, d: u32) {
    let u = frame_sp_name(e, n, d, rt::rt_load_name as *const () as usize);
    e.check_error(u, d);
}

/// STORE_NAME: locals[name] = pop().
pub fn emit_store_name(e: &mut Emitter, n: usize, d: u32) {
    let u = frame_sp_name(e, n, d, rt::rt_store_name as *const () as usize);
    e.check_error(u, d - 1);
}

/// DELETE_NAME: del locals[name].
pub fn emit_delete_name(e: &mut Emitter, n: usize, d: u32) {
    let u = frame_arg(e, n, rt::rt_delete_name as *const () as usize, true);
    e.check_error(u, d);
}

/// STORE_GLOBAL: globals[name] = pop().
pub fn emit_store_global(e: &mut Emitter, n: usize, d: u32) {
    let u = frame_sp_name(e, n, d, rt::rt_store_global as *const () as usize);
    e.check_error(u, d - 1);
}

/// DELETE_GLOBAL: del globals[name].
pub fn emit_delete_global(e: &mut Emitter, n: usize, d: u32) {
    let u = frame_arg(e, n, rt::rt_delete_global as *const () as usize, true);
    e.check_error(u, d);
}

/// LOAD_CLASSDEREF: the class namespace, then the cell (non-dict namespaces and empty cells
/// are left to the interpreter).
pub fn emit_load_classderef(e: &mut Emitter, n: usize, d: u32) {
    let (u, a, s) = (e.snap.instrs[n].idx, e.snap.instrs[n].arg as i32, e.slot(d));
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r12
        ; lea rsi, [rbx + s]
        ; mov edx, a
    );
    e.call(rt::rt_load_classderef as *const () as usize);
    e.dispatch_result(n, d);
}

/// DELETE_DEREF: empty the cell (an already empty cell is left to the interpreter).
pub fn emit_delete_deref(e: &mut Emitter, n: usize, d: u32) {
    frame_arg(e, n, rt::rt_delete_deref as *const () as usize, false);
    e.dispatch_result(n, d);
}

/// LOAD_BUILD_CLASS: push builtins.__build_class__.
pub fn emit_load_build_class(e: &mut Emitter, n: usize, d: u32) {
    let (u, s) = (e.snap.instrs[n].idx, e.slot(d));
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r12
        ; lea rsi, [rbx + s]
    );
    e.call(rt::rt_load_build_class as *const () as usize);
    e.check_error(u, d);
}

/// SETUP_ANNOTATIONS: create `__annotations__` in the namespace if missing.
pub fn emit_setup_annotations(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    e.set_prev(u as i64);
    asm!(e ; mov rdi, r12);
    e.call(rt::rt_setup_annotations as *const () as usize);
    e.check_error(u, d);
}

/// PRINT_EXPR: sys.displayhook(pop()) (interactive mode).
pub fn emit_print_expr(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rt::rt_print_expr as *const () as usize);
    e.check_error(u, d - 1);
}

/// IMPORT_NAME: [level, fromlist] → [module].
pub fn emit_import_name(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (u, name) = (ins.idx, e.snap.names[ins.arg as usize] as i64);
    let s = e.slot(d);
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r13
        ; mov rsi, r12
        ; lea rdx, [rbx + s]
        ; mov rcx, QWORD name
    );
    e.call(rt::rt_import_name as *const () as usize);
    e.check_error(u, d - 2);
}

/// IMPORT_FROM: [module] → [module, module.name].
pub fn emit_import_from(e: &mut Emitter, n: usize, d: u32) {
    let u = sp_name(e, n, d, rt::rt_import_from as *const () as usize);
    e.check_error(u, d);
}

/// DELETE_ATTR: del pop().name.
pub fn emit_delete_attr(e: &mut Emitter, n: usize, d: u32) {
    let u = sp_name(e, n, d, rt::rt_delete_attr as *const () as usize);
    e.check_error(u, d - 1);
}
