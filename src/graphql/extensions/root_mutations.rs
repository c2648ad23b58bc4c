//! How the root fields of a mutation run, one after another:
//! - each starts with empty dataloader caches, so what a mutation returns
//!   (and what the next mutation of the same document reads) reflects every
//!   write before it, not what an earlier field of the request had loaded;
//! - what it announces to live subscribers is published once it returns;
//! - once a non-null root field has failed, the fields after it do not run.
//!   The failure nulls `data` (GraphQL's null propagation), so a later
//!   mutation's result could never reach the client: it must not commit
//!   either. This is what graphql-js does (`executeFieldsSerially`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ServerResult, Value};

use crate::domain::live::{self, Bus};
use crate::graphql::loaders::Loaders;

/// Factory for the per-request [`RootMutations`] extension.
pub struct SerialRootMutations;

impl ExtensionFactory for SerialRootMutations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RootMutations::default())
    }
}

/// The per-request extension.
#[derive(Default)]
struct RootMutations {
    /// A non-null root mutation field has failed.
    stopped: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for RootMutations {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() || info.parent_type != "Mutation" {
            return next.run(ctx, info).await;
        }
        if self.stopped.load(Ordering::SeqCst) {
            // Not run; `data` is null because of the earlier failure.
            return Ok(None);
        }
        // Root mutation fields run one after another, so clearing here is
        // never racing a read of the same request.
        if let Some(loaders) = ctx.data_opt::<Loaders>() {
            loaders.clear();
        }
        let non_null = info.return_type.ends_with('!');
        // What the mutation announced for SQLite's in-process fan-out goes
        // to subscribers once it has returned, that is after its commit
        // (PostgreSQL announces through NOTIFY at commit instead).
        let (result, notices) = live::collect(next.run(ctx, info)).await;
        if result.is_ok()
            && let Some(bus) = ctx.data_opt::<Bus>()
        {
            notices.into_iter().for_each(|n| bus.publish(n));
        }
        if result.is_err() && non_null {
            self.stopped.store(true, Ordering::SeqCst);
        }
        result
    }
}
