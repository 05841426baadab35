//! The previews tool results carry, cached beside the views: made while an
//! image is stored, from the pixels its validation decoded (so a fresh
//! result costs one decode, and the preview is encoded while the file's
//! fsync runs), or on demand from the file for older images.

use super::preview::{preview, preview_of};
use super::validate::{check_whole, decode_whole, probe};
use super::views::View;
use super::{Sidecar, Store, StoredImage};
use crate::config::PreviewSettings;
use anyhow::{Context, Result};
use std::sync::Arc;

impl Store {
    /// This store with `budget` for the previews inside tool results.
    pub fn with_previews(mut self, budget: PreviewSettings) -> Store {
        self.previews = budget;
        self
    }

    /// [`Store::put`], also making the preview of the image for a result of
    /// `share` images (which split the result's byte budget). A second
    /// thread decodes the pixels (the whole-image check) and then makes the
    /// preview from them, while this one hashes the bytes and writes and
    /// fsyncs them under a temp name; they are renamed into place only once
    /// the decode has passed. A preview that fails is logged (and made again
    /// on demand), never failing the put. CPU-heavy: call it through
    /// `crate::blocking::image_work`.
    ///
    /// Errors: as [`Store::put`]; nothing is left in the store.
    pub fn put_with_preview(&self, bytes: &[u8], sidecar: Sidecar, share: usize) -> Result<StoredImage> {
        let probe = probe(bytes)?;
        let (edge, budget) = self.preview_budget(share);
        let (verdict_tx, verdict_rx) = std::sync::mpsc::channel();
        let (stored, made) = std::thread::scope(|scope| {
            let decoding = std::thread::Builder::new().name("easel-decode".into()).spawn_scoped(scope, move || {
                let decoded = decode_whole(bytes);
                let _ = verdict_tx.send(decoded.as_ref().map(|_| ()).map_err(|e| anyhow::anyhow!("{e:#}")));
                decoded.map(|(_, pixels)| preview_of(&pixels, bytes, edge, budget))
            });
            let Ok(decoding) = decoding else {
                // No second thread: check first, then write.
                return (check_whole(bytes).and_then(|_| self.put_if(bytes, probe, sidecar, || Ok(()))), None);
            };
            let verdict = || verdict_rx.recv().unwrap_or_else(|_| Err(anyhow::anyhow!("the image check panicked")));
            let stored = self.put_if(bytes, probe, sidecar, verdict);
            (stored, decoding.join().ok())
        });
        let stored = stored?;
        let id = &stored.sidecar.id;
        match made {
            Some(Ok(Ok(Some(view)))) => self.views.put_named(id, &key(edge, budget), Arc::new(view)),
            Some(Ok(Ok(None))) => {}
            Some(Ok(Err(e))) => tracing::warn!("no preview for {id}: {e:#}"),
            Some(Err(e)) => tracing::warn!("no preview for {id}: {e:#}"),
            None => tracing::warn!("no preview for {id}: the preview thread failed"),
        }
        Ok(stored)
    }

    /// The preview of `id` for a result of `share` images: cached, else made
    /// from the file (read, checked against its sha256, decoded). `Ok(None)`
    /// when no preview fits the budget. CPU-heavy on a miss: call it through
    /// `crate::blocking::image_work`.
    ///
    /// Errors: as [`Store::read`], and an image that does not decode.
    pub fn preview(&self, id: &str, share: usize) -> Result<Option<Arc<View>>> {
        if let Some(view) = self.cached_preview(id, share) {
            return Ok(Some(view));
        }
        let (edge, budget) = self.preview_budget(share);
        let (_, bytes) = self.read(id)?;
        let Some(view) = preview(&bytes, edge, budget).with_context(|| format!("previewing {id}"))? else {
            return Ok(None);
        };
        let view = Arc::new(view);
        self.views.put_named(id, &key(edge, budget), view.clone());
        Ok(Some(view))
    }

    /// The cached preview of `id` for a result of `share` images, if made.
    pub fn cached_preview(&self, id: &str, share: usize) -> Option<Arc<View>> {
        let (edge, budget) = self.preview_budget(share);
        self.views.get_named(id, &key(edge, budget))
    }

    /// (longest edge, bytes) of one preview in a result of `share` images.
    fn preview_budget(&self, share: usize) -> (u32, usize) {
        (self.previews.max_edge, self.previews.max_bytes / share.max(1))
    }
}

/// The view-cache name of a preview with this budget.
fn key(edge: u32, budget: usize) -> String {
    format!("preview:{edge}:{budget}")
}

#[cfg(test)]
mod tests {
    use super::super::Origin;
    use super::*;

    fn noisy_png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            let v = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) as u8;
            image::Rgb([v, v.wrapping_mul(7), (x + y) as u8])
        });
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn a_put_with_preview_stores_the_image_and_caches_the_preview_a_result_then_uses() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(dir.path()).unwrap().with_previews(PreviewSettings { max_edge: 256, max_bytes: 80_000 });
        let png = noisy_png(1024, 512);
        let stored = store.put_with_preview(&png, Sidecar::new(Origin::Generated, "noise"), 2).unwrap();
        assert_eq!(store.read(&stored.sidecar.id).unwrap().1, png);
        let cached = store.cached_preview(&stored.sidecar.id, 2).expect("the preview was made while storing");
        assert_eq!((cached.width, cached.height), (256, 128));
        assert!(cached.data.len() <= 40_000, "half the budget each for two images: {} bytes", cached.data.len());
        assert!(store.cached_preview(&stored.sidecar.id, 1).is_none(), "another budget is another preview");
        let made = store.preview(&stored.sidecar.id, 1).unwrap().unwrap();
        assert_eq!(image::load_from_memory(&made.data).unwrap().width(), 256);
    }

    #[test]
    fn a_put_with_preview_of_a_damaged_image_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut png = noisy_png(300, 200);
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        png[idat + 40] ^= 0x5A;
        let error =
            format!("{:#}", store.put_with_preview(&png, Sidecar::new(Origin::Generated, "bad"), 1).unwrap_err());
        assert!(error.contains("damaged"), "{error}");
        for sub in ["images", "tmp"] {
            let left: Vec<_> = std::fs::read_dir(dir.path().join(sub)).unwrap().collect();
            assert!(left.is_empty(), "{sub}/ has {left:?}");
        }
        assert!(store.list().unwrap().is_empty());
    }
}
