//! The `courier` command line. Each subcommand is a thin wrapper over the
//! library; settings come from [`Config`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::auth::TokenService;
use crate::config::{Config, Environment};
use crate::db::Purpose;
use crate::domain::{audit, idempotency, users, wallets};
use crate::http::{self, AppState};
use crate::{db, graphql, seed};

/// Result of a command; the message of an error is printed as is.
pub type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Demo orders `courier serve` seeds into an empty database.
const DEMO_ORDERS: u64 = 40;

/// `courier`: GraphQL API server for a delivery marketplace.
#[derive(Debug, Parser)]
#[command(
    name = "courier",
    version,
    about,
    after_help = "Settings are read from the environment (DATABASE_URL, COURIER_*) or given as flags after the \
                  command: `courier serve --help` lists all of them."
)]
pub struct Cli {
    /// What to do; `serve` (with settings from the environment) when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The chosen command, `serve` when none was given.
    pub fn into_command(self) -> Result<Command, clap::Error> {
        match self.command {
            Some(command) => Ok(command),
            None => Ok(Command::Serve { config: Config::from_env()? }),
        }
    }
}

/// Subcommands. Each takes every setting (from the environment or as a
/// flag), but only `serve` lists them all in its help; the others list the
/// few they use, after their own options.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate and serve GraphQL (the default). In development an empty
    /// database is seeded with demo data and demo tokens are printed; in
    /// production neither happens.
    Serve {
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Apply or revert schema migrations.
    #[command(mut_args = shown(&[]))]
    Migrate {
        /// What to do.
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Seed demo data (idempotent); `--orders N` builds large datasets for benchmarks.
    #[command(mut_args = shown(&["platform_fee_rate"]))]
    Seed {
        /// Demo orders to have in total.
        #[arg(long, default_value_t = DEMO_ORDERS)]
        orders: u64,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Write the GraphQL schema (SDL) generated from the code.
    ExportSchema {
        /// Compare instead of writing; exit 1 when the file is stale.
        #[arg(long)]
        check: bool,
        /// Where the schema lives.
        #[arg(long, default_value = "schema.graphql")]
        path: PathBuf,
    },
    /// Maintain the audit log.
    #[command(mut_args = shown(&[]))]
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: AuditAction,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Check the books.
    #[command(mut_args = shown(&[]))]
    Ledger {
        /// What to do.
        #[command(subcommand)]
        action: LedgerAction,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Maintain the idempotency keys of money mutations.
    #[command(mut_args = shown(&["idempotency_key_ttl_hours"]))]
    Idempotency {
        /// What to do.
        #[command(subcommand)]
        action: IdempotencyAction,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Manage administrators.
    #[command(mut_args = shown(&["jwt_secret", "jwt_ttl_hours"]))]
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Deliver webhooks without serving the API (beside `serve` instances
    /// started with COURIER_WEBHOOK_WORKER=false); stops on ctrl-c or SIGTERM.
    #[command(mut_args = shown(&[
        "webhook_timeout_ms", "webhook_max_attempts", "webhook_backoff_ms", "webhook_poll_ms",
        "webhook_allow_private", "webhook_breaker_failures", "webhook_breaker_volume",
        "webhook_breaker_window_secs", "webhook_breaker_open_ms", "webhook_breaker_successes",
    ]))]
    Worker {
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Maintain webhook deliveries.
    #[command(mut_args = shown(&[]))]
    Webhooks {
        /// What to do.
        #[command(subcommand)]
        action: WebhooksAction,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
    /// Mint a bearer token for a user.
    #[command(mut_args = shown(&["jwt_secret", "jwt_ttl_hours"]))]
    Token {
        /// The user's email.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        config: Config,
    },
}

impl Command {
    /// The command's settings (the environment's for `export-schema`).
    pub fn config(&self) -> Result<Config, clap::Error> {
        match self {
            Self::Serve { config }
            | Self::Migrate { config, .. }
            | Self::Seed { config, .. }
            | Self::Audit { config, .. }
            | Self::Ledger { config, .. }
            | Self::Idempotency { config, .. }
            | Self::Admin { config, .. }
            | Self::Token { config, .. }
            | Self::Worker { config }
            | Self::Webhooks { config, .. } => Ok(config.clone()),
            Self::ExportSchema { .. } => Config::from_env(),
        }
    }
}

/// Settings every database command lists in its help.
const DATABASE_SETTINGS: [&str; 4] = ["database_url", "env", "log_format", "log_filter"];

/// For a command other than `serve`: its help lists the database settings
/// and `extra`, and hides the other settings (still accepted, from the
/// environment or as flags). Settings are global to the command, so they may
/// follow a nested subcommand (`courier migrate up --database-url ...`).
fn shown(extra: &'static [&'static str]) -> impl FnMut(clap::Arg) -> clap::Arg {
    move |arg| {
        if arg.get_env().is_none() {
            return arg;
        }
        let id = arg.get_id().as_str();
        let listed = DATABASE_SETTINGS.contains(&id) || extra.contains(&id);
        arg.global(true).hide(!listed)
    }
}

/// Administrator management.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an administrator and print one bearer token for it, once:
    /// how the first admin of a production deployment signs in.
    Create {
        /// The admin's email (their sign-in identity).
        #[arg(long)]
        email: String,
        /// The name shown to other users.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

/// Audit log maintenance.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Delete audit rows older than an age such as `365d`.
    Prune {
        /// Age: a number with `d`, `h` or `m`.
        #[arg(long, value_parser = parse_age)]
        older_than: chrono::Duration,
    },
}

/// Webhook delivery maintenance.
#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Delete delivered rows delivered longer ago than an age such as `30d`
    /// (pending and failed rows stay).
    Prune {
        /// Age: a number with `d`, `h` or `m`.
        #[arg(long, value_parser = parse_age, default_value = "30d")]
        older_than: chrono::Duration,
    },
}

/// Ledger checks.
#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Check every ledger invariant on the live database; print each
    /// violation and exit non-zero if there is any.
    Verify,
}

/// Idempotency key maintenance.
#[derive(Debug, Subcommand)]
pub enum IdempotencyAction {
    /// Delete keys first seen longer ago than `--older-than` (default: the
    /// configured key lifetime, `COURIER_IDEMPOTENCY_KEY_TTL_HOURS`).
    Prune {
        /// Age: a number with `d`, `h` or `m`.
        #[arg(long, value_parser = parse_age)]
        older_than: Option<chrono::Duration>,
    },
}

/// Migration actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Revert the last `--steps` migrations (in production only with `--force`).
    Down {
        /// How many to revert (at least 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
        /// Needed when COURIER_ENV=production: reverting drops tables and data.
        #[arg(long)]
        force: bool,
    },
    /// List applied and pending migrations.
    Status,
    /// Drop everything and re-apply all migrations (refused in production).
    Fresh,
}

/// Runs the chosen command.
pub async fn run(command: Command, config: Config) -> CliResult {
    match command {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate { action, .. } => migrate(&config, action).await,
        Command::Seed { .. } if config.is_production() => {
            Err("`seed` creates demo users with known emails (an admin among them) and is refused when \
                 COURIER_ENV=production"
                .into())
        }
        Command::Seed { orders, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            Migrator::up(&db, None).await?;
            let report = seed::seed(&db, orders, config.platform_fee_rate).await?;
            println!(
                "seeded: {} users created, {} orders created, {} demo orders in total",
                report.users_created, report.orders_created, report.orders_total
            );
            Ok(())
        }
        Command::ExportSchema { check, path } => export_schema(check, &path),
        Command::Audit { action: AuditAction::Prune { older_than }, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            let deleted = audit::prune(&db, older_than).await?;
            println!("{}", pruned(deleted, ("audit row", "audit rows"), older_than));
            Ok(())
        }
        Command::Ledger { action: LedgerAction::Verify, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            let health = wallets::verify(&db).await?;
            for v in &health.violations {
                println!("VIOLATION {} {} ({}): {}", v.invariant.as_str(), v.subject, v.currency, v.detail);
            }
            let violations = plural(health.violations.len(), "violation", "violations");
            println!(
                "checked {}, {}, {}: {violations}",
                plural(health.wallets_checked, "wallet", "wallets"),
                plural(health.payments_checked, "payment", "payments"),
                plural(health.entries_checked, "entry", "entries"),
            );
            match health.healthy {
                true => Ok(()),
                false => Err(format!("the ledger has {violations}").into()),
            }
        }
        Command::Idempotency { action: IdempotencyAction::Prune { older_than }, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            let age = older_than.unwrap_or(config.money_policy().key_ttl);
            let deleted = idempotency::prune(&db, age).await?;
            println!("{}", pruned(deleted, ("idempotency key", "idempotency keys"), age));
            Ok(())
        }
        Command::Admin { action: AdminAction::Create { email, name }, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            Migrator::up(&db, None).await?;
            let admin = users::create_admin(&db, &email, &name).await?;
            let token = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours).mint(admin.id)?;
            println!("created administrator {} ({})", admin.email, admin.id);
            println!("bearer token (valid {} h, shown once): {token}", config.jwt_ttl_hours);
            Ok(())
        }
        Command::Worker { .. } => {
            let db = open(&config, Purpose::Serve).await?;
            let webhooks = crate::domain::webhooks::Webhooks::new(config.webhook_policy());
            let worker = crate::domain::webhooks::worker::Worker::new(db.clone(), &webhooks)?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let running = tokio::spawn(worker.run(stop_rx));
            http::shutdown_signal().await;
            let _ = stop_tx.send(true);
            let _ = running.await;
            db.close().await?;
            Ok(())
        }
        Command::Webhooks { action: WebhooksAction::Prune { older_than }, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            let deleted = crate::domain::webhooks::deliveries::prune(&db, older_than).await?;
            println!("{}", pruned(deleted, ("delivered webhook", "delivered webhooks"), older_than));
            Ok(())
        }
        Command::Token { email, .. } => {
            let db = open(&config, Purpose::Maintenance).await?;
            if !Migrator::get_pending_migrations_read_only(&db).await?.is_empty() {
                return Err("the database is not migrated (it has no users yet): run `courier migrate up`".into());
            }
            let user = match users::find_by_email(&db, &email).await {
                Err(e) if e.code() == crate::error::ErrorCode::NotFound => {
                    return Err(format!("no user has the email {email}").into());
                }
                found => found?,
            };
            println!("{}", TokenService::new(&config.jwt_secret, config.jwt_ttl_hours).mint(user.id)?);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> CliResult {
    // A bad trusted-documents file is refused before anything else happens.
    http::documents::Documents::load(config.trusted_documents.as_deref())?;
    // The address is taken first: a server that cannot listen migrates and
    // seeds nothing.
    let listeners = http::Listeners::bind(config.bind, &config).await?;
    // Migrations (and the demo seed) run on a maintenance pool without the
    // serving pool's statement timeout; the server then gets its own pool.
    let maintenance = open(&config, Purpose::Maintenance).await?;
    let migrated = if config.migrate_on_start {
        Migrator::up(&maintenance, None).await?;
        true
    } else {
        let pending = Migrator::get_pending_migrations_read_only(&maintenance).await?.len();
        if pending > 0 {
            tracing::warn!(
                event = "migrations_pending",
                pending,
                "COURIER_MIGRATE_ON_START is off and migrations are pending: /health/ready answers 503 until \
                 `courier migrate up` runs"
            );
        }
        pending == 0
    };
    let development = !config.is_production();
    // Demo data and demo tokens are a development convenience only: a
    // production database starts empty, and its first admin comes from
    // `courier admin create`.
    if development && migrated && entity::user::Entity::find().count(&maintenance).await? == 0 {
        let report = seed::seed(&maintenance, DEMO_ORDERS, config.platform_fee_rate).await?;
        tracing::info!(
            event = "demo_data_seeded",
            orders = report.orders_total,
            "seeded demo data into an empty database"
        );
    }
    maintenance.close().await?;
    let db = open(&config, Purpose::Serve).await?;
    let addr = listeners.api.local_addr()?;
    if development && migrated {
        print_welcome(&db, &config, addr).await?;
    }
    tracing::info!(event = "server_started", %addr, backend = ?db.get_database_backend(), env = ?config.env, "listening");
    http::serve(listeners, AppState::new(db, config)?, http::shutdown_signal()).await?;
    Ok(())
}

/// Opens a pool; a failure to open it is printed as the one line that says
/// why (see `db::connect_for`), without the driver's wrapping.
async fn open(
    config: &Config,
    purpose: Purpose,
) -> Result<DatabaseConnection, Box<dyn std::error::Error + Send + Sync>> {
    db::connect_for(config, purpose).await.map_err(|e| match e {
        sea_orm::DbErr::Custom(why) => why.into(),
        other => other.into(),
    })
}

/// A bind failure that names the address and the setting that chose it.
pub fn cannot_listen(addr: std::net::SocketAddr, setting: &str, err: &std::io::Error) -> std::io::Error {
    let why = match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (another Courier or another program)".to_owned()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied (ports below 1024 need privileges)".to_owned(),
        std::io::ErrorKind::AddrNotAvailable => "no network interface has this address".to_owned(),
        _ => err.to_string(),
    };
    std::io::Error::new(err.kind(), format!("cannot listen on {addr}: {why}; set {setting} to another address"))
}

async fn print_welcome(db: &DatabaseConnection, config: &Config, addr: std::net::SocketAddr) -> CliResult {
    let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
    if config.graphiql_enabled() {
        println!("\nCourier is up: GraphiQL at http://{addr}/graphiql\n");
    } else {
        println!("\nCourier is up: GraphQL at http://{addr}/graphql\n");
    }
    println!("Demo bearer tokens (paste into GraphiQL's Headers tab as {{\"Authorization\": \"Bearer <token>\"}}):");
    let mut seen = Vec::new();
    for (email, _, role) in seed::DEMO_USERS {
        if seen.contains(role) {
            continue;
        }
        seen.push(*role);
        if let Ok(user) = users::find_by_email(db, email).await {
            println!("  {:<7} {email}\n          {}", format!("{role:?}").to_uppercase(), tokens.mint(user.id)?);
        }
    }
    println!();
    Ok(())
}

async fn migrate(config: &Config, action: MigrateAction) -> CliResult {
    let db = open(config, Purpose::Maintenance).await?;
    let production = config.env == Environment::Production;
    match action {
        MigrateAction::Up => {
            let pending = Migrator::get_pending_migrations(&db).await?.len();
            Migrator::up(&db, None).await?;
            println!("{}", migrations_text("applied", pending, applied_count(&db).await?));
        }
        MigrateAction::Down { force: false, .. } if production => {
            return Err(
                "`migrate down` drops tables and their data; when COURIER_ENV=production it needs --force".into()
            );
        }
        MigrateAction::Down { steps, .. } => {
            let before = applied_count(&db).await?;
            Migrator::down(&db, Some(steps)).await?;
            let after = applied_count(&db).await?;
            println!("{}", migrations_text("reverted", before - after, after));
        }
        MigrateAction::Fresh if production => {
            return Err("`migrate fresh` drops every table and is refused when COURIER_ENV=production".into());
        }
        MigrateAction::Fresh => {
            // Every applied migration reverted, newest first, then all
            // applied again: unlike dropping tables in catalogue order, this
            // respects foreign keys on SQLite too, and works on an empty file.
            let reverted = applied_count(&db).await?;
            Migrator::refresh(&db).await?;
            let applied = applied_count(&db).await?;
            println!("{}", migrations_text("reverted", reverted, 0));
            println!("{}", migrations_text("applied", applied, applied));
        }
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                println!("{:<8} {}", format!("{:?}", m.status()).to_lowercase(), m.name());
            }
        }
    }
    Ok(())
}

/// How many migrations are applied (0 on a database never migrated).
async fn applied_count(db: &DatabaseConnection) -> Result<usize, sea_orm::DbErr> {
    Ok(Migrator::get_migration_with_status(db)
        .await?
        .iter()
        .filter(|m| m.status() == migration::MigrationStatus::Applied)
        .count())
}

/// What `migrate` prints: `applied 2 migrations (12 applied in all)`.
fn migrations_text(done: &str, n: usize, applied: usize) -> String {
    format!("{done} {} ({applied} applied in all)", plural(n, "migration", "migrations"))
}

/// `1 migration`, `2 migrations`, `0 migrations`.
pub fn plural(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n = n.try_into().unwrap_or(u64::MAX);
    format!("{n} {}", if n == 1 { one } else { many })
}

fn export_schema(check: bool, path: &std::path::Path) -> CliResult {
    let sdl = graphql::sdl();
    if check {
        let current = match std::fs::read_to_string(path) {
            Ok(current) => current,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(
                    format!("{} does not exist: run `cargo run -- export-schema` to write it", path.display()).into()
                );
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display()).into()),
        };
        if current != sdl {
            return Err(format!("{} is stale: run `cargo run -- export-schema`", path.display()).into());
        }
        println!("{} is current", path.display());
    } else {
        std::fs::write(path, sdl)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// What a prune command prints: `pruned 3 audit rows older than 365d`.
fn pruned(deleted: u64, what: (&str, &str), age: chrono::Duration) -> String {
    format!("pruned {} older than {}", plural(deleted, what.0, what.1), age_text(age))
}

/// An age as [`parse_age`] reads it, in the largest whole unit.
fn age_text(age: chrono::Duration) -> String {
    let minutes = age.num_minutes();
    match minutes {
        m if m % (24 * 60) == 0 => format!("{}d", m / (24 * 60)),
        m if m % 60 == 0 => format!("{}h", m / 60),
        m => format!("{m}m"),
    }
}

/// The oldest age a prune accepts (100 years): past it the cut-off date
/// would not be representable, and no row is that old anyway.
const MAX_AGE_DAYS: i64 = 36_500;

/// Parses an age such as `365d`, `12h` or `30m`.
pub fn parse_age(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| format!("`{text}` is not an age like 365d, 12h or 30m"))?;
    let age = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        "m" => chrono::Duration::try_minutes(n),
        _ => None,
    };
    let age = age.ok_or_else(|| format!("`{text}` is not an age like 365d, 12h or 30m"))?;
    if age <= chrono::Duration::zero() {
        return Err(format!("`{text}` is not positive: an age is at least 1m (everything older than it is deleted)"));
    }
    if age > chrono::Duration::days(MAX_AGE_DAYS) {
        return Err(format!("`{text}` is more than {MAX_AGE_DAYS}d: no row is that old"));
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::{age_text, parse_age};

    #[test]
    fn ages_parse_in_days_hours_and_minutes() {
        assert_eq!(parse_age("365d").expect("days").num_days(), 365);
        assert_eq!(parse_age("12h").expect("hours").num_hours(), 12);
        assert_eq!(parse_age("30m").expect("minutes").num_minutes(), 30);
        for bad in ["", "d", "12", "-1d", "0d", "1y", "abc"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert!(parse_age("0m").expect_err("zero").contains("not positive"));
        assert!(parse_age("1y").expect_err("unit").contains("like 365d"));
        assert!(parse_age("99999999999d").expect_err("huge").contains("more than 36500d"));
        assert!(parse_age("36500d").is_ok());
        for text in ["365d", "12h", "30m", "90m", "1d"] {
            assert_eq!(age_text(parse_age(text).expect("parses")), text);
        }
        assert_eq!(age_text(parse_age("24h").expect("parses")), "1d");
    }
}
