//! Output types. Each wraps an entity row and chooses what the API shows;
//! money is a `Decimal` (serialized as a string) with its currency beside it.

mod audit;
mod enums;
mod orders;
mod payments;
mod shipping;
mod users;

pub use audit::AuditLog;
pub use enums::*;
pub use orders::{Order, OrderItem};
pub use payments::{LedgerEntry, LedgerHealth, LedgerViolation, Payment};
pub use shipping::{DeliveryAgent, ShippingAssignment};
pub use users::{User, Wallet};
