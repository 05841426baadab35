//! The dashboard's cookies and anti-forgery tokens. A cookie's value is
//! `base64url(JSON).base64url(HMAC-SHA256)` under a key kept in the store
//! (`keys/ui-session.key`), the MAC covering a purpose label too, so a
//! sign-in cookie cannot pass for a session. Cookies are `HttpOnly`,
//! `SameSite=Lax`, `Path=/`, and behind https `Secure` with the `__Host-`
//! prefix (RFC 6265bis §4.1.3.2). A form's token is the MAC of the
//! session's random id: a page from another site cannot know it.

use anyhow::Result;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;
use std::path::Path;
use std::time::Duration;

/// The key file, relative to the store directory.
pub const KEY_FILE: &str = "keys/ui-session.key";
/// How long a dashboard sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long a sign-in at the provider may take.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(600);
/// The session cookie's name (behind https, with the `__Host-` prefix).
pub const SESSION_COOKIE: &str = "easel_ui";
/// The cookie carrying a sign-in in progress.
pub const LOGIN_COOKIE: &str = "easel_ui_login";

/// A signed-in browser: who the provider said it is, re-checked against
/// the email lists on every request (so a change to them applies at once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Random; what the anti-forgery token is derived from.
    pub sid: String,
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// Unix seconds.
    pub exp: u64,
}

/// A sign-in started at `/ui/login`: what `/ui/callback` must see again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginState {
    pub state: String,
    pub nonce: String,
    /// The PKCE verifier toward the provider.
    pub verifier: String,
    /// Unix seconds.
    pub exp: u64,
}

/// Something sealed into a cookie that stops being accepted at `exp`.
pub trait Expiring {
    fn exp(&self) -> u64;
}
impl Expiring for Session {
    fn exp(&self) -> u64 {
        self.exp
    }
}
impl Expiring for LoginState {
    fn exp(&self) -> u64 {
        self.exp
    }
}

/// Seals and opens the dashboard's cookies.
pub struct Sealer {
    key: Vec<u8>,
    https: bool,
}

impl Sealer {
    /// The sealer of the store at `store_root` (its key made on first use);
    /// `https`: the public URL is https.
    ///
    /// Errors: the key file cannot be read or written.
    pub fn load_or_create(store_root: &Path, https: bool) -> Result<Sealer> {
        let key = crate::auth::links::load_or_create_key(&store_root.join(KEY_FILE), "the dashboard session key")?;
        Ok(Sealer { key, https })
    }

    /// A sealer with a fixed key (tests).
    pub fn with_key(key: &[u8], https: bool) -> Sealer {
        Sealer { key: key.to_vec(), https }
    }

    fn mac(&self, purpose: &str, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{purpose}\n{payload}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `value` sealed for `purpose`.
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("plain data serializes"));
        let mac = URL_SAFE_NO_PAD.encode(self.mac(purpose, &payload));
        format!("{payload}.{mac}")
    }

    /// The value sealed for `purpose` in `sealed`, if it was sealed with
    /// this key for this purpose and has not expired at `now`.
    pub fn open<T: DeserializeOwned + Expiring>(&self, purpose: &str, sealed: &str, now: u64) -> Option<T> {
        let (payload, mac) = sealed.split_once('.')?;
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        use subtle::ConstantTimeEq;
        if !bool::from(self.mac(purpose, payload).ct_eq(&given)) {
            return None;
        }
        let value: T = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (now <= value.exp()).then_some(value)
    }

    /// The anti-forgery token of forms shown to `session`.
    pub fn csrf(&self, session: &Session) -> String {
        URL_SAFE_NO_PAD.encode(self.mac("csrf", &session.sid))
    }

    /// Whether `token` is `session`'s anti-forgery token.
    pub fn csrf_matches(&self, session: &Session, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.csrf(session).as_bytes().ct_eq(token.as_bytes()))
    }

    /// The name cookie `base` goes by here.
    pub fn cookie_name(&self, base: &str) -> String {
        if self.https { format!("__Host-{base}") } else { base.to_string() }
    }

    /// A `Set-Cookie` value for cookie `base` (`max_age` 0 deletes it).
    pub fn set_cookie(&self, base: &str, value: &str, max_age: Duration) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name(base),
            max_age.as_secs()
        )
    }

    /// The value of cookie `base` in `headers`, if any.
    pub fn cookie(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.cookie_name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(exp: u64) -> Session {
        Session { sid: "s1".into(), sub: "u1".into(), email: Some("ann@example.com".into()), email_verified: None, exp }
    }

    #[test]
    fn a_sealed_session_opens_only_unchanged_unexpired_with_its_key_and_purpose() {
        let sealer = Sealer::with_key(&[7; 32], false);
        let sealed = sealer.seal("session", &session(100));
        assert_eq!(sealer.open::<Session>("session", &sealed, 100), Some(session(100)));
        assert_eq!(sealer.open::<Session>("session", &sealed, 101), None, "expired");
        assert_eq!(sealer.open::<Session>("login", &sealed, 50), None, "another purpose");
        assert_eq!(Sealer::with_key(&[8; 32], false).open::<Session>("session", &sealed, 50), None, "another key");
        // Someone editing their own cookie to become someone else.
        let (_, mac) = sealed.split_once('.').unwrap();
        let forged = Session { email: Some("boss@example.com".into()), ..session(100) };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(sealer.open::<Session>("session", &format!("{payload}.{mac}"), 50), None);
        assert_eq!(sealer.open::<Session>("session", "garbage", 50), None);
    }

    #[test]
    fn the_form_token_belongs_to_one_session_and_https_cookies_are_host_prefixed_and_secure() {
        let sealer = Sealer::with_key(&[7; 32], true);
        let token = sealer.csrf(&session(100));
        assert!(sealer.csrf_matches(&session(100), &token));
        assert!(!sealer.csrf_matches(&Session { sid: "s2".into(), ..session(100) }, &token));
        assert!(!sealer.csrf_matches(&session(100), ""));
        let cookie = sealer.set_cookie(SESSION_COOKIE, "v", SESSION_LIFETIME);
        assert_eq!(cookie, "__Host-easel_ui=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200; Secure");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "easel_ui=plain; __Host-easel_ui=prefixed".parse().unwrap());
        assert_eq!(sealer.cookie(&headers, SESSION_COOKIE).as_deref(), Some("prefixed"));
        assert_eq!(Sealer::with_key(&[7; 32], false).cookie(&headers, SESSION_COOKIE).as_deref(), Some("plain"));
    }
}
