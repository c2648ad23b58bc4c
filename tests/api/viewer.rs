//! `viewer` and authentication.

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

const VIEWER: &str = "{ viewer { id email displayName role wallet { balance currency kind } } }";

async fn viewer_is_null_without_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.graphql(VIEWER, Value::Null, None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.data()["viewer"], Value::Null);
}

async fn viewer_is_the_token_user_with_role_and_wallet(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    let res = app.graphql(VIEWER, Value::Null, Some(&token)).await;
    let viewer = &res.data()["viewer"];
    assert_eq!(viewer["email"], "buyer@courier.test");
    assert_eq!(viewer["role"], "BUYER");
    // The seed tops every demo wallet up by exactly 1000.00 USD; exact, as a string.
    assert_eq!(viewer["wallet"]["balance"], "1000.00");
    assert_eq!(viewer["wallet"]["currency"], "USD");
    assert_eq!(viewer["wallet"]["kind"], "USER");

    let admin = app.token_for("admin@courier.test").await;
    let res = app.graphql(VIEWER, Value::Null, Some(&admin)).await;
    assert_eq!(res.data()["viewer"]["role"], "ADMIN");
}

async fn a_bad_token_is_unauthenticated_not_anonymous(backend: Backend) {
    let app = spawn_app(backend).await;
    for header in ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "] {
        let res = app.graphql_with(VIEWER, Value::Null, None, &[("authorization", header)]).await;
        assert_eq!(res.code(), "UNAUTHENTICATED", "{header}: {}", res.body);
        assert_eq!(res.body["data"], Value::Null);
        assert_eq!(res.error()["extensions"]["requestId"], res.request_id());
    }
    // A well-formed token signed with another secret.
    let forged =
        courier::auth::TokenService::new("some-other-secret-entirely", 1).mint(uuid::Uuid::now_v7()).expect("mint");
    assert_eq!(app.graphql(VIEWER, Value::Null, Some(&forged)).await.code(), "UNAUTHENTICATED");
}

async fn a_deleted_users_token_stops_working(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer2@courier.test").await;
    assert_eq!(app.graphql(VIEWER, Value::Null, Some(&token)).await.data()["viewer"]["email"], "buyer2@courier.test");
    let now = if app.backend == Backend::Postgres { "now()" } else { "CURRENT_TIMESTAMP" };
    app.exec(&format!("UPDATE users SET deleted_at = {now} WHERE email = 'buyer2@courier.test'")).await;
    assert_eq!(app.graphql(VIEWER, Value::Null, Some(&token)).await.code(), "UNAUTHENTICATED");
}

on_both_backends!(
    viewer_is_null_without_a_token,
    viewer_is_the_token_user_with_role_and_wallet,
    a_bad_token_is_unauthenticated_not_anonymous,
    a_deleted_users_token_stops_working,
);
