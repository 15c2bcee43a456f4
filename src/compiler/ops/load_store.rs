//! Loads and stores: locals, constants, globals, cells, plain stack shuffles and attributes.
//! Unbound locals and missing globals are left to the interpreter (deopt before anything is
//! consumed), so their exceptions and messages are CPython's own.

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{asm, reg::*, Emitter, GuardKind};
use crate::ffi::layout as L;
use crate::ffi::runtime as rt;

fn arg(e: &Emitter, n: usize) -> u32 {
    e.snap.instrs[n].arg
}
fn unit(e: &Emitter, n: usize) -> usize {
    e.snap.instrs[n].idx
}

/// LOAD_FAST / LOAD_CLOSURE: push local `arg` (NULL → UnboundLocalError, by the interpreter).
pub fn emit_load_fast(e: &mut Emitter, n: usize, d: u32) {
    let (l, s) = (e.local(arg(e, n)), e.slot(d));
    let unbound = e.deopt_label(n, GuardKind::SlowCase);
    e.load_q(RAX, RBX, l);
    asm!(e
        ; test rax, rax
        ; jz =>unbound
    );
    if top_stays_borrowed(e, n, d) {
        // `local.attr`, `if local:`, `xs[local]`: the instruction right after takes the value
        // from rax (or its slot, written but not owned); the reference is only made on its way
        // to a helper.
        e.borrowed_top = Some(n + 1);
        e.store_q(RBX, s, RAX);
        return;
    }
    asm!(e ; add QWORD [rax], 1);
    e.store_q(RBX, s, RAX);
}

/// True if the LOAD_FAST at `n` (depth `d`) can leave its value in rax and in its slot
/// without a reference, for the instruction right after it, which uses it as the top of the
/// stack without keeping it: the owner of a LOAD_ATTR or STORE_ATTR, the condition of a
/// POP_JUMP_IF_TRUE/FALSE/NONE/NOT_NONE, the index of a BINARY_SUBSCR or STORE_SUBSCR, or
/// the sequence of an UNPACK_SEQUENCE. That instruction must only ever be entered from this
/// one (not a bytecode jump target, exception handler, resumption point or the end of a fused
/// run). The local keeps the value alive meanwhile: nothing runs in between. The taker uses
/// the value without a reference only where no other code can run on its behalf (the inline
/// attribute hit, which reads, or stores and releases the old value; the inline truth tests;
/// the list and tuple item hits and unpackings); every other way on (a helper, hence errors
/// and exits to the interpreter) first makes the reference (and for attributes the slot), so
/// from there on the stack is exactly the interpreter's.
fn top_stays_borrowed(e: &Emitter, n: usize, d: u32) -> bool {
    use crate::compiler::opcodes as op;
    let snap = e.snap;
    let m = n + 1;
    snap.instrs[n].op == op::LOAD_FAST
        && m < snap.instrs.len()
        && matches!(
            snap.instrs[m].op,
            op::LOAD_ATTR
                | op::STORE_ATTR
                | op::POP_JUMP_FORWARD_IF_TRUE
                | op::POP_JUMP_BACKWARD_IF_TRUE
                | op::POP_JUMP_FORWARD_IF_FALSE
                | op::POP_JUMP_BACKWARD_IF_FALSE
                | op::POP_JUMP_FORWARD_IF_NONE
                | op::POP_JUMP_BACKWARD_IF_NONE
                | op::POP_JUMP_FORWARD_IF_NOT_NONE
                | op::POP_JUMP_BACKWARD_IF_NOT_NONE
                | op::BINARY_SUBSCR
                | op::STORE_SUBSCR
                | op::UNPACK_SEQUENCE
        )
        && snap.depth[m] == Some(d + 1)
        && !snap.is_target[m]
        && !snap.handlers.iter().any(|h| snap.at_unit(h.target) == Some(m))
        && !e.side_entries.contains(&m)
}

/// STORE_FAST: pop into local `arg`, releasing the old value.
pub fn emit_store_fast(e: &mut Emitter, n: usize, d: u32) {
    let (l, s) = (e.local(arg(e, n)), e.slot(d - 1));
    e.load_q(RAX, RBX, s);
    e.load_q(RDI, RBX, l);
    e.store_q(RBX, l, RAX);
    let u = unit(e, n);
    e.xdecref_rdi(u);
}

/// DELETE_FAST: unbind local `arg` (already unbound → UnboundLocalError, by the interpreter).
pub fn emit_delete_fast(e: &mut Emitter, n: usize, _d: u32) {
    let l = e.local(arg(e, n));
    let unbound = e.deopt_label(n, GuardKind::SlowCase);
    asm!(e
        ; mov rdi, [rbx + l]
        ; test rdi, rdi
        ; jz =>unbound
        ; mov QWORD [rbx + l], 0
    );
    let u = unit(e, n);
    e.decref_rdi(u);
}

/// LOAD_CONST: push `co_consts[arg]` (the code object keeps it alive).
pub fn emit_load_const(e: &mut Emitter, n: usize, d: u32) {
    let c = e.snap.consts[arg(e, n) as usize] as i64;
    let s = e.slot(d);
    asm!(e
        ; mov rax, QWORD c
        ; add QWORD [rax], 1
    );
    e.store_q(RBX, s, RAX);
}

/// LOAD_GLOBAL: globals, then builtins; `arg & 1` pushes a NULL first (for CALL). Inline:
/// the site's memo is still valid (both dicts carry the version tags it was filled under) →
/// push its value. Otherwise the helper looks the name up and refills the memo.
pub fn emit_load_global(e: &mut Emitter, n: usize, d: u32) {
    let a = arg(e, n);
    let name = e.snap.names[(a >> 1) as usize] as i64;
    let push_null = a & 1 != 0;
    let u = unit(e, n);
    let mut top = d;
    if push_null {
        let s = e.slot(d);
        asm!(e ; mov QWORD [rbx + s], 0);
        top += 1;
    }
    let s = e.slot(top);
    let memo = e.take_global_memo() as i64;
    let done = e.ops.new_dynamic_label();
    let slow = e.out_of_line(n, move |e| {
        e.set_prev(u as i64);
        asm!(e
            ; mov rdi, r12
            ; lea rsi, [rbx + s]
            ; mov rdx, QWORD name
            ; mov rcx, QWORD memo
        );
        e.call(rt::rt_load_global as *const () as usize);
        e.dispatch_result(n, d);
        asm!(e ; jmp =>done);
    });
    asm!(e ; mov r8, QWORD memo);
    e.global_memo_value(8, slow);
    asm!(e ; add QWORD [rax], 1);
    e.store_q(RBX, s, RAX);
    asm!(e ; =>done);
}

/// LOAD_DEREF: push the content of cell `arg` (empty → the interpreter raises).
pub fn emit_load_deref(e: &mut Emitter, n: usize, d: u32) {
    let (l, s) = (e.local(arg(e, n)), e.slot(d));
    let unbound = e.deopt_label(n, GuardKind::SlowCase);
    asm!(e
        ; mov rax, [rbx + l]
        ; mov rax, [rax + L::CELL_OB_REF]
        ; test rax, rax
        ; jz =>unbound
        ; add QWORD [rax], 1
        ; mov [rbx + s], rax
    );
}

/// STORE_DEREF: pop into cell `arg`.
pub fn emit_store_deref(e: &mut Emitter, n: usize, d: u32) {
    let (l, s) = (e.local(arg(e, n)), e.slot(d - 1));
    asm!(e
        ; mov rax, [rbx + s]
        ; mov rcx, [rbx + l]
        ; mov rdi, [rcx + L::CELL_OB_REF]
        ; mov [rcx + L::CELL_OB_REF], rax
    );
    let u = unit(e, n);
    e.xdecref_rdi(u);
}

/// MAKE_CELL: wrap local `arg` in a new cell.
pub fn emit_make_cell(e: &mut Emitter, n: usize, d: u32) {
    let (i, u) = (arg(e, n) as i32, unit(e, n));
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, rbx
        ; mov esi, i
    );
    e.call(rt::rt_make_cell as *const () as usize);
    e.check_error(u, d);
}

/// Closures with at most this many cells have COPY_FREE_VARS in line; more call the helper.
const INLINE_FREE_VARS: usize = 8;

/// COPY_FREE_VARS: copy the function's closure cells (new references) into the last `arg`
/// slots of localsplus, as ceval does (`frame->f_func->func_closure`; the compiler only
/// emits it for code with exactly that many free variables, which the closure matches).
pub fn emit_copy_free_vars(e: &mut Emitter, n: usize, _d: u32) {
    let count = arg(e, n) as usize;
    if count > INLINE_FREE_VARS {
        asm!(e
            ; mov rdi, r12
            ; mov esi, count as i32
        );
        e.call(rt::rt_copy_free_vars as *const () as usize);
        return;
    }
    let first = e.snap.nlocalsplus - count;
    asm!(e
        ; mov rax, [r12 + L::FRAME_F_FUNC]
        ; mov rax, [rax + L::FUNC_CLOSURE]
    );
    for i in 0..count {
        let to = e.local((first + i) as u32);
        e.load_q(RCX, RAX, L::TUPLE_OB_ITEM + 8 * i as i32);
        asm!(e ; add QWORD [rcx], 1);
        e.store_q(RBX, to, RCX);
    }
}

/// POP_TOP.
pub fn emit_pop_top(e: &mut Emitter, n: usize, d: u32) {
    let s = e.slot(d - 1);
    let u = unit(e, n);
    e.decref_slot(u, s);
}

/// PUSH_NULL (the marker CALL uses for "not a method call").
pub fn emit_push_null(e: &mut Emitter, _n: usize, d: u32) {
    let s = e.slot(d);
    asm!(e ; mov QWORD [rbx + s], 0);
}

/// COPY: push a new reference to the `arg`-th item from the top.
pub fn emit_copy(e: &mut Emitter, n: usize, d: u32) {
    let (from, to) = (e.slot(d - arg(e, n)), e.slot(d));
    asm!(e
        ; mov rax, [rbx + from]
        ; add QWORD [rax], 1
        ; mov [rbx + to], rax
    );
}

/// SWAP: exchange the top with the `arg`-th item.
pub fn emit_swap(e: &mut Emitter, n: usize, d: u32) {
    let (top, other) = (e.slot(d - 1), e.slot(d - arg(e, n)));
    asm!(e
        ; mov rax, [rbx + top]
        ; mov rcx, [rbx + other]
        ; mov [rbx + top], rcx
        ; mov [rbx + other], rax
    );
}

/// LOAD_ATTR: replace the top with `getattr(top, names[arg])`, through the site's inline cache
/// (`csrc/attrcache.c` fills it and documents what each kind proves). Inline: the two hit
/// kinds of instance attributes, guarded by the owner's type version — a plain slot
/// (`__slots__`) or the instance's values array; an empty slot or value, another type or any
/// other kind → the helper (generic lookup, CPython's exceptions, refill).
pub fn emit_load_attr(e: &mut Emitter, n: usize, d: u32) {
    let (s, u) = (e.slot(d - 1), unit(e, n));
    let cache = e.take_attr_cache();
    let done = e.ops.new_dynamic_label();
    // On failure the owner is still on the stack, as in ceval.
    let slow = e.attr_helper_out_of_line(n, d, 0, cache, d, done);
    let (borrowed, miss) = owner_in_rax(e, n, s, slow);
    attr_entry_address_any(e, cache, miss);
    asm!(e
        ; mov r10, [r10]
        ; test r10, r10
        ; jz =>miss
        ; add QWORD [r10], 1
    );
    e.store_q(RBX, s, R10);
    if !borrowed {
        asm!(e ; mov rdi, rax);
        e.decref_rdi(u);
    }
    asm!(e ; =>done);
}

/// The owner of the attribute instruction `n` (stack slot `s`) in rax, and where its inline
/// path goes on a miss. The owner may already be there, borrowed from the local the LOAD_FAST
/// before read (see [`top_stays_borrowed`]; then true): a hit neither takes nor releases a
/// reference to it, and the miss first puts an owned reference in the slot, as the
/// interpreter's stack would hold, before going on to `slow`. Otherwise it is loaded from the
/// slot, which owns it, and a miss goes straight to `slow`.
fn owner_in_rax(e: &mut Emitter, n: usize, s: i32, slow: DynamicLabel) -> (bool, DynamicLabel) {
    if !e.takes_borrowed_top(n) {
        e.load_q(RAX, RBX, s);
        return (false, slow);
    }
    let miss = e.out_of_line(n, move |e| {
        asm!(e ; add QWORD [rax], 1);
        e.store_q(RBX, s, RAX);
        asm!(e ; jmp =>slow);
    });
    (true, miss)
}

/// Size of one attribute cache entry, and how many a site has (`csrc/attrcache.c`).
pub const ATTR_ENTRY_SIZE: i32 = std::mem::size_of::<crate::ffi::runtime::AttrEntry>() as i32;
pub const ATTR_WAYS: i32 = 4;
const _: () = assert!(ATTR_ENTRY_SIZE == 48);

/// Tries the entries of the attribute cache at `cache` in turn for the object in rax (the
/// loop LOAD_ATTR and LOAD_METHOD share, so that a site seeing a few types stays inline for
/// each): `r8` walks the entries, `r9d` holds the object's type version and `rdx` its type
/// when `on_match(e, next)` runs — emitted once, for an entry whose version matches (it jumps
/// to `next` to try the following entry); the code emitted after this call follows it. The
/// step to the next entry is out of line (most sites see one type). After the last entry →
/// `miss`. Clobbers rdx, r8, r9, r11.
pub fn probe_attr_cache(e: &mut Emitter, cache: usize, miss: DynamicLabel, on_match: impl FnOnce(&mut Emitter, DynamicLabel)) {
    let (probe, next) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
    asm!(e
        ; mov r8, QWORD cache as i64
    );
    e.load_q(RDX, RAX, L::OB_TYPE);
    asm!(e
        ; mov r9d, [rdx + L::TYPE_VERSION_TAG]
        ; =>probe
        ; cmp r9d, [r8]
        ; jne =>next
    );
    on_match(e, next);
    // The next entry: out of line (most sites see one type).
    let end = (cache + (ATTR_WAYS * ATTR_ENTRY_SIZE) as usize) as i64;
    e.out_of_line_here_to(next, move |e| {
        asm!(e
            ; add r8, ATTR_ENTRY_SIZE
            ; mov r11, QWORD end
            ; cmp r8, r11
            ; jb =>probe
            ; jmp =>miss
        );
    });
}

/// LOAD_ATTR's inline probe: [`attr_entry0_address`]'s proof (a slot or an index in the
/// instance's values array, the address of the attribute's pointer left in `r10`) for any
/// entry of the site's cache ([`probe_attr_cache`]). A matching entry whose instance has no
/// values array, or no entry → `miss`. Clobbers rdx, r8, r9, r11; keeps rax.
pub fn attr_entry_address_any(e: &mut Emitter, cache: usize, miss: DynamicLabel) {
    let found = e.ops.new_dynamic_label();
    probe_attr_cache(e, cache, miss, |e, next| {
        entry_attr_address(e, 8, 10, next, miss, found);
    });
    asm!(e ; =>found);
}

/// The attribute address entry `Rq(c)` proves for the object in rax, whose type version it
/// matches: a slot (`rax + offset`, then a jump to `done`) or an index in the instance's
/// values array (falling through, the address in `Rq(out)`). An entry of another kind →
/// `other_kind`; an instance without a values array → `miss`. Clobbers rdx.
fn entry_attr_address(e: &mut Emitter, c: u8, out: u8, other_kind: DynamicLabel, miss: DynamicLabel, done: DynamicLabel) {
    // Values-array attributes (any ordinary class) in line, slots out of line.
    let slot = e.out_of_line_here(move |e| {
        asm!(e
            ; cmp DWORD [Rq(c) + 4], 1
            ; jne =>other_kind
            ; lea Rq(out), [rax + rdx]
            ; jmp =>done
        );
    });
    asm!(e
        ; mov rdx, [Rq(c) + 8]
        ; cmp DWORD [Rq(c) + 4], 2
        ; jne =>slot
        ; mov Rq(out), [rax + L::OBJECT_VALUES_PTR]
        ; test Rq(out), Rq(out)
        ; jz =>miss
        ; lea Rq(out), [Rq(out) + rdx * 8]
    );
}

/// What entry 0 of the attribute cache at `cache` proves for the object in `rax`, checked the
/// one way every inline user (LOAD_ATTR, STORE_ATTR, fused float and int attributes) checks
/// it: the object's type version is the entry's, and the entry is a slot (`rax + offset`) or
/// an index in the instance's values array (which must exist). Leaves the address of the
/// attribute's pointer in `r10` (its content may be NULL: an unset attribute); for `store`, a
/// values entry must already be set (a new one needs the helper's insertion-order
/// bookkeeping). Anything else jumps to `miss`. Clobbers rdx, r8; keeps rax and rcx.
pub fn attr_entry0_address(e: &mut Emitter, cache: usize, miss: DynamicLabel, store: bool) {
    attr_entry0_address_in(e, cache, miss, store, 8, 10);
}

/// [`attr_entry0_address`] with the cache's address in `Rq(c)` and the attribute's address
/// left in `Rq(out)` (which may be rax, the object). Clobbers rdx and `Rq(c)`.
pub fn attr_entry0_address_in(e: &mut Emitter, cache: usize, miss: DynamicLabel, store: bool, c: u8, out: u8) {
    let done = e.ops.new_dynamic_label();
    asm!(e
        ; mov Rq(c), QWORD cache as i64
        ; mov rdx, [rax + L::OB_TYPE]
        ; mov edx, [rdx + L::TYPE_VERSION_TAG]
        ; cmp edx, [Rq(c)]
        ; jne =>miss
    );
    entry_attr_address(e, c, out, miss, miss, done);
    if store {
        asm!(e
            ; cmp QWORD [Rq(out)], 0
            ; je =>miss
        );
    }
    asm!(e ; =>done);
}

/// STORE_ATTR: `top.name = second`, popping both (inline-cached). Inline: entry 0 of the
/// site's cache holds for the owner's type version and is a slot (the value replaces the slot's
/// content, as STORE_ATTR_SLOT) or an index in the instance values array whose entry is already
/// set (replaced, as STORE_ATTR_INSTANCE_VALUE; a new attribute needs the insertion-order
/// bookkeeping of the helper). The old value is released after the store.
pub fn emit_store_attr(e: &mut Emitter, n: usize, d: u32) {
    let (value, owner) = (e.slot(d - 2), e.slot(d - 1));
    let u = unit(e, n);
    let cache = e.take_attr_cache();
    let done = e.ops.new_dynamic_label();
    let slow = e.attr_helper_out_of_line(n, d, 1, cache, d - 2, done);
    let (borrowed, miss) = owner_in_rax(e, n, owner, slow);
    attr_entry0_address(e, cache, miss, true);
    asm!(e ; mov rdi, [r10]);
    e.load_q(RDX, RBX, value);
    asm!(e ; mov [r10], rdx);
    e.xdecref_rdi(u);
    if !borrowed {
        e.decref_slot(u, owner);
    }
    asm!(e ; =>done);
}
