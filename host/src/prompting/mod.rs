//! Structured prompts: the `structured_prompt` argument of generate_image,
//! edit_image and vary_image, read field by field into a
//! [`StructuredPrompt`] (an unknown key, a wrong type or an over-long value
//! is refused naming its path, `structured_prompt.text[0].colour`), merged
//! for variations and styles ([`merge_patch`], RFC 7396), and compiled into
//! the prompt style a model declares (`compile`).
//!
//! The argument stays JSON in the job record and the sidecar recipe, so a
//! variation can change one field (`{"lighting": "night"}`) and recompile.

mod compile;

pub use compile::{Compiled, compile};

use crate::field_error::FieldError;
use serde_json::{Map, Value};

/// Longest text of one field, characters.
pub const MAX_FIELD_CHARS: usize = 1000;
/// Most items of one list (`subjects`, `palette`, `text`, `negative`, ...).
pub const MAX_ITEMS: usize = 16;

/// The keys a structured prompt may have, for error messages and the tool
/// description.
pub const KEYS: [&str; 11] = [
    "subject",
    "subjects",
    "scene",
    "setting",
    "style",
    "composition",
    "lighting",
    "palette",
    "mood",
    "text",
    "negative",
];

/// One of several subjects: what it is, where it is, what it looks like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subject {
    pub description: String,
    /// E.g. "left foreground".
    pub position: Option<String>,
    /// E.g. ["red coat", "smiling"].
    pub attributes: Vec<String>,
}

/// The look, without naming artists: a medium and descriptors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Look {
    /// E.g. "watercolor", "35mm film photograph".
    pub medium: Option<String>,
    /// E.g. ["loose brushwork", "high contrast"].
    pub descriptors: Vec<String>,
}

/// The camera: shot, angle, lens, framing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Composition {
    /// E.g. "close-up", "wide shot".
    pub shot: Option<String>,
    /// E.g. "low angle", "overhead".
    pub angle: Option<String>,
    /// E.g. "85mm", "fisheye".
    pub lens: Option<String>,
    /// E.g. "rule of thirds", "centered".
    pub framing: Option<String>,
}

/// Exact text to render in the image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lettering {
    /// The text, rendered verbatim.
    pub content: String,
    /// E.g. "top center", "on the shop sign".
    pub placement: Option<String>,
    /// E.g. "bold white sans-serif".
    pub style: Option<String>,
}

/// A caller's structured description of an image, read by [`parse`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StructuredPrompt {
    pub subject: Option<String>,
    pub subjects: Vec<Subject>,
    /// `scene` or its synonym `setting`.
    pub scene: Option<String>,
    pub style: Look,
    pub composition: Composition,
    pub lighting: Option<String>,
    /// Colours, e.g. ["teal", "burnt orange"].
    pub palette: Vec<String>,
    pub mood: Option<String>,
    pub text: Vec<Lettering>,
    /// What the image should not show.
    pub negative: Vec<String>,
}

impl StructuredPrompt {
    /// Whether it says what the image shows (a subject or a scene), so that
    /// it can stand without a prose `prompt`.
    pub fn describes_content(&self) -> bool {
        self.subject.is_some() || !self.subjects.is_empty() || self.scene.is_some()
    }
}

/// Read `value` (the `structured_prompt` argument) field by field.
///
/// Strings are trimmed and blank ones read as absent. Lists accept a single
/// string too (`"palette": "teal"`); `style` and `composition` accept a
/// string (read as the medium and the shot); `text` accepts a string, an
/// object or a list of either; `subjects` items a string or an object.
///
/// Errors: an unknown key (naming it and the known ones), a wrong type, a
/// value over [`MAX_FIELD_CHARS`], a list over [`MAX_ITEMS`], a text item
/// without `content`, or both `scene` and `setting`; each names its path
/// under `structured_prompt`.
pub fn parse(value: &Map<String, Value>) -> Result<StructuredPrompt, FieldError> {
    let root = Path::root();
    root.known_keys(value, &KEYS)?;
    if value.get("scene").is_some_and(|v| !v.is_null()) && value.get("setting").is_some_and(|v| !v.is_null()) {
        return Err(root.key("setting").error("give scene or setting (they are the same), not both"));
    }
    let scene_key = if value.get("setting").is_some_and(|v| !v.is_null()) { "setting" } else { "scene" };
    Ok(StructuredPrompt {
        subject: root.key("subject").text(value.get("subject"))?,
        subjects: root.key("subjects").list(value.get("subjects"), subject)?,
        scene: root.key(scene_key).text(value.get(scene_key))?,
        style: look(&root.key("style"), value.get("style"))?,
        composition: composition(&root.key("composition"), value.get("composition"))?,
        lighting: root.key("lighting").text(value.get("lighting"))?,
        palette: root.key("palette").texts(value.get("palette"))?,
        mood: root.key("mood").text(value.get("mood"))?,
        text: root.key("text").list(value.get("text"), lettering)?,
        negative: root.key("negative").texts(value.get("negative"))?,
    })
}

/// `base` with `patch` applied as a JSON merge patch (RFC 7396): a key set
/// to `null` is removed, an object merges into an object key by key, any
/// other value replaces. This is how `vary_image`'s `structured_prompt`
/// changes one field of the original's, and how a request's own fields win
/// over a saved style's.
pub fn merge_patch(base: Map<String, Value>, patch: Map<String, Value>) -> Map<String, Value> {
    let mut merged = base;
    for (key, value) in patch {
        match value {
            Value::Null => {
                merged.remove(&key);
            }
            Value::Object(inner) => {
                let under = match merged.remove(&key) {
                    Some(Value::Object(existing)) => existing,
                    _ => Map::new(),
                };
                merged.insert(key, Value::Object(merge_patch(under, inner)));
            }
            other => {
                merged.insert(key, other);
            }
        }
    }
    merged
}

/// A location under `structured_prompt`, for error fields.
#[derive(Debug, Clone)]
struct Path(String);

impl Path {
    fn root() -> Path {
        Path("structured_prompt".into())
    }

    fn key(&self, key: &str) -> Path {
        Path(format!("{}.{key}", self.0))
    }

    fn index(&self, index: usize) -> Path {
        Path(format!("{}[{index}]", self.0))
    }

    fn error(&self, message: impl Into<String>) -> FieldError {
        FieldError::field(&self.0, message)
    }

    fn known_keys(&self, object: &Map<String, Value>, known: &[&str]) -> Result<(), FieldError> {
        match object.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(self.key(unknown).error(format!("unknown key `{unknown}`; use {}", known.join(", ")))),
            None => Ok(()),
        }
    }

    /// An optional string, trimmed; blank reads as absent.
    fn text(&self, value: Option<&Value>) -> Result<Option<String>, FieldError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > MAX_FIELD_CHARS {
                    return Err(self.error(format!("is longer than {MAX_FIELD_CHARS} characters")));
                }
                Ok((!s.is_empty()).then(|| s.to_string()))
            }
            Some(other) => Err(self.error(format!("must be a string, not {}", kind(other)))),
        }
    }

    /// A string or a list of them; blanks dropped.
    fn texts(&self, value: Option<&Value>) -> Result<Vec<String>, FieldError> {
        self.list(value, |path, item| match item {
            Value::String(_) => Ok(path.text(Some(item))?.into_iter().collect()),
            other => Err(path.error(format!("must be a string, not {}", kind(other)))),
        })
    }

    /// A list of items read by `read` (each giving zero or more), or one
    /// item given without its list.
    fn list<T>(
        &self,
        value: Option<&Value>,
        read: impl Fn(&Path, &Value) -> Result<Vec<T>, FieldError>,
    ) -> Result<Vec<T>, FieldError> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                if items.len() > MAX_ITEMS {
                    return Err(self.error(format!("has {} items; at most {MAX_ITEMS}", items.len())));
                }
                let mut all = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    all.extend(read(&self.index(index), item)?);
                }
                Ok(all)
            }
            Some(one) => read(self, one),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(path: &Path, value: &'a Value, known: &[&str]) -> Result<&'a Map<String, Value>, FieldError> {
    let Value::Object(object) = value else {
        return Err(path.error(format!(
            "must be a string or an object with {}, not {}",
            known.join(", "),
            kind(value)
        )));
    };
    path.known_keys(object, known)?;
    Ok(object)
}

fn subject(path: &Path, value: &Value) -> Result<Vec<Subject>, FieldError> {
    if let Value::String(_) = value {
        return Ok(path
            .text(Some(value))?
            .map(|description| Subject { description, ..Subject::default() })
            .into_iter()
            .collect());
    }
    let o = object(path, value, &["description", "position", "attributes"])?;
    let Some(description) = path.key("description").text(o.get("description"))? else {
        return Err(path.key("description").error("is required: what this subject is"));
    };
    Ok(vec![Subject {
        description,
        position: path.key("position").text(o.get("position"))?,
        attributes: path.key("attributes").texts(o.get("attributes"))?,
    }])
}

fn look(path: &Path, value: Option<&Value>) -> Result<Look, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(Look::default()),
        Some(Value::String(_)) => Ok(Look { medium: path.text(value)?, descriptors: Vec::new() }),
        Some(v) => {
            let o = object(path, v, &["medium", "descriptors"])?;
            Ok(Look {
                medium: path.key("medium").text(o.get("medium"))?,
                descriptors: path.key("descriptors").texts(o.get("descriptors"))?,
            })
        }
    }
}

fn composition(path: &Path, value: Option<&Value>) -> Result<Composition, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(Composition::default()),
        Some(Value::String(_)) => Ok(Composition { shot: path.text(value)?, ..Composition::default() }),
        Some(v) => {
            let o = object(path, v, &["shot", "angle", "lens", "framing"])?;
            Ok(Composition {
                shot: path.key("shot").text(o.get("shot"))?,
                angle: path.key("angle").text(o.get("angle"))?,
                lens: path.key("lens").text(o.get("lens"))?,
                framing: path.key("framing").text(o.get("framing"))?,
            })
        }
    }
}

fn lettering(path: &Path, value: &Value) -> Result<Vec<Lettering>, FieldError> {
    if let Value::String(_) = value {
        return Ok(path
            .text(Some(value))?
            .map(|content| Lettering { content, ..Lettering::default() })
            .into_iter()
            .collect());
    }
    let o = object(path, value, &["content", "placement", "style"])?;
    let Some(content) = path.key("content").text(o.get("content"))? else {
        return Err(path.key("content").error("is required: the exact text to render"));
    };
    Ok(vec![Lettering {
        content,
        placement: path.key("placement").text(o.get("placement"))?,
        style: path.key("style").text(o.get("style"))?,
    }])
}

#[cfg(test)]
mod tests;
