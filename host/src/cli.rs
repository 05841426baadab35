//! The `easel` command line: `serve`, `generate`, `run`, `plugins list|check`. Every
//! command boots the same [`App`] that the MCP tools use.

use crate::app::{App, Paths};
use crate::config::{ConfigError, Deployment};
use crate::jobs::{GenerateSpec, InputSpec, JobProgress, Outcome};
use crate::mcp::EaselServer;
use crate::model::ImageRole;
use crate::providers::Status;
use crate::request::{Params, Settings};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Easel: image generation for MCP clients, with sandboxed WASI provider plugins.
#[derive(Debug, Parser)]
#[command(name = "easel", version, about)]
pub struct Cli {
    /// Deployment file (plugins.toml). Default: the one embedded in this binary.
    #[arg(long, global = true, env = "EASEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Image store directory. Default: [store] dir in the config, else the user data directory.
    #[arg(long, global = true, env = "EASEL_STORE")]
    pub store: Option<PathBuf>,
    /// Compiled-plugin cache directory. Default: the user cache directory.
    #[arg(long, global = true, env = "EASEL_CACHE")]
    pub cache: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

// `Generate` is much larger than the others; a command is parsed once, so it is not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server (stdio for Claude Desktop, or streamable HTTP).
    Serve {
        #[arg(long, value_enum, default_value_t = Transport::Stdio)]
        transport: Transport,
        /// Address to bind for HTTP (loopback by default).
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port for HTTP (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Extra names accepted in the Host header (when served behind a name).
        #[arg(long = "allow-host")]
        allow_hosts: Vec<String>,
        /// Require `Authorization: Bearer <token>` over HTTP; a file with one
        /// token per line. Tokens may also come from EASEL_HTTP_TOKENS
        /// (comma- or space-separated); either source turns auth on.
        #[arg(long, env = "EASEL_HTTP_TOKENS_FILE")]
        tokens_file: Option<PathBuf>,
        /// Most MCP sessions open at once over HTTP; more are refused with 503
        /// until some close or sit idle for 5 minutes.
        #[arg(long, default_value_t = crate::mcp::http::DEFAULT_MAX_SESSIONS)]
        max_sessions: usize,
        /// Reload --config whenever it changes (SIGHUP always reloads it):
        /// new plugins load, changed ones swap between calls, removed ones
        /// finish their calls; sessions stay open.
        #[arg(long)]
        watch: bool,
        /// Offer only the tools that change nothing (list_providers,
        /// list_models, list_images, show_image, get_generation_status, get_usage) and
        /// no prompts; the same as `[server] read_only = true`.
        #[arg(long)]
        read_only: bool,
        /// Loopback only: ignore [server.auth] and bearer tokens; every
        /// request (and the /ui dashboard) is the local user, an admin.
        #[arg(long)]
        no_auth: bool,
    },
    /// Generate (or, with --image, edit; with --upscale, upscale) images and
    /// print `ID<TAB>PATH` per image.
    Generate(GenerateCmd),
    /// Run a pipeline file (run_pipeline's `{"steps": [...]}`) as one job,
    /// printing each step's progress, then `ID<TAB>PATH` per image it shows.
    Run {
        /// The pipeline, JSON.
        file: PathBuf,
        /// Copy the images it shows into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seconds to wait for the whole pipeline (default 1800).
        #[arg(long, default_value_t = 1800)]
        wait: u64,
    },
    /// Inspect the configured plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCmd,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Transport {
    Stdio,
    Http,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCmd {
    /// Each plugin's status, models and why it is not ready.
    List,
    /// Without FILE: load and describe every enabled plugin of the
    /// deployment. With FILE: check one component the way an operator's
    /// host will load it (component, WIT version, imports, exports,
    /// describe, then submit/poll/cancel against scripted upstreams, and
    /// that no secret leaks). Exits non-zero on any failure.
    Check {
        /// A plugin component (`.wasm`) to check on its own.
        file: Option<PathBuf>,
        /// A `[plugins.ID.config]` setting for FILE, as KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", requires = "file")]
        set: Vec<String>,
        /// Print the report as JSON (for CI).
        #[arg(long, requires = "file")]
        json: bool,
    },
    /// Upload a plugin component to an OCI registry as a wasm artifact and
    /// print the `oci` + `digest` entry to paste into plugins.toml.
    /// Credentials: EASEL_REGISTRY_USERNAME and EASEL_REGISTRY_PASSWORD.
    Push {
        /// The plugin component (`.wasm`).
        file: PathBuf,
        /// Where to: `oci://REGISTRY/REPOSITORY:TAG` (http only for a loopback registry).
        reference: String,
    },
    /// Write a new plugin project: a provider for an async HTTP image API
    /// (submit → poll → result URL) with its README, a fake upstream and a
    /// test, ready to build.
    New {
        /// Plugin id, e.g. `acme-images` (lower-case letters, digits, dashes).
        name: String,
        #[arg(long, value_enum)]
        lang: crate::scaffold::Lang,
        /// Where to write it (default: ./NAME). Must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `easel generate`: the prompt, the shared [`Settings`] as flags
/// (`--width`, `--seed`, …), input images and where the results go.
#[derive(Debug, clap::Args)]
pub struct GenerateCmd {
    /// What the image should show.
    pub prompt: String,
    #[command(flatten)]
    pub settings: Settings,
    /// A provider parameter as KEY=VALUE; VALUE is read as JSON (`true`,
    /// `0.8`, `["IMAGE"]`) and otherwise as a string. Repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Provider parameters as one JSON object; --param entries override its keys.
    #[arg(long, value_name = "JSON")]
    pub params_json: Option<String>,
    /// Input image (store id, image:// URI or file path); makes this an edit. Repeatable.
    #[arg(long = "image")]
    pub images: Vec<String>,
    /// Mask image (store id or file path) for inpainting.
    #[arg(long)]
    pub mask: Option<String>,
    /// Upscale the one --image by this factor (e.g. 2) instead of editing
    /// it; the prompt may be "" (a creative upscaler takes it as a hint).
    #[arg(long, value_name = "FACTOR", requires = "images", conflicts_with = "mask")]
    pub upscale: Option<f32>,
    /// Outpaint the one --image: pixels to add as LEFT,TOP,RIGHT,BOTTOM
    /// (e.g. 0,0,256,0 widens it to the right); Easel makes the mask.
    #[arg(long, value_name = "L,T,R,B", requires = "images", conflicts_with_all = ["mask", "upscale"], value_parser = parse_expand)]
    pub expand: Option<crate::request::Expand>,
    /// Copy the results into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seconds to wait for the provider (default 600).
    #[arg(long, default_value_t = 600)]
    pub wait: u64,
}

impl GenerateCmd {
    /// `--params-json`, then each `--param`, as one object (`None` when
    /// neither is given).
    ///
    /// Errors: `--params-json` that is not a JSON object, or a `--param`
    /// without `=` or with an empty key.
    pub fn params(&self) -> Result<Option<Params>> {
        let mut params = match &self.params_json {
            Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(object)) => object,
                Ok(other) => bail!(
                    "--params-json must be a JSON object such as '{{\"background\": \"transparent\"}}', not {}",
                    json_kind(&other)
                ),
                Err(e) => bail!("--params-json is not valid JSON: {e}"),
            },
            None if self.param.is_empty() => return Ok(None),
            None => Params::new(),
        };
        for entry in &self.param {
            let Some((key, value)) = entry.split_once('=').filter(|(key, _)| !key.trim().is_empty()) else {
                bail!(
                    "--param {entry:?} must be KEY=VALUE, e.g. --param background=transparent or --param 'responseModalities=[\"IMAGE\"]'"
                );
            };
            let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
            params.insert(key.trim().to_string(), value);
        }
        Ok(Some(params))
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Boot the host for `cli`'s paths (see [`Paths::resolve`]).
pub fn boot(cli: &Cli, deployment: Deployment, preload: bool) -> Result<Arc<App>> {
    let paths = Paths::resolve(&deployment, cli.store.clone(), cli.cache.clone());
    App::boot(deployment, &paths, preload)
}

/// Load the deployment (a config error is returned as is, for its position and fix).
pub fn load_deployment(cli: &Cli) -> Result<Deployment, ConfigError> {
    match &cli.config {
        Some(path) => Deployment::load(path),
        None => Ok(Deployment::embedded()),
    }
}

pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Plugins { command } = &cli.command {
        match command {
            PluginsCmd::New { name, lang, dir } => return new_plugin(name, *lang, dir.as_deref()),
            PluginsCmd::Push { file, reference } => return push_file(file, reference).await,
            PluginsCmd::Check { file: Some(file), set, json } => return check_file(&cli, file, set, *json).await,
            _ => {}
        }
    }
    let mut deployment = load_deployment(&cli).map_err(|e| anyhow::anyhow!("{e}"))?;
    match &cli.command {
        Command::Serve { transport, host, port, allow_hosts, tokens_file, max_sessions, watch, read_only, no_auth } => {
            deployment.server.read_only |= *read_only;
            let booted = boot(&cli, deployment, true)?;
            match &cli.config {
                Some(path) => crate::reload::spawn(booted.clone(), path.clone(), *watch),
                None if *watch => anyhow::bail!("--watch needs --config FILE: the embedded plugins.toml cannot change"),
                None => {}
            }
            // Jobs a killed server left unfinished: resume or fail them, in the background.
            let jobs = booted.jobs.clone();
            tokio::spawn(async move {
                let recovery = jobs.recover().await;
                if !recovery.resumed.is_empty() || !recovery.failed.is_empty() {
                    tracing::info!(
                        resumed = recovery.resumed.len(),
                        failed = recovery.failed.len(),
                        "recovered unfinished jobs"
                    );
                }
            });
            let server = EaselServer::new(booted.clone());
            match transport {
                Transport::Stdio => server.serve_stdio().await,
                Transport::Http => {
                    let settings = &booted.deployment.server;
                    let (tokens, auth) = if *no_auth {
                        if !host.is_loopback() {
                            anyhow::bail!(
                                "refusing --no-auth on {host}: without authentication the server must listen on loopback only; fix: drop --host or bind --host 127.0.0.1"
                            );
                        }
                        (Vec::new(), None)
                    } else {
                        let mut tokens = match tokens_file {
                            Some(path) => crate::mcp::http::read_tokens(path)?,
                            None => Vec::new(),
                        };
                        tokens.extend(crate::mcp::http::tokens_from_env()?);
                        (tokens, settings.auth.clone())
                    };
                    let addr = SocketAddr::new(*host, *port);
                    if tokens.is_empty() && auth.is_none() && !host.is_loopback() {
                        anyhow::bail!(
                            "refusing to serve on {host} with no authentication: anyone who can reach it could generate images at your cost; fix: set [server.auth] (OAuth sign-in) or --tokens-file, or bind --host 127.0.0.1"
                        );
                    }
                    let public_url = match &settings.public_url {
                        Some(url) => Some(crate::auth::public_url(Some(url), "")?),
                        None => None,
                    };
                    if let Some(auth) = &auth
                        && auth.allowed_emails.is_empty()
                    {
                        eprintln!(
                            "easel: warning: [server.auth] has no allowed_emails: every user {} signs in may generate images",
                            auth.signs_in()
                        );
                    }
                    let options = crate::mcp::http::HttpOptions {
                        addr,
                        allowed_hosts: allow_hosts.clone(),
                        tokens,
                        max_sessions: *max_sessions,
                        auth,
                        public_url,
                        base_dir: booted.deployment.origin.base_dir.clone(),
                    };
                    crate::mcp::http::serve(server, options).await
                }
            }
        }
        Command::Generate(cmd) => generate(&*boot(&cli, deployment, false)?, cmd).await,
        Command::Run { file, out, wait } => {
            run_pipeline(&*boot(&cli, deployment, false)?, file, out.as_deref(), *wait).await
        }
        Command::Plugins { command } => plugins(&*boot(&cli, deployment, true)?, command).await,
    }
}

/// `easel run FILE`: read and check the pipeline, run it with progress on
/// stderr, print a line per step and `ID<TAB>PATH` per image it shows.
async fn run_pipeline(host: &App, file: &Path, out: Option<&Path>, wait: u64) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let pipeline: crate::pipeline::Pipeline =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let (progress_tx, printer) = progress_printer();
    let outcome = host
        .jobs
        .run_pipeline(pipeline, crate::jobs::Requester::cli(), Some(progress_tx), Duration::from_secs(wait))
        .await;
    let job_id = |e: &crate::jobs::FieldError| match &e.field {
        Some(field) => format!("{}: {field}: {}", file.display(), e.message),
        None => format!("{}: {}", file.display(), e.message),
    };
    let (job, images) = match outcome {
        Ok(Outcome::Done { job, images }) => (job, images),
        Ok(Outcome::Pending { job }) => {
            printer.abort();
            bail!("pipeline job {} is still running after {wait} s; raise --wait", job.id)
        }
        Err(e) => {
            let _ = printer.await;
            bail!("{}", job_id(&e))
        }
    };
    let _ = printer.await;
    for outcome in job.pipeline.iter().flat_map(|p| &p.outcomes) {
        eprintln!("step `{}` ({}): {}", outcome.id, outcome.op.name(), outcome.images.join(" "));
    }
    print_images(images, out)
}

/// A progress sender and the task printing what it gets on stderr
/// (`[ 42%] message`, or `[ .. ] message` without a fraction).
fn progress_printer() -> (tokio::sync::mpsc::UnboundedSender<JobProgress>, tokio::task::JoinHandle<()>) {
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<JobProgress>();
    let printer = tokio::spawn(async move {
        while let Some(p) = progress_rx.recv().await {
            match p.fraction {
                Some(f) => eprintln!("[{:>3.0}%] {}", f * 100.0, p.message),
                None => eprintln!("[ .. ] {}", p.message),
            }
        }
    });
    (progress_tx, printer)
}

/// Print `ID<TAB>PATH` per image, copying each into `out` first when given.
fn print_images(images: Vec<crate::store::StoredImage>, out: Option<&Path>) -> Result<()> {
    for image in images {
        let path = match out {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let target = dir.join(image.path.file_name().expect("store paths have file names"));
                std::fs::copy(&image.path, &target).with_context(|| format!("copying to {}", target.display()))?;
                target
            }
            None => image.path.clone(),
        };
        println!("{}\t{}", image.sidecar.id, path.display());
    }
    Ok(())
}

/// `--expand L,T,R,B`: four pixel counts.
fn parse_expand(text: &str) -> Result<crate::request::Expand, String> {
    let sides: Vec<u32> = text
        .split(',')
        .map(|side| side.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{text}`: {e}; give four pixel counts LEFT,TOP,RIGHT,BOTTOM, e.g. 0,0,256,0"))?;
    let [left, top, right, bottom] = sides[..] else {
        return Err(format!("`{text}` has {} numbers; give four: LEFT,TOP,RIGHT,BOTTOM, e.g. 0,0,256,0", sides.len()));
    };
    Ok(crate::request::Expand { left, top, right, bottom })
}

async fn generate(host: &App, cmd: &GenerateCmd) -> Result<()> {
    let mut inputs = Vec::new();
    for image in &cmd.images {
        inputs.push(InputSpec { id: import(host, image)?, role: ImageRole::Reference });
    }
    if let Some(mask) = &cmd.mask {
        inputs.push(InputSpec { id: import(host, mask)?, role: ImageRole::Mask });
    }
    let settings = Settings { params: cmd.params()?, ..cmd.settings.clone() };
    let spec = GenerateSpec {
        prompt: cmd.prompt.clone(),
        settings: settings.normalized(),
        inputs,
        scale: cmd.upscale,
        expand: cmd.expand,
    };
    let (progress_tx, printer) = progress_printer();
    let outcome =
        host.jobs.generate(spec, crate::jobs::Requester::cli(), Some(progress_tx), Duration::from_secs(cmd.wait)).await;
    if matches!(outcome, Ok(Outcome::Pending { .. })) {
        // The job still runs (and holds a progress sender): stop printing.
        printer.abort();
    } else {
        let _ = printer.await;
    }
    let (job, images) = match outcome.map_err(|e| match &e.field {
        Some(field) => match field.strip_prefix("params") {
            Some(key) => anyhow::anyhow!("invalid --param{}: {}", key.replace('.', " "), e.message),
            // `upscale_image`'s `scale` is the CLI's --upscale.
            None if field == "scale" => anyhow::anyhow!("invalid --upscale: {}", e.message),
            None => anyhow::anyhow!("invalid --{}: {}", field.replace('_', "-"), e.message),
        },
        None => anyhow::anyhow!("{}", e.message),
    })? {
        Outcome::Done { job, images } => (job, images),
        Outcome::Pending { job } => bail!("job {} is still running after {} s; raise --wait", job.id, cmd.wait),
    };
    if let Some(routing) = &job.routing {
        eprintln!("{routing}");
    }
    for warning in &job.warnings {
        eprintln!("warning: {warning}");
    }
    print_images(images, cmd.out.as_deref())
}

/// A file the user named is imported as is (it is their own machine);
/// anything else goes to the input resolver when the job starts.
fn import(host: &App, handle: &str) -> Result<String> {
    let path = Path::new(handle);
    if path.is_file() {
        return host.inputs().import_file(path).map_err(|e| anyhow::anyhow!("--image {handle}: {e}"));
    }
    Ok(handle.to_string())
}

async fn plugins(host: &App, command: &PluginsCmd) -> Result<()> {
    // A person at a terminal would rather wait for a first compile than
    // read "still starting".
    host.registry().load_all().await;
    let summaries = host.registry().summaries().await;
    println!("config: {}", host.deployment.origin.name);
    let mut failures = 0;
    for s in &summaries {
        let (status, reason) = match &s.status {
            Status::Ready => ("ready", None),
            Status::Unconfigured(r) => ("unconfigured", Some(r)),
            Status::Disabled => ("disabled", None),
            Status::Unavailable(r) => {
                failures += 1;
                ("unavailable", Some(r))
            }
        };
        println!("{}{}  {status}", s.id, if s.is_default { " (default)" } else { "" });
        if let Some(reason) = reason {
            println!("    {reason}");
        }
        for m in &s.models {
            let price = m.price_per_image_usd.map(|p| format!("  ${p:.3}/image")).unwrap_or_default();
            println!("    {}  {:?}{price}", m.id, m.lifecycle);
        }
    }
    if matches!(command, PluginsCmd::Check { .. }) && failures > 0 {
        bail!("{failures} plugin(s) unavailable");
    }
    Ok(())
}

fn new_plugin(name: &str, lang: crate::scaffold::Lang, dir: Option<&Path>) -> Result<()> {
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(name));
    let files = crate::scaffold::write_project(name, lang, &dir)?;
    println!("wrote {} files to {}:", files.len(), dir.display());
    for file in &files {
        println!("  {}", file.display());
    }
    println!("\nnext, in {}:\n  {}", dir.display(), lang.next_steps(name));
    println!("then check it with `easel plugins check <the .wasm>`; README.md has the plugins.toml entry to paste");
    Ok(())
}

/// `plugins push FILE oci://…`: what was pushed, and the entry to paste.
async fn push_file(file: &Path, reference: &str) -> Result<()> {
    use crate::registry::OciRef;
    let target: OciRef = reference.parse().map_err(|why: String| anyhow::anyhow!("{why}"))?;
    if target.digest.is_some() {
        bail!("push to a tag, not a digest: oci://{}/{}:TAG", target.registry, target.repository);
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if !crate::registry::push::is_component(&bytes) {
        bail!(
            "{} is not a WebAssembly component (a core module or another file); build it for wasm32-wasip2 and check it with `easel plugins check`",
            file.display()
        );
    }
    let limits = crate::egress::SourceLimits::default();
    if bytes.len() as u64 > limits.max_bytes {
        bail!(
            "{} is {} MiB; easel loads components up to {} MiB",
            file.display(),
            bytes.len() >> 20,
            limits.max_bytes >> 20
        );
    }
    let title = file.file_name().unwrap_or_default().to_string_lossy();
    let policy = crate::egress::EgressPolicy::publish(&target.base_url(), limits);
    let credentials = crate::registry::Credentials::from_env();
    let pushed = crate::registry::push::push(&bytes, &title, &target, &policy, credentials).await?;
    let id: String = target
        .repository
        .rsplit('/')
        .next()
        .unwrap_or("plugin")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    println!(
        "pushed {} ({:.1} MiB, {} new blob{}) to {target}\ndigest {}\n\nin plugins.toml:\n[plugins.{id}]\noci = \"{target}\"\ndigest = \"{}\"",
        file.display(),
        bytes.len() as f64 / f64::from(1 << 20),
        pushed.uploaded,
        if pushed.uploaded == 1 { "" } else { "s" },
        pushed.digest,
        pushed.digest
    );
    Ok(())
}

/// `plugins check FILE`: the report on stdout; non-zero exit on a failure.
async fn check_file(cli: &Cli, file: &Path, set: &[String], json: bool) -> Result<()> {
    let mut config = Vec::new();
    for entry in set {
        let Some((key, value)) = entry.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            bail!("--set {entry:?} must be KEY=VALUE, e.g. --set base_url=http://127.0.0.1:8188");
        };
        config.push((key.trim().to_string(), value.to_string()));
    }
    config.sort();
    let cache = cli.cache.clone().unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("easel"));
    let runtime = crate::runtime::Runtime::new(Some(cache.join("compiled")))?;
    let report = crate::plugin_check::check(file, config, runtime).await;
    let text = if json { serde_json::to_string_pretty(&report)? + "\n" } else { report.text() };
    // A closed pipe (`… | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    match report.failures() {
        0 => Ok(()),
        n => bail!("{n} check(s) failed"),
    }
}
