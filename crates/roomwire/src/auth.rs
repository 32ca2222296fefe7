//! Authentication: JWTs signed HS256 (shared secret) or RS256 (public key or JWKS file).
//!
//! The token may arrive in the Socket.IO CONNECT auth payload (`auth.token`), the `token`
//! query parameter or an `Authorization: Bearer` header; a leading `Bearer ` is stripped
//! wherever it comes from, because real clients put it in all three places.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::config::Config;

/// Who a connection belongs to, as the token says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    pub user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    /// Every claim, for apps that need more (e.g. `companyId`).
    pub claims: Map<String, Value>,
}

impl Identity {
    /// A display name: the `name` claim, else the email, else the user id.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.email.as_deref())
            .unwrap_or(&self.user_id)
    }
}

/// Why a token was refused. The messages are what clients see (Socket.IO `connect_error`
/// message, plain-WebSocket error message); each contains the word "token", which some
/// frontends check for to refresh their token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing token")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
    #[error("invalid token: no user id claim")]
    NoUserId,
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "TOKEN_MISSING",
            AuthError::Expired => "TOKEN_EXPIRED",
            AuthError::Invalid | AuthError::NoUserId => "TOKEN_INVALID",
        }
    }
}

enum Keys {
    One(DecodingKey),
    /// JWKS: by `kid`, plus the only key when the set has one and the token names none.
    Set(HashMap<String, DecodingKey>, Option<DecodingKey>),
}

pub struct Authenticator {
    keys: Keys,
    validation: Validation,
    user_id_claim: String,
    signing: Option<(EncodingKey, Algorithm)>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("auth.public_key_file {path}: {message}")]
    PublicKey { path: String, message: String },
    #[error("auth.jwks_file {path}: {message}")]
    Jwks { path: String, message: String },
}

impl Authenticator {
    pub fn from_config(config: &Config) -> Result<Authenticator, KeyError> {
        let a = &config.auth;
        let (keys, algorithm, signing) = if a.algorithm == "RS256" {
            let keys = if !a.jwks_file.is_empty() {
                let err = |message: String| KeyError::Jwks {
                    path: a.jwks_file.clone(),
                    message,
                };
                let text = std::fs::read_to_string(&a.jwks_file).map_err(|e| err(e.to_string()))?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
                let mut by_kid = HashMap::new();
                let mut only = None;
                for jwk in &set.keys {
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| err(e.to_string()))?;
                    if set.keys.len() == 1 {
                        only = Some(key.clone());
                    }
                    if let Some(kid) = &jwk.common.key_id {
                        by_kid.insert(kid.clone(), key);
                    }
                }
                if set.keys.is_empty() {
                    return Err(err("no keys".into()));
                }
                Keys::Set(by_kid, only)
            } else {
                let err = |message: String| KeyError::PublicKey {
                    path: a.public_key_file.clone(),
                    message,
                };
                let pem = std::fs::read(&a.public_key_file).map_err(|e| err(e.to_string()))?;
                Keys::One(DecodingKey::from_rsa_pem(&pem).map_err(|e| err(e.to_string()))?)
            };
            (keys, Algorithm::RS256, None)
        } else {
            let (secret, _) = config.jwt_secret();
            (
                Keys::One(DecodingKey::from_secret(secret.as_bytes())),
                Algorithm::HS256,
                Some((
                    EncodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )),
            )
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = a.leeway_seconds;
        // `exp` is enforced when present; tokens without one are accepted, as the original
        // servers of these APIs did.
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.validate_aud = !a.audience.is_empty();
        if !a.audience.is_empty() {
            validation.set_audience(&[&a.audience]);
        }
        if !a.issuer.is_empty() {
            validation.set_issuer(&[&a.issuer]);
        }
        Ok(Authenticator {
            keys,
            validation,
            user_id_claim: a.user_id_claim.clone(),
            signing,
        })
    }

    /// Verifies a token (a leading `Bearer ` is accepted) and reads the identity from it.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let token = strip_bearer(token);
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let key = match &self.keys {
            Keys::One(k) => k,
            Keys::Set(by_kid, only) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
                match header
                    .kid
                    .as_deref()
                    .and_then(|kid| by_kid.get(kid))
                    .or(only.as_ref())
                {
                    Some(k) => k,
                    None => return Err(AuthError::Invalid),
                }
            }
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let claims = data.claims;
        let user_id = [self.user_id_claim.as_str(), "sub", "_id", "userId"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(claim_as_id))
            .ok_or(AuthError::NoUserId)?;
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Identity {
            user_id,
            name: text("name").or_else(|| text("username")),
            email: text("email"),
            role: text("role"),
            claims,
        })
    }

    /// Signs a token (HS256 only: the server holds no RS256 private key).
    pub fn mint(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let Some((key, alg)) = &self.signing else {
            return Err(
                "this server verifies RS256 tokens and holds no private key; use --private-key"
                    .into(),
            );
        };
        jsonwebtoken::encode(&Header::new(*alg), claims, key).map_err(|e| e.to_string())
    }
}

/// Signs claims with an RS256 private key in PEM form.
pub fn mint_rs256(
    claims: &Map<String, Value>,
    private_pem: &[u8],
    kid: Option<String>,
) -> Result<String, String> {
    let key = EncodingKey::from_rsa_pem(private_pem).map_err(|e| e.to_string())?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid;
    jsonwebtoken::encode(&header, claims, &key).map_err(|e| e.to_string())
}

fn claim_as_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn strip_bearer(token: &str) -> &str {
    let t = token.trim();
    let is_scheme = t.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("bearer"))
        && t.as_bytes().get(6).is_none_or(|b| b.is_ascii_whitespace());
    if is_scheme {
        t[6..].trim_start()
    } else {
        t
    }
}

/// Builds the claims of a minted token: standard claims plus `extra` (`KEY=VALUE`; values
/// that parse as JSON are taken as JSON, so `--claim admin=true` gives a boolean).
pub fn claims_for(
    sub: &str,
    name: Option<&str>,
    email: Option<&str>,
    role: Option<&str>,
    extra: &[(String, String)],
    ttl_seconds: i64,
) -> Map<String, Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut c = Map::new();
    c.insert("sub".into(), Value::String(sub.into()));
    for (k, v) in [("name", name), ("email", email), ("role", role)] {
        if let Some(v) = v {
            c.insert(k.into(), Value::String(v.into()));
        }
    }
    c.insert("iat".into(), now.into());
    c.insert("exp".into(), (now + ttl_seconds).into());
    for (k, v) in extra {
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
        c.insert(k.clone(), value);
    }
    c
}

/// Finds the token among the places clients put it: the CONNECT auth payload, the query
/// string, the `Authorization` header.
pub fn find_token<'a>(
    auth: Option<&'a Value>,
    query_token: Option<&'a str>,
    authorization: Option<&'a str>,
) -> Option<&'a str> {
    auth.and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .or(query_token.filter(|t| !t.trim().is_empty()))
        .or(authorization.filter(|t| !t.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs_auth() -> Authenticator {
        let c = Config {
            jwt_secret: "s3cret".into(),
            ..Config::default()
        };
        Authenticator::from_config(&c).unwrap()
    }

    #[test]
    fn hs256_round_trip_with_bearer_prefix() {
        let a = hs_auth();
        let t = a
            .mint(&claims_for("u1", Some("Ana"), None, Some("admin"), &[], 60))
            .unwrap();
        let id = a.verify(&format!("Bearer {t}")).unwrap();
        assert_eq!(id.user_id, "u1");
        assert_eq!(id.name.as_deref(), Some("Ana"));
        assert_eq!(id.role.as_deref(), Some("admin"));
    }

    #[test]
    fn expired_and_forged_tokens_are_refused() {
        let a = hs_auth();
        let t = a
            .mint(&claims_for("u1", None, None, None, &[], -120))
            .unwrap();
        assert_eq!(a.verify(&t), Err(AuthError::Expired));
        let other = Config {
            jwt_secret: "other".into(),
            ..Config::default()
        };
        let forged = Authenticator::from_config(&other)
            .unwrap()
            .mint(&claims_for("u1", None, None, None, &[], 60))
            .unwrap();
        assert_eq!(a.verify(&forged), Err(AuthError::Invalid));
        assert_eq!(a.verify(""), Err(AuthError::Missing));
        assert_eq!(a.verify("Bearer "), Err(AuthError::Missing));
        assert_eq!(a.verify("garbage"), Err(AuthError::Invalid));
    }

    #[test]
    fn user_id_falls_back_to_underscore_id_then_user_id() {
        let a = hs_auth();
        let mut c = Map::new();
        c.insert("_id".into(), "mongo1".into());
        assert_eq!(a.verify(&a.mint(&c).unwrap()).unwrap().user_id, "mongo1");
        let mut c = Map::new();
        c.insert("userId".into(), 42.into());
        assert_eq!(a.verify(&a.mint(&c).unwrap()).unwrap().user_id, "42");
        assert_eq!(
            a.verify(&a.mint(&Map::new()).unwrap()),
            Err(AuthError::NoUserId)
        );
    }

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn rs256_with_public_key_file() {
        let mut c = Config::default();
        c.auth.algorithm = "RS256".into();
        c.auth.public_key_file = fixture("rsa_public.pem");
        let a = Authenticator::from_config(&c).unwrap();
        let pem = std::fs::read(fixture("rsa_private.pem")).unwrap();
        let t = mint_rs256(
            &claims_for("rs", Some("Rae"), None, None, &[], 60),
            &pem,
            None,
        )
        .unwrap();
        assert_eq!(a.verify(&t).unwrap().user_id, "rs");
        // An HS256 token is not accepted by an RS256 server, even with a matching secret.
        let hs = hs_auth()
            .mint(&claims_for("rs", None, None, None, &[], 60))
            .unwrap();
        assert_eq!(a.verify(&hs), Err(AuthError::Invalid));
        assert!(a.mint(&Map::new()).is_err());
    }

    #[test]
    fn rs256_with_jwks_selects_by_kid() {
        let mut c = Config::default();
        c.auth.algorithm = "RS256".into();
        c.auth.jwks_file = fixture("jwks.json");
        let a = Authenticator::from_config(&c).unwrap();
        let pem = std::fs::read(fixture("rsa_private.pem")).unwrap();
        let claims = claims_for("jw", None, None, None, &[], 60);
        let t = mint_rs256(&claims, &pem, Some("test-key-1".into())).unwrap();
        assert_eq!(a.verify(&t).unwrap().user_id, "jw");
        // With a single key in the set, a token without kid still verifies against it.
        let t = mint_rs256(&claims, &pem, None).unwrap();
        assert_eq!(a.verify(&t).unwrap().user_id, "jw");
    }

    #[test]
    fn missing_key_files_name_their_key() {
        let mut c = Config::default();
        c.auth.algorithm = "RS256".into();
        c.auth.public_key_file = "/nonexistent.pem".into();
        let e = Authenticator::from_config(&c).err().unwrap().to_string();
        assert!(e.contains("auth.public_key_file"), "{e}");
    }

    #[test]
    fn token_sources_in_order() {
        let auth = serde_json::json!({"token": "A"});
        assert_eq!(find_token(Some(&auth), Some("B"), Some("C")), Some("A"));
        assert_eq!(find_token(None, Some("B"), Some("C")), Some("B"));
        assert_eq!(
            find_token(None, Some(""), Some("Bearer C")),
            Some("Bearer C")
        );
        assert_eq!(strip_bearer("bearer   xyz"), "xyz");
    }
}
