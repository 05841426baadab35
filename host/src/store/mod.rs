//! The image store: content-addressed originals (`<root>/images/<id>.<ext>`,
//! id = first 16 hex digits of the sha256 of the bytes) each with a JSON
//! sidecar (`<id>.json`). Only whole images enter ([`validate`]); writes are
//! atomic and locked per id ([`write`]); paths are built only from checked
//! ids, never from sidecar content; a sidecar or file that does not match is
//! reported damaged ([`catalog`]) and can be deleted; what a killed writer
//! leaves is swept at open ([`sweep`]).

pub mod catalog;
pub mod gallery;
pub mod preview;
mod previews;
mod sidecar;
pub mod sweep;
pub mod validate;
pub mod views;
mod write;

pub use catalog::{Catalog, Damaged};
pub use sidecar::{Origin, Sidecar};
pub use sweep::{STALE_TEMP, Swept};
pub use validate::{MAX_PIXELS, Probe, ValidImage, check_whole, probe, validate};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use write::IdLock;

/// Hex digits of the sha256 used as an id (64 bits).
pub const ID_LEN: usize = 16;

/// Formats the store keeps (never SVG: several MCP clients break on it).
pub const ACCEPTED_MIME: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/// Largest sidecar read, bytes (a real one is a few KiB).
pub const MAX_SIDECAR: u64 = 1 << 20;

/// File extensions of stored images, one per [`ACCEPTED_MIME`] entry.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "webp", "gif"];

/// An image as stored.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub sidecar: Sidecar,
    pub path: PathBuf,
}

/// The store at one root directory (cheap to clone; clones share the view cache).
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    views: std::sync::Arc<views::ViewCache>,
    /// The budget of the previews inside tool results ([`Store::with_previews`]).
    previews: crate::config::PreviewSettings,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.root.display())
    }
}

/// What remains of a deleted image: enough for its children's lineage.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tombstone {
    pub id: String,
    pub deleted_at: chrono::DateTime<chrono::Utc>,
    pub prompt: Option<String>,
}

/// Why an id cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// No sidecar: not in the store.
    Missing,
    /// A sidecar that is there but cannot be trusted, or whose file is
    /// missing or not the recorded bytes; the text says which.
    Damaged(String),
}

/// File extension for a MIME type.
pub fn extension(mime_type: &str) -> &'static str {
    match mime_type {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "png",
    }
}

/// Whether `id` has the shape of a store id (so it is safe in a path).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn damaged(id: &str, why: &str) -> anyhow::Error {
    anyhow::anyhow!("image `{id}` is damaged: {why}; delete it with delete_image (then generate or import it again)")
}

impl Store {
    /// Open (creating if needed) a store at `root`, and sweep what writers
    /// killed mid-put left there ([`Store::sweep`]).
    pub fn open(root: &Path) -> Result<Store> {
        for dir in ["images", "tmp", "jobs"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        let root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
        let store = Store { root, views: Default::default(), previews: Default::default() };
        store.sweep();
        Ok(store)
    }

    /// The default root: `<user data dir>/easel` (e.g. `~/.local/share/easel`).
    pub fn default_root() -> PathBuf {
        dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("easel")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory for job records (owned by `jobs`).
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// Store `bytes` with `sidecar` (whose id, mime, size and hash are filled
    /// in here). Identical bytes give the same id; the first sidecar wins.
    /// Synchronous and CPU-heavy (a full decode, see [`validate::check_whole`]):
    /// from async code, call it through `crate::blocking::image_work`.
    ///
    /// Errors: bytes that are not a whole accepted image (nothing is
    /// written), and I/O errors naming the file.
    pub fn put(&self, bytes: &[u8], sidecar: Sidecar) -> Result<StoredImage> {
        let probe = check_whole(bytes)?;
        self.put_checked(bytes, probe, sidecar)
    }

    /// [`Store::put`] for bytes already checked by [`validate`] (no second decode).
    pub fn put_valid(&self, image: &ValidImage, sidecar: Sidecar) -> Result<StoredImage> {
        self.put_checked(image.bytes(), image.probe(), sidecar)
    }

    fn put_checked(&self, bytes: &[u8], probe: Probe, sidecar: Sidecar) -> Result<StoredImage> {
        self.put_if(bytes, probe, sidecar, || Ok(()))
    }

    /// Hash, lock and write `bytes` (whose header gave `probe`), asking
    /// `verdict` before the image is renamed into place (see
    /// [`IdLock::write_atomically_if`]): a refusal leaves nothing behind.
    fn put_if(
        &self,
        bytes: &[u8],
        probe: Probe,
        mut sidecar: Sidecar,
        verdict: impl FnOnce() -> Result<()>,
    ) -> Result<StoredImage> {
        let digest = hex::encode(Sha256::digest(bytes));
        let id = digest[..ID_LEN].to_string();
        sidecar.id = id.clone();
        sidecar.sha256 = digest;
        sidecar.mime_type = probe.mime_type.to_string();
        sidecar.width = probe.width;
        sidecar.height = probe.height;
        sidecar.bytes = bytes.len() as u64;
        let lock = IdLock::acquire(&self.root.join("tmp"), &id)
            .with_context(|| format!("locking {} for writing", self.root.join("tmp").display()))?;
        // Under the lock a whole earlier copy is final; anything else
        // (missing, damaged, half-written by a dead process) is rewritten.
        if let Ok((existing, _)) = self.read(&id) {
            if existing.sha256 != sidecar.sha256 {
                bail!(
                    "image {id} is already in the store with other bytes (sha256 {} vs {}): refusing to overwrite it",
                    existing.sha256,
                    sidecar.sha256
                );
            }
            verdict()?;
            return Ok(StoredImage { path: self.image_path(&id, &existing.mime_type), sidecar: existing });
        }
        let path = self.image_path(&id, probe.mime_type);
        lock.write_atomically_if(&path, bytes, verdict)?;
        lock.write_atomically(&self.sidecar_path(&id), &serde_json::to_vec_pretty(&sidecar)?)?;
        Ok(StoredImage { sidecar, path })
    }

    /// The sidecar of `id`. Errors if the id is malformed or unknown, or the
    /// sidecar is damaged (unreadable, or its id, hash or format do not fit
    /// its file name).
    pub fn metadata(&self, id: &str) -> Result<Sidecar> {
        let id = self.checked(id)?;
        self.sidecar_of(id).map_err(|fault| self.fault_error(id, fault))
    }

    /// Sidecar and file path of `id`: the path is built from the checked id,
    /// never from the sidecar. Errors as [`Store::metadata`], and when the
    /// file is missing or not the size its sidecar records (damaged).
    pub fn get(&self, id: &str) -> Result<StoredImage> {
        let id = self.checked(id)?;
        self.entry(id).map_err(|fault| self.fault_error(id, fault))
    }

    /// The original bytes of `id`, checked against the sha256 its sidecar
    /// records. Errors as [`Store::get`], and "damaged" on a mismatch.
    pub fn read(&self, id: &str) -> Result<(Sidecar, Vec<u8>)> {
        let stored = self.get(id)?;
        let bytes = std::fs::read(&stored.path).with_context(|| format!("reading {}", stored.path.display()))?;
        if hex::encode(Sha256::digest(&bytes)) != stored.sidecar.sha256 {
            let why = format!(
                "its file {} does not match the sha256 its sidecar records (the file was truncated or changed)",
                stored.path.display()
            );
            return Err(damaged(id, &why));
        }
        Ok((stored.sidecar, bytes))
    }

    /// A transformed view of `id` (cached in a bounded LRU).
    pub fn view(&self, id: &str, spec: &views::ViewSpec) -> Result<std::sync::Arc<views::View>> {
        if let Some(view) = self.views.get(id, spec) {
            return Ok(view);
        }
        let (sidecar, bytes) = self.read(id)?;
        let view = std::sync::Arc::new(spec.render(&bytes, &sidecar.mime_type)?);
        self.views.put(id, spec, view.clone());
        Ok(view)
    }

    /// Delete `id` — whole or damaged: its sidecar, every image file named
    /// for it, and its cached views — leaving a tombstone so that the
    /// lineage of its children can say "deleted". `Ok(None)` when nothing
    /// of `id` is in the store. Errors: a malformed id; I/O errors naming
    /// the file.
    pub fn delete(&self, id: &str) -> Result<Option<Tombstone>> {
        let id = self.checked(id)?;
        let lock = IdLock::acquire(&self.root.join("tmp"), id)
            .with_context(|| format!("locking {} for writing", self.root.join("tmp").display()))?;
        let files: Vec<PathBuf> = std::iter::once(self.sidecar_path(id))
            .chain(IMAGE_EXTENSIONS.iter().map(|ext| self.root.join("images").join(format!("{id}.{ext}"))))
            .filter(|path| path.symlink_metadata().is_ok())
            .collect();
        if files.is_empty() {
            return Ok(None);
        }
        let prompt = self.sidecar_of(id).ok().and_then(|s| s.prompt);
        let tombstone = Tombstone { id: id.to_string(), deleted_at: chrono::Utc::now(), prompt };
        lock.write_atomically(&self.tombstone_path(id), &serde_json::to_vec_pretty(&tombstone)?)?;
        // The sidecar first: from then on nobody serves the image.
        for path in files {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("deleting {}", path.display()));
                }
                _ => {}
            }
        }
        self.views.forget(id);
        Ok(Some(tombstone))
    }

    /// Why `id` is damaged (its sidecar cannot be trusted, or its file is
    /// missing or not the recorded size), or `None` when it is whole, not in
    /// the store, or not an id. A `stat`, not a hash: see [`Store::read`].
    pub fn damage(&self, id: &str) -> Option<String> {
        match self.entry(self.checked(id).ok()?) {
            Err(Fault::Damaged(why)) => Some(why),
            _ => None,
        }
    }

    /// The tombstone of a deleted image, if `id` was deleted.
    pub fn tombstone(&self, id: &str) -> Option<Tombstone> {
        let id = self.checked(id).ok()?;
        serde_json::from_slice(&std::fs::read(self.tombstone_path(id)).ok()?).ok()
    }

    /// Each parent of `sidecar` with its state: `present` or `deleted`.
    pub fn lineage(&self, sidecar: &Sidecar) -> Vec<serde_json::Value> {
        sidecar
            .parents
            .iter()
            .map(|parent| match (self.metadata(parent), self.tombstone(parent)) {
                (Ok(_), _) => {
                    serde_json::json!({"id": parent, "status": "present", "uri": format!("image://{parent}")})
                }
                (Err(_), Some(t)) => serde_json::json!({"id": parent, "status": "deleted", "deleted_at": t.deleted_at}),
                (Err(_), None) => serde_json::json!({"id": parent, "status": "missing"}),
            })
            .collect()
    }

    /// The sidecars of all whole images, newest first (damaged entries are
    /// left out; [`Store::catalog`] has them too).
    pub fn list(&self) -> Result<Vec<Sidecar>> {
        Ok(self.catalog()?.images)
    }

    /// The sidecar of a checked `id`, trusted only if it is a regular file
    /// (not a link out of the store) of at most [`MAX_SIDECAR`] bytes that
    /// fits its file name.
    fn sidecar_of(&self, id: &str) -> Result<Sidecar, Fault> {
        let path = self.sidecar_path(id);
        let describe = |what: String| Fault::Damaged(format!("its sidecar {} {what}", path.display()));
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(describe("is not a regular file (a link or a directory)".into()));
            }
            Ok(meta) if meta.len() > MAX_SIDECAR => {
                return Err(describe(format!("is {} bytes, over the {MAX_SIDECAR} a sidecar may have", meta.len())));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Fault::Missing),
            Err(e) => return Err(describe(format!("cannot be read: {e}"))),
        }
        let text = std::fs::read(&path).map_err(|e| describe(format!("cannot be read: {e}")))?;
        let sidecar: Sidecar =
            serde_json::from_slice(&text).map_err(|e| describe(format!("is not valid JSON: {e}")))?;
        match sidecar.problem(id) {
            Some(problem) => Err(Fault::Damaged(format!("its sidecar {}: {problem}", path.display()))),
            None => Ok(sidecar),
        }
    }

    /// Sidecar and file of a checked `id`: the file must be a regular file
    /// (not a link out of the store) of the size the sidecar records (an
    /// `lstat`; [`Store::read`] also checks the hash).
    fn entry(&self, id: &str) -> Result<StoredImage, Fault> {
        let sidecar = self.sidecar_of(id)?;
        let path = self.image_path(id, &sidecar.mime_type);
        let describe = |what: String| Fault::Damaged(format!("its file {} {what}", path.display()));
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => Err(describe("is not a regular file (a link or a directory)".into())),
            Ok(meta) if meta.len() == sidecar.bytes => Ok(StoredImage { sidecar, path }),
            Ok(meta) => Err(describe(format!(
                "is {} bytes, not the {} its sidecar records (truncated or replaced)",
                meta.len(),
                sidecar.bytes
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Fault::Damaged(format!("its sidecar is there but its file {} is missing", path.display())))
            }
            Err(e) => Err(describe(format!("cannot be read: {e}"))),
        }
    }

    fn fault_error(&self, id: &str, fault: Fault) -> anyhow::Error {
        match fault {
            Fault::Missing => anyhow::anyhow!("no image with id `{id}` in the store"),
            Fault::Damaged(why) => damaged(id, &why),
        }
    }

    fn checked<'a>(&self, id: &'a str) -> Result<&'a str> {
        if !is_valid_id(id) {
            bail!("`{id}` is not an image id (ids are {ID_LEN} lower-case hex digits, e.g. from generate_image)");
        }
        Ok(id)
    }

    fn image_path(&self, id: &str, mime_type: &str) -> PathBuf {
        self.root.join("images").join(format!("{id}.{}", extension(mime_type)))
    }

    fn tombstone_path(&self, id: &str) -> PathBuf {
        self.root.join("images").join(format!("{id}.deleted"))
    }

    fn sidecar_path(&self, id: &str) -> PathBuf {
        self.root.join("images").join(format!("{id}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(width, height, image::Rgb([9, 99, 199]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn put_then_reopen_reads_the_same_image_and_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let stored =
            Store::open(dir.path()).unwrap().put(&png(30, 20), Sidecar::new(Origin::Generated, "a fox")).unwrap();
        assert_eq!((stored.sidecar.width, stored.sidecar.height), (30, 20));
        assert!(is_valid_id(&stored.sidecar.id));
        let reopened = Store::open(dir.path()).unwrap();
        let (sidecar, bytes) = reopened.read(&stored.sidecar.id).unwrap();
        assert_eq!(sidecar.prompt.as_deref(), Some("a fox"));
        assert_eq!(bytes, png(30, 20));
        assert_eq!(reopened.list().unwrap().len(), 1);
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "no temp files left behind");
    }

    fn id_of(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))[..ID_LEN].to_string()
    }

    #[test]
    fn what_a_killed_writer_leaves_is_invisible_and_swept_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = store.put(&png(8, 8), Sidecar::new(Origin::Generated, "kept")).unwrap();
        // A process killed mid-put: its lock file, a half-written temp file,
        // and an image whose sidecar was never written. Its writer is dead,
        // so its lock is free: that is what makes all of it stale.
        let orphan = png(10, 10);
        let orphan_id = id_of(&orphan);
        let left = [
            dir.path().join("tmp").join(format!("{orphan_id}.lock")),
            dir.path().join("tmp").join(format!("{orphan_id}.77e1.part")),
            dir.path().join("images").join(format!("{orphan_id}.png")),
        ];
        std::fs::write(&left[0], b"").unwrap();
        std::fs::write(&left[1], &orphan[..orphan.len() / 3]).unwrap();
        std::fs::write(&left[2], &orphan).unwrap();
        let listed: Vec<String> = store.list().unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(listed, vec![kept.sidecar.id.clone()], "only whole images are listed");
        assert!(store.get(&orphan_id).is_err(), "an image without its sidecar is not served");

        let reopened = Store::open(dir.path()).unwrap();
        for path in &left {
            assert!(!path.exists(), "{} is swept at the next open", path.display());
        }
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "tmp/ is empty");
        // Storing the same bytes again is an ordinary put.
        let again = reopened.put(&orphan, Sidecar::new(Origin::Generated, "retry")).unwrap();
        assert_eq!(again.sidecar.id, orphan_id);
        assert_eq!(reopened.read(&orphan_id).unwrap().1, orphan);
    }

    #[test]
    fn a_truncated_image_is_refused_and_leaves_nothing_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let whole = png(40, 30);
        let error =
            format!("{:#}", store.put(&whole[..whole.len() - 20], Sidecar::new(Origin::Imported, "")).unwrap_err());
        assert!(error.contains("the PNG is truncated"), "{error}");
        for sub in ["images", "tmp"] {
            assert!(std::fs::read_dir(dir.path().join(sub)).unwrap().next().is_none(), "{sub}/ is empty");
        }
    }

    #[test]
    fn a_sidecar_whose_id_points_outside_the_store_is_damaged_and_nothing_outside_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let stored = store.put(&png(12, 12), Sidecar::new(Origin::Generated, "a fox")).unwrap();
        let id = stored.sidecar.id.clone();
        // `images/../../victim.png` is the victim; the real file is gone, so
        // only the victim could answer for this id.
        let victim = dir.path().join("victim.png");
        std::fs::write(&victim, png(13, 13)).unwrap();
        std::fs::remove_file(&stored.path).unwrap();
        let mut forged = stored.sidecar.clone();
        forged.id = "../../victim".into();
        let sidecar = dir.path().join("store/images").join(format!("{id}.json"));
        std::fs::write(&sidecar, serde_json::to_vec(&forged).unwrap()).unwrap();

        for error in [
            store.get(&id).map(|_| ()),
            store.read(&id).map(|_| ()),
            store.metadata(&id).map(|_| ()),
            store.view(&id, &Default::default()).map(|_| ()),
        ] {
            let error = format!("{:#}", error.unwrap_err());
            assert!(error.contains("is damaged") && error.contains("its id field says \"../../victim\""), "{error}");
        }
        assert!(store.list().unwrap().is_empty());
        let catalog = store.catalog().unwrap();
        assert_eq!(catalog.damaged.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
        assert!(store.delete(&id).unwrap().is_some(), "a damaged entry can be deleted");
        assert!(!sidecar.exists());
        assert_eq!(std::fs::read(&victim).unwrap(), png(13, 13), "the file outside the store is untouched");
    }

    #[test]
    fn damaged_entries_are_listed_with_why_served_by_nobody_and_deletable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let [garbled, missing, truncated, changed] =
            [1, 2, 3, 4].map(|n| store.put(&png(20 + n, 20), Sidecar::new(Origin::Generated, "x")).unwrap());
        std::fs::write(dir.path().join("images").join(format!("{}.json", garbled.sidecar.id)), b"{ not json").unwrap();
        std::fs::remove_file(&missing.path).unwrap();
        let bytes = std::fs::read(&truncated.path).unwrap();
        std::fs::write(&truncated.path, &bytes[..bytes.len() / 2]).unwrap();
        let mut bytes = std::fs::read(&changed.path).unwrap();
        let last = bytes.len() - 30;
        bytes[last] ^= 0xff;
        std::fs::write(&changed.path, &bytes).unwrap();

        let catalog = store.catalog().unwrap();
        let why = |image: &StoredImage| {
            catalog.damaged.iter().find(|d| d.id == image.sidecar.id).map(|d| d.problem.clone()).unwrap_or_default()
        };
        assert!(why(&garbled).contains("is not valid JSON"), "{}", why(&garbled));
        assert!(why(&missing).contains("is missing"), "{}", why(&missing));
        assert!(why(&truncated).contains("not the") && why(&truncated).contains("truncated"), "{}", why(&truncated));
        assert_eq!(catalog.damaged.len(), 3, "{:?}", catalog.damaged);
        // Same size, other bytes: only the hash can tell, and read checks it.
        let error = format!("{:#}", store.read(&changed.sidecar.id).unwrap_err());
        assert!(error.contains("is damaged") && error.contains("does not match the sha256"), "{error}");

        for image in [&garbled, &missing, &truncated, &changed] {
            assert!(store.delete(&image.sidecar.id).unwrap().is_some(), "{}", image.sidecar.id);
            assert!(store.tombstone(&image.sidecar.id).is_some());
        }
        let catalog = store.catalog().unwrap();
        assert!(catalog.images.is_empty() && catalog.damaged.is_empty(), "{catalog:?}");
        assert!(store.delete(&garbled.sidecar.id).unwrap().is_none(), "nothing left to delete");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("images"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| !n.to_string_lossy().ends_with(".deleted"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_store_are_damaged_never_followed_and_deleting_them_keeps_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let [image, sidecar] =
            [1, 2].map(|n| store.put(&png(30 + n, 9), Sidecar::new(Origin::Generated, "x")).unwrap());
        // The image file, and the other's sidecar, replaced by links to
        // copies outside the store (so that following them would "work").
        let outside = dir.path().join("outside.png");
        std::fs::rename(&image.path, &outside).unwrap();
        std::os::unix::fs::symlink(&outside, &image.path).unwrap();
        let sidecar_path = dir.path().join("store/images").join(format!("{}.json", sidecar.sidecar.id));
        let outside_json = dir.path().join("outside.json");
        std::fs::rename(&sidecar_path, &outside_json).unwrap();
        std::os::unix::fs::symlink(&outside_json, &sidecar_path).unwrap();
        for id in [&image.sidecar.id, &sidecar.sidecar.id] {
            let error = format!("{:#}", store.read(id).unwrap_err());
            assert!(error.contains("is damaged") && error.contains("not a regular file"), "{error}");
            assert!(store.delete(id).unwrap().is_some());
        }
        assert!(outside.exists() && outside_json.exists(), "the link targets outside the store are kept");
        assert!(store.catalog().unwrap().damaged.is_empty());
    }

    #[test]
    fn putting_the_same_bytes_again_repairs_a_damaged_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stored = store.put(&png(16, 16), Sidecar::new(Origin::Generated, "first")).unwrap();
        std::fs::write(&stored.path, b"\x89PNG").unwrap();
        assert!(store.read(&stored.sidecar.id).is_err());
        store.put(&png(16, 16), Sidecar::new(Origin::Generated, "again")).unwrap();
        assert_eq!(store.read(&stored.sidecar.id).unwrap().1, png(16, 16));
        // A whole copy is kept as it is: the first sidecar wins.
        let kept = store.put(&png(16, 16), Sidecar::new(Origin::Generated, "third")).unwrap();
        assert_eq!(kept.sidecar.prompt.as_deref(), Some("again"));
    }

    #[test]
    fn ids_that_could_escape_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for bad in ["../../etc/passwd", "0123456789abcdeF", "/abs", ""] {
            let err = store.metadata(bad).unwrap_err().to_string();
            assert!(err.contains("not an image id"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused_by_its_header() {
        // A real 1x1 PNG whose IHDR is rewritten to claim 23000x23000.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&23000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&23000u32.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = probe(&bomb).unwrap_err().to_string();
        assert!(err.contains("23000x23000 (529 megapixels), over the 67 megapixel limit"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        assert!(Store::open(dir.path()).unwrap().put(&bomb, Sidecar::new(Origin::Imported, "")).is_err());
        assert_eq!(probe(&png(4, 3)).unwrap().width, 4, "ordinary images still pass");
    }

    #[test]
    fn non_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = store.put(b"<svg></svg>", Sidecar::new(Origin::Imported, "x")).unwrap_err();
        assert!(err.to_string().contains("not an image"), "{err}");
    }
}
