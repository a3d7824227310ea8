-- Sources: each site or app that sends events, with its write key and allowed origins.
CREATE TABLE sources (
    id               text PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    write_key        text NOT NULL UNIQUE,
    origins          text[] NOT NULL DEFAULT '{}',
    internal_domains text[] NOT NULL DEFAULT '{}',
    enabled          boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (length(name) BETWEEN 1 AND 100),
    CHECK (length(write_key) >= 16)
);
