-- Whether a recipient's copy of a document was destroyed on a recall is asked for every answer
-- queued: through the few destroyed copies, not every copy sharing the document id.
CREATE INDEX gw_inbox_recipients_destroyed ON gw_inbox_recipients (recipient, package_id)
    WHERE destroyed_at IS NOT NULL;
