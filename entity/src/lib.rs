//! SeaORM entities for Courier.
//!
//! These are plain table rows. They carry no GraphQL derives on purpose: the
//! API is shaped in `courier::graphql`, so a column can change without
//! changing the public schema and vice versa. Money is stored as integer minor
//! units (`*_minor`, BIGINT) on every backend; see `courier::domain::money`.

pub mod audit_log;
pub mod delivery_agent;
pub mod delivery_agent_zip_code;
pub mod enums;
pub mod idempotency_key;
pub mod ledger_entry;
pub mod order;
pub mod order_item;
pub mod payment;
pub mod shipping_assignment;
pub mod stored;
pub mod user;
pub mod wallet;
pub mod webhook_delivery;
pub mod webhook_subscription;

pub use enums::*;
