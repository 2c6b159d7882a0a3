//! The Kerberos keys' files (feature `kerberos`): a keytab is checked when
//! `client-keytab` is set, and again when a client is made (`kerberos`).

use std::path::Path;

use crate::error::{err, Result};

/// Refuses an unreadable keytab at once, naming it.
pub(crate) fn check_keytab(path: &Path) -> Result<()> {
    match std::fs::File::open(path) {
        Ok(mut file) => {
            use std::io::Read;
            let mut version = [0u8; 2];
            match file.read_exact(&mut version) {
                // MIT keytabs start 0x05 0x01 or 0x05 0x02.
                Ok(()) if version[0] == 0x05 && matches!(version[1], 1 | 2) => Ok(()),
                Ok(()) => Err(err!(Config, "client-keytab: {} is not a Kerberos keytab", path.display())),
                Err(e) => Err(err!(Config, "client-keytab: cannot read {}: {e}", path.display())),
            }
        }
        Err(e) => Err(err!(Config, "client-keytab: cannot read {}: {e}", path.display())),
    }
}
