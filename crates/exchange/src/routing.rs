//! Routing over the agency registry: a recipient's copy goes to the mailbox serving it, or, for a
//! unit without a gateway of its own (levels 2–4), to the nearest agency above it that has one.

use std::collections::HashMap;

use edxml::AgencyCode;
use store::{AgencyRecord, Route};

/// Most agencies walked up from a recipient to find a mailbox.
const MAX_DEPTH: usize = 8;

/// Most recipients of one package.
pub const MAX_RECIPIENTS: usize = 512;

/// Why a package cannot be routed. Nothing is stored when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The recipient is not in the registry.
    #[error("unknown recipient {0}: it is not registered with the hub")]
    UnknownRecipient(String),
    /// Neither the recipient nor any agency above it has a mailbox.
    #[error("recipient {0} has no gateway, and no agency above it has one")]
    NoMailbox(String),
    /// No recipients.
    #[error("a package needs at least one recipient")]
    NoRecipients,
    /// Too many recipients.
    #[error("{0} recipients; at most {MAX_RECIPIENTS} per package")]
    TooManyRecipients(usize),
}

/// A snapshot of the agency registry, for routing.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    agencies: HashMap<String, AgencyRecord>,
}

impl Registry {
    /// A registry of `agencies`.
    pub fn new(agencies: impl IntoIterator<Item = AgencyRecord>) -> Self {
        Self { agencies: agencies.into_iter().map(|a| (a.code.clone(), a)).collect() }
    }

    /// The agency with `code`.
    pub fn get(&self, code: &AgencyCode) -> Option<&AgencyRecord> {
        self.agencies.get(code.as_str())
    }

    /// Where `recipient`'s copy goes.
    pub fn route(&self, recipient: &AgencyCode) -> Result<Route, RouteError> {
        if self.get(recipient).is_none() {
            return Err(RouteError::UnknownRecipient(recipient.to_string()));
        }
        let mut current = Some(recipient.clone());
        // Codes have at most four levels; the bound also stops a registry whose parents loop.
        for _ in 0..MAX_DEPTH {
            let Some(code) = current else { break };
            let served = self.get(&code).and_then(|a| a.mailbox.clone());
            if let Some(mailbox) = served {
                return Ok(Route { recipient: recipient.to_string(), mailbox });
            }
            current = self
                .get(&code)
                .and_then(|a| a.parent.as_deref())
                .and_then(|p| AgencyCode::parse(p).ok())
                .or_else(|| code.parent());
        }
        Err(RouteError::NoMailbox(recipient.to_string()))
    }

    /// Routes for every recipient, each once, in the order given.
    pub fn routes(&self, recipients: &[AgencyCode]) -> Result<Vec<Route>, RouteError> {
        if recipients.is_empty() {
            return Err(RouteError::NoRecipients);
        }
        if recipients.len() > MAX_RECIPIENTS {
            return Err(RouteError::TooManyRecipients(recipients.len()));
        }
        let mut routes: Vec<Route> = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            if routes.iter().all(|r| r.recipient != recipient.as_str()) {
                routes.push(self.route(recipient)?);
            }
        }
        Ok(routes)
    }
}
