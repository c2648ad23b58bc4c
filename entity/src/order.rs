//! `orders`: what a buyer bought from a seller.

use sea_orm::entity::prelude::*;

use crate::OrderStatus;

/// An order row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Human-readable number, e.g. `ORD-20261121-7K3QX9`; unique.
    #[sea_orm(unique)]
    pub order_number: String,
    /// Who pays.
    pub buyer_id: Uuid,
    /// Who sells.
    pub seller_id: Uuid,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Sum of the items in minor units, computed by the server.
    pub total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Where it goes; matched against the zip codes agents serve.
    pub delivery_zip_code: String,
    /// Optimistic-lock counter, bumped on every change.
    pub version: i32,
    /// Why it was cancelled, when it was.
    pub cancel_reason: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTimeUtc>,
    /// Who soft-deleted it.
    pub deleted_by: Option<Uuid>,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
