//! Demo data: one user of each role (and a few more buyers, sellers and
//! agents), their wallets, the platform wallet, agents with zip codes, and as
//! many demo orders as asked for, with items, payments, ledger entries and
//! assignments in every state.
//!
//! Idempotent: users are matched by email, ledger entries by idempotency key,
//! and orders by their `DEMO-` number, so a second run adds only what is
//! missing. Large counts (`courier seed --orders 10000`) are inserted in
//! batches inside one transaction, for benchmarks.
//!
//! Used by `courier seed`, and by `courier serve` when it starts on an empty
//! database. It is not part of the domain: no request path calls it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    AgentStatus, AssignmentStatus, OrderStatus, PaymentMethod, PaymentStatus, UserRole, WalletKind, delivery_agent,
    delivery_agent_zip_code, ledger_entry, order, order_item, payment, shipping_assignment, user, wallet,
};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::new_id;
use crate::domain::wallets::{CaptureWallets, Leg, capture_legs, funding_leg};
use crate::error::AppError;

/// Currency of all demo data.
const CURRENCY: &str = "USD";
/// Each demo user's opening top-up, in cents.
const OPENING_TOP_UP: i64 = 100_000;
/// Rows per INSERT, well under both backends' bound-parameter limits.
const BATCH: usize = 500;

/// The demo users: email, display name, role. The first of each role gets a
/// token printed by `courier serve`.
pub const DEMO_USERS: &[(&str, &str, UserRole)] = &[
    ("admin@courier.test", "Ada Admin", UserRole::Admin),
    ("buyer@courier.test", "Bea Buyer", UserRole::Buyer),
    ("buyer2@courier.test", "Ben Buyer", UserRole::Buyer),
    ("buyer3@courier.test", "Bo Buyer", UserRole::Buyer),
    ("buyer4@courier.test", "Bri Buyer", UserRole::Buyer),
    ("seller@courier.test", "Sam Seller", UserRole::Seller),
    ("seller2@courier.test", "Sia Seller", UserRole::Seller),
    ("agent@courier.test", "Alex Agent", UserRole::Agent),
    ("agent2@courier.test", "Avi Agent", UserRole::Agent),
];

/// Zip codes served by each demo agent, in `DEMO_USERS` order of agents.
const AGENT_ZIPS: &[&[&str]] = &[&["10115", "10117", "10119"], &["20095", "20097"]];

const CATALOG: &[&str] =
    &["Espresso beans", "Oat milk", "Sourdough loaf", "Ceramic mug", "Notebook", "Desk lamp", "Tea sampler"];

/// What a seed run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Demo users created by this run.
    pub users_created: usize,
    /// Demo orders created by this run.
    pub orders_created: u64,
    /// Demo orders that exist now.
    pub orders_total: u64,
}

/// Seeds the demo data up to `orders` demo orders.
pub async fn seed(db: &DatabaseConnection, orders: u64, fee_rate: Decimal) -> Result<SeedReport, AppError> {
    // A write transaction: on SQLite a deferred one that reads first could
    // not take the write lock once another writer (the webhook worker)
    // committed after its first read (SQLITE_BUSY at once, no waiting).
    let tx = crate::db::begin_write(db, crate::db::Isolation::ReadCommitted).await?;
    let now = crate::domain::now();

    let (users, users_created) = ensure_users(&tx, now).await?;
    let wallets = ensure_wallets(&tx, &users, now).await?;
    let agents = ensure_agents(&tx, &users, now).await?;

    let mut deltas: HashMap<Uuid, i64> = HashMap::new();
    let mut entries = Vec::new();
    for (email, _, _) in DEMO_USERS {
        let wallet = wallets.users[*email];
        entries.push(funding_leg(wallet, OPENING_TOP_UP, format!("seed_topup_{wallet}")));
    }

    let existing = order::Entity::find().filter(order::Column::OrderNumber.starts_with("DEMO-")).count(&tx).await?;
    let mut batch = OrderBatch::default();
    let ids = DemoIds::new(&users, &wallets, &agents);
    for i in existing..orders {
        batch.add(i, orders, &ids, fee_rate, now);
    }
    // Each buyer is topped up by exactly what this run captures from them, so
    // seeding never drives a wallet negative, however many orders are asked for.
    for (wallet, spent) in &batch.spent_by_wallet {
        entries.push(funding_leg(*wallet, *spent, format!("seed_topup_{wallet}_orders_{existing}_{orders}")));
    }
    entries.append(&mut batch.ledger);

    insert_chunks(&tx, batch.orders).await?;
    insert_chunks(&tx, batch.items).await?;
    insert_chunks(&tx, batch.payments).await?;
    insert_chunks(&tx, batch.assignments).await?;

    // Ledger entries whose key exists already were written by an earlier run.
    let keys: Vec<String> = entries.iter().map(|e| e.idempotency_key.clone()).collect();
    let mut written = std::collections::HashSet::new();
    for chunk in keys.chunks(BATCH) {
        let found = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::IdempotencyKey.is_in(chunk.iter().cloned()))
            .all(&tx)
            .await?;
        written.extend(found.into_iter().map(|e| e.idempotency_key));
    }
    let mut new_entries = Vec::new();
    for leg in entries.into_iter().filter(|e| !written.contains(&e.idempotency_key)) {
        *deltas.entry(leg.wallet_id).or_default() += leg.amount_minor;
        let payment_id = batch.payment_of_key.get(&leg.idempotency_key).copied();
        new_entries.push(leg.into_active_model(payment_id, CURRENCY, now));
    }
    insert_chunks(&tx, new_entries).await?;

    for (wallet_id, delta) in deltas {
        wallet::Entity::update_many()
            .col_expr(wallet::Column::BalanceMinor, ExprTrait::add(Expr::col(wallet::Column::BalanceMinor), delta))
            .col_expr(wallet::Column::Version, ExprTrait::add(Expr::col(wallet::Column::Version), 1))
            .col_expr(wallet::Column::UpdatedAt, Expr::value(now))
            .filter(wallet::Column::Id.eq(wallet_id))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;

    Ok(SeedReport {
        users_created,
        orders_created: orders.saturating_sub(existing),
        orders_total: Ord::max(existing, orders),
    })
}

async fn insert_chunks<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), AppError>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(BATCH).collect();
        <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}

async fn ensure_users(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<(HashMap<&'static str, Uuid>, usize), AppError> {
    let emails: Vec<&str> = DEMO_USERS.iter().map(|(e, _, _)| *e).collect();
    let existing: HashMap<String, Uuid> = user::Entity::find()
        .filter(user::Column::Email.is_in(emails))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.email, u.id))
        .collect();
    let mut ids = HashMap::new();
    let mut created = Vec::new();
    for &(email, name, role) in DEMO_USERS {
        let id = match existing.get(email) {
            Some(id) => *id,
            None => {
                let id = new_id();
                created.push(user::ActiveModel {
                    id: Set(id),
                    email: Set(email.to_owned()),
                    display_name: Set(name.to_owned()),
                    role: Set(role),
                    created_at: Set(now),
                    updated_at: Set(now),
                    deleted_at: Set(None),
                    deleted_by: Set(None),
                });
                id
            }
        };
        ids.insert(email, id);
    }
    let count = created.len();
    insert_chunks(db, created).await?;
    Ok((ids, count))
}

struct DemoWallets {
    users: HashMap<&'static str, Uuid>,
    platform: Uuid,
}

fn new_wallet(user_id: Option<Uuid>, kind: WalletKind, now: DateTime<Utc>) -> wallet::ActiveModel {
    wallet::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        kind: Set(kind),
        currency: Set(CURRENCY.to_owned()),
        balance_minor: Set(0),
        version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

async fn ensure_wallets(
    db: &impl ConnectionTrait,
    users: &HashMap<&'static str, Uuid>,
    now: DateTime<Utc>,
) -> Result<DemoWallets, AppError> {
    let existing = wallet::Entity::find().all(db).await?;
    let platform = match existing.iter().find(|w| w.kind == WalletKind::Platform) {
        Some(w) => w.id,
        None => {
            let model = new_wallet(None, WalletKind::Platform, now);
            let id = *model.id.as_ref();
            wallet::Entity::insert(model).exec_without_returning(db).await?;
            id
        }
    };
    let by_owner: HashMap<Uuid, Uuid> = existing.iter().filter_map(|w| w.user_id.map(|u| (u, w.id))).collect();
    let mut out = HashMap::new();
    let mut created = Vec::new();
    for (email, user_id) in users {
        let id = match by_owner.get(user_id) {
            Some(id) => *id,
            None => {
                let model = new_wallet(Some(*user_id), WalletKind::User, now);
                let id = *model.id.as_ref();
                created.push(model);
                id
            }
        };
        out.insert(*email, id);
    }
    insert_chunks(db, created).await?;
    Ok(DemoWallets { users: out, platform })
}

/// Agent id and the zip codes it serves.
type DemoAgents = Vec<(Uuid, &'static [&'static str])>;

async fn ensure_agents(
    db: &impl ConnectionTrait,
    users: &HashMap<&'static str, Uuid>,
    now: DateTime<Utc>,
) -> Result<DemoAgents, AppError> {
    let agent_users: Vec<(&str, Uuid)> =
        DEMO_USERS.iter().filter(|(_, _, r)| *r == UserRole::Agent).map(|(e, _, _)| (*e, users[*e])).collect();
    let existing: HashMap<Uuid, Uuid> = delivery_agent::Entity::find()
        .filter(delivery_agent::Column::UserId.is_in(agent_users.iter().map(|(_, id)| *id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.user_id, a.id))
        .collect();
    let mut agents = Vec::new();
    for (n, ((_, user_id), zips)) in agent_users.iter().zip(AGENT_ZIPS).enumerate() {
        let id = match existing.get(user_id) {
            Some(id) => *id,
            None => {
                let id = new_id();
                delivery_agent::Entity::insert(delivery_agent::ActiveModel {
                    id: Set(id),
                    user_id: Set(*user_id),
                    agent_code: Set(format!("AGT-{:03}", n + 1)),
                    status: Set(AgentStatus::Active),
                    is_available: Set(true),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(db)
                .await?;
                let rows = zips.iter().map(|z| delivery_agent_zip_code::ActiveModel {
                    agent_id: Set(id),
                    zip_code: Set((*z).to_owned()),
                });
                delivery_agent_zip_code::Entity::insert_many(rows).exec_without_returning(db).await?;
                id
            }
        };
        agents.push((id, *zips));
    }
    Ok(agents)
}

/// Ids the order generator draws from.
struct DemoIds {
    buyers: Vec<(Uuid, Uuid)>,
    sellers: Vec<(Uuid, Uuid)>,
    platform_wallet: Uuid,
    agents: DemoAgents,
}

impl DemoIds {
    fn new(users: &HashMap<&'static str, Uuid>, wallets: &DemoWallets, agents: &DemoAgents) -> Self {
        let of_role = |role| {
            DEMO_USERS
                .iter()
                .filter(|(_, _, r)| *r == role)
                .map(|(e, _, _)| (users[*e], wallets.users[*e]))
                .collect::<Vec<_>>()
        };
        Self {
            buyers: of_role(UserRole::Buyer),
            sellers: of_role(UserRole::Seller),
            platform_wallet: wallets.platform,
            agents: agents.clone(),
        }
    }
}

#[derive(Default)]
struct OrderBatch {
    orders: Vec<order::ActiveModel>,
    items: Vec<order_item::ActiveModel>,
    payments: Vec<payment::ActiveModel>,
    assignments: Vec<shipping_assignment::ActiveModel>,
    ledger: Vec<Leg>,
    payment_of_key: HashMap<String, Uuid>,
    spent_by_wallet: HashMap<Uuid, i64>,
}

/// A deterministic pseudo-random stream (SplitMix64): the same `--orders N`
/// always builds the same data (and the same tests draw the same numbers).
pub struct Rng(pub u64);

impl Rng {
    /// The next number below `bound` (0 when `bound` is 0).
    pub fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % Ord::max(bound, 1)
    }
}

impl OrderBatch {
    fn add(&mut self, i: u64, total: u64, ids: &DemoIds, fee_rate: Decimal, now: DateTime<Utc>) {
        let mut rng = Rng(i);
        let (buyer, buyer_wallet) = ids.buyers[(i as usize) % ids.buyers.len()];
        let (seller, seller_wallet) = ids.sellers[(i as usize / ids.buyers.len()) % ids.sellers.len()];
        let (agent, zips) = ids.agents[rng.next(ids.agents.len() as u64) as usize];
        let zip = zips[rng.next(zips.len() as u64) as usize];
        let created_at = now - Duration::minutes(((total - i) * 7) as i64);
        let order_id = new_id();

        let mut total_minor = 0;
        for _ in 0..=rng.next(3) {
            let quantity = 1 + rng.next(4) as i32;
            let unit_price_minor = 199 + rng.next(4_800) as i64;
            total_minor += i64::from(quantity) * unit_price_minor;
            self.items.push(order_item::ActiveModel {
                id: Set(new_id()),
                order_id: Set(order_id),
                name: Set(CATALOG[rng.next(CATALOG.len() as u64) as usize].to_owned()),
                quantity: Set(quantity),
                unit_price_minor: Set(unit_price_minor),
            });
        }

        let (status, version) = match i % 10 {
            0..=2 => (OrderStatus::Pending, 0),
            3 | 4 => (OrderStatus::Confirmed, 1),
            5 => (OrderStatus::Shipping, 2),
            6..=8 => (OrderStatus::Delivered, 3),
            _ => (OrderStatus::Cancelled, 1),
        };
        self.orders.push(order::ActiveModel {
            id: Set(order_id),
            order_number: Set(format!("DEMO-{:06}", i + 1)),
            buyer_id: Set(buyer),
            seller_id: Set(seller),
            status: Set(status),
            total_minor: Set(total_minor),
            currency: Set(CURRENCY.to_owned()),
            delivery_zip_code: Set(zip.to_owned()),
            version: Set(version),
            cancel_reason: Set((status == OrderStatus::Cancelled).then(|| "Changed my mind".to_owned())),
            created_at: Set(created_at),
            updated_at: Set(created_at + Duration::minutes(30)),
            deleted_at: Set(None),
            deleted_by: Set(None),
        });

        let captured = matches!(status, OrderStatus::Confirmed | OrderStatus::Shipping | OrderStatus::Delivered);
        if captured || (status == OrderStatus::Pending && i.is_multiple_of(2)) {
            let payment_id = new_id();
            self.payments.push(payment::ActiveModel {
                id: Set(payment_id),
                order_id: Set(order_id),
                amount_minor: Set(total_minor),
                currency: Set(CURRENCY.to_owned()),
                method: Set(if captured { PaymentMethod::Wallet } else { PaymentMethod::Card }),
                status: Set(if captured { PaymentStatus::Captured } else { PaymentStatus::Initiated }),
                refunded_minor: Set(0),
                captured_at: Set(captured.then(|| created_at + Duration::minutes(5))),
                created_at: Set(created_at),
                updated_at: Set(created_at + Duration::minutes(5)),
                processor_ref: Set(None),
                processor_status: Set(None),
            });
            if captured {
                let wallets =
                    CaptureWallets { buyer: buyer_wallet, seller: seller_wallet, platform: ids.platform_wallet };
                for leg in capture_legs(payment_id, total_minor, fee_rate, wallets) {
                    self.payment_of_key.insert(leg.idempotency_key.clone(), payment_id);
                    self.ledger.push(leg);
                }
                *self.spent_by_wallet.entry(buyer_wallet).or_default() += total_minor;
            }
        }

        let eta = created_at + Duration::hours(2);
        let assignment = match status {
            OrderStatus::Confirmed if i.is_multiple_of(2) => Some((AssignmentStatus::Offered, None, None)),
            OrderStatus::Shipping => Some((AssignmentStatus::InTransit, Some(agent), None)),
            OrderStatus::Delivered => Some((
                AssignmentStatus::Delivered,
                Some(agent),
                Some(created_at + Duration::minutes(60 + rng.next(120) as i64)),
            )),
            _ => None,
        };
        if let Some((a_status, agent_id, delivered_at)) = assignment {
            let accepted = agent_id.map(|_| created_at + Duration::minutes(20));
            self.assignments.push(shipping_assignment::ActiveModel {
                id: Set(new_id()),
                order_id: Set(order_id),
                agent_id: Set(agent_id),
                status: Set(a_status),
                estimated_delivery_time: Set(Some(eta)),
                accepted_at: Set(accepted),
                picked_up_at: Set(accepted.map(|t| t + Duration::minutes(10))),
                delivered_at: Set(delivered_at),
                failure_reason: Set(None),
                version: Set(if agent_id.is_some() { 3 } else { 0 }),
                created_at: Set(created_at + Duration::minutes(10)),
                updated_at: Set(delivered_at.unwrap_or(created_at + Duration::minutes(40))),
                open_offer: Set(agent_id.is_none()),
            });
        }
    }
}
