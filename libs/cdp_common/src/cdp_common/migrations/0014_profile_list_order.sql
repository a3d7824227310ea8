-- The profile list's orders as indexes (live profiles only), so a page is the first rows
-- of an index walk instead of a sort of every profile: most recently seen (the default),
-- first seen, and score, each with the id as the tie-break the list uses.
CREATE INDEX IF NOT EXISTS profiles_live_last_seen ON profiles (last_seen DESC NULLS LAST, id)
    WHERE merged_into IS NULL AND data IS NOT NULL;
CREATE INDEX IF NOT EXISTS profiles_live_first_seen ON profiles (first_seen DESC NULLS LAST, id)
    WHERE merged_into IS NULL AND data IS NOT NULL;
DROP INDEX IF EXISTS profiles_live_score;
CREATE INDEX IF NOT EXISTS profiles_live_score_id ON profiles (score DESC, id)
    WHERE merged_into IS NULL AND data IS NOT NULL;
