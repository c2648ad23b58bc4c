//! Shipping: delivery agents, the assignments that offer orders to them, the
//! delivery lifecycle, and agents' delivery metrics.
//!
//! - `agents`: registering agents, availability, service zip codes, the
//!   rules an agent must meet to take an order, and agent reads.
//! - `assignments`: which assignments the viewer sees, lists and batches.
//! - `lifecycle`: offer, accept (`FOR UPDATE NOWAIT`), pick up, transit,
//!   deliver (collecting cash on delivery), fail, withdraw.
//! - `metrics`: on-time and duration figures over delivered assignments,
//!   for many agents in one statement.

mod agents;
mod assignments;
mod lifecycle;
mod metrics;

pub use agents::{
    AgentFilter, AgentSort, MAX_ZIP_CODES, agent_sort_key, agents_by_ids, available_agents, count_agents, list_agents,
    register, set_availability, set_zip_codes, zip_codes, zip_codes_of,
};
pub use assignments::{
    AssignmentFilter, AssignmentSort, AssignmentWithAgent, assignment_sort_key, assignments_of_agents,
    assignments_of_orders, assignments_of_orders_select, assignments_with_agents_of_orders,
    assignments_with_agents_of_orders_select, count_assignments, count_assignments_of_agents, is_active,
    list_assignments,
};
pub use lifecycle::{
    NewAssignment, accept, acceptable_offer, advance, offer, require_agent, step_allowed, withdraw_all_for_order,
    withdraw_for_order,
};
pub use metrics::{AgentMetrics, MetricsWindow, authorize_metrics, metrics_of_agents};
