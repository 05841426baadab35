//! What the authorization server remembers. Registered clients and refresh
//! tokens are in `auth.sqlite` in the store, since they must survive
//! restarts; refresh tokens only as their SHA-256, rotated on every use,
//! and a used one presented again revokes its whole grant (OAuth 2.1
//! §4.3.1). Sign-ins in progress and authorization codes live in memory:
//! they last minutes, and a restart only means signing in again. Each map
//! is capped, so unauthenticated requests cannot grow it without bound.

use crate::db::Db;
use anyhow::Result;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The file, relative to the store.
pub const FILE: &str = "auth.sqlite";
/// Most registered clients; registration is open, so it is bounded.
pub const MAX_CLIENTS: i64 = 10_000;
/// Most sign-ins in progress at once.
pub const MAX_PENDING: usize = 10_000;
/// How long a sign-in may take, from `/oauth/authorize` to consent.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// How long an authorization code may wait for `/oauth/token` (single use).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

const MIGRATIONS: &[&str] = &["CREATE TABLE clients (
        client_id TEXT PRIMARY KEY,
        client_name TEXT,
        redirect_uris TEXT NOT NULL,
        auth_method TEXT NOT NULL,
        secret_sha256 TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE refresh_tokens (
        token_sha256 TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT,
        email_verified INTEGER,
        scope TEXT NOT NULL,
        resource TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);"];

/// A registered client (RFC 7591), or one known by its metadata document.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    /// As the client named itself: shown on the consent page, never trusted.
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub auth_method: String,
    /// SHA-256 (hex) of the client secret, for confidential clients.
    pub secret_sha256: Option<String>,
}

/// Who signed in at the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The provider's `sub`.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

/// What a code or refresh token lets its client have.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub client_id: String,
    /// Space-separated scopes granted.
    pub scope: String,
    /// The resource (RFC 8707) the access tokens are for.
    pub resource: String,
    pub identity: Identity,
}

/// An authorization code's grant and what `/oauth/token` must match.
#[derive(Debug, Clone)]
pub struct Code {
    pub grant: Grant,
    pub redirect_uri: String,
    /// The client's PKCE S256 challenge.
    pub code_challenge: String,
}

/// A sign-in between `/oauth/authorize` and the consent.
#[derive(Debug, Clone)]
pub struct Pending {
    pub client: Client,
    pub redirect_uri: String,
    /// The client's `state`, given back with the code.
    pub state: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    pub resource: String,
    /// The value of the browser's sign-in cookie: the callback and the
    /// consent must come from the browser that started it.
    pub browser: String,
    /// Easel's own PKCE verifier and nonce toward the provider.
    pub upstream_verifier: String,
    pub nonce: String,
    /// Set once the provider has said who signed in.
    pub identity: Option<Identity>,
    /// The consent form's anti-forgery token.
    pub csrf: String,
    pub started: Instant,
}

/// A refresh token that cannot be used, and why (for `invalid_grant`).
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshRefusal {
    Unknown,
    Expired,
    OtherClient,
    /// It was used before: the grant is revoked.
    Reused,
}

/// A random URL-safe token of 256 bits.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The authorization server's memory.
pub struct Grants {
    db: Db,
    pending: Mutex<HashMap<String, Pending>>,
    codes: Mutex<HashMap<String, (Code, Instant)>>,
}

impl Grants {
    /// Open (creating or migrating) `auth.sqlite` in the store at `root`.
    ///
    /// Errors: the file cannot be opened or migrated.
    pub fn open(root: &Path) -> Result<Grants> {
        Ok(Grants {
            db: Db::open(&root.join(FILE), MIGRATIONS, "the sign-in database")?,
            pending: Default::default(),
            codes: Default::default(),
        })
    }

    /// Keep a newly registered client.
    ///
    /// Errors: the inner `Err` when [`MAX_CLIENTS`] are registered.
    pub async fn register(&self, client: Client) -> Result<std::result::Result<(), String>> {
        self.db
            .with(move |connection| {
                let count: i64 = connection.query_row("SELECT COUNT(*) FROM clients", [], |row| row.get(0))?;
                if count >= MAX_CLIENTS {
                    return Ok(Err(format!(
                        "this server already has {MAX_CLIENTS} registered clients; ask its operator to prune {FILE}"
                    )));
                }
                connection.execute(
                    "INSERT INTO clients (client_id, client_name, redirect_uris, auth_method, secret_sha256, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        client.client_id,
                        client.client_name,
                        serde_json::to_string(&client.redirect_uris)?,
                        client.auth_method,
                        client.secret_sha256,
                        chrono::Utc::now().timestamp()
                    ],
                )?;
                Ok(Ok(()))
            })
            .await
    }

    /// The registered client `client_id`, if any.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>> {
        let client_id = client_id.to_string();
        self.db
            .with(move |connection| {
                let row = connection
                    .query_row(
                        "SELECT client_name, redirect_uris, auth_method, secret_sha256 FROM clients WHERE client_id = ?1",
                        [&client_id],
                        |row| {
                            Ok((
                                row.get::<_, Option<String>>(0)?,
                                row.get::<_, String>(1)?,
                                row.get::<_, String>(2)?,
                                row.get::<_, Option<String>>(3)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((client_name, uris, auth_method, secret_sha256)) = row else { return Ok(None) };
                Ok(Some(Client {
                    client_id,
                    client_name,
                    redirect_uris: serde_json::from_str(&uris)?,
                    auth_method,
                    secret_sha256,
                }))
            })
            .await
    }

    /// Start a sign-in: its id (Easel's `state` toward the provider).
    ///
    /// Errors: [`MAX_PENDING`] sign-ins are already in progress.
    pub fn begin(&self, pending: Pending) -> std::result::Result<String, String> {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.started.elapsed() < PENDING_LIFETIME);
        if map.len() >= MAX_PENDING {
            return Err("too many sign-ins are in progress; try again in a few minutes".into());
        }
        let id = random_token();
        map.insert(id.clone(), pending);
        Ok(id)
    }

    /// The sign-in `id`, if it is still in progress.
    pub fn pending(&self, id: &str) -> Option<Pending> {
        let map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).filter(|p| p.started.elapsed() < PENDING_LIFETIME).cloned()
    }

    /// Keep Easel's PKCE verifier toward the provider for sign-in `id`.
    pub fn set_upstream_verifier(&self, id: &str, verifier: String) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pending) = map.get_mut(id) {
            pending.upstream_verifier = verifier;
        }
    }

    /// Record who signed in for sign-in `id`.
    pub fn signed_in(&self, id: &str, identity: Identity) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pending) = map.get_mut(id) {
            pending.identity = Some(identity);
        }
    }

    /// End sign-in `id` (consented or not), giving it back once.
    pub fn finish(&self, id: &str) -> Option<Pending> {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id).filter(|p| p.started.elapsed() < PENDING_LIFETIME)
    }

    /// A new single-use authorization code for `code`.
    pub fn issue_code(&self, code: Code) -> String {
        let mut map = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < CODE_LIFETIME);
        let id = random_token();
        map.insert(id.clone(), (code, Instant::now()));
        id
    }

    /// The code's grant, once: `None` if unknown, used or expired.
    pub fn redeem_code(&self, code: &str) -> Option<Code> {
        let mut map = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(code).filter(|(_, at)| at.elapsed() < CODE_LIFETIME).map(|(code, _)| code)
    }

    /// A new refresh token for `grant`, valid for `lifetime`, in the grant
    /// `grant_id` (a new one when `None`).
    pub async fn issue_refresh(&self, grant: Grant, grant_id: Option<String>, lifetime: Duration) -> Result<String> {
        let token = random_token();
        let hash = sha256_hex(&token);
        let expires = chrono::Utc::now().timestamp() + lifetime.as_secs() as i64;
        let grant_id = grant_id.unwrap_or_else(random_token);
        self.db
            .with(move |connection| {
                connection.execute(
                    "DELETE FROM refresh_tokens WHERE expires_at < ?1",
                    [chrono::Utc::now().timestamp()],
                )?;
                connection.execute(
                    "INSERT INTO refresh_tokens (token_sha256, grant_id, client_id, subject, email, email_verified, scope, resource, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        hash,
                        grant_id,
                        grant.client_id,
                        grant.identity.subject,
                        grant.identity.email,
                        grant.identity.email_verified,
                        grant.scope,
                        grant.resource,
                        expires
                    ],
                )?;
                Ok(())
            })
            .await?;
        Ok(token)
    }

    /// Use refresh token `token` of `client_id`: its grant and grant id;
    /// the token is spent. A spent token used again revokes every token
    /// of its grant.
    pub async fn redeem_refresh(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<std::result::Result<(Grant, String), RefreshRefusal>> {
        let (hash, client_id) = (sha256_hex(token), client_id.to_string());
        self.db
            .with(move |connection| {
                let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let row = tx
                    .query_row(
                        "SELECT grant_id, client_id, subject, email, email_verified, scope, resource, expires_at, used
                         FROM refresh_tokens WHERE token_sha256 = ?1",
                        [&hash],
                        |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                Grant {
                                    client_id: row.get(1)?,
                                    identity: Identity {
                                        subject: row.get(2)?,
                                        email: row.get(3)?,
                                        email_verified: row.get(4)?,
                                    },
                                    scope: row.get(5)?,
                                    resource: row.get(6)?,
                                },
                                row.get::<_, i64>(7)?,
                                row.get::<_, bool>(8)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((grant_id, grant, expires_at, used)) = row else { return Ok(Err(RefreshRefusal::Unknown)) };
                let refusal = if grant.client_id != client_id {
                    Some(RefreshRefusal::OtherClient)
                } else if used {
                    tx.execute("DELETE FROM refresh_tokens WHERE grant_id = ?1", [&grant_id])?;
                    Some(RefreshRefusal::Reused)
                } else if expires_at < chrono::Utc::now().timestamp() {
                    Some(RefreshRefusal::Expired)
                } else {
                    tx.execute("UPDATE refresh_tokens SET used = 1 WHERE token_sha256 = ?1", [&hash])?;
                    None
                };
                tx.commit()?;
                Ok(match refusal {
                    Some(refusal) => Err(refusal),
                    None => Ok((grant, grant_id)),
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            client_id: "c1".into(),
            scope: "easel".into(),
            resource: "https://e.example/mcp".into(),
            identity: Identity {
                subject: "s".into(),
                email: Some("ann@example.com".into()),
                email_verified: Some(true),
            },
        }
    }

    #[tokio::test]
    async fn clients_and_refresh_tokens_survive_a_restart_and_a_reused_token_revokes_its_grant() {
        let dir = std::env::temp_dir().join(format!("easel-grants-{}", random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let client = Client {
            client_id: "c1".into(),
            client_name: Some("Tests".into()),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            auth_method: "none".into(),
            secret_sha256: None,
        };
        let first = {
            let grants = Grants::open(&dir).unwrap();
            grants.register(client.clone()).await.unwrap().unwrap();
            grants.issue_refresh(grant(), None, Duration::from_secs(60)).await.unwrap()
        };
        let grants = Grants::open(&dir).unwrap();
        assert_eq!(grants.client("c1").await.unwrap(), Some(client));
        assert_eq!(grants.redeem_refresh(&first, "c2").await.unwrap(), Err(RefreshRefusal::OtherClient));
        let (got, grant_id) = grants.redeem_refresh(&first, "c1").await.unwrap().unwrap();
        assert_eq!(got, grant());
        let second = grants.issue_refresh(got, Some(grant_id), Duration::from_secs(60)).await.unwrap();
        // The first token again: someone copied it, so the grant goes.
        assert_eq!(grants.redeem_refresh(&first, "c1").await.unwrap(), Err(RefreshRefusal::Reused));
        assert_eq!(grants.redeem_refresh(&second, "c1").await.unwrap(), Err(RefreshRefusal::Unknown));
        let expired = grants.issue_refresh(grant(), None, Duration::ZERO).await.unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(grants.redeem_refresh(&expired, "c1").await.unwrap(), Err(RefreshRefusal::Expired));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn codes_are_single_use() {
        let dir = std::env::temp_dir().join(format!("easel-codes-{}", random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let grants = Grants::open(&dir).unwrap();
        let code = grants.issue_code(Code { grant: grant(), redirect_uri: "x".into(), code_challenge: "y".into() });
        assert!(grants.redeem_code(&code).is_some());
        assert!(grants.redeem_code(&code).is_none());
        assert!(grants.redeem_code("made-up").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
