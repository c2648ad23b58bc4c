//! Start-up errors that name the thing and the fix: when the pool cannot be
//! opened, one direct connection attempt finds out why (the pool itself only
//! says that it timed out), and the answer names the server or the file.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, RuntimeErr, Statement};

/// How long the diagnosing connection may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `err`, which opening the pool for `url` returned, as a message that says
/// what is wrong and what to do.
pub(super) async fn explain(url: &str, err: DbErr) -> DbErr {
    if let Some(path) = super::sqlite_file(url) {
        let why = reason(&err);
        if why.contains("readonly") {
            return read_only(path, &why);
        }
        return DbErr::Custom(format!("cannot open the SQLite database {path}: {why}"));
    }
    if !url.starts_with("postgres") {
        return err;
    }
    let options = match PgConnectOptions::from_str(url) {
        Ok(options) => options,
        Err(e) => return DbErr::Custom(format!("DATABASE_URL is not a PostgreSQL URL this server understands: {e}")),
    };
    let at = format!("{}:{}", options.get_host(), options.get_port());
    let quiet = options.clone().disable_statement_logging();
    let why = match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&quiet)).await {
        Err(_) => format!("cannot connect to PostgreSQL at {at}: no answer within {} s", PROBE_TIMEOUT.as_secs()),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            format!("cannot open a connection pool to PostgreSQL at {at}: {}", reason(&err))
        }
        Ok(Err(e)) => postgres_reason(&e, &options, &at),
    };
    DbErr::Custom(why)
}

fn postgres_reason(err: &sqlx::Error, options: &PgConnectOptions, at: &str) -> String {
    match err {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "cannot connect to PostgreSQL at {at}: connection refused (is PostgreSQL running there? DATABASE_URL names \
             the server)"
        ),
        sqlx::Error::Io(io) => format!("cannot connect to PostgreSQL at {at}: {}", lowercase_first(&io.to_string())),
        sqlx::Error::Database(db) => {
            let name = options.get_database().unwrap_or(options.get_username());
            let user = options.get_username();
            match db.code().as_deref() {
                Some("3D000") => format!(
                    "database \"{name}\" does not exist on the PostgreSQL server at {at}: create it with \
                     `createdb -h {} -p {} -U {user} {name}`",
                    options.get_host(),
                    options.get_port()
                ),
                Some("28P01" | "28000") => {
                    format!("PostgreSQL at {at} refused user \"{user}\": {}", db.message())
                }
                _ => format!("PostgreSQL at {at} refused the connection: {}", db.message()),
            }
        }
        other => format!("cannot connect to PostgreSQL at {at}: {other}"),
    }
}

/// Refuses an SQLite database this process can read but not write (a
/// read-only file or folder): otherwise the server would start and then
/// fail every write. The probe writes the header's `user_version` back
/// unchanged.
pub(super) async fn check_writable(db: &DatabaseConnection, path: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let version = db
        .query_one_raw(Statement::from_string(backend, "PRAGMA user_version"))
        .await?
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0);
    match db.execute_unprepared(&format!("PRAGMA user_version = {version}")).await {
        Ok(_) => Ok(()),
        Err(e) => Err(read_only(path, &reason(&e))),
    }
}

fn read_only(path: &str, why: &str) -> DbErr {
    DbErr::Custom(format!(
        "cannot write to the SQLite database {path}: {why}; make the file and its folder writable, or point \
         DATABASE_URL elsewhere"
    ))
}

/// The driver's own words for `err`, without the wrapping.
fn reason(err: &DbErr) -> String {
    let runtime = match err {
        DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e) => e,
        DbErr::Custom(text) => return text.clone(),
        other => return other.to_string(),
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            sqlx::Error::Database(db) => db.message().to_owned(),
            sqlx::Error::Io(io) => lowercase_first(&io.to_string()),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_named_with_the_fix() {
        // Port 9 (discard) has no PostgreSQL on any test machine.
        let url = "postgres://postgres@127.0.0.1:9/courier";
        let err = explain(url, DbErr::Custom("pool timed out".into())).await;
        let DbErr::Custom(err) = err else { panic!("{err:?}") };
        assert!(err.starts_with("cannot connect to PostgreSQL at 127.0.0.1:9: connection refused"), "{err}");
    }

    #[tokio::test]
    async fn a_sqlite_failure_names_the_file() {
        let err =
            explain("sqlite:///no/such/x.db?mode=rwc", DbErr::Custom("unable to open database file".into())).await;
        let DbErr::Custom(err) = err else { panic!("{err:?}") };
        assert_eq!(err, "cannot open the SQLite database /no/such/x.db: unable to open database file");
    }
}
