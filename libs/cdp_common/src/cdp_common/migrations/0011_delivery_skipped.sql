-- A destination with nothing to do for a lead records it as skipped, with why (an ad
-- platform for a person who did not allow ads, or who never came from its ad click).
ALTER TABLE lead_deliveries DROP CONSTRAINT IF EXISTS lead_deliveries_status_check;
ALTER TABLE lead_deliveries ADD CONSTRAINT lead_deliveries_status_check
    CHECK (status IN ('delivered', 'failed', 'superseded', 'skipped'));
