//! Schema migrations for Courier, one file per step, runnable on PostgreSQL
//! and SQLite. Every step has a working `down`.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261121_000001_create_users;
mod m20261121_000002_create_wallets;
mod m20261121_000003_create_orders;
mod m20261121_000004_create_order_items;
mod m20261121_000005_create_payments;
mod m20261121_000006_create_ledger_entries;
mod m20261121_000007_create_delivery_agents;
mod m20261121_000008_create_delivery_agent_zip_codes;
mod m20261121_000009_create_shipping_assignments;
mod m20261121_000010_create_webhook_subscriptions;
mod m20261121_000011_create_webhook_deliveries;
mod m20261121_000012_create_audit_logs;
mod m20261121_000013_create_idempotency_keys;
mod m20261121_000014_add_sort_indexes;
mod m20261122_000015_one_live_payment_per_order;
mod m20261122_000016_payment_processor;
mod m20261122_000017_webhook_worker;
mod m20261123_000018_users_changed_notify;
mod m20261207_000019_deleted_orders_index;
mod m20261207_000020_open_offer;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_users::Migration),
            Box::new(m20261121_000002_create_wallets::Migration),
            Box::new(m20261121_000003_create_orders::Migration),
            Box::new(m20261121_000004_create_order_items::Migration),
            Box::new(m20261121_000005_create_payments::Migration),
            Box::new(m20261121_000006_create_ledger_entries::Migration),
            Box::new(m20261121_000007_create_delivery_agents::Migration),
            Box::new(m20261121_000008_create_delivery_agent_zip_codes::Migration),
            Box::new(m20261121_000009_create_shipping_assignments::Migration),
            Box::new(m20261121_000010_create_webhook_subscriptions::Migration),
            Box::new(m20261121_000011_create_webhook_deliveries::Migration),
            Box::new(m20261121_000012_create_audit_logs::Migration),
            Box::new(m20261121_000013_create_idempotency_keys::Migration),
            Box::new(m20261121_000014_add_sort_indexes::Migration),
            Box::new(m20261122_000015_one_live_payment_per_order::Migration),
            Box::new(m20261122_000016_payment_processor::Migration),
            Box::new(m20261122_000017_webhook_worker::Migration),
            Box::new(m20261123_000018_users_changed_notify::Migration),
            Box::new(m20261207_000019_deleted_orders_index::Migration),
            Box::new(m20261207_000020_open_offer::Migration),
        ]
    }
}
