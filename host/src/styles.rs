//! Saved styles: a name, a markdown brief and defaults for settings a
//! request leaves unset, one JSON file each under `<store>/styles/`, so they
//! survive restarts and every session of the deployment shares them.
//! [`apply`] merges one into a generation before it is routed; the brief
//! joins the prompt, so what reached the provider is in the job record and
//! the sidecar, and a later `vary_image` does not apply it twice.

use crate::field_error::FieldError;
use crate::request::GenerateSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Longest brief, characters.
pub const MAX_BRIEF_CHARS: usize = 4000;
/// Most styles one store keeps.
pub const MAX_STYLES: usize = 200;

/// One saved style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Style {
    /// 1-40 of a-z 0-9 - _
    pub name: String,
    /// The look (markdown): medium, palette, lighting, mood.
    pub brief: String,
    /// Default size, e.g. "2:3".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// Default provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Added to the negative prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// Structured-prompt defaults (as generate_image's); the request's keys win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_prompt: Option<crate::request::Params>,
}

/// The styles of one store (`<store>/styles/<name>.json`).
#[derive(Debug, Clone)]
pub struct StyleBook {
    dir: PathBuf,
}

/// Refuse a style name that is not 1–40 of `a-z 0-9 - _` (field `name`).
pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = (1..=40).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(FieldError::field(field, "use 1-40 lower-case letters, digits, - or _")) }
}

impl StyleBook {
    /// The styles kept under `store_root/styles`.
    pub fn new(store_root: &Path) -> StyleBook {
        StyleBook { dir: store_root.join("styles") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Every readable style, by name; a damaged file is skipped (and logged).
    pub fn list(&self) -> Vec<Style> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut styles: Vec<Style> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .filter_map(|name| self.get(&name))
            .collect();
        styles.sort_by(|a, b| a.name.cmp(&b.name));
        styles
    }

    /// The style `name`, if saved and readable.
    pub fn get(&self, name: &str) -> Option<Style> {
        check_name("style", name).ok()?;
        let bytes = std::fs::read(self.path(name)).ok()?;
        match serde_json::from_slice::<Style>(&bytes) {
            Ok(style) if style.name == name => Some(style),
            Ok(_) | Err(_) => {
                tracing::warn!("style file {} is damaged; skipped", self.path(name).display());
                None
            }
        }
    }

    /// Save `style` (temp file, fsync, rename); true when it replaced one.
    ///
    /// Errors: a bad name or an empty or over-long brief (naming the field),
    /// the store full of styles, or the file not written.
    pub fn save(&self, mut style: Style) -> Result<bool, FieldError> {
        check_name("name", &style.name)?;
        style.brief = style.brief.trim().to_string();
        if style.brief.is_empty() || style.brief.chars().count() > MAX_BRIEF_CHARS {
            return Err(FieldError::field("brief", format!("give 1-{MAX_BRIEF_CHARS} characters describing the look")));
        }
        for text in [&mut style.aspect_ratio, &mut style.provider, &mut style.model, &mut style.negative_prompt] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
        if let Some(structured) = &style.structured_prompt {
            crate::prompting::parse(structured)?;
        }
        if style.structured_prompt.as_ref().is_some_and(|s| s.is_empty()) {
            style.structured_prompt = None;
        }
        let replaced = self.path(&style.name).is_file();
        if !replaced && self.list().len() >= MAX_STYLES {
            return Err(FieldError::other(format!("{MAX_STYLES} styles are saved already; delete_style one first")));
        }
        let written = (|| {
            std::fs::create_dir_all(&self.dir)?;
            let temp = self.dir.join(format!(".{}.{}.part", style.name, std::process::id()));
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&serde_json::to_vec_pretty(&style).expect("a style serializes"))?;
            file.sync_all()?;
            std::fs::rename(&temp, self.path(&style.name))
        })();
        written.map_err(|e| FieldError::other(format!("cannot save the style in {}: {e}", self.dir.display())))?;
        Ok(replaced)
    }

    /// Delete the style `name`; false when there was none.
    pub fn delete(&self, name: &str) -> Result<bool, FieldError> {
        check_name("name", name)?;
        match std::fs::remove_file(self.path(name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(FieldError::other(format!("cannot delete {}: {e}", self.path(name).display()))),
        }
    }
}

/// `spec` with its `style` applied and cleared: the brief appended to the
/// prompt, the style's aspect ratio when the request gives no size, its
/// provider and model when the request names no provider, its negative
/// prompt joined to the request's, and its structured-prompt defaults
/// under the request's own (the request's keys win; a `null` removes one).
///
/// Errors: an unknown style (field `style`, naming the saved ones).
pub fn apply(book: &StyleBook, mut spec: GenerateSpec) -> Result<GenerateSpec, FieldError> {
    let Some(name) = spec.settings.style.take().filter(|n| !n.trim().is_empty()) else { return Ok(spec) };
    let Some(style) = book.get(name.trim()) else {
        let saved: Vec<String> = book.list().into_iter().map(|s| s.name).collect();
        let known = if saved.is_empty() {
            "none is saved; save_style makes one".to_string()
        } else {
            format!("saved: {}", saved.join(", "))
        };
        return Err(FieldError::field("style", format!("no style `{name}` ({known})")));
    };
    spec.prompt = format!("{}\n\nStyle \"{}\": {}", spec.prompt.trim_end(), style.name, style.brief);
    let settings = &mut spec.settings;
    if settings.width.is_none() && settings.height.is_none() && settings.aspect_ratio.is_none() {
        settings.aspect_ratio = style.aspect_ratio;
    }
    if settings.provider.is_none() && (style.provider.is_some() || style.model.is_some()) {
        settings.provider = style.provider;
        settings.model = settings.model.take().or(style.model);
    }
    settings.negative_prompt = match (settings.negative_prompt.take(), style.negative_prompt) {
        (Some(own), Some(theirs)) => Some(format!("{own}, {theirs}")),
        (own, theirs) => own.or(theirs),
    };
    if let Some(defaults) = style.structured_prompt {
        let own = settings.structured_prompt.take().unwrap_or_default();
        settings.structured_prompt = Some(crate::prompting::merge_patch(defaults, own)).filter(|s| !s.is_empty());
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(name: &str) -> Style {
        Style {
            name: name.into(),
            brief: "ink and wash, high contrast".into(),
            aspect_ratio: Some("2:3".into()),
            provider: None,
            model: None,
            negative_prompt: Some("colour".into()),
            structured_prompt: None,
        }
    }

    #[test]
    fn a_style_fills_only_what_the_request_left_unset_and_is_applied_once() {
        let dir = tempfile::tempdir().unwrap();
        let book = StyleBook::new(dir.path());
        assert!(!book.save(style("ink")).unwrap());
        assert!(book.save(style("ink")).unwrap(), "saving again replaces");
        let mut spec = GenerateSpec::text("a heron");
        spec.settings.style = Some("ink".into());
        spec.settings.negative_prompt = Some("text".into());
        let applied = apply(&book, spec).unwrap();
        assert_eq!(applied.prompt, "a heron\n\nStyle \"ink\": ink and wash, high contrast");
        assert_eq!(applied.settings.aspect_ratio.as_deref(), Some("2:3"));
        assert_eq!(applied.settings.negative_prompt.as_deref(), Some("text, colour"));
        assert_eq!(applied.settings.style, None, "cleared, so a variation of the result does not apply it twice");
        assert_eq!(apply(&book, applied.clone()).unwrap(), applied);
        let mut sized = GenerateSpec::text("a heron");
        sized.settings.style = Some("ink".into());
        sized.settings.width = Some(512);
        assert_eq!(apply(&book, sized).unwrap().settings.aspect_ratio, None, "the request's own size wins");
    }

    #[test]
    fn a_styles_structured_defaults_sit_under_the_requests_own_and_are_checked_when_saved() {
        let dir = tempfile::tempdir().unwrap();
        let book = StyleBook::new(dir.path());
        let defaults = serde_json::json!({"lighting": "hard shadows", "palette": ["black", "silver"], "mood": "tense"});
        book.save(Style { structured_prompt: defaults.as_object().cloned(), ..style("noir") }).unwrap();
        let mut spec = GenerateSpec::text("a detective");
        spec.settings.style = Some("noir".into());
        spec.settings.structured_prompt = serde_json::json!({"palette": ["red"], "mood": null}).as_object().cloned();
        let applied = apply(&book, spec).unwrap();
        assert_eq!(
            applied.settings.structured_prompt.map(serde_json::Value::Object),
            Some(serde_json::json!({"lighting": "hard shadows", "palette": ["red"]}))
        );
        let bad = Style { structured_prompt: serde_json::json!({"lightning": 1}).as_object().cloned(), ..style("bad") };
        assert_eq!(book.save(bad).unwrap_err().field.as_deref(), Some("structured_prompt.lightning"));
    }

    #[test]
    fn unknown_names_bad_names_and_damaged_files_are_refused_or_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let book = StyleBook::new(dir.path());
        let mut spec = GenerateSpec::text("x");
        spec.settings.style = Some("nope".into());
        let error = apply(&book, spec.clone()).unwrap_err().to_string();
        assert!(error.contains("none is saved"), "{error}");
        book.save(style("ink")).unwrap();
        let error = apply(&book, spec).unwrap_err().to_string();
        assert!(error.contains("no style `nope` (saved: ink)"), "{error}");
        assert_eq!(book.save(style("../x")).unwrap_err().field.as_deref(), Some("name"));
        let mut empty = style("blank");
        empty.brief = "  ".into();
        assert_eq!(book.save(empty).unwrap_err().field.as_deref(), Some("brief"));
        std::fs::write(dir.path().join("styles/broken.json"), b"{").unwrap();
        assert_eq!(book.list().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["ink"]);
        assert!(book.delete("ink").unwrap());
        assert!(!book.delete("ink").unwrap());
    }
}
