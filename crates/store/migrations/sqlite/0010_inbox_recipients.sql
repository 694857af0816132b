-- A package addressed to an agency and to a unit its gateway also serves arrives once per
-- recipient; it is stored once (by package id) and listed for each recipient.
CREATE TABLE gw_inbox_recipients (
    package_id   TEXT NOT NULL REFERENCES gw_inbox (package_id),
    recipient    TEXT NOT NULL,
    hub_delivery BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (package_id, recipient)
);
CREATE INDEX gw_inbox_recipients_recipient ON gw_inbox_recipients (recipient, package_id);
INSERT INTO gw_inbox_recipients (package_id, recipient, hub_delivery, at)
    SELECT package_id, recipient, hub_delivery, received_at FROM gw_inbox;
