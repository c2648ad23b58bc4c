//! Orders with their relations read in advance: the `orders` connection and
//! `order` look ahead at the selection, read every selected relation of the
//! page at once (`orders::list_with_related`), and resolve the page with the plain
//! walker (`graphql::plain`). A relation that was not read, or whose row is
//! missing, falls back to the object's own resolver and its loader, so the
//! answer is the same either way; only the cost differs.

use std::collections::HashMap;

use async_graphql::{Context, Lookahead, ServerResult, Value};
use entity::{order, user};
use uuid::Uuid;

use crate::domain::orders::{Include, Related};
use crate::domain::{payments, shipping};
use crate::graphql::orders::{Order, OrderItem};
use crate::graphql::payments::Payment;
use crate::graphql::plain::{Plain, PlainList, Preloaded, resolve};
use crate::graphql::shipping::{DeliveryAgent, ShippingAssignment};
use crate::graphql::users::User;
use crate::graphql::wallets::LedgerEntry;

/// An order and what was read with it.
pub type PlainOrder = Plain<Order, OrderRelated>;

/// The relations of one order that were read; `None` when not read.
#[derive(Default)]
pub struct OrderRelated {
    buyer: Option<Plain<User>>,
    seller: Option<Plain<User>>,
    items: Option<PlainList<Plain<OrderItem>>>,
    payments: Option<PlainList<Plain<Payment, PaymentRelated>>>,
    /// Which of `payments` is the current one (`payments::current`).
    current_payment: Option<usize>,
    assignments: Option<PlainList<Plain<ShippingAssignment, AssignmentRelated>>>,
}

/// A payment's ledger entries, if read.
pub struct PaymentRelated {
    entries: Option<PlainList<Plain<LedgerEntry>>>,
}

/// An assignment's agent, if read (`Some(None)`: read, and not visible).
pub struct AssignmentRelated {
    agent: Option<Option<Plain<DeliveryAgent, AgentRelated>>>,
}

/// An agent's user, if read.
pub struct AgentRelated {
    user: Option<Plain<User>>,
}

impl Preloaded for OrderRelated {
    async fn resolve(&self, name: &str, ctx: &Context<'_>) -> Option<ServerResult<Value>> {
        match name {
            "buyer" => Some(resolve(ctx, self.buyer.as_ref()?).await),
            "seller" => Some(resolve(ctx, self.seller.as_ref()?).await),
            "items" => Some(resolve(ctx, self.items.as_ref()?).await),
            "payments" => Some(resolve(ctx, self.payments.as_ref()?).await),
            "payment" => {
                let all = self.payments.as_ref()?;
                Some(resolve(ctx, &self.current_payment.and_then(|i| all.0.get(i))).await)
            }
            "assignments" => Some(resolve(ctx, self.assignments.as_ref()?).await),
            "activeAssignment" => {
                let all = self.assignments.as_ref()?;
                let active = all.0.iter().rev().find(|a| shipping::is_active(a.object.0.status));
                Some(resolve(ctx, &active).await)
            }
            _ => None,
        }
    }
}

impl Preloaded for PaymentRelated {
    async fn resolve(&self, name: &str, ctx: &Context<'_>) -> Option<ServerResult<Value>> {
        match name {
            "ledgerEntries" => Some(resolve(ctx, self.entries.as_ref()?).await),
            _ => None,
        }
    }
}

impl Preloaded for AssignmentRelated {
    async fn resolve(&self, name: &str, ctx: &Context<'_>) -> Option<ServerResult<Value>> {
        match name {
            "agent" => Some(resolve(ctx, self.agent.as_ref()?).await),
            _ => None,
        }
    }
}

impl Preloaded for AgentRelated {
    async fn resolve(&self, name: &str, ctx: &Context<'_>) -> Option<ServerResult<Value>> {
        match name {
            "user" => Some(resolve(ctx, self.user.as_ref()?).await),
            _ => None,
        }
    }
}

/// The relations an order's selection asks for (`node` looks at one
/// `Order` selection: the `order` field, or a connection's `edges.node`
/// or `nodes`).
pub fn include(node: &Lookahead<'_>) -> Include {
    let payments = [node.field("payment"), node.field("payments")];
    let assignments = [node.field("assignments"), node.field("activeAssignment")];
    let agents = assignments.each_ref().map(|a| a.field("agent"));
    Include {
        parties: node.field("buyer").exists() || node.field("seller").exists(),
        items: node.field("items").exists(),
        payments: payments.iter().any(Lookahead::exists),
        entries: payments.iter().any(|p| p.field("ledgerEntries").exists()),
        assignments: assignments.iter().any(Lookahead::exists),
        agents: agents.iter().any(Lookahead::exists),
    }
}

/// The relations a connection of orders asks for, through `edges.node` and `nodes`.
pub fn include_in_connection(connection: &Lookahead<'_>) -> Include {
    include(&connection.field("edges").field("node")) | include(&connection.field("nodes"))
}

/// Turns what was read into plain orders, one per model, in order.
pub struct Assemble {
    related: Related,
    include: Include,
}

impl Assemble {
    /// Assembles `related`, which was read for `include`.
    pub fn new(related: Related, include: Include) -> Self {
        Self { related, include }
    }

    fn user(users: &HashMap<Uuid, user::Model>, id: Uuid) -> Option<Plain<User>> {
        users.get(&id).map(|u| Plain::new(User(u.clone())))
    }

    /// The plain order of `model`, taking its relations out of what was read.
    pub fn order(&mut self, model: order::Model) -> PlainOrder {
        let (include, r) = (self.include, &mut self.related);
        let mut related = OrderRelated::default();
        if include.parties {
            related.buyer = Self::user(&r.users, model.buyer_id);
            related.seller = Self::user(&r.users, model.seller_id);
        }
        if include.items {
            let items = r.items.remove(&model.id).unwrap_or_default();
            related.items =
                Some(items.into_iter().map(|item| Plain::new(OrderItem::new(item, model.currency.clone()))).collect());
        }
        if include.payments {
            let payments = r.payments.remove(&model.id).unwrap_or_default();
            let current = payments::current(&payments).map(|c| c.id);
            related.current_payment = payments.iter().position(|p| Some(p.id) == current);
            related.payments = Some(
                payments
                    .into_iter()
                    .map(|p| {
                        let entries = include.entries.then(|| {
                            r.entries
                                .remove(&p.id)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|e| Plain::new(LedgerEntry(e)))
                                .collect()
                        });
                        Plain { object: Payment(p), related: PaymentRelated { entries } }
                    })
                    .collect(),
            );
        }
        if include.assignments {
            let assignments = r.assignments.remove(&model.id).unwrap_or_default();
            related.assignments = Some(
                assignments
                    .into_iter()
                    .map(|(a, agent, user)| {
                        let agent = include.agents.then(|| {
                            agent.map(|agent| Plain {
                                object: DeliveryAgent(agent),
                                related: AgentRelated { user: user.map(|u| Plain::new(User(u))) },
                            })
                        });
                        Plain { object: ShippingAssignment(a), related: AssignmentRelated { agent } }
                    })
                    .collect(),
            );
        }
        Plain { object: Order(model), related }
    }
}
