//! The MCP layer driven in-process: `easel::mcp::stdio::serve` over a
//! `tokio::io::duplex` pipe, spoken to as a client would (newline-delimited
//! JSON-RPC), against the hostile fixture's `echo` mode, which answers with
//! the `extra` (the caller's `params`) it received. No Python, no process.

mod common;

use easel::mcp::EaselServer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

/// One client session over the in-memory pipe.
struct Client {
    writer: tokio::io::WriteHalf<DuplexStream>,
    lines: Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
    next_id: u64,
    _harness: common::Harness,
}

impl Client {
    async fn start() -> Client {
        let harness = common::harness("").await;
        let server = EaselServer::new(harness.app.clone());
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_end);
        tokio::spawn(easel::mcp::stdio::serve(server, server_read, server_write));
        let (read, writer) = tokio::io::split(client_end);
        let mut client = Client { writer, lines: BufReader::new(read).lines(), next_id: 1, _harness: harness };
        let init = client
            .request("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "in-process", "version": "0"}}))
            .await;
        assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");
        client.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        client
    }

    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await.unwrap();
    }

    /// Send a request and return its response (notifications in between are skipped).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(60), self.lines.next_line())
                .await
                .expect("the server answers within a minute")
                .unwrap()
                .expect("the server keeps the pipe open");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments})).await;
        response["result"].clone()
    }
}

fn image_id(result: &Value) -> String {
    assert_ne!(result["isError"], json!(true), "{result}");
    result["structuredContent"]["images"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no image in {result}"))
        .to_string()
}

#[tokio::test]
async fn params_reach_the_plugin_are_recorded_and_vary_image_reproduces_them() {
    let mut client = Client::start().await;
    let params = json!({"background": "transparent", "n": [1, 2]});
    let made = client.call("generate_image", json!({"prompt": "echo", "provider": "hostile", "params": params})).await;
    let id = image_id(&made);
    let store = client._harness.jobs.store().clone();
    let sidecar = store.metadata(&id).unwrap();
    let received: Value = serde_json::from_str(sidecar.revised_prompt.as_deref().unwrap()).unwrap();
    assert_eq!(received, params, "the plugin received params as its extra");
    let recipe = sidecar.recipe.expect("a generated image has a recipe");
    assert_eq!(recipe.version, easel::request::RECIPE_VERSION);
    assert_eq!(recipe.settings.params.map(Value::Object), Some(params.clone()));
    assert_eq!(recipe.settings.provider.as_deref(), Some("hostile"));

    // A plain variation sends the same params again (a distinct request: the
    // fixture's image depends only on them, so the store finds the same image).
    let again = client.call("vary_image", json!({"image": id})).await;
    let again = store.metadata(&image_id(&again)).unwrap();
    assert_eq!(serde_json::from_str::<Value>(again.revised_prompt.as_deref().unwrap()).unwrap(), params);

    // Overrides merge key by key; null removes a key.
    let varied = client.call("vary_image", json!({"image": id, "params": {"n": null, "quality": "high"}})).await;
    let varied = store.metadata(&image_id(&varied)).unwrap();
    let received: Value = serde_json::from_str(varied.revised_prompt.as_deref().unwrap()).unwrap();
    assert_eq!(received, json!({"background": "transparent", "quality": "high"}));

    // Without params the plugin gets no extra at all.
    let plain = client.call("generate_image", json!({"prompt": "echo", "provider": "hostile"})).await;
    assert_eq!(store.metadata(&image_id(&plain)).unwrap().revised_prompt.as_deref(), Some("none"));
}

#[tokio::test]
async fn bad_params_are_refused_naming_the_field_and_the_server_goes_on() {
    let mut client = Client::start().await;
    let cases = [
        (json!({"prompt": "echo", "provider": "hostile", "params": ["IMAGE"]}), "params"),
        (json!({"prompt": "echo", "provider": "hostile", "params": {"": 1}}), "params"),
        (json!({"prompt": "echo", "provider": "hostile", "params": {"big": "x".repeat(20_000)}}), "params"),
        (json!({"prompt": "echo", "provider": "hostile", "seed": "one"}), "seed"),
        (json!({"prompt": "echo", "provider": "hostile", "hue": 3}), "hue"),
    ];
    for (arguments, field) in cases {
        let result = client.call("generate_image", arguments.clone()).await;
        assert_eq!(result["isError"], json!(true), "{arguments}: {result}");
        assert_eq!(result["structuredContent"]["error"]["field"], json!(field), "{arguments}: {result}");
    }
    let fine =
        client.call("generate_image", json!({"prompt": "echo", "provider": "hostile", "params": {"ok": true}})).await;
    image_id(&fine);
}

#[tokio::test]
async fn the_tool_list_offers_params_and_stays_within_its_token_budget() {
    let mut client = Client::start().await;
    let listed = client.request("tools/list", json!({})).await;
    let tools = listed["result"]["tools"].as_array().unwrap().clone();
    for name in ["generate_image", "edit_image", "vary_image"] {
        let tool = tools.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(tool["inputSchema"]["properties"]["params"]["type"], json!("object"), "{name} takes params");
    }
    // A field several tools share is described once, in generate_image,
    // and the others say where to look.
    let tool = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap().clone();
    let (generate, vary) = (tool("generate_image"), tool("vary_image"));
    for field in ["count", "seed", "provider", "structured_prompt"] {
        assert!(
            generate["inputSchema"]["properties"][field]["description"].is_string(),
            "generate_image describes {field}"
        );
        assert_eq!(
            vary["inputSchema"]["properties"][field]["description"],
            Value::Null,
            "vary_image leaves {field} to generate_image"
        );
    }
    assert!(vary["description"].as_str().unwrap().contains("generate_image"), "{}", vary["description"]);
    assert!(
        vary["inputSchema"]["properties"]["image"]["description"].is_string(),
        "vary_image's own fields stay described"
    );
    assert_eq!(
        generate["inputSchema"]["properties"]["seed"]["maximum"],
        json!(9_007_199_254_740_991u64),
        "seeds stay JavaScript-safe"
    );
    // Every model reads the whole list on every turn: about 4 bytes a token,
    // and the budget is 5,000 tokens.
    let bytes = serde_json::to_string(&tools).unwrap().len();
    println!("tools/list: {} tools, {bytes} bytes ≈ {} tokens", tools.len(), bytes / 4);
    assert!(bytes / 4 < 5000, "tools/list is {bytes} bytes, about {} tokens, over the 5,000-token budget", bytes / 4);
}

/// The prompts as `prompts/list` shows them (by name): names,
/// descriptions, and arguments in this order.
fn listed_prompts() -> Value {
    json!([
        {
            "name": "apply-style",
            "description": "Make something in a saved style (save_style), keeping the look across a series",
            "arguments": [
                {"name": "style", "description": "Name of a saved style (style://list)", "required": true},
                {"name": "subject", "description": "What to make in that style", "required": true},
            ],
        },
        {
            "name": "character-sheet",
            "description": "One character drawn consistently from several sides, for a series of images",
            "arguments": [
                {"name": "character", "description": "Who the character is and looks like", "required": true},
                {"name": "style", "description": "Visual style, e.g. anime, watercolor, 3d render (optional)", "required": false},
            ],
        },
        {
            "name": "create-image",
            "description": "Write a detailed image prompt for a subject and style, then generate it with generate_image",
            "arguments": [
                {"name": "subject", "description": "What the image should show", "required": true},
                {"name": "style", "description": "Visual style, e.g. photograph, watercolor, pixel art", "required": false},
                {"name": "provider", "description": "Provider id from list_providers (optional)", "required": false},
            ],
        },
        {
            "name": "iterate-on-image",
            "description": "Change an existing image step by step with edit_image, keeping its lineage",
            "arguments": [
                {"name": "image_id", "description": "Id of the image to change", "required": true},
                {"name": "change", "description": "What to change, e.g. 'same scene at night'", "required": true},
            ],
        },
        {
            "name": "logo",
            "description": "A logo that shows exact text, on a provider whose models render text well",
            "arguments": [
                {"name": "text", "description": "The exact text the logo must show, e.g. 'Bramble & Co'", "required": true},
                {"name": "brand", "description": "What the brand is and feels like, e.g. 'a small organic bakery, warm and hand-made'", "required": true},
            ],
        },
        {
            "name": "product-shot",
            "description": "A clean commercial photo of a product, generated with generate_image and refined with edit_image",
            "arguments": [
                {"name": "product", "description": "The product, e.g. 'a matte black ceramic coffee mug'", "required": true},
                {"name": "setting", "description": "Where it stands, e.g. 'white seamless studio', 'marble kitchen counter' (optional)", "required": false},
                {"name": "provider", "description": "Provider id from list_providers (optional)", "required": false},
            ],
        },
    ])
}

#[tokio::test]
async fn the_job_prompts_carry_their_arguments_into_tool_calls() {
    let mut client = Client::start().await;
    let got = client
        .request("prompts/get", json!({"name": "logo", "arguments": {"text": " Bramble & Co ", "brand": "a bakery"}}))
        .await;
    assert_eq!(got["result"]["description"], json!("A logo reading \"Bramble & Co\""), "{got}");
    let text = got["result"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(text.contains("It must read exactly: \"Bramble & Co\"") && text.contains("generate_image"), "{text}");
    let got = client
        .request("prompts/get", json!({"name": "product-shot", "arguments": {"product": "a mug", "provider": "fal"}}))
        .await;
    let text = got["result"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("Setting: a seamless white studio backdrop.") && text.contains("count 2, provider \"fal\""),
        "{text}"
    );
    let got = client
        .request("prompts/get", json!({"name": "apply-style", "arguments": {"style": "ink", "subject": "a heron"}}))
        .await;
    let text = got["result"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(text.contains("Read style://ink") && text.contains("generate_image with style \"ink\""), "{text}");
    let got = client.request("prompts/get", json!({"name": "character-sheet", "arguments": {"style": "anime"}})).await;
    assert!(got["error"]["message"].as_str().unwrap().contains("needs the argument `character`"), "{got}");
}

#[tokio::test]
async fn list_models_filters_by_query_and_operation_and_names_a_bad_operation() {
    let mut client = Client::start().await;
    let everything = client.call("list_models", json!({})).await;
    let all = everything["structuredContent"]["models"].as_array().unwrap_or_else(|| panic!("{everything}")).len();
    let found = client.call("list_models", json!({"query": "PLACEHOLDER"})).await;
    let ids: Vec<&str> = found["structuredContent"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"]["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty() && ids.len() < all && ids.iter().all(|id| id.contains("placeholder")), "{ids:?} of {all}");
    let none = client.call("list_models", json!({"query": "placeholder nosuchword"})).await;
    assert_eq!(none["structuredContent"]["models"], json!([]), "{none}");
    assert!(none["content"][0]["text"].as_str().unwrap().starts_with("no model matches"), "{none}");
    let upscalers = client.call("list_models", json!({"operation": "upscale"})).await;
    for model in upscalers["structuredContent"]["models"].as_array().unwrap() {
        assert!(model["model"]["operations"].as_array().unwrap().contains(&json!("upscale")), "{model}");
    }
    let generators = client.call("list_models", json!({"operation": "generate"})).await;
    assert!(!generators["structuredContent"]["models"].as_array().unwrap().is_empty(), "{generators}");
    let bad = client.call("list_models", json!({"operation": "sideways"})).await;
    assert_eq!(bad["isError"], json!(true), "{bad}");
    assert!(bad["content"][0]["text"].as_str().unwrap().contains("operation"), "{bad}");
}

#[tokio::test]
async fn prompts_list_and_render_with_their_arguments() {
    let mut client = Client::start().await;
    let listed = client.request("prompts/list", json!({})).await;
    assert_eq!(listed["result"]["prompts"], listed_prompts(), "{listed}");

    let got = client.request("prompts/get", json!({"name": "create-image", "arguments": {"subject": " a fox "}})).await;
    assert_eq!(got["result"]["description"], json!("Create a photograph image"), "{got}");
    let message = &got["result"]["messages"][0];
    assert_eq!(message["role"], json!("user"));
    assert_eq!(
        message["content"]["text"],
        json!(
            "Create an image of: a fox\nStyle: photograph.\n\nFirst expand this into one detailed prompt (subject, setting, composition, lighting, colour, \
             photograph specifics). Then call generate_image with that prompt. Show the user the result and offer changes; \
             changes go through edit_image with the image id you got back."
        )
    );
    let got = client
        .request(
            "prompts/get",
            json!({"name": "create-image", "arguments": {"subject": "a fox", "style": "pixel art", "provider": "fal"}}),
        )
        .await;
    assert_eq!(got["result"]["description"], json!("Create a pixel art image"), "{got}");
    let text = got["result"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("Style: pixel art.") && text.contains("call generate_image with provider \"fal\" with"),
        "{text}"
    );
    // A blank optional argument is no argument.
    let got = client
        .request("prompts/get", json!({"name": "create-image", "arguments": {"subject": "a fox", "style": "  "}}))
        .await;
    assert_eq!(got["result"]["description"], json!("Create a photograph image"), "{got}");

    let got = client
        .request(
            "prompts/get",
            json!({"name": "iterate-on-image", "arguments": {"image_id": "0123456789abcdef", "change": "add snow"}}),
        )
        .await;
    assert_eq!(got["result"]["description"], json!("Iterate on an image"), "{got}");
    assert_eq!(
        got["result"]["messages"][0]["content"]["text"],
        json!(
            "Change image 0123456789abcdef: add snow.\n\nCall edit_image with images [{\"image\": \"0123456789abcdef\", \"role\": \"reference\"}] and a prompt that \
             states the change and what must stay the same. Compare the result with the original (image://0123456789abcdef) and keep iterating from \
             the newest id until the user is happy."
        )
    );
}

#[tokio::test]
async fn a_wrong_prompt_request_is_an_invalid_params_error_that_says_what_is_missing() {
    let mut client = Client::start().await;
    let cases = [
        (json!({"name": "create-image"}), "prompt `create-image` needs the argument `subject`"),
        (
            json!({"name": "create-image", "arguments": {"subject": " "}}),
            "prompt `create-image` needs the argument `subject`",
        ),
        (
            json!({"name": "iterate-on-image", "arguments": {"change": "snow"}}),
            "prompt `iterate-on-image` needs the argument `image_id`",
        ),
        (
            json!({"name": "iterate-on-image", "arguments": {}}),
            "prompt `iterate-on-image` needs the argument `image_id`",
        ),
        (
            json!({"name": "iterate-on-image", "arguments": {"image_id": "x"}}),
            "prompt `iterate-on-image` needs the argument `change`",
        ),
        (
            json!({"name": "nope"}),
            "no prompt `nope`; prompts: apply-style, character-sheet, create-image, iterate-on-image, logo, product-shot",
        ),
    ];
    for (params, message) in cases {
        let got = client.request("prompts/get", params.clone()).await;
        assert_eq!(got["error"]["code"], json!(-32602), "{params}: {got}");
        assert_eq!(got["error"]["message"], json!(message), "{params}: {got}");
    }
}

#[tokio::test]
async fn prompt_arguments_complete() {
    let mut client = Client::start().await;
    let complete = |name: &str, value: &str| json!({"ref": {"type": "ref/prompt", "name": "create-image"}, "argument": {"name": name, "value": value}});
    let got = client.request("completion/complete", complete("style", "p")).await;
    assert_eq!(got["result"]["completion"]["values"], json!(["photograph", "pixel art"]), "{got}");
    let got = client.request("completion/complete", complete("provider", "hos")).await;
    assert_eq!(got["result"]["completion"]["values"], json!(["hostile"]), "{got}");
}

#[tokio::test]
async fn the_gallery_resource_pages_with_next_cursor_like_list_images() {
    let mut client = Client::start().await;
    for i in 0..52 {
        let prompt = if i == 0 { "a cat".to_string() } else { format!("lighthouse {i}") };
        image_id(&client.call("generate_image", json!({"prompt": prompt, "width": 64, "height": 64, "seed": i})).await);
    }
    let read = |uri: &str| json!({"uri": uri});
    let page = |response: &Value| -> Value {
        serde_json::from_str(response["result"]["contents"][0]["text"].as_str().unwrap_or_else(|| panic!("{response}")))
            .unwrap()
    };
    let first = page(&client.request("resources/read", read("image://list?text=lighthouse")).await);
    assert_eq!(first["images"].as_array().unwrap().len(), 50, "{first}");
    assert_eq!(first["next_cursor"], json!("50"), "{first}");
    assert!(first.get("next").is_none(), "one name for the next page: {first}");
    // The cursor counts within the filtered list: the rest comes with the same filter.
    let rest = page(&client.request("resources/read", read("image://list?text=lighthouse&cursor=50")).await);
    assert_eq!(rest["images"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null, "{rest}");

    let tools = client.call("list_images", json!({"text": "lighthouse", "limit": 50})).await;
    assert_eq!(tools["structuredContent"]["next_cursor"], first["next_cursor"], "{tools}");
}
