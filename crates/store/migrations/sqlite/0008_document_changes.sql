-- What a received document does to earlier ones (edXML BussinessDocType): a new document, or a
-- recall, update or replacement of the documents (DocumentIds) it refers to, from the same sender.
ALTER TABLE gw_inbox ADD COLUMN change TEXT NOT NULL DEFAULT 'new'
    CHECK (change IN ('new', 'recall', 'update', 'replace'));
ALTER TABLE gw_inbox ADD COLUMN refers_to TEXT NOT NULL DEFAULT '';
-- The handling deadline the sender set (edXML DueDate, yyyy-mm-dd).
ALTER TABLE gw_inbox ADD COLUMN due_date TEXT;
-- When the content was destroyed after the recipient agreed to a recall (the row, its history and
-- its audit entries stay).
ALTER TABLE gw_inbox ADD COLUMN destroyed_at BIGINT;

-- The history of each document's changes, appended only: on the recipient's side what a recall,
-- update or replacement asked and what the clerk answered; on the sender's side that a document
-- was recalled (its copy is frozen: no update or replacement may follow).
CREATE TABLE gw_document_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id  TEXT NOT NULL,
    event       TEXT NOT NULL CHECK (event IN ('recall-requested', 'recall-agreed', 'recall-refused',
                'updated', 'replaced', 'change-agreed', 'change-refused', 'destroyed', 'frozen')),
    by_package  TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX gw_document_events_package ON gw_document_events (package_id, id);
CREATE INDEX gw_inbox_document ON gw_inbox (sender, document_id);
CREATE INDEX gw_outbox_document ON gw_outbox (document_id);
