-- Failed web logins, per login name as typed (known or not, so a lockout does not tell whether
-- a name exists): consecutive failures since the last success, and the end of the current
-- lockout (Unix seconds) once too many have come in a row. A successful login deletes the row;
-- rows of names with no lockout and no failure for a day are purged. A new table: no existing
-- rows to backfill.
CREATE TABLE gw_web_login_failures (
    name            TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT
);
CREATE INDEX gw_web_login_failures_last ON gw_web_login_failures (last_failure_at);
