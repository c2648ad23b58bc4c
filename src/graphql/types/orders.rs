//! `Order`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::lookup::EntityKind;
use crate::domain::money::minor_to_decimal;
use crate::graphql::node::encode;
use crate::graphql::types::OrderStatus;

/// What a buyer bought from a seller.
pub struct Order(pub entity::order::Model);

#[Object]
impl Order {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::Order, self.0.id)
    }
    /// Human-readable number, unique.
    async fn order_number(&self) -> &str {
        &self.0.order_number
    }
    /// Lifecycle state.
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    /// Sum of the items, exact, in `currency`.
    async fn total(&self) -> Decimal {
        minor_to_decimal(self.0.total_minor, &self.0.currency)
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Delivery zip code.
    async fn delivery_zip_code(&self) -> &str {
        &self.0.delivery_zip_code
    }
    /// Optimistic-lock version; pass it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Why it was cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// When it was placed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When it was soft-deleted (admins only see deleted orders).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
}
