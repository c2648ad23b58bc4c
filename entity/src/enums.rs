//! Closed sets of values stored as short upper-case strings, so rows stay
//! readable in `psql`/`sqlite3` and both backends store them the same way.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a user may do; read from the database (`courier::domain::viewers`), never from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum UserRole {
    /// Places and pays for orders.
    #[sea_orm(string_value = "BUYER")]
    Buyer,
    /// Receives orders and is paid for them.
    #[sea_orm(string_value = "SELLER")]
    Seller,
    /// Delivers orders.
    #[sea_orm(string_value = "AGENT")]
    Agent,
    /// Operates the platform.
    #[sea_orm(string_value = "ADMIN")]
    Admin,
}

/// Whether a wallet belongs to a user or is the single platform wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WalletKind {
    /// Owned by exactly one user.
    #[sea_orm(string_value = "USER")]
    User,
    /// The platform's fee wallet; at most one exists (enforced by a partial unique index).
    #[sea_orm(string_value = "PLATFORM")]
    Platform,
}

/// Why a ledger entry exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum LedgerEntryType {
    /// Money entering the system from outside (an external-funds source).
    #[sea_orm(string_value = "TOP_UP")]
    TopUp,
    /// The buyer's leg of a captured payment (negative).
    #[sea_orm(string_value = "PAYMENT_DEBIT")]
    PaymentDebit,
    /// The seller's leg of a captured payment (positive, amount minus fee).
    #[sea_orm(string_value = "PAYMENT_CREDIT")]
    PaymentCredit,
    /// The platform's fee leg of a captured payment (positive).
    #[sea_orm(string_value = "PLATFORM_FEE")]
    PlatformFee,
    /// A reversal leg of a refund (either sign).
    #[sea_orm(string_value = "REFUND")]
    Refund,
}

/// Order lifecycle; transitions are enforced in `courier::domain::orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum OrderStatus {
    /// Placed by the buyer, waiting for the seller.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Accepted by the seller.
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    /// Picked up by an agent.
    #[sea_orm(string_value = "SHIPPING")]
    Shipping,
    /// Handed to the buyer.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Cancelled before shipping.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// How a payment is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PaymentMethod {
    /// From the buyer's wallet.
    #[sea_orm(string_value = "WALLET")]
    Wallet,
    /// By card, captured by the card processor.
    #[sea_orm(string_value = "CARD")]
    Card,
    /// Collected by the agent at delivery.
    #[sea_orm(string_value = "CASH_ON_DELIVERY")]
    CashOnDelivery,
}

/// Payment lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PaymentStatus {
    /// Created, no money moved yet.
    #[sea_orm(string_value = "INITIATED")]
    Initiated,
    /// Money moved.
    #[sea_orm(string_value = "CAPTURED")]
    Captured,
    /// Capture was refused.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Everything captured was returned.
    #[sea_orm(string_value = "REFUNDED")]
    Refunded,
    /// Part of what was captured was returned.
    #[sea_orm(string_value = "PARTIALLY_REFUNDED")]
    PartiallyRefunded,
}

/// Whether an agent may take work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AgentStatus {
    /// May accept assignments.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// May not accept assignments.
    #[sea_orm(string_value = "SUSPENDED")]
    Suspended,
}

/// Shipping assignment lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AssignmentStatus {
    /// Offered to one agent, or open to every agent serving the zip code.
    #[sea_orm(string_value = "OFFERED")]
    Offered,
    /// Taken by an agent.
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    /// The agent has the parcel.
    #[sea_orm(string_value = "PICKED_UP")]
    PickedUp,
    /// On the way to the buyer.
    #[sea_orm(string_value = "IN_TRANSIT")]
    InTransit,
    /// Handed to the buyer.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Could not be delivered; the order goes back to CONFIRMED.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Withdrawn.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Outbox state of one webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WebhookDeliveryStatus {
    /// Waiting for its first or next attempt.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The receiver answered 2xx.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Retries exhausted.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}
