-- The web inbox and outbox, for agencies without a document-management system.

-- What a package was about, kept for the sender's own view: the outbox cannot be read back once
-- sealed for its recipients. A document's "trích yếu"; a status's code and label.
ALTER TABLE gw_outbox ADD COLUMN subject TEXT;
-- The statuses about a document, sent and received.
CREATE INDEX gw_outbox_about ON gw_outbox (document_id, kind);
CREATE INDEX gw_inbox_about ON gw_inbox (document_id, kind);

-- Clerks who log in to the web inbox. Each acts as one of the gateway's client systems.
-- `password_hash` is PBKDF2-HMAC-SHA256 with its own random salt and iteration count
-- (`pbkdf2-sha256$<iterations>$<salt>$<hash>`, base64); the password itself is never kept.
CREATE TABLE gw_web_users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    client        TEXT NOT NULL REFERENCES gw_clients (id),
    created_at    BIGINT NOT NULL
);

-- Logged-in sessions: only the SHA-256 of the random token in the browser's cookie is kept.
-- Ended and expired sessions are deleted.
CREATE TABLE gw_web_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL REFERENCES gw_web_users (name),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX gw_web_sessions_expiry ON gw_web_sessions (expires_at);
