//! The directory: its format marker, its lock, and durable directory updates.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::WalError;

/// The on-disk format version this code writes (independent of the crate version; see
/// docs/PROTOCOL.md). Version 2 keeps the term and vote in a file of their own; this
/// code also reads version 1 directories and upgrades them when it opens them.
pub const WAL_FORMAT_VERSION: u8 = 2;

/// The oldest directory format this code reads.
const WAL_FORMAT_VERSION_MIN: u8 = 1;

pub(crate) const FORMAT_FILE: &str = "raft-wal.format";
pub(crate) const LOCK_FILE: &str = "LOCK";

fn format_line(version: u8) -> String {
    format!("raft-wal {version}\n")
}

/// What the format marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// A log of this format version (one this code reads).
    Version(u8),
    /// No marker and nothing else: a new log, whose marker the caller writes (with
    /// [`write_format`]) once the files a new log starts with are in place.
    New,
}

/// Writes the marker for `version` (atomically and durably).
pub(crate) fn write_format(dir: &Path, version: u8) -> Result<(), WalError> {
    write_atomically(dir, FORMAT_FILE, format_line(version).as_bytes(), true)
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

/// Checks the format marker; a directory without one must hold nothing else but
/// `allowed` files (those a new log writes before its marker).
pub(crate) fn check_format(
    dir: &Path,
    is_segment: impl Fn(&str) -> bool,
    allowed: &[&str],
) -> Result<Format, WalError> {
    let path = dir.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(found) => {
            return match (WAL_FORMAT_VERSION_MIN..=WAL_FORMAT_VERSION)
                .find(|&version| found == format_line(version))
            {
                Some(version) => Ok(Format::Version(version)),
                None if found.starts_with("raft-wal ") => Err(WalError::UnsupportedVersion {
                    path: dir.to_path_buf(),
                    found: found.trim_start_matches("raft-wal ").trim().to_owned(),
                    supported: WAL_FORMAT_VERSION,
                }),
                None => Err(WalError::NotAWalDirectory {
                    path: dir.to_path_buf(),
                    reason: format!("{FORMAT_FILE} does not name the raft-wal format"),
                }),
            };
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
            name != LOCK_FILE && !name.ends_with(".tmp") && !allowed.contains(&name)
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
    Ok(Format::New)
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

/// What a small checked file (`magic`, then `N` words, then a CRC-32 of all before it)
/// holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Words<const N: usize> {
    /// No file.
    Absent,
    /// A valid file's words.
    Valid([u64; N]),
    /// A file that fails its checks.
    Damaged,
}

/// Writes `name` as `magic`, the little-endian `words`, then a CRC-32 of those bytes
/// (atomically; durable with `fsync`).
pub(crate) fn write_words<const N: usize>(
    dir: &Path,
    name: &str,
    magic: &[u8; 8],
    words: [u64; N],
    fsync: bool,
) -> Result<(), WalError> {
    let mut out = Vec::with_capacity(8 + 8 * N + 4);
    out.extend_from_slice(magic);
    for word in words {
        out.extend_from_slice(&word.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    write_atomically(dir, name, &out, fsync)
}

/// Reads a file written by [`write_words`].
pub(crate) fn read_words<const N: usize>(
    dir: &Path,
    name: &str,
    magic: &[u8; 8],
) -> Result<Words<N>, WalError> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Words::Absent),
        Err(error) => return Err(WalError::io(&path, error)),
    };
    let body = 8 + 8 * N;
    if bytes.len() != body + 4
        || &bytes[..8] != magic
        || crc32fast::hash(&bytes[..body]).to_le_bytes() != bytes[body..]
    {
        return Ok(Words::Damaged);
    }
    let mut words = [0u64; N];
    for (word, chunk) in words.iter_mut().zip(bytes[8..body].chunks_exact(8)) {
        let mut array = [0u8; 8];
        array.copy_from_slice(chunk);
        *word = u64::from_le_bytes(array);
    }
    Ok(Words::Valid(words))
}

/// Removes `path` if it exists; whether it did.
pub(crate) fn remove_if_present(path: &Path) -> Result<bool, WalError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(WalError::io(path, error)),
    }
}
