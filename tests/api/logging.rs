//! Structured slow-resolver and slow-SQL events, tied to the request.

use serde_json::Value;

use crate::helpers::{Backend, logs_containing, spawn_app_with};
use crate::on_both_backends;

fn events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["fields"]["event"] == event).collect()
}

async fn slow_resolvers_are_logged_with_path_type_field_and_request_id(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.slow_resolver_ms = 0).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    let request_id = format!("slow-resolver-{}", uuid::Uuid::new_v4().simple());
    app.graphql_with(
        "{ viewer { email wallet { balance } } }",
        Value::Null,
        Some(&token),
        &[("x-request-id", &request_id)],
    )
    .await
    .data();
    let lines = logs_containing(&request_id);
    let slow = events(&lines, "slow_resolver_detected");
    // The deepest slow fields only: `viewer` and `viewer.wallet` are slow
    // because of the fields below them.
    let mut paths: Vec<&str> = slow.iter().filter_map(|l| l["fields"]["path"].as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["viewer.email", "viewer.wallet.balance"], "{lines:?}");
    let wallet = slow
        .iter()
        .find(|l| l["fields"]["path"] == "viewer.wallet.balance")
        .unwrap_or_else(|| panic!("no slow_resolver_detected for viewer.wallet.balance in {lines:?}"));
    assert_eq!(wallet["fields"]["parent_type"], "Wallet");
    assert_eq!(wallet["fields"]["field"], "balance");
    assert_eq!(wallet["fields"]["count"], 1);
    assert_eq!(wallet["fields"]["threshold_ms"], 0);
    assert_eq!(wallet["fields"]["request_id"], request_id.as_str());
    assert!(wallet["fields"]["duration_ms"].as_f64().is_some());
    assert_eq!(wallet["level"], "WARN");
}

async fn resolvers_under_the_threshold_are_not_logged(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.slow_resolver_ms = 60_000).await;
    let request_id = format!("fast-resolver-{}", uuid::Uuid::new_v4().simple());
    app.graphql_with("{ viewer { id } }", Value::Null, None, &[("x-request-id", &request_id)]).await.data();
    assert!(events(&logs_containing(&request_id), "slow_resolver_detected").is_empty());
}

async fn slow_sql_is_logged_in_the_request_span(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.slow_sql_ms = 0).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    let request_id = format!("slow-sql-{}", uuid::Uuid::new_v4().simple());
    app.graphql_with("{ viewer { wallet { balance } } }", Value::Null, Some(&token), &[("x-request-id", &request_id)])
        .await
        .data();
    let lines = logs_containing(&request_id);
    let slow = events(&lines, "slow_query_detected");
    assert!(
        slow.iter().any(|l| l["fields"]["sql"].as_str().is_some_and(|s| s.contains("wallets"))),
        "no slow_query_detected for the wallet query: {lines:?}"
    );
    for line in slow {
        assert_eq!(line["span"]["request_id"], request_id.as_str());
        assert_eq!(line["fields"]["threshold_ms"], 0);
    }
}

/// A 50-row page at a 0 ms threshold: one line per slow field path (each
/// with its count), not one per row and per ancestor.
/// Every resolver that can be slow is timed: those that wait (root fields,
/// loaders), also inside a preloaded page (an agent's zip codes come through
/// a loader); fields read from memory answer at once and are not. With a
/// threshold of 0 every timed field is slow, and only the deepest are
/// reported (an ancestor is slow because of them).
async fn a_slow_page_is_one_line_per_field_path(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.slow_resolver_ms = 0).await;
    app.seed(60).await;
    let token = app.token_for("admin@courier.test").await;
    let request_id = format!("slow-page-{}", uuid::Uuid::new_v4().simple());
    let res = app
        .graphql_with(
            "{ orders(first: 50) { edges { node { orderNumber buyer { displayName } assignments { agent { zipCodes } } } } } }",
            Value::Null,
            Some(&token),
            &[("x-request-id", &request_id)],
        )
        .await;
    let edges = res.data()["orders"]["edges"].as_array().expect("edges").clone();
    assert_eq!(edges.len(), 50);
    let agents = edges
        .iter()
        .flat_map(|e| e["node"]["assignments"].as_array().expect("assignments").clone())
        .filter(|a| a["agent"]["zipCodes"].is_array())
        .count() as u64;
    assert!(agents > 0);
    let lines = logs_containing(&request_id);
    let slow = events(&lines, "slow_resolver_detected");
    let paths: Vec<(&str, u64)> = slow
        .iter()
        .map(|l| (l["fields"]["path"].as_str().unwrap_or(""), l["fields"]["count"].as_u64().unwrap_or(0)))
        .collect();
    // Each agent's field, and each item of its list (async-graphql times list items too).
    assert_eq!(paths.len(), 1, "{lines:?}");
    assert_eq!(paths[0].0, "orders.edges.node.assignments.agent.zipCodes", "{lines:?}");
    assert!(paths[0].1 >= agents, "{lines:?}");
}

on_both_backends!(
    a_slow_page_is_one_line_per_field_path,
    slow_resolvers_are_logged_with_path_type_field_and_request_id,
    resolvers_under_the_threshold_are_not_logged,
    slow_sql_is_logged_in_the_request_span,
);
