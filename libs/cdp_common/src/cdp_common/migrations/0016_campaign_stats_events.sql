-- Events per day and campaign (last touch), added by the segmenter in each batch's
-- transaction like the other counters: the overview counts a period's events from these
-- rows. It used to count processed_messages, which holds only the dedup window (8 days by
-- default): a 30-day overview undercounted, and at 10M events the count took seconds.
ALTER TABLE campaign_stats ADD COLUMN IF NOT EXISTS events bigint NOT NULL DEFAULT 0;
