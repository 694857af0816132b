-- Decree 30/2020 deadlines and retention at the hub.

-- Each delivery's receipt deadline (Unix seconds): 23:59:59 Vietnam time (+07:00) on the day the
-- hub queued it, computed when it is queued; and when it was acknowledged or refused (the time
-- of its settling event, kept here so lateness and retention read one row). Deliveries queued
-- before this migration get the deadline of the day their package arrived.
ALTER TABLE ex_deliveries ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ex_deliveries ADD COLUMN settled_at BIGINT;
UPDATE ex_deliveries SET due_at = (
    SELECT ((p.received_at + 25200) / 86400) * 86400 + 86400 - 25200 - 1
    FROM ex_packages p WHERE p.id = ex_deliveries.package_id);
UPDATE ex_deliveries SET settled_at = (
    SELECT MIN(e.at) FROM ex_delivery_events e
    WHERE e.delivery_id = ex_deliveries.id AND e.event IN ('acknowledged', 'refused'))
WHERE state <> 'queued';
-- The deliveries still waiting, for the operator's list of overdue ones.
CREATE INDEX ex_deliveries_waiting ON ex_deliveries (id, due_at) WHERE state = 'queued';

-- When retention removed a package's sealed content; the row and its deliveries' history stay.
ALTER TABLE ex_packages ADD COLUMN purged_at BIGINT;
-- Packages whose content is still held: retention looks at the old ones, and a blob is removed
-- only when none of them names it.
CREATE INDEX ex_packages_held ON ex_packages (received_at, id) WHERE purged_at IS NULL;
CREATE INDEX ex_packages_held_blob ON ex_packages (blob) WHERE purged_at IS NULL;
