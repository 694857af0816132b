-- Who may act through the API: accounts with a role, bound to an agency where the role needs one.
-- Only a SHA-256 hash of each account's API token is kept.
CREATE TABLE ca_accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('subscriber', 'officer', 'operator')),
    agency      TEXT,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Certificate requests; their state is the latest appended event.
CREATE TABLE ca_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL CHECK (kind IN ('new', 'renew', 'reissue')),
    profile      TEXT NOT NULL,
    subject      TEXT NOT NULL,
    agency       TEXT,
    public_key   BLOB NOT NULL,
    csr          BLOB,
    sealed_key   TEXT,
    replaces     TEXT REFERENCES ca_certificates (serial),
    requested_by TEXT NOT NULL REFERENCES ca_accounts (id),
    created_at   BIGINT NOT NULL
);

CREATE TABLE ca_request_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  BIGINT NOT NULL REFERENCES ca_requests (id),
    event       TEXT NOT NULL CHECK (event IN ('submitted', 'approved', 'rejected', 'issued')),
    actor       TEXT NOT NULL,
    note        TEXT,
    serial      TEXT REFERENCES ca_certificates (serial),
    at          BIGINT NOT NULL
);
CREATE INDEX ca_request_events_request ON ca_request_events (request_id, id);

-- The audit log: a hash chain, each entry's hash covering the previous one. Append-only.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

-- Signed statements "the chain up to seq ends in hash".
CREATE TABLE audit_checkpoints (
    seq         BIGINT PRIMARY KEY REFERENCES audit_log (seq),
    hash        TEXT NOT NULL,
    signature   BLOB NOT NULL,
    at          BIGINT NOT NULL
);

INSERT INTO ca_counters (name, value) VALUES ('audit_seq', 0);
