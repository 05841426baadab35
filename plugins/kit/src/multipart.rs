//! `multipart/form-data` bodies (RFC 7578): text fields and file parts,
//! with a boundary that occurs in none of the data. OpenAI's `/images/edits`
//! and ComfyUI's `/upload/image` take them.

/// One form part.
pub enum Part {
    /// `name=value` as a text field.
    Text { name: String, value: String },
    /// A file: field name, file name, content type and bytes.
    File { name: String, filename: String, content_type: String, data: Vec<u8> },
}

/// A form under construction: parts go out in the order they were added.
#[derive(Default)]
pub struct Form {
    parts: Vec<Part>,
}

impl Form {
    /// An empty form.
    pub fn new() -> Form {
        Form::default()
    }

    /// Add a text field `name=value` (sent as UTF-8, no content type).
    pub fn text(&mut self, name: &str, value: impl Into<String>) -> &mut Form {
        self.parts.push(Part::Text { name: name.into(), value: value.into() });
        self
    }

    /// Add a file part: form field `name`, `filename` (quotes and line
    /// breaks escaped), its `content_type` and bytes.
    pub fn file(&mut self, name: &str, filename: &str, content_type: &str, data: Vec<u8>) -> &mut Form {
        self.parts.push(Part::File {
            name: name.into(),
            filename: filename.into(),
            content_type: content_type.into(),
            data,
        });
        self
    }

    /// The finished `(content-type header value, body)`; the boundary is
    /// `easel-form-boundary-7f3a9c0000`, its counter raised until no part
    /// contains it.
    pub fn finish(self) -> (String, Vec<u8>) {
        let boundary = self.boundary();
        let mut body = Vec::new();
        for part in &self.parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match part {
                Part::Text { name, value } => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", quote(name)).as_bytes(),
                    );
                    body.extend_from_slice(value.as_bytes());
                }
                Part::File { name, filename, content_type, data } => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
                            quote(name),
                            quote(filename)
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(data);
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    /// A boundary that occurs in no part (checked, with a counter suffix).
    fn boundary(&self) -> String {
        let mut n = 0u32;
        loop {
            let candidate = format!("easel-form-boundary-7f3a9c{n:04}");
            let needle = candidate.as_bytes();
            let clash = self.parts.iter().any(|part| {
                let bytes: &[u8] = match part {
                    Part::Text { value, .. } => value.as_bytes(),
                    Part::File { data, .. } => data,
                };
                bytes.windows(needle.len()).any(|w| w == needle)
            });
            if !clash {
                return candidate;
            }
            n += 1;
        }
    }
}

/// Escape a quoted-string parameter value.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_text_and_files() {
        let mut form = Form::new();
        form.text("prompt", "a fox").file("image[]", "image_0.png", "image/png", b"PNGDATA".to_vec());
        let (content_type, body) = form.finish();
        let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na fox\r\n"
            ))
        );
        assert!(
            text.contains("name=\"image[]\"; filename=\"image_0.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n")
        );
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }

    #[test]
    fn boundary_avoids_the_data() {
        let mut form = Form::new();
        form.text("x", "easel-form-boundary-7f3a9c0000");
        let (content_type, _) = form.finish();
        assert!(content_type.ends_with("7f3a9c0001"));
    }
}
