//! `Payment` and `LedgerEntry`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::lookup::EntityKind;
use crate::domain::money::minor_to_decimal;
use crate::graphql::node::encode;
use crate::graphql::types::{LedgerEntryType, PaymentMethod, PaymentStatus};

/// An attempt to pay for an order.
pub struct Payment(pub entity::payment::Model);

#[Object]
impl Payment {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::Payment, self.0.id)
    }
    /// Amount, exact, in `currency`.
    async fn amount(&self) -> Decimal {
        minor_to_decimal(self.0.amount_minor, &self.0.currency)
    }
    /// Refunded so far, exact, in `currency`.
    async fn refunded_amount(&self) -> Decimal {
        minor_to_decimal(self.0.refunded_minor, &self.0.currency)
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// How it is paid.
    async fn method(&self) -> PaymentMethod {
        self.0.method.into()
    }
    /// Lifecycle state.
    async fn status(&self) -> PaymentStatus {
        self.0.status.into()
    }
    /// When money moved.
    async fn captured_at(&self) -> Option<DateTime<Utc>> {
        self.0.captured_at
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One signed leg of a money movement. Entries are never changed.
pub struct LedgerEntry(pub entity::ledger_entry::Model);

#[Object]
impl LedgerEntry {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::LedgerEntry, self.0.id)
    }
    /// Signed amount, exact, in `currency`.
    async fn amount(&self) -> Decimal {
        minor_to_decimal(self.0.amount_minor, &self.0.currency)
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Why it exists.
    async fn entry_type(&self) -> LedgerEntryType {
        self.0.entry_type.into()
    }
    /// The key that makes it unique.
    async fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
