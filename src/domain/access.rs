//! Who may see what, written once as SQL conditions so that single lookups
//! and lists share the same rule and filter in the database, never after it.
//!
//! - Admins see everything.
//! - Buyers see their own orders, payments and wallet; sellers see orders
//!   placed with them and their payments.
//! - Agents see assignments offered to them or open in a zip code they serve,
//!   and the orders behind their assignments.
//! - Any signed-in user sees delivery agents' public profiles.
//! - Anonymous viewers see nothing.
//!
//! A forbidden object reads as NOT_FOUND, so existence is not revealed.

use entity::{
    AssignmentStatus, delivery_agent, delivery_agent_zip_code, ledger_entry, order, payment, shipping_assignment, user,
    wallet,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

use crate::domain::Viewer;
use crate::error::AppError;

/// What part of a table a viewer may read.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every row.
    All,
    /// Rows matching the condition.
    Only(Condition),
    /// No row.
    Nothing,
}

impl Scope {
    /// Restricts `select` to the scope; `None` when nothing is visible.
    pub fn apply<E: EntityTrait>(self, select: Select<E>) -> Option<Select<E>> {
        match self {
            Self::All => Some(select),
            Self::Only(condition) => Some(select.filter(condition)),
            Self::Nothing => None,
        }
    }
}

impl Scope {
    /// Every row of `select` within the scope.
    pub async fn all<E: EntityTrait>(
        self,
        db: &impl ConnectionTrait,
        select: Select<E>,
    ) -> Result<Vec<E::Model>, AppError> {
        rows(db, self.apply(select)).await
    }
}

/// Every row of `select`; none when it is `None` (nothing visible).
pub async fn rows<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Option<Select<E>>,
) -> Result<Vec<E::Model>, AppError> {
    match select {
        Some(select) => Ok(select.all(db).await?),
        None => Ok(Vec::new()),
    }
}

/// Whether soft-deleted rows are to be shown: only when an admin asks.
/// A non-admin asking is FORBIDDEN rather than silently ignored.
pub fn include_deleted(viewer: Option<&Viewer>, requested: bool) -> Result<bool, AppError> {
    match (requested, viewer) {
        (false, _) => Ok(false),
        (true, Some(v)) if v.is_admin() => Ok(true),
        (true, _) => Err(AppError::Forbidden("Only admins may read deleted records".into())),
    }
}

fn scoped(viewer: Option<&Viewer>, rule: impl FnOnce(&Viewer) -> Condition) -> Scope {
    match viewer {
        None => Scope::Nothing,
        Some(v) if v.is_admin() => Scope::All,
        Some(v) => Scope::Only(rule(v)),
    }
}

/// `SELECT id FROM delivery_agents WHERE user_id = $viewer`.
fn agent_ids_of(user_id: Uuid) -> SelectStatement {
    Query::select()
        .column(delivery_agent::Column::Id)
        .from(delivery_agent::Entity)
        .and_where(delivery_agent::Column::UserId.eq(user_id))
        .to_owned()
}

/// `SELECT id FROM orders WHERE (buyer_id = $v OR seller_id = $v) AND deleted_at IS NULL`.
fn own_order_ids(user_id: Uuid) -> SelectStatement {
    Query::select()
        .column(order::Column::Id)
        .from(order::Entity)
        .cond_where(Condition::any().add(order::Column::BuyerId.eq(user_id)).add(order::Column::SellerId.eq(user_id)))
        .and_where(order::Column::DeletedAt.is_null())
        .to_owned()
}

/// Users (their public profile; the email stays the user's and admins'):
/// yourself, every delivery agent's user (agents are public to signed-in
/// users), and the buyer and seller of every order you may see, so a user
/// reached through a relation can also be fetched by `node(id:)`. Admins:
/// everyone.
pub fn users(viewer: Option<&Viewer>) -> Scope {
    scoped(viewer, |v| {
        let parties = |column: order::Column| {
            Query::select().column(column).from(order::Entity).cond_where(visible_orders(v)).to_owned()
        };
        Condition::any()
            .add(user::Column::Id.eq(v.id))
            .add(user::Column::Id.in_subquery(
                Query::select().column(delivery_agent::Column::UserId).from(delivery_agent::Entity).to_owned(),
            ))
            .add(user::Column::Id.in_subquery(parties(order::Column::BuyerId)))
            .add(user::Column::Id.in_subquery(parties(order::Column::SellerId)))
    })
}

/// Wallets: your own.
pub fn wallets(viewer: Option<&Viewer>) -> Scope {
    scoped(viewer, |v| Condition::all().add(wallet::Column::UserId.eq(v.id)))
}

/// Ledger entries: those of your own wallet.
pub fn ledger_entries(viewer: Option<&Viewer>) -> Scope {
    scoped(viewer, |v| {
        Condition::all().add(
            ledger_entry::Column::WalletId.in_subquery(
                Query::select()
                    .column(wallet::Column::Id)
                    .from(wallet::Entity)
                    .and_where(wallet::Column::UserId.eq(v.id))
                    .to_owned(),
            ),
        )
    })
}

/// Orders: bought, sold, or behind an assignment you may see (yours, or an
/// open offer in a zip code you serve, so you can decide to accept it).
pub fn orders(viewer: Option<&Viewer>) -> Scope {
    scoped(viewer, visible_orders)
}

/// The condition of [`orders`] for a viewer who is not an admin.
///
/// The assignment tests are correlated `EXISTS` on the order's own
/// assignments (an index lookup by `order_id` per order), not `orders.id IN
/// (every assignment that is mine or an open offer)`, which PostgreSQL
/// answers by hashing every such assignment on every read (3.9 ms against
/// 0.3 ms for a page of 20 over 5,000 assignments; bench/RESULTS.md).
///
/// Each `EXISTS` carries `LIMIT 1` (the same answer): without it,
/// PostgreSQL may turn an `EXISTS` back into that hashed form, and does so in
/// the generic plan a prepared statement settles on after five executions
/// (1.46 ms against 0.25 ms for the W3 statement); a `LIMIT` it cannot fold
/// away (a parameter, in the generic plan) keeps the per-order lookup.
fn visible_orders(v: &Viewer) -> Condition {
    use shipping_assignment::Column as A;
    let assignment_of_this_order = |mine_or_open: Condition| {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(shipping_assignment::Entity)
                .and_where(
                    Expr::col((shipping_assignment::Entity, A::OrderId)).equals((order::Entity, order::Column::Id)),
                )
                .cond_where(mine_or_open)
                .limit(1)
                .to_owned(),
        )
    };
    let mine = || Condition::all().add(A::AgentId.in_subquery(agent_ids_of(v.id)));
    let behind_my_assignments = assignment_of_this_order(
        Condition::any()
            .add(mine())
            .add(Condition::all().add(A::AgentId.is_null()).add(A::Status.eq(AssignmentStatus::Offered))),
    );
    let open_offer_zip_ok = Condition::any()
        .add(order::Column::DeliveryZipCode.in_subquery(served_zip_codes(v.id)))
        .add(assignment_of_this_order(mine()));
    Condition::any()
        .add(order::Column::BuyerId.eq(v.id))
        .add(order::Column::SellerId.eq(v.id))
        .add(Condition::all().add(behind_my_assignments).add(open_offer_zip_ok))
}

/// `SELECT zip_code FROM delivery_agent_zip_codes WHERE agent_id IN (my agents)`.
fn served_zip_codes(user_id: Uuid) -> SelectStatement {
    Query::select()
        .column(delivery_agent_zip_code::Column::ZipCode)
        .from(delivery_agent_zip_code::Entity)
        .and_where(delivery_agent_zip_code::Column::AgentId.in_subquery(agent_ids_of(user_id)))
        .to_owned()
}

/// Payments: those of orders you bought or sold (and that are not deleted).
pub fn payments(viewer: Option<&Viewer>) -> Scope {
    scoped(viewer, |v| Condition::all().add(payment::Column::OrderId.in_subquery(own_order_ids(v.id))))
}

/// Shipping assignments: yours as the agent, open offers in zip codes you
/// serve, and those of orders you bought or sold; never those of a deleted
/// order, which is gone for everyone but admins (its unfinished assignments
/// were withdrawn when it was deleted).
///
/// The deleted orders are left out with `order_id NOT IN (SELECT id FROM
/// orders WHERE deleted_at IS NOT NULL)`, answered from the partial index
/// `idx_orders_deleted` (the few deleted rows, hashed once). An `EXISTS` on
/// each assignment's order made PostgreSQL hash every order instead, in the
/// plans it makes for a prepared statement's first executions: an agent's
/// active assignments (W3) went from 0.8 to 9.5 ms (bench/RESULTS.md).
pub fn shipping_assignments(viewer: Option<&Viewer>) -> Scope {
    use shipping_assignment::Column as A;
    scoped(viewer, |v| {
        let served_zip_orders = Query::select()
            .column(order::Column::Id)
            .from(order::Entity)
            .and_where(order::Column::DeliveryZipCode.in_subquery(served_zip_codes(v.id)))
            .to_owned();
        let deleted_orders = Query::select()
            .column(order::Column::Id)
            .from(order::Entity)
            .and_where(order::Column::DeletedAt.is_not_null())
            .to_owned();
        let visible = Condition::any()
            .add(A::AgentId.in_subquery(agent_ids_of(v.id)))
            .add(
                Condition::all()
                    .add(A::AgentId.is_null())
                    .add(A::Status.eq(AssignmentStatus::Offered))
                    .add(A::OrderId.in_subquery(served_zip_orders)),
            )
            .add(of_own_order(v.id));
        Condition::all().add(visible).add(A::OrderId.not_in_subquery(deleted_orders))
    })
}

/// `EXISTS (SELECT 1 FROM orders WHERE orders.id = shipping_assignments.order_id
/// AND (buyer_id = me OR seller_id = me) LIMIT 1)`: a lookup of the
/// assignment's own order, where `order_id IN (every order I bought or
/// sold)` beside the rule's other alternatives made PostgreSQL hash all of a
/// seller's orders on every read (1.9 ms of a seller's 5.7 ms page over
/// 5,000 orders; bench/RESULTS.md). `LIMIT 1` for the reason given at
/// [`visible_orders`].
fn of_own_order(user_id: Uuid) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(order::Entity)
            .and_where(
                Expr::col((order::Entity, order::Column::Id))
                    .equals((shipping_assignment::Entity, shipping_assignment::Column::OrderId)),
            )
            .cond_where(
                Condition::any().add(order::Column::BuyerId.eq(user_id)).add(order::Column::SellerId.eq(user_id)),
            )
            .limit(1)
            .to_owned(),
    )
}

/// Delivery agents: every signed-in user sees their public profile.
pub fn delivery_agents(viewer: Option<&Viewer>) -> Scope {
    match viewer {
        None => Scope::Nothing,
        Some(_) => Scope::All,
    }
}

/// Webhook subscriptions and deliveries: admins only.
pub fn webhooks(viewer: Option<&Viewer>) -> Scope {
    audit_logs(viewer)
}

/// Audit logs: admins only.
pub fn audit_logs(viewer: Option<&Viewer>) -> Scope {
    match viewer {
        Some(v) if v.is_admin() => Scope::All,
        _ => Scope::Nothing,
    }
}
