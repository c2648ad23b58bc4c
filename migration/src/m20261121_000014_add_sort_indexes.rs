//! Indexes behind the sortable fields of the API's connections, so every
//! allowed `orderBy` is an index scan.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

/// Adds the sort indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000014_add_sort_indexes"
    }
}

/// (index name, table, columns)
const INDEXES: &[(&str, &str, &[&str])] = &[
    ("idx_orders_total_minor", "orders", &["total_minor", "id"]),
    ("idx_payments_created_at", "payments", &["created_at", "id"]),
    ("idx_shipping_assignments_created_at", "shipping_assignments", &["created_at", "id"]),
    ("idx_delivery_agents_created_at", "delivery_agents", &["created_at", "id"]),
    ("idx_users_created_at", "users", &["created_at", "id"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut stmt = index(name, Alias::new(*table));
            for column in *columns {
                stmt.col(Alias::new(*column));
            }
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager.drop_index(Index::drop().name(*name).table(Alias::new(*table)).to_owned()).await?;
        }
        Ok(())
    }
}
