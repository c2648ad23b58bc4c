//! `Payment` and `LedgerEntry`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::ledger;
use crate::domain::lookup::EntityKind;
use crate::domain::money::minor_to_decimal;
use crate::error::GqlResult;
use crate::graphql::context::ContextExt;
use crate::graphql::node::encode;
use crate::graphql::types::{LedgerEntryType, LedgerInvariant, Order, PaymentMethod, PaymentStatus, Wallet};

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
    /// The order paid for (null when it was deleted).
    async fn order(&self, ctx: &Context<'_>) -> GqlResult<Option<Order>> {
        Ok(ctx.loaders().order.load_one(self.0.order_id).await?.map(Order))
    }
    /// The ledger legs of this payment that the viewer may see (admins: all;
    /// others: the legs of their own wallet).
    async fn ledger_entries(&self, ctx: &Context<'_>) -> GqlResult<Vec<LedgerEntry>> {
        let entries = ctx.loaders().payment_entries.load_one(self.0.id).await?.unwrap_or_default();
        Ok(entries.into_iter().map(LedgerEntry).collect())
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
    /// The wallet moved, when the viewer may see it.
    async fn wallet(&self, ctx: &Context<'_>) -> GqlResult<Option<Wallet>> {
        Ok(ctx.loaders().wallet.load_one(self.0.wallet_id).await?.map(Wallet))
    }
    /// The payment it belongs to, when there is one the viewer may see.
    async fn payment(&self, ctx: &Context<'_>) -> GqlResult<Option<Payment>> {
        let Some(id) = self.0.payment_id else { return Ok(None) };
        Ok(ctx.loaders().payment.load_one(id).await?.map(Payment))
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The result of checking every ledger invariant (see `Query.ledgerHealth`).
pub struct LedgerHealth(pub ledger::LedgerHealth);

#[Object]
impl LedgerHealth {
    /// No invariant is broken.
    async fn healthy(&self) -> bool {
        self.0.healthy
    }
    /// When the check ran.
    async fn checked_at(&self) -> DateTime<Utc> {
        self.0.checked_at
    }
    /// Wallets checked.
    async fn wallets_checked(&self) -> u64 {
        self.0.wallets_checked
    }
    /// Payments checked.
    async fn payments_checked(&self) -> u64 {
        self.0.payments_checked
    }
    /// Ledger entries checked.
    async fn entries_checked(&self) -> u64 {
        self.0.entries_checked
    }
    /// Every broken invariant; empty when healthy.
    async fn violations(&self) -> Vec<LedgerViolation> {
        self.0.violations.iter().cloned().map(LedgerViolation).collect()
    }
}

/// One broken ledger invariant.
pub struct LedgerViolation(pub ledger::Violation);

#[Object]
impl LedgerViolation {
    /// Which invariant.
    async fn invariant(&self) -> LedgerInvariant {
        self.0.invariant.into()
    }
    /// The payment or wallet id (a UUID, not a global ID), or the currency.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// ISO 4217 code of the amounts.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// What the books say it should be.
    async fn expected(&self) -> Decimal {
        minor_to_decimal(self.0.expected_minor, &self.0.currency)
    }
    /// What it is.
    async fn actual(&self) -> Decimal {
        minor_to_decimal(self.0.actual_minor, &self.0.currency)
    }
    /// For humans.
    async fn detail(&self) -> &str {
        &self.0.detail
    }
}
