//! Business rules and transactions. Nothing here knows about GraphQL or
//! HTTP: functions take a connection (or transaction) and a [`Viewer`], and
//! return `Result<T, AppError>`.

pub mod access;
pub mod agents;
pub mod audit;
pub mod idempotency;
pub mod ledger;
pub mod lookup;
pub mod money;
pub mod order_lifecycle;
pub mod order_rules;
pub mod orders;
pub mod pagination;
pub mod payment_lifecycle;
pub mod payments;
pub mod seed;
pub mod shipping;
pub mod shipping_lifecycle;
pub mod users;
pub mod wallets;

use entity::UserRole;
use uuid::Uuid;

/// The authenticated user a request acts for, with the role read from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The user's id.
    pub id: Uuid,
    /// The user's current role.
    pub role: UserRole,
}

impl Viewer {
    /// Whether the viewer operates the platform.
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }
}

/// A new primary key: UUIDv7, time-ordered so B-tree inserts stay local.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
