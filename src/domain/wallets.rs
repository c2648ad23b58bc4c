//! Wallet reads. Money movements live in the ledger module.

use entity::wallet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::{Viewer, access};
use crate::error::AppError;

/// The wallets of `owners` that the viewer may see, in one statement.
pub async fn of_owners(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    owners: &[Uuid],
) -> Result<Vec<wallet::Model>, AppError> {
    let select = wallet::Entity::find().filter(wallet::Column::UserId.is_in(owners.iter().copied()));
    match access::wallets(viewer).apply(select) {
        Some(select) => Ok(select.all(db).await?),
        None => Ok(Vec::new()),
    }
}
