-- gw_outbox_about (document_id, kind) answers every lookup by document id that
-- gw_outbox_document (document_id) did: one index fewer to write per outbox row.
DROP INDEX IF EXISTS gw_outbox_document;
