-- Deliveries this gateway failed to take in (the signer's revocation status unknown, a
-- transient error), per package and recipient: how often and since when, and when to try
-- again. Past the gateway's limit (attempts or time since the first failure) the delivery is
-- refused with a signed status 02 instead of being retried forever. Nothing to backfill:
-- failures were not kept before.
CREATE TABLE gw_intake_failures (
    package_id      TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    hub_delivery    BIGINT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at  BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT NOT NULL,
    PRIMARY KEY (package_id, recipient)
);
