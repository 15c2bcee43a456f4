//! The compiler room's front door: what the engine (`src/queue`) asks of the compiler and what
//! it gets back. The engine hands over a code object (GIL held) and receives an [`Outcome`];
//! the compiler snapshots what it needs under the GIL ([`bytecode::Snapshot`]), generates code
//! without it ([`generate`]), and installs the entry in the code's record (`CodeRecord::entry`)
//! where the frame-evaluation hook finds it.
//!
//! This is the baseline tier (DESIGN.md §3.1): one template per opcode, the value stack kept in
//! the frame, every unsupported case a deopt exit into `_PyEval_EvalFrameDefault`.
//!
//! # Invariants
//! - `compile` never raises and never leaves a Python error set: a code object the compiler
//!   cannot handle is an `Outcome::Failed` with a reason, and keeps running in the interpreter.
//! - `compile` is only called once per code object (the engine's SELECTED flag guarantees it).
//! - The machine code (and everything it points to) lives in `CodeRecord::compiled`, which is
//!   freed only with the code object, so a running frame never loses its code.

pub mod bytecode;
pub mod emit;
pub mod exctable;
pub mod hook;
pub mod leaf;
pub mod opcodes;
pub mod ops;
pub mod osr;

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::queue::CodeRecord;
use crate::x86::ExecBuffer;
use bytecode::Snapshot;
use emit::{Emitter, GuardKind};

/// The compiler's verdict on one code object.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Machine code installed; `code_bytes` counts toward the `memory=` limits.
    Compiled { code_bytes: usize },
    /// Cannot (ever) be compiled; runs in the interpreter. The reason goes to the log.
    Failed(String),
    /// Accepted but not compiled yet (kept for engines that defer; the baseline never does).
    #[allow(dead_code)]
    Pending(String),
}

/// Machine code of one code object plus what the dump needs.
pub struct Compiled {
    pub buf: ExecBuffer,
    /// (code offset, bytecode marker) pairs.
    pub marks: Vec<(usize, emit::Mark)>,
    /// (bytecode unit, exit kind) for every exit to the interpreter.
    pub guards: Vec<(usize, GuardKind)>,
    pub qualname: String,
    /// LOAD_GLOBAL memos the machine code writes to (kept alive with it).
    pub _memos: Box<[crate::ffi::runtime::GlobalMemo]>,
    /// Attribute inline caches the machine code points into (kept alive with it).
    pub _attr_caches: Box<[crate::ffi::runtime::AttrCache]>,
    /// Loop-kernel counters the machine code writes to (kept alive with it).
    pub _kernel_counters: Vec<Box<[std::sync::atomic::AtomicU64]>>,
    /// Code objects of functions loop kernels may have inlined (their addresses are compared).
    pub _inlined: Vec<Py<PyAny>>,
    /// Where and how a running frame may switch into this code (see `osr`).
    pub switch: Option<osr::SwitchInfo>,
}

impl Drop for Compiled {
    /// The code object died (its record is being freed): its machine code no longer counts as
    /// psyco's memory (`memorymax=`, `stats()["code_bytes"]`).
    fn drop(&mut self) {
        crate::queue::add_memory(-(self.buf.len() as isize));
    }
}

const CO_GENERATOR: u32 = 0x20;
const CO_COROUTINE: u32 = 0x80;
const CO_ITERABLE_COROUTINE: u32 = 0x100;
const CO_ASYNC_GENERATOR: u32 = 0x200;

/// `gi_frame_state` seen from a generator's frame on 3.11.7 x86-64 (checked against the headers
/// before generator code is compiled).
const GEN_FRAME_STATE_DELTA: i32 = -5;

/// Code whose calls create a generator, coroutine or async generator.
pub fn is_generator_code(flags: u32) -> bool {
    flags & (CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR) != 0
}

static TABLES: OnceLock<Result<(), String>> = OnceLock::new();

/// Time spent compiling, in nanoseconds: all of it, and the longest stretch one compilation
/// held the GIL (snapshot + install; generation runs without it). Reported by `stats()`.
static COMPILE_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static MAX_GIL_PAUSE_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// CPU time the compiling threads spent compiling (their own clock: waiting for the GIL
/// between generation and installation is not counted, which COMPILE_NS counts).
static COMPILE_CPU_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// (seconds spent compiling in total (elapsed), longest GIL-held stretch of one compilation,
/// CPU seconds the compiler itself used), all in seconds.
pub fn compile_times() -> (f64, f64, f64) {
    (
        COMPILE_NS.load(Ordering::Relaxed) as f64 * 1e-9,
        MAX_GIL_PAUSE_NS.load(Ordering::Relaxed) as f64 * 1e-9,
        COMPILE_CPU_NS.load(Ordering::Relaxed) as f64 * 1e-9,
    )
}

thread_local! {
    /// Set while this thread runs the compiler: the snapshot may run Python code (imports of
    /// `dis`/`opcode`), whose frames must simply be interpreted, not compiled re-entrantly.
    static COMPILING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

thread_local! {
    /// The globals of the frame whose call is being compiled now (0: unknown, as on the worker
    /// thread). Only a hint for inlining small global functions into loop kernels: what the
    /// machine code relies on is checked when it runs.
    static GLOBALS_HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with `globals` (a borrowed dict pointer that outlives the call) as the hint.
pub fn with_globals_hint<R>(globals: usize, f: impl FnOnce() -> R) -> R {
    let was = GLOBALS_HINT.with(|g| g.replace(globals));
    let r = f();
    GLOBALS_HINT.with(|g| g.set(was));
    r
}

/// See [`with_globals_hint`].
pub fn globals_hint() -> usize {
    GLOBALS_HINT.with(|g| g.get())
}

/// Checks the opcode tables against the running interpreter now and imports `dis`, so that
/// the compiler thread's first job does not run an import: Python code there competes for the
/// GIL with the user's threads and delayed the first compile by half a second.
pub fn prepare(py: Python<'_>) {
    if crate::queue::native_status().is_ok() && TABLES.get().is_none() {
        let r = opcodes::verify(py);
        let _ = TABLES.set(r);
        // Snapshot::take uses dis.stack_effect.
        let _ = py.import("dis");
    }
}

/// How machine code pushes frames for positional calls of this code (`ops::call`), the shape
/// `psyco_call_py` (csrc/calls.c) takes without defaults: (parameter count, local slots, frame
/// bytes), or None for code whose frames are not pushed that way — *args/**kwargs or
/// keyword-only parameters, generators and coroutines, or no CO_OPTIMIZED.
fn direct_shape(code: &Bound<'_, PyAny>, snap: &Snapshot) -> Option<(i32, i32, u64)> {
    const CO_OPTIMIZED: u32 = 0x1;
    const CO_VARARGS: u32 = 0x4;
    const CO_VARKEYWORDS: u32 = 0x8;
    if snap.flags & (CO_VARARGS | CO_VARKEYWORDS) != 0 || snap.flags & CO_OPTIMIZED == 0 || is_generator_code(snap.flags) {
        return None;
    }
    let argcount: i32 = code.getattr("co_argcount").ok()?.extract().ok()?;
    let kwonly: i32 = code.getattr("co_kwonlyargcount").ok()?.extract().ok()?;
    if kwonly != 0 {
        return None;
    }
    let specials = (crate::ffi::expected::SIZEOF_INTERPRETER_FRAME as usize - 1) / 8;
    let words = snap.nlocalsplus + snap.stacksize + specials;
    Some((argcount, snap.nlocalsplus as i32, (words * 8) as u64))
}

/// True while the current thread is inside [`compile`].
pub fn is_compiling() -> bool {
    COMPILING.with(|c| c.get())
}

/// Compiles `code` and installs the result. GIL held on entry and exit.
pub fn compile(py: Python<'_>, code: &Bound<'_, PyAny>, rec: &CodeRecord) -> Outcome {
    let was = COMPILING.with(|c| c.replace(true));
    let outcome = compile_inner(py, code, rec);
    COMPILING.with(|c| c.set(was));
    outcome
}

fn compile_inner(py: Python<'_>, code: &Bound<'_, PyAny>, rec: &CodeRecord) -> Outcome {
    // The full reason is logged once when the log opens; each function just says this.
    if crate::queue::native_status().is_err() {
        return Outcome::Failed("interpreter-only on this platform".into());
    }
    // Not get_or_init: verify() imports `opcode`, and nothing may block under the GIL.
    if TABLES.get().is_none() {
        let r = opcodes::verify(py);
        let _ = TABLES.set(r);
    }
    if let Some(Err(why)) = TABLES.get() {
        return Outcome::Failed(format!("opcode table mismatch: {why}"));
    }
    let t0 = std::time::Instant::now();
    let cpu0 = crate::ffi::thread_cpu_ns();
    let snap = match Snapshot::take(py, code) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("cannot decode bytecode: {e}")),
    };
    let snapshot_ns = t0.elapsed().as_nanos() as u64;
    let shape = direct_shape(code, &snap);
    // Before generation, which runs without the GIL: the stub lives in the code arena.
    ops::call::make_frame_push_stub();
    if is_generator_code(snap.flags) && crate::ffi::runtime_gen::gen_frame_state_delta() != GEN_FRAME_STATE_DELTA {
        return Outcome::Failed("unexpected PyGenObject layout: generators run in the interpreter".into());
    }
    // A bug in a template must not take the user's program down: the function then simply
    // stays interpreted (the panic message is printed once, as Rust prints any).
    let generated = match py.allow_threads(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| generate(&snap)))) {
        Ok(Ok(c)) => c,
        Ok(Err(why)) => return Outcome::Failed(why),
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            return Outcome::Failed(format!("internal compiler error: {}", what.unwrap_or_default()));
        }
    };
    // Placing code in the shared arena flips page protections: only under the GIL.
    let t1 = std::time::Instant::now();
    let installed = generated.install();
    let pause = snapshot_ns + t1.elapsed().as_nanos() as u64;
    COMPILE_NS.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    COMPILE_CPU_NS.fetch_add(crate::ffi::thread_cpu_ns().saturating_sub(cpu0), Ordering::Relaxed);
    MAX_GIL_PAUSE_NS.fetch_max(pause, Ordering::Relaxed);
    // Only the code objects actually inlined are kept (their addresses are compared): holding
    // any other global function's code could close a cycle through records, invisible to the
    // garbage collector (a function that calls itself).
    let installed = installed.map(|(mut c, inlined, leaves)| {
        c._inlined = snap.callees.into_iter().enumerate().filter(|(k, _)| inlined.contains(k)).map(|(_, c)| c.code).collect();
        for (_, leaf) in snap.leaves.into_iter().enumerate().filter(|(k, _)| leaves.contains(k)) {
            c._inlined.push(leaf.code);
            c._inlined.extend(leaf.inner_codes);
        }
        c
    });
    let compiled = match installed {
        Ok(c) => c,
        Err(why) => return Outcome::Failed(why),
    };
    let code_bytes = compiled.buf.len();
    let entry = compiled.buf.addr();
    crate::x86::perf_map_note(entry, code_bytes, || {
        let file: String = code.getattr("co_filename").and_then(|f| f.extract()).unwrap_or_default();
        let line: i64 = code.getattr("co_firstlineno").and_then(|f| f.extract()).unwrap_or_default();
        format!("py::{}:{file}:{line}", compiled.qualname)
    });
    *rec.compiled.lock() = Some(Box::new(compiled));
    if let Some((argcount, nlocalsplus, bytes)) = shape {
        rec.direct_nlocalsplus.store(nlocalsplus, Ordering::Relaxed);
        rec.direct_frame_bytes.store(bytes, Ordering::Relaxed);
        rec.direct_argcount.store(argcount, Ordering::Release);
    }
    rec.entry.store(entry as *mut std::ffi::c_void, Ordering::Release);
    // Compiled code is entered through the frame-evaluation hook (also in profile()/background()).
    hook::ensure_installed(py);
    Outcome::Compiled { code_bytes }
}

/// Generates machine code for a snapshot (no GIL needed).
pub fn generate(snap: &Snapshot) -> Result<Generated, String> {
    let mut e = Emitter::new(snap);
    e.prologue();
    if is_generator_code(snap.flags) {
        ops::gen::emit_resume_dispatch(&mut e);
    }
    for n in 0..snap.instrs.len() {
        let Some(d) = snap.depth[n] else { continue };
        let ins = &snap.instrs[n];
        // Every slot the code touches must lie inside the frame CPython allocated.
        if d as usize > snap.stacksize {
            return Err(format!("stack depth {d} exceeds co_stacksize {}", snap.stacksize));
        }
        if ins.op == opcodes::RETURN_VALUE && d != 1 {
            return Err(format!("RETURN_VALUE at depth {d}"));
        }
        let l = e.labels[n];
        {
            use dynasmrt::DynasmLabelApi;
            e.ops.dynamic_label(l);
        }
        e.mark_instr(n);
        if e.borrowed_top.is_some() && (e.borrowed_top != Some(n) || e.fused_next) {
            return Err(format!("internal: instruction {n} does not take the operand borrowed for it"));
        }
        if std::mem::take(&mut e.fused_next) {
            continue; // emitted with the instruction before it
        }
        if ins.op == opcodes::FOR_ITER {
            ops::kernel::try_kernel(&mut e, n, d);
        }
        // An instruction whose operand is still in rax (not in its slot) starts no fused run.
        let top_borrowed = e.borrowed_top == Some(n);
        if n >= e.fuse_until && !top_borrowed {
            // Both fast paths may apply (`a * b + 1.0` or `i * j + 1`: the leaves' types are
            // only known at run time): each falls through to the next, then to the ordinary code.
            // The one tried first is the likelier: int when the expression's constants are ints
            // (`self.count += 1`), float otherwise.
            type TryRun = fn(&mut Emitter, usize, u32) -> Option<usize>;
            let float: (TryRun, &str) = (ops::fuse::try_float_run, "float");
            let int: (TryRun, &str) = (ops::fuse_int::try_int_run, "int");
            let order = if ops::fuse_int::constants_say_int(&e, n) { [int, float] } else { [float, int] };
            for (try_run, kind) in order {
                if let Some(last) = try_run(&mut e, n, d) {
                    e.mark(format!("     (fused {kind} expression up to offset {})", snap.instrs[last].start * 2));
                    e.fuse_until = e.fuse_until.max(last + 1);
                    e.side_entries.push(last + 1);
                }
            }
        }
        ops::emit_instr(&mut e, n, d);
        if e.borrowed_top.is_some_and(|m| m != n + 1) {
            return Err(format!("internal: the operand borrowed for instruction {} was not consumed there", n));
        }
    }
    // Code that falls off the end cannot happen (the compiler ends with RETURN_VALUE or a
    // jump); guard against it anyway.
    {
        use dynasmrt::dynasm;
        emit::asm!(e ; ud2);
    }
    let switch = osr::emit_entry(&mut e);
    e.finish();
    let marks = std::mem::take(&mut e.marks);
    let guards = e.guards.iter().map(|(n, k)| (snap.instrs[*n].idx, *k)).collect();
    let memos = std::mem::take(&mut e.global_memos);
    let attr_caches = std::mem::take(&mut e.attr_caches);
    let kernel_counters = std::mem::take(&mut e.kernel_counters);
    let inlined = std::mem::take(&mut e.inlined);
    let inlined_leaves = std::mem::take(&mut e.inlined_leaves);
    let switch = match switch {
        Some((label, pts)) => {
            let at = e.ops.labels().resolve_dynamic(label).map_err(|err| format!("assembler: {err:?}"))?;
            let return_unit = osr::return_unit(snap).expect("points imply a RETURN_VALUE") as u32;
            let points = pts.iter().map(|p| (p.unit as u32, p.depth)).collect();
            Some(osr::SwitchInfo { entry_offset: at.0, points, return_unit })
        }
        None => None,
    };
    let bytes = e.ops.finalize().map_err(|err| format!("assembler: {err:?}"))?;
    Ok(Generated { bytes, marks, guards, qualname: snap.qualname.clone(), memos, attr_caches, kernel_counters, inlined, inlined_leaves, switch })
}

/// Machine code generated but not yet placed in executable memory.
pub struct Generated {
    pub bytes: Vec<u8>,
    /// LOAD_GLOBAL memos the code points into.
    pub memos: Box<[crate::ffi::runtime::GlobalMemo]>,
    /// Attribute inline caches the code points into.
    pub attr_caches: Box<[crate::ffi::runtime::AttrCache]>,
    /// Loop-kernel counters the code writes to.
    pub kernel_counters: Vec<Box<[std::sync::atomic::AtomicU64]>>,
    /// Indexes in `Snapshot::callees` of the functions the code inlined.
    pub inlined: Vec<usize>,
    /// Indexes in `Snapshot::leaves` of the functions its call sites inlined.
    pub inlined_leaves: Vec<usize>,
    /// Where and how a running frame may switch into this code (see `osr`).
    pub switch: Option<osr::SwitchInfo>,
    pub marks: Vec<(usize, emit::Mark)>,
    pub guards: Vec<(usize, GuardKind)>,
    pub qualname: String,
}

impl Generated {
    /// Copies the code into the executable arena (GIL held: see `x86`).
    /// Also returns which of the snapshot's callees and leaves the code inlined (their code
    /// objects must be kept with it).
    pub fn install(self) -> Result<(Compiled, Vec<usize>, Vec<usize>), String> {
        let mut buf = ExecBuffer::new(&self.bytes).map_err(|err| format!("executable memory: {err}"))?;
        // The description is only true of code that starts with the standard prologue.
        if self.bytes.starts_with(&emit::PROLOGUE_BYTES) {
            buf.describe_frame(&Emitter::PROLOGUE_UNWIND);
        }
        let compiled = Compiled {
            buf,
            marks: self.marks,
            guards: self.guards,
            qualname: self.qualname,
            _memos: self.memos,
            _attr_caches: self.attr_caches,
            _kernel_counters: self.kernel_counters,
            _inlined: Vec::new(),
            switch: self.switch,
        };
        Ok((compiled, self.inlined, self.inlined_leaves))
    }
}

/// A readable dump of the machine code of `code`: disassembly with bytecode markers, then the
/// exits to the interpreter. None if the code is not compiled.
pub fn dump(code: &Bound<'_, PyAny>) -> Option<String> {
    let rec = crate::ffi::existing_record(code)?;
    let guard = rec.compiled.lock();
    let c = guard.as_ref()?.downcast_ref::<Compiled>()?;
    let mut out = format!("{} ({} bytes at {:#x})\n", c.qualname, c.buf.len(), c.buf.addr());
    let marks: Vec<(usize, String)> = c.marks.iter().map(|(o, m)| (*o, m.text())).collect();
    out.push_str(&crate::x86::disassemble(c.buf.bytes(), c.buf.addr() as u64, &marks));
    out.push_str("exits to the interpreter:\n");
    let mut g = c.guards.clone();
    g.sort_by_key(|&(unit, kind)| (unit, kind as u8));
    g.dedup();
    for (unit, kind) in g {
        out.push_str(&format!("    at offset {:>4}: {:?}\n", unit * 2, kind));
    }
    Some(out)
}

/// full() became the running profiler: every code object is to be compiled at its first call,
/// which needs the frame-evaluation hook.
pub fn on_full_mode(py: Python<'_>) {
    hook::ensure_installed(py);
}

/// bind()/proxy() marked a code object: it is compiled at its next call.
pub fn on_bind(py: Python<'_>) {
    hook::ensure_installed(py);
}

/// unbind(): the code runs in the interpreter from its next call. The machine code stays
/// allocated until the code object dies (a frame may still be running it).
pub fn uninstall(_code: &Bound<'_, PyAny>, rec: &CodeRecord) {
    rec.entry.store(std::ptr::null_mut(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::types::PyDict;

    fn code_of(py: Python<'_>, src: &std::ffi::CStr, name: &str) -> Py<PyAny> {
        let ns = PyDict::new(py);
        py.run(src, None, Some(&ns)).unwrap();
        ns.get_item(name).unwrap().unwrap().getattr("__code__").unwrap().unbind()
    }

    #[test]
    fn snapshot_depths_and_exits() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let code = code_of(py, c"def f(a, b):\n    import os\n    return [a + b, a < b]\n", "f");
            let snap = Snapshot::take(py, code.bind(py)).unwrap();
            // Every instruction is reachable here and RETURN_VALUE sees exactly its value.
            assert!(snap.depth.iter().all(|d| d.is_some()));
            let ret = snap.instrs.iter().position(|i| i.op == opcodes::RETURN_VALUE).unwrap();
            assert_eq!(snap.depth[ret], Some(1));
            let c = {
                let _g = crate::x86::TEST_EXEC_LOCK.lock();
                generate(&snap).unwrap().install().unwrap().0
            };
            let import_unit = snap.instrs.iter().find(|i| i.op == opcodes::IMPORT_NAME).unwrap().idx;
            // IMPORT_NAME has a native template now: no exit recorded at it.
            assert!(!c.guards.iter().any(|(u, _)| *u == import_unit));
            // BINARY_OP and COMPARE_OP are native: no exit recorded at them.
            for i in snap.instrs.iter().filter(|i| matches!(i.op, opcodes::BINARY_OP | opcodes::COMPARE_OP)) {
                assert!(!c.guards.iter().any(|(u, k)| *u == i.idx && *k == GuardKind::Unsupported));
            }
            let marks: Vec<(usize, String)> = c.marks.iter().map(|(o, m)| (*o, m.text())).collect();
            let text = crate::x86::disassemble(c.buf.bytes(), c.buf.addr() as u64, &marks);
            assert!(text.contains("BINARY_OP") && text.contains("epilogue") && text.contains("ret"));
        });
    }

    #[test]
    fn call_arguments_stay_on_the_stack_until_call() {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let code = code_of(py, c"def g(x):\n    return len(x)\n", "g");
            let snap = Snapshot::take(py, code.bind(py)).unwrap();
            let pos = |op| snap.instrs.iter().position(|i| i.op == op).unwrap();
            // NULL, len, x are all still there at CALL.
            assert_eq!(snap.depth[pos(opcodes::PRECALL)], Some(3));
            assert_eq!(snap.depth[pos(opcodes::CALL)], Some(3));
            assert_eq!(snap.depth[pos(opcodes::RETURN_VALUE)], Some(1));
        });
    }
}
