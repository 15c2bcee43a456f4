//! The assembler room: executable memory (W^X: mapped read+write, filled, then made
//! read+execute; never both at once), code-size accounting for the `memory=` limits, and code
//! dumps decoded by iced-x86 with the bytecode offsets interleaved.
//!
//! # Invariants
//! - An [`ExecBuffer`] is immutable once made; it is unmapped only when dropped, which the
//!   compiler arranges to happen only when the code object dies (no frame can run it then).

pub mod unwind;

use std::fmt::Write as _;

/// Size of one arena chunk (a single mapping shared by many functions).
const CHUNK: usize = 256 * 1024;
const PAGE: usize = 4096;
/// Functions start on 16-byte boundaries.
const ALIGN: usize = 16;

/// One mapping of the code arena: filled front to back, unmapped when every function placed in
/// it has died and it is no longer the chunk being filled.
struct Chunk {
    base: usize,
    size: usize,
    used: usize,
    live: usize,
}

/// The code arena. Writing into it flips the touched pages to read+write (never executable
/// while writable) and back to read+execute. Callers hold the GIL while doing so, and compiled
/// code only ever runs with the GIL held, so no thread executes on a page while it is writable.
static ARENA: parking_lot::Mutex<Vec<Chunk>> = parking_lot::const_mutex(Vec::new());

/// Unit tests run threads without a GIL: the ones that place or run arena code take this.
#[cfg(test)]
pub static TEST_EXEC_LOCK: parking_lot::Mutex<()> = parking_lot::const_mutex(());

/// Bytes currently mapped for machine code (for stats and tests).
pub fn arena_mapped_bytes() -> usize {
    ARENA.lock().iter().map(|c| c.size).sum()
}

/// A block of machine code placed in the code arena.
pub struct ExecBuffer {
    ptr: *mut u8,
    len: usize,
    chunk: usize,
    /// The frame description given to the system unwinder (see `unwind`).
    unwind: Option<unwind::Registration>,
}

// SAFETY: the code is immutable after construction; the arena bookkeeping is behind a lock.
unsafe impl Send for ExecBuffer {}
unsafe impl Sync for ExecBuffer {}

impl ExecBuffer {
    /// Copies `code` into the arena and leaves it read+execute. Call with the GIL held (see
    /// [`ARENA`]).
    pub fn new(code: &[u8]) -> std::io::Result<ExecBuffer> {
        let len = code.len().max(1);
        let mut arena = ARENA.lock();
        let fits = arena.last().is_some_and(|c| c.used.div_ceil(ALIGN) * ALIGN + len <= c.size);
        if !fits {
            let size = len.div_ceil(CHUNK) * CHUNK;
            // SAFETY: a fresh anonymous private mapping, ours alone; starts read-only.
            let p = unsafe {
                libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
            };
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            // A chunk nothing lives in any more can go once it stops being the current one.
            if let Some(last) = arena.last() {
                if last.live == 0 {
                    let old = arena.pop().expect("non-empty");
                    // SAFETY: no function remains in it, so no code can run there.
                    unsafe { libc::munmap(old.base as *mut libc::c_void, old.size) };
                }
            }
            arena.push(Chunk { base: p as usize, size, used: 0, live: 0 });
        }
        let chunk = arena.last_mut().expect("a chunk was just ensured");
        let off = chunk.used.div_ceil(ALIGN) * ALIGN;
        let start = chunk.base + off;
        let page_lo = start / PAGE * PAGE;
        let page_hi = (start + len).div_ceil(PAGE) * PAGE;
        // SAFETY: [page_lo, page_hi) lies inside the chunk's mapping; the pages are made
        // writable (and not executable), filled past `used` only, and made executable again
        // before anyone can run code on them (GIL held, see ARENA).
        unsafe {
            let plen = page_hi - page_lo;
            if libc::mprotect(page_lo as *mut libc::c_void, plen, libc::PROT_READ | libc::PROT_WRITE) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::ptr::copy_nonoverlapping(code.as_ptr(), start as *mut u8, code.len());
            if libc::mprotect(page_lo as *mut libc::c_void, plen, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        chunk.used = off + len;
        chunk.live += 1;
        Ok(ExecBuffer { ptr: start as *mut u8, len: code.len(), chunk: chunk.base, unwind: None })
    }

    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The machine code bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the arena keeps these bytes mapped and readable while we live.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl ExecBuffer {
    /// Tells the system unwinder how this function's frame is laid out (its prologue), so
    /// that a thread unwound by `pthread_exit` can pass through it.
    pub fn describe_frame(&mut self, prologue: &[unwind::FrameStep]) {
        self.unwind = Some(unwind::register(self.ptr as usize, self.len, prologue));
    }
}

impl Drop for ExecBuffer {
    fn drop(&mut self) {
        // Forget the frame description before the code it describes can be reused.
        drop(self.unwind.take());
        let mut arena = ARENA.lock();
        let n = arena.len();
        if let Some(i) = arena.iter().position(|c| c.base == self.chunk) {
            arena[i].live -= 1;
            if arena[i].live == 0 && i + 1 != n {
                let c = arena.remove(i);
                // SAFETY: the last function in this chunk is gone and the chunk is not being
                // filled: nothing can run or be written there any more.
                unsafe { libc::munmap(c.base as *mut libc::c_void, c.size) };
            }
        }
    }
}

/// Where machine code is named for `perf` (Linux's profiler): with `PSYCO_PERF_MAP=1` in the
/// environment, every placed function gets a line `start size name` in `/tmp/perf-<pid>.map`,
/// the file `perf report` reads to name samples in code no ELF file describes. Opened on first
/// use, reopened after a fork (the child has a new pid); write errors are ignored (a profiling
/// aid must not break the program).
pub fn perf_map_note(addr: usize, len: usize, name: impl FnOnce() -> String) {
    use std::io::Write as _;
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    static FILE: parking_lot::Mutex<Option<(u32, std::fs::File)>> = parking_lot::const_mutex(None);
    if !*ENABLED.get_or_init(|| std::env::var_os("PSYCO_PERF_MAP").is_some_and(|v| !v.is_empty() && v != "0")) {
        return;
    }
    let pid = std::process::id();
    let mut f = FILE.lock();
    if f.as_ref().is_none_or(|(p, _)| *p != pid) {
        let path = format!("/tmp/perf-{pid}.map");
        *f = std::fs::OpenOptions::new().create(true).append(true).open(path).ok().map(|file| (pid, file));
    }
    if let Some((_, file)) = f.as_mut() {
        let clean: String = name().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let _ = writeln!(file, "{addr:x} {len:x} {clean}");
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
    fn buffers_share_chunks_and_are_freed() {
        let _g = TEST_EXEC_LOCK.lock();
        let before = arena_mapped_bytes();
        let bufs: Vec<ExecBuffer> = (0..100).map(|i| ExecBuffer::new(&[0xb8, i as u8, 0, 0, 0, 0xc3]).unwrap()).collect();
        assert!(arena_mapped_bytes() - before <= 2 * CHUNK, "100 tiny functions fit in one or two chunks");
        for (i, b) in bufs.iter().enumerate() {
            assert_eq!(b.addr() % ALIGN, 0);
            // SAFETY: each buffer holds a complete C-ABI function.
            let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(b.addr()) };
            assert_eq!(f(), i as i32);
        }
        drop(bufs);
        let big = ExecBuffer::new(&vec![0xc3; CHUNK + 10]).unwrap();
        assert_eq!(big.bytes().len(), CHUNK + 10);
    }

    #[test]
    fn buffer_is_executable_and_not_writable() {
        let _g = TEST_EXEC_LOCK.lock();
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
