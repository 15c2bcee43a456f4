//! The engine: the profiler queue (full / profile / background / runonly, each with memory and
//! time limits), the per-code records, the scheduler that turns watermark crossings into
//! compile jobs, and the worker thread that hands those jobs to the compiler.
//!
//! # Who runs where
//! - API calls (from `python/psyco`) run on user threads with the GIL held.
//! - The sampler thread (`src/sampler`) wakes every 1/pollfreq seconds, takes the GIL and calls
//!   [`tick`]: limits, sampling, active-profiler duty cycle, periodic charge dumps.
//! - The active profiler ([`active_profiler_fn`]) is a C profile function called by CPython on
//!   the profiled threads, GIL held.
//! - The worker thread (`worker.rs`) receives [`Job`]s over a crossbeam channel and runs the
//!   compiler; it holds the GIL only to snapshot and to install (the compiler decides).
//!
//! # Locking rules (deadlock freedom)
//! `ENGINE` and `CHARGES` are only taken by a thread that already holds the GIL (or that will
//! not ask for the GIL while holding them), and no Python code runs and no Python object is
//! dropped while either is held: Python references leave the lock in a local and are dropped
//! after it. `CHARGES` is a leaf (nothing else is taken inside it). The log has its own leaf lock.

mod record;
mod worker;

pub use record::{CodeRecord, Flags, REC_DIRECT_ARGCOUNT, REC_DIRECT_FRAME_BYTES, REC_DIRECT_NLOCALSPLUS};

use std::collections::VecDeque;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::ffi as py;
use pyo3::prelude::*;

use crate::charges::ChargeTable;
use crate::ffi::{self, CodeId};
use crate::log::{self, Val};

// ---------------------------------------------------------------------------------------------
// Profiler specifications
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Full,
    Profile,
    Background,
    RunOnly,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Profile => "profile",
            Kind::Background => "background",
            Kind::RunOnly => "runonly",
        }
    }
    /// The profiler's name in the log, after the original's class names.
    fn log_name(self) -> &'static str {
        match self {
            Kind::Full => "FullCompiler",
            Kind::Profile => "ActivePassiveProfiler",
            Kind::Background => "PassiveProfiler",
            Kind::RunOnly => "RunOnly",
        }
    }
    fn samples(self) -> bool {
        matches!(self, Kind::Profile | Kind::Background)
    }
}

/// Tuning of the charge profilers (`profile`, `background`).
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub watermark: f64,
    pub halflife: f64,
    pub pollfreq: f64,
    pub parentframe: f64,
}

/// Limits; memory in kilobytes, time in seconds. `None` = unlimited.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub memory: Option<f64>,
    pub time: Option<f64>,
    pub memorymax: Option<f64>,
    pub timemax: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub params: Params,
    pub limits: Limits,
    /// When the user asked for it (timemax counts from here).
    pub queued_at: Instant,
}

struct Active {
    spec: Spec,
    started_at: Instant,
    memory_at_start: usize,
}

/// How often limits are checked when no sampling is going on (full, runonly).
const IDLE_TICK_HZ: f64 = 10.0;
/// Charge dumps in the log are at most this often.
const DUMP_EVERY: Duration = Duration::from_secs(1);
/// Frames deeper than this are not charged (parent shares have vanished long before).
const MAX_STACK: usize = 64;
/// Active profiling (profile()) runs in bursts: on after one poll in every ACTIVE_PERIOD polls,
/// for at most ACTIVE_BURST (the next poll comes early to end it).
/// While a C profile function is installed CPython 3.11 dispatches every instruction through
/// its tracing path and un-specializes them (roughly halving interpreter speed, more for code
/// made of small calls), so the duty cycle bounds profile()'s overhead: 10 ms every 40 polls
/// (2 s at the default 20 Hz) is about 0.5 % of the time.
const ACTIVE_PERIOD: u64 = 40;
pub const ACTIVE_BURST: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------------------------
// Engine state
// ---------------------------------------------------------------------------------------------

#[derive(Default, Debug, Clone)]
pub struct Counters {
    pub samples: u64,
    pub ticks: u64,
    pub active_events: u64,
    pub selected: u64,
    pub compiled: u64,
    pub failed: u64,
    pub pending: u64,
    pub filtered: u64,
    pub resets: u64,
    pub retired: u64,
    /// Time spent inside ticks (the profilers' own cost, paid by whichever thread ticks).
    pub tick_nanos: u64,
}

struct Engine {
    queue: VecDeque<Spec>,
    active: Option<Active>,
    sampler: Option<crate::sampler::Handle>,
    worker: Option<worker::Handle>,
    filter: Option<Py<PyAny>>,
    counters: Counters,
    /// What became of each compile request, most recent last, bounded.
    outcomes: VecDeque<OutcomeRow>,
    last_dump: Option<Instant>,
    polls: u64,
    foreign_seen: bool,
    active_on: bool,
    memory_logged: usize,
}

static ENGINE: Mutex<Engine> = parking_lot::const_mutex(Engine {
    queue: VecDeque::new(),
    active: None,
    sampler: None,
    worker: None,
    filter: None,
    counters: Counters {
        samples: 0,
        ticks: 0,
        active_events: 0,
        selected: 0,
        compiled: 0,
        failed: 0,
        pending: 0,
        filtered: 0,
        resets: 0,
        retired: 0,
        tick_nanos: 0,
    },
    outcomes: VecDeque::new(),
    last_dump: None,
    polls: 0,
    foreign_seen: false,
    active_on: false,
    memory_logged: 0,
});

static CHARGES: Mutex<Option<ChargeTable<CodeId>>> = parking_lot::const_mutex(None);

/// Bytes of compiled code and compiler data, as reported by the compiler.
/// Bytes of compiled code alive now (what `memorymax=` and `stats()["code_bytes"]` measure).
static MEMORY: AtomicUsize = AtomicUsize::new(0);
/// Bytes of compiled code ever produced (what a profiler's `memory=` limit counts from its start:
/// the code it caused to be made, even if some of it has been freed since).
static MEMORY_ALLOCATED: AtomicUsize = AtomicUsize::new(0);
/// full(): every code object is compiled at its first call.
static COMPILE_ON_CALL: AtomicBool = AtomicBool::new(false);
/// Whether new compilations may start (false after stop(), under runonly()).
static ACCEPTING: AtomicBool = AtomicBool::new(true);
/// Nonzero while profile() or background() runs: machine code's calls to functions without
/// machine code are counted, and the busiest are offered to the compiler ([`psyco_promote_callee`]).
/// Read by csrc/calls.c as a plain int.
#[no_mangle]
pub static psyco_promote_callees: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// Why native compilation is off, if it is (set once at import).
static NATIVE: Mutex<Option<Result<(), String>>> = parking_lot::const_mutex(None);
/// Events seen by the active profiler since start.
static ACTIVE_EVENTS: AtomicU64 = AtomicU64::new(0);

const MAX_OUTCOMES_KEPT: usize = 1000;

/// One compile request's result, for `psyco.stats()["functions"]`.
#[derive(Clone, Debug)]
pub struct OutcomeRow {
    pub name: String,
    pub file: String,
    pub line: i64,
    /// "compiled", "failed" or "pending".
    pub state: &'static str,
    pub reason: Option<String>,
    pub code_bytes: usize,
}

pub(crate) fn with_charge_table<R>(f: impl FnOnce(&mut ChargeTable<CodeId>) -> R) -> R {
    let mut g = CHARGES.lock();
    f(g.get_or_insert_with(|| ChargeTable::new(0.5)))
}

/// Run once at import: record whether compilation is possible and why not.
pub fn init(py: Python<'_>) {
    ffi::set_code_freed_hook(on_code_freed);
    let report = ffi::layout_report(py);
    *NATIVE.lock() = Some(report);
}

/// `Ok` if machine code may be generated and installed here.
pub fn native_status() -> Result<(), String> {
    NATIVE.lock().clone().unwrap_or_else(|| Err("psyco not initialised".into()))
}

fn on_code_freed(id: CodeId) {
    // Runs inside code_dealloc (GIL held). CHARGES is a leaf lock and is never held while a
    // Python object is released, so this cannot deadlock.
    if let Some(t) = CHARGES.lock().as_mut() {
        t.remove(id);
    }
}

pub fn memory_bytes() -> usize {
    MEMORY.load(Ordering::Relaxed)
}

fn memory_allocated() -> usize {
    MEMORY_ALLOCATED.load(Ordering::Relaxed)
}

/// The compiler reports memory it allocated (positive) or released (negative: the machine code
/// of a code object that died).
pub fn add_memory(delta: isize) {
    if delta >= 0 {
        MEMORY.fetch_add(delta as usize, Ordering::Relaxed);
        MEMORY_ALLOCATED.fetch_add(delta as usize, Ordering::Relaxed);
    } else {
        let d = (-delta) as usize;
        let _ = MEMORY.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| Some(m.saturating_sub(d)));
    }
}

pub fn compile_on_call() -> bool {
    COMPILE_ON_CALL.load(Ordering::Relaxed)
}

/// [`compile_on_call`] for csrc/calls.c (`interpret_directly`).
#[no_mangle]
pub extern "C" fn psyco_compile_on_call() -> std::os::raw::c_int {
    compile_on_call() as std::os::raw::c_int
}

pub fn accepting() -> bool {
    ACCEPTING.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// The queue: adding, starting, retiring
// ---------------------------------------------------------------------------------------------

/// Queues a profiler; starts it at once if none is running.
pub fn push(py: Python<'_>, spec: Spec) {
    if is_shut_down() {
        log::event(
            "ignored",
            2,
            &format!("{}: ignored (the interpreter is exiting)", spec.kind.log_name()),
            &[],
        );
        return;
    }
    let mut to_start = false;
    {
        let mut e = ENGINE.lock();
        e.queue.push_back(spec);
        if e.active.is_none() {
            to_start = true;
        }
    }
    if to_start {
        advance(py, None);
    }
    ensure_sampler(py);
}

/// Retires the running profiler (with `why`, if any) and starts the next queued one whose
/// absolute limits are not already exhausted. The state change happens in one critical
/// section (so concurrent callers always see one running profiler); its side effects (hooks,
/// log lines) follow outside the lock.
fn advance(py: Python<'_>, why: Option<&str>) {
    let now = Instant::now();
    let mem = memory_bytes();
    let (retired, skipped, started) = {
        let mut e = ENGINE.lock();
        let retired = e.active.take();
        if retired.is_some() {
            e.counters.retired += 1;
        }
        let mut skipped = Vec::new();
        let mut started = None;
        while let Some(spec) = e.queue.pop_front() {
            let active = Active { spec: spec.clone(), started_at: now, memory_at_start: memory_allocated() };
            match limit_reached(&active, now, mem, memory_allocated()) {
                Some(w @ ("timemax limit reached" | "memorymax limit reached")) => skipped.push((spec.kind, w)),
                _ => {
                    started = Some(spec);
                    e.active = Some(active);
                    break;
                }
            }
        }
        e.active_on = false;
        let kind = started.as_ref().map(|s| s.kind);
        ACCEPTING.store(kind.is_some() && kind != Some(Kind::RunOnly), Ordering::Relaxed);
        COMPILE_ON_CALL.store(kind == Some(Kind::Full), Ordering::Relaxed);
        let promote = matches!(kind, Some(Kind::Profile | Kind::Background));
        psyco_promote_callees.store(promote as i32, Ordering::Relaxed);
        (retired, skipped, started)
    };
    if let Some(r) = &retired {
        if r.spec.kind == Kind::Profile {
            ffi::set_profile_all_threads(py, None);
        }
        let reason = why.map(|w| format!("disabled ({w})")).unwrap_or_else(|| "disabled".into());
        log::event(
            "profiler_retired",
            5,
            &format!("{}: {reason}", r.spec.kind.log_name()),
            &[("profiler", Val::Str(r.spec.kind.name())), ("reason", Val::Str(why.unwrap_or("")))],
        );
    }
    for (kind, w) in skipped {
        log::event(
            "profiler_skipped",
            5,
            &format!("{}: skipped ({w} while queued)", kind.log_name()),
            &[("profiler", Val::Str(kind.name()))],
        );
    }
    match started {
        Some(spec) => {
            enter_mode(py, &spec);
            log::event(
                "profiler_started",
                5,
                &format!("{}: starting", spec.kind.log_name()),
                &[("profiler", Val::Str(spec.kind.name()))],
            );
            // After the "starting" line: these compiles count against the new profiler's
            // limits (and may retire it at once).
            if spec.kind == Kind::Full {
                compile_running_frames(py);
            }
        }
        None if retired.is_some() => {
            log::event("profiling_stopped", 3, "profiling stopped: no profiler left in the queue", &[]);
        }
        None => {}
    }
}

/// Side effects of a profiler starting (its flags were set by `advance`).
fn enter_mode(py: Python<'_>, spec: &Spec) {
    if spec.kind.samples() {
        let mut g = CHARGES.lock();
        let t = g.get_or_insert_with(|| ChargeTable::new(spec.params.halflife));
        if t.halflife() != spec.params.halflife {
            t.clear(spec.params.halflife);
        }
    }
    if spec.kind == Kind::Full {
        crate::compiler::on_full_mode(py);
    }
}

/// full() just started: the code already running (the script's module body or the function
/// that called full(), and whatever else is on the threads' innermost frames) is compiled now
/// and its frames switch into the machine code at their next loop head (see compiler::osr),
/// so `psyco.full()` at the top of a script accelerates the script's own loops.
fn compile_running_frames(py: Python<'_>) {
    if native_status().is_err() {
        return;
    }
    for t in ffi::thread_stacks(py, None, SWITCH_DEPTH, true) {
        for (k, id) in t.codes.iter().enumerate() {
            // A compile may reach full()'s limits and retire it: then stop.
            if !compile_on_call() {
                return;
            }
            if let Some(code) = ffi::live_code(py, *id) {
                crate::compiler::with_globals_hint(t.globals[k], || compile_now(py, &code, "compile"));
            }
        }
    }
}

/// Which limit (if any) `a` has reached.
/// `mem` is the live code size, `allocated` the code ever produced (see `MEMORY_ALLOCATED`).
fn limit_reached(a: &Active, now: Instant, mem: usize, allocated: usize) -> Option<&'static str> {
    let l = &a.spec.limits;
    let kb = |b: usize| b as f64 / 1024.0;
    if let Some(m) = l.memory {
        if kb(allocated.saturating_sub(a.memory_at_start)) >= m {
            return Some("memory limit reached");
        }
    }
    if let Some(m) = l.memorymax {
        if kb(mem) >= m {
            return Some("memorymax limit reached");
        }
    }
    if let Some(t) = l.time {
        if now.duration_since(a.started_at).as_secs_f64() >= t {
            return Some("time limit reached");
        }
    }
    if let Some(t) = l.timemax {
        if now.duration_since(a.spec.queued_at).as_secs_f64() >= t {
            return Some("timemax limit reached");
        }
    }
    None
}

/// Checks the running profiler's limits now (also called after each compile).
pub fn check_limits(py: Python<'_>) {
    let why = {
        let e = ENGINE.lock();
        e.active.as_ref().and_then(|a| limit_reached(a, Instant::now(), memory_bytes(), memory_allocated()))
    };
    if let Some(w) = why {
        advance(py, Some(w));
        ensure_sampler(py);
    }
}

/// stop(): retire the running profiler, purge the queue, stop and join the sampler.
/// Compiled code keeps running.
pub fn stop(py: Python<'_>) {
    stop_because(py, "psyco.stop()");
}

fn stop_because(py: Python<'_>, why: &str) {
    let (had, retired, sampler) = {
        let mut e = ENGINE.lock();
        let had = e.active.is_some() || !e.queue.is_empty();
        e.queue.clear();
        let retired = e.active.take();
        if retired.is_some() {
            e.counters.retired += 1;
        }
        e.active_on = false;
        ACCEPTING.store(false, Ordering::Relaxed);
        COMPILE_ON_CALL.store(false, Ordering::Relaxed);
        psyco_promote_callees.store(0, Ordering::Relaxed);
        (had, retired, e.sampler.take())
    };
    if let Some(r) = retired {
        if r.spec.kind == Kind::Profile {
            ffi::set_profile_all_threads(py, None);
        }
        log::event("profiler_retired", 5, &format!("{}: disabled ({why})", r.spec.kind.log_name()), &[]);
    }
    if let Some(h) = sampler {
        py.allow_threads(|| h.join());
    }
    if had {
        log::event("stopped", 3, &format!("{why}: profilers stopped, queue purged"), &[]);
    }
}

/// Set once psyco's atexit handler ran: no thread may be started after it (a thread asking
/// for the GIL while the interpreter finalizes is ended by CPython in a way Rust cannot
/// survive). Profilers queued later (say, from a `__del__`) are logged and ignored.
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

pub fn is_shut_down() -> bool {
    SHUT_DOWN.load(Ordering::SeqCst)
}

/// Interpreter exit: stop everything, join both threads, write the closing lines.
pub fn shutdown(py: Python<'_>) {
    SHUT_DOWN.store(true, Ordering::SeqCst);
    stop_because(py, "program exit");
    let worker = ENGINE.lock().worker.take();
    if let Some(w) = worker {
        py.allow_threads(|| w.shutdown());
    }
    if log::is_open() {
        log::event("memory", 1, &format!("memory usage: {}+ kb", memory_bytes() / 1024), &[]);
        let date = chrono::Local::now().format("%m/%d/%y").to_string();
        log::event("exit", 20, &format!("program exit, {date}"), &[]);
        log::close();
    }
    let filter = ENGINE.lock().filter.take();
    drop(filter);
}

/// Starts the poll thread if the running profiler or the queue needs it and none runs.
/// The thread's own decision to end (`sampler_retire_if_idle`) is taken under the same lock,
/// so a profiler queued at that moment is never left without a thread.
fn ensure_sampler(_py: Python<'_>) {
    let mut e = ENGINE.lock();
    if is_shut_down() || !needs_sampler(&e) || e.sampler.as_ref().is_some_and(|h| h.is_running()) {
        return;
    }
    let old = e.sampler.replace(crate::sampler::Handle::start());
    drop(e);
    // The old thread has decided to end (its finished flag is set): let it go.
    drop(old);
}

/// Sampling profilers need the thread; full() and runonly() only for their limits, or to
/// start a queued successor.
fn needs_sampler(e: &Engine) -> bool {
    match &e.active {
        Some(a) => {
            let l = &a.spec.limits;
            a.spec.kind.samples()
                || l.memory.is_some()
                || l.time.is_some()
                || l.memorymax.is_some()
                || l.timemax.is_some()
                || !e.queue.is_empty()
        }
        None => !e.queue.is_empty(),
    }
}

/// Called by the poll thread before each tick: if there is nothing to do, marks the thread
/// finished (under the engine lock) and returns true.
pub fn sampler_retire_if_idle(finished: &AtomicBool) -> bool {
    let e = ENGINE.lock();
    if needs_sampler(&e) {
        return false;
    }
    finished.store(true, Ordering::SeqCst);
    true
}

/// Seconds the sampler should sleep before the next tick.
pub fn poll_interval() -> Duration {
    let e = ENGINE.lock();
    let hz = match &e.active {
        Some(a) if a.spec.kind.samples() => a.spec.params.pollfreq,
        _ => IDLE_TICK_HZ,
    };
    let period = Duration::from_secs_f64(1.0 / hz.clamp(0.1, 10_000.0));
    if e.active_on {
        period.min(ACTIVE_BURST)
    } else {
        period
    }
}

/// True while there is anything for the sampler thread to do.
pub fn sampler_needed() -> bool {
    needs_sampler(&ENGINE.lock())
}

// ---------------------------------------------------------------------------------------------
// One tick of the sampler thread (GIL held)
// ---------------------------------------------------------------------------------------------

/// `dt`: seconds since the previous tick. `on_python_thread`: the caller is a Python thread
/// (the main thread running a pending call) whose own stack is sampled too.
pub fn tick(py: Python<'_>, dt: f64, on_python_thread: bool) {
    let started = Instant::now();
    tick_inner(py, dt, on_python_thread);
    let spent = started.elapsed().as_nanos() as u64;
    ENGINE.lock().counters.tick_nanos += spent;
}

/// A frame that was running a function's code when its machine code was installed: it gets a
/// bounded number of ticks in which the frame switch is armed for it (see `compiler::osr`).
struct PendingSwitch {
    code: usize,
    frame: usize,
    ticks_left: u8,
}

static SWITCHES: parking_lot::Mutex<Vec<PendingSwitch>> = parking_lot::Mutex::new(Vec::new());
/// Ticks a frame stays a switch candidate (it usually switches at its next loop head, within
/// microseconds; a frame inside a long call may need more).
const SWITCH_TICKS: u8 = 8;
/// How deep in a thread's stack a candidate frame is looked for.
const SWITCH_DEPTH: usize = 16;

/// `code` was just compiled: arm the frame switch for the frames already running it. Returns
/// how many were armed for.
pub fn offer_switch(py: Python<'_>, code: &Bound<'_, PyAny>) -> usize {
    let id = code.as_ptr() as usize;
    let frames = ffi::frames_running(py, id, SWITCH_DEPTH);
    if frames.is_empty() || !crate::compiler::osr::has_switch(code) {
        return 0;
    }
    let mut pending = SWITCHES.lock();
    let before = pending.len();
    for frame in frames {
        if ffi::arm_switch(py, id, frame, SWITCH_DEPTH) {
            pending.push(PendingSwitch { code: id, frame, ticks_left: SWITCH_TICKS });
        }
    }
    pending.len() - before
}

/// A running frame of `code` switches into its machine code now (logged like a selection).
pub fn note_switch(code: &Bound<'_, PyAny>) {
    let (name, _, _) = code_location(code);
    log::event("switch", 1, &format!("switch frame: {name}"), &[("function", Val::Str(&name))]);
}

/// A switched frame finished (`frame`): it is no candidate any more; the others still
/// running are armed again at once (under full() no tick would do it).
pub fn rearm_after_switch(py: Python<'_>, frame: usize) {
    let mut pending = SWITCHES.lock();
    pending.retain(|p| p.frame != frame);
    // Each re-arm spends a tick's worth of chances, so re-arming stays bounded without ticks.
    rearm(py, &mut pending);
}

/// Arms the switch again for each candidate that has chances left and still runs (spending one
/// chance); drops the others.
fn rearm(py: Python<'_>, pending: &mut Vec<PendingSwitch>) {
    pending.retain_mut(|p| {
        if p.ticks_left == 0 {
            return false;
        }
        p.ticks_left -= 1;
        ffi::arm_switch(py, p.code, p.frame, SWITCH_DEPTH)
    });
}

/// Each tick: the tracer armed last tick is removed; candidates still running (and not yet
/// switched) are armed again until their ticks run out.
fn rearm_switches(py: Python<'_>) {
    let mut pending = SWITCHES.lock();
    if pending.is_empty() {
        return;
    }
    ffi::disarm_switch_all(py);
    rearm(py, &mut pending);
}

fn tick_inner(py: Python<'_>, dt: f64, on_python_thread: bool) {
    check_limits(py);
    rearm_switches(py);
    let (spec, polls) = {
        let mut e = ENGINE.lock();
        e.counters.ticks += 1;
        e.polls += 1;
        (e.active.as_ref().map(|a| a.spec.clone()), e.polls)
    };
    let Some(spec) = spec else { return };
    if !spec.kind.samples() {
        return;
    }
    let reset = with_charge_table(|t| t.advance(dt));
    if reset {
        log::event("reset", 1, "resetting stats", &[]);
    }

    let stacks = ffi::thread_stacks(py, Some(active_profiler_fn), MAX_STACK, on_python_thread);
    let foreign = stacks.iter().any(|t| t.foreign_hook);
    let ready = crate::sampler::charge_stacks(&stacks, dt, &spec.params);
    ENGINE.lock().counters.samples += stacks.len() as u64;
    for id in ready {
        if let Some(code) = ffi::live_code(py, id) {
            let globals = stacks
                .iter()
                .find_map(|t| t.codes.iter().position(|&c| c == id).map(|k| t.globals[k]))
                .unwrap_or(0);
            select(py, &code, "tag function", globals);
        }
    }

    if spec.kind == Kind::Profile {
        manage_active_profiler(py, polls, foreign);
    }
    maybe_dump(py);
}

fn note_foreign(foreign: bool) {
    let changed = {
        let mut e = ENGINE.lock();
        let c = e.foreign_seen != foreign;
        e.foreign_seen = foreign;
        c
    };
    if changed && foreign {
        log::event(
            "foreign_hook",
            3,
            "disabled by another tracer or profiler (sys.settrace/setprofile): stepping aside",
            &[],
        );
    } else if changed {
        log::event("foreign_hook_gone", 2, "the other tracer or profiler is gone: resuming", &[]);
    }
}

fn manage_active_profiler(py: Python<'_>, polls: u64, foreign: bool) {
    note_foreign(foreign);
    let want_on = !foreign && polls % ACTIVE_PERIOD == 1;
    let was_on = ENGINE.lock().active_on;
    if want_on {
        BURST.fetch_add(1, Ordering::Relaxed);
        ffi::set_profile_all_threads(py, Some(active_profiler_fn));
    } else if was_on || foreign {
        ffi::set_profile_all_threads(py, None);
    }
    ENGINE.lock().active_on = want_on;
}

fn maybe_dump(py: Python<'_>) {
    if !log::is_open() {
        return;
    }
    {
        let mut e = ENGINE.lock();
        let now = Instant::now();
        if e.last_dump.is_some_and(|t| now.duration_since(t) < DUMP_EVERY) {
            return;
        }
        e.last_dump = Some(now);
    }
    let rows = top_rows(py, log::top());
    if !rows.is_empty() {
        log::dump(&rows);
    }
    let mem = memory_bytes();
    let changed = {
        let mut e = ENGINE.lock();
        std::mem::replace(&mut e.memory_logged, mem) != mem
    };
    if changed {
        log::event("memory", 1, &format!("memory usage: {}+ kb", mem / 1024), &[("bytes", Val::Int(mem as i64))]);
    }
}

/// The current top charges as dump rows (names read from the live code objects).
pub fn top_rows(py: Python<'_>, n: usize) -> Vec<log::DumpRow> {
    let top = with_charge_table(|t| t.top(n));
    top.into_iter()
        .filter_map(|(id, fraction)| {
            let code = ffi::live_code(py, id)?;
            let (name, file, line) = code_location(&code);
            Some(log::DumpRow { name, file, line, fraction })
        })
        .collect()
}

/// (qualname, filename, firstlineno) of a code object.
pub fn code_location(code: &Bound<'_, PyAny>) -> (String, String, i64) {
    let s = |a: &str| code.getattr(a).ok().and_then(|v| v.extract::<String>().ok()).unwrap_or_else(|| "?".into());
    let line = code.getattr("co_firstlineno").ok().and_then(|v| v.extract::<i64>().ok()).unwrap_or(0);
    (s("co_qualname"), s("co_filename"), line)
}

// ---------------------------------------------------------------------------------------------
// The active profiler (profile()): a C profile function
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// (burst number, time) of this thread's previous profile event.
    static LAST_EVENT: std::cell::Cell<Option<(u64, Instant)>> = const { std::cell::Cell::new(None) };
}
/// Incremented when a burst of active profiling starts: the first event of a burst on each
/// thread only starts its clock (the gap since the previous burst was not profiled).
static BURST: AtomicU64 = AtomicU64::new(0);

/// The C-level profile function installed on every thread by `profile()` during its active
/// bursts. Charges the time since the previous event on this thread to the code that was
/// running in between: the caller on a call event, the frame itself on a return or before a
/// C call. Time spent inside a C function (ending in C_RETURN/C_EXCEPTION) is charged to
/// nobody: psyco cannot make it faster, and charging it would select functions that wait.
pub extern "C" fn active_profiler_fn(
    _obj: *mut py::PyObject,
    frame: *mut py::PyFrameObject,
    what: c_int,
    _arg: *mut py::PyObject,
) -> c_int {
    // SAFETY contract of Py_tracefunc: called by CPython with the GIL held.
    let py = unsafe { Python::assume_gil_acquired() };
    let now = Instant::now();
    let burst = BURST.load(Ordering::Relaxed);
    let last = LAST_EVENT.with(|c| c.replace(Some((burst, now))));
    let Some((last_burst, last)) = last else { return 0 };
    if last_burst != burst {
        return 0;
    }
    let dt = now.duration_since(last).as_secs_f64().min(0.5);
    ACTIVE_EVENTS.fetch_add(1, Ordering::Relaxed);
    if what == py::PyTrace_C_RETURN || what == py::PyTrace_C_EXCEPTION {
        return 0;
    }
    let (code, caller) = ffi::frame_codes(py, frame);
    let charged = if what == py::PyTrace_CALL { caller.or(code) } else { code };
    let Some(charged) = charged else { return 0 };
    let Some(rec) = ffi::record(&charged) else { return 0 };
    if rec.flags().intersects(Flags::DONE) {
        return 0;
    }
    let params = match ENGINE.try_lock() {
        Some(e) => match &e.active {
            Some(a) if a.spec.kind == Kind::Profile => a.spec.params,
            _ => return 0,
        },
        None => return 0,
    };
    let ready = with_charge_table(|t| {
        t.charge(rec.code, dt);
        t.is_ready(rec.code, params.watermark)
    });
    if ready {
        select(py, &charged, "tag function", ffi::frame_globals(frame));
    }
    0
}

// ---------------------------------------------------------------------------------------------
// Selection and jobs
// ---------------------------------------------------------------------------------------------

/// A compile request for the worker thread. Holds a strong reference to the code object while
/// queued (dropped by the worker under the GIL).
pub struct Job {
    pub code: Py<PyAny>,
    /// The globals a frame of the code was seen running with (a hint for inlining).
    pub globals: Option<Py<PyAny>>,
}

/// Marks `code` as selected, zeroes its charge, logs `<how>: name` and queues a compile job.
/// Returns false if the code is not eligible (already selected/compiled, cannot-compile,
/// filtered, or compilation is off).
/// `globals`: the globals (a borrowed dict pointer, 0 if unknown) of a frame running the
/// code; the worker compiles with them as its hint (`compiler::globals_hint`).
pub fn select(py: Python<'_>, code: &Bound<'_, PyAny>, how: &'static str, globals: usize) -> bool {
    let Some(rec) = ffi::record(code) else { return false };
    if !accepting() && !rec.flags().contains(Flags::BOUND) {
        return false;
    }
    if !rec.try_mark_selected() {
        return false;
    }
    log_selection(code, rec, how);
    // SAFETY: a non-zero `globals` is a live object borrowed from a frame (GIL held).
    let globals = (globals != 0).then(|| unsafe { Bound::from_borrowed_ptr(py, globals as *mut pyo3::ffi::PyObject) }.unbind());
    let job = Job { code: code.clone().unbind(), globals };
    let sender = {
        let mut e = ENGINE.lock();
        e.counters.selected += 1;
        if e.worker.is_none() && !is_shut_down() {
            e.worker = Some(worker::Handle::start());
        }
        e.worker.as_ref().map(|w| w.sender())
    };
    match sender {
        Some(s) => {
            if let Err(err) = s.send(job) {
                // Worker gone (shutting down): drop the job here, under the GIL.
                drop(err.into_inner());
                rec.clear_selected();
                return false;
            }
        }
        None => return false,
    }
    let _ = py;
    true
}

/// How quickly 1024 calls from machine code must follow one another for callee promotion.
const PROMOTE_WINDOW: Duration = Duration::from_millis(20);

/// Nanoseconds on a monotonic clock (from the first call; never 0).
fn monotonic_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// Callee promotion, the profilers' complement to sampling: a function that compiled code
/// calls over and over (1024 such calls within [`PROMOTE_WINDOW`] while it has no machine
/// code; counted by csrc/calls.c) is selected like a sampled one, logged as
/// `tag callee: name`. Without it, a
/// small function the sampler never ranks above the watermark (one of many methods a hot loop
/// calls) would keep taking the general call path from machine code and run in the interpreter
/// with its calls slowed by the frame hook — which profile() and background() must not cost.
/// The first call of a code psyco has no record for only makes the record.
#[no_mangle]
pub unsafe extern "C" fn psyco_promote_callee(func: *mut py::PyObject) {
    // SAFETY: called from compiled code (GIL held) with a live function object.
    let py = unsafe { Python::assume_gil_acquired() };
    let code = match unsafe { Bound::from_borrowed_ptr(py, func) }.getattr("__code__") {
        Ok(c) => c,
        Err(_) => return,
    };
    let Some(rec) = ffi::record(&code) else { return };
    if rec.callee_calls.load(Ordering::Relaxed) == 0 || psyco_promote_callees.load(Ordering::Relaxed) == 0 {
        return;
    }
    // Only a busy callee: its last 1024 calls from machine code came within PROMOTE_WINDOW
    // (some 50,000 calls a second). A function called now and then is left to the sampler.
    let now = monotonic_ns();
    let before = rec.callee_stamp.swap(now, Ordering::Relaxed);
    if before == 0 || now.saturating_sub(before) > PROMOTE_WINDOW.as_nanos() as u64 {
        return;
    }
    // SAFETY: reads a live function's globals pointer (borrowed for the call).
    let globals = unsafe { (*(func as *mut pyo3::ffi::PyFunctionObject)).func_globals } as usize;
    select(py, &code, "tag callee", globals);
}

/// Zeroes the selected code's charge and logs `<how>: name` with the share it had.
fn log_selection(code: &Bound<'_, PyAny>, rec: &CodeRecord, how: &str) {
    let share = with_charge_table(|t| {
        let f = t.fraction(rec.code);
        t.zero(rec.code);
        f
    });
    let (name, file, line) = code_location(code);
    log::event(
        "selected",
        1,
        &format!("{how}: {name}"),
        &[
            ("function", Val::Str(&name)),
            ("file", Val::Str(&file)),
            ("line", Val::Int(line)),
            ("charge_share", Val::Num(share)),
        ],
    );
}

/// Called by the worker (GIL held) before compiling: runs the user's filter once per code.
/// Returns false if the code must not be compiled.
pub fn passes_filter(py: Python<'_>, code: &Bound<'_, PyAny>, rec: &CodeRecord) -> bool {
    if rec.flags().contains(Flags::FILTER_SEEN) {
        return !rec.flags().contains(Flags::FILTERED);
    }
    rec.set(Flags::FILTER_SEEN);
    let filter = ENGINE.lock().filter.as_ref().map(|f| f.clone_ref(py));
    let Some(filter) = filter else { return true };
    let verdict = filter.bind(py).call1((code.clone(),)).and_then(|r| r.is_truthy());
    let ok = match verdict {
        Ok(v) => v,
        Err(e) => {
            e.write_unraisable(py, Some(&filter.into_bound(py)));
            false
        }
    };
    if !ok {
        rec.set(Flags::FILTERED);
        let (name, _, _) = code_location(code);
        ENGINE.lock().counters.filtered += 1;
        log::event("filtered", 1, &format!("filtered out: {name}"), &[("function", Val::Str(&name))]);
    }
    ok
}

/// The compiler's verdict on a job, reported by the worker or the full-mode hook.
pub fn report_outcome(py: Python<'_>, code: &Bound<'_, PyAny>, outcome: &crate::compiler::Outcome) {
    let (name, file, line) = code_location(code);
    if let Some(rec) = ffi::existing_record(code) {
        match outcome {
            crate::compiler::Outcome::Compiled { .. } => rec.set(Flags::COMPILED),
            crate::compiler::Outcome::Failed(r) => {
                rec.set(Flags::FAILED);
                *rec.reason.lock() = Some(r.clone());
            }
            crate::compiler::Outcome::Pending(r) => {
                rec.set(Flags::PENDING);
                *rec.reason.lock() = Some(r.clone());
            }
        }
    }
    let row = match outcome {
        crate::compiler::Outcome::Compiled { code_bytes } => {
            OutcomeRow { name: name.clone(), file: file.clone(), line, state: "compiled", reason: None, code_bytes: *code_bytes }
        }
        crate::compiler::Outcome::Failed(r) => {
            OutcomeRow { name: name.clone(), file: file.clone(), line, state: "failed", reason: Some(r.clone()), code_bytes: 0 }
        }
        crate::compiler::Outcome::Pending(r) => {
            OutcomeRow { name: name.clone(), file: file.clone(), line, state: "pending", reason: Some(r.clone()), code_bytes: 0 }
        }
    };
    {
        let mut e = ENGINE.lock();
        e.outcomes.push_back(row);
        while e.outcomes.len() > MAX_OUTCOMES_KEPT {
            e.outcomes.pop_front();
        }
    }
    match outcome {
        crate::compiler::Outcome::Compiled { code_bytes } => {
            add_memory(*code_bytes as isize);
            ENGINE.lock().counters.compiled += 1;
            log::event(
                "compiled",
                1,
                &format!("compiled {name}: {code_bytes} bytes"),
                &[("function", Val::Str(&name)), ("bytes", Val::Int(*code_bytes as i64))],
            );
            check_limits(py);
        }
        crate::compiler::Outcome::Failed(reason) | crate::compiler::Outcome::Pending(reason) => {
            let pending = matches!(outcome, crate::compiler::Outcome::Pending(_));
            {
                let mut e = ENGINE.lock();
                if pending {
                    e.counters.pending += 1;
                } else {
                    e.counters.failed += 1;
                }
            }
            let what = if pending { "pending" } else { "cannot compile" };
            log::event(
                if pending { "pending" } else { "compile_failed" },
                2,
                &format!("{what} {name} ({file}:{line}): {reason}"),
                &[("function", Val::Str(&name)), ("reason", Val::Str(reason))],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// API support
// ---------------------------------------------------------------------------------------------

/// setfilter(): installs a new filter, returns the previous one.
pub fn set_filter(f: Option<Py<PyAny>>) -> Option<Py<PyAny>> {
    std::mem::replace(&mut ENGINE.lock().filter, f)
}

/// A snapshot of everything `psyco.stats()` reports.
pub struct Snapshot {
    pub active: Option<Spec>,
    pub active_for: f64,
    pub queued: Vec<Spec>,
    pub counters: Counters,
    pub outcomes: Vec<OutcomeRow>,
    pub sampler_running: bool,
    pub worker_running: bool,
}

pub fn snapshot() -> Snapshot {
    let e = ENGINE.lock();
    let mut counters = e.counters.clone();
    counters.resets = with_charge_table(|t| t.resets());
    counters.active_events = ACTIVE_EVENTS.load(Ordering::Relaxed);
    Snapshot {
        active: e.active.as_ref().map(|a| a.spec.clone()),
        active_for: e.active.as_ref().map_or(0.0, |a| a.started_at.elapsed().as_secs_f64()),
        queued: e.queue.iter().cloned().collect(),
        counters,
        outcomes: e.outcomes.iter().cloned().collect(),
        sampler_running: e.sampler.as_ref().is_some_and(|h| h.is_running()),
        worker_running: e.worker.is_some(),
    }
}

/// Top charges as (code object, fraction).
pub fn top_charges<'py>(py: Python<'py>, n: usize) -> Vec<(Bound<'py, PyAny>, f64)> {
    let top = with_charge_table(|t| t.top(n));
    top.into_iter().filter_map(|(id, f)| Some((ffi::live_code(py, id)?, f))).collect()
}

/// Number of entries in the charge table (for leak tests) and the decayed total in seconds.
pub fn charge_entries() -> (usize, f64) {
    with_charge_table(|t| (t.len(), t.total()))
}

/// Compiles `code` right now on the calling thread (full mode and bound functions, at the
/// first call: that is what the user asked for). Logs, filters and reports like the worker.
pub fn compile_now(py: Python<'_>, code: &Bound<'_, PyAny>, how: &'static str) {
    let Some(rec) = ffi::record(code) else { return };
    if !rec.try_mark_selected() {
        return;
    }
    log_selection(code, rec, how);
    ENGINE.lock().counters.selected += 1;
    worker::compile_one(py, code);
}

/// `os.register_at_fork(after_in_child=...)`: the child has only the forking thread. Release
/// locks other threads held at the fork, forget the threads that do not exist here, and start
/// a new poll thread if a profiler is running (the child goes on profiling like the parent).
pub fn after_fork_child(py: Python<'_>) {
    ffi::unlock_after_fork(&ENGINE);
    ffi::unlock_after_fork(&CHARGES);
    ffi::after_fork_child();
    log::after_fork_child();
    crate::sampler::after_fork_child();
    let (sampler, worker) = {
        let mut e = ENGINE.lock();
        (e.sampler.take(), e.worker.take())
    };
    if let Some(h) = sampler {
        h.forget();
    }
    if let Some(w) = worker {
        w.forget();
    }
    ensure_sampler(py);
}
