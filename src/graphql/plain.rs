//! Resolution without a future per field, for the hot read paths.
//!
//! `Plain<T, R>` is the GraphQL object `T` (its schema type, its resolvers)
//! resolved by a lighter walker: each selected field runs `T`'s own
//! resolver inline, and a resolver that completes on its first poll (every
//! field that only reads the object) costs no boxed future, no extension
//! call and no task wake-up. Relations read in advance with the page (`R`,
//! see [`Preloaded`]) resolve from memory, again through `Plain`. A field
//! that does wait (a relation that was not read in advance, through its
//! loader) runs through the schema's extensions like any other, so the
//! slow-resolver events still see every field that can be slow.
//!
//! Fragments, aliases and repeated fields are merged as async-graphql
//! merges them; errors are recorded and the field left out, as async-graphql
//! does, so null propagation (`http::nulls`) is unchanged.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use async_graphql::extensions::ResolveInfo;
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, Context, ContextSelectionSet, Name, OutputType, Positioned, ServerError, ServerResult, Value,
};

/// Relations of an object that were read with its page.
pub trait Preloaded: Send + Sync {
    /// Resolves relation `name` from what was read, or `None` when it was not
    /// read (the object's own resolver then loads it).
    fn resolve(&self, name: &str, ctx: &Context<'_>) -> impl Future<Output = Option<ServerResult<Value>>> + Send;
}

/// No relation read in advance.
impl Preloaded for () {
    async fn resolve(&self, _: &str, _: &Context<'_>) -> Option<ServerResult<Value>> {
        None
    }
}

/// `object`, resolved by the plain walker, with the relations `related`.
pub struct Plain<T, R = ()> {
    /// The GraphQL object.
    pub object: T,
    /// What was read with it.
    pub related: R,
}

impl<T> Plain<T> {
    /// `object` with nothing read in advance.
    pub fn new(object: T) -> Self {
        Self { object, related: () }
    }
}

/// Resolves `value` for the field of `ctx` (a relation read in advance).
pub async fn resolve<V: OutputType>(ctx: &Context<'_>, value: &V) -> ServerResult<Value> {
    value.resolve(&ctx.with_selection_set(&ctx.item.node.selection_set), ctx.item).await
}

impl<T: ContainerType + OutputType, R: Preloaded> OutputType for Plain<T, R> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        let type_name = T::type_name();
        let mut fields = Vec::with_capacity(ctx.item.node.items.len());
        collect(ctx, &type_name, &ctx.item.node, &mut fields)?;
        let mut out = IndexMap::with_capacity(fields.len());
        for field in fields {
            let key = field.node.response_key().node.clone();
            let name = field.node.name.node.as_str();
            if name == "__typename" {
                insert(&mut out, key, Value::String(type_name.to_string()));
                continue;
            }
            let ctx_field = ctx.with_field(field);
            let result = match self.related.resolve(name, &ctx_field).await {
                Some(result) => result.map(Some),
                None => own_field(&self.object, &type_name, &ctx_field).await,
            };
            match result {
                Ok(value) => insert(&mut out, key, value.unwrap_or_default()),
                Err(e) => ctx.add_error(e),
            }
        }
        Ok(if out.is_empty() { Value::Null } else { Value::Object(out) })
    }
}

/// A list of plain objects. Its items are resolved together, like
/// async-graphql's lists, but without an extension call per item (an item
/// in memory cannot be slow; a field of it that waits is still timed).
pub struct PlainList<T>(pub Vec<T>);

impl<T> FromIterator<T> for PlainList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T: OutputType> OutputType for PlainList<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        // Each item's future is boxed when it first runs: a plain object's
        // future holds those of everything below it (an edge of W1's page,
        // some kilobytes), and the join moves each future it holds, twice
        // for a list of up to 30 (into its slot, then its output out of it).
        let items = self.0.iter().enumerate().map(|(i, item)| async move {
            let ctx = ctx.with_index(i);
            Box::pin(item.resolve(&ctx, field)).await
        });
        Ok(Value::List(futures_util::future::try_join_all(items).await?))
    }
}

/// Runs `object`'s resolver for the field of `ctx`: inline when it is ready
/// at once, through the extensions when it waits.
async fn own_field<T: ContainerType>(object: &T, type_name: &str, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
    let mut fut = pin!(object.resolve_field(ctx));
    if let Poll::Ready(done) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return done;
    }
    let field = &ctx.item.node;
    let return_type = ctx
        .schema_env
        .registry
        .types
        .get(type_name)
        .and_then(|ty| ty.field_by_name(field.name.node.as_str()))
        .map(|f| f.ty.as_str())
        .unwrap_or_default();
    let Some(path_node) = ctx.path_node.as_ref() else { return fut.await };
    let info = ResolveInfo {
        path_node,
        parent_type: type_name,
        return_type,
        name: field.name.node.as_str(),
        alias: field.alias.as_ref().map(|a| a.node.as_str()),
        is_for_introspection: false,
        field,
    };
    ctx.query_env.extensions.resolve(info, &mut fut).await
}

/// The fields of `set` that apply to `type_name`, fragments flattened.
fn collect<'a>(
    ctx: &ContextSelectionSet<'a>,
    type_name: &str,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<()> {
    for selection in &set.items {
        let (condition, set) = match &selection.node {
            Selection::Field(field) => {
                out.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let Some(fragment) = ctx.query_env.fragments.get(name) else {
                    return Err(ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos)));
                };
                (Some(fragment.node.type_condition.node.on.node.as_str()), &fragment.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => (
                fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()),
                &fragment.node.selection_set.node,
            ),
        };
        let applies = condition.is_none_or(|on| {
            on == type_name
                || ctx.schema_env.registry.implements.get(type_name).is_some_and(|interfaces| interfaces.contains(on))
        });
        if applies {
            collect(ctx, type_name, set, out)?;
        }
    }
    Ok(())
}

/// Inserts a field's value, merging it into an earlier value of the same
/// response key (`a { x } a { y }`) as async-graphql does.
fn insert(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    use async_graphql::indexmap::map::Entry;
    let existing = match target.entry(name) {
        Entry::Vacant(slot) => {
            slot.insert(value);
            return;
        }
        Entry::Occupied(slot) => slot.into_mut(),
    };
    match (existing, value) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                insert(into, k, v);
            }
        }
        (Value::List(into), Value::List(from)) => {
            for (slot, v) in into.iter_mut().zip(from) {
                if let (Value::Object(into), Value::Object(from)) = (slot, v) {
                    for (k, v) in from {
                        insert(into, k, v);
                    }
                }
            }
        }
        _ => {}
    }
}
