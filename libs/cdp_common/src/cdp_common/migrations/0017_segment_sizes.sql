-- Each segment's size over time: the segmenter records every segment's member count
-- (its hot member set) every few minutes into the row of the current hour, so a segment
-- has one row per hour holding its last count in that hour. The console charts it.
CREATE TABLE IF NOT EXISTS segment_sizes (
    segment_id text        NOT NULL,
    hour       timestamptz NOT NULL,
    size       bigint      NOT NULL,
    PRIMARY KEY (segment_id, hour)
);
