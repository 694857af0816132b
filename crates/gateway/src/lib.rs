//! An agency's gateway ("secure server"), the part that does no IO: what happens to a package on
//! the way out (validated, signed with the agency's seal key, sealed for each recipient's
//! gateway) and on the way in (opened, its signature verified, its signer's chain and revocation
//! checked, parsed). The service around it (HTTP API, outbox and inbox workers) uses these.
//!
//! A package accepted on the way in is an [`Opened`]: only [`open_package`] makes one, after
//! every check passed, so code holding one holds the proof.

pub mod admission;
pub mod api;
pub mod compose;
mod directory;
mod incoming;
mod intake;
pub mod log;
mod outgoing;
pub mod sdk_api;
mod served;
mod service;
mod trust;
pub mod web;

pub use incoming::{Opened, Refusal, Unsealing, check_package, open_package, unseal};
pub use intake::IntakeLimit;
pub use outgoing::{OutgoingError, Sealed, Signer, seal_package};
pub use service::{GATEWAY_CLIENT, Gateway, GatewayError, GatewayKeys, MAX_PACKAGE_BYTES};
pub use trust::{Trust, TrustError};
