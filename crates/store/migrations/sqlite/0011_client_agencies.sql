-- Each client system belongs to one agency: the gateway's own, or a unit (levels 2–4) without a
-- gateway of its own that this gateway serves; it reads, acknowledges, answers and sends only as
-- that agency. A gateway's store does not record which agency the gateway is, so the clients
-- created before this column keep NULL, which means the gateway's own agency (the only one they
-- could act for before); every client added since names its agency.
ALTER TABLE gw_clients ADD COLUMN agency TEXT;

-- Acknowledgement is per copy (package, recipient): the Ministry taking in its copy leaves its
-- unit's copy waiting. Before this, one acknowledgement covered every copy, so the copies of a
-- package acknowledged then are acknowledged from that moment.
ALTER TABLE gw_inbox_recipients ADD COLUMN acknowledged_at BIGINT;
UPDATE gw_inbox_recipients SET acknowledged_at = (SELECT MIN(e.at) FROM gw_inbox_events e
    WHERE e.package_id = gw_inbox_recipients.package_id AND e.event = 'acknowledged');
-- Which copy an event is about; NULL for events from before copies were told apart.
ALTER TABLE gw_inbox_events ADD COLUMN recipient TEXT;
