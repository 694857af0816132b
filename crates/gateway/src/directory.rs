//! The hub's registry of agencies as a gateway sees it: codes and names, fetched at most once a
//! minute and reused (a stale copy while the hub cannot be reached), for the web's pages and
//! for the names written into packages the gateway builds (the web's send form and
//! `POST /api/v1/documents`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Gateway, GatewayError};

/// How long the hub's registry is reused before it is asked again.
const DIRECTORY_TTL: Duration = Duration::from_secs(60);
/// How long to wait for the hub's registry.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);
/// An agency of the hub's registry.
#[derive(Debug, Clone)]
pub(crate) struct Agency {
    pub(crate) code: String,
    pub(crate) name: String,
}

/// The hub's registry, fetched at most once a minute.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    cache: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Agency>>)>>,
}

impl Directory {
    /// The registry; a stale copy if the hub cannot be reached now.
    pub(crate) async fn agencies(&self, gateway: &Gateway) -> Result<Arc<Vec<Agency>>, GatewayError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, list)) = cache.as_ref()
            && at.elapsed() < DIRECTORY_TTL
        {
            return Ok(list.clone());
        }
        let fetched = tokio::time::timeout(DIRECTORY_TIMEOUT, gateway.hub_agencies()).await;
        match fetched {
            Ok(Ok(value)) => {
                let list = Arc::new(parse_agencies(&value));
                *cache = Some((Instant::now(), list.clone()));
                Ok(list)
            }
            Ok(Err(error)) => cache.as_ref().map(|(_, list)| list.clone()).ok_or(error),
            Err(_) => cache
                .as_ref()
                .map(|(_, list)| list.clone())
                .ok_or_else(|| GatewayError::Hub("the registry did not answer in time".into())),
        }
    }

    /// Agency names, or none if the hub cannot be reached (pages then show codes).
    pub(crate) async fn names(&self, gateway: &Gateway) -> AgencyNames {
        AgencyNames(self.agencies(gateway).await.unwrap_or_default())
    }
}

fn parse_agencies(value: &serde_json::Value) -> Vec<Agency> {
    let mut list: Vec<Agency> = value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| {
                    let code = a["code"].as_str()?.to_owned();
                    let name = a["name"].as_str().filter(|n| !n.trim().is_empty()).unwrap_or(&code).to_owned();
                    Some(Agency { code, name })
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// Names of the hub's agencies, by code.
#[derive(Debug, Default)]
pub(crate) struct AgencyNames(pub(crate) Arc<Vec<Agency>>);

impl AgencyNames {
    /// The registry's name of `code`, if it has one other than the code.
    pub(crate) fn name(&self, code: &str) -> Option<&str> {
        self.0.iter().find(|a| a.code == code).map(|a| a.name.as_str()).filter(|n| *n != code)
    }

    /// `Name (code)`, or the code alone.
    pub(crate) fn describe(&self, code: &str) -> String {
        match self.name(code) {
            Some(name) => format!("{name} ({code})"),
            None => code.to_owned(),
        }
    }
}
