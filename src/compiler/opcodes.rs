//! The CPython 3.11.7 opcode table, generated from its `opcode` module and checked against it
//! at the first compile ([`verify`]): numbers, names and inline-cache sizes. `co_code` (the
//! unquickened bytecode) only ever contains these base opcodes.

#![allow(dead_code)]

/// (name, number, inline cache entries), every named base opcode of 3.11.7.
pub const TABLE: &[(&str, u8, u8)] = &[
    ("CACHE", 0, 0),
    ("POP_TOP", 1, 0),
    ("PUSH_NULL", 2, 0),
    ("NOP", 9, 0),
    ("UNARY_POSITIVE", 10, 0),
    ("UNARY_NEGATIVE", 11, 0),
    ("UNARY_NOT", 12, 0),
    ("UNARY_INVERT", 15, 0),
    ("BINARY_SUBSCR", 25, 4),
    ("GET_LEN", 30, 0),
    ("MATCH_MAPPING", 31, 0),
    ("MATCH_SEQUENCE", 32, 0),
    ("MATCH_KEYS", 33, 0),
    ("PUSH_EXC_INFO", 35, 0),
    ("CHECK_EXC_MATCH", 36, 0),
    ("CHECK_EG_MATCH", 37, 0),
    ("WITH_EXCEPT_START", 49, 0),
    ("GET_AITER", 50, 0),
    ("GET_ANEXT", 51, 0),
    ("BEFORE_ASYNC_WITH", 52, 0),
    ("BEFORE_WITH", 53, 0),
    ("END_ASYNC_FOR", 54, 0),
    ("STORE_SUBSCR", 60, 1),
    ("DELETE_SUBSCR", 61, 0),
    ("GET_ITER", 68, 0),
    ("GET_YIELD_FROM_ITER", 69, 0),
    ("PRINT_EXPR", 70, 0),
    ("LOAD_BUILD_CLASS", 71, 0),
    ("LOAD_ASSERTION_ERROR", 74, 0),
    ("RETURN_GENERATOR", 75, 0),
    ("LIST_TO_TUPLE", 82, 0),
    ("RETURN_VALUE", 83, 0),
    ("IMPORT_STAR", 84, 0),
    ("SETUP_ANNOTATIONS", 85, 0),
    ("YIELD_VALUE", 86, 0),
    ("ASYNC_GEN_WRAP", 87, 0),
    ("PREP_RERAISE_STAR", 88, 0),
    ("POP_EXCEPT", 89, 0),
    ("STORE_NAME", 90, 0),
    ("DELETE_NAME", 91, 0),
    ("UNPACK_SEQUENCE", 92, 1),
    ("FOR_ITER", 93, 0),
    ("UNPACK_EX", 94, 0),
    ("STORE_ATTR", 95, 4),
    ("DELETE_ATTR", 96, 0),
    ("STORE_GLOBAL", 97, 0),
    ("DELETE_GLOBAL", 98, 0),
    ("SWAP", 99, 0),
    ("LOAD_CONST", 100, 0),
    ("LOAD_NAME", 101, 0),
    ("BUILD_TUPLE", 102, 0),
    ("BUILD_LIST", 103, 0),
    ("BUILD_SET", 104, 0),
    ("BUILD_MAP", 105, 0),
    ("LOAD_ATTR", 106, 4),
    ("COMPARE_OP", 107, 2),
    ("IMPORT_NAME", 108, 0),
    ("IMPORT_FROM", 109, 0),
    ("JUMP_FORWARD", 110, 0),
    ("JUMP_IF_FALSE_OR_POP", 111, 0),
    ("JUMP_IF_TRUE_OR_POP", 112, 0),
    ("POP_JUMP_FORWARD_IF_FALSE", 114, 0),
    ("POP_JUMP_FORWARD_IF_TRUE", 115, 0),
    ("LOAD_GLOBAL", 116, 5),
    ("IS_OP", 117, 0),
    ("CONTAINS_OP", 118, 0),
    ("RERAISE", 119, 0),
    ("COPY", 120, 0),
    ("BINARY_OP", 122, 1),
    ("SEND", 123, 0),
    ("LOAD_FAST", 124, 0),
    ("STORE_FAST", 125, 0),
    ("DELETE_FAST", 126, 0),
    ("POP_JUMP_FORWARD_IF_NOT_NONE", 128, 0),
    ("POP_JUMP_FORWARD_IF_NONE", 129, 0),
    ("RAISE_VARARGS", 130, 0),
    ("GET_AWAITABLE", 131, 0),
    ("MAKE_FUNCTION", 132, 0),
    ("BUILD_SLICE", 133, 0),
    ("JUMP_BACKWARD_NO_INTERRUPT", 134, 0),
    ("MAKE_CELL", 135, 0),
    ("LOAD_CLOSURE", 136, 0),
    ("LOAD_DEREF", 137, 0),
    ("STORE_DEREF", 138, 0),
    ("DELETE_DEREF", 139, 0),
    ("JUMP_BACKWARD", 140, 0),
    ("CALL_FUNCTION_EX", 142, 0),
    ("EXTENDED_ARG", 144, 0),
    ("LIST_APPEND", 145, 0),
    ("SET_ADD", 146, 0),
    ("MAP_ADD", 147, 0),
    ("LOAD_CLASSDEREF", 148, 0),
    ("COPY_FREE_VARS", 149, 0),
    ("RESUME", 151, 0),
    ("MATCH_CLASS", 152, 0),
    ("FORMAT_VALUE", 155, 0),
    ("BUILD_CONST_KEY_MAP", 156, 0),
    ("BUILD_STRING", 157, 0),
    ("LOAD_METHOD", 160, 10),
    ("LIST_EXTEND", 162, 0),
    ("SET_UPDATE", 163, 0),
    ("DICT_MERGE", 164, 0),
    ("DICT_UPDATE", 165, 0),
    ("PRECALL", 166, 1),
    ("CALL", 171, 4),
    ("KW_NAMES", 172, 0),
    ("POP_JUMP_BACKWARD_IF_NOT_NONE", 173, 0),
    ("POP_JUMP_BACKWARD_IF_NONE", 174, 0),
    ("POP_JUMP_BACKWARD_IF_FALSE", 175, 0),
    ("POP_JUMP_BACKWARD_IF_TRUE", 176, 0),
];

pub const CACHE: u8 = 0;
pub const POP_TOP: u8 = 1;
pub const PUSH_NULL: u8 = 2;
pub const NOP: u8 = 9;
pub const UNARY_POSITIVE: u8 = 10;
pub const UNARY_NEGATIVE: u8 = 11;
pub const UNARY_NOT: u8 = 12;
pub const UNARY_INVERT: u8 = 15;
pub const BINARY_SUBSCR: u8 = 25;
pub const GET_LEN: u8 = 30;
pub const MATCH_MAPPING: u8 = 31;
pub const MATCH_SEQUENCE: u8 = 32;
pub const MATCH_KEYS: u8 = 33;
pub const PUSH_EXC_INFO: u8 = 35;
pub const CHECK_EXC_MATCH: u8 = 36;
pub const CHECK_EG_MATCH: u8 = 37;
pub const WITH_EXCEPT_START: u8 = 49;
pub const GET_AITER: u8 = 50;
pub const GET_ANEXT: u8 = 51;
pub const BEFORE_ASYNC_WITH: u8 = 52;
pub const BEFORE_WITH: u8 = 53;
pub const END_ASYNC_FOR: u8 = 54;
pub const STORE_SUBSCR: u8 = 60;
pub const DELETE_SUBSCR: u8 = 61;
pub const GET_ITER: u8 = 68;
pub const GET_YIELD_FROM_ITER: u8 = 69;
pub const PRINT_EXPR: u8 = 70;
pub const LOAD_BUILD_CLASS: u8 = 71;
pub const LOAD_ASSERTION_ERROR: u8 = 74;
pub const RETURN_GENERATOR: u8 = 75;
pub const LIST_TO_TUPLE: u8 = 82;
pub const RETURN_VALUE: u8 = 83;
pub const IMPORT_STAR: u8 = 84;
pub const SETUP_ANNOTATIONS: u8 = 85;
pub const YIELD_VALUE: u8 = 86;
pub const ASYNC_GEN_WRAP: u8 = 87;
pub const PREP_RERAISE_STAR: u8 = 88;
pub const POP_EXCEPT: u8 = 89;
pub const STORE_NAME: u8 = 90;
pub const DELETE_NAME: u8 = 91;
pub const UNPACK_SEQUENCE: u8 = 92;
pub const FOR_ITER: u8 = 93;
pub const UNPACK_EX: u8 = 94;
pub const STORE_ATTR: u8 = 95;
pub const DELETE_ATTR: u8 = 96;
pub const STORE_GLOBAL: u8 = 97;
pub const DELETE_GLOBAL: u8 = 98;
pub const SWAP: u8 = 99;
pub const LOAD_CONST: u8 = 100;
pub const LOAD_NAME: u8 = 101;
pub const BUILD_TUPLE: u8 = 102;
pub const BUILD_LIST: u8 = 103;
pub const BUILD_SET: u8 = 104;
pub const BUILD_MAP: u8 = 105;
pub const LOAD_ATTR: u8 = 106;
pub const COMPARE_OP: u8 = 107;
pub const IMPORT_NAME: u8 = 108;
pub const IMPORT_FROM: u8 = 109;
pub const JUMP_FORWARD: u8 = 110;
pub const JUMP_IF_FALSE_OR_POP: u8 = 111;
pub const JUMP_IF_TRUE_OR_POP: u8 = 112;
pub const POP_JUMP_FORWARD_IF_FALSE: u8 = 114;
pub const POP_JUMP_FORWARD_IF_TRUE: u8 = 115;
pub const LOAD_GLOBAL: u8 = 116;
pub const IS_OP: u8 = 117;
pub const CONTAINS_OP: u8 = 118;
pub const RERAISE: u8 = 119;
pub const COPY: u8 = 120;
pub const BINARY_OP: u8 = 122;
pub const SEND: u8 = 123;
pub const LOAD_FAST: u8 = 124;
pub const STORE_FAST: u8 = 125;
pub const DELETE_FAST: u8 = 126;
pub const POP_JUMP_FORWARD_IF_NOT_NONE: u8 = 128;
pub const POP_JUMP_FORWARD_IF_NONE: u8 = 129;
pub const RAISE_VARARGS: u8 = 130;
pub const GET_AWAITABLE: u8 = 131;
pub const MAKE_FUNCTION: u8 = 132;
pub const BUILD_SLICE: u8 = 133;
pub const JUMP_BACKWARD_NO_INTERRUPT: u8 = 134;
pub const MAKE_CELL: u8 = 135;
pub const LOAD_CLOSURE: u8 = 136;
pub const LOAD_DEREF: u8 = 137;
pub const STORE_DEREF: u8 = 138;
pub const DELETE_DEREF: u8 = 139;
pub const JUMP_BACKWARD: u8 = 140;
pub const CALL_FUNCTION_EX: u8 = 142;
pub const EXTENDED_ARG: u8 = 144;
pub const LIST_APPEND: u8 = 145;
pub const SET_ADD: u8 = 146;
pub const MAP_ADD: u8 = 147;
pub const LOAD_CLASSDEREF: u8 = 148;
pub const COPY_FREE_VARS: u8 = 149;
pub const RESUME: u8 = 151;
pub const MATCH_CLASS: u8 = 152;
pub const FORMAT_VALUE: u8 = 155;
pub const BUILD_CONST_KEY_MAP: u8 = 156;
pub const BUILD_STRING: u8 = 157;
pub const LOAD_METHOD: u8 = 160;
pub const LIST_EXTEND: u8 = 162;
pub const SET_UPDATE: u8 = 163;
pub const DICT_MERGE: u8 = 164;
pub const DICT_UPDATE: u8 = 165;
pub const PRECALL: u8 = 166;
pub const CALL: u8 = 171;
pub const KW_NAMES: u8 = 172;
pub const POP_JUMP_BACKWARD_IF_NOT_NONE: u8 = 173;
pub const POP_JUMP_BACKWARD_IF_NONE: u8 = 174;
pub const POP_JUMP_BACKWARD_IF_FALSE: u8 = 175;
pub const POP_JUMP_BACKWARD_IF_TRUE: u8 = 176;
pub const HAVE_ARGUMENT: u8 = 90;

/// Inline cache entries (code units) following `op`.
pub fn caches(op: u8) -> usize {
    TABLE.iter().find(|t| t.1 == op).map_or(0, |t| t.2 as usize)
}

/// The opcode's name, or `"<n>"` for numbers 3.11 does not define as base opcodes.
pub fn name(op: u8) -> String {
    TABLE.iter().find(|t| t.1 == op).map_or_else(|| format!("<{op}>"), |t| t.0.to_string())
}

/// Where a jump goes: `next` is the index of the unit after the instruction and its caches.
/// 3.11 has only relative jumps (`hasjabs` is empty), forward or backward.
pub fn jump_target(op: u8, next: usize, arg: u32) -> Option<usize> {
    match op {
        FOR_ITER | JUMP_FORWARD | JUMP_IF_FALSE_OR_POP | JUMP_IF_TRUE_OR_POP
        | POP_JUMP_FORWARD_IF_FALSE | POP_JUMP_FORWARD_IF_TRUE | SEND
        | POP_JUMP_FORWARD_IF_NOT_NONE | POP_JUMP_FORWARD_IF_NONE => Some(next + arg as usize),
        JUMP_BACKWARD_NO_INTERRUPT | JUMP_BACKWARD | POP_JUMP_BACKWARD_IF_NOT_NONE
        | POP_JUMP_BACKWARD_IF_NONE | POP_JUMP_BACKWARD_IF_FALSE | POP_JUMP_BACKWARD_IF_TRUE => {
            next.checked_sub(arg as usize)
        }
        _ => None,
    }
}

/// Instructions after which control never falls through to the next one.
pub fn is_terminator(op: u8) -> bool {
    matches!(
        op,
        RETURN_VALUE | RAISE_VARARGS | RERAISE | JUMP_FORWARD | JUMP_BACKWARD | JUMP_BACKWARD_NO_INTERRUPT
    )
}

/// Checks this table against the running interpreter's `opcode` module.
pub fn verify(py: pyo3::Python<'_>) -> Result<(), String> {
    use pyo3::prelude::*;
    let m = py.import("opcode").map_err(|e| e.to_string())?;
    let opmap = m.getattr("opmap").map_err(|e| e.to_string())?;
    let n: usize = opmap.len().map_err(|e| e.to_string())?;
    if n != TABLE.len() {
        return Err(format!("opcode.opmap has {n} entries, psyco knows {}", TABLE.len()));
    }
    let cache_entries = m.getattr("_inline_cache_entries").map_err(|e| e.to_string())?;
    for (name, num, caches) in TABLE {
        let got: u8 = opmap.get_item(*name).and_then(|v| v.extract()).map_err(|e| format!("{name}: {e}"))?;
        let c: u8 = cache_entries.get_item(*num).and_then(|v| v.extract()).map_err(|e| e.to_string())?;
        if got != *num || c != *caches {
            return Err(format!("opcode {name} is {got} with {c} caches, psyco expects {num} with {caches}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_are_relative_to_the_unit_after_caches() {
        assert_eq!(jump_target(JUMP_FORWARD, 10, 3), Some(13));
        assert_eq!(jump_target(JUMP_BACKWARD, 10, 3), Some(7));
        assert_eq!(jump_target(LOAD_FAST, 10, 3), None);
        assert_eq!(caches(LOAD_GLOBAL), 5);
        assert_eq!(caches(CALL), 4);
        assert_eq!(name(RETURN_VALUE), "RETURN_VALUE");
    }
}
