-- Tracking plans, versioned per source: the newest version of a source's plan is the one
-- the enricher enforces (cdp plans apply adds a version when the document changes).
CREATE TABLE IF NOT EXISTS tracking_plans (
    source_id  text NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    document   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, version)
);
