//! Bearer tokens: HS256 JWTs that name a user. The token proves identity
//! only; the role is read from the database on every request, so demoting a
//! user takes effect at once.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

/// Signs and verifies tokens with one shared secret.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_hours: u32,
}

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
        let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        Ok((claims.sub, expires))
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
