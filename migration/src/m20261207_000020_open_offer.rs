//! Whether an assignment was offered to every agent serving its zip code
//! (`open_offer`), kept after an agent takes it: an agent that may have seen
//! an open offer is told what became of it, one that was never offered it is
//! told it does not exist. Rows from before are open offers while they have
//! no agent; a taken one counts as offered by name, the answer that tells
//! least.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `shipping_assignments.open_offer`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000020_open_offer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ShippingAssignments::Table)
                    .add_column(boolean(ShippingAssignments::OpenOffer).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(ShippingAssignments::Table)
                    .value(ShippingAssignments::OpenOffer, true)
                    .and_where(Expr::col(ShippingAssignments::AgentId).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(ShippingAssignments::Table).drop_column(ShippingAssignments::OpenOffer).to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ShippingAssignments {
    Table,
    AgentId,
    OpenOffer,
}
