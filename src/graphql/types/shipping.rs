//! `DeliveryAgent` and `ShippingAssignment`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use crate::domain::lookup::EntityKind;
use crate::graphql::node::encode;
use crate::graphql::types::{AgentStatus, AssignmentStatus};

/// Someone who delivers orders.
pub struct DeliveryAgent(pub entity::delivery_agent::Model);

#[Object]
impl DeliveryAgent {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::DeliveryAgent, self.0.id)
    }
    /// Short public code.
    async fn agent_code(&self) -> &str {
        &self.0.agent_code
    }
    /// ACTIVE or SUSPENDED.
    async fn status(&self) -> AgentStatus {
        self.0.status.into()
    }
    /// Whether the agent takes work now.
    async fn is_available(&self) -> bool {
        self.0.is_available
    }
    /// When the agent was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An order offered to, and carried by, an agent.
pub struct ShippingAssignment(pub entity::shipping_assignment::Model);

#[Object]
impl ShippingAssignment {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::ShippingAssignment, self.0.id)
    }
    /// Lifecycle state.
    async fn status(&self) -> AssignmentStatus {
        self.0.status.into()
    }
    /// Promised delivery time.
    async fn estimated_delivery_time(&self) -> Option<DateTime<Utc>> {
        self.0.estimated_delivery_time
    }
    /// When an agent accepted.
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at
    }
    /// When the parcel was collected.
    async fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.0.picked_up_at
    }
    /// When it was delivered.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// Why it failed.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }
    /// Optimistic-lock version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
