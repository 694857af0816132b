-- Subscribers' key devices (smart cards, USB tokens) that the authority can unblock. Each one's
-- unblock code (its security officer PIN) is kept only sealed under the authority's passphrase.
CREATE TABLE ca_key_devices (
    label               TEXT PRIMARY KEY,
    module              TEXT NOT NULL,
    holder              TEXT,
    agency              TEXT,
    sealed_unblock_code TEXT NOT NULL,
    enrolled_by         TEXT NOT NULL,
    enrolled_at         BIGINT NOT NULL
);

-- What was done with each device, appended.
CREATE TABLE ca_key_device_events (
    id          BIGSERIAL PRIMARY KEY,
    label       TEXT NOT NULL REFERENCES ca_key_devices (label),
    event       TEXT NOT NULL CHECK (event IN ('initialised', 'registered', 'unblocked', 'unblock_refused')),
    note        TEXT,
    actor       TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX ca_key_device_events_label ON ca_key_device_events (label, id);
