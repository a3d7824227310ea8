"""JSON in and out through orjson, for pydantic models and plain data alike."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(value: Any) -> bytes:
    """Serialize plain data (dicts, lists, datetimes) to JSON bytes."""
    return orjson.dumps(value, option=_OPTS)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes; raises ``orjson.JSONDecodeError`` (a ``ValueError``) on bad input."""
    return orjson.loads(data)


def dump_model(model: BaseModel) -> bytes:
    """Serialize a model with its wire (camelCase) field names, leaving out unset optionals."""
    return orjson.dumps(model.model_dump(mode="json", by_alias=True, exclude_none=True), option=_OPTS)


def load_model(cls: type[M], data: bytes | str) -> M:
    """Parse and validate JSON bytes into ``cls``."""
    return cls.model_validate_json(data)
