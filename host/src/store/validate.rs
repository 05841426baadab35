//! What may enter the store: image bytes probed by their header (format,
//! size, the [`MAX_PIXELS`] bomb guard), then checked whole — the file's own
//! structure read to its end marker (so a truncated file is refused even
//! where a lenient decoder would pad it) and the pixels fully decoded with
//! the `image` crate.

use anyhow::{Context, Result, bail};

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

/// Image bytes that passed [`validate`]: the only way to build one, so a
/// holder knows the whole image decodes. Cheap to move, not to clone.
#[derive(Debug)]
pub struct ValidImage {
    bytes: Vec<u8>,
    probe: Probe,
}

impl ValidImage {
    /// The encoded bytes, exactly as given to [`validate`].
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Format and pixel size.
    pub fn probe(&self) -> Probe {
        self.probe
    }
}

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

/// [`probe`], then the whole image: its structure to the end marker and a
/// full decode of its pixels. CPU-heavy (a decode): call it from async code
/// through `crate::blocking::image_work`.
///
/// Errors: what [`probe`] refuses; "the PNG is truncated: …" (or JPEG, GIF,
/// WebP) naming where the file ends early; "the image is damaged: …" with
/// the decoder's reason.
pub fn check_whole(bytes: &[u8]) -> Result<Probe> {
    decode_whole(bytes).map(|(probe, _)| probe)
}

/// [`check_whole`], keeping the decoded pixels (for a preview made without
/// a second decode).
pub fn decode_whole(bytes: &[u8]) -> Result<(Probe, image::DynamicImage)> {
    let probe = probe(bytes)?;
    match probe.mime_type {
        "image/png" => png_structure(bytes),
        "image/jpeg" => jpeg_structure(bytes),
        "image/gif" => gif_structure(bytes),
        _ => webp_structure(bytes),
    }?;
    let format = image::ImageFormat::from_mime_type(probe.mime_type).expect("probe returns known formats");
    match image::ImageReader::with_format(std::io::Cursor::new(bytes), format).decode() {
        Ok(pixels) => Ok((probe, pixels)),
        Err(image::ImageError::Limits(limit)) => bail!(
            "the {}x{} image needs more memory to decode than the decoder allows ({limit})",
            probe.width,
            probe.height
        ),
        Err(e) => Err(anyhow::Error::new(e).context("the image is damaged (its pixels do not decode)")),
    }
}

/// Check `bytes` whole (see [`check_whole`]) and keep them as a [`ValidImage`].
pub fn validate(bytes: Vec<u8>) -> Result<ValidImage> {
    let probe = check_whole(&bytes)?;
    Ok(ValidImage { bytes, probe })
}

fn truncated(format: &str, at: usize, what: &str, len: usize) -> anyhow::Error {
    anyhow::anyhow!("the {format} is truncated: {what} at byte {at} runs past the end of the file ({len} bytes)")
}

/// Walk the chunks (length, type, data, CRC) to `IEND`.
fn png_structure(bytes: &[u8]) -> Result<()> {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        let end = at.checked_add(12).and_then(|n| n.checked_add(length)).unwrap_or(usize::MAX);
        if end > bytes.len() {
            return Err(truncated("PNG", at, &format!("its {kind} chunk"), bytes.len()));
        }
        if kind == "IEND" {
            return Ok(());
        }
        at = end;
    }
    bail!("the PNG is truncated: it ends at byte {} without its IEND chunk", bytes.len())
}

/// Walk the markers to end-of-image (`FF D9`): segments are skipped by their
/// length (so a thumbnail's own end marker inside EXIF does not count), and
/// entropy-coded data is scanned for the next marker.
fn jpeg_structure(bytes: &[u8]) -> Result<()> {
    let mut at = 2;
    while let Some(ff) = bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
        at += ff;
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else { break };
        match marker {
            0xD9 => return Ok(()),
            // Stuffed 0xFF in scan data, restart markers, TEM: no length.
            0x00 | 0x01 | 0xD0..=0xD7 => at += 1,
            _ => {
                let Some(length) = bytes.get(at + 1..at + 3).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return Err(truncated("JPEG", at - 1, &format!("segment FF{marker:02X}"), bytes.len()));
                };
                if length < 2 {
                    bail!("the JPEG is damaged: segment FF{marker:02X} at byte {} has length {length}", at - 1);
                }
                if at + 1 + length > bytes.len() {
                    return Err(truncated("JPEG", at - 1, &format!("segment FF{marker:02X}"), bytes.len()));
                }
                at += 1 + length;
            }
        }
    }
    bail!("the JPEG is truncated: it ends at byte {} without its end-of-image marker", bytes.len())
}

/// Walk the blocks (extensions and image descriptors with their data
/// sub-blocks) to the trailer (`;`).
fn gif_structure(bytes: &[u8]) -> Result<()> {
    let len = bytes.len();
    let need =
        |at: usize, n: usize, what: &str| if at + n > len { Err(truncated("GIF", at, what, len)) } else { Ok(()) };
    let color_table = |flags: u8| if flags & 0x80 != 0 { 3usize << ((flags & 0x07) + 1) } else { 0 };
    need(0, 13, "its screen descriptor")?;
    let mut at = 13 + color_table(bytes[10]);
    let sub_blocks = |mut at: usize| -> Result<usize> {
        loop {
            need(at, 1, "a data sub-block")?;
            let size = bytes[at] as usize;
            at += 1;
            if size == 0 {
                return Ok(at);
            }
            need(at, size, "a data sub-block")?;
            at += size;
        }
    };
    loop {
        need(at, 1, "the next block")?;
        match bytes[at] {
            b';' => return Ok(()),
            b'!' => {
                need(at, 2, "an extension")?;
                at = sub_blocks(at + 2)?;
            }
            b',' => {
                need(at, 10, "an image descriptor")?;
                at += 10 + color_table(bytes[at + 9]);
                need(at, 1, "an image's LZW code size")?;
                at = sub_blocks(at + 1)?;
            }
            other => bail!("the GIF is damaged: unexpected block 0x{other:02X} at byte {at}"),
        }
    }
}

/// The RIFF header's size must fit in the file.
fn webp_structure(bytes: &[u8]) -> Result<()> {
    let Some(size) = bytes.get(4..8).map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")) as usize) else {
        return Err(truncated("WebP", 0, "its RIFF header", bytes.len()));
    };
    if size.saturating_add(8) > bytes.len() {
        bail!(
            "the WebP is truncated: its RIFF header says {} bytes, the file has {}",
            size.saturating_add(8),
            bytes.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let pixels =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(pixels).write_to(&mut std::io::Cursor::new(&mut out), format).unwrap();
        out
    }

    const FORMATS: [image::ImageFormat; 4] =
        [image::ImageFormat::Png, image::ImageFormat::Jpeg, image::ImageFormat::Gif, image::ImageFormat::WebP];

    #[test]
    fn whole_images_of_every_accepted_format_pass() {
        for format in FORMATS {
            let bytes = encoded(format);
            let probe = check_whole(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e:#}"));
            assert_eq!((probe.width, probe.height), (64, 48), "{format:?}");
            assert_eq!(validate(bytes.clone()).unwrap().bytes(), &bytes[..]);
        }
    }

    #[test]
    fn every_truncation_of_every_format_is_refused_as_truncated_or_damaged() {
        for format in FORMATS {
            let bytes = encoded(format);
            // Every cut that keeps the header readable, from one byte short to the header's end.
            for cut in (40..bytes.len()).rev() {
                let Ok(_) = probe(&bytes[..cut]) else { continue };
                let error = format!(
                    "{:#}",
                    check_whole(&bytes[..cut])
                        .expect_err(&format!("{format:?} cut at {cut} of {} passed", bytes.len()))
                );
                assert!(error.contains("truncated") || error.contains("damaged"), "{format:?} cut at {cut}: {error}");
            }
        }
    }

    #[test]
    fn a_png_whose_pixel_data_is_corrupt_is_refused_though_its_structure_is_whole() {
        let mut bytes = encoded(image::ImageFormat::Png);
        let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap();
        bytes[idat + 10] ^= 0x55;
        png_structure(&bytes).expect("the chunks are all there");
        let error = format!("{:#}", check_whole(&bytes).unwrap_err());
        assert!(error.contains("damaged"), "{error}");
    }

    #[test]
    fn corrupted_bytes_of_every_format_never_panic_the_checks() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for format in FORMATS {
            let whole = encoded(format);
            for _ in 0..500 {
                let mut bytes = whole.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
                bytes.truncate(1 + (next() as usize) % (bytes.len() + 8));
                // A header mutated to claim megapixels only costs time here.
                if probe(&bytes).is_ok_and(|p| u64::from(p.width) * u64::from(p.height) > 1 << 16) {
                    continue;
                }
                let _ = check_whole(&bytes);
            }
        }
    }

    #[test]
    fn bytes_after_the_end_marker_are_allowed() {
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg, image::ImageFormat::Gif] {
            let mut bytes = encoded(format);
            bytes.extend_from_slice(b"trailing bytes some tools append");
            check_whole(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e:#}"));
        }
    }
}
