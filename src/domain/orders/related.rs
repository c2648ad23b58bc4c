//! The relations of a page of orders, read together: every relation is
//! keyed by the orders themselves (ledger entries through their payments;
//! agents and their users are joined to the assignments, one-to-one), so
//! they all go out at once, one statement each, right after the page. A
//! nested page is then three dependent round trips: the viewer, the orders,
//! their relations.
//!
//! The statements are the same access-scoped reads the per-field loaders
//! use (or read a superset that the caller narrows to what it shows), so
//! the access rules are written once.

use std::collections::HashMap;

use entity::{ledger_entry, order, order_item, payment, user};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::domain::shipping::{self, AssignmentWithAgent};
use crate::domain::{Viewer, payments, users, wallets};
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

/// Reads `include` for `orders` (which the viewer may see), all statements
/// at once (span `order_relations`, exported with the trace).
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
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let mut parties: Vec<Uuid> = Vec::new();
    if include.parties {
        parties = orders.iter().flat_map(|o| [o.buyer_id, o.seller_id]).collect();
        parties.sort_unstable();
        parties.dedup();
    }
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
    Ok(Related {
        users: users.into_iter().map(|u| (u.id, u)).collect(),
        items: grouped(items, |i| Some(i.order_id)),
        payments: grouped(payments, |p| Some(p.order_id)),
        entries: grouped(entries, |e| e.payment_id),
        assignments: grouped(assignments, |a| Some(a.0.order_id)),
    })
}
