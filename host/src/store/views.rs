//! Views: an original resized, cropped, rotated, flipped and re-encoded on
//! demand (`image://{id}/view?width=…&format=…`, `/i/{id}.{ext}?…`,
//! `show_image`) with the `image` crate, kept in a bounded LRU cache.
//!
//! Query keys: `width`, `height` (fit inside, aspect kept), `format`
//! (`png`, `jpeg`/`jpg`, `webp`, `gif`; never SVG), `quality` (JPEG, 1–100),
//! `crop_x`, `crop_y`, `crop_w`, `crop_h` (pixels of the original),
//! `rotate` (90, 180, 270), `flip` (`h` or `v`). Order: crop, rotate, flip, resize.

use anyhow::{Context, Result, bail};
use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, ImageFormat};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Largest side a view may have, pixels.
pub const MAX_VIEW_SIDE: u32 = 4096;

/// Views kept in memory.
const CACHE_ENTRIES: usize = 256;
/// Bytes of encoded views kept in memory.
const CACHE_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewFormat {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl ViewFormat {
    pub fn parse(text: &str) -> Option<ViewFormat> {
        match text.to_ascii_lowercase().as_str() {
            "png" => Some(ViewFormat::Png),
            "jpeg" | "jpg" => Some(ViewFormat::Jpeg),
            "webp" => Some(ViewFormat::Webp),
            "gif" => Some(ViewFormat::Gif),
            _ => None,
        }
    }
    pub fn mime(self) -> &'static str {
        match self {
            ViewFormat::Png => "image/png",
            ViewFormat::Jpeg => "image/jpeg",
            ViewFormat::Webp => "image/webp",
            ViewFormat::Gif => "image/gif",
        }
    }
    pub fn from_mime(mime: &str) -> ViewFormat {
        match mime {
            "image/jpeg" => ViewFormat::Jpeg,
            "image/webp" => ViewFormat::Webp,
            "image/gif" => ViewFormat::Gif,
            _ => ViewFormat::Png,
        }
    }
}

/// A requested transform of an original.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewSpec {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<ViewFormat>,
    pub quality: Option<u8>,
    pub crop: Option<(u32, u32, u32, u32)>,
    pub rotate: Option<u32>,
    pub flip: Option<char>,
}

/// An encoded view.
#[derive(Debug, Clone)]
pub struct View {
    pub mime_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl ViewSpec {
    /// Parse `key=value&…` (the part after `?`). Errors name the key.
    pub fn from_query(query: &str) -> Result<ViewSpec> {
        let mut spec = ViewSpec::default();
        let mut crop = [None::<u32>; 4];
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let number =
                || value.parse::<u32>().with_context(|| format!("`{key}` must be a whole number, not `{value}`"));
            match key.as_ref() {
                "width" => spec.width = Some(number()?),
                "height" => spec.height = Some(number()?),
                "format" => {
                    spec.format = Some(
                        ViewFormat::parse(&value)
                            .with_context(|| format!("`format` must be png, jpeg, webp or gif, not `{value}`"))?,
                    )
                }
                "quality" => spec.quality = Some(u8::try_from(number()?.clamp(1, 100)).unwrap_or(85)),
                "crop_x" => crop[0] = Some(number()?),
                "crop_y" => crop[1] = Some(number()?),
                "crop_w" => crop[2] = Some(number()?),
                "crop_h" => crop[3] = Some(number()?),
                "rotate" => match number()? {
                    0 => {}
                    r @ (90 | 180 | 270) => spec.rotate = Some(r),
                    other => bail!("`rotate` must be 90, 180 or 270, not {other}"),
                },
                "flip" => match value.as_ref() {
                    "h" | "horizontal" => spec.flip = Some('h'),
                    "v" | "vertical" => spec.flip = Some('v'),
                    other => bail!("`flip` must be h or v, not `{other}`"),
                },
                other => bail!(
                    "unknown view parameter `{other}` (use width, height, format, quality, crop_x, crop_y, crop_w, crop_h, rotate, flip)"
                ),
            }
        }
        match crop {
            [None, None, None, None] => {}
            [x, y, Some(w), Some(h)] if w > 0 && h > 0 => spec.crop = Some((x.unwrap_or(0), y.unwrap_or(0), w, h)),
            _ => bail!("a crop needs crop_w and crop_h (positive), with optional crop_x and crop_y"),
        }
        for (key, value) in [("width", spec.width), ("height", spec.height)] {
            if value == Some(0) || value.is_some_and(|v| v > MAX_VIEW_SIDE) {
                bail!("`{key}` must be between 1 and {MAX_VIEW_SIDE}");
            }
        }
        Ok(spec)
    }

    /// A stable cache key for this spec.
    pub fn key(&self) -> String {
        format!("{self:?}")
    }

    /// Apply to `bytes` (an original) and encode.
    pub fn render(&self, bytes: &[u8], original_mime: &str) -> Result<View> {
        let mut image = image::load_from_memory(bytes).context("decoding the original")?;
        if let Some((x, y, w, h)) = self.crop {
            let (iw, ih) = image.dimensions();
            // u64: `x + w` must not wrap for crops near u32::MAX.
            let fits =
                |start: u32, len: u32, full: u32| len > 0 && u64::from(start) + u64::from(len) <= u64::from(full);
            if !fits(x, w, iw) || !fits(y, h, ih) {
                bail!("the crop {w}x{h}+{x}+{y} does not fit inside the {iw}x{ih} image");
            }
            image = image.crop_imm(x, y, w, h);
        }
        image = match self.rotate {
            Some(90) => image.rotate90(),
            Some(180) => image.rotate180(),
            Some(270) => image.rotate270(),
            _ => image,
        };
        image = match self.flip {
            Some('h') => image.fliph(),
            Some('v') => image.flipv(),
            _ => image,
        };
        if self.width.is_some() || self.height.is_some() {
            let (w, h) = image.dimensions();
            let box_w = self.width.unwrap_or(MAX_VIEW_SIDE);
            let box_h = self.height.unwrap_or(MAX_VIEW_SIDE);
            if (w, h) != (box_w, box_h) {
                image = image.resize(box_w, box_h, FilterType::Triangle);
            }
        }
        let format = self.format.unwrap_or(ViewFormat::from_mime(original_mime));
        let (width, height) = image.dimensions();
        let data = encode(&image, format, self.quality.unwrap_or(85))?;
        Ok(View { mime_type: format.mime(), width, height, data })
    }
}

fn encode(image: &DynamicImage, format: ViewFormat, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        ViewFormat::Jpeg => {
            let rgb = image.to_rgb8();
            out = super::preview::encode_jpeg(rgb.as_raw(), rgb.width(), rgb.height(), quality)?;
        }
        ViewFormat::Png => image.write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)?,
        ViewFormat::Webp => DynamicImage::ImageRgba8(image.to_rgba8())
            .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::WebP)?,
        ViewFormat::Gif => DynamicImage::ImageRgba8(image.to_rgba8())
            .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Gif)?,
    }
    Ok(out)
}

/// Bounded LRU of encoded views, by (image id, spec).
pub struct ViewCache {
    entries: Mutex<(lru::LruCache<String, Arc<View>>, usize)>,
}

impl Default for ViewCache {
    fn default() -> Self {
        ViewCache { entries: Mutex::new((lru::LruCache::new(NonZeroUsize::new(CACHE_ENTRIES).unwrap()), 0)) }
    }
}

impl ViewCache {
    pub fn get(&self, id: &str, spec: &ViewSpec) -> Option<Arc<View>> {
        self.get_named(id, &spec.key())
    }

    pub fn put(&self, id: &str, spec: &ViewSpec, view: Arc<View>) {
        self.put_named(id, &spec.key(), view)
    }

    /// The view of `id` cached under `name` (a spec's key, or a preview's).
    pub fn get_named(&self, id: &str, name: &str) -> Option<Arc<View>> {
        self.entries.lock().unwrap().0.get(&format!("{id}|{name}")).cloned()
    }

    /// Cache `view` of `id` under `name`, evicting the least recently used
    /// views past [`CACHE_ENTRIES`] or [`CACHE_BYTES`].
    pub fn put_named(&self, id: &str, name: &str, view: Arc<View>) {
        let mut guard = self.entries.lock().unwrap();
        let (cache, bytes) = &mut *guard;
        *bytes += view.data.len();
        if let Some((_, old)) = cache.push(format!("{id}|{name}"), view) {
            *bytes -= old.data.len();
        }
        while *bytes > CACHE_BYTES {
            match cache.pop_lru() {
                Some((_, old)) => *bytes -= old.data.len(),
                None => break,
            }
        }
    }

    /// Drop every view of `id` (after a delete).
    pub fn forget(&self, id: &str) {
        let mut guard = self.entries.lock().unwrap();
        let (cache, bytes) = &mut *guard;
        let prefix = format!("{id}|");
        let keys: Vec<String> = cache.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(k, _)| k.clone()).collect();
        for key in keys {
            if let Some(old) = cache.pop(&key) {
                *bytes -= old.data.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::RgbImage::from_fn(width, height, |x, _| image::Rgb([if x < width / 2 { 255 } else { 0 }, 0, 0]));
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn crop_rotate_resize_and_reencode() {
        let spec = ViewSpec::from_query("crop_w=40&crop_h=20&rotate=90&format=jpeg&quality=70").unwrap();
        let view = spec.render(&png(100, 50), "image/png").unwrap();
        assert_eq!((view.width, view.height, view.mime_type), (20, 40, "image/jpeg"));
        assert_eq!(image::guess_format(&view.data).unwrap(), ImageFormat::Jpeg);
        let fit = ViewSpec::from_query("width=50").unwrap().render(&png(100, 50), "image/png").unwrap();
        assert_eq!((fit.width, fit.height), (50, 25));
    }

    #[test]
    fn a_crop_that_would_wrap_around_is_refused() {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(16, 8, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        for query in ["crop_x=1&crop_y=0&crop_w=4294967295&crop_h=1", "crop_x=0&crop_y=4294967295&crop_w=2&crop_h=2"] {
            let spec = ViewSpec::from_query(query).unwrap();
            let err = spec.render(&png, "image/png").err().unwrap_or_else(|| panic!("{query} rendered"));
            assert!(err.to_string().contains("does not fit inside the 16x8 image"), "{query}: {err}");
        }
    }

    #[test]
    fn flip_moves_pixels() {
        let view = ViewSpec::from_query("flip=h&format=png").unwrap().render(&png(10, 2), "image/png").unwrap();
        let decoded = image::load_from_memory(&view.data).unwrap().to_rgb8();
        assert_eq!(decoded.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(decoded.get_pixel(9, 0).0, [255, 0, 0]);
    }

    #[test]
    fn bad_parameters_name_the_key() {
        for (query, key) in [
            ("format=svg", "format"),
            ("rotate=45", "rotate"),
            ("width=0", "width"),
            ("crop_x=3", "crop_w"),
            ("size=3", "size"),
        ] {
            let err = ViewSpec::from_query(query).unwrap_err().to_string();
            assert!(err.contains(key), "{query}: {err}");
        }
    }
}
