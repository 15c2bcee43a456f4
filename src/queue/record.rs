//! The per-code-object record psyco attaches in `co_extra` (see `src/ffi` for its lifetime):
//! what the user asked for (bind, proxy, cannotcompile), where the code is in its life
//! (selected, compiled, failed, filtered) and the compiler's installed entry.
//!
//! # Invariants
//! - Created by `ffi::record` and freed only by CPython's code_dealloc through the co_extra
//!   free function; never moved. Shared between threads, mutated only through atomics or its
//!   own locks.
//! - `SELECTED` is set exactly once per code (by [`CodeRecord::try_mark_selected`]), so the same
//!   function is never compiled over and over again.

use std::any::Any;
use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};

use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::ffi::CodeId;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Flags(u32);

impl Flags {
    /// psyco.bind()/proxy(): compile at the next call, whatever the profilers say.
    pub const BOUND: Flags = Flags(1);
    /// psyco.cannotcompile(): never compile.
    pub const CANNOT: Flags = Flags(2);
    /// A copy made by psyco.proxy().
    pub const PROXY: Flags = Flags(4);
    /// Handed to the compiler (queued, compiling, or done).
    pub const SELECTED: Flags = Flags(8);
    pub const COMPILED: Flags = Flags(16);
    pub const FAILED: Flags = Flags(32);
    /// The filter was asked about this code.
    pub const FILTER_SEEN: Flags = Flags(64);
    /// The filter said no.
    pub const FILTERED: Flags = Flags(128);
    /// Selected but the compiler could not take it yet.
    pub const PENDING: Flags = Flags(256);
    /// Nothing more for the profilers to do with this code.
    pub const DONE: Flags = Flags(8 | 16 | 32 | 2 | 128 | 256);

    pub fn contains(self, o: Flags) -> bool {
        self.0 & o.0 == o.0
    }
    pub fn intersects(self, o: Flags) -> bool {
        self.0 & o.0 != 0
    }
}

/// `repr(C)` with `entry` first: machine code reaches it through `co_extra` without Rust's
/// help (`psyco_call_py` in csrc/calls.c reads it as `struct psyco_record_head`).
#[repr(C)]
pub struct CodeRecord {
    /// The compiler's entry point for this code, or null. Read by the frame-evaluation hook
    /// and by direct calls from compiled code.
    pub entry: AtomicPtr<c_void>,
    /// The code object this record belongs to (identity only).
    pub code: CodeId,
    flags: AtomicU32,
    /// bind()'s `rec`: how many levels of callees are compiled along with this code.
    rec: AtomicI32,
    /// Calls machine code made to this code while it had no machine code (counted by
    /// csrc/calls.c `note_uncompiled_callee` under profile()/background() only).
    pub callee_calls: AtomicU32,
    /// For calls whose frame machine code pushes (the stub `ops::call::make_frame_push_stub`
    /// reads these at fixed offsets): the parameter count a positional call must match exactly,
    /// or -1 if this code's frames are not pushed that way (`compiler::direct_shape`); the
    /// frame's local slots; the frame's size in bytes. Set before `entry` is published.
    pub direct_argcount: AtomicI32,
    pub direct_nlocalsplus: AtomicI32,
    pub direct_frame_bytes: std::sync::atomic::AtomicU64,
    /// When the last 1024 of those calls were complete (ns on `queue::monotonic_ns`; 0: never).
    pub callee_stamp: std::sync::atomic::AtomicU64,
    /// Compiler-owned data kept alive as long as the code object (machine code, guard tables).
    pub compiled: Mutex<Option<Box<dyn Any + Send>>>,
    /// For a proxy copy: the original code object.
    proxy_of: Mutex<Option<Py<PyAny>>>,
    /// Why compilation failed or is pending, for stats.
    pub reason: Mutex<Option<String>>,
}

const _: () = assert!(std::mem::offset_of!(CodeRecord, entry) == 0);
// csrc/calls.c `struct psyco_record_head` reads `flags` here too (for Flags::BOUND == 1).
const _: () = assert!(std::mem::offset_of!(CodeRecord, code) == 8);
const _: () = assert!(std::mem::offset_of!(CodeRecord, flags) == 16);
const _: () = assert!(std::mem::offset_of!(CodeRecord, callee_calls) == 24);
/// Where machine code reads the direct-call shape (`ops::call::make_frame_push_stub`).
pub const REC_DIRECT_ARGCOUNT: i32 = std::mem::offset_of!(CodeRecord, direct_argcount) as i32;
pub const REC_DIRECT_NLOCALSPLUS: i32 = std::mem::offset_of!(CodeRecord, direct_nlocalsplus) as i32;
pub const REC_DIRECT_FRAME_BYTES: i32 = std::mem::offset_of!(CodeRecord, direct_frame_bytes) as i32;
const _: () = assert!(Flags::BOUND.0 == 1);
// csrc/calls.c `PSYCO_FLAGS_DONE`.
const _: () = assert!(Flags::DONE.0 == 0x1ba);

impl CodeRecord {
    pub fn new(code: CodeId) -> Self {
        CodeRecord {
            code,
            flags: AtomicU32::new(0),
            rec: AtomicI32::new(0),
            callee_calls: AtomicU32::new(0),
            direct_argcount: AtomicI32::new(-1),
            direct_nlocalsplus: AtomicI32::new(0),
            direct_frame_bytes: std::sync::atomic::AtomicU64::new(0),
            callee_stamp: std::sync::atomic::AtomicU64::new(0),
            entry: AtomicPtr::new(std::ptr::null_mut()),
            compiled: Mutex::new(None),
            proxy_of: Mutex::new(None),
            reason: Mutex::new(None),
        }
    }

    pub fn flags(&self) -> Flags {
        Flags(self.flags.load(Ordering::Acquire))
    }
    pub fn set(&self, f: Flags) {
        self.flags.fetch_or(f.0, Ordering::AcqRel);
    }
    pub fn clear(&self, f: Flags) {
        self.flags.fetch_and(!f.0, Ordering::AcqRel);
    }

    /// Sets SELECTED unless the code is already selected, done, or may not be compiled.
    pub fn try_mark_selected(&self) -> bool {
        let mut cur = self.flags.load(Ordering::Acquire);
        loop {
            if Flags(cur).intersects(Flags::DONE) {
                return false;
            }
            match self.flags.compare_exchange(cur, cur | Flags::SELECTED.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Undoes a selection whose job could not be queued.
    pub fn clear_selected(&self) {
        self.clear(Flags::SELECTED);
    }

    pub fn rec(&self) -> i32 {
        self.rec.load(Ordering::Relaxed)
    }
    pub fn set_rec(&self, r: i32) {
        self.rec.fetch_max(r, Ordering::Relaxed);
    }

    pub fn is_compiled(&self) -> bool {
        self.flags().contains(Flags::COMPILED) && !self.entry.load(Ordering::Acquire).is_null()
    }

    /// Marks this code as a proxy copy of `original`.
    pub fn set_proxy_of(&self, original: Py<PyAny>) {
        self.set(Flags::PROXY);
        let old = self.proxy_of.lock().replace(original);
        drop(old);
    }

    /// Takes the proxy's original out of the record (when the record dies).
    pub fn take_proxy_of(&self) -> Option<Py<PyAny>> {
        self.proxy_of.lock().take()
    }

    pub fn proxy_of(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.proxy_of.lock().as_ref().map(|o| o.clone_ref(py))
    }
}
