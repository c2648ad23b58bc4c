//! Wallets and the double-entry ledger behind their balances.
//!
//! - `queries`: wallets and ledger entries the viewer may see.
//! - `ledger`: the legs of every money movement (pure, unit-tested) and
//!   [`post`], the one way a balance changes.
//! - `top_up`: admins bring money in from outside.
//! - `verify`: every invariant of the books, on one snapshot.

mod ledger;
mod queries;
mod top_up;
mod verify;

pub use ledger::{
    CaptureWallets, Captured, Leg, MoneyTx, balance_limit_exceeded, capture_legs, captured, funding_leg,
    insufficient_funds, post, refund_legs,
};
pub use queries::{
    EntryFilter, EntrySort, by_ids, count_entries_of_wallet, count_entries_of_wallets, entries_of_orders,
    entries_of_orders_select, entries_of_payments, entries_of_wallet, entries_of_wallets, entry_sort_key, of_owners,
};
pub use top_up::top_up;
pub use verify::{Invariant, LedgerHealth, Violation, health, verify};
