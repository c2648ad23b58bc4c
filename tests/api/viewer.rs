//! `viewer` and authentication.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
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

    // The scheme's name in any case (RFC 9110), the token after any spaces.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme}  {admin} ");
        let res = app.graphql_with(VIEWER, Value::Null, None, &[("authorization", &header)]).await;
        assert_eq!(res.data()["viewer"]["role"], "ADMIN", "{scheme}: {}", res.body);
    }
}

async fn a_bad_token_is_unauthenticated_not_anonymous(backend: Backend) {
    let app = spawn_app(backend).await;
    for header in ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "Bearertoken", "Bearer\tnot-a-jwt"] {
        let res = app.graphql_with(VIEWER, Value::Null, None, &[("authorization", header)]).await;
        assert_eq!(res.code(), "UNAUTHENTICATED", "{header}: {}", res.body);
        assert_eq!(res.body["data"], Value::Null);
        assert_eq!(res.error()["extensions"]["requestId"], res.request_id());
    }
    // Two Authorization headers, whichever comes first.
    app.seed(0).await;
    let (buyer, admin) = (app.token_for("buyer@courier.test").await, app.token_for("admin@courier.test").await);
    for (first, second) in [(&buyer, &admin), (&admin, &buyer)] {
        let second = format!("Bearer {second}");
        let res = app.graphql_with(VIEWER, Value::Null, Some(first), &[("authorization", &second)]).await;
        assert_eq!(res.code(), "UNAUTHENTICATED", "{}", res.body);
        assert_eq!(res.body["data"], Value::Null);
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
    assert_eq!(within_notice(&app, &token, "UNAUTHENTICATED").await, "UNAUTHENTICATED");
}

/// An admins-only read: what a viewer's role decides.
const ADMINS_ONLY: &str = "{ users(first: 1) { nodes { id } } }";

/// The code `ADMINS_ONLY` answers `token` with ("" when it succeeds), once
/// it is `expected` or after two seconds: a kept viewer is forgotten when
/// PostgreSQL's notice arrives (milliseconds after the commit), not at the
/// commit itself. On SQLite the first answer counts.
async fn within_notice(app: &TestApp, token: &str, expected: &str) -> String {
    let started = Instant::now();
    loop {
        let res = app.graphql(ADMINS_ONLY, Value::Null, Some(token)).await;
        let code = if res.body["errors"].is_null() { String::new() } else { res.code().to_owned() };
        if code == expected || app.backend == Backend::Sqlite || started.elapsed() > Duration::from_secs(2) {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// PostgreSQL: both instances keep the viewer, and a role change or a
/// deletion made outside either of them (an operator in `psql`) reaches
/// both; while an instance cannot listen, it reads every viewer.
async fn kept_viewers_hear_every_change_on_every_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let other = app.second_instance().await;
    assert!(app.keeps_viewers() && other.keeps_viewers(), "both instances listen for user changes");
    let token = app.token_for("buyer2@courier.test").await;
    let statements = |res: &crate::helpers::GqlResponse| res.body["extensions"]["sqlStatements"].as_u64();
    for instance in [&app, &other] {
        assert_eq!(within_notice(instance, &token, "FORBIDDEN").await, "FORBIDDEN");
        assert!(instance.viewers.as_ref().is_some_and(|v| v.is_armed()));
    }
    // The viewer is kept: a request after the first needs no statement for it.
    let counted = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    counted.seed(0).await;
    let counted_token = counted.token_for("buyer2@courier.test").await;
    let first = counted.graphql("{ viewer { id } }", Value::Null, Some(&counted_token)).await;
    let second = counted.graphql("{ __typename }", Value::Null, Some(&counted_token)).await;
    assert_eq!(statements(&first), Some(2), "the viewer, then the user row: {}", first.body);
    assert_eq!(statements(&second), Some(0), "a kept viewer: {}", second.body);

    app.exec("UPDATE users SET role = 'ADMIN' WHERE email = 'buyer2@courier.test'").await;
    for instance in [&app, &other] {
        assert_eq!(within_notice(instance, &token, "").await, "", "the new role reaches every instance");
    }
    app.exec("UPDATE users SET role = 'BUYER' WHERE email = 'buyer2@courier.test'").await;
    for instance in [&app, &other] {
        assert_eq!(within_notice(instance, &token, "FORBIDDEN").await, "FORBIDDEN", "so does taking it back");
    }
    app.exec("UPDATE users SET deleted_at = now() WHERE email = 'buyer2@courier.test'").await;
    for instance in [&app, &other] {
        assert_eq!(within_notice(instance, &token, "UNAUTHENTICATED").await, "UNAUTHENTICATED");
    }

    // An instance whose listening connection is lost listens again, and
    // hears the changes made after that.
    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(within_notice(&app, &buyer, "FORBIDDEN").await, "FORBIDDEN");
    let terminated = app
        .query_strings(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%courier_users%'",
        )
        .await;
    assert_eq!(terminated.len(), 2, "one listening connection per instance");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    while !app.keeps_viewers() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(app.keeps_viewers(), "listening again after the connection was lost");
    app.exec("UPDATE users SET role = 'ADMIN' WHERE email = 'buyer@courier.test'").await;
    assert_eq!(within_notice(&app, &buyer, "").await, "", "a change after reconnecting is heard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_viewers_hear_every_change_on_every_instance_postgres() {
    kept_viewers_hear_every_change_on_every_instance(Backend::Postgres).await;
}

on_both_backends!(
    viewer_is_null_without_a_token,
    viewer_is_the_token_user_with_role_and_wallet,
    a_bad_token_is_unauthenticated_not_anonymous,
    a_deleted_users_token_stops_working,
);
