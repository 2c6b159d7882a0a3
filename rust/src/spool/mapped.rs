//! The segment being written, mapped into memory (`MAP_SHARED`): appending a
//! record is a copy into the kernel's page cache, with no system call, so it
//! survives the process dying at any moment (the pages belong to the file,
//! not the process). Syncing to the device is `msync` / `fdatasync`.
//!
//! The file's blocks are reserved with `posix_fallocate` when the segment is
//! created: a full disk or a file size limit is then an error there, never a
//! `SIGBUS` on a later copy into the mapping.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

pub(crate) struct MappedSegment {
    file: Arc<File>,
    ptr: *mut u8,
    cap: usize,
}

// SAFETY: the mapping is only accessed through `&mut self` (the spool is behind the queue lock).
unsafe impl Send for MappedSegment {}

impl MappedSegment {
    /// Reserves `cap` bytes of `file` (new and empty) and maps them.
    pub(crate) fn new(file: File, cap: usize) -> io::Result<MappedSegment> {
        let fd = file.as_raw_fd();
        // SAFETY: plain system calls on a descriptor we own.
        unsafe {
            let rc = libc::posix_fallocate(fd, 0, cap as libc::off_t);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let ptr =
                libc::mmap(std::ptr::null_mut(), cap, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(MappedSegment { file: Arc::new(file), ptr: ptr.cast(), cap })
        }
    }

    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.cap as u64
    }

    /// Faults the mapping's first `at_most` bytes in now, writable and dirty
    /// (`MADV_POPULATE_WRITE`), so that copies into them fault no more (until
    /// a sync cleans them). Best effort: a kernel without it (before Linux
    /// 5.14) leaves the faults to the copies, as does any failure (the blocks
    /// are reserved already, so a copy cannot meet a full disk). The unwritten
    /// rest is cut off when the segment is closed.
    pub(crate) fn populate(&mut self, at_most: usize) {
        // SAFETY: within the mapping made in `new`.
        unsafe { populate(self.ptr, self.cap.min(at_most)) };
    }

    /// Zeroes the whole mapping (a released segment made ready for reuse).
    pub(crate) fn zero(&mut self) {
        // SAFETY: the whole mapping made in `new`; nothing else aliases it.
        unsafe { std::ptr::write_bytes(self.ptr, 0, self.cap) };
    }

    /// Where the mapping starts, for `populate` from another thread.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Copies `bytes` to `offset` (which the caller keeps within the capacity).
    pub(crate) fn write_at(&mut self, offset: u64, bytes: &[u8]) {
        let offset = offset as usize;
        assert!(offset + bytes.len() <= self.cap, "a write past the mapped segment");
        // SAFETY: within the mapping, checked above; nothing else aliases it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) };
    }

    /// Writes the pages holding `[from, to)` to the device and waits (`always`).
    pub(crate) fn sync_range(&self, from: u64, to: u64) -> io::Result<()> {
        let page = 4096usize.max(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize);
        let start = (from as usize / page) * page;
        // SAFETY: the range lies within the mapping; msync only writes back.
        let rc = unsafe { libc::msync(self.ptr.add(start).cast(), to as usize - start, libc::MS_SYNC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Unmaps the segment and cuts the file to `len`, the end of its last record
    /// (the reserved rest would read as zeros, which a reader also accepts).
    pub(crate) fn finish(self, len: u64) {
        let _ = self.file.set_len(len);
        drop(self);
    }
}

/// Faults in the pages of the mapping at `ptr` of `len` bytes (see
/// `MappedSegment::populate`). It changes no contents, so another thread may
/// copy into the mapping meanwhile.
///
/// # Safety
/// `ptr..ptr + len` is a mapping of a segment, mapped for the whole call.
pub(crate) unsafe fn populate(ptr: *mut u8, len: usize) {
    const MADV_POPULATE_WRITE: libc::c_int = 23;
    libc::madvise(ptr.cast(), len, MADV_POPULATE_WRITE);
}

impl Drop for MappedSegment {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.cap) };
    }
}
