//! Fetching any entity by kind and id, within what the viewer may see.
//! Soft-deleted rows are not found here.

use entity::{audit_log, delivery_agent, ledger_entry, order, payment, shipping_assignment, user, wallet};
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
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::User,
        Self::Wallet,
        Self::Order,
        Self::Payment,
        Self::LedgerEntry,
        Self::DeliveryAgent,
        Self::ShippingAssignment,
        Self::AuditLog,
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
        }
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
}

/// Finds one entity the viewer may see: one SQL statement, with the access
/// rule in its WHERE clause. Hidden and missing are both NOT_FOUND.
pub async fn find(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    kind: EntityKind,
    id: Uuid,
) -> Result<Found, AppError> {
    let found = match kind {
        EntityKind::User => {
            one(db, access::users(viewer), user::Entity::find_by_id(id).filter(user::Column::DeletedAt.is_null()))
                .await?
                .map(Found::User)
        }
        EntityKind::Wallet => {
            one(db, access::wallets(viewer), wallet::Entity::find_by_id(id)).await?.map(Found::Wallet)
        }
        EntityKind::Order => {
            one(db, access::orders(viewer), order::Entity::find_by_id(id).filter(order::Column::DeletedAt.is_null()))
                .await?
                .map(Found::Order)
        }
        EntityKind::Payment => {
            one(db, access::payments(viewer), payment::Entity::find_by_id(id)).await?.map(Found::Payment)
        }
        EntityKind::LedgerEntry => {
            one(db, access::ledger_entries(viewer), ledger_entry::Entity::find_by_id(id)).await?.map(Found::LedgerEntry)
        }
        EntityKind::DeliveryAgent => one(db, access::delivery_agents(viewer), delivery_agent::Entity::find_by_id(id))
            .await?
            .map(Found::DeliveryAgent),
        EntityKind::ShippingAssignment => {
            one(db, access::shipping_assignments(viewer), shipping_assignment::Entity::find_by_id(id))
                .await?
                .map(Found::ShippingAssignment)
        }
        EntityKind::AuditLog => {
            one(db, access::audit_logs(viewer), audit_log::Entity::find_by_id(id)).await?.map(Found::AuditLog)
        }
    };
    found.ok_or_else(|| AppError::not_found(kind.name(), id))
}

async fn one<E: EntityTrait>(
    db: &impl ConnectionTrait,
    scope: access::Scope,
    select: sea_orm::Select<E>,
) -> Result<Option<E::Model>, AppError> {
    match scope.apply(select) {
        Some(select) => Ok(select.one(db).await?),
        None => Ok(None),
    }
}
