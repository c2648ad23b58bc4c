//! Users in the API: `User`, the `UserRole` enum, the `users` connection's
//! filter and sort, and `viewer`.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, Enum, ID, InputObject, Object};

use crate::domain::lookup::EntityKind;
use crate::domain::users;
use crate::graphql::context::ContextExt;
use crate::graphql::error::GqlResult;
use crate::graphql::node::encode;
use crate::graphql::pagination::{Conn, PageArgs, Paging, connection_cost, list, paging, sort_input, total};
use crate::graphql::wallets::Wallet;

/// What a user may do.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::UserRole")]
pub enum UserRole {
    /// Places and pays for orders.
    Buyer,
    /// Receives orders.
    Seller,
    /// Delivers orders.
    Agent,
    /// Operates the platform.
    Admin,
}

/// Someone who signs in.
pub struct User(pub entity::user::Model);

/// Someone who signs in.
#[Object]
impl User {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::User, self.0.id)
    }
    /// Sign-in email; only the user themself and admins see it.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        let viewer = ctx.viewer()?;
        (viewer.id == self.0.id || viewer.is_admin()).then_some(self.0.email.as_str())
    }
    /// Name shown to others.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// Current role.
    async fn role(&self) -> UserRole {
        self.0.role.into()
    }
    /// The user's wallet, when the viewer may see it.
    async fn wallet(&self, ctx: &Context<'_>) -> GqlResult<Option<Wallet>> {
        Ok(ctx.loaders().wallet_by_user.load_one(self.0.id).await?.map(Wallet))
    }
    /// When the user was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When the user last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// When the user was soft-deleted.
    async fn deleted_at(&self) -> Option<DateTime> {
        self.0.deleted_at.map(Into::into)
    }
}

sort_input!(UserSort, UserSortField, users::UserSort, "users", {
    CreatedAt => users::UserSort::CreatedAt,
    Email => users::UserSort::Email,
});

/// Which users to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UserFilter {
    /// Any of these roles.
    pub role: Option<Vec<UserRole>>,
    /// Exact email.
    pub email: Option<String>,
}

impl UserFilter {
    /// The domain filter.
    pub fn into_domain(self, include_deleted: bool) -> users::UserFilter {
        users::UserFilter { role: list(&self.role), email: self.email, include_deleted }
    }
}

/// User reads.
#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The signed-in user, or null when the request carries no token.
    async fn viewer(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(viewer) = ctx.viewer() else { return Ok(None) };
        Ok(Some(User(users::me(ctx.db(), viewer).await?)))
    }
    /// Users (admins only).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<UserFilter>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<UserSort>,
        #[graphql(default, desc = "Include soft-deleted rows (admins only).")] include_deleted: bool,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<User>> {
        let viewer = ctx.require_admin()?;
        let filter = filter.unwrap_or_default().into_domain(include_deleted);
        let Paging { sort, direction, scope, page } =
            paging(ctx, "users", UserSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = users::list(ctx.db(), Some(viewer), &filter, &users::sort_key(sort, direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { users::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, User))
    }
}
