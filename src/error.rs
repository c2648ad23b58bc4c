//! The one application error, its stable codes, and database error
//! classification.
//!
//! Policy:
//! - Every error a client sees carries a stable `extensions.code`; business
//!   rules add `rule` and `context`; the GraphQL handler adds `requestId`.
//! - Database errors are classified once, here (`From<DbErr>`): unique
//!   violation -> CONFLICT, foreign key violation -> BAD_USER_INPUT, lock not
//!   available / serialization failure / SQLite busy -> CONFLICT (retryable),
//!   connection loss -> SERVICE_UNAVAILABLE, statement timeout -> TIMEOUT,
//!   text the database cannot store -> BAD_USER_INPUT, anything else ->
//!   internal.
//! - Internal errors are logged with their detail (the request's span adds the
//!   request ID) and reach the client only as INTERNAL_SERVER_ERROR: no SQL, no
//!   stack, no driver message.
//! - How an error reaches a client (GraphQL extensions) is the API layer's
//!   business: see `graphql::error`. Nothing here knows about GraphQL or HTTP.

use std::borrow::Cow;

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
    /// The work ran past its deadline (a statement timeout); retry later.
    Timeout,
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
            Self::Timeout => "TIMEOUT",
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
            Self::Timeout,
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
    /// A statement ran past its timeout.
    #[error("{0}")]
    Timeout(Cow<'static, str>),
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

    /// Whether the server or a dependency is at fault (as opposed to the
    /// client's input, rights or a rule): what metrics count as failures.
    pub fn is_server_fault(&self) -> bool {
        matches!(self.code(), ErrorCode::InternalServerError | ErrorCode::ServiceUnavailable | ErrorCode::Timeout)
    }

    /// Whether the operation may succeed if simply run again: a lost lock or
    /// serialization race (a retryable CONFLICT).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict { context, .. } if context.get("retryable") == Some(&Json::Bool(true)))
    }

    /// Whether the operation lost a race it may win at once when run again
    /// (a deadlock, a serialization failure, a guarded write that found the
    /// row changed), as opposed to a lock wait that ran out its
    /// `lock_timeout`: the holder is slow, and the client decides when to retry.
    pub fn is_lost_race(&self) -> bool {
        self.is_retryable()
            && !matches!(self, Self::Conflict { context, .. } if context.get("reason") == Some(&Json::from("LOCK_NOT_AVAILABLE")))
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
            Self::Timeout(_) => ErrorCode::Timeout,
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
    /// Every pooled connection stayed busy past the acquire timeout.
    PoolExhausted,
    /// The statement ran past `statement_timeout`.
    Timeout,
    /// The client sent text the database cannot store (a NUL byte).
    InvalidText,
    /// Anything else.
    Other,
}

/// Classifies a database error by SQLSTATE (PostgreSQL) or result code (SQLite).
pub fn classify(err: &DbErr) -> DbFailure {
    let runtime = match err {
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout) => return DbFailure::PoolExhausted,
        DbErr::Conn(RuntimeErr::SqlxError(e)) if matches!(e.as_ref(), sea_orm::sqlx::Error::PoolTimedOut) => {
            return DbFailure::PoolExhausted;
        }
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return DbFailure::ConnectionLost,
        DbErr::Query(e) | DbErr::Exec(e) => e,
        _ => return DbFailure::Other,
    };
    let RuntimeErr::SqlxError(sqlx_err) = runtime else {
        return DbFailure::Other;
    };
    use sea_orm::sqlx::Error as S;
    match sqlx_err.as_ref() {
        S::PoolTimedOut => DbFailure::PoolExhausted,
        S::Io(_) | S::PoolClosed | S::WorkerCrashed | S::Tls(_) => DbFailure::ConnectionLost,
        S::Database(db) => match db.code().as_deref() {
            // PostgreSQL SQLSTATEs.
            Some("23505") => DbFailure::UniqueViolation,
            Some("23503") => DbFailure::ForeignKeyViolation,
            Some("55P03") => DbFailure::LockNotAvailable,
            Some("40001" | "40P01") => DbFailure::SerializationFailure,
            Some("57014") => DbFailure::Timeout,
            Some("22021" | "22P05") => DbFailure::InvalidText,
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
        if matches!(err, DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)) {
            crate::telemetry::metrics::acquire_timeout();
            tracing::error!(
                event = "db_pool_exhausted",
                waiting = crate::db::waiting(),
                "a request gave up waiting for a pooled connection"
            );
        }
        crate::db::connection_lost(&err);
        match classify(&err) {
            DbFailure::UniqueViolation => Self::Conflict {
                message: "A record with the same unique value already exists".into(),
                context: serde_json::json!({ "reason": "UNIQUE_VIOLATION" }),
            },
            DbFailure::ForeignKeyViolation => {
                Self::Validation { field: None, message: "A referenced record does not exist".into() }
            }
            DbFailure::LockNotAvailable => Self::Conflict {
                message: "The record is being changed by another request, retry".into(),
                context: serde_json::json!({ "retryable": true, "reason": "LOCK_NOT_AVAILABLE" }),
            },
            DbFailure::SerializationFailure => Self::Conflict {
                message: "The record is being changed by another request, retry".into(),
                context: serde_json::json!({ "retryable": true, "reason": "SERIALIZATION_FAILURE" }),
            },
            DbFailure::ConnectionLost | DbFailure::PoolExhausted => {
                Self::Unavailable("The database is unavailable, retry later".into())
            }
            DbFailure::Timeout => Self::Timeout("The database took too long to answer; retry later".into()),
            DbFailure::InvalidText => {
                Self::Validation { field: None, message: "The input contains characters that cannot be stored".into() }
            }
            DbFailure::Other => Self::Database(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_become_service_unavailable() {
        let err: AppError = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout).into();
        assert_eq!(err.code(), ErrorCode::ServiceUnavailable);
    }

    #[test]
    fn every_code_parses_back_from_its_wire_form() {
        for code in [
            ErrorCode::BadUserInput,
            ErrorCode::Unauthenticated,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::BusinessRuleViolation,
            ErrorCode::ServiceUnavailable,
            ErrorCode::Timeout,
            ErrorCode::InternalServerError,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NOPE"), None);
    }
}
