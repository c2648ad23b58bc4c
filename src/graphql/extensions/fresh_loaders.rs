//! Empties the request's dataloader caches before each root mutation field,
//! so what a mutation returns (and what the next mutation of the same
//! document reads) reflects every write before it, not what an earlier
//! field of the request had loaded.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ServerResult, Value};

use crate::graphql::loaders::Loaders;

/// Factory for [`FreshLoaders`].
pub struct FreshLoadersAfterWrites;

impl ExtensionFactory for FreshLoadersAfterWrites {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FreshLoaders)
    }
}

/// The per-request extension.
struct FreshLoaders;

#[async_trait::async_trait]
impl Extension for FreshLoaders {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Root mutation fields run one after another, so clearing here is
        // never racing a read of the same request.
        if info.path_node.parent.is_none()
            && info.parent_type == "Mutation"
            && let Some(loaders) = ctx.data_opt::<Loaders>()
        {
            loaders.clear();
        }
        next.run(ctx, info).await
    }
}
