-- Campaign reporting rollups (written by the segmenter in its batch transaction, so a
-- redelivered batch never counts twice), console tokens, audit log, suppressions and
-- personalization slots.
CREATE TABLE campaign_stats (
    day         date NOT NULL,
    channel     text NOT NULL,
    source      text NOT NULL,
    medium      text NOT NULL,
    campaign    text NOT NULL,
    content     text NOT NULL,
    visitors    bigint NOT NULL DEFAULT 0,  -- profiles touched by the campaign for the first time
    sessions    bigint NOT NULL DEFAULT 0,  -- touches (session starts and campaign changes)
    engaged     bigint NOT NULL DEFAULT 0,  -- profiles reaching 3 page views (last touch)
    conversions bigint NOT NULL DEFAULT 0,  -- conversion events (last touch)
    leads       bigint NOT NULL DEFAULT 0,  -- profiles qualifying as leads (last touch)
    personas    bigint NOT NULL DEFAULT 0,  -- profiles a campaign rule gave a persona trait
    PRIMARY KEY (day, channel, source, medium, campaign, content)
);

CREATE TABLE api_tokens (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    scope       text NOT NULL CHECK (scope IN ('read', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    subject  text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'
);

-- Identities of erased people: the enricher drops their later hits.
CREATE TABLE suppressions (
    identity   text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE personalization_slots (
    id         text PRIMARY KEY,
    rules      jsonb NOT NULL DEFAULT '[]',   -- [{when: {segment: id} | {trait: {...}}, variant: "..."}]
    default_variant text NOT NULL DEFAULT 'default',
    updated_at timestamptz NOT NULL DEFAULT now()
);
