"""Serving the JS tag: one file, pre-compressed, with an ETag and a long cache."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import Response

CACHE = "public, max-age=86400, stale-while-revalidate=604800"


@dataclass(frozen=True, slots=True)
class TagAsset:
    plain: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def load(cls) -> TagAsset:
        plain = (resources.files("cdp_collector") / "static" / "tag.js").read_bytes()
        return cls(plain, gzip.compress(plain, 9, mtime=0), '"' + hashlib.sha256(plain).hexdigest()[:20] + '"')

    def response(self, if_none_match: str | None, accept_encoding: str) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": CACHE, "Vary": "Accept-Encoding"}
        if if_none_match and self.etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
            return Response(status_code=304, headers=headers)
        if "gzip" in accept_encoding.lower():
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type="application/javascript; charset=utf-8", headers=headers)
        return Response(self.plain, media_type="application/javascript; charset=utf-8", headers=headers)
