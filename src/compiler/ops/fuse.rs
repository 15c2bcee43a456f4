//! Fused float expressions: a straight run of LOAD_FAST / LOAD_CONST / `local[const or local]`
//! / BINARY_OP (`+ - * /`, plain or in-place) that computes one value — `s += x * x + 1.5 /
//! (x + 2.0)` — gets a fast path in front of its ordinary code that evaluates the whole tree in
//! SSE registers and boxes only the final result, instead of allocating a float object per
//! operation. Two shapes around such a run are fused too: a comparison feeding a conditional
//! jump (no boxing at all), and an in-place update of a list item, `b[k] -= dx * m` (one
//! boxing, the new float stored over the old item).
//!
//! # Invariants
//! - The fast path reads its leaves without taking references and writes nothing until the
//!   very end, so any guard that fails (a leaf that is not an exact float, an unbound local, a
//!   zero divisor) jumps to the ordinary code of the first instruction, which then does
//!   everything the interpreter would, exceptions and all.
//! - Every operation is the one `float`'s own slots perform (IEEE double, left op right); an
//!   int constant only meets a float operand, which `float` converts exactly (|v| < 2**53).
//! - No instruction after the first is a jump target, so every way into the run passes the
//!   guards; the value lands in the first instruction's stack slot and execution continues
//!   after the run, where the ordinary code would have left the same value. A value that a
//!   STORE_FAST puts in a local whose float nobody else holds overwrites that float instead
//!   (`Emitter::store_float_in_place`): `acc += x * y` allocates nothing.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, reg::{RAX, RBX}, Emitter};
use crate::compiler::opcodes as op;
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// A list index: a constant (0..65536), or a local guarded to be an exact non-negative int
/// of one digit (non-negative: a subset of what `item_address` in arith.rs accepts).
#[derive(Clone, Copy)]
enum Index {
    Const(i64),
    Local(i32),
}

/// A node of the expression tree.
enum Node {
    /// A local, guarded to be an exact float.
    Local(i32),
    /// `local[index]` (LOAD_FAST, LOAD_CONST or LOAD_FAST, BINARY_SUBSCR): the local guarded
    /// to be an exact list longer than the index, the item to be an exact float.
    ListItem { local: i32, index: Index },
    /// `local.name` (LOAD_FAST, LOAD_ATTR): the `site`-th attribute site of the run (counted
    /// from the run's start), whose inline cache entry 0 must hold for the local's type (a
    /// slot, or an index in the instance's values array), the attribute an exact float. The
    /// cache is the one the LOAD_ATTR's own code fills.
    Attr { local: i32, site: usize },
    /// `math.sqrt(arg)` (LOAD_GLOBAL; LOAD_ATTR or LOAD_METHOD sqrt; arg; PRECALL 1; CALL 1):
    /// the global's memo and the attribute site's module entry must prove it is `math.sqrt`
    /// (memo `memo`-th and attribute site `site`-th of the run); a negative or NaN argument
    /// falls back (the ordinary call raises ValueError or returns the NaN).
    Sqrt { memo: usize, site: usize, arg: Box<Node> },
    /// The callee half of a `math.sqrt(` being parsed: never evaluated.
    SqrtCallee { memo: usize, site: usize },
    /// A constant's value as a double (a float, or an int that is exactly representable).
    Const { value: f64, is_float: bool },
    /// `left (op) right` for op = 0 (+), 5 (*), 10 (-), 11 (/).
    Bin { op: i32, left: Box<Node>, right: Box<Node> },
}

impl Node {
    /// True if the node's value is a float whenever the guards pass.
    fn is_float(&self) -> bool {
        match self {
            Node::Local(_) | Node::ListItem { .. } | Node::Attr { .. } | Node::Sqrt { .. } => true,
            Node::SqrtCallee { .. } => false,
            Node::Const { is_float, .. } => *is_float,
            Node::Bin { .. } => true,
        }
    }
    /// Registers needed to evaluate it (Sethi-Ullman, left first).
    fn regs(&self) -> usize {
        match self {
            Node::Local(_) | Node::ListItem { .. } | Node::Attr { .. } | Node::Const { .. } | Node::SqrtCallee { .. } => 1,
            Node::Sqrt { arg, .. } => arg.regs(),
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
    /// No half-parsed call anywhere in the tree.
    fn complete(&self) -> bool {
        match self {
            Node::SqrtCallee { .. } => false,
            Node::Bin { left, right, .. } => left.complete() && right.complete(),
            Node::Sqrt { arg, .. } => arg.complete(),
            _ => true,
        }
    }
    fn ops(&self) -> usize {
        match self {
            Node::Bin { left, right, .. } => 1 + left.ops() + right.ops(),
            Node::Sqrt { arg, .. } => 1 + arg.ops(),
            _ => 0,
        }
    }
    /// Worth fusing: two operations or more (one box instead of several), or a single one
    /// whose operands say "floats" (a float constant or a list item: numeric kernels).
    fn worth_it(&self) -> bool {
        match self {
            Node::Bin { left, right, .. } => {
                // An attribute leaf too (`dx = p.x - q.x`): such a run stores in place.
                let floaty = |n: &Node| matches!(n, Node::ListItem { .. } | Node::Attr { .. } | Node::Const { is_float: true, .. });
                self.ops() >= 2 || floaty(left) || floaty(right)
            }
            Node::Sqrt { .. } => true,
            _ => false,
        }
    }
}

/// The float operator of a BINARY_OP argument, if fusable.
pub(super) fn float_operator(arg: u32) -> Option<i32> {
    let base = if arg >= 13 { arg - 13 } else { arg };
    matches!(base, 0 | 5 | 10 | 11).then_some(base as i32)
}

/// Simulates the instructions `snap.instrs[n..]` as tree building, calling `at_end(m, stack)`
/// after each one it accepts; stops at the first it cannot fuse (or a jump target).
fn simulate(e: &Emitter, n: usize, at_end: impl FnMut(usize, &[Node])) {
    simulate_from(e, n, 0, at_end)
}

/// [`simulate`] with the run's attribute sites numbered from `first_site` (the attribute
/// instructions before `n` that the caller's shape owns).
fn simulate_from(e: &Emitter, n: usize, first_site: usize, mut at_end: impl FnMut(usize, &[Node])) {
    let snap = e.snap;
    let mut stack: Vec<Node> = Vec::new();
    let mut m = n;
    let mut sites = first_site;
    let mut memos = 0;
    let (sqrt_obj, sqrt_name) = crate::ffi::sqrt_target();
    while m < snap.instrs.len() {
        if (m > n && snap.is_target[m]) || snap.depth[m].is_none() {
            return;
        }
        let ins = &snap.instrs[m];
        match ins.op {
            op::LOAD_FAST => stack.push(Node::Local(ins.arg as i32)),
            op::LOAD_GLOBAL if sqrt_obj != 0 => {
                // `math.sqrt(`: `LOAD_GLOBAL NULL + math; LOAD_ATTR sqrt` (what 3.11 emits for
                // an imported module) or `LOAD_GLOBAL math; LOAD_METHOD sqrt`, the name compared
                // by identity (interned); this consumes the attribute instruction too.
                let Some(next) = snap.instrs.get(m + 1) else { return };
                let want = if ins.arg & 1 == 1 { op::LOAD_ATTR } else { op::LOAD_METHOD };
                if next.op != want || snap.is_target[m + 1] || snap.names[next.arg as usize] != sqrt_name {
                    return;
                }
                stack.push(Node::SqrtCallee { memo: memos, site: sites });
                memos += 1;
                sites += 1;
                m += 1;
            }
            op::PRECALL if ins.arg == 1 => {
                let k = stack.len();
                if k < 2 || !matches!(stack[k - 2], Node::SqrtCallee { .. }) || !stack[k - 1].is_float() || !stack[k - 1].complete() {
                    return;
                }
            }
            op::CALL if ins.arg == 1 => {
                let k = stack.len();
                if k < 2 || snap.instrs[m - 1].op != op::PRECALL {
                    return;
                }
                let Node::SqrtCallee { memo, site } = stack[k - 2] else { return };
                let arg = stack.pop().expect("two entries");
                stack.pop();
                stack.push(Node::Sqrt { memo, site, arg: Box::new(arg) });
            }
            op::LOAD_ATTR => {
                // Only `local.name`, the instruction just before.
                let Some(Node::Local(l)) = stack.last() else { return };
                if m == n {
                    return;
                }
                let local = *l;
                stack.pop();
                stack.push(Node::Attr { local, site: sites });
                sites += 1;
            }
            op::LOAD_CONST => match rt::const_number(snap.consts[ins.arg as usize]) {
                Some((value, is_float)) => stack.push(Node::Const { value, is_float }),
                None => return,
            },
            op::BINARY_SUBSCR => {
                // Only `local[constant]` or `local[local]`, the two instructions just before.
                let (Some(top), Some(Node::Local(l))) = (stack.last(), stack.len().checked_sub(2).and_then(|i| stack.get(i)))
                else {
                    return;
                };
                let index = match top {
                    Node::Const { value, is_float: false } if (0.0..65536.0).contains(value) => Index::Const(*value as i64),
                    Node::Local(k) => Index::Local(*k),
                    _ => return,
                };
                if m < n + 2 {
                    return;
                }
                let local = *l;
                stack.truncate(stack.len() - 2);
                stack.push(Node::ListItem { local, index });
            }
            op::BINARY_OP => {
                let Some(fop) = float_operator(ins.arg) else { return };
                if stack.len() < 2 {
                    return;
                }
                let right = stack.pop().expect("two operands");
                let left = stack.pop().expect("two operands");
                if (!left.is_float() && !right.is_float()) || !left.complete() || !right.complete() {
                    return;
                }
                stack.push(Node::Bin { op: fop, left: Box::new(left), right: Box::new(right) });
            }
            _ => return,
        }
        at_end(m, &stack);
        m += 1;
    }
}

/// Finds the longest run starting at instruction `n` that builds exactly one float value
/// worth fusing: (last instruction of the run, its tree).
fn find_run(e: &Emitter, n: usize) -> Option<(usize, Node)> {
    let mut best = None;
    simulate(e, n, |m, stack| {
        if stack.len() == 1 && stack[0].worth_it() && stack[0].complete() && stack[0].regs() <= 14 {
            best = Some(m);
        }
    });
    let last = best?;
    let mut tree = None;
    simulate(e, n, |m, stack| {
        if m == last {
            tree = Some(clone_top(stack));
        }
    });
    let snap = e.snap;
    // The value continues at the instruction after the run, which must exist.
    (last + 1 < snap.instrs.len() && snap.depth[last + 1].is_some()).then_some((last, tree?))
}

fn clone_top(stack: &[Node]) -> Node {
    fn clone(n: &Node) -> Node {
        match n {
            Node::Local(i) => Node::Local(*i),
            Node::ListItem { local, index } => Node::ListItem { local: *local, index: *index },
            Node::Attr { local, site } => Node::Attr { local: *local, site: *site },
            Node::Sqrt { memo, site, arg } => Node::Sqrt { memo: *memo, site: *site, arg: Box::new(clone(arg)) },
            Node::SqrtCallee { memo, site } => Node::SqrtCallee { memo: *memo, site: *site },
            Node::Const { value, is_float } => Node::Const { value: *value, is_float: *is_float },
            Node::Bin { op, left, right } => Node::Bin { op: *op, left: Box::new(clone(left)), right: Box::new(clone(right)) },
        }
    }
    clone(&stack[0])
}

/// A run that ends in a float comparison and a conditional jump: `zr*zr + zi*zi > 4.0`
/// followed by POP_JUMP_IF_*: (the COMPARE_OP's position, its operator, left, right).
fn find_compare(e: &Emitter, n: usize) -> Option<(usize, u32, Node, Node)> {
    let mut found = None;
    simulate(e, n, |m, stack| {
        if found.is_some() || stack.len() != 2 {
            return;
        }
        let Some(cmp_op) = compare_and_jump_after(e, m) else { return };
        let (l, r) = (&stack[0], &stack[1]);
        if (l.is_float() || r.is_float())
            && l.complete()
            && r.complete()
            // An operation to fuse, or a float constant: `disc < 0.0` says "floats".
            && (l.ops() + r.ops() >= 1
                || matches!(l, Node::Const { is_float: true, .. })
                || matches!(r, Node::Const { is_float: true, .. }))
            && l.regs() <= 14
            && 1 + r.regs() <= 14
        {
            found = Some((m + 1, cmp_op, clone_node(l), clone_node(r)));
        }
    });
    found
}

/// If instructions `m + 1` and `m + 2` are a COMPARE_OP (`< <= == != > >=`) and a conditional
/// jump that nothing else jumps to, followed by a reachable instruction: the comparison's
/// operator. A run that leaves two values at `m` can then branch without making the bool.
pub(super) fn compare_and_jump_after(e: &Emitter, m: usize) -> Option<u32> {
    let snap = e.snap;
    let (cmp, jump) = (snap.instrs.get(m + 1)?, snap.instrs.get(m + 2)?);
    let is_jump = matches!(
        jump.op,
        op::POP_JUMP_FORWARD_IF_FALSE | op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_BACKWARD_IF_FALSE | op::POP_JUMP_BACKWARD_IF_TRUE
    );
    let ok = cmp.op == op::COMPARE_OP
        && cmp.arg <= 5
        && is_jump
        && !snap.is_target[m + 1]
        && !snap.is_target[m + 2]
        && m + 3 < snap.instrs.len()
        && snap.depth[m + 3].is_some();
    ok.then_some(cmp.arg)
}

/// The labels of a fused compare-and-branch whose conditional jump is instruction `jump_n`.
pub(super) struct Branch {
    /// Where the jump is taken: bind it with `jump::taken_edge` (which polls the eval breaker
    /// on a backward edge).
    pub taken: DynamicLabel,
    /// Where execution goes when the comparison is true, and when it is false.
    pub if_true: DynamicLabel,
    pub if_false: DynamicLabel,
}

pub(super) fn branch_labels(e: &mut Emitter, jump_n: usize) -> Branch {
    let on_true = matches!(e.snap.instrs[jump_n].op, op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_BACKWARD_IF_TRUE);
    let taken = e.ops.new_dynamic_label();
    let fall = e.labels[jump_n + 1];
    let (if_true, if_false) = if on_true { (taken, fall) } else { (fall, taken) };
    Branch { taken, if_true, if_false }
}

/// Emits the fused fast path for a compare-and-branch run starting at instruction `n`; returns
/// the position of its jump instruction.
fn try_float_compare(e: &mut Emitter, n: usize) -> Option<usize> {
    let (cmp_n, cmp_op, left, right) = find_compare(e, n)?;
    let jump_n = cmp_n + 1;
    let fallback = e.ops.new_dynamic_label();
    let Branch { taken, if_true, if_false } = branch_labels(e, jump_n);
    let float_t = rt::float_type() as i64;
    asm!(e ; mov rcx, QWORD float_t);
    eval(e, &left, 0, fallback);
    eval(e, &right, 1, fallback);
    float_branch(e, cmp_op, if_true, if_false);
    super::jump::taken_edge(e, jump_n, taken);
    asm!(e ; =>fallback);
    Some(jump_n)
}

/// Jumps to `miss` unless `math.sqrt` is what a `math.sqrt(` reads: the global is what the
/// LOAD_GLOBAL site's memo at `memo` says (both dict versions unchanged), a module whose dict is
/// in the state the LOAD_ATTR/LOAD_METHOD site's cache entry 0 at `cache` proved `sqrt` in, as
/// math.sqrt itself. Clobbers rax, rdx, r8 and r9 (rcx is kept).
pub(super) fn math_sqrt_guard(e: &mut Emitter, memo: usize, cache: usize, miss: DynamicLabel) {
    let (sqrt_obj, _) = crate::ffi::sqrt_target();
    let module_t = rt::module_type() as i64;
    asm!(e ; mov r8, QWORD memo as i64);
    e.global_memo_value(8, miss);
    asm!(e
        ; mov r9, QWORD module_t
        ; cmp [rax + L::OB_TYPE], r9
        ; jne =>miss
        ; mov r8, QWORD cache as i64
        ; cmp DWORD [r8 + 4], 3
        ; jne =>miss
        ; mov rdx, QWORD sqrt_obj as i64
        ; cmp [r8 + 16], rdx
        ; jne =>miss
        ; mov rax, [rax + L::MODULE_MD_DICT]
        ; test rax, rax
        ; jz =>miss
        ; mov rdx, [rax + L::DICT_VERSION_TAG]
        ; cmp rdx, [r8 + 24]
        ; jne =>miss
    );
}

/// Branches on `xmm0 (cmp_op) xmm1`, COMPARE_OP's operator (`< <= == != > >=`), as float's
/// rich comparison decides it: an unordered (NaN) pair is unequal and not ordered.
pub(super) fn float_branch(e: &mut Emitter, cmp_op: u32, if_true: DynamicLabel, if_false: DynamicLabel) {
    match cmp_op {
        0 => asm!(e ; ucomisd xmm1, xmm0 ; ja =>if_true ; jmp =>if_false),  // <
        1 => asm!(e ; ucomisd xmm1, xmm0 ; jae =>if_true ; jmp =>if_false), // <=
        2 => asm!(e ; ucomisd xmm0, xmm1 ; jp =>if_false ; je =>if_true ; jmp =>if_false), // ==
        3 => asm!(e ; ucomisd xmm0, xmm1 ; jp =>if_true ; jne =>if_true ; jmp =>if_false), // !=
        4 => asm!(e ; ucomisd xmm0, xmm1 ; ja =>if_true ; jmp =>if_false),  // >
        _ => asm!(e ; ucomisd xmm0, xmm1 ; jae =>if_true ; jmp =>if_false), // >=
    }
}

/// `xmm{a} = xmm{a} (op) xmm{b}` for op 0 (+), 5 (*), 10 (-), 11 (/), as float's own slots
/// compute it; a zero (or NaN) divisor jumps to `fallback`, whose ordinary code raises
/// ZeroDivisionError or computes the NaN itself.
pub(super) fn float_op(e: &mut Emitter, op: i32, a: u8, b: u8, fallback: DynamicLabel) {
    match op {
        0 => asm!(e ; addsd Rx(a), Rx(b)),
        5 => asm!(e ; mulsd Rx(a), Rx(b)),
        10 => asm!(e ; subsd Rx(a), Rx(b)),
        _ => asm!(e
            ; xorpd xmm15, xmm15
            ; ucomisd Rx(b), xmm15
            ; je =>fallback
            ; divsd Rx(a), Rx(b)
        ),
    }
}

fn clone_node(n: &Node) -> Node {
    clone_top(std::slice::from_ref(n))
}

/// Emits the fused fast path for a run starting at instruction `n` (depth `d`) if there is
/// one, and returns the position of its last instruction; the caller then emits the run's
/// ordinary code, which is where the fast path's guards fall back to.
pub fn try_float_run(e: &mut Emitter, n: usize, d: u32) -> Option<usize> {
    if let Some(last) = try_float_compare(e, n) {
        return Some(last);
    }
    if let Some(last) = try_item_update(e, n, d) {
        return Some(last);
    }
    if let Some(last) = try_attr_update(e, n, d) {
        return Some(last);
    }
    let (last, tree) = find_run(e, n)?;
    let fallback = e.ops.new_dynamic_label();
    let float_t = rt::float_type() as i64;
    asm!(e ; mov rcx, QWORD float_t);
    eval(e, &tree, 0, fallback);
    finish_float_run(e, last, d, fallback);
    Some(last)
}

/// The end of a fused run whose value is the double in `xmm0`: into the next STORE_FAST's
/// local in place if possible, else boxed into stack slot `d` (MemoryError: the error exit of
/// the run's last instruction); then on after the run (`last`). `fallback` is placed after.
pub(super) fn finish_float_run(e: &mut Emitter, last: usize, d: u32, fallback: DynamicLabel) {
    let after = e.labels[last + 1];
    let out_of_memory = e.error_label(e.snap.instrs[last].idx, d);
    let s = e.slot(d);
    if let Some((l, after_store)) = e.store_fast_after(last) {
        e.store_float_in_place(l, after_store);
    }
    let box_float = rt::float_from_double() as i64;
    asm!(e
        ; mov rax, QWORD box_float
        ; call rax
        ; test rax, rax
        ; jz =>out_of_memory
    );
    e.store_q(RBX, s, RAX);
    asm!(e
        ; jmp =>after
        ; =>fallback
    );
}

/// An in-place update of a list item by a float expression, `b[3] -= dx * mj`, which 3.11
/// compiles to
/// `LOAD_FAST b; LOAD_CONST 3; COPY 2; COPY 2; BINARY_SUBSCR; <run>; BINARY_OP op=; SWAP 3;
/// SWAP 2; STORE_SUBSCR`: (the STORE_SUBSCR's position, local, index, the operator, the run's
/// tree). None of the instructions after the first may be a jump target.
fn find_item_update(e: &Emitter, n: usize) -> Option<(usize, i32, Index, i32, Node)> {
    let snap = e.snap;
    let at = |k: usize| snap.instrs.get(n + k);
    let (load, index) = (at(0)?, at(1)?);
    if load.op != op::LOAD_FAST {
        return None;
    }
    let index = match index.op {
        op::LOAD_FAST => Index::Local(index.arg as i32),
        op::LOAD_CONST => match rt::const_number(snap.consts[index.arg as usize])? {
            (value, false) if (0.0..65536.0).contains(&value) => Index::Const(value as i64),
            _ => return None,
        },
        _ => return None,
    };
    let head_ok = [(2, op::COPY, 2), (3, op::COPY, 2)].iter().all(|&(k, o, a)| at(k).is_some_and(|i| i.op == o && i.arg == a))
        && at(4).is_some_and(|i| i.op == op::BINARY_SUBSCR);
    if !head_ok || (1..=5).any(|k| snap.is_target.get(n + k).copied().unwrap_or(true)) {
        return None;
    }
    // The run computing the right operand, then the tail.
    let mut found = None;
    simulate(e, n + 5, |m, stack| {
        if found.is_some() || stack.len() != 1 {
            return;
        }
        let tail = |k: usize, o: u8, a: Option<u32>| {
            snap.instrs.get(m + k).is_some_and(|i| i.op == o && a.is_none_or(|a| i.arg == a)) && !snap.is_target[m + k]
        };
        if tail(1, op::BINARY_OP, None) && tail(2, op::SWAP, Some(3)) && tail(3, op::SWAP, Some(2)) && tail(4, op::STORE_SUBSCR, None) {
            let arg = snap.instrs[m + 1].arg;
            if let Some(fop) = float_operator(arg).filter(|_| arg >= 13) {
                found = Some((m + 4, fop, clone_top(stack)));
            }
        }
    });
    let (last, fop, rhs) = found?;
    if last + 1 >= snap.instrs.len() || snap.depth[last + 1].is_none() || 1 + rhs.regs() > 14 {
        return None;
    }
    Some((last, load.arg as i32, index, fop, rhs))
}

/// Emits the fused fast path of an in-place list item update starting at instruction `n`
/// (depth `d`): the guards of [`Node::ListItem`] and of the run, the operation in SSE, one
/// boxing, and the new float stored over the old item (released; a float's destructor runs no
/// code). Returns the STORE_SUBSCR's position.
fn try_item_update(e: &mut Emitter, n: usize, d: u32) -> Option<usize> {
    let (last, local, index, fop, rhs) = find_item_update(e, n)?;
    let tree = Node::Bin { op: fop, left: Box::new(Node::ListItem { local, index }), right: Box::new(rhs) };
    let fallback = e.ops.new_dynamic_label();
    let after = e.labels[last + 1];
    let unit = e.snap.instrs[last - 3].idx; // the BINARY_OP, which allocates the result
    let out_of_memory = e.error_label(unit, d);
    let float_t = rt::float_type() as i64;
    asm!(e ; mov rcx, QWORD float_t);
    eval(e, &tree, 0, fallback);
    // Allocating a float neither runs Python code nor triggers the garbage collector (floats
    // are not GC objects): the list checked by the guards is unchanged when it is stored into.
    let box_float = rt::float_from_double() as i64;
    let l = e.local(local as u32);
    asm!(e
        ; mov rax, QWORD box_float
        ; call rax
        ; test rax, rax
        ; jz =>out_of_memory
        ; mov rdx, [rbx + l]
        ; mov rdx, [rdx + L::LIST_OB_ITEM]
    );
    match index {
        Index::Const(k) => {
            let off = (k * 8) as i32;
            asm!(e ; lea rdx, [rdx + off]);
        }
        Index::Local(k) => {
            // The guards proved it a one-digit non-negative int (0 has no digit: size 0).
            let kl = e.local(k as u32);
            asm!(e
                ; mov r8, [rbx + kl]
                ; mov r9d, [r8 + L::LONG_OB_DIGIT]
                ; mov r8, [r8 + L::VAR_OB_SIZE]
                ; imul r8, r9
                ; lea rdx, [rdx + r8 * 8]
            );
        }
    }
    asm!(e
        ; mov rdi, [rdx]
        ; mov [rdx], rax
    );
    e.decref_rdi(e.snap.instrs[last].idx);
    asm!(e
        ; jmp =>after
        ; =>fallback
    );
    Some(last)
}

/// An in-place update of a float attribute, `v.x -= dx * m`, which 3.11 compiles to
/// `LOAD_FAST v; COPY 1; LOAD_ATTR x; <run>; BINARY_OP op=; SWAP 2; STORE_ATTR x`: (the
/// STORE_ATTR's position, the whole value's tree, the STORE_ATTR's attribute site). None of the
/// instructions after the first may be a jump target. The float counterpart of fuse_int's.
fn find_attr_update(e: &Emitter, n: usize) -> Option<(usize, Node, usize)> {
    let local = attr_update_head(e, n)?;
    let mut found = None;
    simulate_from(e, n + 3, 1, |m, stack| {
        if found.is_some() || stack.len() != 1 || !stack[0].complete() {
            return;
        }
        let Some((arg, store_n, store_site)) = attr_update_tail(e, n, m) else { return };
        let Some(fop) = float_operator(arg) else { return };
        let tree = Node::Bin { op: fop, left: Box::new(Node::Attr { local: local as i32, site: 0 }), right: Box::new(clone_top(stack)) };
        if tree.regs() <= 14 {
            found = Some((store_n, tree, store_site));
        }
    });
    found
}

/// The head of an in-place attribute update `obj.name op= <run>`, which 3.11 compiles to
/// `LOAD_FAST obj; COPY 1; LOAD_ATTR name; <run>; BINARY_OP op=; SWAP 2; STORE_ATTR name`,
/// starting at `n` (nothing jumping into it): the local. The run starts at `n + 3`, its
/// attribute sites numbered from 1 (the LOAD_ATTR is site 0). Shared with fuse_int.
pub(super) fn attr_update_head(e: &Emitter, n: usize) -> Option<u32> {
    let snap = e.snap;
    let ins = |k: usize| snap.instrs.get(k);
    let (first, copy, load) = (ins(n)?, ins(n + 1)?, ins(n + 2)?);
    let ok = first.op == op::LOAD_FAST
        && copy.op == op::COPY
        && copy.arg == 1
        && load.op == op::LOAD_ATTR
        && !snap.is_target[n + 1]
        && !snap.is_target[n + 2];
    ok.then_some(first.arg)
}

/// The tail of the attribute update whose head is at `n` (see [`attr_update_head`]), if its run
/// ends at `m`: (the in-place BINARY_OP's argument, the STORE_ATTR's position, the STORE_ATTR's
/// attribute site counted from `n + 2`). Nothing may jump into it, and an instruction must
/// follow.
pub(super) fn attr_update_tail(e: &Emitter, n: usize, m: usize) -> Option<(u32, usize, usize)> {
    let snap = e.snap;
    let ins = |k: usize| snap.instrs.get(k);
    let (load, bin, swap, store) = (ins(n + 2)?, ins(m + 1)?, ins(m + 2)?, ins(m + 3)?);
    let ok = bin.op == op::BINARY_OP
        && bin.arg >= 13
        && swap.op == op::SWAP
        && swap.arg == 2
        && store.op == op::STORE_ATTR
        && snap.names[store.arg as usize] == snap.names[load.arg as usize]
        && !(m + 1..=m + 3).any(|k| snap.is_target[k])
        && m + 4 < snap.instrs.len()
        && snap.depth[m + 4].is_some();
    let sites = 1 + (n + 3..=m).filter(|&k| matches!(snap.instrs[k].op, op::LOAD_ATTR | op::STORE_ATTR | op::LOAD_METHOD)).count();
    ok.then_some((bin.arg, m + 3, sites))
}

/// Emits the fast path of a float attribute update starting at `n` (see [`find_attr_update`]):
/// the value computed in SSE registers, then stored through the STORE_ATTR site's own cache
/// entry (as its inline code would), into the old float itself when nothing else holds it, else
/// as a new float (the old one, an exact float, released: no code runs).
fn try_attr_update(e: &mut Emitter, n: usize, d: u32) -> Option<usize> {
    let (store_n, tree, store_site) = find_attr_update(e, n)?;
    let store_cache = e.peek_attr_cache(store_site)?;
    let local = e.local(e.snap.instrs[n].arg);
    let fallback = e.ops.new_dynamic_label();
    let after = e.labels[store_n + 1];
    let u = e.snap.instrs[store_n].idx;
    let out_of_memory = e.error_label(e.snap.instrs[store_n - 2].idx, d);
    let float_t = rt::float_type() as i64;
    let box_float = rt::float_from_double() as i64;
    asm!(e ; mov rcx, QWORD float_t);
    eval(e, &tree, 0, fallback);
    asm!(e ; mov rax, [rbx + local]);
    // Keeps rax and rcx; the attribute's address in r10.
    super::load_store::attr_entry0_address(e, store_cache, fallback, true);
    asm!(e
        // The float the tree read (anything else: the ordinary code stores it).
        ; mov rax, [r10]
        ; cmp [rax + L::OB_TYPE], rcx
        ; jne =>fallback
        ; cmp QWORD [rax], 1
        ; jne >fresh
        ; movsd QWORD [rax + L::FLOAT_OB_FVAL], xmm0
        ; jmp =>after
        ; fresh:
        ; mov rbp, r10
        ; mov rax, QWORD box_float
        ; call rax
    );
    e.replace_with_rax(5, u, out_of_memory); // the slot's address in rbp
    asm!(e
        ; jmp =>after
        ; =>fallback
    );
    Some(store_n)
}

/// Evaluates `node` into xmm`r` (using registers r.. upward); `rcx` holds `&PyFloat_Type`.
fn eval(e: &mut Emitter, node: &Node, r: u8, fallback: DynamicLabel) {
    match node {
        Node::Local(i) => {
            let l = e.local(*i as u32); // the root's value ends in xmm0: the boxing call's argument
            asm!(e
                ; mov rax, [rbx + l]
                ; test rax, rax
                ; jz =>fallback
                ; cmp [rax + L::OB_TYPE], rcx
                ; jne =>fallback
                ; movsd Rx(r), QWORD [rax + L::FLOAT_OB_FVAL]
            );
        }
        Node::ListItem { local, index } => {
            let l = e.local(*local as u32);
            let list_t = rt::list_type() as i64;
            asm!(e
                ; mov rax, [rbx + l]
                ; test rax, rax
                ; jz =>fallback
                ; mov rdx, QWORD list_t
                ; cmp [rax + L::OB_TYPE], rdx
                ; jne =>fallback
            );
            match *index {
                Index::Const(k) => {
                    let off = (k * 8) as i32;
                    asm!(e
                        ; cmp QWORD [rax + L::VAR_OB_SIZE], k as i32
                        ; jle =>fallback
                        ; mov rax, [rax + L::LIST_OB_ITEM]
                        ; mov rax, [rax + off]
                    );
                }
                Index::Local(k) => {
                    let kl = e.local(k as u32);
                    let long_t = rt::long_type() as i64;
                    asm!(e
                        ; mov rdx, [rbx + kl]
                        ; test rdx, rdx
                        ; jz =>fallback
                        ; mov r8, QWORD long_t
                        ; cmp [rdx + L::OB_TYPE], r8
                        ; jne =>fallback
                        ; mov r8, [rdx + L::VAR_OB_SIZE]
                        ; cmp r8, 1
                        ; ja =>fallback
                        ; mov r9d, [rdx + L::LONG_OB_DIGIT]
                        ; imul r8, r9
                        ; cmp r8, [rax + L::VAR_OB_SIZE]
                        ; jae =>fallback
                        ; mov rax, [rax + L::LIST_OB_ITEM]
                        ; mov rax, [rax + r8 * 8]
                    );
                }
            }
            asm!(e
                ; cmp [rax + L::OB_TYPE], rcx
                ; jne =>fallback
                ; movsd Rx(r), QWORD [rax + L::FLOAT_OB_FVAL]
            );
        }
        Node::Attr { local, site } => {
            let l = e.local(*local as u32);
            let Some(cache) = e.peek_attr_cache(*site) else {
                asm!(e ; jmp =>fallback);
                return;
            };
            asm!(e
                ; mov rax, [rbx + l]
                ; test rax, rax
                ; jz =>fallback
            );
            super::load_store::attr_entry0_address(e, cache, fallback, false);
            asm!(e
                ; mov rax, [r10]
                ; test rax, rax
                ; jz =>fallback
                ; cmp [rax + L::OB_TYPE], rcx
                ; jne =>fallback
                ; movsd Rx(r), QWORD [rax + L::FLOAT_OB_FVAL]
            );
        }
        Node::SqrtCallee { .. } => asm!(e ; jmp =>fallback),
        Node::Sqrt { memo, site, arg } => {
            eval(e, arg, r, fallback);
            let (Some(memo), Some(cache)) = (e.peek_global_memo(*memo), e.peek_attr_cache(*site)) else {
                asm!(e ; jmp =>fallback);
                return;
            };
            math_sqrt_guard(e, memo, cache, fallback);
            asm!(e
                // Negative or NaN (unordered sets CF too): the ordinary call.
                ; xorpd xmm15, xmm15
                ; ucomisd Rx(r), xmm15
                ; jb =>fallback
                ; sqrtsd Rx(r), Rx(r)
            );
        }
        Node::Const { value, .. } => {
            let bits = value.to_bits() as i64;
            asm!(e
                ; mov rax, QWORD bits
                ; movq Rx(r), rax
            );
        }
        Node::Bin { op, left, right } => {
            // Evaluate the operand needing more registers first, keeping left/right order of
            // the operation itself.
            let (lr, rr) = if left.regs() >= right.regs() { (r, r + 1) } else { (r + 1, r) };
            if lr < rr {
                eval(e, left, lr, fallback);
                eval(e, right, rr, fallback);
            } else {
                eval(e, right, rr, fallback);
                eval(e, left, lr, fallback);
            }
            float_op(e, *op, lr, rr, fallback);
            if lr != r {
                asm!(e ; movsd Rx(r), Rx(lr));
            }
        }
    }
}
