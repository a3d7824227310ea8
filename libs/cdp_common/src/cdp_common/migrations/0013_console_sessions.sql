-- Console sign-in: a token is exchanged once for a session (an HttpOnly cookie); only a
-- SHA-256 of the session id is stored. A session ends at its expiry, on sign-out, or the
-- moment its token is revoked (every request checks the token too).
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash    text PRIMARY KEY,
    token_id   text NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);

-- The profile list's filters without full scans: stage and score, and containment
-- lookups in the parts of the document marketers filter on (segments, traits, campaigns).
CREATE INDEX IF NOT EXISTS profiles_live_stage_score ON profiles (stage, score DESC)
    WHERE merged_into IS NULL AND data IS NOT NULL;
CREATE INDEX IF NOT EXISTS profiles_live_score ON profiles (score DESC) WHERE merged_into IS NULL AND data IS NOT NULL;
CREATE INDEX IF NOT EXISTS profiles_segments ON profiles USING gin ((data -> 'segments') jsonb_path_ops);
CREATE INDEX IF NOT EXISTS profiles_traits ON profiles USING gin ((data -> 'traits') jsonb_path_ops);
CREATE INDEX IF NOT EXISTS profiles_touchpoints ON profiles USING gin ((data -> 'touchpoints') jsonb_path_ops);
CREATE INDEX IF NOT EXISTS leads_qualified_at ON leads (qualified_at DESC);
