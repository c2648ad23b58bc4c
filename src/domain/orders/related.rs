//! The relations of a page of orders, read together: every relation is
//! keyed by the orders themselves (ledger entries through their payments;
//! agents and their users through the assignments), so none waits for
//! another. A nested page is then three dependent round trips at most: the
//! viewer, the orders, their relations.
//!
//! How they are read is the one place where the backends differ here:
//!
//! - PostgreSQL: one statement, one row, whatever the page size. Each
//!   relation is a scalar subquery returning its rows as one JSON array of
//!   arrays (`json_agg(json_build_array(..))`, the columns in the model's
//!   field order), read back into the same models. A page's statement is
//!   keyed by one array of the page's ids (`= ANY($1)`, see [`Ids::array`]).
//!   `order(id:)` reads the order's own row in that same statement
//!   ([`by_id_with_related`]). Measured in bench/RESULTS.md, issue 14: rows
//!   as JSON objects (`json_agg(t)`) cost PostgreSQL twice the separate
//!   statements, arrays of the same columns less than them.
//! - SQLite (embedded, no round trips to save): one statement per relation,
//!   all at once. PostgreSQL falls back to it when the JSON is not readable.
//!
//! Both are built from the same access-scoped reads the per-field loaders
//! use (`payments::visible`, `wallets::visible_entries`,
//! `shipping::visible_assignments`, `access::delivery_agents`), so the
//! access rules are written once.

use std::collections::HashMap;

use entity::{delivery_agent, ledger_entry, order, order_item, payment, shipping_assignment, user};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SubQueryStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    QueryFilter, QueryResult, QueryTrait, Select,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::domain::ids::Ids;
use crate::domain::shipping::{self, AssignmentWithAgent};
use crate::domain::{Viewer, access, payments, users, wallets};
use crate::error::AppError;

/// Which relations to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    /// Buyers and sellers.
    pub parties: bool,
    /// Items.
    pub items: bool,
    /// Payments.
    pub payments: bool,
    /// The payments' ledger entries.
    pub entries: bool,
    /// Shipping assignments.
    pub assignments: bool,
    /// The assignments' agents and their users.
    pub agents: bool,
}

impl Include {
    /// Whether nothing is to be read.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What either asks for.
impl std::ops::BitOr for Include {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self {
            parties: self.parties || other.parties,
            items: self.items || other.items,
            payments: self.payments || other.payments,
            entries: self.entries || other.entries,
            assignments: self.assignments || other.assignments,
            agents: self.agents || other.agents,
        }
    }
}

/// The relations read for a page of orders. A relation that was not asked
/// for is empty; what the viewer may not see is absent.
#[derive(Debug, Default)]
pub struct Related {
    /// Buyers and sellers, by id.
    pub users: HashMap<Uuid, user::Model>,
    /// Items by order, in id order.
    pub items: HashMap<Uuid, Vec<order_item::Model>>,
    /// Visible payments by order, oldest first.
    pub payments: HashMap<Uuid, Vec<payment::Model>>,
    /// Visible ledger entries by payment, oldest first.
    pub entries: HashMap<Uuid, Vec<ledger_entry::Model>>,
    /// Visible assignments by order, oldest first, with their agents (when
    /// asked for and visible) and the agents' users (when asked for).
    pub assignments: HashMap<Uuid, Vec<AssignmentWithAgent>>,
}

impl Related {
    /// The rows read, keyed for assembly.
    fn of(
        users: Vec<user::Model>,
        items: Vec<order_item::Model>,
        payments: Vec<payment::Model>,
        entries: Vec<ledger_entry::Model>,
        assignments: Vec<AssignmentWithAgent>,
    ) -> Self {
        Self {
            users: users.into_iter().map(|u| (u.id, u)).collect(),
            items: grouped(items, |i| Some(i.order_id)),
            payments: grouped(payments, |p| Some(p.order_id)),
            entries: grouped(entries, |e| e.payment_id),
            assignments: grouped(assignments, |a| Some(a.0.order_id)),
        }
    }
}

fn grouped<M>(rows: Vec<M>, key: impl Fn(&M) -> Option<Uuid>) -> HashMap<Uuid, Vec<M>> {
    let mut out: HashMap<Uuid, Vec<M>> = HashMap::new();
    for row in rows {
        if let Some(k) = key(&row) {
            out.entry(k).or_default().push(row);
        }
    }
    out
}

async fn when<T: Default>(wanted: bool, read: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    if wanted { read.await } else { Ok(T::default()) }
}

/// Reads `include` for `orders` (which the viewer may see): one statement
/// on PostgreSQL, one per relation (all at once) on SQLite (span
/// `order_relations`, exported with the trace).
#[tracing::instrument(name = "order_relations", level = "debug", skip_all, fields(orders = orders.len()))]
pub async fn related(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[&order::Model],
    include: Include,
) -> Result<Related, AppError> {
    if orders.is_empty() || include.is_empty() {
        return Ok(Related::default());
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => match in_one_statement(db, viewer, orders, include).await? {
            Some(related) => Ok(related),
            None => statement_per_relation(db, viewer, orders, include).await,
        },
        _ => statement_per_relation(db, viewer, orders, include).await,
    }
}

/// The buyers and sellers of `orders`, each once.
fn parties_of(orders: &[&order::Model]) -> Vec<Uuid> {
    let mut parties: Vec<Uuid> = orders.iter().flat_map(|o| [o.buyer_id, o.seller_id]).collect();
    parties.sort_unstable();
    parties.dedup();
    parties
}

async fn statement_per_relation(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[&order::Model],
    include: Include,
) -> Result<Related, AppError> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let parties = if include.parties { parties_of(orders) } else { Vec::new() };
    let assignments = async {
        if include.agents {
            shipping::assignments_with_agents_of_orders(db, viewer, &ids).await
        } else {
            Ok(shipping::assignments_of_orders(db, viewer, &ids).await?.into_iter().map(|a| (a, None, None)).collect())
        }
    };
    let (users, items, payments, entries, assignments) = futures_util::try_join!(
        when(include.parties, users::profiles(db, &parties)),
        when(include.items, super::items_of(db, &ids)),
        when(include.payments, payments::of_orders(db, viewer, &ids)),
        when(include.entries, wallets::entries_of_orders(db, viewer, &ids)),
        when(include.assignments || include.agents, assignments),
    )?;
    Ok(Related::of(users, items, payments, entries, assignments))
}

/// `(SELECT coalesce(json_agg(json_build_array(t.c1, ..)), '[]')::text FROM
/// (<rows>) t)`: the rows as one JSON array of arrays (PostgreSQL), each
/// holding the row's columns in the order of `E`'s columns, which is the
/// order of its model's fields, so serde reads it back as the model. Arrays
/// rather than objects (`json_agg(t)`): PostgreSQL writes the same rows in
/// about half the time, without a key per value. `json_agg` keeps the order
/// in which the subquery hands the rows over, which is its own `ORDER BY`.
fn json_array<E: EntityTrait>(rows: Select<E>) -> Expr {
    let columns: Vec<String> = E::Column::iter().map(|c| format!(r#"t."{}""#, c.as_str())).collect();
    let array = Query::select()
        .expr(Expr::cust(format!("coalesce(json_agg(json_build_array({})), '[]')::text", columns.join(", "))))
        .from_subquery(rows.into_query(), Alias::new("t"))
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(array)))
}

/// The rows of one JSON array written by [`json_array`] (none when the
/// relation was not read).
fn rows_of<M: DeserializeOwned>(json: Option<&String>) -> Result<Vec<M>, serde_json::Error> {
    json.map_or_else(|| Ok(Vec::new()), |json| serde_json::from_str(json))
}

/// `SELECT (<relation as a JSON array>) AS items, ...`: every relation of
/// the page in one statement and one row (PostgreSQL). `None` when the
/// answer is not readable as JSON (see [`decoded`]).
async fn in_one_statement(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[&order::Model],
    include: Include,
) -> Result<Option<Related>, AppError> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let mut statement = Query::select();
    let parties = users::profiles_select(Ids::array(&parties_of(orders)));
    let selected = with_relations(&mut statement, viewer, Ids::array(&ids), parties, include);
    let row = db.query_one_raw(db.get_database_backend().build(&statement)).await?;
    Ok(match row {
        Some(row) => decoded(&row, &selected)?,
        None => Some(Related::default()),
    })
}

/// The visible order `id` (not soft-deleted) and `include`, read together:
/// on PostgreSQL in one statement, the order's own row with its relations as
/// JSON columns ([`with_relations`]), which PostgreSQL only computes when
/// the order is visible; elsewhere, or when the JSON is not readable, the
/// order and then [`related`]. `None` when the viewer may not see it.
pub async fn by_id_with_related(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    id: Uuid,
    include: Include,
) -> Result<Option<(order::Model, Related)>, AppError> {
    use order::Column as O;
    let Some(select) = super::by_ids_select(viewer, &[id]) else { return Ok(None) };
    if db.get_database_backend() == DatabaseBackend::Postgres && !include.is_empty() {
        let mut statement = select.into_query();
        // The parties of the row being read, not of ids known beforehand.
        let parties = user::Entity::find().filter(
            Condition::any()
                .add(Expr::col((user::Entity, user::Column::Id)).equals((order::Entity, O::BuyerId)))
                .add(Expr::col((user::Entity, user::Column::Id)).equals((order::Entity, O::SellerId))),
        );
        let selected = with_relations(&mut statement, viewer, Ids::listed(&[id]), parties, include);
        let Some(row) = db.query_one_raw(db.get_database_backend().build(&statement)).await? else { return Ok(None) };
        let model = order::Model::from_query_result(&row, "")?;
        if let Some(related) = decoded(&row, &selected)? {
            return Ok(Some((model, related)));
        }
        let related = statement_per_relation(db, viewer, &[&model], include).await?;
        return Ok(Some((model, related)));
    }
    let Some(model) = select.one(db).await? else { return Ok(None) };
    let related = related(db, viewer, &[&model], include).await?;
    Ok(Some((model, related)))
}

/// Adds `include` to `statement` as one JSON array column per relation
/// ([`json_array`]), each the very statement [`statement_per_relation`]
/// runs on its own (`*_select`) for the orders `ids`, and the parties as
/// read by `parties`. A relation the viewer may see none of is left out.
/// Returns the names of the columns added.
fn with_relations(
    statement: &mut SelectStatement,
    viewer: Option<&Viewer>,
    ids: Ids<'_>,
    parties: Select<user::Entity>,
    include: Include,
) -> Vec<&'static str> {
    use shipping_assignment::Column as A;
    let mut selected: Vec<&'static str> = Vec::new();
    let mut relation = |name: &'static str, array: Option<Expr>| {
        if let Some(array) = array {
            statement.expr_as(array, Alias::new(name));
            selected.push(name);
        }
    };
    if include.parties {
        relation(RELATED_PARTIES, Some(json_array(parties)));
    }
    if include.items {
        relation(RELATED_ITEMS, Some(json_array(super::items_of_select(ids))));
    }
    if include.payments {
        relation(RELATED_PAYMENTS, payments::of_orders_select(viewer, ids).map(json_array));
    }
    if include.entries {
        relation(RELATED_ENTRIES, wallets::entries_of_orders_select(viewer, ids).map(json_array));
    }
    if include.assignments || include.agents {
        relation(RELATED_ASSIGNMENTS, shipping::assignments_of_orders_select(viewer, ids).map(json_array));
    }
    if include.agents {
        // The agents of the orders' assignments and their users (the
        // statement-per-relation path joins them instead); only those of
        // visible assignments are attached when decoded.
        let agent_ids = Query::select()
            .column(A::AgentId)
            .from(shipping_assignment::Entity)
            .and_where(ids.matched_by(A::OrderId))
            .to_owned();
        let agents = access::delivery_agents(viewer)
            .apply(delivery_agent::Entity::find().filter(delivery_agent::Column::Id.in_subquery(agent_ids.clone())));
        relation(RELATED_AGENTS, agents.map(json_array));
        let their_users = Query::select()
            .column(delivery_agent::Column::UserId)
            .from(delivery_agent::Entity)
            .and_where(delivery_agent::Column::Id.in_subquery(agent_ids))
            .to_owned();
        relation(
            RELATED_AGENT_USERS,
            Some(json_array(user::Entity::find().filter(user::Column::Id.in_subquery(their_users)))),
        );
    }
    selected
}

// The JSON columns' names: apart from every column of `orders`, which a
// statement reading an order selects beside them.
const RELATED_PARTIES: &str = "related_parties";
const RELATED_ITEMS: &str = "related_items";
const RELATED_PAYMENTS: &str = "related_payments";
const RELATED_ENTRIES: &str = "related_entries";
const RELATED_ASSIGNMENTS: &str = "related_assignments";
const RELATED_AGENTS: &str = "related_agents";
const RELATED_AGENT_USERS: &str = "related_agent_users";

/// The relations in the JSON columns `selected` of `row` (written by
/// [`with_relations`]); `None` when they are not readable as JSON.
fn decoded(row: &QueryResult, selected: &[&str]) -> Result<Option<Related>, AppError> {
    let mut json: HashMap<&str, String> = HashMap::new();
    for &name in selected {
        if let Some(text) = row.try_get::<Option<String>>("", name)? {
            json.insert(name, text);
        }
    }
    let decoded = || -> Result<Related, serde_json::Error> {
        let agents: HashMap<Uuid, delivery_agent::Model> =
            rows_of::<delivery_agent::Model>(json.get(RELATED_AGENTS))?.into_iter().map(|a| (a.id, a)).collect();
        let agent_users: HashMap<Uuid, user::Model> =
            rows_of::<user::Model>(json.get(RELATED_AGENT_USERS))?.into_iter().map(|u| (u.id, u)).collect();
        let assignments = rows_of::<shipping_assignment::Model>(json.get(RELATED_ASSIGNMENTS))?.into_iter().map(|a| {
            let agent = a.agent_id.and_then(|id| agents.get(&id)).cloned();
            let user = agent.as_ref().and_then(|g| agent_users.get(&g.user_id)).cloned();
            (a, agent, user)
        });
        Ok(Related::of(
            rows_of(json.get(RELATED_PARTIES))?,
            rows_of(json.get(RELATED_ITEMS))?,
            rows_of(json.get(RELATED_PAYMENTS))?,
            rows_of(json.get(RELATED_ENTRIES))?,
            assignments.collect(),
        ))
    };
    // A value JSON carries differently from the row decoder (a timestamp
    // beyond the year 9999 or before year 1, which only an operator can
    // write) is read again the other way rather than failing the request.
    Ok(decoded()
        .inspect_err(|e| {
            tracing::warn!(event = "order_relations_fallback", error = %e, "an order's relations were not readable as JSON; read per relation instead");
        })
        .ok())
}
