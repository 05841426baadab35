//! OCI plugin sources against a real registry (Debian's `docker-registry`,
//! the CNCF distribution server, on loopback), through the `easel` binary
//! as an author and an operator use it: `plugins push` a component, paste
//! the printed `oci` + `digest` into plugins.toml, generate an image with
//! it; a moved tag is refused naming both digests; a pulled plugin keeps
//! loading from the cache with the registry gone; htpasswd (Basic) auth.
//! `tests/run.sh` installs the registry; without it (outside CI) these
//! print that they were skipped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

fn registry_binary() -> Option<PathBuf> {
    let named = std::env::var_os("EASEL_DOCKER_REGISTRY").map(PathBuf::from);
    let found = named.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("docker-registry")).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "docker-registry is not installed; tests/run.sh installs it (apt-get install docker-registry)"
        );
        eprintln!("skipped: docker-registry is not installed (apt-get install docker-registry)");
    }
    found
}

/// A registry on 127.0.0.1, killed on drop.
struct Registry {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start one; with `htpasswd = Some((user, password))` it demands Basic auth.
fn start(binary: &Path, htpasswd: Option<(&str, &str)>) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.path().join("data").display()
    );
    if let Some((user, password)) = htpasswd {
        let hash = bcrypt::hash(password, 5).unwrap();
        std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
        config += &format!(
            "auth:\n  htpasswd:\n    realm: easel-test\n    path: {}\n",
            dir.path().join("htpasswd").display()
        );
    }
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let child = Command::new(binary)
        .args(["serve", dir.path().join("config.yml").to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the registry did not start on {host}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry { child, host, _dir: dir }
}

fn wasm(name: &str) -> String {
    format!("{}/{name}.wasm", env!("EASEL_WASM_DIR"))
}

fn easel(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["--store", cache.join("store").to_str().unwrap(), "--cache", cache.to_str().unwrap()])
        .args(args)
        .env_remove("EASEL_REGISTRY_USERNAME")
        .env_remove("EASEL_REGISTRY_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `plugins push`, returning the digest it printed.
fn push(registry: &Registry, file: &str, repo_tag: &str, env: &[(&str, &str)]) -> Result<String, String> {
    let scratch = tempfile::tempdir().unwrap();
    let out = easel(scratch.path(), &["plugins", "push", file, &format!("oci://{}/{repo_tag}", registry.host)], env);
    if !out.status.success() {
        return Err(text(&out));
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    let digest = stdout.lines().find_map(|l| l.strip_prefix("digest ")).expect("a digest line").to_string();
    assert!(stdout.contains(&format!("oci = \"{}/{repo_tag}\"\ndigest = \"{digest}\"", registry.host)), "{stdout}");
    Ok(digest)
}

/// `generate` with plugins.toml pulling `reference` pinned to `digest`.
fn generate_with(cache: &Path, reference: &str, digest: &str) -> Output {
    std::fs::create_dir_all(cache).unwrap();
    let config = cache.join("plugins.toml");
    std::fs::write(
        &config,
        format!("[defaults]\nprovider = \"mine\"\n\n[plugins.mine]\noci = \"{reference}\"\ndigest = \"{digest}\"\n"),
    )
    .unwrap();
    easel(
        cache,
        &["--config", config.to_str().unwrap(), "generate", "a lighthouse", "--width", "64", "--height", "64"],
        &[],
    )
}

#[test]
fn a_pushed_plugin_generates_and_a_moved_tag_is_refused_naming_both_digests() {
    let Some(binary) = registry_binary() else { return };
    let registry = start(&binary, None);
    let digest = push(&registry, &wasm("easel_placeholder"), "acme/placeholder:1.0", &[]).unwrap();
    let reference = format!("{}/acme/placeholder:1.0", registry.host);

    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    let out = generate_with(&first, &reference, &digest);
    assert!(out.status.success(), "{}", text(&out));
    let path = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().split('\t').nth(1).unwrap().to_string();
    assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"), "a real image at {path}");

    // The author moves the tag to another build: a fresh operator is refused.
    let moved = push(&registry, &wasm("easel_sdwebui"), "acme/placeholder:1.0", &[]).unwrap();
    assert_ne!(moved, digest);
    let out = generate_with(&home.path().join("second"), &reference, &digest);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "[plugins.mine] {reference} is {moved}, not the configured digest {digest}; refusing to load it"
        )),
        "{said}"
    );

    // The first operator pulled the pinned artifact once; it loads with the registry gone.
    drop(registry);
    let out = generate_with(&first, &reference, &digest);
    assert!(out.status.success(), "loads from the cache offline: {}", text(&out));
}

#[test]
fn an_htpasswd_registry_takes_credentials_from_the_environment() {
    let Some(binary) = registry_binary() else { return };
    let registry = start(&binary, Some(("author", "s3cret-pass")));
    let error = push(&registry, &wasm("easel_placeholder"), "team/placeholder:2", &[]).unwrap_err();
    assert!(error.contains("refused anonymous access") && error.contains("EASEL_REGISTRY_USERNAME"), "{error}");
    let wrong = [("EASEL_REGISTRY_USERNAME", "author"), ("EASEL_REGISTRY_PASSWORD", "nope")];
    let error = push(&registry, &wasm("easel_placeholder"), "team/placeholder:2", &wrong).unwrap_err();
    assert!(error.contains("refused the credentials") && !error.contains("nope"), "{error}");
    let right = [("EASEL_REGISTRY_USERNAME", "author"), ("EASEL_REGISTRY_PASSWORD", "s3cret-pass")];
    let digest = push(&registry, &wasm("easel_placeholder"), "team/placeholder:2", &right).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let config = cache.path().join("plugins.toml");
    let entry = format!("[plugins.mine]\noci = \"{}/team/placeholder:2\"\ndigest = \"{digest}\"\n", registry.host);
    std::fs::write(&config, entry).unwrap();
    let list = |env: &[(&str, &str)]| {
        text(&easel(cache.path(), &["--config", config.to_str().unwrap(), "plugins", "list"], env))
    };
    let anonymous = list(&[]);
    assert!(anonymous.contains("refused anonymous access"), "{anonymous}");
    let listed = list(&right);
    assert!(listed.contains("mine (default)  ready") || listed.contains("mine  ready"), "{listed}");
}

#[test]
fn push_refuses_what_is_not_a_component_before_any_upload() {
    let scratch = tempfile::tempdir().unwrap();
    let core = scratch.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\x00\x00\x00").unwrap();
    // No registry listens on port 9: the refusal comes first.
    let out = easel(scratch.path(), &["plugins", "push", core.to_str().unwrap(), "oci://127.0.0.1:9/acme/x:1"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not a WebAssembly component"), "{}", text(&out));
}
