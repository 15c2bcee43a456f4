//! The baseline code generator's frame: one linear pass over the decoded bytecode, one template
//! per instruction (in `ops/`). What the common case does not run is emitted after the body,
//! so that the code a hot loop runs stays dense in the instruction cache: first the templates'
//! own out-of-line parts ([`Emitter::out_of_line`]: helper calls behind an inline fast path,
//! second fast paths), then the shared cold exits (deopt, error, dealloc, eval breaker).
//!
//! # Machine-code conventions (pinned registers, all callee-saved in the SysV ABI)
//! - `rbx` = `&frame->localsplus[0]`: local `i` is `[rbx + 8*i]`, value-stack slot `d` is
//!   `[rbx + 8*(nlocalsplus + d)]`. The stack lives in the frame exactly as the interpreter lays
//!   it out, so a deopt only has to write `prev_instr` and `stacktop`.
//! - `r12` = frame, `r13` = tstate, `r14` = `_PyCode_CODE(co)` (for `prev_instr`),
//!   `r15` = `&interp->ceval.eval_breaker`.
//! - Entry: `extern "C" fn(tstate, frame) -> *mut PyObject`. It returns a new reference (the
//!   function's result), or [`EXIT_DEOPT`] (resume in the interpreter at `prev_instr + 1`), or
//!   [`EXIT_ERROR`] (an exception is set; the interpreter, entered with throwflag=1, unwinds from
//!   `prev_instr` exactly as its `error:` label would). Frame linking and recursion accounting
//!   are done by the caller (`ffi::exec`).
//! - Errors at an instruction the exception table covers are handled here: the error stub calls
//!   `rt_unwind` (traceback entry, stack cut to the handler's depth, lasti and exception pushed)
//!   and jumps to the handler's code. Only when no handler covers the instruction (or a C tracer
//!   must see the exception) does the stub return [`EXIT_ERROR`]. Re-raises (RERAISE, bare
//!   `raise`) unwind without a traceback entry; their templates leave for the interpreter
//!   *before* re-raising when no handler covers them, so [`EXIT_ERROR`] never follows one.
//! - Every instruction that may call out first stores `prev_instr` = its own opcode unit, as the
//!   interpreter does, so tracebacks, `sys._getframe().f_lineno` and samplers see the truth.
//!   `stacktop` is written only at exits (the interpreter keeps it at -1 while running, too).

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use super::bytecode::Snapshot;
use crate::ffi::layout as L;

/// Return value of compiled code: resume in the interpreter at `prev_instr + 1`.
pub const EXIT_DEOPT: usize = 1;
/// Return value of compiled code: an exception is set at `prev_instr`; unwind in the interpreter.
pub const EXIT_ERROR: usize = 2;

/// Why a compiled instruction leaves for the interpreter (recorded for the dump).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardKind {
    /// The opcode has no native template.
    Unsupported,
    /// A case the template leaves to the interpreter for exact semantics (unbound local,
    /// missing global, unusual unpack, ...).
    SlowCase,
    /// `eval_breaker` was set and could not be handled in place (signals, pending calls).
    EvalBreaker,
    /// A tracer or profiler was installed while this frame ran.
    Tracing,
}

/// How a set eval breaker is dealt with at a poll point.
#[derive(Clone, Copy)]
pub enum BreakerMode {
    /// Hand the GIL over if asked, then, if anything is still pending, resume the interpreter
    /// *at* the polling instruction, which polls again itself (RESUME): exact.
    DeoptAt,
    /// The poll belongs *after* the instruction (CALL, JUMP_BACKWARD, a taken backward
    /// conditional jump):
    /// run signal handlers and pending calls here, like ceval's `eval_frame_handle_pending`,
    /// reporting their exception at `err_unit` with `err_depth` values on the stack; then the
    /// GIL hand-off; anything still pending (async exceptions) resumes the interpreter.
    HandleHere { err_unit: usize, err_depth: u32 },
}

pub enum Cold {
    Deopt { label: DynamicLabel, n: usize },
    Error { label: DynamicLabel, unit: usize, depth: u32 },
    /// A re-raise at `unit` (exception set, `prev_instr` already as ceval leaves it) that a
    /// handler covers: unwind to it without a traceback entry.
    Unwind { label: DynamicLabel, unit: usize, depth: u32 },
    Breaker { label: DynamicLabel, resume: DynamicLabel, deopt_n: usize, at_unit: i64, mode: BreakerMode },
    Tracing { label: DynamicLabel, resume: DynamicLabel, deopt: DynamicLabel },
}

/// The out-of-line half of a `Py_DECREF` whose count reached zero: `prev_instr = unit`,
/// `_Py_Dealloc(rdi)`, back to `resume`. Kept apart from [`Cold`]: they are emitted first,
/// together, through one thunk (see [`Emitter::finish`]).
struct Dealloc {
    label: DynamicLabel,
    resume: DynamicLabel,
    unit: usize,
}

/// The bytes `Emitter::prologue` starts every function with (checked before its frame is
/// described to the unwinder): push rbp; push rbx; push r12; push r13; push r14; push r15;
/// sub rsp, 8 * SCRATCH_WORDS.
pub const PROLOGUE_BYTES: [u8; 14] = [0x55, 0x53, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57, 0x48, 0x83, 0xec, 8 * SCRATCH_WORDS as u8];

/// Words of scratch memory every compiled function has at `[rsp]` (reserved by the prologue;
/// an odd count keeps `rsp` 16-byte aligned at calls): where an inlined callee's body holds
/// values aside (`ops::inline`). Nothing keeps a value there across an instruction.
pub const SCRATCH_WORDS: i32 = 7;
// The CFA offset after the prologue (56 + 8 * words) is one byte of ULEB128 in the unwind
// table (`x86::unwind`): below 128.
const _: () = assert!(SCRATCH_WORDS % 2 == 1 && 56 + 8 * SCRATCH_WORDS < 128 && SCRATCH_WORDS as usize > crate::compiler::leaf::MAX_TEMPS);

/// A marker in the machine code for the dump: where an instruction's code starts, or a note.
/// Kept unformatted: compiling must not pay for text only a dump reads.
#[derive(Clone, Debug)]
pub enum Mark {
    Instr { offset: usize, op: u8, arg: u32 },
    /// Where an instruction's out-of-line code starts (see [`Emitter::out_of_line`]).
    OutOfLine { offset: usize, op: u8, arg: u32 },
    Note(String),
}

impl Mark {
    pub fn text(&self) -> String {
        match self {
            Mark::Instr { offset, op, arg } => format!("{:>4} {} {}", offset, super::opcodes::name(*op), arg),
            Mark::OutOfLine { offset, op, arg } => format!("{:>4} {} {} (out of line)", offset, super::opcodes::name(*op), arg),
            Mark::Note(t) => t.clone(),
        }
    }
}

pub struct Emitter<'a> {
    pub ops: VecAssembler<X64Relocation>,
    pub snap: &'a Snapshot,
    /// Label at the start of each instruction's code (by position in `snap.instrs`).
    pub labels: Vec<DynamicLabel>,
    deopt_labels: Vec<Option<DynamicLabel>>,
    pub epilogue: DynamicLabel,
    cold: Vec<Cold>,
    deallocs: Vec<Dealloc>,
    /// Template code placed after the body (see [`Self::out_of_line`]): (instruction
    /// position, entry label, emitter).
    deferred: Vec<(usize, DynamicLabel, Deferred)>,
    /// The instruction being emitted (position in `snap.instrs`), for [`Self::out_of_line_here`].
    current: usize,
    /// (code offset, text) markers for the dump.
    pub marks: Vec<(usize, Mark)>,
    /// Exits recorded at emit time: (instruction position, kind).
    pub guards: Vec<(usize, GuardKind)>,
    /// The constant named by a KW_NAMES waiting for its CALL (address), or 0.
    pub kwnames: usize,
    /// Set by a template that also emitted the next instruction (fusion).
    pub fused_next: bool,
    /// The instruction whose operand (the top of the stack: an attribute's owner, a jump's
    /// condition, an index, a sequence to unpack) the LOAD_FAST just before it left in rax and
    /// in its slot without a reference of its own (see `load_store::top_stays_borrowed`);
    /// taken by it through [`Self::takes_borrowed_top`].
    pub borrowed_top: Option<usize>,
    /// Instructions that code other than the instruction before them jumps to without being a
    /// bytecode jump target (the ends of fused runs): never given a borrowed operand.
    pub side_entries: Vec<usize>,
    /// LOAD_GLOBAL memos (one per site, in emission order); owned by the compiled code.
    pub global_memos: Box<[crate::ffi::runtime::GlobalMemo]>,
    pub next_memo: usize,
    /// Attribute inline caches (one per LOAD_ATTR/STORE_ATTR/LOAD_METHOD site, in emission
    /// order); owned by the compiled code.
    pub attr_caches: Box<[crate::ffi::runtime::AttrCache]>,
    pub next_attr_cache: usize,
    /// Instructions before this position already belong to a fused run (see `ops::fuse`).
    pub fuse_until: usize,
    /// Memory the loop kernels write (see `ops::kernel`): their failed-entry counters and the
    /// home slots of their float locals; owned by the compiled code.
    pub kernel_counters: Vec<Box<[std::sync::atomic::AtomicU64]>>,
    /// Indexes in `snap.callees` of the functions loop kernels inlined.
    pub inlined: Vec<usize>,
    /// Indexes in `snap.leaves` of the functions call sites inlined (`ops::inline`).
    pub inlined_leaves: Vec<usize>,
}

/// A REX.W instruction `opcode` with a register operand `reg` and the memory operand
/// `[Rq(base) + disp]`: mod 00 without displacement (not for rbp/r13), 01 with 8 bits, 10 with
/// 32; a SIB byte for rsp/r12 as base.
fn mem_op(ops: &mut VecAssembler<X64Relocation>, opcode: u8, reg: u8, base: u8, disp: i32) {
    let rex = 0x48 | ((reg >> 3) << 2) | (base >> 3);
    let md: u8 = if disp == 0 && base & 7 != 5 {
        0
    } else if (-128..128).contains(&disp) {
        1
    } else {
        2
    };
    ops.push(rex);
    ops.push(opcode);
    ops.push((md << 6) | ((reg & 7) << 3) | (base & 7));
    if base & 7 == 4 {
        ops.push(0x24);
    }
    match md {
        1 => ops.push(disp as i8 as u8),
        2 => ops.extend(&disp.to_le_bytes()),
        _ => {}
    }
}

/// Register numbers for [`Emitter::load_q`] and its kin (as `Rq(n)` takes them).
pub mod reg {
    pub const RAX: u8 = 0;
    pub const RCX: u8 = 1;
    pub const RDX: u8 = 2;
    pub const RBX: u8 = 3;
    pub const RBP: u8 = 5;
    pub const RSI: u8 = 6;
    pub const RDI: u8 = 7;
    pub const R8: u8 = 8;
    pub const R10: u8 = 10;
    pub const R12: u8 = 12;
}

/// Code of instruction `n` that [`Emitter::out_of_line`] emits after the body.
pub type Deferred = Box<dyn for<'x> FnOnce(&mut Emitter<'x>)>;

/// Emits into `$e.ops` in x64 mode.
#[macro_export]
macro_rules! asm {
    ($e:expr; $($t:tt)*) => {
        dynasm!($e.ops ; .arch x64 ; $($t)*)
    };
}
pub use asm;

impl<'a> Emitter<'a> {
    pub fn new(snap: &'a Snapshot) -> Emitter<'a> {
        let mut ops = VecAssembler::<X64Relocation>::new(0);
        let labels = (0..snap.instrs.len()).map(|_| ops.new_dynamic_label()).collect();
        let epilogue = ops.new_dynamic_label();
        Emitter {
            ops,
            snap,
            labels,
            deopt_labels: vec![None; snap.instrs.len()],
            epilogue,
            cold: Vec::new(),
            deallocs: Vec::new(),
            deferred: Vec::new(),
            current: 0,
            marks: Vec::new(),
            guards: Vec::new(),
            kwnames: 0,
            fused_next: false,
            borrowed_top: None,
            side_entries: Vec::new(),
            global_memos: {
                let n = snap.instrs.iter().filter(|i| i.op == super::opcodes::LOAD_GLOBAL).count();
                (0..n).map(|_| crate::ffi::runtime::GlobalMemo::default()).collect()
            },
            next_memo: 0,
            attr_caches: {
                use super::opcodes as op;
                let n = snap.instrs.iter().filter(|i| matches!(i.op, op::LOAD_ATTR | op::STORE_ATTR | op::LOAD_METHOD)).count();
                (0..n).map(|_| crate::ffi::runtime::AttrCache::default()).collect()
            },
            next_attr_cache: 0,
            fuse_until: 0,
            kernel_counters: Vec::new(),
            inlined: Vec::new(),
            inlined_leaves: Vec::new(),
        }
    }

    pub fn offset(&self) -> usize {
        self.ops.offset().0
    }

    pub fn mark(&mut self, text: String) {
        let off = self.offset();
        self.marks.push((off, Mark::Note(text)));
    }

    /// Marks the start of instruction `n`'s code (formatted only when a dump asks).
    pub fn mark_instr(&mut self, n: usize) {
        self.current = n;
        let off = self.offset();
        let ins = &self.snap.instrs[n];
        self.marks.push((off, Mark::Instr { offset: ins.start * 2, op: ins.op, arg: ins.arg }));
    }

    /// Address of the memo the `k`-th LOAD_GLOBAL site from here will take (0: the next one),
    /// for a fast path emitted ahead of that site's own code; None past the last one.
    pub fn peek_global_memo(&mut self, k: usize) -> Option<usize> {
        let i = self.next_memo + k;
        (i < self.global_memos.len()).then(|| &mut self.global_memos[i] as *mut _ as usize)
    }

    /// Jumps to `miss` unless the LOAD_GLOBAL memo whose address is in `Rq(m)` still holds:
    /// the frame's globals and builtins dicts have the versions it was filled under, and it
    /// has a value. Leaves that value (borrowed) in rax. Clobbers rdx. The one check of a memo
    /// (LOAD_GLOBAL itself and the fused runs that read a global through it).
    pub fn global_memo_value(&mut self, m: u8, miss: DynamicLabel) {
        self.load_q(reg::RAX, reg::R12, L::FRAME_F_GLOBALS);
        self.load_q(reg::RDX, reg::RAX, L::DICT_VERSION_TAG);
        asm!(self
            ; cmp rdx, [Rq(m)]
            ; jne =>miss
        );
        self.load_q(reg::RAX, reg::R12, L::FRAME_F_BUILTINS);
        self.load_q(reg::RDX, reg::RAX, L::DICT_VERSION_TAG);
        asm!(self
            ; cmp rdx, [Rq(m) + 8]
            ; jne =>miss
            ; mov rax, [Rq(m) + 16]
            ; test rax, rax
            ; jz =>miss
        );
    }

    /// Address of a new loop-kernel counter (stable: boxed).
    pub fn new_kernel_counter(&mut self) -> usize {
        self.new_kernel_words(1)
    }

    /// `n` zeroed words for a loop kernel's use (stable address, kept with the code).
    pub fn new_kernel_words(&mut self, n: usize) -> usize {
        let c: Box<[std::sync::atomic::AtomicU64]> = (0..n).map(|_| std::sync::atomic::AtomicU64::new(0)).collect();
        let addr = c.as_ptr() as usize;
        self.kernel_counters.push(c);
        addr
    }

    /// Address of the next LOAD_GLOBAL site's memo (stable: the boxed slice never moves).
    pub fn take_global_memo(&mut self) -> usize {
        let i = self.next_memo;
        self.next_memo += 1;
        &mut self.global_memos[i] as *mut _ as usize
    }

    /// Address of the cache the `k`-th attribute site from here will take (0: the next one),
    /// for a fast path emitted ahead of that site's own code; None past the last one.
    pub fn peek_attr_cache(&mut self, k: usize) -> Option<usize> {
        let i = self.next_attr_cache + k;
        (i < self.attr_caches.len()).then(|| &mut self.attr_caches[i] as *mut _ as usize)
    }

    /// Address of the next attribute site's inline cache (stable: the boxed slice never moves).
    pub fn take_attr_cache(&mut self) -> usize {
        let i = self.next_attr_cache;
        self.next_attr_cache += 1;
        &mut self.attr_caches[i] as *mut _ as usize
    }

    /// The common shape of an attribute instruction `n` at depth `d`: `prev_instr` at it,
    /// `rdi` = slot `d`, `rsi` = the name `names[arg]`, `rdx` = the site's inline `cache`, then
    /// a call to `f` (one of `ffi::attr_helpers`). Returns the instruction's unit.
    pub fn call_attr_helper(&mut self, n: usize, d: u32, f: usize, cache: usize) -> usize {
        let ins = &self.snap.instrs[n];
        let (name, u) = (self.snap.names[ins.arg as usize] as i64, ins.idx);
        let cache = cache as i64;
        let s = self.slot(d);
        self.set_prev(u as i64);
        asm!(self
            ; lea rdi, [rbx + s]
            ; mov rsi, QWORD name
            ; mov rdx, QWORD cache
        );
        self.call(f);
        u
    }

    /// `mov Rq(dst), [Rq(base) + disp]` in its shortest form. dynasm encodes a displacement
    /// that is not a literal with 32 bits; the stack slots and object fields the templates
    /// read most fit in 8, which saves 3 bytes of hot code per access.
    pub fn load_q(&mut self, dst: u8, base: u8, disp: i32) {
        self.mem_op(0x8b, dst, base, disp);
    }

    /// `lea Rq(dst), [Rq(base) + disp]` in its shortest form (see [`Self::load_q`]).
    pub fn lea_q(&mut self, dst: u8, base: u8, disp: i32) {
        self.mem_op(0x8d, dst, base, disp);
    }

    /// `mov [Rq(base) + disp], Rq(src)` in its shortest form (see [`Self::load_q`]).
    pub fn store_q(&mut self, base: u8, disp: i32, src: u8) {
        self.mem_op(0x89, src, base, disp);
    }

    fn mem_op(&mut self, opcode: u8, reg: u8, base: u8, disp: i32) {
        mem_op(&mut self.ops, opcode, reg, base, disp);
    }

    /// True if instruction `n`'s top operand was left borrowed by the LOAD_FAST before it (in
    /// rax and in its slot, without a reference): `n` then owes the reference only on its ways
    /// to a helper ([`Self::incref_slot`]). Clears the mark either way.
    pub fn takes_borrowed_top(&mut self, n: usize) -> bool {
        self.borrowed_top.take() == Some(n)
    }

    /// `Py_INCREF` of the object in stack slot `slot` (loaded into rcx): a borrowed operand
    /// becoming the owned reference the interpreter's stack would hold.
    pub fn incref_slot(&mut self, slot: i32) {
        self.load_q(reg::RCX, reg::RBX, slot);
        asm!(self ; add QWORD [rcx], 1);
    }

    /// The out-of-line helper call of an attribute site (LOAD_ATTR, STORE_ATTR, LOAD_METHOD)
    /// whose inline probe missed: attribute helper `which` of `ffi::attr_helpers` through
    /// [`Self::call_attr_helper`], an error exit with `err_depth` values on the stack (those
    /// ceval would still hold), then on to `done`. Returns the label to jump to.
    pub fn attr_helper_out_of_line(&mut self, n: usize, d: u32, which: usize, cache: usize, err_depth: u32, done: DynamicLabel) -> DynamicLabel {
        self.out_of_line(n, move |e| {
            let u = e.call_attr_helper(n, d, crate::ffi::attr_helpers()[which], cache);
            e.check_error(u, err_depth);
            asm!(e ; jmp =>done);
        })
    }

    /// Displacement from `rbx` of value-stack slot `d`.
    pub fn slot(&self, d: u32) -> i32 {
        8 * (self.snap.nlocalsplus as i32 + d as i32)
    }

    /// Displacement from `rbx` of local `i`.
    pub fn local(&self, i: u32) -> i32 {
        8 * i as i32
    }

    /// The prologue below, as the unwinder must see it: after each instruction, the CFA's
    /// distance from rsp and the register just pushed (DWARF number, slot below the CFA).
    /// Keep in step with `prologue`: push rbp, rbx, r12..r15 (1+1+2+2+2+2 bytes), sub rsp, 8.
    pub const PROLOGUE_UNWIND: [crate::x86::unwind::FrameStep; 7] = {
        use crate::x86::unwind::FrameStep as S;
        [
            S { advance: 1, cfa_offset: 16, saved: Some((6, 2)) },  // push rbp
            S { advance: 1, cfa_offset: 24, saved: Some((3, 3)) },  // push rbx
            S { advance: 2, cfa_offset: 32, saved: Some((12, 4)) }, // push r12
            S { advance: 2, cfa_offset: 40, saved: Some((13, 5)) }, // push r13
            S { advance: 2, cfa_offset: 48, saved: Some((14, 6)) }, // push r14
            S { advance: 2, cfa_offset: 56, saved: Some((15, 7)) }, // push r15
            S { advance: 4, cfa_offset: 56 + 8 * SCRATCH_WORDS as u8, saved: None }, // sub rsp, 8 * SCRATCH_WORDS
        ]
    };

    pub fn prologue(&mut self) {
        let first = self.snap.first_instr as i64;
        let breaker = self.snap.eval_breaker as i64;
        asm!(self
            ; push rbp
            ; push rbx
            ; push r12
            ; push r13
            ; push r14
            ; push r15
            ; sub rsp, 8 * SCRATCH_WORDS
            ; mov r13, rdi
            ; mov r12, rsi
            ; lea rbx, [rsi + L::FRAME_LOCALSPLUS]
            ; mov r14, QWORD first
            ; mov r15, QWORD breaker
        );
    }

    /// `frame->prev_instr = first_instr + unit` (unit may be -1: "before the first").
    pub fn set_prev(&mut self, unit: i64) {
        let disp = (2 * unit) as i32;
        asm!(self
            ; lea rax, [r14 + disp]
            ; mov [r12 + L::FRAME_PREV_INSTR], rax
        );
    }

    /// Calls an `extern "C"` function at `addr` (arguments already in place).
    pub fn call(&mut self, addr: usize) {
        asm!(self
            ; mov rax, QWORD (addr as i64)
            ; call rax
        );
    }

    /// The common shape of a runtime-helper call for instruction `n` at stack depth `d`:
    /// `prev_instr` at the instruction, `rdi` = address of slot `d` (just above the top of the
    /// value stack), `esi` = `esi` if given, then the call. Returns the instruction's unit.
    pub fn call_stack_helper(&mut self, n: usize, d: u32, esi: Option<i32>, f: usize) -> usize {
        let u = self.snap.instrs[n].idx;
        let s = self.slot(d);
        self.set_prev(u as i64);
        asm!(self ; lea rdi, [rbx + s]);
        if let Some(v) = esi {
            asm!(self ; mov esi, v);
        }
        self.call(f);
        u
    }

    /// Boxes the i64 in `r8` as an int: `rax` = a new reference, or NULL with MemoryError set.
    /// -5..=256 come from CPython's small-int cache inline (what `PyLong_FromLongLong` returns
    /// for them); anything else is a call to it. Clobbers caller-saved registers.
    pub fn box_int_r8(&mut self) {
        let base = crate::ffi::small_ints() as i64;
        let stride = crate::ffi::expected::SIZEOF_LONG_OBJECT as i32;
        let from = crate::ffi::runtime::long_from_long_long() as i64;
        let done = self.ops.new_dynamic_label();
        let big = self.out_of_line_here(move |e| {
            asm!(e
                ; mov rdi, r8
                ; mov rax, QWORD from
                ; call rax
                ; jmp =>done
            );
        });
        asm!(self
            ; lea rax, [r8 + 5]
            ; cmp rax, 262
            ; jae =>big
            ; imul rax, rax, stride
            ; mov rdx, QWORD base
            ; add rax, rdx
            ; add QWORD [rax], 1
            ; =>done
        );
    }

    /// The i64 in `r8` as the new value of stack slot `s` (a range loop's next value, a fused
    /// int result): when a STORE_FAST follows (`store_after`, from [`Self::store_fast_after`])
    /// written in place into that local if [`Self::store_int_in_place`] can, which jumps past
    /// the store; otherwise boxed into `s`, a failed allocation going to `oom`.
    pub fn int_r8_to_slot(&mut self, s: i32, store_after: Option<(i32, DynamicLabel)>, oom: DynamicLabel) {
        if let Some((l, after_store)) = store_after {
            self.store_int_in_place(l, after_store);
        }
        self.box_int_r8();
        asm!(self
            ; test rax, rax
            ; jz =>oom
        );
        self.store_q(reg::RBX, s, reg::RAX);
    }

    /// Stores the i64 in `r8` into local `l` by overwriting the int the local holds, when
    /// that is unobservable: the local's object is an exact int nobody else references
    /// (refcount 1), and the value is outside the small-int cache (-5..=256, which must stay
    /// the cached objects) and fits the digits the object has: every int has at least one
    /// digit allocated (`_PyLong_New` of 3.11), one whose `|ob_size|` is 2 or more has two.
    /// Then jumps to `done`, the local already holding the value; otherwise falls through
    /// with `r8` intact. This is the allocation a counter (`i += 1`, a range loop variable,
    /// an LCG state) would otherwise pay per step. Clobbers rax, rcx, rdx, r9, r11.
    pub fn store_int_in_place(&mut self, l: i32, done: DynamicLabel) {
        asm!(self ; mov rax, [rbx + l]);
        self.overwrite_int(done);
    }

    /// [`Self::store_int_in_place`] for the object pointer stored at the address in `r10` (an
    /// attribute's slot); keeps r10.
    pub fn store_int_in_place_at_r10(&mut self, done: DynamicLabel) {
        asm!(self ; mov rax, [r10]);
        self.overwrite_int(done);
    }

    /// Jumps to `other` unless rax holds an object of exactly type `tp` that nothing else
    /// references (refcount 1): one whose value may be overwritten unseen. Clobbers r11.
    fn require_unshared(&mut self, tp: usize, other: DynamicLabel) {
        asm!(self
            ; test rax, rax
            ; jz =>other
            ; cmp QWORD [rax], 1 // ob_refcnt
            ; jne =>other
            ; mov r11, QWORD tp as i64
            ; cmp [rax + L::OB_TYPE], r11
            ; jne =>other
        );
    }

    /// The body of the two above, with the object (or NULL) in rax.
    fn overwrite_int(&mut self, done: DynamicLabel) {
        let not_in_place = self.ops.new_dynamic_label();
        // Small results (the common loop counter) leave first: they are the cached objects.
        asm!(self
            ; lea r11, [r8 + 5]
            ; cmp r11, 262
            ; jb =>not_in_place
        );
        self.require_unshared(crate::ffi::runtime::long_type(), not_in_place);
        asm!(self
            ; mov rcx, r8
            ; sar rcx, 63 // the sign as a mask
            ; mov rdx, r8
            ; xor rdx, rcx
            ; sub rdx, rcx // |value|
            ; mov r9, rdx
            ; shr r9, 30 // the second digit
            ; cmp r9, 0x3FFF_FFFF
            ; ja =>not_in_place
            ; or rcx, 1 // the sign: -1 or 1
            ; test r9, r9
            ; jnz >two_digits
            ; mov [rax + L::LONG_OB_DIGIT], edx
            ; mov [rax + L::VAR_OB_SIZE], rcx
            ; jmp =>done
            ; two_digits:
            ; mov r11, [rax + L::VAR_OB_SIZE]
            ; add r11, 1
            ; cmp r11, 2
            ; jbe =>not_in_place // only one digit allocated
            ; and edx, 0x3FFF_FFFF
            ; mov [rax + L::LONG_OB_DIGIT], edx
            ; mov [rax + L::LONG_OB_DIGIT + 4], r9d
            ; shl rcx, 1
            ; mov [rax + L::VAR_OB_SIZE], rcx
            ; jmp =>done
            ; =>not_in_place
        );
    }

    /// The float counterpart of [`Self::store_int_in_place`]: the double in `xmm0` goes into
    /// local `l`'s exact float if nothing else references it, then a jump to `done`;
    /// otherwise falls through with `xmm0` intact.
    pub fn store_float_in_place(&mut self, l: i32, done: DynamicLabel) {
        asm!(self ; mov rax, [rbx + l]);
        self.store_float_in_place_rax(done);
    }

    /// [`Self::store_float_in_place`] into the object in rax (NULL allowed). Clobbers r11.
    pub fn store_float_in_place_rax(&mut self, done: DynamicLabel) {
        let not_in_place = self.ops.new_dynamic_label();
        self.require_unshared(crate::ffi::runtime::float_type(), not_in_place);
        asm!(self
            ; movsd QWORD [rax + L::FLOAT_OB_FVAL], xmm0
            ; jmp =>done
            ; =>not_in_place
        );
    }

    /// After a boxing call: the new reference in rax (NULL: jump to `oom`) replaces the object
    /// in the slot whose address is in `Rq(slot)` (a callee-saved register or one reloaded
    /// after the call), and the old object (or NULL) is released as instruction `unit`.
    pub fn replace_with_rax(&mut self, slot: u8, unit: usize, oom: DynamicLabel) {
        asm!(self
            ; test rax, rax
            ; jz =>oom
            ; mov rdi, [Rq(slot)]
            ; mov [Rq(slot)], rax
        );
        self.xdecref_rdi(unit);
    }

    /// If instruction `n + 1` is a STORE_FAST that nothing jumps to (so a value produced by
    /// `n` can go straight into its local): (the local's offset, the label after the store).
    pub fn store_fast_after(&self, n: usize) -> Option<(i32, DynamicLabel)> {
        let snap = self.snap;
        let next = snap.instrs.get(n + 1)?;
        let ok = next.op == super::opcodes::STORE_FAST
            && !snap.is_target[n + 1]
            && n + 2 < snap.instrs.len()
            && snap.depth[n + 2].is_some();
        ok.then(|| (self.local(next.arg), self.labels[n + 2]))
    }

    /// `Py_DECREF` of the object in `rdi` (clobbers caller-saved registers on the slow path).
    /// A destructor may run arbitrary code, so the slow path first stores `prev_instr = unit`.
    /// The slow path is a cold stub at the end of the function: inline, a decrement and a
    /// branch not taken in the common case (10 bytes instead of about 35).
    pub fn decref_rdi(&mut self, unit: usize) {
        let label = self.ops.new_dynamic_label();
        let resume = self.ops.new_dynamic_label();
        asm!(self
            ; sub QWORD [rdi], 1
            ; jz =>label
            ; =>resume
        );
        self.deallocs.push(Dealloc { label, resume, unit });
    }

    /// `Py_DECREF` of the object in value-stack or local slot `slot` (a displacement from
    /// `rbx`), as [`Self::decref_rdi`].
    pub fn decref_slot(&mut self, unit: usize, slot: i32) {
        self.load_q(reg::RDI, reg::RBX, slot);
        self.decref_rdi(unit);
    }

    /// `Py_XDECREF` of `rdi`.
    pub fn xdecref_rdi(&mut self, unit: usize) {
        asm!(self ; test rdi, rdi ; jz >skip);
        self.decref_rdi(unit);
        asm!(self ; skip:);
    }

    /// After a helper returning 0 (done), 1 (leave this case to the interpreter: deopt at
    /// instruction `n`, nothing consumed) or -1 (exception; `err_depth` values left).
    pub fn dispatch_result(&mut self, n: usize, err_depth: u32) {
        let unit = self.snap.instrs[n].idx;
        let err = self.error_label(unit, err_depth);
        let deopt = self.deopt_label(n, GuardKind::SlowCase);
        asm!(self
            ; test eax, eax
            ; jz >ok
            ; js =>err
            ; jmp =>deopt
            ; ok:
        );
    }

    /// After a helper returning 0 for success: on nonzero go to an error exit that leaves
    /// `depth` values on the stack (what the interpreter's `error:` label would pop).
    pub fn check_error(&mut self, unit: usize, depth: u32) {
        let label = self.ops.new_dynamic_label();
        asm!(self ; test eax, eax ; jnz =>label);
        self.cold.push(Cold::Error { label, unit, depth });
    }

    /// Jump to an error exit unconditionally (the helper already reported failure).
    pub fn error_label(&mut self, unit: usize, depth: u32) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.cold.push(Cold::Error { label, unit, depth });
        label
    }

    /// Re-raise at `unit` with `depth` values on the stack; the caller has checked at compile
    /// time that a handler covers `unit` ([`Snapshot::handler_for`]).
    pub fn unwind_label(&mut self, unit: usize, depth: u32) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.cold.push(Cold::Unwind { label, unit, depth });
        label
    }

    /// The handler that an error at `unit` with `depth` values on the stack goes to, as the
    /// label of its code, if compiled code can enter it (it is reachable and the stack is at
    /// least as deep as the handler's level; both always hold for bytecode from compile.c).
    pub fn handler_entry(&self, unit: usize, depth: u32) -> Option<(super::exctable::Handler, DynamicLabel)> {
        let h = self.snap.handler_for(unit)?;
        let pos = self.snap.at_unit(h.target)?;
        let ok = self.snap.depth[pos] == Some(h.entry_depth()) && depth >= h.depth;
        ok.then(|| (h, self.labels[pos]))
    }

    /// Calls `rt_unwind` for an error at `unit` with `depth` values and jumps to the handler
    /// when it returns 0. Emits nothing if no handler covers `unit`.
    fn emit_unwind(&mut self, unit: usize, depth: u32, with_tb: bool) {
        let Some((h, target)) = self.handler_entry(unit, depth) else { return };
        let base = self.slot(0);
        asm!(self
            ; mov rdi, r12
            ; lea rsi, [rbx + base]
            ; mov edx, depth as i32
            ; mov ecx, h.depth as i32
            ; mov r8d, h.lasti as i32
            ; mov r9d, with_tb as i32
        );
        self.call(crate::ffi::runtime_exc::rt_unwind as *const () as usize);
        asm!(self
            ; test eax, eax
            ; jz =>target
        );
    }

    /// Code of instruction `n` that the common case does not run (a helper call after an inline
    /// fast path missed, a rarely taken convention): `f` is emitted after the function's body
    /// (before the cold exits), starting at the returned label, and must end by a jump to a
    /// dynamic label of the body (dynasm's local labels do not cross between the two). The
    /// straight-line code the common case runs stays dense in the instruction cache: inline, it
    /// costs one not-taken branch to that label.
    pub fn out_of_line(&mut self, n: usize, f: impl for<'x> FnOnce(&mut Emitter<'x>) + 'static) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.out_of_line_to(n, label, f);
        label
    }

    /// [`Self::out_of_line`] starting at a label the caller made (and already jumps to).
    pub fn out_of_line_to(&mut self, n: usize, label: DynamicLabel, f: impl for<'x> FnOnce(&mut Emitter<'x>) + 'static) {
        self.deferred.push((n, label, Box::new(f)));
    }

    /// [`Self::out_of_line`] for the instruction being emitted (for shared pieces such as
    /// [`Self::box_int_r8`] that do not know it).
    pub fn out_of_line_here(&mut self, f: impl for<'x> FnOnce(&mut Emitter<'x>) + 'static) -> DynamicLabel {
        self.out_of_line(self.current, f)
    }

    /// [`Self::out_of_line_to`] for the instruction being emitted.
    pub fn out_of_line_here_to(&mut self, label: DynamicLabel, f: impl for<'x> FnOnce(&mut Emitter<'x>) + 'static) {
        self.out_of_line_to(self.current, label, f)
    }

    /// The exit that resumes the interpreter *at* instruction `n` (with its depth).
    pub fn deopt_label(&mut self, n: usize, kind: GuardKind) -> DynamicLabel {
        self.guards.push((n, kind));
        if let Some(l) = self.deopt_labels[n] {
            return l;
        }
        let label = self.ops.new_dynamic_label();
        self.deopt_labels[n] = Some(label);
        self.cold.push(Cold::Deopt { label, n });
        label
    }

    /// Leaves for the interpreter at instruction `n` now.
    pub fn deopt_now(&mut self, n: usize, kind: GuardKind) {
        let l = self.deopt_label(n, kind);
        asm!(self ; jmp =>l);
    }

    /// Polls `eval_breaker` (see [`BreakerMode`]); `deopt_n` is the instruction the interpreter
    /// resumes at if something stays pending, `at_unit` the `prev_instr` while handling it.
    pub fn check_eval_breaker(&mut self, deopt_n: usize, at_unit: i64, mode: BreakerMode) {
        let label = self.ops.new_dynamic_label();
        let resume = self.ops.new_dynamic_label();
        asm!(self
            ; cmp DWORD [r15], 0
            ; jne =>label
            ; =>resume
        );
        self.guards.push((deopt_n, GuardKind::EvalBreaker));
        self.cold.push(Cold::Breaker { label, resume, deopt_n, at_unit, mode });
    }

    /// After a call: if `tstate->cframe->use_tracing` is set and a foreign tracer/profiler is
    /// now active (sys.settrace ran inside the call), resume the interpreter at instruction
    /// `deopt_n` so the rest of this frame produces trace events as in CPython.
    pub fn check_tracing(&mut self, deopt_n: usize) {
        let cold = self.ops.new_dynamic_label();
        let resume = self.ops.new_dynamic_label();
        let dl = self.deopt_label(deopt_n, GuardKind::Tracing);
        asm!(self
            ; mov rax, [r13 + L::TSTATE_CFRAME]
            ; cmp BYTE [rax + L::CFRAME_USE_TRACING], 0
            ; jne =>cold
            ; =>resume
        );
        self.cold.push(Cold::Tracing { label: cold, resume, deopt: dl });
    }

    /// Emits the epilogue and every cold stub.
    pub fn finish(&mut self) {
        let ep = self.epilogue;
        self.mark("epilogue".into());
        asm!(self
            ; =>ep
            ; add rsp, 8 * SCRATCH_WORDS
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop r12
            ; pop rbx
            ; pop rbp
            ; ret
        );
        // Out-of-line template code first (it may add cold exits, and in turn more of itself).
        while !self.deferred.is_empty() {
            for (n, label, f) in std::mem::take(&mut self.deferred) {
                let off = self.offset();
                let ins = &self.snap.instrs[n];
                self.marks.push((off, Mark::OutOfLine { offset: ins.start * 2, op: ins.op, arg: ins.arg }));
                asm!(self ; =>label);
                self.current = n;
                f(self);
            }
        }
        self.mark("cold exits".into());
        // Releases reaching zero first: they run often (temporaries), so they are packed
        // together, each a call of one shared thunk that sets `prev_instr` (from rax) and
        // tail-calls `_Py_Dealloc` (rsp at the thunk is as at any function's entry).
        // (Only template code makes them, and all of it is emitted by now.)
        let deallocs = std::mem::take(&mut self.deallocs);
        if !deallocs.is_empty() {
            let thunk = self.ops.new_dynamic_label();
            for Dealloc { label, resume, unit } in deallocs {
                let disp = (2 * unit) as i32;
                asm!(self
                    ; =>label
                    ; lea rax, [r14 + disp]
                    ; call =>thunk
                    ; jmp =>resume
                );
            }
            let dealloc = crate::ffi::runtime::dealloc_addr() as i64;
            asm!(self
                ; =>thunk
                ; mov [r12 + L::FRAME_PREV_INSTR], rax
                ; mov rax, QWORD dealloc
                ; jmp rax
            );
        }
        let nlp = self.snap.nlocalsplus as i32;
        let mut i = 0;
        // Breaker stubs may create deopt stubs: iterate until no new ones appear.
        while i < self.cold.len() {
            match self.cold[i] {
                Cold::Deopt { label, n } => {
                    let ins = &self.snap.instrs[n];
                    let start = ins.start as i64;
                    let depth = self.snap.depth[n].expect("deopt target is reachable") as i32;
                    asm!(self ; =>label);
                    self.set_prev(start - 1);
                    asm!(self
                        ; mov DWORD [r12 + L::FRAME_STACKTOP], nlp + depth
                        ; mov eax, EXIT_DEOPT as i32
                        ; jmp =>ep
                    );
                }
                Cold::Error { label, unit, depth } => {
                    asm!(self ; =>label);
                    self.set_prev(unit as i64);
                    self.emit_unwind(unit, depth, true);
                    asm!(self
                        ; mov DWORD [r12 + L::FRAME_STACKTOP], nlp + depth as i32
                        ; mov eax, EXIT_ERROR as i32
                        ; jmp =>ep
                    );
                }
                Cold::Unwind { label, unit, depth } => {
                    asm!(self ; =>label);
                    self.emit_unwind(unit, depth, false);
                    // Unreachable: without a traceback entry rt_unwind always unwinds, and the
                    // template checked that a handler exists.
                    asm!(self ; ud2);
                }
                Cold::Tracing { label, resume, deopt } => {
                    let helper = crate::ffi::runtime::rt_tracing_started as *const () as usize;
                    asm!(self
                        ; =>label
                        ; mov rdi, r13
                    );
                    self.call(helper);
                    asm!(self
                        ; test eax, eax
                        ; jz =>resume
                        ; jmp =>deopt
                    );
                }
                Cold::Breaker { label, resume, deopt_n, at_unit, mode } => {
                    let dl = self.deopt_label(deopt_n, GuardKind::EvalBreaker);
                    asm!(self ; =>label);
                    self.set_prev(at_unit);
                    match mode {
                        BreakerMode::DeoptAt => {
                            let helper = crate::ffi::runtime::rt_eval_breaker as *const () as usize;
                            asm!(self ; mov rdi, r13);
                            self.call(helper);
                            asm!(self
                                ; test eax, eax
                                ; jz =>resume
                                ; jmp =>dl
                            );
                        }
                        BreakerMode::HandleHere { err_unit, err_depth } => {
                            let helper = crate::ffi::runtime::rt_handle_pending as *const () as usize;
                            let err = self.error_label(err_unit, err_depth);
                            asm!(self ; mov rdi, r13);
                            self.call(helper);
                            asm!(self
                                ; test eax, eax
                                ; jz =>resume
                                ; js =>err
                                ; jmp =>dl
                            );
                        }
                    }
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `load_q`/`store_q` encode what they say, in the shortest form, for every register pair
    /// (decoded back with iced-x86, the dump's disassembler).
    #[test]
    fn short_memory_operands_decode_as_written() {
        const NAMES: [&str; 16] = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
        for reg in 0..16u8 {
            for base in 0..16u8 {
                for disp in [0i32, 8, -8, 127, -128, 128, 0x180, -0x1000] {
                    for store in [false, true] {
                        let mut ops = VecAssembler::<X64Relocation>::new(0);
                        mem_op(&mut ops, if store { 0x89 } else { 0x8b }, reg, base, disp);
                        let code = ops.finalize().unwrap();
                        let text = crate::x86::disassemble(&code, 0, &[]);
                        // iced-x86 writes small numbers in decimal, others in hex with "h".
                        let num = |v: i32| if v < 10 { format!("{v}") } else { format!("{v:X}h") };
                        let mem = match disp {
                            0 => format!("[{}]", NAMES[base as usize]),
                            d if d < 0 => format!("[{}-{}]", NAMES[base as usize], num(-d)),
                            d => format!("[{}+{}]", NAMES[base as usize], num(d)),
                        };
                        let want = if store { format!("mov {},{}", mem, NAMES[reg as usize]) } else { format!("mov {},{}", NAMES[reg as usize], mem) };
                        assert!(text.contains(&want), "{want} vs {text}");
                        let sib = (base & 7 == 4) as usize;
                        let d = if disp == 0 && base & 7 != 5 { 0 } else if (-128..128).contains(&disp) { 1 } else { 4 };
                        assert_eq!(code.len(), 3 + sib + d, "{want}");
                    }
                }
            }
        }
    }
}
