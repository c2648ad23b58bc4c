//! Dataloaders: every relation is loaded in one statement per level, batched
//! across parents and cached for the current request only. Each loader calls
//! a domain batch function, so the access rules are the domain's.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::DatabaseConnection;
use tracing::Instrument;
use uuid::Uuid;

use crate::db::StatementCounter;
use crate::domain::{Viewer, wallets};
use crate::error::{AppError, GqlError};

/// A loader failure, shareable between every field that awaited the batch.
#[derive(Debug, Clone)]
pub struct LoadError(Arc<AppError>);

impl From<AppError> for LoadError {
    fn from(err: AppError) -> Self {
        Self(Arc::new(err))
    }
}

impl From<LoadError> for GqlError {
    fn from(err: LoadError) -> Self {
        Self(async_graphql::ErrorExtensions::extend(err.0.as_ref()))
    }
}

/// What every loader needs: the pool and the viewer whose scope applies.
#[derive(Clone)]
pub struct LoaderContext {
    db: DatabaseConnection,
    viewer: Option<Viewer>,
}

/// Wallet by owner user id.
pub struct WalletByUser(LoaderContext);

impl Loader<Uuid> for WalletByUser {
    type Value = entity::wallet::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = wallets::of_owners(&self.0.db, self.0.viewer.as_ref(), keys).await?;
        Ok(rows.into_iter().filter_map(|w| w.user_id.map(|u| (u, w))).collect())
    }
}

/// The request's loaders.
pub struct Loaders {
    /// `User.wallet`.
    pub wallet_by_user: DataLoader<WalletByUser>,
}

impl Loaders {
    /// Fresh loaders for one request. Batches run on spawned tasks, which
    /// carry the request's span (for the request ID in logs) and statement
    /// counter along.
    pub fn new(db: DatabaseConnection, viewer: Option<Viewer>, counter: StatementCounter) -> Self {
        let cx = LoaderContext { db, viewer };
        let span = tracing::Span::current();
        let spawner = move |fut| tokio::spawn(counter.clone().scope(fut).instrument(span.clone()));
        Self { wallet_by_user: DataLoader::new(WalletByUser(cx), spawner) }
    }
}
