//! Input objects: filters and sort orders of the connections. Each converts
//! itself into the domain's filter, decoding global IDs on the way.

use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};

use crate::domain::lookup::EntityKind;
use crate::domain::pagination::Direction;
use crate::domain::{audit, orders, payments, shipping, users, wallets};
use crate::error::AppError;
use crate::graphql::node::decode_as;
use crate::graphql::types::{
    AgentStatus, AssignmentStatus, LedgerEntryType, OrderStatus, PaymentMethod, PaymentStatus, UserRole,
};

/// Sort direction.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum SortDirection {
    /// Smallest (oldest) first.
    Asc,
    /// Largest (newest) first.
    #[default]
    Desc,
}

impl From<SortDirection> for Direction {
    fn from(d: SortDirection) -> Self {
        match d {
            SortDirection::Asc => Self::Asc,
            SortDirection::Desc => Self::Desc,
        }
    }
}

macro_rules! first_variant {
    ($first:expr $(, $rest:expr)*) => {
        $first
    };
}

/// Defines `<Name>SortField` (indexed fields only) and the `<Name>Sort`
/// input `{ field, direction }`, with the domain sort it maps to and the tag
/// written into cursors.
macro_rules! sort_input {
    ($input:ident, $field_enum:ident, $domain:ty, $doc:literal, { $($variant:ident => $target:expr),+ $(,)? }) => {
        #[doc = concat!("Indexed fields ", $doc, " can be sorted by.")]
        #[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
        pub enum $field_enum {
            $(
                #[doc = concat!("Sort by `", stringify!($variant), "`.")]
                $variant,
            )+
        }

        impl Default for $field_enum {
            fn default() -> Self {
                first_variant!($(Self::$variant),+)
            }
        }

        #[doc = concat!("How ", $doc, " are sorted; default newest first.")]
        #[derive(InputObject, Clone, Copy, Debug, Default)]
        pub struct $input {
            /// The field.
            #[graphql(default)]
            pub field: $field_enum,
            /// The direction.
            #[graphql(default)]
            pub direction: SortDirection,
        }

        impl $input {
            /// The domain sort, and the tag cursors carry.
            pub fn resolve(sort: Option<Self>) -> ($domain, Direction, String) {
                let sort = sort.unwrap_or_default();
                let field = sort.field;
                let domain = match field {
                    $($field_enum::$variant => $target,)+
                };
                (domain, sort.direction.into(), format!("{field:?}:{:?}", sort.direction))
            }
        }
    };
}

sort_input!(OrderSort, OrderSortField, orders::OrderSort, "orders", {
    CreatedAt => orders::OrderSort::CreatedAt,
    TotalAmount => orders::OrderSort::TotalAmount,
    Status => orders::OrderSort::Status,
    OrderNumber => orders::OrderSort::OrderNumber,
});
sort_input!(PaymentSort, PaymentSortField, payments::PaymentSort, "payments", {
    CreatedAt => payments::PaymentSort::CreatedAt,
    Status => payments::PaymentSort::Status,
});
sort_input!(ShippingAssignmentSort, ShippingAssignmentSortField, shipping::AssignmentSort, "shipping assignments", {
    CreatedAt => shipping::AssignmentSort::CreatedAt,
});
sort_input!(DeliveryAgentSort, DeliveryAgentSortField, shipping::AgentSort, "delivery agents", {
    CreatedAt => shipping::AgentSort::CreatedAt,
    AgentCode => shipping::AgentSort::AgentCode,
});
sort_input!(UserSort, UserSortField, users::UserSort, "users", {
    CreatedAt => users::UserSort::CreatedAt,
    Email => users::UserSort::Email,
});
sort_input!(LedgerEntrySort, LedgerEntrySortField, wallets::EntrySort, "ledger entries", {
    CreatedAt => wallets::EntrySort::CreatedAt,
    Amount => wallets::EntrySort::Amount,
});
sort_input!(AuditLogSort, AuditLogSortField, (), "audit log entries", {
    CreatedAt => (),
});

fn id_of(id: Option<&ID>, kind: EntityKind) -> Result<Option<uuid::Uuid>, AppError> {
    id.map(|id| decode_as(id, kind)).transpose()
}

fn list<T: Copy, D: From<T>>(values: &Option<Vec<T>>) -> Option<Vec<D>> {
    values.as_ref().map(|v| v.iter().map(|x| D::from(*x)).collect())
}

/// Which orders to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct OrderFilter {
    /// Any of these statuses.
    pub status: Option<Vec<OrderStatus>>,
    /// Bought by this user.
    pub buyer_id: Option<ID>,
    /// Sold by this user.
    pub seller_id: Option<ID>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Exact order number.
    pub order_number: Option<String>,
}

impl OrderFilter {
    /// The domain filter.
    pub fn into_domain(self, include_deleted: bool) -> Result<orders::OrderFilter, AppError> {
        Ok(orders::OrderFilter {
            status: list(&self.status),
            buyer_id: id_of(self.buyer_id.as_ref(), EntityKind::User)?,
            seller_id: id_of(self.seller_id.as_ref(), EntityKind::User)?,
            created_after: self.created_after,
            created_before: self.created_before,
            order_number: self.order_number,
            include_deleted,
        })
    }
}

/// Which payments to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct PaymentFilter {
    /// Any of these statuses.
    pub status: Option<Vec<PaymentStatus>>,
    /// Any of these methods.
    pub method: Option<Vec<PaymentMethod>>,
    /// Of this order.
    pub order_id: Option<ID>,
}

impl PaymentFilter {
    /// The domain filter.
    pub fn into_domain(self) -> Result<payments::PaymentFilter, AppError> {
        Ok(payments::PaymentFilter {
            status: list(&self.status),
            method: list(&self.method),
            order_id: id_of(self.order_id.as_ref(), EntityKind::Order)?,
        })
    }
}

/// Which shipping assignments to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct ShippingAssignmentFilter {
    /// Carried by this agent.
    pub agent_id: Option<ID>,
    /// Any of these statuses.
    pub status: Option<Vec<AssignmentStatus>>,
    /// Of this order.
    pub order_id: Option<ID>,
}

impl ShippingAssignmentFilter {
    /// The domain filter.
    pub fn into_domain(self) -> Result<shipping::AssignmentFilter, AppError> {
        Ok(shipping::AssignmentFilter {
            agent_id: id_of(self.agent_id.as_ref(), EntityKind::DeliveryAgent)?,
            status: list(&self.status),
            order_id: id_of(self.order_id.as_ref(), EntityKind::Order)?,
        })
    }
}

/// Which delivery agents to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct DeliveryAgentFilter {
    /// Serving this zip code.
    pub zip_code: Option<String>,
    /// Available or not.
    pub is_available: Option<bool>,
    /// ACTIVE or SUSPENDED.
    pub status: Option<AgentStatus>,
}

impl DeliveryAgentFilter {
    /// The domain filter.
    pub fn into_domain(self) -> shipping::AgentFilter {
        shipping::AgentFilter {
            zip_code: self.zip_code,
            is_available: self.is_available,
            status: self.status.map(Into::into),
        }
    }
}

/// Which users to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UserFilter {
    /// Any of these roles.
    pub role: Option<Vec<UserRole>>,
    /// Exact email.
    pub email: Option<String>,
}

impl UserFilter {
    /// The domain filter.
    pub fn into_domain(self, include_deleted: bool) -> users::UserFilter {
        users::UserFilter { role: list(&self.role), email: self.email, include_deleted }
    }
}

/// Which ledger entries to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct LedgerEntryFilter {
    /// Any of these types.
    pub entry_type: Option<Vec<LedgerEntryType>>,
}

impl LedgerEntryFilter {
    /// The domain filter.
    pub fn into_domain(self) -> wallets::EntryFilter {
        wallets::EntryFilter { entry_type: list(&self.entry_type) }
    }
}

/// Which audit log entries to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct AuditLogFilter {
    /// Kind of entity, e.g. `Order`.
    pub entity_type: Option<String>,
    /// The entity (a global ID).
    pub entity_id: Option<ID>,
    /// Who acted.
    pub actor_id: Option<ID>,
    /// What happened, e.g. `order.status_updated`.
    pub action: Option<String>,
    /// At or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Before.
    pub created_before: Option<DateTime<Utc>>,
}

impl AuditLogFilter {
    /// The domain filter.
    pub fn into_domain(self) -> Result<audit::AuditFilter, AppError> {
        let (entity_type, entity_id) = match &self.entity_id {
            Some(id) => {
                let (kind, uuid) = crate::graphql::node::decode(id)?;
                (Some(kind.name().to_owned()), Some(uuid))
            }
            None => (self.entity_type, None),
        };
        Ok(audit::AuditFilter {
            entity_type,
            entity_id,
            actor_id: id_of(self.actor_id.as_ref(), EntityKind::User)?,
            action: self.action,
            created_after: self.created_after,
            created_before: self.created_before,
        })
    }
}
