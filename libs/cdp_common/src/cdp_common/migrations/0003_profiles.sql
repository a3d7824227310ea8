-- Profiles, the identity graph and segment/scoring definitions (the segmenter).

-- One row per profile; a merged profile stays as a tombstone pointing at its survivor so
-- a concurrent writer that still holds the old id follows it.
CREATE TABLE profiles (
    id          text PRIMARY KEY,
    data        jsonb,                      -- NULL for a merged tombstone
    merged_into text REFERENCES profiles (id),
    email       text,
    stage       text NOT NULL DEFAULT 'anonymous',
    score       double precision NOT NULL DEFAULT 0,
    first_seen  timestamptz,
    last_seen   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profiles_email ON profiles (email) WHERE email IS NOT NULL;
CREATE INDEX profiles_last_seen ON profiles (last_seen);

-- The identity graph: every id (anon:..., user:..., email:...) belongs to exactly one profile.
CREATE TABLE identities (
    id         text PRIMARY KEY,
    profile_id text NOT NULL REFERENCES profiles (id),
    linked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identities_profile ON identities (profile_id);

CREATE TABLE profile_merges (
    id           bigserial PRIMARY KEY,
    from_profile text NOT NULL,
    into_profile text NOT NULL,
    message_id   text,
    merged_at    timestamptz NOT NULL DEFAULT now()
);

-- Merges refused because both profiles are identified with different known ids.
CREATE TABLE identity_conflicts (
    id          bigserial PRIMARY KEY,
    profile_a   text NOT NULL,
    profile_b   text NOT NULL,
    identity    text,
    reason      text NOT NULL,
    message_id  text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- messageIds already applied (the redelivery dedup window; pruned by age).
CREATE TABLE processed_messages (
    message_id   text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_messages_at ON processed_messages (processed_at);

-- Leads: one row per qualified profile (the console lists them; pending updates are
-- announced by the segmenter once the update interval has passed).
CREATE TABLE leads (
    profile_id      text PRIMARY KEY REFERENCES profiles (id),
    email           text NOT NULL,
    version         integer NOT NULL,
    qualified_by    text NOT NULL,
    qualified_at    timestamptz NOT NULL,
    last_emitted_at timestamptz NOT NULL,
    pending         boolean NOT NULL DEFAULT false
);
CREATE INDEX leads_pending ON leads (last_emitted_at) WHERE pending;

-- Segment changes and lead events written with the profile, published after commit.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    key        bytea,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE segments (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    condition   jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The scoring plan and lead policy: a single row.
CREATE TABLE scoring (
    id                smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    rules             jsonb NOT NULL DEFAULT '[]',
    threshold         double precision NOT NULL DEFAULT 50,
    qualifying        jsonb NOT NULL DEFAULT '[{"id": "contact-form", "condition": {"form": "contact*"}}]',
    update_interval_s double precision NOT NULL DEFAULT 300,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Which definitions every profile has been evaluated against (a background pass after a
-- change brings existing profiles up to date, then records the new fingerprint).
CREATE TABLE evaluation_state (
    id           smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    fingerprint  text NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now()
);
