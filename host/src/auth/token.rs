//! Checking one bearer access token (a JWT) as the MCP authorization spec
//! asks of a resource server: signed by a key of the trusted issuer
//! (asymmetric algorithms only, so a key set cannot be misused as an HMAC
//! secret), `iss` equal to the issuer, `aud` naming this resource
//! (RFC 8707), `exp` in the future and `nbf` past (60 s leeway), then the
//! scopes it grants (`scope`, space-separated, RFC 8693 §4.2; or an `scp`
//! list, as Entra and Okta write it).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Clock skew tolerated on `exp` and `nbf`, seconds.
pub const LEEWAY_SECS: u64 = 60;

/// What Easel reads of a valid token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `false` when the issuer says the address is not verified.
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Vec<String>>,
}

impl Claims {
    /// Claims of an identity without scopes (a dashboard sign-in).
    pub fn identity(sub: String, email: Option<String>, email_verified: Option<bool>) -> Claims {
        Claims { sub, email, email_verified, scope: None, scp: None }
    }
}

impl Claims {
    /// The scopes granted.
    pub fn scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.scope.as_deref().unwrap_or("").split_whitespace().map(String::from).collect();
        out.extend(self.scp.iter().flatten().cloned());
        out
    }
}

/// Whether `alg` is one whose key is public (RSA, RSA-PSS, ECDSA, EdDSA).
pub fn asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The token's header: its algorithm and key id.
///
/// Errors: not a JWT, or an HMAC algorithm.
pub fn header(token: &str) -> Result<jsonwebtoken::Header, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("the access token is not a JWT ({e})"))?;
    if !asymmetric(header.alg) {
        return Err(format!(
            "the access token is signed with {:?}; only public-key signatures are accepted",
            header.alg
        ));
    }
    Ok(header)
}

/// Verify `token` with `key` (from the issuer's JWKS) for `issuer` and
/// one of `audiences`.
///
/// Errors: the reason in words (expired, wrong audience, wrong issuer,
/// bad signature), for the `error_description` of the challenge.
pub fn verify(
    token: &str,
    alg: Algorithm,
    key: &jsonwebtoken::jwk::Jwk,
    issuer: &str,
    audiences: &[String],
) -> Result<Claims, String> {
    if let Some(declared) = key.common.key_algorithm
        && format!("{declared:?}") != format!("{alg:?}")
    {
        return Err(format!("the token says {alg:?} but its key is for {declared:?}"));
    }
    let decoding = DecodingKey::from_jwk(key).map_err(|e| format!("the issuer's key cannot be used ({e})"))?;
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let issuers =
        [issuer.to_string(), issuer.trim_end_matches('/').to_string(), format!("{}/", issuer.trim_end_matches('/'))];
    validation.set_issuer(&issuers);
    validation.set_audience(audiences);
    jsonwebtoken::decode::<Claims>(token, &decoding, &validation).map(|data| data.claims).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "the access token has expired".to_string(),
            ErrorKind::ImmatureSignature => "the access token is not valid yet (nbf)".to_string(),
            ErrorKind::InvalidAudience => {
                format!("the access token is for another resource (aud); this one is {}", audiences.join(" or "))
            }
            ErrorKind::InvalidIssuer => format!("the access token was not issued by {issuer}"),
            ErrorKind::InvalidSignature => "the access token's signature does not verify".to_string(),
            ErrorKind::MissingRequiredClaim(claim) => format!("the access token has no `{claim}` claim"),
            _ => format!("the access token is not valid ({e})"),
        }
    })
}
