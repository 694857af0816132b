-- What a gateway's message log records beyond the inbox and outbox rows: the SHA-256 of each
-- received package's sealed bytes as they travelled (the sender's outbox and the hub keep the
-- same hash), the status code a queued status package reports, and the packages refused on the
-- way in (once per package and recipient). The log itself is the audit chain (audit_log),
-- anchored by RFC 3161 time-stamp tokens kept as its checkpoints (audit_checkpoints.signature).
ALTER TABLE gw_inbox ADD COLUMN sealed_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE gw_outbox ADD COLUMN status_code TEXT;

CREATE TABLE gw_refusals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id    TEXT NOT NULL,
    hub_delivery  BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    sender        TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    sealed_sha256 TEXT NOT NULL,
    reason        TEXT NOT NULL,
    refused_at    BIGINT NOT NULL,
    UNIQUE (package_id, recipient)
);
