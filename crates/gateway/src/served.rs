//! Which agencies this gateway acts for: its own, and the units whose copies the hub routes to
//! it. The hub's answer for an agency is reused for a minute, and kept in the store
//! (`gw_agency_routes`) so that the last one known still decides while the hub cannot be
//! reached, also after a restart.

use std::time::{Duration, Instant};

use store::{AgencyRoute, GatewayStore};
use time::OffsetDateTime;

use crate::service::hub_reason;
use crate::{Gateway, GatewayError};

/// How long the hub's answer about an agency is used without asking again.
pub(crate) const ROUTE_FRESH: Duration = Duration::from_secs(60);

impl Gateway {
    /// Refuses a submission from `sender` unless this gateway acts for it: its own agency (no
    /// hub call), or one whose copies the hub routes to this gateway.
    pub(crate) async fn check_sender(&self, sender: &str) -> Result<(), GatewayError> {
        self.acts_for(sender)
            .await?
            .map_err(|reason| GatewayError::SenderNotServed { sender: sender.to_owned(), reason })
    }

    /// `Ok(Ok(()))` if this gateway acts for `code`, `Ok(Err(why not))` if the hub's answer
    /// (fresh, or the last known while the hub cannot be reached) says it does not.
    pub(crate) async fn acts_for(&self, code: &str) -> Result<Result<(), String>, GatewayError> {
        if code == self.agency().as_str() {
            return Ok(Ok(()));
        }
        Ok(match self.agency_route(code).await? {
            AgencyRoute::Mailbox(mailbox) if mailbox == self.agency().as_str() => Ok(()),
            AgencyRoute::Mailbox(mailbox) => Err(format!("the hub delivers its documents to {mailbox}")),
            AgencyRoute::Unrouted(reason) => Err(reason),
        })
    }

    /// The hub's answer about `code`: from memory for a minute, else asked again; while the hub
    /// cannot be reached, the last one known (in memory, else in the store).
    async fn agency_route(&self, code: &str) -> Result<AgencyRoute, GatewayError> {
        let known = self.routes.lock().unwrap_or_else(|e| e.into_inner()).get(code).cloned();
        if let Some((route, at)) = &known
            && at.elapsed() < ROUTE_FRESH
        {
            return Ok(route.clone());
        }
        match self.ask_route(code).await {
            Ok(route) => {
                if known.as_ref().is_none_or(|(old, _)| *old != route) {
                    self.store().remember_agency_route(code, &route, OffsetDateTime::now_utc()).await?;
                }
                let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
                routes.insert(code.to_owned(), (route.clone(), Instant::now()));
                Ok(route)
            }
            Err(GatewayError::Hub(reason)) => match known {
                Some((route, _)) => Ok(route),
                None => self.store().last_agency_route(code).await?.ok_or(GatewayError::Hub(reason)),
            },
            Err(e) => Err(e),
        }
    }

    /// Asks the hub where `code`'s copies go (the mailbox it names with the agency's certificate).
    async fn ask_route(&self, code: &str) -> Result<AgencyRoute, GatewayError> {
        let (status, mailbox, body) = self.hub_certificate(code).await?;
        if status.is_client_error() {
            return Ok(AgencyRoute::Unrouted(hub_reason(&body)));
        }
        if !status.is_success() {
            return Err(GatewayError::Hub(format!("{status}: {}", hub_reason(&body))));
        }
        mailbox
            .map(AgencyRoute::Mailbox)
            .ok_or_else(|| GatewayError::Hub("the hub named no mailbox for the agency".into()))
    }
}
