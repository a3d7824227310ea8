"""Serving the JS tag: one file, pre-compressed, with an ETag and a long cache."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import Response

CACHE = "public, max-age=86400, stale-while-revalidate=604800"


def compact(source: bytes) -> bytes:
    """The tag as served: indentation and whole-line ``//`` comments left out (the source
    keeps them for readers); nothing inside a line changes, so no code can break."""
    lines = (line.strip() for line in source.decode().splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class TagAsset:
    plain: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def load(cls) -> TagAsset:
        plain = compact((resources.files("cdp_collector") / "static" / "tag.js").read_bytes())
        return cls(plain, gzip.compress(plain, 9, mtime=0), '"' + hashlib.sha256(plain).hexdigest()[:20] + '"')

    def response(self, if_none_match: str | None, accept_encoding: str) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": CACHE, "Vary": "Accept-Encoding"}
        if if_none_match and self.etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
            return Response(status_code=304, headers=headers)
        if "gzip" in accept_encoding.lower():
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type="application/javascript; charset=utf-8", headers=headers)
        return Response(self.plain, media_type="application/javascript; charset=utf-8", headers=headers)
