//! psyco's Rust core, the extension module `psyco._psyco`. The public API is the thin Python
//! package in `python/psyco`; everything it does lands here.
//!
//! Rooms: `ffi` (all CPython internals and `unsafe`), `charges` (decaying charge arithmetic),
//! `sampler` (poll thread), `queue` (profiler chain, records, scheduler, worker), `compiler`
//! (bytecode → machine code, the frame-evaluation hook policy), `x86` (assembler, executable
//! memory), `log` (the grep-able log and JSON lines), `error` (Python exceptions).

// Portable builds (not CPython 3.11 on x86-64 Linux) compile the native pieces but never use them.
#![cfg_attr(not(psyco_native), allow(dead_code))]

mod charges;
mod compiler;
mod error;
mod ffi;
mod log;
mod queue;
mod sampler;
mod x86;

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use error::{PsycoError, Result};
use queue::{Flags, Kind, Limits, Params, Spec};

fn code_of(obj: &Bound<'_, PyAny>) -> Result<()> {
    let py = obj.py();
    let code_type = py.import("types")?.getattr("CodeType")?;
    if obj.is_instance(&code_type)? {
        Ok(())
    } else {
        Err(PsycoError::Type(format!("expected a code object, got {}", obj.get_type().name()?)))
    }
}

fn opt_nonneg(name: &str, v: Option<&Bound<'_, PyAny>>) -> Result<Option<f64>> {
    let Some(v) = v else { return Ok(None) };
    if v.is_none() {
        return Ok(None);
    }
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PsycoError::Type(format!("{name} must be a number or None, not bool")));
    }
    let x: f64 = v
        .extract()
        .map_err(|_| PsycoError::Type(format!("{name} must be a number or None, not {}", v.get_type().name().map(|n| n.to_string()).unwrap_or_default())))?;
    if !x.is_finite() || x < 0.0 {
        return Err(PsycoError::Value(format!("{name} must be a finite number >= 0, got {x}")));
    }
    Ok(Some(x))
}

fn number(name: &str, v: &Bound<'_, PyAny>) -> Result<f64> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PsycoError::Type(format!("{name} must be a number, not bool")));
    }
    let x: f64 = v.extract().map_err(|_| {
        PsycoError::Type(format!("{name} must be a number, not {}", v.get_type().name().map(|n| n.to_string()).unwrap_or_default()))
    })?;
    if !x.is_finite() {
        return Err(PsycoError::Value(format!("{name} must be finite, got {x}")));
    }
    Ok(x)
}

/// Queues a profiler. `kind` is one of full/profile/background/runonly.
#[pyfunction]
#[pyo3(signature = (kind, watermark, halflife, pollfreq, parentframe, memory=None, time=None, memorymax=None, timemax=None))]
#[allow(clippy::too_many_arguments)]
fn push_profiler(
    py: Python<'_>,
    kind: &str,
    watermark: &Bound<'_, PyAny>,
    halflife: &Bound<'_, PyAny>,
    pollfreq: &Bound<'_, PyAny>,
    parentframe: &Bound<'_, PyAny>,
    memory: Option<&Bound<'_, PyAny>>,
    time: Option<&Bound<'_, PyAny>>,
    memorymax: Option<&Bound<'_, PyAny>>,
    timemax: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let kind = match kind {
        "full" => Kind::Full,
        "profile" => Kind::Profile,
        "background" => Kind::Background,
        "runonly" => Kind::RunOnly,
        other => return Err(PsycoError::Value(format!("unknown profiler kind {other:?}")).into()),
    };
    let params = Params {
        watermark: number("watermark", watermark)?,
        halflife: number("halflife", halflife)?,
        pollfreq: number("pollfreq", pollfreq)?,
        parentframe: number("parentframe", parentframe)?,
    };
    if !(0.0..=1.0).contains(&params.watermark) {
        return Err(PsycoError::Value(format!("watermark must be between 0.0 and 1.0, got {}", params.watermark)).into());
    }
    if params.halflife <= 0.0 {
        return Err(PsycoError::Value(format!("halflife must be > 0 seconds, got {}", params.halflife)).into());
    }
    if !(params.pollfreq > 0.0 && params.pollfreq <= 10_000.0) {
        return Err(PsycoError::Value(format!("pollfreq must be in (0, 10000] per second, got {}", params.pollfreq)).into());
    }
    if !(0.0..1.0).contains(&params.parentframe) {
        return Err(PsycoError::Value(format!("parentframe must be in [0.0, 1.0), got {}", params.parentframe)).into());
    }
    let limits = Limits {
        memory: opt_nonneg("memory", memory)?,
        time: opt_nonneg("time", time)?,
        memorymax: opt_nonneg("memorymax", memorymax)?,
        timemax: opt_nonneg("timemax", timemax)?,
    };
    queue::push(py, Spec { kind, params, limits, queued_at: Instant::now() });
    Ok(())
}

/// Stops every profiler and purges the queue; compiled code keeps running.
#[pyfunction]
fn stop(py: Python<'_>) {
    queue::stop(py);
}

/// os.register_at_fork(after_in_child=...): see queue::after_fork_child.
#[pyfunction]
fn after_fork_child(py: Python<'_>) {
    queue::after_fork_child(py);
}

/// Called at interpreter exit (atexit): joins psyco's threads, closes the log.
#[pyfunction]
fn shutdown(py: Python<'_>) {
    queue::shutdown(py);
}

/// Marks a code object for compilation at its next call (bind); `rec` levels of callees too.
#[pyfunction]
fn bind_code(py: Python<'_>, code: &Bound<'_, PyAny>, rec: i32) -> PyResult<()> {
    code_of(code)?;
    let r = ffi::record(code).ok_or_else(|| PsycoError::Psyco("cannot attach psyco data to this code object".into()))?;
    if r.flags().contains(Flags::CANNOT) {
        return Ok(());
    }
    r.set(Flags::BOUND);
    r.set_rec(rec);
    compiler::on_bind(py);
    Ok(())
}

/// Cancels bind: the code runs in the interpreter again from its next call.
#[pyfunction]
fn unbind_code(code: &Bound<'_, PyAny>) -> PyResult<()> {
    code_of(code)?;
    if let Some(r) = ffi::existing_record(code) {
        r.clear(Flags::BOUND);
        compiler::uninstall(code, r);
    }
    Ok(())
}

/// Never compile this code object; psyco.error if it is already compiled or being compiled.
#[pyfunction]
fn cannotcompile_code(code: &Bound<'_, PyAny>) -> PyResult<()> {
    code_of(code)?;
    let r = ffi::record(code).ok_or_else(|| PsycoError::Psyco("cannot attach psyco data to this code object".into()))?;
    let f = r.flags();
    if f.intersects(Flags::SELECTED) && !f.intersects(Flags::FAILED) {
        let (name, _, _) = queue::code_location(code);
        return Err(PsycoError::Psyco(format!("{name} is already being compiled by psyco")).into());
    }
    r.set(Flags::CANNOT);
    r.clear(Flags::BOUND);
    Ok(())
}

/// Records that `copy` is a proxy of `original` and binds it.
#[pyfunction]
fn mark_proxy(py: Python<'_>, copy: &Bound<'_, PyAny>, original: &Bound<'_, PyAny>, rec: i32) -> PyResult<()> {
    code_of(copy)?;
    code_of(original)?;
    let r = ffi::record(copy).ok_or_else(|| PsycoError::Psyco("cannot attach psyco data to this code object".into()))?;
    r.set_proxy_of(original.clone().unbind());
    r.set(Flags::BOUND);
    r.set_rec(rec);
    compiler::on_bind(py);
    Ok(())
}

/// The original code of a proxy copy, or None.
#[pyfunction]
fn proxy_original(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
    code_of(code)?;
    Ok(ffi::existing_record(code).and_then(|r| r.proxy_of(py)))
}

/// Installs a filter (or None); returns the previous one.
#[pyfunction]
fn setfilter(func: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
    if !func.is_none() && !func.is_callable() {
        return Err(PsycoError::Type(format!(
            "setfilter() expects a callable or None, not {}",
            func.get_type().name()?
        ))
        .into());
    }
    let new = if func.is_none() { None } else { Some(func.clone().unbind()) };
    Ok(queue::set_filter(new))
}

/// Opens the log file (mode "w" or "a"), with an optional JSON-lines file.
#[pyfunction]
#[pyo3(signature = (path, mode, top, json=None))]
fn log_open(path: &str, mode: &str, top: usize, json: Option<&str>) -> PyResult<()> {
    let append = match mode {
        "w" => false,
        "a" => true,
        other => return Err(PsycoError::Value(format!("log mode must be 'w' or 'a', not {other:?}")).into()),
    };
    log::open(path, append, top, json).map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{path}: {e}")))?;
    if let Err(why) = queue::native_status() {
        log::event("interpreter_only", 4, &why, &[]);
    }
    Ok(())
}

/// Writes one event from the Python side of psyco.
#[pyfunction]
#[pyo3(signature = (msg, importance=1, kind="message"))]
fn log_event(msg: &str, importance: usize, kind: &str) {
    log::event(kind, importance.min(40), msg, &[]);
}

/// Writes a charge dump now (top `n`).
#[pyfunction]
fn dump_charges(py: Python<'_>, n: usize) {
    let rows = queue::top_rows(py, n);
    log::dump(&rows);
}

/// (ok, reason): whether machine code can be generated on this interpreter.
#[pyfunction]
fn native_status() -> (bool, String) {
    match queue::native_status() {
        Ok(()) => (true, "CPython 3.11.7 on x86-64 Linux: native compilation available".into()),
        Err(w) => (false, w),
    }
}

/// Whether `code` runs compiled code now.
#[pyfunction]
fn is_compiled_code(code: &Bound<'_, PyAny>) -> PyResult<bool> {
    code_of(code)?;
    Ok(ffi::existing_record(code).is_some_and(|r| r.is_compiled()))
}

/// Whether calls of the function `func` skip `_PyEval_Vector` and the frame hook (its
/// vectorcall slot is psyco's direct path, given once its code ran compiled).
#[pyfunction]
fn direct_vectorcall(func: &Bound<'_, PyAny>) -> bool {
    ffi::function_adopted(func)
}

/// The psyco state of a code object as a list of flag names.
#[pyfunction]
fn code_state(code: &Bound<'_, PyAny>) -> PyResult<Vec<&'static str>> {
    code_of(code)?;
    let mut out = Vec::new();
    if let Some(r) = ffi::existing_record(code) {
        let f = r.flags();
        for (flag, name) in [
            (Flags::BOUND, "bound"),
            (Flags::CANNOT, "cannotcompile"),
            (Flags::PROXY, "proxy"),
            (Flags::SELECTED, "selected"),
            (Flags::COMPILED, "compiled"),
            (Flags::FAILED, "failed"),
            (Flags::FILTERED, "filtered"),
            (Flags::PENDING, "pending"),
        ] {
            if f.contains(flag) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// Why a code object failed to compile or is pending (None otherwise), and its bind depth.
#[pyfunction]
fn code_info(code: &Bound<'_, PyAny>) -> PyResult<(Option<String>, i32)> {
    code_of(code)?;
    Ok(ffi::existing_record(code).map_or((None, 0), |r| (r.reason.lock().clone(), r.rec())))
}

fn spec_dict<'py>(py: Python<'py>, s: &Spec) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kind", s.kind.name())?;
    if matches!(s.kind, Kind::Profile | Kind::Background) {
        d.set_item("watermark", s.params.watermark)?;
        d.set_item("halflife", s.params.halflife)?;
        d.set_item("pollfreq", s.params.pollfreq)?;
        d.set_item("parentframe", s.params.parentframe)?;
    }
    d.set_item("memory", s.limits.memory)?;
    d.set_item("time", s.limits.time)?;
    d.set_item("memorymax", s.limits.memorymax)?;
    d.set_item("timemax", s.limits.timemax)?;
    Ok(d)
}

/// Everything psyco knows about its own state, as a dict.
#[pyfunction]
#[pyo3(signature = (top=10))]
fn stats(py: Python<'_>, top: usize) -> PyResult<Py<PyDict>> {
    let s = queue::snapshot();
    let d = PyDict::new(py);
    let (native, why) = native_status();
    d.set_item("native", native)?;
    d.set_item("native_reason", why)?;
    match &s.active {
        Some(a) => {
            let ad = spec_dict(py, a)?;
            ad.set_item("running_for", s.active_for)?;
            d.set_item("active", ad)?
        }
        None => d.set_item("active", py.None())?,
    }
    let q = PyList::empty(py);
    for spec in &s.queued {
        q.append(spec_dict(py, spec)?)?;
    }
    d.set_item("queue", q)?;
    let c = &s.counters;
    d.set_item("samples", c.samples)?;
    d.set_item("ticks", c.ticks)?;
    d.set_item("active_events", c.active_events)?;
    d.set_item("selected", c.selected)?;
    d.set_item("compiled", c.compiled)?;
    d.set_item("failed", c.failed)?;
    d.set_item("pending", c.pending)?;
    d.set_item("filtered", c.filtered)?;
    d.set_item("charge_resets", c.resets)?;
    d.set_item("profilers_retired", c.retired)?;
    d.set_item("tick_seconds", c.tick_nanos as f64 * 1e-9)?;
    d.set_item("code_bytes", queue::memory_bytes())?;
    d.set_item("sampler_running", s.sampler_running)?;
    d.set_item("worker_running", s.worker_running)?;
    d.set_item("hook_installed", ffi::eval_hook_installed())?;
    d.set_item("code_mapped_bytes", x86::arena_mapped_bytes())?;
    let (compile_s, pause_s, compile_cpu_s) = compiler::compile_times();
    d.set_item("compile_seconds", compile_s)?;
    d.set_item("compile_cpu_seconds", compile_cpu_s)?;
    d.set_item("max_compile_pause_seconds", pause_s)?;
    d.set_item("records", ffi::live_record_count())?;
    d.set_item("gen_resumes", ffi::runtime_gen::gen_resumes())?;
    d.set_item("frames_switched", ffi::switch_count())?;
    let (entries, total) = queue::charge_entries();
    d.set_item("charge_entries", entries)?;
    d.set_item("charge_total", total)?;
    let tl = PyList::empty(py);
    for (code, frac) in queue::top_charges(py, top) {
        let (name, file, line) = queue::code_location(&code);
        let row = PyDict::new(py);
        row.set_item("function", name)?;
        row.set_item("file", file)?;
        row.set_item("line", line)?;
        row.set_item("fraction", frac)?;
        row.set_item("code", code)?;
        tl.append(row)?;
    }
    d.set_item("top", tl)?;
    let functions = PyList::empty(py);
    let failures = PyList::empty(py);
    for row in &s.outcomes {
        let f = PyDict::new(py);
        f.set_item("function", &row.name)?;
        f.set_item("file", &row.file)?;
        f.set_item("line", row.line)?;
        f.set_item("state", row.state)?;
        f.set_item("reason", row.reason.as_deref())?;
        f.set_item("code_bytes", row.code_bytes)?;
        functions.append(f)?;
        if let Some(r) = &row.reason {
            failures.append((&row.name, r))?;
        }
    }
    d.set_item("functions", functions)?;
    d.set_item("failures", failures)?;
    d.set_item("recent_events", log::recent())?;
    Ok(d.unbind())
}

/// The machine code of a compiled code object, disassembled with bytecode markers and the
/// list of exits to the interpreter; None if it is not compiled.
#[pyfunction]
fn dump_code(code: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    code_of(code)?;
    Ok(compiler::dump(code))
}

/// The live code objects that have machine code (compiled, even if unbound since), in no
/// particular order: what psyco.dumpcodebuf() dumps.
#[pyfunction]
fn compiled_codes(py: Python<'_>) -> Vec<Py<PyAny>> {
    ffi::live_code_ids()
        .into_iter()
        .filter_map(|id| ffi::live_code(py, id))
        .filter(|c| ffi::existing_record(c).is_some_and(|r| r.flags().contains(Flags::COMPILED)))
        .map(|c| c.unbind())
        .collect()
}

/// Compiles a code object now, on this thread (tests and debugging). True if it has machine
/// code afterwards. `globals`: the dict its functions will run with, where loop kernels look
/// for small functions to inline (as the compile at a first call does with the frame's).
#[pyfunction]
#[pyo3(signature = (code, globals=None))]
fn compile_code(py: Python<'_>, code: &Bound<'_, PyAny>, globals: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<bool> {
    code_of(code)?;
    let hint = globals.map_or(0, |g| g.as_ptr() as usize);
    compiler::with_globals_hint(hint, || queue::compile_now(py, code, "compile_code"));
    compiler::hook::ensure_installed(py);
    Ok(ffi::existing_record(code).is_some_and(|r| r.is_compiled()))
}

/// Arms the frame switch for the frames already running `code` (what the worker does after
/// compiling a profiler's selection; see `compiler::osr`). Returns how many frames may switch.
#[pyfunction]
fn offer_switch(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<usize> {
    code_of(code)?;
    Ok(queue::offer_switch(py, code))
}

/// How many threads have the frame switch's tracer armed right now (for tests).
#[pyfunction]
fn switch_armed_threads(py: Python<'_>) -> usize {
    ffi::switch_armed_threads(py)
}

/// Test mode for the frame switch: every frame psyco would run compiled starts in the
/// interpreter instead and switches into the machine code at its first loop head (frames
/// without loops simply run interpreted). Off by default; for the fuzzer and conformance runs.
#[pyfunction]
fn switch_stress(on: bool) {
    ffi::SWITCH_STRESS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// How the compiler handles each opcode of 3.11: {opname: "native" | "deopt" | "partial: <the
/// cases left to the interpreter>"}, from the compiler's one opcode table.
#[pyfunction]
fn opcode_coverage(py: Python<'_>) -> PyResult<Py<pyo3::types::PyDict>> {
    let d = pyo3::types::PyDict::new(py);
    for (name, num, _) in compiler::opcodes::TABLE {
        d.set_item(*name, compiler::ops::coverage(*num))?;
    }
    Ok(d.unbind())
}

#[pymodule]
fn _psyco(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    queue::init(py);
    compiler::prepare(py);
    m.add("error", py.get_type::<error::error>())?;
    m.add("warning", py.get_type::<error::warning>())?;
    m.add("BUILT_FOR", option_env!("PSYCO_BUILT_FOR").unwrap_or("portable"))?;
    m.add_function(wrap_pyfunction!(push_profiler, m)?)?;
    m.add_function(wrap_pyfunction!(stop, m)?)?;
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(after_fork_child, m)?)?;
    m.add_function(wrap_pyfunction!(bind_code, m)?)?;
    m.add_function(wrap_pyfunction!(unbind_code, m)?)?;
    m.add_function(wrap_pyfunction!(cannotcompile_code, m)?)?;
    m.add_function(wrap_pyfunction!(mark_proxy, m)?)?;
    m.add_function(wrap_pyfunction!(proxy_original, m)?)?;
    m.add_function(wrap_pyfunction!(setfilter, m)?)?;
    m.add_function(wrap_pyfunction!(log_open, m)?)?;
    m.add_function(wrap_pyfunction!(log_event, m)?)?;
    m.add_function(wrap_pyfunction!(dump_charges, m)?)?;
    m.add_function(wrap_pyfunction!(native_status, m)?)?;
    m.add_function(wrap_pyfunction!(is_compiled_code, m)?)?;
    m.add_function(wrap_pyfunction!(direct_vectorcall, m)?)?;
    m.add_function(wrap_pyfunction!(code_state, m)?)?;
    m.add_function(wrap_pyfunction!(code_info, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(dump_code, m)?)?;
    m.add_function(wrap_pyfunction!(compile_code, m)?)?;
    m.add_function(wrap_pyfunction!(offer_switch, m)?)?;
    m.add_function(wrap_pyfunction!(switch_stress, m)?)?;
    m.add_function(wrap_pyfunction!(switch_armed_threads, m)?)?;
    m.add_function(wrap_pyfunction!(compiled_codes, m)?)?;
    m.add_function(wrap_pyfunction!(opcode_coverage, m)?)?;
    Ok(())
}
