//! The image store: content-addressed originals (`<root>/images/<id>.<ext>`,
//! id = first 16 hex digits of the sha256 of the bytes) each with a JSON
//! sidecar (`<id>.json`). Writes are atomic (temp file + rename), ids are
//! checked before they touch a path, and everything survives restarts.

pub mod gallery;
pub mod preview;
pub mod views;
mod sidecar;

pub use sidecar::{Origin, Sidecar};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Hex digits of the sha256 used as an id (64 bits).
pub const ID_LEN: usize = 16;

/// Age after which a temp file is taken to be left by a dead process.
pub const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Formats the store keeps (never SVG: several MCP clients break on it).
pub const ACCEPTED_MIME: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

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

/// Facts read from image bytes: format and pixel size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub mime_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Most pixels an image may have (8192×8192, 256 MiB as RGBA): a small file
/// that decodes to gigabytes (a decompression bomb) is refused by its header.
pub const MAX_PIXELS: u64 = 8192 * 8192;

/// Identify PNG/JPEG/WebP/GIF bytes and read their size without decoding
/// the pixels. Errors on anything else, and on more than [`MAX_PIXELS`].
pub fn probe(bytes: &[u8]) -> Result<Probe> {
    let format = image::guess_format(bytes).context("not an image (unknown format)")?;
    let mime_type = match format {
        image::ImageFormat::Png => "image/png",
        image::ImageFormat::Jpeg => "image/jpeg",
        image::ImageFormat::WebP => "image/webp",
        image::ImageFormat::Gif => "image/gif",
        other => bail!("{other:?} images are not accepted (use PNG, JPEG, WebP or GIF)"),
    };
    let (width, height) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .context("the image header is damaged")?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        bail!(
            "the image is {width}x{height} ({} megapixels), over the {} megapixel limit (8192x8192)",
            u64::from(width) * u64::from(height) / 1_000_000,
            MAX_PIXELS / 1_000_000
        );
    }
    Ok(Probe { mime_type, width, height })
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

impl Store {
    /// Open (creating if needed) a store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        for dir in ["images", "tmp", "jobs"] {
            std::fs::create_dir_all(root.join(dir)).with_context(|| format!("creating {}", root.join(dir).display()))?;
        }
        let root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
        let store = Store { root, views: Default::default() };
        store.sweep_temp(STALE_TEMP);
        Ok(store)
    }

    /// Remove temp files older than `max_age` from `tmp/` and `jobs/`: what a
    /// process killed mid-write leaves. Younger ones may belong to another
    /// live process writing the same store, so they stay.
    pub fn sweep_temp(&self, max_age: std::time::Duration) -> usize {
        let mut removed = 0;
        for (dir, is_temp) in [(self.root.join("tmp"), (|_: &str| true) as fn(&str) -> bool), (self.jobs_dir(), |name: &str| name.ends_with(".tmp"))] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.filter_map(|e| e.ok()) {
                // Names first: a store with many job records stats only its temp files.
                if !entry.file_name().to_str().is_some_and(is_temp) {
                    continue;
                }
                let stale = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= max_age);
                if stale && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
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
    pub fn put(&self, bytes: &[u8], mut sidecar: Sidecar) -> Result<StoredImage> {
        let probe = probe(bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let id = digest[..ID_LEN].to_string();
        sidecar.id = id.clone();
        sidecar.sha256 = digest;
        sidecar.mime_type = probe.mime_type.to_string();
        sidecar.width = probe.width;
        sidecar.height = probe.height;
        sidecar.bytes = bytes.len() as u64;
        let path = self.image_path(&id, probe.mime_type);
        if let Ok(existing) = self.metadata(&id) {
            if path.exists() {
                return Ok(StoredImage { sidecar: existing, path });
            }
        }
        self.write_atomically(&path, bytes)?;
        self.write_atomically(&self.sidecar_path(&id), &serde_json::to_vec_pretty(&sidecar)?)?;
        Ok(StoredImage { sidecar, path })
    }

    /// The sidecar of `id`. Errors if the id is malformed or unknown.
    pub fn metadata(&self, id: &str) -> Result<Sidecar> {
        let path = self.sidecar_path(self.checked(id)?);
        let text = std::fs::read(&path).map_err(|_| anyhow::anyhow!("no image with id `{id}` in the store"))?;
        serde_json::from_slice(&text).with_context(|| format!("sidecar {} is damaged", path.display()))
    }

    /// Sidecar and file path of `id`.
    pub fn get(&self, id: &str) -> Result<StoredImage> {
        let sidecar = self.metadata(id)?;
        let path = self.image_path(&sidecar.id, &sidecar.mime_type);
        if !path.exists() {
            bail!("image `{id}` has metadata but its file is missing");
        }
        Ok(StoredImage { sidecar, path })
    }

    /// The original bytes of `id`.
    pub fn read(&self, id: &str) -> Result<(Sidecar, Vec<u8>)> {
        let stored = self.get(id)?;
        let bytes = std::fs::read(&stored.path).with_context(|| format!("reading {}", stored.path.display()))?;
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

    /// Delete `id` and its cached views, leaving a tombstone so that the
    /// lineage of its children can say "deleted".
    pub fn delete(&self, id: &str) -> Result<Tombstone> {
        let stored = self.get(id)?;
        let tombstone = Tombstone { id: stored.sidecar.id.clone(), deleted_at: chrono::Utc::now(), prompt: stored.sidecar.prompt.clone() };
        self.write_atomically(&self.tombstone_path(id), &serde_json::to_vec_pretty(&tombstone)?)?;
        std::fs::remove_file(self.sidecar_path(id)).with_context(|| format!("deleting the metadata of {id}"))?;
        std::fs::remove_file(&stored.path).with_context(|| format!("deleting {}", stored.path.display()))?;
        self.views.forget(id);
        Ok(tombstone)
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
                (Ok(_), _) => serde_json::json!({"id": parent, "status": "present", "uri": format!("image://{parent}")}),
                (Err(_), Some(t)) => serde_json::json!({"id": parent, "status": "deleted", "deleted_at": t.deleted_at}),
                (Err(_), None) => serde_json::json!({"id": parent, "status": "missing"}),
            })
            .collect()
    }

    /// All sidecars, newest first.
    pub fn list(&self) -> Result<Vec<Sidecar>> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.root.join("images"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(sidecar) = std::fs::read(&path).map_err(anyhow::Error::from).and_then(|b| Ok(serde_json::from_slice::<Sidecar>(&b)?)) {
                    all.push(sidecar);
                }
            }
        }
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
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

    /// Write to `tmp/`, fsync, then rename over `path`: readers see the old
    /// file or the whole new one, never a part.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let result = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            // Make the rename itself durable (the directory entry).
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.with_context(|| format!("writing {}", path.display()))
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
        let stored = Store::open(dir.path()).unwrap().put(&png(30, 20), Sidecar::new(Origin::Generated, "a fox")).unwrap();
        assert_eq!((stored.sidecar.width, stored.sidecar.height), (30, 20));
        assert!(is_valid_id(&stored.sidecar.id));
        let reopened = Store::open(dir.path()).unwrap();
        let (sidecar, bytes) = reopened.read(&stored.sidecar.id).unwrap();
        assert_eq!(sidecar.prompt.as_deref(), Some("a fox"));
        assert_eq!(bytes, png(30, 20));
        assert_eq!(reopened.list().unwrap().len(), 1);
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "no temp files left behind");
    }

    #[test]
    fn what_a_killed_writer_leaves_is_invisible_and_swept_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = store.put(&png(8, 8), Sidecar::new(Origin::Generated, "kept")).unwrap();
        // A process killed mid-put: a half-written temp file, and an image
        // whose sidecar was never written; plus a temp file of a live writer.
        let stale = dir.path().join("tmp").join("dead-writer");
        std::fs::write(&stale, &png(9, 9)[..20]).unwrap();
        let old = std::time::SystemTime::now() - STALE_TEMP - std::time::Duration::from_secs(60);
        std::fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
        let live = dir.path().join("tmp").join("live-writer");
        std::fs::write(&live, b"partial").unwrap();
        let orphan = png(10, 10);
        let orphan_id = hex::encode(Sha256::digest(&orphan))[..ID_LEN].to_string();
        std::fs::write(dir.path().join("images").join(format!("{orphan_id}.png")), &orphan).unwrap();

        let reopened = Store::open(dir.path()).unwrap();
        assert!(!stale.exists(), "a stale temp file is swept at open");
        assert!(live.exists(), "a young temp file may be another live writer's and stays");
        let listed: Vec<String> = reopened.list().unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(listed, vec![kept.sidecar.id.clone()], "only whole images are listed");
        assert!(reopened.get(&orphan_id).is_err(), "an image without its sidecar is not served");
        // Storing the same bytes again completes the interrupted put.
        let again = reopened.put(&orphan, Sidecar::new(Origin::Generated, "retry")).unwrap();
        assert_eq!(again.sidecar.id, orphan_id);
        assert_eq!(reopened.read(&orphan_id).unwrap().1, orphan);
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
