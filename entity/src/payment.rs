//! `payments`: attempts to pay for an order.

use sea_orm::entity::prelude::*;

use crate::{PaymentMethod, PaymentStatus};

/// A payment row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The order paid for.
    pub order_id: Uuid,
    /// Amount in minor units; equals the order total.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// How it is paid.
    #[serde(deserialize_with = "crate::stored::value")]
    pub method: PaymentMethod,
    /// Lifecycle state.
    #[serde(deserialize_with = "crate::stored::value")]
    pub status: PaymentStatus,
    /// Sum of refunds so far, in minor units.
    pub refunded_minor: i64,
    /// When money moved.
    pub captured_at: Option<DateTimeUtc>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// The card processor's charge id, once a processor was asked.
    pub processor_ref: Option<String>,
    /// The processor's answer: PENDING, APPROVED, DECLINED or REFUNDED.
    pub processor_status: Option<String>,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
