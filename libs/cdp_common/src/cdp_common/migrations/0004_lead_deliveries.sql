-- Lead deliveries by the syncer: one row per (lead event, destination) once it reached a
-- final state. Failed rows keep the payload so `cdp leads retry` can send them again.
CREATE TABLE lead_deliveries (
    lead_event_id text NOT NULL,
    destination   text NOT NULL,
    profile_id    text NOT NULL,
    version       integer NOT NULL,
    status        text NOT NULL CHECK (status IN ('delivered', 'failed', 'superseded')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    payload       jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_event_id, destination)
);
CREATE INDEX lead_deliveries_profile ON lead_deliveries (destination, profile_id, version);
CREATE INDEX lead_deliveries_failed ON lead_deliveries (updated_at) WHERE status = 'failed';
