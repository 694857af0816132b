-- A gateway's records. Each agency's gateway has its own store.

-- The agency's client systems (document-management systems) and their API keys (hashes only).
CREATE TABLE gw_clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Client systems that speak the Government Office SDK's protocol: its HMAC needs the secret
-- itself, so it is kept (unlike API keys, of which only hashes are kept).
CREATE TABLE gw_sdk_systems (
    system_id   TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES gw_clients (id),
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Outgoing packages, signed and sealed, held until the hub has acknowledged them. A client's
-- own reference makes a submission idempotent: the same reference again is the same package.
CREATE TABLE gw_outbox (
    id              BIGSERIAL PRIMARY KEY,
    package_id      TEXT NOT NULL UNIQUE,
    client          TEXT NOT NULL,
    client_ref      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    document_id     TEXT,
    blob            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- Scheduling of the next attempt (a projection of the appended attempt events).
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    sent_at         BIGINT,
    UNIQUE (client, client_ref)
);
CREATE INDEX gw_outbox_due ON gw_outbox (sent_at, next_attempt_at);

CREATE TABLE gw_outbox_events (
    id          BIGSERIAL PRIMARY KEY,
    package_id  TEXT NOT NULL REFERENCES gw_outbox (package_id),
    event       TEXT NOT NULL CHECK (event IN ('queued', 'failed', 'sent')),
    note        TEXT,
    at          BIGINT NOT NULL
);

-- Incoming packages, each once (by package id), after their signature, chain and revocation
-- were checked and they were decrypted. `blob` holds the verified edXML.
CREATE TABLE gw_inbox (
    id          BIGSERIAL PRIMARY KEY,
    package_id  TEXT NOT NULL UNIQUE,
    hub_delivery BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    sender      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    document_id TEXT,
    subject     TEXT,
    signer      TEXT NOT NULL,
    blob        TEXT NOT NULL,
    size        BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX gw_inbox_recipient ON gw_inbox (recipient, id);

CREATE TABLE gw_inbox_events (
    id          BIGSERIAL PRIMARY KEY,
    package_id  TEXT NOT NULL REFERENCES gw_inbox (package_id),
    event       TEXT NOT NULL CHECK (event IN ('arrived', 'acknowledged')),
    actor       TEXT NOT NULL,
    at          BIGINT NOT NULL
);
