//! A read answers from one snapshot: while writers change orders and their
//! relations together, every order read agrees with its relations.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

const PAGE: &str =
    "{ orders(first: 50) { edges { node { id orderNumber deliveryZipCode buyer { displayName } items { name } } } } }";
const BY_NUMBER: &str =
    "query($n: String!) { order(orderNumber: $n) { deliveryZipCode buyer { displayName } items { name } } }";
const ORDER_BY_NUMBER: &str =
    "query($n: String!) { orderByNumber(orderNumber: $n) { deliveryZipCode buyer { displayName } items { name } } }";
const BY_ID: &str = "query($id: ID!) { order(id: $id) { deliveryZipCode buyer { displayName } items { name } } }";

/// What one writer's transaction sets, generation `g`: every order's zip
/// code, every item's name and every user's display name.
fn generation(g: u64) -> String {
    format!(
        "BEGIN; UPDATE orders SET delivery_zip_code = 'g{g}'; UPDATE order_items SET name = 'g{g}'; \
         UPDATE users SET display_name = 'g{g}'; COMMIT;"
    )
}

/// The generations one order shows: its own, its buyer's and its items'.
fn generations_of(order: &Value) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    seen.insert(order["deliveryZipCode"].as_str().expect("zip").to_owned());
    seen.insert(order["buyer"]["displayName"].as_str().expect("buyer").to_owned());
    for item in order["items"].as_array().expect("items") {
        seen.insert(item["name"].as_str().expect("name").to_owned());
    }
    seen
}

async fn an_order_and_its_relations_come_from_one_snapshot(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    app.seed(40).await;
    app.exec(&generation(0)).await;
    let token = app.token_for("admin@courier.test").await;

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (app, stop, written) = (app.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let g = written.fetch_add(1, Ordering::Relaxed) + 1;
                app.exec(&generation(g)).await;
            }
        })
    };
    let readers = (0..4).map(|r| {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move {
            let (mut orders, mut torn, mut seen) = (0_u64, Vec::new(), BTreeSet::new());
            for i in 0..15 {
                let page = app.graphql(PAGE, json!({}), Some(&token)).await;
                let edges = page.data()["orders"]["edges"].as_array().expect("edges").clone();
                assert_eq!(edges.len(), 40, "{}", page.body);
                let one = &edges[(r * 15 + i) % edges.len()]["node"];
                let by_number = app.graphql(BY_NUMBER, json!({ "n": one["orderNumber"] }), Some(&token)).await;
                let order_by_number =
                    app.graphql(ORDER_BY_NUMBER, json!({ "n": one["orderNumber"] }), Some(&token)).await;
                let by_id = app.graphql(BY_ID, json!({ "id": one["id"] }), Some(&token)).await;
                let singles = [
                    ("order(orderNumber:)", by_number.data()["order"].clone()),
                    ("orderByNumber", order_by_number.data()["orderByNumber"].clone()),
                    ("order(id:)", by_id.data()["order"].clone()),
                ];
                let all = edges.iter().map(|e| ("orders", e["node"].clone())).chain(singles);
                for (path, order) in all {
                    orders += 1;
                    let generations = generations_of(&order);
                    if generations.len() != 1 {
                        torn.push(format!("{path}: {generations:?}"));
                    }
                    seen.extend(generations);
                }
            }
            (orders, torn, seen)
        })
    });
    let results = futures_util::future::join_all(readers).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");

    let (mut orders, mut torn, mut seen) = (0, Vec::new(), BTreeSet::new());
    for result in results {
        let (o, t, s) = result.expect("reader");
        orders += o;
        torn.extend(t);
        seen.extend(s);
    }
    assert_eq!(orders, 4 * 15 * 43);
    // The reads really ran while the data changed under them.
    assert!(seen.len() >= 5, "only {} generations seen of {}", seen.len(), written.load(Ordering::Relaxed));
    assert!(
        torn.is_empty(),
        "{} of {orders} orders disagree with their relations: {:?}",
        torn.len(),
        &torn[..torn.len().min(5)]
    );
}

on_both_backends!(an_order_and_its_relations_come_from_one_snapshot);
