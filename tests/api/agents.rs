//! Registering agents, their availability and service area, and the
//! `availableAgents` lookup by zip code.

use entity::UserRole;
use serde_json::{Value, json};

use courier::domain::lookup::EntityKind;
use courier::graphql::node::encode;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

const AVAILABLE: &str = "query($z: String!) { availableAgents(zipCode: $z) { agentCode zipCodes isAvailable } }";

fn codes(res: &Value) -> Vec<String> {
    res["availableAgents"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["agentCode"].as_str().expect("code").to_owned())
        .collect()
}

async fn admins_register_agents_who_then_manage_their_availability_and_area(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let new_user = app.create_user("newagent@courier.test", UserRole::Agent).await;
    let admin = app.token_for("admin@courier.test").await;
    let register = "mutation($input: RegisterDeliveryAgentInput!) { registerDeliveryAgent(input: $input) { id agentCode zipCodes isAvailable status } }";
    let input = json!({ "userId": encode(EntityKind::User, new_user.id).0, "agentCode": "agt-900", "zipCodes": ["30159", " 30161 ", "30159"] });

    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(app.graphql(register, json!({ "input": input }), Some(&buyer)).await.code(), "FORBIDDEN");
    let res = app.graphql(register, json!({ "input": input }), Some(&admin)).await;
    let agent = &res.data()["registerDeliveryAgent"];
    assert_eq!(agent["agentCode"], "AGT-900");
    assert_eq!(agent["zipCodes"], json!(["30159", "30161"]));
    assert_eq!(agent["isAvailable"], false);
    // Registering the same user twice is a conflict; a non-agent user is bad input.
    assert_eq!(app.graphql(register, json!({ "input": input }), Some(&admin)).await.code(), "CONFLICT");
    let buyer_user = courier::domain::users::find_by_email(&app.db, "buyer@courier.test").await.expect("buyer");
    let not_agent =
        json!({ "userId": encode(EntityKind::User, buyer_user.id).0, "agentCode": "AGT-901", "zipCodes": [] });
    assert_eq!(app.graphql(register, json!({ "input": not_agent }), Some(&admin)).await.code(), "BAD_USER_INPUT");

    // Not yet available: not offered.
    assert!(codes(app.graphql(AVAILABLE, json!({ "z": "30159" }), Some(&buyer)).await.data()).is_empty());
    let me = app.token_for("newagent@courier.test").await;
    let set = "mutation($a: Boolean!) { setAgentAvailability(input: { isAvailable: $a }) { isAvailable } }";
    assert_eq!(
        app.graphql(set, json!({ "a": true }), Some(&me)).await.data()["setAgentAvailability"]["isAvailable"],
        true
    );
    assert_eq!(codes(app.graphql(AVAILABLE, json!({ "z": "30159" }), Some(&buyer)).await.data()), ["AGT-900"]);

    let zips = "mutation($z: [String!]!) { setAgentServiceZipCodes(input: { zipCodes: $z }) { zipCodes } }";
    let res = app.graphql(zips, json!({ "z": ["40210"] }), Some(&me)).await;
    assert_eq!(res.data()["setAgentServiceZipCodes"]["zipCodes"], json!(["40210"]));
    assert!(codes(app.graphql(AVAILABLE, json!({ "z": "30159" }), Some(&buyer)).await.data()).is_empty());
    assert_eq!(codes(app.graphql(AVAILABLE, json!({ "z": "40210" }), Some(&buyer)).await.data()), ["AGT-900"]);
    assert_eq!(app.graphql(zips, json!({ "z": ["bad;zip"] }), Some(&me)).await.code(), "BAD_USER_INPUT");

    // An agent cannot change another agent; an admin can.
    let other = agent["id"].as_str().expect("id").to_owned();
    let someone = app.token_for("agent@courier.test").await;
    let by_id =
        "mutation($id: ID!) { setAgentAvailability(input: { agentId: $id, isAvailable: false }) { isAvailable } }";
    assert_eq!(app.graphql(by_id, json!({ "id": other.as_str() }), Some(&someone)).await.code(), "FORBIDDEN");
    assert_eq!(
        app.graphql(by_id, json!({ "id": other.as_str() }), Some(&admin)).await.data()["setAgentAvailability"]["isAvailable"],
        false
    );
}

async fn available_agents_are_active_available_and_serve_the_zip_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(codes(app.graphql(AVAILABLE, json!({ "z": "10117" }), Some(&buyer)).await.data()), ["AGT-001"]);
    assert_eq!(codes(app.graphql(AVAILABLE, json!({ "z": "20095" }), Some(&buyer)).await.data()), ["AGT-002"]);
    assert!(codes(app.graphql(AVAILABLE, json!({ "z": "99999" }), Some(&buyer)).await.data()).is_empty());
    assert_eq!(app.graphql(AVAILABLE, json!({ "z": "10117" }), None).await.code(), "UNAUTHENTICATED");
}

on_both_backends!(
    admins_register_agents_who_then_manage_their_availability_and_area,
    available_agents_are_active_available_and_serve_the_zip_code,
);
