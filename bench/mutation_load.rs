//! Mutation benchmark driver (run by `bench/mutations.sh`): `BENCH_WORKERS`
//! concurrent clients (default 16) each loop create order -> initiate ->
//! capture for `BENCH_SECONDS` (default 20), spread over `BENCH_BUYERS`
//! buyers (default 100) funded through `topUpWallet`. `BENCH_MODE=hot`
//! (default) sends every order to one seller; `BENCH_MODE=disjoint` pairs
//! buyer i with seller i (as many sellers as buyers), so captures touch
//! disjoint buyer and seller wallets (the platform's is shared by all).
//! Prints throughput, p50/p99 per step and the outcome of every capture,
//! then the ledger check.
//!
//! `BENCH_MODE=mixed` is workload W4 (`bench/mixed.sh`): each client sends
//! 80% reads (W1 the nested page of 50 as an admin, W2 one order by id, W3
//! the agent's active assignments, in turn) and 20% writes, each write the
//! next step of its own order's life: create, initiate (WALLET), capture,
//! confirm (seller), offer to the agent (seller), accept (agent).
//!
//! Reads the server's `DATABASE_URL` and `COURIER_JWT_SECRET` to create the
//! buyers and mint their tokens, and `BENCH_URL` for the GraphQL endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use courier::auth::TokenService;
use courier::config::Config;
use courier::graphql::node::encode;
use entity::{UserRole, WalletKind, user, wallet};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use tokio::sync::Mutex;

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn call(&self, token: &str, query: &str, variables: Value) -> Result<(Value, Duration), Failure> {
        let started = Instant::now();
        let res = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let body: Value = res.json().await?;
        Ok((body, started.elapsed()))
    }
}

#[derive(Default)]
struct Stats {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    outcomes: BTreeMap<String, u64>,
}

impl Stats {
    /// Adds one client's numbers to the run's.
    fn absorb(&mut self, local: Stats) {
        for (k, v) in local.latencies {
            self.latencies.entry(k).or_default().extend(v);
        }
        for (k, v) in local.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
    }
}

fn outcome(body: &Value) -> String {
    match body["errors"].get(0) {
        None => "ok".to_owned(),
        Some(e) => {
            let ext = &e["extensions"];
            ext["rule"].as_str().or(ext["code"].as_str()).unwrap_or("unknown").to_owned()
        }
    }
}

/// Sorts `lat` and prints its count, rate and percentiles.
fn print_latencies(op: &str, lat: &mut [Duration], elapsed: f64) {
    lat.sort_unstable();
    println!(
        "{op:<18} {:>7} requests {:>8.1}/s  p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
        lat.len(),
        lat.len() as f64 / elapsed,
        percentile(lat, 0.50),
        percentile(lat, 0.95),
        percentile(lat, 0.99),
        percentile(lat, 1.0)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Creates (once) `n` bench users of `role` with wallets; returns (user id, wallet id).
async fn users(
    db: &sea_orm::DatabaseConnection,
    n: u64,
    role: UserRole,
) -> Result<Vec<(uuid::Uuid, uuid::Uuid)>, Failure> {
    let mut out = Vec::new();
    let kind = if role == UserRole::Seller { "seller" } else { "buyer" };
    for i in 0..n {
        let email = format!("bench-{kind}-{i}@courier.test");
        let existing = user::Entity::find().filter(user::Column::Email.eq(&email)).one(db).await?;
        let user_id = match existing {
            Some(u) => u.id,
            None => {
                let now = Utc::now();
                let id = uuid::Uuid::now_v7();
                user::Entity::insert(user::ActiveModel {
                    id: Set(id),
                    email: Set(email),
                    display_name: Set(format!("Bench {kind} {i}")),
                    role: Set(role),
                    created_at: Set(now),
                    updated_at: Set(now),
                    deleted_at: Set(None),
                    deleted_by: Set(None),
                })
                .exec_without_returning(db)
                .await?;
                wallet::Entity::insert(wallet::ActiveModel {
                    id: Set(uuid::Uuid::now_v7()),
                    user_id: Set(Some(id)),
                    kind: Set(WalletKind::User),
                    currency: Set("USD".into()),
                    balance_minor: Set(0),
                    version: Set(0),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(db)
                .await?;
                id
            }
        };
        let w = wallet::Entity::find().filter(wallet::Column::UserId.eq(user_id)).one(db).await?.ok_or("no wallet")?;
        out.push((user_id, w.id));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let config = Config::from_env()?;
    let workers = env_or("BENCH_WORKERS", 16);
    let seconds = env_or("BENCH_SECONDS", 20);
    let buyer_count = env_or("BENCH_BUYERS", 100);
    let url = std::env::var("BENCH_URL").unwrap_or_else(|_| "http://127.0.0.1:8088/graphql".into());

    let db = courier::db::connect(&config).await?;
    let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
    let admin = courier::domain::users::find_by_email(&db, "admin@courier.test").await?;
    let admin_token = tokens.mint(admin.id)?;
    let mode = std::env::var("BENCH_MODE").unwrap_or_default();
    let disjoint = mode == "disjoint";
    let sellers: Vec<String> = if disjoint {
        users(&db, buyer_count, UserRole::Seller).await?.into_iter().map(|(id, _)| id).collect()
    } else {
        vec![courier::domain::users::find_by_email(&db, "seller@courier.test").await?.id]
    }
    .into_iter()
    .map(|id| encode(courier::domain::lookup::EntityKind::User, id).0)
    .collect();
    let sellers = Arc::new(sellers);
    let client = Arc::new(Client { http: reqwest::Client::new(), url });

    // Fund every buyer generously: the run measures captures, not refusals.
    let mut buyer_tokens = Vec::new();
    let run = uuid::Uuid::now_v7();
    for (user_id, wallet_id) in users(&db, buyer_count, UserRole::Buyer).await? {
        let input = json!({
            "walletId": encode(courier::domain::lookup::EntityKind::Wallet, wallet_id).0,
            "amount": "1000000.00",
            "idempotencyKey": format!("bench-fund-{run}-{wallet_id}"),
        });
        let (body, _) = client
            .call(
                &admin_token,
                "mutation($i: TopUpWalletInput!) { topUpWallet(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await?;
        if body.get("errors").is_some() {
            return Err(format!("top-up failed: {body}").into());
        }
        buyer_tokens.push(tokens.mint(user_id)?);
    }
    let buyer_tokens = Arc::new(buyer_tokens);

    if mode == "mixed" {
        let seller = courier::domain::users::find_by_email(&db, "seller@courier.test").await?;
        let agent_user = courier::domain::users::find_by_email(&db, "agent@courier.test").await?;
        let agent = entity::delivery_agent::Entity::find()
            .filter(entity::delivery_agent::Column::UserId.eq(agent_user.id))
            .one(&db)
            .await?
            .ok_or("the demo agent is missing: run `courier seed` first")?;
        let (orders, _) = client.call(&admin_token, "{ orders(first: 100) { nodes { id } } }", Value::Null).await?;
        let order_ids: Vec<String> = orders["data"]["orders"]["nodes"]
            .as_array()
            .ok_or("cannot list orders")?
            .iter()
            .filter_map(|n| n["id"].as_str().map(str::to_owned))
            .collect();
        let mixed = Mixed {
            client: client.clone(),
            buyers: buyer_tokens.clone(),
            seller_id: encode(courier::domain::lookup::EntityKind::User, seller.id).0,
            seller: tokens.mint(seller.id)?,
            admin: admin_token.clone(),
            agent: tokens.mint(agent_user.id)?,
            agent_id: encode(courier::domain::lookup::EntityKind::DeliveryAgent, agent.id).0,
            order_ids,
        };
        return mixed.run(workers, seconds).await;
    }

    const CREATE: &str = "mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }";
    const INITIATE: &str = "mutation($i: InitiatePaymentInput!) { initiatePayment(input: $i) { id } }";
    const CAPTURE: &str = "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { id status } }";

    let stats = Arc::new(Mutex::new(Stats::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (client, buyer_tokens, stats, sellers) =
            (client.clone(), buyer_tokens.clone(), stats.clone(), sellers.clone());
        handles.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            let mut local = Stats::default();
            while Instant::now() < deadline {
                let b = ((w + n * workers) % buyer_tokens.len() as u64) as usize;
                let (token, seller_id) = (&buyer_tokens[b], &sellers[b % sellers.len()]);
                n += 1;
                let cents = 100 + (w * 7919 + n * 104_729) % 9_900;
                let order = json!({
                    "sellerId": seller_id,
                    "items": [{ "name": "Bench item", "quantity": 1, "unitPrice": rust_decimal::Decimal::new(cents as i64, 2) }],
                    "deliveryZipCode": "10115",
                    "currency": "USD",
                });
                let Ok((body, t)) = client.call(token, CREATE, json!({ "i": order })).await else { continue };
                local.latencies.entry("createOrder").or_default().push(t);
                let Some(order_id) = body["data"]["createOrder"]["id"].as_str().map(str::to_owned) else {
                    *local.outcomes.entry(format!("createOrder {}", outcome(&body))).or_default() += 1;
                    continue;
                };
                let input = json!({ "orderId": order_id, "method": "WALLET", "idempotencyKey": format!("i-{order_id}") });
                let Ok((body, t)) = client.call(token, INITIATE, json!({ "i": input })).await else { continue };
                local.latencies.entry("initiatePayment").or_default().push(t);
                let Some(payment_id) = body["data"]["initiatePayment"]["id"].as_str().map(str::to_owned) else {
                    *local.outcomes.entry(format!("initiatePayment {}", outcome(&body))).or_default() += 1;
                    continue;
                };
                let input = json!({ "paymentId": payment_id, "idempotencyKey": format!("c-{payment_id}") });
                let Ok((body, t)) = client.call(token, CAPTURE, json!({ "i": input })).await else { continue };
                local.latencies.entry("capturePayment").or_default().push(t);
                *local.outcomes.entry(format!("capturePayment {}", outcome(&body))).or_default() += 1;
            }
            stats.lock().await.absorb(local);
        }));
    }
    for h in handles {
        h.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut stats = stats.lock().await;
    let mode = if disjoint { "disjoint" } else { "hot" };
    println!("mode {mode}, workers {workers}, buyers {buyer_count}, sellers {}, {elapsed:.1} s", sellers.len());
    for (op, lat) in stats.latencies.iter_mut() {
        print_latencies(op, lat, elapsed);
    }
    for (k, v) in &stats.outcomes {
        println!("outcome {k}: {v}");
    }
    let captured = stats.outcomes.get("capturePayment ok").copied().unwrap_or(0);
    println!("captures per second: {:.1}", captured as f64 / elapsed);

    let (health, _) = client
        .call(&admin_token, "{ ledgerHealth { healthy paymentsChecked violations { invariant detail } } }", Value::Null)
        .await?;
    println!("ledgerHealth: {}", health["data"]["ledgerHealth"]);
    Ok(())
}

const W1: &str = "{ orders(first: 50) { edges { node { orderNumber buyer { displayName } items { name } payment { status amount ledgerEntries { amount } } assignments { status agent { agentCode user { displayName } } } } } } }";
const W2: &str = "query($id: ID!) { order(id: $id) { orderNumber buyer { displayName } items { name } payment { status amount ledgerEntries { amount } } assignments { status agent { agentCode user { displayName } } } } }";
const W3: &str = "query($agent: ID!) { shippingAssignments(first: 20, filter: {agentId: $agent, status: [ACCEPTED, PICKED_UP, IN_TRANSIT]}) { totalCount edges { node { id status estimatedDeliveryTime acceptedAt order { orderNumber deliveryZipCode total currency } } } } }";

/// W4: reads and writes mixed 80/20 (`BENCH_MODE=mixed`).
struct Mixed {
    client: Arc<Client>,
    buyers: Arc<Vec<String>>,
    seller_id: String,
    seller: String,
    admin: String,
    agent: String,
    agent_id: String,
    order_ids: Vec<String>,
}

/// Where a client's current order is in its life.
enum Step {
    Create,
    Initiate(String),
    Capture(String, String),
    Confirm(String),
    Offer(String),
    Accept(String),
}

impl Mixed {
    async fn run(self, workers: u64, seconds: u64) -> Result<(), Failure> {
        let this = Arc::new(self);
        let stats = Arc::new(Mutex::new(Stats::default()));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut handles = Vec::new();
        for w in 0..workers {
            let (this, stats) = (this.clone(), stats.clone());
            handles.push(tokio::spawn(async move {
                let mut local = Stats::default();
                let mut step = Step::Create;
                let mut n: u64 = 0;
                while Instant::now() < deadline {
                    n += 1;
                    // 1 in 5 requests writes; the rest read W1, W2, W3 in turn.
                    let roll = (w * 7919 + n * 104_729) % 100;
                    if roll < 20 {
                        step = this.write(w, n, step, &mut local).await;
                    } else {
                        this.read(n, &mut local).await;
                    }
                }
                stats.lock().await.absorb(local);
            }));
        }
        for h in handles {
            h.await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let mut stats = stats.lock().await;
        let total: usize = stats.latencies.values().map(Vec::len).sum();
        println!(
            "mode mixed, workers {workers}, {elapsed:.1} s, {total} requests, {:.1} requests/s",
            total as f64 / elapsed
        );
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for (op, lat) in stats.latencies.iter_mut() {
            print_latencies(op, lat, elapsed);
            if op.starts_with('W') { reads.extend(lat.iter().copied()) } else { writes.extend(lat.iter().copied()) }
        }
        for (label, lat) in [("reads", &mut reads), ("writes", &mut writes)] {
            print_latencies(label, lat, elapsed);
        }
        for (k, v) in &stats.outcomes {
            println!("outcome {k}: {v}");
        }
        let (health, _) = this
            .client
            .call(
                &this.admin,
                "{ ledgerHealth { healthy paymentsChecked violations { invariant detail } } }",
                Value::Null,
            )
            .await?;
        println!("ledgerHealth: {}", health["data"]["ledgerHealth"]);
        Ok(())
    }

    async fn read(&self, n: u64, stats: &mut Stats) {
        let (op, token, query, vars) = match n % 3 {
            0 => ("W1 nested page", &self.admin, W1, Value::Null),
            1 => {
                let id = &self.order_ids[(n as usize / 3) % self.order_ids.len().max(1)];
                ("W2 order by id", &self.admin, W2, json!({ "id": id }))
            }
            _ => ("W3 agent's active", &self.agent, W3, json!({ "agent": self.agent_id })),
        };
        if let Ok((body, t)) = self.client.call(token, query, vars).await {
            stats.latencies.entry(op).or_default().push(t);
            *stats.outcomes.entry(format!("{op} {}", outcome(&body))).or_default() += 1;
        }
    }

    /// Sends the next step of this client's order; returns the step after it.
    async fn write(&self, w: u64, n: u64, step: Step, stats: &mut Stats) -> Step {
        let buyer = &self.buyers[(w as usize) % self.buyers.len()];
        let (op, token, query, vars, pick): (&'static str, &str, &str, Value, &[&str]) = match &step {
            Step::Create => {
                let cents = 100 + (w * 7919 + n * 104_729) % 9_900;
                let input = json!({
                    "sellerId": self.seller_id,
                    "items": [{ "name": "Bench item", "quantity": 1, "unitPrice": rust_decimal::Decimal::new(cents as i64, 2) }],
                    "deliveryZipCode": "10115",
                    "currency": "USD",
                });
                (
                    "createOrder",
                    buyer,
                    "mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }",
                    json!({ "i": input }),
                    &["createOrder", "id"],
                )
            }
            Step::Initiate(order) => {
                let input = json!({ "orderId": order, "method": "WALLET", "idempotencyKey": format!("i-{order}") });
                (
                    "initiatePayment",
                    buyer,
                    "mutation($i: InitiatePaymentInput!) { initiatePayment(input: $i) { id } }",
                    json!({ "i": input }),
                    &["initiatePayment", "id"],
                )
            }
            Step::Capture(_, payment) => {
                let input = json!({ "paymentId": payment, "idempotencyKey": format!("c-{payment}") });
                (
                    "capturePayment",
                    buyer,
                    "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { id } }",
                    json!({ "i": input }),
                    &["capturePayment", "id"],
                )
            }
            Step::Confirm(order) => {
                let input = json!({ "orderId": order, "status": "CONFIRMED" });
                (
                    "confirmOrder",
                    &self.seller,
                    "mutation($i: UpdateOrderStatusInput!) { updateOrderStatus(input: $i) { id } }",
                    json!({ "i": input }),
                    &["updateOrderStatus", "id"],
                )
            }
            Step::Offer(order) => {
                let input = json!({ "orderId": order, "agentId": self.agent_id });
                (
                    "offerAssignment",
                    &self.seller,
                    "mutation($i: CreateShippingAssignmentInput!) { createShippingAssignment(input: $i) { id } }",
                    json!({ "i": input }),
                    &["createShippingAssignment", "id"],
                )
            }
            Step::Accept(assignment) => {
                let input = json!({ "assignmentId": assignment });
                (
                    "acceptAssignment",
                    &self.agent,
                    "mutation($i: AcceptAssignmentInput!) { acceptAssignment(input: $i) { id } }",
                    json!({ "i": input }),
                    &["acceptAssignment", "id"],
                )
            }
        };
        let Ok((body, t)) = self.client.call(token, query, vars).await else { return Step::Create };
        stats.latencies.entry(op).or_default().push(t);
        *stats.outcomes.entry(format!("{op} {}", outcome(&body))).or_default() += 1;
        let Some(id) = body["data"][pick[0]][pick[1]].as_str().map(str::to_owned) else { return Step::Create };
        match step {
            Step::Create => Step::Initiate(id),
            Step::Initiate(order) => Step::Capture(order, id),
            Step::Capture(order, _) => Step::Confirm(order),
            Step::Confirm(order) => Step::Offer(order),
            Step::Offer(_) => Step::Accept(id),
            Step::Accept(_) => Step::Create,
        }
    }
}
