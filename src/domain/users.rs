//! Users as the rest of the domain sees them.

use entity::user;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::Viewer;
use crate::error::AppError;

/// Resolves the user a token names into a [`Viewer`]. A deleted or unknown
/// user is `UNAUTHENTICATED`: its tokens stop working at once.
pub async fn authenticate(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Viewer, AppError> {
    let user = user::Entity::find_by_id(user_id)
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("The token's user no longer exists".into()))?;
    Ok(Viewer { id: user.id, role: user.role })
}

/// Finds a live user by email (case-insensitive).
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<user::Model, AppError> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("User", email))
}

/// The viewer's own user row.
pub async fn me(db: &impl ConnectionTrait, viewer: &Viewer) -> Result<user::Model, AppError> {
    user::Entity::find_by_id(viewer.id)
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("The token's user no longer exists".into()))
}
