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

use crate::domain::live::{Bus, Notice};
use crate::domain::lookup::{self, EntityKind, Found};
use crate::domain::{Viewer, shipping, users};
use crate::error::{AppError, ErrorCode};
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

/// When the connection's token expires (set at `connection_init`).
#[derive(Debug, Clone, Copy)]
pub struct SessionExpiry(pub chrono::DateTime<chrono::Utc>);

/// Attempts at reading the database for one event before the subscriber is
/// told (with SERVICE_UNAVAILABLE) that this event could not be sent.
const READ_ATTEMPTS: u32 = 4;

/// What a subscription's stream carries between events.
struct Watch {
    db: DatabaseConnection,
    viewer: Viewer,
    expires: Option<chrono::DateTime<chrono::Utc>>,
    loaders: Option<Arc<Loaders>>,
    notices: tokio::sync::broadcast::Receiver<Notice>,
    _slot: Slot,
}

/// What the stream does with one notice.
enum Step<T> {
    /// Send it.
    Send(T),
    /// Not for this subscriber (or no longer visible): wait for the next.
    Skip,
    /// The subscriber's session is over: complete the stream.
    End,
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
            expires: ctx.data_opt::<SessionExpiry>().map(|e| e.0),
            loaders: ctx.data_opt::<Arc<Loaders>>().cloned(),
            notices: ctx.data_unchecked::<Bus>().subscribe(),
            _slot: slots.take()?,
        })
    }

    /// The next notice that `wanted` accepts; `None` when the bus closed.
    async fn notice(&mut self, wanted: impl Fn(&Notice) -> bool) -> Option<Notice> {
        loop {
            match self.notices.recv().await {
                Ok(notice) if wanted(&notice) => return Some(notice),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(event = "subscription_lagged", missed, "a subscriber fell behind; events skipped");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Decides what to send for one notice: the session must still be valid
    /// (token not expired, account unchanged), then `load` reads the object
    /// under the subscriber's rules. Database trouble is retried briefly; if
    /// it lasts, the subscriber gets the error and the stream goes on.
    async fn step<T, F, Fut>(&mut self, load: F) -> Step<Result<T, GqlError>>
    where
        F: Fn(DatabaseConnection, Viewer) -> Fut,
        Fut: Future<Output = Result<Option<T>, AppError>>,
    {
        if self.expires.is_some_and(|at| chrono::Utc::now() >= at) {
            return Step::End;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let read = async {
                let now = users::authenticate(&self.db, self.viewer.id).await?;
                if now != self.viewer {
                    return Ok(None);
                }
                if let Some(loaders) = &self.loaders {
                    loaders.clear();
                }
                load(self.db.clone(), self.viewer).await.map(Some)
            };
            match read.await {
                Ok(None) => return Step::End,
                Ok(Some(Some(item))) => return Step::Send(Ok(item)),
                Ok(Some(None)) => return Step::Skip,
                Err(e) if e.code() == ErrorCode::Unauthenticated => return Step::End,
                Err(e) if e.is_server_fault() && attempt < READ_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(e) if e.is_server_fault() => return Step::Send(Err(e.into())),
                Err(_) => return Step::Skip,
            }
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
    ) -> Result<BoxStream<'static, Result<Order, GqlError>>, GqlError> {
        let id = decode_as(&order_id, EntityKind::Order, "orderId")?;
        let watch = Watch::new(ctx)?;
        lookup::find(&watch.db, Some(&watch.viewer), EntityKind::Order, id).await?;
        Ok(futures_util::stream::unfold(watch, move |mut watch| async move {
            loop {
                watch.notice(|n| n.order_id == id).await?;
                let step = watch
                    .step(|db, viewer| async move {
                        match lookup::find(&db, Some(&viewer), EntityKind::Order, id).await {
                            Ok(Found::Order(order)) => Ok(Some(Order(order))),
                            Ok(_) => Ok(None),
                            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
                            Err(e) => Err(e),
                        }
                    })
                    .await;
                match step {
                    Step::Send(item) => return Some((item, watch)),
                    Step::Skip => continue,
                    Step::End => return None,
                }
            }
        })
        .boxed())
    }

    /// New offers the viewer (a delivery agent) may accept now: in a zip
    /// code they serve, while they are active and available.
    async fn assignment_offered(
        &self,
        ctx: &Context<'_>,
    ) -> Result<BoxStream<'static, Result<ShippingAssignment, GqlError>>, GqlError> {
        let watch = Watch::new(ctx)?;
        shipping::require_agent(&watch.db, &watch.viewer, "Only delivery agents receive offers").await?;
        Ok(futures_util::stream::unfold(watch, |mut watch| async move {
            loop {
                let notice = watch.notice(Notice::is_offer).await?;
                let Some(id) = notice.assignment_id else { continue };
                let step = watch
                    .step(|db, viewer| async move {
                        Ok(shipping::acceptable_offer(&db, &viewer, id).await?.map(ShippingAssignment))
                    })
                    .await;
                match step {
                    Step::Send(item) => return Some((item, watch)),
                    Step::Skip => continue,
                    Step::End => return None,
                }
            }
        })
        .boxed())
    }
}
