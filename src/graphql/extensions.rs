//! Schema extensions.

/// Fresh dataloader caches for each root mutation field.
pub mod fresh_loaders;
/// `slow_resolver_detected` events.
pub mod slow_resolver;
