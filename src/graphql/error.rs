//! How an [`AppError`] reaches a GraphQL client: `extensions.code` always,
//! `field` for bad input, `rule` and `context` for business rules and
//! conflicts. Internal errors are logged here (inside the request's span, so
//! with its request ID) and masked as INTERNAL_SERVER_ERROR.
//!
//! async-graphql's blanket `From<Display>` would drop the code, so resolvers
//! return [`GqlResult`], whose error converts an `AppError` with its
//! extensions.

use async_graphql::ErrorExtensions;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::domain::lookup::EntityKind;
use crate::error::AppError;
use crate::graphql::node;

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
            AppError::Database(_) | AppError::Internal(_) => {
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

/// Names a domain error's input field by the path the client sent: the
/// domain says `sellerId` or `items[0].name`, the mutation's argument is
/// `input`, so the client reads `input.sellerId`. Use as
/// `.map_err(in_input)` on the domain call of a mutation that takes `input`.
pub fn in_input(err: AppError) -> AppError {
    under("input", err)
}

fn under(argument: &str, err: AppError) -> AppError {
    let rename = |field: &str, message: &str| {
        let path = format!("{argument}.{field}");
        (message.replace(&format!("`{field}`"), &format!("`{path}`")), path)
    };
    match err {
        AppError::Validation { field: Some(field), message } => {
            let (message, path) = rename(&field, &message);
            AppError::Validation { field: Some(path), message }
        }
        AppError::Replayed(mut wire) => {
            if let Some(field) = wire.field.take() {
                let (message, path) = rename(&field, &wire.message);
                wire.message = message;
                wire.field = Some(path);
            }
            AppError::Replayed(wire)
        }
        other => other,
    }
}

/// The entity a context key names, by the API's naming: `orderId` is an
/// Order, `buyerId` a User.
fn kind_of_key(key: &str) -> Option<EntityKind> {
    Some(match key {
        "orderId" => EntityKind::Order,
        "paymentId" => EntityKind::Payment,
        "walletId" => EntityKind::Wallet,
        "assignmentId" => EntityKind::ShippingAssignment,
        "agentId" => EntityKind::DeliveryAgent,
        "userId" | "buyerId" | "sellerId" | "actorId" => EntityKind::User,
        "ledgerEntryId" => EntityKind::LedgerEntry,
        _ => return None,
    })
}

/// A rule's context as the client reads it: the domain keeps raw UUIDs, the
/// API speaks global IDs (`paymentId` is what `payment(id:)` takes).
fn json_to_value(json: &Json) -> async_graphql::Value {
    async_graphql::Value::from_json(globalize(json)).unwrap_or(async_graphql::Value::Null)
}

fn globalize(json: &Json) -> Json {
    match json {
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(key, value)| {
                    let global = match (kind_of_key(key), value) {
                        (Some(kind), Json::String(raw)) => {
                            Uuid::parse_str(raw).ok().map(|uuid| Json::String(node::encode(kind, uuid).0))
                        }
                        _ => None,
                    };
                    (key.clone(), global.unwrap_or_else(|| globalize(value)))
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(globalize).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use sea_orm::DbErr;

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
    fn context_ids_are_global_ids() {
        let uuid = Uuid::now_v7();
        let err = AppError::rule("X", "no", serde_json::json!({ "paymentId": uuid, "walletId": "not-a-uuid", "n": 1 }));
        let ext = err.extend().extensions.expect("extensions");
        let context = ext.get("context").expect("context").clone().into_json().expect("json");
        assert_eq!(context["paymentId"], serde_json::json!(node::encode(EntityKind::Payment, uuid).0));
        assert_eq!(context["walletId"], "not-a-uuid");
        assert_eq!(context["n"], 1);
    }

    #[test]
    fn input_errors_name_the_argument_path() {
        let err = in_input(AppError::validation("items[0].name", "`items[0].name` has 1 to 200 characters"));
        assert!(matches!(&err, AppError::Validation { field: Some(f), .. } if f == "input.items[0].name"));
        assert_eq!(err.to_string(), "`input.items[0].name` has 1 to 200 characters");
        let rule = in_input(AppError::rule("R", "no", serde_json::json!({})));
        assert!(matches!(rule, AppError::BusinessRule { .. }));
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
}
