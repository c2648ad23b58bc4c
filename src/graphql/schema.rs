//! Building the schema, in one place, for the server, the tests and
//! `courier export-schema`.

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::graphql::audit::AuditQuery;
use crate::graphql::extensions::slow_resolver::SlowResolvers;
use crate::graphql::node::NodeQuery;
use crate::graphql::orders::{OrdersMutation, OrdersQuery};
use crate::graphql::payments::{PaymentsMutation, PaymentsQuery};
use crate::graphql::shipping::{ShippingMutation, ShippingQuery};
use crate::graphql::users::UsersQuery;
use crate::graphql::wallets::{WalletsMutation, WalletsQuery};

// The roots carry no GraphQL description (a `///` here would become one),
// as before the aggregates were split: entry points for reading...
#[allow(missing_docs)]
#[derive(MergedObject, Default)]
pub struct Query(NodeQuery, UsersQuery, OrdersQuery, PaymentsQuery, ShippingQuery, WalletsQuery, AuditQuery);

// ...and for changing things.
#[allow(missing_docs)]
#[derive(MergedObject, Default)]
pub struct Mutation(OrdersMutation, ShippingMutation, PaymentsMutation, WalletsMutation);

/// The Courier schema.
pub type CourierSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection accepted; deeper documents are refused before execution.
const MAX_DEPTH: usize = 16;
/// Highest complexity accepted (each field counts 1, connections multiply).
const MAX_COMPLEXITY: usize = 5_000;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The executable schema, with the pool and extensions installed.
pub fn build_schema(db: DatabaseConnection, config: &Config) -> CourierSchema {
    builder().data(db).data(config.money_policy()).extension(SlowResolvers::new(config.slow_resolver())).finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
