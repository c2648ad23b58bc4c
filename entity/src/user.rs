//! `users`: everyone who signs in, whatever the role.

use sea_orm::entity::prelude::*;

use crate::UserRole;

/// A user row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Primary key (UUIDv7, so inserts stay index-local).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Sign-in identity, unique.
    #[sea_orm(unique)]
    pub email: String,
    /// Name shown to other users.
    pub display_name: String,
    /// Role; authorization reads it from here, not from the token.
    #[serde(deserialize_with = "crate::stored::value")]
    pub role: UserRole,
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
