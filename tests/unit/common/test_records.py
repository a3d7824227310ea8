"""Internal records survive a JSON round trip with their wire names."""

from __future__ import annotations

from datetime import UTC, datetime

from cdp_common.events import parse_event
from cdp_common.jsonio import dump_model, load_model, loads
from cdp_common.records import Contact, QualifiedLead, RawHit, Rejected

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_raw_hit_round_trip() -> None:
    hit = RawHit(
        event=parse_event({"type": "track", "event": "Calculator Completed", "anonymousId": "a1", "messageId": "m1"}),
        received_at=T,
        source_id="src_1",
        client_ip="203.0.113.9",
        user_agent="Mozilla/5.0",
        timestamp=T,
    )
    data = dump_model(hit)
    wire = loads(data)
    assert wire["receivedAt"] == "2026-11-01T12:00:00Z"
    assert wire["event"]["type"] == "track" and wire["event"]["messageId"] == "m1"
    assert load_model(RawHit, data) == hit


def test_lead_carries_its_schema_name() -> None:
    lead = QualifiedLead(
        event_type="lead.qualified",
        event_id="e1",
        version=1,
        profile_id="p1",
        occurred_at=T,
        qualified_by="Form Submitted",
        lifecycle_stage="MQL",
        contact=Contact(email="ceo@example.com"),
        first_seen=T,
        last_seen=T,
    )
    wire = loads(dump_model(lead))
    assert wire["schema"] == "cdp.lead/v1"
    assert wire["eventType"] == "lead.qualified"
    assert load_model(QualifiedLead, dump_model(lead)) == lead


def test_rejected_keeps_the_original_bytes() -> None:
    original = b'{"broken": \xff'
    rej = Rejected(
        reason="malformed_json", message="x", stage="collector", original=Rejected.encode(original), rejected_at=T
    )
    assert load_model(Rejected, dump_model(rej)).original_bytes() == original
