-- Erasure requests each destination still has to carry out (the syncer's durable queue):
-- written before the request's offset is committed, retried with backoff apart from lead
-- delivery, and stripped of the emails once done.
CREATE TABLE IF NOT EXISTS erasure_deliveries (
    request_id  text NOT NULL,
    destination text NOT NULL,
    request     jsonb,                 -- the cdp.erasure/v1 record; NULL once done
    status      text NOT NULL DEFAULT 'pending',  -- pending, done, failed
    result      text,                  -- deleted, absent (per email, joined), or the error
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, destination)
);
CREATE INDEX IF NOT EXISTS erasure_deliveries_due ON erasure_deliveries (next_at) WHERE status = 'pending';
