//! The authorization server's signing key (`[server.auth.login]
//! signing_key`): an EC P-256 private key in PKCS#8 PEM, so access tokens
//! are ES256 JWTs (RFC 7518 §3.4). Its public half is published as a JWK
//! (RFC 7517) whose `kid` is its RFC 7638 thumbprint, and the resource
//! server checks tokens against that same key without a round trip.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256};
use std::path::Path;

/// How to make a key that fits, for error messages.
pub const MAKE_ONE: &str = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out signing-key.pem";

/// The private key and its public JWK.
pub struct SigningKey {
    encoding: EncodingKey,
    public: Jwk,
    kid: String,
}

impl SigningKey {
    /// Read the key at `path`.
    ///
    /// Errors: the file is missing or unreadable, or not an EC P-256
    /// PKCS#8 PEM key; each says how to make one.
    pub fn load(path: &Path) -> Result<SigningKey> {
        let pem = std::fs::read(path).with_context(|| {
            format!(
                "[server.auth.login] signing_key {}: cannot read it; fix: make one with `{MAKE_ONE}` and keep it (tokens survive restarts only with the same key)",
                path.display()
            )
        })?;
        SigningKey::from_pem(&pem).with_context(|| format!("[server.auth.login] signing_key {}", path.display()))
    }

    /// The key in `pem` (`-----BEGIN PRIVATE KEY-----`, EC P-256).
    ///
    /// Errors: another format or curve, naming the fix.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey> {
        let parsed = pem::parse(pem).context("not a PEM file")?;
        match parsed.tag() {
            "PRIVATE KEY" => {}
            "EC PRIVATE KEY" => bail!(
                "this is a SEC1 key; fix: convert it with `openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out signing-key.pem`"
            ),
            other => bail!("a PEM `{other}` is not a private key; fix: make one with `{MAKE_ONE}`"),
        }
        let der = parsed.contents();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &ring::rand::SystemRandom::new())
            .map_err(|e| anyhow::anyhow!("not an EC P-256 key ({e}); fix: make one with `{MAKE_ONE}`"))?;
        let point = pair.public_key().as_ref();
        // An uncompressed SEC1 point: 0x04, then x and y, 32 bytes each.
        if point.len() != 65 || point[0] != 4 {
            bail!("unexpected public key encoding");
        }
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..]));
        // RFC 7638 §3.2: the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let public: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid,
        }))?;
        Ok(SigningKey { encoding: EncodingKey::from_ec_der(der), public, kid })
    }

    /// The public key, as tokens are checked against it.
    pub fn jwk(&self) -> &Jwk {
        &self.public
    }

    /// The JWK Set served at `jwks_uri`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.public] })
    }

    /// `claims` signed as an ES256 JWT with this key's `kid`.
    ///
    /// Errors: the claims do not serialize.
    pub fn sign(&self, claims: &impl serde::Serialize) -> Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing an access token")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A P-256 PKCS#8 key, made once with [`MAKE_ONE`], for tests only.
    pub const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpzHRDqEB1kSvVX7Y
AeLO/Yoi7Ty34QiT/Fl2YzyJvHahRANCAASQB4QcGpxenta7XV2uN1t0Fqkn/KrU
M+eASUEcqmsgxP+GgswoLo1ambOD1L7duwqzzWSksnNJ5EQ8C3uKuixs
-----END PRIVATE KEY-----
";

    #[test]
    fn a_token_signed_with_the_key_verifies_against_its_published_jwk() {
        let key = SigningKey::from_pem(TEST_KEY.as_bytes()).unwrap();
        let jwks = key.jwks();
        assert_eq!(jwks["keys"][0]["kty"], "EC");
        assert_eq!(jwks["keys"][0]["kid"].as_str().unwrap().len(), 43, "a base64url sha256 thumbprint");
        let now = chrono::Utc::now().timestamp();
        let token = key
            .sign(&serde_json::json!({"iss": "https://e.example", "aud": "https://e.example/mcp", "sub": "u", "exp": now + 60}))
            .unwrap();
        let header = super::super::super::token::header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), key.jwk().common.key_id.as_deref());
        let claims = super::super::super::token::verify(
            &token,
            header.alg,
            key.jwk(),
            "https://e.example",
            &["https://e.example/mcp".into()],
        )
        .unwrap();
        assert_eq!(claims.sub, "u");
    }

    #[test]
    fn other_key_formats_say_how_to_make_one_that_fits() {
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n";
        assert!(format!("{:#}", SigningKey::from_pem(sec1.as_bytes()).err().unwrap()).contains("openssl pkcs8"));
        assert!(format!("{:#}", SigningKey::from_pem(b"hello").err().unwrap()).contains("not a PEM"));
        let missing = SigningKey::load(Path::new("/nonexistent/key.pem")).err().unwrap();
        assert!(format!("{missing:#}").contains("openssl genpkey"));
    }
}
