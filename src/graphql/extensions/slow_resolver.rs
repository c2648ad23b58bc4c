//! Logs resolvers slower than the configured threshold as the structured
//! event `slow_resolver_detected` (and counts them in
//! `courier_graphql_slow_resolvers_total`): once per field path and request,
//! with its parent type, field, how many times it was slow, the worst
//! duration, the threshold and the request ID.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextResolve, ResolveInfo};
use async_graphql::{QueryPathNode, QueryPathSegment, Response, ServerResult, Value};

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
        Arc::new(SlowResolverLogger { threshold: self.threshold, slow: Mutex::default(), request_id: Mutex::default() })
    }
}

/// The per-request extension: slow fields are collected while the request
/// runs and logged when it ends, one line per field path (list indices left
/// out) with how many times it was slow and the worst duration. A field that
/// is slow only because a field below it is slow (its time includes its
/// children's) is left out, so a slow batch on a 50-row page is one line.
struct SlowResolverLogger {
    threshold: Duration,
    slow: Mutex<HashMap<String, Slow>>,
    request_id: Mutex<String>,
}

/// One slow field path of the request.
struct Slow {
    parent_type: String,
    field: String,
    count: u64,
    worst: Duration,
}

/// `orders.edges.node.items` for `orders.edges.3.node.items`.
fn field_path(node: &QueryPathNode<'_>) -> String {
    let mut names = Vec::new();
    let mut current = Some(node);
    while let Some(n) = current {
        if let QueryPathSegment::Name(name) = n.segment {
            names.push(name);
        }
        current = n.parent;
    }
    names.reverse();
    names.join(".")
}

#[async_trait::async_trait]
impl Extension for SlowResolverLogger {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        let slow = std::mem::take(&mut *self.slow.lock().unwrap_or_else(|e| e.into_inner()));
        if slow.is_empty() {
            return response;
        }
        // The request's data is not reachable at this stage: `resolve` kept its ID.
        let request_id = std::mem::take(&mut *self.request_id.lock().unwrap_or_else(|e| e.into_inner()));
        for (path, s) in &slow {
            // An ancestor of another slow path is slow because of it.
            let prefix = format!("{path}.");
            if slow.keys().any(|other| other.starts_with(&prefix)) {
                continue;
            }
            crate::telemetry::metrics::slow_resolver(&s.parent_type, &s.field);
            tracing::warn!(
                event = "slow_resolver_detected",
                path = %path,
                parent_type = %s.parent_type,
                field = %s.field,
                count = s.count,
                duration_ms = crate::telemetry::ms(s.worst),
                threshold_ms = self.threshold.as_millis() as u64,
                request_id = %request_id,
                "slow resolver"
            );
        }
        response
    }

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
            let mut request_id = self.request_id.lock().unwrap_or_else(|e| e.into_inner());
            if request_id.is_empty() {
                ctx.data_opt::<RequestContext>()
                    .map(|r| r.meta.request_id.clone())
                    .unwrap_or_default()
                    .clone_into(&mut request_id);
            }
            drop(request_id);
            let mut slow = self.slow.lock().unwrap_or_else(|e| e.into_inner());
            let entry = slow.entry(field_path(path)).or_insert_with(|| Slow {
                parent_type: parent_type.to_owned(),
                field: field.to_owned(),
                count: 0,
                worst: elapsed,
            });
            entry.count += 1;
            entry.worst = entry.worst.max(elapsed);
        }
        result
    }
}
