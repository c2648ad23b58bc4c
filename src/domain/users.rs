//! Users as the rest of the domain sees them.

use entity::{UserRole, user};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Select, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::ids::Ids;
use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access, new_id, now, text};
use crate::error::{AppError, DbFailure, classify};

/// Creates an administrator (`courier admin create`): the way the first
/// admin of a production deployment comes to exist, recorded in the audit
/// trail. An email already in use is refused.
pub async fn create_admin(db: &DatabaseConnection, email: &str, display_name: &str) -> Result<user::Model, AppError> {
    let email = text::single_line("email", email, 254)?.to_lowercase();
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
    });
    if !valid || email.contains(char::is_whitespace) {
        return Err(AppError::validation("email", "An email looks like name@example.com"));
    }
    let display_name = text::single_line("name", display_name, 100)?;
    let at = now();
    let admin = user::Model {
        id: new_id(),
        email,
        display_name,
        role: UserRole::Admin,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
    };
    let tx = db.begin().await?;
    if let Err(e) = user::Entity::insert(user::ActiveModel::from(admin.clone())).exec_without_returning(&tx).await {
        return Err(match classify(&e) {
            DbFailure::UniqueViolation => AppError::validation("email", "A user with this email already exists"),
            _ => e.into(),
        });
    }
    audit::record(
        &tx,
        Change {
            action: "user.admin_created",
            entity_type: "User",
            entity_id: admin.id,
            old: None,
            new: Some(json!({ "email": admin.email, "role": "ADMIN" })),
            context: &AuditContext::default(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(event = "admin_created", user.id = %admin.id, "administrator created");
    Ok(admin)
}

/// Reads the user a token names as a [`Viewer`]. A deleted or unknown user
/// is `UNAUTHENTICATED`: its tokens stop working (requests go through
/// `viewers::Viewers`, which forgets a user as soon as PostgreSQL announces
/// the change).
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

/// Public profiles of `ids` (deleted users included: they still appear as
/// the other party of old orders), in one statement. Callers reach them only
/// through objects the viewer may see.
pub async fn profiles(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<user::Model>, AppError> {
    Ok(profiles_select(Ids::listed(ids)).all(db).await?)
}

/// The statement of [`profiles`].
pub fn profiles_select(ids: Ids<'_>) -> Select<user::Entity> {
    user::Entity::find().filter(ids.matched_by(user::Column::Id))
}

/// Which users to list (admins only).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Any of these roles.
    pub role: Option<Vec<UserRole>>,
    /// Exact email.
    pub email: Option<String>,
    /// Show soft-deleted users too.
    pub include_deleted: bool,
}

/// Indexed columns users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    /// `idx_users_created_at`
    CreatedAt,
    /// unique `email`
    Email,
}

/// The sort key for users.
pub fn sort_key(sort: UserSort, direction: Direction) -> SortKey<user::Entity> {
    let (column, value): (user::Column, fn(&user::Model) -> SortValue) = match sort {
        UserSort::CreatedAt => (user::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
        UserSort::Email => (user::Column::Email, |m| SortValue::Text(m.email.clone())),
    };
    SortKey { column, id: user::Column::Id, direction, value, id_of: |m| m.id }
}

fn select(viewer: Option<&Viewer>, filter: &UserFilter) -> Result<Option<Select<user::Entity>>, AppError> {
    let mut select = user::Entity::find();
    if !access::include_deleted(viewer, filter.include_deleted)? {
        select = select.filter(user::Column::DeletedAt.is_null());
    }
    if let Some(roles) = &filter.role {
        select = select.filter(user::Column::Role.is_in(roles.iter().copied()));
    }
    if let Some(email) = &filter.email {
        select = select.filter(user::Column::Email.eq(email.trim().to_lowercase()));
    }
    Ok(access::users(viewer).apply(select))
}

/// One page of users (admins see all; others only themselves).
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &UserFilter,
    sort: &SortKey<user::Entity>,
    page: &PageRequest,
) -> Result<Page<user::Model>, AppError> {
    pagination::fetch(db, select(viewer, filter)?, sort, page).await
}

/// How many users match.
pub async fn count(db: &impl ConnectionTrait, viewer: Option<&Viewer>, filter: &UserFilter) -> Result<u64, AppError> {
    pagination::count(db, select(viewer, filter)?).await
}
