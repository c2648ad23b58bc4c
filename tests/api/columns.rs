//! A page read in one statement reads only the columns its selected fields
//! need (`graphql::preloaded::columns`); the others hold placeholders. Each
//! listed field, selected alone at each place a page reads it, must answer
//! what the per-relation loaders answer, which read every column.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use courier::graphql::preloaded::columns::{
    DELIVERY_AGENT, Fields, LEDGER_ENTRY, ORDER, ORDER_ITEM, PAYMENT, SHIPPING_ASSIGNMENT, USER,
};

use crate::helpers::{Backend, TestApp, spawn_app};

/// The field names of `fields`.
fn names<C>(fields: Fields<C>) -> Vec<&'static str> {
    fields.iter().map(|(name, _)| *name).collect()
}

/// `name` with a selection of its own where it is an object or a list of
/// objects (`of`: its type's name in `TYPES`).
fn selection(name: &str, object: Option<&str>) -> String {
    match (name, object) {
        ("assignments", Some("DeliveryAgent")) => "assignments(first: 3) { totalCount nodes { id } }".into(),
        ("metrics", _) => "metrics { deliveredCount onTimeCount }".into(),
        (_, Some(_)) => format!("{name} {{ __typename }}"),
        (_, None) => name.into(),
    }
}

/// Where a page of orders reads each type, as a selection with a hole.
const PLACES: &[(&str, &str)] = &[
    // With a relation: a page without one reads its rows in full.
    ("Order", "{} payments { id }"),
    ("OrderItem", "items { {} }"),
    ("Payment", "payments { {} }"),
    ("Payment", "payment { {} }"),
    ("LedgerEntry", "payments { ledgerEntries { {} } }"),
    ("ShippingAssignment", "assignments { {} }"),
    ("ShippingAssignment", "activeAssignment { {} }"),
    ("DeliveryAgent", "assignments { agent { {} } }"),
    ("User", "buyer { {} }"),
    ("User", "seller { {} }"),
    ("User", "assignments { agent { user { {} } } }"),
];

/// The listed fields of `type_name`.
fn listed(type_name: &str) -> Vec<&'static str> {
    match type_name {
        "Order" => names(ORDER),
        "OrderItem" => names(ORDER_ITEM),
        "Payment" => names(PAYMENT),
        "LedgerEntry" => names(LEDGER_ENTRY),
        "ShippingAssignment" => names(SHIPPING_ASSIGNMENT),
        "DeliveryAgent" => names(DELIVERY_AGENT),
        "User" => names(USER),
        other => panic!("no fields listed for {other}"),
    }
}

/// The fields of `type_name` in the schema, with the name of each field's
/// object type (`None` for scalars and enums).
async fn schema_fields(app: &TestApp, token: &str, type_name: &str) -> Vec<(String, Option<String>)> {
    let query = "query($name: String!) { __type(name: $name) { fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let res = app.graphql(query, json!({ "name": type_name }), Some(token)).await;
    let fields = res.data()["__type"]["fields"].as_array().expect("fields").clone();
    fields
        .iter()
        .map(|f| {
            let mut ty = &f["type"];
            while ty["kind"] == "NON_NULL" || ty["kind"] == "LIST" {
                ty = &ty["ofType"];
            }
            let object = (ty["kind"] == "OBJECT").then(|| ty["name"].as_str().expect("name").to_owned());
            (f["name"].as_str().expect("name").to_owned(), object)
        })
        .collect()
}

/// Counts the leaves of `value` that are not null.
fn values(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Array(items) => items.iter().map(values).sum(),
        Value::Object(fields) => fields.values().map(values).sum(),
        _ => 1,
    }
}

/// `order(id:) { <inner> }` for each of `ids`, in order, read as one
/// order's relations are (JSON), in as many requests as the alias limit
/// asks.
async fn by_id(app: &TestApp, token: &str, ids: &[Value], inner: &str) -> Value {
    let mut orders = Vec::new();
    for chunk in ids.chunks(30) {
        let fields: String =
            chunk.iter().enumerate().map(|(i, id)| format!("o{i}: order(id: {id}) {{ {inner} }} ")).collect();
        let res = app.graphql(&format!("{{ {fields} }}"), Value::Null, Some(token)).await;
        orders.extend((0..chunk.len()).map(|i| res.data()[format!("o{i}")].clone()));
    }
    Value::Array(orders)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_field_answers_what_a_full_read_answers_postgres() {
    let app = spawn_app(Backend::Postgres).await;
    app.seed(80).await;
    // A value in every nullable column the seed leaves empty, so that a
    // placeholder (NULL) would show. Only reads are tested here.
    let fill = [
        // A failed earlier assignment beside some orders' assignment.
        "INSERT INTO shipping_assignments (id, order_id, agent_id, status, failure_reason, version, created_at, updated_at, open_offer) \
         SELECT gen_random_uuid(), order_id, agent_id, 'FAILED', 'Nobody home', 1, created_at, updated_at, false \
         FROM shipping_assignments WHERE agent_id IS NOT NULL ORDER BY id LIMIT 10",
        "UPDATE payments SET processor_status = 'APPROVED' WHERE method = 'CARD' OR status = 'CAPTURED'",
        "UPDATE shipping_assignments SET failure_reason = 'Nobody home ' || left(id::text, 4), delivered_at = coalesce(delivered_at, created_at + interval '1 hour')",
        "UPDATE users SET deleted_at = now() WHERE email IN ('buyer2@courier.test', 'seller2@courier.test', 'agent2@courier.test')",
    ];
    for sql in fill {
        app.db.execute_unprepared(sql).await.expect(sql);
    }
    // Creation order against id order: each later row of a group made a
    // second older than the one before, so a list sorted by id alone (or
    // by a creation time that was not read) shows.
    for (table, group) in
        [("payments", "order_id"), ("ledger_entries", "payment_id"), ("shipping_assignments", "order_id")]
    {
        let skew = format!(
            "UPDATE {table} t SET created_at = t.created_at - (SELECT count(*) FROM {table} x WHERE x.{group} = t.{group} AND x.id < t.id) * interval '1 second'"
        );
        app.db.execute_unprepared(&skew).await.expect(&skew);
        let groups = app
            .query_strings(&format!(
                "SELECT {group}::text FROM {table} WHERE {group} IS NOT NULL GROUP BY {group} HAVING count(*) > 1"
            ))
            .await;
        assert!(!groups.is_empty() || table == "payments", "some {group} has several {table}");
    }
    // Deleted orders are not on a page read by `nodes`, so `Order.deletedAt`
    // is null on both sides.
    let no_value = ["Order.deletedAt at `deletedAt payments { id }`"];
    let admin = app.token_for("admin@courier.test").await;
    let ids = app.graphql("{ orders(first: 60) { nodes { id } } }", Value::Null, Some(&admin)).await;
    let ids: Vec<Value> =
        ids.data()["orders"]["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].clone()).collect();
    assert_eq!(ids.len(), 60);

    let mut checked = 0;
    let mut empty = Vec::new();
    for (type_name, place) in PLACES {
        let fields = schema_fields(&app, &admin, type_name).await;
        let listed = listed(type_name);
        // Every field of the type is listed, so every selection is narrowed.
        let mut in_schema: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        in_schema.sort_unstable();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, in_schema, "the fields listed for {type_name} are its fields in the schema");
        for (name, object) in &fields {
            let inner = place.replace("{}", &selection(name, object.as_deref()));
            let page = app
                .graphql(&format!("{{ orders(first: 60) {{ nodes {{ {inner} }} }} }}"), Value::Null, Some(&admin))
                .await;
            let full = app
                .graphql(
                    &format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Order {{ {inner} }} }} }}"),
                    json!({ "ids": ids }),
                    Some(&admin),
                )
                .await;
            let page = &page.data()["orders"]["nodes"];
            assert_eq!(page, &full.data()["nodes"], "{type_name}.{name} at `{inner}`");
            assert_eq!(&by_id(&app, &admin, &ids, &inner).await, page, "order(id:) {type_name}.{name} at `{inner}`");
            if values(page) == 0 && !no_value.contains(&format!("{type_name}.{name} at `{inner}`").as_str()) {
                empty.push(format!("{type_name}.{name} at `{inner}`"));
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} selections");
    // order(id:) read its JSON (a failed read falls back to arrays, which
    // would compare equal).
    let orders = app.query_strings("SELECT id::text FROM orders").await;
    let fallbacks: Vec<Value> = crate::helpers::logs_containing("order_relations_fallback")
        .into_iter()
        .filter(|line| orders.iter().any(|id| line.to_string().contains(id.as_str())))
        .collect();
    assert!(fallbacks.is_empty(), "order(id:) fell back to arrays: {fallbacks:?}");
    assert!(empty.is_empty(), "no value to compare (seed more): {empty:?}");
}
