//! Frame switching: a frame that the interpreter is already running goes on in machine code
//! from the head of one of its loops ("tag function": the running call is accelerated too, not
//! only the next one). This module is the compiler's side: which loop heads a frame may switch
//! at, and the second entry of the machine code that jumps there. The switch itself is done by
//! a C line tracer armed for a moment on the thread concerned (`csrc/osr311.c`, with
//! `ffi::exec::psyco_osr_run`); when to arm it is [`crate::queue`]'s business.
//!
//! # How a switch goes
//! The tracer sees a line event at a loop head (the interpreter reports one after every
//! backward jump), with the frame's `prev_instr` at the head and its stack written back. It
//! runs this code's *switch entry* on the frame: the standard prologue, then a search of the
//! head among [`points`]; the stack depth must be the one the analysis expects there. The
//! rest of the frame runs compiled. Its result is handed back to the suspended interpreter
//! loop by pointing `prev_instr` at a RETURN_VALUE of the code with the result as the only
//! stack value; an exception by leaving the tracer with an error at the loop head, where no
//! handler is (see below); a deopt by letting that loop resume at `prev_instr + 1`.
//!
//! # Invariants
//! - Only loop heads that no exception-table entry covers are switch points: the interpreter
//!   looks for a handler at the head when the tracer reports the frame's exception, and there
//!   must be none (the handlers already ran in the switched run).
//! - Only frames owned by their thread switch (no generator, coroutine or frame object).
//! - Code without a RETURN_VALUE has no switch entry (the result could not be handed back).
//! - A miss (unknown head, other depth, other owner) touches nothing and returns
//!   [`EXIT_NOT_SWITCHED`]: the interpreter goes on as if the tracer had not been called.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::bytecode::Snapshot;
use crate::compiler::emit::{asm, Emitter};
use crate::compiler::opcodes as op;

/// Return value of the switch entry when the frame is not at a switch point (nothing ran).
pub const EXIT_NOT_SWITCHED: usize = 3;

/// `_PyInterpreterFrame.owner` of a frame run by a thread (FRAME_OWNED_BY_THREAD).
const OWNED_BY_THREAD: i8 = 0;

/// A loop head a running frame may switch at: the unit the interpreter's `prev_instr` points
/// at when it reports the line event there (the instruction's first unit, EXTENDED_ARG
/// included), its position and the stack depth there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchPoint {
    pub unit: usize,
    pub pos: usize,
    pub depth: u32,
}

/// What the runtime needs to switch a frame of this code.
#[derive(Clone, Debug)]
pub struct SwitchInfo {
    /// Offset of the switch entry in the machine code.
    pub entry_offset: usize,
    /// (unit, depth) of every switch point, sorted by unit.
    pub points: Vec<(u32, u32)>,
    /// Unit of a RETURN_VALUE of the code (where the result is handed back).
    pub return_unit: u32,
}

/// Every loop head of the snapshot a frame may switch at, sorted by unit (empty for generator
/// code and for code without a RETURN_VALUE).
pub fn points(s: &Snapshot) -> Vec<SwitchPoint> {
    if super::is_generator_code(s.flags) || return_unit(s).is_none() {
        return Vec::new();
    }
    let mut out: Vec<SwitchPoint> = Vec::new();
    for (n, ins) in s.instrs.iter().enumerate() {
        let backward = matches!(
            ins.op,
            op::JUMP_BACKWARD
                | op::POP_JUMP_BACKWARD_IF_NOT_NONE
                | op::POP_JUMP_BACKWARD_IF_NONE
                | op::POP_JUMP_BACKWARD_IF_FALSE
                | op::POP_JUMP_BACKWARD_IF_TRUE
        );
        if !backward || s.depth[n].is_none() {
            continue;
        }
        let Some(t) = ins.target else { continue };
        let Some(pos) = s.at_unit(t) else { continue };
        let Some(depth) = s.depth[pos] else { continue };
        let head = &s.instrs[pos];
        if head.start != t || s.handler_for(head.start).is_some() || s.handler_for(head.idx).is_some() {
            continue;
        }
        if !out.iter().any(|p| p.unit == t) {
            out.push(SwitchPoint { unit: t, pos, depth });
        }
    }
    out.sort_by_key(|p| p.unit);
    out
}

/// The unit of the code's first reachable RETURN_VALUE.
pub fn return_unit(s: &Snapshot) -> Option<usize> {
    s.instrs.iter().enumerate().find(|(n, i)| i.op == op::RETURN_VALUE && s.depth[*n].is_some()).map(|(_, i)| i.idx)
}

/// Emits the switch entry (after all other code, before `Emitter::finish`) and returns its
/// label, or None when the code has no switch point.
pub fn emit_entry(e: &mut Emitter) -> Option<(DynamicLabel, Vec<SwitchPoint>)> {
    let pts = points(e.snap);
    if pts.is_empty() {
        return None;
    }
    let entry = e.ops.new_dynamic_label();
    let miss = e.ops.new_dynamic_label();
    let ep = e.epilogue;
    e.mark("switch entry (a running frame goes on here)".into());
    asm!(e ; =>entry);
    e.prologue();
    let keys: Vec<(usize, usize, u32)> = pts.iter().map(|p| (p.unit, p.pos, p.depth)).collect();
    super::ops::gen::emit_point_dispatch(e, OWNED_BY_THREAD, &keys, miss, None);
    asm!(e
        ; =>miss
        ; mov eax, EXIT_NOT_SWITCHED as i32
        ; jmp =>ep
    );
    Some((entry, pts))
}

/// `f` of the machine code of `code` and its switch information, if `code` is compiled and
/// has switch points. GIL held.
fn with_switch<R>(code: &pyo3::Bound<'_, pyo3::PyAny>, f: impl FnOnce(&super::Compiled, &SwitchInfo) -> R) -> Option<R> {
    let rec = crate::ffi::existing_record(code)?;
    if rec.entry.load(std::sync::atomic::Ordering::Acquire).is_null() {
        return None;
    }
    let guard = rec.compiled.lock();
    let c = guard.as_ref()?.downcast_ref::<super::Compiled>()?;
    Some(f(c, c.switch.as_ref()?))
}

/// The switch entry's address if a frame of `code` at `unit` with `depth` values on its stack
/// may switch into the code's machine code now, with the RETURN_VALUE unit to hand the result
/// back at. GIL held.
pub fn lookup(code: &pyo3::Bound<'_, pyo3::PyAny>, unit: u32, depth: u32) -> Option<(usize, u32)> {
    with_switch(code, |c, sw| {
        let k = sw.points.binary_search_by_key(&unit, |p| p.0).ok()?;
        (sw.points[k].1 == depth).then(|| (c.buf.addr() + sw.entry_offset, sw.return_unit))
    })?
}

/// Whether frames of `code` may switch into its machine code (it is compiled, with switch
/// points). GIL held.
pub fn has_switch(code: &pyo3::Bound<'_, pyo3::PyAny>) -> bool {
    with_switch(code, |_, _| ()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::prelude::*;

    fn snap_of(py: Python<'_>, src: &str) -> Snapshot {
        let ns = pyo3::types::PyDict::new(py);
        py.run(&std::ffi::CString::new(src).unwrap(), None, Some(&ns)).unwrap();
        let f = ns.get_item("f").unwrap().unwrap();
        Snapshot::take(py, &f.getattr("__code__").unwrap()).unwrap()
    }

    #[test]
    fn switch_points_are_loop_heads_outside_handlers() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            // Two loops; the second inside try/except: only the first head is a point.
            let s = snap_of(
                py,
                "def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    try:\n        while t:\n            t -= 1\n    except ValueError:\n        pass\n    return t\n",
            );
            let pts = points(&s);
            assert_eq!(pts.len(), 1, "{pts:?}");
            let head = &s.instrs[pts[0].pos];
            assert_eq!(head.op, op::FOR_ITER);
            assert_eq!(pts[0].depth, 1, "the range iterator is on the stack");
            // Generator code never switches.
            let g = snap_of(py, "def f(n):\n    for i in range(n):\n        yield i\n");
            assert!(points(&g).is_empty());
            // Without a RETURN_VALUE there is nowhere to hand the result back.
            let r = snap_of(py, "def f(n):\n    while True:\n        n += 1\n        if n > 5:\n            raise ValueError\n");
            assert!(return_unit(&r).is_none() && points(&r).is_empty());
        });
    }
}
