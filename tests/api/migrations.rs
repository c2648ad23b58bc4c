//! Migrations apply and revert step by step; the named indexes exist.

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::SchemaManager;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_unmigrated};
use crate::on_both_backends;

const TABLES: &[&str] = &[
    "users",
    "wallets",
    "orders",
    "order_items",
    "payments",
    "ledger_entries",
    "delivery_agents",
    "delivery_agent_zip_codes",
    "shipping_assignments",
    "webhook_subscriptions",
    "webhook_deliveries",
    "audit_logs",
    "idempotency_keys",
];

const INDEXES: &[&str] = &[
    "idx_orders_buyer_id",
    "idx_orders_seller_id",
    "idx_orders_status",
    "idx_orders_created_at",
    "idx_payments_order_id",
    "idx_payments_status",
    "idx_payments_method",
    "idx_ledger_entries_wallet_amount",
    "idx_ledger_entries_created",
    "idx_ledger_entries_payment_id",
    "idx_shipping_assignments_order_id",
    "idx_shipping_assignments_agent_status",
    "idx_shipping_assignments_delivered_sla",
    "idx_delivery_agents_user_id",
    "idx_delivery_agents_status",
    "idx_delivery_agents_is_available",
    "idx_delivery_agent_zip_codes_zip_code",
    "idx_webhook_deliveries_status_retry",
    "idx_webhook_deliveries_subscription",
    "idx_audit_logs_entity",
    "idx_audit_logs_created",
    "idx_audit_logs_action",
    "idx_wallets_single_platform",
    "idx_orders_total_minor",
    "idx_payments_created_at",
    "idx_shipping_assignments_created_at",
    "idx_delivery_agents_created_at",
    "idx_users_created_at",
    "idx_orders_deleted",
];

async fn present_tables(app: &TestApp) -> Vec<&'static str> {
    let manager = SchemaManager::new(&app.db);
    let mut present = Vec::new();
    for table in TABLES {
        if manager.has_table(*table).await.expect("has_table") {
            present.push(*table);
        }
    }
    present
}

async fn every_migration_reverts_and_reapplies_one_step_at_a_time(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    let total = Migrator::migrations().len();
    // One migration per table, in TABLES order, then steps that only add indexes.
    let index_steps = total - TABLES.len();
    Migrator::up(&app.db, None).await.expect("up");
    assert_eq!(present_tables(&app).await, TABLES);

    for step in 1..=total {
        Migrator::down(&app.db, Some(1)).await.unwrap_or_else(|e| panic!("down step {step}: {e}"));
        assert_eq!(Migrator::get_pending_migrations(&app.db).await.expect("pending").len(), step);
        let tables_left = TABLES.len() - step.saturating_sub(index_steps);
        assert_eq!(present_tables(&app).await, &TABLES[..tables_left], "after reverting {step} steps");
    }
    Migrator::up(&app.db, None).await.expect("up again");
    assert_eq!(present_tables(&app).await, TABLES);
    assert!(Migrator::get_pending_migrations(&app.db).await.expect("pending").is_empty());
}

async fn every_named_index_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let sql = match backend {
        Backend::Postgres => "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
    };
    let names = app.query_strings(sql).await;
    for index in INDEXES {
        assert!(names.iter().any(|n| n == index), "missing index {index}; have {names:?}");
    }
}

async fn the_sla_index_is_partial_on_delivered_assignments(backend: Backend) {
    let app = spawn_app(backend).await;
    let sql = match backend {
        Backend::Postgres => {
            "SELECT indexdef::text FROM pg_indexes WHERE indexname = 'idx_shipping_assignments_delivered_sla'"
        }
        Backend::Sqlite => "SELECT sql FROM sqlite_master WHERE name = 'idx_shipping_assignments_delivered_sla'",
    };
    let def = app.query_strings(sql).await.pop().expect("index definition");
    let compact = def.replace(['"', ' ', '(', ')'], "").replace("::charactervarying", "").replace("::text", "");
    assert!(compact.contains("status,delivered_at,estimated_delivery_time"), "{def}");
    assert!(compact.to_uppercase().contains("WHERESTATUS='DELIVERED'"), "{def}");
}

async fn only_one_platform_wallet_can_exist(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let now = if backend == Backend::Postgres { "now()" } else { "CURRENT_TIMESTAMP" };
    let id = if backend == Backend::Postgres { "gen_random_uuid()" } else { "randomblob(16)" };
    let err = sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!(
            "INSERT INTO wallets (id, user_id, kind, currency, balance_minor, version, created_at, updated_at) \
             VALUES ({id}, NULL, 'PLATFORM', 'USD', 0, 0, {now}, {now})"
        ),
    )
    .await
    .expect_err("a second platform wallet is refused");
    assert!(err.to_string().to_lowercase().contains("unique"), "{err}");
}

on_both_backends!(
    every_migration_reverts_and_reapplies_one_step_at_a_time,
    every_named_index_exists,
    the_sla_index_is_partial_on_delivered_assignments,
    only_one_platform_wallet_can_exist,
);
