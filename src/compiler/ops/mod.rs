//! One `emit_<opname>` per opcode, grouped by family; [`emit_instr`] is the one `match` over
//! every opcode of 3.11. Opcodes without a native template have an explicit arm that leaves for
//! the interpreter at that instruction (a deopt exit), so every code object is compilable.
//!
//! Each template receives the instruction's position `n` and the stack depth `d` before it, and
//! must leave the stack at `d + effect` on fall-through (or `d + effect_jump` when jumping), as
//! computed by `bytecode::depths` from CPython's own stack effects.

pub mod arith;
pub mod build;
pub mod call;
pub mod compare;
pub mod jump;
pub mod load_store;

use super::emit::{Emitter, GuardKind};
use super::opcodes as op;

/// Emits the code for instruction `n` (reachable, depth `d`).
pub fn emit_instr(e: &mut Emitter, n: usize, d: u32) {
    let opc = e.snap.instrs[n].op;
    match opc {
        op::NOP => {}
        op::RESUME => jump::emit_resume(e, n, d),
        op::LOAD_FAST | op::LOAD_CLOSURE => load_store::emit_load_fast(e, n, d),
        op::STORE_FAST => load_store::emit_store_fast(e, n, d),
        op::DELETE_FAST => load_store::emit_delete_fast(e, n, d),
        op::LOAD_CONST => load_store::emit_load_const(e, n, d),
        op::LOAD_GLOBAL => load_store::emit_load_global(e, n, d),
        op::LOAD_DEREF => load_store::emit_load_deref(e, n, d),
        op::STORE_DEREF => load_store::emit_store_deref(e, n, d),
        op::MAKE_CELL => load_store::emit_make_cell(e, n, d),
        op::COPY_FREE_VARS => load_store::emit_copy_free_vars(e, n, d),
        op::POP_TOP => load_store::emit_pop_top(e, n, d),
        op::PUSH_NULL => load_store::emit_push_null(e, n, d),
        op::COPY => load_store::emit_copy(e, n, d),
        op::SWAP => load_store::emit_swap(e, n, d),
        op::LOAD_ATTR => load_store::emit_load_attr(e, n, d),
        op::STORE_ATTR => load_store::emit_store_attr(e, n, d),
        op::BINARY_OP => arith::emit_binary_op(e, n, d),
        op::UNARY_POSITIVE | op::UNARY_NEGATIVE | op::UNARY_INVERT | op::UNARY_NOT => arith::emit_unary(e, n, d),
        op::BINARY_SUBSCR => arith::emit_binary_subscr(e, n, d),
        op::STORE_SUBSCR => arith::emit_store_subscr(e, n, d),
        op::COMPARE_OP => compare::emit_compare_op(e, n, d),
        op::IS_OP => compare::emit_is_op(e, n, d),
        op::CONTAINS_OP => compare::emit_contains_op(e, n, d),
        op::JUMP_FORWARD | op::JUMP_BACKWARD_NO_INTERRUPT => jump::emit_jump(e, n, d),
        op::JUMP_BACKWARD => jump::emit_jump_backward(e, n, d),
        op::POP_JUMP_FORWARD_IF_FALSE
        | op::POP_JUMP_FORWARD_IF_TRUE
        | op::POP_JUMP_BACKWARD_IF_FALSE
        | op::POP_JUMP_BACKWARD_IF_TRUE => jump::emit_pop_jump_if_bool(e, n, d),
        op::POP_JUMP_FORWARD_IF_NONE
        | op::POP_JUMP_FORWARD_IF_NOT_NONE
        | op::POP_JUMP_BACKWARD_IF_NONE
        | op::POP_JUMP_BACKWARD_IF_NOT_NONE => jump::emit_pop_jump_if_none(e, n, d),
        op::JUMP_IF_FALSE_OR_POP | op::JUMP_IF_TRUE_OR_POP => jump::emit_jump_if_or_pop(e, n, d),
        op::GET_ITER => jump::emit_get_iter(e, n, d),
        op::FOR_ITER => jump::emit_for_iter(e, n, d),
        op::RETURN_VALUE => jump::emit_return_value(e, n, d),
        op::LOAD_METHOD => call::emit_load_method(e, n, d),
        op::PRECALL => call::emit_precall(e, n, d),
        op::KW_NAMES => call::emit_kw_names(e, n, d),
        op::CALL => call::emit_call(e, n, d),
        op::BUILD_TUPLE => build::emit_build_tuple(e, n, d),
        op::BUILD_LIST => build::emit_build_list(e, n, d),
        op::LIST_APPEND => build::emit_list_append(e, n, d),
        op::UNPACK_SEQUENCE => build::emit_unpack_sequence(e, n, d),
        op::BUILD_MAP => build::emit_build_map(e, n, d),
        op::BUILD_CONST_KEY_MAP => build::emit_build_const_key_map(e, n, d),
        op::BUILD_SLICE => build::emit_build_slice(e, n, d),
        op::LIST_EXTEND => build::emit_list_extend(e, n, d),
        op::LIST_TO_TUPLE => build::emit_list_to_tuple(e, n, d),
        op::FORMAT_VALUE => build::emit_format_value(e, n, d),
        op::BUILD_STRING => build::emit_build_string(e, n, d),
        op::MAKE_FUNCTION => build::emit_make_function(e, n, d),
        op::LOAD_ASSERTION_ERROR => build::emit_load_assertion_error(e, n, d),
        op::BUILD_SET => build::emit_build_set(e, n, d),
        op::SET_ADD => build::emit_set_add(e, n, d),
        op::MAP_ADD => build::emit_map_add(e, n, d),
        op::DELETE_SUBSCR => build::emit_delete_subscr(e, n, d),

        // Everything below runs in the interpreter (from this instruction to the end of the
        // call). Listed one by one so that a new opcode is a conscious decision.
        op::CACHE | op::EXTENDED_ARG => e.deopt_now(n, GuardKind::Unsupported),
        op::GET_LEN | op::MATCH_MAPPING | op::MATCH_SEQUENCE | op::MATCH_KEYS | op::MATCH_CLASS => {
            e.deopt_now(n, GuardKind::Unsupported)
        }
        op::PUSH_EXC_INFO | op::CHECK_EXC_MATCH | op::CHECK_EG_MATCH | op::WITH_EXCEPT_START
        | op::POP_EXCEPT | op::RERAISE | op::PREP_RERAISE_STAR | op::RAISE_VARARGS
        => e.deopt_now(n, GuardKind::Unsupported),
        op::GET_AITER | op::GET_ANEXT | op::BEFORE_ASYNC_WITH | op::BEFORE_WITH | op::END_ASYNC_FOR
        | op::GET_AWAITABLE | op::SEND | op::YIELD_VALUE | op::ASYNC_GEN_WRAP | op::RETURN_GENERATOR
        | op::GET_YIELD_FROM_ITER => e.deopt_now(n, GuardKind::Unsupported),
        op::PRINT_EXPR | op::LOAD_BUILD_CLASS | op::IMPORT_STAR | op::SETUP_ANNOTATIONS | op::IMPORT_NAME | op::IMPORT_FROM => {
            e.deopt_now(n, GuardKind::Unsupported)
        }
        op::STORE_NAME | op::DELETE_NAME | op::LOAD_NAME | op::STORE_GLOBAL | op::DELETE_GLOBAL
        | op::DELETE_ATTR | op::DELETE_DEREF | op::LOAD_CLASSDEREF => e.deopt_now(n, GuardKind::Unsupported),
        op::UNPACK_EX | op::SET_UPDATE | op::DICT_MERGE
        | op::DICT_UPDATE => e.deopt_now(n, GuardKind::Unsupported),
        op::CALL_FUNCTION_EX => e.deopt_now(n, GuardKind::Unsupported),
        _ => e.deopt_now(n, GuardKind::Unsupported),
    }
}
