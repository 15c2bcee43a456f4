//! Generators, coroutines and async generators: the resume dispatch at the entry of their
//! machine code, YIELD_VALUE, the `yield from`/`await` loop (GET_YIELD_FROM_ITER,
//! GET_AWAITABLE, SEND; its JUMP_BACKWARD_NO_INTERRUPT is a plain jump) and the async opcodes
//! (GET_AITER, GET_ANEXT, END_ASYNC_FOR, BEFORE_ASYNC_WITH, ASYNC_GEN_WRAP).
//!
//! # How a generator frame runs compiled
//! The interpreter creates the generator (RETURN_GENERATOR needs the hidden `_Py_MakeCoro`; the
//! hook sends thread-owned frames of generator code straight to it). Every later resumption
//! (`gen_send_ex2` → hook → `ffi::exec::run_compiled`) enters the machine code with the sent
//! value already pushed and `prev_instr` at the RETURN_GENERATOR (first send), at the
//! YIELD_VALUE it stopped at, or, after `throw()` ended a `yield from` early, one unit before
//! the SEND loop's exit. [`emit_resume_dispatch`] maps that `prev_instr` to the instruction
//! after it, checking that `stacktop` matches the depth the analysis expects there; anything
//! else leaves at once for the interpreter with the frame untouched (`EXIT_DEOPT` resumes at
//! `prev_instr + 1`).
//!
//! # Invariants
//! - While a generator frame runs compiled, `stacktop` is -1 as in the interpreter: the
//!   collector traverses an executing generator's frame only up to `stacktop`, and slots above
//!   the live depth may hold stale pointers. Every exit (yield, return, deopt, error) writes
//!   the exact `stacktop` again.
//! - A suspended frame looks exactly like one the interpreter suspended: `prev_instr` at the
//!   YIELD_VALUE, the stack below the yielded value intact (`_PyGen_yf`, `gen.throw()` and
//!   `gi_frame.f_lineno` read it), `gi_frame_state` = FRAME_SUSPENDED. Recursion accounting
//!   and the cframe are undone by `run_compiled`, as ceval's YIELD_VALUE does.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, Emitter, GuardKind, EXIT_DEOPT};
use crate::compiler::opcodes as op;
use crate::ffi::expected as X;
use crate::ffi::layout as L;
use crate::ffi::runtime_gen as rg;

const CO_COROUTINE: u32 = 0x80;
const CO_ITERABLE_COROUTINE: u32 = 0x100;
/// `gi_frame_state` value of a suspended generator (pycore_frame.h FRAME_SUSPENDED).
const FRAME_SUSPENDED: i8 = -1;
/// `_PyInterpreterFrame.owner` of a generator's frame (FRAME_OWNED_BY_GENERATOR).
const OWNED_BY_GENERATOR: i8 = 1;

/// A place where a suspended generator frame may be resumed: `prev_instr` unit, the position of
/// the instruction that runs next and the stack depth there (sent value included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    pub unit: usize,
    pub target: usize,
    pub depth: u32,
}

/// Every resume point of the snapshot, sorted by unit.
pub fn resume_points(e: &Emitter) -> Vec<ResumePoint> {
    let s = e.snap;
    let mut out = Vec::new();
    for (n, ins) in s.instrs.iter().enumerate() {
        if s.depth[n].is_none() || n + 1 >= s.instrs.len() {
            continue;
        }
        let (unit, target) = match ins.op {
            op::YIELD_VALUE | op::RETURN_GENERATOR => (ins.idx, n + 1),
            // genobject.c `_gen_throw`: the delegate raised, so it was popped and prev_instr
            // moved to just before the SEND's exit; the fetched value is then sent.
            op::SEND if s.instrs[n + 1].op == op::YIELD_VALUE => {
                let Some(t) = ins.target.filter(|&t| t > 0) else { continue };
                let Some(tp) = s.at_unit(t) else { continue };
                (t - 1, tp)
            }
            _ => continue,
        };
        if let Some(depth) = s.depth[target] {
            out.push(ResumePoint { unit, target, depth });
        }
    }
    out.sort_by_key(|p| p.unit);
    // Two points at one unit cannot happen in 3.11 bytecode; if they did, resume neither.
    let dup: Vec<usize> = out.windows(2).filter(|w| w[0].unit == w[1].unit).map(|w| w[0].unit).collect();
    out.retain(|p| !dup.contains(&p.unit));
    out
}

/// The entry of generator code, right after the prologue (see the module doc).
pub fn emit_resume_dispatch(e: &mut Emitter) {
    let points = resume_points(e);
    let miss = e.ops.new_dynamic_label();
    let ep = e.epilogue;
    e.mark("resume dispatch".into());
    let keys: Vec<(usize, usize, u32)> = points.iter().map(|p| (p.unit, p.target, p.depth)).collect();
    emit_point_dispatch(e, OWNED_BY_GENERATOR, &keys, miss, Some(rg::gen_resumes_addr() as i64));
    // Not a place this code knows: the interpreter resumes at prev_instr + 1 as it stands.
    asm!(e
        ; =>miss
        ; mov eax, EXIT_DEOPT as i32
        ; jmp =>ep
    );
}

/// Dispatch on where a frame stands (generator resumption, frame switch): if the frame's
/// owner is `owner` and its `prev_instr` is at the unit of one of `points` (unit, position of
/// the instruction to run, stack depth there; sorted by unit) with exactly that depth in
/// `stacktop`, set `stacktop` to -1 (as while the interpreter runs a frame), count the hit at
/// `counter` if given, and jump to that instruction's code; anything else goes to `miss` with
/// the frame untouched.
pub fn emit_point_dispatch(e: &mut Emitter, owner: i8, points: &[(usize, usize, u32)], miss: DynamicLabel, counter: Option<i64>) {
    asm!(e
        ; cmp BYTE [r12 + X::FRAME_OWNER as i32], owner
        ; jne =>miss
        ; mov rax, [r12 + L::FRAME_PREV_INSTR]
        ; sub rax, r14
        ; sar rax, 1
    );
    let hits: Vec<DynamicLabel> = points.iter().map(|_| e.ops.new_dynamic_label()).collect();
    let keys: Vec<(usize, DynamicLabel)> = points.iter().map(|p| p.0).zip(hits.iter().copied()).collect();
    search(e, &keys, miss);
    let nlp = e.snap.nlocalsplus as i32;
    for (&(_, pos, depth), hit) in points.iter().zip(hits) {
        let tl = e.labels[pos];
        asm!(e
            ; =>hit
            ; cmp DWORD [r12 + L::FRAME_STACKTOP], nlp + depth as i32
            ; jne =>miss
            ; mov DWORD [r12 + L::FRAME_STACKTOP], -1
        );
        if let Some(c) = counter {
            asm!(e
                ; mov rax, QWORD c
                ; add QWORD [rax], 1
            );
        }
        asm!(e ; jmp =>tl);
    }
}

/// Binary search of `rax` (the frame's lasti) over sorted `keys`, jumping to the key's label.
fn search(e: &mut Emitter, keys: &[(usize, DynamicLabel)], miss: DynamicLabel) {
    if keys.len() <= 3 {
        for &(k, l) in keys {
            asm!(e ; cmp rax, k as i32 ; je =>l);
        }
        asm!(e ; jmp =>miss);
        return;
    }
    let mid = keys.len() / 2;
    let right = e.ops.new_dynamic_label();
    let (k, l) = keys[mid];
    asm!(e
        ; cmp rax, k as i32
        ; je =>l
        ; jg =>right
    );
    search(e, &keys[..mid], miss);
    asm!(e ; =>right);
    search(e, &keys[mid + 1..], miss);
}

/// YIELD_VALUE: suspend the generator and return the value (see the module invariants).
pub fn emit_yield_value(e: &mut Emitter, n: usize, d: u32) {
    let u = e.snap.instrs[n].idx;
    let s = e.slot(d - 1);
    let nlp = e.snap.nlocalsplus as i32;
    let state = rg::gen_frame_state_delta();
    let ep = e.epilogue;
    e.set_prev(u as i64);
    asm!(e
        ; mov BYTE [r12 + state], FRAME_SUSPENDED
        ; mov rax, [rbx + s]
        ; mov DWORD [r12 + L::FRAME_STACKTOP], nlp + d as i32 - 1
        ; jmp =>ep
    );
}

/// SEND (receiver v → receiver r, or → value and jump when the receiver returned).
pub fn emit_send(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let u = ins.idx;
    let t = ins.target.and_then(|t| e.snap.at_unit(t)).expect("SEND has a target");
    let tl = e.labels[t];
    let s = e.slot(d);
    let err = e.error_label(u, d - 1);
    let deopt = e.deopt_label(n, GuardKind::Tracing);
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov rsi, r13
    );
    e.call(rg::rt_send as *const () as usize);
    let returned = e.ops.new_dynamic_label();
    asm!(e
        ; test eax, eax
        ; js =>err
        ; cmp eax, 1
        ; je =>deopt
        ; ja =>returned
    );
    // The delegate may have installed a tracer: the rest runs where it produces events.
    e.check_tracing(n + 1);
    let fall = e.ops.new_dynamic_label();
    asm!(e ; jmp =>fall ; =>returned);
    e.check_tracing(t);
    asm!(e ; jmp =>tl ; =>fall);
}

/// GET_YIELD_FROM_ITER.
pub fn emit_get_yield_from_iter(e: &mut Emitter, n: usize, d: u32) {
    let coro = (e.snap.flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE) != 0) as i32;
    let u = e.call_stack_helper(n, d, Some(coro), rg::rt_get_yield_from_iter as *const () as usize);
    e.check_error(u, d);
}

/// GET_AWAITABLE.
pub fn emit_get_awaitable(e: &mut Emitter, n: usize, d: u32) {
    let arg = e.snap.instrs[n].arg as i32;
    let u = e.call_stack_helper(n, d, Some(arg), rg::rt_get_awaitable as *const () as usize);
    e.check_error(u, d);
}

/// GET_AITER.
pub fn emit_get_aiter(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rg::rt_get_aiter as *const () as usize);
    e.check_error(u, d);
}

/// GET_ANEXT.
pub fn emit_get_anext(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rg::rt_get_anext as *const () as usize);
    e.check_error(u, d);
}

/// END_ASYNC_FOR: the StopAsyncIteration case here; a re-raise in the interpreter.
pub fn emit_end_async_for(e: &mut Emitter, n: usize, d: u32) {
    e.call_stack_helper(n, d, None, rg::rt_end_async_for as *const () as usize);
    e.dispatch_result(n, d);
}

/// BEFORE_ASYNC_WITH.
pub fn emit_before_async_with(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rg::rt_before_async_with as *const () as usize);
    e.check_error(u, d);
}

/// ASYNC_GEN_WRAP.
pub fn emit_async_gen_wrap(e: &mut Emitter, n: usize, d: u32) {
    let u = e.call_stack_helper(n, d, None, rg::rt_async_gen_wrap as *const () as usize);
    e.check_error(u, d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::bytecode::Snapshot;
    use pyo3::prelude::*;
    use pyo3::types::PyDict;

    #[test]
    fn resume_points_cover_every_yield_the_first_send_and_the_send_exit() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let ns = PyDict::new(py);
            let src = c"def g(n):\n    x = yield 1\n    r = yield from range(n)\n    yield x, r\n";
            py.run(src, None, Some(&ns)).unwrap();
            let code = ns.get_item("g").unwrap().unwrap().getattr("__code__").unwrap();
            let snap = Snapshot::take(py, &code).unwrap();
            let e = Emitter::new(&snap);
            let pts = resume_points(&e);
            let ops: Vec<u8> = pts.iter().map(|p| snap.instrs[p.target - 1].op).collect();
            let yields = snap.instrs.iter().filter(|i| i.op == op::YIELD_VALUE).count();
            assert_eq!(yields, 3);
            assert_eq!(pts.len(), yields + 2, "{ops:?}");
            // The first send resumes after RETURN_GENERATOR with the None it pushed.
            let first = pts.iter().find(|p| snap.instrs[p.target - 1].op == op::RETURN_GENERATOR).unwrap();
            assert_eq!(first.depth, 1);
            assert_eq!(snap.instrs[first.target].op, op::POP_TOP);
            // Every yield resumes at the RESUME after it, at the depth the analysis expects.
            for p in pts.iter().filter(|p| snap.instrs[p.target - 1].op == op::YIELD_VALUE) {
                assert_eq!(snap.instrs[p.target].op, op::RESUME);
                assert_eq!(Some(p.depth), snap.depth[p.target - 1]);
            }
            // After throw() ended the `yield from`, resumption is at the SEND's exit, one unit
            // after the JUMP_BACKWARD_NO_INTERRUPT that prev_instr then points at.
            let send_exit = pts.iter().find(|p| snap.instrs[p.target - 1].op == op::JUMP_BACKWARD_NO_INTERRUPT).unwrap();
            assert_eq!(send_exit.unit, snap.instrs[send_exit.target].start - 1);
            assert!(pts.windows(2).all(|w| w[0].unit < w[1].unit));
            assert!(crate::compiler::generate(&snap).is_ok());
        });
    }
}
