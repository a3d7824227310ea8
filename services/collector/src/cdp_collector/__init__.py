"""The CDP collector: a thin, Segment-compatible HTTP edge in front of Kafka."""
