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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How one target's inputs are mutated besides bytes.
struct Shape {
    /// Words of the format, inserted at random places.
    tokens: &'static [&'static [u8]],
    /// Edits of the parsed input (`None` when it does not parse).
    structured: Option<fn(&mut StdRng, &[u8]) -> Option<Vec<u8>>>,
    /// Repairs applied to every mutant (checksums).
    fixup: fn(&mut Vec<u8>),
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
            data[i] = *[0u8, 0xff, 0x7f, 0x80, 0x01, rng.random()].get(rng.random_range(0..6)).unwrap();
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
            panic!("fuzz target `{name}` panicked on {what}; the input is in {} (replay: cargo +nightly fuzz run {name} {0})", file.display());
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

#[test]
fn plugins_toml_never_panics() {
    // The seeds must reach past the parser's first error.
    let shipped = std::fs::read_to_string(corpus_dir("plugins_toml").join("plugins.toml")).unwrap();
    assert_eq!(shipped, easel::config::EMBEDDED_PLUGINS_TOML, "the corpus holds a copy of the shipped plugins.toml; refresh it");
    let tokens: &[&[u8]] = &[
        b"\n[plugins.x]\n", b"[defaults]\n", b"[inputs]\n", b"builtin = \"x\"\n", b"path = \"x.wasm\"\n", b"url = \"https://e.com/x\"\n",
        b"sha256 = \"", b"allowed_hosts = [\"", b"https://*.", b"http://127.0.0.1:", b"[::1]", b"enabled = false\n",
        b"provider = \"", b"= 0\n", b"= -1\n", b"= 18446744073709551615\n", b"= 1e999\n", b"= inf\n", b"\"\"\"", b"'''",
        b"[[", b"]]", b"{ }", b"\\u", b"\xc3\xa9", b"\xf0\x9f\x8e\xa8", b"\r\n", b"#", b".secrets.K]\nhosts = []\n",
    ];
    smoke("plugins_toml", easel::fuzz_targets::plugins_toml, tokens);
}

#[test]
fn tool_arguments_never_panic() {
    for (file, seed) in corpus("tool_arguments") {
        assert!(serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&seed).is_ok(), "seed {file} is not a JSON object");
    }
    let tokens: &[&[u8]] = &[
        b"\"prompt\": \"a\", ", b"\"width\": ", b"\"height\": ", b"\"count\": ", b"\"seed\": ", b"\"steps\": ", b"\"guidance\": ",
        b"\"strength\": ", b"\"aspect_ratio\": \"", b"\"size_tier\": \"", b"\"model\": \"", b"\"provider\": \"", b"\"role\": \"mask\"",
        b"\"images\": [{\"image\": \"", b"\"reference_images\": [\"", b"data:image/png;base64,", b"image://", b"*/*", b"gone-1", b"old-1",
        b"4294967295", b"4294967296", b"18446744073709551615", b"-1", b"1e39", b"-0.0", b"null", b"true", b"[]", b"{}", b"\\u0000",
        b"\\ud800", b"\xc3\xa9", b":", b"16:9", b"0:0", b"  ",
    ];
    smoke("tool_arguments", easel::fuzz_targets::tool_arguments, tokens);
}

#[test]
fn image_input_never_panics() {
    for (file, seed) in corpus("image_input") {
        if !file.ends_with(".txt") {
            assert!(easel::store::probe(&seed).is_ok(), "seed {file} does not probe as an image");
        }
    }
    let tokens: &[&[u8]] = &[
        b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS", b"acTL", b"fcTL", b"\xff\xd8", b"\xff\xc0", b"\xff\xc2", b"\xff\xc4", b"\xff\xda",
        b"\xff\xd9", b"\xff\xdd", b"GIF89a", b"NETSCAPE2.0", b"RIFF", b"WEBP", b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF",
        b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x00\x00\x40\x00", b"data:", b"image/png;base64,", b"====",
    ];
    smoke("image_input", easel::fuzz_targets::image_input, tokens);
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
