//! Fetching any entity by kind and id, within what the viewer may see.
//! Soft-deleted rows are not found here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::{
    audit_log, delivery_agent, ledger_entry, order, payment, shipping_assignment, user, wallet, webhook_delivery,
    webhook_subscription,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::{Viewer, access};
use crate::error::AppError;

/// Every kind of entity that has a global id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// `users`
    User,
    /// `wallets`
    Wallet,
    /// `orders`
    Order,
    /// `payments`
    Payment,
    /// `ledger_entries`
    LedgerEntry,
    /// `delivery_agents`
    DeliveryAgent,
    /// `shipping_assignments`
    ShippingAssignment,
    /// `audit_logs`
    AuditLog,
    /// `webhook_subscriptions`
    WebhookSubscription,
    /// `webhook_deliveries`
    WebhookDelivery,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [Self; 10] = [
        Self::User,
        Self::Wallet,
        Self::Order,
        Self::Payment,
        Self::LedgerEntry,
        Self::DeliveryAgent,
        Self::ShippingAssignment,
        Self::AuditLog,
        Self::WebhookSubscription,
        Self::WebhookDelivery,
    ];

    /// The type name clients see.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Wallet => "Wallet",
            Self::Order => "Order",
            Self::Payment => "Payment",
            Self::LedgerEntry => "LedgerEntry",
            Self::DeliveryAgent => "DeliveryAgent",
            Self::ShippingAssignment => "ShippingAssignment",
            Self::AuditLog => "AuditLog",
            Self::WebhookSubscription => "WebhookSubscription",
            Self::WebhookDelivery => "WebhookDelivery",
        }
    }

    /// The global ID clients see for row `id` of this kind: base64url of
    /// `Kind:uuid` (the API decodes it; webhook payloads carry it).
    pub fn global_id(self, id: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.name(), id))
    }

    /// The kind with this type name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One entity of any kind.
#[derive(Debug, Clone)]
pub enum Found {
    /// A user.
    User(user::Model),
    /// A wallet.
    Wallet(wallet::Model),
    /// An order.
    Order(order::Model),
    /// A payment.
    Payment(payment::Model),
    /// A ledger entry.
    LedgerEntry(ledger_entry::Model),
    /// A delivery agent.
    DeliveryAgent(delivery_agent::Model),
    /// A shipping assignment.
    ShippingAssignment(shipping_assignment::Model),
    /// An audit log entry.
    AuditLog(audit_log::Model),
    /// A webhook subscription.
    WebhookSubscription(webhook_subscription::Model),
    /// A webhook delivery.
    WebhookDelivery(webhook_delivery::Model),
}

/// Finds one entity the viewer may see: one SQL statement, with the access
/// rule in its WHERE clause. Hidden and missing are both NOT_FOUND.
pub async fn find(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    kind: EntityKind,
    id: Uuid,
) -> Result<Found, AppError> {
    find_many(db, viewer, kind, &[id]).await?.pop().ok_or_else(|| AppError::not_found(kind.name(), id))
}

/// The entities of one kind among `ids` that the viewer may see, in one
/// statement (in no particular order; hidden and missing ids are absent).
/// Soft-deleted users and orders are never found here.
pub async fn find_many(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    kind: EntityKind,
    ids: &[Uuid],
) -> Result<Vec<Found>, AppError> {
    let ids = ids.iter().copied();
    Ok(match kind {
        EntityKind::User => {
            let select =
                user::Entity::find().filter(user::Column::Id.is_in(ids)).filter(user::Column::DeletedAt.is_null());
            access::users(viewer).all(db, select).await?.into_iter().map(Found::User).collect()
        }
        EntityKind::Wallet => {
            let select = wallet::Entity::find().filter(wallet::Column::Id.is_in(ids));
            access::wallets(viewer).all(db, select).await?.into_iter().map(Found::Wallet).collect()
        }
        EntityKind::Order => {
            let select =
                order::Entity::find().filter(order::Column::Id.is_in(ids)).filter(order::Column::DeletedAt.is_null());
            access::orders(viewer).all(db, select).await?.into_iter().map(Found::Order).collect()
        }
        EntityKind::Payment => {
            let select = payment::Entity::find().filter(payment::Column::Id.is_in(ids));
            access::payments(viewer).all(db, select).await?.into_iter().map(Found::Payment).collect()
        }
        EntityKind::LedgerEntry => {
            let select = ledger_entry::Entity::find().filter(ledger_entry::Column::Id.is_in(ids));
            access::ledger_entries(viewer).all(db, select).await?.into_iter().map(Found::LedgerEntry).collect()
        }
        EntityKind::DeliveryAgent => {
            let select = delivery_agent::Entity::find().filter(delivery_agent::Column::Id.is_in(ids));
            access::delivery_agents(viewer).all(db, select).await?.into_iter().map(Found::DeliveryAgent).collect()
        }
        EntityKind::ShippingAssignment => {
            let select = shipping_assignment::Entity::find().filter(shipping_assignment::Column::Id.is_in(ids));
            let rows = access::shipping_assignments(viewer).all(db, select).await?;
            rows.into_iter().map(Found::ShippingAssignment).collect()
        }
        EntityKind::AuditLog => {
            let select = audit_log::Entity::find().filter(audit_log::Column::Id.is_in(ids));
            access::audit_logs(viewer).all(db, select).await?.into_iter().map(Found::AuditLog).collect()
        }
        EntityKind::WebhookSubscription => {
            let select = webhook_subscription::Entity::find().filter(webhook_subscription::Column::Id.is_in(ids));
            access::webhooks(viewer).all(db, select).await?.into_iter().map(Found::WebhookSubscription).collect()
        }
        EntityKind::WebhookDelivery => {
            let select = webhook_delivery::Entity::find().filter(webhook_delivery::Column::Id.is_in(ids));
            access::webhooks(viewer).all(db, select).await?.into_iter().map(Found::WebhookDelivery).collect()
        }
    })
}

impl Found {
    /// The kind and id of the entity.
    pub fn key(&self) -> (EntityKind, Uuid) {
        match self {
            Self::User(m) => (EntityKind::User, m.id),
            Self::Wallet(m) => (EntityKind::Wallet, m.id),
            Self::Order(m) => (EntityKind::Order, m.id),
            Self::Payment(m) => (EntityKind::Payment, m.id),
            Self::LedgerEntry(m) => (EntityKind::LedgerEntry, m.id),
            Self::DeliveryAgent(m) => (EntityKind::DeliveryAgent, m.id),
            Self::ShippingAssignment(m) => (EntityKind::ShippingAssignment, m.id),
            Self::AuditLog(m) => (EntityKind::AuditLog, m.id),
            Self::WebhookSubscription(m) => (EntityKind::WebhookSubscription, m.id),
            Self::WebhookDelivery(m) => (EntityKind::WebhookDelivery, m.id),
        }
    }
}
