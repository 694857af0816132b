-- The hub's last answer about where an agency's copies go, for the agencies this gateway's
-- client systems send as: the mailbox the hub named, or why it routes none (unknown agency).
-- A submission from an agency whose copies no longer come to this gateway is refused; the hub
-- is asked again after a minute, and this answer serves only while it cannot be reached (also
-- after a restart). Nothing to backfill: the hub was asked only when a client was added.
CREATE TABLE gw_agency_routes (
    agency      TEXT PRIMARY KEY,
    mailbox     TEXT,
    unrouted    TEXT,
    answered_at BIGINT NOT NULL,
    CHECK ((mailbox IS NULL) <> (unrouted IS NULL))
);
