//! Orders: what buyers buy from sellers, and their lifecycle.
//!
//! - `rules`: the state machine and who may move an order (pure).
//! - `lifecycle`: placing, confirming, cancelling (with the payment settled
//!   and offers withdrawn in the same transaction), soft delete and restore;
//!   every status change is optimistic-locked.
//! - `queries`: lists, lookups and items, within the access rules.
//! - `related`: orders and their relations, read together from one snapshot.

mod lifecycle;
mod queries;
mod related;
mod rules;

pub use lifecycle::{MAX_ITEMS, MAX_QUANTITY, NewItem, NewOrder, StatusChange, change_status, create, set_deleted};
pub use queries::{
    OrderFilter, OrderSort, by_ids, by_ids_select, count, for_change, items_of, items_of_select, list_with_related,
    sort_key,
};
pub use related::{Columns, Include, Related, TableColumns, by_id_with_related, by_number_with_related};
pub use rules::{Party, check_party, check_transition, ensure_live, is_allowed, is_terminal};
