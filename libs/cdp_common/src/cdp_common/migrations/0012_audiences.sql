-- Audiences: a segment kept in step with a list at a destination (a HubSpot list, a Mautic
-- segment, webhook enter/exit events). Membership there = the segment's members who have
-- an email and allow the audience's consent purpose (if it names one).
CREATE TABLE IF NOT EXISTS audiences (
    id                 text PRIMARY KEY,                 -- <segment>@<destination>
    segment_id         text NOT NULL,
    destination        text NOT NULL,
    name               text NOT NULL,                    -- the list's name at the destination
    purpose            text,                             -- a consent purpose members must allow (ads, ...)
    external_id        text,                             -- the list's id there, once created
    reconcile_every_s  double precision NOT NULL DEFAULT 3600,
    last_reconciled_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (segment_id, destination)
);

-- What the destination has been told: its members, with their id there.
CREATE TABLE IF NOT EXISTS audience_members (
    audience_id         text NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
    profile_id          text NOT NULL,
    email               text NOT NULL,
    external_contact_id text,
    added_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (audience_id, profile_id)
);

-- People whose membership of an audience must be looked at again (a segment or consent
-- change, a reconciliation); written before the change's offset is committed.
CREATE TABLE IF NOT EXISTS audience_queue (
    audience_id text NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
    profile_id  text NOT NULL,
    next_at     timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    PRIMARY KEY (audience_id, profile_id)
);
CREATE INDEX IF NOT EXISTS audience_queue_due ON audience_queue (audience_id, next_at);
