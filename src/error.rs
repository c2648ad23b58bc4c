//! The one application error and how it reaches clients.
//!
//! Policy:
//! - Every error a client sees carries a stable `extensions.code`; business
//!   rules add `rule` and `context`; the GraphQL handler adds `requestId`.
//! - Database errors are classified once, here (`From<DbErr>`): unique
//!   violation -> CONFLICT, foreign key violation -> BAD_USER_INPUT, lock not
//!   available / serialization failure / SQLite busy -> CONFLICT (retryable),
//!   connection loss -> SERVICE_UNAVAILABLE, anything else -> internal.
//! - Internal errors are logged with their detail (the request's span adds the
//!   request ID) and reach the client only as INTERNAL_SERVER_ERROR: no SQL, no
//!   stack, no driver message.
//! - async-graphql's blanket `From<Display>` would drop the code, so resolvers
//!   return [`GqlResult`], whose error converts an `AppError` with its extensions.

use std::borrow::Cow;

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};
use serde_json::Value as Json;

/// Stable machine-readable error codes (`extensions.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The input is malformed or out of range.
    BadUserInput,
    /// No or invalid credentials.
    Unauthenticated,
    /// Authenticated but not allowed.
    Forbidden,
    /// Does not exist, or the viewer may not know it exists.
    NotFound,
    /// Someone else changed or holds the thing; refresh and retry.
    Conflict,
    /// A domain rule refused the operation (see `rule`).
    BusinessRuleViolation,
    /// A dependency (the database) is unavailable.
    ServiceUnavailable,
    /// A bug or an unexpected failure; details are only in the log.
    InternalServerError,
}

impl ErrorCode {
    /// The wire form, e.g. `BAD_USER_INPUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::BusinessRuleViolation => "BUSINESS_RULE_VIOLATION",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The code with this wire form.
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::BadUserInput,
            Self::Unauthenticated,
            Self::Forbidden,
            Self::NotFound,
            Self::Conflict,
            Self::BusinessRuleViolation,
            Self::ServiceUnavailable,
            Self::InternalServerError,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }
}

/// Everything that can go wrong in Courier.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input failed validation.
    #[error("{message}")]
    Validation {
        /// The input field at fault, when there is one.
        field: Option<String>,
        /// What is wrong, for humans.
        message: String,
    },
    /// The request carries no valid credentials.
    #[error("{0}")]
    Unauthenticated(Cow<'static, str>),
    /// The viewer may not do this.
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// The entity does not exist or is hidden from the viewer.
    #[error("{entity} not found")]
    NotFound {
        /// Kind of entity, e.g. `Order`.
        entity: &'static str,
        /// The id the client asked for.
        id: String,
    },
    /// A concurrent change won; the client should refresh and retry.
    #[error("{message}")]
    Conflict {
        /// What happened, for humans.
        message: Cow<'static, str>,
        /// Details such as the current version, or `retryable`.
        context: Json,
    },
    /// A domain rule refused the operation.
    #[error("{message}")]
    BusinessRule {
        /// Stable rule name, e.g. `ORDER_CANNOT_CANCEL_AFTER_SHIPPING`.
        rule: &'static str,
        /// What happened, for humans.
        message: Cow<'static, str>,
        /// Rule-specific details.
        context: Json,
    },
    /// A dependency is down.
    #[error("{0}")]
    Unavailable(Cow<'static, str>),
    /// An unexpected database error (logged, masked).
    #[error("database error: {0}")]
    Database(DbErr),
    /// Any other unexpected error (logged, masked).
    #[error("internal error: {0}")]
    Internal(String),
    /// An error returned before and stored with an idempotency key, replayed as it was.
    #[error("{}", .0.message)]
    Replayed(Box<WireError>),
}

/// An error as a client saw it, kept with an idempotency key so a repeated
/// request gets the same answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireError {
    /// `extensions.code`.
    pub code: String,
    /// The message.
    pub message: String,
    /// `extensions.field`, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `extensions.rule`, for business rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `extensions.context`, for business rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Json>,
}

impl AppError {
    /// A validation error on one input field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { field: Some(field.into()), message: message.into() }
    }

    /// A not-found error.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound { entity, id: id.to_string() }
    }

    /// A business-rule violation.
    pub fn rule(rule: &'static str, message: impl Into<Cow<'static, str>>, context: Json) -> Self {
        Self::BusinessRule { rule, message: message.into(), context }
    }

    /// Whether the operation may succeed if simply run again: a lost lock or
    /// serialization race (a retryable CONFLICT).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict { context, .. } if context.get("retryable") == Some(&Json::Bool(true)))
    }

    /// The error as the client sees it, when it is a deterministic answer to
    /// the request (bad input, not allowed, not found, a rule) and so worth
    /// storing with an idempotency key; `None` for transient and internal
    /// errors, which a retry with the same key should run again.
    pub fn wire(&self) -> Option<WireError> {
        let (field, rule, context) = match self {
            Self::Validation { field, .. } => (field.clone(), None, None),
            Self::Forbidden(_) | Self::NotFound { .. } => (None, None, None),
            Self::BusinessRule { rule, context, .. } => (None, Some((*rule).to_owned()), Some(context.clone())),
            Self::Replayed(wire) => return Some((**wire).clone()),
            _ => return None,
        };
        Some(WireError { code: self.code().as_str().to_owned(), message: self.to_string(), field, rule, context })
    }

    /// The client-facing code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation { .. } => ErrorCode::BadUserInput,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::BusinessRule { .. } => ErrorCode::BusinessRuleViolation,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Database(_) | Self::Internal(_) => ErrorCode::InternalServerError,
            Self::Replayed(wire) => ErrorCode::parse(&wire.code).unwrap_or(ErrorCode::InternalServerError),
        }
    }
}

/// How the database classified a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// A unique constraint was violated.
    UniqueViolation,
    /// A foreign key pointed nowhere.
    ForeignKeyViolation,
    /// `FOR UPDATE NOWAIT` found the row locked, or SQLite was busy.
    LockNotAvailable,
    /// A serializable transaction lost, or a deadlock was broken.
    SerializationFailure,
    /// The connection or pool is gone.
    ConnectionLost,
    /// Anything else.
    Other,
}

/// Classifies a database error by SQLSTATE (PostgreSQL) or result code (SQLite).
pub fn classify(err: &DbErr) -> DbFailure {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return DbFailure::ConnectionLost,
        DbErr::Query(e) | DbErr::Exec(e) => e,
        _ => return DbFailure::Other,
    };
    let RuntimeErr::SqlxError(sqlx_err) = runtime else {
        return DbFailure::Other;
    };
    use sea_orm::sqlx::Error as S;
    match sqlx_err.as_ref() {
        S::Io(_) | S::PoolTimedOut | S::PoolClosed | S::WorkerCrashed | S::Tls(_) => DbFailure::ConnectionLost,
        S::Database(db) => match db.code().as_deref() {
            // PostgreSQL SQLSTATEs.
            Some("23505") => DbFailure::UniqueViolation,
            Some("23503") => DbFailure::ForeignKeyViolation,
            Some("55P03") => DbFailure::LockNotAvailable,
            Some("40001" | "40P01") => DbFailure::SerializationFailure,
            Some(c) if c.starts_with("08") || c == "57P01" || c == "57P03" || c == "53300" => DbFailure::ConnectionLost,
            // SQLite extended result codes.
            Some("2067" | "1555") => DbFailure::UniqueViolation,
            Some("787") => DbFailure::ForeignKeyViolation,
            Some("5" | "6" | "517" | "261" | "262") => DbFailure::LockNotAvailable,
            _ => DbFailure::Other,
        },
        _ => DbFailure::Other,
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match classify(&err) {
            DbFailure::UniqueViolation => Self::Conflict {
                message: "A record with the same unique value already exists".into(),
                context: serde_json::json!({ "reason": "UNIQUE_VIOLATION" }),
            },
            DbFailure::ForeignKeyViolation => {
                Self::Validation { field: None, message: "A referenced record does not exist".into() }
            }
            DbFailure::LockNotAvailable | DbFailure::SerializationFailure => Self::Conflict {
                message: "The record is being changed by another request, retry".into(),
                context: serde_json::json!({ "retryable": true }),
            },
            DbFailure::ConnectionLost => Self::Unavailable("The database is unavailable, retry later".into()),
            DbFailure::Other => Self::Database(err),
        }
    }
}

/// The error type of every resolver. It deliberately does not implement
/// `Display`, so async-graphql's blanket `From<Display>` cannot apply: a `?`
/// on an [`AppError`] inside a resolver goes through [`ErrorExtensions`] and
/// keeps its `code`, `rule` and `context`.
#[derive(Debug, Clone)]
pub struct GqlError(pub async_graphql::Error);

/// Result of a resolver.
pub type GqlResult<T> = Result<T, GqlError>;

impl From<AppError> for GqlError {
    fn from(err: AppError) -> Self {
        Self(err.extend())
    }
}

impl From<async_graphql::Error> for GqlError {
    fn from(err: async_graphql::Error) -> Self {
        Self(err)
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(err: GqlError) -> Self {
        err.0
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let code = self.code();
        let message = match self {
            Self::Database(_) | Self::Internal(_) => {
                tracing::error!(event = "internal_error", error = %self, "internal error");
                "Internal server error".to_owned()
            }
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            match self {
                Self::Validation { field: Some(field), .. } => ext.set("field", field.as_str()),
                Self::BusinessRule { rule, context, .. } => {
                    ext.set("rule", *rule);
                    ext.set("context", json_to_value(context));
                }
                Self::Conflict { context, .. } => ext.set("context", json_to_value(context)),
                Self::Replayed(wire) => {
                    if let Some(field) = &wire.field {
                        ext.set("field", field.as_str());
                    }
                    if let Some(rule) = &wire.rule {
                        ext.set("rule", rule.as_str());
                    }
                    if let Some(context) = &wire.context {
                        ext.set("context", json_to_value(context));
                    }
                }
                _ => {}
            }
        })
    }
}

fn json_to_value(json: &Json) -> async_graphql::Value {
    async_graphql::Value::from_json(json.clone()).unwrap_or(async_graphql::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_masked_and_keep_their_code() {
        let err = AppError::Internal("SELECT secret FROM vault failed".into()).extend();
        assert_eq!(err.message, "Internal server error");
        let ext = err.extensions.expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("INTERNAL_SERVER_ERROR")));
    }

    #[test]
    fn business_rules_carry_rule_and_context() {
        let err =
            AppError::rule("ORDER_CANNOT_CANCEL_AFTER_SHIPPING", "too late", serde_json::json!({"status": "SHIPPING"}))
                .extend();
        let ext = err.extensions.expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("BUSINESS_RULE_VIOLATION")));
        assert_eq!(ext.get("rule"), Some(&async_graphql::Value::from("ORDER_CANNOT_CANCEL_AFTER_SHIPPING")));
        assert!(ext.get("context").is_some());
    }

    #[test]
    fn every_kind_has_its_stable_code() {
        let cases = [
            (AppError::validation("x", "bad"), "BAD_USER_INPUT"),
            (AppError::Unauthenticated("who".into()), "UNAUTHENTICATED"),
            (AppError::Forbidden("no".into()), "FORBIDDEN"),
            (AppError::not_found("Order", "1"), "NOT_FOUND"),
            (AppError::Conflict { message: "raced".into(), context: serde_json::json!({}) }, "CONFLICT"),
            (AppError::rule("SOME_RULE", "no", serde_json::json!({})), "BUSINESS_RULE_VIOLATION"),
            (AppError::Unavailable("down".into()), "SERVICE_UNAVAILABLE"),
            (AppError::Database(DbErr::Custom("boom".into())), "INTERNAL_SERVER_ERROR"),
            (AppError::Internal("boom".into()), "INTERNAL_SERVER_ERROR"),
        ];
        for (err, code) in cases {
            let ext = err.extend().extensions.expect("extensions");
            assert_eq!(ext.get("code"), Some(&async_graphql::Value::from(code)), "{err:?}");
        }
        // A `?` inside a resolver keeps the code (the blanket `From<Display>` does not apply).
        let converted: async_graphql::Error = GqlError::from(AppError::not_found("Order", "1")).into();
        assert_eq!(converted.extensions.expect("ext").get("code"), Some(&async_graphql::Value::from("NOT_FOUND")));
    }

    #[test]
    fn deterministic_errors_replay_with_the_same_extensions() {
        let original = AppError::rule("INSUFFICIENT_FUNDS", "short", serde_json::json!({"shortfall": "1.00"}));
        let wire = original.wire().expect("stored");
        let stored = serde_json::to_value(&wire).expect("serializes");
        let replayed = AppError::Replayed(Box::new(serde_json::from_value(stored).expect("deserializes")));
        let (a, b) = (original.extend(), replayed.extend());
        assert_eq!(a.message, b.message);
        assert_eq!(format!("{:?}", a.extensions), format!("{:?}", b.extensions));
        // Transient errors are not stored: a retry with the same key runs again.
        let raced = AppError::Conflict { message: "raced".into(), context: serde_json::json!({"retryable": true}) };
        assert!(raced.wire().is_none() && raced.is_retryable());
        assert!(AppError::Internal("x".into()).wire().is_none());
    }

    #[test]
    fn connection_errors_become_service_unavailable() {
        let err: AppError = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout).into();
        assert_eq!(err.code(), ErrorCode::ServiceUnavailable);
    }
}
