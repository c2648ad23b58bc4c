//! The order state machine and who may move an order, as pure functions.
//!
//! ```text
//! PENDING --confirm--> CONFIRMED --pick up--> SHIPPING --deliver--> DELIVERED
//!    \                    |  ^                  |
//!     `----cancel---------+  `---delivery failed-'
//!                         v
//!                     CANCELLED
//! ```
//! SHIPPING, DELIVERED and the return to CONFIRMED after a failed delivery
//! follow the shipping assignment; they are never set directly by a buyer or
//! seller. A cancel after shipping has its own rule
//! (`ORDER_CANNOT_CANCEL_AFTER_SHIPPING`) so clients can tell it apart.

use entity::OrderStatus;
use sea_orm::ActiveEnum;
use serde_json::json;

use crate::error::AppError;

/// How the caller relates to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The order's buyer.
    Buyer,
    /// The order's seller.
    Seller,
    /// The delivery flow (the agent of the order's assignment).
    Delivery,
    /// A platform admin.
    Admin,
}

impl Party {
    /// How a message names the party.
    fn noun(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Delivery => "delivery agent",
            Self::Admin => "admin",
        }
    }
}

/// Whether the state machine has an edge `from -> to`.
pub fn is_allowed(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (Pending, Confirmed)
            | (Confirmed, Shipping)
            | (Shipping, Delivered)
            | (Shipping, Confirmed)
            | (Pending | Confirmed, Cancelled)
    )
}

/// Whether a status is final.
pub fn is_terminal(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Delivered | OrderStatus::Cancelled)
}

/// `ORDER_DELETED` for a soft-deleted order: no lifecycle step (status
/// change, payment, offer, pick-up, delivery) moves it until it is restored.
pub fn ensure_live(order: &entity::order::Model) -> Result<(), AppError> {
    match order.deleted_at {
        None => Ok(()),
        Some(at) => Err(AppError::rule(
            "ORDER_DELETED",
            "The order was deleted; an admin may restore it",
            json!({ "orderId": order.id, "deletedAt": at }),
        )),
    }
}

/// Checks the edge `from -> to`, with the rule a client can act on.
pub fn check_transition(from: OrderStatus, to: OrderStatus) -> Result<(), AppError> {
    if is_allowed(from, to) {
        return Ok(());
    }
    let context = json!({ "currentStatus": from.to_value(), "requestedStatus": to.to_value() });
    if to == OrderStatus::Cancelled && matches!(from, OrderStatus::Shipping | OrderStatus::Delivered) {
        return Err(AppError::rule(
            "ORDER_CANNOT_CANCEL_AFTER_SHIPPING",
            "An order cannot be cancelled once it has shipped",
            context,
        ));
    }
    Err(AppError::rule(
        "INVALID_STATUS_TRANSITION",
        format!("An order cannot move from {} to {}", from.to_value(), to.to_value()),
        context,
    ))
}

/// Checks that `party` may request `from -> to` (the edge itself is checked
/// by [`check_transition`]): the seller (or an admin) confirms a pending
/// order; shipping, delivery and the return of a shipping order to
/// CONFIRMED (a failed delivery) follow the assignment alone, so no one can
/// pull an order out from under an agent who holds it; buyer, seller or
/// admin cancel.
pub fn check_party(party: Party, from: OrderStatus, to: OrderStatus) -> Result<(), AppError> {
    use OrderStatus::*;
    if from == Shipping && to == Confirmed && party != Party::Delivery {
        return Err(AppError::rule(
            "ORDER_IN_DELIVERY",
            "The order is out for delivery; only its delivery (a failed one) returns it to CONFIRMED",
            json!({ "currentStatus": from.to_value(), "requestedStatus": to.to_value() }),
        ));
    }
    let allowed = match to {
        Confirmed => matches!(party, Party::Seller | Party::Admin | Party::Delivery),
        Shipping | Delivered => party == Party::Delivery,
        Cancelled => matches!(party, Party::Buyer | Party::Seller | Party::Admin),
        Pending => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("The {} may not set an order to {}", party.noun(), to.to_value()).into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sea_orm::Iterable;

    const EDGES: [(OrderStatus, OrderStatus); 6] = [
        (OrderStatus::Pending, OrderStatus::Confirmed),
        (OrderStatus::Confirmed, OrderStatus::Shipping),
        (OrderStatus::Shipping, OrderStatus::Delivered),
        (OrderStatus::Shipping, OrderStatus::Confirmed),
        (OrderStatus::Pending, OrderStatus::Cancelled),
        (OrderStatus::Confirmed, OrderStatus::Cancelled),
    ];

    #[test]
    fn exactly_the_designed_edges_are_allowed_among_every_pair() {
        for from in OrderStatus::iter() {
            for to in OrderStatus::iter() {
                assert_eq!(is_allowed(from, to), EDGES.contains(&(from, to)), "{from:?} -> {to:?}");
                assert_eq!(check_transition(from, to).is_ok(), EDGES.contains(&(from, to)));
            }
        }
    }

    #[test]
    fn refusals_name_their_rule_and_both_statuses() {
        let rule = |from, to| match check_transition(from, to) {
            Err(AppError::BusinessRule { rule, context, .. }) => (rule, context),
            other => panic!("expected a rule, got {other:?}"),
        };
        let (name, context) = rule(OrderStatus::Shipping, OrderStatus::Cancelled);
        assert_eq!(name, "ORDER_CANNOT_CANCEL_AFTER_SHIPPING");
        assert_eq!(context["currentStatus"], "SHIPPING");
        let (name, context) = rule(OrderStatus::Delivered, OrderStatus::Pending);
        assert_eq!(name, "INVALID_STATUS_TRANSITION");
        assert_eq!(context["requestedStatus"], "PENDING");
    }

    #[test]
    fn who_may_do_what() {
        assert!(check_party(Party::Seller, OrderStatus::Pending, OrderStatus::Confirmed).is_ok());
        assert!(check_party(Party::Buyer, OrderStatus::Pending, OrderStatus::Confirmed).is_err());
        assert!(check_party(Party::Seller, OrderStatus::Confirmed, OrderStatus::Shipping).is_err());
        assert!(check_party(Party::Delivery, OrderStatus::Shipping, OrderStatus::Delivered).is_ok());
        assert!(check_party(Party::Delivery, OrderStatus::Shipping, OrderStatus::Confirmed).is_ok());
        assert!(check_party(Party::Admin, OrderStatus::Shipping, OrderStatus::Confirmed).is_err());
        assert!(check_party(Party::Admin, OrderStatus::Pending, OrderStatus::Confirmed).is_ok());
        for party in [Party::Buyer, Party::Seller, Party::Admin] {
            assert!(check_party(party, OrderStatus::Confirmed, OrderStatus::Cancelled).is_ok());
        }
        assert!(check_party(Party::Delivery, OrderStatus::Confirmed, OrderStatus::Cancelled).is_err());
        let refused = check_party(Party::Buyer, OrderStatus::Pending, OrderStatus::Confirmed).expect_err("refused");
        assert_eq!(refused.to_string(), "The buyer may not set an order to CONFIRMED");
    }

    fn status() -> impl Strategy<Value = OrderStatus> {
        prop::sample::select(OrderStatus::iter().collect::<Vec<_>>())
    }

    proptest! {
        /// Applying random requests, keeping only the accepted ones, never
        /// leaves a terminal state and only ever walks designed edges.
        #[test]
        fn random_requests_never_reach_an_illegal_state(requests in prop::collection::vec(status(), 0..40)) {
            let mut current = OrderStatus::Pending;
            let mut path = vec![current];
            for to in requests {
                let was_terminal = is_terminal(current);
                if check_transition(current, to).is_ok() {
                    prop_assert!(!was_terminal, "left terminal state {current:?}");
                    prop_assert!(EDGES.contains(&(current, to)));
                    current = to;
                    path.push(current);
                }
            }
            // Cancelled only ever follows PENDING or CONFIRMED; delivered only SHIPPING.
            for pair in path.windows(2) {
                match pair[1] {
                    OrderStatus::Cancelled => prop_assert!(matches!(pair[0], OrderStatus::Pending | OrderStatus::Confirmed)),
                    OrderStatus::Delivered => prop_assert_eq!(pair[0], OrderStatus::Shipping),
                    OrderStatus::Pending => prop_assert!(false, "nothing returns to PENDING"),
                    _ => {}
                }
            }
        }
    }
}
