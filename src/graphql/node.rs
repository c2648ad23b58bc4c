//! Global object identification: opaque, globally unique IDs and the `Node`
//! interface.
//!
//! An ID is `base64url("<TypeName>:<uuid>")`. Clients must treat it as
//! opaque; the type prefix lets `node(id:)` route to the right table and makes
//! an `Order` id useless where a `Payment` id is expected.

use std::collections::HashMap;

use async_graphql::{Context, ID, Interface, Object};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::lookup::{self, EntityKind, Found};
use crate::error::AppError;
use crate::graphql::audit::AuditLog;
use crate::graphql::context::ContextExt;
use crate::graphql::error::GqlResult;
use crate::graphql::orders::Order;
use crate::graphql::payments::Payment;
use crate::graphql::shipping::{DeliveryAgent, ShippingAssignment};
use crate::graphql::users::User;
use crate::graphql::wallets::{LedgerEntry, Wallet};
use crate::graphql::webhooks::{WebhookDelivery, WebhookSubscription};

/// Most IDs one `nodes` call takes.
const MAX_NODES: usize = 100;

/// Encodes a global ID.
pub fn encode(kind: EntityKind, id: Uuid) -> ID {
    ID(kind.global_id(id))
}

/// Decodes any global ID passed as the argument at `field` (an argument
/// path such as `id` or `input.orderId`, named in the error).
pub fn decode(id: &ID, field: &str) -> Result<(EntityKind, Uuid), AppError> {
    let invalid = || AppError::validation(field, format!("`{}` is not a valid ID", id.as_str()));
    let bytes = URL_SAFE_NO_PAD.decode(id.as_str()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (kind, uuid) = text.split_once(':').ok_or_else(invalid)?;
    let kind = EntityKind::from_name(kind).ok_or_else(invalid)?;
    let uuid = Uuid::parse_str(uuid).map_err(|_| invalid())?;
    Ok((kind, uuid))
}

/// Decodes a global ID that must be of `expected` kind, passed at `field`.
pub fn decode_as(id: &ID, expected: EntityKind, field: &str) -> Result<Uuid, AppError> {
    match decode(id, field)? {
        (kind, uuid) if kind == expected => Ok(uuid),
        (kind, _) => Err(AppError::validation(
            field,
            format!("`{}` is {} ID, not {} ID", id.as_str(), with_article(kind.name()), with_article(expected.name())),
        )),
    }
}

/// Decodes an optional global ID that must be of `kind`, passed at `field`.
pub fn decode_opt(id: Option<&ID>, kind: EntityKind, field: &str) -> Result<Option<Uuid>, AppError> {
    id.map(|id| decode_as(id, kind, field)).transpose()
}

/// "an Order", "a Payment", "a User" (every type name starting with U sounds "you").
fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['A', 'E', 'I', 'O']) { "an" } else { "a" };
    format!("{article} {noun}")
}

/// Fetches one object of `kind` by global ID, within the viewer's scope.
pub async fn find<T>(ctx: &Context<'_>, id: &ID, kind: EntityKind, pick: fn(Found) -> Option<T>) -> GqlResult<T> {
    let uuid = decode_as(id, kind, "id")?;
    let found = lookup::find(ctx.db(), ctx.viewer(), kind, uuid).await?;
    Ok(pick(found).ok_or_else(|| AppError::not_found(kind.name(), uuid))?)
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
    /// A webhook subscription.
    WebhookSubscription(WebhookSubscription),
    /// A webhook delivery.
    WebhookDelivery(WebhookDelivery),
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
            Found::WebhookSubscription(m) => Self::WebhookSubscription(WebhookSubscription(m)),
            Found::WebhookDelivery(m) => Self::WebhookDelivery(WebhookDelivery(m)),
        }
    }
}

/// Global object identification.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global ID. Objects the viewer may not see
    /// are NOT_FOUND, exactly like objects that do not exist.
    async fn node(&self, ctx: &Context<'_>, #[graphql(desc = "The object's global ID.")] id: ID) -> GqlResult<Node> {
        let (kind, uuid) = decode(&id, "id")?;
        Ok(lookup::find(ctx.db(), ctx.viewer(), kind, uuid).await?.into())
    }
    /// Fetches up to 100 objects by global ID, in order (one statement per
    /// kind); an entry is null, with an error, when it cannot be fetched.
    /// Costs its selection once per ID in the complexity limit.
    #[graphql(complexity = "ids.len().max(1) * child_complexity")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Up to 100 global IDs.")] ids: Vec<ID>,
    ) -> GqlResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::validation("ids", format!("At most {MAX_NODES} ids per call")).into());
        }
        let decoded: Vec<Result<(EntityKind, Uuid), AppError>> =
            ids.iter().enumerate().map(|(i, id)| decode(id, &format!("ids[{i}]"))).collect();
        let mut found = HashMap::new();
        for kind in EntityKind::ALL {
            let wanted: Vec<Uuid> =
                decoded.iter().filter_map(|d| d.as_ref().ok().filter(|(k, _)| *k == kind).map(|(_, id)| *id)).collect();
            if !wanted.is_empty() {
                let rows = lookup::find_many(ctx.db(), ctx.viewer(), kind, &wanted).await?;
                found.extend(rows.into_iter().map(|f| (f.key(), f)));
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for (i, item) in decoded.into_iter().enumerate() {
            let result = item.and_then(|(kind, id)| {
                found.get(&(kind, id)).cloned().ok_or_else(|| AppError::not_found(kind.name(), id))
            });
            match result {
                Ok(f) => out.push(Some(f.into())),
                Err(e) => {
                    // The error's path is the entry's: `["nodes", 2]`.
                    let error = async_graphql::ErrorExtensions::extend(&e).into_server_error(ctx.item.pos);
                    let mut error = ctx.set_error_path(error);
                    error.path.push(async_graphql::PathSegment::Index(i));
                    ctx.add_error(error);
                    out.push(None);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_tampering() {
        let uuid = Uuid::now_v7();
        let id = encode(EntityKind::Order, uuid);
        assert_eq!(decode(&id, "id").expect("decodes"), (EntityKind::Order, uuid));
        assert_eq!(decode_as(&id, EntityKind::Order, "id").expect("order"), uuid);
        let wrong = decode_as(&id, EntityKind::Payment, "input.paymentId").expect_err("not a payment");
        assert!(matches!(&wrong, AppError::Validation { field: Some(f), .. } if f == "input.paymentId"), "{wrong:?}");
        assert!(wrong.to_string().ends_with("is an Order ID, not a Payment ID"), "{wrong}");
        assert!(decode(&ID("garbage!".into()), "id").is_err());
        assert!(decode(&ID(URL_SAFE_NO_PAD.encode("Nope:123")), "id").is_err());
    }
}
