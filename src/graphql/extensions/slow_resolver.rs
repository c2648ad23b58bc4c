//! Logs every resolver slower than the configured threshold as the structured
//! event `slow_resolver_detected` (and counts it in
//! `courier_graphql_slow_resolvers_total`), with its path, parent type, field, duration,
//! threshold and request ID.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ServerResult, Value};

use crate::graphql::context::RequestContext;

/// Factory for [`SlowResolverLogger`].
pub struct SlowResolvers {
    threshold: Duration,
}

impl SlowResolvers {
    /// Logs resolvers that take at least `threshold`.
    pub fn new(threshold: Duration) -> Self {
        Self { threshold }
    }
}

impl ExtensionFactory for SlowResolvers {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SlowResolverLogger { threshold: self.threshold })
    }
}

/// The per-request extension.
struct SlowResolverLogger {
    threshold: Duration,
}

#[async_trait::async_trait]
impl Extension for SlowResolverLogger {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        // Keep references only: the path is formatted for slow resolvers alone.
        let (path, parent_type, field) = (info.path_node, info.parent_type, info.name);
        let started = Instant::now();
        let result = next.run(ctx, info).await;
        let elapsed = started.elapsed();
        if elapsed >= self.threshold {
            crate::telemetry::metrics::slow_resolver(parent_type, field);
            let request_id = ctx.data_opt::<RequestContext>().map(|r| r.meta.request_id.as_str()).unwrap_or("");
            tracing::warn!(
                event = "slow_resolver_detected",
                path = %path,
                parent_type = %parent_type,
                field = %field,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                threshold_ms = self.threshold.as_millis() as u64,
                request_id = %request_id,
                "slow resolver"
            );
        }
        result
    }
}
