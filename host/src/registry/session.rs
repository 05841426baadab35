//! One authenticated conversation with a registry: every request goes out
//! through the caller's [`EgressPolicy`]; a 401 is answered once, with
//! `Basic` credentials or a token from the `Bearer` challenge's realm
//! (anonymous, or with the credentials), and the request sent again. The
//! `Authorization` header goes only to the registry's own origin and the
//! token realm, never to the storage a blob redirect points at.

use super::{OciRef, RegistryError};
use crate::egress::{EgressError, EgressPolicy, EgressRequest, EgressResponse};
use base64::Engine as _;
use std::sync::Mutex;
use url::Url;

/// Registry credentials: a user name and a password or access token.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.username)
    }
}

impl Credentials {
    /// `EASEL_REGISTRY_USERNAME` and `EASEL_REGISTRY_PASSWORD`, when both
    /// are set and not empty; used for pulls and pushes alike.
    pub fn from_env() -> Option<Self> {
        let username = std::env::var("EASEL_REGISTRY_USERNAME").ok().filter(|v| !v.is_empty())?;
        let password = std::env::var("EASEL_REGISTRY_PASSWORD").ok().filter(|v| !v.is_empty())?;
        Some(Credentials { username, password })
    }

    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// Requests to one repository of one registry, authorized as needed.
pub(crate) struct Session<'a> {
    policy: &'a EgressPolicy,
    reference: &'a OciRef,
    base: Url,
    /// `pull` or `pull,push`: the token scope asked for.
    actions: &'static str,
    credentials: Option<Credentials>,
    /// The `Authorization` value that worked, once one did.
    authorization: Mutex<Option<String>>,
}

impl<'a> Session<'a> {
    pub fn new(
        policy: &'a EgressPolicy,
        reference: &'a OciRef,
        actions: &'static str,
        credentials: Option<Credentials>,
    ) -> Self {
        Session { policy, reference, base: reference.base_url(), actions, credentials, authorization: Mutex::new(None) }
    }

    pub fn reference(&self) -> String {
        self.reference.to_string()
    }

    /// One request (redirects returned, not followed), authorized on a 401.
    pub async fn request(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<EgressResponse, RegistryError> {
        self.authorized(|| async {
            let request = EgressRequest {
                method: method.into(),
                url: url.to_string(),
                headers: self.headers_for(url, headers),
                body: body.to_vec(),
                timeout: None,
            };
            self.policy.fetch(request).await
        })
        .await
    }

    /// A GET following redirects, each hop checked by the policy; the
    /// credentials go only to the registry's origin.
    pub async fn download(&self, url: &Url, headers: &[(&str, &str)]) -> Result<EgressResponse, RegistryError> {
        self.authorized(|| async {
            self.policy.download_with(url, |hop| self.headers_for(hop, headers)).await.map(|(_, response)| response)
        })
        .await
    }

    /// `send`, and once more after authorizing if it answered 401.
    async fn authorized<F, Fut>(&self, send: F) -> Result<EgressResponse, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<EgressResponse, EgressError>>,
    {
        let egress = |error| RegistryError::Egress { reference: self.reference(), error };
        let first = send().await.map_err(egress)?;
        if first.status != 401 {
            return Ok(first);
        }
        self.authorize(&first).await?;
        let second = send().await.map_err(egress)?;
        if second.status == 401 {
            return Err(self.unauthorized(&second));
        }
        Ok(second)
    }

    fn headers_for(&self, url: &Url, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if url.origin() == self.base.origin()
            && let Some(value) = self.authorization.lock().expect("not poisoned").clone()
        {
            headers.push(("authorization".into(), value));
        }
        headers
    }

    /// Answer the challenge of a 401: `Basic` with the credentials, or a
    /// `Bearer` token fetched from its realm.
    async fn authorize(&self, unauthorized: &EgressResponse) -> Result<(), RegistryError> {
        let header = unauthorized.header("www-authenticate").unwrap_or_default();
        let challenges = http_auth::parse_challenges(header).unwrap_or_default();
        let param = |challenge: &http_auth::ChallengeRef<'_>, name: &str| {
            challenge.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_unescaped())
        };
        if let Some(bearer) = challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case("bearer")) {
            let realm = param(bearer, "realm").unwrap_or_default();
            let mut token_url = Url::parse(&realm).map_err(|_| self.unauthorized(unauthorized))?;
            {
                let mut query = token_url.query_pairs_mut();
                if let Some(service) = param(bearer, "service") {
                    query.append_pair("service", &service);
                }
                let scope = format!("repository:{}:{}", self.reference.repository, self.actions);
                query.append_pair("scope", &param(bearer, "scope").unwrap_or(scope));
            }
            let basic = self.credentials.as_ref().map(Credentials::basic);
            let realm_origin = token_url.origin();
            let answer = self
                .policy
                .download_with(&token_url, |hop| match (&basic, hop.origin() == realm_origin) {
                    (Some(value), true) => vec![("authorization".into(), value.clone())],
                    _ => Vec::new(),
                })
                .await
                .map_err(|error| RegistryError::Egress { reference: self.reference(), error })?
                .1;
            if answer.status != 200 {
                return Err(self.unauthorized(&answer));
            }
            #[derive(serde::Deserialize)]
            struct Token {
                token: Option<String>,
                access_token: Option<String>,
            }
            let token = serde_json::from_slice::<Token>(&answer.body)
                .ok()
                .and_then(|t| t.token.or(t.access_token))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| RegistryError::Status {
                    reference: self.reference(),
                    what: format!("the token service {}", crate::egress::origin(&token_url)),
                    status: answer.status,
                    detail: " without a token in its JSON".into(),
                })?;
            *self.authorization.lock().expect("not poisoned") = Some(format!("Bearer {token}"));
            return Ok(());
        }
        match (&self.credentials, challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case("basic"))) {
            (Some(credentials), true) => {
                *self.authorization.lock().expect("not poisoned") = Some(credentials.basic());
                Ok(())
            }
            _ => Err(self.unauthorized(unauthorized)),
        }
    }

    fn unauthorized(&self, response: &EgressResponse) -> RegistryError {
        let with_credentials = self.credentials.is_some();
        let hint = if with_credentials {
            format!(
                "check them, and that they may {} {}",
                self.actions.replace(',', " and "),
                self.reference.repository
            )
        } else {
            "if the repository is private, set EASEL_REGISTRY_USERNAME and EASEL_REGISTRY_PASSWORD (a token works as the password) where easel runs".into()
        };
        RegistryError::Unauthorized { reference: self.reference(), with_credentials, detail: detail(response), hint }
    }

    /// The error for an answer with an unexpected status.
    pub fn status_error(&self, what: impl Into<String>, response: &EgressResponse) -> RegistryError {
        RegistryError::Status {
            reference: self.reference(),
            what: what.into(),
            status: response.status,
            detail: detail(response),
        }
    }
}

/// `: CODE message; …` from a distribution-spec error body, or nothing.
fn detail(response: &EgressResponse) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let Ok(errors) = serde_json::from_slice::<Errors>(&response.body) else { return String::new() };
    let parts: Vec<String> = errors
        .errors
        .iter()
        .take(3)
        .map(|e| {
            let text = format!("{} {}", e.code.as_deref().unwrap_or(""), e.message.as_deref().unwrap_or(""));
            text.trim().chars().take(200).collect()
        })
        .filter(|t: &String| !t.is_empty())
        .collect();
    if parts.is_empty() { String::new() } else { format!(": {}", parts.join("; ")) }
}
