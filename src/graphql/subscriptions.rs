//! GraphQL subscriptions (over WebSocket at `/graphql/ws`): an order as it
//! changes, and the offers an agent may accept. A notice says only what
//! changed; each subscriber reloads the object under their own access rules,
//! and their account is read again for every event (a deleted user, or one
//! whose role changed, gets no more events).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, ID, Subscription};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::domain::live::{Bus, Notice};
use crate::domain::lookup::{self, EntityKind, Found};
use crate::domain::{Viewer, shipping, users};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{GqlError, GqlResult};
use crate::graphql::loaders::Loaders;
use crate::graphql::node::decode_as;
use crate::graphql::orders::Order;
use crate::graphql::shipping::ShippingAssignment;

/// How many subscriptions one WebSocket connection may hold at once.
#[derive(Debug, Clone)]
pub struct Slots {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl Slots {
    /// At most `max` at once.
    pub fn new(max: usize) -> Self {
        Self { open: Arc::default(), max }
    }

    fn take(&self) -> Result<Slot, AppError> {
        let taken = self.open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max).then_some(n + 1));
        match taken {
            Ok(_) => Ok(Slot(self.open.clone())),
            Err(_) => Err(AppError::rule(
                "TOO_MANY_SUBSCRIPTIONS",
                format!("A connection holds at most {} subscriptions; complete one first", self.max),
                serde_json::json!({ "limit": self.max }),
            )),
        }
    }
}

/// One subscription's place, given back when its stream ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a subscription's stream carries between events.
struct Watch {
    db: DatabaseConnection,
    viewer: Viewer,
    loaders: Option<Arc<Loaders>>,
    notices: tokio::sync::broadcast::Receiver<Notice>,
    _slot: Slot,
}

impl Watch {
    fn new(ctx: &Context<'_>) -> GqlResult<Self> {
        let viewer = *ctx.require_viewer()?;
        let slots = ctx.data_opt::<Slots>().ok_or_else(|| {
            AppError::validation("subscription", "Subscriptions are served over WebSocket at /graphql/ws")
        })?;
        Ok(Self {
            db: ctx.pool().clone(),
            viewer,
            loaders: ctx.data_opt::<Arc<Loaders>>().cloned(),
            notices: ctx.data_unchecked::<Bus>().subscribe(),
            _slot: slots.take()?,
        })
    }

    /// The next notice that `wanted` accepts, once the viewer's account is
    /// still what it was; `None` ends the stream.
    async fn next(&mut self, wanted: impl Fn(&Notice) -> bool) -> Option<Notice> {
        loop {
            let notice = match self.notices.recv().await {
                Ok(notice) => notice,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(event = "subscription_lagged", missed, "a subscriber fell behind; events skipped");
                    continue;
                }
                Err(RecvError::Closed) => return None,
            };
            if !wanted(&notice) {
                continue;
            }
            match users::authenticate(&self.db, self.viewer.id).await {
                Ok(now) if now == self.viewer => {}
                _ => return None,
            }
            if let Some(loaders) = &self.loaders {
                loaders.clear();
            }
            return Some(notice);
        }
    }
}

/// Live updates.
#[derive(Default)]
pub struct SubscriptionRoot;

/// Live updates, over WebSocket at `/graphql/ws` (graphql-transport-ws).
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The order each time it (or its payment or delivery) changes, for its
    /// buyer, seller, assigned agent and admins. An order the viewer may not
    /// see is NOT_FOUND at subscribe time, and is never sent later.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
    ) -> Result<BoxStream<'static, Order>, GqlError> {
        let id = decode_as(&order_id, EntityKind::Order, "orderId")?;
        let watch = Watch::new(ctx)?;
        lookup::find(&watch.db, Some(&watch.viewer), EntityKind::Order, id).await?;
        Ok(futures_util::stream::unfold(watch, move |mut watch| async move {
            loop {
                watch.next(|n| n.order_id == id).await?;
                if let Ok(Found::Order(order)) =
                    lookup::find(&watch.db, Some(&watch.viewer), EntityKind::Order, id).await
                {
                    return Some((Order(order), watch));
                }
            }
        })
        .boxed())
    }

    /// New offers the viewer (a delivery agent) may accept now: in a zip
    /// code they serve, while they are active and available.
    async fn assignment_offered(&self, ctx: &Context<'_>) -> Result<BoxStream<'static, ShippingAssignment>, GqlError> {
        let watch = Watch::new(ctx)?;
        shipping::require_agent(&watch.db, &watch.viewer, "Only delivery agents receive offers").await?;
        Ok(futures_util::stream::unfold(watch, |mut watch| async move {
            loop {
                let notice = watch.next(Notice::is_offer).await?;
                let id: Uuid = notice.assignment_id?;
                if let Ok(Some(offer)) = shipping::acceptable_offer(&watch.db, &watch.viewer, id).await {
                    return Some((ShippingAssignment(offer), watch));
                }
            }
        })
        .boxed())
    }
}
