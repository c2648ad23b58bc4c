//! Courier: a GraphQL API server for a delivery marketplace.

/// Bearer tokens (HS256 JWT): minting and verification.
pub mod auth;
/// Command-line commands (`serve`, `migrate`, `seed`, ...).
pub mod cli;
/// Every setting, its environment variable and its default.
pub mod config;
/// Connection pool, transactions, retries, statement metrics: every backend switch.
pub mod db;
/// Business rules and transactions; no GraphQL or HTTP here.
pub mod domain;
/// The one application error and database error classification.
pub mod error;
/// The GraphQL schema: types, queries, loaders, extensions.
pub mod graphql;
/// HTTP routes: GraphQL, GraphiQL, health, request IDs.
pub mod http;
/// Demo data for development and benchmarks (`courier seed`).
pub mod seed;
/// Logging setup (pretty or JSON), with the request ID on every line.
pub mod telemetry;
