-- The hub's records. The hub holds sealed packages it cannot read: it knows only the outer
-- envelope (identifiers, sizes, hashes) and routes on it.

-- Agencies and the mailbox (a gateway's identity, or the hub's own SDK mailbox) serving each.
CREATE TABLE ex_agencies (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent      TEXT,
    mailbox     TEXT,
    created_at  BIGINT NOT NULL
);

-- Mailboxes (gateways, and the hub's own SDK mailbox) with the certificate packages for them
-- are encrypted to and their signatures checked against.
CREATE TABLE ex_mailboxes (
    id          TEXT PRIMARY KEY,
    certificate BLOB NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Packages held for delivery; the content is a blob in the blob store, named by `blob`.
CREATE TABLE ex_packages (
    id          TEXT PRIMARY KEY,
    sender      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    blob        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- One row per recipient; `state` is the latest of the delivery's appended events.
CREATE TABLE ex_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id  TEXT NOT NULL REFERENCES ex_packages (id),
    recipient   TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'acknowledged', 'refused')),
    UNIQUE (package_id, recipient)
);
CREATE INDEX ex_deliveries_mailbox ON ex_deliveries (mailbox, state, id);

CREATE TABLE ex_delivery_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES ex_deliveries (id),
    event       TEXT NOT NULL CHECK (event IN ('queued', 'acknowledged', 'refused')),
    note        TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX ex_delivery_events_delivery ON ex_delivery_events (delivery_id, id);
