//! One owner per spool directory: an exclusive `flock` on its `lock` file,
//! which also holds the owner's process id so that a refused client can name it.
//! The lock goes with the file descriptor: when the owner's client is freed
//! or its process dies (even by SIGKILL), the kernel releases it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{err, Result};

/// Takes the lock of `dir`: `Config` naming the holder's pid if another
/// client (in this process or another) has it, `Spool` if the file cannot be used.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let shown = dir.display();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot open its lock file: {e}").with_source(e))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) if pid == std::process::id() => {
                    format!("process {pid} (this process: another client)")
                }
                Ok(pid) => format!("process {pid}"),
                Err(_) => "another process".to_string(),
            };
            return Err(err!(
                Config,
                "queue.spool.dir {shown}: in use by {holder}, which holds its lock; one client per spool directory"
            ));
        }
        return Err(err!(Spool, "queue.spool.dir {shown}: cannot lock it: {e}").with_source(e));
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.write_all_at(pid.as_bytes(), 0))
        .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot write its lock file: {e}").with_source(e))?;
    Ok(file)
}
