//! `shipping_assignments`, with the partial index behind agent SLA metrics.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{enum_col, fk, id, index, ts, ts_null};
use crate::m20261121_000003_create_orders::Orders;
use crate::m20261121_000007_create_delivery_agents::DeliveryAgents;

/// Creates `shipping_assignments` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000009_create_shipping_assignments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ShippingAssignments as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(id(S::Id))
                    .col(uuid(S::OrderId))
                    .col(uuid_null(S::AgentId))
                    .col(enum_col(
                        S::Status,
                        &["OFFERED", "ACCEPTED", "PICKED_UP", "IN_TRANSIT", "DELIVERED", "FAILED", "CANCELLED"],
                    ))
                    .col(ts_null(S::EstimatedDeliveryTime))
                    .col(ts_null(S::AcceptedAt))
                    .col(ts_null(S::PickedUpAt))
                    .col(ts_null(S::DeliveredAt))
                    .col(text_null(S::FailureReason))
                    .col(integer(S::Version).default(0))
                    .col(ts(S::CreatedAt))
                    .col(ts(S::UpdatedAt))
                    .foreign_key(&mut fk(S::Table, S::OrderId, Orders::Table, Orders::Id, ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk(
                        S::Table,
                        S::AgentId,
                        DeliveryAgents::Table,
                        DeliveryAgents::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_shipping_assignments_order_id", S::Table).col(S::OrderId).to_owned()).await?;
        manager
            .create_index(
                index("idx_shipping_assignments_agent_status", S::Table)
                    .col(S::AgentId)
                    .col(S::Status)
                    .col(S::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_shipping_assignments_delivered_sla", S::Table)
                    .col(S::Status)
                    .col(S::DeliveredAt)
                    .col(S::EstimatedDeliveryTime)
                    .and_where(Expr::col(S::Status).eq("DELIVERED"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ShippingAssignments::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum ShippingAssignments {
    Table,
    Id,
    OrderId,
    AgentId,
    Status,
    EstimatedDeliveryTime,
    AcceptedAt,
    PickedUpAt,
    DeliveredAt,
    FailureReason,
    Version,
    CreatedAt,
    UpdatedAt,
}
