//! The frame-evaluation hook (PEP 523) policy: for each Python frame CPython is about to
//! evaluate, decide whether to run compiled code, compile now (full mode, bound functions) or
//! let the interpreter run it. The raw hook itself lives in `src/ffi` (it is `unsafe` glue);
//! it calls [`on_frame`] with the GIL held and acts on the returned [`Action`].
//!
//! # Invariants
//! - Installed only when something needs it (full mode, a bound function, a compiled entry):
//!   any installed hook stops CPython 3.11 from inlining Python-to-Python calls.
//! - Frames with `throwflag`, under a foreign tracer/profiler, or creating a generator (a
//!   thread-owned frame of generator code: RETURN_GENERATOR is the interpreter's) go straight to
//!   `_PyEval_EvalFrameDefault` (decided in ffi before calling). Resumed generator frames come
//!   here like any other (see `ops::gen`).

use pyo3::prelude::*;

use crate::ffi;
use crate::queue::{self, Flags};

/// What the hook does with a frame.
pub enum Action {
    /// Evaluate with `_PyEval_EvalFrameDefault`.
    Interpret,
    /// Run the machine code at this address (see `compiler::emit` for its contract).
    Run(usize),
}

pub fn ensure_installed(py: Python<'_>) {
    if queue::native_status().is_err() {
        return;
    }
    ffi::install_eval_hook(py);
}

/// Called for every frame while the hook is installed (GIL held).
pub fn on_frame(py: Python<'_>, code: &Bound<'_, PyAny>) -> Action {
    let existing = ffi::existing_record(code);
    // Fast path: already compiled.
    if let Some(rec) = existing {
        let entry = rec.entry.load(std::sync::atomic::Ordering::Acquire);
        if !entry.is_null() {
            return Action::Run(entry as usize);
        }
    }
    let rec = match existing {
        Some(r) => Some(r),
        None if queue::compile_on_call() => ffi::record(code),
        None => None,
    };
    if let Some(rec) = rec {
        let f = rec.flags();
        if !super::is_compiling() && !f.intersects(Flags::DONE) && (f.contains(Flags::BOUND) || (queue::compile_on_call() && queue::accepting())) {
            queue::compile_now(py, code, if f.contains(Flags::BOUND) { "bind function" } else { "compile" });
        }
        let entry = rec.entry.load(std::sync::atomic::Ordering::Acquire);
        if !entry.is_null() {
            return Action::Run(entry as usize);
        }
    }
    Action::Interpret
}
