"""JSON Schema files for the public topics, generated from the models.

``cdp schemas`` writes them to ``libs/cdp_common/schemas/``; a test fails when the
committed files differ from what the models generate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from cdp_common.records import EnrichedHit, Erasure, LeadFailure, QualifiedLead, RawHit, Rejected, SegmentChange
from cdp_common.topics import Topic

# topic -> (file name, model)
PUBLIC_SCHEMAS: dict[Topic, tuple[str, type[BaseModel]]] = {
    Topic.LEADS_QUALIFIED: ("cdp.lead.v1.schema.json", QualifiedLead),
    Topic.LEADS_FAILED: ("cdp.lead-failure.v1.schema.json", LeadFailure),
    Topic.SEGMENT_CHANGES: ("cdp.segment-change.v1.schema.json", SegmentChange),
    Topic.HITS_ENRICHED: ("cdp.hit-enriched.v1.schema.json", EnrichedHit),
    Topic.HITS_RAW: ("cdp.hit-raw.v1.schema.json", RawHit),
    Topic.HITS_REJECTED: ("cdp.rejected.v1.schema.json", Rejected),
    Topic.PRIVACY_ERASURES: ("cdp.erasure.v1.schema.json", Erasure),
}

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def render(topic: Topic) -> bytes:
    name, model = PUBLIC_SCHEMAS[topic]
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="serialization")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://cdp.local/schemas/{name}",
        "x-topic": topic.value,
        **schema,
    }
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_all(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, (name, _) in PUBLIC_SCHEMAS.items():
        path = directory / name
        path.write_bytes(render(topic))
        written.append(path)
    return written


def stale(directory: Path = DEFAULT_DIR) -> list[str]:
    """Names of schema files that are missing or differ from the models."""
    out = []
    for topic, (name, _) in PUBLIC_SCHEMAS.items():
        path = directory / name
        if not path.exists() or path.read_bytes() != render(topic):
            out.append(name)
    return out
