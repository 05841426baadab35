//! The fuzz targets (`easel::fuzz_targets`, run for real by `fuzz/` under
//! cargo-fuzz) on the stable toolchain, for CI: each target gets its seed
//! corpus (`fuzz/corpus/<target>/`) and then deterministic pseudo-random
//! mutations of it — bit flips, byte overwrites, truncations, splices,
//! inserts of bytes and of tokens the formats care about, and for JSON and
//! TOML edits of the parsed document (so that most mutants get past the
//! syntax to validation), with PNG chunk checksums repaired — for a bounded
//! time (`EASEL_FUZZ_SMOKE_SECS`, default 5 s per target). A panic fails the
//! test and names a file holding the input, to replay with
//! `cargo +nightly fuzz run <target> <file>`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An edit of a parsed input: the mutated bytes, `None` when it does not parse.
type StructuredEdit = fn(&mut StdRng, &[u8]) -> Option<Vec<u8>>;

/// How one target's inputs are mutated besides bytes.
struct Shape {
    /// Words of the format, inserted at random places.
    tokens: &'static [&'static [u8]],
    /// Edits of the parsed input (`None` when it does not parse).
    structured: Option<StructuredEdit>,
    /// Repairs applied to every mutant (checksums).
    fixup: fn(&mut [u8]),
}

/// Default time per target.
const DEFAULT_SECS: f64 = 5.0;
/// At most this many runs per target, however fast they are.
const MAX_RUNS: u64 = 2_000_000;
/// Longest mutated input, bytes (libFuzzer's default `-max_len` is 4096).
const MAX_LEN: usize = 8192;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

/// The seed corpus of `target`, sorted by file name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} holds no seeds", dir.display());
    seeds
}

fn budget() -> Duration {
    let secs = std::env::var("EASEL_FUZZ_SMOKE_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(DEFAULT_SECS);
    Duration::from_secs_f64(secs.max(0.0))
}

/// One random edit of `data`; `seeds` for splices, `tokens` for inserts.
fn mutate(rng: &mut StdRng, data: &mut Vec<u8>, seeds: &[(String, Vec<u8>)], tokens: &[&[u8]]) {
    let len = data.len();
    let at = |rng: &mut StdRng, len: usize| if len == 0 { 0 } else { rng.random_range(0..=len) };
    match rng.random_range(0..10u8) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        // Overwrite a byte with a random or a boundary value.
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] = [0u8, 0xff, 0x7f, 0x80, 0x01, rng.random()][rng.random_range(0..6)];
        }
        // Overwrite up to 4 bytes with 0xff (huge sizes, lengths, counts).
        2 if len > 0 => {
            let i = rng.random_range(0..len);
            let end = (i + rng.random_range(1..=4)).min(len);
            data[i..end].fill(0xff);
        }
        // Truncate.
        3 => data.truncate(at(rng, len)),
        // Delete a run.
        4 if len > 0 => {
            let i = rng.random_range(0..len);
            let end = (i + rng.random_range(1..=16)).min(len);
            data.drain(i..end);
        }
        // Insert random bytes.
        5 => {
            let i = at(rng, len);
            let n = rng.random_range(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            data.splice(i..i, bytes);
        }
        // Insert a token the format cares about.
        6 | 7 if !tokens.is_empty() => {
            let i = at(rng, len);
            let token = tokens[rng.random_range(0..tokens.len())];
            data.splice(i..i, token.iter().copied());
        }
        // Duplicate a run in place.
        8 if len > 0 => {
            let i = rng.random_range(0..len);
            let end = (i + rng.random_range(1..=32)).min(len);
            let run = data[i..end].to_vec();
            let j = at(rng, len);
            data.splice(j..j, run);
        }
        // Splice: our head with another seed's tail.
        _ => {
            let other = &seeds[rng.random_range(0..seeds.len())].1;
            let i = at(rng, len);
            let j = if other.is_empty() { 0 } else { rng.random_range(0..other.len()) };
            data.truncate(i);
            data.extend_from_slice(&other[j..]);
        }
    }
    data.truncate(MAX_LEN);
}

/// Run `target` on every seed, then on mutants until the budget is spent.
fn smoke(name: &str, target: fn(&[u8]), shape: Shape) {
    let seeds = corpus(name);
    let run = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let file = std::env::temp_dir().join(format!("easel-fuzz-smoke-{name}-crash"));
            std::fs::write(&file, input).unwrap();
            panic!(
                "fuzz target `{name}` panicked on {what}; the input is in {} (replay: cargo +nightly fuzz run -s none {name} {0})",
                file.display()
            );
        }
    };
    for (file, seed) in &seeds {
        run(seed, &format!("seed {file}"));
    }
    let budget = budget();
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0xEA5E_1F00 ^ name.len() as u64);
    let (mut runs, mut structured, mut slowest) = (0u64, 0u64, Duration::ZERO);
    while started.elapsed() < budget && runs < MAX_RUNS {
        let mut input = seeds[rng.random_range(0..seeds.len())].1.clone();
        let edited = match shape.structured {
            Some(edit) if rng.random_bool(0.5) => edit(&mut rng, &input),
            _ => None,
        };
        let byte_edits = match edited {
            Some(edited) => {
                input = edited;
                structured += 1;
                rng.random_range(0..=1)
            }
            None => rng.random_range(1..=4),
        };
        for _ in 0..byte_edits {
            mutate(&mut rng, &mut input, &seeds, shape.tokens);
        }
        (shape.fixup)(&mut input);
        let one = Instant::now();
        run(&input, &format!("mutant #{runs}"));
        slowest = slowest.max(one.elapsed());
        runs += 1;
    }
    eprintln!(
        "{name}: {} seeds + {runs} mutants ({structured} structured) in {:.1} s; slowest {:.0} ms",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3
    );
}

fn no_fixup(_: &mut [u8]) {}

/// Pick one of `items`.
fn pick<'a, T: ?Sized>(rng: &mut StdRng, items: &[&'a T]) -> &'a T {
    items[rng.random_range(0..items.len())]
}

/// A string edited at random: a token inserted, cut short, repeated, or replaced.
fn edit_string(rng: &mut StdRng, text: &str, tokens: &[&str]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = rng.random_range(0..=chars.len());
    match rng.random_range(0..4u8) {
        0 => chars.splice(at..at, pick(rng, tokens).chars()).for_each(drop),
        1 => chars.truncate(at),
        2 => chars = chars.repeat(rng.random_range(2..=64)),
        _ => return pick(rng, tokens).to_string(),
    }
    chars.into_iter().collect()
}

const TOML_STRINGS: &[&str] = &[
    "",
    " ",
    "x",
    "placeholder",
    "nope",
    "Bad Id",
    "\u{e9}",
    "x.wasm",
    "../x.wasm",
    "/",
    "/dev/null",
    "/run/secrets/k",
    "https://e.com/x.wasm",
    "https://api.example.com",
    "https://*.example.com",
    "https://*",
    "http://127.0.0.1:8188",
    "http://[::1]:0",
    "127.0.0.1:65536",
    "10.0.0.7:8080",
    "HTTPS://EXAMPLE.COM",
    "https://e.com/path?q#f",
    "ftp://e.com",
    "a:b:c",
    "*.*",
    "https://xn--",
    "[::1]",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef",
    "ENV_NAME",
    "\u{0}",
    "\\\\",
];

fn toml_value(rng: &mut StdRng) -> toml::Value {
    use toml::Value;
    match rng.random_range(0..8u8) {
        0 => Value::Integer(*pick(rng, &[&0i64, &1, &-1, &4096, &i64::MAX, &i64::MIN, &(1i64 << 44)])),
        1 => Value::Float(*pick(rng, &[&0.0f64, &-0.0, &f64::NAN, &f64::INFINITY, &1e300, &0.5])),
        2 => Value::Boolean(rng.random()),
        3 => Value::Datetime("1979-05-27T07:32:00Z".parse().unwrap()),
        4 => Value::Array(
            (0..rng.random_range(0..4)).map(|_| Value::String(pick(rng, TOML_STRINGS).to_string())).collect(),
        ),
        5 => Value::Table(toml::Table::new()),
        _ => Value::String(pick(rng, TOML_STRINGS).to_string()),
    }
}

/// Edit a parsed `plugins.toml`: set, change or drop a key of one of its
/// tables (creating the table if needed), or drop a plugin.
fn toml_edit(rng: &mut StdRng, input: &[u8]) -> Option<Vec<u8>> {
    const TOP: &[&str] = &["defaults", "store", "preview", "inputs", "plugins", "extra"];
    const KEYS: &[(&str, &[&str])] = &[
        ("defaults", &["provider", "wait_secs", "other"]),
        ("store", &["dir", "other"]),
        ("preview", &["max_edge", "max_bytes", "other"]),
        ("inputs", &["allowed_dirs", "allowed_hosts", "max_mib", "other"]),
        (
            "plugin",
            &[
                "builtin",
                "path",
                "url",
                "sha256",
                "enabled",
                "allowed_hosts",
                "timeout_secs",
                "memory_mib",
                "concurrency",
                "max_response_mib",
                "prices",
                "secrets",
                "config",
                "other",
            ],
        ),
        ("secret", &["env", "file", "hosts", "other"]),
    ];
    let mut doc: toml::Table = std::str::from_utf8(input).ok()?.parse().ok()?;
    for _ in 0..rng.random_range(1..=3) {
        let top = pick(rng, TOP);
        let table = doc.entry(top).or_insert_with(|| toml::Value::Table(Default::default()));
        let toml::Value::Table(table) = table else { continue };
        let (kind, table) = if top == "plugins" {
            let mut ids: Vec<String> = table.keys().cloned().collect();
            ids.extend(["x", "new-one", "Bad Id", ""].map(String::from));
            let id = ids[rng.random_range(0..ids.len())].clone();
            if rng.random_range(0..8) == 0 {
                table.remove(&id);
                continue;
            }
            let entry = table.entry(id).or_insert_with(|| toml::Value::Table(Default::default()));
            let toml::Value::Table(entry) = entry else { continue };
            if rng.random_bool(0.3) {
                let secrets = entry.entry("secrets").or_insert_with(|| toml::Value::Table(Default::default()));
                let toml::Value::Table(secrets) = secrets else { continue };
                let name = pick(rng, &["K", "OPENAI_API_KEY", "\u{e9}"]).to_string();
                let secret = secrets.entry(name).or_insert_with(|| toml::Value::Table(Default::default()));
                let toml::Value::Table(secret) = secret else { continue };
                ("secret", secret)
            } else {
                ("plugin", entry)
            }
        } else {
            (top, table)
        };
        let keys = KEYS.iter().find(|(k, _)| *k == kind).map_or(&["other"][..], |(_, keys)| keys);
        let key = pick(rng, keys).to_string();
        match (rng.random_range(0..4u8), table.get_mut(&key)) {
            (0, Some(_)) => drop(table.remove(&key)),
            (1, Some(toml::Value::String(text))) => *text = edit_string(rng, text, TOML_STRINGS),
            _ => drop(table.insert(key, toml_value(rng))),
        }
    }
    toml::to_string(&doc).ok().map(String::into_bytes)
}

#[test]
fn plugins_toml_never_panics() {
    let shipped = std::fs::read_to_string(corpus_dir("plugins_toml").join("plugins.toml")).unwrap();
    assert_eq!(
        shipped,
        easel::config::EMBEDDED_PLUGINS_TOML,
        "the corpus holds a copy of the shipped plugins.toml; refresh it"
    );
    let tokens: &'static [&'static [u8]] = &[
        b"\n[plugins.x]\n",
        b"[defaults]\n",
        b"[inputs]\n",
        b"builtin = \"x\"\n",
        b"path = \"x.wasm\"\n",
        b"url = \"https://e.com/x\"\n",
        b"sha256 = \"",
        b"allowed_hosts = [\"",
        b"https://*.",
        b"http://127.0.0.1:",
        b"[::1]",
        b"enabled = false\n",
        b"provider = \"",
        b"= 0\n",
        b"= -1\n",
        b"= 18446744073709551615\n",
        b"= 1e999\n",
        b"= inf\n",
        b"\"\"\"",
        b"'''",
        b"[[",
        b"]]",
        b"{ }",
        b"\\u",
        b"\xc3\xa9",
        b"\xf0\x9f\x8e\xa8",
        b"\r\n",
        b"#",
        b".secrets.K]\nhosts = []\n",
    ];
    smoke(
        "plugins_toml",
        easel::fuzz_targets::plugins_toml,
        Shape { tokens, structured: Some(toml_edit), fixup: no_fixup },
    );
}

const JSON_STRINGS: &[&str] = &[
    "",
    "  ",
    "a fox",
    "placeholder",
    "placeholder-1",
    "default",
    "PLACEHOLDER",
    "representative",
    "fixed",
    "fixed-1",
    "old-1",
    "gone-1",
    "*/*",
    "owner/name",
    "a/b/c",
    "owner/name:v",
    "1:1",
    "16:9",
    "0:0",
    "4294967296:1",
    " 16 : 9 ",
    "1K",
    "2k",
    "4K",
    "reference",
    "mask",
    "control",
    "0123456789abcdef",
    "image://0123456789abcdef",
    "image://nope",
    "https://example.com/a.png",
    "photos/a.png",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAAD0lEQVR4AQEEAPv/AAAAAAAEAAFlScNgAAAAAElFTkSuQmCC",
    "data:image/png;base64,====",
    "data:text/plain,hi",
    "\u{0}",
    "\u{e9}\u{1f3a8}",
];

fn json_value(rng: &mut StdRng) -> serde_json::Value {
    use serde_json::{Value, json};
    match rng.random_range(0..10u8) {
        0 => json!(*pick(rng, &[&0u64, &1, &2, &4, &5, &16, &200, &201, &1024, &1536, &4096, &4097, &4294967295, &4294967296, &u64::MAX])),
        1 => json!(*pick(rng, &[&-1i64, &i64::MIN])),
        2 => json!(*pick(rng, &[&0.0f64, &-0.0, &0.5, &1.0, &1.0000001, &50.0, &50.0001, &1e39, &-1e39, &1e-46])),
        3 => Value::Bool(rng.random()),
        4 => Value::Null,
        5 => Value::Array((0..rng.random_range(0..6)).map(|_| Value::String(pick(rng, JSON_STRINGS).to_string())).collect()),
        6 => Value::Array(
            (0..rng.random_range(0..6))
                .map(|_| json!({"image": pick(rng, JSON_STRINGS), "role": pick(rng, &["reference", "mask", "control", "other"])}))
                .collect(),
        ),
        7 => Value::String("x".repeat(*pick(rng, &[&31_999usize, &32_000, &32_001]))),
        _ => Value::String(pick(rng, JSON_STRINGS).to_string()),
    }
}

/// Edit parsed tool arguments: set, change or drop a field of the
/// arguments or of one input image.
fn json_edit(rng: &mut StdRng, input: &[u8]) -> Option<Vec<u8>> {
    const KEYS: &[&str] = &[
        "prompt",
        "provider",
        "model",
        "negative_prompt",
        "width",
        "height",
        "aspect_ratio",
        "size_tier",
        "count",
        "seed",
        "steps",
        "guidance",
        "strength",
        "reference_images",
        "images",
        "wait_seconds",
        "other",
    ];
    let mut doc: serde_json::Value = serde_json::from_slice(input).ok()?;
    for _ in 0..rng.random_range(1..=3) {
        let images = doc.get_mut("images").and_then(|i| i.as_array_mut()).filter(|i| !i.is_empty());
        let (object, keys): (_, &[&str]) = match images {
            Some(images) if rng.random_bool(0.3) => {
                let n = images.len();
                (images[rng.random_range(0..n)].as_object_mut(), &["image", "role", "other"])
            }
            _ => (doc.as_object_mut(), KEYS),
        };
        let Some(object) = object else { continue };
        let key = pick(rng, keys).to_string();
        match (rng.random_range(0..4u8), object.get_mut(&key)) {
            (0, Some(_)) => drop(object.remove(&key)),
            (1, Some(serde_json::Value::String(text))) => *text = edit_string(rng, text, JSON_STRINGS),
            _ => drop(object.insert(key, json_value(rng))),
        }
    }
    serde_json::to_vec(&doc).ok()
}

#[test]
fn tool_arguments_never_panic() {
    for (file, seed) in corpus("tool_arguments") {
        assert!(
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&seed).is_ok(),
            "seed {file} is not a JSON object"
        );
    }
    let tokens: &'static [&'static [u8]] = &[
        b"\"prompt\": \"a\", ",
        b"\"width\": ",
        b"\"height\": ",
        b"\"count\": ",
        b"\"seed\": ",
        b"\"steps\": ",
        b"\"guidance\": ",
        b"\"strength\": ",
        b"\"aspect_ratio\": \"",
        b"\"size_tier\": \"",
        b"\"model\": \"",
        b"\"provider\": \"",
        b"\"role\": \"mask\"",
        b"\"images\": [{\"image\": \"",
        b"\"reference_images\": [\"",
        b"data:image/png;base64,",
        b"image://",
        b"*/*",
        b"gone-1",
        b"old-1",
        b"4294967295",
        b"4294967296",
        b"18446744073709551615",
        b"-1",
        b"1e39",
        b"-0.0",
        b"null",
        b"true",
        b"[]",
        b"{}",
        b"\\u0000",
        b"\\ud800",
        b"\xc3\xa9",
        b":",
        b"16:9",
        b"0:0",
        b"  ",
    ];
    smoke(
        "tool_arguments",
        easel::fuzz_targets::tool_arguments,
        Shape { tokens, structured: Some(json_edit), fixup: no_fixup },
    );
}

/// CRC-32 (IEEE) as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Give every whole chunk of a PNG a correct CRC, so that mutants reach
/// the decoder instead of its checksum test.
fn fix_png_crcs(data: &mut [u8]) {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut at = 8;
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|end| end + 4 <= data.len()) else { break };
        let crc = crc32(&data[at + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

#[test]
fn image_input_never_panics() {
    for (file, seed) in corpus("image_input") {
        if !file.ends_with(".txt") {
            assert!(easel::store::probe(&seed).is_ok(), "seed {file} does not probe as an image");
        }
    }
    let tokens: &'static [&'static [u8]] = &[
        b"IHDR",
        b"IDAT",
        b"IEND",
        b"PLTE",
        b"tRNS",
        b"acTL",
        b"fcTL",
        b"\xff\xd8",
        b"\xff\xc0",
        b"\xff\xc2",
        b"\xff\xc4",
        b"\xff\xda",
        b"\xff\xd9",
        b"\xff\xdd",
        b"GIF89a",
        b"NETSCAPE2.0",
        b"RIFF",
        b"WEBP",
        b"VP8 ",
        b"VP8L",
        b"VP8X",
        b"ALPH",
        b"ANIM",
        b"ANMF",
        b"\x00\x00\x00\x00",
        b"\xff\xff\xff\xff",
        b"\x00\x00\x40\x00",
        b"data:",
        b"image/png;base64,",
        b"====",
    ];
    smoke("image_input", easel::fuzz_targets::image_input, Shape { tokens, structured: None, fixup: fix_png_crcs });
}

/// `tool_arguments` validates against a copy of the placeholder's
/// `describe`; it must stay equal to what the real plugin says.
#[test]
fn fuzzed_placeholder_models_match_the_plugin() {
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let real = tokio.block_on(async {
        let cache = tempfile::tempdir().unwrap();
        let deployment = std::sync::Arc::new(easel::config::Deployment::embedded());
        let runtime = easel::runtime::Runtime::new(None).unwrap();
        let registry = easel::providers::Registry::start(deployment, runtime, cache.path().to_path_buf(), false);
        registry.get("placeholder").expect("the embedded plugins.toml has the placeholder").info().await.unwrap()
    });
    let mut real = serde_json::to_value(real).unwrap();
    real["version"] = serde_json::Value::String(String::new());
    let copy = serde_json::to_value(easel::fuzz_targets::placeholder_provider()).unwrap();
    assert_eq!(copy, real, "update fuzz_targets::placeholder_provider to the placeholder plugin's describe");
    assert_eq!(easel::fuzz_targets::fuzz_providers()[0].id, "placeholder", "the default provider comes first");
}
