-- Campaign-to-profile rules, applied by the enricher (cdp rules apply -f FILE.yaml).
CREATE TABLE campaign_rules (
    id          text PRIMARY KEY,
    position    integer NOT NULL,
    description text NOT NULL DEFAULT '',
    conditions  jsonb NOT NULL,
    traits      jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_rules_position ON campaign_rules (position, id);
