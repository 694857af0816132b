-- The last certificate the hub gave for each recipient (its gateway's, or its parent's), so a
-- gateway restarted while the hub cannot be reached still seals documents for the recipients it
-- knew: the hub is asked again after a minute, and this copy serves only while it cannot answer.
-- Nothing to backfill: certificates were kept only in memory before.
CREATE TABLE gw_recipient_certificates (
    recipient   TEXT PRIMARY KEY,
    certificate BYTEA NOT NULL,
    fetched_at  BIGINT NOT NULL
);
