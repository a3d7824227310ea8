-- A lead put back in one destination's queue by `cdp leads replay` carries the replay's id:
-- it is sent again even when the destination already has that version (never when it has
-- a newer one). A lead re-queued from the failed list (`cdp leads retry`, the console) has
-- none: it goes like any other.
ALTER TABLE delivery_queue ADD COLUMN IF NOT EXISTS replay text;
