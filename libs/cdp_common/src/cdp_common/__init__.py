"""Shared vocabulary of the CDP pipeline: events, records, topics, settings and adapters."""
