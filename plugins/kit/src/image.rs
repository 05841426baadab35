//! Image sniffing: the format of image bytes from their magic numbers, a
//! PNG's size from its header, and file-name extensions, for servers whose
//! answers do not say which format they chose.

/// MIME type from magic bytes (PNG, JPEG, WebP, GIF);
/// `application/octet-stream` for anything else.
pub fn sniff_mime(data: &[u8]) -> &'static str {
    sniff_image_mime(data).unwrap_or("application/octet-stream")
}

/// [`sniff_mime`] for callers with a fallback of their own: `None` when the
/// magic bytes are none of PNG, JPEG, WebP or GIF.
pub fn sniff_image_mime(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else if data.starts_with(b"GIF8") {
        Some("image/gif")
    } else {
        None
    }
}

/// File-name extension for an image MIME type (e.g. multipart file names);
/// `png` for anything unknown.
pub fn file_extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "png",
    }
}

/// An image MIME type from a file name's extension (`x.JPG` → `image/jpeg`);
/// `image/png` for anything unknown.
pub fn mime_from_filename(filename: &str) -> &'static str {
    match filename.rsplit('.').next().unwrap_or("").to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => "image/png",
    }
}

/// Width and height in pixels from a PNG's IHDR chunk; `None` when the
/// bytes are not a PNG.
pub fn png_size(data: &[u8]) -> Option<(u32, u32)> {
    if data.len() < 24 || &data[..8] != b"\x89PNG\r\n\x1a\n" || &data[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(data[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(data[20..24].try_into().ok()?);
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff_mime(b"hello"), "application/octet-stream");
    }

    #[test]
    fn sniffs_images_or_nothing() {
        assert_eq!(sniff_image_mime(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image_mime(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_image_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image_mime(b"GIF89a"), Some("image/gif"));
        assert_eq!(sniff_image_mime(b"hello"), None);
        assert_eq!(
            (file_extension("image/jpeg"), file_extension("image/webp"), file_extension("image/png")),
            ("jpg", "webp", "png")
        );
        assert_eq!(
            (mime_from_filename("x.JPG"), mime_from_filename("a.b.webp"), mime_from_filename("x")),
            ("image/jpeg", "image/webp", "image/png")
        );
    }

    #[test]
    fn png_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((640, 480)));
        assert_eq!(png_size(b"GIF89a"), None);
    }
}
