//! Inlined calls: a CALL whose callable may be a leaf callee (`compiler::leaf`, found by
//! `bytecode::leaf_callees`) gets, in front of its ordinary paths, the callee's body evaluated
//! in registers on the call's own stack slots: no frame, no argument copying, one reference
//! made (the result's). `self.tokens[self.pos]`, `self.head is None`, `a * x + b` become a few
//! loads and tests.
//!
//! # Invariants
//! - The fast path is taken only when the real call would run exactly that body: the callable
//!   is a function whose `__code__` is the leaf's code (any function of that code: a leaf reads
//!   no cells or defaults, and globals only when the function runs with the frame's globals
//!   and builtins, which is checked), called positionally with its parameter count, with no
//!   tracer or profiler to see a call event, and with the recursion check's room for one more
//!   frame (3.11's `_Py_EnterRecursivePy` fails when `recursion_remaining` is ≤ 0).
//! - Every guard of the body (`compiler::leaf`'s invariants) jumps to the next mode, then to
//!   the ordinary call code, with nothing written: the stack still holds the callable and the
//!   arguments as the interpreter left them.
//! - A method call inside the body (`Expr::Call`) finds the method the receiver binds through
//!   a cache of its own (`psyco_method_peek` fills it), compares its code with the candidates'
//!   and evaluates that candidate's body with its parameters in scratch words; no candidate, or
//!   no room under the recursion limit for a second frame, is a failed guard.
//! - Values held aside live in the frame's scratch words (`emit::SCRATCH_WORDS`, `[rsp]`),
//!   never across a call that could run Python code (the helpers the body calls, attribute
//!   and method cache fills, run none).
//! - On success the result is a new reference; the call's slots are released as the call would
//!   release them (each a `Py_DECREF` that may run a destructor, `prev_instr` at the CALL) and
//!   the result takes the lowest slot. Then the CALL's eval-breaker poll follows as usual.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::bytecode::LeafKey;
use crate::compiler::emit::{asm, reg::*, Emitter};
use crate::compiler::leaf::{BinOp, CmpOp, Expr, Kind, Mode, Num};
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// Most leaves one call site checks for.
const MAX_CANDIDATES: usize = 2;

/// The fast paths for CALL at unit `u`, depth `d`, `oparg` positional arguments, whose callable
/// was loaded as `key`: one per leaf of that key and parameter count. Falls through (with
/// nothing changed) to the code emitted after it, the ordinary call; success jumps to `done`.
pub fn emit_leaf_calls(e: &mut Emitter, u: usize, d: u32, oparg: u32, key: LeafKey, done: DynamicLabel) {
    let (Some(peek), Some(method_peek), Some(global_peek)) = (crate::ffi::attr_peek_helper(), crate::ffi::method_peek_helper(), crate::ffi::global_peek_helper()) else { return };
    // After PRECALL: [NULL, function, args...] for a global, [function, self, args...] for a
    // method found on the type.
    let (nargs, method) = match key {
        LeafKey::Global(_) => (oparg, false),
        LeafKey::Method(_) => (oparg + 1, true),
    };
    let leaves: Vec<usize> = (0..e.snap.leaves.len())
        .filter(|&k| e.snap.leaves[k].key == key && e.snap.leaves[k].nargs == nargs)
        .take(MAX_CANDIDATES)
        .collect();
    if leaves.is_empty() {
        return;
    }
    let base = e.slot(d - oparg - 2);
    let (callable, args) = if method { (base, base + 8) } else { (base + 8, base + 16) };
    let generic = e.ops.new_dynamic_label();
    let finish = e.ops.new_dynamic_label();
    let function_t = rt::function_type() as i64;
    asm!(e
        ; cmp DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 0
        ; jle =>generic
        ; mov rax, [r13 + L::TSTATE_CFRAME]
        ; cmp BYTE [rax + L::CFRAME_USE_TRACING], 0
        ; jne =>generic
    );
    if !method {
        asm!(e
            ; cmp QWORD [rbx + base], 0
            ; jne =>generic
        );
    }
    e.load_q(RAX, RBX, callable);
    if method {
        asm!(e
            ; test rax, rax
            ; jz =>generic
        );
    }
    asm!(e
        ; mov rcx, QWORD function_t
        ; cmp [rax + L::OB_TYPE], rcx
        ; jne =>generic
    );
    let bodies: Vec<DynamicLabel> = leaves.iter().map(|_| e.ops.new_dynamic_label()).collect();
    for (&k, &body) in leaves.iter().zip(&bodies) {
        let code = e.snap.leaves[k].code.as_ptr() as i64;
        asm!(e
            ; mov rcx, QWORD code
            ; cmp [rax + L::FUNC_CODE], rcx
            ; je =>body
        );
    }
    asm!(e ; jmp =>generic);
    for (&k, &body) in leaves.iter().zip(&bodies) {
        if !e.inlined_leaves.contains(&k) {
            e.inlined_leaves.push(k);
        }
        let leaf = &e.snap.leaves[k];
        let (expr, modes, sites) = (leaf.body.expr.clone(), leaf.body.modes.clone(), leaf.body.attr_sites);
        e.mark(format!("     (inlined call of {}: modes {:?})", leaf.qualname, modes));
        // One attribute cache per read of the body, at this call site (zeroed: empty).
        let caches: Vec<usize> = (0..sites).map(|_| e.new_kernel_words(ATTR_CACHE_WORDS)).collect();
        asm!(e ; =>body);
        if expr.uses_globals() {
            // Its globals are read through the frame's (the memos check their versions): the
            // function must run with the same globals and builtins.
            e.load_q(RAX, RBX, callable);
            asm!(e
                ; mov rcx, [rax + L::FUNC_GLOBALS]
                ; cmp rcx, [r12 + L::FRAME_F_GLOBALS]
                ; jne =>generic
                ; mov rcx, [rax + L::FUNC_BUILTINS]
                ; cmp rcx, [r12 + L::FRAME_F_BUILTINS]
                ; jne =>generic
            );
        }
        for (i, &mode) in modes.iter().enumerate() {
            let fail = if i + 1 == modes.len() { generic } else { e.ops.new_dynamic_label() };
            let mut g = Gen { args: Args::Stack(args), mode, fail, caches: &caches, peek, method_peek, global_peek };
            g.result(e, &expr);
            asm!(e ; jmp =>finish);
            if fail != generic {
                asm!(e ; =>fail);
            }
        }
    }
    // The call's slots are released as the call releases them (the callee's frame clears its
    // parameters in order, then lets go of the function); the result (in rbp, which the
    // releases preserve) takes the lowest slot.
    asm!(e
        ; =>finish
        ; mov rbp, rax
    );
    for i in 0..nargs {
        e.decref_slot(u, args + 8 * i as i32);
    }
    e.decref_slot(u, callable);
    e.store_q(RBX, base, RBP);
    asm!(e
        ; jmp =>done
        ; =>generic
    );
}

/// Words of one attribute inline cache (`csrc/attrcache.c`), for [`Emitter::new_kernel_words`].
const ATTR_CACHE_WORDS: usize = std::mem::size_of::<rt::AttrCache>() / 8;
const _: () = assert!(std::mem::size_of::<rt::AttrCache>() % 8 == 0);

/// Where a body's parameters are.
#[derive(Clone)]
enum Args {
    /// In the call's stack slots, from this displacement from rbx on.
    Stack(i32),
    /// In these scratch words (the arguments of a method call inside a body).
    Temps(Vec<usize>),
}

/// The exact types whose length is the word at `VAR_OB_SIZE` (items of a list or tuple, a
/// dict's used entries, a str's length), for `len()` and truth inside bodies.
fn sized_types() -> [i64; 4] {
    const _: () = assert!(L::VAR_OB_SIZE == L::STR_LENGTH && L::VAR_OB_SIZE == L::DICT_MA_USED);
    [rt::list_type(), rt::tuple_type(), rt::dict_type(), rt::str_type()].map(|t| t as i64)
}

/// The out-of-line half of a cached read: `helper(rdi = object, name, cache)` (an attribute
/// or method peek of `csrc/attrcache.c`), its borrowed result in rax and back to `back`, or
/// `fail` when it found none.
fn call_peek(e: &mut Emitter, helper: i64, name: i64, cache: usize, fail: DynamicLabel, back: DynamicLabel) {
    asm!(e
        ; mov rsi, QWORD name
        ; mov rdx, QWORD cache as i64
        ; mov rax, QWORD helper
        ; call rax
        ; test rax, rax
        ; jz =>fail
        ; jmp =>back
    );
}

/// One attempt at a body in one mode.
struct Gen<'c> {
    args: Args,
    mode: Mode,
    /// Where every guard goes.
    fail: DynamicLabel,
    /// The attribute caches of the body's reads, by site.
    caches: &'c [usize],
    /// `psyco_attr_peek`, `psyco_method_peek`, `psyco_global_peek`.
    peek: usize,
    method_peek: usize,
    global_peek: usize,
}

/// Scratch word `t` (`[rsp + 8t]`).
fn temp(t: usize) -> i32 {
    debug_assert!(t < crate::compiler::emit::SCRATCH_WORDS as usize);
    8 * t as i32
}

impl Gen<'_> {
    /// The whole body: a new reference to its value in rax.
    fn result(&mut self, e: &mut Emitter, x: &Expr) {
        match x.kind() {
            Kind::Obj => {
                self.obj(e, x, 0);
                asm!(e ; add QWORD [rax], 1);
            }
            Kind::Bool => {
                self.truth(e, x, 0);
                let (t, f) = (rt::py_true() as i64, rt::py_false() as i64);
                asm!(e
                    ; test eax, eax
                    ; mov rax, QWORD f
                    ; mov rcx, QWORD t
                    ; cmovnz rax, rcx
                    ; add QWORD [rax], 1
                );
            }
            Kind::Num => {
                self.num(e, x, 0);
                let fail = self.fail;
                // A failed allocation: the real call will meet (and report) it itself.
                let clear = rt::err_clear() as i64;
                let oom = e.out_of_line_here(move |e| {
                    asm!(e
                        ; mov rax, QWORD clear
                        ; call rax
                        ; jmp =>fail
                    );
                });
                match self.mode {
                    Mode::Int => {
                        asm!(e ; mov r8, rax);
                        e.box_int_r8();
                    }
                    Mode::Float => {
                        e.call(rt::float_from_double());
                    }
                }
                asm!(e
                    ; test rax, rax
                    ; jz =>oom
                );
            }
        }
    }

    /// An object-valued node: its address (borrowed) in rax. Scratch words from `t` up free.
    fn obj(&mut self, e: &mut Emitter, x: &Expr, t: usize) {
        let fail = self.fail;
        match x {
            Expr::Arg(i) => match &self.args {
                Args::Stack(base) => e.load_q(RAX, RBX, base + 8 * *i as i32),
                Args::Temps(t) => asm!(e ; mov rax, [rsp + temp(t[*i as usize])]),
            },
            Expr::Cond { test, yes, no } => self.cond(e, test, yes, no, t, |g, e, x, t| g.value(e, x, t)),
            Expr::Global { name, site } => self.global(e, *name, *site),
            // The object that decides: `a` if its truth ends the test, else `b`.
            Expr::Logic { or, a, b } => self.logic(e, *or, a, b, t, false),
            Expr::Call { .. } => self.call(e, x, t),
            Expr::Const { addr, .. } => asm!(e ; mov rax, QWORD *addr as i64),
            Expr::Attr { owner, name, site } => {
                self.obj(e, owner, t);
                let (cache, name, peek) = (self.caches[*site], *name as i64, self.peek as i64);
                let (miss, got) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
                super::load_store::attr_entry_address_any(e, cache, miss);
                asm!(e
                    ; mov r10, [r10]
                    ; test r10, r10
                    ; jz =>miss
                    ; mov rax, r10
                    ; =>got
                );
                // No entry proves it yet (or the attribute is absent): fill one if that needs
                // no Python code, else the real call.
                e.out_of_line_here_to(miss, move |e| {
                    asm!(e ; mov rdi, rax);
                    call_peek(e, peek, name, cache, fail, got);
                });
            }
            Expr::Item { seq, index } => {
                self.obj(e, seq, t);
                asm!(e ; mov [rsp + temp(t)], rax);
                self.obj(e, index, t + 1);
                self.unbox_int(e);
                let (list_t, tuple_t) = (rt::list_type() as i64, rt::tuple_type() as i64);
                asm!(e
                    ; mov rcx, rax
                    ; mov rax, [rsp + temp(t)]
                    ; mov rdx, [rax + L::OB_TYPE]
                    ; mov r9, QWORD list_t
                    ; cmp rdx, r9
                    ; je >sequence
                    ; mov r9, QWORD tuple_t
                    ; cmp rdx, r9
                    ; jne =>fail
                    ; sequence:
                    // A negative index counts from the end; then one unsigned test of range.
                    ; mov r8, [rax + L::VAR_OB_SIZE]
                    ; test rcx, rcx
                    ; jns >positive
                    ; add rcx, r8
                    ; positive:
                    ; cmp rcx, r8
                    ; jae =>fail
                    ; mov r9, QWORD list_t
                    ; cmp rdx, r9
                    ; jne >tuple_item
                    ; mov rax, [rax + L::LIST_OB_ITEM]
                    ; mov rax, [rax + rcx * 8]
                    ; jmp >item
                    ; tuple_item:
                    ; mov rax, [rax + rcx * 8 + L::TUPLE_OB_ITEM]
                    ; item:
                );
            }
            _ => unreachable!("leaf::analyze admits only objects here"),
        }
    }

    /// A truth-valued node: 0 or 1 in eax.
    fn truth(&mut self, e: &mut Emitter, x: &Expr, t: usize) {
        match x {
            Expr::Is { a, b, invert } => {
                self.obj(e, a, t);
                asm!(e ; mov [rsp + temp(t)], rax);
                self.obj(e, b, t + 1);
                asm!(e ; cmp [rsp + temp(t)], rax);
                if *invert {
                    asm!(e ; setne al);
                } else {
                    asm!(e ; sete al);
                }
                asm!(e ; movzx eax, al);
            }
            Expr::Not(inner) if inner.kind() == Kind::Bool => {
                self.truth(e, inner, t);
                asm!(e ; xor eax, 1);
            }
            Expr::Not(inner) => {
                self.obj(e, inner, t);
                self.truth_of_rax_to_ecx(e);
                asm!(e
                    ; mov eax, ecx
                    ; xor eax, 1
                );
            }
            Expr::Logic { or, a, b } => self.logic(e, *or, a, b, t, true),
            Expr::Call { .. } => self.call(e, x, t),
            Expr::Cond { test, yes, no } => self.cond(e, test, yes, no, t, |g, e, x, t| g.truth(e, x, t)),
            Expr::IsNone { x, invert } => {
                self.obj(e, x, t);
                let none = rt::py_none() as i64;
                asm!(e
                    ; mov rcx, QWORD none
                    ; cmp rax, rcx
                );
                if *invert {
                    asm!(e ; setne al);
                } else {
                    asm!(e ; sete al);
                }
                asm!(e ; movzx eax, al);
            }
            Expr::Cmp { op, a, b } => {
                self.pair(e, a, b, t);
                match self.mode {
                    // rcx = a, rax = b.
                    Mode::Int => {
                        asm!(e ; cmp rcx, rax);
                        match op {
                            CmpOp::Lt => asm!(e ; setl al),
                            CmpOp::Le => asm!(e ; setle al),
                            CmpOp::Eq => asm!(e ; sete al),
                            CmpOp::Ne => asm!(e ; setne al),
                            CmpOp::Gt => asm!(e ; setg al),
                            CmpOp::Ge => asm!(e ; setge al),
                        }
                    }
                    // xmm1 = a, xmm0 = b; an unordered pair (a NaN) compares false except `!=`.
                    Mode::Float => match op {
                        CmpOp::Lt => asm!(e ; ucomisd xmm0, xmm1 ; seta al),
                        CmpOp::Le => asm!(e ; ucomisd xmm0, xmm1 ; setae al),
                        CmpOp::Gt => asm!(e ; ucomisd xmm1, xmm0 ; seta al),
                        CmpOp::Ge => asm!(e ; ucomisd xmm1, xmm0 ; setae al),
                        CmpOp::Eq => asm!(e ; ucomisd xmm1, xmm0 ; sete al ; setnp cl ; and al, cl),
                        CmpOp::Ne => asm!(e ; ucomisd xmm1, xmm0 ; setne al ; setp cl ; or al, cl),
                    },
                }
                asm!(e ; movzx eax, al);
            }
            _ => unreachable!("leaf::analyze admits only truth values here"),
        }
    }

    /// A number in the mode's form: rax (i64) or xmm0 (f64).
    fn num(&mut self, e: &mut Emitter, x: &Expr, t: usize) {
        let fail = self.fail;
        match (x, self.mode) {
            (Expr::Const { num: Some(Num::Int(v)), .. }, Mode::Int) => asm!(e ; mov rax, QWORD *v),
            (Expr::Const { num: Some(Num::Int(v)), .. }, Mode::Float) => {
                let bits = (*v as f64).to_bits() as i64;
                asm!(e ; mov rax, QWORD bits ; movq xmm0, rax);
            }
            (Expr::Const { num: Some(Num::Float(v)), .. }, Mode::Float) => {
                let bits = v.to_bits() as i64;
                asm!(e ; mov rax, QWORD bits ; movq xmm0, rax);
            }
            (Expr::Bin { op, a, b }, Mode::Int) => {
                self.pair(e, a, b, t);
                match op {
                    BinOp::Add => asm!(e ; add rcx, rax ; jo =>fail),
                    BinOp::Sub => asm!(e ; sub rcx, rax ; jo =>fail),
                    BinOp::Mul => asm!(e ; imul rcx, rax ; jo =>fail),
                    BinOp::And => asm!(e ; and rcx, rax),
                    BinOp::Or => asm!(e ; or rcx, rax),
                    BinOp::Xor => asm!(e ; xor rcx, rax),
                }
                asm!(e ; mov rax, rcx);
            }
            (Expr::Bin { op, a, b }, Mode::Float) => {
                self.pair(e, a, b, t);
                match op {
                    BinOp::Add => asm!(e ; addsd xmm1, xmm0),
                    BinOp::Sub => asm!(e ; subsd xmm1, xmm0),
                    BinOp::Mul => asm!(e ; mulsd xmm1, xmm0),
                    BinOp::And | BinOp::Or | BinOp::Xor => unreachable!("leaf::analyze keeps these out of the float mode"),
                }
                asm!(e ; movapd xmm0, xmm1);
            }
            (Expr::Len { x, site }, mode) => {
                let (len_name, _) = crate::ffi::call_target_names();
                let (len_obj, _) = crate::ffi::call_targets();
                self.global(e, len_name, *site);
                asm!(e
                    ; mov rcx, QWORD len_obj as i64
                    ; cmp rax, rcx
                    ; jne =>fail
                );
                self.obj(e, x, t);
                let ok = e.ops.new_dynamic_label();
                for tp in sized_types() {
                    asm!(e
                        ; mov rcx, QWORD tp
                        ; cmp [rax + L::OB_TYPE], rcx
                        ; je =>ok
                    );
                }
                asm!(e
                    ; jmp =>fail
                    ; =>ok
                    ; mov rax, [rax + L::VAR_OB_SIZE]
                );
                if mode == Mode::Float {
                    asm!(e ; cvtsi2sd xmm0, rax);
                }
            }
            // Both branches numbers (an object-valued one is unboxed below, like any object).
            (Expr::Cond { test, yes, no }, _) if x.kind() == Kind::Num => self.cond(e, test, yes, no, t, |g, e, x, t| g.num(e, x, t)),
            (x, mode) if x.kind() == Kind::Obj && !matches!(x, Expr::Const { .. }) => {
                self.obj(e, x, t);
                match mode {
                    Mode::Int => self.unbox_int(e),
                    Mode::Float => {
                        let float_t = rt::float_type() as i64;
                        asm!(e
                            ; mov rcx, QWORD float_t
                            ; cmp [rax + L::OB_TYPE], rcx
                            ; jne =>fail
                            ; movsd xmm0, [rax + L::FLOAT_OB_FVAL]
                        );
                    }
                }
            }
            _ => unreachable!("leaf::analyze admits only numbers of the mode here"),
        }
    }

    /// Two number operands: in the int mode `a` in rcx and `b` in rax, in the float mode `a`
    /// in xmm1 and `b` in xmm0. `a` waits in scratch word `t` while `b` is computed.
    fn pair(&mut self, e: &mut Emitter, a: &Expr, b: &Expr, t: usize) {
        self.num(e, a, t);
        match self.mode {
            Mode::Int => asm!(e ; mov [rsp + temp(t)], rax),
            Mode::Float => asm!(e ; movsd [rsp + temp(t)], xmm0),
        }
        self.num(e, b, t + 1);
        match self.mode {
            Mode::Int => asm!(e ; mov rcx, [rsp + temp(t)]),
            Mode::Float => asm!(e ; movsd xmm1, [rsp + temp(t)]),
        }
    }

    /// The global `name` (borrowed) in rax, through the memo at site `site` (filled by
    /// `psyco_global_peek` when the frame's globals or builtins changed); absent: `fail`.
    fn global(&mut self, e: &mut Emitter, name: usize, site: usize) {
        let (fail, memo, peek) = (self.fail, self.caches[site], self.global_peek as i64);
        let (miss, got) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
        asm!(e ; mov r8, QWORD memo as i64);
        e.global_memo_value(8, miss);
        asm!(e ; =>got);
        e.out_of_line_here_to(miss, move |e| {
            asm!(e
                ; mov rdi, [r12 + L::FRAME_F_GLOBALS]
                ; mov rsi, [r12 + L::FRAME_F_BUILTINS]
                ; mov rdx, QWORD name as i64
                ; mov rcx, QWORD memo as i64
                ; mov rax, QWORD peek
                ; call rax
                ; test rax, rax
                ; jz =>fail
                ; jmp =>got
            );
        });
    }

    /// `a and b` (`a or b` if `or`): as a truth in eax if `truth`, else as the deciding object
    /// in rax; `b` only evaluated when `a`'s truth does not decide.
    fn logic(&mut self, e: &mut Emitter, or: bool, a: &Expr, b: &Expr, t: usize, truth: bool) {
        let end = e.ops.new_dynamic_label();
        if truth {
            self.truth(e, a, t);
            asm!(e ; test eax, eax);
        } else {
            self.value(e, a, t);
            self.truth_of_rax_to_ecx(e);
            asm!(e ; test ecx, ecx);
        }
        if or {
            asm!(e ; jnz =>end);
        } else {
            asm!(e ; jz =>end);
        }
        if truth {
            self.truth(e, b, t);
        } else {
            self.value(e, b, t);
        }
        asm!(e ; =>end);
    }

    /// `yes if test else no`, each branch emitted by `branch` (both leave their value in the
    /// same register).
    fn cond(&mut self, e: &mut Emitter, test: &Expr, yes: &Expr, no: &Expr, t: usize, branch: fn(&mut Self, &mut Emitter, &Expr, usize)) {
        let (other, end) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
        if test.kind() == Kind::Bool {
            self.truth(e, test, t);
            asm!(e ; test eax, eax);
        } else {
            self.obj(e, test, t);
            self.truth_of_rax_to_ecx(e);
            asm!(e ; test ecx, ecx);
        }
        asm!(e ; jz =>other);
        branch(self, e, yes, t);
        asm!(e
            ; jmp =>end
            ; =>other
        );
        branch(self, e, no, t);
        asm!(e ; =>end);
    }

    /// An object- or truth-valued node as an object (borrowed) in rax: True or False for a
    /// truth value.
    fn value(&mut self, e: &mut Emitter, x: &Expr, t: usize) {
        if x.kind() == Kind::Bool {
            self.truth(e, x, t);
            let (tr, fa) = (rt::py_true() as i64, rt::py_false() as i64);
            asm!(e
                ; test eax, eax
                ; mov rax, QWORD fa
                ; mov rcx, QWORD tr
                ; cmovnz rax, rcx
            );
        } else {
            self.obj(e, x, t);
        }
    }

    /// The truth of the object in rax (kept) as 0 or 1 in ecx: True, False and None by
    /// identity; an exact int, list, tuple, dict or str by the size word they keep at the same
    /// offset (digits, items, used entries, length); anything else may have `__bool__` or
    /// `__len__`: `fail`.
    fn truth_of_rax_to_ecx(&mut self, e: &mut Emitter) {
        let fail = self.fail;
        let (tr, fa, none, long_t) = (rt::py_true() as i64, rt::py_false() as i64, rt::py_none() as i64, rt::long_type() as i64);
        let sized = sized_types();
        let by_size = e.ops.new_dynamic_label();
        let other = e.out_of_line_here(move |e| {
            for t in sized {
                asm!(e
                    ; mov rcx, QWORD t
                    ; cmp [rax + L::OB_TYPE], rcx
                    ; je =>by_size
                );
            }
            asm!(e ; jmp =>fail);
        });
        asm!(e
            ; mov rcx, QWORD tr
            ; cmp rax, rcx
            ; je >truthy
            ; mov rcx, QWORD fa
            ; cmp rax, rcx
            ; je >falsy
            ; mov rcx, QWORD none
            ; cmp rax, rcx
            ; je >falsy
            ; mov rcx, QWORD long_t
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>other
            ; =>by_size
            ; cmp QWORD [rax + L::VAR_OB_SIZE], 0
            ; setne cl
            ; movzx ecx, cl
            ; jmp >decided
            ; truthy:
            ; mov ecx, 1
            ; jmp >decided
            ; falsy:
            ; xor ecx, ecx
            ; decided:
        );
    }

    /// A method call inside a body (`Expr::Call`), its value as the node's kind wants it (rax
    /// or eax): the arguments into scratch words `t..`, the method the receiver binds (the
    /// site's cache, or `psyco_method_peek`), then the body of the candidate whose code it runs,
    /// with its parameters in those words. One frame deeper than the inlined call itself: the
    /// recursion check wants room for two.
    fn call(&mut self, e: &mut Emitter, x: &Expr, t: usize) {
        let Expr::Call { name, site, args, cands } = x else { unreachable!() };
        let fail = self.fail;
        for (i, a) in args.iter().enumerate() {
            self.obj(e, a, t + i);
            asm!(e ; mov [rsp + temp(t + i)], rax);
        }
        let (cache, name, peek) = (self.caches[*site], *name as i64, self.method_peek as i64);
        let (found, done) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
        let miss = e.ops.new_dynamic_label();
        asm!(e
            ; cmp DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
            ; jle =>fail
            ; mov rax, [rsp + temp(t)]
        );
        super::call::probe_method_cache(e, cache, miss);
        asm!(e
            ; mov rax, [r8 + 16]
            ; =>found
        );
        e.out_of_line_here_to(miss, move |e| {
            asm!(e ; mov rdi, [rsp + temp(t)]);
            call_peek(e, peek, name, cache, fail, found);
        });
        let labels: Vec<DynamicLabel> = cands.iter().map(|_| e.ops.new_dynamic_label()).collect();
        for (c, &l) in cands.iter().zip(&labels) {
            asm!(e
                ; mov rcx, QWORD c.code as i64
                ; cmp [rax + L::FUNC_CODE], rcx
                ; je =>l
            );
        }
        asm!(e ; jmp =>fail);
        let inner_args = Args::Temps((t..t + args.len()).collect());
        for (c, &l) in cands.iter().zip(&labels) {
            asm!(e ; =>l);
            let outer = std::mem::replace(&mut self.args, inner_args.clone());
            if x.kind() == Kind::Bool {
                self.truth(e, &c.body, t + args.len());
            } else {
                self.value(e, &c.body, t + args.len());
            }
            self.args = outer;
            asm!(e ; jmp =>done);
        }
        asm!(e ; =>done);
    }

    /// The object in rax, an exact int of at most one digit, as an i64 in rax; else `fail`.
    fn unbox_int(&mut self, e: &mut Emitter) {
        let fail = self.fail;
        let long_t = rt::long_type() as i64;
        asm!(e
            ; mov rcx, QWORD long_t
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>fail
            ; mov rcx, [rax + L::VAR_OB_SIZE]
            ; lea rdx, [rcx + 1]
            ; cmp rdx, 2
            ; ja =>fail
            ; mov eax, DWORD [rax + L::LONG_OB_DIGIT]
            ; imul rax, rcx
        );
    }
}
