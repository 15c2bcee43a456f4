//! The compiler room's front door: what the engine (`src/queue`) asks of the compiler and what
//! it gets back. The engine hands over a code object (GIL held) and receives an [`Outcome`];
//! the compiler snapshots what it needs under the GIL, generates code without it, and installs
//! the entry in the code's record (`CodeRecord::entry`) where the frame-evaluation hook finds it.
//!
//! # Invariants
//! - `compile` never raises and never leaves a Python error set: a code object the compiler
//!   cannot handle is an `Outcome::Failed` with a reason, and keeps running in the interpreter.
//! - `compile` is only called once per code object (the engine's SELECTED flag guarantees it).

pub mod hook;

use pyo3::prelude::*;

use crate::queue::CodeRecord;

/// The compiler's verdict on one code object.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Machine code installed; `code_bytes` counts toward the `memory=` limits.
    Compiled { code_bytes: usize },
    /// Cannot (ever) be compiled; runs in the interpreter. The reason goes to the log.
    Failed(String),
    /// Accepted but not compiled yet (no code generator available for it yet).
    Pending(String),
}

/// Compiles `code` and installs the result. GIL held on entry and exit.
pub fn compile(py: Python<'_>, code: &Bound<'_, PyAny>, rec: &CodeRecord) -> Outcome {
    let _ = (py, code, rec);
    // The full reason is logged once when the log opens; each function just says this.
    if crate::queue::native_status().is_err() {
        return Outcome::Failed("interpreter-only on this platform".into());
    }
    Outcome::Pending("the machine-code generator is not built yet".into())
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
    rec.entry.store(std::ptr::null_mut(), std::sync::atomic::Ordering::Release);
}
