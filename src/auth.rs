//! Bearer tokens: HS256 JWTs that name a user. The token proves identity
//! only; the role is read from the database on every request, so demoting a
//! user takes effect at once.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

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
        let claims = Claims { sub: user_id, iss: ISSUER.into(), iat: now, exp: now + i64::from(self.ttl_hours) * 3600 };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign token: {e}")))
    }

    /// Verifies a token (signature, algorithm, issuer, expiry) and returns its user id.
    pub fn verify(&self, token: &str) -> Result<Uuid, AppError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims.sub).map_err(|e| {
            tracing::debug!(event = "auth_token_rejected", reason = %e, "bearer token rejected");
            AppError::Unauthenticated("Invalid or expired token".into())
        })
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
        let claims = Claims { sub: Uuid::now_v7(), iss: ISSUER.into(), iat: 0, exp: 1 };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &service.encoding).expect("sign");
        assert!(service.verify(&token).is_err());
    }
}
