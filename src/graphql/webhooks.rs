//! Webhooks in the API (admins only): subscriptions, their deliveries, and
//! the mutations that manage them.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};

use crate::domain::lookup::EntityKind;
use crate::domain::webhooks::breaker::State;
use crate::domain::webhooks::{EventType, deliveries, subscriptions};
use crate::graphql::context::ContextExt;
use crate::graphql::error::{GqlResult, in_input};
use crate::graphql::node::{decode_as, decode_opt, encode};
use crate::graphql::pagination::{Conn, PageArgs, Paging, connection_cost, paging, sort_input, total};
use crate::graphql::scalars::DateTime;

/// A circuit breaker's state for a subscription's host, in the instance
/// that answers (each instance keeps its own breakers).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum CircuitState {
    /// Deliveries go out.
    Closed,
    /// The host failed too often: deliveries are postponed.
    Open,
    /// Trial deliveries go out; two successes close it.
    HalfOpen,
}

impl From<State> for CircuitState {
    fn from(state: State) -> Self {
        match state {
            State::Closed => Self::Closed,
            State::Open => Self::Open,
            State::HalfOpen => Self::HalfOpen,
        }
    }
}

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::WebhookDeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (the dead letter); `retryWebhookDelivery` sends it again.
    Failed,
}

/// Where Courier POSTs which events. Admins only.
pub struct WebhookSubscription(pub entity::webhook_subscription::Model);

/// Where Courier POSTs which events. Admins only.
#[Object]
impl WebhookSubscription {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::WebhookSubscription, self.0.id)
    }
    /// The receiver's URL.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The event types delivered (see `webhookEventTypes`).
    async fn event_types(&self) -> Vec<String> {
        self.0
            .event_types
            .as_array()
            .map(|types| types.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
    /// Whether deliveries go out (a paused subscription keeps its queue).
    async fn active(&self) -> bool {
        self.0.active
    }
    /// The circuit breaker of the URL's host, as this instance sees it.
    async fn circuit_state(&self, ctx: &Context<'_>) -> CircuitState {
        ctx.webhooks().breakers.state_of_url(&self.0.url).into()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

/// One event on its way to one subscription. Admins only.
pub struct WebhookDelivery(pub entity::webhook_delivery::Model);

/// One event on its way to one subscription. Admins only.
#[Object]
impl WebhookDelivery {
    /// Global ID; receivers get it as `X-Courier-Delivery` (their deduplication key).
    pub async fn id(&self) -> ID {
        encode(EntityKind::WebhookDelivery, self.0.id)
    }
    /// The raw UUID sent as `X-Courier-Delivery`.
    async fn delivery_key(&self) -> String {
        self.0.id.to_string()
    }
    /// The subscription (null once deleted).
    async fn subscription(&self, ctx: &Context<'_>) -> GqlResult<Option<WebhookSubscription>> {
        Ok(ctx.loaders().webhook_subscription.load_one(self.0.subscription_id).await?.map(WebhookSubscription))
    }
    /// The event type, e.g. `order.created`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    /// The event's id (shared by its deliveries to every subscription).
    async fn event_id(&self) -> Option<String> {
        self.0.event_id.map(|id| id.to_string())
    }
    /// The JSON body sent.
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.0.payload.clone())
    }
    /// Where it stands.
    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status.into()
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// When the next attempt is due (null once delivered or failed).
    async fn next_attempt_at(&self) -> Option<DateTime> {
        self.0.next_retry_at.map(Into::into)
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// The HTTP status of the last answer.
    async fn last_response_status(&self) -> Option<i32> {
        self.0.last_status
    }
    /// When the receiver acknowledged it.
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(Into::into)
    }
    /// When the event happened (the row was written in its transaction).
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When the row last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

/// A subscription with its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct WebhookSubscriptionWithSecret {
    /// The subscription.
    subscription: WebhookSubscription,
    /// The HMAC-SHA256 signing secret. It is never readable again; rotate it
    /// with `rotateWebhookSecret` if it is lost.
    secret: String,
}

impl From<subscriptions::WithSecret> for WebhookSubscriptionWithSecret {
    fn from(w: subscriptions::WithSecret) -> Self {
        Self { subscription: WebhookSubscription(w.subscription), secret: w.secret }
    }
}

/// A new subscription.
#[derive(InputObject)]
pub struct CreateWebhookSubscriptionInput {
    /// The receiver's URL (`http` or `https`, a public address).
    pub url: String,
    /// Event types to deliver (see `webhookEventTypes`).
    pub event_types: Vec<String>,
    /// The signing secret (16 to 255 printable characters); generated when omitted.
    pub secret: Option<String>,
}

/// Changes to a subscription; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookSubscriptionInput {
    /// The subscription.
    pub id: ID,
    /// A new receiver URL.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// Pause (false) or resume (true) deliveries.
    pub active: Option<bool>,
}

/// Which deliveries to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct WebhookDeliveryFilter {
    /// Of this subscription.
    pub subscription_id: Option<ID>,
    /// In this status.
    pub status: Option<WebhookDeliveryStatus>,
    /// Of this event type, e.g. `order.created`.
    pub event_type: Option<String>,
}

impl WebhookDeliveryFilter {
    fn into_domain(self) -> Result<deliveries::DeliveryFilter, crate::error::AppError> {
        Ok(deliveries::DeliveryFilter {
            subscription_id: decode_opt(
                self.subscription_id.as_ref(),
                EntityKind::WebhookSubscription,
                "filter.subscriptionId",
            )?,
            status: self.status.map(Into::into),
            event_type: self.event_type,
        })
    }
}

sort_input!(WebhookDeliverySort, WebhookDeliverySortField, (), "webhook deliveries", {
    CreatedAt => (),
});

/// Webhook reads (admins only).
#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// Every webhook subscription, oldest first (admins only).
    async fn webhook_subscriptions(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookSubscription>> {
        let viewer = ctx.require_admin()?;
        Ok(subscriptions::list(ctx.db(), viewer).await?.into_iter().map(WebhookSubscription).collect())
    }
    /// The event types a subscription can ask for.
    async fn webhook_event_types(&self) -> Vec<&'static str> {
        EventType::ALL.iter().map(|e| e.as_str()).collect()
    }
    /// Deliveries, newest first by default (admins only).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all when omitted.")] filter: Option<WebhookDeliveryFilter>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<WebhookDeliverySort>,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<WebhookDelivery>> {
        let viewer = ctx.require_admin()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort: _, direction, scope, page } = paging(
            ctx,
            "webhookDeliveries",
            WebhookDeliverySort::resolve(order_by),
            PageArgs { first, after, last, before },
        )?;
        let rows = deliveries::list(ctx.db(), Some(viewer), &filter, &deliveries::sort_key(direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { deliveries::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, WebhookDelivery))
    }
}

/// Webhook management (admins only).
#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Subscribes a URL to event types; answers the signing secret, once.
    async fn create_webhook_subscription(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateWebhookSubscriptionInput,
    ) -> GqlResult<WebhookSubscriptionWithSecret> {
        let viewer = ctx.require_viewer()?;
        let allow = ctx.webhooks().policy.allow_private;
        let input =
            subscriptions::NewSubscription { url: input.url, event_types: input.event_types, secret: input.secret };
        Ok(subscriptions::create(ctx.pool(), viewer, &ctx.audit_context(), allow, input)
            .await
            .map_err(in_input)?
            .into())
    }
    /// Changes a subscription's URL, event types or activity.
    async fn update_webhook_subscription(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateWebhookSubscriptionInput,
    ) -> GqlResult<WebhookSubscription> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&input.id, EntityKind::WebhookSubscription, "input.id")?;
        let allow = ctx.webhooks().policy.allow_private;
        let change =
            subscriptions::SubscriptionChange { url: input.url, event_types: input.event_types, active: input.active };
        let updated = subscriptions::update(ctx.pool(), viewer, &ctx.audit_context(), allow, id, change)
            .await
            .map_err(in_input)?;
        Ok(WebhookSubscription(updated))
    }
    /// Deletes a subscription and its deliveries; answers what was deleted.
    async fn delete_webhook_subscription(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The subscription.")] id: ID,
    ) -> GqlResult<WebhookSubscription> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::WebhookSubscription, "id")?;
        Ok(WebhookSubscription(subscriptions::delete(ctx.pool(), viewer, &ctx.audit_context(), id).await?))
    }
    /// Gives a subscription a new signing secret; answers it, once.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The subscription.")] id: ID,
    ) -> GqlResult<WebhookSubscriptionWithSecret> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::WebhookSubscription, "id")?;
        Ok(subscriptions::rotate_secret(ctx.pool(), viewer, &ctx.audit_context(), id).await?.into())
    }
    /// Queues a pending or failed delivery again, due now, attempts reset.
    async fn retry_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery.")] id: ID,
    ) -> GqlResult<WebhookDelivery> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::WebhookDelivery, "id")?;
        Ok(WebhookDelivery(deliveries::retry(ctx.pool(), viewer, id).await?))
    }
}
