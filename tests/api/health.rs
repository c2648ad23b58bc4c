//! Health routes.

use crate::helpers::{Backend, logs_containing, pg_admin, spawn_app};
use crate::on_both_backends;

async fn liveness_answers_without_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert!(body["timestamp"].is_string());
}

async fn database_health_reports_latency(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get_json("/health/db").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert!(body["latencyMs"].as_f64().expect("latency") >= 0.0);
    assert!(body["timestamp"].is_string());
}

async fn pool_health_reports_counters_within_bounds(backend: Backend) {
    let app = spawn_app(backend).await;
    // Warm the pool with a request that uses it.
    let _ = app.get_json("/health/db").await;
    let (status, body) = app.get_json("/health/pool").await;
    assert_eq!(status, 200);
    assert_eq!(body["max"], 5);
    let size = body["size"].as_u64().expect("size");
    let idle = body["idle"].as_u64().expect("idle");
    let in_use = body["inUse"].as_u64().expect("inUse");
    assert!((1..=5).contains(&size), "{body}");
    assert_eq!(idle + in_use, size, "{body}");
    let utilization = body["utilization"].as_f64().expect("utilization");
    assert!((0.0..=1.0).contains(&utilization), "{body}");
}

on_both_backends!(
    liveness_answers_without_authentication,
    database_health_reports_latency,
    pool_health_reports_counters_within_bounds,
);

/// PostgreSQL only: every pooled connection killed at once (what a database
/// restart does) while they are in use. A connection in use is not pinged
/// before each statement, so reads meet dead connections: each such read
/// runs once more, on a connection pinged first, and no caller sees the
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_every_pooled_connection_being_killed_postgres() {
    let app = spawn_app(Backend::Postgres).await;
    app.seed(5).await;
    let admin = app.token_for("admin@courier.test").await;
    let query = "{ orders(first: 5) { totalCount edges { node { orderNumber items { name } payment { status } } } } }";
    let reads =
        || futures_util::future::join_all((0..8).map(|_| app.graphql(query, serde_json::json!({}), Some(&admin))));
    let before = reads().await;
    let expected = before[0].data().clone();
    assert_eq!(expected["orders"]["totalCount"], 5, "{expected}");

    let killed = app
        .query_strings(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .await;
    assert!(killed.len() >= 3, "the pool's connections were killed: {killed:?}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for (i, answer) in reads().await.iter().enumerate() {
        assert_eq!(answer.data(), &expected, "read {i} after the kill: {}", answer.body);
    }
    assert!(!logs_containing("db_connection_lost").is_empty(), "the lost connections are logged");
}

/// PostgreSQL only: SQLite is a file opened in-process and cannot be taken
/// away from a running pool the way a server can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_health_is_503_while_the_database_is_gone_and_200_when_it_is_back() {
    let app = spawn_app(Backend::Postgres).await;
    let name = app.pg_database().to_owned();
    let (status, _) = app.get_json("/health/db").await;
    assert_eq!(status, 200);

    // Refuse new connections and kill the open ones: the database is gone.
    pg_admin(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false")).await;
    pg_admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .await;
    let (status, body) = app.get_json("/health/db").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert!(body["latencyMs"].is_number());
    // The liveness probe does no I/O and stays up.
    assert_eq!(app.get_json("/health").await.0, 200);

    pg_admin(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await;
    let (status, body) = app.get_json("/health/db").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
}
