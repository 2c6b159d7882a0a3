//! The spool's file work that `send` need not wait for, on a thread of the
//! spool ("flume-spool-files"): making the next segment ready ahead of time
//! (create, reserve, map, write its header, and fault its pages in), cutting
//! and unmapping a closed segment, and deleting released ones.
//!
//! Why: the first write to each page of a new shared file mapping costs a
//! page fault in which the kernel allocates, zeroes and dirties the page
//! (ext4: `page_mkwrite`), a few microseconds per 4 KiB page, about a third
//! of a microsecond per 300-byte event; unmapping and deleting a 16 MiB
//! segment frees its pages. Done here, the caller's `send` is a copy into
//! pages already mapped.
//!
//! With `fsync = never`, a released segment is reused rather than deleted,
//! when it is one of the last few closed: kept mapped since it was closed,
//! renamed to a `.next` name, zeroed through its mapping (its pages are
//! still in the page cache, mostly still dirty and mapped writable), and
//! then made the next segment. That saves the kernel's allocation, zeroing,
//! faulting and freeing of 16 MiB of pages per segment. Zeroed before it is
//! renamed to a segment name, it holds nothing a reader could take for a
//! record; with a sync policy it is not done (the zeros would have to be
//! synced first, which costs what it saves).
//!
//! The segment made ahead is a file named `NNN.next` (not a segment name, so
//! a client killed meanwhile leaves nothing the next one would read; the
//! next one deletes it) until `take` renames it to its segment name. Nothing
//! here is needed for correctness: when the next segment is not ready (or
//! making it failed), the caller makes it itself, as before, and gets the
//! error there.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::Instant;

use super::mapped::{self, MappedSegment};
use super::segment;
use crate::sync::{deadline_in, Condvar, Mutex};

/// At most this much of a segment is faulted in ahead (the default segment,
/// 16 MiB, whole): with a larger `queue.spool.segment-bytes`, the rest faults
/// in as it is written, rather than that much memory being dirtied at once.
const POPULATE_MAX: usize = 32 << 20;

/// The file name of segment `id` while it is made ahead.
pub(crate) fn next_name(id: u64) -> String {
    format!("{id:020}.next")
}

/// Whether `name` is one `next_name` makes.
pub(crate) fn is_next_name(name: &str) -> bool {
    name.strip_suffix(".next").is_some_and(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Default)]
struct Jobs {
    /// The segment to make ahead: its number and size.
    wanted: Option<(u64, usize)>,
    /// The segment being made now (the caller waits for it rather than make it twice).
    making: Option<u64>,
    /// A segment made ahead, mapped, under its `next_name`.
    ready: Option<(u64, MappedSegment)>,
    /// The mapping of a segment the caller made itself (address and length), to fault in.
    populate: Option<(usize, usize)>,
    /// Closed segments (number, mapping, length) to cut to their length and unmap.
    finish: Vec<(u64, MappedSegment, u64)>,
    /// Released segments to delete.
    delete: Vec<u64>,
    stop: bool,
}

struct Shared {
    dir: PathBuf,
    /// Sync a segment made ahead (its header and reserved blocks) before it is handed over.
    sync: bool,
    /// Reuse released segments (see above): without a sync policy.
    recycle: bool,
    jobs: Mutex<Jobs>,
    wake: Condvar,
    made: Condvar,
    deleted: AtomicU64,
}

pub(crate) struct Background {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the thread for the spool in `dir`; segments made ahead are
    /// synced (their header and reserved blocks) if `sync`.
    pub(crate) fn start(dir: &Path, sync: bool) -> io::Result<Background> {
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            sync,
            recycle: !sync,
            jobs: Mutex::new(Jobs::default()),
            wake: Condvar::new(),
            made: Condvar::new(),
            deleted: AtomicU64::new(0),
        });
        let thread_shared = Arc::clone(&shared);
        let thread =
            std::thread::Builder::new().name("flume-spool-files".into()).spawn(move || work(&thread_shared))?;
        Ok(Background { shared, thread: Some(thread) })
    }

    /// Asks for segment `id` of `cap` bytes to be made ready.
    pub(crate) fn prepare(&self, id: u64, cap: usize) {
        self.shared.jobs.lock().wanted = Some((id, cap));
        self.shared.wake.notify_one();
    }

    /// The segment `id` made ahead, renamed to its segment name, if it has at
    /// least `cap` bytes; waits (up to a second) while it is being made.
    /// `None`: the caller makes it (a segment of another number or size is
    /// deleted, and one not begun yet is no longer made).
    pub(crate) fn take(&self, id: u64, cap: usize) -> Option<MappedSegment> {
        let ready = {
            let mut jobs = self.shared.jobs.lock();
            let until = deadline_in(Duration::from_secs(1));
            while jobs.making == Some(id) && Instant::now() < until {
                self.shared.made.wait_until(&mut jobs, until);
            }
            if jobs.wanted.is_some_and(|(wanted, _)| wanted == id) {
                jobs.wanted = None;
            }
            match &jobs.ready {
                Some((ready, _)) if *ready == id => jobs.ready.take(),
                _ => None,
            }
        };
        let (ready_id, map) = ready?;
        let from = self.shared.dir.join(next_name(ready_id));
        if ready_id != id || map.capacity() < cap as u64 {
            drop(map);
            let _ = std::fs::remove_file(from);
            return None;
        }
        match std::fs::rename(&from, segment::segment_path(&self.shared.dir, id)) {
            Ok(()) => Some(map),
            Err(_) => {
                drop(map);
                let _ = std::fs::remove_file(from);
                None
            }
        }
    }

    /// Faults in the pages of the mapping at `ptr` of `len` bytes (a segment
    /// the caller made itself), as segments made ahead are.
    ///
    /// # Safety
    /// The mapping stays mapped until this thread ends or finishes it (a
    /// `finish` job): the spool ends this thread before it unmaps its writer.
    pub(crate) unsafe fn populate(&self, ptr: *mut u8, len: usize) {
        self.shared.jobs.lock().populate = Some((ptr as usize, len));
        self.shared.wake.notify_one();
    }

    /// Cuts closed segment `id` to `len` (the end of its records) and unmaps
    /// it, or keeps it mapped for reuse once released.
    pub(crate) fn finish(&self, id: u64, map: MappedSegment, len: u64) {
        let mut jobs = self.shared.jobs.lock();
        if jobs.populate.is_some_and(|(ptr, _)| ptr == map.as_ptr() as usize) {
            jobs.populate = None; // closed before its pages were faulted in: no need any more
        }
        jobs.finish.push((id, map, len));
        drop(jobs);
        self.shared.wake.notify_one();
    }

    /// Deletes released segment `id` (the state that moved past it is written).
    pub(crate) fn delete(&self, id: u64) {
        self.shared.jobs.lock().delete.push(id);
        self.shared.wake.notify_one();
    }

    /// Segments deleted so far.
    pub(crate) fn deleted(&self) -> u64 {
        self.shared.deleted.load(Ordering::Relaxed)
    }
}

impl Drop for Background {
    /// Finishes the closed segments and deletes the released ones, deletes a
    /// segment made ahead, and ends the thread.
    fn drop(&mut self) {
        self.shared.jobs.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Closed segments kept mapped for reuse, at most (with `never`).
const KEEP_CLOSED: usize = 4;

/// The thread's own segments: closed ones kept mapped, and a released one
/// zeroed for reuse (under its `next_name`).
#[derive(Default)]
struct Reuse {
    closed: Vec<(u64, MappedSegment, u64)>,
    spare: Option<(u64, MappedSegment)>,
}

fn work(shared: &Shared) {
    let mut reuse = Reuse::default();
    loop {
        let (populate, wanted, finish, delete, stop) = {
            let mut jobs = shared.jobs.lock();
            loop {
                let wanted = jobs.wanted.filter(|(id, _)| jobs.ready.as_ref().is_none_or(|(r, _)| r != id));
                if jobs.stop
                    || !jobs.finish.is_empty()
                    || !jobs.delete.is_empty()
                    || wanted.is_some()
                    || jobs.populate.is_some()
                {
                    break;
                }
                shared.wake.wait_until(&mut jobs, deadline_in(Duration::MAX));
            }
            let wanted = if jobs.stop {
                None
            } else {
                jobs.wanted.filter(|(id, _)| jobs.ready.as_ref().is_none_or(|(r, _)| r != id))
            };
            jobs.making = wanted.map(|(id, _)| id);
            let populate = if jobs.stop { None } else { jobs.populate.take() };
            (populate, wanted, std::mem::take(&mut jobs.finish), std::mem::take(&mut jobs.delete), jobs.stop)
        };
        // What the caller may soon write to first; closed and released segments after.
        if let Some((ptr, len)) = populate {
            // SAFETY: still mapped (see `populate`): its `finish`, if queued, comes below.
            unsafe { mapped::populate(ptr as *mut u8, len.min(POPULATE_MAX)) };
        }
        if let Some((id, cap)) = wanted {
            let made = make(shared, &mut reuse, id, cap).ok();
            let stale = {
                let mut jobs = shared.jobs.lock();
                jobs.making = None;
                if made.is_none() && jobs.wanted.is_some_and(|(wanted, _)| wanted == id) {
                    // Not tried again: the caller makes it, and meets the error itself.
                    jobs.wanted = None;
                }
                let stale = std::mem::replace(&mut jobs.ready, made.map(|map| (id, map)));
                shared.made.notify_all();
                stale
            };
            if let Some((stale_id, map)) = stale {
                drop(map);
                let _ = std::fs::remove_file(shared.dir.join(next_name(stale_id)));
            }
        }
        for (id, map, len) in finish {
            if shared.recycle && !stop && reuse.closed.len() < KEEP_CLOSED {
                reuse.closed.push((id, map, len));
            } else {
                map.finish(len);
            }
        }
        for id in delete {
            let path = segment::segment_path(&shared.dir, id);
            let kept = reuse.closed.iter().position(|(closed, _, _)| *closed == id).map(|i| reuse.closed.remove(i));
            if let Some((_, mut map, _)) = kept.filter(|_| reuse.spare.is_none() && !stop) {
                // Out of the segment names first, then zeroed: it never holds old
                // records under a name a reader takes.
                if std::fs::rename(&path, shared.dir.join(next_name(id))).is_ok() {
                    shared.deleted.fetch_add(1, Ordering::Relaxed);
                    map.zero();
                    reuse.spare = Some((id, map));
                    continue;
                }
            }
            if std::fs::remove_file(&path).is_ok() {
                shared.deleted.fetch_add(1, Ordering::Relaxed);
            }
        }
        if stop {
            let ready = shared.jobs.lock().ready.take();
            for (id, map) in ready.into_iter().chain(reuse.spare.take()) {
                drop(map);
                let _ = std::fs::remove_file(shared.dir.join(next_name(id)));
            }
            for (_, map, len) in reuse.closed.drain(..) {
                map.finish(len);
            }
            return;
        }
    }
}

/// Makes segment `id` under its `next_name`: reserved, mapped, its header
/// written, its pages faulted in, synced if asked. From the spare (a zeroed
/// released segment) if there is one large enough.
fn make(shared: &Shared, reuse: &mut Reuse, id: u64, cap: usize) -> io::Result<MappedSegment> {
    let path = shared.dir.join(next_name(id));
    if let Some((spare_id, mut map)) = reuse.spare.take() {
        let spare_path = shared.dir.join(next_name(spare_id));
        if map.capacity() >= cap as u64 && std::fs::rename(&spare_path, &path).is_ok() {
            map.write_at(0, &segment::segment_header(id));
            map.populate(POPULATE_MAX); // pages written back since are writable again
            return Ok(map);
        }
        drop(map);
        let _ = std::fs::remove_file(&spare_path);
    }
    let _ = std::fs::remove_file(&path);
    let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
    let made = MappedSegment::new(file, cap).and_then(|mut map| {
        map.write_at(0, &segment::segment_header(id));
        // Synced before its pages are dirtied, so that the sync writes the header only.
        if shared.sync {
            map.file().sync_data()?;
        }
        map.populate(POPULATE_MAX);
        Ok(map)
    });
    if made.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    made
}
