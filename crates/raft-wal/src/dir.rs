//! The directory: its format marker, its lock, and durable directory updates.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::WalError;

/// The on-disk format version this code writes and reads (independent of the crate
/// version; see docs/PROTOCOL.md).
pub const WAL_FORMAT_VERSION: u8 = 1;

pub(crate) const FORMAT_FILE: &str = "raft-wal.format";
pub(crate) const LOCK_FILE: &str = "LOCK";

fn format_line() -> String {
    format!("raft-wal {WAL_FORMAT_VERSION}\n")
}

/// Makes the directory's own entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| WalError::io(dir, error))
}

/// Takes the directory's exclusive lock; held until the returned file is dropped.
pub(crate) fn lock(dir: &Path) -> Result<File, WalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| WalError::io(&path, error))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(WalError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(error)) => Err(WalError::io(&path, error)),
    }
}

/// Checks the format marker, or writes it into a directory that holds nothing else.
pub(crate) fn check_or_init_format(
    dir: &Path,
    is_segment: impl Fn(&str) -> bool,
) -> Result<(), WalError> {
    let path = dir.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(found) if found == format_line() => return Ok(()),
        Ok(found) if found.starts_with("raft-wal ") => {
            return Err(WalError::UnsupportedVersion {
                path: dir.to_path_buf(),
                found: found.trim_start_matches("raft-wal ").trim().to_owned(),
                supported: WAL_FORMAT_VERSION,
            });
        }
        Ok(_) => {
            return Err(WalError::NotAWalDirectory {
                path: dir.to_path_buf(),
                reason: format!("{FORMAT_FILE} does not name the raft-wal format"),
            });
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(WalError::io(&path, error)),
    }
    let foreign: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|error| WalError::io(dir, error))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|entry| {
            let name = entry
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            name != LOCK_FILE && !name.ends_with(".tmp")
        })
        .collect();
    if let Some(first) = foreign.first() {
        let name = first
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        let reason = if is_segment(name) {
            format!("segment {name} without a {FORMAT_FILE} marker")
        } else {
            format!("it already holds {}", first.display())
        };
        return Err(WalError::NotAWalDirectory {
            path: dir.to_path_buf(),
            reason,
        });
    }
    write_atomically(dir, FORMAT_FILE, format_line().as_bytes(), true)
}

/// Writes `name` so that a crash leaves either no file or the whole file: write a
/// temporary, sync it, rename it into place, sync the directory.
pub(crate) fn write_atomically(
    dir: &Path,
    name: &str,
    contents: &[u8],
    fsync: bool,
) -> Result<(), WalError> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&temporary).map_err(|error| WalError::io(&temporary, error))?;
    file.write_all(contents)
        .and_then(|()| if fsync { file.sync_all() } else { Ok(()) })
        .map_err(|error| WalError::io(&temporary, error))?;
    let target = dir.join(name);
    fs::rename(&temporary, &target).map_err(|error| WalError::io(&target, error))?;
    if fsync { sync_dir(dir) } else { Ok(()) }
}
