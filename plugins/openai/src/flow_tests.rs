//! Flow tests: describe, submit, poll and cancel against a scripted host
//! that answers like OpenAI Images (docs/providers/openai.md) and records every request.

use super::*;
use crate::types::{Dims, EgressError, Features, ImageData, Lifecycle};
use easel_plugin_kit::codec;
use easel_plugin_kit::testing::ScriptedHost as Mock;

fn mock() -> Mock {
    Mock::new(SECRET, &[("base_url", "http://127.0.0.1:9/v1/")])
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nxxxx";

#[test]
fn describe_reports_the_table_and_the_base_url_origin() {
    let info = describe(&mock());
    assert_eq!(
        (info.id.as_str(), info.display_name.as_str(), info.version.as_str()),
        ("openai", "OpenAI Images", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(info.default_model, models::DEFAULT_MODEL);
    assert_eq!(info.hosts, vec!["http://127.0.0.1:9".to_string()]);
    assert_eq!(info.secrets.len(), 1);
    assert_eq!((info.secrets[0].name.as_str(), info.secrets[0].required), ("OPENAI_API_KEY", true));
    assert_eq!(
        info.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        models::MODELS.iter().map(|m| m.id).collect::<Vec<_>>()
    );
    assert_eq!(describe(&Mock::default()).hosts, vec!["https://api.openai.com".to_string()]);

    let fixed = info.models.iter().find(|m| m.id == "gpt-image-1.5").unwrap();
    assert_eq!(fixed.operations, vec![Operation::Generate, Operation::Edit, Operation::Inpaint]);
    assert_eq!(
        fixed.sizes,
        vec![
            Dims { width: 1024, height: 1024 },
            Dims { width: 1536, height: 1024 },
            Dims { width: 1024, height: 1536 }
        ]
    );
    assert_eq!(
        (fixed.min_side, fixed.max_side, fixed.size_multiple, fixed.default_size),
        (1024, 1536, 1, Dims { width: 1024, height: 1024 })
    );
    assert_eq!((fixed.max_images, fixed.max_input_images, fixed.price_per_image_usd), (10, 16, Some(0.034)));
    assert_eq!(fixed.features, Features { mask: true, strength: true, ..Features::default() });
    assert_eq!(fixed.aspect_ratios, vec!["1:1", "3:2", "2:3"]);
    assert_eq!(fixed.output_formats, vec!["image/png", "image/jpeg", "image/webp"]);
    assert!(fixed.prompt_notes.as_deref().is_some_and(|n| n.starts_with("Write a full natural-language description")));

    let free = info.models.iter().find(|m| m.id == "gpt-image-2").unwrap();
    assert_eq!(free.features, Features { mask: true, custom_size: true, ..Features::default() });
    assert_eq!((free.sizes.len(), free.size_multiple, free.max_side), (0, 16, 3840));
    assert_eq!(free.size_tiers, vec!["1K", "2K", "4K"]);

    let retired = info.models.iter().find(|m| m.id == "dall-e-3").unwrap();
    assert_eq!((retired.lifecycle, retired.replacement.as_deref()), (Lifecycle::Retired, Some("gpt-image-1.5")));
    assert_eq!((retired.features, retired.prompt_notes.as_deref()), (Features::default(), None));
}

#[test]
fn submit_posts_once_and_returns_the_images() {
    let host = mock();
    host.answer(
        200,
        &format!(r#"{{"created": 1, "size": "1024x1024", "data": [{{"b64_json": "{}"}}]}}"#, codec::b64(PNG)),
    );
    let mut req = Request::text("gpt-image-1.5", "a fox");
    req.count = 1;
    let images = match submit(&host, &req).unwrap() {
        Submission::Done(images) => images,
        other => panic!("{other:?}"),
    };
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].data, ImageData::Inline { mime_type: "image/png".into(), data: PNG.to_vec() });
    assert_eq!((images[0].width, images[0].height), (Some(1024), Some(1024)));
    let sent = host.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].method.as_str(), sent[0].url.as_str()), ("POST", "http://127.0.0.1:9/v1/images/generations"));
    assert!(sent[0].headers.contains(&("authorization".into(), "Bearer {{secret:OPENAI_API_KEY}}".into())));
    assert_eq!(sent[0].timeout_ms, Some(request::DEFAULT_TIMEOUT_MS));
    assert_eq!(
        host.progress.borrow().as_slice(),
        &[(None, "waiting for OpenAI images/generations (gpt-image-1.5)".to_string())]
    );
}

#[test]
fn missing_key_fails_fast() {
    let mut host = mock();
    host.secrets.clear();
    let err = submit(&host, &Request::text("gpt-image-1.5", "x")).unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unauthorized(
            "OPENAI_API_KEY is not set: set the environment variable named in [plugins.openai.secrets.OPENAI_API_KEY] of plugins.toml".into()
        )
    );
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn egress_failures_and_error_answers_are_classified() {
    let host = mock();
    let req = Request::text("gpt-image-1.5", "x");
    let url = "http://127.0.0.1:9/v1/images/generations";
    host.fail(EgressError::Connection("refused".into()));
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::Unavailable(format!("cannot reach OpenAI at {url}: refused"))
    );
    host.fail(EgressError::Denied("add 127.0.0.1:9 to allowed_hosts".into()));
    assert_eq!(submit(&host, &req).unwrap_err(), ProviderError::Unavailable("add 127.0.0.1:9 to allowed_hosts".into()));
    host.fail(EgressError::Timeout("after 300 s".into()));
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::Timeout("OpenAI did not answer in time: after 300 s".into())
    );
    host.answer_with(
        429,
        &[("retry-after-ms", "250")],
        br#"{"error": {"message": "Slow down", "type": "requests", "code": "rate_limit_exceeded"}}"#,
    );
    assert_eq!(
        submit(&host, &req).unwrap_err(),
        ProviderError::RateLimited {
            retry_after_ms: Some(250),
            message: "OpenAI rate limit (rate_limit_exceeded): Slow down.".into()
        }
    );
    // A refused request never reaches the network.
    let sent = host.sent.borrow().len();
    assert!(matches!(
        submit(&host, &Request { seed: Some(1), ..req.clone() }),
        Err(ProviderError::InvalidRequest { .. })
    ));
    assert_eq!(host.sent.borrow().len(), sent);
}

#[test]
fn poll_and_cancel_have_no_jobs() {
    let host = mock();
    assert_eq!(
        poll(&host, "t1").unwrap_err(),
        ProviderError::invalid(
            Some("job_id"),
            "OpenAI Images is synchronous: submit returns the images, so there is no job `t1` to poll"
        )
    );
    assert_eq!(cancel(&host, "t1"), Ok(()));
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn params_reach_the_body_and_reserved_or_malformed_ones_are_refused() {
    let host = mock();
    host.answer(200, &format!(r#"{{"created": 1, "data": [{{"b64_json": "{}"}}]}}"#, codec::b64(PNG)));
    let req = Request {
        extra: Some(r#"{"background": "transparent", "output_compression": 80}"#.into()),
        ..Request::text("gpt-image-1.5", "a fox")
    };
    submit(&host, &req).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&host.request(0).body).unwrap();
    assert_eq!((body["background"].as_str(), body["output_compression"].as_u64()), (Some("transparent"), Some(80)));
    let req = Request { extra: Some(r#"{"prompt": "other"}"#.into()), ..req };
    let message = easel_plugin_kit::testing::expect_invalid(submit(&host, &req), "params.prompt");
    assert!(message.contains("prompt argument"), "{message}");
    let req = Request { extra: Some("true".into()), ..req };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &req), "params");
    assert_eq!(host.sent.borrow().len(), 1, "refused params send nothing");
}
