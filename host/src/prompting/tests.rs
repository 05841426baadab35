use super::*;
use crate::model::PromptStyle;
use serde_json::json;

fn read(value: Value) -> Result<StructuredPrompt, FieldError> {
    parse(value.as_object().expect("an object"))
}

fn poster() -> StructuredPrompt {
    read(json!({
        "subject": "a red fox",
        "subjects": [{"description": "a crow", "position": "on the fox's back", "attributes": ["glossy feathers"]}],
        "scene": "a snowy birch forest at dawn",
        "style": {"medium": "gouache illustration", "descriptors": ["flat shapes", "soft grain"]},
        "composition": {"shot": "wide shot", "angle": "low angle", "lens": "35mm", "framing": "rule of thirds"},
        "lighting": "golden rim light",
        "palette": ["rust", "cream", "slate blue"],
        "mood": "quiet wonder",
        "text": [{"content": "WINTER TALES", "placement": "top center", "style": "bold serif"}],
        "negative": ["blur", "watermark"]
    }))
    .unwrap()
}

#[test]
fn a_natural_language_model_gets_labelled_sentences_and_the_exact_text_quoted() {
    let compiled = compile("A book cover", &poster(), PromptStyle::NaturalLanguage, false);
    assert_eq!(
        compiled.prompt,
        "A book cover. A red fox. A crow, glossy feathers, on the fox's back. Setting: a snowy birch forest at dawn. \
         Style: gouache illustration, flat shapes, soft grain. Composition: wide shot, low angle, 35mm lens, rule of thirds. \
         Lighting: golden rim light. Colour palette: rust, cream and slate blue. Mood: quiet wonder. \
         The image shows the text \"WINTER TALES\" exactly as written, top center, in bold serif. Avoid: blur, watermark."
    );
    assert_eq!(compiled.negative, None, "no negative prompt on this model: said in the prompt");
    let with_negative = compile("A book cover", &poster(), PromptStyle::NaturalLanguage, true);
    assert_eq!(with_negative.negative.as_deref(), Some("blur, watermark"));
    assert!(!with_negative.prompt.contains("Avoid"));
}

#[test]
fn a_t5_model_gets_one_descriptive_sentence_and_negatives_are_noted_not_drawn() {
    let compiled = compile("", &poster(), PromptStyle::T5Prose, false);
    assert_eq!(
        compiled.prompt,
        "A red fox, a crow, glossy feathers, on the fox's back, set in a snowy birch forest at dawn, gouache illustration, \
         flat shapes, soft grain, wide shot, low angle, 35mm lens, rule of thirds, golden rim light, a palette of rust, \
         cream and slate blue, quiet wonder mood, with the text \"WINTER TALES\" written top center in bold serif."
    );
    assert!(!compiled.prompt.contains("blur"), "naming a negative to a T5 model draws it");
    assert!(
        compiled.notes.iter().any(|n| n.contains("blur, watermark") && n.contains("no negative prompt")),
        "{:?}",
        compiled.notes
    );
}

#[test]
fn a_stable_diffusion_checkpoint_gets_weighted_tags_with_syntax_escaped() {
    let mut prompt = poster();
    prompt.subject = Some("a mug (empty)".into());
    let compiled = compile("", &prompt, PromptStyle::WeightedTags, true);
    assert_eq!(
        compiled.prompt,
        "(a mug \\(empty\\):1.2), (a crow:1.1), glossy feathers, on the fox's back, a snowy birch forest at dawn, \
         gouache illustration, flat shapes, soft grain, wide shot, low angle, 35mm lens, rule of thirds, golden rim light, \
         rust, cream and slate blue palette, quiet wonder mood, text \"WINTER TALES\""
    );
    assert_eq!(compiled.negative.as_deref(), Some("blur, watermark"));
    assert!(compiled.notes.iter().any(|n| n.contains("rarely render exact text")));
}

#[test]
fn short_forms_read_as_their_long_ones() {
    let short = read(json!({"setting": "a harbour", "style": "watercolor", "composition": "close-up",
        "palette": "teal", "text": "OPEN", "subjects": ["a gull"], "negative": "people"}))
    .unwrap();
    assert_eq!(short.scene.as_deref(), Some("a harbour"));
    assert_eq!(short.style.medium.as_deref(), Some("watercolor"));
    assert_eq!(short.composition.shot.as_deref(), Some("close-up"));
    assert_eq!((short.palette.clone(), short.negative.clone()), (vec!["teal".to_string()], vec!["people".to_string()]));
    assert_eq!(short.text[0].content, "OPEN");
    assert_eq!(short.subjects[0].description, "a gull");
    assert!(short.describes_content());
    assert!(!read(json!({"lighting": "  ", "mood": "calm"})).unwrap().describes_content(), "blank reads as absent");
}

#[test]
fn every_mistake_names_its_path() {
    let field = |value: Value| read(value).unwrap_err().field.unwrap();
    let message = |value: Value| read(value).unwrap_err().message;
    assert_eq!(field(json!({"lightning": "night"})), "structured_prompt.lightning");
    assert!(message(json!({"lightning": "night"})).contains("unknown key `lightning`; use subject, subjects"));
    assert_eq!(
        field(json!({"text": [{"content": "A"}, {"content": "B", "colour": "red"}]})),
        "structured_prompt.text[1].colour"
    );
    assert_eq!(field(json!({"text": [{"placement": "top"}]})), "structured_prompt.text[0].content");
    assert_eq!(field(json!({"subjects": [{"position": "left"}]})), "structured_prompt.subjects[0].description");
    assert_eq!(field(json!({"composition": {"zoom": 2}})), "structured_prompt.composition.zoom");
    assert_eq!(field(json!({"lighting": 3})), "structured_prompt.lighting");
    assert!(message(json!({"lighting": 3})).contains("must be a string, not a number"));
    assert_eq!(field(json!({"palette": ["red", 1]})), "structured_prompt.palette[1]");
    assert_eq!(field(json!({"scene": "a", "setting": "b"})), "structured_prompt.setting");
    assert_eq!(field(json!({"mood": "x".repeat(MAX_FIELD_CHARS + 1)})), "structured_prompt.mood");
    assert_eq!(field(json!({"negative": vec!["x"; MAX_ITEMS + 1]})), "structured_prompt.negative");
}

#[test]
fn a_merge_patch_changes_one_field_removes_with_null_and_merges_objects() {
    let base = json!({"subject": "a fox", "lighting": "noon", "composition": {"shot": "wide", "angle": "low"}, "mood": "calm"});
    let patch = json!({"lighting": "night", "composition": {"angle": "high"}, "mood": null});
    let merged = merge_patch(base.as_object().unwrap().clone(), patch.as_object().unwrap().clone());
    assert_eq!(
        Value::Object(merged),
        json!({"subject": "a fox", "lighting": "night", "composition": {"shot": "wide", "angle": "high"}})
    );
}
