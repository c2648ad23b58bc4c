//! API tests: one binary that drives the real HTTP server against real
//! databases. Every test runs on PostgreSQL and on SQLite, each with its own
//! fresh, migrated database.

mod helpers;

mod agents;
mod cli;
mod columns;
mod connections;
mod docs;
mod edge;
mod errors;
mod filters;
mod health;
mod loaders;
mod logging;
mod migrations;
mod money;
mod node;
mod operations;
mod orders;
mod payments;
mod readme;
mod request_id;
mod schema;
mod scoping;
mod shipping;
mod snapshots;
mod subscriptions;
mod viewer;
mod webhooks;
