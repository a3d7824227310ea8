"""The CDP enricher: turns raw hits into attributed, classified, privacy-safe hits."""
