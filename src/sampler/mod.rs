//! The poll thread: wakes every 1/pollfreq seconds, takes the GIL and lets the engine tick
//! (`queue::tick`), which walks every Python thread's frame stack through its thread state and
//! charges the running code objects here, passing a `parentframe` share up each stack.
//!
//! # Invariants
//! - One OS thread per [`Handle`]; it holds the GIL only inside a tick, never while sleeping.
//! - `Handle::join` (called without the GIL) wakes it at once and waits for it to end; the
//!   thread also ends by itself when no profiler is left or the interpreter is going away, and
//!   never asks for the GIL once finalization has begun.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use pyo3::prelude::*;

use crate::ffi::{self, CodeId, ThreadStack};
use crate::queue::{self, Params};

pub struct Handle {
    wake: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    finished: Arc<AtomicBool>,
}

impl Handle {
    pub fn start() -> Handle {
        let (tx, rx) = bounded::<()>(0);
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let thread = std::thread::Builder::new()
            .name("psyco-sampler".into())
            .spawn(move || {
                run(rx);
                f.store(true, Ordering::SeqCst);
            })
            .expect("spawning the psyco sampler thread");
        Handle { wake: Some(tx), thread: Some(thread), finished }
    }

    pub fn is_running(&self) -> bool {
        !self.finished.load(Ordering::SeqCst)
    }

    /// Stops the thread and waits for it. Must be called without the GIL.
    pub fn join(mut self) {
        drop(self.wake.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(stop: Receiver<()>) {
    let mut last = Instant::now();
    loop {
        match stop.recv_timeout(queue::poll_interval()) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return, // disconnected: join() was called
        }
        if !ffi::interpreter_alive() {
            return;
        }
        let now = Instant::now();
        let dt = now.duration_since(last).as_secs_f64();
        last = now;
        let keep_going = Python::with_gil(|py| {
            if !queue::sampler_needed() {
                return false;
            }
            queue::tick(py, dt);
            true
        });
        if !keep_going {
            return;
        }
    }
}

/// Charges one poll's worth of samples: each thread's innermost code gets `dt` seconds, its
/// caller `dt × parentframe`, the next `dt × parentframe²`, and so on while the share is
/// noticeable. Returns the codes that crossed the watermark (possibly already selected:
/// selection itself filters those).
pub fn charge_stacks(stacks: &[ThreadStack], dt: f64, params: &Params) -> Vec<CodeId> {
    let mut ready = Vec::new();
    if !(dt > 0.0) {
        return ready;
    }
    let pf = params.parentframe.clamp(0.0, 1.0);
    queue::with_charge_table(|t| {
        for s in stacks {
            let mut share = dt;
            for (depth, &code) in s.codes.iter().enumerate() {
                t.charge(code, share);
                if depth == 0 || share >= dt * 0.01 {
                    if t.is_ready(code, params.watermark) && !ready.contains(&code) {
                        ready.push(code);
                    }
                }
                share *= pf;
                if share < dt * 1e-3 {
                    break;
                }
            }
        }
    });
    ready
}
