//! `delivery_agent_zip_codes`: which zip codes an agent serves.
//!
//! A join table rather than an array column so that lookup by zip code uses
//! a plain B-tree index on PostgreSQL and SQLite alike.

use sea_orm::entity::prelude::*;

/// One (agent, zip code) pair.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_agent_zip_codes")]
pub struct Model {
    /// The agent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: Uuid,
    /// A zip code it serves.
    #[sea_orm(primary_key, auto_increment = false)]
    pub zip_code: String,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
