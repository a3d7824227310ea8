-- Each destination's queue of leads to deliver (the syncer writes a lead here for every
-- destination before the lead's offset is committed; each destination drains its own
-- rows at its own pace, so one that is down or slow never holds up the others).
-- A row leaves the queue when its lead is final (delivered, failed, superseded: recorded
-- in lead_deliveries). A claimed row is leased; a crashed worker's rows come back due
-- when the lease ends. A queue belongs to the syncer deployment that filled it (its
-- consumer group, ``owner``): two deployments on one database never drain each other's.
CREATE TABLE IF NOT EXISTS delivery_queue (
    id            bigserial PRIMARY KEY,
    owner         text NOT NULL,
    destination   text NOT NULL,
    lead_event_id text NOT NULL,
    profile_id    text NOT NULL,
    email         text NOT NULL,
    version       integer NOT NULL,
    lead          jsonb NOT NULL,
    written_at    timestamptz NOT NULL,            -- the lead's Kafka time: its age counts from here
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    next_at       timestamptz NOT NULL DEFAULT now(),
    leased_until  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    UNIQUE (owner, destination, lead_event_id)
);
CREATE INDEX IF NOT EXISTS delivery_queue_due ON delivery_queue (owner, destination, next_at, id);
CREATE INDEX IF NOT EXISTS delivery_queue_profile ON delivery_queue (owner, destination, profile_id);
CREATE INDEX IF NOT EXISTS delivery_queue_email ON delivery_queue (email);
