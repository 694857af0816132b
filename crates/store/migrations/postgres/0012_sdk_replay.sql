-- Signatures (XroadVnpt-hash-header) of SDK requests a gateway accepted, per calling system, so
-- the same signed request sent again while its timestamp is still fresh is refused as a replay.
-- Every hub process or gateway sharing this store sees the same set. `valid_until` is the
-- request's timestamp plus the freshness window: after it the request is refused as stale
-- anyway, and the row is pruned. Nothing to backfill: no signature was kept before.
CREATE TABLE gw_sdk_signatures (
    system_id   TEXT NOT NULL,
    signature   TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    PRIMARY KEY (system_id, signature)
);
CREATE INDEX gw_sdk_signatures_valid_until ON gw_sdk_signatures (valid_until);
