//! The web inbox's clerks and their sessions. A clerk acts as one of the gateway's client
//! systems; only password hashes and session-token hashes are kept.

use serde_json::json;
use time::{Duration, OffsetDateTime};

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

/// How failed web logins lock a login name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLockout {
    /// Failed logins in a row that lock the name.
    pub max_failures: i64,
    /// How long the lock lasts.
    pub lock_for: Duration,
    /// How long the failures of a name not locked are remembered after the last one.
    pub forget_after: Duration,
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
const LOCKED_UNTIL: &str = "SELECT locked_until FROM gw_web_login_failures WHERE name = $1 AND locked_until > $2";
const FORGET_FAILURES: &str =
    "DELETE FROM gw_web_login_failures WHERE last_failure_at < $1 AND (locked_until IS NULL OR locked_until <= $2)";
const COUNT_FAILURE: &str = "INSERT INTO gw_web_login_failures (name, failures, last_failure_at) VALUES ($1, 1, $2) \
     ON CONFLICT (name) DO UPDATE SET failures = gw_web_login_failures.failures + 1, last_failure_at = $2 \
     RETURNING failures";
const LOCK: &str = "UPDATE gw_web_login_failures SET failures = 0, locked_until = $1 WHERE name = $2";
const CLEAR_FAILURES: &str = "DELETE FROM gw_web_login_failures WHERE name = $1";

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

    async fn web_login_locked_until(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let row: Option<(Option<i64>,)> = on_backend!(self, pool =>
            sqlx::query_as(LOCKED_UNTIL).bind(name).bind(now.unix_timestamp()).fetch_optional(pool).await?);
        row.and_then(|(until,)| until).map(unix_time).transpose()
    }

    async fn web_login_failed(
        &self,
        name: &str,
        at: OffsetDateTime,
        policy: &LoginLockout,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let until = at + policy.lock_for;
        let entry =
            PendingEntry::new("web", "web-user.locked", json!({"name": name, "until": until.unix_timestamp()}), at);
        let forget_before = (at - policy.forget_after).unix_timestamp();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(FORGET_FAILURES).bind(forget_before).bind(at.unix_timestamp()).execute(&mut *tx).await?;
            let (failures,): (i64,) =
                sqlx::query_as(COUNT_FAILURE).bind(name).bind(at.unix_timestamp()).fetch_one(&mut *tx).await?;
            if failures < policy.max_failures {
                tx.commit().await?;
                return Ok(None);
            }
            sqlx::query(LOCK).bind(until.unix_timestamp()).bind(name).execute(&mut *tx).await?;
            let (known,): (i64,) = sqlx::query_as(USER_EXISTS).bind(name).fetch_one(&mut *tx).await?;
            if known > 0 {
                // Only a clerk's name goes to the permanent log: an unknown one may be a password
                // typed in the wrong field.
                let seq = audit_begin!(tx);
                audit_append!(tx, seq, &entry);
            }
            tx.commit().await?;
        });
        Ok(Some(until))
    }

    async fn web_login_succeeded(&self, name: &str) -> Result<(), StoreError> {
        on_backend!(self, pool => { sqlx::query(CLEAR_FAILURES).bind(name).execute(pool).await?; });
        Ok(())
    }

    async fn unlock_web_login(&self, name: &str, at: OffsetDateTime) -> Result<Option<OffsetDateTime>, StoreError> {
        let until: Option<i64> = on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let (users,): (i64,) = sqlx::query_as(USER_EXISTS).bind(name).fetch_one(&mut *tx).await?;
            if users == 0 {
                return Err(StoreError::UnknownWebUser(name.to_owned()));
            }
            let locked: Option<(Option<i64>,)> = sqlx::query_as(LOCKED_UNTIL).bind(name).bind(at.unix_timestamp())
                .fetch_optional(&mut *tx).await?;
            let until = locked.and_then(|(until,)| until);
            let entry = PendingEntry::new("cli", "web-user.unlocked", json!({"name": name, "locked_until": until}), at);
            sqlx::query(CLEAR_FAILURES).bind(name).execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
            until
        });
        until.map(unix_time).transpose()
    }
}

fn unix_time(seconds: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| StoreError::Corrupt(format!("time {seconds}")))
}
