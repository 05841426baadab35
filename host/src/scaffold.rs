//! `easel plugins new NAME --lang rust|python|js [--dir DIR]`: write a
//! plugin project from the templates embedded in this binary
//! (`host/templates/plugin/<lang>/`) plus the WIT it builds against.
//!
//! Templates use tokens that are replaced in contents and file names:
//! `__NAME__` (`acme-images`), `__NAME_SNAKE__` (`acme_images`),
//! `__TITLE__` (`Acme Images`), `__ENV__` (`ACME_IMAGES_API_KEY`),
//! `__WIT_VERSION__` and `__EASEL_VERSION__`. A `.tmpl` suffix is dropped
//! (it keeps template manifests such as `Cargo.toml.tmpl` out of this
//! repository's own builds).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/plugin_templates.rs"));

/// The WIT world a new project builds against (the newest this host loads).
pub const WIT: &str = include_str!("../../wit/v0.3.0/image-provider.wit");
pub const WIT_VERSION: &str = "0.3.0";

/// The languages `plugins new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    /// The commands that build and test a fresh project, for the closing message.
    pub fn next_steps(self, name: &str) -> String {
        let snake = name.replace('-', "_");
        match self {
            Lang::Rust => format!(
                "rustup target add wasm32-wasip2\n  cargo build --release --target wasm32-wasip2   # → target/wasm32-wasip2/release/{snake}.wasm\n  cargo test"
            ),
            Lang::Python => format!(
                "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt\n  .venv/bin/componentize-py -d wit -w image-provider componentize --stub-wasi app -o {snake}.wasm\n  .venv/bin/python -m unittest -v"
            ),
            Lang::Js => "npm install\n  npm run build\n  npm test".to_string(),
        }
    }
}

/// Check `name` as a plugin id: lower-case ASCII letters, digits and
/// single dashes, starting with a letter, at most 40 characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        bail!(
            "plugin name `{name}` must be lower-case letters, digits and single dashes, start with a letter and have at most 40 characters (e.g. `acme-images`)"
        );
    }
    Ok(())
}

/// The token values for plugin `name`.
fn tokens(name: &str) -> [(&'static str, String); 6] {
    let title = name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    [
        // Longest first: `__NAME_SNAKE__` before `__NAME__`.
        ("__NAME_SNAKE__", name.replace('-', "_")),
        ("__NAME__", name.to_string()),
        ("__TITLE__", title),
        ("__ENV__", format!("{}_API_KEY", name.replace('-', "_").to_ascii_uppercase())),
        ("__WIT_VERSION__", WIT_VERSION.to_string()),
        ("__EASEL_VERSION__", env!("CARGO_PKG_VERSION").to_string()),
    ]
}

fn fill(text: &str, tokens: &[(&str, String)]) -> String {
    tokens.iter().fold(text.to_string(), |text, (token, value)| text.replace(token, value))
}

/// Write project `name` in `lang` into `dir` (created; it must not exist
/// or be empty). Returns the files written, relative to `dir`.
///
/// Errors: a bad name, a non-empty `dir`, or a file that cannot be written.
pub fn write_project(name: &str, lang: Lang, dir: &Path) -> Result<Vec<PathBuf>> {
    check_name(name)?;
    if dir.exists() && std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_some() {
        bail!("{} already exists and is not empty; choose another --dir or remove it", dir.display());
    }
    let tokens = tokens(name);
    let mut files: Vec<(PathBuf, String)> = PLUGIN_TEMPLATES
        .iter()
        .filter(|(l, _, _)| *l == lang.dir())
        .map(|(_, path, text)| {
            let path = fill(path, &tokens);
            let path = path.strip_suffix(".tmpl").unwrap_or(&path).to_string();
            (PathBuf::from(path), fill(text, &tokens))
        })
        .collect();
    if files.is_empty() {
        bail!("this easel has no {} template (it was built without host/templates/plugin/{0})", lang.dir());
    }
    files.push((PathBuf::from("wit/image-provider.wit"), WIT.to_string()));
    for (relative, text) in &files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if relative.extension().is_some_and(|e| e == "sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_tokens_derived() {
        assert!(check_name("acme-images").is_ok());
        for bad in ["Acme", "1acme", "acme_images", "acme--x", "acme-", "", &"a".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
        let t = tokens("acme-images");
        let get = |k: &str| t.iter().find(|(token, _)| *token == k).unwrap().1.clone();
        assert_eq!(get("__NAME_SNAKE__"), "acme_images");
        assert_eq!(get("__TITLE__"), "Acme Images");
        assert_eq!(get("__ENV__"), "ACME_IMAGES_API_KEY");
        assert_eq!(fill("x-__NAME__-__NAME_SNAKE__", &t), "x-acme-images-acme_images");
    }

    #[test]
    fn every_language_writes_a_project_with_the_wit_and_no_tokens_left() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join("acme-images");
            let files = write_project("acme-images", lang, &project).unwrap();
            assert!(files.contains(&PathBuf::from("wit/image-provider.wit")), "{lang:?}: {files:?}");
            assert!(files.contains(&PathBuf::from("README.md")), "{lang:?}: {files:?}");
            for file in &files {
                let name = file.to_string_lossy();
                assert!(!name.contains("__NAME") && !name.ends_with(".tmpl"), "{file:?}");
                let text = std::fs::read_to_string(project.join(file)).unwrap();
                assert!(!text.contains("__NAME"), "{lang:?} {file:?} still has a token");
            }
            let again = write_project("acme-images", lang, &project).unwrap_err();
            assert!(format!("{again:#}").contains("not empty"), "{again:#}");
        }
    }
}
