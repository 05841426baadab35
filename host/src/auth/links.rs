//! Image links a client can fetch without its bearer token but nobody can
//! guess or keep forever: `/i/{id}.{ext}?{view}&exp={unix}&sig={hex}`, the
//! signature an HMAC-SHA256 over the path, the view query and the expiry,
//! with a key kept in the store (`keys/link-hmac.key`, made on first use,
//! owner-only), so links survive restarts and rotate when the file is
//! deleted. Used when the HTTP server requires authentication (claude.ai
//! must fetch result images to show them, and cannot send the token).

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default lifetime of a link.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The key file, relative to the store.
pub const KEY_FILE: &str = "keys/link-hmac.key";

/// Signs and checks `/i/` links.
pub struct LinkSigner {
    key: Vec<u8>,
    lifetime: Duration,
}

/// Why a link is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No `exp`/`sig`: not a signed link.
    Unsigned,
    /// Past its `exp`.
    Expired,
    /// The signature does not match (tampered id, view or expiry).
    Forged,
}

impl LinkSigner {
    /// The signer of the store at `store_root`, making its key on first use.
    ///
    /// Errors: the key file cannot be read or written.
    pub fn load_or_create(store_root: &Path, lifetime: Duration) -> Result<LinkSigner> {
        Ok(LinkSigner { key: load_or_create_key(&store_root.join(KEY_FILE), "the link key")?, lifetime })
    }

    /// A signer with a fixed key (tests).
    pub fn with_key(key: &[u8], lifetime: Duration) -> LinkSigner {
        LinkSigner { key: key.to_vec(), lifetime }
    }

    /// How long a link lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, path: &str, view: &str, exp: u64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{path}\n{view}\n{exp}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `path` (`/i/ID.EXT`) with `view` (a query, may be empty) signed to
    /// expire a lifetime after `now` (unix seconds).
    pub fn sign(&self, path: &str, view: &str, now: u64) -> String {
        let exp = now + self.lifetime.as_secs();
        let sig = self.mac(path, view, exp);
        let sep = if view.is_empty() { "" } else { "&" };
        format!("{path}?{view}{sep}exp={exp}&sig={sig}")
    }

    /// Check a request for `path` with raw `query` at `now`; the view query
    /// (without `exp` and `sig`) on success.
    ///
    /// Errors: [`LinkRefusal`].
    pub fn verify(&self, path: &str, query: &str, now: u64) -> Result<String, LinkRefusal> {
        let (signed, view) = split(query);
        let (Some(exp), Some(sig)) = signed else { return Err(LinkRefusal::Unsigned) };
        let exp: u64 = exp.parse().map_err(|_| LinkRefusal::Forged)?;
        let expected = self.mac(path, &view, exp);
        use subtle::ConstantTimeEq;
        if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
            return Err(LinkRefusal::Forged);
        }
        if now > exp {
            return Err(LinkRefusal::Expired);
        }
        Ok(view)
    }
}

/// `((exp, sig), the other pairs in their order)` of a raw query.
fn split(query: &str) -> ((Option<&str>, Option<&str>), String) {
    let (mut exp, mut sig) = (None, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("exp", value)) => exp = Some(value),
            Some(("sig", value)) => sig = Some(value),
            _ => rest.push(pair),
        }
    }
    ((exp, sig), rest.join("&"))
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The HMAC key in the file at `path` (`what` names it in errors): read,
/// or on first use 32 random bytes written readable by the owner only.
///
/// Errors: the file cannot be written.
pub fn load_or_create_key(path: &Path, what: &str) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(key) if key.len() >= 32 => Ok(key),
        _ => {
            let key: [u8; 32] = rand::random();
            let dir = path.parent().expect("the key file has a directory");
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_private(path, &key).with_context(|| format!("writing {what} {}", path.display()))?;
            Ok(key.to_vec())
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_verifies_until_it_expires_and_not_once_changed() {
        let signer = LinkSigner::with_key(b"k", Duration::from_secs(60));
        let link = signer.sign("/i/abc.png", "width=256", 1000);
        let (path, query) = link.split_once('?').unwrap();
        assert_eq!(path, "/i/abc.png");
        assert!(query.starts_with("width=256&exp=1060&sig="), "{query}");
        assert_eq!(signer.verify(path, query, 1000).unwrap(), "width=256");
        assert_eq!(signer.verify(path, query, 1060).unwrap(), "width=256", "valid through its last second");
        assert_eq!(signer.verify(path, query, 1061), Err(LinkRefusal::Expired));
        assert_eq!(signer.verify("/i/abd.png", query, 1000), Err(LinkRefusal::Forged), "another image");
        let wider = query.replace("width=256", "width=4096");
        assert_eq!(signer.verify(path, &wider, 1000), Err(LinkRefusal::Forged), "another view");
        let later = query.replace("exp=1060", "exp=9999");
        assert_eq!(signer.verify(path, &later, 1000), Err(LinkRefusal::Forged), "a longer life");
        assert_eq!(signer.verify(path, "width=256", 1000), Err(LinkRefusal::Unsigned));
        let other = LinkSigner::with_key(b"other", Duration::from_secs(60));
        assert_eq!(other.verify(path, query, 1000), Err(LinkRefusal::Forged), "another server's key");
        let plain = signer.sign("/i/abc.png", "", 0);
        assert!(plain.starts_with("/i/abc.png?exp=60&sig="), "{plain}");
    }

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = std::env::temp_dir().join(format!("easel-links-{}", uuid::Uuid::new_v4().simple()));
        let first = LinkSigner::load_or_create(&dir, DEFAULT_LIFETIME).unwrap();
        let link = first.sign("/i/x.png", "", 5);
        let again = LinkSigner::load_or_create(&dir, DEFAULT_LIFETIME).unwrap();
        let (path, query) = link.split_once('?').unwrap();
        assert!(again.verify(path, query, 5).is_ok(), "a restarted server accepts its links");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
