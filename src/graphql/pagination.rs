//! Relay connections: argument validation, opaque cursors and the
//! connection objects, over the domain's keyset pages.
//!
//! A cursor is `base64url(JSON {c, s, k})`: the connection it belongs to, the
//! sort it was made under, and the row's keyset. A cursor from another
//! connection or sort, or one that does not decode, is BAD_USER_INPUT.

use std::future::Future;
use std::pin::Pin;

use std::borrow::Cow;

use async_graphql::connection::{CursorType, Edge, EmptyFields, PageInfo};
use async_graphql::{Context, Enum, Object, OutputType, TypeName};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::Limited;
use crate::domain::Viewer;
use crate::domain::pagination::{DEFAULT_PAGE_SIZE, Direction, Keyset, MAX_PAGE_SIZE, Page, PageRequest};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::error::GqlResult;
use crate::graphql::loaders::NestedCount;
use crate::graphql::plain::{Plain, PlainList};

/// The Relay paging arguments of one field.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    /// Rows from the start (after `after`).
    pub first: Option<i32>,
    /// Cursor to start after.
    pub after: Option<String>,
    /// Rows from the end (before `before`).
    pub last: Option<i32>,
    /// Cursor to end before.
    pub before: Option<String>,
}

/// The server's key for signing cursors (derived from the token secret), so
/// a client can hand back only cursors this server made: a forged keyset
/// (a value of the wrong type for the sort, an absurd string) never reaches SQL.
#[derive(Clone)]
pub struct CursorKey(Arc<[u8; 32]>);

impl CursorKey {
    /// The key derived from `secret`.
    pub fn derive(secret: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"courier cursor key\0");
        hasher.update(secret.as_bytes());
        Self(Arc::new(hasher.finalize().into()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // An HMAC takes a key of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice()).unwrap_or_else(|_| unreachable!())
    }
}

/// Bytes of the HMAC a cursor carries (128 bits).
const TAG_BYTES: usize = 16;

/// Where a cursor may be used: the connection and the sort it was made under.
#[derive(Clone)]
pub struct CursorScope {
    /// Connection name, e.g. `orders`.
    pub connection: &'static str,
    /// Sort tag, e.g. `CREATED_AT:DESC`.
    pub sort: String,
    /// Signs and checks the cursors.
    pub key: CursorKey,
}

/// What a connection field resolves from its `orderBy` and paging
/// arguments: the domain sort and direction, the cursor scope, the page.
pub struct Paging<S> {
    /// Domain sort field.
    pub sort: S,
    /// Sort direction.
    pub direction: Direction,
    /// Cursor scope for encoding the page's cursors.
    pub scope: CursorScope,
    /// The validated page request.
    pub page: PageRequest,
}

/// Validates a connection's arguments: `resolved` is what the sort input's
/// `resolve` returned, `args` the Relay paging arguments.
pub fn paging<S>(
    ctx: &Context<'_>,
    connection: &'static str,
    (sort, direction, tag): (S, Direction, String),
    args: PageArgs,
) -> Result<Paging<S>, AppError> {
    let scope = CursorScope { connection, sort: tag, key: ctx.data_unchecked::<CursorKey>().clone() };
    let page = scope.page_request(&args)?;
    Ok(Paging { sort, direction, scope, page })
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    c: String,
    s: String,
    k: Keyset,
}

impl CursorScope {
    /// The opaque cursor of `keyset` in this scope: the keyset and scope as
    /// base64url JSON, a dot, and a truncated HMAC of them.
    pub fn encode(&self, keyset: &Keyset) -> String {
        let data = CursorData { c: self.connection.to_owned(), s: self.sort.clone(), k: keyset.clone() };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default());
        let mut mac = self.key.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
    }

    fn decode(&self, field: &str, cursor: &str) -> Result<Keyset, AppError> {
        let invalid = |why: &str| AppError::validation(field, format!("Invalid cursor: {why}"));
        let (payload, tag) = cursor.split_once('.').ok_or_else(|| invalid("not a cursor"))?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid("not a cursor"))?;
        let mut mac = self.key.mac();
        mac.update(payload.as_bytes());
        if tag.len() != TAG_BYTES || mac.verify_truncated_left(&tag).is_err() {
            return Err(invalid("it was not issued by this server"));
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid("not a cursor"))?;
        let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor"))?;
        if data.c != self.connection {
            return Err(invalid("it belongs to another connection"));
        }
        if data.s != self.sort {
            return Err(invalid("it was made under another sort order"));
        }
        Ok(data.k)
    }

    /// Validates the paging arguments into a page request.
    pub fn page_request(&self, args: &PageArgs) -> Result<PageRequest, AppError> {
        if args.first.is_some() && args.last.is_some() {
            return Err(AppError::validation("first", "Pass `first` or `last`, not both"));
        }
        let size = |field: &str, n: i32| -> Result<u64, AppError> {
            let n =
                u64::try_from(n).map_err(|_| AppError::validation(field, format!("`{field}` must not be negative")))?;
            if n > MAX_PAGE_SIZE {
                return Err(AppError::validation(field, format!("`{field}` must be at most {MAX_PAGE_SIZE}")));
            }
            Ok(n)
        };
        let (limit, backward) = match (args.first, args.last) {
            (Some(n), _) => (size("first", n)?, false),
            (None, Some(n)) => (size("last", n)?, true),
            (None, None) => (DEFAULT_PAGE_SIZE, args.before.is_some() && args.after.is_none()),
        };
        Ok(PageRequest {
            limit,
            backward,
            after: args.after.as_deref().map(|c| self.decode("after", c)).transpose()?,
            before: args.before.as_deref().map(|c| self.decode("before", c)).transpose()?,
        })
    }

    /// The connection object for `page`, converting rows with `node`.
    pub fn connection<M, N: OutputType>(
        &self,
        page: Page<M>,
        total: TotalCount,
        mut node: impl FnMut(M) -> N,
    ) -> Conn<N> {
        let scope = Arc::new(self.clone());
        let edges: Vec<Edge<Cursor, N, EmptyFields>> = page
            .rows
            .into_iter()
            .map(|(keyset, m)| Edge::new(Cursor { scope: scope.clone(), keyset }, node(m)))
            .collect();
        let page_info = PageInfo {
            has_previous_page: page.has_previous,
            has_next_page: page.has_next,
            start_cursor: edges.first().map(|e| e.cursor.encode_cursor()),
            end_cursor: edges.last().map(|e| e.cursor.encode_cursor()),
        };
        Conn { page_info, edges, total }
    }
}

/// An edge's cursor, signed only when a client selects it.
pub struct Cursor {
    scope: Arc<CursorScope>,
    keyset: Keyset,
}

impl CursorType for Cursor {
    type Error = &'static str;

    fn decode_cursor(_: &str) -> Result<Self, Self::Error> {
        // Cursors are read by `CursorScope::page_request`, which knows the scope.
        Err("cursors are decoded with their connection's scope")
    }

    fn encode_cursor(&self) -> String {
        self.scope.encode(&self.keyset)
    }
}

/// A Relay connection of `N` with `totalCount`. Courier's own (rather than
/// async-graphql's `Connection`) so that every connection type of the
/// schema carries a description.
pub struct Conn<N: OutputType> {
    page_info: PageInfo,
    edges: Vec<Edge<Cursor, N, EmptyFields>>,
    total: TotalCount,
}

impl<N: OutputType> TypeName for Conn<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", N::type_name()).into()
    }
}

/// One page of a list: `edges` (each node with its cursor) or just
/// `nodes`, `pageInfo` to ask for the next or previous page with `after` or
/// `before`, and `totalCount` across all pages.
#[Object(name_type)]
impl<N: OutputType> Conn<N> {
    /// Information to aid in pagination.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// A list of edges.
    async fn edges(&self) -> PlainList<Plain<&Edge<Cursor, N, EmptyFields>>> {
        self.edges.iter().map(Plain::new).collect()
    }

    /// A list of nodes.
    async fn nodes(&self) -> PlainList<&N> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Rows matching the filter across all pages. Runs a COUNT only when selected.
    #[graphql(complexity = 5)]
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        match &self.total {
            TotalCount::Query(count) => Ok(count().await?),
            TotalCount::Nested(which) => Ok(ctx.loaders().count(*which).await?),
        }
    }
}

type CountFuture = Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send>>;

/// `totalCount`, computed only when a client selects it.
pub enum TotalCount {
    /// A COUNT of a top-level connection.
    Query(Box<dyn Fn() -> CountFuture + Send + Sync>),
    /// A nested connection's count, grouped with its siblings' in one statement.
    Nested(NestedCount),
}

impl TotalCount {
    /// A count that runs `count` when asked.
    pub fn new<F, Fut>(count: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, AppError>> + Send + 'static,
    {
        Self::Query(Box::new(move || Box::pin(count())))
    }
}

/// Sort direction.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum SortDirection {
    /// Smallest (oldest) first.
    Asc,
    /// Largest (newest) first.
    #[default]
    Desc,
}

impl From<SortDirection> for Direction {
    fn from(d: SortDirection) -> Self {
        match d {
            SortDirection::Asc => Self::Asc,
            SortDirection::Desc => Self::Desc,
        }
    }
}

/// The first of its arguments: the default variant of a sort-field enum.
macro_rules! first_variant {
    ($first:expr $(, $rest:expr)*) => {
        $first
    };
}

/// Defines `<Name>SortField` (indexed fields only) and the `<Name>Sort`
/// input `{ field, direction }`, with the domain sort it maps to and the tag
/// written into cursors.
macro_rules! sort_input {
    ($input:ident, $field_enum:ident, $domain:ty, $doc:literal, { $($variant:ident => $target:expr),+ $(,)? }) => {
        #[doc = concat!("Indexed fields ", $doc, " can be sorted by.")]
        #[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
        pub enum $field_enum {
            $(
                #[doc = concat!("Sort by `", stringify!($variant), "`.")]
                $variant,
            )+
        }

        impl Default for $field_enum {
            fn default() -> Self {
                $crate::graphql::pagination::first_variant!($(Self::$variant),+)
            }
        }

        #[doc = concat!("How ", $doc, " are sorted; default newest first.")]
        #[derive(async_graphql::InputObject, Clone, Copy, Debug, Default)]
        pub struct $input {
            /// The field.
            #[graphql(default)]
            pub field: $field_enum,
            /// The direction.
            #[graphql(default)]
            pub direction: $crate::graphql::pagination::SortDirection,
        }

        impl $input {
            /// The domain sort, and the tag cursors carry.
            pub fn resolve(sort: Option<Self>) -> ($domain, $crate::domain::pagination::Direction, String) {
                let sort = sort.unwrap_or_default();
                let field = sort.field;
                let domain = match field {
                    $($field_enum::$variant => $target,)+
                };
                (domain, sort.direction.into(), format!("{field:?}:{:?}", sort.direction))
            }
        }
    };
}
pub(crate) use {first_variant, sort_input};

/// The complexity of a connection field: its selection costs once per row
/// of the page it asks for (`first` or `last`, else the default page size),
/// so a document cannot hide thousands of rows behind one field. Used by
/// every connection's `#[graphql(complexity)]`.
pub fn connection_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.or(last).map_or(DEFAULT_PAGE_SIZE, |n| u64::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE));
    1 + usize::try_from(rows.max(1)).unwrap_or(1).saturating_mul(child_complexity)
}

/// Converts every API value of a list filter into its domain value.
pub fn list<T: Copy, D: From<T>>(values: &Option<Vec<T>>) -> Option<Vec<D>> {
    values.as_ref().map(|v| v.iter().map(|x| D::from(*x)).collect())
}

/// A `totalCount` that runs `count(db, viewer, filter)` only when selected.
pub fn total<T, F, Fut>(ctx: &Context<'_>, filter: T, count: F) -> TotalCount
where
    T: Clone + Send + Sync + 'static,
    F: Fn(Limited, Option<Viewer>, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, AppError>> + Send + 'static,
{
    let (db, viewer) = (ctx.db().clone(), ctx.viewer().copied());
    TotalCount::new(move || count(db.clone(), viewer, filter.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pagination::SortValue;

    fn key() -> CursorKey {
        CursorKey::derive("test-secret-of-sufficient-length")
    }

    fn scope() -> CursorScope {
        CursorScope { connection: "orders", sort: "CREATED_AT:DESC".into(), key: key() }
    }

    #[test]
    fn cursors_are_bound_to_their_connection_and_sort() {
        let keyset = Keyset { value: SortValue::Int(5), id: uuid::Uuid::now_v7() };
        let cursor = scope().encode(&keyset);
        let args = PageArgs { after: Some(cursor.clone()), ..Default::default() };
        assert_eq!(scope().page_request(&args).expect("valid").after, Some(keyset));
        let other_sort = CursorScope { connection: "orders", sort: "TOTAL_AMOUNT:ASC".into(), key: key() };
        assert!(other_sort.page_request(&args).is_err());
        let other_conn = CursorScope { connection: "payments", sort: "CREATED_AT:DESC".into(), key: key() };
        assert!(other_conn.page_request(&args).is_err());
        let tampered = PageArgs { after: Some(format!("x{cursor}")), ..Default::default() };
        assert!(scope().page_request(&tampered).is_err());
    }

    #[test]
    fn a_forged_keyset_is_refused_before_sql() {
        // A well-formed cursor with a timestamp where the sort wants an
        // integer, signed with another key (or not at all).
        let forged = CursorData {
            c: "orders".into(),
            s: "CREATED_AT:DESC".into(),
            k: Keyset { value: SortValue::Text("'; DROP TABLE orders; --".into()), id: uuid::Uuid::nil() },
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        let other_key = CursorScope { key: CursorKey::derive("another-secret-of-enough-length"), ..scope() };
        let signed_elsewhere = other_key.encode(&forged.k);
        for cursor in [payload.clone(), format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA"), signed_elsewhere] {
            let args = PageArgs { after: Some(cursor), ..Default::default() };
            let err = scope().page_request(&args).expect_err("refused");
            assert!(matches!(err, AppError::Validation { .. }), "{err:?}");
        }
    }

    #[test]
    fn page_sizes_are_validated_not_clamped() {
        let req = |first, last| scope().page_request(&PageArgs { first, last, ..Default::default() });
        assert_eq!(req(None, None).expect("default").limit, DEFAULT_PAGE_SIZE);
        assert_eq!(req(Some(100), None).expect("max").limit, 100);
        assert!(req(Some(101), None).is_err());
        assert!(req(Some(-1), None).is_err());
        assert!(req(Some(5), Some(5)).is_err());
        let last = req(None, Some(3)).expect("last");
        assert!(last.backward && last.limit == 3);
    }
}
