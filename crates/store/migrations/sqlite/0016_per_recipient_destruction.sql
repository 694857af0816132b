-- A package addressed to an agency and to a unit its gateway also serves is stored once, but a
-- recall is answered per recipient: each copy is destroyed only by its own recipient's 15.
-- The package-level column gave one recipient's agreement to every copy; it moves to the copy.
ALTER TABLE gw_inbox_recipients ADD COLUMN destroyed_at BIGINT;
UPDATE gw_inbox_recipients SET destroyed_at =
    (SELECT i.destroyed_at FROM gw_inbox i WHERE i.package_id = gw_inbox_recipients.package_id);
ALTER TABLE gw_inbox DROP COLUMN destroyed_at;
-- Whose copy a document event concerns: the recipient that received the recall, update or
-- replacement, or answered it; NULL for the sender's own events (`frozen`) and for events
-- recorded before copies were told apart (they concerned every copy).
ALTER TABLE gw_document_events ADD COLUMN recipient TEXT;
-- Whether a blob is still used by a copy not destroyed (blobs are named by their hash).
CREATE INDEX gw_inbox_blob ON gw_inbox (blob);
