//! Files replaced atomically: the new contents go to a temporary file beside the target
//! (created new, owner-only, synced), which then takes the target's place by a rename
//! (or a hard link, which never replaces), and the directory is synced. A crash leaves
//! the old file or the new one, never a mix. Used by the node key and the address book.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Temporary files of this process get distinct names (threads saving at once).
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a new temporary file beside `path` (owner-only, synced) named
/// `.{prefix}-{pid}-{n}.tmp`, and returns its name. `path` must name a file.
pub(crate) fn write_temporary(path: &Path, prefix: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    if path.file_name().is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        ));
    }
    // Short and distinct per process and call, so a long file name still fits and
    // savers never touch each other's temporary files.
    let n = TMP_SEQ.fetch_add(1, Relaxed);
    let tmp = dir_of(path).join(format!(".{prefix}-{}-{n}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = owner_only().open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Replaces `path` with `bytes` atomically (see the module docs). A symbolic link is
/// followed: its target is replaced, and the link stays.
pub(crate) fn replace(path: &Path, prefix: &str, bytes: &[u8]) -> std::io::Result<()> {
    let linked = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let resolved;
    let path = match linked.then(|| fs::canonicalize(path)) {
        Some(Ok(target)) => {
            resolved = target;
            resolved.as_path()
        }
        _ => path,
    };
    let tmp = write_temporary(path, prefix, bytes)?;
    let moved = fs::rename(&tmp, path);
    if moved.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    moved?;
    sync_dir(path);
    Ok(())
}

/// The directory `path` is in.
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Makes a rename or link in `path`'s directory durable (best effort).
pub(crate) fn sync_dir(path: &Path) {
    if let Ok(d) = fs::File::open(dir_of(path)) {
        let _ = d.sync_all();
    }
}

/// Options that create a new file readable and writable by its owner only.
fn owner_only() -> fs::OpenOptions {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}
