//! Global object identification: opaque, globally unique IDs and the `Node`
//! interface.
//!
//! An ID is `base64url("<TypeName>:<uuid>")`. Clients must treat it as
//! opaque; the type prefix lets `node(id:)` route to the right table and makes
//! an `Order` id useless where a `Payment` id is expected.

use async_graphql::{ID, Interface};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::lookup::{EntityKind, Found};
use crate::error::AppError;
use crate::graphql::types::{AuditLog, DeliveryAgent, LedgerEntry, Order, Payment, ShippingAssignment, User, Wallet};

/// Encodes a global ID.
pub fn encode(kind: EntityKind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.name(), id)))
}

/// Decodes any global ID.
pub fn decode(id: &ID) -> Result<(EntityKind, Uuid), AppError> {
    let invalid = || AppError::validation("id", format!("`{}` is not a valid ID", id.as_str()));
    let bytes = URL_SAFE_NO_PAD.decode(id.as_str()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (kind, uuid) = text.split_once(':').ok_or_else(invalid)?;
    let kind = EntityKind::from_name(kind).ok_or_else(invalid)?;
    let uuid = Uuid::parse_str(uuid).map_err(|_| invalid())?;
    Ok((kind, uuid))
}

/// Decodes a global ID that must be of `expected` kind.
pub fn decode_as(id: &ID, expected: EntityKind) -> Result<Uuid, AppError> {
    match decode(id)? {
        (kind, uuid) if kind == expected => Ok(uuid),
        _ => Err(AppError::validation("id", format!("`{}` is not a {} ID", id.as_str(), expected.name()))),
    }
}

/// An object with a global ID, fetchable through `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque, globally unique identifier."))]
pub enum Node {
    /// A user.
    User(User),
    /// A wallet.
    Wallet(Wallet),
    /// An order.
    Order(Order),
    /// A payment.
    Payment(Payment),
    /// A ledger entry.
    LedgerEntry(LedgerEntry),
    /// A delivery agent.
    DeliveryAgent(DeliveryAgent),
    /// A shipping assignment.
    ShippingAssignment(ShippingAssignment),
    /// An audit log entry.
    AuditLog(AuditLog),
}

impl From<Found> for Node {
    fn from(found: Found) -> Self {
        match found {
            Found::User(m) => Self::User(User(m)),
            Found::Wallet(m) => Self::Wallet(Wallet(m)),
            Found::Order(m) => Self::Order(Order(m)),
            Found::Payment(m) => Self::Payment(Payment(m)),
            Found::LedgerEntry(m) => Self::LedgerEntry(LedgerEntry(m)),
            Found::DeliveryAgent(m) => Self::DeliveryAgent(DeliveryAgent(m)),
            Found::ShippingAssignment(m) => Self::ShippingAssignment(ShippingAssignment(m)),
            Found::AuditLog(m) => Self::AuditLog(AuditLog(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_tampering() {
        let uuid = Uuid::now_v7();
        let id = encode(EntityKind::Order, uuid);
        assert_eq!(decode(&id).expect("decodes"), (EntityKind::Order, uuid));
        assert_eq!(decode_as(&id, EntityKind::Order).expect("order"), uuid);
        assert!(decode_as(&id, EntityKind::Payment).is_err());
        assert!(decode(&ID("garbage!".into())).is_err());
        assert!(decode(&ID(URL_SAFE_NO_PAD.encode("Nope:123"))).is_err());
    }
}
