//! The `courier` binary's commands, run as a user would.

use std::process::{Command, Output};

use courier::seed::DEMO_USERS;
use entity::{ledger_entry, order, user, wallet};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_unmigrated};
use crate::on_both_backends;

const MIGRATIONS: usize = 20;

fn courier(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .env("DATABASE_URL", &app.config.database_url)
        .env("COURIER_JWT_SECRET", &app.config.jwt_secret)
        .env("COURIER_LOG", "warn")
        .env_remove("COURIER_ENV")
        .output()
        .expect("courier runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn migrate_commands_apply_list_and_revert(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("pending")).count(), MIGRATIONS, "{status}");
    // `fresh` on a database never migrated (an empty SQLite file) applies everything.
    let fresh = stdout(&courier(&app, &["migrate", "fresh"]));
    assert!(fresh.contains(&format!("applied {MIGRATIONS} migrations ({MIGRATIONS} applied in all)")), "{fresh}");
    let up = stdout(&courier(&app, &["migrate", "up"]));
    assert_eq!(up.trim(), format!("applied 0 migrations ({MIGRATIONS} applied in all)"));
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("applied")).count(), MIGRATIONS, "{status}");
    let down = stdout(&courier(&app, &["migrate", "down", "--steps", "2"]));
    assert_eq!(down.trim(), format!("reverted 2 migrations ({} applied in all)", MIGRATIONS - 2));
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("pending")).count(), 2, "{status}");
    let zero = courier(&app, &["migrate", "down", "--steps", "0"]);
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--steps"), "{zero:?}");
    // `fresh` on a seeded database: every table dropped (foreign keys
    // respected, on SQLite too) and re-created empty.
    stdout(&courier(&app, &["seed", "--orders", "5"]));
    let fresh = stdout(&courier(&app, &["migrate", "fresh"]));
    assert!(fresh.contains(&format!("reverted {MIGRATIONS} migrations (0 applied in all)")), "{fresh}");
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("applied")).count(), MIGRATIONS, "{status}");
    assert_eq!(order::Entity::find().count(&app.db).await.expect("count"), 0);
    assert_eq!(user::Entity::find().count(&app.db).await.expect("count"), 0);
}

async fn seeding_twice_adds_nothing_and_keeps_the_books_balanced(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    stdout(&courier(&app, &["seed", "--orders", "30"]));
    let orders = order::Entity::find().count(&app.db).await.expect("count");
    let entries = ledger_entry::Entity::find().count(&app.db).await.expect("count");
    assert_eq!(orders, 30);
    assert_eq!(user::Entity::find().count(&app.db).await.expect("count"), DEMO_USERS.len() as u64);

    let again = stdout(&courier(&app, &["seed", "--orders", "30"]));
    assert!(again.contains("0 orders created"), "{again}");
    assert_eq!(order::Entity::find().count(&app.db).await.expect("count"), orders);
    assert_eq!(ledger_entry::Entity::find().count(&app.db).await.expect("count"), entries);

    stdout(&courier(&app, &["seed", "--orders", "45"]));
    assert_eq!(order::Entity::find().count(&app.db).await.expect("count"), 45);

    // Every wallet's balance is the sum of its entries, and none is negative.
    let all_entries = ledger_entry::Entity::find().all(&app.db).await.expect("entries");
    for w in wallet::Entity::find().all(&app.db).await.expect("wallets") {
        let sum: i64 = all_entries.iter().filter(|e| e.wallet_id == w.id).map(|e| e.amount_minor).sum();
        assert_eq!(w.balance_minor, sum, "wallet {}", w.id);
        assert!(w.balance_minor >= 0);
    }
    // Each payment's legs sum to zero.
    let mut by_payment = std::collections::HashMap::<uuid::Uuid, i64>::new();
    for e in all_entries.iter().filter(|e| e.payment_id.is_some()) {
        *by_payment.entry(e.payment_id.expect("payment")).or_default() += e.amount_minor;
    }
    assert!(!by_payment.is_empty());
    assert!(by_payment.values().all(|s| *s == 0), "{by_payment:?}");
    let verified = stdout(&courier(&app, &["ledger", "verify"]));
    assert!(verified.contains(": 0 violations"), "{verified}");
}

async fn ledger_verify_prints_every_violation_and_fails(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    stdout(&courier(&app, &["seed", "--orders", "10"]));
    let healthy = stdout(&courier(&app, &["ledger", "verify"]));
    assert!(healthy.contains("payments") && healthy.contains(": 0 violations"), "{healthy}");

    // Tamper with the fee legs: each payment is unbalanced, the platform
    // wallet drifts from its entries.
    app.exec("UPDATE ledger_entries SET amount_minor = amount_minor + 1 WHERE entry_type = 'PLATFORM_FEE'").await;
    let out = courier(&app, &["ledger", "verify"]);
    assert!(!out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("VIOLATION PAYMENT_UNBALANCED"), "{printed}");
    assert!(printed.contains("VIOLATION WALLET_BALANCE_DRIFT"), "{printed}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("violation"));
}

async fn idempotency_prune_deletes_keys_older_than_their_lifetime(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    stdout(&courier(&app, &["seed", "--orders", "0"]));
    let admin = courier::domain::users::find_by_email(&app.db, "admin@courier.test").await.expect("admin");
    for hours in [30, 1] {
        entity::idempotency_key::ActiveModel {
            id: sea_orm::Set(uuid::Uuid::now_v7()),
            actor_id: sea_orm::Set(admin.id),
            key: sea_orm::Set(format!("key-{hours}")),
            operation: sea_orm::Set("topUpWallet".into()),
            request_hash: sea_orm::Set("0".repeat(64)),
            response: sea_orm::Set(Some(serde_json::json!({ "ok": null }))),
            created_at: sea_orm::Set(chrono::Utc::now() - chrono::Duration::hours(hours)),
            completed_at: sea_orm::Set(None),
        }
        .insert(&app.db)
        .await
        .expect("key");
    }
    // Default: the configured lifetime (24 hours).
    let out = stdout(&courier(&app, &["idempotency", "prune"]));
    assert_eq!(out.trim(), "pruned 1 idempotency key older than 1d");
    let out = stdout(&courier(&app, &["idempotency", "prune", "--older-than", "30m"]));
    assert_eq!(out.trim(), "pruned 1 idempotency key older than 30m");
    assert_eq!(entity::idempotency_key::Entity::find().count(&app.db).await.expect("count"), 0);
}

async fn a_minted_token_authenticates_its_user(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    stdout(&courier(&app, &["seed", "--orders", "0"]));
    let token = stdout(&courier(&app, &["token", "--email", "seller@courier.test"])).trim().to_owned();
    let res = app.graphql("{ viewer { email role } }", Value::Null, Some(&token)).await;
    assert_eq!(res.data()["viewer"]["role"], "SELLER");

    let unknown = courier(&app, &["token", "--email", "nobody@courier.test"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no user has the email nobody@courier.test"), "{stderr}");
}

async fn audit_prune_deletes_only_rows_older_than_the_age(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    stdout(&courier(&app, &["seed", "--orders", "0"]));
    let admin = courier::domain::users::find_by_email(&app.db, "admin@courier.test").await.expect("admin");
    for days in [400, 10] {
        entity::audit_log::ActiveModel {
            id: sea_orm::Set(uuid::Uuid::now_v7()),
            actor_id: sea_orm::Set(Some(admin.id)),
            action: sea_orm::Set("order.created".into()),
            entity_type: sea_orm::Set("Order".into()),
            entity_id: sea_orm::Set(uuid::Uuid::now_v7()),
            old_values: sea_orm::Set(None),
            new_values: sea_orm::Set(None),
            request_id: sea_orm::Set(None),
            ip: sea_orm::Set(None),
            user_agent: sea_orm::Set(None),
            created_at: sea_orm::Set(chrono::Utc::now() - chrono::Duration::days(days)),
        }
        .insert(&app.db)
        .await
        .expect("audit row");
    }
    let out = stdout(&courier(&app, &["audit", "prune", "--older-than", "365d"]));
    assert_eq!(out.trim(), "pruned 1 audit row older than 365d");
    assert_eq!(entity::audit_log::Entity::find().count(&app.db).await.expect("count"), 1);
    assert!(!courier(&app, &["audit", "prune", "--older-than", "soon"]).status.success());
}

async fn production_starts_empty_and_prints_no_token(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_courier"))
        .arg("serve")
        .env("DATABASE_URL", &app.config.database_url)
        .env("COURIER_JWT_SECRET", &app.config.jwt_secret)
        .env("COURIER_ENV", "production")
        .env("COURIER_BIND", format!("127.0.0.1:{port}"))
        .env("COURIER_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("courier serves");
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("{url}/health/db")).await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let graphiql = reqwest::get(format!("{url}/graphiql")).await.map(|r| r.status().as_u16());
    let _ = server.kill();
    let out = server.wait_with_output().expect("output");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(up, "the server did not come up: {printed}");
    assert_eq!(graphiql.ok(), Some(404));
    // No demo data, no token (a JWT starts with `eyJ`), no demo email.
    assert_eq!(user::Entity::find().count(&app.db).await.expect("count"), 0);
    assert!(!printed.contains("eyJ") && !printed.contains("courier.test"), "{printed}");

    // The first admin comes from `courier admin create`, with one token, once.
    let created = courier(&app, &["admin", "create", "--email", "Ops@Example.com"]);
    let printed = stdout(&created);
    let token = printed.split_whitespace().find(|w| w.starts_with("eyJ")).expect("a token is printed").to_owned();
    let res = app.graphql("{ viewer { email role } }", Value::Null, Some(&token)).await;
    assert_eq!(res.data()["viewer"], serde_json::json!({ "email": "ops@example.com", "role": "ADMIN" }));
    let again = courier(&app, &["admin", "create", "--email", "ops@example.com"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = courier(&app, &["admin", "create", "--email", "not-an-email"]);
    assert!(!bad.status.success());
    assert_eq!(user::Entity::find().count(&app.db).await.expect("count"), 1);
}

/// Found by the outside tester: in production `seed` made the demo admin
/// and `migrate down --steps 100` dropped every table.
async fn production_refuses_demo_data_and_unforced_reverts(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    stdout(&courier(&app, &["migrate", "up"]));
    let production = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(args)
            .env("DATABASE_URL", &app.config.database_url)
            .env("COURIER_JWT_SECRET", &app.config.jwt_secret)
            .env("COURIER_ENV", "production")
            .env("COURIER_LOG", "warn")
            .output()
            .expect("courier runs")
    };
    let seed = production(&["seed"]);
    assert!(!seed.status.success());
    assert!(String::from_utf8_lossy(&seed.stderr).contains("refused"), "{}", String::from_utf8_lossy(&seed.stderr));
    assert_eq!(user::Entity::find().count(&app.db).await.expect("count"), 0);
    let down = production(&["migrate", "down", "--steps", "100"]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("--force"));
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("applied")).count(), MIGRATIONS, "nothing reverted: {status}");
    stdout(&production(&["migrate", "down", "--force"]));
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("pending")).count(), 1, "{status}");
}

/// `serve` takes its address before it touches the database: a taken port
/// is named, with the setting to change, and nothing is migrated or seeded.
async fn a_taken_port_is_named_before_anything_is_migrated(backend: Backend) {
    let app = spawn_unmigrated(backend, |_| {}).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr");
    // A serve that must fail at once; its error output.
    let refused = |settings: &[(&str, String)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_courier"))
            .arg("serve")
            .env("DATABASE_URL", &app.config.database_url)
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .env("COURIER_LOG", "warn")
            .env_remove("COURIER_ENV")
            .output()
            .expect("courier runs");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(&[("COURIER_BIND", addr.to_string())]);
    assert!(stderr.contains(&format!("cannot listen on {addr}: the address is already in use")), "{stderr}");
    assert!(stderr.contains("COURIER_BIND"), "{stderr}");
    // The metrics address too.
    let stderr = refused(&[
        ("COURIER_BIND", "127.0.0.1:0".into()),
        ("COURIER_METRICS", "true".into()),
        ("COURIER_METRICS_BIND", addr.to_string()),
    ]);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("COURIER_METRICS_BIND"),
        "{stderr}"
    );
    let status = stdout(&courier(&app, &["migrate", "status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("pending")).count(), MIGRATIONS, "{status}");
    drop(taken);
}

on_both_backends!(
    a_taken_port_is_named_before_anything_is_migrated,
    production_refuses_demo_data_and_unforced_reverts,
    production_starts_empty_and_prints_no_token,
    audit_prune_deletes_only_rows_older_than_the_age,
    migrate_commands_apply_list_and_revert,
    seeding_twice_adds_nothing_and_keeps_the_books_balanced,
    a_minted_token_authenticates_its_user,
    ledger_verify_prints_every_violation_and_fails,
    idempotency_prune_deletes_keys_older_than_their_lifetime,
);

#[test]
fn production_refuses_the_development_jwt_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["migrate", "status"])
        .env("COURIER_ENV", "production")
        .env_remove("COURIER_JWT_SECRET")
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .expect("courier runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COURIER_JWT_SECRET"));
}

#[test]
fn export_schema_check_fails_on_a_stale_file() {
    let path = std::env::temp_dir().join(format!("schema-{}.graphql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, "type Query { stale: Int }").expect("write");
    let run = |check: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_courier"));
        cmd.args(["export-schema", "--path"]).arg(&path);
        if check {
            cmd.arg("--check");
        }
        cmd.output().expect("courier runs")
    };
    assert!(!run(true).status.success());
    assert!(run(false).status.success());
    std::fs::remove_file(&path).expect("remove");
    let missing = run(true);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"), "{missing:?}");
    assert!(run(false).status.success());
    assert!(run(true).status.success());
    let _ = std::fs::remove_file(path);
}

/// Runs `courier serve` against `database_url` and returns its error output,
/// checking that it failed with one `error:` line and nothing of the driver's
/// wrapping or PostgreSQL's source positions.
fn serve_error(database_url: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("COURIER_BIND", "127.0.0.1:0")
        .env("COURIER_LOG", "warn")
        .env("COURIER_DB_ACQUIRE_TIMEOUT_MS", "500")
        .env_remove("COURIER_ENV")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("courier runs");
    // A server that came up is a failure of this test, not a hang of the suite.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success(), "{database_url} served");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{stderr}");
    for noise in ["Custom Error", "Connection Error", "at line", "pool timed out"] {
        assert!(!stderr.contains(noise), "`{noise}` in: {stderr}");
    }
    stderr
}

#[test]
fn start_up_errors_name_the_thing_and_the_fix() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let err = serve_error(&format!("postgres://postgres@127.0.0.1:{port}/courier"));
    assert!(err.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused")), "{err}");

    let name = format!("courier_missing_{}", uuid::Uuid::new_v4().simple());
    let err = serve_error(&crate::helpers::pg_url_for(&name));
    assert!(err.contains(&format!("database \"{name}\" does not exist")), "{err}");
    assert!(err.contains("create it with `createdb") && err.contains(&format!(" {name}`")), "{err}");

    // An SQLite path under a file cannot be opened; the error names it.
    let file = std::env::temp_dir().join(format!("courier-not-a-folder-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "not a database\n".repeat(400)).expect("write");
    let path = file.join("courier.db");
    let err = serve_error(&format!("sqlite://{}?mode=rwc", path.display()));
    assert!(err.contains(&format!("cannot open the SQLite database {}", path.display())), "{err}");
    // A file that is not a database, likewise.
    let err = serve_error(&format!("sqlite://{}?mode=rwc", file.display()));
    assert!(
        err.contains(&format!("cannot open the SQLite database {}: file is not a database", file.display())),
        "{err}"
    );
    let _ = std::fs::remove_file(file);

    // A database that can be read but not written is refused at start-up,
    // not found out by the first write.
    let file = std::env::temp_dir().join(format!("courier-read-only-{}.db", uuid::Uuid::new_v4().simple()));
    let out = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["migrate", "up"])
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", file.display()))
        .env("COURIER_LOG", "warn")
        .output()
        .expect("courier runs");
    assert!(out.status.success(), "{out:?}");
    let err = serve_error(&format!("sqlite://{}?mode=ro", file.display()));
    assert!(err.contains(&format!("cannot write to the SQLite database {}", file.display())), "{err}");
    assert!(err.contains("readonly") && err.contains("writable"), "{err}");
    let _ = std::fs::remove_file(file);
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_courier")).args(args).arg("--help").output().expect("courier runs");
    assert!(out.status.success(), "{args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_command_lists_its_own_options_first_and_serve_all_settings() {
    let serve = help(&["serve"]);
    for heading in ["Database:", "Environment and access:", "HTTP and limits:", "Money:", "Logs, metrics and traces:"] {
        assert!(serve.contains(heading), "serve --help lacks `{heading}`");
    }
    for setting in ["COURIER_BIND", "COURIER_MAX_DEPTH", "COURIER_CORS_ORIGINS", "COURIER_METRICS"] {
        assert!(serve.contains(setting), "serve --help lacks {setting}");
    }
    let token = help(&["token"]);
    let email = token.find("--email").expect("--email listed");
    let database = token.find("--database-url").expect("--database-url listed");
    assert!(email < database, "own options first:\n{token}");
    assert!(token.contains("COURIER_JWT_SECRET"), "{token}");
    for server_only in ["COURIER_BIND", "COURIER_MAX_DEPTH", "COURIER_CORS_ORIGINS", "COURIER_GRAPHIQL"] {
        assert!(!token.contains(server_only), "token --help lists {server_only}:\n{token}");
    }
    let down = help(&["migrate", "down"]);
    assert!(down.find("--steps").expect("--steps") < down.find("--database-url").expect("--database-url"), "{down}");
    assert!(!down.contains("COURIER_BIND") && !down.contains("COURIER_JWT_SECRET"), "{down}");
    assert!(!help(&["export-schema"]).contains("DATABASE_URL"));
    // Settings still work after a nested command, as flags.
    let top = help(&[]);
    assert!(top.contains("courier serve --help"), "{top}");
}
