//! What an operator sees: `/metrics` after a workload, the pool monitor,
//! the per-request summary line, correlation IDs, readiness and graceful
//! shutdown.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use courier::domain::payments::processor::test_cards;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, logs_containing, pg_admin, spawn_app_with, spawn_unmigrated};
use crate::on_both_backends;
use crate::payments::{TOP_UP, capture, initiate, order_at, wallet_of};

/// One parsed exposition: family name -> type, and every sample line.
pub(crate) struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Exposition {
    pub(crate) fn parse(text: &str) -> Self {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    types.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                .collect();
            samples.push((name.to_owned(), labels, value.parse().unwrap_or(f64::NAN)));
        }
        Self { types, samples }
    }

    /// The sum of the samples named `name` whose labels include `with`.
    pub(crate) fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name && with.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    pub(crate) fn has(&self, name: &str, with: &[(&str, &str)]) -> bool {
        self.samples
            .iter()
            .any(|(n, labels, _)| n == name && with.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v)))
    }
}

pub(crate) async fn scrape(app: &TestApp) -> (reqwest::StatusCode, String, String) {
    let res = app.client.get(app.url("/metrics")).send().await.expect("scrape");
    let status = res.status();
    let content_type =
        res.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned()).unwrap_or_default();
    (status, content_type, res.text().await.expect("text"))
}

/// Waits up to `limit` for `check` to hold.
async fn eventually<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A short workload touching every family: reads, a named operation, a
/// capture and its replay, a top-up, a refusal by a limit, a client error,
/// slow resolvers and slow SQL (thresholds at 0), the monitor's samples
/// and a ledger check (every second).
pub(crate) async fn workload(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |c| {
        c.slow_resolver_ms = 0;
        c.slow_sql_ms = 0;
        c.pool_monitor_interval_secs = 1;
        c.ledger_check_interval_secs = 1;
        c.max_aliases = 3;
        c.webhook_worker = true;
        c.webhook_allow_private = true;
        c.webhook_poll_ms = 25;
    })
    .await;
    app.seed(3).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    // One webhook delivered (its metrics appear once a host is called).
    let receiver = crate::webhooks::Receiver::start().await;
    crate::webhooks::subscribe(&app, &admin, &receiver.url, &["order.created"], None).await;
    let read =
        app.graphql("query Workload { viewer { id } orders(first: 2) { totalCount } }", json!({}), Some(&buyer)).await;
    read.data();
    let order = order_at(&app, &buyer, "5.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "metrics-init").await;
    assert_eq!(
        capture(&app, &buyer, &payment["id"], "metrics-cap").await.data()["capturePayment"]["status"],
        "CAPTURED"
    );
    capture(&app, &buyer, &payment["id"], "metrics-cap").await.data();
    let wallet = wallet_of(&app, "buyer@courier.test").await;
    let wallet_id = courier::graphql::node::encode(courier::domain::lookup::EntityKind::Wallet, wallet.id).0;
    let top_up = json!({ "input": { "walletId": wallet_id, "amount": "1.00", "idempotencyKey": "metrics-top" } });
    app.graphql(TOP_UP, top_up, Some(&admin)).await.data();
    let aliases = app
        .graphql("{ a: viewer { id } b: viewer { id } c: viewer { id } d: viewer { id } }", json!({}), Some(&buyer))
        .await;
    assert_eq!(aliases.code(), "TOO_MANY_ALIASES");
    let bad =
        app.graphql("query($n: Int!) { orders(first: $n) { totalCount } }", json!({ "n": "x" }), Some(&buyer)).await;
    assert_eq!(bad.code(), "BAD_USER_INPUT");
    assert!(eventually(Duration::from_secs(10), async || !receiver.hits().is_empty()).await, "the webhook arrived");
    app
}

async fn metrics_cover_http_graphql_sql_pool_and_money_after_a_workload(backend: Backend) {
    let app = workload(backend).await;
    let ready = eventually(Duration::from_secs(5), async || {
        let text = scrape(&app).await.2;
        text.contains("courier_ledger_invariant_violations") && text.contains("courier_db_up")
    })
    .await;
    assert!(ready, "the monitor sampled and checked the ledger");
    let (status, content_type, text) = scrape(&app).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let m = Exposition::parse(&text);

    assert_eq!(m.types["courier_http_request_duration_seconds"], "histogram");
    assert!(
        m.sum(
            "courier_http_request_duration_seconds_count",
            &[("route", "/graphql"), ("method", "POST"), ("status", "200")]
        ) >= 6.0
    );
    assert!(m.has("courier_http_requests_in_flight", &[]));
    assert!(
        m.sum("courier_graphql_operation_duration_seconds_count", &[("operation", "Workload"), ("type", "query")])
            >= 1.0
    );
    assert!(m.sum("courier_graphql_operation_duration_seconds_count", &[("type", "mutation")]) >= 3.0);
    assert!(m.sum("courier_graphql_errors_total", &[("code", "TOO_MANY_ALIASES")]) >= 1.0);
    assert!(m.sum("courier_graphql_errors_total", &[("code", "BAD_USER_INPUT")]) >= 1.0);
    assert!(m.sum("courier_graphql_requests_refused_total", &[("limit", "TOO_MANY_ALIASES")]) >= 1.0);
    assert!(m.sum("courier_graphql_slow_resolvers_total", &[("parent_type", "User"), ("field", "id")]) >= 1.0);
    assert_eq!(m.types["courier_sql_statement_duration_seconds"], "histogram");
    assert!(m.sum("courier_sql_statement_duration_seconds_count", &[]) >= 10.0);
    assert!(m.sum("courier_sql_slow_statements_total", &[]) >= 10.0);
    assert!(m.sum("courier_sql_statements_per_request_count", &[]) >= 6.0);
    assert!(m.sum("courier_db_pool_acquire_duration_seconds_count", &[]) >= 1.0);
    assert_eq!(m.sum("courier_db_pool_max", &[]), 5.0);
    for gauge in ["courier_db_pool_size", "courier_db_pool_idle", "courier_db_pool_in_use", "courier_db_pool_waiting"] {
        assert!(m.has(gauge, &[]), "{gauge}");
    }
    assert!(m.has("courier_db_pool_acquire_timeouts_total", &[]));
    assert_eq!(m.sum("courier_db_up", &[]), 1.0);
    assert!(m.sum("courier_payment_captures_total", &[("outcome", "captured")]) >= 1.0);
    assert!(m.sum("courier_payment_capture_duration_seconds_count", &[("outcome", "captured")]) >= 1.0);
    assert!(m.sum("courier_idempotent_replays_total", &[("operation", "capturePayment")]) >= 1.0);
    assert!(m.sum("courier_wallet_top_ups_total", &[("outcome", "topped_up")]) >= 1.0);
    assert!(m.has("courier_payment_refunds_total", &[("outcome", "refunded")]));
    assert!(m.has("courier_retries_total", &[("operation", "order_status_update_retry")]));
    assert!(m.has("courier_retries_exhausted_total", &[("operation", "payment_capture_retry")]));
    assert!(m.has("courier_row_lock_conflicts_total", &[("resource", "shipping_assignment")]));
    assert!(m.sum("courier_ledger_checks_total", &[("outcome", "healthy")]) >= 1.0);
    assert!(m.has("courier_ledger_invariant_violations", &[]));
    if backend == Backend::Postgres {
        let hit = m.sum("courier_pg_cache_hit_ratio", &[]);
        assert!((0.0..=1.0).contains(&hit), "{hit}");
        assert!(
            m.sum("courier_pg_connections", &[("state", "idle")])
                + m.sum("courier_pg_connections", &[("state", "active")])
                >= 1.0
        );
        assert!(m.has("courier_pg_longest_transaction_seconds", &[]));
        assert!(m.has("courier_pg_deadlocks_total", &[]));
    }
    // A name that never ran takes no label slot.
    let junk = json!({ "query": "{ __typename }", "operationName": "JunkNeverRan" });
    app.client.post(app.url("/graphql")).json(&junk).send().await.expect("sent");
    app.graphql("query BogusField { nosuch }", json!({}), None).await;
    let m = Exposition::parse(&scrape(&app).await.2);
    assert!(!m.has("courier_graphql_operation_duration_seconds_count", &[("operation", "JunkNeverRan")]));
    assert!(!m.has("courier_graphql_operation_duration_seconds_count", &[("operation", "BogusField")]));
    assert!(m.has("courier_graphql_operation_duration_seconds_count", &[("operation", "rejected")]));
    // Refusals that are not limits are errors only.
    assert!(!m.has("courier_graphql_requests_refused_total", &[("limit", "BAD_USER_INPUT")]));
    // Labels stay bounded: a made-up operation name per request past the cap is `other`.
    for i in 0..3 {
        app.graphql(&format!("query Made{i}Up {{ viewer {{ id }} }}"), json!({}), None).await;
    }
    let m = Exposition::parse(&scrape(&app).await.2);
    assert!(m.has("courier_graphql_operation_duration_seconds_count", &[("operation", "Made0Up")]));
}

/// `/metrics` served on its own address is not on the public one.
async fn metrics_move_to_their_own_address_when_configured(backend: Backend) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let app =
        spawn_app_with(backend, |c| c.metrics_bind = Some(format!("127.0.0.1:{port}").parse().expect("addr"))).await;
    let public = app.client.get(app.url("/metrics")).send().await.expect("public");
    assert_eq!(public.status(), 404);
    let mut text = String::new();
    let served = eventually(Duration::from_secs(3), async || {
        match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(res) if res.status() == 200 => {
                text = res.text().await.unwrap_or_default();
                true
            }
            _ => false,
        }
    })
    .await;
    assert!(served, "metrics answer on their own port");
    assert!(text.contains("courier_db_pool_max"), "{text}");
}

/// Every GraphQL request logs one `graphql_request_completed` line with
/// its IDs, operation, viewer, duration, statements, error codes and status.
async fn one_summary_line_per_request_with_its_fields(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.slow_request_ms = 60_000).await;
    app.seed(2).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let buyer_id = crate::payments::user_id(&app, "buyer@courier.test").await.to_string();
    let ok = app
        .graphql_with(
            "query Mine { viewer { id } orders(first: 2) { totalCount } }",
            json!({}),
            Some(&buyer),
            &[("x-correlation-id", "corr-summary-1")],
        )
        .await;
    ok.data();
    let bad = app
        .graphql(
            "mutation Bad { cancelOrder(input: { orderId: \"nope\", reason: \"x\" }) { id } }",
            json!({}),
            Some(&buyer),
        )
        .await;
    let bad_code = bad.code().to_owned();

    let line_of = |request_id: &str| {
        let lines: Vec<Value> = logs_containing(request_id)
            .into_iter()
            .filter(|l| l["fields"]["event"] == "graphql_request_completed")
            .collect();
        assert_eq!(lines.len(), 1, "one summary line for {request_id}");
        lines[0].clone()
    };
    let line = line_of(&ok.request_id());
    let f = &line["fields"];
    assert_eq!(line["level"], "INFO");
    assert_eq!(f["request_id"], ok.request_id());
    assert_eq!(f["correlation_id"], "corr-summary-1");
    assert_eq!(f["operation_name"], "Mine");
    assert_eq!(f["operation_type"], "query");
    assert_eq!(f["viewer_id"], buyer_id);
    assert!(f["duration_ms"].as_f64().expect("duration") > 0.0);
    assert!(f["sql_statements"].as_u64().expect("statements") >= 2, "{line}");
    assert_eq!(f["error_codes"], "");
    assert_eq!(f["status"], 200);
    // The request layer does not add a second info line for it.
    let http_lines: Vec<Value> = logs_containing(&ok.request_id())
        .into_iter()
        .filter(|l| l["fields"]["event"] == "http_request_completed" && l["level"] == "INFO")
        .collect();
    assert!(http_lines.is_empty(), "{http_lines:?}");

    let line = line_of(&bad.request_id());
    assert_eq!(line["fields"]["operation_type"], "mutation");
    assert_eq!(line["fields"]["error_codes"], bad_code.as_str());
    assert_eq!(line["fields"]["correlation_id"], bad.request_id(), "no correlation header: the request ID");

    // Above the threshold the line is a warning.
    let slow = spawn_app_with(backend, |c| c.slow_request_ms = 0).await;
    let res = slow.graphql("{ __typename }", json!({}), None).await;
    assert_eq!(line_of(&res.request_id())["level"], "WARN");
    // A request refused before running still gets its line.
    let refused = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("sent");
    let id = refused.headers()["x-request-id"].to_str().expect("id").to_owned();
    assert_eq!(refused.status(), 400);
    assert_eq!(line_of(&id)["fields"]["status"], 400);
    // Unacceptable media types and other methods too.
    let png = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "image/png")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(png.status(), 406);
    let id = png.headers()["x-request-id"].to_str().expect("id").to_owned();
    assert_eq!(line_of(&id)["fields"]["error_codes"], "NOT_ACCEPTABLE");
    let delete = app.client.delete(app.url("/graphql")).send().await.expect("sent");
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.headers()["allow"], "GET, POST, OPTIONS");
    let id = delete.headers()["x-request-id"].to_str().expect("id").to_owned();
    assert_eq!(line_of(&id)["fields"]["status"], 405);
}

/// `X-Correlation-ID` is taken from the request (or is the request ID),
/// echoed, and on every log line of the request.
async fn correlation_ids_are_echoed_and_on_every_line(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.seed(2).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "3.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "corr-init").await;
    let input = json!({ "input": { "paymentId": payment["id"], "idempotencyKey": "corr-cap" } });
    let res =
        app.graphql_with(crate::payments::CAPTURE, input, Some(&buyer), &[("x-correlation-id", "checkout-42")]).await;
    res.data();
    assert_eq!(res.headers["x-correlation-id"], "checkout-42");
    let lines = logs_containing(&res.request_id());
    let captured: Vec<&Value> = lines.iter().filter(|l| l["fields"]["event"] == "payment_capture_completed").collect();
    assert_eq!(captured.len(), 1, "{lines:?}");
    assert_eq!(captured[0]["span"]["correlation_id"], "checkout-42");
    assert!(
        lines
            .iter()
            .all(|l| l["span"]["correlation_id"] == "checkout-42" || l["fields"]["correlation_id"] == "checkout-42"),
        "{lines:?}"
    );

    // Absent or insane: the request ID.
    for header in [None, Some("bad value\u{7f}"), Some("<script>")] {
        let mut req = app.client.get(app.url("/health"));
        if let Some(h) = header {
            req = req.header("x-correlation-id", h.replace('\u{7f}', ""));
        }
        let res = req.send().await.expect("sent");
        assert_eq!(res.headers()["x-correlation-id"], res.headers()["x-request-id"]);
    }
    let _ = test_cards::APPROVE;
}

/// The pool monitor logs `db_pool_utilization_high` at error level above
/// 95%, a request that cannot get a connection is SERVICE_UNAVAILABLE with
/// `db_pool_exhausted`, and `/health/pool` says the pool is full without
/// calling it an outage.
async fn the_pool_monitor_reports_a_full_pool(backend: Backend) {
    // Each backend its own pool size, so their log lines tell them apart.
    let max = if backend == Backend::Postgres { 2 } else { 3 };
    let app = spawn_app_with(backend, |c| {
        c.db_pool_max = max;
        c.db_acquire_timeout_ms = 300;
        c.pool_monitor_interval_secs = 1;
    })
    .await;
    app.seed(1).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let mut held = Vec::new();
    for _ in 0..max {
        held.push(app.server_db.begin().await.expect("hold a connection"));
    }
    let logged = eventually(Duration::from_secs(4), async || {
        logs_containing("db_pool_utilization_high").iter().any(|l| {
            l["level"] == "ERROR"
                && l["fields"]["max"] == max
                && l["fields"]["in_use"] == max
                && l["fields"]["utilization"] == 1.0
        })
    })
    .await;
    assert!(logged, "an error-level utilization line for the full pool");

    let res = app.graphql("{ viewer { id } }", json!({}), Some(&buyer)).await;
    assert_eq!(res.status, 503, "{}", res.body);
    assert_eq!(res.code(), "SERVICE_UNAVAILABLE");
    assert!(!logs_containing("db_pool_exhausted").is_empty());
    // A full pool is not an outage: the probes have a connection of their own.
    let (status, body) = app.get_json("/health/pool").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["databaseReachable"], true);
    assert_eq!(body["inUse"], max);
    assert_eq!(body["utilizationLevel"], "critical");
    assert_eq!(app.get_json("/health/ready").await.0, 200);
    assert_eq!(app.get_json("/health/db").await.0, 200);
    let m = Exposition::parse(&scrape(&app).await.2);
    assert!(m.sum("courier_db_pool_acquire_timeouts_total", &[]) >= 1.0);

    drop(held);
    let recovered =
        eventually(Duration::from_secs(3), async || app.get_json("/health/pool").await.1["utilizationLevel"] == "ok")
            .await;
    assert!(recovered);
    app.graphql("{ viewer { id } }", json!({}), Some(&buyer)).await.data();
}

/// Readiness: 503 while migrations are pending, 200 once they are applied.
async fn readiness_waits_for_migrations(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    let app = spawn_unmigrated(backend, |_| {}).await;
    let (status, body) = app.get_json("/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "MIGRATIONS_PENDING");
    // A request meanwhile fails without showing SQL (no users table yet).
    let token = app.tokens.mint(uuid::Uuid::now_v7()).expect("mint");
    let res = app.graphql("{ viewer { id } }", json!({}), Some(&token)).await;
    assert_eq!(res.status, 500, "{}", res.body);
    assert_eq!(res.error()["message"], "Internal server error", "{}", res.body);
    assert!(!res.body.to_string().to_lowercase().contains("relation"), "{}", res.body);
    assert!(!body["detail"]["pending"].as_array().expect("pending").is_empty());
    Migrator::up(&app.db, None).await.expect("migrate");
    let (status, body) = app.get_json("/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
}

/// SIGTERM: readiness goes 503 first while the server still answers, then
/// new connections are refused, the request in flight still gets its whole
/// answer, and the server stops with its pool closed.
async fn shutdown_lets_the_request_in_flight_finish(backend: Backend) {
    let mut app = spawn_app_with(backend, |c| {
        c.processor_timeout_ms = 2_000;
        c.shutdown_drain_ms = 700;
        c.shutdown_timeout_secs = 10;
    })
    .await;
    app.seed(2).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "4.00").await;
    let payment = initiate(&app, &buyer, &order, "CARD", "shutdown-init").await;
    assert_eq!(app.get_json("/health/ready").await.0, 200);

    // A capture whose card processor takes 2 s (the timeout card).
    let url = app.url("/graphql");
    let body = json!({
        "query": "mutation($input: CapturePaymentInput!) { capturePayment(input: $input) { id status } }",
        "variables": { "input": { "paymentId": payment["id"], "idempotencyKey": "shutdown-cap", "cardToken": test_cards::TIMEOUT } },
    });
    let token = buyer.clone();
    let in_flight = tokio::spawn(async move {
        let res = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.expect("answered");
        (res.status(), res.json::<Value>().await.expect("whole JSON body"))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.shutdown();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Draining: still accepting, but not ready.
    let res = reqwest::Client::new().get(app.url("/health/ready")).send().await.expect("still accepting");
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<Value>().await.expect("json")["reason"], "SHUTTING_DOWN");
    assert_eq!(reqwest::Client::new().get(app.url("/health")).send().await.expect("live").status(), 200);

    // After the drain: new connections are refused.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(reqwest::Client::new().get(app.url("/health")).send().await.is_err(), "no new connections");

    let (status, body) = in_flight.await.expect("request task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "the processor timeout, answered whole: {body}"
    );
    let server = app.server.take().expect("server task");
    let stopped = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the server stops cleanly");
    assert!(app.server_db.ping().await.is_err(), "the pool is closed");
    assert!(!logs_containing("server_stopped").is_empty());
}

/// A client that never finishes its headers is cut off after
/// `COURIER_HEADER_TIMEOUT_MS`, and does not hold up a shutdown.
async fn slow_headers_are_cut_off_and_do_not_hold_up_shutdown(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app = spawn_app_with(backend, |c| {
        c.header_timeout_ms = 400;
        c.shutdown_timeout_secs = 30;
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was closed");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    let mut lingering = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    lingering.write_all(b"GET /health HTTP/1.1\r\n").await.expect("write");
    let started = Instant::now();
    app.shutdown();
    let server = app.server.take().expect("server");
    let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "stopped");
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown waited {:?}", started.elapsed());
}

on_both_backends!(
    slow_headers_are_cut_off_and_do_not_hold_up_shutdown,
    metrics_cover_http_graphql_sql_pool_and_money_after_a_workload,
    metrics_move_to_their_own_address_when_configured,
    one_summary_line_per_request_with_its_fields,
    correlation_ids_are_echoed_and_on_every_line,
    the_pool_monitor_reports_a_full_pool,
    readiness_waits_for_migrations,
    shutdown_lets_the_request_in_flight_finish,
);

/// PostgreSQL only (SQLite cannot be taken away from a live pool): while
/// the database refuses connections, `/health/pool` and `/health/ready`
/// answer 503 and the monitor reports it down; both recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_and_readiness_are_503_while_the_database_is_gone() {
    let app = spawn_app_with(Backend::Postgres, |c| c.pool_monitor_interval_secs = 1).await;
    let name = app.pg_database().to_owned();
    assert_eq!(app.get_json("/health/pool").await.0, 200);
    pg_admin(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false")).await;
    pg_admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .await;
    let (status, body) = app.get_json("/health/pool").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "DATABASE_UNREACHABLE");
    let (status, body) = app.get_json("/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "DATABASE_UNREACHABLE");
    // (`courier_db_up` is process-wide, and other tests' servers set it too:
    // the monitor's log line is what this test can see.)
    let down = eventually(Duration::from_secs(4), async || !logs_containing("db_unreachable").is_empty()).await;
    assert!(down, "the monitor reports the database unreachable");

    pg_admin(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await;
    let back = eventually(Duration::from_secs(5), async || app.get_json("/health/ready").await.0 == 200).await;
    assert!(back, "ready again");
    assert_eq!(app.get_json("/health/pool").await.0, 200);
}

/// The `courier` binary serving a SQLite database in `dir` (demo data,
/// `COURIER_LOG=warn`, no trace export unless `env` sets it).
struct Served {
    server: std::process::Child,
    url: String,
    /// The demo buyer's token.
    token: String,
}

async fn serve_binary(dir: &std::path::Path, env: &[(&str, String)], stderr: std::process::Stdio) -> Served {
    let database = format!("sqlite://{}/courier.db?mode=rwc", dir.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .arg("serve")
        .env("DATABASE_URL", &database)
        .env("COURIER_BIND", format!("127.0.0.1:{port}"))
        .env("COURIER_LOG", "warn")
        .env_remove("COURIER_OTLP_ENDPOINT")
        .env_remove("COURIER_ENV")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("courier serves");
    let url = format!("http://127.0.0.1:{port}");
    let up = eventually(Duration::from_secs(30), async || {
        reqwest::get(format!("{url}/health/ready")).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "the server came up");
    let token = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["token", "--email", "buyer@courier.test"])
        .env("DATABASE_URL", &database)
        .env("COURIER_LOG", "warn")
        .env_remove("COURIER_ENV")
        .output()
        .expect("token");
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    Served { server, url, token }
}

impl Served {
    /// Posts `query` as the demo buyer with `headers`: a 200 without errors.
    async fn answers(&self, query: &Value, headers: &[(&str, &str)]) {
        let mut request = reqwest::Client::new().post(format!("{}/graphql", self.url)).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let res = request.json(query).send().await.expect("sent");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert!(body["errors"].is_null(), "{body}");
    }
}

/// With `COURIER_LOG=warn` (and no trace export) a warning logged while
/// serving a request still carries the request's IDs: the request span is
/// kept whenever anything is logged, while spans and events nothing would
/// write are not created at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_carry_the_request_id_at_warn_level() {
    let dir = std::env::temp_dir().join(format!("courier_warn_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = std::fs::File::create(dir.join("stderr.log")).expect("log file");
    let env = [("COURIER_LOG_FORMAT", "json".to_owned()), ("COURIER_SLOW_SQL_MS", "0".to_owned())];
    let mut served = serve_binary(&dir, &env, log.into()).await;
    let request_id = format!("warn-level-{}", uuid::Uuid::new_v4().simple());
    let query = json!({ "query": "{ orders(first: 3) { edges { node { orderNumber items { name } } } } }" });
    served.answers(&query, &[("x-request-id", &request_id)]).await;
    let _ = served.server.kill();
    let _ = served.server.wait();
    let text = std::fs::read_to_string(dir.join("stderr.log")).expect("log");
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    // The page's statements, logged as slow (threshold 0) while serving it.
    let page: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["fields"]["event"] == "slow_query_detected"
                && l["fields"]["sql"].as_str().is_some_and(|s| s.starts_with("SELECT") && s.contains("\"order_items\""))
        })
        .collect();
    assert!(!page.is_empty(), "no slow_query_detected for the items of the page: {text}");
    for line in page {
        assert_eq!(line["span"]["request_id"], request_id.as_str(), "{line}");
    }
    assert!(lines.iter().all(|l| l["level"] != "INFO" && l["level"] != "DEBUG"), "only warnings and errors: {text}");
}

/// With `COURIER_OTLP_ENDPOINT` set, the server exports its spans over
/// OTLP/HTTP: a request span, dataloader batch spans and SQL statement spans
/// reach the collector (flushed at the latest when the server stops on SIGTERM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_an_otlp_collector() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector_addr = collector.local_addr().expect("addr");
    let received = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<u8>::new()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = collector.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                let mut request = Vec::new();
                loop {
                    match tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                    let text = String::from_utf8_lossy(&request);
                    let Some(head_end) = text.find("\r\n\r\n") else { continue };
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
                sink.lock().await.extend_from_slice(&request);
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });

    let dir = std::env::temp_dir().join(format!("courier_otel_{}", uuid::Uuid::new_v4().simple()));
    let env = [("COURIER_OTLP_ENDPOINT", format!("http://{collector_addr}/v1/traces"))];
    let served = serve_binary(&dir, &env, std::process::Stdio::null()).await;
    // The page's relations are read together (span `order_relations`); the
    // payment's order goes through a loader (span `dataloader_batch`).
    let query = json!({ "query": "query Traced { orders(first: 3) { edges { node { buyer { displayName } items { name } payments { order { orderNumber } } } } } }" });
    served.answers(&query, &[]).await;
    // SIGTERM: the server shuts down gracefully and flushes its spans.
    let killed =
        std::process::Command::new("kill").arg("-TERM").arg(served.server.id().to_string()).status().expect("kill");
    assert!(killed.success());
    let mut server = served.server;
    let exited = eventually(Duration::from_secs(15), async || matches!(server.try_wait(), Ok(Some(_)))).await;
    assert!(exited, "the server exits on SIGTERM");
    let exported = eventually(Duration::from_secs(5), async || {
        let bytes = received.lock().await;
        let text = String::from_utf8_lossy(&bytes);
        text.contains("POST /v1/traces")
            && text.contains("dataloader_batch")
            && text.contains("order_relations")
            && text.contains("db.query.text")
            && text.contains("request")
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = received.lock().await;
    let text = String::from_utf8_lossy(&bytes);
    let found: Vec<bool> =
        ["dataloader_batch", "order_relations", "db.query.text", "request"].iter().map(|s| text.contains(s)).collect();
    assert!(
        exported,
        "request, dataloader_batch, order_relations and sql spans were exported: {} bytes, found {found:?}",
        bytes.len()
    );
}
