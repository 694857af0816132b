//! The web inbox's clerks and their sessions. A clerk acts as one of the gateway's client
//! systems; only password hashes and session-token hashes are kept.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{PendingEntry, audit_append, audit_begin};
use crate::{Store, StoreError, WebStore};

/// A clerk who logs in to the web inbox.
#[derive(Clone, PartialEq, Eq)]
pub struct WebUser {
    /// The login name.
    pub name: String,
    /// The password's hash, in the web module's self-describing format.
    pub password_hash: String,
    /// The client system the clerk acts as.
    pub client: String,
}

impl std::fmt::Debug for WebUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebUser").field("name", &self.name).field("client", &self.client).finish_non_exhaustive()
    }
}

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Whose it is.
    pub user: WebUser,
    /// When it ends (Unix seconds).
    pub expires_at: i64,
}

const CLIENT_EXISTS: &str = "SELECT COUNT(*) FROM gw_clients WHERE id = $1";
const USER_EXISTS: &str = "SELECT COUNT(*) FROM gw_web_users WHERE name = $1";
const INSERT_USER: &str = "INSERT INTO gw_web_users (name, password_hash, client, created_at) VALUES ($1, $2, $3, $4)";
const USER: &str = "SELECT name, password_hash, client FROM gw_web_users WHERE name = $1";
const PURGE_SESSIONS: &str = "DELETE FROM gw_web_sessions WHERE expires_at <= $1";
const INSERT_SESSION: &str =
    "INSERT INTO gw_web_sessions (token_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)";
const SESSION: &str = "SELECT u.name, u.password_hash, u.client, s.expires_at FROM gw_web_sessions s \
     JOIN gw_web_users u ON u.name = s.user_name WHERE s.token_hash = $1 AND s.expires_at > $2";
const DELETE_SESSION: &str = "DELETE FROM gw_web_sessions WHERE token_hash = $1";

impl WebStore for Store {
    async fn add_web_user(&self, user: &WebUser, at: OffsetDateTime) -> Result<(), StoreError> {
        let entry = PendingEntry::new("cli", "web-user.created", json!({"name": user.name, "client": user.client}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let (clients,): (i64,) = sqlx::query_as(CLIENT_EXISTS).bind(&user.client).fetch_one(&mut *tx).await?;
            if clients == 0 {
                return Err(StoreError::UnknownClient(user.client.clone()));
            }
            let (users,): (i64,) = sqlx::query_as(USER_EXISTS).bind(&user.name).fetch_one(&mut *tx).await?;
            if users > 0 {
                return Err(StoreError::WebUserExists(user.name.clone()));
            }
            sqlx::query(INSERT_USER).bind(&user.name).bind(&user.password_hash).bind(&user.client)
                .bind(at.unix_timestamp()).execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn web_user(&self, name: &str) -> Result<Option<WebUser>, StoreError> {
        let row: Option<(String, String, String)> =
            on_backend!(self, pool => sqlx::query_as(USER).bind(name).fetch_optional(pool).await?);
        Ok(row.map(|(name, password_hash, client)| WebUser { name, password_hash, client }))
    }

    async fn open_web_session(
        &self,
        token_hash: &str,
        user: &str,
        expires_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(PURGE_SESSIONS).bind(at.unix_timestamp()).execute(&mut *tx).await?;
            sqlx::query(INSERT_SESSION).bind(token_hash).bind(user).bind(at.unix_timestamp())
                .bind(expires_at.unix_timestamp()).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn web_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<WebSession>, StoreError> {
        let row: Option<(String, String, String, i64)> = on_backend!(self, pool =>
            sqlx::query_as(SESSION).bind(token_hash).bind(now.unix_timestamp()).fetch_optional(pool).await?);
        Ok(row.map(|(name, password_hash, client, expires_at)| WebSession {
            user: WebUser { name, password_hash, client },
            expires_at,
        }))
    }

    async fn close_web_session(&self, token_hash: &str) -> Result<(), StoreError> {
        on_backend!(self, pool => { sqlx::query(DELETE_SESSION).bind(token_hash).execute(pool).await?; });
        Ok(())
    }
}
