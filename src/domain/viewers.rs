//! The viewers this instance has read, kept while PostgreSQL tells it about
//! every change to `users` (the `courier_users` channel, announced by a
//! trigger on commit; migration `m20261123_000018`), so most requests need
//! no statement to know who is asking, and none acts on a role or a
//! deletion longer than the notice takes to arrive.
//!
//! Why it cannot serve a stale viewer:
//!
//! - It is used only while this instance listens ("armed"). Losing the
//!   listening connection, or hearing nothing on it for 3 s (every instance
//!   sends a heartbeat notice each second, so a connection that hangs
//!   without closing is noticed too), disarms it and forgets everything;
//!   listening again forgets everything once more (changes made while deaf),
//!   then arms.
//! - Every notice forgets that user and advances a generation. A read that
//!   began before a notice never stays cached: it is stored only if the
//!   generation is unchanged, and checked again after storing (so a notice
//!   landing between the check and the store removes it either way).
//! - Entries also expire after [`TTL`], and failures (unknown or deleted
//!   users) are never kept.
//! - What it cannot see: a change made with triggers off
//!   (`session_replication_role = replica`, `ALTER TABLE users DISABLE
//!   TRIGGER`, `pg_restore --disable-triggers`) announces nothing; it takes
//!   effect within [`TTL`], or at once after restarting the instances.
//!
//! SQLite (one process, no notifications from other processes such as the
//! CLI): never armed, so every request reads the viewer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use moka::sync::Cache;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::domain::{Viewer, users};
use crate::error::AppError;
use crate::telemetry::metrics;

/// The PostgreSQL channel (payload: the user's id, `*` for all, or the heartbeat).
pub const CHANNEL: &str = "courier_users";

/// How long a viewer is kept at most, notices or not.
pub const TTL: Duration = Duration::from_secs(60);

/// Viewers kept at most.
const CAPACITY: u64 = 100_000;

/// This instance's viewers.
#[derive(Debug)]
pub struct Viewers {
    armed: AtomicBool,
    generation: AtomicU64,
    kept: Cache<Uuid, Viewer>,
}

impl Default for Viewers {
    fn default() -> Self {
        Self {
            armed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            kept: Cache::builder().max_capacity(CAPACITY).time_to_live(TTL).build(),
        }
    }
}

impl Viewers {
    /// The live user `user_id` as a viewer: kept, or read (`users::authenticate`).
    pub async fn authenticate(&self, db: &impl ConnectionTrait, user_id: Uuid) -> Result<Viewer, AppError> {
        if self.armed.load(SeqCst)
            && let Some(viewer) = self.kept.get(&user_id)
        {
            metrics::viewer_lookup("hit");
            return Ok(viewer);
        }
        let generation = self.generation.load(SeqCst);
        let viewer = users::authenticate(db, user_id).await.inspect_err(|_| metrics::viewer_lookup("read"))?;
        if self.armed.load(SeqCst) && self.generation.load(SeqCst) == generation {
            metrics::viewer_lookup("miss");
            self.kept.insert(user_id, viewer);
            if self.generation.load(SeqCst) != generation || !self.armed.load(SeqCst) {
                self.kept.invalidate(&user_id);
            }
        } else {
            metrics::viewer_lookup("read");
        }
        Ok(viewer)
    }

    /// Whether viewers are being kept (this instance is listening).
    pub fn is_armed(&self) -> bool {
        self.armed.load(SeqCst)
    }

    /// Forgets `user` (`None`: everyone).
    fn forget(&self, user: Option<Uuid>) {
        self.generation.fetch_add(1, SeqCst);
        match user {
            Some(id) => self.kept.invalidate(&id),
            None => self.kept.invalidate_all(),
        }
    }

    fn arm(&self) {
        self.forget(None);
        self.armed.store(true, SeqCst);
        metrics::viewer_cache_armed(true);
    }

    fn disarm(&self) {
        self.armed.store(false, SeqCst);
        self.forget(None);
        metrics::viewer_cache_armed(false);
    }

    /// Applies one notice's payload: a user id, [`HEARTBEAT`] (nothing to
    /// forget), or anything else (`*`) for everyone.
    fn notice(&self, payload: &str) {
        if payload != HEARTBEAT {
            self.forget(payload.parse().ok());
        }
    }
}

/// The payload of the heartbeat every instance sends on [`CHANNEL`].
const HEARTBEAT: &str = "heartbeat";

/// How often each instance sends a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// How long a listening connection may stay silent (no heartbeat, no
/// notice) before it is taken for dead: a connection that hangs without
/// closing (a frozen backend, a network partition, a NAT that drops idle
/// flows) would otherwise keep the instance armed and deaf.
const SILENCE_LIMIT: Duration = Duration::from_secs(3);

/// Keeps `viewers` armed while listening on the PostgreSQL at `url`, until
/// `stop`; reconnects after a lost or silent connection (disarmed
/// meanwhile). Also sends this instance's heartbeat through `db` every
/// second, which every listening instance hears.
pub async fn listen_postgres(
    url: String,
    db: DatabaseConnection,
    viewers: Arc<Viewers>,
    mut stop: watch::Receiver<bool>,
) {
    use sea_orm::sqlx::postgres::PgListener;
    let heartbeat = tokio::spawn(send_heartbeats(db, stop.clone()));
    while !*stop.borrow() {
        let listening = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(event = "viewer_listener_failed", error = %e, "cannot LISTEN for user changes; reading viewers from the database meanwhile");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        viewers.arm();
        tracing::debug!(event = "viewer_listener_started", channel = CHANNEL, "keeping viewers");
        let mut heard = Instant::now();
        let lost = loop {
            tokio::select! {
                // `try_recv` returns `None` when the connection was lost
                // (instead of reconnecting on its own, as `recv` does), so
                // the gap is never silent.
                received = listener.try_recv() => match received {
                    Ok(Some(n)) => {
                        heard = Instant::now();
                        viewers.notice(n.payload());
                    }
                    Ok(None) | Err(_) => break Some("lost"),
                },
                _ = tokio::time::sleep_until(heard + SILENCE_LIMIT) => break Some("silent (no heartbeat)"),
                _ = stop.changed() => break None,
            }
        };
        viewers.disarm();
        if let Some(lost) = lost {
            tracing::warn!(
                event = "viewer_listener_failed",
                "user-change connection {lost}; reading viewers from the database until it is back"
            );
        }
    }
    heartbeat.abort();
}

/// Sends [`HEARTBEAT`] on [`CHANNEL`] every [`HEARTBEAT_EVERY`] until `stop`
/// (a failure is only logged: the listeners' silence limit does the rest).
async fn send_heartbeats(db: DatabaseConnection, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), HEARTBEAT.into()],
        );
        if let Err(e) = db.execute_raw(statement).await {
            tracing::debug!(event = "viewer_heartbeat_failed", error = %e, "could not send the viewer heartbeat");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::UserRole;

    fn viewer() -> Viewer {
        Viewer { id: Uuid::now_v7(), role: UserRole::Buyer }
    }

    #[test]
    fn a_heartbeat_forgets_nothing() {
        let viewers = Viewers::default();
        viewers.arm();
        let a = viewer();
        viewers.kept.insert(a.id, a);
        viewers.notice(HEARTBEAT);
        assert_eq!(viewers.kept.get(&a.id), Some(a));
        viewers.notice("not a user id");
        assert_eq!(viewers.kept.get(&a.id), None, "an unreadable notice forgets everyone");
    }

    #[test]
    fn a_notice_forgets_the_user_and_advances_the_generation() {
        let viewers = Viewers::default();
        viewers.arm();
        let (a, b) = (viewer(), viewer());
        viewers.kept.insert(a.id, a);
        viewers.kept.insert(b.id, b);
        let before = viewers.generation.load(SeqCst);
        viewers.notice(&a.id.to_string());
        assert_eq!(viewers.kept.get(&a.id), None);
        assert_eq!(viewers.kept.get(&b.id), Some(b));
        assert!(viewers.generation.load(SeqCst) > before);
        viewers.notice("*");
        assert_eq!(viewers.kept.get(&b.id), None);
    }

    #[test]
    fn disarming_forgets_everyone() {
        let viewers = Viewers::default();
        viewers.arm();
        let a = viewer();
        viewers.kept.insert(a.id, a);
        viewers.disarm();
        assert!(!viewers.is_armed());
        assert_eq!(viewers.kept.get(&a.id), None);
    }
}
