//! A `multipart/form-data` body for `POST /upload/image`: the `image` file
//! part plus text fields `type`, `subfolder` and `overwrite` (PROTOCOLS §5.3).

/// A finished body and the `content-type` header value that goes with it.
pub struct Multipart {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Build the body. `boundary_seed` makes the boundary unique per call.
pub fn upload_image(filename: &str, mime_type: &str, data: &[u8], fields: &[(&str, &str)], boundary_seed: u64) -> Multipart {
    let boundary = format!("----easel-comfyui-{boundary_seed:016x}");
    let mut body = Vec::with_capacity(data.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    let filename = filename.replace(['"', '\r', '\n'], "_");
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\nContent-Type: {mime_type}\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Multipart { content_type: format!("multipart/form-data; boundary={boundary}"), body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_fields_file_and_closing_boundary() {
        let m = upload_image("in.png", "image/png", b"PNGDATA", &[("type", "input"), ("overwrite", "true")], 0xab);
        let text = String::from_utf8_lossy(&m.body);
        assert!(m.content_type.ends_with("----easel-comfyui-00000000000000ab"));
        assert!(text.contains("name=\"type\"\r\n\r\ninput\r\n"));
        assert!(text.contains("name=\"image\"; filename=\"in.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n"));
        assert!(text.ends_with("------easel-comfyui-00000000000000ab--\r\n"));
    }
}
