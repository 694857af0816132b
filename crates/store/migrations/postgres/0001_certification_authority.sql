-- Certificates the authority issued, and every change of their status as an appended event.
CREATE TABLE ca_certificates (
    serial      TEXT PRIMARY KEY,
    profile     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    agency      TEXT,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    der         BYTEA NOT NULL,
    issued_at   BIGINT NOT NULL
);

CREATE TABLE ca_status_events (
    id          BIGSERIAL PRIMARY KEY,
    serial      TEXT NOT NULL REFERENCES ca_certificates (serial),
    event       TEXT NOT NULL CHECK (event IN ('revoked', 'suspended', 'unsuspended')),
    reason      BIGINT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX ca_status_events_serial ON ca_status_events (serial, id);

-- Monotonic counters (CRL numbers).
CREATE TABLE ca_counters (
    name        TEXT PRIMARY KEY,
    value       BIGINT NOT NULL
);
INSERT INTO ca_counters (name, value) VALUES ('crl_number', 0);
