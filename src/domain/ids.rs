//! The ids a statement is keyed by, and how they are bound.

use sea_orm::ColumnTrait;
use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Expr, ExprTrait};
use uuid::Uuid;

/// Ids to match a column against.
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a>(Source<'a>);

#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Listed(&'a [Uuid]),
    Read(&'static str),
}

impl<'a> Ids<'a> {
    /// `column IN ($1, ..., $n)`: a parameter per id, on every backend.
    pub fn listed(ids: &'a [Uuid]) -> Self {
        Self(Source::Listed(ids))
    }

    /// `column = ANY(<array>)`, where `array` is an expression of the same
    /// statement yielding a `uuid[]`, such as
    /// `(SELECT "ids" FROM "page_ids")::uuid[]`: ids the statement reads
    /// itself, so they come from the same snapshot as the rows matched
    /// against them (PostgreSQL only). The cast is needed: PostgreSQL reads
    /// `ANY((SELECT ..))`, however many parentheses, as comparing with each
    /// row of a subquery (here one `uuid[]`). The statement binds no id at all, whatever the
    /// page size, so it stays one prepared statement whose generic plan looks
    /// each id up (with some 300 listed parameters PostgreSQL's generic plan
    /// scanned every assignment of each agent; bench/RESULTS.md, issue 14).
    pub fn read_by(array: &'static str) -> Self {
        Self(Source::Read(array))
    }

    /// The condition that `column` is one of the ids.
    pub fn matched_by(&self, column: impl ColumnTrait) -> Expr {
        match self.0 {
            Source::Listed(ids) => column.is_in(ids.iter().copied()),
            Source::Read(array) => column.into_expr().eq(PgFunc::any(Expr::cust(array))),
        }
    }
}
