//! How the store writes: under a per-id write lock (`tmp/<id>.lock`, an
//! exclusive `flock` held for the whole of a put or delete of that id), each
//! file through a temp file named for its id (`tmp/<id>.<uuid>.part`), then
//! fsync, rename and a directory fsync. The kernel drops the lock when its
//! holder dies, even by `kill -9`, so the sweep at open ([`super::sweep`])
//! can tell a dead writer's leftovers (lock free) from a live one's (held).

use super::is_valid_id;
use anyhow::{Context, Result};
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The exclusive write lock of one id, held while an image, its sidecar or
/// its tombstone is written or removed. Dropping it removes the lock file.
#[derive(Debug)]
pub(super) struct IdLock {
    _file: File,
    path: PathBuf,
    tmp: PathBuf,
    id: String,
}

impl IdLock {
    /// Wait for the lock of `id` (another writer of the same id holds it for
    /// milliseconds). Errors: the lock file cannot be created in `tmp`.
    pub fn acquire(tmp: &Path, id: &str) -> std::io::Result<IdLock> {
        Ok(Self::take(tmp, id, true)?.expect("a blocking lock is always taken"))
    }

    /// Take the lock of `id` only if it is free: `Ok(None)` while a live
    /// process holds it.
    pub fn try_acquire(tmp: &Path, id: &str) -> std::io::Result<Option<IdLock>> {
        Self::take(tmp, id, false)
    }

    fn take(tmp: &Path, id: &str, wait: bool) -> std::io::Result<Option<IdLock>> {
        debug_assert!(is_valid_id(id));
        let path = tmp.join(format!("{id}.lock"));
        loop {
            let file = File::options().create(true).truncate(false).write(true).open(&path)?;
            if wait {
                file.lock()?;
            } else {
                match file.try_lock() {
                    Ok(()) => {}
                    Err(TryLockError::WouldBlock) => return Ok(None),
                    Err(TryLockError::Error(e)) => return Err(e),
                }
            }
            // The previous holder removes the file as it lets go: if it did
            // so after we opened it, we hold a lock on an unlinked file that
            // nobody else will ever see. Then start again on a fresh one.
            if same_file(&file, &path) {
                return Ok(Some(IdLock { _file: file, path, tmp: tmp.to_path_buf(), id: id.to_string() }));
            }
        }
    }

    /// Write `bytes` to `path` atomically: a temp file named for this lock's
    /// id, fsync, rename over `path`, then fsync the directory. Readers see
    /// the old file or the whole new one, never a part.
    pub fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.write_atomically_if(path, bytes, || Ok(()))
    }

    /// [`IdLock::write_atomically`], asking `verdict` once the bytes are
    /// written and fsynced under the temp name and before they are renamed
    /// into place (so a check that runs alongside, such as a decode on
    /// another thread, overlaps the write). An error from `verdict` removes
    /// the temp file and is returned as it is.
    pub fn write_atomically_if(&self, path: &Path, bytes: &[u8], verdict: impl FnOnce() -> Result<()>) -> Result<()> {
        let tmp = self.tmp.join(format!("{}.{}.part", self.id, uuid::Uuid::new_v4().simple()));
        let staged = (|| -> std::io::Result<()> {
            let mut file = File::options().write(true).create_new(true).open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        let verdict = match staged {
            Ok(()) => verdict(),
            Err(e) => Err(anyhow::Error::new(e).context(format!("writing {}", path.display()))),
        };
        let result = verdict.and_then(|()| {
            (|| -> std::io::Result<()> {
                std::fs::rename(&tmp, path)?;
                // Make the rename itself durable (the directory entry).
                if let Some(dir) = path.parent() {
                    File::open(dir)?.sync_all()?;
                }
                Ok(())
            })()
            .with_context(|| format!("writing {}", path.display()))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

impl Drop for IdLock {
    /// Remove the lock file while still holding the lock (see [`IdLock::take`]
    /// for why a waiter that opened it just before is safe).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The id a file in `tmp/` belongs to: `<id>.lock` and `<id>.<uuid>.part`
/// are a writer's of that id. `None` for any other name (older versions
/// named temp files by a bare uuid).
pub(super) fn temp_owner(name: &str) -> Option<&str> {
    let (id, rest) = name.split_once('.')?;
    (is_valid_id(id) && (rest == "lock" || (rest.ends_with(".part") && !rest.contains('/')))).then_some(id)
}

/// Whether `path` still names the file `file` has open.
#[cfg(unix)]
pub(super) fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// Whether `path` still names the file `file` has open (elsewhere an open
/// file cannot be removed, so it always does).
#[cfg(not(unix))]
pub(super) fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00000000000000aa";

    #[test]
    fn an_id_lock_is_exclusive_and_leaves_no_file_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = IdLock::acquire(dir.path(), ID).unwrap();
        assert!(IdLock::try_acquire(dir.path(), ID).unwrap().is_none(), "a second holder is refused");
        drop(held);
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "the lock file is gone");
        assert!(IdLock::try_acquire(dir.path(), ID).unwrap().is_some(), "free again once dropped");
    }

    #[test]
    fn writers_of_one_id_take_turns_and_never_share_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let inside = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        let _lock = IdLock::acquire(dir.path(), ID).unwrap();
                        assert_eq!(inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0, "two holders at once");
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no lock file left behind");
    }

    #[test]
    fn temp_names_say_whose_they_are() {
        assert_eq!(temp_owner(&format!("{ID}.lock")), Some(ID));
        assert_eq!(temp_owner(&format!("{ID}.0123abcd.part")), Some(ID));
        for other in ["0f6e7c1e-9a8b-4c3d-8e2f-1a2b3c4d5e6f", "../x.lock", "short.lock", &format!("{ID}.json")] {
            assert_eq!(temp_owner(other), None, "{other}");
        }
    }
}
