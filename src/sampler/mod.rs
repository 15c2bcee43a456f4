//! The poll thread: every 1/pollfreq seconds it makes the engine tick (`queue::tick`), which
//! walks every Python thread's frame stack through its thread state and charges the running
//! code objects here, passing a `parentframe` share up each stack.
//!
//! # How a tick gets the GIL cheaply
//! Taking the GIL from another OS thread forces a switch of the running thread at every poll
//! (two context switches, and on a loaded machine a scheduler wait while the main thread sits
//! idle). So the poll thread first asks the *main thread* to tick, with `Py_AddPendingCall`:
//! the main thread runs it at its next eval-breaker check, already holding the GIL, at the
//! cost of a function call. Only when the previous request has not run by the next poll (the
//! main thread is blocked outside the eval loop) does the poll thread take the GIL itself, so
//! the other threads are still sampled.
//!
//! # Invariants
//! - One OS thread per [`Handle`]; it never holds the GIL while sleeping.
//! - `Handle::join` (called without the GIL) wakes it at once and waits for it to end; the
//!   thread also ends by itself when no profiler is left or the interpreter is going away, and
//!   never asks for the GIL once finalization has begun. A pending tick that runs after the
//!   thread ended finds no profiler and does nothing.

use std::collections::HashMap;
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
                run(rx, &f);
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

/// The previous tick, shared by both ways of ticking (pending call or GIL fallback).
static LAST_TICK: parking_lot::Mutex<Option<Instant>> = parking_lot::const_mutex(None);
/// A pending-call tick has been queued and has not run yet.
static PENDING_QUEUED: AtomicBool = AtomicBool::new(false);

fn elapsed_since_last_tick() -> f64 {
    let now = Instant::now();
    let mut g = LAST_TICK.lock();
    let dt = g.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
    *g = Some(now);
    dt
}

/// Runs on the main thread at its next eval-breaker check (scheduled by `Py_AddPendingCall`):
/// the cheapest way to sample, since the main thread already holds the GIL and no thread
/// switch is needed. Never raises.
extern "C" fn pending_tick(_arg: *mut std::ffi::c_void) -> std::os::raw::c_int {
    PENDING_QUEUED.store(false, Ordering::SeqCst);
    // SAFETY contract of pending calls: they run with the GIL held by the main thread.
    let py = unsafe { Python::assume_gil_acquired() };
    if queue::sampler_needed() {
        let dt = elapsed_since_last_tick();
        queue::tick(py, dt, true);
    }
    0
}

fn run(stop: Receiver<()>, finished: &AtomicBool) {
    *LAST_TICK.lock() = Some(Instant::now());
    PENDING_QUEUED.store(false, Ordering::SeqCst);
    loop {
        // Wait for the next poll in slices no longer than an active-profiling burst: the
        // interval shrinks when the poll just made started one (see queue::poll_interval).
        let started = Instant::now();
        loop {
            let want = queue::poll_interval();
            let elapsed = started.elapsed();
            if elapsed >= want {
                break;
            }
            match stop.recv_timeout((want - elapsed).min(queue::ACTIVE_BURST)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return, // disconnected: join() was called
            }
        }
        if !ffi::interpreter_alive() || queue::sampler_retire_if_idle(finished) {
            return;
        }
        // Preferred: ask the main thread to tick at its next eval-breaker check. If the
        // previous request has not run yet, the main thread is outside the eval loop (blocked
        // in C, waiting on a lock or I/O): take the GIL ourselves so other threads still get
        // sampled.
        if !PENDING_QUEUED.swap(true, Ordering::SeqCst) {
            if ffi::add_pending_call(pending_tick) {
                continue;
            }
            PENDING_QUEUED.store(false, Ordering::SeqCst);
        }
        let keep_going = Python::with_gil(|py| {
            if !queue::sampler_needed() {
                return false;
            }
            let dt = elapsed_since_last_tick();
            queue::tick(py, dt, false);
            true
        });
        if !keep_going {
            return;
        }
    }
}

/// Where each thread's innermost frame was at the previous poll (thread id → position).
static LAST_POSITIONS: parking_lot::Mutex<Option<HashMap<u64, usize>>> = parking_lot::const_mutex(None);

/// Whether a suspended thread looks blocked (waiting in C with the GIL released: sleep, I/O,
/// a lock) rather than runnable: it has not moved since the previous poll and it is not
/// stopped at a between-bytecodes check. Blocked threads are not charged: psyco cannot make
/// waiting faster, and charging it would select the functions that wait.
fn blocked(s: &ThreadStack, last: &HashMap<u64, usize>) -> bool {
    !s.is_current && !s.at_loop_check && s.position != 0 && last.get(&s.thread_id) == Some(&s.position)
}

/// Charges one poll's worth of samples: each running thread's innermost code gets `dt`
/// seconds, its caller `dt × parentframe`, the next `dt × parentframe²`, and so on while the
/// share is noticeable. Returns the codes that crossed the watermark (possibly already
/// selected: selection itself filters those).
pub fn charge_stacks(stacks: &[ThreadStack], dt: f64, params: &Params) -> Vec<CodeId> {
    let mut ready = Vec::new();
    let positions: HashMap<u64, usize> = stacks.iter().map(|s| (s.thread_id, s.position)).collect();
    let last = LAST_POSITIONS.lock().replace(positions).unwrap_or_default();
    if !(dt > 0.0) {
        return ready;
    }
    let pf = params.parentframe.clamp(0.0, 1.0);
    queue::with_charge_table(|t| {
        for s in stacks.iter().filter(|s| !blocked(s, &last)) {
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

/// In a forked child: the poll thread does not exist there. Forget its bookkeeping (the
/// engine starts a new thread if a profiler is running).
pub fn after_fork_child() {
    ffi::unlock_after_fork(&LAST_TICK);
    ffi::unlock_after_fork(&LAST_POSITIONS);
    *LAST_TICK.lock() = None;
    *LAST_POSITIONS.lock() = None;
    PENDING_QUEUED.store(false, Ordering::SeqCst);
}

impl Handle {
    /// Drops a handle whose thread does not exist (after fork) without joining or detaching.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(id: u64, pos: usize, at_check: bool, current: bool, codes: &[usize]) -> ThreadStack {
        ThreadStack {
            thread_id: id,
            codes: codes.iter().map(|&c| CodeId(c)).collect(),
            globals: vec![0; codes.len()],
            position: pos,
            at_loop_check: at_check,
            foreign_hook: false,
            is_current: current,
        }
    }

    #[test]
    fn a_thread_that_has_not_moved_inside_a_call_is_blocked() {
        let last: HashMap<u64, usize> = [(1, 100), (2, 200), (3, 300)].into_iter().collect();
        assert!(blocked(&stack(1, 100, false, false, &[1]), &last));
        // moved
        assert!(!blocked(&stack(2, 204, false, false, &[1]), &last));
        // same place but at a loop check: it gave the GIL up while running bytecode
        assert!(!blocked(&stack(3, 300, true, false, &[1]), &last));
        // the ticking thread is running by definition
        assert!(!blocked(&stack(1, 100, false, true, &[1]), &last));
        // never seen before
        assert!(!blocked(&stack(4, 100, false, false, &[1]), &last));
    }
}
