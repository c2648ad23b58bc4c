//! Courier: a GraphQL API server for a delivery marketplace.

/// Bearer tokens (HS256 JWT): minting and verification.
pub mod auth;
/// Command-line commands (`serve`, `migrate`, `seed`, ...).
pub mod cli;
/// Every setting, its environment variable and its default.
pub mod config;
/// Connection pool, per-backend tuning, statement metrics.
pub mod db;
/// Business rules and transactions; no GraphQL or HTTP here.
pub mod domain;
/// The one application error and its mapping to GraphQL extensions.
pub mod error;
/// The GraphQL schema: types, queries, loaders, extensions.
pub mod graphql;
/// HTTP routes: GraphQL, GraphiQL, health, request IDs.
pub mod http;
/// Logging setup (pretty or JSON), with the request ID on every line.
pub mod telemetry;
