//! PostgreSQL tells every instance when a user row changes, so an instance
//! may keep the viewers it has read (`courier::domain::viewers`) and still
//! never act on a role or a deletion that has been committed: the database
//! itself announces every `UPDATE` and `DELETE` of `users` (and a
//! `TRUNCATE`) on the `courier_users` channel, whoever makes it (the API,
//! the CLI, an operator in `psql`), when it commits.
//!
//! SQLite has no cross-process notification; there the viewer is read on
//! every request instead, and this step does nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Adds the `users_changed` triggers (PostgreSQL).
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000018_users_changed_notify"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE FUNCTION courier_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF TG_OP = 'TRUNCATE' THEN
                     PERFORM pg_notify('courier_users', '*');
                 ELSE
                     PERFORM pg_notify('courier_users', OLD.id::text);
                 END IF;
                 RETURN NULL;
             END $$",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
             FOR EACH ROW EXECUTE FUNCTION courier_users_changed()",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER users_truncated AFTER TRUNCATE ON users
             FOR EACH STATEMENT EXECUTE FUNCTION courier_users_changed()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS users_truncated ON users").await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS users_changed ON users").await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS courier_users_changed()").await?;
        Ok(())
    }
}
