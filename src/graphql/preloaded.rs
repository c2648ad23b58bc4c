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

use crate::domain::orders::{Include, Related, TableColumns};
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

/// The relations an order's selection asks for, and the columns its fields
/// read (`node` looks at one `Order` selection: the `order` field, or a
/// connection's `edges.node` or `nodes`).
pub fn include(node: &Lookahead<'_>) -> Include {
    let payments = [node.field("payment"), node.field("payments")];
    let entries = payments.each_ref().map(|p| p.field("ledgerEntries"));
    let assignments = [node.field("assignments"), node.field("activeAssignment")];
    let agents = assignments.each_ref().map(|a| a.field("agent"));
    let agent_users = agents.each_ref().map(|a| a.field("user"));
    let parties = [node.field("buyer"), node.field("seller")];
    let items = node.field("items");
    Include {
        parties: parties.iter().any(Lookahead::exists),
        items: items.exists(),
        payments: payments.iter().any(Lookahead::exists),
        entries: entries.iter().any(Lookahead::exists),
        assignments: assignments.iter().any(Lookahead::exists),
        agents: agents.iter().any(Lookahead::exists),
        columns: TableColumns {
            orders: columns::read([node], columns::ORDER),
            parties: columns::read(&parties, columns::USER),
            items: columns::read([&items], columns::ORDER_ITEM),
            payments: columns::read(&payments, columns::PAYMENT),
            entries: columns::read(&entries, columns::LEDGER_ENTRY),
            assignments: columns::read(&assignments, columns::SHIPPING_ASSIGNMENT),
            agents: columns::read(&agents, columns::DELIVERY_AGENT),
            agent_users: columns::read(&agent_users, columns::USER),
        },
    }
}

/// The columns each field of the objects read with a page reads from its
/// object's row, by field name. A page read as arrays reads only the columns
/// of the selected fields; a selected field missing here makes it read every
/// column, so a new field is right before it is listed, only slower. The
/// test `columns::every_listed_field_answers_what_a_full_read_answers`
/// checks each listed field alone against a read of every column.
pub mod columns {
    use async_graphql::Lookahead;
    use entity::{delivery_agent, ledger_entry, order, order_item, payment, shipping_assignment, user};
    use sea_orm::{IdenStatic, Iterable};

    use crate::domain::orders::Columns;

    /// A type's fields and the columns each reads.
    pub type Fields<C> = &'static [(&'static str, &'static [C])];

    /// The columns the fields selected in `selections` read, by `fields`.
    pub fn read<'a, C: IdenStatic + Iterable>(
        selections: impl IntoIterator<Item = &'a Lookahead<'a>>,
        fields: Fields<C>,
    ) -> Columns {
        let mut read = Columns::default();
        for field in selections.into_iter().flat_map(Lookahead::selection_fields) {
            for selected in field.selection_set() {
                match fields.iter().find(|(name, _)| *name == selected.name()) {
                    Some((_, columns)) => read = read | Columns::of(columns),
                    None if selected.name() == "__typename" => {}
                    None => return Columns::ALL,
                }
            }
        }
        read
    }

    use order::Column as O;
    /// `Order`.
    pub const ORDER: Fields<O> = &[
        ("id", &[O::Id]),
        ("orderNumber", &[O::OrderNumber]),
        ("status", &[O::Status]),
        ("total", &[O::TotalMinor, O::Currency]),
        ("currency", &[O::Currency]),
        ("deliveryZipCode", &[O::DeliveryZipCode]),
        ("version", &[O::Version]),
        ("cancelReason", &[O::CancelReason]),
        ("buyer", &[O::BuyerId]),
        ("seller", &[O::SellerId]),
        // An item's prices are in its order's currency.
        ("items", &[O::Id, O::Currency]),
        ("payments", &[O::Id]),
        ("payment", &[O::Id]),
        ("assignments", &[O::Id]),
        ("activeAssignment", &[O::Id]),
        ("createdAt", &[O::CreatedAt]),
        ("updatedAt", &[O::UpdatedAt]),
        ("deletedAt", &[O::DeletedAt]),
    ];

    use order_item::Column as I;
    /// `OrderItem` (its currency is its order's).
    pub const ORDER_ITEM: Fields<I> = &[
        ("name", &[I::Name]),
        ("quantity", &[I::Quantity]),
        ("unitPrice", &[I::UnitPriceMinor]),
        ("lineTotal", &[I::UnitPriceMinor, I::Quantity]),
        ("currency", &[]),
    ];

    use payment::Column as P;
    /// `Payment`.
    pub const PAYMENT: Fields<P> = &[
        ("id", &[P::Id]),
        ("amount", &[P::AmountMinor, P::Currency]),
        ("refundedAmount", &[P::RefundedMinor, P::Currency]),
        ("currency", &[P::Currency]),
        ("method", &[P::Method]),
        ("status", &[P::Status]),
        ("order", &[P::OrderId]),
        ("ledgerEntries", &[P::Id]),
        ("processorStatus", &[P::ProcessorStatus]),
        ("capturedAt", &[P::CapturedAt]),
        ("createdAt", &[P::CreatedAt]),
        ("updatedAt", &[P::UpdatedAt]),
    ];

    use ledger_entry::Column as L;
    /// `LedgerEntry`.
    pub const LEDGER_ENTRY: Fields<L> = &[
        ("id", &[L::Id]),
        ("amount", &[L::AmountMinor, L::Currency]),
        ("currency", &[L::Currency]),
        ("entryType", &[L::EntryType]),
        ("idempotencyKey", &[L::IdempotencyKey]),
        ("wallet", &[L::WalletId]),
        ("payment", &[L::PaymentId]),
        ("createdAt", &[L::CreatedAt]),
    ];

    use shipping_assignment::Column as A;
    /// `ShippingAssignment`.
    pub const SHIPPING_ASSIGNMENT: Fields<A> = &[
        ("id", &[A::Id]),
        ("status", &[A::Status]),
        ("order", &[A::OrderId]),
        ("agent", &[A::AgentId]),
        ("estimatedDeliveryTime", &[A::EstimatedDeliveryTime]),
        ("acceptedAt", &[A::AcceptedAt]),
        ("pickedUpAt", &[A::PickedUpAt]),
        ("deliveredAt", &[A::DeliveredAt]),
        ("failureReason", &[A::FailureReason]),
        ("version", &[A::Version]),
        ("createdAt", &[A::CreatedAt]),
    ];

    use delivery_agent::Column as D;
    /// `DeliveryAgent`.
    pub const DELIVERY_AGENT: Fields<D> = &[
        ("id", &[D::Id]),
        ("agentCode", &[D::AgentCode]),
        ("status", &[D::Status]),
        ("isAvailable", &[D::IsAvailable]),
        ("user", &[D::UserId]),
        ("zipCodes", &[D::Id]),
        ("assignments", &[D::Id]),
        ("metrics", &[D::Id]),
        ("createdAt", &[D::CreatedAt]),
    ];

    use user::Column as U;
    /// `User`.
    pub const USER: Fields<U> = &[
        ("id", &[U::Id]),
        ("email", &[U::Id, U::Email]),
        ("displayName", &[U::DisplayName]),
        ("role", &[U::Role]),
        ("wallet", &[U::Id]),
        ("createdAt", &[U::CreatedAt]),
        ("updatedAt", &[U::UpdatedAt]),
        ("deletedAt", &[U::DeletedAt]),
    ];
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
