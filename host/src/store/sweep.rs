//! The sweep at open: what a writer killed mid-put left behind — its lock
//! and temp files in `tmp/`, an image whose sidecar it never wrote — is
//! removed as soon as no live process holds that id's write lock (see
//! [`super::write`]), so a dead writer's leftovers go at the next start
//! while another live server's put in the same store is never touched.
//! Temp files of older versions (bare uuid names) and of job records go
//! once they are older than [`STALE_TEMP`].

use super::write::{IdLock, temp_owner};
use super::{IMAGE_EXTENSIONS, Store, is_valid_id};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Age after which a temp file with no lock to ask (an older version's, or
/// a job record's) is taken to be left by a dead process.
pub const STALE_TEMP: Duration = Duration::from_secs(3600);

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Lock and temp files of dead writers, and stale temp files.
    pub temp_files: usize,
    /// Images whose sidecar was never written.
    pub orphans: usize,
}

impl Store {
    /// Remove what dead writers left (see the module doc). Never fails: what
    /// cannot be removed now is tried again at the next open.
    pub fn sweep(&self) -> Swept {
        let mut swept = Swept::default();
        let tmp = self.root.join("tmp");
        let images = self.root.join("images");

        // tmp/: files by the id whose writer made them.
        let mut owned: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for (name, path) in entries(&tmp) {
            match temp_owner(&name) {
                Some(id) => owned.entry(id.to_string()).or_default().push(path),
                None => swept.temp_files += remove_if_stale(&path),
            }
        }
        // images/: image files without a sidecar.
        let names: Vec<String> = entries(&images).into_iter().map(|(name, _)| name).collect();
        let sidecars: HashSet<&str> = names.iter().filter_map(|n| n.strip_suffix(".json")).collect();
        let mut orphans: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for name in &names {
            let Some((id, ext)) = name.split_once('.') else { continue };
            if is_valid_id(id) && IMAGE_EXTENSIONS.contains(&ext) && !sidecars.contains(id) {
                orphans.entry(id.to_string()).or_default().push(images.join(name));
                owned.entry(id.to_string()).or_default();
            }
        }

        for (id, temps) in owned {
            // A live writer of this id holds the lock: everything of its stays.
            let Ok(Some(lock)) = IdLock::try_acquire(&tmp, &id) else { continue };
            let lock_file = tmp.join(format!("{id}.lock"));
            swept.temp_files += temps.iter().filter(|p| **p != lock_file && std::fs::remove_file(p).is_ok()).count();
            // The lock file was a dead writer's if it was there before we took it.
            swept.temp_files += usize::from(temps.contains(&lock_file));
            // Under the lock no put of this id is half-way: an image still
            // without its sidecar was a dead writer's.
            if !self.sidecar_path(&id).exists() {
                swept.orphans +=
                    orphans.get(&id).into_iter().flatten().filter(|p| std::fs::remove_file(p).is_ok()).count();
            }
            drop(lock);
        }

        for (name, path) in entries(&self.jobs_dir()) {
            if name.ends_with(".tmp") {
                swept.temp_files += remove_if_stale(&path);
            }
        }
        if swept != Swept::default() {
            tracing::info!(store = %self.root.display(), temp_files = swept.temp_files, orphans = swept.orphans, "removed what interrupted writes left");
        }
        swept
    }
}

/// `(file name, path)` of each entry of `dir` with a UTF-8 name.
fn entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    read.filter_map(|e| e.ok()).filter_map(|e| Some((e.file_name().into_string().ok()?, e.path()))).collect()
}

fn remove_if_stale(path: &Path) -> usize {
    let stale = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= STALE_TEMP);
    usize::from(stale && std::fs::remove_file(path).is_ok())
}

#[cfg(test)]
mod tests {
    use super::super::{ID_LEN, Origin, Sidecar};
    use super::*;
    use sha2::{Digest, Sha256};

    fn png(side: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(side, side, image::Rgb([side as u8, 40, 90]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn id_of(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))[..ID_LEN].to_string()
    }

    /// What a writer of `bytes` leaves when it dies after renaming the image
    /// and before the sidecar: its lock file, a partial temp file, the image.
    fn leave_a_half_put(root: &Path, bytes: &[u8]) -> (String, Vec<PathBuf>) {
        let id = id_of(bytes);
        let files = vec![
            root.join("tmp").join(format!("{id}.lock")),
            root.join("tmp").join(format!("{id}.5f3a.part")),
            root.join("images").join(format!("{id}.png")),
        ];
        std::fs::write(&files[0], b"").unwrap();
        std::fs::write(&files[1], &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(&files[2], bytes).unwrap();
        (id, files)
    }

    #[test]
    fn a_dead_writers_leftovers_go_at_once_and_a_live_writers_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = store.put(&png(8), Sidecar::new(Origin::Generated, "kept")).unwrap();
        let (_, dead) = leave_a_half_put(dir.path(), &png(9));
        let (live_id, live) = leave_a_half_put(dir.path(), &png(10));
        // The live writer holds its lock (flock is per open file, so this
        // process counts as another one).
        let held = IdLock::try_acquire(&dir.path().join("tmp"), &live_id).unwrap().expect("free");
        let swept = store.sweep();
        assert_eq!(swept, Swept { temp_files: 2, orphans: 1 });
        assert!(dead.iter().all(|p| !p.exists()), "a dead writer's files are removed however young they are");
        assert!(live.iter().skip(1).all(|p| p.exists()), "a live writer's temp file and image stay");
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(store.read(&kept.sidecar.id).unwrap().1, png(8), "whole images are untouched");
        drop(held);
        // Its writer gone, the next open removes the rest.
        Store::open(dir.path()).unwrap();
        assert!(live.iter().all(|p| !p.exists()));
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "tmp/ is empty");
    }

    #[test]
    fn old_style_temp_files_still_go_only_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (stale, young) =
            (dir.path().join("tmp").join("0f6e7c1e-old"), dir.path().join("tmp").join("0f6e7c1e-young"));
        for path in [&stale, &young] {
            std::fs::write(path, b"partial").unwrap();
        }
        let old = std::time::SystemTime::now() - STALE_TEMP - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
        assert_eq!(store.sweep().temp_files, 1);
        assert!(!stale.exists() && young.exists());
    }
}
