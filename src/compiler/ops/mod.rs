//! One `emit_<opname>` per opcode, grouped by family; [`template`] is the one `match` over
//! every opcode of 3.11, saying for each whether it has a native template (and which cases of it
//! the template still leaves to the interpreter) or deopts unconditionally. [`emit_instr`] and
//! the coverage report ([`coverage`], `psyco._psyco.opcode_coverage()`, `python -m psyco
//! opcodes`) are both derived from it, so the list of unsupported opcodes exists exactly once.
//!
//! Each template receives the instruction's position `n` and the stack depth `d` before it, and
//! must leave the stack at `d + effect` on fall-through (or `d + effect_jump` when jumping), as
//! computed by `bytecode::depths` from CPython's own stack effects.

pub mod arith;
pub mod build;
pub mod call;
pub mod compare;
pub mod fuse;
pub mod fuse_int;
pub mod exc;
pub mod gen;
pub mod inline;
pub mod jump;
pub mod kernel;
pub mod load_store;
pub mod names;
pub mod unpack;

use super::emit::{Emitter, GuardKind};
use super::opcodes as op;

/// A template: emits instruction `n` at stack depth `d`.
pub type EmitFn = fn(&mut Emitter, usize, u32);

/// How one opcode is compiled.
#[derive(Clone, Copy)]
pub enum Template {
    /// Machine code for every case.
    Native(EmitFn),
    /// Machine code, except the cases described, which leave for the interpreter at the
    /// instruction (nothing consumed).
    Partial(EmitFn, &'static str),
    /// Always leaves for the interpreter at the instruction (from there to the end of the call).
    Deopt,
}

/// The one table: every 3.11 base opcode and how it is compiled.
pub fn template(opc: u8) -> Template {
    use Template::{Deopt, Native, Partial};
    match opc {
        // Never executed as instructions: the decoder folds EXTENDED_ARG into the argument of
        // the instruction it prefixes and skips inline CACHE entries.
        op::CACHE | op::EXTENDED_ARG => Native(|_, _, _| {}),
        op::NOP => Native(|_, _, _| {}),
        op::RESUME => Native(jump::emit_resume),
        op::LOAD_FAST | op::LOAD_CLOSURE => Partial(load_store::emit_load_fast, "unbound local"),
        op::STORE_FAST => Native(load_store::emit_store_fast),
        op::DELETE_FAST => Partial(load_store::emit_delete_fast, "unbound local"),
        op::LOAD_CONST => Native(load_store::emit_load_const),
        op::LOAD_GLOBAL => Partial(load_store::emit_load_global, "undefined name, non-dict globals/builtins"),
        op::LOAD_DEREF => Partial(load_store::emit_load_deref, "empty cell"),
        op::STORE_DEREF => Native(load_store::emit_store_deref),
        op::MAKE_CELL => Native(load_store::emit_make_cell),
        op::COPY_FREE_VARS => Native(load_store::emit_copy_free_vars),
        op::POP_TOP => Native(load_store::emit_pop_top),
        op::PUSH_NULL => Native(load_store::emit_push_null),
        op::COPY => Native(load_store::emit_copy),
        op::SWAP => Native(load_store::emit_swap),
        op::LOAD_ATTR => Native(load_store::emit_load_attr),
        op::STORE_ATTR => Native(load_store::emit_store_attr),
        op::BINARY_OP => Native(arith::emit_binary_op),
        op::UNARY_POSITIVE | op::UNARY_NEGATIVE | op::UNARY_INVERT | op::UNARY_NOT => Native(arith::emit_unary),
        op::BINARY_SUBSCR => Native(arith::emit_binary_subscr),
        op::STORE_SUBSCR => Native(arith::emit_store_subscr),
        op::COMPARE_OP => Native(compare::emit_compare_op),
        op::IS_OP => Native(compare::emit_is_op),
        op::CONTAINS_OP => Native(compare::emit_contains_op),
        op::JUMP_FORWARD | op::JUMP_BACKWARD_NO_INTERRUPT => Native(jump::emit_jump),
        op::JUMP_BACKWARD => Native(jump::emit_jump_backward),
        op::POP_JUMP_FORWARD_IF_FALSE
        | op::POP_JUMP_FORWARD_IF_TRUE
        | op::POP_JUMP_BACKWARD_IF_FALSE
        | op::POP_JUMP_BACKWARD_IF_TRUE => Native(jump::emit_pop_jump_if_bool),
        op::POP_JUMP_FORWARD_IF_NONE
        | op::POP_JUMP_FORWARD_IF_NOT_NONE
        | op::POP_JUMP_BACKWARD_IF_NONE
        | op::POP_JUMP_BACKWARD_IF_NOT_NONE => Native(jump::emit_pop_jump_if_none),
        op::JUMP_IF_FALSE_OR_POP | op::JUMP_IF_TRUE_OR_POP => Native(jump::emit_jump_if_or_pop),
        op::GET_ITER => Native(jump::emit_get_iter),
        op::FOR_ITER => Native(jump::emit_for_iter),
        op::RETURN_VALUE => Native(jump::emit_return_value),
        op::LOAD_METHOD => Native(call::emit_load_method),
        op::PRECALL => Native(call::emit_precall),
        op::KW_NAMES => Native(call::emit_kw_names),
        op::CALL => Native(call::emit_call),
        op::CALL_FUNCTION_EX => Native(unpack::emit_call_function_ex),
        op::BUILD_TUPLE => Native(build::emit_build_tuple),
        op::BUILD_LIST => Native(build::emit_build_list),
        op::LIST_APPEND => Native(build::emit_list_append),
        op::UNPACK_SEQUENCE => Native(build::emit_unpack_sequence),
        op::UNPACK_EX => Native(unpack::emit_unpack_ex),
        op::BUILD_MAP => Native(build::emit_build_map),
        op::BUILD_CONST_KEY_MAP => Native(build::emit_build_const_key_map),
        op::BUILD_SLICE => Native(build::emit_build_slice),
        op::LIST_EXTEND => Native(build::emit_list_extend),
        op::LIST_TO_TUPLE => Native(build::emit_list_to_tuple),
        op::SET_UPDATE => Native(unpack::emit_set_update),
        op::DICT_UPDATE => Native(unpack::emit_dict_update),
        op::DICT_MERGE => Native(unpack::emit_dict_merge),
        op::FORMAT_VALUE => Native(build::emit_format_value),
        op::BUILD_STRING => Native(build::emit_build_string),
        op::MAKE_FUNCTION => Native(build::emit_make_function),
        op::LOAD_ASSERTION_ERROR => Native(build::emit_load_assertion_error),
        op::BUILD_SET => Native(build::emit_build_set),
        op::SET_ADD => Native(build::emit_set_add),
        op::MAP_ADD => Native(build::emit_map_add),
        op::DELETE_SUBSCR => Native(build::emit_delete_subscr),
        op::DELETE_ATTR => Native(names::emit_delete_attr),
        op::LOAD_NAME => Native(names::emit_load_name),
        op::STORE_NAME => Native(names::emit_store_name),
        op::DELETE_NAME => Native(names::emit_delete_name),
        op::STORE_GLOBAL => Native(names::emit_store_global),
        op::DELETE_GLOBAL => Native(names::emit_delete_global),
        op::LOAD_CLASSDEREF => Partial(names::emit_load_classderef, "non-dict class namespace, empty cell"),
        op::DELETE_DEREF => Partial(names::emit_delete_deref, "empty cell"),
        op::LOAD_BUILD_CLASS => Native(names::emit_load_build_class),
        op::SETUP_ANNOTATIONS => Native(names::emit_setup_annotations),
        op::PRINT_EXPR => Native(names::emit_print_expr),
        op::IMPORT_NAME => Native(names::emit_import_name),
        op::IMPORT_FROM => Native(names::emit_import_from),
        op::GET_LEN => Native(unpack::emit_get_len),
        op::MATCH_MAPPING | op::MATCH_SEQUENCE => Native(unpack::emit_match_flag),
        op::MATCH_KEYS => Native(unpack::emit_match_keys),
        op::MATCH_CLASS => Native(unpack::emit_match_class),
        op::PUSH_EXC_INFO => Native(exc::emit_push_exc_info),
        op::POP_EXCEPT => Native(exc::emit_pop_except),
        op::CHECK_EXC_MATCH => Native(exc::emit_check_exc_match),
        op::CHECK_EG_MATCH => Native(exc::emit_check_eg_match),
        op::PREP_RERAISE_STAR => Partial(exc::emit_prep_reraise_star, "an except* clause raised or re-raised part of a group"),
        op::RAISE_VARARGS => Partial(exc::emit_raise_varargs, "bare raise not covered by a handler of this code"),
        op::RERAISE => Partial(exc::emit_reraise, "not covered by a handler of this code"),
        op::BEFORE_WITH => Native(exc::emit_before_with),
        op::WITH_EXCEPT_START => Native(exc::emit_with_except_start),
        op::YIELD_VALUE => Native(gen::emit_yield_value),
        op::SEND => Partial(gen::emit_send, "a C tracer is installed (ceval's traced SEND)"),
        op::GET_YIELD_FROM_ITER => Native(gen::emit_get_yield_from_iter),
        op::GET_AWAITABLE => Native(gen::emit_get_awaitable),
        op::GET_AITER => Native(gen::emit_get_aiter),
        op::GET_ANEXT => Native(gen::emit_get_anext),
        op::END_ASYNC_FOR => Partial(gen::emit_end_async_for, "re-raising anything but StopAsyncIteration"),
        op::BEFORE_ASYNC_WITH => Native(gen::emit_before_async_with),
        op::ASYNC_GEN_WRAP => Native(gen::emit_async_gen_wrap),

        // Everything below always runs in the interpreter (from the instruction to the end of
        // the call). Listed one by one so that a new opcode is a conscious decision.
        // Needs the frame's locals as a mapping (PyFrame_FastToLocals and back).
        op::IMPORT_STAR => Deopt,
        // Creating the generator needs the hidden `_Py_MakeCoro`; never reached in machine
        // code (the hook leaves generator creation to the interpreter: see gen.rs).
        op::RETURN_GENERATOR => Deopt,
        // Not a 3.11 base opcode (never in co_code).
        _ => Deopt,
    }
}

/// Coverage of one opcode as reported by `opcode_coverage()`: "native", "deopt" or
/// "partial: <the cases that deopt>".
pub fn coverage(opc: u8) -> String {
    match template(opc) {
        Template::Native(_) => "native".into(),
        Template::Partial(_, what) => format!("partial: {what}"),
        Template::Deopt => "deopt".into(),
    }
}

/// Emits the code for instruction `n` (reachable, depth `d`).
pub fn emit_instr(e: &mut Emitter, n: usize, d: u32) {
    match template(e.snap.instrs[n].op) {
        Template::Native(f) | Template::Partial(f, _) => f(e, n, d),
        Template::Deopt => e.deopt_now(n, GuardKind::Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_has_one_status() {
        for (name, num, _) in op::TABLE {
            let c = coverage(*num);
            assert!(c == "native" || c == "deopt" || c.starts_with("partial: "), "{name}: {c}");
        }
        assert_eq!(coverage(op::YIELD_VALUE), "native");
        assert_eq!(coverage(op::RETURN_GENERATOR), "deopt");
        assert_eq!(coverage(op::BINARY_OP), "native");
        assert!(coverage(op::RERAISE).starts_with("partial"));
    }
}
