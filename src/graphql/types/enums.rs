//! API enums, mirrored from the entity enums with generated conversions.

use async_graphql::Enum;

/// What a user may do.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::UserRole")]
pub enum UserRole {
    /// Places and pays for orders.
    Buyer,
    /// Receives orders.
    Seller,
    /// Delivers orders.
    Agent,
    /// Operates the platform.
    Admin,
}

/// Owner kind of a wallet.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::WalletKind")]
pub enum WalletKind {
    /// A user's wallet.
    User,
    /// The platform's fee wallet.
    Platform,
}

/// Order lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::OrderStatus")]
pub enum OrderStatus {
    /// Waiting for the seller.
    Pending,
    /// Accepted by the seller.
    Confirmed,
    /// With an agent.
    Shipping,
    /// Handed to the buyer.
    Delivered,
    /// Cancelled before shipping.
    Cancelled,
}

/// How a payment is made.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::PaymentMethod")]
pub enum PaymentMethod {
    /// From the buyer's wallet.
    Wallet,
    /// By card.
    Card,
    /// Cash collected at delivery.
    CashOnDelivery,
}

/// Payment lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::PaymentStatus")]
pub enum PaymentStatus {
    /// No money moved yet.
    Initiated,
    /// Money moved.
    Captured,
    /// Capture refused.
    Failed,
    /// Fully refunded.
    Refunded,
    /// Partly refunded.
    PartiallyRefunded,
}

/// Why a ledger entry exists.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::LedgerEntryType")]
pub enum LedgerEntryType {
    /// Money in from outside.
    TopUp,
    /// Buyer's leg of a capture.
    PaymentDebit,
    /// Seller's leg of a capture.
    PaymentCredit,
    /// Platform's fee leg of a capture.
    PlatformFee,
    /// A refund reversal leg.
    Refund,
}

/// Whether an agent may take work.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::AgentStatus")]
pub enum AgentStatus {
    /// May accept assignments.
    Active,
    /// May not accept assignments.
    Suspended,
}

/// Shipping assignment lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::AssignmentStatus")]
pub enum AssignmentStatus {
    /// Offered to an agent or open.
    Offered,
    /// Taken by an agent.
    Accepted,
    /// Parcel collected.
    PickedUp,
    /// On the way.
    InTransit,
    /// Delivered.
    Delivered,
    /// Could not be delivered.
    Failed,
    /// Withdrawn.
    Cancelled,
}

/// An invariant of the books (see `Query.ledgerHealth`).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::domain::ledger::Invariant")]
pub enum LedgerInvariant {
    /// A payment's entries do not sum to zero.
    PaymentUnbalanced,
    /// A wallet's stored balance differs from the sum of its entries.
    WalletBalanceDrift,
    /// All balances of a currency differ from all money brought in.
    BooksUnbalanced,
    /// A user wallet is below zero.
    NegativeBalance,
    /// A payment's status or refunded amount disagrees with its entries.
    PaymentLedgerMismatch,
}
