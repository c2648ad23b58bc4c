//! Building the schema, in one place, for the server, the tests and
//! `courier export-schema`.

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::graphql::extensions::slow_resolver::SlowResolvers;
use crate::graphql::mutation::Mutation;
use crate::graphql::query::Query;

/// The Courier schema.
pub type CourierSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection accepted; deeper documents are refused before execution.
const MAX_DEPTH: usize = 16;
/// Highest complexity accepted (each field counts 1, connections multiply).
const MAX_COMPLEXITY: usize = 5_000;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).limit_depth(MAX_DEPTH).limit_complexity(MAX_COMPLEXITY)
}

/// The executable schema, with the pool and extensions installed.
pub fn build_schema(db: DatabaseConnection, config: &Config) -> CourierSchema {
    builder().data(db).data(config.money_policy()).extension(SlowResolvers::new(config.slow_resolver())).finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
