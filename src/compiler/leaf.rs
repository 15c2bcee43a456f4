//! Leaf callees: functions whose whole body is one expression of their parameters, so that a
//! call of one can be replaced at the call site by the expression itself (`ops::inline` emits
//! it; `bytecode::leaf_callees` finds the candidates). This module only reads bytecode: it
//! turns a callee's instructions into an [`Expr`] tree, or says no.
//!
//! What a leaf may contain: its parameters, constants, attribute reads (`self.x`), items of a
//! list or tuple (`self.items[self.pos]`), `is` / `is not`, `not`, `and` / `or`, conditional
//! expressions (`a if a < b else b`), the six
//! comparisons, `+ - *` of ints or floats (`& | ^` of ints), method calls of other leaves
//! (`not self.inbox.empty()`: the callee's body is inlined in turn, one level deep), and, in a
//! function of the caller's own module, its globals and `len()`, ending in RETURN_VALUE. No
//! stores, other calls, jumps other than those of `and`/`or` and conditional expressions, or
//! cells.
//!
//! # Invariants (what makes the inlined body indistinguishable from the call)
//! - Nothing in the body can run Python code or have an effect once its guards pass: every
//!   value it reads is borrowed (the parameters are the caller's stack slots; attributes and
//!   items belong to objects those keep alive), and only the result is a new reference.
//! - Everything that would raise or run code (a missing or computed attribute, an index out of
//!   range, an int overflow, an operand of another type, `not` of an object with `__bool__`)
//!   is a failed guard, after which the call is made for real and does it all as CPython does.
//!   Because nothing before a guard has effects, running the body partway and then the call is
//!   the same as running only the call.
//! - Numbers are computed in one of two modes decided at run time, ints (every numeric leaf an
//!   exact int of one digit, i64 arithmetic with overflow checks) or floats (every numeric leaf
//!   an exact float; int constants meet float operands only, converted exactly): [`Body::modes`]
//!   lists the ones the expression allows, tried in that order.

use crate::compiler::opcodes as op;

/// A numeric constant of the body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

/// The arithmetic a leaf may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
}

/// Comparisons, as COMPARE_OP numbers them (`<`, `<=`, `==`, `!=`, `>`, `>=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Eq,
    Ne,
    Gt,
    Ge,
}

/// How numbers are computed in one attempt at the body (see the module invariants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Int,
    Float,
}

/// What a node's value is while the body runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A borrowed object pointer.
    Obj,
    /// A truth value (the result of `is`, `not`, a comparison).
    Bool,
    /// An unboxed number (i64 or f64, after the mode).
    Num,
}

/// A node of a leaf's body.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Parameter `i` (a positional argument of the call).
    Arg(u32),
    /// A constant (the object's address, alive with the callee's code) and its value if it is
    /// a number usable in arithmetic.
    Const { addr: usize, num: Option<Num> },
    /// `owner.name`: `name` is the interned str's address; `site` numbers the body's attribute
    /// reads (each gets an inline cache at each call site).
    Attr { owner: Box<Expr>, name: usize, site: usize },
    /// `seq[index]` of an exact list or tuple and an exact int of one digit.
    Item { seq: Box<Expr>, index: Box<Expr> },
    /// `a is b` (`a is not b` if `invert`).
    Is { a: Box<Expr>, b: Box<Expr>, invert: bool },
    /// `not x` of a truth value, or of True, False, None or an exact int, list, tuple, dict or
    /// str.
    Not(Box<Expr>),
    Cmp { op: CmpOp, a: Box<Expr>, b: Box<Expr> },
    Bin { op: BinOp, a: Box<Expr>, b: Box<Expr> },
    /// `a and b` (`a or b` if `or`): `b` is evaluated only if `a`'s truth says so; the value is
    /// a truth value if both are, else the object that decided.
    Logic { or: bool, a: Box<Expr>, b: Box<Expr> },
    /// `args[0].name(args[1..])` where the method the object binds is a plain function running
    /// one of the candidates' code (`site` numbers the method lookups for their caches).
    Call { name: usize, site: usize, args: Vec<Expr>, cands: Vec<Cand> },
    /// `yes if test else no` (the test's truth decides which one is evaluated).
    Cond { test: Box<Expr>, yes: Box<Expr>, no: Box<Expr> },
    /// `x is None` (`is not` if `invert`), as the compiler's None-test jumps make it.
    IsNone { x: Box<Expr>, invert: bool },
    /// A method looked up for a call being parsed (never in a finished tree).
    Method { recv: Box<Expr>, name: usize },
    /// The global (or builtin) `name`, read through the memo numbered `site`.
    Global { name: usize, site: usize },
    /// `len(x)` of an exact list, tuple, dict or str, the global `len` (memo `site`) being the
    /// builtin: an int.
    Len { x: Box<Expr>, site: usize },
    /// A global loaded to be called, being parsed (never in a finished tree).
    GlobalFn { name: usize },
}

/// A leaf a method call inside a body may run: its code (the object's address) and its body,
/// whose parameters are the call's arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Cand {
    pub code: usize,
    pub body: Box<Expr>,
}

/// Most nodes a body may have.
pub const MAX_NODES: usize = 32;
/// Most values the evaluation holds aside at once (words of the compiled frame's scratch area,
/// see `emit::SCRATCH_WORDS`).
pub const MAX_TEMPS: usize = 6;

impl Expr {
    pub fn kind(&self) -> Kind {
        match self {
            Expr::Arg(_) | Expr::Const { .. } | Expr::Attr { .. } | Expr::Item { .. } => Kind::Obj,
            Expr::Is { .. } | Expr::IsNone { .. } | Expr::Not(_) | Expr::Cmp { .. } => Kind::Bool,
            Expr::Cond { yes, no, .. } => match (yes.kind(), no.kind()) {
                (Kind::Bool, Kind::Bool) => Kind::Bool,
                (Kind::Num, Kind::Num) => Kind::Num,
                _ => Kind::Obj, // `check` refuses a number beside anything else
            },
            Expr::Bin { .. } => Kind::Num,
            Expr::Logic { a, b, .. } => {
                if a.kind() == Kind::Bool && b.kind() == Kind::Bool {
                    Kind::Bool
                } else {
                    Kind::Obj
                }
            }
            // A truth value if every candidate's body gives one, else an object (True or
            // False for those that do).
            Expr::Call { cands, .. } => {
                if cands.iter().all(|c| c.body.kind() == Kind::Bool) {
                    Kind::Bool
                } else {
                    Kind::Obj
                }
            }
            Expr::Method { .. } | Expr::GlobalFn { .. } | Expr::Global { .. } => Kind::Obj,
            Expr::Len { .. } => Kind::Num,
        }
    }

    /// A number that is an int whichever mode computes it (a float mode must not make it a
    /// float).
    fn int_only(&self) -> bool {
        match self {
            Expr::Const { num: Some(Num::Int(_)), .. } | Expr::Len { .. } => true,
            Expr::Bin { a, b, .. } => a.int_only() && b.int_only(),
            Expr::Cond { yes, no, .. } => yes.int_only() && no.int_only(),
            _ => false,
        }
    }

    /// True if some node reads a global.
    pub fn uses_globals(&self) -> bool {
        matches!(self, Expr::Global { .. } | Expr::Len { .. }) || self.children().iter().any(|c| c.uses_globals())
    }

    /// The operands (a call's arguments; not its candidates' bodies).
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Arg(_) | Expr::Const { .. } | Expr::Global { .. } | Expr::GlobalFn { .. } => vec![],
            Expr::Attr { owner: x, .. } | Expr::Not(x) | Expr::Method { recv: x, .. } | Expr::IsNone { x, .. } | Expr::Len { x, .. } => vec![x],
            Expr::Cond { test, yes, no } => vec![test, yes, no],
            Expr::Item { seq: a, index: b } | Expr::Is { a, b, .. } | Expr::Cmp { a, b, .. } | Expr::Bin { a, b, .. } | Expr::Logic { a, b, .. } => vec![a, b],
            Expr::Call { args, .. } => args.iter().collect(),
        }
    }

    fn nodes(&self) -> usize {
        let bodies: usize = match self {
            Expr::Call { cands, .. } => cands.iter().map(|c| c.body.nodes()).sum(),
            _ => 0,
        };
        1 + bodies + self.children().iter().map(|c| c.nodes()).sum::<usize>()
    }

    /// Values held aside while evaluating: the left operand of a two-operand node waits while
    /// the right one is computed (not for `and`/`or`, whose left value decides before the right
    /// one is computed); a call's arguments wait in order while the later ones and then the
    /// callee's body are computed.
    pub fn temps(&self) -> usize {
        match self {
            Expr::Logic { a, b, .. } => a.temps().max(b.temps()),
            Expr::Cond { test, yes, no } => test.temps().max(yes.temps()).max(no.temps()),
            Expr::Call { args, cands, .. } => {
                let args_t = args.iter().enumerate().map(|(i, a)| i + a.temps()).max().unwrap_or(0);
                let body_t = cands.iter().map(|c| c.body.temps()).max().unwrap_or(0);
                args_t.max(args.len() + body_t)
            }
            _ => match self.children().as_slice() {
                [] => 0,
                [x] => x.temps(),
                [a, b] => a.temps().max(1 + b.temps()),
                _ => unreachable!(),
            },
        }
    }

    /// Renumbers the attribute and method sites of this tree from `first` on; returns the next
    /// free number.
    fn renumber(&mut self, first: usize) -> usize {
        let mut next = first;
        match self {
            Expr::Attr { owner, site, .. } => {
                next = owner.renumber(next);
                *site = next;
                next += 1;
            }
            Expr::Call { site, args, cands, .. } => {
                for a in args.iter_mut() {
                    next = a.renumber(next);
                }
                *site = next;
                next += 1;
                for c in cands.iter_mut() {
                    next = c.body.renumber(next);
                }
            }
            Expr::Arg(_) | Expr::Const { .. } | Expr::GlobalFn { .. } => {}
            Expr::Global { site, .. } => {
                *site = next;
                next += 1;
            }
            Expr::Len { x, site } => {
                next = x.renumber(next);
                *site = next;
                next += 1;
            }
            Expr::Not(x) | Expr::Method { recv: x, .. } | Expr::IsNone { x, .. } => next = x.renumber(next),
            Expr::Cond { test, yes, no } => {
                next = test.renumber(next);
                next = yes.renumber(next);
                next = no.renumber(next);
            }
            Expr::Item { seq: a, index: b } | Expr::Is { a, b, .. } | Expr::Cmp { a, b, .. } | Expr::Bin { a, b, .. } | Expr::Logic { a, b, .. } => {
                next = a.renumber(next);
                next = b.renumber(next);
            }
        }
        next
    }

    /// True if some node computes with numbers (then the body runs in a [`Mode`]).
    fn numeric(&self) -> bool {
        let bodies = match self {
            Expr::Call { cands, .. } => cands.iter().any(|c| c.body.numeric()),
            _ => false,
        };
        bodies || matches!(self, Expr::Cmp { .. } | Expr::Bin { .. } | Expr::Len { .. }) || self.children().iter().any(|c| c.numeric())
    }

    /// Checks the operand kinds every node needs, and which modes the numbers allow:
    /// (int mode possible, float mode possible).
    fn check(&self) -> Option<(bool, bool)> {
        let mut modes = (true, true);
        for c in self.children() {
            let (i, f) = c.check()?;
            modes = (modes.0 && i, modes.1 && f);
        }
        let obj = |x: &Expr| x.kind() == Kind::Obj;
        // A number operand: any object (unboxed at run time, a constant only if numeric) or
        // a computed number.
        let number = |x: &Expr| match x {
            Expr::Const { num, .. } => num.is_some(),
            _ => matches!(x.kind(), Kind::Obj | Kind::Num),
        };
        let float_const = |x: &Expr| matches!(x, Expr::Const { num: Some(Num::Float(_)), .. });
        match self {
            Expr::Arg(_) | Expr::Const { .. } => {}
            Expr::Method { .. } | Expr::GlobalFn { .. } => return None,
            Expr::Global { .. } => {}
            Expr::Len { x, .. } => {
                if !obj(x) {
                    return None;
                }
            }
            Expr::IsNone { x, .. } => {
                if !obj(x) {
                    return None;
                }
            }
            Expr::Cond { test, yes, no } => {
                let num = |x: &Expr| x.kind() == Kind::Num;
                if num(test) || num(yes) != num(no) {
                    return None;
                }
                if yes.int_only() != no.int_only() {
                    modes.1 = false;
                }
            }
            Expr::Logic { a, b, .. } => {
                if a.kind() == Kind::Num || b.kind() == Kind::Num {
                    return None;
                }
            }
            Expr::Call { args, cands, .. } => {
                if !args.iter().all(obj) || cands.is_empty() {
                    return None;
                }
                for c in cands {
                    // A callee's number would have to be boxed: not inlined.
                    if c.body.kind() == Kind::Num {
                        return None;
                    }
                    let (i, f) = c.body.check()?;
                    modes = (modes.0 && i, modes.1 && f);
                }
            }
            Expr::Attr { owner, .. } => {
                if !obj(owner) {
                    return None;
                }
            }
            Expr::Item { seq, index } => {
                if !obj(seq) || !obj(index) || matches!(**index, Expr::Const { num: Some(Num::Float(_)), .. }) {
                    return None;
                }
            }
            Expr::Is { a, b, .. } => {
                if !obj(a) || !obj(b) {
                    return None;
                }
            }
            Expr::Not(x) => {
                if x.kind() == Kind::Num {
                    return None;
                }
            }
            Expr::Cmp { a, b, .. } | Expr::Bin { a, b, .. } => {
                if !number(a) || !number(b) {
                    return None;
                }
                if float_const(a) || float_const(b) {
                    modes.0 = false;
                }
                // Two ints whatever the mode (constants, lengths): CPython computes with ints;
                // the float mode cannot.
                if a.int_only() && b.int_only() {
                    modes.1 = false;
                }
                if matches!(self, Expr::Bin { op: BinOp::And | BinOp::Or | BinOp::Xor, .. }) {
                    modes.1 = false;
                }
            }
        }
        Some(modes)
    }
}

/// A leaf's body, ready for the code generator.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    pub expr: Expr,
    /// How many attribute reads it makes ([`Expr::Attr::site`] runs below this).
    pub attr_sites: usize,
    /// The modes to try, in order (one, arbitrary, if nothing is numeric).
    pub modes: Vec<Mode>,
}

/// One instruction of a callee, for [`analyze`]: opcode and argument (EXTENDED_ARG folded),
/// the unit it starts at (its first EXTENDED_ARG) and the unit right after its opcode (where
/// a relative jump counts from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ins {
    pub op: u8,
    pub arg: u32,
    pub start: usize,
    pub next: usize,
}

/// The leaves a method call inside a body may run, by the method's name (its index in the
/// callee's `co_names`) and the call's argument count (the object included): none means the
/// call is not a leaf's business.
pub type Resolve<'r> = &'r dyn Fn(usize, u32) -> Vec<Cand>;

/// The body of a callee of `nargs` positional parameters whose instructions are `instrs`
/// (inline caches skipped), with constants and names at the given addresses; `number` tells a
/// constant's numeric value (`runtime::const_number`), `resolve` the candidates of a method
/// call; `len_name`: the interned str "len" if the body may read globals (its function runs
/// with the caller's globals), None if not. None unless it is a leaf (see the module doc).
#[allow(clippy::too_many_arguments)]
pub fn analyze(instrs: &[Ins], nargs: u32, consts: &[usize], names: &[usize], number: impl Fn(usize) -> Option<(f64, bool)>, resolve: Resolve, len_name: Option<usize>) -> Option<Body> {
    let p = Parser { instrs, nargs, consts, names, number: &number, resolve, len_name };
    let last = instrs.len().checked_sub(1)?;
    if instrs[last].op != op::RETURN_VALUE {
        return None;
    }
    let mut stack = Vec::new();
    p.run(0, last, &mut stack)?;
    if stack.len() != 1 {
        return None;
    }
    let mut expr = stack.pop()?;
    let sites = expr.renumber(0);
    if expr.nodes() > MAX_NODES || expr.temps() > MAX_TEMPS {
        return None;
    }
    let (int_ok, mut float_ok) = expr.check()?;
    // An int result would come out of the float mode boxed as a float.
    float_ok &= !expr.int_only();
    let modes = if !expr.numeric() {
        vec![Mode::Int]
    } else {
        let mut m = Vec::new();
        if int_ok {
            m.push(Mode::Int);
        }
        if float_ok {
            m.push(Mode::Float);
        }
        m
    };
    if modes.is_empty() {
        return None;
    }
    Some(Body { expr, attr_sites: sites, modes })
}

struct Parser<'a> {
    instrs: &'a [Ins],
    nargs: u32,
    consts: &'a [usize],
    names: &'a [usize],
    number: &'a dyn Fn(usize) -> Option<(f64, bool)>,
    resolve: Resolve<'a>,
    len_name: Option<usize>,
}

impl Parser<'_> {
    /// Simulates instructions `from..to` on `stack` (a jump must land inside the range, on a
    /// later instruction: `and`/`or` are parsed as a nested range).
    fn run(&self, from: usize, to: usize, stack: &mut Vec<Expr>) -> Option<()> {
        let mut k = from;
        while k < to {
            let Ins { op: opc, arg, next, .. } = self.instrs[k];
            k += 1;
            match opc {
                op::RESUME | op::NOP | op::PRECALL => {}
                op::LOAD_FAST => {
                    if arg >= self.nargs {
                        return None;
                    }
                    stack.push(Expr::Arg(arg));
                }
                op::LOAD_CONST => {
                    let addr = *self.consts.get(arg as usize)?;
                    let num = (self.number)(addr).map(|(v, is_float)| if is_float { Num::Float(v) } else { Num::Int(v as i64) });
                    stack.push(Expr::Const { addr, num });
                }
                op::LOAD_ATTR => {
                    let owner = Box::new(stack.pop()?);
                    stack.push(Expr::Attr { owner, name: *self.names.get(arg as usize)?, site: 0 });
                }
                op::LOAD_METHOD => {
                    let recv = Box::new(stack.pop()?);
                    stack.push(Expr::Method { recv, name: *self.names.get(arg as usize)? });
                }
                op::LOAD_GLOBAL => {
                    self.len_name?;
                    let name = *self.names.get((arg >> 1) as usize)?;
                    stack.push(if arg & 1 == 1 { Expr::GlobalFn { name } } else { Expr::Global { name, site: 0 } });
                }
                op::CALL if matches!(stack.len().checked_sub(arg as usize + 1).map(|k| &stack[k]), Some(Expr::GlobalFn { .. })) => {
                    // Only `len(x)` of the globals' functions.
                    let x = stack.pop()?;
                    match stack.pop()? {
                        Expr::GlobalFn { name } if arg == 1 && Some(name) == self.len_name => stack.push(Expr::Len { x: Box::new(x), site: 0 }),
                        _ => return None,
                    }
                }
                op::CALL => {
                    let mut args = stack.split_off(stack.len().checked_sub(arg as usize)?);
                    let Expr::Method { recv, name } = stack.pop()? else { return None };
                    args.insert(0, *recv);
                    let index = self.names.iter().position(|&n| n == name)?;
                    let cands = (self.resolve)(index, arg + 1);
                    if cands.is_empty() {
                        return None;
                    }
                    stack.push(Expr::Call { name, site: 0, args, cands });
                }
                op::JUMP_IF_FALSE_OR_POP | op::JUMP_IF_TRUE_OR_POP => {
                    // `a and b` / `a or b`: the jump lands after b's code, on this range's rest.
                    let target = next + arg as usize;
                    let t = k + self.instrs[k..to + 1].iter().position(|i| i.start == target)?;
                    let a = Box::new(stack.pop()?);
                    let mut sub = Vec::new();
                    self.run(k, t, &mut sub)?;
                    if sub.len() != 1 {
                        return None;
                    }
                    stack.push(Expr::Logic { or: opc == op::JUMP_IF_TRUE_OR_POP, a, b: Box::new(sub.pop()?) });
                    k = t;
                }
                op::POP_JUMP_FORWARD_IF_FALSE | op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_FORWARD_IF_NONE | op::POP_JUMP_FORWARD_IF_NOT_NONE => {
                    // `x if c else y`: c, the jump to y's code, x's code, a JUMP_FORWARD over
                    // y's code to this range's rest.
                    let t = k + self.instrs[k..to + 1].iter().position(|i| i.start == next + arg as usize)?;
                    let over = self.instrs[t - 1];
                    if t <= k + 1 || over.op != op::JUMP_FORWARD {
                        return None;
                    }
                    let e = t + self.instrs[t..to + 1].iter().position(|i| i.start == over.next + over.arg as usize)?;
                    let c = Box::new(stack.pop()?);
                    let (mut fall, mut jumped) = (Vec::new(), Vec::new());
                    self.run(k, t - 1, &mut fall)?;
                    self.run(t, e, &mut jumped)?;
                    if fall.len() != 1 || jumped.len() != 1 {
                        return None;
                    }
                    let (fall, jumped) = (Box::new(fall.pop()?), Box::new(jumped.pop()?));
                    stack.push(match opc {
                        op::POP_JUMP_FORWARD_IF_FALSE => Expr::Cond { test: c, yes: fall, no: jumped },
                        op::POP_JUMP_FORWARD_IF_TRUE => Expr::Cond { test: c, yes: jumped, no: fall },
                        op::POP_JUMP_FORWARD_IF_NONE => Expr::Cond { test: Box::new(Expr::IsNone { x: c, invert: false }), yes: jumped, no: fall },
                        _ => Expr::Cond { test: Box::new(Expr::IsNone { x: c, invert: true }), yes: jumped, no: fall },
                    });
                    k = e;
                }
                op::BINARY_SUBSCR => {
                    let index = Box::new(stack.pop()?);
                    let seq = Box::new(stack.pop()?);
                    stack.push(Expr::Item { seq, index });
                }
                op::IS_OP => {
                    let b = Box::new(stack.pop()?);
                    let a = Box::new(stack.pop()?);
                    stack.push(Expr::Is { a, b, invert: arg == 1 });
                }
                op::UNARY_NOT => {
                    let x = Box::new(stack.pop()?);
                    stack.push(Expr::Not(x));
                }
                op::COMPARE_OP => {
                    let cmp = match arg {
                        0 => CmpOp::Lt,
                        1 => CmpOp::Le,
                        2 => CmpOp::Eq,
                        3 => CmpOp::Ne,
                        4 => CmpOp::Gt,
                        5 => CmpOp::Ge,
                        _ => return None,
                    };
                    let b = Box::new(stack.pop()?);
                    let a = Box::new(stack.pop()?);
                    stack.push(Expr::Cmp { op: cmp, a, b });
                }
                op::BINARY_OP => {
                    // NB_* numbering; the in-place forms (13 more) compute the same for ints and floats.
                    let bop = match if arg >= 13 { arg - 13 } else { arg } {
                        0 => BinOp::Add,
                        1 => BinOp::And,
                        5 => BinOp::Mul,
                        7 => BinOp::Or,
                        10 => BinOp::Sub,
                        12 => BinOp::Xor,
                        _ => return None,
                    };
                    let b = Box::new(stack.pop()?);
                    let a = Box::new(stack.pop()?);
                    stack.push(Expr::Bin { op: bop, a, b });
                }
                _ => return None,
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Constants by fake address: 100 + i is consts[i]; these numbers are what `number` says.
    fn number(addr: usize) -> Option<(f64, bool)> {
        match addr {
            100 => Some((1.0, false)),
            101 => Some((2.5, true)),
            _ => None, // 102: a non-number (None, a str)
        }
    }
    const CONSTS: [usize; 3] = [100, 101, 102];
    const NAMES: [usize; 2] = [200, 201];

    // One unit per instruction (no EXTENDED_ARG, no caches): a jump's argument counts
    // instructions from the next one.
    fn ins(instrs: &[(u8, u32)]) -> Vec<Ins> {
        instrs.iter().enumerate().map(|(i, &(op, arg))| Ins { op, arg, start: i, next: i + 1 }).collect()
    }

    fn body(instrs: &[(u8, u32)], nargs: u32) -> Option<Body> {
        analyze(&ins(instrs), nargs, &CONSTS, &NAMES, number, &|_, _| Vec::new(), None)
    }

    /// Method names[0] (`empty`) of one argument is a leaf: `return self.head is None`.
    fn with_method(instrs: &[(u8, u32)], nargs: u32) -> Option<Body> {
        let resolve = |name: usize, n: u32| {
            if name != 0 || n != 1 {
                return Vec::new();
            }
            let inner = body(&[(op::LOAD_FAST, 0), (op::LOAD_ATTR, 1), (op::LOAD_CONST, 2), (op::IS_OP, 0), (op::RETURN_VALUE, 0)], 1).unwrap();
            vec![Cand { code: 900, body: Box::new(inner.expr) }]
        };
        analyze(&ins(instrs), nargs, &CONSTS, &NAMES, number, &resolve, None)
    }
    #[test]
    fn a_getter_is_one_attribute_read() {
        let b = body(&[(op::RESUME, 0), (op::LOAD_FAST, 0), (op::LOAD_ATTR, 1), (op::RETURN_VALUE, 0)], 1).unwrap();
        assert_eq!(b.expr, Expr::Attr { owner: Box::new(Expr::Arg(0)), name: 201, site: 0 });
        assert_eq!((b.attr_sites, b.modes), (1, vec![Mode::Int]));
    }

    #[test]
    fn an_item_of_two_attributes() {
        // return self.tokens[self.pos]
        let b = body(&[(op::RESUME, 0), (op::LOAD_FAST, 0), (op::LOAD_ATTR, 0), (op::LOAD_FAST, 0), (op::LOAD_ATTR, 1), (op::BINARY_SUBSCR, 0), (op::RETURN_VALUE, 0)], 1).unwrap();
        assert_eq!(b.attr_sites, 2);
        assert!(matches!(b.expr, Expr::Item { .. }));
        assert_eq!(b.expr.temps(), 1);
    }

    #[test]
    fn arithmetic_allows_the_modes_its_constants_allow() {
        // a * 1 + b: ints or floats, ints first.
        let ints = [(op::LOAD_FAST, 0), (op::LOAD_CONST, 0), (op::BINARY_OP, 5), (op::LOAD_FAST, 1), (op::BINARY_OP, 0), (op::RETURN_VALUE, 0)];
        assert_eq!(body(&ints, 2).unwrap().modes, vec![Mode::Int, Mode::Float]);
        // a * 2.5: floats only.
        let floats = [(op::LOAD_FAST, 0), (op::LOAD_CONST, 1), (op::BINARY_OP, 5), (op::RETURN_VALUE, 0)];
        assert_eq!(body(&floats, 1).unwrap().modes, vec![Mode::Float]);
        // a & b: ints only.
        let and = [(op::LOAD_FAST, 0), (op::LOAD_FAST, 1), (op::BINARY_OP, 1), (op::RETURN_VALUE, 0)];
        assert_eq!(body(&and, 2).unwrap().modes, vec![Mode::Int]);
        // a & 2.5: neither.
        let none = [(op::LOAD_FAST, 0), (op::LOAD_CONST, 1), (op::BINARY_OP, 1), (op::RETURN_VALUE, 0)];
        assert!(body(&none, 1).is_none());
        // a + None: not a number operand.
        let bad = [(op::LOAD_FAST, 0), (op::LOAD_CONST, 2), (op::BINARY_OP, 0), (op::RETURN_VALUE, 0)];
        assert!(body(&bad, 1).is_none());
    }

    #[test]
    fn identity_and_not() {
        // not self.a is None
        let b = body(&[(op::LOAD_FAST, 0), (op::LOAD_ATTR, 0), (op::LOAD_CONST, 2), (op::IS_OP, 1), (op::RETURN_VALUE, 0)], 1).unwrap();
        assert!(matches!(b.expr, Expr::Is { invert: true, .. }));
        assert_eq!(b.expr.kind(), Kind::Bool);
        let n = body(&[(op::LOAD_FAST, 0), (op::UNARY_NOT, 0), (op::RETURN_VALUE, 0)], 1).unwrap();
        assert_eq!(n.expr, Expr::Not(Box::new(Expr::Arg(0))));
        // not (a + b): the truth of a computed number is not a leaf's business.
        assert!(body(&[(op::LOAD_FAST, 0), (op::LOAD_FAST, 1), (op::BINARY_OP, 0), (op::UNARY_NOT, 0), (op::RETURN_VALUE, 0)], 2).is_none());
        // (a < b) is c: identity of a truth value neither.
        assert!(body(&[(op::LOAD_FAST, 0), (op::LOAD_FAST, 1), (op::COMPARE_OP, 0), (op::LOAD_FAST, 2), (op::IS_OP, 0), (op::RETURN_VALUE, 0)], 3).is_none());
    }

    #[test]
    fn stores_calls_jumps_locals_and_globals_are_not_leaves() {
        let ret = (op::RETURN_VALUE, 0);
        assert!(body(&[(op::LOAD_FAST, 0), (op::STORE_FAST, 1), (op::LOAD_FAST, 1), ret], 1).is_none());
        assert!(body(&[(op::LOAD_FAST, 1), ret], 1).is_none(), "a local that is not a parameter");
        assert!(body(&[(op::LOAD_GLOBAL, 0), ret], 0).is_none());
        assert!(body(&[(op::LOAD_FAST, 0), (op::POP_JUMP_FORWARD_IF_FALSE, 1), (op::LOAD_FAST, 0), ret], 1).is_none());
        assert!(body(&[(op::LOAD_FAST, 0), (op::LOAD_FAST, 0), ret], 1).is_none(), "two values left");
        assert!(body(&[(op::LOAD_FAST, 0), ret, (op::LOAD_FAST, 0), ret], 1).is_none(), "code after the return");
        assert!(body(&[(op::LOAD_FAST, 0), (op::LOAD_FAST, 0), (op::BINARY_OP, 11), ret], 1).is_none(), "true division");
    }

    #[test]
    fn and_or_keep_their_operands_order() {
        // return not self.a and not self.b  (JUMP_IF_FALSE_OR_POP to the return)
        let code = [(op::LOAD_FAST, 0), (op::LOAD_ATTR, 0), (op::UNARY_NOT, 0), (op::JUMP_IF_FALSE_OR_POP, 3),
                    (op::LOAD_FAST, 0), (op::LOAD_ATTR, 1), (op::UNARY_NOT, 0), (op::RETURN_VALUE, 0)];
        let b = body(&code, 1).unwrap();
        let Expr::Logic { or: false, a, b: right } = &b.expr else { panic!("{:?}", b.expr) };
        assert!(matches!(**a, Expr::Not(_)) && matches!(**right, Expr::Not(_)));
        assert_eq!(b.expr.kind(), Kind::Bool);
        assert_eq!(b.attr_sites, 2);
        // return a or b: the value is an object.
        let or = body(&[(op::LOAD_FAST, 0), (op::JUMP_IF_TRUE_OR_POP, 1), (op::LOAD_FAST, 1), (op::RETURN_VALUE, 0)], 2).unwrap();
        assert_eq!(or.expr.kind(), Kind::Obj);
        // A jump past the return, or backwards, is not an `and`.
        assert!(body(&[(op::LOAD_FAST, 0), (op::JUMP_IF_TRUE_OR_POP, 5), (op::LOAD_FAST, 1), (op::RETURN_VALUE, 0)], 2).is_none());
    }

    #[test]
    fn a_method_call_of_a_leaf_is_inlined_in_turn() {
        // return not self.blocked and not self.inbox.empty()
        let code = [(op::LOAD_FAST, 0), (op::LOAD_ATTR, 0), (op::UNARY_NOT, 0), (op::JUMP_IF_FALSE_OR_POP, 6),
                    (op::LOAD_FAST, 0), (op::LOAD_ATTR, 1), (op::LOAD_METHOD, 0), (op::PRECALL, 0), (op::CALL, 0),
                    (op::UNARY_NOT, 0), (op::RETURN_VALUE, 0)];
        let b = with_method(&code, 1).unwrap();
        // Sites: self.blocked 0, self.inbox 1, the method lookup 2, the callee's self.head 3.
        assert_eq!(b.attr_sites, 4);
        let Expr::Logic { b: right, .. } = &b.expr else { panic!() };
        let Expr::Not(call) = &**right else { panic!() };
        let Expr::Call { site: 2, args, cands, .. } = &**call else { panic!("{call:?}") };
        assert_eq!(args.len(), 1);
        assert!(matches!(*cands[0].body, Expr::Is { .. }));
        assert_eq!(b.expr.kind(), Kind::Bool);
        // A method with no leaf candidate is not inlined; nor a call of anything else.
        assert!(body(&code, 1).is_none());
        let wrong_arity = [(op::LOAD_FAST, 0), (op::LOAD_METHOD, 0), (op::LOAD_FAST, 0), (op::PRECALL, 1), (op::CALL, 1), (op::RETURN_VALUE, 0)];
        assert!(with_method(&wrong_arity, 1).is_none());
    }

    #[test]
    fn conditional_expressions() {
        // return a if a < b else b
        let min = [(op::LOAD_FAST, 0), (op::LOAD_FAST, 1), (op::COMPARE_OP, 0), (op::POP_JUMP_FORWARD_IF_FALSE, 2),
                   (op::LOAD_FAST, 0), (op::JUMP_FORWARD, 1), (op::LOAD_FAST, 1), (op::RETURN_VALUE, 0)];
        let b = body(&min, 2).unwrap();
        assert_eq!(b.expr, Expr::Cond {
            test: Box::new(Expr::Cmp { op: CmpOp::Lt, a: Box::new(Expr::Arg(0)), b: Box::new(Expr::Arg(1)) }),
            yes: Box::new(Expr::Arg(0)),
            no: Box::new(Expr::Arg(1)),
        });
        // return s.a if s.a is not None else s.b: the None test jumps to the else part.
        let dflt = [(op::LOAD_FAST, 0), (op::LOAD_ATTR, 0), (op::POP_JUMP_FORWARD_IF_NONE, 3), (op::LOAD_FAST, 0),
                    (op::LOAD_ATTR, 0), (op::JUMP_FORWARD, 2), (op::LOAD_FAST, 0), (op::LOAD_ATTR, 1), (op::RETURN_VALUE, 0)];
        let b = body(&dflt, 1).unwrap();
        let Expr::Cond { test, yes, no } = &b.expr else { panic!() };
        assert!(matches!(**test, Expr::IsNone { invert: false, .. }));
        assert!(matches!(**yes, Expr::Attr { site: 1, .. }) && matches!(**no, Expr::Attr { site: 2, .. }));
        // A number on one side only is refused; no JUMP_FORWARD (an `if` statement) neither.
        let mixed = [(op::LOAD_FAST, 0), (op::POP_JUMP_FORWARD_IF_FALSE, 4), (op::LOAD_FAST, 0), (op::LOAD_FAST, 0),
                     (op::BINARY_OP, 0), (op::JUMP_FORWARD, 1), (op::LOAD_FAST, 0), (op::RETURN_VALUE, 0)];
        assert!(body(&mixed, 1).is_none());
        let stmt = [(op::LOAD_FAST, 0), (op::POP_JUMP_FORWARD_IF_FALSE, 2), (op::LOAD_FAST, 0), (op::RETURN_VALUE, 0),
                    (op::LOAD_CONST, 0), (op::RETURN_VALUE, 0)];
        assert!(body(&stmt, 1).is_none());
    }

    #[test]
    fn globals_and_len_only_where_allowed() {
        let with_globals = |instrs: &[(u8, u32)], nargs| analyze(&ins(instrs), nargs, &CONSTS, &NAMES, number, &|_, _| Vec::new(), Some(201));
        // return len(self.a) == 0 ("len" is names[1] = 201 here)
        let code = [(op::LOAD_GLOBAL, 3), (op::LOAD_FAST, 0), (op::LOAD_ATTR, 0), (op::PRECALL, 1), (op::CALL, 1),
                    (op::LOAD_CONST, 0), (op::COMPARE_OP, 2), (op::RETURN_VALUE, 0)];
        let b = with_globals(&code, 1).unwrap();
        let Expr::Cmp { a, .. } = &b.expr else { panic!() };
        assert!(matches!(**a, Expr::Len { site: 1, .. }));
        assert_eq!(b.modes, vec![Mode::Int], "a length and an int constant: ints only");
        assert!(body(&code, 1).is_none(), "no globals in a function of another module");
        // return LIMIT * x: a global's value is an object (unboxed at run time).
        let glob = [(op::LOAD_GLOBAL, 0), (op::LOAD_FAST, 0), (op::BINARY_OP, 5), (op::RETURN_VALUE, 0)];
        let g = with_globals(&glob, 1).unwrap();
        assert!(matches!(g.expr, Expr::Bin { .. }));
        assert_eq!(g.modes, vec![Mode::Int, Mode::Float]);
        // Calls of other globals are not leaves.
        let other = [(op::LOAD_GLOBAL, 1), (op::LOAD_FAST, 0), (op::PRECALL, 1), (op::CALL, 1), (op::RETURN_VALUE, 0)];
        assert!(with_globals(&other, 1).is_none());
        // return len(a): an int result, never boxed as a float.
        let len = [(op::LOAD_GLOBAL, 3), (op::LOAD_FAST, 0), (op::PRECALL, 1), (op::CALL, 1), (op::RETURN_VALUE, 0)];
        assert_eq!(with_globals(&len, 1).unwrap().modes, vec![Mode::Int]);
    }

    #[test]
    fn size_and_depth_are_bounded() {
        // a + (a + (a + ...)): each level holds one more value aside.
        let mut v = vec![(op::LOAD_FAST, 0); MAX_TEMPS + 2];
        v.extend(vec![(op::BINARY_OP, 0); MAX_TEMPS + 1]);
        v.push((op::RETURN_VALUE, 0));
        assert!(body(&v, 1).is_none());
        let mut ok = vec![(op::LOAD_FAST, 0); MAX_TEMPS + 1];
        ok.extend(vec![(op::BINARY_OP, 0); MAX_TEMPS]);
        ok.push((op::RETURN_VALUE, 0));
        assert_eq!(body(&ok, 1).unwrap().expr.temps(), MAX_TEMPS);
    }
}
