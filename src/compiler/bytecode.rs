//! Bytecode snapshot and analysis: decodes a code object's unquickened `co_code` into
//! instructions (EXTENDED_ARG folded in, inline caches skipped), attaches CPython's own stack
//! effects (`dis.stack_effect`), decodes the exception table, and computes the value-stack depth
//! at every instruction reachable by normal control flow or by unwinding to a handler (compiled
//! code enters handlers itself: see `emit::Emitter::finish`).
//!
//! # Invariants
//! - Built under the GIL ([`Snapshot::take`]); afterwards plain data (`Send`), usable without it.
//! - Object addresses in the snapshot are borrowed from the code object (its consts and names
//!   tuples), which outlives every frame running the compiled code.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use super::exctable::{self, Handler};
use super::opcodes as op;

/// One decoded instruction.
#[derive(Clone, Debug)]
pub struct Instr {
    /// Index (in code units) of its first unit, counting EXTENDED_ARG prefixes.
    pub start: usize,
    /// Index of the unit holding the opcode itself (what `prev_instr` points at while it runs).
    pub idx: usize,
    pub op: u8,
    pub arg: u32,
    /// Index of the unit after the instruction and its inline caches.
    pub next: usize,
    /// Jump destination (unit index), for jumps.
    pub target: Option<usize>,
    /// Stack effect when not jumping / when jumping.
    pub effect: i32,
    pub effect_jump: i32,
}

/// A global function small and simple enough to be inlined into a loop kernel (see
/// `ops::kernel`): found in the globals the compiling frame runs with, under the name
/// `names[name]`; only its code matters (a straight run of arithmetic on its parameters).
pub struct Callee {
    /// Index of the name in the caller's `co_names`.
    pub name: usize,
    /// The callee's code object (kept alive by the compiled code: the entry compares a
    /// function's `func_code` with this address).
    pub code: Py<PyAny>,
    pub nargs: u32,
    pub nlocals: usize,
    /// (opcode, argument) of each instruction, inline caches skipped, EXTENDED_ARG folded.
    pub instrs: Vec<(u8, u32)>,
    /// Addresses of its constants (alive with `code`).
    pub consts: Vec<usize>,
}

/// Where a call site's callable comes from, for matching it with a [`LeafCallee`]: a global
/// (`LOAD_GLOBAL NULL + name`) or a method (`LOAD_METHOD name`), by the interned name's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKey {
    Global(usize),
    Method(usize),
}

/// A function a call site may inline (`ops::inline`): its body is one expression
/// (`compiler::leaf`). Found at snapshot time, as the global of that name in the globals the
/// compiling frame runs with, or as a method of that name on one of the classes those globals
/// hold. Only its code matters: the call site checks that the callable is a function running it.
pub struct LeafCallee {
    pub key: LeafKey,
    /// The callee's code object (kept alive by the compiled code that inlines it: its address
    /// is compared, and its constants and names are read by address).
    pub code: Py<PyAny>,
    pub qualname: String,
    pub nargs: u32,
    pub body: crate::compiler::leaf::Body,
    /// The code objects of the leaves its body's method calls may run (kept with it).
    pub inner_codes: Vec<Py<PyAny>>,
}

/// Most leaf candidates one method name may have (each is one more check at the call site).
const LEAVES_PER_METHOD: usize = 2;
/// Most classes searched for methods (a module with more keeps the rest uninlined).
const CLASSES_SEARCHED: usize = 200;

/// Everything the code generator needs, taken under the GIL.
pub struct Snapshot {
    pub instrs: Vec<Instr>,
    /// Depth of the value stack before each instruction (None: unreachable by normal flow).
    pub depth: Vec<Option<u32>>,
    pub nlocalsplus: usize,
    pub stacksize: usize,
    /// Address of `co_code_adaptive[0]` (`_PyCode_CODE(co)`).
    pub first_instr: usize,
    /// Borrowed addresses of `co_consts` / `co_names` items.
    pub consts: Vec<usize>,
    pub names: Vec<usize>,
    pub flags: u32,
    pub qualname: String,
    /// Address of `interp->ceval.eval_breaker`.
    pub eval_breaker: usize,
    /// Whether some jump lands on each instruction (fusing two instructions is only allowed
    /// when nothing jumps to the second).
    pub is_target: Vec<bool>,
    /// Global functions a loop kernel may inline (empty unless the compiling frame's globals
    /// were known: `compiler::globals_hint`).
    pub callees: Vec<Callee>,
    /// Functions call sites may inline (empty unless the globals were known).
    pub leaves: Vec<LeafCallee>,
    /// The decoded exception table.
    pub handlers: Vec<Handler>,
}

// SAFETY-free: only addresses as integers; see the module invariants.
impl Snapshot {
    /// Decodes `code` (a code object). GIL held.
    pub fn take(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<Snapshot> {
        let raw = code.getattr("co_code")?;
        let bytes = raw.downcast::<PyBytes>()?.as_bytes().to_vec();
        let consts_t = code.getattr("co_consts")?;
        let consts = consts_t.downcast::<PyTuple>()?.iter().map(|o| o.as_ptr() as usize).collect();
        let names_t = code.getattr("co_names")?;
        let names = names_t.downcast::<PyTuple>()?.iter().map(|o| o.as_ptr() as usize).collect();
        // An argument that is also a cell is one slot (and is listed in both co_varnames and
        // co_cellvars), so read the count CPython sizes the frame with.
        let nlocalsplus = crate::ffi::code_nlocalsplus(code);
        let stacksize: usize = code.getattr("co_stacksize")?.extract()?;
        let flags: u32 = code.getattr("co_flags")?.extract()?;
        let qualname: String = code.getattr("co_qualname")?.extract()?;
        let stack_effect = py.import("dis")?.getattr("stack_effect")?;
        let table = code.getattr("co_exceptiontable")?;
        let handlers = exctable::parse(table.downcast::<PyBytes>()?.as_bytes())
            .map_err(pyo3::exceptions::PyValueError::new_err)?;

        let mut instrs = Vec::new();
        let units = bytes.len() / 2;
        let mut i = 0;
        while i < units {
            let start = i;
            let mut arg: u32 = 0;
            let mut opc = bytes[2 * i];
            arg |= bytes[2 * i + 1] as u32;
            while opc == op::EXTENDED_ARG && i + 1 < units {
                i += 1;
                opc = bytes[2 * i];
                arg = (arg << 8) | bytes[2 * i + 1] as u32;
            }
            let idx = i;
            let next = idx + 1 + op::caches(opc);
            let target = op::jump_target(opc, next, arg);
            let (effect, effect_jump) = if opc == op::CACHE || opc == op::EXTENDED_ARG {
                (0, 0)
            } else {
                let a = if opc >= op::HAVE_ARGUMENT { Some(arg) } else { None };
                let (e, ej) = stack_effects(&stack_effect, opc, a)?;
                // compile.c books the arguments' removal on PRECALL (-oparg) and only the
                // callable on CALL (-1), but at run time the arguments stay on the stack until
                // CALL: use the run-time split (same total).
                match opc {
                    op::PRECALL => (0, 0),
                    // The generator is returned to the caller; the frame resumes after it with
                    // the first sent value (None) pushed by gen_send_ex2.
                    op::RETURN_GENERATOR => (1, 1),
                    op::CALL => (-(arg as i32) - 1, -(arg as i32) - 1),
                    _ => (e, ej),
                }
            };
            instrs.push(Instr { start, idx, op: opc, arg, next, target, effect, effect_jump });
            i = next;
        }
        let first_instr = crate::ffi::code_first_instr(code);
        let mut s = Snapshot {
            instrs,
            depth: Vec::new(),
            nlocalsplus,
            stacksize,
            first_instr,
            consts,
            names,
            flags,
            qualname,
            eval_breaker: crate::ffi::eval_breaker_addr(),
            is_target: Vec::new(),
            handlers,
            callees: Vec::new(),
            leaves: Vec::new(),
        };
        let mut is_target = vec![false; s.instrs.len()];
        for (i, ins) in s.instrs.iter().enumerate() {
            if let Some(n) = ins.target.and_then(|t| s.at_unit(t)) {
                is_target[n] = true;
            }
            // A generator frame is resumed at the instruction after these (compiler::ops::gen).
            if matches!(ins.op, op::YIELD_VALUE | op::RETURN_GENERATOR) && i + 1 < is_target.len() {
                is_target[i + 1] = true;
            }
        }
        s.is_target = is_target;
        s.callees = callees(py, code, &s);
        s.leaves = leaf_callees(py, code, &s);
        s.depth = depths(&s.instrs, units, &s.handlers).map_err(pyo3::exceptions::PyValueError::new_err)?;
        Ok(s)
    }

    /// The exception handler covering instruction unit `unit` (its opcode unit), if any.
    pub fn handler_for(&self, unit: usize) -> Option<Handler> {
        exctable::handler_for(&self.handlers, unit)
    }

    /// Position in `instrs` of the instruction starting at unit `start`.
    pub fn at_unit(&self, start: usize) -> Option<usize> {
        self.instrs.binary_search_by_key(&start, |i| i.start).ok()
    }
}

/// CPython's stack effects (not jumping, jumping) of one instruction, memoized: the same
/// (opcode, oparg) pairs recur across every function, and asking `dis` is a Python call.
fn stack_effects(stack_effect: &Bound<'_, PyAny>, opc: u8, arg: Option<u32>) -> PyResult<(i32, i32)> {
    type Effects = std::collections::HashMap<(u8, Option<u32>), (i32, i32)>;
    static CACHE: parking_lot::Mutex<Option<Effects>> = parking_lot::const_mutex(None);
    if let Some(v) = CACHE.lock().as_ref().and_then(|m| m.get(&(opc, arg)).copied()) {
        return Ok(v);
    }
    let py = stack_effect.py();
    let kw = pyo3::types::PyDict::new(py);
    kw.set_item("jump", false)?;
    let e: i32 = stack_effect.call((opc, arg), Some(&kw))?.extract()?;
    kw.set_item("jump", true)?;
    let ej: i32 = stack_effect.call((opc, arg), Some(&kw))?.extract()?;
    CACHE.lock().get_or_insert_with(Effects::new).insert((opc, arg), (e, ej));
    Ok((e, ej))
}

/// Stack depth before every instruction reachable from unit 0 by normal control flow, or from
/// an instruction that can fail by unwinding to the handler covering it (entered at the
/// handler's depth plus lasti plus the exception).
pub fn depths(instrs: &[Instr], units: usize, handlers: &[Handler]) -> Result<Vec<Option<u32>>, String> {
    let mut pos_of = vec![usize::MAX; units + 1];
    for (n, ins) in instrs.iter().enumerate() {
        pos_of[ins.start] = n;
    }
    let mut depth: Vec<Option<u32>> = vec![None; instrs.len()];
    let mut work = vec![(0usize, 0i64)];
    let mut seeded = vec![false; handlers.len()];
    loop {
        while let Some((unit, d)) = work.pop() {
            let n = *pos_of.get(unit).ok_or("jump out of the code")?;
            if n == usize::MAX {
                return Err(format!("jump into the middle of an instruction at unit {unit}"));
            }
            if d < 0 {
                return Err(format!("negative stack depth at unit {unit}"));
            }
            match depth[n] {
                Some(old) if old as i64 == d => continue,
                Some(old) => return Err(format!("inconsistent stack depth at unit {unit}: {old} vs {d}")),
                None => depth[n] = Some(d as u32),
            }
            let ins = &instrs[n];
            if let Some(t) = ins.target {
                work.push((t, d + ins.effect_jump as i64));
            }
            let falls_through = !op::is_terminator(ins.op);
            if falls_through && ins.next < units {
                work.push((ins.next, d + ins.effect as i64));
            }
        }
        // Handlers whose protected range holds a reachable instruction become reachable.
        for (k, h) in handlers.iter().enumerate() {
            if seeded[k] {
                continue;
            }
            let live = instrs.iter().zip(&depth).any(|(i, d)| d.is_some() && h.start <= i.idx && i.idx < h.end);
            if live {
                seeded[k] = true;
                work.push((h.target, h.entry_depth() as i64));
            }
        }
        if work.is_empty() {
            return Ok(depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(start: usize, opc: u8, arg: u32, effect: i32, effect_jump: i32) -> Instr {
        let next = start + 1 + op::caches(opc);
        Instr { start, idx: start, op: opc, arg, next, target: op::jump_target(opc, next, arg), effect, effect_jump }
    }

    #[test]
    fn depths_follow_both_branches_and_skip_dead_code() {
        // 0 LOAD_FAST; 1 POP_JUMP_FORWARD_IF_FALSE +2 (to 4); 2 LOAD_CONST; 3 RETURN_VALUE;
        // 4 LOAD_CONST; 5 RETURN_VALUE; 6 LOAD_CONST (dead)
        let v = vec![
            ins(0, op::LOAD_FAST, 0, 1, 1),
            ins(1, op::POP_JUMP_FORWARD_IF_FALSE, 2, -1, -1),
            ins(2, op::LOAD_CONST, 0, 1, 1),
            ins(3, op::RETURN_VALUE, 0, -1, -1),
            ins(4, op::LOAD_CONST, 0, 1, 1),
            ins(5, op::RETURN_VALUE, 0, -1, -1),
            ins(6, op::LOAD_CONST, 0, 1, 1),
        ];
        let d = depths(&v, 7, &[]).unwrap();
        assert_eq!(d, vec![Some(0), Some(1), Some(0), Some(1), Some(0), Some(1), None]);
    }

    #[test]
    fn inconsistent_depth_is_an_error() {
        let v = vec![
            ins(0, op::LOAD_FAST, 0, 1, 1),
            ins(1, op::POP_JUMP_FORWARD_IF_FALSE, 1, 0, -1),
            ins(2, op::NOP, 0, 0, 0),
            ins(3, op::RETURN_VALUE, 0, -1, -1),
        ];
        assert!(depths(&v, 4, &[]).is_err());
    }
}

/// The inlining candidates among the globals `code` loads (see [`Callee`]): exact functions of
/// positional parameters only, no cells, not generators, at most 48 code units.
fn callees(py: Python<'_>, code: &Bound<'_, PyAny>, s: &Snapshot) -> Vec<Callee> {
    // Only loop kernels inline, and only code with a `for` loop has them.
    if !s.instrs.iter().any(|i| i.op == op::FOR_ITER) {
        return Vec::new();
    }
    let Some(globals) = crate::ffi::globals_hint_dict(py, crate::compiler::globals_hint()) else { return Vec::new() };
    let Ok(names) = code.getattr("co_names") else { return Vec::new() };
    let Ok(names) = names.downcast::<PyTuple>() else { return Vec::new() };
    let mut out = Vec::new();
    for (k, ins) in s.instrs.iter().enumerate() {
        if ins.op != op::LOAD_GLOBAL || ins.arg & 1 == 0 {
            continue;
        }
        let name = (ins.arg >> 1) as usize;
        if out.iter().any(|c: &Callee| c.name == name) || k + 1 >= s.instrs.len() {
            continue;
        }
        let Ok(key) = names.get_item(name) else { continue };
        let Ok(Some(f)) = globals.get_item(key) else { continue };
        if !f.is_exact_instance_of::<pyo3::types::PyFunction>() {
            continue;
        }
        if let Some(c) = simple_callee(&f, name) {
            out.push(c);
        }
    }
    out
}

fn simple_callee(f: &Bound<'_, PyAny>, name: usize) -> Option<Callee> {
    let (code, nargs, bytes) = small_positional_code(f, 96)?;
    let decoded = decode_small(&bytes);
    // Only what `ops::kernel::inline` can take: loads, stores, constants, arithmetic.
    if !decoded.iter().all(|i| matches!(i.op, op::RESUME | op::NOP | op::LOAD_FAST | op::STORE_FAST | op::LOAD_CONST | op::BINARY_OP | op::RETURN_VALUE)) {
        return None;
    }
    let instrs = decoded.iter().map(|i| (i.op, i.arg)).collect();
    let consts_t = code.getattr("co_consts").ok()?;
    let consts = consts_t.downcast::<PyTuple>().ok()?.iter().map(|o| o.as_ptr() as usize).collect();
    if !may_inline(f.py(), &code) {
        return None;
    }
    let nlocals = crate::ffi::code_nlocalsplus(&code);
    Some(Callee { name, code: code.unbind(), nargs, nlocals, instrs, consts })
}

/// The leaf candidates (see [`LeafCallee`]) for the calls `code` makes of globals and methods.
fn leaf_callees(py: Python<'_>, code: &Bound<'_, PyAny>, s: &Snapshot) -> Vec<LeafCallee> {
    if !s.instrs.iter().any(|i| i.op == op::CALL) {
        return Vec::new();
    }
    let Some(globals) = crate::ffi::globals_hint_dict(py, crate::compiler::globals_hint()) else { return Vec::new() };
    let Ok(names) = code.getattr("co_names") else { return Vec::new() };
    let Ok(names) = names.downcast::<PyTuple>() else { return Vec::new() };
    let classes: Vec<Bound<'_, PyAny>> = if s.instrs.iter().any(|i| i.op == op::LOAD_METHOD) {
        globals.values().iter().filter(|v| v.is_exact_instance_of::<pyo3::types::PyType>()).take(CLASSES_SEARCHED).collect()
    } else {
        Vec::new()
    };
    let d = Discovery {
        py,
        classes,
        globals: globals.clone().into_any(),
        caller: code.as_ptr() as usize,
        not_leaves: Default::default(),
        nested: Default::default(),
    };
    let mut out: Vec<LeafCallee> = Vec::new();
    let mut seen: Vec<LeafKey> = Vec::new();
    for ins in &s.instrs {
        let (key, index) = match ins.op {
            op::LOAD_GLOBAL if ins.arg & 1 == 1 => (LeafKey::Global(s.names[(ins.arg >> 1) as usize]), (ins.arg >> 1) as usize),
            op::LOAD_METHOD => (LeafKey::Method(s.names[ins.arg as usize]), ins.arg as usize),
            _ => continue,
        };
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let Ok(name) = names.get_item(index) else { continue };
        match key {
            LeafKey::Global(_) => {
                let Ok(Some(f)) = globals.get_item(&name) else { continue };
                if let Some(leaf) = d.function_leaf(&f, key, true) {
                    out.push(leaf);
                }
            }
            LeafKey::Method(_) => out.extend(d.method_leaves(&name, key, true)),
        }
    }
    out
}

/// What one compile's search for leaf callees shares.
struct Discovery<'py> {
    py: Python<'py>,
    /// The classes whose methods are candidates (exact `type` instances among the globals).
    classes: Vec<Bound<'py, PyAny>>,
    /// The caller's globals (a leaf may read its globals only if they are these).
    globals: Bound<'py, PyAny>,
    /// The code being compiled: never inlined into itself (its compiled code would then keep
    /// its own code object alive, a cycle no collector sees).
    caller: usize,
    /// Codes already found not to be leaves, with whether as a top-level leaf (each is
    /// analysed once per compile however many classes inherit it).
    not_leaves: std::cell::RefCell<std::collections::HashSet<(usize, bool)>>,
    /// The candidates of method calls inside bodies, by (method name, argument count).
    nested: std::cell::RefCell<std::collections::HashMap<(usize, u32), Vec<(crate::compiler::leaf::Cand, Py<PyAny>)>>>,
}

impl<'py> Discovery<'py> {
    /// The plain functions the classes find for the method `name` that are leaves (at most
    /// [`LEAVES_PER_METHOD`] distinct codes). `top`: a leaf called by the caller itself (its
    /// body may call leaves and read the caller's globals), else one called inside another
    /// leaf's body (neither).
    fn method_leaves(&self, name: &Bound<'py, PyAny>, key: LeafKey, top: bool) -> Vec<LeafCallee> {
        let mut found: Vec<usize> = Vec::new();
        let mut out = Vec::new();
        for cls in &self.classes {
            if found.len() >= LEAVES_PER_METHOD {
                break;
            }
            let Some(f) = crate::ffi::runtime::type_lookup(self.py, cls, name) else { continue };
            // Only a plain function's `__code__` is read: nothing else is asked anything.
            if !f.is_exact_instance_of::<pyo3::types::PyFunction>() {
                continue;
            }
            let Ok(c) = f.getattr("__code__") else { continue };
            if found.contains(&(c.as_ptr() as usize)) {
                continue;
            }
            if let Some(leaf) = self.function_leaf(&f, key, top) {
                found.push(c.as_ptr() as usize);
                out.push(leaf);
            }
        }
        out
    }

    /// [`leaf_of`] for `f`, once per code and kind of use; never the caller itself.
    fn function_leaf(&self, f: &Bound<'py, PyAny>, key: LeafKey, top: bool) -> Option<LeafCallee> {
        if !f.is_exact_instance_of::<pyo3::types::PyFunction>() {
            return None;
        }
        let c = f.getattr("__code__").ok()?.as_ptr() as usize;
        if c == self.caller || self.not_leaves.borrow().contains(&(c, top)) {
            return None;
        }
        let leaf = leaf_of(self, f, key, top);
        if leaf.is_none() {
            self.not_leaves.borrow_mut().insert((c, top));
        }
        leaf
    }

    /// The candidates of a call of method `name` with `n` arguments inside a top-level leaf's
    /// body, with their code objects (to keep).
    fn nested_cands(&self, name: &Bound<'py, PyAny>, n: u32) -> Vec<(crate::compiler::leaf::Cand, Py<PyAny>)> {
        let k = (name.as_ptr() as usize, n);
        if let Some(v) = self.nested.borrow().get(&k) {
            return v.iter().map(|(cand, code)| (cand.clone(), code.clone_ref(self.py))).collect();
        }
        let key = LeafKey::Method(name.as_ptr() as usize);
        let v: Vec<_> = self
            .method_leaves(name, key, false)
            .into_iter()
            .filter(|l| l.nargs == n)
            .map(|l| (crate::compiler::leaf::Cand { code: l.code.as_ptr() as usize, body: Box::new(l.body.expr) }, l.code))
            .collect();
        let copy = v.iter().map(|(cand, code)| (cand.clone(), code.clone_ref(self.py))).collect();
        self.nested.borrow_mut().insert(k, v);
        copy
    }
}

/// Whether psyco may put `code`'s body into other compiled code: what would let it compile
/// `code` itself (not `cannotcompile`, accepted by the user's filter, which this may run).
fn may_inline(py: Python<'_>, code: &Bound<'_, PyAny>) -> bool {
    let Some(rec) = crate::ffi::record(code) else { return false };
    !rec.flags().intersects(crate::queue::Flags::CANNOT) && crate::queue::passes_filter(py, code, rec)
}

/// `f` (a plain function) as a leaf callee, if its body is a leaf expression. `top`: called
/// by the caller itself, so that the methods its body calls are looked for (one level only)
/// and it may read globals if `f.__globals__` is the caller's.
fn leaf_of(d: &Discovery<'_>, f: &Bound<'_, PyAny>, key: LeafKey, top: bool) -> Option<LeafCallee> {
    use crate::compiler::leaf::Cand;
    let (code, nargs, bytes) = small_positional_code(f, 160)?;
    let instrs = decode_small(&bytes);
    let consts: Vec<usize> = code.getattr("co_consts").ok()?.downcast::<PyTuple>().ok()?.iter().map(|o| o.as_ptr() as usize).collect();
    let names_t = code.getattr("co_names").ok()?;
    let names_t = names_t.downcast::<PyTuple>().ok()?;
    let names: Vec<usize> = names_t.iter().map(|o| o.as_ptr() as usize).collect();
    let inner_codes = std::cell::RefCell::new(Vec::new());
    let resolve = |index: usize, n: u32| -> Vec<Cand> {
        let Ok(name) = names_t.get_item(index) else { return Vec::new() };
        if !top {
            return Vec::new();
        }
        let mut cands = Vec::new();
        for (cand, code) in d.nested_cands(&name, n) {
            // Never the code being compiled, even inside another body (see `Discovery::caller`).
            if cand.code != d.caller {
                cands.push(cand);
                inner_codes.borrow_mut().push(code);
            }
        }
        cands
    };
    let own_globals = top && f.getattr("__globals__").is_ok_and(|fg| fg.is(&d.globals));
    let len_name = (own_globals && crate::ffi::call_target_names().0 != 0).then(|| crate::ffi::call_target_names().0);
    let body = crate::compiler::leaf::analyze(&instrs, nargs, &consts, &names, crate::ffi::runtime::const_number, &resolve, len_name)?;
    if !may_inline(f.py(), &code) {
        return None;
    }
    let qualname: String = code.getattr("co_qualname").ok()?.extract().ok()?;
    Some(LeafCallee { key, code: code.unbind(), qualname, nargs, body, inner_codes: inner_codes.into_inner() })
}

/// The instructions of a small callee's `co_code` (EXTENDED_ARG folded, inline caches skipped),
/// for the kernels' and the call sites' inlining.
fn decode_small(bytes: &[u8]) -> Vec<crate::compiler::leaf::Ins> {
    let units = bytes.len() / 2;
    let (mut instrs, mut i) = (Vec::new(), 0);
    while i < units {
        let start = i;
        let mut opc = bytes[2 * i];
        let mut arg = bytes[2 * i + 1] as u32;
        while opc == op::EXTENDED_ARG && i + 1 < units {
            i += 1;
            opc = bytes[2 * i];
            arg = (arg << 8) | bytes[2 * i + 1] as u32;
        }
        instrs.push(crate::compiler::leaf::Ins { op: opc, arg, start, next: i + 1 });
        i += 1 + op::caches(opc);
    }
    instrs
}

/// The code of the plain function `f` (with its parameter count and bytecode) if it takes
/// positional parameters only and has at most `max_bytes` of bytecode: no `*args`/`**kwargs`
/// or keyword-only parameters, not a generator or coroutine, no cells. The compile-time
/// `__future__` flags and CO_NESTED change nothing at run time and are accepted.
fn small_positional_code<'py>(f: &Bound<'py, PyAny>, max_bytes: usize) -> Option<(Bound<'py, PyAny>, u32, Vec<u8>)> {
    const CO_OPTIMIZED: u32 = 0x1;
    const CO_NEWLOCALS: u32 = 0x2;
    const REFUSED: u32 = 0x4 | 0x8 | 0x20 | 0x80 | 0x100 | 0x200;
    let code = f.getattr("__code__").ok()?;
    let flags: u32 = code.getattr("co_flags").ok()?.extract().ok()?;
    if flags & (CO_OPTIMIZED | CO_NEWLOCALS) != CO_OPTIMIZED | CO_NEWLOCALS || flags & REFUSED != 0 {
        return None;
    }
    let nargs: u32 = code.getattr("co_argcount").ok()?.extract().ok()?;
    let kwonly: u32 = code.getattr("co_kwonlyargcount").ok()?.extract().ok()?;
    let ncells = code.getattr("co_cellvars").ok()?.len().ok()? + code.getattr("co_freevars").ok()?.len().ok()?;
    if kwonly != 0 || ncells != 0 {
        return None;
    }
    let bytes = code.getattr("co_code").ok()?.downcast::<PyBytes>().ok()?.as_bytes().to_vec();
    if bytes.len() > max_bytes {
        return None;
    }
    Some((code, nargs, bytes))
}
