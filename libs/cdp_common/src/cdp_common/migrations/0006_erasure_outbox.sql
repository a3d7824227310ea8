-- Erasure requests waiting to be published to cdp.privacy.erasures: written in the same
-- transaction that erases the person, deleted once Kafka has acknowledged them, so an
-- erasure is never lost between the database and the destinations.
CREATE TABLE IF NOT EXISTS erasure_outbox (
    request_id   text PRIMARY KEY,
    profile_ids  text[] NOT NULL,
    emails       text[] NOT NULL,
    user_ids     text[] NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
