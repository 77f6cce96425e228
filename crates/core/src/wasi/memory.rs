//! Bounds-checked access to guest memory for the WASI functions. Every
//! pointer and length comes from the guest, so all arithmetic is done in
//! `u64` and any range outside the memory is `EFAULT`, never a panic.

use super::errno::{Errno, EFAULT};

/// The guest's linear memory during one WASI call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { bytes }
    }

    /// The whole memory (for the embedder's callbacks).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes
    }

    /// `ptr..ptr + len` as a checked index range.
    pub fn range(&self, ptr: u32, len: u64) -> Result<std::ops::Range<usize>, Errno> {
        let start = ptr as u64;
        match start.checked_add(len) {
            Some(end) if end <= self.bytes.len() as u64 => Ok(start as usize..end as usize),
            _ => Err(EFAULT),
        }
    }

    /// Checks that `count` elements of `size` bytes fit at `ptr`.
    pub fn check_array(&self, ptr: u32, count: u64, size: u64) -> Result<(), Errno> {
        let len = count.checked_mul(size).ok_or(EFAULT)?;
        self.range(ptr, len).map(|_| ())
    }

    pub fn slice(&self, ptr: u32, len: u64) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&self.bytes[r])
    }

    pub fn slice_mut(&mut self, ptr: u32, len: u64) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.bytes[r])
    }

    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.slice(ptr, 1)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        let b = self.slice(ptr, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        let b = self.slice(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        let b = self.slice(ptr, 8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }

    pub fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), Errno> {
        self.slice_mut(ptr, data.len() as u64)?
            .copy_from_slice(data);
        Ok(())
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Reads `count` iovecs (`{ buf: u32, len: u32 }`) at `ptr` and checks
    /// that each buffer lies inside the memory.
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<(u32, u32)>, Errno> {
        self.check_array(ptr, count as u64, 8)?;
        let mut list = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = ptr as u64 + i as u64 * 8;
            let at = u32::try_from(at).map_err(|_| EFAULT)?;
            let buf = self.read_u32(at)?;
            let len = self.read_u32(at + 4)?;
            self.range(buf, len as u64)?;
            list.push((buf, len));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_without_overflow() {
        let mut bytes = vec![0u8; 16];
        let mut m = GuestMemory::new(&mut bytes);
        assert_eq!(m.range(0, 16), Ok(0..16));
        assert_eq!(m.range(16, 0), Ok(16..16));
        assert_eq!(m.range(17, 0), Err(EFAULT));
        assert_eq!(m.range(u32::MAX, u64::MAX), Err(EFAULT));
        assert_eq!(m.check_array(0, u64::MAX, 8), Err(EFAULT));
        assert_eq!(m.write_u64(9, 1), Err(EFAULT));
        assert_eq!(m.write_u64(8, 0x0102), Ok(()));
        assert_eq!(m.read_u16(8), Ok(0x0102));
        assert_eq!(m.read_u32(13), Err(EFAULT));
    }

    #[test]
    fn iovecs_must_point_inside() {
        let mut bytes = vec![0u8; 64];
        bytes[0..4].copy_from_slice(&32u32.to_le_bytes());
        bytes[4..8].copy_from_slice(&32u32.to_le_bytes());
        bytes[8..12].copy_from_slice(&60u32.to_le_bytes());
        bytes[12..16].copy_from_slice(&5u32.to_le_bytes());
        let m = GuestMemory::new(&mut bytes);
        assert_eq!(m.iovecs(0, 1), Ok(vec![(32, 32)]));
        assert_eq!(m.iovecs(0, 2), Err(EFAULT));
        assert_eq!(m.iovecs(60, 1), Err(EFAULT));
    }
}
