//! Calls: LOAD_METHOD, PRECALL (bound-method unpacking), KW_NAMES (remembered at compile time
//! for the CALL that follows it) and CALL. CALL goes through `rt_call`: compiled Python
//! callees directly (`call_direct`), plain classes through `construct_direct`, builtin
//! functions and method descriptors straight into their C function (`psyco_call_c`), the rest
//! through vectorcall as ceval does. `len(x)` of a list/tuple/str/dict and `lst.append(x)` with
//! room are done inline, recognized by the callable's identity (`ffi::call_targets`).

use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};

use crate::compiler::emit::{reg::*, asm, BreakerMode, Emitter};
use crate::ffi::layout as L;
use crate::compiler::opcodes as op;
use crate::ffi::runtime as rt;

/// LOAD_METHOD: replace the top `obj` with `meth, obj` or `NULL, attr` (inline-cached, see
/// `csrc/attrcache.c`). Inline, for any entry of the site's cache: the two method kinds,
/// guarded by the type version — the type's instances have no dict, or this instance's dict
/// is still a values array and the name is absent from the type's shared keys (same keys
/// object, same entry count) → push the cached function and keep `obj` as self. Anything else
/// → the helper.
pub fn emit_load_method(e: &mut Emitter, n: usize, d: u32) {
    let s = e.slot(d - 1);
    let s1 = e.slot(d);
    let cache = e.take_attr_cache();
    let done = e.ops.new_dynamic_label();
    // On failure the object is still on the stack, as in ceval.
    let slow = e.attr_helper_out_of_line(n, d, 2, cache, d, done);
    e.load_q(RAX, RBX, s);
    probe_method_cache(e, cache, slow);
    asm!(e
        ; mov r10, [r8 + 16]
        ; add QWORD [r10], 1
    );
    e.store_q(RBX, s, R10);
    e.store_q(RBX, s1, RAX);
    asm!(e ; =>done);
}

/// LOAD_METHOD's inline probe, for the object in rax (kept) and the cache at `cache`: an
/// entry of one of the two method kinds for its type, the instances having no dict or this
/// one's still a values array whose shared keys cannot hold the name. Falls through with the
/// entry in r8 (its function at `[r8 + 16]`); anything else → `miss`. Clobbers rcx, rdx, r9,
/// r10, r11. Also the method lookup of calls inside inlined bodies (`ops::inline`).
pub(super) fn probe_method_cache(e: &mut Emitter, cache: usize, miss: DynamicLabel) {
    let hit = e.ops.new_dynamic_label();
    super::load_store::probe_attr_cache(e, cache, miss, |e, next| {
        asm!(e
            ; mov ecx, [r8 + 4]
            ; cmp ecx, 4
            ; je =>hit
            ; cmp ecx, 5
            ; jne =>next
            ; cmp QWORD [rax + L::OBJECT_MANAGED_DICT], 0
            ; jne =>miss
            ; cmp QWORD [rax + L::OBJECT_VALUES_PTR], 0
            ; je =>miss
            ; mov r10, [rdx + L::HEAPTYPE_CACHED_KEYS]
            ; cmp r10, [r8 + 32]
            ; jne =>next
            ; mov r10, [r10 + L::DICTKEYS_NENTRIES]
            ; cmp r10, [r8 + 40]
            ; jne =>next
        );
    });
    asm!(e ; =>hit);
}

/// PRECALL: if the callable slot holds a bound method (and no LOAD_METHOD split it),
/// unpack it into function + self.
pub fn emit_precall(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg, ins.idx);
    let null_slot = e.slot(d - oparg - 2);
    let callable = e.slot(d - oparg - 1);
    let s = e.slot(d);
    let method_type = rt::method_type() as i64;
    let done = e.ops.new_dynamic_label();
    let unpack = e.out_of_line(n, move |e| {
        e.set_prev(u as i64);
        asm!(e
            ; lea rdi, [rbx + s]
            ; mov esi, oparg as i32
        );
        e.call(rt::rt_precall_unpack as *const () as usize);
        asm!(e ; jmp =>done);
    });
    asm!(e
        ; cmp QWORD [rbx + null_slot], 0
        ; jne =>done
    );
    e.load_q(RAX, RBX, callable);
    asm!(e
        ; mov rcx, QWORD method_type
        ; cmp [rax + 8], rcx
        ; je =>unpack
        ; =>done
    );
}

/// The direct path of a positional CALL into a compiled Python function: `psyco_call_py`
/// (csrc/calls.c) pushes the callee's frame, runs its machine code and pops it, with no
/// vectorcall, hook or Rust layer in between. It declines (returns 1, nothing consumed) for
/// anything else, which then takes the general `rt_call` below. After PRECALL the stack is
/// `[meth, self, args...]` or `[NULL, callable, args...]`. With the shared frame-push stub
/// ([`make_frame_push_stub`]) the site is one call of it, which also falls back to
/// `psyco_call_py` itself.
fn emit_py_call_direct(e: &mut Emitter, u: usize, d: u32, oparg: u32, helper: usize, done: DynamicLabel) {
    let base = e.slot(d - oparg - 2);
    let callable = e.slot(d - oparg - 1);
    let err = e.error_label(u, d - oparg - 2);
    let general = e.ops.new_dynamic_label();
    if let Some(stub) = frame_push_stub() {
        // The stub's contract: eax = `prev_instr`'s displacement from r14, rdx = the pair's
        // address, ecx = oparg.
        asm!(e ; mov eax, (2 * u) as i32);
        e.lea_q(RDX, RBX, base);
        asm!(e
            ; mov ecx, oparg as i32
            ; mov r11, QWORD stub as i64
            ; call r11
        );
    } else {
        e.set_prev(u as i64);
        asm!(e
            ; mov rsi, [rbx + base]
            ; test rsi, rsi
            ; jz >function
            ; lea rdx, [rbx + callable]
            ; mov ecx, (oparg + 1) as i32
            ; jmp >call_py
            ; function:
            ; mov rsi, [rbx + callable]
            ; lea rdx, [rbx + callable + 8]
            ; mov ecx, oparg as i32
            ; call_py:
            ; mov rdi, r13
        );
        e.call(helper);
    }
    asm!(e
        ; cmp rax, 1
        ; je =>general
        ; test rax, rax
        ; jz =>err
    );
    e.store_q(RBX, base, RAX);
    asm!(e
        ; jmp =>done
        ; =>general
    );
}

/// The frame-push stub, once made ([`make_frame_push_stub`]); None before, or if it cannot be.
static FRAME_PUSH_STUB: std::sync::OnceLock<Option<crate::x86::ExecBuffer>> = std::sync::OnceLock::new();

/// The address of the shared frame-push stub, if made (see [`make_frame_push_stub`]).
pub fn frame_push_stub() -> Option<usize> {
    FRAME_PUSH_STUB.get().and_then(|b| b.as_ref()).map(|b| b.addr())
}

/// Makes the shared frame-push stub, once (GIL held: it is placed in the code arena). One copy
/// of this code serves every call site (it used to be inlined at each, which cost instruction
/// cache). Its contract, private to [`emit_py_call_direct`]: in, eax = the caller's
/// `prev_instr` as a displacement from r14 (the stub stores it), rdx = the address of the
/// `[NULL or method, callable, args...]` pair, ecx = CALL's oparg, r12/r13/r14 as in compiled
/// code; out, rax = the call's result (NULL with an exception set) or 1: declined, nothing
/// consumed, for the general path. Clobbers the caller-saved registers and rbp.
///
/// What it does: for a compiled function called positionally with exactly its parameter count
/// (the shape its record holds, `CodeRecord::direct_argcount`), no tracer, a recursion unit to
/// spare at a depth that is at most 64 or not a multiple of 64 (at 128, 192, ... the call goes
/// through `psyco_call_py`, which also checks the C stack: its margin, at least 16 KiB, holds
/// the 64 levels to the next check, about 150 bytes of machine stack each) and room
/// in the data stack's chunk, it pushes and initializes the frame as
/// `_PyFrame_InitializeSpecials` does (the frame takes the references to the function and the
/// arguments), links it under the current frame with one recursion unit, calls the machine
/// code and unlinks it. A result from a frame no frame object took is cleared and popped right
/// there (what `psyco_pop_frame` does); NULL, an exit into the interpreter or a frame object
/// go to `psyco_direct_return` (C), which finishes the exit and pops the frame, handing it to
/// the frame object if one outlives it. These are `psyco_call_py`'s steps without its C prologue
/// and generic checks. Any other Python function is handed to `psyco_call_py` (a tail call);
/// anything that is not a Python function is declined.
pub fn make_frame_push_stub() {
    FRAME_PUSH_STUB.get_or_init(|| {
        use crate::queue::{REC_DIRECT_ARGCOUNT, REC_DIRECT_FRAME_BYTES, REC_DIRECT_NLOCALSPLUS};
        let idx = crate::ffi::extra_index_now();
        let ret = crate::ffi::direct_return_helper()?;
        let call_py = crate::ffi::call_py_helper()? as i64;
        let dealloc = rt::dealloc_addr() as i64;
        const EXIT_MAX: i32 = crate::compiler::emit::EXIT_ERROR as i32;
        if !(0..1000).contains(&idx) || L::FRAME_OWNER != L::FRAME_IS_ENTRY + 1 {
            return None;
        }
        let idx = idx as i32;
        let func_t = rt::function_type() as i64;
        let mut ops = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(0);
        dynasm!(ops
            ; .arch x64
            // Two spare words (the result and an index while the callee's frame is cleared)
            // and the alignment word: rsp stays 16-aligned at the calls made from here.
            ; sub rsp, 24
            ; lea rax, [r14 + rax]
            ; mov [r12 + L::FRAME_PREV_INSTR], rax
            // rsi = the callable, rdx = its arguments, ecx = their count (self included).
            ; mov rsi, [rdx]
            ; test rsi, rsi
            ; jz ->function
            ; add ecx, 1
            ; add rdx, 8
            ; jmp ->shaped
            ; ->function:
            ; mov rsi, [rdx + 8]
            ; add rdx, 16
            ; ->shaped:
            // The record of the callable's code, with machine code and this call's shape.
            ; mov rax, QWORD func_t
            ; cmp [rsi + L::OB_TYPE], rax
            ; jne ->not_a_function
            ; mov rdi, [rsi + L::FUNC_CODE]
            ; mov rax, [rdi + L::CODE_EXTRA]
            ; test rax, rax
            ; jz ->decline
            ; cmp QWORD [rax], idx
            ; jle ->decline
            ; mov r8, [rax + 8 + 8 * idx]
            ; test r8, r8
            ; jz ->decline
            ; cmp QWORD [r8], 0
            ; je ->decline
            ; cmp DWORD [r8 + REC_DIRECT_ARGCOUNT], ecx
            ; jne ->decline
            // No tracer; a recursion unit to spare; not a depth where the C stack is checked.
            ; mov r9, [r13 + L::TSTATE_CFRAME]
            ; cmp BYTE [r9 + L::CFRAME_USE_TRACING], 0
            ; jne ->decline
            ; mov r10d, [r13 + L::TSTATE_RECURSION_REMAINING]
            ; cmp r10d, 0
            ; jle ->decline
            ; mov eax, [r13 + L::TSTATE_RECURSION_LIMIT]
            ; sub eax, r10d
            ; cmp eax, 64
            ; jle ->shallow
            ; test eax, 63
            ; jz ->decline
            ; ->shallow:
            // Room in the data stack's chunk (`_PyThreadState_HasStackSpace`).
            ; mov r10, [r13 + L::TSTATE_DATASTACK_TOP]
            ; test r10, r10
            ; jz ->decline
            ; mov r11, [r8 + REC_DIRECT_FRAME_BYTES]
            ; add r11, r10
            ; cmp r11, [r13 + L::TSTATE_DATASTACK_LIMIT]
            ; jae ->decline
            // The call is made from here on: the frame takes the references to the function
            // and the arguments.
            ; mov [r13 + L::TSTATE_DATASTACK_TOP], r11
            ; mov rbp, r10
            ; mov [rbp + L::FRAME_F_FUNC], rsi
            ; add QWORD [rdi], 1
            ; mov [rbp + L::FRAME_F_CODE], rdi
            ; mov rax, [rsi + L::FUNC_BUILTINS]
            ; mov [rbp + L::FRAME_F_BUILTINS], rax
            ; mov rax, [rsi + L::FUNC_GLOBALS]
            ; mov [rbp + L::FRAME_F_GLOBALS], rax
            ; mov QWORD [rbp + L::FRAME_F_LOCALS], 0
            ; mov eax, [r8 + REC_DIRECT_NLOCALSPLUS]
            ; mov [rbp + L::FRAME_STACKTOP], eax
            ; mov QWORD [rbp + L::FRAME_FRAME_OBJ], 0
            ; lea r11, [rdi + L::CODE_CODE_ADAPTIVE - 2]
            ; mov [rbp + L::FRAME_PREV_INSTR], r11
            ; mov WORD [rbp + L::FRAME_IS_ENTRY], 0
            ; xor r10d, r10d
            ; ->copy_arg:
            ; cmp r10, rcx
            ; jae ->clear_local
            ; mov r11, [rdx + r10 * 8]
            ; mov [rbp + r10 * 8 + L::FRAME_LOCALSPLUS], r11
            ; add r10, 1
            ; jmp ->copy_arg
            ; ->clear_local:
            ; cmp r10, rax
            ; jae ->locals_ready
            ; mov QWORD [rbp + r10 * 8 + L::FRAME_LOCALSPLUS], 0
            ; add r10, 1
            ; jmp ->clear_local
            ; ->locals_ready:
            // Linked under the current frame (the caller's), one recursion unit, run.
            ; mov rax, [r9 + L::CFRAME_CURRENT_FRAME]
            ; mov [rbp + L::FRAME_PREVIOUS], rax
            ; mov [r9 + L::CFRAME_CURRENT_FRAME], rbp
            ; sub DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
            ; mov rdi, r13
            ; mov rsi, rbp
            ; call QWORD [r8]
            ; mov r9, [r13 + L::TSTATE_CFRAME]
            ; mov rcx, [rbp + L::FRAME_PREVIOUS]
            ; mov [r9 + L::CFRAME_CURRENT_FRAME], rcx
            // A result (not NULL or an exit into the interpreter) from a frame no frame object
            // took: clear and pop it here, as `_PyEvalFrameClearAndPop` does — the locals
            // in order, then f_locals, the function and the code, with the recursion unit still
            // held — keeping the result and the next local's index in this frame's two spare
            // words across destructors. Anything else: `psyco_direct_return` (C).
            ; cmp rax, EXIT_MAX
            ; jbe ->slow_return
            ; cmp QWORD [rbp + L::FRAME_FRAME_OBJ], 0
            ; jne ->slow_return
            ; mov [rsp], rax
            ; mov QWORD [rsp + 8], 0
            ; ->release_local:
            ; mov rcx, [rsp + 8]
            ; cmp ecx, DWORD [rbp + L::FRAME_STACKTOP]
            ; jge ->locals_released
            ; add QWORD [rsp + 8], 1
            ; mov rdi, [rbp + rcx * 8 + L::FRAME_LOCALSPLUS]
            ; test rdi, rdi
            ; jz ->release_local
            ; sub QWORD [rdi], 1
            ; jnz ->release_local
            ; mov rax, QWORD dealloc
            ; call rax
            ; jmp ->release_local
            ; ->locals_released:
        );
        // f_locals (may be NULL), the function, the code.
        for field in [L::FRAME_F_LOCALS, L::FRAME_F_FUNC, L::FRAME_F_CODE] {
            dynasm!(ops
                ; .arch x64
                ; mov rdi, [rbp + field]
            );
            if field == L::FRAME_F_LOCALS {
                dynasm!(ops
                    ; .arch x64
                    ; test rdi, rdi
                    ; jz >kept
                );
            }
            dynasm!(ops
                ; .arch x64
                ; sub QWORD [rdi], 1
                ; jnz >kept
                ; mov rax, QWORD dealloc
                ; call rax
                ; kept:
            );
        }
        dynasm!(ops
            ; .arch x64
            ; add DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
            ; mov [r13 + L::TSTATE_DATASTACK_TOP], rbp
            ; mov rax, [rsp]
            ; add rsp, 24
            ; ret
            ; ->slow_return:
            ; add DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
            ; mov rdi, r13
            ; mov rsi, rbp
            ; mov rdx, rax
            ; mov rax, QWORD ret as i64
            ; call rax
            ; add rsp, 24
            ; ret
            ; ->not_a_function:
            ; mov eax, 1
            ; add rsp, 24
            ; ret
            // Another Python function: `psyco_call_py(tstate, callable, args, nargs)`, whose
            // result (or 1, declined) goes straight back to the call site.
            ; ->decline:
            ; add rsp, 24
            ; mov rdi, r13
            ; mov rax, QWORD call_py
            ; jmp rax
        );
        let code = ops.finalize().ok()?;
        let mut buf = crate::x86::ExecBuffer::new(&code).ok()?;
        // `sub rsp, 24` (4 bytes): the frame at every call the stub makes, for the unwinder.
        buf.describe_frame(&[crate::x86::unwind::FrameStep { advance: 4, cfa_offset: 32, saved: None }]);
        crate::x86::perf_map_note(buf.addr(), buf.len(), || "psyco::frame_push_stub".to_string());
        Some(buf)
    });
}

/// KW_NAMES: nothing at run time; the next CALL passes `co_consts[arg]` as kwnames.
pub fn emit_kw_names(e: &mut Emitter, n: usize, _d: u32) {
    let a = e.snap.instrs[n].arg as usize;
    e.kwnames = e.snap.consts[a];
}

/// CALL: vectorcall the callable with `arg` (+1 for a method) arguments; then poll the eval
/// breaker like ceval (deopting after the call if it cannot be handled here).
pub fn emit_call(e: &mut Emitter, n: usize, d: u32) {
    let ins = &e.snap.instrs[n];
    let (oparg, u) = (ins.arg, ins.idx);
    let s = e.slot(d);
    let kw = std::mem::take(&mut e.kwnames) as i64;
    let done = e.ops.new_dynamic_label();
    let (len_obj, append_obj) = crate::ffi::call_targets();
    // Which inline paths are worth their code depends on where the callable came from (names
    // are interned: compared by identity). Each path checks at run time anyway.
    let producer = callable_producer(e, n, d, oparg);
    if kw == 0 && len_obj != 0 {
        let (len_name, append_name) = crate::ffi::call_target_names();
        let global = |name: usize| matches!(producer, Some(Producer::Global(g)) if g == name);
        if oparg == 1 && global(len_name) {
            emit_len_inline(e, u, d, len_obj as i64);
        }
        if oparg == 1 && global(crate::ffi::type_name()) {
            emit_type_inline(e, u, d);
        }
        let (isinstance_obj, isinstance_name) = crate::ffi::isinstance_target();
        if oparg == 2 && isinstance_obj != 0 && global(isinstance_name) {
            emit_isinstance_inline(e, u, d, isinstance_obj as i64);
        }
        let range_name = crate::ffi::range_name();
        if (1..=3).contains(&oparg)
            && range_name != 0
            && global(range_name)
            && e.snap.instrs.get(n + 1).is_some_and(|i| i.op == op::GET_ITER)
            && !e.snap.is_target[n + 1]
            && e.snap.depth.get(n + 2).is_some_and(|d| d.is_some())
        {
            emit_range_iter_inline(e, n, u, d, oparg);
        }
        if oparg == 1 && matches!(producer, Some(Producer::Method(m)) if m == append_name) {
            emit_list_append_inline(e, u, d, append_obj as i64);
        }
        let c_worthy = match producer {
            Some(Producer::Global(g)) => crate::ffi::builtin_c_names().contains(&g),
            Some(Producer::Method(_)) | Some(Producer::Attr) => true,
            None => false,
        };
        if oparg <= 4 && c_worthy {
            emit_c_call_inline(e, n, u, d, oparg, done, matches!(producer, Some(Producer::Method(_))));
        }
    }
    if kw == 0 {
        let key = match producer {
            Some(Producer::Global(g)) => Some(crate::compiler::bytecode::LeafKey::Global(g)),
            Some(Producer::Method(m)) => Some(crate::compiler::bytecode::LeafKey::Method(m)),
            _ => None,
        };
        if let Some(key) = key {
            super::inline::emit_leaf_calls(e, u, d, oparg, key, done);
        }
        if let Some(helper) = crate::ffi::call_py_helper() {
            // A global that names a builtin C function is not worth the Python path's code.
            let builtin = match producer {
                Some(Producer::Global(g)) => {
                    let (len_name, _) = crate::ffi::call_target_names();
                    g == len_name || g == crate::ffi::type_name() || crate::ffi::builtin_c_names().contains(&g)
                }
                _ => false,
            };
            if !builtin {
                emit_py_call_direct(e, u, d, oparg, helper, done);
            }
        }
    }
    e.set_prev(u as i64);
    asm!(e
        ; lea rdi, [rbx + s]
        ; mov esi, oparg as i32
        ; mov rdx, QWORD kw
        ; mov rcx, r13
    );
    e.call(rt::rt_call as *const () as usize);
    e.check_error(u, d - oparg - 2);
    asm!(e
        ; =>done
        ; call_done:
    );
    if n + 1 < e.snap.instrs.len() && e.snap.depth[n + 1].is_some() {
        // ceval polls right after the call, with the result on the stack.
        let mode = BreakerMode::HandleHere { err_unit: u, err_depth: d - oparg - 1 };
        e.check_eval_breaker(n + 1, u as i64, mode);
        e.check_tracing(n + 1);
    }
}

/// CALL of `len(x)` (PRECALL_NO_KW_LEN's case) for an exact list, tuple, str, dict, set or
/// frozenset: the stack is `[NULL, len, x]` with `len` the builtin itself (compared by
/// identity); the length is the word the first four keep at the same offset, or a set's
/// `used`. The result is boxed inline when small. Anything else falls through to the generic
/// call.
fn emit_len_inline(e: &mut Emitter, u: usize, d: u32, len_obj: i64) {
    const _: () = assert!(L::VAR_OB_SIZE == L::STR_LENGTH && L::VAR_OB_SIZE == L::DICT_MA_USED);
    let (null_slot, arg) = (e.slot(d - 3), e.slot(d - 1));
    let (list_t, tuple_t, str_t, dict_t) = (rt::list_type() as i64, rt::tuple_type() as i64, rt::str_type() as i64, rt::dict_type() as i64);
    let (set_t, frozenset_t) = (rt::set_type() as i64, rt::frozenset_type() as i64);
    let err = e.error_label(u, d);
    let not_len = e.ops.new_dynamic_label();
    guard_function_callee(e, d, 1, len_obj, not_len);
    asm!(e
        ; mov rbp, [rbx + arg]
        ; mov rdx, [rbp + L::OB_TYPE]
        ; mov rcx, QWORD list_t
        ; cmp rdx, rcx
        ; je >sized
        ; mov rcx, QWORD tuple_t
        ; cmp rdx, rcx
        ; je >sized
        ; mov rcx, QWORD str_t
        ; cmp rdx, rcx
        ; je >sized
        ; mov rcx, QWORD dict_t
        ; cmp rdx, rcx
        ; je >sized
        // Sets keep their size in `used`, at another offset.
        ; mov rcx, QWORD set_t
        ; cmp rdx, rcx
        ; je >set_sized
        ; mov rcx, QWORD frozenset_t
        ; cmp rdx, rcx
        ; jne =>not_len
        ; set_sized:
        ; mov r8, [rbp + L::SET_USED]
        ; jmp >have_len
        ; sized:
        ; mov r8, [rbp + L::VAR_OB_SIZE]
        ; have_len:
    );
    e.set_prev(u as i64);
    e.box_int_r8();
    asm!(e
        ; test rax, rax
        ; jz =>err
        ; mov [rbx + null_slot], rax
        ; mov rdi, rbp
    );
    e.decref_rdi(u);
    asm!(e ; mov rdi, QWORD len_obj);
    e.decref_rdi(u);
    asm!(e
        ; jmp >call_done
        ; =>not_len
    );
}

/// CALL of `range(...)` right before GET_ITER (a `for` loop's header): `[NULL, range, args]`
/// with `range` the builtin type itself and one to three exact ints below 2**40 in magnitude
/// (a non-zero step) becomes at once the iterator `iter(range(...))` would make
/// (`rt_range_iter`), and GET_ITER is skipped. The poll after CALL is done as for any call; a
/// deopt there resumes at GET_ITER, which returns the iterator itself. Anything else falls
/// through to the generic call.
fn emit_range_iter_inline(e: &mut Emitter, n: usize, u: usize, d: u32, k: u32) {
    let base = d - k - 2;
    let null_slot = e.slot(base);
    let (range_t, long_t) = (rt::range_type() as i64, rt::long_type() as i64);
    let miss = e.ops.new_dynamic_label();
    let err = e.error_label(u, d);
    guard_function_callee(e, d, k, range_t, miss);
    asm!(e
        ; xor r8, r8 // start
        ; mov r10, 1 // step
    );
    // The arguments into (start, stop, step) = r8, r9, r10.
    let dsts: &[u8] = match k {
        1 => &[9],
        2 => &[8, 9],
        _ => &[8, 9, 10],
    };
    for (j, &dst) in dsts.iter().enumerate() {
        let slot = e.slot(base + 2 + j as u32);
        asm!(e
            ; mov rax, [rbx + slot]
            ; mov rcx, QWORD long_t
            ; cmp [rax + L::OB_TYPE], rcx
            ; jne =>miss
        );
        super::arith::int_value(e, 0, dst, 11, 2, miss); // temporaries r11 and rdx
        asm!(e
            ; mov rcx, QWORD 1i64 << 40
            ; add rcx, Rq(dst)
            ; shr rcx, 41
            ; jnz =>miss
        );
    }
    asm!(e
        ; test r10, r10
        ; jz =>miss // range() arg 3 must not be zero: the generic call raises
        ; mov rdi, r8
        ; mov rsi, r9
        ; mov rdx, r10
    );
    e.set_prev(u as i64);
    e.call(rt::rt_range_iter as *const () as usize);
    asm!(e
        ; test rax, rax
        ; jz =>err
        ; mov [rbx + null_slot], rax
        // `range` is a static type: its count never reaches zero here.
        ; mov rax, QWORD range_t
        ; sub QWORD [rax], 1
    );
    for j in 0..k {
        let slot = e.slot(base + 2 + j);
        asm!(e ; mov rdi, [rbx + slot]);
        e.decref_rdi(u);
    }
    let mode = BreakerMode::HandleHere { err_unit: u, err_depth: d - k - 1 };
    e.check_eval_breaker(n + 1, u as i64, mode);
    e.check_tracing(n + 1);
    let after = e.labels[n + 2];
    asm!(e
        ; jmp =>after
        ; =>miss
    );
}

/// CALL of `lst.append(x)` (PRECALL_NO_KW_LIST_APPEND's case) after LOAD_METHOD: the stack is
/// `[list.append descriptor, lst, x]`; an exact list with room takes `x`'s reference
/// ([`super::build::append_with_room`]) and the call's result is None.
fn emit_list_append_inline(e: &mut Emitter, u: usize, d: u32, append_obj: i64) {
    let (meth, slf, arg) = (e.slot(d - 3), e.slot(d - 2), e.slot(d - 1));
    let none = rt::py_none() as i64;
    let not_append = e.ops.new_dynamic_label();
    asm!(e
        ; mov rax, QWORD append_obj
        ; cmp [rbx + meth], rax
        ; jne =>not_append
    );
    super::build::append_with_room(e, slf, arg, not_append);
    asm!(e
        // The descriptor lives in list's type dict for the life of the process: its count
        // never reaches zero here.
        ; mov rax, QWORD append_obj
        ; sub QWORD [rax], 1
        ; mov rax, QWORD none
        ; add QWORD [rax], 1
        ; mov [rbx + meth], rax
    );
    e.decref_rdi(u);
    asm!(e
        ; jmp >call_done
        ; =>not_append
    );
}

/// The `ml_flags` bits that choose a C function's calling convention (as `PyCFunction_New` and
/// `descr_new` use them), and the conventions called inline.
const CONVENTION: i32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x80 | 0x200;
const METH_NOARGS: i32 = 0x4;
const METH_O: i32 = 0x8;
const METH_FASTCALL: i32 = 0x80;
const METH_FASTCALL_KEYWORDS: i32 = 0x80 | 0x2;
const METH_STATIC: i32 = 0x20;

/// CALL of a C function without keywords, as 3.11's PRECALL_NO_KW_METHOD_DESCRIPTOR_* and
/// PRECALL_BUILTIN_* do it: the C function of a method descriptor (after LOAD_METHOD: `[descr,
/// self, args...]`, `self` exactly of the descriptor's class) or of a builtin function (`[NULL,
/// f, args...]`, not METH_STATIC) is called straight through its `PyMethodDef`, for the
/// METH_NOARGS, METH_O and METH_FASTCALL(|METH_KEYWORDS) conventions, with the recursion
/// counter counted around it as ceval does. A NULL result leaves everything on the stack for
/// the error exit (the C function set the exception). Anything else falls through.
fn emit_c_call_inline(e: &mut Emitter, n: usize, u: usize, d: u32, k: u32, done: DynamicLabel, method_site: bool) {
    let (meth, slf) = (e.slot(d - k - 2), e.slot(d - k - 1));
    let generic = e.ops.new_dynamic_label();
    let c_function = e.ops.new_dynamic_label();
    let (descr_t, cfunc_t) = (rt::method_descr_type() as i64, rt::cfunction_type() as i64);
    // Out of line: most call sites call Python functions, which pass only the type checks.
    let descriptor = e.out_of_line(n, move |e| {
        asm!(e
            // Method descriptor (in rax): self is in the callable slot, the k arguments
            // follow it.
            ; mov r8, [rbx + slf]
            ; mov rdx, [r8 + L::OB_TYPE]
            ; cmp rdx, [rax + L::DESCR_D_TYPE]
            ; jne =>generic
            ; mov r9, [rax + L::METHODDESCR_D_METHOD]
            ; mov r10d, [r9 + L::METHODDEF_ML_FLAGS]
            ; jmp >common
            // Builtin function (in rax): its self is m_self, the k arguments follow the
            // function.
            ; =>c_function
            ; mov r9, [rax + L::CFUNCTION_M_ML]
            ; mov r10d, [r9 + L::METHODDEF_ML_FLAGS]
            ; test r10d, METH_STATIC
            ; jnz =>generic
            ; mov r8, [rax + L::CFUNCTION_M_SELF]
            ; common:
            ; and r10d, CONVENTION
        );
        emit_c_convention_call(e, u, k, d - k, generic);
        let err = e.error_label(u, d);
        check_c_result(e, meth, slf, err);
        // Release the arguments, the callable slot (self or the function) and the method slot
        // (the descriptor, or the NULL of a function call); the result takes the method slot.
        for i in 0..k {
            let a = e.slot(d - k + i);
            e.decref_slot(u, a);
        }
        e.decref_slot(u, slf);
        asm!(e ; mov rdi, [rbx + meth]);
        e.xdecref_rdi(u);
        asm!(e
            ; mov [rbx + meth], rbp
            ; jmp =>done
        );
    });
    // The type check the site's callable most likely needs is in line, the other out of line:
    // after LOAD_METHOD the method slot holds a method descriptor or a function; otherwise it
    // is NULL and the callable a builtin function or anything else.
    e.load_q(RAX, RBX, meth);
    if method_site {
        let function_check = e.out_of_line(n, move |e| {
            e.load_q(RAX, RBX, slf);
            asm!(e
                ; mov rdx, QWORD cfunc_t
                ; cmp [rax + L::OB_TYPE], rdx
                ; je =>c_function
                ; jmp =>generic
            );
        });
        asm!(e
            ; test rax, rax
            ; jz =>function_check
            ; mov rdx, QWORD descr_t
            ; cmp [rax + L::OB_TYPE], rdx
            ; je =>descriptor
            ; =>generic
        );
    } else {
        let descriptor_check = e.out_of_line(n, move |e| {
            asm!(e
                ; mov rdx, QWORD descr_t
                ; cmp [rax + L::OB_TYPE], rdx
                ; je =>descriptor
                ; jmp =>generic
            );
        });
        asm!(e ; test rax, rax ; jnz =>descriptor_check);
        e.load_q(RAX, RBX, slf);
        asm!(e
            ; mov rdx, QWORD cfunc_t
            ; cmp [rax + L::OB_TYPE], rdx
            ; je =>c_function
            ; =>generic
        );
    }
}

/// After the C call: a result with no exception pending moves to `rbp`; anything else goes to
/// the error exit `err` through `_Py_CheckFunctionResult` (what the generic path checks: NULL
/// without an exception, or a result with one, becomes CPython's SystemError).
fn check_c_result(e: &mut Emitter, meth: i32, slf: i32, err: DynamicLabel) {
    asm!(e
        ; test rax, rax
        ; jz >c_bad
        ; cmp QWORD [r13 + L::TSTATE_CUREXC_TYPE], 0
        ; je >c_ok
        ; c_bad:
        ; mov rdi, r13
        // The callable: the descriptor in the method slot, else the function after it.
        ; mov rsi, [rbx + meth]
        ; test rsi, rsi
        ; cmovz rsi, [rbx + slf]
        ; mov rdx, rax
    );
    e.call(rt::rt_check_c_result as *const () as usize);
    asm!(e
        ; jmp =>err
        ; c_ok:
        ; mov rbp, rax
    );
}

/// With `r8` = self, `r9` = the `PyMethodDef`, `r10d` = its convention bits and the `k`
/// arguments at slots `first..`: sets up the C call for the conventions handled inline (else
/// jumps to `generic`, nothing changed), counts the recursion (a counter that runs out also
/// goes to `generic`, which raises through the ordinary path), calls, and leaves the result in
/// `rax` with the counter restored.
fn emit_c_convention_call(e: &mut Emitter, u: usize, k: u32, first: u32, generic: DynamicLabel) {
    let args = e.slot(first);
    let ready = e.ops.new_dynamic_label();
    let fast = e.ops.new_dynamic_label();
    let rec_out = e.ops.new_dynamic_label();
    let called = e.ops.new_dynamic_label();
    if k == 0 {
        asm!(e
            ; cmp r10d, METH_NOARGS
            ; jne >not_noargs
            ; xor esi, esi
            ; jmp =>ready
            ; not_noargs:
        );
    }
    if k == 1 {
        asm!(e
            ; cmp r10d, METH_O
            ; jne >not_o
            ; mov rsi, [rbx + args]
            ; jmp =>ready
            ; not_o:
        );
    }
    asm!(e
        ; cmp r10d, METH_FASTCALL
        ; je =>fast
        ; cmp r10d, METH_FASTCALL_KEYWORDS
        ; jne =>generic
        ; =>fast
        ; lea rsi, [rbx + args]
        ; mov edx, k as i32
        ; xor ecx, ecx
        ; =>ready
        ; sub DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
        ; jl =>rec_out
    );
    e.set_prev(u as i64);
    asm!(e
        ; mov rdi, r8
        ; mov rax, [r9 + L::METHODDEF_ML_METH]
        ; call rax
        ; add DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
        ; jmp =>called
        ; =>rec_out
        ; add DWORD [r13 + L::TSTATE_RECURSION_REMAINING], 1
        ; jmp =>generic
        ; =>called
    );
}

/// The guard of a `k`-argument call of a known object `callee` (by identity) loaded as a
/// function, `[NULL, callee, args...]`: anything else jumps to `miss`. Leaves `callee` in `rax`.
fn guard_function_callee(e: &mut Emitter, d: u32, k: u32, callee: i64, miss: DynamicLabel) {
    let (null_slot, callable) = (e.slot(d - k - 2), e.slot(d - k - 1));
    asm!(e
        ; cmp QWORD [rbx + null_slot], 0
        ; jne =>miss
        ; mov rax, QWORD callee
        ; cmp [rbx + callable], rax
        ; jne =>miss
    );
}

/// CALL of `type(x)` (PRECALL_NO_KW_TYPE_1's case): `[NULL, type, x]` with the callable the
/// `type` object itself gives `x`'s type.
fn emit_type_inline(e: &mut Emitter, u: usize, d: u32) {
    let (null_slot, arg) = (e.slot(d - 3), e.slot(d - 1));
    let type_t = rt::type_type() as i64;
    let not_type = e.ops.new_dynamic_label();
    guard_function_callee(e, d, 1, type_t, not_type);
    asm!(e
        // `type` is a static object: its count never reaches zero here.
        ; sub QWORD [rax], 1
        ; mov rdi, [rbx + arg]
        ; mov rax, [rdi + L::OB_TYPE]
        ; add QWORD [rax], 1
        ; mov [rbx + null_slot], rax
    );
    e.decref_rdi(u);
    asm!(e
        ; jmp >call_done
        ; =>not_type
    );
}

/// CALL of `isinstance(x, cls)` (PRECALL_NO_KW_ISINSTANCE's case): `[NULL, isinstance, x,
/// cls]` with the callable the builtin itself. An object of exactly `cls` is an instance (the
/// first test of `PyObject_IsInstance`); anything else is one call of `PyObject_IsInstance`
/// (subclasses, tuples of classes, `__instancecheck__`, its errors), as ceval makes it. Then
/// the operands are released (object, class; the builtin lives on in the builtins module) and
/// the bool replaces them; an error leaves the stack empty of all four.
fn emit_isinstance_inline(e: &mut Emitter, u: usize, d: u32, isinstance_obj: i64) {
    let (null_slot, inst, cls) = (e.slot(d - 4), e.slot(d - 2), e.slot(d - 1));
    let (t, f) = (rt::py_true() as i64, rt::py_false() as i64);
    let not_isinstance = e.ops.new_dynamic_label();
    guard_function_callee(e, d, 2, isinstance_obj, not_isinstance);
    let err = e.error_label(u, d - 4);
    let (check, decided) = (e.ops.new_dynamic_label(), e.ops.new_dynamic_label());
    e.set_prev(u as i64); // clobbers rax only
    e.load_q(RDI, RBX, inst);
    e.load_q(RSI, RBX, cls);
    asm!(e
        ; mov eax, 1
        ; cmp [rdi + L::OB_TYPE], rsi
        ; jne =>check
        ; =>decided
        ; movsxd rbp, eax
    );
    e.out_of_line_here_to(check, move |e| {
        e.call(rt::is_instance());
        asm!(e ; jmp =>decided);
    });
    e.decref_slot(u, inst);
    e.decref_slot(u, cls);
    asm!(e
        // The builtin is held by the builtins module (and psyco): never released here.
        ; mov rax, QWORD isinstance_obj
        ; sub QWORD [rax], 1
        ; test rbp, rbp
        ; js =>err
        ; mov rax, QWORD f
        ; mov rcx, QWORD t
        ; cmovnz rax, rcx
        ; add QWORD [rax], 1
    );
    e.store_q(RBX, null_slot, RAX);
    asm!(e
        ; jmp >call_done
        ; =>not_isinstance
    );
}

/// Where a CALL's callable came from, as far as the bytecode shows.
#[derive(Clone, Copy)]
enum Producer {
    /// `LOAD_GLOBAL NULL + name` (the interned name).
    Global(usize),
    /// `obj.name(...)` through LOAD_METHOD (the interned name).
    Method(usize),
    /// `obj.name(...)` through LOAD_ATTR (3.11's form for an imported module's function).
    Attr,
}

/// FOR_ITER `n` iterates over `range(...)` as called by the loop header right before it
/// (`CALL range; GET_ITER; FOR_ITER`, the name `range` loaded as a global).
pub fn iterates_range_call(e: &Emitter, n: usize) -> bool {
    let snap = e.snap;
    let range_name = crate::ffi::range_name();
    if n < 2 || range_name == 0 || snap.instrs[n - 1].op != op::GET_ITER || snap.instrs[n - 2].op != op::CALL {
        return false;
    }
    let Some(d) = snap.depth[n - 2] else { return false };
    matches!(callable_producer(e, n - 2, d, snap.instrs[n - 2].arg), Some(Producer::Global(g)) if g == range_name)
}

/// Where CALL `n`'s `[NULL or method, callable]` pair came from: found from the last
/// instructions before it that ran at the pair's depth and one above (the arguments never go
/// below), with no jump target in between. None for any other shape.
fn callable_producer(e: &Emitter, n: usize, d: u32, k: u32) -> Option<Producer> {
    let snap = e.snap;
    let base = d.checked_sub(k + 2)?;
    // The last instructions before n that started at depth `base` and `base + 1`.
    let (mut at_base, mut at_next) = (None, None);
    let mut m = n;
    while m > 0 {
        m -= 1;
        if snap.is_target[m + 1] {
            return None;
        }
        match snap.depth[m] {
            Some(x) if x == base => {
                at_base = Some(m);
                break;
            }
            Some(x) if x == base + 1 && at_next.is_none() => at_next = Some(m),
            Some(x) if x < base => return None,
            None => return None,
            _ => {}
        }
    }
    let ins = &snap.instrs[at_base?];
    if ins.op == op::LOAD_GLOBAL && ins.arg & 1 == 1 {
        let next = snap.instrs.get(at_base? + 1)?;
        return Some(if next.op == op::LOAD_ATTR { Producer::Attr } else { Producer::Global(snap.names[(ins.arg >> 1) as usize]) });
    }
    let m1 = &snap.instrs[at_next?];
    (m1.op == op::LOAD_METHOD).then(|| Producer::Method(snap.names[m1.arg as usize]))
}
