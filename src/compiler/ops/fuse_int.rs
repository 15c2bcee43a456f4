//! Fused small-int expressions: the integer counterpart of `fuse.rs`. A straight run of
//! LOAD_FAST / LOAD_CONST / `local[int expression]` / `len(local)` / BINARY_OP that computes
//! one value —
//! `i * 3 + j`, `(a + b) % m`, `n - 1` — gets a fast path in front of its ordinary code that
//! computes it in general registers from the leaves' machine words and boxes only the result
//! (a run ending in a true division, `1.0 / (s * (s + 1) >> 1)` or `total / count`, divides
//! the two sides as doubles and boxes a float):
//! no reference taken on a leaf, no intermediate int object. A comparison of two such runs
//! feeding a conditional jump — `n < 2`, `i + 1 != len_` — branches without making any object.
//! Leaves may also be attributes of locals (`self.count * 2`), read through their LOAD_ATTR
//! site's cache, and `self.count += k` is done as one update through the STORE_ATTR site's
//! cache, overwriting the attribute's int in place when nothing else holds it.
//!
//! # Invariants
//! - A leaf is an exact `int` of at most two 30-bit digits (`|ob_size| <= 2`), read without
//!   taking a reference; anything else (a bigger int, a bool, a float, an unbound local, a
//!   short list) fails a guard and jumps to the ordinary code of the run's first instruction,
//!   which then does everything the interpreter would, exceptions and all.
//! - Every operation is `int`'s own on the exact value: `+ - *` are checked for 64-bit
//!   overflow, `// %` round toward negative infinity (a zero or -1 divisor falls back), `<<`
//!   falls back unless the shift is exact in 64 bits, `>>` is arithmetic; `& | ^` are the
//!   two's-complement operations Python defines. A result outside -5..=256 is boxed by
//!   `PyLong_FromLongLong`, whose failure is the run's error (MemoryError) as for the
//!   ordinary code. A result that a STORE_FAST puts in a local whose int nobody else holds
//!   overwrites that int instead (`Emitter::store_int_in_place`).
//! - No instruction after the first is a jump target, so every way into the run passes the
//!   guards; the value lands in the first instruction's stack slot and execution continues
//!   after the run, where the ordinary code would have left the same value.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, Emitter};
use crate::compiler::opcodes as op;
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// Registers a tree's values live in (caller-saved; rax, rdx and rcx are the scratch registers
/// of the operations, rbp holds `int`'s type object during the run).
const REGS: [u8; 6] = [6, 7, 8, 9, 10, 11]; // rsi, rdi, r8, r9, r10, r11

/// A list index: a constant (0..65536), or any int expression, guarded to be in range.
#[derive(Clone)]
enum Index {
    Const(i32),
    Expr(Box<Node>),
}

/// A node of the expression tree.
#[derive(Clone)]
enum Node {
    /// A local, guarded to be an exact int of at most two digits.
    Local(u32),
    /// `local[index]`: the local guarded to be an exact list longer than the index, the item
    /// an exact int of at most two digits.
    ListItem { local: u32, index: Index },
    /// `len(local)` (LOAD_GLOBAL len; LOAD_FAST; PRECALL 1; CALL 1): the `memo`-th LOAD_GLOBAL
    /// site of the run must resolve `len` to `builtins.len` (both dict versions unchanged since
    /// its memo was filled), the local must be an exact list or tuple.
    Len { memo: usize, local: u32 },
    /// The callee half of a `len(` being parsed: never evaluated.
    LenCallee { memo: usize },
    /// `ord(local)` (LOAD_GLOBAL ord; LOAD_FAST; PRECALL 1; CALL 1): the `memo`-th LOAD_GLOBAL
    /// site of the run must resolve `ord` to `builtins.ord`, the local must be an exact str of
    /// one ASCII character (compact ASCII, `ffi::ascii_layout`); its value is the character's
    /// code point. Other strings (and everything else) fall back.
    Ord { memo: usize, local: u32 },
    /// The callee half of an `ord(` being parsed: never evaluated.
    OrdCallee { memo: usize },
    /// `local.name` (LOAD_FAST, LOAD_ATTR): the `site`-th attribute site of the run, whose
    /// inline cache entry 0 must hold for the local's type (a slot, or an index in the
    /// instance's values array), the attribute an exact int of at most two digits. The cache
    /// is the one the LOAD_ATTR's own code fills.
    Attr { local: u32, site: usize },
    /// An exact int constant below 2**53 in magnitude.
    Const(i64),
    /// `left (op) right` for a BINARY_OP operator (in-place ones mapped to the plain ones).
    Bin { op: u32, left: Box<Node>, right: Box<Node> },
    /// A float constant: only as an operand of [`Node::Div`].
    FConst(f64),
    /// `left / right` (true division), only as the root of a run: each side an int tree
    /// whose value is below 2**53 in magnitude (so the double holds it exactly) or a float
    /// constant; the quotient of the two doubles is then what int's and float's own true
    /// division return. A zero divisor falls back (ZeroDivisionError is the ordinary code's).
    Div { left: Box<Node>, right: Box<Node> },
}

impl Node {
    fn is_fconst(&self) -> bool {
        matches!(self, Node::FConst(_))
    }
    fn is_div(&self) -> bool {
        matches!(self, Node::Div { .. })
    }
    /// An int-valued tree (no float constant or true division at its top).
    fn is_int(&self) -> bool {
        !self.is_fconst() && !self.is_div()
    }
    /// No half-parsed call anywhere in the tree.
    fn complete(&self) -> bool {
        match self {
            Node::LenCallee { .. } | Node::OrdCallee { .. } => false,
            Node::Bin { left, right, .. } => left.complete() && right.complete(),
            Node::Div { left, right } => left.complete() && right.complete(),
            Node::ListItem { index: Index::Expr(i), .. } => i.complete(),
            _ => true,
        }
    }

    /// Registers needed to evaluate it (Sethi-Ullman).
    fn regs(&self) -> usize {
        match self {
            Node::Local(_)
            | Node::Attr { .. }
            | Node::Len { .. }
            | Node::LenCallee { .. }
            | Node::Ord { .. }
            | Node::OrdCallee { .. }
            | Node::Const(_)
            | Node::FConst(_) => 1,
            Node::Div { left, right } => left.regs().max(right.regs()),
            Node::ListItem { index: Index::Const(_), .. } => 1,
            Node::ListItem { index: Index::Expr(i), .. } => i.regs(),
            Node::Bin { left, right, .. } => {
                let (l, r) = (left.regs(), right.regs());
                if l == r {
                    l + 1
                } else {
                    l.max(r)
                }
            }
        }
    }
}

/// Whether the straight-line expression starting at `n` names int constants and no float one
/// (looking at most 24 instructions ahead, up to the first that is not part of an expression):
/// then its int fast path is tried before the float one. Only an ordering hint.
pub fn constants_say_int(e: &Emitter, n: usize) -> bool {
    let snap = e.snap;
    let mut saw_int = false;
    for m in n..(n + 24).min(snap.instrs.len()) {
        let ins = &snap.instrs[m];
        match ins.op {
            op::LOAD_CONST => match rt::const_number(snap.consts[ins.arg as usize]) {
                Some((_, true)) => return false,
                Some((_, false)) => saw_int = true,
                None => {}
            },
            op::LOAD_FAST | op::LOAD_ATTR | op::BINARY_OP | op::BINARY_SUBSCR | op::COPY | op::SWAP => {}
            _ => break,
        }
    }
    saw_int
}

/// The BINARY_OP operators done here: + & // << * % | >> - ^ (and their in-place forms).
pub(super) fn int_operator(arg: u32) -> Option<u32> {
    let base = if arg >= 13 { arg - 13 } else { arg };
    matches!(base, 0 | 1 | 2 | 3 | 5 | 6 | 7 | 9 | 10 | 12).then_some(base)
}

/// Simulates `snap.instrs[n..]` as tree building, calling `at_end(m, stack)` after each
/// instruction it accepts; stops at the first it cannot fuse (or a jump target).
fn simulate(e: &Emitter, n: usize, at_end: impl FnMut(usize, &[Node]) -> bool) {
    simulate_from(e, n, 0, at_end)
}

/// [`simulate`] with the run's attribute sites numbered from `first_site` (the attribute
/// instructions before `n` that the caller's shape owns).
fn simulate_from(e: &Emitter, n: usize, first_site: usize, mut at_end: impl FnMut(usize, &[Node]) -> bool) {
    let snap = e.snap;
    let mut stack: Vec<Node> = Vec::new();
    let mut m = n;
    let mut memos = 0;
    let mut sites = first_site;
    let (len_obj, _) = crate::ffi::call_targets();
    let (len_name, _) = crate::ffi::call_target_names();
    let (ord_obj, ord_name) = crate::ffi::ord_target();
    let ord_ok = ord_obj != 0 && crate::ffi::ascii_layout().is_some();
    while m < snap.instrs.len() {
        if (m > n && snap.is_target[m]) || snap.depth[m].is_none() {
            return;
        }
        let ins = &snap.instrs[m];
        match ins.op {
            op::LOAD_FAST => stack.push(Node::Local(ins.arg)),
            op::LOAD_ATTR => {
                // Only `local.name`, the instruction just before.
                let Some(&Node::Local(local)) = stack.last() else { return };
                if m == n {
                    return;
                }
                stack.pop();
                stack.push(Node::Attr { local, site: sites });
                sites += 1;
            }
            // `len(` as LOAD_GLOBAL (NULL + len), the name compared by identity (interned).
            op::LOAD_GLOBAL if len_obj != 0 && ins.arg & 1 == 1 && snap.names[(ins.arg >> 1) as usize] == len_name => {
                stack.push(Node::LenCallee { memo: memos });
                memos += 1;
            }
            // `ord(` likewise.
            op::LOAD_GLOBAL if ord_ok && ins.arg & 1 == 1 && snap.names[(ins.arg >> 1) as usize] == ord_name => {
                stack.push(Node::OrdCallee { memo: memos });
                memos += 1;
            }
            op::PRECALL if ins.arg == 1 => {
                let k = stack.len();
                if k < 2
                    || !matches!(stack[k - 2], Node::LenCallee { .. } | Node::OrdCallee { .. })
                    || !matches!(stack[k - 1], Node::Local(_))
                {
                    return;
                }
            }
            op::CALL if ins.arg == 1 => {
                let k = stack.len();
                if k < 2 || snap.instrs[m - 1].op != op::PRECALL {
                    return;
                }
                let call = match (&stack[k - 2], &stack[k - 1]) {
                    (Node::LenCallee { memo }, Node::Local(local)) => Node::Len { memo: *memo, local: *local },
                    (Node::OrdCallee { memo }, Node::Local(local)) => Node::Ord { memo: *memo, local: *local },
                    _ => return,
                };
                stack.truncate(k - 2);
                stack.push(call);
            }
            op::LOAD_CONST => match rt::const_number(snap.consts[ins.arg as usize]) {
                Some((v, false)) => stack.push(Node::Const(v as i64)),
                Some((v, true)) => stack.push(Node::FConst(v)),
                _ => return,
            },
            op::BINARY_SUBSCR => {
                let k = stack.len();
                if k < 2 {
                    return;
                }
                let Node::Local(local) = stack[k - 2] else { return };
                let index = match &stack[k - 1] {
                    Node::Const(v) if (0..65536).contains(v) => Index::Const(*v as i32),
                    Node::Const(_) => return,
                    i if i.complete() && i.is_int() => Index::Expr(Box::new(i.clone())),
                    _ => return,
                };
                stack.truncate(k - 2);
                stack.push(Node::ListItem { local, index });
            }
            op::BINARY_OP => {
                if stack.len() < 2 {
                    return;
                }
                let right = stack.pop().expect("two operands");
                let left = stack.pop().expect("two operands");
                if !left.complete() || !right.complete() || left.is_div() || right.is_div() {
                    return;
                }
                if ins.arg == 11 || ins.arg == 24 {
                    // A float constant divisor of zero would only ever fall back.
                    if matches!(right, Node::FConst(v) if v == 0.0) || (left.is_fconst() && right.is_fconst()) {
                        return;
                    }
                    stack.push(Node::Div { left: Box::new(left), right: Box::new(right) });
                } else {
                    let Some(iop) = int_operator(ins.arg) else { return };
                    if left.is_fconst() || right.is_fconst() {
                        return;
                    }
                    stack.push(Node::Bin { op: iop, left: Box::new(left), right: Box::new(right) });
                }
            }
            _ => return,
        }
        if !at_end(m, &stack) {
            return;
        }
        m += 1;
    }
}

/// The longest run starting at `n` that leaves exactly one value with an operation in it.
fn find_run(e: &Emitter, n: usize) -> Option<(usize, Node)> {
    let mut best = None;
    simulate(e, n, |m, stack| {
        if stack.len() == 1 && matches!(stack[0], Node::Bin { .. } | Node::Div { .. }) && stack[0].complete() && stack[0].regs() <= REGS.len() {
            best = Some((m, stack[0].clone()));
        }
        true
    });
    let (last, tree) = best?;
    let snap = e.snap;
    (last + 1 < snap.instrs.len() && snap.depth[last + 1].is_some()).then_some((last, tree))
}

/// A run leaving two values, then COMPARE_OP and a conditional jump that nothing else jumps
/// to: (the COMPARE_OP's position, its operator, left, right).
fn find_compare(e: &Emitter, n: usize) -> Option<(usize, u32, Node, Node)> {
    let mut found = None;
    simulate(e, n, |m, stack| {
        if stack.len() != 2 {
            return true;
        }
        let Some(cmp_op) = super::fuse::compare_and_jump_after(e, m) else { return true };
        let (l, r) = (&stack[0], &stack[1]);
        if l.complete()
            && r.complete()
            && l.is_int()
            && r.is_int()
            && l.regs() <= REGS.len()
            && 1 + r.regs() <= REGS.len()
        {
            found = Some((m + 1, cmp_op, l.clone(), r.clone()));
            return false;
        }
        true
    });
    found
}

/// An in-place update of an int attribute, `self.count += k`, which 3.11 compiles to
/// `LOAD_FAST self; COPY 1; LOAD_ATTR count; <run>; BINARY_OP op=; SWAP 2; STORE_ATTR count`:
/// (the STORE_ATTR's position, the local, the whole value's tree, the STORE_ATTR's site).
/// None of the instructions after the first may be a jump target.
fn find_attr_update(e: &Emitter, n: usize) -> Option<(usize, Node, usize)> {
    let local = super::fuse::attr_update_head(e, n)?;
    let mut found = None;
    simulate_from(e, n + 3, 1, |m, stack| {
        if stack.len() != 1 || !stack[0].is_int() || !stack[0].complete() {
            return true;
        }
        let Some((arg, store_n, store_site)) = super::fuse::attr_update_tail(e, n, m) else { return true };
        let Some(iop) = int_operator(arg) else { return true };
        let tree = Node::Bin { op: iop, left: Box::new(Node::Attr { local, site: 0 }), right: Box::new(stack[0].clone()) };
        if tree.regs() <= REGS.len() {
            found = Some((store_n, tree, store_site));
        }
        false
    });
    found
}

/// Emits the fast path of an int attribute update starting at `n` (see [`find_attr_update`]):
/// the value computed in registers, then stored through the STORE_ATTR site's own cache entry
/// (as its inline code would), overwriting the old int in place when nothing else holds it.
fn try_attr_update(e: &mut Emitter, n: usize, d: u32) -> Option<usize> {
    let (store_n, tree, store_site) = find_attr_update(e, n)?;
    let store_cache = e.peek_attr_cache(store_site)?;
    let local = e.local(e.snap.instrs[n].arg);
    let fallback = e.ops.new_dynamic_label();
    let after = e.labels[store_n + 1];
    let stored = e.ops.new_dynamic_label();
    let out_of_memory = e.error_label(e.snap.instrs[store_n - 2].idx, d);
    let u = e.snap.instrs[store_n].idx;
    load_long_type(e);
    eval(e, &tree, 0, fallback);
    asm!(e ; mov rax, [rbx + local]);
    // Keeps rax and rcx; the value stays in rsi (REGS[0]).
    super::load_store::attr_entry0_address(e, store_cache, fallback, true);
    asm!(e ; mov r8, Rq(REGS[0]));
    e.store_int_in_place_at_r10(stored);
    asm!(e ; mov rbp, r10);
    e.box_int_r8();
    e.replace_with_rax(5, u, out_of_memory); // the slot's address in rbp
    asm!(e
        ; =>stored
        ; jmp =>after
        ; =>fallback
    );
    Some(store_n)
}

/// Emits the fused fast path for a run starting at instruction `n` (depth `d`) if there is
/// one, and returns the position of its last instruction (a compare-and-branch run: its
/// jump). The caller then emits the run's ordinary code, where the guards fall back to.
pub fn try_int_run(e: &mut Emitter, n: usize, d: u32) -> Option<usize> {
    if let Some(last) = try_attr_update(e, n, d) {
        return Some(last);
    }
    if let Some((cmp_n, cmp_op, left, right)) = find_compare(e, n) {
        let jump_n = cmp_n + 1;
        let fallback = e.ops.new_dynamic_label();
        let super::fuse::Branch { taken, if_true, if_false } = super::fuse::branch_labels(e, jump_n);
        load_long_type(e);
        eval(e, &left, 0, fallback);
        eval(e, &right, 1, fallback);
        int_branch(e, cmp_op, REGS[0], REGS[1], if_true, if_false);
        super::jump::taken_edge(e, jump_n, taken);
        asm!(e ; =>fallback);
        return Some(jump_n);
    }
    let (last, tree) = find_run(e, n)?;
    let fallback = e.ops.new_dynamic_label();
    load_long_type(e);
    if let Node::Div { left, right } = &tree {
        to_double(e, left, 0, fallback);
        to_double(e, right, 1, fallback);
        asm!(e
            ; xorpd xmm15, xmm15
            ; ucomisd xmm1, xmm15
            ; je =>fallback // zero (or a NaN constant: the ordinary code computes it)
            ; divsd xmm0, xmm1
        );
        super::fuse::finish_float_run(e, last, d, fallback);
        return Some(last);
    }
    let after = e.labels[last + 1];
    let out_of_memory = e.error_label(e.snap.instrs[last].idx, d);
    let s = e.slot(d);
    eval(e, &tree, 0, fallback);
    asm!(e ; mov r8, Rq(REGS[0]));
    let store_after = e.store_fast_after(last);
    e.int_r8_to_slot(s, store_after, out_of_memory);
    asm!(e
        ; jmp =>after
        ; =>fallback
    );
    Some(last)
}

/// `xmm{x}` = the value of a true division's operand: a float constant, or an int tree whose
/// value is below 2**53 in magnitude (exactly representable; larger ones fall back, where
/// int's true division has its own exact algorithm). Leaves `xmm0` alone when `x` is 1.
fn to_double(e: &mut Emitter, node: &Node, x: u8, fallback: DynamicLabel) {
    if let Node::FConst(v) = node {
        let bits = v.to_bits() as i64;
        asm!(e
            ; mov rax, QWORD bits
            ; movq Rx(x), rax
        );
        return;
    }
    eval(e, node, 0, fallback);
    let r = REGS[0];
    asm!(e
        ; mov rcx, QWORD 1i64 << 53
        ; lea rax, [Rq(r) + rcx]
        ; shr rax, 54
        ; jnz =>fallback
        ; cvtsi2sd Rx(x), Rq(r)
    );
}

fn load_long_type(e: &mut Emitter) {
    let long_t = rt::long_type() as i64;
    asm!(e ; mov rbp, QWORD long_t);
}

/// `rax` = the attribute that entry 0 of the attribute cache at `cache` proves for the object
/// in `rax` (`load_store::attr_entry0_address_in` with rcx and rdx only: the other registers
/// hold the run's values), or a jump to `fallback` (not proved, unset).
fn attr_value(e: &mut Emitter, cache: usize, fallback: DynamicLabel) {
    super::load_store::attr_entry0_address_in(e, cache, fallback, false, 1, 0); // cache in rcx, address to rax
    asm!(e
        ; mov rax, [rax]
        ; test rax, rax
        ; jz =>fallback
    );
}

/// `Rq(r)` = the value of the int in `rax` (already known to be an exact int) if it has at
/// most two digits (`arith::int_value`); clobbers rcx and rdx.
/// `f(local)` for a builtin `f` a leaf reads directly (`len`, `ord`): the LOAD_GLOBAL site's
/// memo at `memo` must still resolve (both dict versions unchanged) to `builtin` itself, and
/// the local must be bound; leaves the local's object in rax, else jumps to `fallback`.
fn builtin_call_of_local(e: &mut Emitter, memo: usize, builtin: usize, local: u32, fallback: DynamicLabel) {
    let l = e.local(local);
    asm!(e ; mov rcx, QWORD memo as i64);
    e.global_memo_value(1, fallback); // memo address in rcx
    asm!(e
        ; mov rdx, QWORD builtin as i64
        ; cmp rax, rdx
        ; jne =>fallback
        ; mov rax, [rbx + l]
        ; test rax, rax
        ; jz =>fallback
    );
}

fn digit_value(e: &mut Emitter, r: u8, fallback: DynamicLabel) {
    super::arith::int_value(e, 0, r, 2, 1, fallback); // obj rax, scratch rdx and rcx
}

/// Evaluates `node` into `REGS[k]`, using only `REGS[k..]` (and rax, rcx, rdx).
fn eval(e: &mut Emitter, node: &Node, k: usize, fallback: DynamicLabel) {
    let r = REGS[k];
    match node {
        Node::Local(i) => {
            let l = e.local(*i);
            asm!(e
                ; mov rax, [rbx + l]
                ; test rax, rax
                ; jz =>fallback
                ; cmp [rax + L::OB_TYPE], rbp
                ; jne =>fallback
            );
            digit_value(e, r, fallback);
        }
        Node::Const(v) => asm!(e ; mov Rq(r), QWORD *v),
        Node::LenCallee { .. } | Node::OrdCallee { .. } | Node::FConst(_) | Node::Div { .. } => asm!(e ; jmp =>fallback),
        Node::Ord { memo, local } => {
            let (Some(memo), Some((state, mask, value, data))) = (e.peek_global_memo(*memo), crate::ffi::ascii_layout()) else {
                asm!(e ; jmp =>fallback);
                return;
            };
            let (ord_obj, _) = crate::ffi::ord_target();
            let str_t = rt::str_type() as i64;
            // The argument: an exact str of length 1 in compact ASCII form, whose one byte is
            // the code point.
            builtin_call_of_local(e, memo, ord_obj, *local, fallback);
            asm!(e
                ; mov rdx, QWORD str_t
                ; cmp [rax + L::OB_TYPE], rdx
                ; jne =>fallback
                ; cmp QWORD [rax + L::STR_LENGTH], 1
                ; jne =>fallback
            );
            super::arith::check_ascii(e, 0, state, mask, value, fallback);
            asm!(e ; movzx Rd(r), BYTE [rax + data]);
        }
        Node::Attr { local, site } => {
            let Some(cache) = e.peek_attr_cache(*site) else {
                asm!(e ; jmp =>fallback);
                return;
            };
            let l = e.local(*local);
            asm!(e
                ; mov rax, [rbx + l]
                ; test rax, rax
                ; jz =>fallback
            );
            attr_value(e, cache, fallback);
            asm!(e
                ; cmp [rax + L::OB_TYPE], rbp
                ; jne =>fallback
            );
            digit_value(e, r, fallback);
        }
        Node::Len { memo, local } => {
            let Some(memo) = e.peek_global_memo(*memo) else {
                asm!(e ; jmp =>fallback);
                return;
            };
            let (len_obj, _) = crate::ffi::call_targets();
            let (list_t, tuple_t) = (rt::list_type() as i64, rt::tuple_type() as i64);
            builtin_call_of_local(e, memo, len_obj, *local, fallback);
            asm!(e
                ; mov rdx, [rax + L::OB_TYPE]
                ; mov rcx, QWORD list_t
                ; cmp rdx, rcx
                ; je >sized
                ; mov rcx, QWORD tuple_t
                ; cmp rdx, rcx
                ; jne =>fallback
                ; sized:
                ; mov Rq(r), [rax + L::VAR_OB_SIZE]
            );
        }
        Node::ListItem { local, index } => {
            let l = e.local(*local);
            let list_t = rt::list_type() as i64;
            asm!(e
                ; mov rax, [rbx + l]
                ; test rax, rax
                ; jz =>fallback
                ; mov rdx, QWORD list_t
                ; cmp [rax + L::OB_TYPE], rdx
                ; jne =>fallback
            );
            match index {
                &Index::Const(c) => asm!(e
                    ; cmp QWORD [rax + L::VAR_OB_SIZE], c
                    ; jle =>fallback
                    ; mov rax, [rax + L::LIST_OB_ITEM]
                    ; mov rax, [rax + c * 8]
                ),
                Index::Expr(ref i) => {
                    // The list is loaded again after the index (whose evaluation uses rax).
                    eval(e, i, k, fallback);
                    asm!(e
                        ; mov rax, [rbx + l]
                        // Negative indexes go to the ordinary code (which counts from the end).
                        ; cmp Rq(r), [rax + L::VAR_OB_SIZE]
                        ; jae =>fallback
                        ; mov rax, [rax + L::LIST_OB_ITEM]
                        ; mov rax, [rax + Rq(r) * 8]
                    );
                }
            }
            asm!(e
                ; cmp [rax + L::OB_TYPE], rbp
                ; jne =>fallback
            );
            digit_value(e, r, fallback);
        }
        Node::Bin { op, left, right } => {
            // The operand needing more registers first; the operation keeps left/right order.
            let (lk, rk) = if left.regs() >= right.regs() { (k, k + 1) } else { (k + 1, k) };
            if lk < rk {
                eval(e, left, lk, fallback);
                eval(e, right, rk, fallback);
            } else {
                eval(e, right, rk, fallback);
                eval(e, left, lk, fallback);
            }
            let (a, b) = (REGS[lk], REGS[rk]);
            int_op(e, *op, a, b, fallback);
            if lk != k {
                asm!(e ; mov Rq(r), Rq(a));
            }
        }
    }
}

/// Branches on `Rq(a) (cmp_op) Rq(b)`, COMPARE_OP's operator (`< <= == != > >=`) on two ints.
pub(super) fn int_branch(e: &mut Emitter, cmp_op: u32, a: u8, b: u8, if_true: DynamicLabel, if_false: DynamicLabel) {
    asm!(e ; cmp Rq(a), Rq(b));
    match cmp_op {
        0 => asm!(e ; jl =>if_true ; jmp =>if_false),
        1 => asm!(e ; jle =>if_true ; jmp =>if_false),
        2 => asm!(e ; je =>if_true ; jmp =>if_false),
        3 => asm!(e ; jne =>if_true ; jmp =>if_false),
        4 => asm!(e ; jg =>if_true ; jmp =>if_false),
        _ => asm!(e ; jge =>if_true ; jmp =>if_false),
    }
}

/// `Rq(a) = Rq(a) (op) Rq(b)` for a BINARY_OP operator as `int` computes it on the exact values
/// (see the module's invariants); a case it leaves to the ordinary code (overflow, a zero or
/// -1 divisor, a negative or lossy shift) jumps to `fallback`. Clobbers rax, rcx and rdx.
pub(super) fn int_op(e: &mut Emitter, op: u32, a: u8, b: u8, fallback: DynamicLabel) {
    match op {
        0 => asm!(e ; add Rq(a), Rq(b) ; jo =>fallback),
        10 => asm!(e ; sub Rq(a), Rq(b) ; jo =>fallback),
        5 => asm!(e ; imul Rq(a), Rq(b) ; jo =>fallback),
        1 => asm!(e ; and Rq(a), Rq(b)),
        7 => asm!(e ; or Rq(a), Rq(b)),
        12 => asm!(e ; xor Rq(a), Rq(b)),
        2 | 6 => {
            // Truncating division, then the floor correction: a non-zero remainder
            // whose sign differs from the divisor's moves the quotient down by one
            // and the remainder up by the divisor.
            asm!(e
                ; test Rq(b), Rq(b)
                ; jz =>fallback
                ; cmp Rq(b), -1
                ; je =>fallback
                ; mov rax, Rq(a)
                ; cqo
                ; idiv Rq(b)
                ; test rdx, rdx
                ; jz >exact
                ; mov rcx, rdx
                ; xor rcx, Rq(b)
                ; jns >exact
                ; sub rax, 1
                ; add rdx, Rq(b)
                ; exact:
            );
            if op == 2 {
                asm!(e ; mov Rq(a), rax);
            } else {
                asm!(e ; mov Rq(a), rdx);
            }
        }
        3 => asm!(e
            // A negative count raises, a shift that loses bits needs a big int: both
            // are the ordinary code's.
            ; cmp Rq(b), 62
            ; ja =>fallback
            ; mov rcx, Rq(b)
            ; mov rax, Rq(a)
            ; shl rax, cl
            ; mov rdx, rax
            ; sar rdx, cl
            ; cmp rdx, Rq(a)
            ; jne =>fallback
            ; mov Rq(a), rax
        ),
        _ => asm!(e
            // >>: a negative count raises (ordinary code); 63 and more give 0 or -1.
            ; test Rq(b), Rq(b)
            ; js =>fallback
            ; mov ecx, 63
            ; cmp Rq(b), rcx
            ; cmovb rcx, Rq(b)
            ; sar Rq(a), cl
        ),
    }
}
