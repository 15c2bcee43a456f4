//! The code object's exception table (`co_exceptiontable`, 3.11 format): decoded once per
//! compile into [`Handler`] entries, and looked up at compile time for every instruction that can
//! fail, exactly as ceval's `get_exception_handler` looks them up at run time.
//!
//! # Format (Objects/exception_handling_notes.txt)
//! A sequence of entries of four varints each: start, size, target (all in code units) and
//! `depth << 1 | lasti`. A varint is big-endian 6-bit groups, bit 6 (0x40) meaning "more
//! follows"; bit 7 (0x80) marks the first byte of an entry and is ignored by the decoder.
//!
//! # Invariants
//! - Entries are sorted by start and do not overlap (the bytecode compiler guarantees it);
//!   [`handler_for`] returns the entry covering a unit, or None.
//! - The unit looked up is the failing instruction's opcode unit (`prev_instr`), which is what
//!   ceval's `INSTR_OFFSET() - 1` is for every instruction the compiled code reports errors at.

/// One exception-table entry: units `[start, end)` are protected by the handler at `target`,
/// entered with the value stack cut to `depth`, plus the lasti (if `lasti`) and the exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handler {
    pub start: usize,
    pub end: usize,
    pub target: usize,
    pub depth: u32,
    pub lasti: bool,
}

impl Handler {
    /// Stack depth at the handler's first instruction.
    pub fn entry_depth(&self) -> u32 {
        self.depth + self.lasti as u32 + 1
    }
}

/// Decodes a 3.11 exception table. Malformed input gives an error (the compile then fails and
/// the code stays in the interpreter).
pub fn parse(table: &[u8]) -> Result<Vec<Handler>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let next = |i: &mut usize| -> Result<usize, String> {
        let mut v: usize = 0;
        loop {
            let b = *table.get(*i).ok_or("truncated exception table")?;
            *i += 1;
            v = (v << 6) | (b & 0x3f) as usize;
            if b & 0x40 == 0 {
                return Ok(v);
            }
            if v > (1 << 40) {
                return Err("exception table varint too large".into());
            }
        }
    };
    while i < table.len() {
        if table[i] & 0x80 == 0 {
            return Err(format!("exception table entry without start marker at byte {i}"));
        }
        let start = next(&mut i)?;
        let size = next(&mut i)?;
        let target = next(&mut i)?;
        let dl = next(&mut i)?;
        out.push(Handler { start, end: start + size, target, depth: (dl >> 1) as u32, lasti: dl & 1 != 0 });
    }
    Ok(out)
}

/// The handler covering unit `unit`, if any.
pub fn handler_for(table: &[Handler], unit: usize) -> Option<Handler> {
    table.iter().find(|h| h.start <= unit && unit < h.end).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entries_with_multibyte_varints() {
        // start 2, size 70 (0x40|1, 6), target 80 (0x40|1, 16), depth 1 lasti 1 (3).
        let t = [0x82, 0x41, 0x06, 0x41, 0x10, 0x03, 0x80 | 5, 1, 9, 0];
        let h = parse(&t).unwrap();
        assert_eq!(h[0], Handler { start: 2, end: 72, target: 80, depth: 1, lasti: true });
        assert_eq!(h[1], Handler { start: 5, end: 6, target: 9, depth: 0, lasti: false });
        assert_eq!(handler_for(&h, 71).unwrap().target, 80);
        assert_eq!(handler_for(&h, 72), None);
        assert_eq!(h[0].entry_depth(), 3);
    }

    #[test]
    fn rejects_truncated_tables() {
        assert!(parse(&[0x82, 0x41]).is_err());
        assert!(parse(&[0x02, 1, 2, 3]).is_err());
    }
}
