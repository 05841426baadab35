//! The store's contents as one listing: the whole images (a sound sidecar
//! and the file it records, at the recorded size), newest first, and the
//! damaged entries with why, so that a damaged image is shown and can be
//! deleted instead of vanishing from every list.

use super::{Fault, Sidecar, Store, is_valid_id};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

/// A sidecar in `images/` that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// The id its file name gives (`<id>.json`): what `delete` takes.
    pub id: String,
    /// Why, e.g. "its file … is missing" or "its sidecar … is not valid JSON: …".
    pub problem: String,
    /// When the sidecar was last written (its file time).
    pub modified: Option<DateTime<Utc>>,
}

/// Everything in the store (see [`Store::catalog`]).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Whole images, newest first.
    pub images: Vec<Sidecar>,
    /// Damaged entries, by id.
    pub damaged: Vec<Damaged>,
}

impl Store {
    /// Every sidecar in the store, sorted into whole images (newest first)
    /// and damaged entries (by id). Files not named `<id>.json` are not
    /// entries; an image file without a sidecar is a put still under way (or
    /// a dead writer's, removed by the next [`Store::sweep`]).
    ///
    /// Costs one read of each sidecar and one `stat` of each image; the
    /// image bytes are hashed only by [`Store::read`].
    ///
    /// Errors: only when `images/` itself cannot be read.
    pub fn catalog(&self) -> Result<Catalog> {
        let dir = self.root.join("images");
        let mut catalog = Catalog::default();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")).filter(|id| is_valid_id(id)) else {
                continue;
            };
            match self.entry(id) {
                Ok(stored) => catalog.images.push(stored.sidecar),
                Err(Fault::Damaged(problem)) => {
                    let modified = entry.metadata().and_then(|m| m.modified()).ok().map(DateTime::<Utc>::from);
                    catalog.damaged.push(Damaged { id: id.to_string(), problem, modified });
                }
                // Deleted since the directory was read.
                Err(Fault::Missing) => {}
            }
        }
        catalog.images.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        catalog.damaged.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(catalog)
    }
}
