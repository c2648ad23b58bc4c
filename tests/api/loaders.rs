//! Dataloaders keep a nested page at a constant number of SQL statements.

use entity::{delivery_agent, shipping_assignment};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, GqlResponse, spawn_app_with};
use crate::on_both_backends;

const NESTED: &str = "query($n: Int!) {
  orders(first: $n) { edges { node {
    buyer { displayName }
    items { name }
    payment { status amount ledgerEntries { amount } }
    assignments { status agent { agentCode user { displayName } } }
  } } }
}";

fn statements(res: &GqlResponse) -> u64 {
    res.body["extensions"]["sqlStatements"].as_u64().unwrap_or_else(|| panic!("no sqlStatements: {}", res.body))
}

async fn a_nested_page_costs_the_same_statements_for_5_and_100_orders(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(120).await;
    let token = app.token_for("admin@courier.test").await;
    let small = app.graphql(NESTED, json!({ "n": 5 }), Some(&token)).await;
    let large = app.graphql(NESTED, json!({ "n": 100 }), Some(&token)).await;
    let edges = large.data()["orders"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 100);
    // The page really is nested: payments with ledger legs, agents with users.
    assert!(edges.iter().any(|e| e["node"]["payment"]["ledgerEntries"].as_array().is_some_and(|l| l.len() == 3)));
    assert!(edges.iter().any(|e| e["node"]["assignments"][0]["agent"]["user"]["displayName"].is_string()));
    assert_eq!(small.data()["orders"]["edges"].as_array().expect("edges").len(), 5);
    // auth + orders + buyers + items + payments + entries + assignments + agents + agent users
    assert_eq!(statements(&small), 9, "{}", small.body["extensions"]);
    assert_eq!(statements(&large), statements(&small));
}

async fn nested_connections_page_every_parent_in_one_statement(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(60).await;
    let token = app.token_for("admin@courier.test").await;
    let res = app
        .graphql(
            "{ deliveryAgents(first: 10) { nodes { id agentCode assignments(first: 3) { totalCount pageInfo { hasNextPage } nodes { agent { id } } } } } }",
            Value::Null,
            Some(&token),
        )
        .await;
    let agents = res.data()["deliveryAgents"]["nodes"].as_array().expect("agents").clone();
    assert_eq!(agents.len(), 2);
    for agent in &agents {
        let page = &agent["assignments"];
        let nodes = page["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 3, "60 orders give each agent more than 3 assignments");
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        assert!(nodes.iter().all(|n| n["agent"]["id"] == agent["id"]));
        let row = delivery_agent::Entity::find()
            .filter(delivery_agent::Column::AgentCode.eq(agent["agentCode"].as_str().expect("code")))
            .one(&app.db)
            .await
            .expect("query")
            .expect("agent");
        let expected = shipping_assignment::Entity::find()
            .filter(shipping_assignment::Column::AgentId.eq(row.id))
            .count(&app.db)
            .await
            .expect("count");
        assert_eq!(page["totalCount"], expected);
    }
    // auth + agents + one windowed statement for every agent's page + one
    // grouped COUNT for every agent's totalCount + the agents of those assignments
    assert_eq!(statements(&res), 5, "{}", res.body["extensions"]);

    let res = app
        .graphql(
            "{ users(first: 20) { nodes { wallet { ledgerEntries(first: 2) { nodes { amount } } } } } }",
            Value::Null,
            Some(&token),
        )
        .await;
    let users = res.data()["users"]["nodes"].as_array().expect("users");
    assert_eq!(users.len(), 9);
    assert!(
        users
            .iter()
            .all(|u| u["wallet"]["ledgerEntries"]["nodes"].as_array().is_some_and(|n| !n.is_empty() && n.len() <= 2))
    );
    // auth + users + wallets + one windowed statement for every wallet's entries
    assert_eq!(statements(&res), 4, "{}", res.body["extensions"]);
}

on_both_backends!(
    a_nested_page_costs_the_same_statements_for_5_and_100_orders,
    nested_connections_page_every_parent_in_one_statement,
);
