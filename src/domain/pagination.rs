//! Keyset (seek) pagination on a sort key plus the primary key, never
//! OFFSET: page 500 costs what page 1 costs. Also the batched variant for
//! nested connections, which pages every parent's children in one statement
//! with `ROW_NUMBER() OVER (PARTITION BY parent ...)`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Query, WindowStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page a client may ask for; more is an error, not a silent clamp.
pub const MAX_PAGE_SIZE: u64 = 100;

/// The value of a row's sort column, as carried in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum SortValue {
    /// A timestamp column.
    Time(DateTime<Utc>),
    /// An integer column (minor units, counts).
    Int(i64),
    /// A text or enum column.
    Text(String),
}

impl From<SortValue> for sea_orm::Value {
    fn from(value: SortValue) -> Self {
        match value {
            SortValue::Time(t) => t.into(),
            SortValue::Int(i) => i.into(),
            SortValue::Text(s) => s.into(),
        }
    }
}

/// A position in a sorted list: the sort value and the id that breaks ties.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Keyset {
    /// Sort column value.
    pub value: SortValue,
    /// Primary key.
    pub id: Uuid,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

impl Direction {
    fn reversed(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }

    fn order(self) -> Order {
        match self {
            Self::Asc => Order::Asc,
            Self::Desc => Order::Desc,
        }
    }
}

/// What page to read, already validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// Rows wanted, 0 to [`MAX_PAGE_SIZE`].
    pub limit: u64,
    /// Paging with `last`/`before` (from the end backwards).
    pub backward: bool,
    /// Only rows strictly after this position.
    pub after: Option<Keyset>,
    /// Only rows strictly before this position.
    pub before: Option<Keyset>,
}

impl PageRequest {
    /// The first `limit` rows.
    pub fn first(limit: u64) -> Self {
        Self { limit, backward: false, after: None, before: None }
    }
}

/// How a list is sorted: the column and how to read it back from a row.
pub struct SortKey<E: EntityTrait> {
    /// Sort column.
    pub column: E::Column,
    /// Primary key column (tie breaker).
    pub id: E::Column,
    /// Direction.
    pub direction: Direction,
    /// Reads the sort value of a row.
    pub value: fn(&E::Model) -> SortValue,
    /// Reads the id of a row.
    pub id_of: fn(&E::Model) -> Uuid,
}

impl<E: EntityTrait> SortKey<E> {
    /// The keyset of a row.
    pub fn keyset(&self, row: &E::Model) -> Keyset {
        Keyset { value: (self.value)(row), id: (self.id_of)(row) }
    }

    /// `(sort, id) > (v, id0)` (or `<`), i.e. rows strictly on one side of `at`.
    fn beyond(&self, at: &Keyset, after: bool) -> Expr {
        let row = Expr::tuple([self.column.into_expr(), self.id.into_expr()]);
        let point = Expr::tuple([Expr::val(at.value.clone()), Expr::val(at.id)]);
        if after == (self.direction == Direction::Asc) { row.gt(point) } else { row.lt(point) }
    }

    fn restrict(&self, mut select: Select<E>, req: &PageRequest) -> Select<E> {
        if let Some(after) = &req.after {
            select = select.filter(self.beyond(after, true));
        }
        if let Some(before) = &req.before {
            select = select.filter(self.beyond(before, false));
        }
        select
    }

    fn query_direction(&self, req: &PageRequest) -> Direction {
        if req.backward { self.direction.reversed() } else { self.direction }
    }
}

/// One page of rows, each with its keyset.
#[derive(Debug, Clone)]
pub struct Page<M> {
    /// Rows in sort order, with their positions.
    pub rows: Vec<(Keyset, M)>,
    /// More rows follow the last one.
    pub has_next: bool,
    /// Rows precede the first one.
    pub has_previous: bool,
}

impl<M> Page<M> {
    /// An empty page.
    pub fn empty() -> Self {
        Self { rows: Vec::new(), has_next: false, has_previous: false }
    }

    /// The page `req` asked for, out of the rows its [`PageQuery`] read.
    pub fn of<E: EntityTrait<Model = M>>(mut rows: Vec<M>, key: &SortKey<E>, req: &PageRequest) -> Self {
        let more = rows.len() as u64 > req.limit;
        rows.truncate(req.limit as usize);
        if req.backward {
            rows.reverse();
        }
        // Paging forward, rows before `after` exist (the cursor's own row at
        // least); paging backward, likewise after `before`. The Relay spec
        // allows this cheap answer; it is exact unless that row was deleted.
        let (has_next, has_previous) =
            if req.backward { (req.before.is_some(), more) } else { (more, req.after.is_some()) };
        Self { rows: rows.into_iter().map(|m| (key.keyset(&m), m)).collect(), has_next, has_previous }
    }
}

/// What a page reads: `select` cut to the page and sorted as it is read
/// (backward pages the other way round), and how many of its rows: the
/// page and one more, which tells whether there are more. Turned into a
/// page by [`Page::of`].
pub struct PageQuery<E: EntityTrait> {
    /// The page's rows, in the order they are read.
    pub select: Select<E>,
    /// How many rows to read.
    pub limit: u64,
}

impl<E: EntityTrait> PageQuery<E> {
    /// `select`'s statement for `req`; `None` when nothing is to be read
    /// (`select` is `None`: nothing is visible; or the page is empty).
    pub fn new(select: Option<Select<E>>, key: &SortKey<E>, req: &PageRequest) -> Option<Self> {
        let select = select?;
        if req.limit == 0 {
            return None;
        }
        let dir = key.query_direction(req).order();
        let select = key.restrict(select, req).order_by(key.column, dir.clone()).order_by(key.id, dir);
        Some(Self { select, limit: req.limit + 1 })
    }

    /// ` LIMIT n`, to write after the statement. The page size is written
    /// into the statement, not bound: PostgreSQL plans `LIMIT $n`
    /// generically as a tenth of the table, so a prepared page statement
    /// never settled on its generic plan and was planned again on every
    /// execution (half its PostgreSQL time; bench/RESULTS.md, issue 14). A
    /// first page has no parameter at all. The size is a number at most
    /// MAX_PAGE_SIZE + 1, so there is at most one statement per page size.
    pub fn limit_clause(&self) -> String {
        format!(" LIMIT {}", self.limit)
    }

    /// Reads the rows, in one statement.
    pub async fn rows(self, db: &impl ConnectionTrait) -> Result<Vec<E::Model>, sea_orm::DbErr> {
        let mut statement = db.get_database_backend().build(QueryTrait::as_query(&self.select));
        statement.sql.push_str(&self.limit_clause());
        self.select.from_raw_sql(statement).all(db).await
    }
}

/// Reads one page of `select` (`None`: nothing is visible) in one statement.
pub async fn fetch<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Option<Select<E>>,
    key: &SortKey<E>,
    req: &PageRequest,
) -> Result<Page<E::Model>, AppError> {
    let Some(query) = PageQuery::new(select, key, req) else { return Ok(Page::empty()) };
    Ok(Page::of(query.rows(db).await?, key, req))
}

/// Counts the rows of `select` (`None`: nothing is visible).
pub async fn count<E: EntityTrait>(db: &impl ConnectionTrait, select: Option<Select<E>>) -> Result<u64, AppError>
where
    E::Model: Sync,
{
    match select {
        Some(select) => Ok(select.count(db).await?),
        None => Ok(0),
    }
}

/// Reads one page per parent in one statement: the rows of `select` whose
/// `parent` column is in `parents`, numbered per parent by a window function
/// and cut at `limit + 1`.
pub async fn fetch_per_parent<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Option<Select<E>>,
    parent: E::Column,
    parent_of: fn(&E::Model) -> Option<Uuid>,
    parents: &[Uuid],
    key: &SortKey<E>,
    req: &PageRequest,
) -> Result<HashMap<Uuid, Page<E::Model>>, AppError> {
    let mut pages: HashMap<Uuid, Page<E::Model>> = HashMap::new();
    let Some(select) = select else { return Ok(pages) };
    if req.limit == 0 || parents.is_empty() {
        return Ok(pages);
    }
    let dir = key.query_direction(req).order();
    let mut window = WindowStatement::partition_by((parent.entity_name(), parent));
    window.order_by_expr(key.column.into_expr(), dir.clone()).order_by_expr(key.id.into_expr(), dir);
    let mut inner = key.restrict(select.filter(parent.is_in(parents.iter().copied())), req).into_query();
    inner.expr_window_as(Func::cust("ROW_NUMBER"), window, Alias::new("page_rn"));
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("paged"))
        .and_where(Expr::col(Alias::new("page_rn")).lte(req.limit as i64 + 1))
        .order_by(Alias::new("page_rn"), Order::Asc)
        .to_owned();
    let rows = E::find().from_raw_sql(db.get_database_backend().build(&outer)).all(db).await?;

    let mut grouped: HashMap<Uuid, Vec<E::Model>> = HashMap::new();
    for row in rows {
        if let Some(p) = parent_of(&row) {
            grouped.entry(p).or_default().push(row);
        }
    }
    for (p, rows) in grouped {
        pages.insert(p, Page::of(rows, key, req));
    }
    Ok(pages)
}

/// Counts the rows of `select` per `parent`, in one grouped statement.
pub async fn count_per_parent<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Option<Select<E>>,
    parent: E::Column,
    parents: &[Uuid],
) -> Result<HashMap<Uuid, u64>, AppError> {
    let Some(select) = select else { return Ok(HashMap::new()) };
    if parents.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = select
        .filter(parent.is_in(parents.iter().copied()))
        .select_only()
        .column(parent)
        .column_as(Expr::col(Asterisk).count(), "n")
        .group_by(parent)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(p, n)| (p, u64::try_from(n).unwrap_or(0))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysets_survive_a_json_round_trip() {
        for value in [SortValue::Time(Utc::now()), SortValue::Int(-5), SortValue::Text("PENDING".into())] {
            let keyset = Keyset { value, id: Uuid::now_v7() };
            let json = serde_json::to_string(&keyset).expect("serialize");
            assert_eq!(serde_json::from_str::<Keyset>(&json).expect("parse"), keyset);
        }
    }
}
