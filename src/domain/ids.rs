//! The ids a statement is keyed by, and how they are bound.

use sea_orm::ColumnTrait;
use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Expr, ExprTrait};
use uuid::Uuid;

/// Ids to match a column against.
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    ids: &'a [Uuid],
    array: bool,
}

impl<'a> Ids<'a> {
    /// `column IN ($1, ..., $n)`: a parameter per id, on every backend.
    pub fn listed(ids: &'a [Uuid]) -> Self {
        Self { ids, array: false }
    }

    /// `column = ANY($1)`: one array parameter, PostgreSQL only. A statement
    /// keyed by a page's ids in several places stays one prepared statement
    /// with one parameter whatever the page size, and its generic plan looks
    /// each id up (with some 300 listed parameters PostgreSQL's generic plan
    /// scanned every assignment of each agent; bench/RESULTS.md, issue 14).
    pub fn array(ids: &'a [Uuid]) -> Self {
        Self { ids, array: true }
    }

    /// The condition that `column` is one of the ids.
    pub fn matched_by(&self, column: impl ColumnTrait) -> Expr {
        if self.array {
            column.into_expr().eq(PgFunc::any(Expr::val(self.ids.to_vec())))
        } else {
            column.is_in(self.ids.iter().copied())
        }
    }
}
