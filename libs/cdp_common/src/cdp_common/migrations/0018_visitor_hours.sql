-- Visitors per hour for the overview (cdp_common/activity.py): each live profile counted
-- once, in the hour (UTC) it was last seen, and in ``known`` too when it has an email. The
-- segmenter adds each batch's differences in the batch's transaction, an erasure takes the
-- person out; the sum over the hours since T is the number of live profiles seen since T's
-- hour. It replaces counting up to a million profile rows per overview (218 ms at 1M).
CREATE TABLE IF NOT EXISTS visitor_hours (
    hour     timestamptz PRIMARY KEY,
    visitors bigint NOT NULL DEFAULT 0,
    known    bigint NOT NULL DEFAULT 0
);

-- from the profiles already there
INSERT INTO visitor_hours (hour, visitors, known)
SELECT date_trunc('hour', last_seen AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), count(email)
FROM profiles WHERE merged_into IS NULL AND data IS NOT NULL AND last_seen IS NOT NULL
GROUP BY 1
ON CONFLICT (hour) DO UPDATE SET visitors = EXCLUDED.visitors, known = EXCLUDED.known;
