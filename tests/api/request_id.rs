//! `X-Request-ID` on every response and in every error.

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

async fn a_request_id_is_generated_when_none_is_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.client.get(app.url("/health")).send().await.expect("sent");
    let id = res.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "generated id is a UUID: {id}");
    let other = app.client.get(app.url("/health")).send().await.expect("sent");
    assert_ne!(other.headers()["x-request-id"].to_str().expect("ascii"), id);
}

async fn a_sane_request_id_is_kept_and_an_insane_one_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .graphql_with("{ viewer { id } }", serde_json::Value::Null, None, &[("x-request-id", "client-abc.123")])
        .await;
    assert_eq!(res.request_id(), "client-abc.123");

    let res = app
        .graphql_with(
            "{ viewer { id } }",
            serde_json::Value::Null,
            None,
            &[("x-request-id", "<script>alert(1)</script>")],
        )
        .await;
    assert_ne!(res.request_id(), "<script>alert(1)</script>");
    assert!(uuid::Uuid::parse_str(&res.request_id()).is_ok());
}

async fn every_graphql_error_carries_the_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .graphql_with("{ node(id: \"nope\") { id } }", serde_json::Value::Null, None, &[("x-request-id", "req-42")])
        .await;
    assert_eq!(res.error()["extensions"]["requestId"], "req-42");
    // Errors raised before execution (a syntax error) carry it too.
    let res = app.graphql_with("{ viewer { ", serde_json::Value::Null, None, &[("x-request-id", "req-43")]).await;
    assert_eq!(res.error()["extensions"]["requestId"], "req-43");
    assert_eq!(res.code(), "GRAPHQL_PARSE_FAILED");
}

on_both_backends!(
    a_request_id_is_generated_when_none_is_sent,
    a_sane_request_id_is_kept_and_an_insane_one_replaced,
    every_graphql_error_carries_the_request_id,
);
