//! Building the schema, in one place, for the server, the tests and
//! `courier export-schema`.

use async_graphql::{MergedObject, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::domain::live::Bus;
use crate::domain::money::MoneyPolicy;
use crate::domain::webhooks::Webhooks;
use crate::graphql::audit::AuditQuery;
use crate::graphql::extensions::root_mutations::SerialRootMutations;
use crate::graphql::extensions::slow_resolver::SlowResolvers;
use crate::graphql::node::NodeQuery;
use crate::graphql::orders::{OrdersMutation, OrdersQuery};
use crate::graphql::pagination::CursorKey;
use crate::graphql::payments::{PaymentsMutation, PaymentsQuery};
use crate::graphql::shipping::{ShippingMutation, ShippingQuery};
use crate::graphql::subscriptions::SubscriptionRoot;
use crate::graphql::users::UsersQuery;
use crate::graphql::wallets::{WalletsMutation, WalletsQuery};
use crate::graphql::webhooks::{WebhooksMutation, WebhooksQuery};

/// Entry points for reading.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    UsersQuery,
    OrdersQuery,
    PaymentsQuery,
    ShippingQuery,
    WalletsQuery,
    AuditQuery,
    WebhooksQuery,
);

/// Entry points for changing things.
#[derive(MergedObject, Default)]
pub struct Mutation(OrdersMutation, ShippingMutation, PaymentsMutation, WalletsMutation, WebhooksMutation);

/// The Courier schema.
pub type CourierSchema = Schema<Query, Mutation, SubscriptionRoot>;

fn builder() -> SchemaBuilder<Query, Mutation, SubscriptionRoot> {
    Schema::build(Query::default(), Mutation::default(), SubscriptionRoot)
}

/// The executable schema, with the pool and extensions installed.
///
/// Depth and complexity are judged by async-graphql's validation (a
/// connection costs its page size times its selection, see
/// `pagination::connection_complexity`); the other document limits are the
/// HTTP edge's (`http::limits`). Introspection and suggestions follow the
/// environment unless configured.
pub fn build_schema(
    db: DatabaseConnection,
    config: &Config,
    money: MoneyPolicy,
    webhooks: Webhooks,
    bus: Bus,
) -> CourierSchema {
    let mut builder = builder()
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .data(db)
        .data(money)
        .data(webhooks)
        .data(bus)
        .data(CursorKey::derive(&config.jwt_secret))
        .extension(SlowResolvers::new(config.slow_resolver()))
        .extension(SerialRootMutations);
    if !config.introspection_enabled() {
        builder = builder.disable_introspection();
    }
    if !config.suggestions_enabled() {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
