//! Flow tests: describe, submit, poll and cancel against a scripted host
//! that answers like Gemini's `generateContent` (docs/providers/gemini.md) and records
//! every request.

use super::*;
use crate::types::{Dims, EgressError, Features, ImageData, Lifecycle, Operation};
use easel_plugin_kit::codec;
use easel_plugin_kit::testing::ScriptedHost as Mock;
use serde_json::Value;

fn mock() -> Mock {
    Mock::new(SECRET, &[("base_url", "http://127.0.0.1:9/v1beta/")])
}

/// Queue a `generateContent` answer holding `image` as inline PNG data.
fn answer_image(host: &Mock, image: &[u8]) {
    let b64 = codec::b64(image);
    host.answer(
        200,
        &format!(r#"{{"candidates": [{{"content": {{"parts": [{{"inlineData": {{"mimeType": "image/png", "data": "{b64}"}}}}]}}}}]}}"#),
    );
}

const FIRST: &[u8] = b"\x89PNG\r\n\x1a\nfirst";
const SECOND: &[u8] = b"\x89PNG\r\n\x1a\nsecond";

fn done(submission: Submission) -> Vec<Output> {
    match submission {
        Submission::Done(images) => images,
        other => panic!("{other:?}"),
    }
}

#[test]
fn describe_reports_the_table_and_the_base_url_origin() {
    let info = describe(&mock());
    assert_eq!((info.id.as_str(), info.display_name.as_str()), ("gemini", "Google Gemini (Nano Banana)"));
    assert_eq!(
        (info.version.as_str(), info.default_model.as_str()),
        (env!("CARGO_PKG_VERSION"), models::DEFAULT_MODEL)
    );
    assert_eq!(info.hosts, vec!["http://127.0.0.1:9".to_string()]);
    assert_eq!(describe(&Mock::default()).hosts, vec!["https://generativelanguage.googleapis.com".to_string()]);
    assert_eq!(info.secrets.len(), 1);
    assert_eq!((info.secrets[0].name.as_str(), info.secrets[0].required), ("GEMINI_API_KEY", true));
    assert_eq!(
        info.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        models::MODELS.iter().map(|m| m.id).collect::<Vec<_>>()
    );

    let flash = &info.models[0];
    assert_eq!(flash.id, "gemini-3.1-flash-image");
    assert!(flash.aliases.contains(&"nano-banana".to_string()));
    assert_eq!(flash.operations, vec![Operation::Generate, Operation::Edit]);
    assert_eq!(flash.size_tiers, vec!["512", "1K", "2K", "4K"]);
    assert_eq!(flash.aspect_ratios.len(), 14);
    assert_eq!(
        (flash.sizes.len(), flash.size_multiple, flash.default_size),
        (0, 1, Dims { width: 1024, height: 1024 })
    );
    assert_eq!((flash.min_side, flash.max_side, flash.max_images, flash.max_input_images), (64, 8192, 4, 14));
    assert_eq!(flash.features, Features { seed: true, ..Features::default() });
    assert_eq!(flash.output_formats, vec!["image/png", "image/jpeg"]);
    assert_eq!((flash.lifecycle, flash.price_per_image_usd), (Lifecycle::Current, Some(0.067)));
    assert!(flash.prompt_notes.as_deref().is_some_and(|n| n.starts_with("Describe the scene in full sentences")));

    let imagen = info.models.iter().find(|m| m.id == "imagen-4.0-generate-001").unwrap();
    assert_eq!((imagen.lifecycle, imagen.replacement.as_deref()), (Lifecycle::Retired, Some("gemini-3.1-flash-image")));
    assert_eq!(
        (imagen.features, imagen.prompt_notes.as_deref(), imagen.default_size),
        (Features::default(), None, Dims { width: 1024, height: 1024 })
    );
}

#[test]
fn submit_makes_one_call_per_image_with_stepping_seeds() {
    let host = mock();
    answer_image(&host, FIRST);
    answer_image(&host, SECOND);
    let req = Request {
        count: 2,
        seed: Some(41),
        aspect_ratio: Some("16:9".into()),
        ..Request::text("gemini-3-pro-image", "a fox")
    };
    let images = done(submit(&host, &req).unwrap());
    assert_eq!(images.len(), 2);
    assert_eq!(images[0].data, ImageData::Inline { mime_type: "image/png".into(), data: FIRST.to_vec() });
    assert_eq!(images[1].data, ImageData::Inline { mime_type: "image/png".into(), data: SECOND.to_vec() });
    assert_eq!((images[0].seed, images[1].seed), (Some(41), Some(42)));
    let sent = host.sent.borrow();
    assert_eq!(sent.len(), 2);
    for (call, seed) in sent.iter().zip([41, 42]) {
        assert_eq!(
            (call.method.as_str(), call.url.as_str()),
            ("POST", "http://127.0.0.1:9/v1beta/models/gemini-3-pro-image:generateContent")
        );
        assert!(call.headers.contains(&("x-goog-api-key".into(), "{{secret:GEMINI_API_KEY}}".into())));
        assert_eq!(call.timeout_ms, Some(request::DEFAULT_TIMEOUT_MS));
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(body["generationConfig"]["seed"], seed);
        assert_eq!(body["generationConfig"]["imageConfig"]["aspectRatio"], "16:9");
    }
    assert_eq!(
        host.progress.borrow().as_slice(),
        &[
            (Some(0.0), "waiting for Gemini gemini-3-pro-image (image 1 of 2)".to_string()),
            (Some(0.5), "waiting for Gemini gemini-3-pro-image (image 2 of 2)".to_string())
        ]
    );
}

#[test]
fn a_later_failure_keeps_the_images_already_made() {
    let host = mock();
    answer_image(&host, FIRST);
    host.answer(503, r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#);
    let req = Request { count: 3, ..Request::text("gemini-3.1-flash-image", "a fox") };
    let images = done(submit(&host, &req).unwrap());
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].seed, None);
    assert_eq!(host.sent.borrow().len(), 2, "no third call after a failure");
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|(level, m)| *level == Level::Warn && m.starts_with("Gemini image 2 of 3 failed, returning 1: "))
    );

    // A failure before any image is the call's error.
    host.answer(503, r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#);
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::upstream(503, "Gemini server error (UNAVAILABLE): The model is overloaded.")
    );
}

#[test]
fn egress_failures_name_gemini_and_the_url() {
    let host = mock();
    let req = Request::text("gemini-3.1-flash-image", "x");
    let url = "http://127.0.0.1:9/v1beta/models/gemini-3.1-flash-image:generateContent";
    host.fail(EgressError::Connection("refused".into()));
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::Unavailable(format!("cannot reach Gemini at {url}: refused"))
    );
    host.fail(EgressError::SecretUnavailable("GEMINI_API_KEY is not bound to 127.0.0.1:9".into()));
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::Unauthorized("GEMINI_API_KEY is not bound to 127.0.0.1:9".into())
    );
    host.fail(EgressError::TooLarge("over 64 MiB".into()));
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::upstream(0, "Gemini's answer was too large: over 64 MiB")
    );
}

#[test]
fn missing_key_fails_fast() {
    let mut host = mock();
    host.secrets.clear();
    assert_eq!(
        submit(&host, &Request::text("gemini-3.1-flash-image", "x")).unwrap_err(),
        ProviderError::Unauthorized(
            "GEMINI_API_KEY is not set: set GEMINI_API_KEY (or GOOGLE_API_KEY, as named in [plugins.gemini.secrets.GEMINI_API_KEY] of plugins.toml)"
                .into()
        )
    );
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn poll_and_cancel_have_no_jobs() {
    let host = mock();
    assert_eq!(
        poll(&host, "t1").unwrap_err(),
        ProviderError::invalid(
            Some("job_id"),
            "Gemini generateContent is synchronous: submit returns the images, so there is no job `t1` to poll"
        )
    );
    assert_eq!(cancel(&host, "t1"), Ok(()));
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn params_reach_generation_config_and_reserved_or_malformed_ones_are_refused() {
    let host = mock();
    answer_image(&host, FIRST);
    let req = Request {
        extra: Some(r#"{"responseModalities": ["IMAGE"], "temperature": 0.2}"#.into()),
        ..Request::text("gemini-3-pro-image", "a fox")
    };
    done(submit(&host, &req).unwrap());
    let body: Value = serde_json::from_slice(&host.request(0).body).unwrap();
    assert_eq!(body["generationConfig"]["responseModalities"], serde_json::json!(["IMAGE"]));
    assert_eq!(body["generationConfig"]["temperature"], 0.2);
    let req = Request { extra: Some(r#"{"seed": 3}"#.into()), ..req };
    let message = easel_plugin_kit::testing::expect_invalid(submit(&host, &req), "params.seed");
    assert!(message.contains("seed argument"), "{message}");
    let req = Request { extra: Some("[\"IMAGE\"]".into()), ..req };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &req), "params");
    assert_eq!(host.sent.borrow().len(), 1, "refused params send nothing");
}
