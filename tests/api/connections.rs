//! Relay connections: keyset paging, filters, sorts, limits, cursors,
//! `totalCount` and `includeDeleted`.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use entity::{OrderStatus, order};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::on_both_backends;

const PAGE: &str =
    "query($first: Int, $after: String, $last: Int, $before: String, $orderBy: OrderSort, $filter: OrderFilter) {
  orders(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy, filter: $filter) {
    edges { cursor node { id orderNumber total status createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn numbers(res: &Value) -> Vec<String> {
    res["orders"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["orderNumber"].as_str().expect("number").to_owned())
        .collect()
}

/// Inserts an extra order for buyer@/seller@ with the given creation time.
async fn insert_order(app: &TestApp, number: &str, created_at: chrono::DateTime<Utc>) {
    let template = order::Entity::find().one(&app.db).await.expect("query").expect("an order");
    order::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        order_number: Set(number.to_owned()),
        buyer_id: Set(template.buyer_id),
        seller_id: Set(template.seller_id),
        status: Set(OrderStatus::Pending),
        total_minor: Set(1234),
        currency: Set("USD".into()),
        delivery_zip_code: Set("10115".into()),
        version: Set(0),
        cancel_reason: Set(None),
        created_at: Set(created_at),
        updated_at: Set(created_at),
        deleted_at: Set(None),
        deleted_by: Set(None),
    }
    .insert(&app.db)
    .await
    .expect("insert order");
}

async fn all_numbers(app: &TestApp, token: &str, order_by: Value) -> Vec<String> {
    numbers(app.graphql(PAGE, json!({ "first": 100, "orderBy": order_by }), Some(token)).await.data())
}

async fn paging_forward_with_inserts_in_between_has_no_duplicates_and_no_gaps(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(30).await;
    let token = app.token_for("admin@courier.test").await;
    let before = all_numbers(&app, &token, Value::Null).await;
    assert_eq!(before.len(), 30);

    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let res = app.graphql(PAGE, json!({ "first": 7, "after": after }), Some(&token)).await;
        let data = res.data();
        seen.extend(numbers(data));
        let info = &data["orders"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], pages > 0);
        if pages == 0 {
            // Between pages: one order newer than everything (before the cursor:
            // must not appear or shift the pages) and one older (after it: must appear).
            insert_order(&app, "ZZ-NEWEST", Utc::now() + Duration::hours(1)).await;
            insert_order(&app, "ZZ-OLDEST", Utc::now() - Duration::days(3650)).await;
        }
        pages += 1;
        if info["hasNextPage"] == false {
            break;
        }
        after = info["endCursor"].clone();
    }
    let mut expected = before.clone();
    expected.push("ZZ-OLDEST".into());
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len(), "duplicates");
    assert_eq!(pages, 5);
}

async fn paging_backward_from_the_end_returns_the_same_rows_in_the_same_order(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(23).await;
    let token = app.token_for("admin@courier.test").await;
    let order_by = json!({ "field": "TOTAL_AMOUNT", "direction": "ASC" });
    let forward = all_numbers(&app, &token, order_by.clone()).await;

    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut before = Value::Null;
    loop {
        let res = app.graphql(PAGE, json!({ "last": 5, "before": before, "orderBy": order_by }), Some(&token)).await;
        let data = res.data();
        pages.push(numbers(data));
        let info = &data["orders"]["pageInfo"];
        assert_eq!(info["hasNextPage"], !before.is_null());
        if info["hasPreviousPage"] == false {
            break;
        }
        before = info["startCursor"].clone();
    }
    let backward: Vec<String> = pages.into_iter().rev().flatten().collect();
    assert_eq!(backward, forward);
    assert_eq!(backward.len(), 23);
}

async fn every_sort_orders_rows_by_its_field_then_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(25).await;
    let token = app.token_for("admin@courier.test").await;
    for (field, dir) in [
        ("CREATED_AT", "ASC"),
        ("CREATED_AT", "DESC"),
        ("TOTAL_AMOUNT", "ASC"),
        ("TOTAL_AMOUNT", "DESC"),
        ("STATUS", "ASC"),
        ("ORDER_NUMBER", "DESC"),
    ] {
        let order_by = json!({ "field": field, "direction": dir });
        let res = app.graphql(PAGE, json!({ "first": 100, "orderBy": order_by }), Some(&token)).await;
        let nodes: Vec<&Value> =
            res.data()["orders"]["edges"].as_array().expect("edges").iter().map(|e| &e["node"]).collect();
        assert_eq!(nodes.len(), 25);
        let key = |n: &Value| -> String {
            match field {
                "TOTAL_AMOUNT" => format!("{:>20}", n["total"].as_str().expect("total").replace('.', "")),
                "STATUS" => n["status"].as_str().expect("status").to_owned(),
                "ORDER_NUMBER" => n["orderNumber"].as_str().expect("number").to_owned(),
                _ => n["createdAt"].as_str().expect("time").to_owned(),
            }
        };
        for pair in nodes.windows(2) {
            let (a, b) = (key(pair[0]), key(pair[1]));
            assert!(if dir == "ASC" { a <= b } else { a >= b }, "{field} {dir}: {a} then {b}");
        }
        // Paging in small steps under the same sort gives the same sequence.
        let mut paged = Vec::new();
        let mut after = Value::Null;
        loop {
            let res = app.graphql(PAGE, json!({ "first": 4, "after": after, "orderBy": order_by }), Some(&token)).await;
            paged.extend(numbers(res.data()));
            let info = &res.data()["orders"]["pageInfo"];
            if info["hasNextPage"] == false {
                break;
            }
            after = info["endCursor"].clone();
        }
        let whole: Vec<String> = nodes.iter().map(|n| n["orderNumber"].as_str().expect("n").to_owned()).collect();
        assert_eq!(paged, whole, "{field} {dir}");
    }
}

async fn every_order_filter_narrows_the_list(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(40).await;
    let token = app.token_for("admin@courier.test").await;
    let count = |filter: Value| {
        let (app, token) = (&app, &token);
        async move {
            let res = app
                .graphql("query($f: OrderFilter) { orders(first: 100, filter: $f) { totalCount nodes { status buyer { id } seller { id } createdAt orderNumber } } }", json!({ "f": filter }), Some(token))
                .await;
            res.data()["orders"].clone()
        }
    };
    let statuses = count(json!({ "status": ["PENDING", "CANCELLED"] })).await;
    let expected = order::Entity::find()
        .filter(order::Column::Status.is_in([OrderStatus::Pending, OrderStatus::Cancelled]))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(statuses["totalCount"], expected);
    assert!(
        statuses["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["status"] == "PENDING" || n["status"] == "CANCELLED")
    );

    let buyer = app
        .graphql("{ viewer { id } }", Value::Null, Some(&app.token_for("buyer2@courier.test").await))
        .await
        .data()["viewer"]["id"]
        .clone();
    let by_buyer = count(json!({ "buyerId": buyer })).await;
    assert_eq!(by_buyer["totalCount"], 10);
    assert!(by_buyer["nodes"].as_array().expect("nodes").iter().all(|n| n["buyer"]["id"] == buyer));

    let seller =
        app.graphql("{ viewer { id } }", Value::Null, Some(&app.token_for("seller2@courier.test").await)).await.data()
            ["viewer"]["id"]
            .clone();
    let by_seller = count(json!({ "sellerId": seller })).await;
    assert_eq!(by_seller["totalCount"], 20);
    assert!(by_seller["nodes"].as_array().expect("nodes").iter().all(|n| n["seller"]["id"] == seller));

    let one = count(json!({ "orderNumber": "DEMO-000007" })).await;
    assert_eq!(one["totalCount"], 1);
    assert_eq!(one["nodes"][0]["orderNumber"], "DEMO-000007");

    // Seeded orders are 7 minutes apart, the newest 7 minutes old: the last hour holds 8.
    let since = (Utc::now() - Duration::minutes(60)).to_rfc3339();
    let recent = count(json!({ "createdAfter": since })).await;
    assert_eq!(recent["totalCount"], 8, "{recent}");
    let older = count(json!({ "createdBefore": since })).await;
    assert_eq!(older["totalCount"], 32);
}

async fn page_size_is_capped_and_bad_arguments_are_bad_user_input(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(25).await;
    let token = app.token_for("admin@courier.test").await;
    let res = app.graphql(PAGE, json!({}), Some(&token)).await;
    assert_eq!(numbers(res.data()).len(), 20, "default page size");
    assert_eq!(numbers(app.graphql(PAGE, json!({ "first": 100 }), Some(&token)).await.data()).len(), 25);
    for vars in
        [json!({ "first": 101 }), json!({ "last": 500 }), json!({ "first": -1 }), json!({ "first": 5, "last": 5 })]
    {
        assert_eq!(app.graphql(PAGE, vars.clone(), Some(&token)).await.code(), "BAD_USER_INPUT", "{vars}");
    }

    let cursor =
        app.graphql(PAGE, json!({ "first": 2 }), Some(&token)).await.data()["orders"]["pageInfo"]["endCursor"].clone();
    // Tampered, or from another sort, or from another connection.
    let tampered = format!("{}x", cursor.as_str().expect("cursor"));
    assert_eq!(app.graphql(PAGE, json!({ "after": tampered }), Some(&token)).await.code(), "BAD_USER_INPUT");
    assert_eq!(app.graphql(PAGE, json!({ "after": "bm90IGEgY3Vyc29y" }), Some(&token)).await.code(), "BAD_USER_INPUT");
    let other_sort = json!({ "after": cursor, "orderBy": { "field": "TOTAL_AMOUNT" } });
    assert_eq!(app.graphql(PAGE, other_sort, Some(&token)).await.code(), "BAD_USER_INPUT");
    let payments = app
        .graphql("query($a: String) { payments(after: $a) { nodes { id } } }", json!({ "a": cursor }), Some(&token))
        .await;
    assert_eq!(payments.code(), "BAD_USER_INPUT");
    // A valid cursor still works.
    assert_eq!(numbers(app.graphql(PAGE, json!({ "first": 3, "after": cursor }), Some(&token)).await.data()).len(), 3);
}

async fn total_count_runs_its_count_only_when_selected(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(12).await;
    let token = app.token_for("buyer@courier.test").await;
    app.warm(&token).await;
    let without = app.graphql("{ orders(first: 2) { nodes { id } } }", Value::Null, Some(&token)).await;
    let with = app.graphql("{ orders(first: 2) { totalCount nodes { id } } }", Value::Null, Some(&token)).await;
    let statements =
        |r: &crate::helpers::GqlResponse| r.body["extensions"]["sqlStatements"].as_u64().expect("sqlStatements");
    assert_eq!(statements(&with), statements(&without) + 1);
    // buyer@ has every 4th of the 12 demo orders.
    assert_eq!(with.data()["orders"]["totalCount"], 3);
}

async fn deleted_orders_are_hidden_except_from_admins_who_ask(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(8).await;
    let now = if backend == Backend::Postgres { "now()" } else { "CURRENT_TIMESTAMP" };
    app.exec(&format!("UPDATE orders SET deleted_at = {now} WHERE order_number = 'DEMO-000001'")).await;
    let q =
        "query($d: Boolean!) { orders(first: 100, includeDeleted: $d) { totalCount nodes { orderNumber deletedAt } } }";
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;

    let res = app.graphql(q, json!({ "d": false }), Some(&buyer)).await;
    assert!(!res.body.to_string().contains("DEMO-000001"));
    assert_eq!(app.graphql(q, json!({ "d": true }), Some(&buyer)).await.code(), "FORBIDDEN");

    let res = app.graphql(q, json!({ "d": false }), Some(&admin)).await;
    assert_eq!(res.data()["orders"]["totalCount"], 7);
    let res = app.graphql(q, json!({ "d": true }), Some(&admin)).await;
    assert_eq!(res.data()["orders"]["totalCount"], 8);
    let deleted = res.data()["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["orderNumber"] == "DEMO-000001")
        .cloned()
        .expect("deleted order listed");
    assert!(deleted["deletedAt"].is_string());
    // Lookups never return it.
    let by_number = app.graphql("{ order(orderNumber: \"DEMO-000001\") { id } }", Value::Null, Some(&admin)).await;
    assert_eq!(by_number.code(), "NOT_FOUND");
}

on_both_backends!(
    paging_forward_with_inserts_in_between_has_no_duplicates_and_no_gaps,
    paging_backward_from_the_end_returns_the_same_rows_in_the_same_order,
    every_sort_orders_rows_by_its_field_then_id,
    every_order_filter_narrows_the_list,
    page_size_is_capped_and_bad_arguments_are_bad_user_input,
    total_count_runs_its_count_only_when_selected,
    deleted_orders_are_hidden_except_from_admins_who_ask,
);
