//! Delivery agents: registering them, their availability and service area,
//! the rules an agent must meet to take an order, and reading them.

use entity::{AgentStatus, UserRole, delivery_agent, delivery_agent_zip_code, order, user};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Select,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access, new_id, now};
use crate::error::AppError;

/// Most zip codes one agent serves.
pub const MAX_ZIP_CODES: usize = 50;

/// Validates and normalises a set of zip codes (trimmed, upper-case, unique, sorted).
pub fn zip_codes(raw: &[String]) -> Result<Vec<String>, AppError> {
    if raw.len() > MAX_ZIP_CODES {
        return Err(AppError::validation("zipCodes", format!("At most {MAX_ZIP_CODES} zip codes")));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, zip) in raw.iter().enumerate() {
        let zip = zip.trim().to_ascii_uppercase();
        if zip.is_empty() || zip.len() > 16 || !zip.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') {
            return Err(AppError::validation(
                format!("zipCodes[{i}]"),
                "A zip code has 1 to 16 letters, digits, spaces or dashes",
            ));
        }
        out.push(zip);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Registers an agent user as a delivery agent (admins).
pub async fn register(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    user_id: Uuid,
    agent_code: &str,
    zips: &[String],
) -> Result<delivery_agent::Model, AppError> {
    if !viewer.is_admin() {
        return Err(AppError::Forbidden("Only admins register delivery agents".into()));
    }
    let code = agent_code.trim().to_ascii_uppercase();
    if code.is_empty() || code.len() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(AppError::validation("agentCode", "An agent code has 1 to 32 letters, digits or dashes"));
    }
    let zips = zip_codes(zips)?;
    user::Entity::find_by_id(user_id)
        .filter(user::Column::DeletedAt.is_null())
        .filter(user::Column::Role.eq(UserRole::Agent))
        .one(db)
        .await?
        .ok_or_else(|| AppError::validation("userId", "No user with the AGENT role has this id"))?;
    let now = now();
    let agent = delivery_agent::Model {
        id: new_id(),
        user_id,
        agent_code: code,
        status: AgentStatus::Active,
        is_available: false,
        created_at: now,
        updated_at: now,
    };
    let tx = db.begin().await?;
    // A second registration of the user or a taken code is a unique violation: CONFLICT.
    delivery_agent::Entity::insert(delivery_agent::ActiveModel::from(agent.clone()))
        .exec_without_returning(&tx)
        .await?;
    replace_zip_codes(&tx, agent.id, &zips).await?;
    audit::record(
        &tx,
        Change {
            action: "delivery_agent.registered",
            entity_type: "DeliveryAgent",
            entity_id: agent.id,
            old: None,
            new: Some(json!({ "agentCode": agent.agent_code, "zipCodes": zips })),
            context: audit_context,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(event = "delivery_agent_registered", agent.id = %agent.id, actor = %viewer.id, "delivery agent registered");
    Ok(agent)
}

async fn replace_zip_codes(db: &impl ConnectionTrait, agent_id: Uuid, zips: &[String]) -> Result<(), AppError> {
    delivery_agent_zip_code::Entity::delete_many()
        .filter(delivery_agent_zip_code::Column::AgentId.eq(agent_id))
        .exec(db)
        .await?;
    if !zips.is_empty() {
        let rows = zips
            .iter()
            .map(|z| delivery_agent_zip_code::ActiveModel { agent_id: Set(agent_id), zip_code: Set(z.clone()) });
        delivery_agent_zip_code::Entity::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

/// The agent an agent-or-admin request is about: `agent_id` for admins, the
/// viewer's own agent otherwise.
async fn target(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    agent_id: Option<Uuid>,
) -> Result<delivery_agent::Model, AppError> {
    let select = match agent_id {
        Some(id) if viewer.is_admin() => delivery_agent::Entity::find_by_id(id),
        Some(_) => return Err(AppError::Forbidden("Only admins change other agents".into())),
        None => delivery_agent::Entity::find().filter(delivery_agent::Column::UserId.eq(viewer.id)),
    };
    select.one(db).await?.ok_or_else(|| AppError::not_found("DeliveryAgent", agent_id.map_or(viewer.id, |id| id)))
}

/// Turns an agent's availability on or off (the agent, or an admin).
pub async fn set_availability(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    agent_id: Option<Uuid>,
    available: bool,
) -> Result<delivery_agent::Model, AppError> {
    let tx = db.begin().await?;
    let agent = target(&tx, viewer, agent_id).await?;
    let now = now();
    let mut active: delivery_agent::ActiveModel = agent.clone().into();
    active.is_available = Set(available);
    active.updated_at = Set(now);
    let updated = sea_orm::ActiveModelTrait::update(active, &tx).await?;
    audit::record(
        &tx,
        Change {
            action: "delivery_agent.availability_set",
            entity_type: "DeliveryAgent",
            entity_id: agent.id,
            old: Some(json!({ "isAvailable": agent.is_available })),
            new: Some(json!({ "isAvailable": available })),
            context: audit_context,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Replaces the zip codes an agent serves (the agent, or an admin).
pub async fn set_zip_codes(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    agent_id: Option<Uuid>,
    zips: &[String],
) -> Result<delivery_agent::Model, AppError> {
    let zips = zip_codes(zips)?;
    let tx = db.begin().await?;
    let agent = target(&tx, viewer, agent_id).await?;
    let before: Vec<String> = delivery_agent_zip_code::Entity::find()
        .filter(delivery_agent_zip_code::Column::AgentId.eq(agent.id))
        .order_by_asc(delivery_agent_zip_code::Column::ZipCode)
        .all(&tx)
        .await?
        .into_iter()
        .map(|z| z.zip_code)
        .collect();
    replace_zip_codes(&tx, agent.id, &zips).await?;
    audit::record(
        &tx,
        Change {
            action: "delivery_agent.zip_codes_set",
            entity_type: "DeliveryAgent",
            entity_id: agent.id,
            old: Some(json!({ "zipCodes": before })),
            new: Some(json!({ "zipCodes": zips })),
            context: audit_context,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(agent)
}

#[cfg(test)]
mod tests {
    use super::zip_codes;

    #[test]
    fn zip_codes_are_normalised_and_checked() {
        let got = zip_codes(&[" 10117".into(), "10115".into(), "10117".into(), "sw1a 1aa".into()]).expect("valid");
        assert_eq!(got, ["10115", "10117", "SW1A 1AA"]);
        assert!(zip_codes(&["".into()]).is_err());
        assert!(zip_codes(&["10115;".into()]).is_err());
        assert!(zip_codes(&vec!["1".to_owned(); 51]).is_err());
    }
}

/// The rules an agent must meet to take an order.
pub async fn check_can_take(
    db: &impl ConnectionTrait,
    agent: &delivery_agent::Model,
    order: &order::Model,
) -> Result<(), AppError> {
    if agent.status != AgentStatus::Active {
        return Err(AppError::rule(
            "AGENT_NOT_ACTIVE",
            "The agent is suspended",
            json!({ "agentStatus": agent.status.to_value() }),
        ));
    }
    if !agent.is_available {
        return Err(AppError::rule("AGENT_NOT_AVAILABLE", "The agent is not taking work", json!({})));
    }
    if !serves(db, agent.id, &order.delivery_zip_code).await? {
        return Err(AppError::rule(
            "AGENT_DOES_NOT_SERVE_ZIP_CODE",
            "The agent does not serve the order's zip code",
            json!({ "zipCode": order.delivery_zip_code }),
        ));
    }
    Ok(())
}

/// Whether the agent serves `zip_code`.
pub async fn serves(db: &impl ConnectionTrait, agent_id: Uuid, zip_code: &str) -> Result<bool, AppError> {
    let row = delivery_agent_zip_code::Entity::find()
        .filter(delivery_agent_zip_code::Column::AgentId.eq(agent_id))
        .filter(delivery_agent_zip_code::Column::ZipCode.eq(zip_code))
        .one(db)
        .await?;
    Ok(row.is_some())
}

/// Which agents to list.
#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    /// Serving this zip code (uses `idx_delivery_agent_zip_codes_zip_code`).
    pub zip_code: Option<String>,
    /// Available or not.
    pub is_available: Option<bool>,
    /// ACTIVE or SUSPENDED.
    pub status: Option<AgentStatus>,
}

/// Indexed columns agents can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSort {
    /// `idx_delivery_agents_created_at`
    CreatedAt,
    /// unique `agent_code`
    AgentCode,
}

/// The sort key for agents.
pub fn agent_sort_key(sort: AgentSort, direction: Direction) -> SortKey<delivery_agent::Entity> {
    let (column, value): (delivery_agent::Column, fn(&delivery_agent::Model) -> SortValue) = match sort {
        AgentSort::CreatedAt => (delivery_agent::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
        AgentSort::AgentCode => (delivery_agent::Column::AgentCode, |m| SortValue::Text(m.agent_code.clone())),
    };
    SortKey { column, id: delivery_agent::Column::Id, direction, value, id_of: |m| m.id }
}

fn agents(viewer: Option<&Viewer>, filter: &AgentFilter) -> Option<Select<delivery_agent::Entity>> {
    use delivery_agent::Column as C;
    let mut select = delivery_agent::Entity::find();
    if let Some(zip) = &filter.zip_code {
        select = select.filter(
            C::Id.in_subquery(
                Query::select()
                    .column(delivery_agent_zip_code::Column::AgentId)
                    .from(delivery_agent_zip_code::Entity)
                    .and_where(delivery_agent_zip_code::Column::ZipCode.eq(zip.trim()))
                    .to_owned(),
            ),
        );
    }
    if let Some(available) = filter.is_available {
        select = select.filter(C::IsAvailable.eq(available));
    }
    if let Some(status) = filter.status {
        select = select.filter(C::Status.eq(status.to_value()));
    }
    access::delivery_agents(viewer).apply(select)
}

/// One page of agents.
pub async fn list_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AgentFilter,
    sort: &SortKey<delivery_agent::Entity>,
    page: &PageRequest,
) -> Result<Page<delivery_agent::Model>, AppError> {
    pagination::fetch(db, agents(viewer, filter), sort, page).await
}

/// How many agents match.
pub async fn count_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AgentFilter,
) -> Result<u64, AppError> {
    pagination::count(db, agents(viewer, filter)).await
}

/// Active, available agents serving `zip_code`, by agent code (at most 100).
/// The zip code lookup goes through `idx_delivery_agent_zip_codes_zip_code`.
pub async fn available_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    zip_code: &str,
) -> Result<Vec<delivery_agent::Model>, AppError> {
    let filter = AgentFilter {
        zip_code: Some(zip_code.trim().to_ascii_uppercase()),
        is_available: Some(true),
        status: Some(AgentStatus::Active),
    };
    let key = agent_sort_key(AgentSort::AgentCode, Direction::Asc);
    let page = list_agents(db, viewer, &filter, &key, &PageRequest::first(pagination::MAX_PAGE_SIZE)).await?;
    Ok(page.rows.into_iter().map(|(_, agent)| agent).collect())
}

/// Visible agents among `ids`, in one statement.
pub async fn agents_by_ids(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    ids: &[Uuid],
) -> Result<Vec<delivery_agent::Model>, AppError> {
    let select = delivery_agent::Entity::find().filter(delivery_agent::Column::Id.is_in(ids.iter().copied()));
    access::delivery_agents(viewer).all(db, select).await
}

/// Zip codes served by `agents`, in one statement.
pub async fn zip_codes_of(
    db: &impl ConnectionTrait,
    agents: &[Uuid],
) -> Result<Vec<delivery_agent_zip_code::Model>, AppError> {
    Ok(delivery_agent_zip_code::Entity::find()
        .filter(delivery_agent_zip_code::Column::AgentId.is_in(agents.iter().copied()))
        .order_by_asc(delivery_agent_zip_code::Column::ZipCode)
        .all(db)
        .await?)
}
