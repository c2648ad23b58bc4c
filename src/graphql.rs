//! The GraphQL API. Resolvers authorize, parse input, call one `domain`
//! function and convert the result; they never run SQL themselves.
//!
//! One file per aggregate holds its output types, enums, inputs and its part
//! of Query and Mutation; `schema` joins the parts with `MergedObject`.

/// The audit trail: `AuditLog`, `auditLogs`.
pub mod audit;
/// What every resolver can reach: the pool, the viewer, request metadata.
pub mod context;
/// How an `AppError` becomes a GraphQL error with its extensions.
pub mod error;
/// Schema extensions (slow resolvers).
pub mod extensions;
/// Dataloaders, one per relation, batched on the request's task.
pub mod loaders;
/// Global IDs, the `Node` interface, `node` and `nodes`.
pub mod node;
/// Orders: `Order`, `OrderItem`, their fields of Query and Mutation.
pub mod orders;
/// Relay connections, cursors, sort inputs.
pub mod pagination;
/// Payments: `Payment`, initiate, capture, refund.
pub mod payments;
/// Resolution without a future per field, for the hot read paths.
pub mod plain;
/// Orders with their relations read in advance.
pub mod preloaded;
/// Own `Decimal` and `DateTime` scalars, with their wire format described.
pub mod scalars;
/// Building the schema and its SDL.
pub mod schema;
/// Shipping: agents, assignments, the delivery steps.
pub mod shipping;
/// Subscriptions: `orderUpdated`, `assignmentOffered`.
pub mod subscriptions;
/// Users: `User`, `viewer`, `users`.
pub mod users;
/// Wallets and the ledger: `Wallet`, `LedgerEntry`, `ledgerHealth`, top-ups.
pub mod wallets;
/// Webhooks: subscriptions, deliveries and their management (admins).
pub mod webhooks;

pub use schema::{CourierSchema, build_schema, sdl};
