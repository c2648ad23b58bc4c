//! Orders read together with their relations: every relation is keyed by
//! the orders themselves (ledger entries through their payments; agents and
//! their users through the assignments), so none waits for another, and an
//! order and its relations come from one snapshot, so they agree with each
//! other even while they change (an order SHIPPING has its assignment picked
//! up, not still accepted).
//!
//! How they are read is the one place where the backends differ here:
//!
//! - PostgreSQL: one statement, one row, whatever the page size, so one
//!   snapshot. A page's orders are read in a `WITH "page"` and its relations
//!   keyed by the ids read there (`= ANY((SELECT "ids" FROM
//!   "page_ids")::uuid[])`, see [`Ids::read_by`]); the page and each relation come as one
//!   array per column ([`Rows::into_arrays`]), sent in binary
//!   ([`page_with_related`]). `order(id:)` reads the order's own row in the
//!   same statement as its relations, each a JSON array ([`Rows::into_json`]),
//!   which costs less than arrays for a few rows ([`by_id_with_related`]);
//!   that statement is built once per viewer role and set of relations and
//!   kept ([`ByIdStatements`]).
//!   Both are read back into the same models: arrays column by column,
//!   each decoded straight into its field ([`FromArrays`]), JSON by serde.
//!   Measured in bench/RESULTS.md,
//!   issue 14: for a page, rows as JSON objects (`json_agg(t)`) cost
//!   PostgreSQL twice the separate statements, JSON arrays less than them,
//!   binary arrays per column half of JSON arrays.
//! - SQLite (embedded, no round trips to save): the orders, then one
//!   statement per relation, in one read transaction, whose first read fixes
//!   the snapshot (WAL mode; `db::begin_snapshot`). PostgreSQL falls back to
//!   the statements per relation when an order's JSON is not readable.
//!
//! Both are built from the same access-scoped reads the per-field loaders
//! use (`payments::visible`, `wallets::visible_entries`,
//! `shipping::visible_assignments`, `access::delivery_agents`), so the
//! access rules are written once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use entity::{delivery_agent, ledger_entry, order, order_item, payment, shipping_assignment, user};
use std::fmt::Write as _;

use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, JoinType, PostgresQueryBuilder, Query, QueryBuilder, SelectStatement, SqlWriter,
    SqlWriterValues, SubQueryStatement,
};
use sea_orm::sqlx::postgres::{PgHasArrayType, PgRow};
use sea_orm::sqlx::{self, Row};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, QueryFilter, QueryResult, QueryTrait, Select, Statement, Value,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::db::Snapshots;
use crate::domain::ids::Ids;
use crate::domain::pagination::PageQuery;
use crate::domain::shipping::{self, AssignmentWithAgent};
use crate::domain::{Viewer, access, payments, users, wallets};
use crate::error::AppError;

/// Which of a table's columns a read needs, by their position among its
/// entity's columns. The one-statement page read ([`Rows::into_arrays`])
/// reads only those and fills the others of each model with a placeholder
/// ([`Element::placeholder`]), which nothing may then read: whoever asks for a set
/// of columns answers for it. Every column a relation is keyed or assembled
/// by, and every enum column (it has no placeholder), is read whatever is
/// asked ([`relations`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Columns(u64);

impl Columns {
    /// Every column.
    pub const ALL: Self = Self(u64::MAX);

    /// The columns `columns` of their entity.
    pub fn of<C: IdenStatic + Iterable>(columns: &[C]) -> Self {
        let mut bits = 0;
        // Past 64 columns `reads` reads every column anyway.
        for (i, column) in C::iter().enumerate().take(64) {
            if columns.iter().any(|c| c.as_str() == column.as_str()) {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }

    /// Whether the column at position `i` is read.
    fn reads(self, i: usize) -> bool {
        i >= 64 || self.0 & (1 << i) != 0
    }
}

impl std::ops::BitOr for Columns {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The columns to read of each table of a page read as arrays (none asked
/// by default: the union of two asks is what either needs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TableColumns {
    /// The orders themselves.
    pub orders: Columns,
    /// Buyers and sellers.
    pub parties: Columns,
    /// Items.
    pub items: Columns,
    /// Payments.
    pub payments: Columns,
    /// Ledger entries.
    pub entries: Columns,
    /// Shipping assignments.
    pub assignments: Columns,
    /// Delivery agents.
    pub agents: Columns,
    /// The agents' users.
    pub agent_users: Columns,
}

impl std::ops::BitOr for TableColumns {
    type Output = Self;

    fn bitor(self, o: Self) -> Self {
        Self {
            orders: self.orders | o.orders,
            parties: self.parties | o.parties,
            items: self.items | o.items,
            payments: self.payments | o.payments,
            entries: self.entries | o.entries,
            assignments: self.assignments | o.assignments,
            agents: self.agents | o.agents,
            agent_users: self.agent_users | o.agent_users,
        }
    }
}

/// Which relations to read, and which of their columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
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
    /// The columns needed of each table; only a page read as arrays reads
    /// fewer than all.
    pub columns: TableColumns,
}

impl Include {
    /// Whether no relation is to be read.
    pub fn is_empty(&self) -> bool {
        Self { columns: TableColumns::default(), ..*self } == Self::default()
    }

    /// Also the orders' columns `columns`.
    pub fn with_order_columns(mut self, columns: &[order::Column]) -> Self {
        self.columns.orders = self.columns.orders | Columns::of(columns);
        self
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
            columns: self.columns | other.columns,
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
    /// The rows read, keyed for assembly, each group in its relation's
    /// order. The order is set here, whatever order the rows were read in:
    /// a one-statement read does not sort them in SQL, where the sorts cost
    /// PostgreSQL a tenth of W1's statement (bench/RESULTS.md, issue 14),
    /// and a page's groups are a few rows each.
    fn of(
        users: Vec<user::Model>,
        items: Vec<order_item::Model>,
        payments: Vec<payment::Model>,
        entries: Vec<ledger_entry::Model>,
        assignments: Vec<AssignmentWithAgent>,
    ) -> Self {
        Self {
            users: users.into_iter().map(|u| (u.id, u)).collect(),
            items: grouped(items, |i| Some(i.order_id), |i| i.id),
            payments: grouped(payments, |p| Some(p.order_id), |p| (p.created_at, p.id)),
            entries: grouped(entries, |e| e.payment_id, |e| (e.created_at, e.id)),
            assignments: grouped(assignments, |a| Some(a.0.order_id), |a| (a.0.created_at, a.0.id)),
        }
    }
}

/// `rows` by `key`, each group sorted by `order` (unique per row).
fn grouped<M, O: Ord>(
    rows: Vec<M>,
    key: impl Fn(&M) -> Option<Uuid>,
    order: impl Fn(&M) -> O,
) -> HashMap<Uuid, Vec<M>> {
    let mut out: HashMap<Uuid, Vec<M>> = HashMap::new();
    for row in rows {
        if let Some(k) = key(&row) {
            out.entry(k).or_default().push(row);
        }
    }
    for group in out.values_mut() {
        group.sort_unstable_by_key(&order);
    }
    out
}

async fn when<T: Default>(wanted: bool, read: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    if wanted { read.await } else { Ok(T::default()) }
}

/// The orders `query` reads (visible ones only: its select is
/// access-scoped) and `include` for them, from one snapshot: on PostgreSQL
/// in one statement ([`page_in_one_statement`]), on SQLite in one read
/// transaction (span `order_relations`, exported with the trace).
//
// The reads are split into small functions, each awaited at one place and
// the heavy ones boxed: in debug builds a function's stack frame holds every
// future it awaits side by side, and together they came near a worker
// thread's 2 MiB stack (`order(id:)` on SQLite overflowed it).
#[tracing::instrument(name = "order_relations", level = "debug", skip_all)]
pub async fn page_with_related(
    db: &impl Snapshots,
    viewer: Option<&Viewer>,
    query: Option<PageQuery<order::Entity>>,
    include: Include,
) -> Result<(Vec<order::Model>, Related), AppError> {
    let Some(query) = query else { return Ok((Vec::new(), Related::default())) };
    if include.is_empty() {
        return Ok((Box::pin(query.rows(db)).await?, Related::default()));
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => Box::pin(page_in_one_statement(db, viewer, query, include)).await,
        _ => Box::pin(page_in_snapshot(db, viewer, query, include)).await,
    }
}

/// The orders `query` reads and then `include` for them, one statement per
/// relation, in one read transaction (SQLite).
async fn page_in_snapshot(
    db: &impl Snapshots,
    viewer: Option<&Viewer>,
    query: PageQuery<order::Entity>,
    include: Include,
) -> Result<(Vec<order::Model>, Related), AppError> {
    let snapshot = db.snapshot().await?;
    let orders = Box::pin(query.rows(&snapshot)).await?;
    let models: Vec<&order::Model> = orders.iter().collect();
    let related = Box::pin(statement_per_relation(&snapshot, viewer, &models, include)).await?;
    snapshot.commit().await?;
    Ok((orders, related))
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
    if orders.is_empty() || include.is_empty() {
        return Ok(Related::default());
    }
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

/// One relation to read in one statement: its name (the prefix of its
/// columns in the answer), its columns in the order of its model's fields,
/// and the statement reading its rows (a `*_select` builder's).
struct Rows {
    name: &'static str,
    columns: Vec<&'static str>,
    /// Which of `columns` [`Rows::into_arrays`] reads.
    read: Columns,
    query: SelectStatement,
}

impl Rows {
    /// Rows of `E` that `rows` reads, in no particular order: [`Related::of`]
    /// sorts them.
    fn of<E: EntityTrait>(name: &'static str, rows: Select<E>) -> Self {
        let mut query = rows.into_query();
        query.clear_order_by();
        Self::of_statement::<E>(name, query)
    }

    /// Rows of `E` that `query` reads (every column, by its name).
    fn of_statement<E: EntityTrait>(name: &'static str, query: SelectStatement) -> Self {
        Self { name, columns: E::Column::iter().map(|c| c.as_str()).collect(), read: Columns::ALL, query }
    }

    /// Read as arrays, only the columns `read` and those of `E` that are
    /// always read (`keys`: what the rows are keyed and assembled by, and
    /// every enum column).
    fn reading<E: EntityTrait>(mut self, read: Columns, keys: &[E::Column]) -> Self {
        self.read = read | Columns::of(keys);
        self
    }

    /// `SELECT array_agg(t.c1) AS "name_0", array_agg(t.c2) AS "name_1", ..
    /// FROM (<rows>) t`: the rows as one array per column, each in the order
    /// in which the subquery hands the rows over; every
    /// aggregate of one level sees the rows in the same order, so the arrays
    /// line up. One row whatever the number of rows (NULL arrays when there
    /// are none). Sent in binary, they cost PostgreSQL no text at all, where
    /// JSON made it write every uuid and timestamp as text, escaped, and look
    /// up each value's output function per row (bench/RESULTS.md, issue 14).
    fn into_arrays(self) -> SelectStatement {
        let mut arrays = Query::select();
        for (i, column) in self.columns.iter().enumerate().filter(|(i, _)| self.read.reads(*i)) {
            arrays.expr_as(Expr::cust(format!(r#"array_agg(t."{column}")"#)), Alias::new(format!("{}_{i}", self.name)));
        }
        arrays.from_subquery(self.query, Alias::new("t")).to_owned()
    }

    /// `(SELECT coalesce(json_agg(json_build_array(t.c1, ..)), '[]')::text
    /// FROM (<rows>) t)`: the rows as one JSON array of arrays, each holding
    /// a row's columns in the order of its model's fields, so serde reads it
    /// back as the model. Arrays rather than objects (`json_agg(t)`):
    /// PostgreSQL writes the same rows in about half the time, without a key
    /// per value. `json_agg` keeps the order in which the subquery hands the
    /// rows over.
    fn into_json(self) -> Expr {
        let columns: Vec<String> = self.columns.iter().map(|c| format!(r#"t."{c}""#)).collect();
        let array = Query::select()
            .expr(Expr::cust(format!("coalesce(json_agg(json_build_array({})), '[]')::text", columns.join(", "))))
            .from_subquery(self.query, Alias::new("t"))
            .to_owned();
        Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(array)))
    }
}

/// The name of the page's own rows among the arrays of
/// [`page_in_one_statement`] (apart from the relations' names).
const PAGE_ORDERS: &str = "page_orders";
/// The ids of the page's orders and their buyers and sellers (some twice),
/// read from the page once, for every relation to be keyed by.
const PAGE_IDS_CTE: &str = r#""page_ids" AS MATERIALIZED (SELECT array_agg("id") AS "ids", array_agg("buyer_id") || array_agg("seller_id") AS "parties" FROM "page")"#;
/// The ids of the page's orders.
const PAGE_IDS: &str = r#"(SELECT "ids" FROM "page_ids")::uuid[]"#;
/// The buyers and sellers of the page's orders.
const PAGE_PARTIES: &str = r#"(SELECT "parties" FROM "page_ids")::uuid[]"#;

/// Reads a page of orders and their relations in one statement, one row,
/// whatever the page size (PostgreSQL), so from one snapshot:
///
/// ```sql
/// WITH "page" AS MATERIALIZED (<the page's select> LIMIT n),
///   "page_ids" AS MATERIALIZED (SELECT array_agg("id") AS "ids", .. FROM "page")
/// SELECT "page_orders".*, "related_items".*, ..
/// FROM (SELECT array_agg(t."id") AS "page_orders_0", .. FROM (SELECT * FROM "page") t) "page_orders"
/// INNER JOIN (<items as arrays, keyed by the page's ids>) "related_items" ON true ..
/// ```
///
/// Each relation reads the ids from `page_ids` (one row) rather than
/// aggregating the page again: 8% less PostgreSQL time for W1's statement
/// (bench/RESULTS.md, issue 14).
///
/// The page's rows and each relation come as arrays
/// ([`Rows::into_arrays`]); the page's arrays keep the page's order (a
/// materialized CTE hands its rows over in the order they were read).
async fn page_in_one_statement(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    query: PageQuery<order::Entity>,
    include: Include,
) -> Result<(Vec<order::Model>, Related), AppError> {
    let (relations, values) = page_relations_kept().of(viewer, include);
    let statement = page_statement(&relations, values, &query);
    let Some(row) = db.query_one_raw(statement).await? else {
        return Err(DbErr::RecordNotFound("a page read as arrays answered no row".into()).into());
    };
    let arrays = Arrays(&row);
    Ok((arrays.models::<order::Entity>(PAGE_ORDERS)?, assembled(&arrays, &relations.selected)?))
}

/// What a page's statement reads besides its page of orders: the text from
/// `"page_ids"` on (the page's own arrays and every relation's), its
/// parameters (numbered from `$1`, before the page's), and the names of the
/// relations it selects. It depends on the viewer and `include` only.
#[derive(Debug)]
struct PageRelations {
    sql: String,
    values: Vec<Value>,
    selected: Vec<&'static str>,
}

/// The part of [`page_in_one_statement`]'s statement after its page.
fn page_relations(viewer: Option<&Viewer>, include: Include) -> PageRelations {
    use order::Column as O;
    let page = Query::select().column(Asterisk).from(Alias::new("page")).to_owned();
    let page = Rows::of_statement::<order::Entity>(PAGE_ORDERS, page)
        .reading::<order::Entity>(include.columns.orders, &[O::Id, O::BuyerId, O::SellerId, O::Status]);
    let parties = users::profiles_select(Ids::read_by(PAGE_PARTIES));
    let relations = relations(viewer, Ids::read_by(PAGE_IDS), parties, include);
    let selected: Vec<&'static str> = relations.iter().map(|r| r.name).collect();
    let mut statement = Query::select();
    for (i, rows) in std::iter::once(page).chain(relations).enumerate() {
        let name = Alias::new(rows.name);
        statement.column((name.clone(), Asterisk));
        if i == 0 {
            statement.from_subquery(rows.into_arrays(), name);
        } else {
            statement.join_subquery(JoinType::InnerJoin, rows.into_arrays(), name, Expr::cust("true"));
        }
    }
    // Writing into the writer's string cannot fail.
    let mut sql = SqlWriterValues::new("$", true);
    let _ = write!(sql, "{PAGE_IDS_CTE} ");
    statement.build_collect_into(PostgresQueryBuilder, &mut sql);
    let (sql, values) = sql.into_parts();
    PageRelations { sql, values: values.0, selected }
}

/// The statement reading `query`'s page and `relations`, with `values` for
/// the relations' parameters: the page's select numbers its own after them
/// (PostgreSQL takes them in any order in the text).
fn page_statement(relations: &PageRelations, values: Vec<Value>, query: &PageQuery<order::Entity>) -> Statement {
    let mut sql = NumberedAfter { sql: String::with_capacity(relations.sql.len() + 1024), values };
    sql.sql.push_str(r#"WITH "page" AS MATERIALIZED ("#);
    QueryTrait::as_query(&query.select).build_collect_into(PostgresQueryBuilder, &mut sql);
    sql.sql.push_str(&query.limit_clause());
    sql.sql.push_str("), ");
    sql.sql.push_str(&relations.sql);
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql.sql, sql.values)
}

/// A sea-query writer that numbers PostgreSQL parameters after the values
/// it starts with.
struct NumberedAfter {
    sql: String,
    values: Vec<Value>,
}

impl std::fmt::Write for NumberedAfter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.sql.write_str(s)
    }
}

impl std::fmt::Display for NumberedAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)
    }
}

impl SqlWriter for NumberedAfter {
    fn push_param<T: QueryBuilder>(&mut self, value: Value, _: &T) {
        self.values.push(value);
        let _ = write!(self.sql, "${}", self.values.len());
    }

    fn as_writer(&mut self) -> &mut dyn std::fmt::Write {
        self as _
    }
}

/// [`page_relations`] built once per viewer role and `include`, then kept,
/// as `order(id:)`'s statement is ([`ByIdStatements`]): building it took
/// about a tenth of W1's server CPU (bench/RESULTS.md, issue 14). It is
/// built for a stand-in viewer id, random per process, which each request's
/// viewer id replaces among its values
/// (`a_kept_page_statement_is_the_statement_built_for_the_request`). The
/// sets of columns a client can ask for are many, so at most 1,000 are kept,
/// the least used dropped first.
struct PageRelationsKept {
    viewer: Uuid,
    built: moka::sync::Cache<(Option<entity::UserRole>, Include), Arc<PageRelations>>,
}

fn page_relations_kept() -> &'static PageRelationsKept {
    static KEPT: LazyLock<PageRelationsKept> =
        LazyLock::new(|| PageRelationsKept { viewer: Uuid::new_v4(), built: moka::sync::Cache::new(1_000) });
    &KEPT
}

impl PageRelationsKept {
    /// The kept relations for the viewer's role and `include`, and their
    /// values for the viewer.
    fn of(&self, viewer: Option<&Viewer>, include: Include) -> (Arc<PageRelations>, Vec<Value>) {
        let built = self.built.get_with((viewer.map(|v| v.role), include), || {
            let stand_in = viewer.map(|v| Viewer { id: self.viewer, role: v.role });
            Arc::new(page_relations(stand_in.as_ref(), include))
        });
        let mut values = built.values.clone();
        put_ids(values.iter_mut(), &[(self.viewer, viewer.map(|v| v.id))]);
        (built, values)
    }
}

/// Puts each request's id in place of its stand-in among a kept statement's
/// `values`: `(stand-in, id)` pairs; a stand-in without an id stays (no
/// viewer: the statement has no viewer's value).
fn put_ids<'a>(values: impl Iterator<Item = &'a mut Value>, ids: &[(Uuid, Option<Uuid>)]) {
    for value in values {
        if let Value::Uuid(Some(uuid)) = value
            && let Some((_, Some(id))) = ids.iter().find(|(stand_in, _)| stand_in == uuid)
        {
            *uuid = *id;
        }
    }
}

/// The visible order `id` (not soft-deleted) and `include`, read together
/// from one snapshot: on PostgreSQL in one statement, the order's own row
/// with each relation as a JSON column ([`Rows::into_json`]), which
/// PostgreSQL only computes when the order is visible; elsewhere, or when
/// the JSON is not readable, as a page of one ([`page_with_related`]).
/// `None` when the viewer may not see it.
///
/// JSON rather than the arrays a page is read as: for one order's few rows,
/// what costs PostgreSQL most is setting up the statement's plan, and an
/// aggregate per column (some 60) cost more than it saved (W2 went from
/// 2,250 to 1,606 requests/s; bench/RESULTS.md, issue 14).
pub async fn by_id_with_related(
    db: &impl Snapshots,
    viewer: Option<&Viewer>,
    id: Uuid,
    include: Include,
) -> Result<Option<(order::Model, Related)>, AppError> {
    if db.get_database_backend() == DatabaseBackend::Postgres && !include.is_empty() {
        let Some((statement, selected)) = by_id_statements().statement(viewer, id, include) else { return Ok(None) };
        let Some(row) = db.query_one_raw(statement).await? else { return Ok(None) };
        let model = order::Model::from_query_result(&row, "")?;
        match assembled(&Json::of(&row, &selected)?, &selected) {
            Ok(related) => return Ok(Some((model, related))),
            // A value JSON carries differently from the row decoder (a
            // timestamp beyond the year 9999 or before year 1, which only
            // an operator can write) is read again as arrays, in binary,
            // rather than failing the request.
            Err(e) => {
                tracing::warn!(event = "order_relations_fallback", order = %id, error = %e, "an order's relations were not readable as JSON; read as arrays instead");
            }
        }
    }
    let Some(select) = super::by_ids_select(viewer, &[id]) else { return Ok(None) };
    Box::pin(one_with_related(db, viewer, select, include)).await
}

/// The statement of [`by_id_with_related`] on PostgreSQL and the names of
/// the relations it selects: the order's own row with each relation as a
/// JSON column ([`Rows::into_json`]). `None` when the viewer may see no
/// order.
fn by_id_statement(viewer: Option<&Viewer>, id: Uuid, include: Include) -> Option<ByIdStatement> {
    use order::Column as O;
    let mut statement = super::by_ids_select(viewer, &[id])?.into_query();
    // The parties of the row being read, not of ids known beforehand.
    let parties = user::Entity::find().filter(
        Condition::any()
            .add(Expr::col((user::Entity, user::Column::Id)).equals((order::Entity, O::BuyerId)))
            .add(Expr::col((user::Entity, user::Column::Id)).equals((order::Entity, O::SellerId))),
    );
    let mut selected: Vec<&'static str> = Vec::new();
    // The agents and their users come joined to the assignments when
    // every agent the viewer meets is visible to it: a subquery each
    // (keyed by the order's assignments again) cost PostgreSQL a tenth
    // of W2's statement (bench/RESULTS.md, issue 14).
    let joined = include.agents && matches!(access::delivery_agents(viewer), access::Scope::All);
    let separate = if joined { Include { assignments: false, agents: false, ..include } } else { include };
    for rows in relations(viewer, Ids::listed(&[id]), parties, separate) {
        let name = rows.name;
        selected.push(name);
        statement.expr_as(rows.into_json(), Alias::new(name));
    }
    if joined && let Some(json) = assignments_with_agents_json(viewer, Ids::listed(&[id])) {
        selected.push(RELATED_ASSIGNMENTS_WITH_AGENTS);
        statement.expr_as(json, Alias::new(RELATED_ASSIGNMENTS_WITH_AGENTS));
    }
    Some((DatabaseBackend::Postgres.build(&statement), selected))
}

/// [`by_id_statement`] built once per viewer role and set of relations
/// (it reads every column whatever is asked), then kept: building it on
/// every request took 0.09 of W2's 0.31 ms of server CPU (bench/RESULTS.md,
/// issue 14). It is built for
/// stand-in ids, random per process, which each request's order and viewer
/// ids replace among the statement's values; nothing else in it depends on
/// the request (`a_kept_statement_is_the_statement_built_for_the_request`).
struct ByIdStatements {
    /// Stand-ins for the order's id and the viewer's.
    order: Uuid,
    viewer: Uuid,
    /// At most 5 roles (and none) times 64 sets of relations.
    built: RwLock<HashMap<ByIdShape, Option<Arc<ByIdStatement>>>>,
}

/// A statement and the names of the relations it selects.
type ByIdStatement = (Statement, Vec<&'static str>);

/// What [`by_id_statement`] depends on besides the ids.
type ByIdShape = (Option<entity::UserRole>, [bool; 6]);

fn by_id_statements() -> &'static ByIdStatements {
    static KEPT: LazyLock<ByIdStatements> =
        LazyLock::new(|| ByIdStatements { order: Uuid::new_v4(), viewer: Uuid::new_v4(), built: RwLock::default() });
    &KEPT
}

impl ByIdStatements {
    fn statement(&self, viewer: Option<&Viewer>, id: Uuid, include: Include) -> Option<ByIdStatement> {
        let Include { parties, items, payments, entries, assignments, agents, .. } = include;
        let shape = (viewer.map(|v| v.role), [parties, items, payments, entries, assignments, agents]);
        let kept = self.built.read().unwrap_or_else(PoisonError::into_inner).get(&shape).cloned();
        let built = match kept {
            Some(built) => built,
            None => {
                let stand_in = viewer.map(|v| Viewer { id: self.viewer, role: v.role });
                let built = by_id_statement(stand_in.as_ref(), self.order, include).map(Arc::new);
                self.built.write().unwrap_or_else(PoisonError::into_inner).insert(shape, built.clone());
                built
            }
        }?;
        let (mut statement, selected) = (built.0.clone(), built.1.clone());
        let values = statement.values.iter_mut().flat_map(|values| values.0.iter_mut());
        put_ids(values, &[(self.order, Some(id)), (self.viewer, viewer.map(|v| v.id))]);
        Some((statement, selected))
    }
}

/// The visible order `number` (not soft-deleted) and `include`, read
/// together as a page of one ([`page_with_related`]). `None` when the viewer
/// may not see it.
pub async fn by_number_with_related(
    db: &impl Snapshots,
    viewer: Option<&Viewer>,
    number: &str,
    include: Include,
) -> Result<Option<(order::Model, Related)>, AppError> {
    match super::queries::by_number_select(viewer, number)? {
        Some(select) => one_with_related(db, viewer, select, include).await,
        None => Ok(None),
    }
}

/// The first order of `select` and `include`, as a page of one.
async fn one_with_related(
    db: &impl Snapshots,
    viewer: Option<&Viewer>,
    select: Select<order::Entity>,
    include: Include,
) -> Result<Option<(order::Model, Related)>, AppError> {
    let (mut orders, related) = page_with_related(db, viewer, Some(PageQuery { select, limit: 1 }), include).await?;
    Ok(orders.pop().map(|order| (order, related)))
}

/// The relations `include` asks for, for the orders `ids`, each the very
/// statement [`statement_per_relation`] runs on its own (`*_select`), and
/// the parties as read by `parties`. A relation the viewer may see none of
/// is left out.
///
/// Read as arrays, each reads the columns `include.columns` asks for, and
/// always those it is keyed, sorted ([`Related::of`]) and assembled by and
/// its enum columns.
fn relations(viewer: Option<&Viewer>, ids: Ids<'_>, parties: Select<user::Entity>, include: Include) -> Vec<Rows> {
    use shipping_assignment::Column as A;
    use {delivery_agent::Column as D, ledger_entry::Column as L, order_item::Column as I, payment::Column as P};
    let (columns, user_keys) = (include.columns, [user::Column::Id, user::Column::Role]);
    let mut relations = Vec::new();
    if include.parties {
        relations.push(Rows::of(RELATED_PARTIES, parties).reading::<user::Entity>(columns.parties, &user_keys));
    }
    if include.items {
        let items = Rows::of(RELATED_ITEMS, super::items_of_select(ids));
        relations.push(items.reading::<order_item::Entity>(columns.items, &[I::Id, I::OrderId]));
    }
    if include.payments {
        // `payments::current` picks by status, creation time and id.
        let keys = [P::Id, P::OrderId, P::Status, P::Method, P::CreatedAt];
        relations.extend(
            payments::of_orders_select(viewer, ids)
                .map(|r| Rows::of(RELATED_PAYMENTS, r).reading::<payment::Entity>(columns.payments, &keys)),
        );
    }
    if include.entries {
        let keys = [L::Id, L::PaymentId, L::EntryType, L::CreatedAt];
        relations.extend(
            wallets::entries_of_orders_select(viewer, ids)
                .map(|r| Rows::of(RELATED_ENTRIES, r).reading::<ledger_entry::Entity>(columns.entries, &keys)),
        );
    }
    if include.assignments || include.agents {
        let keys = [A::Id, A::OrderId, A::AgentId, A::Status, A::CreatedAt];
        relations.extend(shipping::assignments_of_orders_select(viewer, ids).map(|r| {
            Rows::of(RELATED_ASSIGNMENTS, r).reading::<shipping_assignment::Entity>(columns.assignments, &keys)
        }));
    }
    if include.agents {
        // The agents of the orders' assignments and their users (the
        // statement-per-relation path joins them instead); only those of
        // visible assignments are attached when assembled.
        let agent_ids = Query::select()
            .column(A::AgentId)
            .from(shipping_assignment::Entity)
            .and_where(ids.matched_by(A::OrderId))
            .to_owned();
        let agents = access::delivery_agents(viewer)
            .apply(delivery_agent::Entity::find().filter(delivery_agent::Column::Id.in_subquery(agent_ids.clone())));
        let keys = [D::Id, D::UserId, D::Status];
        relations.extend(
            agents.map(|r| Rows::of(RELATED_AGENTS, r).reading::<delivery_agent::Entity>(columns.agents, &keys)),
        );
        let their_users = Query::select()
            .column(delivery_agent::Column::UserId)
            .from(delivery_agent::Entity)
            .and_where(delivery_agent::Column::Id.in_subquery(agent_ids))
            .to_owned();
        let users = user::Entity::find().filter(user::Column::Id.in_subquery(their_users));
        relations.push(Rows::of(RELATED_AGENT_USERS, users).reading::<user::Entity>(columns.agent_users, &user_keys));
    }
    relations
}

/// `(SELECT coalesce(json_agg(json_build_array(json_build_array(<assignment>),
/// <agent or null>, <its user or null>)), '[]')::text FROM (..) t)`: the
/// visible assignments of `orders`, oldest first, each joined with its agent
/// and the agent's user (one-to-one levels): the statement of
/// [`shipping::assignments_with_agents_of_orders`]; the agents' rule must
/// let the viewer see every agent. `None` when no assignment is visible.
fn assignments_with_agents_json(viewer: Option<&Viewer>, orders: Ids<'_>) -> Option<Expr> {
    /// `t."<prefix><column>", ..` for every column of `E`, in its model's order.
    fn row<E: EntityTrait>(prefix: &str) -> String {
        E::Column::iter().map(|c| format!(r#"t."{prefix}{}""#, c.as_str())).collect::<Vec<_>>().join(", ")
    }
    let joined = shipping::assignments_with_agents_of_orders_select(viewer, orders)?;
    // sea-orm names the columns of the three tables `A_..`, `B_..`, `C_..`.
    let json = format!(
        r#"coalesce(json_agg(json_build_array(json_build_array({}), CASE WHEN t."B_id" IS NULL THEN NULL ELSE json_build_array({}) END, CASE WHEN t."C_id" IS NULL THEN NULL ELSE json_build_array({}) END)), '[]')::text"#,
        row::<shipping_assignment::Entity>("A_"),
        row::<delivery_agent::Entity>("B_"),
        row::<user::Entity>("C_"),
    );
    // In no particular order: `Related::of` sorts them.
    let mut joined = QueryTrait::into_query(joined);
    joined.clear_order_by();
    let array = Query::select().expr(Expr::cust(json)).from_subquery(joined, Alias::new("t")).to_owned();
    Some(Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(array))))
}

// The relations' names (and prefixes of their array columns, `name_0`,
// ...): apart from every column of `orders`, which a statement reading an
// order selects beside them.
const RELATED_PARTIES: &str = "related_parties";
const RELATED_ITEMS: &str = "related_items";
const RELATED_PAYMENTS: &str = "related_payments";
const RELATED_ENTRIES: &str = "related_entries";
const RELATED_ASSIGNMENTS: &str = "related_assignments";
const RELATED_AGENTS: &str = "related_agents";
const RELATED_AGENT_USERS: &str = "related_agent_users";
/// Assignments joined with their agents and users ([`assignments_with_agents_json`]).
const RELATED_ASSIGNMENTS_WITH_AGENTS: &str = "related_assignments_with_agents";

/// Reads a relation's models out of the row of a one-statement read.
trait Reader {
    /// The rows of relation `name` (which was read).
    fn rows<E: EntityTrait>(&self, name: &str) -> Result<Vec<E::Model>, DbErr>
    where
        E::Model: DeserializeOwned + FromArrays;

    /// The assignments read joined with their agents and users, when they
    /// were ([`assignments_with_agents_json`]).
    fn joined_assignments(&self) -> Result<Option<Vec<AssignmentWithAgent>>, DbErr> {
        Ok(None)
    }
}

/// The relations `selected` of a one-statement read, as [`Related`].
fn assembled(reader: &impl Reader, selected: &[&str]) -> Result<Related, DbErr> {
    fn read<E: EntityTrait>(reader: &impl Reader, selected: &[&str], name: &str) -> Result<Vec<E::Model>, DbErr>
    where
        E::Model: DeserializeOwned + FromArrays,
    {
        if selected.contains(&name) { reader.rows::<E>(name) } else { Ok(Vec::new()) }
    }
    let assignments = match reader.joined_assignments()? {
        Some(joined) => joined,
        None => {
            let agents: HashMap<Uuid, delivery_agent::Model> =
                read::<delivery_agent::Entity>(reader, selected, RELATED_AGENTS)?
                    .into_iter()
                    .map(|a| (a.id, a))
                    .collect();
            let agent_users: HashMap<Uuid, user::Model> =
                read::<user::Entity>(reader, selected, RELATED_AGENT_USERS)?.into_iter().map(|u| (u.id, u)).collect();
            read::<shipping_assignment::Entity>(reader, selected, RELATED_ASSIGNMENTS)?
                .into_iter()
                .map(|a| {
                    let agent = a.agent_id.and_then(|id| agents.get(&id)).cloned();
                    let user = agent.as_ref().and_then(|g| agent_users.get(&g.user_id)).cloned();
                    (a, agent, user)
                })
                .collect()
        }
    };
    Ok(Related::of(
        read::<user::Entity>(reader, selected, RELATED_PARTIES)?,
        read::<order_item::Entity>(reader, selected, RELATED_ITEMS)?,
        read::<payment::Entity>(reader, selected, RELATED_PAYMENTS)?,
        read::<ledger_entry::Entity>(reader, selected, RELATED_ENTRIES)?,
        assignments,
    ))
}

/// A row holding relations as arrays ([`Rows::into_arrays`]).
struct Arrays<'a>(&'a QueryResult);

impl Reader for Arrays<'_> {
    fn rows<E: EntityTrait>(&self, name: &str) -> Result<Vec<E::Model>, DbErr>
    where
        E::Model: FromArrays,
    {
        self.models::<E>(name)
    }
}

impl Arrays<'_> {
    /// The rows of `name`, built from the arrays `name_0`, `name_1`, .. (one
    /// per column, numbered by the column's position among its entity's).
    fn models<E: EntityTrait>(&self, name: &str) -> Result<Vec<E::Model>, DbErr>
    where
        E::Model: FromArrays,
    {
        let Some(row) = self.0.try_as_pg_row() else {
            return Err(DbErr::Type("relations as arrays are read from PostgreSQL only".into()));
        };
        E::Model::from_arrays(row, name)
    }
}

/// A model built from one array per column, the rows' values in order.
trait FromArrays: Sized {
    /// The rows of relation `name` of `row`.
    fn from_arrays(row: &PgRow, name: &str) -> Result<Vec<Self>, DbErr>;
}

/// The arrays of relation `name` in `row`, one per column of `E`, all as
/// long as the first (the id, always read).
struct ArrayColumns<'a> {
    row: &'a PgRow,
    name: &'a str,
    len: usize,
}

impl<'a> ArrayColumns<'a> {
    /// The arrays of `name`, as long as that of `key` (always read), and
    /// its values.
    fn keyed<C: ColumnTrait>(row: &'a PgRow, name: &'a str, key: C) -> Result<(Self, Vec<Uuid>), DbErr> {
        let keys: Vec<Uuid> = Element::read(row, &format!("{name}_{}", Self::position(&key)))?;
        Ok((Self { row, name, len: keys.len() }, keys))
    }

    /// The position of `column` among its entity's, which numbers its array.
    fn position<C: ColumnTrait>(column: &C) -> usize {
        C::iter().position(|c| c.as_str() == column.as_str()).unwrap_or_default()
    }

    /// The values of `column` of the `len` rows: its array's, or, when it
    /// was not read ([`Rows::reading`]), the placeholder of its type, which
    /// no one reads.
    fn column<T: Element, C: ColumnTrait>(&self, column: C) -> Result<std::vec::IntoIter<T>, DbErr> {
        let array = format!("{}_{}", self.name, Self::position(&column));
        if self.row.try_column(array.as_str()).is_err() {
            let placeholder = T::placeholder().ok_or_else(|| {
                DbErr::Type(format!("{}: column {} must be read, it has no placeholder", self.name, column.as_str()))
            })?;
            return Ok(vec![placeholder; self.len].into_iter());
        }
        let values = T::read(self.row, &array)?;
        if values.len() != self.len {
            return Err(DbErr::Type(format!("{}: arrays of different lengths", self.name)));
        }
        Ok(values.into_iter())
    }
}

/// `FromArrays` for each model read with a page: every field from the
/// array of its column, so a field left out does not compile and each
/// value is decoded straight into its field's type (no `Value` or
/// `ActiveModel` per value: a page's relations are some 3,000 values).
macro_rules! from_arrays {
    ($($entity:ident { $first:ident: $first_column:ident, $($field:ident: $column:ident),* $(,)? })*) => {$(
        impl FromArrays for $entity::Model {
            fn from_arrays(row: &PgRow, name: &str) -> Result<Vec<Self>, DbErr> {
                let (arrays, $first) = ArrayColumns::keyed(row, name, $entity::Column::$first_column)?;
                $( let mut $field = arrays.column($entity::Column::$column)?; )*
                $first
                    .into_iter()
                    .map(|$first| {
                        Ok(Self {
                            $first,
                            $( $field: $field.next().ok_or_else(|| DbErr::Type(format!("{name}: arrays of different lengths")))?, )*
                        })
                    })
                    .collect()
            }
        }
    )*};
}

from_arrays! {
    order {
        id: Id, order_number: OrderNumber, buyer_id: BuyerId, seller_id: SellerId, status: Status,
        total_minor: TotalMinor, currency: Currency, delivery_zip_code: DeliveryZipCode, version: Version,
        cancel_reason: CancelReason, created_at: CreatedAt, updated_at: UpdatedAt, deleted_at: DeletedAt,
        deleted_by: DeletedBy,
    }
    order_item { id: Id, order_id: OrderId, name: Name, quantity: Quantity, unit_price_minor: UnitPriceMinor }
    payment {
        id: Id, order_id: OrderId, amount_minor: AmountMinor, currency: Currency, method: Method, status: Status,
        refunded_minor: RefundedMinor, captured_at: CapturedAt, created_at: CreatedAt, updated_at: UpdatedAt,
        processor_ref: ProcessorRef, processor_status: ProcessorStatus,
    }
    ledger_entry {
        id: Id, wallet_id: WalletId, payment_id: PaymentId, amount_minor: AmountMinor, currency: Currency,
        entry_type: EntryType, idempotency_key: IdempotencyKey, created_at: CreatedAt,
    }
    shipping_assignment {
        id: Id, order_id: OrderId, agent_id: AgentId, status: Status, estimated_delivery_time: EstimatedDeliveryTime,
        accepted_at: AcceptedAt, picked_up_at: PickedUpAt, delivered_at: DeliveredAt, failure_reason: FailureReason,
        version: Version, created_at: CreatedAt, updated_at: UpdatedAt, open_offer: OpenOffer,
    }
    delivery_agent {
        id: Id, user_id: UserId, agent_code: AgentCode, status: Status, is_available: IsAvailable,
        created_at: CreatedAt, updated_at: UpdatedAt,
    }
    user {
        id: Id, email: Email, display_name: DisplayName, role: Role, created_at: CreatedAt, updated_at: UpdatedAt,
        deleted_at: DeletedAt, deleted_by: DeletedBy,
    }
}

/// A column's type, as read from an array of a one-statement read.
trait Element: Sized + Clone {
    /// The values of array `name` of `row` (none when it is NULL: no rows).
    fn read(row: &PgRow, name: &str) -> Result<Vec<Self>, DbErr>;
    /// What a column that was not read holds: NULL when it may, else a
    /// zero of its type; `None` for enums, whose columns are always read.
    fn placeholder() -> Option<Self>;
}

/// The values of array `name` of `row`, decoded by sqlx.
fn decoded<T>(row: &PgRow, name: &str) -> Result<Vec<T>, DbErr>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + PgHasArrayType,
{
    let values: Option<Vec<T>> = row.try_get(name).map_err(|e| DbErr::Type(format!("{name}: {e}")))?;
    Ok(values.unwrap_or_default())
}

macro_rules! elements {
    ($($t:ty => $zero:expr),* $(,)?) => {$(
        impl Element for $t {
            fn read(row: &PgRow, name: &str) -> Result<Vec<Self>, DbErr> {
                decoded(row, name)
            }
            fn placeholder() -> Option<Self> {
                Some($zero)
            }
        }
        impl Element for Option<$t> {
            fn read(row: &PgRow, name: &str) -> Result<Vec<Self>, DbErr> {
                decoded(row, name)
            }
            fn placeholder() -> Option<Self> {
                Some(None)
            }
        }
    )*};
}

elements! {
    Uuid => Uuid::nil(),
    String => String::new(),
    i32 => 0,
    i64 => 0,
    bool => false,
    DateTime<Utc> => DateTime::<Utc>::UNIX_EPOCH,
}

macro_rules! enum_elements {
    ($($t:ty),* $(,)?) => {$(
        impl Element for $t {
            fn read(row: &PgRow, name: &str) -> Result<Vec<Self>, DbErr> {
                decoded::<String>(row, name)?.iter().map(<$t as sea_orm::ActiveEnum>::try_from_value).collect()
            }
            fn placeholder() -> Option<Self> {
                None
            }
        }
    )*};
}

enum_elements!(
    entity::OrderStatus,
    entity::PaymentMethod,
    entity::PaymentStatus,
    entity::LedgerEntryType,
    entity::AssignmentStatus,
    entity::AgentStatus,
    entity::UserRole,
);

/// A row holding relations as JSON ([`Rows::into_json`]), by relation.
struct Json(HashMap<String, String>);

impl Json {
    fn of(row: &QueryResult, selected: &[&str]) -> Result<Self, DbErr> {
        let mut json = HashMap::new();
        for &name in selected {
            if let Some(text) = row.try_get::<Option<String>>("", name)? {
                json.insert(name.to_owned(), text);
            }
        }
        Ok(Self(json))
    }
}

impl Reader for Json {
    fn rows<E: EntityTrait>(&self, name: &str) -> Result<Vec<E::Model>, DbErr>
    where
        E::Model: DeserializeOwned,
    {
        self.0.get(name).map_or_else(|| Ok(Vec::new()), |json| Self::decoded(name, json))
    }

    fn joined_assignments(&self) -> Result<Option<Vec<AssignmentWithAgent>>, DbErr> {
        let name = RELATED_ASSIGNMENTS_WITH_AGENTS;
        self.0.get(name).map(|json| Self::decoded(name, json)).transpose()
    }
}

impl Json {
    /// The rows of relation `name` from its JSON text.
    fn decoded<T: DeserializeOwned>(name: &str, json: &str) -> Result<T, DbErr> {
        serde_json::from_str(json).map_err(|e| DbErr::Json(format!("{name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays_sql(include: Include) -> String {
        let admin = Viewer { id: Uuid::nil(), role: entity::UserRole::Admin };
        relations(Some(&admin), Ids::listed(&[]), user::Entity::find(), include)
            .into_iter()
            .map(|rows| rows.into_arrays().to_string(PostgresQueryBuilder))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The relations whose bits are set in `bits` (six of them), reading `columns`.
    fn include_of(bits: u8, columns: TableColumns) -> Include {
        let flag = |i: u8| bits & (1 << i) != 0;
        Include {
            parties: flag(0),
            items: flag(1),
            payments: flag(2),
            entries: flag(3),
            assignments: flag(4),
            agents: flag(5),
            columns,
        }
    }

    #[test]
    fn a_kept_statement_is_the_statement_built_for_the_request() {
        use entity::UserRole;
        let roles = [None, Some(UserRole::Buyer), Some(UserRole::Seller), Some(UserRole::Agent), Some(UserRole::Admin)];
        let mut compared = 0;
        for role in roles {
            for bits in 0u8..64 {
                let include = include_of(bits, TableColumns::default());
                // Twice: built and kept, then kept; each time for other ids.
                for _ in 0..2 {
                    let viewer = role.map(|role| Viewer { id: Uuid::now_v7(), role });
                    let id = Uuid::now_v7();
                    let kept = by_id_statements().statement(viewer.as_ref(), id, include);
                    let built = by_id_statement(viewer.as_ref(), id, include);
                    assert_eq!(kept.is_some(), built.is_some(), "{role:?} {include:?}");
                    if let (Some((kept, kept_names)), Some((built, built_names))) = (kept, built) {
                        assert_eq!(kept.sql, built.sql, "{role:?} {include:?}");
                        assert_eq!(kept.values, built.values, "{role:?} {include:?}");
                        assert_eq!(kept_names, built_names);
                        assert!(kept.values.iter().flat_map(|v| &v.0).any(|v| *v == Value::Uuid(Some(id))));
                        compared += 1;
                    }
                }
            }
        }
        // Anonymous callers see no order; every role sees some.
        assert_eq!(compared, 4 * 64 * 2);
    }

    #[test]
    fn a_kept_page_statement_is_the_statement_built_for_the_request() {
        use entity::UserRole;
        let roles = [None, Some(UserRole::Buyer), Some(UserRole::Seller), Some(UserRole::Agent), Some(UserRole::Admin)];
        let all = Columns::ALL;
        let every_column = TableColumns {
            orders: all,
            parties: all,
            items: all,
            payments: all,
            entries: all,
            assignments: all,
            agents: all,
            agent_users: all,
        };
        let (mut compared, mut with_viewer) = (0, 0);
        for role in roles {
            for bits in 0u8..64 {
                for columns in [TableColumns::default(), every_column] {
                    let include = include_of(bits, columns);
                    // Twice: built and kept, then kept; each time for other ids.
                    for _ in 0..2 {
                        let viewer = role.map(|role| Viewer { id: Uuid::now_v7(), role });
                        let (page_value, limit) = (Uuid::now_v7(), 1 + bits as u64);
                        let select = order::Entity::find().filter(order::Column::BuyerId.ne(page_value));
                        let query = PageQuery { select, limit };
                        let (kept, values) = page_relations_kept().of(viewer.as_ref(), include);
                        let kept = page_statement(&kept, values, &query);
                        let built = page_relations(viewer.as_ref(), include);
                        let built = page_statement(&built, built.values.clone(), &query);
                        assert_eq!(kept.sql, built.sql, "{role:?} {include:?}");
                        assert_eq!(kept.values, built.values, "{role:?} {include:?}");
                        // Numbered $1 to $n, the page's value last.
                        let values = kept.values.map(|v| v.0).unwrap_or_default();
                        let n = values.len();
                        assert!(kept.sql.contains(&format!("${n}")) && !kept.sql.contains(&format!("${}", n + 1)));
                        assert_eq!(values.last(), Some(&Value::Uuid(Some(page_value))));
                        assert!(!values.contains(&Value::Uuid(Some(page_relations_kept().viewer))));
                        if let Some(viewer) = viewer
                            && values.contains(&Value::Uuid(Some(viewer.id)))
                        {
                            with_viewer += 1;
                        }
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 5 * 64 * 2 * 2);
        // Some roles' relations depend on who the viewer is.
        assert!(with_viewer > 0);
    }

    #[test]
    fn a_relation_read_as_arrays_reads_the_asked_columns_and_its_keys_only() {
        use ledger_entry::Column as L;
        let asked = Include {
            payments: true,
            entries: true,
            columns: TableColumns { entries: Columns::of(&[L::AmountMinor]), ..TableColumns::default() },
            ..Include::default()
        };
        let sql = arrays_sql(asked);
        for read in ["amount_minor", "payment_id", "entry_type", "status", "order_id"] {
            assert!(sql.contains(&format!(r#"array_agg(t."{read}")"#)), "{read} is read: {sql}");
        }
        for skipped in ["idempotency_key", "wallet_id", "processor_ref", "refunded_minor"] {
            assert!(!sql.contains(&format!(r#"array_agg(t."{skipped}")"#)), "{skipped} is not read: {sql}");
        }
        // Asked for every column, every column is read.
        let all = Include { columns: TableColumns { entries: Columns::ALL, ..asked.columns }, ..asked };
        assert!(arrays_sql(all).contains(r#"array_agg(t."idempotency_key")"#));
    }

    #[test]
    fn related_rows_come_in_their_relations_order_whatever_order_they_were_read_in() {
        let order = Uuid::now_v7();
        // Created in id order, read newest first.
        let mut items: Vec<order_item::Model> = (0..5)
            .map(|i| order_item::Model {
                id: Uuid::now_v7(),
                order_id: order,
                name: format!("item {i}"),
                quantity: 1,
                unit_price_minor: 100,
            })
            .collect();
        items.reverse();
        // Oldest first, then by id: the newer id is created first here.
        let at = |seconds: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default();
        let assignment = |created_at| shipping_assignment::Model {
            id: Uuid::now_v7(),
            order_id: order,
            agent_id: None,
            status: entity::AssignmentStatus::Offered,
            estimated_delivery_time: None,
            accepted_at: None,
            picked_up_at: None,
            delivered_at: None,
            failure_reason: None,
            version: 1,
            created_at,
            updated_at: created_at,
            open_offer: true,
        };
        let (late, early, early_too) = (assignment(at(10)), assignment(at(0)), assignment(at(0)));
        let expected = [early.id, early_too.id, late.id];
        let assignments = vec![(early_too, None, None), (late, None, None), (early, None, None)];
        let related = Related::of(Vec::new(), items, Vec::new(), Vec::new(), assignments);
        let ids: Vec<Uuid> = related.items[&order].iter().map(|i| i.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(related.items[&order][0].name, "item 0");
        let ids: Vec<Uuid> = related.assignments[&order].iter().map(|a| a.0.id).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn a_column_not_read_has_a_placeholder_unless_it_is_an_enum() {
        assert_eq!(<Option<String>>::placeholder(), Some(None));
        assert_eq!(<Option<DateTime<Utc>>>::placeholder(), Some(None));
        assert_eq!(i64::placeholder(), Some(0));
        assert_eq!(String::placeholder(), Some(String::new()));
        assert_eq!(Uuid::placeholder(), Some(Uuid::nil()));
        // Enum columns have none: a relation read with one left out fails
        // rather than answering a made-up status.
        assert_eq!(entity::LedgerEntryType::placeholder(), None);
        assert_eq!(entity::OrderStatus::placeholder(), None);
    }
}
