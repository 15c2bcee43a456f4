//! Unwind information for generated code, registered with the system unwinder
//! (`__register_frame`, libgcc's runtime registry of `.eh_frame` data).
//!
//! Why: a daemon thread that asks for the GIL while the interpreter finalizes is ended by
//! CPython with `pthread_exit`, which unwinds the thread's stack. Without a frame description
//! for our machine code the unwinder cannot step over a compiled frame and the process aborts.
//! With one, the unwind passes through compiled frames like through CPython's own C frames.
//!
//! # Invariants
//! - One CIE and one FDE per compiled function, terminated by a zero entry, in a heap block
//!   that stays alive (and registered) exactly as long as the machine code it describes.
//! - The description is exact at every call site of the function body (the only places an
//!   unwind can start from); it follows the fixed prologue instruction by instruction.

/// One step of a prologue: after `advance` more bytes of code, the CFA is `rsp + cfa_offset`,
/// and `saved` (if any) says a register was just pushed: (DWARF register number, its slot as
/// a multiple of 8 below the CFA).
#[derive(Clone, Copy, Debug)]
pub struct FrameStep {
    pub advance: u8,
    pub cfa_offset: u8,
    pub saved: Option<(u8, u8)>,
}

const DW_CFA_DEF_CFA: u8 = 0x0c;
const DW_CFA_DEF_CFA_OFFSET: u8 = 0x0e;
const DW_CFA_ADVANCE_LOC: u8 = 0x40; // | delta (< 64)
const DW_CFA_OFFSET: u8 = 0x80; // | register (< 64), ULEB128 factored offset follows
const DW_REG_RSP: u8 = 7;
const DW_REG_RIP: u8 = 16;

fn pad8(v: &mut Vec<u8>, start: usize) {
    // Each entry (length field included) is padded with DW_CFA_nop to a multiple of 8 bytes.
    while (v.len() - start) % 8 != 0 {
        v.push(0);
    }
}

/// Builds `.eh_frame` bytes (CIE, FDE, terminator) for code at `start..start+len`.
pub fn build(start: u64, len: u64, steps: &[FrameStep]) -> Vec<u8> {
    let mut v = Vec::with_capacity(96);
    // ---- CIE
    let cie = v.len();
    v.extend_from_slice(&[0; 4]); // length, patched below
    v.extend_from_slice(&0u32.to_le_bytes()); // CIE id
    v.push(1); // version
    v.extend_from_slice(b"zR\0");
    v.push(1); // code alignment factor
    v.push(0x78); // data alignment factor: SLEB128(-8)
    v.push(DW_REG_RIP); // return address register
    v.push(1); // augmentation data length
    v.push(0x00); // FDE pointer encoding: DW_EH_PE_absptr (8-byte absolute)
    v.extend_from_slice(&[DW_CFA_DEF_CFA, DW_REG_RSP, 8]); // CFA = rsp + 8 at entry
    v.extend_from_slice(&[DW_CFA_OFFSET | DW_REG_RIP, 1]); // return address at CFA - 8
    pad8(&mut v, cie);
    let cie_len = (v.len() - cie - 4) as u32;
    v[cie..cie + 4].copy_from_slice(&cie_len.to_le_bytes());
    // ---- FDE
    let fde = v.len();
    v.extend_from_slice(&[0; 4]); // length, patched below
    let cie_ptr = (v.len() - cie) as u32; // distance back to the CIE
    v.extend_from_slice(&cie_ptr.to_le_bytes());
    v.extend_from_slice(&start.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.push(0); // augmentation data length
    for s in steps {
        assert!(s.advance < 64, "prologue steps advance by less than 64 bytes");
        if s.advance > 0 {
            v.push(DW_CFA_ADVANCE_LOC | s.advance);
        }
        v.extend_from_slice(&[DW_CFA_DEF_CFA_OFFSET, s.cfa_offset]);
        if let Some((reg, slot)) = s.saved {
            assert!(reg < 64 && slot < 128);
            v.extend_from_slice(&[DW_CFA_OFFSET | reg, slot]);
        }
    }
    pad8(&mut v, fde);
    let fde_len = (v.len() - fde - 4) as u32;
    v[fde..fde + 4].copy_from_slice(&fde_len.to_le_bytes());
    // ---- terminator
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

extern "C" {
    fn __register_frame(begin: *const u8);
    fn __deregister_frame(begin: *const u8);
}

/// A registered frame description; deregistered when dropped.
pub struct Registration {
    eh_frame: Box<[u8]>,
}

// SAFETY: the bytes are immutable once registered; the unwinder's registry has its own lock.
unsafe impl Send for Registration {}
unsafe impl Sync for Registration {}

/// Registers the frame description of the function at `start..start+len`.
pub fn register(start: usize, len: usize, steps: &[FrameStep]) -> Registration {
    let eh_frame = build(start as u64, len as u64, steps).into_boxed_slice();
    // SAFETY: a well-formed .eh_frame block (CIE, FDE, zero terminator) that lives in a heap
    // allocation we keep until `drop` deregisters it.
    unsafe { __register_frame(eh_frame.as_ptr()) };
    Registration { eh_frame }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the same pointer `register` passed in, still alive.
        unsafe { __deregister_frame(self.eh_frame.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_terminated() {
        let steps = [
            FrameStep { advance: 1, cfa_offset: 16, saved: Some((6, 2)) },
            FrameStep { advance: 4, cfa_offset: 64, saved: None },
        ];
        let v = build(0x1000, 0x200, &steps);
        let cie_len = u32::from_le_bytes(v[0..4].try_into().unwrap()) as usize;
        assert_eq!((cie_len + 4) % 8, 0);
        let fde = 4 + cie_len;
        let fde_len = u32::from_le_bytes(v[fde..fde + 4].try_into().unwrap()) as usize;
        assert_eq!((fde_len + 4) % 8, 0);
        // the FDE points back at the CIE
        assert_eq!(u32::from_le_bytes(v[fde + 4..fde + 8].try_into().unwrap()) as usize, fde + 4);
        assert_eq!(u64::from_le_bytes(v[fde + 8..fde + 16].try_into().unwrap()), 0x1000);
        assert_eq!(u64::from_le_bytes(v[fde + 16..fde + 24].try_into().unwrap()), 0x200);
        assert_eq!(&v[v.len() - 4..], &[0, 0, 0, 0]);
        assert_eq!(v.len(), fde + 4 + fde_len + 4);
    }

    #[test]
    fn register_and_deregister_round_trip() {
        let code = [0xc3u8; 32];
        let r = register(code.as_ptr() as usize, code.len(), &[]);
        drop(r);
    }
}
