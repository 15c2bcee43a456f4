//! The compiler worker thread: receives [`Job`]s from the scheduler and runs the compiler on
//! them one at a time, so that compiling never happens on (or pauses) the user's threads in
//! `profile()`/`background()` mode.
//!
//! # Invariants
//! - Holds the GIL only inside `Python::with_gil` blocks (the compiler releases it while it
//!   generates code); never holds it while waiting for a job.
//! - Every `Job` (a strong reference to a code object) is dropped under the GIL.
//! - `shutdown` is called without the GIL; it closes the channel and joins the thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver, Sender};
use pyo3::prelude::*;

use super::{Flags, Job};
use crate::ffi;

pub struct Handle {
    tx: Sender<Job>,
    thread: Option<JoinHandle<()>>,
    quitting: Arc<AtomicBool>,
}

impl Handle {
    pub fn start() -> Handle {
        let (tx, rx) = unbounded::<Job>();
        let quitting = Arc::new(AtomicBool::new(false));
        let q = quitting.clone();
        let thread = std::thread::Builder::new()
            .name("psyco-compiler".into())
            .spawn(move || run(rx, q))
            .expect("spawning the psyco compiler thread");
        Handle { tx, thread: Some(thread), quitting }
    }

    pub fn sender(&self) -> Sender<Job> {
        self.tx.clone()
    }

    /// Drops a handle whose thread does not exist (in a forked child) without joining it.
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// Stops taking jobs, lets the one in progress finish, joins. Call without the GIL.
    pub fn shutdown(mut self) {
        self.quitting.store(true, Ordering::SeqCst);
        let (dead_tx, _) = unbounded();
        drop(std::mem::replace(&mut self.tx, dead_tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(rx: Receiver<Job>, quitting: Arc<AtomicBool>) {
    while let Ok(job) = rx.recv() {
        if quitting.load(Ordering::SeqCst) || !ffi::interpreter_alive() {
            // Cannot take the GIL safely any more: leak the reference rather than touch a
            // dying interpreter.
            std::mem::forget(job);
            continue;
        }
        Python::with_gil(|py| {
            let code = job.code.bind(py).clone();
            if !super::accepting() {
                // Selected by a profiler that has since retired or been stopped (runonly()
                // compiles nothing new): drop the job; a later profiler may select it again.
                if let Some(rec) = ffi::record(&code) {
                    rec.clear_selected();
                }
                drop(code);
                drop(job);
                return;
            }
            let hint = job.globals.as_ref().map_or(0, |g| g.as_ptr() as usize);
            crate::compiler::with_globals_hint(hint, || compile_one(py, &code));
            drop(code);
            drop(job);
        });
    }
}

/// Filter, compile, report. GIL held on entry and exit.
pub fn compile_one(py: Python<'_>, code: &Bound<'_, PyAny>) {
    let Some(rec) = ffi::record(code) else { return };
    if rec.flags().intersects(Flags::CANNOT) {
        return;
    }
    if !super::passes_filter(py, code, rec) {
        return;
    }
    let outcome = crate::compiler::compile(py, code, rec);
    super::report_outcome(py, code, &outcome);
    if matches!(outcome, crate::compiler::Outcome::Compiled { .. }) {
        // The frames that made the function hot go on in the new code (see compiler::osr).
        let _ = super::offer_switch(py, code);
    }
}
