//! Loop kernels: an innermost `for name in range(...)` (or `for name in a_list`) loop whose
//! body is only int and float arithmetic on locals and list items — `s += a[k] * b[k]`,
//! mandelbrot's escape loop, an n-body pair update — is compiled a second time as one tight
//! machine loop, placed in front of the loop's ordinary code. Types are checked once when the kernel is entered instead of at
//! every use: a float local is read with one load, the loop counter lives in a register, the
//! range iterator is stepped without a call or a type check, and results are written into the
//! local's own float or int when nothing else holds it.
//!
//! # Invariants
//! - **The frame is the truth at every statement boundary.** Every assignment is written to
//!   the frame's local at once (in place when unshared, else a new object), and the range
//!   iterator is advanced in its own object, so leaving the kernel needs no write-back: every
//!   exit is a plain jump to the ordinary code of the statement being executed, which then
//!   does everything the interpreter would (exceptions, overflow to big ints, other types).
//! - **A statement has no effect until its last step** (the store), so a guard failing in
//!   the middle of one (an item that is not a float, an int overflow, a zero divisor, an index
//!   out of range) leaves by re-running that statement in the ordinary code.
//! - **No Python code runs inside a kernel**, so what the entry checked stays true: the only
//!   objects released are exact ints and floats (the previous values of the locals, whose
//!   types the entry checked, and list items checked just before), whose deallocation runs no
//!   code, and allocation of ints and floats never triggers the garbage collector. Lists may
//!   still be any length: every index is bounds-checked.
//! - The eval breaker is polled on every back edge, exactly where the ordinary JUMP_BACKWARD
//!   polls it; a set breaker leaves for that JUMP_BACKWARD, which handles it (Ctrl-C works).
//! - A kernel whose entry checks keep failing (the loop sees other types than the ones the
//!   compiler inferred) disables itself after [`DISABLE_AFTER`] failed entries, so such loops
//!   pay nothing more than one compare per iteration.
//!
//! Types are inferred at compile time from the body: a range loop's variable is an int (a list
//! loop's is typed by its uses and checked item by item), `<< >> & | ^` take ints, `/` gives a
//! float, constants have their type, an operand of unknown type takes its sibling's, and
//! whatever stays unknown is taken to be a float. The entry then checks that the locals read
//! before being assigned really have those types.

use std::collections::{HashMap, HashSet};

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use super::fuse::{float_branch, float_op};
use super::fuse_int::{int_branch, int_op};
use crate::compiler::emit::{asm, reg::RBP, Emitter};
use crate::compiler::opcodes as op;
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

/// General registers an int expression is evaluated in (rax, rcx and rdx are the scratch of
/// the operations; rbp holds the loop variable's value during the kernel).
const IREGS: [u8; 6] = [6, 7, 8, 9, 10, 11]; // rsi, rdi, r8, r9, r10, r11

/// SSE registers available to a float expression (xmm14 and xmm15 are scratch).
const XREGS: usize = 14;

/// Failed entries after which a kernel is no longer tried.
pub const DISABLE_AFTER: i32 = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Int,
    Float,
    List,
}

impl Ty {
    /// The exact type a value of this type has (int, float or list).
    fn type_object(self) -> usize {
        match self {
            Ty::Int => rt::long_type(),
            Ty::Float => rt::float_type(),
            Ty::List => rt::list_type(),
        }
    }
}

/// An expression of the body.
#[derive(Clone, Debug)]
enum Expr {
    Local(u32),
    Int(i64),
    Float(f64),
    /// `list[index]`: `list` a list local, `index` an int expression; `ty` the item's type
    /// (inferred; checked at every read).
    Item {
        list: u32,
        index: Box<Expr>,
        ty: Option<Ty>,
    },
    /// `left (op) right`, `op` a BINARY_OP operator (in-place ones mapped to the plain ones).
    Bin {
        op: u32,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `math.sqrt(arg)`: the global and the attribute are checked at the entry.
    Sqrt(Box<Expr>),
    /// The callee half of a `math.sqrt(` being parsed.
    SqrtCallee,
    /// The callee half of a call to `snap.callees[i]` being parsed (replaced by the callee's
    /// body at its CALL).
    Callee(usize),
    /// A constant that is not a number (`True`, `None`, ...): only as the value of a
    /// [`Stmt::Store`].
    Obj(usize),
}

/// A statement of the body; `first` is the position of its first instruction, where its
/// ordinary code starts (the exit of every guard inside it).
#[derive(Debug)]
enum Stmt {
    /// `local = value` (STORE_FAST). `unit`: the store's code unit (for a MemoryError).
    Assign {
        first: usize,
        unit: usize,
        local: u32,
        value: Expr,
    },
    /// `list[index] op= value` on a float item.
    Update {
        first: usize,
        unit: usize,
        list: u32,
        index: Expr,
        op: u32,
        value: Expr,
    },
    /// `if left (cmp) right: <block>` whose block is not part of the kernel: when the
    /// comparison's truth is `exit_if`, leave for the ordinary code at `to` (the block).
    Exit {
        first: usize,
        cmp: u32,
        left: Expr,
        right: Expr,
        exit_if: bool,
        to: usize,
    },
    /// `list[index] = value`: an int or float value (boxed, or written into the item's own
    /// object when unshared), or a constant object.
    Store { first: usize, unit: usize, list: u32, index: Expr, value: Expr },
    /// `if value:` (or `if not value:`) whose block is not part of the kernel: when the
    /// value's truth is `exit_if`, leave for the block at `to`. `value` is a list item of any
    /// type (True, False, None, ints and floats are tested here; anything else re-runs the
    /// statement in the ordinary code) or an int or float local.
    Test { first: usize, value: Expr, exit_if: bool, to: usize },
}

impl Stmt {
    fn first(&self) -> usize {
        match self {
            Stmt::Assign { first, .. }
            | Stmt::Update { first, .. }
            | Stmt::Exit { first, .. }
            | Stmt::Store { first, .. }
            | Stmt::Test { first, .. } => *first,
        }
    }
}

/// A recognised loop: FOR_ITER at `n`, the loop variable `var`, the body's statements, the
/// closing JUMP_BACKWARD at `back`, and the (memo, attribute site) of each `math.sqrt`.
struct Kernel {
    var: u32,
    /// `for var in range(...)` (the loop variable an int kept in rbp, stored at the exits) or
    /// `for var in a_list` (the item stored into the frame at every step, like any local).
    over_range: bool,
    body: Vec<Stmt>,
    back: usize,
    sqrt_sites: Vec<(usize, usize)>,
    /// (memo, callee) of each inlined call: the LOAD_GLOBAL site's memo must give a function
    /// whose code is `snap.callees[callee].code`.
    call_sites: Vec<(usize, usize)>,
    types: HashMap<u32, Ty>,
    live_in: Vec<u32>,
    assigned: Vec<u32>,
    /// Float locals kept in home slots during the kernel ([`home_locals`]).
    home: Vec<u32>,
}

/// Float locals the kernel keeps in home slots (memory of its own, see [`Gen::home`]) instead
/// of their frame boxes: every assignment to them in the body computes a float (none binds an
/// object: a constant, another local or an item), and none is the object copied into another
/// local or a list. The first assignment after the entry still goes through the box (making
/// it a float nothing else holds); later ones only write the home slot, and every exit writes
/// the home slots of the locals assigned so far back into their boxes, in place. Nothing
/// can look at the frame in between: no Python code runs inside a kernel.
fn home_locals(k: &Kernel) -> Vec<u32> {
    let mut home = Vec::new();
    for &l in &k.assigned {
        if k.types.get(&l) != Some(&Ty::Float) || l == k.var {
            continue;
        }
        let binds_object = k.body.iter().any(|s| match s {
            Stmt::Assign { local, value, .. } if *local == l => {
                matches!(value, Expr::Obj(_) | Expr::Local(_) | Expr::Item { .. })
            }
            Stmt::Assign { value: Expr::Local(x), .. } | Stmt::Store { value: Expr::Local(x), .. } => *x == l,
            _ => false,
        });
        if !binds_object && home.len() < MAX_HOME {
            home.push(l);
        }
    }
    home
}

/// Most float locals one kernel keeps in home slots.
const MAX_HOME: usize = 16;

/// The BINARY_OP operators a kernel computes (in-place forms mapped to the plain ones).
fn operator(arg: u32) -> Option<u32> {
    let base = if arg >= 13 { arg - 13 } else { arg };
    matches!(base, 0 | 1 | 2 | 3 | 5 | 6 | 7 | 9 | 10 | 11 | 12).then_some(base)
}

/// Parses the statement starting at `p` (depth: the loop's); returns it and where the next one
/// starts. `n` is the FOR_ITER (memos and attribute sites are counted from it).
fn parse_stmt(
    e: &Emitter,
    n: usize,
    p: usize,
    back: usize,
    sites: &mut Sites,
) -> Option<(Stmt, usize)> {
    let snap = e.snap;
    let ins = |k: usize| snap.instrs.get(k);
    // `list[i] op= value`: LOAD_FAST list; LOAD_FAST i | LOAD_CONST c; COPY 2; COPY 2;
    // BINARY_SUBSCR; <value>; BINARY_OP op=; SWAP 3; SWAP 2; STORE_SUBSCR.
    if ins(p)?.op == op::LOAD_FAST
        && matches!(ins(p + 1)?.op, op::LOAD_FAST | op::LOAD_CONST)
        && ins(p + 2)?.op == op::COPY
        && ins(p + 2)?.arg == 2
        && ins(p + 3)?.op == op::COPY
        && ins(p + 3)?.arg == 2
        && ins(p + 4)?.op == op::BINARY_SUBSCR
    {
        if (p + 1..p + 5).any(|k| snap.is_target[k]) {
            return None;
        }
        let index = leaf(e, p + 1)?;
        let (value, m) = parse_expr(e, n, p + 5, back, sites, |stack, m| {
            stack.len() == 1
                && ins(m + 1).is_some_and(|i| i.op == op::BINARY_OP && i.arg >= 13)
                && ins(m + 2).is_some_and(|i| i.op == op::SWAP && i.arg == 3)
                && ins(m + 3).is_some_and(|i| i.op == op::SWAP && i.arg == 2)
                && ins(m + 4).is_some_and(|i| i.op == op::STORE_SUBSCR)
        })?;
        if (m + 1..=m + 4).any(|k| snap.is_target[k]) || m + 4 >= back {
            return None;
        }
        let bop = operator(snap.instrs[m + 1].arg)?;
        if !matches!(bop, 0 | 5 | 10 | 11) {
            return None;
        }
        let stmt = Stmt::Update {
            first: p,
            unit: snap.instrs[m + 1].idx,
            list: snap.instrs[p].arg,
            index,
            op: bop,
            value,
        };
        return Some((stmt, m + 5));
    }
    // `local = value` or `if a (cmp) b:` with a block that leaves the kernel.
    let mut end = None;
    let (mut stack, _) = parse_stack(e, n, p, back, sites, |stack, m| {
        let Some(next) = ins(m + 1) else { return false };
        let ends = match stack.len() {
            1 => matches!(next.op, op::STORE_FAST | op::POP_JUMP_FORWARD_IF_FALSE | op::POP_JUMP_FORWARD_IF_TRUE),
            2 => next.op == op::COMPARE_OP && next.arg <= 5,
            3 => next.op == op::STORE_SUBSCR && matches!(stack[1], Expr::Local(_)),
            _ => false,
        };
        if ends {
            end = Some(m + 1);
        }
        ends
    })?;
    let end = end?;
    if snap.is_target[end] {
        return None;
    }
    let last = &snap.instrs[end];
    if last.op == op::STORE_SUBSCR {
        let index = stack.pop()?;
        let Some(Expr::Local(list)) = stack.pop() else { return None };
        let value = stored_value(e, p, stack.pop()?)?;
        return Some((Stmt::Store { first: p, unit: last.idx, list, index, value }, end + 1));
    }
    if matches!(last.op, op::POP_JUMP_FORWARD_IF_FALSE | op::POP_JUMP_FORWARD_IF_TRUE) {
        let t = snap.at_unit(last.target?)?;
        if t <= end + 1 || t > back || snap.depth[end + 1].is_none() {
            return None;
        }
        let value = stack.pop()?;
        if !matches!(value, Expr::Local(_) | Expr::Item { .. }) {
            return None;
        }
        let exit_if = last.op == op::POP_JUMP_FORWARD_IF_FALSE;
        return Some((Stmt::Test { first: p, value, exit_if, to: end + 1 }, t));
    }
    if last.op == op::STORE_FAST {
        let value = stored_value(e, p, stack.pop()?)?;
        return Some((
            Stmt::Assign {
                first: p,
                unit: last.idx,
                local: last.arg,
                value,
            },
            end + 1,
        ));
    }
    // COMPARE_OP, then a forward conditional jump to a later point of the body.
    let jump = ins(end + 1)?;
    let exit_if = match jump.op {
        op::POP_JUMP_FORWARD_IF_FALSE => true,
        op::POP_JUMP_FORWARD_IF_TRUE => false,
        _ => return None,
    };
    if snap.is_target[end + 1] {
        return None;
    }
    let t = snap.at_unit(jump.target?)?;
    if t <= end + 2 || t > back || snap.depth[end + 2].is_none() {
        return None;
    }
    let right = stack.pop()?;
    let left = stack.pop()?;
    Some((
        Stmt::Exit {
            first: p,
            cmp: last.arg,
            left,
            right,
            exit_if,
            to: end + 2,
        },
        t,
    ))
}

/// The value of an assignment statement starting at `p`, as the kernel stores it: what the
/// interpreter would bind is the very object a constant, a local or an item is, so a bare
/// constant becomes [`Expr::Obj`] (and locals and items are copied as objects by the code
/// generator). The loop variable itself (kept in a register) is not stored anywhere else.
fn stored_value(e: &Emitter, p: usize, value: Expr) -> Option<Expr> {
    let ins = &e.snap.instrs[p];
    match value {
        Expr::Int(_) | Expr::Float(_) if ins.op == op::LOAD_CONST => Some(Expr::Obj(e.snap.consts[ins.arg as usize])),
        v => Some(v),
    }
}

/// An index leaf (LOAD_FAST or a LOAD_CONST int) at `p`.
fn leaf(e: &Emitter, p: usize) -> Option<Expr> {
    let ins = &e.snap.instrs[p];
    match ins.op {
        op::LOAD_FAST => Some(Expr::Local(ins.arg)),
        op::LOAD_CONST => match rt::const_number(e.snap.consts[ins.arg as usize])? {
            (v, false) => Some(Expr::Int(v as i64)),
            _ => None,
        },
        _ => None,
    }
}

/// [`parse_stack`] for exactly one value.
fn parse_expr(
    e: &Emitter,
    n: usize,
    p: usize,
    back: usize,
    sites: &mut Sites,
    done: impl FnMut(&[Expr], usize) -> bool,
) -> Option<(Expr, usize)> {
    let (mut stack, m) = parse_stack(e, n, p, back, sites, done)?;
    (stack.len() == 1).then(|| (stack.pop().expect("one value"), m))
}

/// Simulates instructions from `p` as expression building until `done(stack, m)` says the
/// instruction `m` just simulated ends the expression part; None at anything else (a jump
/// target after `p`, an instruction no kernel computes).
fn parse_stack(
    e: &Emitter,
    n: usize,
    p: usize,
    back: usize,
    sites: &mut Sites,
    mut done: impl FnMut(&[Expr], usize) -> bool,
) -> Option<(Vec<Expr>, usize)> {
    let snap = e.snap;
    let (sqrt_obj, sqrt_name) = crate::ffi::sqrt_target();
    let mut stack: Vec<Expr> = Vec::new();
    let mut m = p;
    while m < back {
        if (m > p && snap.is_target[m]) || snap.depth[m].is_none() {
            return None;
        }
        let ins = &snap.instrs[m];
        match ins.op {
            op::LOAD_FAST => stack.push(Expr::Local(ins.arg)),
            op::LOAD_CONST => match rt::const_number(snap.consts[ins.arg as usize]) {
                Some((v, true)) => stack.push(Expr::Float(v)),
                Some((v, false)) => stack.push(Expr::Int(v as i64)),
                None => stack.push(Expr::Obj(snap.consts[ins.arg as usize])),
            },
            op::LOAD_GLOBAL if ins.arg & 1 == 1 && snap.callees.iter().any(|c| c.name == (ins.arg >> 1) as usize) => {
                // A small global function (bytecode::Callee): inlined at its CALL, the
                // entry checking that the global still is a function with that code.
                let callee = snap.callees.iter().position(|c| c.name == (ins.arg >> 1) as usize).expect("found");
                sites.calls.push((global_sites(e, n, m), callee));
                stack.push(Expr::Callee(callee));
            }
            op::PRECALL if stack.len() > ins.arg as usize
                && matches!(stack[stack.len() - 1 - ins.arg as usize], Expr::Callee(c) if snap.callees[c].nargs == ins.arg) => {}
            op::CALL if stack.len() > ins.arg as usize
                && snap.instrs[m - 1].op == op::PRECALL
                && matches!(stack[stack.len() - 1 - ins.arg as usize], Expr::Callee(c) if snap.callees[c].nargs == ins.arg) =>
            {
                let args = stack.split_off(stack.len() - ins.arg as usize);
                let Some(Expr::Callee(c)) = stack.pop() else { return None };
                stack.push(inline(&snap.callees[c], args)?);
            }
            op::LOAD_GLOBAL if sqrt_obj != 0 => {
                // `math.sqrt(` as fuse.rs reads it: LOAD_GLOBAL (NULL +) math; LOAD_ATTR sqrt,
                // or LOAD_GLOBAL math; LOAD_METHOD sqrt.
                let next = snap.instrs.get(m + 1)?;
                let want = if ins.arg & 1 == 1 {
                    op::LOAD_ATTR
                } else {
                    op::LOAD_METHOD
                };
                if next.op != want
                    || snap.is_target[m + 1]
                    || snap.names[next.arg as usize] != sqrt_name
                {
                    return None;
                }
                sites.sqrt.push((global_sites(e, n, m), attr_sites(e, n, m + 1)));
                stack.push(Expr::SqrtCallee);
                m += 1;
            }
            op::PRECALL if ins.arg == 1 => {
                let k = stack.len();
                if k < 2 || !matches!(stack[k - 2], Expr::SqrtCallee) {
                    return None;
                }
            }
            op::CALL if ins.arg == 1 => {
                let k = stack.len();
                if k < 2
                    || snap.instrs[m - 1].op != op::PRECALL
                    || !matches!(stack[k - 2], Expr::SqrtCallee)
                {
                    return None;
                }
                let arg = stack.pop().expect("two entries");
                stack.pop();
                stack.push(Expr::Sqrt(Box::new(arg)));
            }
            op::BINARY_SUBSCR => {
                let index = stack.pop()?;
                let Some(Expr::Local(list)) = stack.pop() else {
                    return None;
                };
                stack.push(Expr::Item {
                    list,
                    index: Box::new(index),
                    ty: None,
                });
            }
            op::BINARY_OP => {
                let bop = operator(ins.arg)?;
                let right = stack.pop()?;
                let left = stack.pop()?;
                stack.push(Expr::Bin {
                    op: bop,
                    left: Box::new(left),
                    right: Box::new(right),
                });
            }
            _ => return None,
        }
        if done(&stack, m) {
            return Some((stack, m));
        }
        m += 1;
    }
    None
}

/// How many LOAD_GLOBAL sites the code before `m` takes from `n` on: the index, relative to the
/// kernel's, of the memo the LOAD_GLOBAL at `m` fills (`Emitter::peek_global_memo`).
fn global_sites(e: &Emitter, n: usize, m: usize) -> usize {
    (n..m).filter(|&k| e.snap.instrs[k].op == op::LOAD_GLOBAL && e.snap.depth[k].is_some()).count()
}

/// The attribute-site counterpart of [`global_sites`] (`Emitter::peek_attr_cache`).
fn attr_sites(e: &Emitter, n: usize, m: usize) -> usize {
    (n..m)
        .filter(|&k| matches!(e.snap.instrs[k].op, op::LOAD_ATTR | op::STORE_ATTR | op::LOAD_METHOD) && e.snap.depth[k].is_some())
        .count()
}

/// The global sites a kernel's statements use, checked at its entry.
#[derive(Default)]
struct Sites {
    /// (memo, attribute site) of each `math.sqrt`.
    sqrt: Vec<(usize, usize)>,
    /// (memo, callee) of each inlined call.
    calls: Vec<(usize, usize)>,
}

/// The body of `callee` as one expression of `args` (its parameters' values): a straight run
/// of loads, stores to its locals and arithmetic ending in RETURN_VALUE, at most 64 nodes,
/// every argument and every value it computes used by the result.
/// The call needs nothing else: no frame is observable from such a body, and a failing guard
/// re-runs the statement, call included, in the ordinary code.
fn inline(callee: &crate::compiler::bytecode::Callee, args: Vec<Expr>) -> Option<Expr> {
    fn size(x: &Expr) -> usize {
        match x {
            Expr::Item { index, .. } => 1 + size(index),
            Expr::Bin { left, right, .. } => 1 + size(left) + size(right),
            Expr::Sqrt(a) => 1 + size(a),
            _ => 1,
        }
    }
    let mut locals: Vec<Option<Expr>> = vec![None; callee.nlocals];
    for (k, a) in args.into_iter().enumerate() {
        *locals.get_mut(k)? = Some(a);
    }
    // A value stored and never loaded would not be computed by the inlined expression, and
    // computing it may raise (`t = p >> 40` with a float p): such bodies are not inlined.
    let mut unread = vec![false; callee.nlocals];
    // Each argument must be used too: the caller evaluates it (`xs[i + 1]` may raise
    // IndexError) whether or not the body needs it.
    for k in 0..callee.nargs as usize {
        *unread.get_mut(k)? = true;
    }
    let mut stack: Vec<Expr> = Vec::new();
    for &(opc, arg) in &callee.instrs {
        match opc {
            op::RESUME | op::NOP => {}
            op::LOAD_FAST => {
                stack.push(locals.get(arg as usize)?.clone()?);
                unread[arg as usize] = false;
            }
            op::STORE_FAST => {
                if std::mem::replace(unread.get_mut(arg as usize)?, true) {
                    return None;
                }
                *locals.get_mut(arg as usize)? = Some(stack.pop()?);
            }
            op::LOAD_CONST => match rt::const_number(*callee.consts.get(arg as usize)?)? {
                (v, true) => stack.push(Expr::Float(v)),
                (v, false) => stack.push(Expr::Int(v as i64)),
            },
            op::BINARY_OP => {
                let bop = operator(arg)?;
                let right = stack.pop()?;
                let left = stack.pop()?;
                stack.push(Expr::Bin { op: bop, left: Box::new(left), right: Box::new(right) });
            }
            op::RETURN_VALUE => {
                let r = stack.pop()?;
                return (stack.is_empty() && !unread.contains(&true) && size(&r) <= 64).then_some(r);
            }
            _ => return None,
        }
    }
    None
}

/// True if the iterator of the FOR_ITER at `n` comes from `range(...)` (LOAD_GLOBAL NULL +
/// range; arguments; PRECALL; CALL; GET_ITER, with no jump target in between): such a loop is
/// compiled for a range iterator, any other for a list iterator (each checked at the entry).
fn range_header(e: &Emitter, n: usize) -> bool {
    let snap = e.snap;
    let (Some(get_iter), Some(Some(d))) = (n.checked_sub(1).map(|k| &snap.instrs[k]), n.checked_sub(1).map(|k| snap.depth[k])) else {
        return false;
    };
    if get_iter.op != op::GET_ITER || d == 0 {
        return false;
    }
    let mut m = n - 1;
    while m > 0 {
        if snap.is_target[m] {
            return false;
        }
        m -= 1;
        match snap.depth[m] {
            Some(x) if x == d - 1 => {
                let ins = &snap.instrs[m];
                return ins.op == op::LOAD_GLOBAL
                    && ins.arg & 1 == 1
                    && snap.names[(ins.arg >> 1) as usize] == crate::ffi::range_name();
            }
            Some(x) if x >= d => {}
            _ => return false,
        }
    }
    false
}

/// Recognises the loop whose FOR_ITER is at `n`.
fn find(e: &Emitter, n: usize) -> Option<Kernel> {
    let snap = e.snap;
    let for_iter = &snap.instrs[n];
    let exit = snap.at_unit(for_iter.target?)?;
    let back = exit.checked_sub(1)?;
    let store = snap.instrs.get(n + 1)?;
    let jb = &snap.instrs[back];
    if store.op != op::STORE_FAST
        || snap.is_target[n + 1]
        || jb.op != op::JUMP_BACKWARD
        || snap.at_unit(jb.target?)? != n
        || back <= n + 2
    {
        return None;
    }
    let var = store.arg;
    let over_range = range_header(e, n);
    let mut body = Vec::new();
    let mut sites = Sites::default();
    let mut p = n + 2;
    while p < back {
        if snap.instrs[p].op == op::NOP {
            p += 1;
            continue;
        }
        let (stmt, next) = parse_stmt(e, n, p, back, &mut sites)?;
        body.push(stmt);
        p = next;
    }
    if body.is_empty() || body.iter().all(|s| matches!(s, Stmt::Exit { .. })) {
        return None;
    }
    let mut k = Kernel {
        var,
        over_range,
        body,
        back,
        sqrt_sites: sites.sqrt,
        call_sites: sites.calls,
        types: HashMap::new(),
        live_in: Vec::new(),
        assigned: Vec::new(),
        home: Vec::new(),
    };
    infer_types(&mut k)?;
    liveness(&mut k)?;
    k.home = home_locals(&k);
    fits_registers(&k).then_some(k)
}

/// Type inference state.
struct Infer {
    types: HashMap<u32, Ty>,
    changed: bool,
    failed: bool,
    /// Last round: what is still unknown is a float.
    default_float: bool,
}

impl Infer {
    fn set(&mut self, l: u32, t: Ty) {
        match self.types.get(&l) {
            Some(&old) if old != t => self.failed = true,
            Some(_) => {}
            None => {
                self.types.insert(l, t);
                self.changed = true;
            }
        }
    }
    fn want(&self, want: Option<Ty>) -> Option<Ty> {
        want.or(self.default_float.then_some(Ty::Float))
    }
}

fn infer(x: &mut Expr, want: Option<Ty>, st: &mut Infer) -> Option<Ty> {
    match x {
        Expr::Obj(_) => None,
        Expr::Int(_) => Some(Ty::Int),
        Expr::Float(_) => Some(Ty::Float),
        Expr::Local(l) => match st.types.get(l) {
            Some(&t) => Some(t),
            None => {
                let t = st.want(want)?;
                st.set(*l, t);
                Some(t)
            }
        },
        Expr::Item { list, index, ty } => {
            st.set(*list, Ty::List);
            if infer(index, Some(Ty::Int), st) != Some(Ty::Int) {
                st.failed = true;
            }
            if ty.is_none() {
                if let Some(t) = st.want(want) {
                    *ty = Some(t);
                    st.changed = true;
                }
            }
            *ty
        }
        Expr::Sqrt(arg) => {
            infer(arg, Some(Ty::Float), st);
            Some(Ty::Float)
        }
        Expr::SqrtCallee | Expr::Callee(_) => {
            st.failed = true;
            None
        }
        Expr::Bin { op, left, right } => match *op {
            1 | 3 | 7 | 9 | 12 => {
                let (a, b) = (
                    infer(left, Some(Ty::Int), st),
                    infer(right, Some(Ty::Int), st),
                );
                if a != Some(Ty::Int) || b != Some(Ty::Int) {
                    st.failed |= a.is_some() && b.is_some();
                }
                Some(Ty::Int)
            }
            11 => {
                infer(left, Some(Ty::Float), st);
                infer(right, Some(Ty::Float), st);
                Some(Ty::Float)
            }
            _ => {
                let (mut a, mut b) = infer_siblings(left, right, st);
                if a.is_none() && b.is_none() && want.is_some() {
                    a = infer(left, want, st);
                    b = infer(right, want, st);
                }
                match (a?, b?) {
                    (Ty::Int, Ty::Int) => Some(Ty::Int),
                    (Ty::List, _) | (_, Ty::List) => {
                        st.failed = true;
                        None
                    }
                    _ => Some(Ty::Float),
                }
            }
        },
    }
}

/// Types two operands of one operation: each on its own first, then one of unknown type as its
/// sibling's.
fn infer_siblings(left: &mut Expr, right: &mut Expr, st: &mut Infer) -> (Option<Ty>, Option<Ty>) {
    let mut a = infer(left, None, st);
    let mut b = infer(right, None, st);
    if a.is_none() && b.is_some() {
        a = infer(left, b, st);
    }
    if b.is_none() && a.is_some() {
        b = infer(right, a, st);
    }
    (a, b)
}

/// The type of an expression once inference is done (None: not computable by a kernel).
fn ty_of(x: &Expr, types: &HashMap<u32, Ty>) -> Option<Ty> {
    match x {
        Expr::Int(_) => Some(Ty::Int),
        Expr::Float(_) => Some(Ty::Float),
        Expr::Local(l) => types.get(l).copied().filter(|&t| t != Ty::List),
        Expr::Item { list, index, ty } => {
            (types.get(list) == Some(&Ty::List) && ty_of(index, types)? == Ty::Int).then_some(())?;
            ty.filter(|&t| t != Ty::List)
        }
        Expr::Sqrt(arg) => ty_of(arg, types).map(|_| Ty::Float),
        Expr::SqrtCallee | Expr::Callee(_) | Expr::Obj(_) => None,
        Expr::Bin { op, left, right } => {
            let (a, b) = (ty_of(left, types)?, ty_of(right, types)?);
            match op {
                1 | 3 | 7 | 9 | 12 => (a == Ty::Int && b == Ty::Int).then_some(Ty::Int),
                11 => Some(Ty::Float),
                _ if a == Ty::Int && b == Ty::Int => Some(Ty::Int),
                // Float floor division and modulo are left to the ordinary code.
                2 | 6 => None,
                _ => Some(Ty::Float),
            }
        }
    }
}

fn infer_types(k: &mut Kernel) -> Option<()> {
    let mut st = Infer {
        types: if k.over_range { HashMap::from([(k.var, Ty::Int)]) } else { HashMap::new() },
        changed: true,
        failed: false,
        default_float: false,
    };
    for _ in 0..24 {
        st.changed = false;
        for s in k.body.iter_mut() {
            match s {
                Stmt::Assign { local, value, .. } => {
                    if st.types.get(local) == Some(&Ty::List) {
                        // `row = rows[i]`: the value is a list item that is a list.
                        let Expr::Item { list, index, ty } = value else {
                            return None;
                        };
                        st.set(*list, Ty::List);
                        infer(index, Some(Ty::Int), &mut st);
                        *ty = Some(Ty::List);
                    } else if let Expr::Obj(c) = value {
                        // A bare constant: its own type.
                        match rt::const_number(*c) {
                            Some((_, true)) => st.set(*local, Ty::Float),
                            Some((_, false)) => st.set(*local, Ty::Int),
                            None => return None,
                        }
                    } else {
                        let known = st.types.get(local).copied();
                        if let Some(t) = infer(value, known, &mut st) {
                            st.set(*local, t);
                        }
                    }
                }
                Stmt::Update {
                    list, index, value, ..
                } => {
                    st.set(*list, Ty::List);
                    infer(index, Some(Ty::Int), &mut st);
                    infer(value, Some(Ty::Float), &mut st);
                }
                Stmt::Exit { left, right, .. } => {
                    infer_siblings(left, right, &mut st);
                }
                Stmt::Store { list, index, value, .. } => {
                    st.set(*list, Ty::List);
                    infer(index, Some(Ty::Int), &mut st);
                    if !matches!(value, Expr::Obj(_)) {
                        infer(value, None, &mut st);
                    }
                }
                Stmt::Test { value, .. } => match value {
                    // An item of any type: only its list and index are typed.
                    Expr::Item { list, index, .. } => {
                        st.set(*list, Ty::List);
                        infer(index, Some(Ty::Int), &mut st);
                    }
                    _ => {
                        infer(value, None, &mut st);
                    }
                },
            }
            if st.failed {
                return None;
            }
        }
        if !st.changed {
            if st.default_float {
                break;
            }
            // Nothing more to learn from the body: what is still unknown is a float.
            st.default_float = true;
        }
    }
    // Every expression must now have one type.
    let types = &st.types;
    for s in &k.body {
        let ok = match s {
            Stmt::Assign { local, value, .. } => match types.get(local) {
                Some(Ty::List) => matches!(value, Expr::Item { list, index, ty: Some(Ty::List) }
                    if types.get(list) == Some(&Ty::List) && ty_of(index, types) == Some(Ty::Int)),
                Some(&t) => match value {
                    Expr::Obj(c) => rt::const_number(*c).map(|(_, f)| if f { Ty::Float } else { Ty::Int }) == Some(t),
                    _ => ty_of(value, types) == Some(t),
                },
                None => false,
            },
            Stmt::Update {
                list, index, value, ..
            } => {
                types.get(list) == Some(&Ty::List)
                    && ty_of(index, types) == Some(Ty::Int)
                    && ty_of(value, types).is_some()
            }
            Stmt::Exit { left, right, .. } => {
                ty_of(left, types).is_some() && ty_of(right, types).is_some()
            }
            Stmt::Store { list, index, value, .. } => {
                types.get(list) == Some(&Ty::List)
                    && ty_of(index, types) == Some(Ty::Int)
                    && (matches!(value, Expr::Obj(_)) || ty_of(value, types).is_some())
            }
            Stmt::Test { value, .. } => match value {
                Expr::Item { list, index, .. } => {
                    types.get(list) == Some(&Ty::List) && ty_of(index, types) == Some(Ty::Int)
                }
                _ => ty_of(value, types).is_some(),
            },
        };
        if !ok {
            return None;
        }
    }
    k.types = st.types;
    Some(())
}

/// Locals read before being assigned in an iteration (their types are checked at the entry)
/// and locals assigned; the loop variable may not be assigned by the body.
fn liveness(k: &mut Kernel) -> Option<()> {
    fn reads(x: &Expr, out: &mut Vec<u32>) {
        match x {
            Expr::Local(l) => out.push(*l),
            Expr::Item { list, index, .. } => {
                out.push(*list);
                reads(index, out);
            }
            Expr::Bin { left, right, .. } => {
                reads(left, out);
                reads(right, out);
            }
            Expr::Sqrt(arg) => reads(arg, out),
            _ => {}
        }
    }
    let mut defined: HashSet<u32> = HashSet::from([k.var]);
    let mut live_in: Vec<u32> = Vec::new();
    // A range loop's variable is stored at the exits (its old value must be releasable as
    // any assigned local's); a list loop's step stores it and checks the old value itself.
    let mut assigned: Vec<u32> = if k.over_range { vec![k.var] } else { Vec::new() };
    for s in &k.body {
        let mut r = Vec::new();
        match s {
            Stmt::Assign { value, .. } => reads(value, &mut r),
            Stmt::Update {
                list, index, value, ..
            } => {
                r.push(*list);
                reads(index, &mut r);
                reads(value, &mut r);
            }
            Stmt::Exit { left, right, .. } => {
                reads(left, &mut r);
                reads(right, &mut r);
            }
            Stmt::Store { list, index, value, .. } => {
                reads(value, &mut r);
                r.push(*list);
                reads(index, &mut r);
            }
            Stmt::Test { value, .. } => reads(value, &mut r),
        }
        for l in r {
            if !defined.contains(&l) && !live_in.contains(&l) {
                live_in.push(l);
            }
        }
        if let Stmt::Assign { value: Expr::Local(l), .. } | Stmt::Store { value: Expr::Local(l), .. } = s {
            if k.over_range && *l == k.var {
                // `j = i`: j must become the loop variable's object, which lives in the frame
                // only outside the kernel.
                return None;
            }
        }
        if let Stmt::Assign { local, .. } = s {
            if *local == k.var {
                return None;
            }
            defined.insert(*local);
            if !assigned.contains(local) {
                assigned.push(*local);
            }
        }
    }
    k.live_in = live_in;
    k.assigned = assigned;
    Some(())
}

/// Registers a binary operation needs when its operands need `l` and `r` (Sethi-Ullman).
fn both_need(l: usize, r: usize) -> usize {
    if l == r {
        l + 1
    } else {
        l.max(r)
    }
}

/// Registers an int expression needs (Sethi-Ullman).
fn int_regs(x: &Expr) -> usize {
    match x {
        Expr::Item { index, .. } => int_regs(index),
        Expr::Bin { left, right, .. } => both_need(int_regs(left), int_regs(right)),
        _ => 1,
    }
}

/// SSE registers a float expression needs; int subexpressions (converted) need one.
fn float_regs(x: &Expr, types: &HashMap<u32, Ty>) -> usize {
    if ty_of(x, types) == Some(Ty::Int) {
        return 1;
    }
    match x {
        Expr::Sqrt(arg) => float_regs(arg, types),
        Expr::Bin { left, right, .. } => both_need(float_regs(left, types), float_regs(right, types)),
        _ => 1,
    }
}

/// Every int subexpression fits the general registers, every float one the SSE registers.
fn fits_registers(k: &Kernel) -> bool {
    fn ints_fit(x: &Expr) -> bool {
        match x {
            Expr::Bin { left, right, .. } => {
                int_regs(x) <= IREGS.len() && ints_fit(left) && ints_fit(right)
            }
            Expr::Item { index, .. } => int_regs(index) <= IREGS.len() && ints_fit(index),
            Expr::Sqrt(arg) => ints_fit(arg),
            _ => true,
        }
    }
    let t = &k.types;
    k.body.iter().all(|s| match s {
        Stmt::Assign { value, .. } => ints_fit(value) && float_regs(value, t) <= XREGS,
        Stmt::Update { index, value, .. } => {
            ints_fit(index) && ints_fit(value) && 1 + float_regs(value, t) <= XREGS
        }
        Stmt::Store { index, value, .. } => {
            ints_fit(index) && ints_fit(value) && float_regs(value, t) <= XREGS
        }
        Stmt::Test { value, .. } => ints_fit(value) && float_regs(value, t) <= XREGS,
        Stmt::Exit { left, right, .. } => {
            let both_int = ty_of(left, t) == Some(Ty::Int) && ty_of(right, t) == Some(Ty::Int);
            ints_fit(left)
                && ints_fit(right)
                && if both_int {
                    int_regs(left) <= IREGS.len() && 1 + int_regs(right) <= IREGS.len()
                } else {
                    float_regs(left, t) <= XREGS && 1 + float_regs(right, t) <= XREGS
                }
        }
    })
}

/// Jumps to `miss` unless the object in `Rq(r)`, about to be released, has another reference
/// or is an exact int or float (whose destructor runs no code). Clobbers `Rq(scratch)`.
fn releasable(e: &mut Emitter, r: u8, scratch: u8, miss: DynamicLabel) {
    let (long_t, float_t) = (rt::long_type() as i64, rt::float_type() as i64);
    let ok = e.ops.new_dynamic_label();
    asm!(e
        ; cmp QWORD [Rq(r)], 1
        ; jg =>ok
        ; mov Rq(scratch), QWORD long_t
        ; cmp [Rq(r) + L::OB_TYPE], Rq(scratch)
        ; je =>ok
        ; mov Rq(scratch), QWORD float_t
        ; cmp [Rq(r) + L::OB_TYPE], Rq(scratch)
        ; jne =>miss
        ; =>ok
    );
}

/// The emitter's view while generating one kernel.
struct Gen<'k> {
    k: &'k Kernel,
    /// Address of the home slots: for the i-th local of `k.home`, its value at `16 * i` and,
    /// at `16 * i + 8`, whether it was assigned since the entry (then its box is a float that
    /// nothing else holds, and the exits write the value back into it).
    home: usize,
    /// Exit of the statement being emitted: the stub that stores the loop variable and goes
    /// to the statement's ordinary code.
    exit: DynamicLabel,
    /// (stub label, destination) of every exit: the loop variable lives in rbp during the
    /// kernel and reaches the frame only on the way out.
    stubs: Vec<(DynamicLabel, DynamicLabel)>,
    /// (label, exit) of every failed-allocation path, emitted out of line after the loop.
    out_of_memory: Vec<(DynamicLabel, DynamicLabel)>,
}

impl Gen<'_> {
    /// A label that leaves the kernel for `to` (storing the loop variable first).
    fn stub(&mut self, e: &mut Emitter, to: DynamicLabel) -> DynamicLabel {
        if !self.k.over_range && self.k.home.is_empty() {
            return to;
        }
        if let Some(&(l, _)) = self.stubs.iter().find(|(_, t)| *t == to) {
            return l;
        }
        let l = e.ops.new_dynamic_label();
        self.stubs.push((l, to));
        l
    }

    /// Offset of local `l`'s home slot, if it has one.
    fn home_slot(&self, l: u32) -> Option<i32> {
        self.k.home.iter().position(|&h| h == l).map(|i| 16 * i as i32)
    }

    /// Assigns xmm0 to home local `l` (at `slot`): the home slot always; the first time since
    /// the entry also the frame, through [`Self::store_float`], which leaves a float nothing
    /// else holds in the local (or leaves by `oom` with the old value untouched).
    fn store_home(&self, e: &mut Emitter, l: u32, slot: i32, unit: usize, oom: DynamicLabel) {
        let home = self.home as i64;
        let done = e.ops.new_dynamic_label();
        asm!(e
            ; mov rax, QWORD home
            ; movsd QWORD [rax + slot], xmm0
            ; cmp QWORD [rax + slot + 8], 0
            ; jne =>done
        );
        self.store_float(e, l, unit, oom);
        asm!(e
            ; mov rax, QWORD home
            ; mov QWORD [rax + slot + 8], 1
            ; =>done
        );
    }

    /// On the way out: the value of every home local assigned since the entry into its box
    /// (which nothing else holds: see [`home_locals`]). Clobbers rax, rcx and xmm0.
    fn write_back(&self, e: &mut Emitter) {
        let home = self.home as i64;
        for &l in &self.k.home {
            let slot = self.home_slot(l).expect("a home local");
            let off = e.local(l);
            let skip = e.ops.new_dynamic_label();
            asm!(e
                ; mov rax, QWORD home
                ; cmp QWORD [rax + slot + 8], 0
                ; je =>skip
                ; movsd xmm0, QWORD [rax + slot]
                ; mov rcx, [rbx + off]
                ; movsd QWORD [rcx + L::FLOAT_OB_FVAL], xmm0
                ; =>skip
            );
        }
    }

    /// A failed allocation (MemoryError set): clear it and leave; the statement's ordinary
    /// code allocates again and raises if it fails too.
    fn out_of_memory(&mut self, e: &mut Emitter) -> DynamicLabel {
        let l = e.ops.new_dynamic_label();
        self.out_of_memory.push((l, self.exit));
        l
    }

    /// Evaluates the operands of `left (op) right` with `eval` into registers `k` and `k + 1`
    /// (of eval's own kind), the operand needing more registers (`ln`, `rn`) first and into `k`
    /// (Sethi-Ullman); returns the registers (left's, right's).
    fn operands(
        &self,
        e: &mut Emitter,
        (left, ln): (&Expr, usize),
        (right, rn): (&Expr, usize),
        k: usize,
        eval: fn(&Self, &mut Emitter, &Expr, usize),
    ) -> (usize, usize) {
        if ln >= rn {
            eval(self, e, left, k);
            eval(self, e, right, k + 1);
            (k, k + 1)
        } else {
            eval(self, e, right, k);
            eval(self, e, left, k + 1);
            (k + 1, k)
        }
    }

    fn ty(&self, x: &Expr) -> Ty {
        ty_of(x, &self.k.types).expect("typed by inference")
    }

    /// `IREGS[i]` = the int expression `x`, using `IREGS[i..]`, rax, rcx and rdx.
    fn int(&self, e: &mut Emitter, x: &Expr, i: usize) {
        let r = IREGS[i];
        let exit = self.exit;
        match x {
            Expr::Int(v) => asm!(e ; mov Rq(r), QWORD *v),
            Expr::Local(l) if self.k.over_range && *l == self.k.var => asm!(e ; mov Rq(r), rbp),
            Expr::Local(l) => {
                let off = e.local(*l);
                asm!(e ; mov rax, [rbx + off]);
                super::arith::int_value(e, 0, r, 2, 1, exit);
            }
            Expr::Item { list, index, .. } => {
                self.int(e, index, i);
                self.item(e, *list, r, Ty::Int.type_object());
                super::arith::int_value(e, 0, r, 2, 1, exit);
            }
            Expr::Bin { op, left, right } => {
                let (lk, rk) = self.operands(e, (left, int_regs(left)), (right, int_regs(right)), i, Self::int);
                int_op(e, *op, IREGS[lk], IREGS[rk], exit);
                if lk != i {
                    asm!(e ; mov Rq(r), Rq(IREGS[lk]));
                }
            }
            Expr::Float(_) | Expr::Sqrt(_) | Expr::SqrtCallee | Expr::Callee(_) | Expr::Obj(_) => {
                unreachable!("not an int expression")
            }
        }
    }

    /// rdx = the address of item `Rq(idx)` of list local `list`, rax = the item; an index out
    /// of range (a negative one counts from the end: the ordinary code's) leaves.
    fn item_address(&self, e: &mut Emitter, list: u32, idx: u8) {
        let exit = self.exit;
        let off = e.local(list);
        asm!(e
            ; mov rax, [rbx + off]
            ; cmp Rq(idx), [rax + L::VAR_OB_SIZE]
            ; jae =>exit
            ; mov rdx, [rax + L::LIST_OB_ITEM]
            ; lea rdx, [rdx + Rq(idx) * 8]
            ; mov rax, [rdx]
        );
    }

    /// rax = item `Rq(idx)` of list local `list` (bounds-checked), which must be of type `tp`.
    /// Clobbers rcx and rdx.
    fn item(&self, e: &mut Emitter, list: u32, idx: u8, tp: usize) {
        let exit = self.exit;
        self.item_address(e, list, idx);
        asm!(e
            ; mov rcx, QWORD tp as i64
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>exit
        );
    }

    /// `xmm{r}` = the float value of `x` (an int expression is converted exactly, which its
    /// magnitude below 2**53 guarantees), using `xmm{r..}`.
    fn float(&self, e: &mut Emitter, x: &Expr, r: u8) {
        let exit = self.exit;
        if self.ty(x) == Ty::Int {
            self.int(e, x, 0);
            asm!(e
                ; mov rcx, QWORD 1i64 << 53
                ; lea rax, [rsi + rcx]
                ; shr rax, 54
                ; jnz =>exit
                ; cvtsi2sd Rx(r), rsi
            );
            return;
        }
        match x {
            Expr::Float(v) => {
                let bits = v.to_bits() as i64;
                asm!(e
                    ; mov rax, QWORD bits
                    ; movq Rx(r), rax
                );
            }
            Expr::Local(l) => {
                if let Some(slot) = self.home_slot(*l) {
                    let home = self.home as i64;
                    asm!(e
                        ; mov rax, QWORD home
                        ; movsd Rx(r), QWORD [rax + slot]
                    );
                } else {
                    let off = e.local(*l);
                    asm!(e
                        ; mov rax, [rbx + off]
                        ; movsd Rx(r), QWORD [rax + L::FLOAT_OB_FVAL]
                    );
                }
            }
            Expr::Item { list, index, .. } => {
                self.int(e, index, 0);
                self.item(e, *list, IREGS[0], Ty::Float.type_object());
                asm!(e ; movsd Rx(r), QWORD [rax + L::FLOAT_OB_FVAL]);
            }
            Expr::Sqrt(arg) => {
                self.float(e, arg, r);
                asm!(e
                    // Negative or NaN (unordered sets CF too): the ordinary call.
                    ; xorpd xmm15, xmm15
                    ; ucomisd Rx(r), xmm15
                    ; jb =>exit
                    ; sqrtsd Rx(r), Rx(r)
                );
            }
            Expr::Bin { op, left, right } => {
                let t = &self.k.types;
                let (ln, rn) = (float_regs(left, t), float_regs(right, t));
                let (lr, rr) = self.operands(e, (left, ln), (right, rn), r as usize, |g, e, x, k| g.float(e, x, k as u8));
                let (lr, rr) = (lr as u8, rr as u8);
                float_op(e, *op as i32, lr, rr, exit);
                if lr != r {
                    asm!(e ; movsd Rx(r), Rx(lr));
                }
            }
            Expr::Int(_) | Expr::SqrtCallee | Expr::Callee(_) | Expr::Obj(_) => {
                unreachable!("not a float expression")
            }
        }
    }

    /// Stores xmm0 into local `l` (in place when unshared, else a new float; the old value,
    /// NULL or an exact int or float, is released).
    fn store_float(&self, e: &mut Emitter, l: u32, unit: usize, oom: DynamicLabel) {
        let off = e.local(l);
        let done = e.ops.new_dynamic_label();
        e.store_float_in_place(off, done);
        let box_float = rt::float_from_double() as i64;
        asm!(e
            ; mov rax, QWORD box_float
            ; call rax
            ; lea rdx, [rbx + off]
        );
        e.replace_with_rax(2, unit, oom);
        asm!(e ; =>done);
    }

    /// Stores r8 into local `l`, as [`Self::store_float`] for ints.
    fn store_int(e: &mut Emitter, l: u32, unit: usize, oom: DynamicLabel) {
        let off = e.local(l);
        let done = e.ops.new_dynamic_label();
        e.store_int_in_place(off, done);
        e.box_int_r8();
        asm!(e ; lea rdx, [rbx + off]);
        e.replace_with_rax(2, unit, oom);
        asm!(e ; =>done);
    }

    /// If `x` is a plain constant, local or list item: rax = that object (borrowed; an item's
    /// type checked as inferred, its index left in rsi), and true. Assignments bind such values
    /// as they are, so `y = xs[i]` makes `y is xs[i]` as in the interpreter.
    fn object_of(&self, e: &mut Emitter, x: &Expr) -> bool {
        match x {
            Expr::Obj(c) => asm!(e ; mov rax, QWORD *c as i64),
            Expr::Local(l) if !self.k.over_range || *l != self.k.var => {
                let off = e.local(*l);
                asm!(e ; mov rax, [rbx + off]);
            }
            Expr::Item { list, index, .. } => {
                self.int(e, index, 0);
                self.item(e, *list, IREGS[0], self.ty(x).type_object());
            }
            _ => return false,
        }
        true
    }

    /// [`releasable`] leaving for the statement's ordinary code; clobbers rcx.
    fn releasable(&self, e: &mut Emitter, r: u8) {
        releasable(e, r, 1, self.exit);
    }

    /// The double in xmm0 into the list slot whose address is in rdx (its object in rax): into
    /// that float itself when it is an exact float nothing else holds, else as a new float
    /// (the old object must then be releasable without running code). The slot's address
    /// waits in the frame's spare stack word while the float is boxed.
    fn put_float(&self, e: &mut Emitter, unit: usize, oom: DynamicLabel) {
        let done = e.ops.new_dynamic_label();
        let box_float = rt::float_from_double() as i64;
        e.store_float_in_place_rax(done);
        asm!(e ; mov rax, [rdx]);
        self.releasable(e, 0);
        asm!(e
            ; mov [rsp], rdx
            ; mov rax, QWORD box_float
            ; call rax
            ; mov rdx, [rsp]
        );
        e.replace_with_rax(2, unit, oom);
        asm!(e ; =>done);
    }

    /// `list[index] = value` ([`Stmt::Store`]): the item's address waits in the frame's spare
    /// stack word while the value is boxed.
    fn store_item(&mut self, e: &mut Emitter, unit: usize, list: u32, index: &Expr, value: &Expr) {
        let oom = self.out_of_memory(e);
        let done = e.ops.new_dynamic_label();
        // The value first (an int one waits in the spare word), then the item's address in rdx.
        let copy = self.object_of(e, value);
        if copy {
            // The object itself goes into the list: it waits in the spare word.
            asm!(e ; mov [rsp], rax);
        }
        let ty = if copy { None } else { Some(self.ty(value)) };
        match ty {
            Some(Ty::Float) => self.float(e, value, 0),
            Some(_) => {
                self.int(e, value, 0);
                asm!(e ; mov [rsp], rsi);
            }
            None => {}
        }
        self.int(e, index, 0);
        self.item_address(e, list, IREGS[0]);
        asm!(e ; mov rdi, rax);
        match ty {
            None => {
                self.releasable(e, 7);
                asm!(e
                    ; mov rax, [rsp]
                    ; add QWORD [rax], 1
                    ; mov [rdx], rax
                );
                e.decref_rdi(unit);
            }
            Some(Ty::Float) => self.put_float(e, unit, oom),
            _ => {
                asm!(e
                    ; mov r10, rdx
                    ; mov r8, [rsp]
                );
                e.store_int_in_place_at_r10(done);
                asm!(e ; mov rdi, [r10]);
                self.releasable(e, 7);
                asm!(e ; mov [rsp], r10);
                e.box_int_r8();
                asm!(e ; mov rdx, [rsp]);
                e.replace_with_rax(2, unit, oom);
            }
        }
        asm!(e ; =>done);
    }

    fn stmt(&mut self, e: &mut Emitter, s: &Stmt) {
        let first = e.labels[s.first()];
        self.exit = self.stub(e, first);
        let exit = self.exit;
        match s {
            Stmt::Assign { unit, local, value, .. } if self.k.types[local] != Ty::List && self.object_of(e, value) => {
                // The local gets the very object (the old value is an int, a float or unset:
                // releasing it runs no code).
                let off = e.local(*local);
                asm!(e
                    ; add QWORD [rax], 1
                    ; mov rdi, [rbx + off]
                    ; mov [rbx + off], rax
                );
                e.xdecref_rdi(*unit);
            }
            Stmt::Assign {
                unit, local, value, ..
            } => match self.k.types[local] {
                Ty::Float => {
                    let oom = self.out_of_memory(e);
                    self.float(e, value, 0);
                    match self.home_slot(*local) {
                        Some(slot) => self.store_home(e, *local, slot, *unit, oom),
                        None => self.store_float(e, *local, *unit, oom),
                    }
                }
                Ty::Int => {
                    let oom = self.out_of_memory(e);
                    self.int(e, value, 0);
                    asm!(e ; mov r8, rsi);
                    Gen::store_int(e, *local, *unit, oom);
                }
                Ty::List => {
                    let Expr::Item { list, index, .. } = value else {
                        unreachable!("checked by inference")
                    };
                    self.int(e, index, 0);
                    self.item(e, *list, IREGS[0], Ty::List.type_object());
                    let off = e.local(*local);
                    // The old value is only released when something else still holds it: a
                    // last reference would run the list's destructor here.
                    asm!(e
                        ; mov rdi, [rbx + off]
                        ; test rdi, rdi
                        ; jz >store
                        ; cmp QWORD [rdi], 1
                        ; je =>exit
                        ; sub QWORD [rdi], 1
                        ; store:
                        ; add QWORD [rax], 1
                        ; mov [rbx + off], rax
                    );
                }
            },
            Stmt::Update {
                unit,
                list,
                index,
                op,
                value,
                ..
            } => {
                let oom = self.out_of_memory(e);
                self.float(e, value, 1);
                self.int(e, index, 0);
                let float_t = rt::float_type() as i64;
                self.item_address(e, *list, IREGS[0]);
                asm!(e
                    ; mov rcx, QWORD float_t
                    ; cmp [rax + L::OB_TYPE], rcx
                    ; jne =>exit
                    ; movsd xmm0, QWORD [rax + L::FLOAT_OB_FVAL]
                );
                float_op(e, *op as i32, 0, 1, exit);
                self.put_float(e, *unit, oom);
            }
            Stmt::Exit {
                cmp,
                left,
                right,
                exit_if,
                to,
                ..
            } => {
                // The block is entered in its ordinary code, as the conditional jump would.
                let stay = e.ops.new_dynamic_label();
                let to_label = e.labels[*to];
                let block = self.stub(e, to_label);
                let (if_true, if_false) = if *exit_if {
                    (block, stay)
                } else {
                    (stay, block)
                };
                if self.ty(left) == Ty::Int && self.ty(right) == Ty::Int {
                    let (lk, rk) = (0, 1);
                    self.int(e, left, lk);
                    self.int(e, right, rk);
                    int_branch(e, *cmp, IREGS[lk], IREGS[rk], if_true, if_false);
                } else {
                    self.float(e, left, 0);
                    self.float(e, right, 1);
                    float_branch(e, *cmp, if_true, if_false);
                }
                asm!(e ; =>stay);
            }
            Stmt::Store { unit, list, index, value, .. } => self.store_item(e, *unit, *list, index, value),
            Stmt::Test { value, exit_if, to, .. } => {
                let stay = e.ops.new_dynamic_label();
                let to_label = e.labels[*to];
                let block = self.stub(e, to_label);
                let (if_true, if_false) = if *exit_if { (block, stay) } else { (stay, block) };
                match value {
                    Expr::Item { list, index, .. } => {
                        // The item's truth as bool() gives it for the types tested here.
                        self.int(e, index, 0);
                        self.item_address(e, *list, IREGS[0]);
                        let (t, f, none) = (rt::py_true() as i64, rt::py_false() as i64, rt::py_none() as i64);
                        let (long_t, float_t) = (rt::long_type() as i64, rt::float_type() as i64);
                        asm!(e
                            ; mov rcx, QWORD t
                            ; cmp rax, rcx
                            ; je =>if_true
                            ; mov rcx, QWORD f
                            ; cmp rax, rcx
                            ; je =>if_false
                            ; mov rcx, QWORD none
                            ; cmp rax, rcx
                            ; je =>if_false
                            ; mov rdx, [rax + L::OB_TYPE]
                            ; mov rcx, QWORD long_t
                            ; cmp rdx, rcx
                            ; jne >not_int
                            ; cmp QWORD [rax + L::VAR_OB_SIZE], 0
                            ; jne =>if_true
                            ; jmp =>if_false
                            ; not_int:
                            ; mov rcx, QWORD float_t
                            ; cmp rdx, rcx
                            ; jne =>exit
                            ; movsd xmm0, QWORD [rax + L::FLOAT_OB_FVAL]
                        );
                    }
                    _ if self.ty(value) == Ty::Int => {
                        self.int(e, value, 0);
                        asm!(e
                            ; test rsi, rsi
                            ; jnz =>if_true
                            ; jmp =>if_false
                        );
                    }
                    _ => self.float(e, value, 0),
                }
                // Left by the item and float cases: a float in xmm0, true unless zero (a NaN
                // is true).
                asm!(e
                    ; xorpd xmm15, xmm15
                    ; ucomisd xmm0, xmm15
                    ; jp =>if_true
                    ; jne =>if_true
                    ; jmp =>if_false
                );
                asm!(e ; =>stay);
            }
        }
    }
}

/// Emits a loop kernel in front of the FOR_ITER at `n` (depth `d`, the iterator on top) if the
/// loop is one (with a mark for the dump). The ordinary FOR_ITER follows what this emits.
pub fn try_kernel(e: &mut Emitter, n: usize, d: u32) -> Option<()> {
    let k = find(e, n)?;
    // Every site a guard reads must exist before anything is emitted.
    let mut memos = k.call_sites.iter().map(|&(m, _)| m).chain(k.sqrt_sites.iter().map(|&(m, _)| m));
    if memos.any(|m| e.peek_global_memo(m).is_none()) || k.sqrt_sites.iter().any(|&(_, c)| e.peek_attr_cache(c).is_none()) {
        return None;
    }
    let counter = e.new_kernel_counter();
    for &(_, callee) in &k.call_sites {
        if !e.inlined.contains(&callee) {
            e.inlined.push(callee);
        }
    }
    let snap = e.snap;
    e.mark(format!(
        "     (loop kernel: {} statements up to offset {}; locals by number: ints {:?}, floats {:?}, lists {:?}; home slots {:?})",
        k.body.len(),
        snap.instrs[k.back].start * 2,
        names(&k, Ty::Int),
        names(&k, Ty::Float),
        names(&k, Ty::List),
        k.home,
    ));
    let ordinary = e.ops.new_dynamic_label();
    let fail = e.ops.new_dynamic_label();
    let top = e.ops.new_dynamic_label();
    let it = e.slot(d - 1);
    let iter_t = if k.over_range { rt::range_iter_type() } else { rt::list_iter_type() } as i64;
    let (long_t, float_t) = (rt::long_type() as i64, rt::float_type() as i64);
    // Entry: still enabled, a range (or list) iterator, and the locals of the types inferred.
    asm!(e
        ; mov rax, QWORD counter as i64
        ; cmp DWORD [rax], DISABLE_AFTER
        ; jge =>ordinary
        ; mov rax, [rbx + it]
        ; mov rcx, QWORD iter_t
        ; cmp [rax + L::OB_TYPE], rcx
        ; jne =>fail
    );
    for &l in &k.live_in {
        let tp = k.types[&l].type_object() as i64;
        let off = e.local(l);
        asm!(e
            ; mov rax, [rbx + off]
            ; test rax, rax
            ; jz =>fail
            ; mov rcx, QWORD tp
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>fail
        );
    }
    for &l in &k.assigned {
        if k.live_in.contains(&l) || k.types[&l] == Ty::List {
            continue;
        }
        // Whatever an assignment releases must be NULL, an int or a float (no destructor code).
        let off = e.local(l);
        let ok = e.ops.new_dynamic_label();
        asm!(e
            ; mov rax, [rbx + off]
            ; test rax, rax
            ; jz =>ok
            ; mov rax, [rax + L::OB_TYPE]
            ; mov rcx, QWORD long_t
            ; cmp rax, rcx
            ; je =>ok
            ; mov rcx, QWORD float_t
            ; cmp rax, rcx
            ; jne =>fail
            ; =>ok
        );
    }
    if !k.call_sites.is_empty() {
        // An inlined call pushes no frame: enter only where the real call would not fail the
        // recursion check (3.11's _Py_EnterRecursivePy: `recursion_remaining-- <= 0`).
        asm!(e
            ; cmp DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 0
            ; jle =>fail
        );
    }
    for &(memo, callee) in &k.call_sites {
        // The global is what its memo says, a plain function whose code is the one inlined.
        let memo = e.peek_global_memo(memo).expect("checked before emitting");
        let code = e.snap.callees[callee].code.as_ptr() as i64;
        let function_t = rt::function_type() as i64;
        asm!(e ; mov r8, QWORD memo as i64);
        e.global_memo_value(8, fail);
        asm!(e
            ; mov rcx, QWORD function_t
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>fail
            ; mov rcx, QWORD code
            ; cmp [rax + L::FUNC_CODE], rcx
            ; jne =>fail
        );
    }
    for &(memo, site) in &k.sqrt_sites {
        // As fuse.rs's Sqrt: the global is the module its memo says, and the attribute site's
        // module entry proves `sqrt` in that module's dict as math.sqrt itself.
        let memo = e.peek_global_memo(memo).expect("checked before emitting");
        let cache = e.peek_attr_cache(site).expect("checked before emitting");
        super::fuse::math_sqrt_guard(e, memo, cache, fail);
    }
    // The home slots: nothing assigned yet; a live-in local's value from its box (checked a
    // float above).
    let home = if k.home.is_empty() { 0 } else { e.new_kernel_words(2 * k.home.len()) };
    for (i, &l) in k.home.iter().enumerate() {
        let slot = 16 * i as i32;
        asm!(e
            ; mov rax, QWORD home as i64
            ; mov QWORD [rax + slot + 8], 0
        );
        if k.live_in.contains(&l) {
            let off = e.local(l);
            asm!(e
                ; mov rcx, [rbx + off]
                ; movsd xmm0, QWORD [rcx + L::FLOAT_OB_FVAL]
                ; movsd QWORD [rax + slot], xmm0
            );
        }
    }
    let first_step = e.ops.new_dynamic_label();
    let body = e.ops.new_dynamic_label();
    asm!(e
        ; jmp =>first_step
        ; =>fail
        ; mov rax, QWORD counter as i64
        ; add DWORD [rax], 1
        ; jmp =>ordinary
    );
    let mut g = Gen {
        k: &k,
        home,
        exit: ordinary,
        stubs: Vec::new(),
        out_of_memory: Vec::new(),
    };
    if k.over_range {
        // One iteration: the range iterator's next value, as FOR_ITER computes it, into rbp;
        // an exhausted iterator is the ordinary FOR_ITER's (after the first step, via the
        // stub that stores the loop variable's last value).
        let done = g.stub(e, ordinary);
        for (label, exhausted) in [(first_step, ordinary), (top, done)] {
            asm!(e
                ; =>label
                ; mov rax, [rbx + it]
            );
            super::jump::range_iter_step(e, RBP, exhausted);
            if label == first_step {
                asm!(e ; jmp =>body);
            }
        }
    } else {
        // One iteration of a list iterator, as FOR_ITER does it: the next item into the loop
        // variable. Before advancing, the item must be of the variable's inferred type (if
        // the body uses it) and the old value releasable without running code; otherwise
        // (and at the end of the list) the ordinary FOR_ITER takes this step.
        let off = e.local(k.var);
        let item_t = k.types.get(&k.var).map(|t| t.type_object());
        // After the first step, home locals may need writing back on the way out.
        let leave = g.stub(e, ordinary);
        asm!(e
            ; =>first_step
            ; =>top
            ; mov rax, [rbx + it]
        );
        super::jump::list_iter_peek(e, leave);
        asm!(e ; mov rdx, [rdx + rcx * 8]);
        if let Some(tp) = item_t {
            asm!(e
                ; mov r8, QWORD tp as i64
                ; cmp [rdx + L::OB_TYPE], r8
                ; jne =>leave
            );
        }
        let ok = e.ops.new_dynamic_label();
        asm!(e
            ; mov rdi, [rbx + off]
            ; test rdi, rdi
            ; jz =>ok
        );
        releasable(e, 7, 8, leave); // rdi, scratch r8: rax, rcx and rdx are live
        asm!(e
            ; =>ok
            ; add rcx, 1
            ; mov [rax + L::LISTITER_INDEX], rcx
            ; add QWORD [rdx], 1
            ; mov [rbx + off], rdx
        );
        e.xdecref_rdi(e.snap.instrs[n + 1].idx);
    }
    asm!(e ; =>body);
    for s in &k.body {
        g.stmt(e, s);
    }
    // The back edge polls the eval breaker where the ordinary JUMP_BACKWARD does; a set one is
    // handled by that JUMP_BACKWARD.
    let back_label = e.labels[k.back];
    let back = g.stub(e, back_label);
    asm!(e
        ; cmp DWORD [r15], 0
        ; jne =>back
        ; jmp =>top
    );
    // The exits: the loop variable into the frame (a MemoryError there is reported at the
    // FOR_ITER, whose value it is), then the ordinary code.
    let clear = rt::err_clear() as i64;
    for (label, exit) in std::mem::take(&mut g.out_of_memory) {
        asm!(e
            ; =>label
            ; mov rax, QWORD clear
            ; call rax
            ; jmp =>exit
        );
    }
    let stubs = std::mem::take(&mut g.stubs);
    let var_oom = if stubs.is_empty() || !k.over_range { ordinary } else { e.error_label(e.snap.instrs[n].idx, d) };
    for (label, to) in stubs {
        asm!(e ; =>label);
        g.write_back(e);
        if k.over_range {
            asm!(e ; mov r8, rbp);
            Gen::store_int(e, k.var, e.snap.instrs[n].idx, var_oom);
        }
        asm!(e ; jmp =>to);
    }
    asm!(e ; =>ordinary);
    Some(())
}

/// The locals of one type, by number, sorted (for the dump).
fn names(k: &Kernel, t: Ty) -> Vec<u32> {
    let mut v: Vec<u32> = k
        .types
        .iter()
        .filter(|(_, &ty)| ty == t)
        .map(|(&l, _)| l)
        .collect();
    v.sort_unstable();
    v
}
