//! Who is calling, over streamable HTTP: Easel as an OAuth 2.1 resource
//! server (MCP authorization, 2025-11-25 and 2026-07-28 alike): bearer
//! JWTs from the trusted issuer ([`issuer`], checked in [`token`]), the
//! RFC 9728 protected-resource metadata that tells a client where to sign
//! in, the `401`/`403` challenges that point at it, and the deployment's
//! email lists ([`emails`]); and the signed `/i/` links a client fetches
//! without its token ([`links`]). Over stdio the caller is [`Caller::local`].

mod emails;
mod issuer;
pub mod links;
pub mod server;
mod token;

pub use emails::EmailList;

use crate::config::AuthSettings;
use anyhow::{Context, Result};

/// The well-known path of the protected-resource metadata (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The identity behind one request, and what the deployment lets it do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who: the token's `sub`, `token` for a static bearer token, `local`
    /// over stdio or an open loopback server.
    pub subject: String,
    /// The token's `email`, lower case, when the issuer gave one.
    pub email: Option<String>,
    /// `None`: may use every tool. `Some(why)`: signed in, but every tool
    /// says why not.
    pub refused: Option<String>,
    /// Listed in `admin_emails` (or `local`): sees everyone's usage.
    pub admin: bool,
}

impl Caller {
    /// The operator at their own machine: stdio, or HTTP without auth.
    pub fn local() -> Caller {
        Caller { subject: "local".into(), email: None, refused: None, admin: true }
    }

    /// A holder of one of the static `--tokens-file` tokens.
    pub fn static_token() -> Caller {
        Caller { subject: "token".into(), email: None, refused: None, admin: false }
    }

    /// How the caller is recorded in jobs and sidecars: the email when
    /// known, else the subject.
    pub fn label(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.subject.clone())
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one that does not verify: HTTP 401 `invalid_token`.
    Unauthenticated(String),
    /// A valid token without the scopes needed: HTTP 403 `insufficient_scope`.
    InsufficientScope { needed: Vec<String> },
}

/// The resource server: checks tokens and says where to get one.
pub struct Authenticator {
    /// The issuer identifier tokens must carry in `iss`.
    issuer_id: String,
    keys: Keys,
    /// This server's resource identifier, `{public_url}/mcp` (RFC 8707).
    resource: String,
    audiences: Vec<String>,
    metadata_url: String,
    scopes: Vec<String>,
    allowed: EmailList,
    admins: EmailList,
}

/// Where the keys that sign access tokens come from.
enum Keys {
    /// An outside issuer's JWKS, fetched ([`issuer`]).
    Remote(issuer::Issuer),
    /// Easel's own authorization server's key ([`server`]).
    Own(jsonwebtoken::jwk::Jwk),
}

impl Authenticator {
    /// The authenticator of `settings` trusting its outside `issuer`, for
    /// a server reached at `public_url` (scheme and authority, no path).
    ///
    /// Errors: no issuer is set, or a setting does not parse (named, with the fix).
    pub fn new(settings: &AuthSettings, public_url: &str) -> Result<Authenticator> {
        let Some(id) = settings.issuer.as_deref() else {
            anyhow::bail!(
                "[server.auth] needs either issuer = \"https://…\" (an outside authorization server) or a [server.auth.login] table (Easel signs users in through a provider such as Google)"
            );
        };
        Self::with_keys(
            settings,
            public_url,
            id.to_string(),
            Keys::Remote(issuer::Issuer::new(id, settings.jwks_uri.as_deref())?),
        )
    }

    /// The authenticator of `settings` trusting Easel's own authorization
    /// server `own`.
    ///
    /// Errors: a setting that does not parse.
    pub fn with_own_issuer(
        settings: &AuthSettings,
        public_url: &str,
        own: &server::AuthorizationServer,
    ) -> Result<Authenticator> {
        Self::with_keys(settings, public_url, own.issuer().to_string(), Keys::Own(own.jwk().clone()))
    }

    fn with_keys(settings: &AuthSettings, public_url: &str, issuer_id: String, keys: Keys) -> Result<Authenticator> {
        let public_url = public_url.trim_end_matches('/');
        let resource = format!("{public_url}/mcp");
        let mut audiences = settings.audiences.clone();
        if audiences.is_empty() {
            audiences = vec![resource.clone(), public_url.to_string()];
        }
        Ok(Authenticator {
            issuer_id,
            keys,
            metadata_url: format!("{public_url}{METADATA_PATH}"),
            resource,
            audiences,
            scopes: settings.scopes.clone(),
            allowed: EmailList::parse(&settings.allowed_emails, "allowed_emails")?,
            admins: EmailList::parse(&settings.admin_emails, "admin_emails")?,
        })
    }

    /// Whether every signed-in user may use the tools (no `allowed_emails`).
    pub fn open_to_every_user(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The protected-resource metadata document (RFC 9728 §2).
    pub fn metadata(&self) -> serde_json::Value {
        serde_json::json!({
            "resource": self.resource,
            "authorization_servers": [self.issuer_id],
            "scopes_supported": self.scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "Easel image generation",
        })
    }

    /// The `WWW-Authenticate` value for a refusal (RFC 6750 §3, RFC 9728 §5.1).
    pub fn challenge(&self, refusal: &Refusal) -> String {
        let quoted = |s: &str| s.replace(['"', '\\'], "'");
        match refusal {
            Refusal::Unauthenticated(why) => format!(
                "Bearer resource_metadata=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
                self.metadata_url,
                quoted(why)
            ),
            Refusal::InsufficientScope { needed } => format!(
                "Bearer resource_metadata=\"{}\", error=\"insufficient_scope\", scope=\"{}\"",
                self.metadata_url,
                needed.join(" ")
            ),
        }
    }

    /// The challenge for a request that carried no token at all (RFC 6750
    /// §3.1: no error code).
    pub fn bare_challenge(&self) -> String {
        let scope =
            if self.scopes.is_empty() { String::new() } else { format!(", scope=\"{}\"", self.scopes.join(" ")) };
        format!("Bearer resource_metadata=\"{}\"{scope}", self.metadata_url)
    }

    /// The caller behind an access token.
    ///
    /// Errors: [`Refusal::Unauthenticated`] when it does not verify (or
    /// the issuer cannot be read, which is said too);
    /// [`Refusal::InsufficientScope`] when it lacks a configured scope.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Refusal> {
        let header = token::header(token).map_err(Refusal::Unauthenticated)?;
        let key = match &self.keys {
            Keys::Remote(issuer) => {
                issuer.key(header.kid.as_deref()).await.map_err(|e| Refusal::Unauthenticated(format!("{e:#}")))?
            }
            Keys::Own(key) if header.kid.is_none() || header.kid == key.common.key_id => key.clone(),
            Keys::Own(_) => {
                return Err(Refusal::Unauthenticated(
                    "the access token was signed with a key this server no longer has; sign in again".into(),
                ));
            }
        };
        let claims = token::verify(token, header.alg, &key, &self.issuer_id, &self.audiences)
            .map_err(Refusal::Unauthenticated)?;
        let granted = claims.scopes();
        let missing: Vec<String> = self.scopes.iter().filter(|s| !granted.contains(s)).cloned().collect();
        if !missing.is_empty() {
            return Err(Refusal::InsufficientScope { needed: self.scopes.clone() });
        }
        Ok(self.caller_of(claims))
    }

    fn caller_of(&self, claims: token::Claims) -> Caller {
        self.caller_for(&claims.sub, claims.email.as_deref(), claims.email_verified)
    }

    /// The caller signed in as `subject` with `email` (`email_verified`
    /// as the issuer said it), under this deployment's email lists: the
    /// same answer for a bearer token and a dashboard sign-in.
    pub fn caller_for(&self, subject: &str, email: Option<&str>, email_verified: Option<bool>) -> Caller {
        let claims = token::Claims::identity(subject.to_string(), email.map(str::to_string), email_verified);
        let email = claims.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
        let verified = claims.email_verified != Some(false);
        let listed = |list: &EmailList| verified && email.as_deref().is_some_and(|e| list.contains(e));
        let admin = listed(&self.admins);
        let refused = if admin || self.allowed.is_empty() || listed(&self.allowed) {
            None
        } else {
            Some(match (&email, verified) {
                (None, _) => format!(
                    "you are signed in as `{}`, but your token carries no email, and this server admits only the addresses in [server.auth] allowed_emails; ask its operator to have the issuer include the `email` claim",
                    claims.sub
                ),
                (Some(email), false) => format!(
                    "you are signed in as {email}, but the issuer says that address is not verified; verify it with your identity provider and sign in again"
                ),
                (Some(email), true) => format!(
                    "you are signed in as {email}, but that address is not in this server's [server.auth] allowed_emails; ask its operator to add it"
                ),
            })
        };
        Caller { subject: claims.sub, email, refused, admin }
    }
}

/// The public URL of a server bound to `bound` (`http://127.0.0.1:8080`)
/// under `[server] public_url`.
///
/// Errors: a public URL that is not an absolute http(s) URL without a path.
pub fn public_url(configured: Option<&str>, bound: &str) -> Result<String> {
    let Some(url) = configured else { return Ok(bound.to_string()) };
    let parsed = url::Url::parse(url).with_context(|| {
        format!("[server] public_url `{url}` is not a URL; fix: e.g. public_url = \"https://easel.example.com\"")
    })?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || !parsed.path().trim_matches('/').is_empty()
    {
        anyhow::bail!(
            "[server] public_url `{url}` must be the scheme and host clients use, with no path; fix: e.g. public_url = \"https://easel.example.com\""
        );
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(allowed: &[&str], admins: &[&str], scopes: &[&str]) -> Authenticator {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let settings = AuthSettings {
            issuer: Some("https://id.example.com".into()),
            allowed_emails: strings(allowed),
            admin_emails: strings(admins),
            scopes: strings(scopes),
            ..AuthSettings::default()
        };
        Authenticator::new(&settings, "https://easel.example.com/").unwrap()
    }

    fn claims(sub: &str, email: Option<&str>, verified: Option<bool>) -> token::Claims {
        serde_json::from_value(serde_json::json!({"sub": sub, "email": email, "email_verified": verified})).unwrap()
    }

    #[test]
    fn metadata_and_challenges_point_at_the_resource_and_its_issuer() {
        let a = authenticator(&[], &[], &["easel"]);
        let m = a.metadata();
        assert_eq!(m["resource"], "https://easel.example.com/mcp");
        assert_eq!(m["authorization_servers"], serde_json::json!(["https://id.example.com"]));
        assert_eq!(m["scopes_supported"], serde_json::json!(["easel"]));
        let meta = "resource_metadata=\"https://easel.example.com/.well-known/oauth-protected-resource\"";
        assert_eq!(a.bare_challenge(), format!("Bearer {meta}, scope=\"easel\""));
        let expired = a.challenge(&Refusal::Unauthenticated("the \"token\" has expired".into()));
        assert!(expired.contains(meta) && expired.contains("error=\"invalid_token\"") && expired.contains("'token'"));
        let scope = a.challenge(&Refusal::InsufficientScope { needed: vec!["easel".into()] });
        assert!(scope.contains("error=\"insufficient_scope\", scope=\"easel\""), "{scope}");
    }

    #[test]
    fn listed_users_and_admins_may_use_the_tools_and_others_are_told_why_not() {
        let a = authenticator(&["*@team.org", "guest@x.com"], &["Boss@Team.org"], &[]);
        let member = a.caller_of(claims("u1", Some("Ann@team.org"), Some(true)));
        assert_eq!((member.refused.as_deref(), member.admin, member.label().as_str()), (None, false, "ann@team.org"));
        assert!(a.caller_of(claims("u2", Some("boss@team.org"), None)).admin);
        let stranger = a.caller_of(claims("u3", Some("eve@evil.com"), Some(true)));
        assert!(stranger.refused.unwrap().contains("not in this server's [server.auth] allowed_emails"));
        let unverified = a.caller_of(claims("u4", Some("guest@x.com"), Some(false)));
        assert!(unverified.refused.unwrap().contains("not verified"));
        let anonymous = a.caller_of(claims("u5", None, None));
        assert!(anonymous.refused.unwrap().contains("carries no email"));
        let open = authenticator(&[], &[], &[]);
        assert!(open.open_to_every_user() && open.caller_of(claims("u6", None, None)).refused.is_none());
    }

    #[test]
    fn the_public_url_is_a_bare_origin() {
        assert_eq!(public_url(None, "http://127.0.0.1:9").unwrap(), "http://127.0.0.1:9");
        assert_eq!(public_url(Some("https://e.example.com/"), "x").unwrap(), "https://e.example.com");
        for bad in ["e.example.com", "https://e.example.com/mcp", "ftp://e.example.com"] {
            assert!(public_url(Some(bad), "x").unwrap_err().to_string().contains("fix:"), "{bad}");
        }
    }
}
