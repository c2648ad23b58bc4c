//! Bearer tokens: HS256 JWTs that name a user. The token proves identity
//! only; the role is read from the database on every request, so demoting a
//! user takes effect at once.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;

/// Issuer written into and required from every token.
const ISSUER: &str = "courier";

/// The claims Courier signs.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: Uuid,
    /// Issuer, always `courier`.
    iss: String,
    /// Issued at (seconds since the epoch).
    iat: i64,
    /// Expiry (seconds since the epoch).
    exp: i64,
    /// Not before (seconds since the epoch); Courier does not write it, but
    /// honours it when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

/// The token of an `Authorization` value `Bearer <token>`: the scheme's
/// name in any case (RFC 9110, 11.1), the token after any spaces. `None`
/// for another scheme or no token.
pub fn bearer_token(value: &str) -> Option<&str> {
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// Signs and verifies tokens with one shared secret.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_hours: u32,
    /// Tokens that verified, with their user and expiry: checking a token's
    /// signature and claims again on each of its requests cost 3% of W2's
    /// server CPU (bench/RESULTS.md, issue 14). Only a token this service
    /// signed can get in; its expiry is checked again on every use (nothing
    /// else about a verified token changes with time).
    verified: Cache<Box<str>, (Uuid, i64)>,
}

/// How many verified tokens are kept, and for how long at most.
const VERIFIED_KEPT: u64 = 10_000;
const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(300);

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").field("ttl_hours", &self.ttl_hours).finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service using `secret`; tokens live `ttl_hours`.
    pub fn new(secret: &str, ttl_hours: u32) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl_hours,
            verified: Cache::builder().max_capacity(VERIFIED_KEPT).time_to_live(VERIFIED_FOR).build(),
        }
    }

    /// Mints a token for `user_id`.
    pub fn mint(&self, user_id: Uuid) -> Result<String, AppError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            iss: ISSUER.into(),
            iat: now,
            exp: now + i64::from(self.ttl_hours) * 3600,
            nbf: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign token: {e}")))
    }

    /// Verifies a token (signature, algorithm, issuer, expiry, not-before,
    /// and an issue time not in the future) and returns its user id.
    pub fn verify(&self, token: &str) -> Result<Uuid, AppError> {
        self.verify_session(token).map(|(user, _)| user)
    }

    /// Like [`TokenService::verify`], with the token's expiry (for a
    /// session that outlives one request, such as a subscription).
    pub fn verify_session(&self, token: &str) -> Result<(Uuid, chrono::DateTime<Utc>), AppError> {
        self.session_at(token, Utc::now().timestamp())
    }

    /// [`TokenService::verify_session`] at `now` (seconds since the epoch)
    /// for a token verified before; a token not seen yet is verified in full
    /// at the clock's time.
    fn session_at(&self, token: &str, now: i64) -> Result<(Uuid, chrono::DateTime<Utc>), AppError> {
        let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or(0);
        let (user, exp) = match self.verified.get(token) {
            // As jsonwebtoken judges `exp`.
            Some((_, exp)) if exp < now - leeway => {
                tracing::debug!(event = "auth_token_rejected", reason = "ExpiredSignature", "bearer token rejected");
                return Err(AppError::Unauthenticated("Invalid or expired token".into()));
            }
            Some(verified) => verified,
            None => {
                let verified = self.verified_claims(token)?;
                self.verified.insert(token.into(), verified);
                verified
            }
        };
        let expires = chrono::DateTime::from_timestamp(exp, 0).unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        Ok((user, expires))
    }

    /// The user and expiry of `token`, verified in full.
    fn verified_claims(&self, token: &str) -> Result<(Uuid, i64), AppError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "iat"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let rejected = |reason: &dyn std::fmt::Display| {
            tracing::debug!(event = "auth_token_rejected", reason = %reason, "bearer token rejected");
            AppError::Unauthenticated("Invalid or expired token".into())
        };
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|e| rejected(&e))?.claims;
        // jsonwebtoken does not judge `iat`: a token "issued" in the future
        // was not issued by this server's clock.
        if claims.iat > Utc::now().timestamp() + i64::try_from(LEEWAY_SECONDS).unwrap_or(0) {
            return Err(rejected(&"iat is in the future"));
        }
        Ok((claims.sub, claims.exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_and_a_foreign_one_does_not() {
        let service = TokenService::new("a-secret-of-sufficient-length", 1);
        let id = Uuid::now_v7();
        let token = service.mint(id).expect("mint");
        assert_eq!(service.verify(&token).expect("verify"), id);

        let other = TokenService::new("another-secret-of-sufficient-length", 1);
        assert!(other.verify(&token).is_err());
        assert!(service.verify("not-a-jwt").is_err());
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let service = TokenService::new("a-secret-of-sufficient-length", 0);
        let claims = Claims { sub: Uuid::now_v7(), iss: ISSUER.into(), iat: 0, exp: 1, nbf: None };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &service.encoding).expect("sign");
        assert!(service.verify(&token).is_err());
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc  "] {
            assert_eq!(bearer_token(value), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "Bearer\tabc", "abc", ""] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn a_kept_token_expires_as_a_new_one_would() {
        let service = TokenService::new("a-secret-of-sufficient-length", 1);
        let now = Utc::now().timestamp();
        let user = Uuid::now_v7();
        let claims = Claims { sub: user, iss: ISSUER.into(), iat: now, exp: now + 60, nbf: None };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &service.encoding).expect("sign");
        assert_eq!(service.session_at(&token, now).expect("verified in full").0, user);
        assert_eq!(service.session_at(&token, now + 60 + 30).expect("kept, within the leeway").0, user);
        assert!(service.session_at(&token, now + 60 + 31).is_err(), "kept, expired");
        // A token that did not verify is not kept.
        let forged = TokenService::new("another-secret-of-sufficient-length", 1).mint(user).expect("mint");
        assert!(service.session_at(&forged, now).is_err());
        assert!(service.session_at(&forged, now).is_err());
    }

    #[test]
    fn tokens_from_the_future_are_rejected() {
        let service = TokenService::new("a-secret-of-sufficient-length", 1);
        let now = Utc::now().timestamp();
        let sign = |claims: &Claims| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &service.encoding).expect("sign")
        };
        let base = Claims { sub: Uuid::now_v7(), iss: ISSUER.into(), iat: now, exp: now + 3600, nbf: None };
        assert!(service.verify(&sign(&base)).is_ok());
        let not_yet = Claims { nbf: Some(now + 86_400), ..base };
        assert!(service.verify(&sign(&not_yet)).is_err(), "nbf a day ahead");
        let base = Claims { sub: not_yet.sub, iss: ISSUER.into(), iat: now, exp: now + 3600, nbf: None };
        let issued_later = Claims { iat: now + 365 * 86_400, exp: now + 366 * 86_400, ..base };
        assert!(service.verify(&sign(&issued_later)).is_err(), "iat a year ahead");
        let within_skew =
            Claims { iat: now + 10, sub: issued_later.sub, iss: ISSUER.into(), exp: now + 3600, nbf: None };
        assert!(service.verify(&sign(&within_skew)).is_ok(), "clock skew is tolerated");
    }
}
