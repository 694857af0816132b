//! The document exchange's logic, without IO: which mailbox collects each recipient's copy.
//! The hub and the gateways (issue 5) are built on it.

mod routing;
pub mod sdk;

pub use routing::{MAX_RECIPIENTS, Registry, RouteError};
