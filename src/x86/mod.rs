//! The assembler room: executable memory (W^X: mapped read+write, filled, then made
//! read+execute; never both at once), code-size accounting for the `memory=` limits, and code
//! dumps decoded by iced-x86 with the bytecode offsets interleaved.
//!
//! # Invariants
//! - An [`ExecBuffer`] is immutable once made; it is unmapped only when dropped, which the
//!   compiler arranges to happen only when the code object dies (no frame can run it then).

use std::fmt::Write as _;

/// A block of machine code in its own read+execute mapping.
pub struct ExecBuffer {
    ptr: *mut u8,
    len: usize,
    map_len: usize,
}

// SAFETY: the mapping is immutable after construction and owned by this value alone.
unsafe impl Send for ExecBuffer {}
unsafe impl Sync for ExecBuffer {}

impl ExecBuffer {
    /// Copies `code` into a fresh mapping and makes it read+execute.
    pub fn new(code: &[u8]) -> std::io::Result<ExecBuffer> {
        let page = 4096usize;
        let map_len = code.len().max(1).div_ceil(page) * page;
        // SAFETY: anonymous private mapping of our own; written while RW, then flipped to RX;
        // no other reference to the memory exists until `new` returns.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            std::ptr::copy_nonoverlapping(code.as_ptr(), p as *mut u8, code.len());
            if libc::mprotect(p, map_len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                let e = std::io::Error::last_os_error();
                libc::munmap(p, map_len);
                return Err(e);
            }
            Ok(ExecBuffer { ptr: p as *mut u8, len: code.len(), map_len })
        }
    }

    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The machine code bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable and `len` bytes long for our whole lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ExecBuffer {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.map_len);
        }
    }
}

/// Disassembles `code` (loaded at `base`) in Intel syntax. `marks` are (code offset, text)
/// pairs printed as comment lines before the instruction at that offset (bytecode markers).
pub fn disassemble(code: &[u8], base: u64, marks: &[(usize, String)]) -> String {
    use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
    let mut dec = Decoder::with_ip(64, code, base, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    let mut ins = Instruction::default();
    let mut m = 0;
    while dec.can_decode() {
        dec.decode_out(&mut ins);
        let off = (ins.ip() - base) as usize;
        while m < marks.len() && marks[m].0 <= off {
            let _ = writeln!(out, "    ; {}", marks[m].1);
            m += 1;
        }
        text.clear();
        fmt.format(&ins, &mut text);
        let _ = writeln!(out, "{:6x}  {}", off, text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_executable_and_not_writable() {
        // mov eax, 42; ret
        let b = ExecBuffer::new(&[0xb8, 42, 0, 0, 0, 0xc3]).unwrap();
        // SAFETY: the buffer holds a complete function with the C ABI.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(b.addr()) };
        assert_eq!(f(), 42);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| {
                let r = l.split_whitespace().next().unwrap();
                let (lo, hi) = r.split_once('-').unwrap();
                let (lo, hi) = (usize::from_str_radix(lo, 16).unwrap(), usize::from_str_radix(hi, 16).unwrap());
                (lo..hi).contains(&b.addr())
            })
            .unwrap();
        assert!(line.split_whitespace().nth(1).unwrap().starts_with("r-x"), "{line}");
    }

    #[test]
    fn disassembly_table() {
        // (bytes, expected Intel text)
        let cases: &[(&[u8], &str)] = &[
            (&[0xc3], "ret"),
            (&[0x49, 0xff, 0x04, 0x24], "inc qword ptr [r12]"),
            (&[0x48, 0x8b, 0x43, 0x08], "mov rax,[rbx+8]"),
        ];
        for (bytes, want) in cases {
            let text = disassemble(bytes, 0, &[]);
            assert!(text.contains(want), "{text} lacks {want}");
        }
    }
}
