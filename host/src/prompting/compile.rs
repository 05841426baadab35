//! Compiling a [`StructuredPrompt`] into one model's prompt style: labelled
//! sentences for natural-language models, one dense descriptive sentence for
//! T5-encoder models, weighted tags for Stable Diffusion checkpoints. The
//! caller's prose `prompt`, when given, leads; the structured fields follow
//! in a fixed order (subject, scene, style, composition, lighting, palette,
//! mood, text), so the same request always compiles to the same text.

use super::{Composition, Lettering, Look, StructuredPrompt, Subject};
use crate::model::PromptStyle;

/// What [`compile`] makes: the prompt that reaches the provider, the
/// negatives for its negative prompt, and notes for the caller about
/// anything the model cannot follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compiled {
    pub prompt: String,
    /// The structured `negative` items joined with ", ", for a model that
    /// takes a negative prompt (otherwise they are in the prompt or noted).
    pub negative: Option<String>,
    pub notes: Vec<String>,
}

/// Compile `prose` (the caller's `prompt`, may be empty) and `structured`
/// for a model that reads `style`; `takes_negative` says whether it has a
/// negative prompt.
///
/// Negatives go to the negative prompt when the model has one; otherwise a
/// natural-language model is told "Avoid: …" in the prompt, and for tags
/// and T5 prose (where naming a thing draws it) they are left out with a
/// note saying so.
pub fn compile(prose: &str, structured: &StructuredPrompt, style: PromptStyle, takes_negative: bool) -> Compiled {
    let mut compiled = match style {
        PromptStyle::NaturalLanguage => Compiled { prompt: natural(prose, structured), ..Compiled::default() },
        PromptStyle::T5Prose => Compiled { prompt: t5(prose, structured), ..Compiled::default() },
        PromptStyle::WeightedTags => {
            let mut compiled = Compiled { prompt: tags(prose, structured), ..Compiled::default() };
            if !structured.text.is_empty() {
                compiled.notes.push(
                    "Stable Diffusion checkpoints rarely render exact text; a natural-language model (GPT Image, Gemini) or FLUX does it better"
                        .into(),
                );
            }
            compiled
        }
    };
    if structured.negative.is_empty() {
        return compiled;
    }
    let negatives = structured.negative.join(", ");
    if takes_negative {
        compiled.negative = Some(negatives);
    } else if style == PromptStyle::NaturalLanguage {
        compiled.prompt.push_str(&format!(" Avoid: {}.", trim_end_stop(&negatives)));
    } else {
        compiled.notes.push(format!(
            "this model has no negative prompt, so structured_prompt.negative ({negatives}) was left out; say what you want instead"
        ));
    }
    compiled
}

/// `text` ending in sentence punctuation.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) { text.to_string() } else { format!("{text}.") }
}

/// `text` as a sentence of its own: first letter upper-case, punctuated.
fn own_sentence(text: &str) -> String {
    capitalised(&sentence(text))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn trim_end_stop(text: &str) -> &str {
    text.trim().trim_end_matches(['.', ',', ';']).trim_end()
}

/// "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn subject_phrase(s: &Subject) -> String {
    let mut parts = vec![trim_end_stop(&s.description).to_string()];
    parts.extend(s.attributes.iter().map(|a| trim_end_stop(a).to_string()));
    parts.extend(s.position.iter().map(|p| trim_end_stop(p).to_string()));
    parts.join(", ")
}

fn look_parts(look: &Look) -> Vec<String> {
    look.medium.iter().chain(&look.descriptors).map(|t| trim_end_stop(t).to_string()).collect()
}

fn composition_parts(c: &Composition) -> Vec<String> {
    let lens = c.lens.as_ref().map(|l| if l.to_lowercase().contains("lens") { l.clone() } else { format!("{l} lens") });
    [&c.shot, &c.angle, &lens, &c.framing].into_iter().flatten().map(|t| trim_end_stop(t).to_string()).collect()
}

fn quoted(letters: &Lettering) -> String {
    format!("\"{}\"", letters.content)
}

fn natural(prose: &str, p: &StructuredPrompt) -> String {
    let mut out: Vec<String> = Vec::new();
    if !prose.trim().is_empty() {
        out.push(own_sentence(prose));
    }
    out.extend(p.subject.iter().map(|s| own_sentence(s)));
    out.extend(p.subjects.iter().map(|s| own_sentence(&subject_phrase(s))));
    out.extend(p.scene.iter().map(|s| format!("Setting: {}", sentence(s))));
    let look = look_parts(&p.style);
    if !look.is_empty() {
        out.push(format!("Style: {}.", look.join(", ")));
    }
    let camera = composition_parts(&p.composition);
    if !camera.is_empty() {
        out.push(format!("Composition: {}.", camera.join(", ")));
    }
    out.extend(p.lighting.iter().map(|l| format!("Lighting: {}", sentence(l))));
    if !p.palette.is_empty() {
        out.push(format!("Colour palette: {}.", and_list(&p.palette)));
    }
    out.extend(p.mood.iter().map(|m| format!("Mood: {}", sentence(m))));
    for letters in &p.text {
        let mut line = format!("The image shows the text {} exactly as written", quoted(letters));
        if let Some(placement) = &letters.placement {
            line.push_str(&format!(", {}", trim_end_stop(placement)));
        }
        if let Some(style) = &letters.style {
            line.push_str(&format!(", in {}", trim_end_stop(style)));
        }
        out.push(format!("{line}."));
    }
    out.join(" ")
}

fn t5(prose: &str, p: &StructuredPrompt) -> String {
    let mut phrases: Vec<String> = Vec::new();
    if !prose.trim().is_empty() {
        phrases.push(trim_end_stop(prose).to_string());
    }
    phrases.extend(p.subject.iter().map(|s| trim_end_stop(s).to_string()));
    phrases.extend(p.subjects.iter().map(subject_phrase));
    phrases.extend(p.scene.iter().map(|s| format!("set in {}", trim_end_stop(s))));
    phrases.extend(look_parts(&p.style));
    phrases.extend(composition_parts(&p.composition));
    phrases.extend(p.lighting.iter().map(|l| {
        let l = trim_end_stop(l);
        if l.to_lowercase().contains("light") { l.to_string() } else { format!("{l} lighting") }
    }));
    if !p.palette.is_empty() {
        phrases.push(format!("a palette of {}", and_list(&p.palette)));
    }
    phrases.extend(p.mood.iter().map(|m| format!("{} mood", trim_end_stop(m))));
    for letters in &p.text {
        let mut phrase = format!("with the text {} written", quoted(letters));
        if let Some(placement) = &letters.placement {
            phrase.push_str(&format!(" {}", trim_end_stop(placement)));
        }
        if let Some(style) = &letters.style {
            phrase.push_str(&format!(" in {}", trim_end_stop(style)));
        }
        phrases.push(phrase);
    }
    let text = phrases.join(", ");
    if text.is_empty() { text } else { own_sentence(&text) }
}

/// A tag's own text with `(`, `)`, `[` and `]` escaped, so that a
/// description such as "cup (empty)" is not read as emphasis syntax.
fn escape_tag(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in trim_end_stop(text).chars() {
        if matches!(c, '(' | ')' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn tags(prose: &str, p: &StructuredPrompt) -> String {
    let mut tags: Vec<String> = Vec::new();
    if !prose.trim().is_empty() {
        tags.push(trim_end_stop(prose).to_string());
    }
    tags.extend(p.subject.iter().map(|s| format!("({}:1.2)", escape_tag(s))));
    for s in &p.subjects {
        tags.push(format!("({}:1.1)", escape_tag(&s.description)));
        tags.extend(s.attributes.iter().map(|a| escape_tag(a)));
        tags.extend(s.position.iter().map(|a| escape_tag(a)));
    }
    tags.extend(p.scene.iter().map(|s| escape_tag(s)));
    tags.extend(look_parts(&p.style).iter().map(|t| escape_tag(t)));
    tags.extend(composition_parts(&p.composition).iter().map(|t| escape_tag(t)));
    tags.extend(p.lighting.iter().map(|l| escape_tag(l)));
    if !p.palette.is_empty() {
        tags.push(format!("{} palette", escape_tag(&and_list(&p.palette))));
    }
    tags.extend(p.mood.iter().map(|m| format!("{} mood", escape_tag(m))));
    tags.extend(p.text.iter().map(|t| format!("text {}", quoted(t))));
    tags.join(", ")
}
