//! The document exchange's logic, without IO: which mailbox collects each recipient's copy, and
//! by when its receipt is due (Decree 30/2020).
//! The hub and the gateways (issue 5) are built on it.

mod deadline;
mod routing;
pub mod sdk;

pub use deadline::receipt_due;
pub use routing::{MAX_RECIPIENTS, Registry, RouteError};

/// The most deliveries a gateway acknowledges to the hub in one request (its mailbox pages are
/// smaller).
pub const MAX_ACKNOWLEDGED_AT_ONCE: usize = 1000;
