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

fn outcome(body: &Value) -> String {
    match body["errors"].get(0) {
        None => "ok".to_owned(),
        Some(e) => {
            let ext = &e["extensions"];
            ext["rule"].as_str().or(ext["code"].as_str()).unwrap_or("unknown").to_owned()
        }
    }
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
    let disjoint = std::env::var("BENCH_MODE").is_ok_and(|m| m == "disjoint");
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
            let mut all = stats.lock().await;
            for (k, v) in local.latencies {
                all.latencies.entry(k).or_default().extend(v);
            }
            for (k, v) in local.outcomes {
                *all.outcomes.entry(k).or_default() += v;
            }
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
        lat.sort_unstable();
        println!(
            "{op:<16} {:>7} requests {:>8.1}/s  p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
            lat.len(),
            lat.len() as f64 / elapsed,
            percentile(lat, 0.50),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
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
