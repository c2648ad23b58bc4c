//! The admin's webhook subscriptions: where to send which events, signed
//! with which secret. The secret is shown once, when it is created or
//! rotated, and never readable again.

use entity::webhook_subscription;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::webhooks::EventType;
use crate::domain::webhooks::targets;
use crate::domain::{Viewer, new_id, now};
use crate::error::AppError;

/// Most subscriptions a platform keeps (each event is written once per
/// matching subscription, inside the change's transaction).
pub const MAX_SUBSCRIPTIONS: u64 = 100;

/// A new subscription.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// Where to POST.
    pub url: String,
    /// Which events.
    pub event_types: Vec<String>,
    /// The signing secret; generated when absent.
    pub secret: Option<String>,
}

/// Changes to a subscription (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionChange {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// Pause (false) or resume (true) deliveries.
    pub active: Option<bool>,
}

/// A subscription with the secret it was just given, shown this once.
#[derive(Debug, Clone)]
pub struct WithSecret {
    /// The subscription.
    pub subscription: webhook_subscription::Model,
    /// The secret.
    pub secret: String,
}

/// FORBIDDEN unless the viewer is an admin (every webhook change is).
pub(super) fn admin(viewer: &Viewer) -> Result<(), AppError> {
    if viewer.is_admin() { Ok(()) } else { Err(AppError::Forbidden("Only admins manage webhooks".into())) }
}

/// Event names, checked and without repeats; an empty list is refused.
fn event_types(field: &str, names: &[String]) -> Result<Value, AppError> {
    if names.is_empty() {
        return Err(AppError::validation(field, "Name at least one event type"));
    }
    let mut seen: Vec<&'static str> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let event = EventType::parse(name.trim()).ok_or_else(|| {
            let known: Vec<_> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            AppError::validation(
                format!("{field}[{i}]"),
                format!("`{name}` is not an event type; the types are {}", known.join(", ")),
            )
        })?;
        if !seen.contains(&event.as_str()) {
            seen.push(event.as_str());
        }
    }
    Ok(json!(seen))
}

/// A secret given by the admin (16 to 255 printable characters), or a new
/// random one: `whsec_` and 64 hex digits (256 bits).
fn secret(given: Option<String>) -> Result<String, AppError> {
    match given {
        Some(s) if (16..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => Ok(s),
        Some(_) => Err(AppError::validation("secret", "A secret has 16 to 255 printable ASCII characters")),
        None => {
            let bytes: Vec<u8> = (0..2).flat_map(|_| *Uuid::new_v4().as_bytes()).collect();
            // Two v4 UUIDs carry 244 random bits; hashing them spreads them
            // over the whole 256-bit secret.
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(&bytes);
            Ok(format!("whsec_{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()))
        }
    }
}

/// What the audit trail keeps of a subscription (never the secret).
fn snapshot(s: &webhook_subscription::Model) -> Value {
    json!({ "url": s.url, "eventTypes": s.event_types, "active": s.active })
}

async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<webhook_subscription::Model, AppError> {
    webhook_subscription::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("WebhookSubscription", id))
}

/// Creates a subscription (admins only).
pub async fn create(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    context: &AuditContext,
    allow_internal: bool,
    input: NewSubscription,
) -> Result<WithSecret, AppError> {
    admin(viewer)?;
    let url = targets::check_url("url", &input.url, allow_internal).await?;
    let event_types = event_types("eventTypes", &input.event_types)?;
    let secret = secret(input.secret)?;
    if webhook_subscription::Entity::find().count(db).await? >= MAX_SUBSCRIPTIONS {
        return Err(AppError::rule(
            "WEBHOOK_SUBSCRIPTION_LIMIT",
            format!("At most {MAX_SUBSCRIPTIONS} webhook subscriptions"),
            json!({ "limit": MAX_SUBSCRIPTIONS }),
        ));
    }
    let now = now();
    let model = webhook_subscription::Model {
        id: new_id(),
        url: url.to_string(),
        event_types,
        secret: secret.clone(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    webhook_subscription::Entity::insert(model.clone().into_active_model()).exec_without_returning(db).await?;
    audit::record(
        db,
        Change {
            action: "webhook_subscription.created",
            entity_type: "WebhookSubscription",
            entity_id: model.id,
            old: None,
            new: Some(snapshot(&model)),
            context,
        },
    )
    .await?;
    Ok(WithSecret { subscription: model, secret })
}

/// Changes a subscription's URL, event types or activity (admins only).
pub async fn update(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    context: &AuditContext,
    allow_internal: bool,
    id: Uuid,
    change: SubscriptionChange,
) -> Result<webhook_subscription::Model, AppError> {
    admin(viewer)?;
    let current = find(db, id).await?;
    let mut next = current.clone();
    if let Some(url) = &change.url {
        next.url = targets::check_url("url", url, allow_internal).await?.to_string();
    }
    if let Some(types) = &change.event_types {
        next.event_types = event_types("eventTypes", types)?;
    }
    if let Some(active) = change.active {
        next.active = active;
    }
    next.updated_at = now();
    webhook_subscription::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        url: Set(next.url.clone()),
        event_types: Set(next.event_types.clone()),
        active: Set(next.active),
        updated_at: Set(next.updated_at),
        ..Default::default()
    }
    .update(db)
    .await?;
    audit::record(
        db,
        Change {
            action: "webhook_subscription.updated",
            entity_type: "WebhookSubscription",
            entity_id: id,
            old: Some(snapshot(&current)),
            new: Some(snapshot(&next)),
            context,
        },
    )
    .await?;
    Ok(next)
}

/// Gives a subscription a new random secret, shown once (admins only).
/// Deliveries already queued are signed with the new secret when they go.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    context: &AuditContext,
    id: Uuid,
) -> Result<WithSecret, AppError> {
    admin(viewer)?;
    let current = find(db, id).await?;
    let secret = secret(None)?;
    let row = webhook_subscription::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        secret: Set(secret.clone()),
        updated_at: Set(now()),
        ..Default::default()
    };
    let subscription = row.update(db).await?;
    audit::record(
        db,
        Change {
            action: "webhook_subscription.secret_rotated",
            entity_type: "WebhookSubscription",
            entity_id: id,
            old: Some(snapshot(&current)),
            new: Some(snapshot(&subscription)),
            context,
        },
    )
    .await?;
    Ok(WithSecret { subscription, secret })
}

/// Deletes a subscription and its deliveries (admins only).
pub async fn delete(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    context: &AuditContext,
    id: Uuid,
) -> Result<webhook_subscription::Model, AppError> {
    admin(viewer)?;
    let current = find(db, id).await?;
    webhook_subscription::Entity::delete_by_id(id).exec(db).await?;
    audit::record(
        db,
        Change {
            action: "webhook_subscription.deleted",
            entity_type: "WebhookSubscription",
            entity_id: id,
            old: Some(snapshot(&current)),
            new: None,
            context,
        },
    )
    .await?;
    Ok(current)
}

/// Every subscription, oldest first (admins only).
pub async fn list(db: &impl ConnectionTrait, viewer: &Viewer) -> Result<Vec<webhook_subscription::Model>, AppError> {
    admin(viewer)?;
    Ok(webhook_subscription::Entity::find()
        .order_by_asc(webhook_subscription::Column::CreatedAt)
        .order_by_asc(webhook_subscription::Column::Id)
        .all(db)
        .await?)
}

/// Subscriptions by id, for the loaders (admins only; others get none).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    ids: &[Uuid],
) -> Result<Vec<webhook_subscription::Model>, AppError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let select = webhook_subscription::Entity::find().filter(webhook_subscription::Column::Id.is_in(ids.to_vec()));
    crate::domain::access::webhooks(viewer).all(db, select).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_checked_and_deduplicated() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            event_types("eventTypes", &names(&["order.created", "order.created", "payment.captured"])).expect("valid"),
            json!(["order.created", "payment.captured"])
        );
        let err = event_types("eventTypes", &names(&["order.created", "order.shipped"])).expect_err("unknown");
        assert!(err.to_string().contains("`order.shipped` is not an event type"), "{err}");
        assert!(event_types("eventTypes", &[]).is_err());
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (secret(None).expect("a"), secret(None).expect("b"));
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64, "{a}");
        assert_ne!(a, b);
        assert!(secret(Some("short".into())).is_err());
        assert!(secret(Some("a".repeat(16))).is_ok());
    }
}
