//! `easel-bench`: prints start-up, round-trip, generation, load and memory
//! figures for this machine (nothing is asserted). Run with
//! `cargo build --release --bins && target/release/easel-bench [--only SECTION]… [--quick]`;
//! it drives the `easel` binary next to it (over stdio with raw JSON-RPC,
//! and over streamable HTTP), a fake OpenAI upstream in this process, and
//! the runtime in-process. This file owns the command line, the shared
//! context (work directory, warm compile cache, the fake) and the order
//! the sections run in.

mod basics;
mod http;
mod load;
mod openai;
mod process;
mod report;
mod stdio;
mod upstream;

use clap::{Parser, ValueEnum};
use report::Report;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Benchmarks of Easel on this machine: figures printed, nothing asserted.
#[derive(Debug, Parser)]
#[command(name = "easel-bench")]
struct Args {
    /// Run only this section (repeatable); default: all, in the order listed.
    #[arg(long = "only", value_enum, value_name = "SECTION")]
    only: Vec<Section>,
    /// Fewer repetitions (the 64-call loads keep their 64).
    #[arg(long)]
    quick: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// spawn → MCP initialized, cold and warm compile cache.
    Startup,
    /// tools/list round trip over stdio.
    ToolsList,
    /// generate_image 1024×1024 placeholder over stdio.
    PlaceholderStdio,
    /// In-process: fresh store + instantiate + describe.
    PerCall,
    /// One 2 MiB generation through the openai plugin vs the native floor.
    OpenaiStdio,
    /// 64 concurrent openai generations over streamable HTTP (1 s upstream).
    #[value(name = "http-openai-64")]
    HttpOpenai64,
    /// 64 concurrent placeholder generations over streamable HTTP.
    #[value(name = "http-placeholder-64")]
    HttpPlaceholder64,
    /// Idle RSS (warm cache) and peak RSS of a cold first start.
    Rss,
}

/// The API key the fake upstream accepts (and the child gets as OPENAI_API_KEY).
pub const FAKE_KEY: &str = "sk-easel-bench-7d41c0";

/// What the sections share.
pub struct Ctx {
    pub easel: PathBuf,
    /// `temp_dir()/easel-bench-PID`; removed at the end.
    pub work: PathBuf,
    pub quick: bool,
    pub report: Report,
    /// The bench's own runtime (load generators, the native floor, in-process calls).
    pub rt: tokio::runtime::Runtime,
    warm_cache: Option<PathBuf>,
    upstream: Option<upstream::Upstream>,
}

impl Ctx {
    /// `full` repetitions, or `quick` ones under `--quick`.
    pub fn reps(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }

    /// A directory under the work directory (not created).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// A compile cache that holds every built-in plugin: the one the
    /// start-up section filled, else one filled now (a server started on
    /// it, `list_providers` answered, which waits for the compiles).
    pub fn warm_cache(&mut self) -> PathBuf {
        if let Some(cache) = &self.warm_cache {
            return cache.clone();
        }
        let cache = self.dir("cache");
        let mut server = stdio::Server::spawn(&self.easel, &cache, &self.dir("store-warm-up"));
        server.initialize();
        let _ = server.call("list_providers", json!({}));
        drop(server);
        self.warm_cache = Some(cache.clone());
        cache
    }

    /// Say that `cache` is warm (filled by a server that answered `list_providers`).
    pub fn set_warm_cache(&mut self, cache: &Path) {
        self.warm_cache.get_or_insert_with(|| cache.to_path_buf());
    }

    /// The fake OpenAI upstream, started on first use (its PNG size printed then).
    pub fn upstream(&mut self) -> &upstream::Upstream {
        if self.upstream.is_none() {
            let fake = upstream::Upstream::start(FAKE_KEY);
            self.report.figure(
                "upstream.png",
                format!("{} bytes", fake.png_bytes),
                &format!("1024×1024 RGB noise PNG in every answer; JSON body {} bytes", fake.body_bytes),
            );
            self.upstream = Some(fake);
        }
        self.upstream.as_ref().unwrap()
    }
}

/// Removes the work directory however the run ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let args = Args::parse();
    let easel: PathBuf = std::env::current_exe().unwrap().with_file_name("easel");
    assert!(easel.exists(), "build the easel binary first: cargo build --release --bins");
    let work = std::env::temp_dir().join(format!("easel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("creating the work directory");
    let _cleanup = WorkDir(work.clone());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut ctx =
        Ctx { easel, work, quick: args.quick, report: Report::default(), rt, warm_cache: None, upstream: None };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    ctx.report.figure("cores", cores.to_string(), if args.quick { "--quick" } else { "" });

    let sections = if args.only.is_empty() { Section::value_variants().to_vec() } else { args.only.clone() };
    for section in Section::value_variants().iter().filter(|s| sections.contains(*s)) {
        let name = section.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        println!("\n== {name}");
        let outcome = match section {
            Section::Startup => basics::startup(&mut ctx),
            Section::ToolsList => basics::tools_list(&mut ctx),
            Section::PlaceholderStdio => basics::placeholder_stdio(&mut ctx),
            Section::PerCall => basics::per_call(&mut ctx),
            Section::OpenaiStdio => openai::openai_stdio(&mut ctx),
            Section::HttpOpenai64 => load::http_openai_64(&mut ctx),
            Section::HttpPlaceholder64 => load::http_placeholder_64(&mut ctx),
            Section::Rss => basics::rss(&mut ctx),
        };
        if let Err(e) = outcome {
            ctx.report.figure(&format!("{name}.failed"), format!("{e:#}"), "section stopped");
        }
    }
    ctx.report.print_table();
    // The fake's runtime must be shut down outside any async context.
    drop(ctx.upstream.take());
}
