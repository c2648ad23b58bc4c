//! The query root.

use async_graphql::{Context, ID, Object};

use crate::domain::{lookup, users};
use crate::error::{AppError, GqlResult};
use crate::graphql::context::ContextExt;
use crate::graphql::node::{self, Node};
use crate::graphql::types::User;

/// Most IDs one `nodes` call takes.
const MAX_NODES: usize = 100;

/// Entry points for reading.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// Fetches any object by its global ID. Objects the viewer may not see
    /// are NOT_FOUND, exactly like objects that do not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Node> {
        let (kind, uuid) = node::decode(&id)?;
        Ok(lookup::find(ctx.db(), ctx.viewer(), kind, uuid).await?.into())
    }

    /// Fetches up to 100 objects by global ID, in order; an entry is null
    /// (with an error at its index) when it cannot be fetched.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> GqlResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::validation("ids", format!("At most {MAX_NODES} ids per call")).into());
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            let found = match node::decode(id) {
                Ok((kind, uuid)) => lookup::find(ctx.db(), ctx.viewer(), kind, uuid).await,
                Err(e) => Err(e),
            };
            match found {
                Ok(found) => out.push(Some(found.into())),
                Err(e) => {
                    ctx.add_error(async_graphql::ErrorExtensions::extend(&e).into_server_error(ctx.item.pos));
                    out.push(None);
                }
            }
        }
        Ok(out)
    }

    /// The signed-in user, or null when the request carries no token.
    async fn viewer(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(viewer) = ctx.viewer() else { return Ok(None) };
        Ok(Some(User(users::me(ctx.db(), viewer).await?)))
    }
}
